//! Saved plans, runs with their per-object results, what was applied where, runtime sync
//! state, and leased locks.
//!
//! A run is written before it acts: its objects are recorded `pending` when the run is
//! created, each turns `applying` before its request is sent and `applied` or `failed`
//! after; `applied_objects` changes only after the API server accepted the object. A run
//! interrupted by a restart is marked failed on start, its `applying` objects `unknown`
//! (the server may or may not have them; the next refreshing plan reads them back).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Result, Store, StoreError, fmt_time, now, parse_json, parse_time};

#[derive(Debug, Clone)]
pub struct PlanRecord {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub created_by: String,
    pub request: serde_json::Value,
    pub inputs: serde_json::Value,
    pub objects: serde_json::Value,
    pub warnings: serde_json::Value,
    pub summary: serde_json::Value,
    pub run_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: String,
    pub plan_id: String,
    pub status: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub requests: serde_json::Value,
    pub objects: Vec<RunObject>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunObject {
    pub seq: i64,
    pub cluster: String,
    pub namespace: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub action: String,
    /// pending, applying, applied, failed, skipped or unknown.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// The identity of an object on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectKey {
    pub cluster: String,
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct AppliedObject {
    pub key: ObjectKey,
    pub api_version: String,
    /// `namespace/name` of the owning runtime; `None` for shared credential Secrets.
    pub runtime: Option<(String, String)>,
    pub fields: serde_json::Value,
    pub applied_at: DateTime<Utc>,
    pub run_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct SyncRecord {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub labels: BTreeMap<String, String>,
    pub applied_generation: Option<i64>,
    /// Fingerprint of the applied manifest without its pull-secret layers.
    pub applied_spec_hash: Option<String>,
    pub applied_layer_revision: Option<i64>,
    pub applied_bindings: Option<BTreeMap<String, u32>>,
    pub last_run_id: Option<String>,
    pub last_run_status: Option<String>,
    pub drift: Vec<serde_json::Value>,
    pub checked_at: Option<DateTime<Utc>>,
}

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

fn opt_time(row: &sqlx::sqlite::SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<String>, _>(col)?.as_deref().map(parse_time).transpose()
}

fn row_to_plan(r: &sqlx::sqlite::SqliteRow) -> Result<PlanRecord> {
    Ok(PlanRecord {
        id: r.try_get("id")?,
        created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
        expires_at: parse_time(&r.try_get::<String, _>("expires_at")?)?,
        created_by: r.try_get("created_by")?,
        request: parse_json(&r.try_get::<String, _>("request")?)?,
        inputs: parse_json(&r.try_get::<String, _>("inputs")?)?,
        objects: parse_json(&r.try_get::<String, _>("objects")?)?,
        warnings: parse_json(&r.try_get::<String, _>("warnings")?)?,
        summary: parse_json(&r.try_get::<String, _>("summary")?)?,
        run_id: r.try_get("run_id")?,
    })
}

fn row_to_run_object(r: &sqlx::sqlite::SqliteRow) -> Result<RunObject> {
    Ok(RunObject {
        seq: r.try_get("seq")?,
        cluster: r.try_get("cluster")?,
        namespace: r.try_get("namespace")?,
        api_version: r.try_get("api_version")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        action: r.try_get("action")?,
        status: r.try_get("status")?,
        error: r.try_get("error")?,
        started_at: opt_time(r, "started_at")?,
        finished_at: opt_time(r, "finished_at")?,
    })
}

fn row_to_applied(r: &sqlx::sqlite::SqliteRow) -> Result<AppliedObject> {
    let rns: Option<String> = r.try_get("runtime_namespace")?;
    let rn: Option<String> = r.try_get("runtime_name")?;
    Ok(AppliedObject {
        key: ObjectKey {
            cluster: r.try_get("cluster")?,
            namespace: r.try_get("namespace")?,
            kind: r.try_get("kind")?,
            name: r.try_get("name")?,
        },
        api_version: r.try_get("api_version")?,
        runtime: rns.zip(rn),
        fields: parse_json(&r.try_get::<String, _>("fields")?)?,
        applied_at: parse_time(&r.try_get::<String, _>("applied_at")?)?,
        run_id: r.try_get("run_id")?,
    })
}

fn row_to_sync(r: &sqlx::sqlite::SqliteRow) -> Result<SyncRecord> {
    Ok(SyncRecord {
        namespace: r.try_get("namespace")?,
        name: r.try_get("name")?,
        cluster: r.try_get("cluster")?,
        labels: parse_json(&r.try_get::<String, _>("labels")?)?,
        applied_generation: r.try_get("applied_generation")?,
        applied_spec_hash: r.try_get("applied_spec_hash")?,
        applied_layer_revision: r.try_get("applied_layer_revision")?,
        applied_bindings: r.try_get::<Option<String>, _>("applied_bindings")?.as_deref().map(parse_json).transpose()?,
        last_run_id: r.try_get("last_run_id")?,
        last_run_status: r.try_get("last_run_status")?,
        drift: parse_json(&r.try_get::<String, _>("drift")?)?,
        checked_at: opt_time(r, "checked_at")?,
    })
}

fn row_to_lock(r: &sqlx::sqlite::SqliteRow) -> Result<LockRecord> {
    Ok(LockRecord {
        id: r.try_get("id")?,
        holder: r.try_get("holder")?,
        run_id: r.try_get("run_id")?,
        acquired_at: parse_time(&r.try_get::<String, _>("acquired_at")?)?,
        renewed_at: parse_time(&r.try_get::<String, _>("renewed_at")?)?,
        expires_at: parse_time(&r.try_get::<String, _>("expires_at")?)?,
    })
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

impl Store {
    pub async fn insert_plan(&self, p: &PlanRecord) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO plans (id, created_at, expires_at, created_by, request, inputs, objects, warnings, summary, run_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(&p.id)
        .bind(fmt_time(p.created_at))
        .bind(fmt_time(p.expires_at))
        .bind(&p.created_by)
        .bind(p.request.to_string())
        .bind(p.inputs.to_string())
        .bind(p.objects.to_string())
        .bind(p.warnings.to_string())
        .bind(p.summary.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_plan(&self, id: &str) -> Result<PlanRecord> {
        let row = sqlx::query("SELECT * FROM plans WHERE id = ?")
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found(format!("plan {id:?}")))?;
        row_to_plan(&row)
    }

    /// Creates a queued run for a plan in one transaction with its locks: refused when the
    /// plan already has a run or another live lease holds one of the locks.
    pub async fn create_run(&self, new: NewRun<'_>) -> Result<std::result::Result<(), RunRefusal>> {
        let mut tx = self.begin().await?;
        let existing: Option<Option<String>> = sqlx::query_scalar("SELECT run_id FROM plans WHERE id = ?")
            .bind(new.plan_id)
            .fetch_optional(&mut *tx)
            .await?;
        match existing {
            None => return Err(StoreError::not_found(format!("plan {:?}", new.plan_id))),
            Some(Some(run_id)) => return Ok(Err(RunRefusal::AlreadyApplied { run_id })),
            Some(None) => {}
        }
        let at = now();
        for lock in new.locks {
            if let Some(row) =
                sqlx::query("SELECT * FROM locks WHERE id = ?").bind(lock).fetch_optional(&mut *tx).await?
            {
                let held = row_to_lock(&row)?;
                if new.owner.is_some() && held.run_id.as_deref() == new.owner {
                    continue; // the caller's own lock (a rotation running its batch)
                }
                if held.expires_at > at {
                    return Ok(Err(RunRefusal::Locked(held)));
                }
            }
            sqlx::query(
                "INSERT INTO locks (id, holder, run_id, acquired_at, renewed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, run_id = excluded.run_id,
                   acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at",
            )
            .bind(lock)
            .bind(new.holder)
            .bind(new.run_id)
            .bind(fmt_time(at))
            .bind(fmt_time(at))
            .bind(fmt_time(at + new.lease))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("INSERT INTO runs (id, plan_id, status, actor, created_at) VALUES (?, ?, 'queued', ?, ?)")
            .bind(new.run_id)
            .bind(new.plan_id)
            .bind(new.actor)
            .bind(fmt_time(at))
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE plans SET run_id = ? WHERE id = ?")
            .bind(new.run_id)
            .bind(new.plan_id)
            .execute(&mut *tx)
            .await?;
        for o in new.objects {
            sqlx::query(
                "INSERT INTO run_objects (run_id, seq, cluster, namespace, api_version, kind, name, action, status)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
            )
            .bind(new.run_id)
            .bind(o.seq)
            .bind(&o.cluster)
            .bind(&o.namespace)
            .bind(&o.api_version)
            .bind(&o.kind)
            .bind(&o.name)
            .bind(&o.action)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn get_run(&self, id: &str) -> Result<RunRecord> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = ?")
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found(format!("run {id:?}")))?;
        let objects = sqlx::query("SELECT * FROM run_objects WHERE run_id = ? ORDER BY seq")
            .bind(id)
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(row_to_run_object)
            .collect::<Result<_>>()?;
        Ok(RunRecord {
            id: row.try_get("id")?,
            plan_id: row.try_get("plan_id")?,
            status: row.try_get("status")?,
            actor: row.try_get("actor")?,
            created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
            started_at: opt_time(&row, "started_at")?,
            finished_at: opt_time(&row, "finished_at")?,
            error: row.try_get("error")?,
            requests: parse_json(&row.try_get::<String, _>("requests")?)?,
            objects,
        })
    }

    pub async fn mark_run_running(&self, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE runs SET status = 'running', started_at = ? WHERE id = ?")
            .bind(fmt_time(now()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn mark_object(&self, run_id: &str, seq: i64, status: &str, error: Option<&str>) -> Result<()> {
        let mut tx = self.begin().await?;
        let at = fmt_time(now());
        let sql = if status == "applying" {
            "UPDATE run_objects SET status = ?, error = ?, started_at = ? WHERE run_id = ? AND seq = ?"
        } else {
            "UPDATE run_objects SET status = ?, error = ?, finished_at = ? WHERE run_id = ? AND seq = ?"
        };
        sqlx::query(sql).bind(status).bind(error).bind(at).bind(run_id).bind(seq).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an object the API server accepted, together with its run result.
    pub async fn record_applied(&self, run_id: &str, seq: i64, obj: &AppliedObject) -> Result<()> {
        let mut tx = self.begin().await?;
        let (rns, rn) = obj.runtime.clone().unzip();
        sqlx::query(
            "INSERT INTO applied_objects (cluster, namespace, api_version, kind, name, runtime_namespace, runtime_name, fields, applied_at, run_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (cluster, namespace, kind, name) DO UPDATE SET api_version = excluded.api_version,
               runtime_namespace = excluded.runtime_namespace, runtime_name = excluded.runtime_name,
               fields = excluded.fields, applied_at = excluded.applied_at, run_id = excluded.run_id",
        )
        .bind(&obj.key.cluster)
        .bind(&obj.key.namespace)
        .bind(&obj.api_version)
        .bind(&obj.key.kind)
        .bind(&obj.key.name)
        .bind(rns)
        .bind(rn)
        .bind(obj.fields.to_string())
        .bind(fmt_time(obj.applied_at))
        .bind(&obj.run_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE run_objects SET status = 'applied', finished_at = ? WHERE run_id = ? AND seq = ?")
            .bind(fmt_time(now()))
            .bind(run_id)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an object the API server deleted (or no longer had).
    pub async fn record_deleted(&self, run_id: &str, seq: i64, key: &ObjectKey) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM applied_objects WHERE cluster = ? AND namespace = ? AND kind = ? AND name = ?")
            .bind(&key.cluster)
            .bind(&key.namespace)
            .bind(&key.kind)
            .bind(&key.name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE run_objects SET status = 'applied', finished_at = ? WHERE run_id = ? AND seq = ?")
            .bind(fmt_time(now()))
            .bind(run_id)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a run: its status, error and request counts; objects still pending are skipped;
    /// its locks are released.
    pub async fn finish_run(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        requests: &serde_json::Value,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let at = fmt_time(now());
        sqlx::query("UPDATE runs SET status = ?, error = ?, requests = ?, finished_at = ? WHERE id = ?")
            .bind(status)
            .bind(error)
            .bind(requests.to_string())
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE run_objects SET status = 'skipped', finished_at = ? WHERE run_id = ? AND status = 'pending'",
        )
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM locks WHERE run_id = ?").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks runs left queued or running by a previous process as failed (see module doc).
    pub async fn fail_interrupted_runs(&self) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM runs WHERE status IN ('queued', 'running')").fetch_all(&mut *tx).await?;
        let at = fmt_time(now());
        for id in &ids {
            sqlx::query("UPDATE runs SET status = 'failed', error = 'interrupted by a daemon restart', finished_at = ? WHERE id = ?")
                .bind(&at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE run_objects SET status = 'unknown', finished_at = ? WHERE run_id = ? AND status = 'applying'",
            )
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE run_objects SET status = 'skipped', finished_at = ? WHERE run_id = ? AND status = 'pending'",
            )
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM locks WHERE run_id = ?").bind(id).execute(&mut *tx).await?;
            sqlx::query("UPDATE runtime_sync SET last_run_status = 'failed' WHERE last_run_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

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

    pub async fn renew_locks(&self, run_id: &str, lease: Duration) -> Result<()> {
        let mut tx = self.begin().await?;
        let at = now();
        sqlx::query("UPDATE locks SET renewed_at = ?, expires_at = ? WHERE run_id = ?")
            .bind(fmt_time(at))
            .bind(fmt_time(at + lease))
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
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

    pub async fn applied_in_namespace(&self, cluster: &str, namespace: &str) -> Result<Vec<AppliedObject>> {
        let rows = sqlx::query("SELECT * FROM applied_objects WHERE cluster = ? AND namespace = ? ORDER BY kind, name")
            .bind(cluster)
            .bind(namespace)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(row_to_applied).collect()
    }

    pub async fn applied_for_runtime(&self, namespace: &str, name: &str) -> Result<Vec<AppliedObject>> {
        let rows = sqlx::query(
            "SELECT * FROM applied_objects WHERE runtime_namespace = ? AND runtime_name = ? ORDER BY kind, name",
        )
        .bind(namespace)
        .bind(name)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(row_to_applied).collect()
    }

    pub async fn get_sync(&self, namespace: &str, name: &str) -> Result<Option<SyncRecord>> {
        let row = sqlx::query("SELECT * FROM runtime_sync WHERE namespace = ? AND name = ?")
            .bind(namespace)
            .bind(name)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(row_to_sync).transpose()
    }

    pub async fn list_sync(&self) -> Result<Vec<SyncRecord>> {
        let rows = sqlx::query("SELECT * FROM runtime_sync ORDER BY cluster, namespace, name")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(row_to_sync).collect()
    }

    /// Records what a run applied for a runtime (or, with `removed`, that it is gone).
    pub async fn record_runtime_applied(&self, s: &SyncRecord, removed: bool) -> Result<()> {
        let mut tx = self.begin().await?;
        if removed {
            sqlx::query("DELETE FROM runtime_sync WHERE namespace = ? AND name = ?")
                .bind(&s.namespace)
                .bind(&s.name)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "INSERT INTO runtime_sync (namespace, name, cluster, labels, applied_generation, applied_spec_hash, applied_layer_revision, applied_bindings, last_run_id, last_run_status, drift, checked_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (namespace, name) DO UPDATE SET cluster = excluded.cluster, labels = excluded.labels,
                   applied_generation = excluded.applied_generation, applied_spec_hash = excluded.applied_spec_hash,
                   applied_layer_revision = excluded.applied_layer_revision,
                   applied_bindings = excluded.applied_bindings, last_run_id = excluded.last_run_id,
                   last_run_status = excluded.last_run_status, drift = excluded.drift, checked_at = excluded.checked_at",
            )
            .bind(&s.namespace)
            .bind(&s.name)
            .bind(&s.cluster)
            .bind(serde_json::to_string(&s.labels).expect("labels serialize"))
            .bind(s.applied_generation)
            .bind(&s.applied_spec_hash)
            .bind(s.applied_layer_revision)
            .bind(s.applied_bindings.as_ref().map(|b| serde_json::to_string(b).expect("bindings serialize")))
            .bind(&s.last_run_id)
            .bind(&s.last_run_status)
            .bind(serde_json::to_string(&s.drift).expect("drift serializes"))
            .bind(s.checked_at.map(fmt_time))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a run's failure on a runtime without changing what was applied.
    pub async fn record_runtime_run(
        &self,
        namespace: &str,
        name: &str,
        cluster: &str,
        run_id: &str,
        status: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO runtime_sync (namespace, name, cluster, last_run_id, last_run_status) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (namespace, name) DO UPDATE SET last_run_id = excluded.last_run_id, last_run_status = excluded.last_run_status",
        )
        .bind(namespace)
        .bind(name)
        .bind(cluster)
        .bind(run_id)
        .bind(status)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores what a drift check found for a runtime.
    pub async fn record_drift(&self, namespace: &str, name: &str, drift: &[serde_json::Value]) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE runtime_sync SET drift = ?, checked_at = ? WHERE namespace = ? AND name = ?")
            .bind(serde_json::to_string(drift).expect("drift serializes"))
            .bind(fmt_time(now()))
            .bind(namespace)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
