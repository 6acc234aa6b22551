//! Desired runtimes, their credential bindings and their layer history.
//!
//! Bindings follow what a runtime references: whenever a runtime is written (or its
//! cluster's default layer changes), every referenced name that is a credential with a
//! `current` version and is not yet bound gets bound to that version; bindings to names no
//! longer referenced are dropped. Creating a credential or adding a version moves no
//! existing binding: a runtime picks a credential up the next time it is written.
//! `generation` counts manifest changes only; layer and binding changes are revisions.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::clusters::get_cluster_tx;
use super::credentials::current_versions_tx;
use super::{Result, Store, StoreError, check_if_match, etag, fmt_time, now, parse_json, parse_time};
use crate::domain::code::ErrorCode;
use crate::domain::dataset::Dataset;
use crate::domain::layers::{LayerInputs, referenced_layer_names};
use crate::domain::manifest::RuntimeLayers;
use crate::domain::ports::{PortName, PortRange};
use crate::domain::runtime::{RuntimeKind, RuntimeManifest};
use crate::domain::thin::ThinRuntimeProfile;

#[derive(Debug, Clone)]
pub struct RuntimeRecord {
    pub id: i64,
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub kind: RuntimeKind,
    pub manifest: serde_json::Value,
    pub generation: i64,
    /// The latest layer revision (layer or binding change).
    pub layer_revision: i64,
    /// Counts changes to what the runtime depends on: its Dataset, its ThinRuntimeProfile.
    pub deps_revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RuntimeRecord {
    pub fn etag(&self) -> String {
        etag(self.generation)
    }

    /// The stored manifest as the domain type; it was validated before it was stored.
    pub fn runtime(&self) -> Result<RuntimeManifest> {
        serde_json::from_value(self.manifest.clone())
            .map_err(|e| StoreError::Corrupt(format!("runtime {}/{}: {e}", self.namespace, self.name)))
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        self.manifest
            .pointer("/metadata/labels")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerChange {
    /// `cluster`, `global`, `master`, `worker` or `fuse`.
    pub layer: String,
    pub old: Vec<String>,
    pub new: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BindingChange {
    pub credential: String,
    pub old: Option<u32>,
    pub new: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RevisionChanges {
    pub layers: Vec<LayerChange>,
    pub bindings: Vec<BindingChange>,
}

#[derive(Debug, Clone)]
pub struct LayerRevision {
    pub revision: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
    pub layers: Vec<LayerChange>,
    pub bindings: Vec<BindingChange>,
}

/// Everything needed to resolve and render one runtime.
#[derive(Debug, Clone)]
pub struct RuntimeContext {
    pub record: RuntimeRecord,
    pub runtime: RuntimeManifest,
    pub cluster_default: Vec<String>,
    pub bindings: BTreeMap<String, u32>,
    pub layer_revision: i64,
    /// The Dataset of the same namespace and name, if stored.
    pub dataset: Option<Dataset>,
    /// The ThinRuntimeProfile a ThinRuntime names, if stored for its cluster.
    pub profile: Option<ThinRuntimeProfile>,
    /// The host ports the cluster's allocator gave the runtime (see `store::ports`).
    pub ports: BTreeMap<PortName, u16>,
}

impl RuntimeContext {
    /// What resolution reads of this runtime.
    pub fn layer_inputs<'a>(
        &'a self,
        layers: &'a RuntimeLayers,
        profile: Option<&'a RuntimeLayers>,
    ) -> LayerInputs<'a> {
        LayerInputs { kind: self.record.kind, runtime: layers, profile, cluster_default: &self.cluster_default }
    }
}

/// What planning reads of every runtime in scope, without its manifest.
#[derive(Debug, Clone)]
pub struct RuntimeHead {
    pub id: i64,
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub generation: i64,
    pub layer_revision: i64,
    pub deps_revision: i64,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct RuntimeFilter {
    pub cluster: Option<String>,
    pub namespace: Option<String>,
}

const COLUMNS: &str =
    "id, namespace, name, cluster, kind, manifest, generation, layer_revision, deps_revision, created_at, updated_at";

pub(crate) fn row_to_runtime(row: &impl super::columns::Columns) -> Result<RuntimeRecord> {
    Ok(RuntimeRecord {
        id: row.int("id")?,
        namespace: row.text("namespace")?,
        name: row.text("name")?,
        cluster: row.text("cluster")?,
        kind: RuntimeKind::from_kind(&row.text("kind")?).ok_or_else(|| StoreError::Corrupt("runtime kind".into()))?,
        manifest: parse_json(&row.text("manifest")?)?,
        generation: row.int("generation")?,
        layer_revision: row.int("layer_revision")?,
        deps_revision: row.int("deps_revision")?,
        created_at: parse_time(&row.text("created_at")?)?,
        updated_at: parse_time(&row.text("updated_at")?)?,
    })
}

pub(crate) async fn get_runtime_tx(
    conn: &mut AnyConnection,
    namespace: &str,
    name: &str,
) -> Result<Option<RuntimeRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM runtimes WHERE namespace = $1 AND name = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(namespace).bind(name).fetch_optional(conn).await?;
    row.as_ref().map(row_to_runtime).transpose()
}

async fn bindings_tx(conn: &mut AnyConnection, runtime_id: i64) -> Result<BTreeMap<String, u32>> {
    let rows = sqlx::query("SELECT credential, version FROM runtime_bindings WHERE runtime_id = $1")
        .bind(runtime_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("credential")?, r.try_get::<i64, _>("version")? as u32))).collect()
}

async fn latest_revision_tx(conn: &mut AnyConnection, runtime_id: i64) -> Result<i64> {
    let rev: Option<i64> = sqlx::query_scalar("SELECT MAX(revision) FROM layer_revisions WHERE runtime_id = $1")
        .bind(runtime_id)
        .fetch_one(conn)
        .await?;
    Ok(rev.unwrap_or(0))
}

/// Rebinds `runtime_id` to exactly the referenced credentials (see the module doc) and
/// returns what moved. A new binding to a credential whose scope leaves out the runtime's
/// namespace or cluster is refused (`credential_not_allowed`), and the caller's
/// transaction with it.
pub(crate) async fn sync_bindings(
    conn: &mut AnyConnection,
    runtime_id: i64,
    inputs: &LayerInputs<'_>,
    current: &BTreeMap<String, u32>,
) -> Result<Vec<BindingChange>> {
    let old = bindings_tx(conn, runtime_id).await?;
    let referenced = referenced_layer_names(inputs);
    let mut new = BTreeMap::new();
    for name in &referenced {
        if let Some(v) = old.get(name).or_else(|| current.get(name)) {
            new.insert(name.clone(), *v);
        }
    }
    let added: Vec<&String> = new.keys().filter(|n| !old.contains_key(*n)).collect();
    if !added.is_empty() {
        let scopes = super::credentials::scopes_tx(&mut *conn, &added).await?;
        if !scopes.is_empty() {
            let (ns, rt, cluster): (String, String, String) =
                sqlx::query_as("SELECT namespace, name, cluster FROM runtimes WHERE id = $1")
                    .bind(runtime_id)
                    .fetch_one(&mut *conn)
                    .await?;
            for (cred, scope) in &scopes {
                if let Err(denied) = scope.allows(&ns, &cluster) {
                    return Err(StoreError::conflict(
                        ErrorCode::CredentialNotAllowed,
                        format!(
                            "credential {cred:?} may not be used in {denied} (runtime {ns}/{rt} on cluster {cluster:?}); its scope allows {}",
                            scope_words(scope)
                        ),
                    ));
                }
            }
        }
    }
    let mut changes = Vec::new();
    for (cred, v) in &old {
        if !new.contains_key(cred) {
            changes.push(BindingChange { credential: cred.clone(), old: Some(*v), new: None });
            sqlx::query("DELETE FROM runtime_bindings WHERE runtime_id = $1 AND credential = $2")
                .bind(runtime_id)
                .bind(cred)
                .execute(&mut *conn)
                .await?;
        }
    }
    for (cred, v) in &new {
        if !old.contains_key(cred) {
            changes.push(BindingChange { credential: cred.clone(), old: None, new: Some(*v) });
            sqlx::query("INSERT INTO runtime_bindings (runtime_id, credential, version) VALUES ($1, $2, $3)")
                .bind(runtime_id)
                .bind(cred)
                .bind(*v as i64)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(changes)
}

fn scope_words(s: &crate::domain::scope::Scope) -> String {
    let list = |l: &Option<Vec<String>>| l.as_ref().map(|l| l.join(", ")).unwrap_or_else(|| "any".into());
    format!("namespaces {} and clusters {}", list(&s.namespaces), list(&s.clusters))
}

pub(crate) async fn insert_revision(
    conn: &mut AnyConnection,
    runtime_id: i64,
    at: DateTime<Utc>,
    actor: &str,
    reason: &str,
    changes: RevisionChanges,
) -> Result<()> {
    if changes.layers.is_empty() && changes.bindings.is_empty() {
        return Ok(());
    }
    let revision = latest_revision_tx(conn, runtime_id).await? + 1;
    sqlx::query(
        "INSERT INTO layer_revisions (runtime_id, revision, at, actor, reason, changes) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(runtime_id)
    .bind(revision)
    .bind(fmt_time(at))
    .bind(actor)
    .bind(reason)
    .bind(serde_json::to_string(&changes).expect("revision serializes"))
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE runtimes SET layer_revision = $1 WHERE id = $2")
        .bind(revision)
        .bind(runtime_id)
        .execute(conn)
        .await?;
    Ok(())
}

fn layer_changes(old: &RuntimeLayers, new: &RuntimeLayers) -> Vec<LayerChange> {
    [
        ("global", &old.global, &new.global),
        ("master", &old.master, &new.master),
        ("worker", &old.worker, &new.worker),
        ("fuse", &old.fuse, &new.fuse),
    ]
    .into_iter()
    .filter(|(_, o, n)| o != n)
    .map(|(layer, o, n)| LayerChange { layer: layer.into(), old: o.clone(), new: n.clone() })
    .collect()
}

/// The ThinRuntimeProfile a runtime names, if it is a ThinRuntime and the profile is stored.
pub(crate) async fn profile_tx(
    conn: &mut AnyConnection,
    cluster: &str,
    runtime: &RuntimeManifest,
) -> Result<Option<ThinRuntimeProfile>> {
    match runtime.profile_name() {
        Some(p) => Ok(super::profiles::get_profile_tx(conn, cluster, p).await?.map(|r| r.profile()).transpose()?),
        None => Ok(None),
    }
}

async fn profile_layers_tx(
    conn: &mut AnyConnection,
    cluster: &str,
    runtime: &RuntimeManifest,
) -> Result<Option<RuntimeLayers>> {
    Ok(profile_tx(conn, cluster, runtime).await?.map(|p| p.layers()))
}

/// Bumps the dependency revision of runtimes (their Dataset or profile changed).
pub(crate) async fn bump_deps_tx(conn: &mut AnyConnection, ids: &[i64]) -> Result<()> {
    for id in ids {
        sqlx::query("UPDATE runtimes SET deps_revision = deps_revision + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Records a cluster default-layer change on every runtime of the cluster and rebinds them.
pub(crate) async fn record_cluster_layer_change(
    conn: &mut AnyConnection,
    cluster: &str,
    new_default: &[String],
    change: LayerChange,
    actor: &str,
) -> Result<()> {
    let sql = format!("SELECT {COLUMNS} FROM runtimes WHERE cluster = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(cluster).fetch_all(&mut *conn).await?;
    let current = current_versions_tx(conn).await?;
    let at = now();
    for row in rows {
        let rec = row_to_runtime(&row)?;
        let rt = rec.runtime()?;
        let layers = rt.layers();
        let profile = profile_layers_tx(conn, &rec.cluster, &rt).await?;
        let inputs =
            LayerInputs { kind: rec.kind, runtime: &layers, profile: profile.as_ref(), cluster_default: new_default };
        let bindings = sync_bindings(conn, rec.id, &inputs, &current).await?;
        let changes = RevisionChanges { layers: vec![change.clone()], bindings };
        insert_revision(conn, rec.id, at, actor, "cluster default layer changed", changes).await?;
    }
    Ok(())
}

/// One runtime write; `reason` overrides the revision's default reason.
pub(crate) struct RuntimePut<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub cluster: &'a str,
    pub runtime: &'a RuntimeManifest,
    pub if_match: Option<&'a str>,
    pub actor: &'a str,
    pub reason: Option<&'a str>,
}

/// Creates or replaces a runtime inside a transaction; returns it and whether it was
/// created. An identical manifest changes nothing (same generation, no revision).
pub(crate) async fn put_runtime_tx(tx: &mut AnyConnection, put: RuntimePut<'_>) -> Result<(RuntimeRecord, bool)> {
    let RuntimePut { namespace, name, cluster, runtime, if_match, actor, reason } = put;
    let manifest = serde_json::to_value(runtime).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let Some(cluster_rec) = get_cluster_tx(&mut *tx, cluster).await? else {
        return Err(StoreError::not_found(format!("cluster {cluster:?}")));
    };
    let existing = get_runtime_tx(&mut *tx, namespace, name).await?;
    let what = format!("runtime {namespace}/{name}");
    if let Some(ds) = super::datasets::get_dataset_tx(&mut *tx, namespace, name).await?
        && ds.cluster != cluster
    {
        return Err(StoreError::conflict(
            ErrorCode::RuntimeClusterMismatch,
            format!(
                "dataset {namespace}/{name} belongs to cluster {:?}; a runtime and its Dataset share one cluster",
                ds.cluster
            ),
        ));
    }
    let at = now();
    let (id, generation, created_at, old_layers, created) = match &existing {
        None => {
            if if_match.is_some_and(|v| v.trim() != "*") {
                return Err(StoreError::PreconditionFailed { what, current: "none".into() });
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO runtimes (namespace, name, cluster, kind, manifest, generation, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, 1, $6, $7) RETURNING id",
            )
            .bind(namespace)
            .bind(name)
            .bind(cluster)
            .bind(runtime.kind().as_str())
            .bind(manifest.to_string())
            .bind(fmt_time(at))
            .bind(fmt_time(at))
            .fetch_one(&mut *tx)
            .await?;
            (id, 1, at, RuntimeLayers::default(), true)
        }
        Some(old) => {
            check_if_match(&what, if_match, &old.etag())?;
            if old.cluster != cluster {
                return Err(StoreError::conflict(
                    ErrorCode::RuntimeClusterMismatch,
                    format!(
                        "{what} belongs to cluster {:?}; delete it there before creating it on {cluster:?}",
                        old.cluster
                    ),
                ));
            }
            if old.manifest == manifest {
                return Ok((old.clone(), false));
            }
            let generation = old.generation + 1;
            sqlx::query("UPDATE runtimes SET kind = $1, manifest = $2, generation = $3, updated_at = $4 WHERE id = $5")
                .bind(runtime.kind().as_str())
                .bind(manifest.to_string())
                .bind(generation)
                .bind(fmt_time(at))
                .bind(old.id)
                .execute(&mut *tx)
                .await?;
            (old.id, generation, old.created_at, old.runtime()?.layers(), false)
        }
    };
    let layers = runtime.layers();
    let current = current_versions_tx(&mut *tx).await?;
    let profile = profile_layers_tx(&mut *tx, cluster, runtime).await?;
    let inputs = LayerInputs {
        kind: runtime.kind(),
        runtime: &layers,
        profile: profile.as_ref(),
        cluster_default: &cluster_rec.default_image_pull_secrets,
    };
    let bindings = sync_bindings(&mut *tx, id, &inputs, &current).await?;
    match runtime {
        RuntimeManifest::Alluxio(rt) => {
            let range = cluster_rec.port_range.unwrap_or(PortRange::DEFAULT);
            super::ports::assign_tx(&mut *tx, id, cluster, range, rt).await?;
        }
        // Fluid allocates the ports of the kinds fluidform does not render.
        _ => {
            sqlx::query("DELETE FROM runtime_ports WHERE runtime_id = $1").bind(id).execute(&mut *tx).await?;
        }
    }
    let reason = reason.unwrap_or(if created { "runtime created" } else { "runtime updated" });
    let changes = RevisionChanges { layers: layer_changes(&old_layers, &layers), bindings };
    insert_revision(&mut *tx, id, at, actor, reason, changes).await?;
    let layer_revision = latest_revision_tx(&mut *tx, id).await?;
    let deps_revision: i64 =
        sqlx::query_scalar("SELECT deps_revision FROM runtimes WHERE id = $1").bind(id).fetch_one(&mut *tx).await?;
    let record = RuntimeRecord {
        id,
        namespace: namespace.into(),
        name: name.into(),
        cluster: cluster.into(),
        kind: runtime.kind(),
        manifest,
        generation,
        layer_revision,
        deps_revision,
        created_at,
        updated_at: at,
    };
    Ok((record, created))
}

impl Store {
    /// Creates or replaces a runtime; returns it and whether it was created. An identical
    /// manifest changes nothing (same generation, no revision).
    pub async fn put_runtime(
        &self,
        namespace: &str,
        name: &str,
        cluster: &str,
        runtime: &RuntimeManifest,
        if_match: Option<&str>,
        actor: &str,
    ) -> Result<(RuntimeRecord, bool)> {
        let mut tx = self.begin().await?;
        let out =
            put_runtime_tx(&mut tx, RuntimePut { namespace, name, cluster, runtime, if_match, actor, reason: None })
                .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// `put_runtime` with the reason its layer revision records.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_runtime_because(
        &self,
        namespace: &str,
        name: &str,
        cluster: &str,
        runtime: &RuntimeManifest,
        if_match: Option<&str>,
        actor: &str,
        reason: &str,
    ) -> Result<(RuntimeRecord, bool)> {
        let mut tx = self.begin().await?;
        let put = RuntimePut { namespace, name, cluster, runtime, if_match, actor, reason: Some(reason) };
        let out = put_runtime_tx(&mut tx, put).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// `put_runtime`, and the runtime's Dataset with it when given, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_runtime_with_dataset(
        &self,
        namespace: &str,
        name: &str,
        cluster: &str,
        runtime: &RuntimeManifest,
        dataset: Option<&Dataset>,
        if_match: Option<&str>,
        actor: &str,
    ) -> Result<(RuntimeRecord, bool, Option<(super::datasets::DatasetRecord, bool)>)> {
        let mut tx = self.begin().await?;
        let ds = match dataset {
            Some(d) => Some(super::datasets::put_dataset_tx(&mut tx, namespace, name, cluster, d, None).await?),
            None => None,
        };
        let put = RuntimePut { namespace, name, cluster, runtime, if_match, actor, reason: None };
        let (rec, created) = put_runtime_tx(&mut tx, put).await?;
        tx.commit().await?;
        Ok((rec, created, ds))
    }

    pub async fn get_runtime(&self, namespace: &str, name: &str) -> Result<RuntimeRecord> {
        let mut conn = self.reader().acquire().await?;
        get_runtime_tx(&mut conn, namespace, name)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("runtime {namespace}/{name}")))
    }

    /// The runtime with its cluster layer, bindings and latest layer revision, read in one
    /// transaction so they agree with each other.
    pub async fn runtime_context(&self, namespace: &str, name: &str) -> Result<RuntimeContext> {
        let mut tx = self.reader().begin().await?;
        let record = get_runtime_tx(&mut tx, namespace, name)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("runtime {namespace}/{name}")))?;
        let cluster = get_cluster_tx(&mut tx, &record.cluster)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("cluster {:?} of runtime is missing", record.cluster)))?;
        let bindings = bindings_tx(&mut tx, record.id).await?;
        let layer_revision = record.layer_revision;
        let runtime = record.runtime()?;
        let dataset =
            super::datasets::get_dataset_tx(&mut tx, namespace, name).await?.map(|d| d.dataset()).transpose()?;
        let profile = profile_tx(&mut tx, &record.cluster, &runtime).await?;
        let ports = super::ports::ports_tx(&mut tx, record.id).await?.allocated;
        tx.commit().await?;
        Ok(RuntimeContext {
            runtime,
            record,
            cluster_default: cluster.default_image_pull_secrets,
            bindings,
            layer_revision,
            dataset,
            profile,
            ports,
        })
    }

    /// One page of runtimes ordered by namespace and name, after `cursor` (exclusive).
    /// `keep` filters rows (label selectors); pages are filled up to `limit` matches.
    pub async fn list_runtimes(
        &self,
        filter: &RuntimeFilter,
        cursor: Option<(String, String)>,
        limit: usize,
        keep: impl Fn(&RuntimeRecord) -> bool,
    ) -> Result<(Vec<RuntimeRecord>, Option<(String, String)>)> {
        let (mut ns, mut nm) = cursor.unwrap_or_default();
        let mut out = Vec::new();
        let batch = (limit * 2).clamp(50, 1000) as i64;
        loop {
            let sql = format!(
                "SELECT {COLUMNS} FROM runtimes
                 WHERE (namespace > $1 OR (namespace = $2 AND name > $3))
                   AND ($4 IS NULL OR cluster = $5) AND ($6 IS NULL OR namespace = $7)
                 ORDER BY namespace, name LIMIT $8"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&ns)
                .bind(&ns)
                .bind(&nm)
                .bind(&filter.cluster)
                .bind(&filter.cluster)
                .bind(&filter.namespace)
                .bind(&filter.namespace)
                .bind(batch)
                .fetch_all(self.reader())
                .await?;
            let exhausted = (rows.len() as i64) < batch;
            for row in &rows {
                let rec = row_to_runtime(row)?;
                ns.clone_from(&rec.namespace);
                nm.clone_from(&rec.name);
                if keep(&rec) {
                    out.push(rec);
                    if out.len() == limit {
                        let more = !exhausted || row_is_not_last(&rows, row);
                        return Ok((out, more.then_some((ns, nm))));
                    }
                }
            }
            if exhausted {
                return Ok((out, None));
            }
        }
    }

    /// Every runtime passing `filter`, without manifests, ordered by cluster, namespace, name.
    pub async fn runtime_heads(&self, filter: &RuntimeFilter) -> Result<Vec<RuntimeHead>> {
        let rows = sqlx::query(
            "SELECT id, namespace, name, cluster, generation, layer_revision, deps_revision,
                    json_extract(manifest, '$.metadata.labels') AS labels
               FROM runtimes WHERE ($1 IS NULL OR cluster = $2) AND ($3 IS NULL OR namespace = $4)
              ORDER BY cluster, namespace, name",
        )
        .bind(&filter.cluster)
        .bind(&filter.cluster)
        .bind(&filter.namespace)
        .bind(&filter.namespace)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RuntimeHead {
                    id: r.try_get("id")?,
                    namespace: r.try_get("namespace")?,
                    name: r.try_get("name")?,
                    cluster: r.try_get("cluster")?,
                    generation: r.try_get("generation")?,
                    layer_revision: r.try_get("layer_revision")?,
                    deps_revision: r.try_get("deps_revision")?,
                    labels: r
                        .try_get::<Option<String>, _>("labels")?
                        .as_deref()
                        .map(parse_json)
                        .transpose()?
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// The ids of those of `keys` (`(namespace, name)`) that exist, in one statement per 400
    /// keys.
    pub async fn runtime_ids(&self, keys: &[(String, String)]) -> Result<HashMap<(String, String), i64>> {
        let mut out = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(400) {
            let mut q: super::sql::QueryBuilder = super::sql::QueryBuilder::new(
                self.backend(),
                "SELECT id, namespace, name FROM runtimes WHERE (namespace, name) IN (",
            );
            q.push_values(chunk, |mut b, (ns, n)| {
                b.push_bind(ns.clone()).push_bind(n.clone());
            });
            q.push(")");
            for r in q.build().fetch_all(self.reader()).await? {
                out.insert((r.try_get("namespace")?, r.try_get("name")?), r.try_get("id")?);
            }
        }
        Ok(out)
    }

    /// Full contexts of the runtimes `ids` (manifests and bindings in two queries per
    /// chunk); `cluster_default` gives each cluster's default layer.
    pub async fn runtime_contexts_by_id(
        &self,
        ids: &[i64],
        cluster_default: impl Fn(&str) -> Vec<String>,
    ) -> Result<Vec<RuntimeContext>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(400) {
            let mut conn = self.reader().begin().await?;
            let mut q: super::sql::QueryBuilder =
                super::sql::QueryBuilder::new(self.backend(), format!("SELECT {COLUMNS} FROM runtimes WHERE id IN ("));
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            q.push(") ORDER BY cluster, namespace, name");
            let records: Vec<RuntimeRecord> =
                q.build().fetch_all(&mut *conn).await?.iter().map(row_to_runtime).collect::<Result<_>>()?;
            let mut b: super::sql::QueryBuilder = super::sql::QueryBuilder::new(
                self.backend(),
                "SELECT runtime_id, credential, version FROM runtime_bindings WHERE runtime_id IN (",
            );
            let mut sep = b.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            b.push(")");
            let mut bindings: BTreeMap<i64, BTreeMap<String, u32>> = BTreeMap::new();
            for r in b.build().fetch_all(&mut *conn).await? {
                bindings
                    .entry(r.try_get("runtime_id")?)
                    .or_default()
                    .insert(r.try_get("credential")?, r.try_get::<i64, _>("version")? as u32);
            }
            let mut ports = super::ports::allocated_for_tx(&mut conn, chunk).await?;
            let mut datasets = super::datasets::datasets_for_tx(&mut conn, chunk).await?;
            for record in records {
                let runtime = record.runtime()?;
                let dataset = datasets.remove(&record.id);
                let profile = match runtime.profile_name() {
                    Some(_) => profile_tx(&mut conn, &record.cluster, &runtime).await?,
                    None => None,
                };
                out.push(RuntimeContext {
                    runtime,
                    cluster_default: cluster_default(&record.cluster),
                    bindings: bindings.remove(&record.id).unwrap_or_default(),
                    layer_revision: record.layer_revision,
                    dataset,
                    profile,
                    ports: ports.remove(&record.id).unwrap_or_default(),
                    record,
                });
            }
            conn.commit().await?;
        }
        Ok(out)
    }

    /// Names of the credential Secrets (`<credential>-v<version>`) any runtime of a cluster
    /// namespace is bound to: the ones that must stay there.
    pub async fn bound_secret_names(
        &self,
        cluster: &str,
        namespace: &str,
    ) -> Result<std::collections::BTreeSet<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT b.credential, b.version FROM runtime_bindings b JOIN runtimes r ON r.id = b.runtime_id
              WHERE r.cluster = $1 AND r.namespace = $2",
        )
        .bind(cluster)
        .bind(namespace)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::domain::layers::managed_secret_name(
                    &r.try_get::<String, _>("credential")?,
                    r.try_get::<i64, _>("version")? as u32,
                ))
            })
            .collect()
    }

    pub async fn delete_runtime(&self, namespace: &str, name: &str, if_match: Option<&str>) -> Result<RuntimeRecord> {
        let mut tx = self.begin().await?;
        let old = get_runtime_tx(&mut tx, namespace, name)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("runtime {namespace}/{name}")))?;
        check_if_match(&format!("runtime {namespace}/{name}"), if_match, &old.etag())?;
        sqlx::query("DELETE FROM runtimes WHERE id = $1").bind(old.id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(old)
    }

    pub async fn layer_history(&self, namespace: &str, name: &str) -> Result<Vec<LayerRevision>> {
        let rec = self.get_runtime(namespace, name).await?;
        let rows = sqlx::query(
            "SELECT revision, at, actor, reason, changes FROM layer_revisions WHERE runtime_id = $1 ORDER BY revision",
        )
        .bind(rec.id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let changes: RevisionChanges = parse_json(&r.try_get::<String, _>("changes")?)?;
                Ok(LayerRevision {
                    revision: r.try_get("revision")?,
                    at: parse_time(&r.try_get::<String, _>("at")?)?,
                    actor: r.try_get("actor")?,
                    reason: r.try_get("reason")?,
                    layers: changes.layers,
                    bindings: changes.bindings,
                })
            })
            .collect()
    }
}

