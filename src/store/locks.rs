//! Leased locks: per-runtime locks runs and rotations hold, and named leases for work that
//! one replica does at a time (each cluster's drift checks, a rotation's driver, the webhook
//! dispatcher). A lock whose `expires_at` has passed is free to take.
//!
//! A named lease carries a fencing token: a number drawn from one counter every time the
//! lease changes hands (another holder, or the same one after it lapsed), kept while its
//! holder renews it. Work done under a lease runs inside `fenced(fence, work)`: each write
//! transaction the work's task opens first checks, under the write lock, that the lease
//! still has that holder and token and has not lapsed, and is refused (`lease_lost`)
//! otherwise, so a replica that stalled past its lease while another took the work over
//! cannot write a step twice. (Tasks the work spawns are not fenced: a run keeps its own
//! runtime locks.)

use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use super::sql::QueryBuilder;
use super::{Backend, Result, Store, StoreError, fmt_time, now, parse_time};
use crate::domain::code::ErrorCode;

#[derive(Debug, Clone)]
pub struct LockRecord {
    pub id: String,
    pub holder: String,
    pub run_id: Option<String>,
    pub acquired_at: DateTime<Utc>,
    pub renewed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The fencing token of a named lease (0 for runtime locks).
    pub token: i64,
}

/// A named lease as its holder took it: what a fenced store checks before it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub holder: String,
    pub token: i64,
}

pub(crate) fn row_to_lock(r: &sqlx::any::AnyRow) -> Result<LockRecord> {
    Ok(LockRecord {
        id: r.try_get("id")?,
        holder: r.try_get("holder")?,
        run_id: r.try_get("run_id")?,
        acquired_at: parse_time(&r.try_get::<String, _>("acquired_at")?)?,
        renewed_at: parse_time(&r.try_get::<String, _>("renewed_at")?)?,
        expires_at: parse_time(&r.try_get::<String, _>("expires_at")?)?,
        token: r.try_get("token")?,
    })
}

/// Statements over many locks take this many at a time (6 placeholders each in an insert).
const CHUNK: usize = 400;

/// The first of `ids`, in their order, that a live holder other than `owner` has (with no
/// owner, any live holder): two or three statements for any number of ids.
pub(crate) async fn first_held(
    conn: &mut sqlx::AnyConnection,
    ids: &[String],
    owner: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Option<LockRecord>> {
    let mut held = std::collections::HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = QueryBuilder::new(Backend::of(conn), "SELECT * FROM locks WHERE expires_at > ");
        q.push_bind(fmt_time(at));
        q.push(" AND id IN (");
        let mut sep = q.separated(", ");
        for id in chunk {
            sep.push_bind(id.clone());
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            let lock = row_to_lock(&row)?;
            if owner.is_none() || lock.run_id.as_deref() != owner {
                held.insert(lock.id.clone(), lock);
            }
        }
    }
    Ok(ids.iter().find_map(|id| held.remove(id)))
}

/// Who takes locks: the process and the run or rotation they are taken for.
pub(crate) struct LockHolder<'a> {
    pub holder: &'a str,
    pub run_id: &'a str,
}

/// Whether a lock taken again keeps the time it was first acquired.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    Keep,
    Now,
}

