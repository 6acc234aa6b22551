//! Runtime locks as the API shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::locks as store;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockRecord {
    pub id: String,
    pub holder: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub acquired_at: DateTime<Utc>,
    pub renewed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<store::LockRecord> for LockRecord {
    fn from(r: store::LockRecord) -> Self {
        Self {
            id: r.id,
            holder: r.holder,
            run_id: r.run_id,
            acquired_at: r.acquired_at,
            renewed_at: r.renewed_at,
            expires_at: r.expires_at,
        }
    }
}
