//! Rotations: the request, batches, runtimes and the event timeline. Every step of a
//! rotation is written here before it is acted on, and every transition is one
//! transaction: a batch's binding moves commit with the batch's start and its run id, a
//! batch's end commits with the rotation's next state (next batch, waiting for approval,
//! paused, rolling back or failed), so a restart never moves a batch twice nor starts one
//! that was meant to wait.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::runtimes::{BindingChange, RevisionChanges, RuntimePut, get_runtime_tx, insert_revision, put_runtime_tx};
use super::{Result, Store, StoreError, fmt_time, now, parse_json, parse_time};
use crate::domain::code::ErrorCode;
use crate::domain::rollout::{Target, WaitingFor, WorkloadRef};
use crate::domain::states::{BatchState, RollbackState, RotationRuntimeState, RotationState};

#[derive(Debug, Clone)]
pub struct RotationRecord {
    pub id: String,
    pub credential: String,
    pub from_version: Option<u32>,
    pub to_version: u32,
    pub request: serde_json::Value,
    pub state: RotationState,
    pub current_batch: i64,
    pub rollback_state: Option<RollbackState>,
    pub rollback_run_id: Option<String>,
    pub rollback_deadline_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub batches: Vec<BatchRecord>,
    pub runtimes: Vec<RotationRuntime>,
}

impl RotationRecord {
    pub fn failed_batches(&self) -> usize {
        self.batches.iter().filter(|b| b.state == BatchState::Failed).count()
    }
}

/// A workload a batch left alone because it was unhealthy before the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedWorkload {
    #[serde(flatten)]
    pub workload: WorkloadRef,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct BatchRecord {
    pub idx: i64,
    pub state: BatchState,
    pub run_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub restart_started_at: Option<DateTime<Utc>>,
    /// When the batch fails unless it is healthy by then.
    pub deadline_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// While restarting: the workloads not done yet, and why.
    pub waiting_for: Vec<WaitingFor>,
    /// The runtimes and components whose pods the batch restarts.
    pub targets: Vec<Target>,
    /// Workloads left alone because they were unhealthy before the batch.
    pub skipped: Vec<SkippedWorkload>,
}

#[derive(Debug, Clone)]
pub struct RotationRuntime {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub batch: i64,
    /// The version the runtime was bound to before the rotation moved it.
    pub from_version: Option<u32>,
    pub state: RotationRuntimeState,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RotationEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub batch: Option<i64>,
    pub data: serde_json::Value,
}

/// Where a rotation goes when a batch ends (written in the batch's own transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextState {
    /// The next batch (or, after the last, completion by the driver).
    Advance,
    WaitApproval,
    Pause,
    RollBack,
    /// The rotation failed (its locks are released).
    Fail,
}

/// What changes when a rotation moves (its state, current batch, or a batch's state) or a
/// command reaches it.
pub fn rotation_mark(state: RotationState, current_batch: i64, batches: &[BatchState]) -> String {
    let batches: Vec<String> = batches.iter().map(ToString::to_string).collect();
    format!("{state}:{current_batch}:{}", batches.join(","))
}

const ACTIVE: &str = "'running', 'waiting_approval', 'paused', 'rolling_back'";

fn opt_time(row: &sqlx::any::AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<String>, _>(col)?.as_deref().map(parse_time).transpose()
}

fn parse_state<T>(s: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
    parse(s).ok_or_else(|| StoreError::Corrupt(format!("rotation state {s:?}")))
}