/// Takes (or renews) every lock of `ids` for `who` until `at + lease`.
pub(crate) async fn put_locks(
    conn: &mut sqlx::AnyConnection,
    ids: &[String],
    who: LockHolder<'_>,
    at: DateTime<Utc>,
    lease: Duration,
    acquired: Acquired,
) -> Result<()> {
    // PostgreSQL refuses an upsert that would update one row twice.
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<&String> = ids.iter().filter(|id| seen.insert(*id)).collect();
    for chunk in ids.chunks(CHUNK) {
        let mut q = QueryBuilder::new(
            Backend::of(conn),
            "INSERT INTO locks (id, holder, run_id, acquired_at, renewed_at, expires_at) ",
        );
        q.push_values(chunk, |mut b, id| {
            b.push_bind((*id).clone())
                .push_bind(who.holder.to_string())
                .push_bind(who.run_id.to_string())
                .push_bind(fmt_time(at))
                .push_bind(fmt_time(at))
                .push_bind(fmt_time(at + lease));
        });
        q.push(
            " ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, run_id = excluded.run_id,
               renewed_at = excluded.renewed_at, expires_at = excluded.expires_at",
        );
        if acquired == Acquired::Now {
            q.push(", acquired_at = excluded.acquired_at");
        }
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
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
        self.take_locks_beside(owner, None, holder, ids, lease).await
    }

    /// `take_locks`, beside a run started by `owner` that holds some of `ids` now (a
    /// rotation's batch being applied: the run took those locks over): they stay the run's,
    /// neither refused nor taken back, and the run releases them when it ends.
    pub async fn take_locks_beside(
        &self,
        owner: &str,
        run: Option<&str>,
        holder: &str,
        ids: &[String],
        lease: Duration,
    ) -> Result<Option<LockRecord>> {
        let mut tx = self.begin().await?;
        let at = now();
        let run_holds: std::collections::HashSet<String> = match run {
            Some(run) => sqlx::query_scalar("SELECT id FROM locks WHERE run_id = $1 AND expires_at > $2")
                .bind(run)
                .bind(fmt_time(at))
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect(),
            None => Default::default(),
        };
        let ids: Vec<String> = ids.iter().filter(|id| !run_holds.contains(*id)).cloned().collect();
        if let Some(held) = first_held(&mut tx, &ids, Some(owner), at).await? {
            return Ok(Some(held));
        }
        put_locks(&mut tx, &ids, LockHolder { holder, run_id: owner }, at, lease, Acquired::Keep).await?;
        tx.commit().await?;
        Ok(None)
    }

    /// Releases every lock of `owner` (for a rotation, also its driver lease).
    pub async fn release_locks(&self, owner: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM locks WHERE run_id = $1").bind(owner).execute(&mut *tx).await?;
        if let Some(id) = owner.strip_prefix("rotation:") {
            sqlx::query("DELETE FROM locks WHERE id = $1")
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
        let done =
            sqlx::query("UPDATE locks SET renewed_at = $1, expires_at = $2 WHERE run_id = $3 AND expires_at > $4")
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
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM locks WHERE run_id = $1 AND expires_at > $2")
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
        let row = sqlx::query("SELECT * FROM locks WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("lock {id:?}")))?;
        sqlx::query("DELETE FROM locks WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        row_to_lock(&row)
    }

    /// Releases the named leases `holder` holds (the drift loop, rotation drivers), for a
    /// clean shutdown: another process takes them at once instead of after they lapse.
    /// Runtime locks stay with their runs and rotations.
    pub async fn release_leases(&self, holder: &str) -> Result<u64> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM locks WHERE holder = $1 AND run_id IS NULL")
            .bind(holder)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Takes or renews a named lease for background work (a cluster's drift checks, a
    /// rotation's driver); `None` when another holder's lease is still live. A renewal
    /// keeps the fencing token; taking the lease (from another holder, or after it lapsed)
    /// draws a new one.
    pub async fn try_lease(&self, id: &str, holder: &str, lease: Duration) -> Result<Option<Fence>> {
        let mut tx = self.begin().await?;
        let at = now();
        let held = match sqlx::query("SELECT * FROM locks WHERE id = $1").bind(id).fetch_optional(&mut *tx).await? {
            Some(row) => Some(row_to_lock(&row)?),
            None => None,
        };
        let token = match held {
            Some(h) if h.expires_at > at && h.holder != holder => return Ok(None),
            Some(h) if h.expires_at > at && h.token > 0 => h.token,
            _ => {
                sqlx::query_scalar("UPDATE fencing_tokens SET last = last + 1 WHERE id = 1 RETURNING last")
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        sqlx::query(
            "INSERT INTO locks (id, holder, run_id, acquired_at, renewed_at, expires_at, token) VALUES ($1, $2, NULL, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, renewed_at = excluded.renewed_at,
               expires_at = excluded.expires_at, token = excluded.token,
               acquired_at = CASE WHEN locks.token = excluded.token THEN locks.acquired_at ELSE excluded.acquired_at END",
        )
        .bind(id)
        .bind(holder)
        .bind(fmt_time(at))
        .bind(fmt_time(at))
        .bind(fmt_time(at + lease))
        .bind(token)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(Fence { lease: id.to_string(), holder: holder.to_string(), token }))
    }

    /// Refuses with `lease_lost` unless the current task's fence (if any) still holds: for
    /// a side effect outside the database (a pod deletion) only the lease's holder may do.
    ///
    /// A read of the lease as last committed is enough: a write transaction would hold the
    /// write lock only until it ended, before the side effect anyway.
    pub async fn check_fence(&self) -> Result<()> {
        if let Some(fence) = current_fence() {
            let mut conn = self.reader().acquire().await?;
            check_fence_tx(&mut conn, &fence).await?;
        }
        Ok(())
    }
}

tokio::task_local! {
    static FENCE: Fence;
}

/// Runs `work` with its write transactions fenced by `fence` (see the module doc).
pub async fn fenced<F: std::future::Future>(fence: Fence, work: F) -> F::Output {
    FENCE.scope(fence, work).await
}

pub(crate) fn current_fence() -> Option<Fence> {
    FENCE.try_with(Clone::clone).ok()
}

/// Inside a write transaction: the fence still holds, or `lease_lost`.
pub(crate) async fn check_fence_tx(conn: &mut sqlx::AnyConnection, fence: &Fence) -> Result<()> {
    let held: Option<i64> =
        sqlx::query_scalar("SELECT token FROM locks WHERE id = $1 AND holder = $2 AND token = $3 AND expires_at > $4")
            .bind(&fence.lease)
            .bind(&fence.holder)
            .bind(fence.token)
            .bind(fmt_time(now()))
            .fetch_optional(conn)
            .await?;
    match held {
        Some(_) => Ok(()),
        None => Err(StoreError::conflict(
            ErrorCode::LeaseLost,
            format!("the lease {:?} (token {}) is no longer held by {}", fence.lease, fence.token, fence.holder),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::scratch::database_url(dir.path())).await.unwrap();
        (dir, store)
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("runtime:ns:r{i}")).collect()
    }

    /// More locks than one statement takes (`CHUNK`), in bulk: taken, renewed by their owner
    /// without changing when they were first acquired, and refused whole to anyone else,
    /// who is told the first one held in the order asked.
    #[tokio::test]
    async fn a_rotation_takes_renews_and_is_refused_its_locks_in_bulk() {
        let (_dir, s) = store().await;
        let mut mine = ids(CHUNK + 50);
        mine.push(mine[3].clone()); // asked twice: taken once
        assert!(s.take_locks("rotation:a", "p1", &mine, Duration::seconds(60)).await.unwrap().is_none());
        let first = s.list_locks().await.unwrap();
        assert_eq!(first.len(), CHUNK + 50);
        assert!(first.iter().all(|l| l.run_id.as_deref() == Some("rotation:a") && l.holder == "p1"));

        assert!(s.take_locks("rotation:a", "p2", &mine, Duration::seconds(120)).await.unwrap().is_none());
        let renewed = s.list_locks().await.unwrap();
        for (a, b) in first.iter().zip(&renewed) {
            assert_eq!((&a.id, a.acquired_at), (&b.id, b.acquired_at));
            assert!(b.expires_at > a.expires_at && b.holder == "p2");
        }

        let theirs = [vec!["runtime:ns:free".to_string()], ids(CHUNK + 10)[CHUNK + 5..].to_vec()].concat();
        let held = s.take_locks("rotation:b", "p3", &theirs, Duration::seconds(60)).await.unwrap();
        assert_eq!(held.map(|l| l.id), Some(format!("runtime:ns:r{}", CHUNK + 5)));
        let after = s.list_locks().await.unwrap();
        assert!(after.iter().all(|l| l.run_id.as_deref() == Some("rotation:a")), "none taken: {after:?}");

        // Expired locks are anyone's; live ones are not.
        let refused = s.take_locks("rotation:c", "p1", &ids(2), Duration::seconds(60)).await.unwrap();
        assert_eq!(refused.map(|l| l.id), Some("runtime:ns:r0".to_string()));
        s.release_locks("rotation:a").await.unwrap();
        s.take_locks("rotation:c", "p1", &ids(2), Duration::seconds(-1)).await.unwrap();
        assert!(s.take_locks("rotation:d", "p1", &ids(2), Duration::seconds(60)).await.unwrap().is_none());
    }

    /// Beside the run of its batch, a rotation takes the rest of its locks and leaves the
    /// run's to the run; without naming the run it is refused them.
    #[tokio::test]
    async fn beside_its_run_a_rotation_leaves_the_runs_locks_to_it() {
        let (_dir, s) = store().await;
        let all = ids(4);
        assert!(s.take_locks("rotation:a", "p1", &all, Duration::seconds(60)).await.unwrap().is_none());
        // The batch's run takes two of them over, as `create_run` does for its owner.
        sqlx::query("UPDATE locks SET run_id = 'run-1' WHERE id IN ($1, $2)")
            .bind(&all[0])
            .bind(&all[1])
            .execute(&s.write)
            .await
            .unwrap();
        let refused = s.take_locks("rotation:a", "p1", &all, Duration::seconds(120)).await.unwrap();
        assert_eq!(refused.map(|l| l.id), Some(all[0].clone()), "the run's locks are someone else's");
        let taken = s.take_locks_beside("rotation:a", Some("run-1"), "p1", &all, Duration::seconds(120));
        assert!(taken.await.unwrap().is_none());
        let owners: Vec<(String, Option<String>)> =
            s.list_locks().await.unwrap().into_iter().map(|l| (l.id, l.run_id)).collect();
        let want: Vec<(String, Option<String>)> = all
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), Some(if i < 2 { "run-1" } else { "rotation:a" }.to_string())))
            .collect();
        assert_eq!(owners, want);
        // A run that ended holds nothing: its locks come back to the rotation.
        s.release_locks("run-1").await.unwrap();
        let taken = s.take_locks_beside("rotation:a", Some("run-1"), "p1", &all, Duration::seconds(120));
        assert!(taken.await.unwrap().is_none());
        assert!(s.list_locks().await.unwrap().iter().all(|l| l.run_id.as_deref() == Some("rotation:a")));
    }
}
