//! Datasets: Fluid's `Dataset` documents as desired state, one per namespace and name,
//! beside the runtime of the same namespace and name (which must be on the same cluster).
//! Writing or deleting a Dataset moves that runtime's dependency revision, so plans see it.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::clusters::get_cluster_tx;
use super::runtimes::{bump_deps_tx, get_runtime_tx};
use super::{Result, Store, StoreError, check_if_match, etag, fmt_time, now, parse_json, parse_time};
use crate::domain::code::ErrorCode;
use crate::domain::dataset::Dataset;

#[derive(Debug, Clone)]
pub struct DatasetRecord {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub manifest: serde_json::Value,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl DatasetRecord {
    pub fn etag(&self) -> String {
        etag(self.generation)
    }
    /// The stored document as the domain type; it was validated before it was stored.
    pub fn dataset(&self) -> Result<Dataset> {
        serde_json::from_value(self.manifest.clone())
            .map_err(|e| StoreError::Corrupt(format!("dataset {}/{}: {e}", self.namespace, self.name)))
    }
}

fn row_to_dataset(r: &sqlx::any::AnyRow) -> Result<DatasetRecord> {
    Ok(DatasetRecord {
        namespace: r.try_get("namespace")?,
        name: r.try_get("name")?,
        cluster: r.try_get("cluster")?,
        manifest: parse_json(&r.try_get::<String, _>("manifest")?)?,
        generation: r.try_get("generation")?,
        created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&r.try_get::<String, _>("updated_at")?)?,
    })
}

pub(crate) async fn get_dataset_tx(
    conn: &mut AnyConnection,
    namespace: &str,
    name: &str,
) -> Result<Option<DatasetRecord>> {
    let row = sqlx::query("SELECT * FROM datasets WHERE namespace = $1 AND name = $2")
        .bind(namespace)
        .bind(name)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(row_to_dataset).transpose()
}

/// The Datasets beside each of the runtimes `ids` (one query), by runtime id.
pub(crate) async fn datasets_for_tx(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<std::collections::BTreeMap<i64, Dataset>> {
    let mut out = std::collections::BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut q: super::sql::QueryBuilder = super::sql::QueryBuilder::new(
        super::Backend::of(conn),
        "SELECT r.id AS runtime_id, d.* FROM datasets d JOIN runtimes r ON r.namespace = d.namespace AND r.name = d.name
          WHERE r.id IN (",
    );
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    q.push(")");
    for row in q.build().fetch_all(conn).await? {
        let id: i64 = sqlx::Row::try_get(&row, "runtime_id")?;
        out.insert(id, row_to_dataset(&row)?.dataset()?);
    }
    Ok(out)
}

fn mismatch(what: &str, owner: &str, cluster: &str) -> StoreError {
    StoreError::conflict(
        ErrorCode::RuntimeClusterMismatch,
        format!("{what} belongs to cluster {owner:?}; a runtime and its Dataset share one cluster (not {cluster:?})"),
    )
}

/// Creates or replaces a Dataset inside a transaction (see `Store::put_dataset`).
pub(crate) async fn put_dataset_tx(
    tx: &mut AnyConnection,
    namespace: &str,
    name: &str,
    cluster: &str,
    dataset: &Dataset,
    if_match: Option<&str>,
) -> Result<(DatasetRecord, bool)> {
    let manifest = serde_json::to_value(dataset).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if get_cluster_tx(&mut *tx, cluster).await?.is_none() {
        return Err(StoreError::not_found(format!("cluster {cluster:?}")));
    }
    let what = format!("dataset {namespace}/{name}");
    if let Some(rt) = get_runtime_tx(&mut *tx, namespace, name).await?
        && rt.cluster != cluster
    {
        return Err(mismatch(&format!("runtime {namespace}/{name}"), &rt.cluster, cluster));
    }
    let at = now();
    let existing = get_dataset_tx(&mut *tx, namespace, name).await?;
    let (generation, created_at, created) = match &existing {
        None => {
            if if_match.is_some_and(|v| v.trim() != "*") {
                return Err(StoreError::PreconditionFailed { what, current: "none".into() });
            }
            (1, at, true)
        }
        Some(old) => {
            check_if_match(&what, if_match, &old.etag())?;
            if old.cluster != cluster {
                return Err(mismatch(&what, &old.cluster, cluster));
            }
            if old.manifest == manifest {
                return Ok((old.clone(), false));
            }
            (old.generation + 1, old.created_at, false)
        }
    };
    sqlx::query(
        "INSERT INTO datasets (namespace, name, cluster, manifest, generation, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (namespace, name) DO UPDATE SET manifest = excluded.manifest,
               generation = excluded.generation, updated_at = excluded.updated_at",
    )
    .bind(namespace)
    .bind(name)
    .bind(cluster)
    .bind(manifest.to_string())
    .bind(generation)
    .bind(fmt_time(created_at))
    .bind(fmt_time(at))
    .execute(&mut *tx)
    .await?;
    if let Some(rt) = get_runtime_tx(&mut *tx, namespace, name).await? {
        bump_deps_tx(&mut *tx, &[rt.id]).await?;
    }
    let rec = DatasetRecord {
        namespace: namespace.into(),
        name: name.into(),
        cluster: cluster.into(),
        manifest,
        generation,
        created_at,
        updated_at: at,
    };
    Ok((rec, created))
}

impl Store {
    /// Creates or replaces a Dataset; returns it and whether it was created. An identical
    /// document changes nothing.
    pub async fn put_dataset(
        &self,
        namespace: &str,
        name: &str,
        cluster: &str,
        dataset: &Dataset,
        if_match: Option<&str>,
    ) -> Result<(DatasetRecord, bool)> {
        let mut tx = self.begin().await?;
        let out = put_dataset_tx(&mut tx, namespace, name, cluster, dataset, if_match).await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn get_dataset(&self, namespace: &str, name: &str) -> Result<DatasetRecord> {
        let mut conn = self.reader().acquire().await?;
        get_dataset_tx(&mut conn, namespace, name)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("dataset {namespace}/{name}")))
    }

    /// Datasets in namespace and name order, optionally of one cluster or namespace.
    pub async fn list_datasets(&self, cluster: Option<&str>, namespace: Option<&str>) -> Result<Vec<DatasetRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM datasets WHERE ($1 IS NULL OR cluster = $2) AND ($3 IS NULL OR namespace = $4) ORDER BY namespace, name",
        )
        .bind(cluster)
        .bind(cluster)
        .bind(namespace)
        .bind(namespace)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(row_to_dataset).collect()
    }

    pub async fn delete_dataset(&self, namespace: &str, name: &str, if_match: Option<&str>) -> Result<DatasetRecord> {
        let mut tx = self.begin().await?;
        let old = get_dataset_tx(&mut tx, namespace, name)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("dataset {namespace}/{name}")))?;
        check_if_match(&format!("dataset {namespace}/{name}"), if_match, &old.etag())?;
        sqlx::query("DELETE FROM datasets WHERE namespace = $1 AND name = $2")
            .bind(namespace)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if let Some(rt) = get_runtime_tx(&mut tx, namespace, name).await? {
            bump_deps_tx(&mut tx, &[rt.id]).await?;
        }
        tx.commit().await?;
        Ok(old)
    }
}
