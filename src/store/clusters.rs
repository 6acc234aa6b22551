//! Registered target clusters. Connection credentials arrive sealed by the caller and are
//! stored only in that form.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::runtimes::{LayerChange, bump_deps_tx, record_cluster_layer_change};
use super::{Result, Store, StoreError, check_if_match, etag, fmt_time, now, parse_json, parse_time};
use crate::domain::code::ErrorCode;
use crate::domain::fluid::{ClusterMode, Detection, Mode, effective_mode};
use crate::domain::ports::PortRange;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ClusterAuthKind {
    Token,
    ClientCertificate,
}

impl ClusterAuthKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::ClientCertificate => "clientCertificate",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        match s {
            "token" => Ok(Self::Token),
            "clientCertificate" => Ok(Self::ClientCertificate),
            other => Err(StoreError::Corrupt(format!("auth kind {other:?}"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClusterRecord {
    pub name: String,
    pub server: String,
    pub ca_data: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub auth_kind: ClusterAuthKind,
    pub auth_sealed: String,
    pub default_image_pull_secrets: Vec<String>,
    /// Objects a run sends at once to this cluster (default: the daemon's setting).
    pub apply_concurrency: Option<u32>,
    /// The host-port range of the cluster's allocator; `None` is `PortRange::DEFAULT`.
    pub port_range: Option<PortRange>,
    pub mode: ClusterMode,
    /// What the last probe or refreshing plan found of Fluid.
    pub detected: Option<Detection>,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ClusterRecord {
    pub fn etag(&self) -> String {
        etag(self.generation)
    }
    /// How the cluster runs runtimes; `None` while an `auto` cluster was never probed.
    pub fn effective_mode(&self) -> Option<Mode> {
        effective_mode(self.mode, self.detected.as_ref())
    }
}

/// What a PUT stores. `auth` is `None` when the caller keeps the stored credentials.
#[derive(Debug, Clone)]
pub struct ClusterWrite {
    pub server: String,
    pub ca_data: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub auth: Option<(ClusterAuthKind, String)>,
    pub default_image_pull_secrets: Vec<String>,
    pub apply_concurrency: Option<u32>,
    /// The host-port range of the cluster's allocator; `None` is `PortRange::DEFAULT`.
    pub port_range: Option<PortRange>,
    pub mode: ClusterMode,
}

const COLUMNS: &str = "name, server, ca_data, insecure_skip_tls_verify, auth_kind, auth_sealed, default_image_pull_secrets, apply_concurrency, port_range, mode, detected, generation, created_at, updated_at";

fn row_to_cluster(row: &sqlx::any::AnyRow) -> Result<ClusterRecord> {
    Ok(ClusterRecord {
        name: row.try_get("name")?,
        server: row.try_get("server")?,
        ca_data: row.try_get("ca_data")?,
        insecure_skip_tls_verify: row.try_get::<i64, _>("insecure_skip_tls_verify")? != 0,
        auth_kind: ClusterAuthKind::parse(&row.try_get::<String, _>("auth_kind")?)?,
        auth_sealed: row.try_get("auth_sealed")?,
        default_image_pull_secrets: parse_json(&row.try_get::<String, _>("default_image_pull_secrets")?)?,
        apply_concurrency: row.try_get::<Option<i64>, _>("apply_concurrency")?.map(|n| n as u32),
        port_range: row
            .try_get::<Option<String>, _>("port_range")?
            .map(|r| r.parse().map_err(|e| StoreError::Corrupt(format!("port range: {e}"))))
            .transpose()?,
        mode: ClusterMode::parse(&row.try_get::<String, _>("mode")?)
            .ok_or_else(|| StoreError::Corrupt("cluster mode".into()))?,
        detected: row.try_get::<Option<String>, _>("detected")?.as_deref().map(parse_json).transpose()?,
        generation: row.try_get("generation")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
    })
}

pub(crate) async fn get_cluster_tx(conn: &mut sqlx::AnyConnection, name: &str) -> Result<Option<ClusterRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM clusters WHERE name = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(conn).await?;
    row.as_ref().map(row_to_cluster).transpose()
}

impl Store {
    pub async fn get_cluster(&self, name: &str) -> Result<ClusterRecord> {
        let mut conn = self.reader().acquire().await?;
        get_cluster_tx(&mut conn, name).await?.ok_or_else(|| StoreError::not_found(format!("cluster {name:?}")))
    }

    pub async fn list_clusters(&self) -> Result<Vec<ClusterRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM clusters ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.reader()).await?;
        rows.iter().map(row_to_cluster).collect()
    }

    /// Creates or replaces a cluster; returns the record and whether it was created. A change
    /// of the default pull-secret layer is recorded in the history of every runtime on the
    /// cluster, and binds any managed credential it newly references.
    pub async fn put_cluster(
        &self,
        name: &str,
        write: ClusterWrite,
        if_match: Option<&str>,
        actor: &str,
    ) -> Result<(ClusterRecord, bool)> {
        let mut tx = self.begin().await?;
        let existing = get_cluster_tx(&mut tx, name).await?;
        let at = now();
        let (record, created) = match existing {
            None => {
                if if_match.is_some_and(|v| v.trim() != "*") {
                    return Err(StoreError::PreconditionFailed {
                        what: format!("cluster {name:?}"),
                        current: "none".into(),
                    });
                }
                let Some((kind, sealed)) = write.auth else {
                    return Err(StoreError::conflict(
                        ErrorCode::ClusterCredentialsRequired,
                        "a new cluster needs credentials: token, clientCertData and clientKeyData, or kubeconfig",
                    ));
                };
                let rec = ClusterRecord {
                    name: name.to_string(),
                    server: write.server,
                    ca_data: write.ca_data,
                    insecure_skip_tls_verify: write.insecure_skip_tls_verify,
                    auth_kind: kind,
                    auth_sealed: sealed,
                    default_image_pull_secrets: write.default_image_pull_secrets,
                    apply_concurrency: write.apply_concurrency,
                    port_range: write.port_range,
                    mode: write.mode,
                    detected: None,
                    generation: 1,
                    created_at: at,
                    updated_at: at,
                };
                (rec, true)
            }
            Some(old) => {
                check_if_match(&format!("cluster {name:?}"), if_match, &old.etag())?;
                let (kind, sealed) = write.auth.unwrap_or((old.auth_kind, old.auth_sealed.clone()));
                let unchanged = old.server == write.server
                    && old.ca_data == write.ca_data
                    && old.insecure_skip_tls_verify == write.insecure_skip_tls_verify
                    && old.auth_kind == kind
                    && old.auth_sealed == sealed
                    && old.default_image_pull_secrets == write.default_image_pull_secrets
                    && old.apply_concurrency == write.apply_concurrency
                    && old.port_range == write.port_range
                    && old.mode == write.mode;
                if unchanged {
                    return Ok((old, false));
                }
                if old.default_image_pull_secrets != write.default_image_pull_secrets {
                    let change = LayerChange {
                        layer: "cluster".into(),
                        old: old.default_image_pull_secrets.clone(),
                        new: write.default_image_pull_secrets.clone(),
                    };
                    record_cluster_layer_change(&mut tx, name, &write.default_image_pull_secrets, change, actor)
                        .await?;
                }
                let range = write.port_range.unwrap_or(PortRange::DEFAULT);
                if old.port_range.unwrap_or(PortRange::DEFAULT) != range {
                    let moved = super::ports::fit_range_tx(&mut tx, name, range).await?;
                    bump_deps_tx(&mut tx, &moved).await?;
                }
                let rec = ClusterRecord {
                    name: name.to_string(),
                    server: write.server,
                    ca_data: write.ca_data,
                    insecure_skip_tls_verify: write.insecure_skip_tls_verify,
                    auth_kind: kind,
                    auth_sealed: sealed,
                    default_image_pull_secrets: write.default_image_pull_secrets,
                    apply_concurrency: write.apply_concurrency,
                    port_range: write.port_range,
                    mode: write.mode,
                    detected: old.detected.clone(),
                    generation: old.generation + 1,
                    created_at: old.created_at,
                    updated_at: at,
                };
                (rec, false)
            }
        };
        sqlx::query(
            "INSERT INTO clusters (name, server, ca_data, insecure_skip_tls_verify, auth_kind, auth_sealed, default_image_pull_secrets, apply_concurrency, port_range, mode, generation, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (name) DO UPDATE SET server = excluded.server, ca_data = excluded.ca_data,
               insecure_skip_tls_verify = excluded.insecure_skip_tls_verify, auth_kind = excluded.auth_kind,
               auth_sealed = excluded.auth_sealed, default_image_pull_secrets = excluded.default_image_pull_secrets,
               apply_concurrency = excluded.apply_concurrency, port_range = excluded.port_range, mode = excluded.mode, generation = excluded.generation,
               updated_at = excluded.updated_at",
        )
        .bind(&record.name)
        .bind(&record.server)
        .bind(&record.ca_data)
        .bind(record.insecure_skip_tls_verify as i64)
        .bind(record.auth_kind.as_str())
        .bind(&record.auth_sealed)
        .bind(serde_json::to_string(&record.default_image_pull_secrets).expect("strings serialize"))
        .bind(record.apply_concurrency.map(i64::from))
        .bind(record.port_range.map(|r| r.to_string()))
        .bind(record.mode.as_str())
        .bind(record.generation)
        .bind(fmt_time(record.created_at))
        .bind(fmt_time(record.updated_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((record, created))
    }

    /// Records what was found of Fluid on a cluster. When that changes how an `auto`
    /// cluster runs runtimes, its generation moves (plans made before are stale).
    pub async fn record_detection(&self, name: &str, detection: &Detection) -> Result<ClusterRecord> {
        let mut tx = self.begin().await?;
        let old =
            get_cluster_tx(&mut tx, name).await?.ok_or_else(|| StoreError::not_found(format!("cluster {name:?}")))?;
        let moved = old.effective_mode() != effective_mode(old.mode, Some(detection));
        sqlx::query("UPDATE clusters SET detected = $1, generation = generation + $2 WHERE name = $3")
            .bind(serde_json::to_string(detection).expect("detection serializes"))
            .bind(moved as i64)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let rec = get_cluster_tx(&mut tx, name).await?.expect("just updated");
        tx.commit().await?;
        Ok(rec)
    }

    pub async fn delete_cluster(&self, name: &str, if_match: Option<&str>) -> Result<()> {
        let mut tx = self.begin().await?;
        let old =
            get_cluster_tx(&mut tx, name).await?.ok_or_else(|| StoreError::not_found(format!("cluster {name:?}")))?;
        check_if_match(&format!("cluster {name:?}"), if_match, &old.etag())?;
        let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runtimes WHERE cluster = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        if used > 0 {
            return Err(StoreError::conflict(
                ErrorCode::ClusterInUse,
                format!("cluster {name:?} still has {used} runtime(s); delete them first"),
            ));
        }
        sqlx::query("DELETE FROM clusters WHERE name = $1").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
