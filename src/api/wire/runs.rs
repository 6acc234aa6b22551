//! A run's per-object results as the API shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::states::ObjectStatus;
use crate::store::runs as store;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunObject {
    pub seq: i64,
    pub cluster: String,
    pub namespace: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// create, update or delete.
    pub action: String,
    pub status: ObjectStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<store::RunObject> for RunObject {
    fn from(r: store::RunObject) -> Self {
        Self {
            seq: r.seq,
            cluster: r.cluster,
            namespace: r.namespace,
            api_version: r.api_version,
            kind: r.kind,
            name: r.name,
            action: r.action,
            status: r.status,
            error: r.error,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}
