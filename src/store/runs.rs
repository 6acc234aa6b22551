//! Runs and their per-object results.
//!
//! A run is written before it acts: its objects are recorded `pending` when the run is
//! created; before a wave is sent its objects turn `applying` (one commit for the wave);
//! results come back in group commits (`record_results`), each moving objects to
//! `applied` or `failed` together with what was applied where. A run interrupted by a
//! restart is marked failed on start, its `applying` objects `unknown` (the server may or
//! may not have them; the next refreshing plan reads them back). Start-up marks only the
//! runs this replica held and those whose holder lost every lock (a peer that died); a
//! live peer's runs keep running. A run holds its locks for as long as it acts and stops
//! before its next wave once it holds fewer than it took (force-unlocked, lease lapsed).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::sql::QueryBuilder;

use super::locks::{Acquired, LockHolder, LockRecord, first_held, put_locks};
use super::sync::{AppliedObject, ObjectKey, upsert_applied_many_tx};
use super::{Result, Store, StoreError, fmt_time, now, parse_json, parse_time};
use crate::domain::states::{ObjectStatus, RunStatus};

pub const INTERRUPTED: &str = "interrupted by a daemon restart";

#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: String,
    pub plan_id: String,
    pub status: RunStatus,
    pub actor: String,
    pub holder: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub requests: serde_json::Value,
    /// Objects per status.
    pub counts: BTreeMap<ObjectStatus, i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// A new run: its plan, the locks it takes, and its objects in execution order.
pub struct NewRun<'a> {
    pub run_id: &'a str,
    pub plan_id: &'a str,
    pub actor: &'a str,
    pub holder: &'a str,
    pub locks: &'a [String],
    pub lease: Duration,
    pub objects: &'a [RunObject],
    /// A lock already held under this id (e.g. `rotation:<id>`) is the caller's own.
    pub owner: Option<&'a str>,
}

/// Why a run could not be created.
#[derive(Debug)]
pub enum RunRefusal {
    AlreadyApplied { run_id: String },
    Locked(LockRecord),
}

/// What happened to one object of a run.
#[derive(Debug, Clone)]
pub enum ObjectResult {
    Applied {
        seq: i64,
        applied: AppliedObject,
    },
    Deleted {
        seq: i64,
        key: ObjectKey,
    },
    Failed {
        seq: i64,
        error: String,
    },
    /// Recorded as about to be sent, then not sent (an earlier failure stopped the run).
    NotSent {
        seq: i64,
    },
}

const CHUNK: usize = 400;

fn opt_time(row: &sqlx::any::AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<String>, _>(col)?.as_deref().map(parse_time).transpose()
}

fn status_of<T>(s: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
    parse(s).ok_or_else(|| StoreError::Corrupt(format!("state {s:?}")))
}

fn row_to_run_object(r: &sqlx::any::AnyRow) -> Result<RunObject> {
    Ok(RunObject {
        seq: r.try_get("seq")?,
        cluster: r.try_get("cluster")?,
        namespace: r.try_get("namespace")?,
        api_version: r.try_get("api_version")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        action: r.try_get("action")?,
        status: status_of(&r.try_get::<String, _>("status")?, ObjectStatus::parse)?,
        error: r.try_get("error")?,
        started_at: opt_time(r, "started_at")?,
        finished_at: opt_time(r, "finished_at")?,
    })
}

