//! The audit log as the API shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::audit as store;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The `X-Request-Id` of the request (also in the daemon's log).
    pub request_id: String,
    /// The token's name; absent when no valid token was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub method: String,
    /// The route template, e.g. `/v1/runtimes/{namespace}/{name}`.
    pub route: String,
    /// The path the request named, e.g. `/v1/runtimes/team-a/hbase`.
    pub resource: String,
    pub status: u16,
    /// `ok`, `refused` (4xx), `unauthenticated` (401), `forbidden` (403) or `error` (5xx).
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

impl From<store::AuditEntry> for AuditEntry {
    fn from(r: store::AuditEntry) -> Self {
        Self {
            id: r.id,
            at: r.at,
            request_id: r.request_id,
            actor: r.actor,
            role: r.role,
            method: r.method,
            route: r.route,
            resource: r.resource,
            status: r.status,
            outcome: r.outcome,
            remote: r.remote,
        }
    }
}
