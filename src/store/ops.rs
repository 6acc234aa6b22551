//! What `/metrics` reports about stored state: runs and rotations per state, drifted
//! runtimes, the leases a process holds, and the webhook outbox.

use sqlx::Row;

use super::{Result, Store, fmt_time, now};

/// Counts per label value, as read at one scrape.
#[derive(Debug, Clone, Default)]
pub struct StateCounts {
    pub runs: Vec<(String, i64)>,
    pub rotations: Vec<(String, i64)>,
    pub drifted: i64,
    /// Live leases and locks held by the replica, per kind (`drift`,
    /// `rotation-driver`, `runtime`, `notifications`, …).
    pub leases: Vec<(String, i64)>,
    pub outbox: Vec<(String, i64)>,
}

async fn grouped(store: &Store, sql: &'static str) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(sql).fetch_all(store.reader()).await?;
    rows.iter().map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?))).collect()
}

impl Store {
    pub async fn state_counts(&self, replica: &str) -> Result<StateCounts> {
        let runs = grouped(self, "SELECT status, COUNT(*) FROM runs GROUP BY status").await?;
        let rotations = grouped(self, "SELECT state, COUNT(*) FROM rotations GROUP BY state").await?;
        let drifted: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM runtime_sync WHERE applied_generation IS NOT NULL AND drift != '[]'",
        )
        .fetch_one(self.reader())
        .await?;
        let rows = sqlx::query("SELECT id FROM locks WHERE holder = $1 AND expires_at > $2")
            .bind(replica)
            .bind(fmt_time(now()))
            .fetch_all(self.reader())
            .await?;
        let mut leases: std::collections::BTreeMap<String, i64> = Default::default();
        for r in rows {
            let id: String = r.try_get("id")?;
            let kind = id.split(':').next().unwrap_or_default().to_string();
            *leases.entry(kind).or_default() += 1;
        }
        let outbox = self.outbox_counts().await?;
        Ok(StateCounts { runs, rotations, drifted, leases: leases.into_iter().collect(), outbox })
    }
}
