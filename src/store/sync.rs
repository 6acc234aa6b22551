//! What fluidform last applied where (`applied_objects`, Secret data never stored) and
//! each runtime's sync state (`runtime_sync`): the inputs last applied, the last run, and
//! what the last drift check found.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::columns::Columns;
use super::sql::QueryBuilder;

use super::{Result, Store, fmt_time, now, parse_json, parse_time};

/// The identity of an object on a cluster (`namespace` empty for cluster-scoped kinds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectKey {
    pub cluster: String,
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

/// How much of an object fluidform applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The whole object (server-side apply): fluidform owns it.
    #[default]
    Object,
    /// Only the pull-secret list of a workload Fluid created; the object is Fluid's.
    PullSecrets,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Object => "object",
            Scope::PullSecrets => "pull_secrets",
        }
    }
    pub fn parse(s: &str) -> Option<Scope> {
        [Scope::Object, Scope::PullSecrets].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct AppliedObject {
    pub key: ObjectKey,
    pub api_version: String,
    pub scope: Scope,
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
    /// The renderer (version and cluster mode) the applied objects came from.
    pub applied_render: Option<String>,
    /// The id of the runtime row applied (a runtime deleted and created again differs).
    pub applied_runtime_id: Option<i64>,
    /// The dependency revision applied (its Dataset, its profile).
    pub applied_deps_revision: Option<i64>,
    pub last_run_id: Option<String>,
    pub last_run_status: Option<String>,
    pub drift: Vec<serde_json::Value>,
    pub checked_at: Option<DateTime<Utc>>,
}

/// Applied objects counted per cluster, namespace and owning runtime (`None`: shared), by kind.
pub type AppliedCounts = BTreeMap<(String, String, Option<(String, String)>), BTreeMap<String, i64>>;

const CHUNK: usize = 400;

fn row_to_applied(r: &sqlx::any::AnyRow) -> Result<AppliedObject> {
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
        scope: Scope::parse(&r.try_get::<String, _>("scope")?).unwrap_or_default(),
        runtime: rns.zip(rn),
        fields: parse_json(&r.try_get::<String, _>("fields")?)?,
        applied_at: parse_time(&r.try_get::<String, _>("applied_at")?)?,
        run_id: r.try_get("run_id")?,
    })
}

fn row_to_sync(r: &sqlx::any::AnyRow) -> Result<SyncRecord> {
    sync_from(r, r.text("namespace")?, r.text("name")?, "cluster")
}

/// A sync record from its row's columns; `cluster` names the column of its cluster.
fn sync_from(r: &impl Columns, namespace: String, name: String, cluster: &str) -> Result<SyncRecord> {
    Ok(SyncRecord {
        namespace,
        name,
        cluster: r.text(cluster)?,
        labels: parse_json(&r.text("labels")?)?,
        applied_generation: r.opt_int("applied_generation")?,
        applied_spec_hash: r.opt_text("applied_spec_hash")?,
        applied_layer_revision: r.opt_int("applied_layer_revision")?,
        applied_bindings: r.opt_text("applied_bindings")?.as_deref().map(parse_json).transpose()?,
        applied_render: r.opt_text("applied_render")?,
        applied_runtime_id: r.opt_int("applied_runtime_id")?,
        applied_deps_revision: r.opt_int("applied_deps_revision")?,
        last_run_id: r.opt_text("last_run_id")?,
        last_run_status: r.opt_text("last_run_status")?,
        drift: parse_json(&r.text("drift")?)?,
        checked_at: r.opt_text("checked_at")?.as_deref().map(parse_time).transpose()?,
    })
}

/// Rows of one multi-row upsert of applied objects (11 values each).
const UPSERT_ROWS: usize = 64;