async fn add_event_tx(
    conn: &mut AnyConnection,
    id: &str,
    kind: &str,
    batch: Option<i64>,
    data: &serde_json::Value,
) -> Result<()> {
    let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM rotation_events WHERE rotation_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO rotation_events (rotation_id, seq, at, kind, batch, data) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(seq)
    .bind(fmt_time(now()))
    .bind(kind)
    .bind(batch)
    .bind(data.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

async fn touch(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("UPDATE rotations SET updated_at = $1 WHERE id = $2")
        .bind(fmt_time(now()))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Rebinds runtimes of a rotation to `version` (recording a layer revision for each that
/// moves); returns the runtimes' previous versions.
async fn rebind(
    conn: &mut AnyConnection,
    rotation: &str,
    credential: &str,
    runtimes: &[(String, String)],
    version_of: impl Fn(&str, &str) -> Option<u32>,
    actor: &str,
    reason: &str,
) -> Result<Vec<Option<u32>>> {
    let mut previous = Vec::new();
    let at = now();
    for (ns, name) in runtimes {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM runtimes WHERE namespace = $1 AND name = $2")
            .bind(ns)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(id) = id else {
            previous.push(None);
            continue;
        };
        let old: Option<i64> =
            sqlx::query_scalar("SELECT version FROM runtime_bindings WHERE runtime_id = $1 AND credential = $2")
                .bind(id)
                .bind(credential)
                .fetch_optional(&mut *conn)
                .await?;
        let old = old.map(|v| v as u32);
        previous.push(old);
        let Some(target) = version_of(ns, name) else { continue };
        if old.is_none() || old == Some(target) {
            continue;
        }
        sqlx::query("UPDATE runtime_bindings SET version = $1 WHERE runtime_id = $2 AND credential = $3")
            .bind(target as i64)
            .bind(id)
            .bind(credential)
            .execute(&mut *conn)
            .await?;
        let changes = RevisionChanges {
            layers: vec![],
            bindings: vec![BindingChange { credential: credential.into(), old, new: Some(target) }],
        };
        insert_revision(conn, id, at, actor, &format!("{reason} (rotation {rotation})"), changes).await?;
    }
    Ok(previous)
}

/// What starting a batch records.
pub struct BatchStart<'a> {
    pub mv: &'a BatchMove,
    pub idx: i64,
    pub run_id: &'a str,
    pub actor: &'a str,
    pub deadline: DateTime<Utc>,
    pub skipped: &'a [SkippedWorkload],
}

/// What a batch changes on each of its runtimes.
#[derive(Debug, Clone)]
pub enum BatchMove {
    /// Rebind the rotation's credential to its target version.
    Credential,
    /// Replace the pull-secret name `from` by `to` in one layer of the manifest.
    Layer { layer: String, from: String, to: String },
}

/// Rewrites one layer of each runtime (a manifest change: new generation and a layer
/// revision with `reason`).
async fn rewrite_layer(
    conn: &mut AnyConnection,
    runtimes: &[(String, String)],
    layer: &str,
    from: &str,
    to: &str,
    actor: &str,
    reason: &str,
) -> Result<()> {
    for (ns, name) in runtimes {
        let Some(rec) = get_runtime_tx(&mut *conn, ns, name).await? else { continue };
        let mut rt = rec.runtime()?;
        if rt.replace_in_layer(layer, from, to) {
            let put = RuntimePut {
                namespace: ns,
                name,
                cluster: &rec.cluster,
                runtime: &rt,
                if_match: None,
                actor,
                reason: Some(reason),
            };
            put_runtime_tx(&mut *conn, put).await?;
        }
    }
    Ok(())
}

pub struct NewRotation<'a> {
    pub id: &'a str,
    pub credential: &'a str,
    pub from_version: Option<u32>,
    pub to_version: u32,
    pub request: &'a serde_json::Value,
    pub actor: &'a str,
    pub batches: usize,
    pub runtimes: &'a [RotationRuntime],
    pub state: RotationState,
}

async fn set_runtimes_tx(
    conn: &mut AnyConnection,
    rotation: &str,
    batch: i64,
    state: RotationRuntimeState,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE rotation_runtimes SET state = $1, error = $2 WHERE rotation_id = $3 AND batch = $4")
        .bind(state.as_str())
        .bind(error)
        .bind(rotation)
        .bind(batch)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves the rotation to `to` (recording `error` unless `None`) with an event; returns
/// whether it was in one of `from`.
async fn set_state_tx(
    conn: &mut AnyConnection,
    id: &str,
    from: &[RotationState],
    to: RotationState,
    error: Option<Option<&str>>,
    event: &serde_json::Value,
) -> Result<bool> {
    let state: String = sqlx::query_scalar("SELECT state FROM rotations WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("rotation {id:?}")))?;
    let state = parse_state(&state, RotationState::parse)?;
    if state == to || !from.contains(&state) {
        return Ok(false);
    }
    let finished = to.is_terminal().then(|| fmt_time(now()));
    let (set_error, error) = match error {
        None => (0, None),
        Some(e) => (1, e),
    };
    sqlx::query(
        "UPDATE rotations SET state = $1, error = CASE WHEN $2 = 1 THEN $3 ELSE error END,
           finished_at = COALESCE($4, finished_at), updated_at = $5 WHERE id = $6",
    )
    .bind(to.as_str())
    .bind(set_error)
    .bind(error)
    .bind(finished)
    .bind(fmt_time(now()))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    add_event_tx(&mut *conn, id, to.as_str(), None, event).await?;
    notify_state_tx(conn, id, to, error).await?;
    Ok(true)
}

/// The webhook a state change announces, in its transaction: the manual gate, success, and
/// every stop the rotation made by itself with a reason (an operator's own pause or
/// rollback announces nothing: they know).
async fn notify_state_tx(conn: &mut AnyConnection, id: &str, to: RotationState, error: Option<&str>) -> Result<()> {
    use crate::domain::notify::Trigger;
    let (trigger, message) = match (to, error) {
        (RotationState::WaitingApproval, _) => {
            (Trigger::RotationNeedsApproval, format!("rotation {id} waits for approval before its next batch"))
        }
        (RotationState::Succeeded, _) => (Trigger::RotationCompleted, format!("rotation {id} succeeded")),
        (RotationState::Paused | RotationState::RollingBack | RotationState::Failed, Some(e)) => {
            (Trigger::RotationFailed, format!("rotation {id} is {}: {e}", to.as_str()))
        }
        _ => return Ok(()),
    };
    super::notifications::rotation_notice_tx(conn, id, trigger, message, serde_json::json!({})).await
}

async fn release_locks_tx(conn: &mut AnyConnection, owner: &str) -> Result<()> {
    sqlx::query("DELETE FROM locks WHERE run_id = $1").bind(owner).execute(&mut *conn).await?;
    if let Some(id) = owner.strip_prefix("rotation:") {
        sqlx::query("DELETE FROM locks WHERE id = $1")
            .bind(format!("rotation-driver:{id}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn current_batch_tx(conn: &mut AnyConnection, id: &str, idx: i64) -> Result<()> {
    sqlx::query("UPDATE rotations SET current_batch = $1 WHERE id = $2 AND current_batch < $3")
        .bind(idx)
        .bind(id)
        .bind(idx)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Saves a new rotation; refused (`rotation_active`) while another rotation of the
    /// credential is active.
    pub async fn insert_rotation(&self, r: NewRotation<'_>) -> Result<()> {
        let mut tx = self.begin().await?;
        let active: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM rotations WHERE credential = $1 AND state IN ({ACTIVE})"
        )))
        .bind(r.credential)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(other) = active {
            return Err(StoreError::conflict(
                ErrorCode::RotationActive,
                format!("rotation {other} of credential {:?} is still active", r.credential),
            ));
        }
        let at = fmt_time(now());
        sqlx::query(
            "INSERT INTO rotations (id, credential, from_version, to_version, request, state, actor, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(r.id)
        .bind(r.credential)
        .bind(r.from_version.map(i64::from))
        .bind(r.to_version as i64)
        .bind(r.request.to_string())
        .bind(r.state.as_str())
        .bind(r.actor)
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        for idx in 0..r.batches {
            sqlx::query("INSERT INTO rotation_batches (rotation_id, idx, state) VALUES ($1, $2, 'pending')")
                .bind(r.id)
                .bind(idx as i64)
                .execute(&mut *tx)
                .await?;
        }
        for rt in r.runtimes {
            sqlx::query(
                "INSERT INTO rotation_runtimes (rotation_id, namespace, name, cluster, batch, state) VALUES ($1, $2, $3, $4, $5, 'pending')",
            )
            .bind(r.id)
            .bind(&rt.namespace)
            .bind(&rt.name)
            .bind(&rt.cluster)
            .bind(rt.batch)
            .execute(&mut *tx)
            .await?;
        }
        add_event_tx(&mut tx, r.id, "started", None, &serde_json::json!({"actor": r.actor, "toVersion": r.to_version}))
            .await?;
        let message =
            format!("rotation {} of {} to version {} started by {}", r.id, r.credential, r.to_version, r.actor);
        let extra = serde_json::json!({"batches": r.batches, "runtimes": r.runtimes.len()});
        super::notifications::rotation_notice_tx(
            &mut tx,
            r.id,
            crate::domain::notify::Trigger::RotationStarted,
            message,
            extra,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_rotation(&self, id: &str) -> Result<RotationRecord> {
        let mut conn = self.reader().begin().await?;
        let row = sqlx::query("SELECT * FROM rotations WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("rotation {id:?}")))?;
        let batches = sqlx::query("SELECT * FROM rotation_batches WHERE rotation_id = $1 ORDER BY idx")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|b| {
                Ok(BatchRecord {
                    idx: b.try_get("idx")?,
                    state: parse_state(&b.try_get::<String, _>("state")?, BatchState::parse)?,
                    run_id: b.try_get("run_id")?,
                    started_at: opt_time(b, "started_at")?,
                    restart_started_at: opt_time(b, "restart_started_at")?,
                    deadline_at: opt_time(b, "deadline_at")?,
                    finished_at: opt_time(b, "finished_at")?,
                    error: b.try_get("error")?,
                    waiting_for: parse_json(&b.try_get::<String, _>("waiting_for")?)?,
                    targets: parse_json(&b.try_get::<String, _>("workloads")?)?,
                    skipped: parse_json(&b.try_get::<String, _>("skipped")?)?,
                })
            })
            .collect::<Result<_>>()?;
        let runtimes = sqlx::query(
            "SELECT * FROM rotation_runtimes WHERE rotation_id = $1 ORDER BY batch, cluster, namespace, name",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(RotationRuntime {
                namespace: r.try_get("namespace")?,
                name: r.try_get("name")?,
                cluster: r.try_get("cluster")?,
                batch: r.try_get("batch")?,
                from_version: r.try_get::<Option<i64>, _>("from_version")?.map(|v| v as u32),
                state: parse_state(&r.try_get::<String, _>("state")?, RotationRuntimeState::parse)?,
                error: r.try_get("error")?,
            })
        })
        .collect::<Result<_>>()?;
        conn.commit().await?;
        Ok(RotationRecord {
            id: row.try_get("id")?,
            credential: row.try_get("credential")?,
            from_version: row.try_get::<Option<i64>, _>("from_version")?.map(|v| v as u32),
            to_version: row.try_get::<i64, _>("to_version")? as u32,
            request: parse_json(&row.try_get::<String, _>("request")?)?,
            state: parse_state(&row.try_get::<String, _>("state")?, RotationState::parse)?,
            current_batch: row.try_get("current_batch")?,
            rollback_state: row
                .try_get::<Option<String>, _>("rollback_state")?
                .as_deref()
                .map(|s| parse_state(s, RollbackState::parse))
                .transpose()?,
            rollback_run_id: row.try_get("rollback_run_id")?,
            rollback_deadline_at: opt_time(&row, "rollback_deadline_at")?,
            error: row.try_get("error")?,
            actor: row.try_get("actor")?,
            created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
            updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
            finished_at: opt_time(&row, "finished_at")?,
            batches,
            runtimes,
        })
    }

    /// The active (not ended) rotation of a credential, if any.
    pub async fn active_rotation_of(&self, credential: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM rotations WHERE credential = $1 AND state IN ({ACTIVE})"
        )))
        .bind(credential)
        .fetch_optional(self.reader())
        .await?)
    }

    /// Rotations a driver works on, and those whose locks it keeps (paused, waiting).
    /// Every active rotation's id and mark (`rotation_mark`), in one statement: what the
    /// driver compares at each tick to see whether a rotation moved or a command reached it
    /// without reading the whole rotation.
    pub async fn active_rotation_marks(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT r.id, r.state, r.current_batch, b.state AS batch_state FROM rotations r \
             LEFT JOIN rotation_batches b ON b.rotation_id = r.id \
             WHERE r.state IN ({ACTIVE}) ORDER BY r.created_at, r.id, b.idx"
        )))
        .fetch_all(self.reader())
        .await?;
        let mut out: Vec<(String, RotationState, i64, Vec<BatchState>)> = Vec::new();
        for r in &rows {
            let id: String = r.try_get("id")?;
            if out.last().is_none_or(|(last, ..)| *last != id) {
                let state = parse_state(&r.try_get::<String, _>("state")?, RotationState::parse)?;
                out.push((id, state, r.try_get("current_batch")?, Vec::new()));
            }
            if let Some(b) = r.try_get::<Option<String>, _>("batch_state")? {
                out.last_mut().expect("pushed").3.push(parse_state(&b, BatchState::parse)?);
            }
        }
        Ok(out.into_iter().map(|(id, state, current, batches)| (id, rotation_mark(state, current, &batches))).collect())
    }

    pub async fn active_rotations(&self) -> Result<Vec<(String, RotationState)>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, state FROM rotations WHERE state IN ({ACTIVE}) ORDER BY created_at"
        )))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, parse_state(&r.try_get::<String, _>("state")?, RotationState::parse)?)))
            .collect()
    }

    /// Sets the rotation's state with an event, unless it is already in `to` or not in one
    /// of `from`. `error`: `None` keeps the recorded one, `Some(e)` replaces it. Returns
    /// whether it changed. Entering a terminal state releases the rotation's locks.
    pub async fn set_rotation_state(
        &self,
        id: &str,
        from: &[RotationState],
        to: RotationState,
        error: Option<Option<&str>>,
        event: &serde_json::Value,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let changed = set_state_tx(&mut tx, id, from, to, error, event).await?;
        if changed && to.is_terminal() {
            release_locks_tx(&mut tx, &format!("rotation:{id}")).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Starts batch `idx`: moves its runtimes' bindings to the target version and records
    /// the run id that will apply them, its deadline and the workloads it leaves alone, in
    /// one transaction.
    pub async fn start_batch(&self, rot: &RotationRecord, start: BatchStart<'_>) -> Result<()> {
        let BatchStart { mv, idx, run_id, actor, deadline, skipped } = start;
        let mut tx = self.begin().await?;
        let state: String =
            sqlx::query_scalar("SELECT state FROM rotation_batches WHERE rotation_id = $1 AND idx = $2")
                .bind(&rot.id)
                .bind(idx)
                .fetch_one(&mut *tx)
                .await?;
        if state != BatchState::Pending.as_str() {
            return Ok(());
        }
        let runtimes: Vec<(String, String)> =
            rot.runtimes.iter().filter(|r| r.batch == idx).map(|r| (r.namespace.clone(), r.name.clone())).collect();
        let to = rot.to_version;
        let previous = match mv {
            BatchMove::Credential => {
                rebind(&mut tx, &rot.id, &rot.credential, &runtimes, |_, _| Some(to), actor, "rotation batch").await?
            }
            BatchMove::Layer { layer, from, to } => {
                let reason = format!("rotation batch (rotation {})", rot.id);
                rewrite_layer(&mut tx, &runtimes, layer, from, to, actor, &reason).await?;
                vec![None; runtimes.len()]
            }
        };
        for ((ns, name), prev) in runtimes.iter().zip(previous) {
            sqlx::query(
                "UPDATE rotation_runtimes SET from_version = $1, state = 'moved' WHERE rotation_id = $2 AND namespace = $3 AND name = $4",
            )
            .bind(prev.map(i64::from))
            .bind(&rot.id)
            .bind(ns)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        let at = fmt_time(now());
        sqlx::query(
            "UPDATE rotation_batches SET state = 'applying', run_id = $1, started_at = $2, deadline_at = $3, skipped = $4
              WHERE rotation_id = $5 AND idx = $6",
        )
        .bind(run_id)
        .bind(&at)
        .bind(fmt_time(deadline))
        .bind(serde_json::to_string(skipped).expect("serializes"))
        .bind(&rot.id)
        .bind(idx)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE rotations SET current_batch = $1 WHERE id = $2")
            .bind(idx)
            .bind(&rot.id)
            .execute(&mut *tx)
            .await?;
        let mut data = serde_json::json!({"runtimes": runtimes.len(), "runId": run_id});
        if !skipped.is_empty() {
            data["skipped"] = serde_json::to_value(skipped).expect("serializes");
        }
        add_event_tx(&mut tx, &rot.id, "batch_started", Some(idx), &data).await?;
        touch(&mut tx, &rot.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives batch `idx` a new run (and deadline) to apply it, back in `applying`.
    pub async fn retry_batch(
        &self,
        rotation: &str,
        idx: i64,
        run_id: &str,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE rotation_batches SET state = 'applying', run_id = $1, error = NULL, finished_at = NULL,
               deadline_at = COALESCE($2, deadline_at) WHERE rotation_id = $3 AND idx = $4",
        )
        .bind(run_id)
        .bind(deadline.map(fmt_time))
        .bind(rotation)
        .bind(idx)
        .execute(&mut *tx)
        .await?;
        set_runtimes_tx(&mut tx, rotation, idx, RotationRuntimeState::Moved, None).await?;
        add_event_tx(&mut tx, rotation, "batch_applying", Some(idx), &serde_json::json!({"runId": run_id})).await?;
        touch(&mut tx, rotation).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Why batch `idx` could not apply yet (shown as its error while it keeps trying).
    pub async fn note_batch(&self, rotation: &str, idx: i64, why: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE rotation_batches SET error = $1 WHERE rotation_id = $2 AND idx = $3 AND state = 'applying'",
        )
        .bind(why)
        .bind(rotation)
        .bind(idx)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The batch's run succeeded: it restarts the pods of `targets` until `deadline`.
    pub async fn begin_restart(
        &self,
        rotation: &str,
        idx: i64,
        targets: &[Target],
        deadline: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let at = fmt_time(now());
        sqlx::query(
            "UPDATE rotation_batches SET state = 'restarting', restart_started_at = $1, deadline_at = $2, workloads = $3,
               error = NULL WHERE rotation_id = $4 AND idx = $5 AND state = 'applying'",
        )
        .bind(&at)
        .bind(fmt_time(deadline))
        .bind(serde_json::to_string(targets).expect("serializes"))
        .bind(rotation)
        .bind(idx)
        .execute(&mut *tx)
        .await?;
        add_event_tx(
            &mut tx,
            rotation,
            "batch_restarting",
            Some(idx),
            &serde_json::json!({"deadline": fmt_time(deadline)}),
        )
        .await?;
        touch(&mut tx, rotation).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records what a restarting batch waits for, with an event, when it changed.
    pub async fn record_waiting(&self, rotation: &str, idx: i64, waiting: &[WaitingFor]) -> Result<()> {
        let text = serde_json::to_string(waiting).expect("serializes");
        let mut tx = self.begin().await?;
        let old: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT waiting_for, deadline_at FROM rotation_batches WHERE rotation_id = $1 AND idx = $2")
                .bind(rotation)
                .bind(idx)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((old, deadline_at)) = old else { return Ok(()) };
        if old == text {
            return Ok(());
        }
        sqlx::query("UPDATE rotation_batches SET waiting_for = $1 WHERE rotation_id = $2 AND idx = $3")
            .bind(&text)
            .bind(rotation)
            .bind(idx)
            .execute(&mut *tx)
            .await?;
        let data = serde_json::json!({"waitingFor": waiting, "deadlineAt": deadline_at});
        add_event_tx(&mut tx, rotation, "batch_waiting", Some(idx), &data).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends batch `idx` healthy or failed and moves the rotation on (`next`), in one
    /// transaction.
    pub async fn end_batch(
        &self,
        rot: &RotationRecord,
        idx: i64,
        healthy: bool,
        error: Option<&str>,
        next: NextState,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let at = fmt_time(now());
        let (state, rt_state) = if healthy {
            (BatchState::Healthy, RotationRuntimeState::Healthy)
        } else {
            (BatchState::Failed, RotationRuntimeState::Failed)
        };
        sqlx::query(
            "UPDATE rotation_batches SET state = $1, error = $2, finished_at = $3, waiting_for = '[]' WHERE rotation_id = $4 AND idx = $5",
        )
        .bind(state.as_str())
        .bind(error)
        .bind(&at)
        .bind(&rot.id)
        .bind(idx)
        .execute(&mut *tx)
        .await?;
        set_runtimes_tx(&mut tx, &rot.id, idx, rt_state, error).await?;
        let mut data = serde_json::json!({});
        if let Some(e) = error {
            data["error"] = e.into();
        }
        add_event_tx(&mut tx, &rot.id, &format!("batch_{}", state.as_str()), Some(idx), &data).await?;
        if healthy {
            let message =
                format!("batch {idx} of rotation {} is healthy ({} of {})", rot.id, idx + 1, rot.batches.len());
            let extra = serde_json::json!({"batch": idx, "batches": rot.batches.len()});
            super::notifications::rotation_notice_tx(
                &mut tx,
                &rot.id,
                crate::domain::notify::Trigger::RotationBatchHealthy,
                message,
                extra,
            )
            .await?;
        }
        let running = [RotationState::Running];
        let event = serde_json::json!({"after": idx, "next": idx + 1, "error": error});
        match next {
            NextState::Advance => current_batch_tx(&mut tx, &rot.id, idx + 1).await?,
            NextState::WaitApproval => {
                current_batch_tx(&mut tx, &rot.id, idx + 1).await?;
                set_state_tx(&mut tx, &rot.id, &running, RotationState::WaitingApproval, None, &event).await?;
            }
            NextState::Pause => {
                set_state_tx(&mut tx, &rot.id, &running, RotationState::Paused, Some(error), &event).await?;
            }
            NextState::RollBack => {
                set_state_tx(&mut tx, &rot.id, &running, RotationState::RollingBack, Some(error), &event).await?;
            }
            NextState::Fail => {
                let msg = format!("{} batch(es) failed", rot.failed_batches() + 1);
                set_state_tx(&mut tx, &rot.id, &running, RotationState::Failed, Some(Some(&msg)), &event).await?;
                release_locks_tx(&mut tx, &format!("rotation:{}", rot.id)).await?;
            }
        }
        touch(&mut tx, &rot.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves every runtime the rotation moved back to its previous version, and records
    /// the rollback run id and deadline, in one transaction.
    pub async fn start_rollback(
        &self,
        rot: &RotationRecord,
        mv: &BatchMove,
        run_id: &str,
        actor: &str,
        deadline: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let current: Option<String> = sqlx::query_scalar("SELECT rollback_state FROM rotations WHERE id = $1")
            .bind(&rot.id)
            .fetch_one(&mut *tx)
            .await?;
        if current.is_some() {
            return Ok(());
        }
        let moved: Vec<&RotationRuntime> =
            rot.runtimes.iter().filter(|r| r.state != RotationRuntimeState::Pending).collect();
        let runtimes: Vec<(String, String)> = moved.iter().map(|r| (r.namespace.clone(), r.name.clone())).collect();
        match mv {
            BatchMove::Credential => {
                let back = |ns: &str, name: &str| {
                    moved.iter().find(|r| r.namespace == ns && r.name == name).and_then(|r| r.from_version)
                };
                rebind(&mut tx, &rot.id, &rot.credential, &runtimes, back, actor, "rotation rollback").await?;
            }
            BatchMove::Layer { layer, from, to } => {
                let reason = format!("rotation rollback (rotation {})", rot.id);
                rewrite_layer(&mut tx, &runtimes, layer, to, from, actor, &reason).await?;
            }
        }
        sqlx::query(
            "UPDATE rotations SET rollback_state = 'applying', rollback_run_id = $1, rollback_deadline_at = $2 WHERE id = $3",
        )
        .bind(run_id)
        .bind(fmt_time(deadline))
        .bind(&rot.id)
        .execute(&mut *tx)
        .await?;
        add_event_tx(
            &mut tx,
            &rot.id,
            "rollback_started",
            None,
            &serde_json::json!({"runtimes": runtimes.len(), "runId": run_id}),
        )
        .await?;
        touch(&mut tx, &rot.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves the rollback on: `applying` with a new run, `restarting` until a deadline.
    pub async fn set_rollback_state(
        &self,
        rotation: &str,
        state: RollbackState,
        run_id: Option<&str>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE rotations SET rollback_state = $1, rollback_run_id = COALESCE($2, rollback_run_id),
               rollback_deadline_at = COALESCE($3, rollback_deadline_at) WHERE id = $4",
        )
        .bind(state.as_str())
        .bind(run_id)
        .bind(deadline.map(fmt_time))
        .bind(rotation)
        .execute(&mut *tx)
        .await?;
        add_event_tx(&mut tx, rotation, &format!("rollback_{}", state.as_str()), None, &serde_json::json!({})).await?;
        touch(&mut tx, rotation).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a rollback: the moved runtimes are rolled back, the rotation `rolled_back`
    /// (with the rollback's error, if any) and its locks released, in one transaction.
    pub async fn finish_rollback(&self, rotation: &str, error: Option<&str>) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE rotations SET rollback_state = 'done' WHERE id = $1")
            .bind(rotation)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE rotation_runtimes SET state = 'rolled_back' WHERE rotation_id = $1 AND state != 'pending'")
            .bind(rotation)
            .execute(&mut *tx)
            .await?;
        add_event_tx(&mut tx, rotation, "rollback_done", None, &serde_json::json!({"error": error})).await?;
        let keep = error.map(Some);
        set_state_tx(
            &mut tx,
            rotation,
            &[RotationState::RollingBack],
            RotationState::RolledBack,
            keep,
            &serde_json::json!({"error": error}),
        )
        .await?;
        release_locks_tx(&mut tx, &format!("rotation:{rotation}")).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A resumed batch: a failed one goes back to `applying` under a new run; one that was
    /// restarting keeps restarting; either gets a fresh deadline. The rotation runs again.
    pub async fn resume_rotation(
        &self,
        rot: &RotationRecord,
        new_run: &str,
        deadline: DateTime<Utc>,
        actor: &str,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let idx = rot.current_batch;
        let batch = rot.batches.iter().find(|b| b.idx == idx);
        match batch.map(|b| b.state) {
            Some(BatchState::Failed) => {
                sqlx::query(
                    "UPDATE rotation_batches SET state = 'applying', run_id = $1, error = NULL, finished_at = NULL,
                       deadline_at = $2, waiting_for = '[]' WHERE rotation_id = $3 AND idx = $4",
                )
                .bind(new_run)
                .bind(fmt_time(deadline))
                .bind(&rot.id)
                .bind(idx)
                .execute(&mut *tx)
                .await?;
                set_runtimes_tx(&mut tx, &rot.id, idx, RotationRuntimeState::Moved, None).await?;
                add_event_tx(&mut tx, &rot.id, "batch_applying", Some(idx), &serde_json::json!({"runId": new_run}))
                    .await?;
            }
            Some(BatchState::Applying | BatchState::Restarting) => {
                sqlx::query("UPDATE rotation_batches SET deadline_at = $1 WHERE rotation_id = $2 AND idx = $3")
                    .bind(fmt_time(deadline))
                    .bind(&rot.id)
                    .bind(idx)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
        }
        let changed = set_state_tx(
            &mut tx,
            &rot.id,
            &[RotationState::Paused],
            RotationState::Running,
            None,
            &serde_json::json!({"actor": actor, "deadline": fmt_time(deadline)}),
        )
        .await?;
        tx.commit().await?;
        Ok(changed)
    }

    pub async fn add_rotation_event(
        &self,
        rotation: &str,
        kind: &str,
        batch: Option<i64>,
        data: &serde_json::Value,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        add_event_tx(&mut tx, rotation, kind, batch, data).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn rotation_events(&self, rotation: &str, after: i64) -> Result<Vec<RotationEvent>> {
        let rows = sqlx::query("SELECT * FROM rotation_events WHERE rotation_id = $1 AND seq > $2 ORDER BY seq")
            .bind(rotation)
            .bind(after)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RotationEvent {
                    seq: r.try_get("seq")?,
                    at: parse_time(&r.try_get::<String, _>("at")?)?,
                    kind: r.try_get("kind")?,
                    batch: r.try_get("batch")?,
                    data: parse_json(&r.try_get::<String, _>("data")?)?,
                })
            })
            .collect()
    }

    /// Shifts stage labels after a completed rotation: `version` becomes `current`, the old
    /// `current` becomes `previous` (and the old `previous` loses its label).
    pub async fn promote_version(&self, credential: &str, version: u32) -> Result<()> {
        let mut tx = self.begin().await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM credential_versions WHERE credential = $1 AND stage = 'current'")
                .bind(credential)
                .fetch_optional(&mut *tx)
                .await?;
        if current == Some(version as i64) {
            return Ok(());
        }
        sqlx::query("UPDATE credential_versions SET stage = NULL WHERE credential = $1 AND stage = 'previous'")
            .bind(credential)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE credential_versions SET stage = NULL WHERE credential = $1 AND version = $2")
            .bind(credential)
            .bind(version as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE credential_versions SET stage = 'previous' WHERE credential = $1 AND stage = 'current'")
            .bind(credential)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE credential_versions SET stage = 'current' WHERE credential = $1 AND version = $2")
            .bind(credential)
            .bind(version as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE credentials SET generation = generation + 1, updated_at = $1 WHERE name = $2")
            .bind(fmt_time(now()))
            .bind(credential)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A rotation as a list shows it.
#[derive(Debug, Clone)]
pub struct RotationSummary {
    pub id: String,
    pub credential: String,
    pub from_version: Option<u32>,
    pub to_version: u32,
    pub state: RotationState,
    pub current_batch: i64,
    /// Batches in all, and those healthy.
    pub batches: i64,
    pub healthy_batches: i64,
    pub error: Option<String>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Rotations newest first (ids are time-ordered), before id `before`, optionally only
    /// in `state` or of `credential`.
    pub async fn list_rotations(
        &self,
        state: Option<RotationState>,
        credential: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RotationSummary>> {
        let rows = sqlx::query(
            "SELECT r.*, (SELECT COUNT(*) FROM rotation_batches b WHERE b.rotation_id = r.id) AS n_batches,
                    (SELECT COUNT(*) FROM rotation_batches b WHERE b.rotation_id = r.id AND b.state = 'healthy') AS n_healthy
               FROM rotations r
              WHERE ($1 IS NULL OR r.state = $2) AND ($3 IS NULL OR r.credential = $4) AND ($5 IS NULL OR r.id < $6)
              ORDER BY r.id DESC LIMIT $7",
        )
        .bind(state.map(|s| s.as_str()))
        .bind(state.map(|s| s.as_str()))
        .bind(credential)
        .bind(credential)
        .bind(before)
        .bind(before)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RotationSummary {
                    id: row.try_get("id")?,
                    credential: row.try_get("credential")?,
                    from_version: row.try_get::<Option<i64>, _>("from_version")?.map(|v| v as u32),
                    to_version: row.try_get::<i64, _>("to_version")? as u32,
                    state: parse_state(&row.try_get::<String, _>("state")?, RotationState::parse)?,
                    current_batch: row.try_get("current_batch")?,
                    batches: row.try_get("n_batches")?,
                    healthy_batches: row.try_get("n_healthy")?,
                    error: row.try_get("error")?,
                    actor: row.try_get("actor")?,
                    created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
                    updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
                    finished_at: opt_time(row, "finished_at")?,
                })
            })
            .collect()
    }
}