/// Sets the status of objects `seqs` and stamps `time_col` (`started_at` or `finished_at`).
async fn set_status(
    conn: &mut sqlx::AnyConnection,
    run_id: &str,
    seqs: &[i64],
    status: ObjectStatus,
    time_col: &'static str,
    at: &str,
) -> Result<()> {
    for chunk in seqs.chunks(CHUNK) {
        let mut q: QueryBuilder = QueryBuilder::new(super::Backend::of(conn), "UPDATE run_objects SET status = ");
        q.push_bind(status.as_str());
        q.push(format!(", {time_col} = "));
        q.push_bind(at.to_string());
        q.push(" WHERE run_id = ");
        q.push_bind(run_id.to_string());
        q.push(" AND seq IN (");
        let mut sep = q.separated(", ");
        for s in chunk {
            sep.push_bind(*s);
        }
        q.push(")");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

impl Store {
    /// Creates a queued run for a plan in one transaction with its locks: refused when the
    /// plan already has a run or another live lease holds one of the locks.
    pub async fn create_run(&self, new: NewRun<'_>) -> Result<std::result::Result<(), RunRefusal>> {
        let mut tx = self.begin().await?;
        let existing: Option<Option<String>> = sqlx::query_scalar("SELECT run_id FROM plans WHERE id = $1")
            .bind(new.plan_id)
            .fetch_optional(&mut *tx)
            .await?;
        match existing {
            None => return Err(StoreError::not_found(format!("plan {:?}", new.plan_id))),
            Some(Some(run_id)) => return Ok(Err(RunRefusal::AlreadyApplied { run_id })),
            Some(None) => {}
        }
        let at = now();
        // A lock of the caller's own (a rotation running its batch) is taken over.
        if let Some(held) = first_held(&mut tx, new.locks, new.owner, at).await? {
            return Ok(Err(RunRefusal::Locked(held)));
        }
        let who = LockHolder { holder: new.holder, run_id: new.run_id };
        put_locks(&mut tx, new.locks, who, at, new.lease, Acquired::Now).await?;
        sqlx::query(
            "INSERT INTO runs (id, plan_id, status, actor, holder, created_at) VALUES ($1, $2, 'queued', $3, $4, $5)",
        )
        .bind(new.run_id)
        .bind(new.plan_id)
        .bind(new.actor)
        .bind(new.holder)
        .bind(fmt_time(at))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE plans SET run_id = $1 WHERE id = $2")
            .bind(new.run_id)
            .bind(new.plan_id)
            .execute(&mut *tx)
            .await?;
        for chunk in new.objects.chunks(CHUNK) {
            let mut q: QueryBuilder = QueryBuilder::new(
                self.backend(),
                "INSERT INTO run_objects (run_id, seq, cluster, namespace, api_version, kind, name, action, status) ",
            );
            q.push_values(chunk, |mut b, o| {
                b.push_bind(new.run_id.to_string())
                    .push_bind(o.seq)
                    .push_bind(o.cluster.clone())
                    .push_bind(o.namespace.clone())
                    .push_bind(o.api_version.clone())
                    .push_bind(o.kind.clone())
                    .push_bind(o.name.clone())
                    .push_bind(o.action.clone())
                    .push_bind(ObjectStatus::Pending.as_str());
            });
            q.build().execute(&mut *tx).await?;
        }
        super::notifications::run_notice_tx(&mut tx, new.run_id, crate::domain::notify::Trigger::RunCreated).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// A run with its object counts per status (objects themselves: `run_objects`).
    pub async fn get_run(&self, id: &str) -> Result<RunRecord> {
        let mut conn = self.reader().acquire().await?;
        let row = sqlx::query("SELECT * FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("run {id:?}")))?;
        let counts = sqlx::query("SELECT status, COUNT(*) AS n FROM run_objects WHERE run_id = $1 GROUP BY status")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((status_of(&r.try_get::<String, _>("status")?, ObjectStatus::parse)?, r.try_get("n")?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        Ok(RunRecord {
            id: row.try_get("id")?,
            plan_id: row.try_get("plan_id")?,
            status: status_of(&row.try_get::<String, _>("status")?, RunStatus::parse)?,
            actor: row.try_get("actor")?,
            holder: row.try_get::<Option<String>, _>("holder")?.unwrap_or_default(),
            created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
            started_at: opt_time(&row, "started_at")?,
            finished_at: opt_time(&row, "finished_at")?,
            error: row.try_get("error")?,
            requests: parse_json(&row.try_get::<String, _>("requests")?)?,
            counts,
        })
    }

    /// A page of a run's objects in execution order, after `after` (a `seq`).
    pub async fn run_objects(
        &self,
        id: &str,
        status: Option<ObjectStatus>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RunObject>> {
        let status = status.map(|s| s.as_str());
        let rows = sqlx::query(
            "SELECT * FROM run_objects WHERE run_id = $1 AND seq > $2 AND ($3 IS NULL OR status = $4) ORDER BY seq LIMIT $5",
        )
        .bind(id)
        .bind(after)
        .bind(status)
        .bind(status)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(row_to_run_object).collect()
    }

    pub async fn mark_run_running(&self, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let started =
            sqlx::query("UPDATE runs SET status = 'running', started_at = $1 WHERE id = $2 AND status = 'queued'")
                .bind(fmt_time(now()))
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if started > 0 {
            super::notifications::run_notice_tx(&mut tx, id, crate::domain::notify::Trigger::RunApplying).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks objects `applying` in one commit: what a run is about to send.
    pub async fn mark_applying(&self, run_id: &str, seqs: &[i64]) -> Result<()> {
        let mut tx = self.begin().await?;
        set_status(&mut tx, run_id, seqs, ObjectStatus::Applying, "started_at", &fmt_time(now())).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a group of object results in one commit, with what each applied or deleted.
    pub async fn record_results(&self, run_id: &str, results: &[ObjectResult]) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        let at = fmt_time(now());
        let mut done = Vec::new();
        let mut unsent = Vec::new();
        let mut applied_now = Vec::new();
        for r in results {
            match r {
                ObjectResult::Applied { seq, applied } => {
                    applied_now.push(applied);
                    done.push(*seq);
                }
                ObjectResult::Deleted { seq, key } => {
                    sqlx::query(
                        "DELETE FROM applied_objects WHERE cluster = $1 AND namespace = $2 AND kind = $3 AND name = $4",
                    )
                    .bind(&key.cluster)
                    .bind(&key.namespace)
                    .bind(&key.kind)
                    .bind(&key.name)
                    .execute(&mut *tx)
                    .await?;
                    done.push(*seq);
                }
                ObjectResult::NotSent { seq } => unsent.push(*seq),
                ObjectResult::Failed { seq, error } => {
                    sqlx::query(
                        "UPDATE run_objects SET status = 'failed', error = $1, finished_at = $2 WHERE run_id = $3 AND seq = $4",
                    )
                    .bind(error)
                    .bind(&at)
                    .bind(run_id)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        // A run has each object once, so no object is both applied and deleted here.
        upsert_applied_many_tx(&mut tx, &applied_now).await?;
        set_status(&mut tx, run_id, &done, ObjectStatus::Applied, "finished_at", &at).await?;
        set_status(&mut tx, run_id, &unsent, ObjectStatus::Skipped, "finished_at", &at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a run: its status, error and request counts; objects still pending are skipped;
    /// its locks are released.
    pub async fn finish_run(
        &self,
        id: &str,
        status: RunStatus,
        error: Option<&str>,
        requests: &serde_json::Value,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let at = fmt_time(now());
        sqlx::query("UPDATE runs SET status = $1, error = $2, requests = $3, finished_at = $4 WHERE id = $5")
            .bind(status.as_str())
            .bind(error)
            .bind(requests.to_string())
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE run_objects SET status = 'skipped', finished_at = $1 WHERE run_id = $2 AND status = 'pending'",
        )
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM locks WHERE run_id = $1").bind(id).execute(&mut *tx).await?;
        let trigger = if status == RunStatus::Succeeded {
            crate::domain::notify::Trigger::RunCompleted
        } else {
            crate::domain::notify::Trigger::RunErrored
        };
        super::notifications::run_notice_tx(&mut tx, id, trigger).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks runs left queued or running as failed (see module doc): those an earlier
    /// process of this replica held (holder `replica` or `replica/<process>`), and those
    /// of any holder that no longer holds a live lock (a peer that died). A live peer's
    /// runs are left to it.
    pub async fn fail_interrupted_runs(&self, replica: &str) -> Result<Vec<String>> {
        self.fail_runs(Some(replica)).await
    }

    /// Marks failed the unfinished runs whose locks have all lapsed: their process died
    /// (any replica's; each replica sweeps every few seconds).
    pub async fn fail_lapsed_runs(&self) -> Result<Vec<String>> {
        self.fail_runs(None).await
    }

    async fn fail_runs(&self, replica: Option<&str>) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let at = fmt_time(now());
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM runs WHERE status IN ('queued', 'running')
               AND (holder = $1 OR substr(holder, 1, length($1) + 1) = $1 || '/'
                    OR NOT EXISTS (SELECT 1 FROM locks WHERE locks.run_id = runs.id AND locks.expires_at > $2))",
        )
        .bind(replica.unwrap_or("/"))
        .bind(&at)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            sqlx::query("UPDATE runs SET status = 'failed', error = $1, finished_at = $2 WHERE id = $3")
                .bind(INTERRUPTED)
                .bind(&at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE run_objects SET status = 'unknown', finished_at = $1 WHERE run_id = $2 AND status = 'applying'",
            )
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE run_objects SET status = 'skipped', finished_at = $1 WHERE run_id = $2 AND status = 'pending'",
            )
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM locks WHERE run_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("UPDATE runtime_sync SET last_run_status = 'failed' WHERE last_run_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            super::notifications::run_notice_tx(&mut tx, id, crate::domain::notify::Trigger::RunErrored).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }
}
