//! Leased locks: per-runtime locks runs and rotations hold, and named leases for work that
//! one process does at a time (the drift loop, a rotation's driver). A lock whose
//! `expires_at` has passed is free to take.

use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use super::{Result, Store, StoreError, fmt_time, now, parse_time};

#[derive(Debug, Clone)]
pub struct LockRecord {
    pub id: String,
    pub holder: String,
    pub run_id: Option<String>,
    pub acquired_at: DateTime<Utc>,
    pub renewed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub(crate) fn row_to_lock(r: &sqlx::sqlite::SqliteRow) -> Result<LockRecord> {
    Ok(LockRecord {
        id: r.try_get("id")?,
        holder: r.try_get("holder")?,
        run_id: r.try_get("run_id")?,
        acquired_at: parse_time(&r.try_get::<String, _>("acquired_at")?)?,
        renewed_at: parse_time(&r.try_get::<String, _>("renewed_at")?)?,
        expires_at: parse_time(&r.try_get::<String, _>("expires_at")?)?,
    })
}

impl Store {
    /// Takes locks for a long-lived owner (a rotation) in one transaction; returns the first
    /// lock another live holder has, taking none then.
    pub async fn take_locks(
        &self,
        owner: &str,
        holder: &str,
        ids: &[String],
        lease: Duration,
    ) -> Result<Option<LockRecord>> {
        let mut tx = self.begin().await?;
        let at = now();
        for id in ids {
            if let Some(row) = sqlx::query("SELECT * FROM locks WHERE id = ?").bind(id).fetch_optional(&mut *tx).await?
            {
                let held = row_to_lock(&row)?;
                if held.run_id.as_deref() != Some(owner) && held.expires_at > at {
                    return Ok(Some(held));
                }
            }
            sqlx::query(
                "INSERT INTO locks (id, holder, run_id, acquired_at, renewed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, run_id = excluded.run_id,
                   renewed_at = excluded.renewed_at, expires_at = excluded.expires_at",
            )
            .bind(id)
            .bind(holder)
            .bind(owner)
            .bind(fmt_time(at))
            .bind(fmt_time(at))
            .bind(fmt_time(at + lease))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    /// Releases every lock of `owner` (for a rotation, also its driver lease).
    pub async fn release_locks(&self, owner: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM locks WHERE run_id = ?").bind(owner).execute(&mut *tx).await?;
        if let Some(id) = owner.strip_prefix("rotation:") {
            sqlx::query("DELETE FROM locks WHERE id = ?")
                .bind(format!("rotation-driver:{id}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Renews the live locks of `run_id` and returns how many it renewed. A lock that was
    /// force-unlocked, taken by another holder or let expire is not renewed (and not
    /// revived): its run has lost it.
    pub async fn renew_locks(&self, run_id: &str, lease: Duration) -> Result<u64> {
        let mut tx = self.begin().await?;
        let at = now();
        let done = sqlx::query("UPDATE locks SET renewed_at = ?, expires_at = ? WHERE run_id = ? AND expires_at > ?")
            .bind(fmt_time(at))
            .bind(fmt_time(at + lease))
            .bind(run_id)
            .bind(fmt_time(at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// How many locks `run_id` still holds with a live lease.
    pub async fn live_locks(&self, run_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM locks WHERE run_id = ? AND expires_at > ?")
            .bind(run_id)
            .bind(fmt_time(now()))
            .fetch_one(self.reader())
            .await?)
    }

    pub async fn list_locks(&self) -> Result<Vec<LockRecord>> {
        let rows = sqlx::query("SELECT * FROM locks ORDER BY id").fetch_all(self.reader()).await?;
        rows.iter().map(row_to_lock).collect()
    }

    pub async fn delete_lock(&self, id: &str) -> Result<LockRecord> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT * FROM locks WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("lock {id:?}")))?;
        sqlx::query("DELETE FROM locks WHERE id = ?").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        row_to_lock(&row)
    }

    /// Releases the named leases `holder` holds (the drift loop, rotation drivers), for a
    /// clean shutdown: another process takes them at once instead of after they lapse.
    /// Runtime locks stay with their runs and rotations.
    pub async fn release_leases(&self, holder: &str) -> Result<u64> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("DELETE FROM locks WHERE holder = ? AND run_id IS NULL").bind(holder).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Takes or renews a named lease for background work (e.g. the drift loop); false when
    /// another holder's lease is still live.
    pub async fn try_lease(&self, id: &str, holder: &str, lease: Duration) -> Result<bool> {
        let mut tx = self.begin().await?;
        let at = now();
        if let Some(row) = sqlx::query("SELECT * FROM locks WHERE id = ?").bind(id).fetch_optional(&mut *tx).await? {
            let held = row_to_lock(&row)?;
            if held.holder != holder && held.expires_at > at {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO locks (id, holder, run_id, acquired_at, renewed_at, expires_at) VALUES (?, ?, NULL, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at",
        )
        .bind(id)
        .bind(holder)
        .bind(fmt_time(at))
        .bind(fmt_time(at))
        .bind(fmt_time(at + lease))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
