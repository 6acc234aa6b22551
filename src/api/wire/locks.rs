//! Runtime locks and named leases as the API shows them.

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
    /// A named lease's fencing token (absent on runtime locks): grows each time the lease
    /// changes hands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fencing_token: Option<i64>,
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
            fencing_token: (r.token > 0).then_some(r.token),
        }
    }
}
