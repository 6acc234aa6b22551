//! The replicas sharing this database: each announces itself every few seconds, and is
//! live while its announcement has not lapsed. Work spread over replicas (each cluster's
//! drift checks) is divided among the live ones; a replica that dies drops out once its
//! announcement lapses, and its share moves to the others.

use chrono::Duration;
use sqlx::Row;

use super::{Result, Store, fmt_time, now, parse_time};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRecord {
    pub id: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub seen_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl Store {
    /// Announces replica `id` as live for `ttl` from now.
    pub async fn heartbeat(&self, id: &str, ttl: Duration) -> Result<()> {
        let mut tx = self.begin().await?;
        let at = now();
        sqlx::query(
            "INSERT INTO replicas (id, started_at, seen_at, expires_at) VALUES ($1, $2, $2, $3)
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, expires_at = excluded.expires_at",
        )
        .bind(id)
        .bind(fmt_time(at))
        .bind(fmt_time(at + ttl))
        .execute(&mut *tx)
        .await?;
        // Forget replicas long gone (an hour past their last announcement).
        sqlx::query("DELETE FROM replicas WHERE expires_at < $1")
            .bind(fmt_time(at - Duration::hours(1)))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replicas whose announcement has not lapsed, by id.
    pub async fn live_replicas(&self) -> Result<Vec<ReplicaRecord>> {
        let rows = sqlx::query("SELECT * FROM replicas WHERE expires_at > $1 ORDER BY id")
            .bind(fmt_time(now()))
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ReplicaRecord {
                    id: r.try_get("id")?,
                    started_at: parse_time(&r.try_get::<String, _>("started_at")?)?,
                    seen_at: parse_time(&r.try_get::<String, _>("seen_at")?)?,
                    expires_at: parse_time(&r.try_get::<String, _>("expires_at")?)?,
                })
            })
            .collect()
    }

    /// A clean stop: the replica leaves at once instead of when its announcement lapses.
    pub async fn leave(&self, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM replicas WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
