//! Webhook deliveries as the API shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::notifications as store;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; absent when no answer came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl From<store::DeliveryAttempt> for DeliveryAttempt {
    fn from(r: store::DeliveryAttempt) -> Self {
        Self { attempt: r.attempt, at: r.at, status: r.status, error: r.error, duration_ms: r.duration_ms }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub id: i64,
    pub trigger: String,
    /// `pending` (sent when due, again after a failure), `delivered` or `failed` (gave up).
    pub state: String,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The body exactly as sent (and signed).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

impl From<store::DeliveryRecord> for DeliveryRecord {
    fn from(r: store::DeliveryRecord) -> Self {
        Self {
            id: r.id,
            trigger: r.trigger,
            state: r.state,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_status: r.last_status,
            last_error: r.last_error,
            created_at: r.created_at,
            finished_at: r.finished_at,
            payload: r.payload,
            attempt_log: r.attempt_log.into_iter().map(DeliveryAttempt::from).collect(),
        }
    }
}