/// Records many applied objects, a multi-row upsert per `UPSERT_ROWS`: a run's group commit
/// costs a statement, not one per object. An object given twice is recorded as last given
/// (PostgreSQL refuses one statement that upserts a row twice).
pub(crate) async fn upsert_applied_many_tx(conn: &mut AnyConnection, objs: &[&AppliedObject]) -> Result<()> {
    let mut last: std::collections::HashMap<&ObjectKey, usize> = std::collections::HashMap::new();
    for (i, o) in objs.iter().enumerate() {
        last.insert(&o.key, i);
    }
    let unique: Vec<&AppliedObject> =
        objs.iter().enumerate().filter(|(i, o)| last[&o.key] == *i).map(|(_, o)| *o).collect();
    for chunk in unique.chunks(UPSERT_ROWS) {
        let mut q = QueryBuilder::new(
            super::Backend::of(conn),
            "INSERT INTO applied_objects (cluster, namespace, api_version, kind, name, runtime_namespace, runtime_name, fields, applied_at, run_id, scope) ",
        );
        q.push_values(chunk, |mut b, obj| {
            let (rns, rn) = obj.runtime.clone().unzip();
            b.push_bind(obj.key.cluster.clone())
                .push_bind(obj.key.namespace.clone())
                .push_bind(obj.api_version.clone())
                .push_bind(obj.key.kind.clone())
                .push_bind(obj.key.name.clone())
                .push_bind(rns)
                .push_bind(rn)
                .push_bind(obj.fields.to_string())
                .push_bind(fmt_time(obj.applied_at))
                .push_bind(obj.run_id.clone())
                .push_bind(obj.scope.as_str());
        });
        q.push(
            " ON CONFLICT (cluster, namespace, kind, name) DO UPDATE SET api_version = excluded.api_version, scope = excluded.scope,
               runtime_namespace = excluded.runtime_namespace, runtime_name = excluded.runtime_name,
               fields = excluded.fields, applied_at = excluded.applied_at, run_id = excluded.run_id",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

impl Store {
    pub async fn applied_in_namespace(&self, cluster: &str, namespace: &str) -> Result<Vec<AppliedObject>> {
        let rows =
            sqlx::query("SELECT * FROM applied_objects WHERE cluster = $1 AND namespace = $2 ORDER BY kind, name")
                .bind(cluster)
                .bind(namespace)
                .fetch_all(self.reader())
                .await?;
        rows.iter().map(row_to_applied).collect()
    }

    /// Shared objects (credential Secrets) applied in a namespace.
    pub async fn applied_shared(&self, cluster: &str, namespace: &str) -> Result<Vec<AppliedObject>> {
        let rows = sqlx::query(
            "SELECT * FROM applied_objects WHERE cluster = $1 AND namespace = $2 AND runtime_name IS NULL ORDER BY kind, name",
        )
        .bind(cluster)
        .bind(namespace)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(row_to_applied).collect()
    }

    pub async fn applied_for_runtime(&self, namespace: &str, name: &str) -> Result<Vec<AppliedObject>> {
        self.applied_for_runtimes(&[(namespace.to_string(), name.to_string())]).await
    }

    /// Applied objects owned by any of `runtimes` (`(namespace, name)`).
    pub async fn applied_for_runtimes(&self, runtimes: &[(String, String)]) -> Result<Vec<AppliedObject>> {
        let mut out = Vec::new();
        for chunk in runtimes.chunks(CHUNK) {
            let mut q: QueryBuilder = QueryBuilder::new(
                self.backend(),
                "SELECT * FROM applied_objects WHERE (runtime_namespace, runtime_name) IN (",
            );
            q.push_values(chunk, |mut b, (ns, n)| {
                b.push_bind(ns.clone()).push_bind(n.clone());
            });
            q.push(") ORDER BY runtime_namespace, runtime_name, kind, name");
            for r in q.build().fetch_all(self.reader()).await? {
                out.push(row_to_applied(&r)?);
            }
        }
        Ok(out)
    }

    /// Applied objects per cluster, namespace and owner, in one query.
    pub async fn applied_counts(&self) -> Result<AppliedCounts> {
        let rows = sqlx::query(
            "SELECT cluster, namespace, runtime_namespace, runtime_name, kind, COUNT(*) AS n FROM applied_objects
             GROUP BY cluster, namespace, runtime_namespace, runtime_name, kind",
        )
        .fetch_all(self.reader())
        .await?;
        let mut out = AppliedCounts::new();
        for r in rows {
            let owner = r.try_get::<Option<String>, _>("runtime_namespace")?.zip(r.try_get("runtime_name")?);
            out.entry((r.try_get("cluster")?, r.try_get("namespace")?, owner))
                .or_default()
                .insert(r.try_get("kind")?, r.try_get("n")?);
        }
        Ok(out)
    }

    pub async fn get_sync(&self, namespace: &str, name: &str) -> Result<Option<SyncRecord>> {
        let row = sqlx::query("SELECT * FROM runtime_sync WHERE namespace = $1 AND name = $2")
            .bind(namespace)
            .bind(name)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(row_to_sync).transpose()
    }

    /// Every sync record, or those of one cluster.
    pub async fn list_sync(&self, cluster: Option<&str>) -> Result<Vec<SyncRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM runtime_sync WHERE ($1 IS NULL OR cluster = $2) ORDER BY cluster, namespace, name",
        )
        .bind(cluster)
        .bind(cluster)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(row_to_sync).collect()
    }

    /// Records what a run applied for its runtimes, and forgets the removed ones (with
    /// their applied objects), in one commit.
    pub async fn record_runtimes_applied(&self, applied: &[SyncRecord], removed: &[(String, String)]) -> Result<()> {
        let mut tx = self.begin().await?;
        for s in applied {
            sqlx::query(
                "INSERT INTO runtime_sync (namespace, name, cluster, labels, applied_generation, applied_spec_hash, applied_layer_revision, applied_bindings, applied_render, applied_runtime_id, last_run_id, last_run_status, drift, checked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT (namespace, name) DO UPDATE SET cluster = excluded.cluster, labels = excluded.labels,
                   applied_generation = excluded.applied_generation, applied_spec_hash = excluded.applied_spec_hash,
                   applied_layer_revision = excluded.applied_layer_revision,
                   applied_bindings = excluded.applied_bindings, applied_render = excluded.applied_render,
                   applied_runtime_id = excluded.applied_runtime_id, last_run_id = excluded.last_run_id,
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
            .bind(&s.applied_render)
            .bind(s.applied_runtime_id)
            .bind(&s.last_run_id)
            .bind(&s.last_run_status)
            .bind(serde_json::to_string(&s.drift).expect("drift serializes"))
            .bind(s.checked_at.map(fmt_time))
            .execute(&mut *tx)
            .await?;
        }
        for (ns, name) in removed {
            sqlx::query("DELETE FROM runtime_sync WHERE namespace = $1 AND name = $2")
                .bind(ns)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a run's failure on its runtimes without changing what was applied.
    pub async fn record_runtimes_run(
        &self,
        runtimes: &[(String, String, String)],
        run_id: &str,
        status: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for (namespace, name, cluster) in runtimes {
            sqlx::query(
                "INSERT INTO runtime_sync (namespace, name, cluster, last_run_id, last_run_status) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (namespace, name) DO UPDATE SET last_run_id = excluded.last_run_id, last_run_status = excluded.last_run_status",
            )
            .bind(namespace)
            .bind(name)
            .bind(cluster)
            .bind(run_id)
            .bind(status)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores what drift checks found, one `(namespace, name, drift)` per runtime, in one commit.
    pub async fn record_drift(&self, found: &[(String, String, Vec<serde_json::Value>)]) -> Result<()> {
        let mut tx = self.begin().await?;
        let at = fmt_time(now());
        for (namespace, name, drift) in found {
            let was: Option<String> =
                sqlx::query_scalar("SELECT drift FROM runtime_sync WHERE namespace = $1 AND name = $2")
                    .bind(namespace)
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
            if !drift.is_empty() && was.as_deref() == Some("[]") {
                super::notifications::drift_notice_tx(&mut tx, namespace, name, drift).await?;
            }
            sqlx::query("UPDATE runtime_sync SET drift = $1, checked_at = $2 WHERE namespace = $3 AND name = $4")
                .bind(serde_json::to_string(drift).expect("drift serializes"))
                .bind(&at)
                .bind(namespace)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// The applied records of these objects (those still recorded).
    pub async fn applied_by_keys(&self, keys: &[ObjectKey]) -> Result<Vec<AppliedObject>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(CHUNK) {
            let mut q: QueryBuilder = QueryBuilder::new(
                self.backend(),
                "SELECT * FROM applied_objects WHERE (cluster, namespace, kind, name) IN (",
            );
            q.push_values(chunk, |mut b, k| {
                b.push_bind(k.cluster.clone())
                    .push_bind(k.namespace.clone())
                    .push_bind(k.kind.clone())
                    .push_bind(k.name.clone());
            });
            q.push(")");
            for r in q.build().fetch_all(self.reader()).await? {
                out.push(row_to_applied(&r)?);
            }
        }
        Ok(out)
    }

    /// Objects applied for a plan's runtimes (and shared ones in their namespaces) that the
    /// plan does not change: its no-op objects as recorded now, after `after` in key order.
    /// A packed create (see `store::plans`) was of an object not applied when the plan was
    /// made, so it is applied now only if this plan's run (or a later one) applied it; those
    /// of this plan's run are left out by their run id.
    pub async fn plan_unchanged_objects(
        &self,
        plan_id: &str,
        cluster: Option<&str>,
        kind: Option<&str>,
        after: &ObjectKey,
        limit: i64,
    ) -> Result<Vec<AppliedObject>> {
        let rows = sqlx::query(
            "SELECT a.* FROM applied_objects a
              WHERE (EXISTS (SELECT 1 FROM plan_runtimes p WHERE p.plan_id = $1 AND p.removed = 0 AND p.cluster = a.cluster
                               AND p.namespace = a.runtime_namespace AND p.name = a.runtime_name)
                     OR (a.runtime_name IS NULL AND EXISTS (SELECT 1 FROM plan_runtimes p WHERE p.plan_id = $1
                               AND p.cluster = a.cluster AND p.namespace = a.namespace)))
                AND NOT EXISTS (SELECT 1 FROM plan_objects o WHERE o.plan_id = $1 AND o.cluster = a.cluster
                               AND o.namespace = a.namespace AND o.kind = a.kind AND o.name = a.name)
                AND NOT EXISTS (SELECT 1 FROM plans pl WHERE pl.id = $1 AND pl.run_id = a.run_id)
                AND ($2 IS NULL OR a.cluster = $2) AND ($3 IS NULL OR a.kind = $3)
                AND (a.cluster, a.namespace, a.kind, a.name) > ($4, $5, $6, $7)
              ORDER BY a.cluster, a.namespace, a.kind, a.name LIMIT $8",
        )
        .bind(plan_id)
        .bind(cluster)
        .bind(kind)
        .bind(&after.cluster)
        .bind(&after.namespace)
        .bind(&after.kind)
        .bind(&after.name)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(row_to_applied).collect()
    }
}

impl Store {
    /// Records a successful run on its runtimes in one commit: a runtime the plan rendered
    /// (it carries a spec hash) records the inputs it was planned from; one it did not
    /// render keeps its applied inputs; a removed one is forgotten with its applied records.
    pub async fn record_run_succeeded(
        &self,
        run_id: &str,
        runtimes: &[super::plans::PlanRuntimeRow],
        renderer: impl Fn(&str) -> String,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let at = fmt_time(now());
        for r in runtimes {
            if r.removed {
                sqlx::query("DELETE FROM runtime_sync WHERE namespace = $1 AND name = $2")
                    .bind(&r.namespace)
                    .bind(&r.name)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM applied_objects WHERE runtime_namespace = $1 AND runtime_name = $2")
                    .bind(&r.namespace)
                    .bind(&r.name)
                    .execute(&mut *tx)
                    .await?;
            } else if r.spec_hash.is_empty() {
                sqlx::query(
                    "UPDATE runtime_sync SET last_run_id = $1, last_run_status = 'succeeded', drift = '[]', checked_at = $2
                      WHERE namespace = $3 AND name = $4",
                )
                .bind(run_id)
                .bind(&at)
                .bind(&r.namespace)
                .bind(&r.name)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(
                    "INSERT INTO runtime_sync (namespace, name, cluster, labels, applied_generation, applied_spec_hash,
                        applied_layer_revision, applied_bindings, applied_render, applied_runtime_id, applied_deps_revision,
                        last_run_id, last_run_status, drift, checked_at)
                     SELECT $1, $2, $3, COALESCE(json_extract(manifest, '$.metadata.labels'), '{}'), $4, $5, $6, $7, $8, $9, $10, $11,
                        'succeeded', '[]', $12 FROM runtimes WHERE id = $13
                     ON CONFLICT (namespace, name) DO UPDATE SET cluster = excluded.cluster, labels = excluded.labels,
                       applied_generation = excluded.applied_generation, applied_spec_hash = excluded.applied_spec_hash,
                       applied_layer_revision = excluded.applied_layer_revision, applied_bindings = excluded.applied_bindings,
                       applied_render = excluded.applied_render, applied_runtime_id = excluded.applied_runtime_id,
                       applied_deps_revision = excluded.applied_deps_revision,
                       last_run_id = excluded.last_run_id, last_run_status = excluded.last_run_status,
                       drift = excluded.drift, checked_at = excluded.checked_at",
                )
                .bind(&r.namespace)
                .bind(&r.name)
                .bind(&r.cluster)
                .bind(r.generation)
                .bind(&r.spec_hash)
                .bind(r.layer_revision)
                .bind(serde_json::to_string(&r.bindings).expect("bindings serialize"))
                .bind(renderer(&r.cluster))
                .bind(r.runtime_id)
                .bind(r.deps_revision)
                .bind(run_id)
                .bind(&at)
                .bind(r.runtime_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The read behind `GET /v1/runtimes/{namespace}/{name}`: the runtime, its sync record and
/// its cluster's mode.
const RUNTIME_WITH_SYNC: &str =
    "SELECT r.id, r.namespace, r.name, r.cluster, r.kind, r.manifest, r.generation, r.layer_revision,
        r.deps_revision, r.created_at, r.updated_at, c.mode AS cluster_mode, c.detected AS cluster_detected,
        s.namespace AS s_namespace, s.labels, s.applied_generation, s.applied_spec_hash,
        s.applied_layer_revision, s.applied_bindings, s.applied_render, s.applied_runtime_id,
        s.applied_deps_revision, s.last_run_id, s.last_run_status, s.drift, s.checked_at, s.cluster AS s_cluster
   FROM runtimes r JOIN clusters c ON c.name = r.cluster
   LEFT JOIN runtime_sync s ON s.namespace = r.namespace AND s.name = r.name
  WHERE r.namespace = $1 AND r.name = $2";

type RuntimeWithSync = (super::runtimes::RuntimeRecord, Option<SyncRecord>, Option<crate::domain::fluid::Mode>);

fn runtime_with_sync_row(row: &impl Columns) -> Result<RuntimeWithSync> {
    let rec = super::runtimes::row_to_runtime(row)?;
    let mode = crate::domain::fluid::ClusterMode::parse(&row.text("cluster_mode")?).unwrap_or_default();
    let detected: Option<crate::domain::fluid::Detection> =
        row.opt_text("cluster_detected")?.as_deref().map(parse_json).transpose()?;
    let effective = crate::domain::fluid::effective_mode(mode, detected.as_ref());
    let sync = match row.opt_text("s_namespace")? {
        None => None,
        Some(_) => Some(sync_from(row, rec.namespace.clone(), rec.name.clone(), "s_cluster")?),
    };
    Ok((rec, sync, effective))
}

impl Store {
    /// A runtime with its sync record and how its cluster runs runtimes now, in one query
    /// (the read behind `GET /v1/runtimes/{namespace}/{name}`); on a SQLite file it runs
    /// on the caller's thread (`super::direct`).
    pub async fn runtime_with_sync(&self, namespace: &str, name: &str) -> Result<RuntimeWithSync> {
        let found = match &self.direct {
            Some(direct) => direct.row(RUNTIME_WITH_SYNC, [namespace, name], |r| runtime_with_sync_row(r))?,
            None => sqlx::query(RUNTIME_WITH_SYNC)
                .bind(namespace)
                .bind(name)
                .fetch_optional(self.reader())
                .await?
                .as_ref()
                .map(runtime_with_sync_row)
                .transpose()?,
        };
        found.ok_or_else(|| super::StoreError::not_found(format!("runtime {namespace}/{name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(i: usize, value: &str, run: &str) -> AppliedObject {
        AppliedObject {
            key: ObjectKey {
                cluster: "c1".into(),
                namespace: "ns".into(),
                kind: "ConfigMap".into(),
                name: format!("r{i:03}"),
            },
            api_version: "v1".into(),
            scope: if i.is_multiple_of(7) { Scope::PullSecrets } else { Scope::Object },
            runtime: (!i.is_multiple_of(5)).then(|| ("ns".to_string(), format!("r{i:03}"))),
            fields: serde_json::json!({"data": {"k": value}}),
            applied_at: Utc::now(),
            run_id: run.into(),
        }
    }

    #[tokio::test]
    async fn many_applied_objects_are_upserted_in_statements_of_rows_and_the_last_of_a_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&super::super::scratch::database_url(dir.path())).await.unwrap();
        // 150 objects (three statements), r010 given twice: the second is recorded.
        let mut first: Vec<AppliedObject> = (0..150).map(|i| object(i, "one", "run-1")).collect();
        first.push(object(10, "twice", "run-1"));
        let mut tx = store.begin().await.unwrap();
        upsert_applied_many_tx(&mut tx, &first.iter().collect::<Vec<_>>()).await.unwrap();
        tx.commit().await.unwrap();
        let got = store.applied_in_namespace("c1", "ns").await.unwrap();
        assert_eq!(got.len(), 150);
        for o in &got {
            let i: usize = o.key.name[1..].parse().unwrap();
            let want = if i == 10 { "twice" } else { "one" };
            assert_eq!(o.fields, serde_json::json!({"data": {"k": want}}), "{}", o.key.name);
            assert_eq!(o.scope, object(i, "", "").scope, "{}", o.key.name);
            assert_eq!(o.runtime, object(i, "", "").runtime, "{}", o.key.name);
            assert_eq!(o.run_id, "run-1");
        }
        // Upserting some again updates them and leaves the others as they were.
        let second: Vec<AppliedObject> = (100..170).map(|i| object(i, "two", "run-2")).collect();
        let mut tx = store.begin().await.unwrap();
        upsert_applied_many_tx(&mut tx, &second.iter().collect::<Vec<_>>()).await.unwrap();
        tx.commit().await.unwrap();
        let got = store.applied_in_namespace("c1", "ns").await.unwrap();
        assert_eq!(got.len(), 170);
        for o in &got {
            let i: usize = o.key.name[1..].parse().unwrap();
            let (value, run) = if i >= 100 {
                ("two", "run-2")
            } else if i == 10 {
                ("twice", "run-1")
            } else {
                ("one", "run-1")
            };
            assert_eq!(o.fields, serde_json::json!({"data": {"k": value}}), "{}", o.key.name);
            assert_eq!(o.run_id, run, "{}", o.key.name);
        }
    }
}