fn row_is_not_last(rows: &[sqlx::any::AnyRow], row: &sqlx::any::AnyRow) -> bool {
    !std::ptr::eq(rows.last().expect("row comes from rows"), row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::clusters::{ClusterAuthKind, ClusterWrite};

    /// `runtime_ids` answers the keys that exist, with their ids, across its chunks of 400.
    #[tokio::test]
    async fn runtime_ids_answers_the_runtimes_that_exist() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&crate::store::scratch::database_url(dir.path())).await.unwrap();
        let write = ClusterWrite {
            server: "https://x".into(),
            ca_data: None,
            insecure_skip_tls_verify: true,
            auth: Some((ClusterAuthKind::Token, "sealed".into())),
            default_image_pull_secrets: vec![],
            apply_concurrency: None,
            port_range: None,
            mode: Default::default(),
        };
        s.put_cluster("c", write, None, "t").await.unwrap();
        let mut want = HashMap::new();
        for n in ["a", "b"] {
            let rt: RuntimeManifest =
                serde_json::from_value(serde_json::json!({"apiVersion": "data.fluid.io/v1alpha1",
                "kind": "AlluxioRuntime", "metadata": {"name": n}, "spec": {"replicas": 1}}))
                .unwrap();
            let id = s.put_runtime("ns", n, "c", &rt, None, "t").await.unwrap().0.id;
            want.insert(("ns".to_string(), n.to_string()), id);
        }
        // 500 keys: the two that exist sit in different chunks.
        let mut keys: Vec<(String, String)> = (0..498).map(|i| ("ns".to_string(), format!("missing-{i}"))).collect();
        keys.insert(0, ("ns".into(), "a".into()));
        keys.push(("ns".into(), "b".into()));
        assert_eq!(s.runtime_ids(&keys).await.unwrap(), want);
        assert!(s.runtime_ids(&[]).await.unwrap().is_empty());
    }
}
