//! Rotations: the request, batches, runtimes and the event timeline. Every step of a
//! rotation is written here before it is acted on; binding moves happen in the same
//! transaction that advances the batch, so a restart never moves a batch twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Row, SqliteConnection};

use super::runtimes::{BindingChange, RevisionChanges, RuntimePut, get_runtime_tx, insert_revision, put_runtime_tx};
use super::{Result, Store, StoreError, fmt_time, now, parse_json, parse_time};

#[derive(Debug, Clone)]
pub struct RotationRecord {
    pub id: String,
    pub credential: String,
    pub from_version: Option<u32>,
    pub to_version: u32,
    pub request: serde_json::Value,
    pub state: String,
    pub current_batch: i64,
    pub failed_batches: i64,
    pub rollback_state: Option<String>,
    pub rollback_run_id: Option<String>,
    pub error: Option<String>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub batches: Vec<BatchRecord>,
    pub runtimes: Vec<RotationRuntime>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecord {
    pub idx: i64,
    /// pending, applying, restarting, healthy, failed, rolled_back.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationRuntime {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub batch: i64,
    /// The version the runtime was bound to before the rotation moved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_version: Option<u32>,
    /// pending, moved, healthy, failed, rolled_back.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<i64>,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

const TERMINAL: [&str; 4] = ["succeeded", "failed", "aborted", "rolled_back"];

pub fn is_terminal(state: &str) -> bool {
    TERMINAL.contains(&state)
}

fn opt_time(row: &sqlx::sqlite::SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<String>, _>(col)?.as_deref().map(parse_time).transpose()
}

async fn add_event_tx(
    conn: &mut SqliteConnection,
    id: &str,
    kind: &str,
    batch: Option<i64>,
    data: &serde_json::Value,
) -> Result<()> {
    let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM rotation_events WHERE rotation_id = ?")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO rotation_events (rotation_id, seq, at, kind, batch, data) VALUES (?, ?, ?, ?, ?, ?)")
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

async fn touch(conn: &mut SqliteConnection, id: &str) -> Result<()> {
    sqlx::query("UPDATE rotations SET updated_at = ? WHERE id = ?")
        .bind(fmt_time(now()))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Rebinds runtimes of a rotation to `version` (recording a layer revision for each that
/// moves); returns the runtimes' previous versions.
async fn rebind(
    conn: &mut SqliteConnection,
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
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM runtimes WHERE namespace = ? AND name = ?")
            .bind(ns)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(id) = id else {
            previous.push(None);
            continue;
        };
        let old: Option<i64> =
            sqlx::query_scalar("SELECT version FROM runtime_bindings WHERE runtime_id = ? AND credential = ?")
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
        sqlx::query("UPDATE runtime_bindings SET version = ? WHERE runtime_id = ? AND credential = ?")
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
    conn: &mut SqliteConnection,
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
}

impl Store {
    /// Saves a new running rotation; refused (`rotation_active`) while another rotation of
    /// the credential is active.
    pub async fn insert_rotation(&self, r: NewRotation<'_>) -> Result<()> {
        let mut tx = self.begin().await?;
        let active: Option<String> = sqlx::query_scalar(
            "SELECT id FROM rotations WHERE credential = ? AND state NOT IN ('succeeded', 'failed', 'aborted', 'rolled_back')",
        )
        .bind(r.credential)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(other) = active {
            return Err(StoreError::conflict(
                "rotation_active",
                format!("rotation {other} of credential {:?} is still active", r.credential),
            ));
        }
        let at = fmt_time(now());
        sqlx::query(
            "INSERT INTO rotations (id, credential, from_version, to_version, request, state, actor, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)",
        )
        .bind(r.id)
        .bind(r.credential)
        .bind(r.from_version.map(i64::from))
        .bind(r.to_version as i64)
        .bind(r.request.to_string())
        .bind(r.actor)
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        for idx in 0..r.batches {
            sqlx::query("INSERT INTO rotation_batches (rotation_id, idx, state) VALUES (?, ?, 'pending')")
                .bind(r.id)
                .bind(idx as i64)
                .execute(&mut *tx)
                .await?;
        }
        for rt in r.runtimes {
            sqlx::query(
                "INSERT INTO rotation_runtimes (rotation_id, namespace, name, cluster, batch, state) VALUES (?, ?, ?, ?, ?, 'pending')",
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
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_rotation(&self, id: &str) -> Result<RotationRecord> {
        let row = sqlx::query("SELECT * FROM rotations WHERE id = ?")
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found(format!("rotation {id:?}")))?;
        let batches = sqlx::query("SELECT * FROM rotation_batches WHERE rotation_id = ? ORDER BY idx")
            .bind(id)
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(|b| {
                Ok(BatchRecord {
                    idx: b.try_get("idx")?,
                    state: b.try_get("state")?,
                    run_id: b.try_get("run_id")?,
                    started_at: opt_time(b, "started_at")?,
                    restart_started_at: opt_time(b, "restart_started_at")?,
                    finished_at: opt_time(b, "finished_at")?,
                    error: b.try_get("error")?,
                })
            })
            .collect::<Result<_>>()?;
        let runtimes = sqlx::query(
            "SELECT * FROM rotation_runtimes WHERE rotation_id = ? ORDER BY batch, cluster, namespace, name",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(|r| {
            Ok(RotationRuntime {
                namespace: r.try_get("namespace")?,
                name: r.try_get("name")?,
                cluster: r.try_get("cluster")?,
                batch: r.try_get("batch")?,
                from_version: r.try_get::<Option<i64>, _>("from_version")?.map(|v| v as u32),
                state: r.try_get("state")?,
                error: r.try_get("error")?,
            })
        })
        .collect::<Result<_>>()?;
        Ok(RotationRecord {
            id: row.try_get("id")?,
            credential: row.try_get("credential")?,
            from_version: row.try_get::<Option<i64>, _>("from_version")?.map(|v| v as u32),
            to_version: row.try_get::<i64, _>("to_version")? as u32,
            request: parse_json(&row.try_get::<String, _>("request")?)?,
            state: row.try_get("state")?,
            current_batch: row.try_get("current_batch")?,
            failed_batches: row.try_get("failed_batches")?,
            rollback_state: row.try_get("rollback_state")?,
            rollback_run_id: row.try_get("rollback_run_id")?,
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
        Ok(sqlx::query_scalar(
            "SELECT id FROM rotations WHERE credential = ? AND state NOT IN ('succeeded', 'failed', 'aborted', 'rolled_back')",
        )
        .bind(credential)
        .fetch_optional(self.reader())
        .await?)
    }

    /// Rotations a driver should work on.
    pub async fn active_rotations(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM rotations WHERE state IN ('running', 'rolling_back') ORDER BY created_at",
        )
        .fetch_all(self.reader())
        .await?)
    }

    /// Sets the rotation's state (and error), with an event, unless it is already terminal
    /// or already in that state. Returns whether it changed.
    pub async fn set_rotation_state(
        &self,
        id: &str,
        from: &[&str],
        to: &str,
        error: Option<&str>,
        event: &serde_json::Value,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let state: String = sqlx::query_scalar("SELECT state FROM rotations WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("rotation {id:?}")))?;
        if state == to || !from.contains(&state.as_str()) {
            return Ok(false);
        }
        let finished = is_terminal(to).then(|| fmt_time(now()));
        sqlx::query("UPDATE rotations SET state = ?, error = COALESCE(?, error), finished_at = COALESCE(?, finished_at), updated_at = ? WHERE id = ?")
            .bind(to)
            .bind(error)
            .bind(finished)
            .bind(fmt_time(now()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        add_event_tx(&mut tx, id, to, None, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Starts batch `idx`: moves its runtimes' bindings to the target version and records
    /// the run id that will apply them, in one transaction.
    pub async fn start_batch(
        &self,
        rot: &RotationRecord,
        mv: &BatchMove,
        idx: i64,
        run_id: &str,
        actor: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let state: String = sqlx::query_scalar("SELECT state FROM rotation_batches WHERE rotation_id = ? AND idx = ?")
            .bind(&rot.id)
            .bind(idx)
            .fetch_one(&mut *tx)
            .await?;
        if state != "pending" {
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
            sqlx::query("UPDATE rotation_runtimes SET from_version = ?, state = 'moved' WHERE rotation_id = ? AND namespace = ? AND name = ?")
                .bind(prev.map(i64::from))
                .bind(&rot.id)
                .bind(ns)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        let at = fmt_time(now());
        sqlx::query("UPDATE rotation_batches SET state = 'applying', run_id = ?, started_at = ? WHERE rotation_id = ? AND idx = ?")
            .bind(run_id)
            .bind(&at)
            .bind(&rot.id)
            .bind(idx)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE rotations SET current_batch = ? WHERE id = ?")
            .bind(idx)
            .bind(&rot.id)
            .execute(&mut *tx)
            .await?;
        add_event_tx(
            &mut tx,
            &rot.id,
            "batch_started",
            Some(idx),
            &serde_json::json!({"runtimes": runtimes.len(), "runId": run_id}),
        )
        .await?;
        touch(&mut tx, &rot.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves a batch to `state` (with an event); `run_id` replaces the batch's run when given.
    pub async fn set_batch(
        &self,
        rotation: &str,
        idx: i64,
        state: &str,
        run_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let at = fmt_time(now());
        let finished = matches!(state, "healthy" | "failed" | "rolled_back").then(|| at.clone());
        let restart = (state == "restarting").then(|| at.clone());
        sqlx::query(
            "UPDATE rotation_batches SET state = ?, run_id = COALESCE(?, run_id), error = ?,
               finished_at = COALESCE(?, finished_at), restart_started_at = COALESCE(restart_started_at, ?)
             WHERE rotation_id = ? AND idx = ?",
        )
        .bind(state)
        .bind(run_id)
        .bind(error)
        .bind(finished)
        .bind(restart)
        .bind(rotation)
        .bind(idx)
        .execute(&mut *tx)
        .await?;
        let runtime_state = match state {
            "healthy" => Some("healthy"),
            "failed" => Some("failed"),
            _ => None,
        };
        if let Some(rs) = runtime_state {
            sqlx::query("UPDATE rotation_runtimes SET state = ?, error = ? WHERE rotation_id = ? AND batch = ?")
                .bind(rs)
                .bind(error)
                .bind(rotation)
                .bind(idx)
                .execute(&mut *tx)
                .await?;
        }
        let mut data = serde_json::json!({});
        if let Some(e) = error {
            data["error"] = e.into();
        }
        if let Some(r) = run_id {
            data["runId"] = r.into();
        }
        add_event_tx(&mut tx, rotation, &format!("batch_{state}"), Some(idx), &data).await?;
        touch(&mut tx, rotation).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed batch and returns how many batches have failed.
    pub async fn count_failed_batch(&self, rotation: &str) -> Result<i64> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE rotations SET failed_batches = failed_batches + 1 WHERE id = ?")
            .bind(rotation)
            .execute(&mut *tx)
            .await?;
        let n: i64 = sqlx::query_scalar("SELECT failed_batches FROM rotations WHERE id = ?")
            .bind(rotation)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    pub async fn advance_batch(&self, rotation: &str, next: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE rotations SET current_batch = ? WHERE id = ? AND current_batch < ?")
            .bind(next)
            .bind(rotation)
            .bind(next)
            .execute(&mut *tx)
            .await?;
        touch(&mut tx, rotation).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves every runtime the rotation moved back to its previous version, and records
    /// the rollback run id, in one transaction.
    pub async fn start_rollback(&self, rot: &RotationRecord, mv: &BatchMove, run_id: &str, actor: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let current: Option<String> = sqlx::query_scalar("SELECT rollback_state FROM rotations WHERE id = ?")
            .bind(&rot.id)
            .fetch_one(&mut *tx)
            .await?;
        if current.is_some() {
            return Ok(());
        }
        let moved: Vec<&RotationRuntime> = rot.runtimes.iter().filter(|r| r.state != "pending").collect();
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
        sqlx::query("UPDATE rotations SET rollback_state = 'applying', rollback_run_id = ? WHERE id = ?")
            .bind(run_id)
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

    pub async fn set_rollback_state(&self, rotation: &str, state: &str, run_id: Option<&str>) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE rotations SET rollback_state = ?, rollback_run_id = COALESCE(?, rollback_run_id) WHERE id = ?",
        )
        .bind(state)
        .bind(run_id)
        .bind(rotation)
        .execute(&mut *tx)
        .await?;
        if state == "done" {
            sqlx::query(
                "UPDATE rotation_runtimes SET state = 'rolled_back' WHERE rotation_id = ? AND state != 'pending'",
            )
            .bind(rotation)
            .execute(&mut *tx)
            .await?;
        }
        add_event_tx(&mut tx, rotation, &format!("rollback_{state}"), None, &serde_json::json!({})).await?;
        touch(&mut tx, rotation).await?;
        tx.commit().await?;
        Ok(())
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
        let rows = sqlx::query("SELECT * FROM rotation_events WHERE rotation_id = ? AND seq > ? ORDER BY seq")
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
            sqlx::query_scalar("SELECT version FROM credential_versions WHERE credential = ? AND stage = 'current'")
                .bind(credential)
                .fetch_optional(&mut *tx)
                .await?;
        if current == Some(version as i64) {
            return Ok(());
        }
        sqlx::query("UPDATE credential_versions SET stage = NULL WHERE credential = ? AND stage = 'previous'")
            .bind(credential)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE credential_versions SET stage = NULL WHERE credential = ? AND version = ?")
            .bind(credential)
            .bind(version as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE credential_versions SET stage = 'previous' WHERE credential = ? AND stage = 'current'")
            .bind(credential)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE credential_versions SET stage = 'current' WHERE credential = ? AND version = ?")
            .bind(credential)
            .bind(version as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE credentials SET generation = generation + 1, updated_at = ? WHERE name = ?")
            .bind(fmt_time(now()))
            .bind(credential)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
