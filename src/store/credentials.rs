//! Registry credentials and their immutable numbered versions with stage labels.
//!
//! Stage labels: the first version of a credential is `current`. Every later version is
//! created `pending`; a newer version takes the `pending` label from an older one that was
//! never promoted (that one is left unlabelled). A rotation that completes moves `pending` →
//! `current` and the old `current` → `previous`. At most one version carries each label.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Result, Store, StoreError, check_if_match, etag, fmt_time, now, parse_time};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Current,
    Pending,
    Previous,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Current => "current",
            Stage::Pending => "pending",
            Stage::Previous => "previous",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        match s {
            "current" => Ok(Stage::Current),
            "pending" => Ok(Stage::Pending),
            "previous" => Ok(Stage::Previous),
            other => Err(StoreError::Corrupt(format!("stage {other:?}"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CredentialRecord {
    pub name: String,
    pub description: Option<String>,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub versions: Vec<VersionRecord>,
}

impl CredentialRecord {
    pub fn etag(&self) -> String {
        etag(self.generation)
    }
    pub fn version_with(&self, stage: Stage) -> Option<&VersionRecord> {
        self.versions.iter().find(|v| v.stage == Some(stage))
    }
}

#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub version: u32,
    pub stage: Option<Stage>,
    pub registry: Option<String>,
    pub fingerprint: String,
    pub sealed: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A new version's secret, already sealed by the caller.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub registry: Option<String>,
    pub fingerprint: String,
    pub sealed: String,
}

/// The context a version's secret is sealed under.
pub fn seal_context(credential: &str, version: u32) -> String {
    format!("credential:{credential}:v{version}")
}

fn row_to_version(row: &sqlx::sqlite::SqliteRow) -> Result<VersionRecord> {
    let stage: Option<String> = row.try_get("stage")?;
    Ok(VersionRecord {
        version: row.try_get::<i64, _>("version")? as u32,
        stage: stage.as_deref().map(Stage::parse).transpose()?,
        registry: row.try_get("registry")?,
        fingerprint: row.try_get("fingerprint")?,
        sealed: row.try_get("sealed")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        created_by: row.try_get("created_by")?,
    })
}

pub(crate) async fn get_credential_tx(
    conn: &mut sqlx::SqliteConnection,
    name: &str,
) -> Result<Option<CredentialRecord>> {
    let Some(row) =
        sqlx::query("SELECT name, description, generation, created_at, updated_at FROM credentials WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(None);
    };
    let versions = sqlx::query(
        "SELECT version, stage, registry, fingerprint, sealed, created_at, created_by
         FROM credential_versions WHERE credential = ? ORDER BY version",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(CredentialRecord {
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        generation: row.try_get("generation")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
        versions: versions.iter().map(row_to_version).collect::<Result<_>>()?,
    }))
}

/// Names of every credential that has a `current` version, with that version.
pub(crate) async fn current_versions_tx(
    conn: &mut sqlx::SqliteConnection,
) -> Result<std::collections::BTreeMap<String, u32>> {
    let rows = sqlx::query("SELECT credential, version FROM credential_versions WHERE stage = 'current'")
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("credential")?, r.try_get::<i64, _>("version")? as u32))).collect()
}

async fn insert_version(
    conn: &mut sqlx::SqliteConnection,
    credential: &str,
    version: u32,
    stage: Stage,
    new: &NewVersion,
    at: DateTime<Utc>,
    actor: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO credential_versions (credential, version, stage, registry, fingerprint, sealed, created_at, created_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(credential)
    .bind(version as i64)
    .bind(stage.as_str())
    .bind(&new.registry)
    .bind(&new.fingerprint)
    .bind(&new.sealed)
    .bind(fmt_time(at))
    .bind(actor)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn get_credential(&self, name: &str) -> Result<CredentialRecord> {
        let mut conn = self.reader().acquire().await?;
        get_credential_tx(&mut conn, name).await?.ok_or_else(|| StoreError::not_found(format!("credential {name:?}")))
    }

    pub async fn list_credentials(&self) -> Result<Vec<CredentialRecord>> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM credentials ORDER BY name").fetch_all(self.reader()).await?;
        let mut conn = self.reader().acquire().await?;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(c) = get_credential_tx(&mut conn, &name).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Creates a credential with version 1 (`current`). On an existing credential, the same
    /// secret (by fingerprint) only updates the description; a different secret is refused:
    /// new secrets are new versions.
    pub async fn put_credential(
        &self,
        name: &str,
        description: Option<String>,
        first: NewVersion,
        if_match: Option<&str>,
        actor: &str,
    ) -> Result<(CredentialRecord, bool)> {
        let mut tx = self.begin().await?;
        let at = now();
        let created = match get_credential_tx(&mut tx, name).await? {
            None => {
                if if_match.is_some_and(|v| v.trim() != "*") {
                    return Err(StoreError::PreconditionFailed {
                        what: format!("credential {name:?}"),
                        current: "none".into(),
                    });
                }
                sqlx::query("INSERT INTO credentials (name, description, generation, created_at, updated_at) VALUES (?, ?, 1, ?, ?)")
                    .bind(name)
                    .bind(&description)
                    .bind(fmt_time(at))
                    .bind(fmt_time(at))
                    .execute(&mut *tx)
                    .await?;
                insert_version(&mut tx, name, 1, Stage::Current, &first, at, actor).await?;
                true
            }
            Some(old) => {
                check_if_match(&format!("credential {name:?}"), if_match, &old.etag())?;
                let latest = old.versions.last().map(|v| v.fingerprint.as_str());
                if latest != Some(first.fingerprint.as_str()) {
                    return Err(StoreError::conflict(
                        "credential_exists",
                        format!(
                            "credential {name:?} exists with another secret; add it as a new version with POST /v1/credentials/{name}/versions"
                        ),
                    ));
                }
                if old.description != description {
                    sqlx::query("UPDATE credentials SET description = ?, generation = generation + 1, updated_at = ? WHERE name = ?")
                        .bind(&description)
                        .bind(fmt_time(at))
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                }
                false
            }
        };
        let rec = get_credential_tx(&mut tx, name).await?.expect("written in this transaction");
        tx.commit().await?;
        Ok((rec, created))
    }

    /// Adds version N+1 with stage `pending` (see the module doc). `seal` receives the new
    /// version number so the secret is sealed under that version's context.
    /// Changes a credential's description only (its versions are untouched).
    pub async fn set_credential_description(
        &self,
        name: &str,
        description: Option<String>,
        if_match: Option<&str>,
    ) -> Result<CredentialRecord> {
        let mut tx = self.begin().await?;
        let old = get_credential_tx(&mut tx, name)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("credential {name:?}")))?;
        check_if_match(&format!("credential {name:?}"), if_match, &old.etag())?;
        if old.description != description {
            sqlx::query(
                "UPDATE credentials SET description = ?, generation = generation + 1, updated_at = ? WHERE name = ?",
            )
            .bind(&description)
            .bind(fmt_time(now()))
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        let rec = get_credential_tx(&mut tx, name).await?.expect("just read");
        tx.commit().await?;
        Ok(rec)
    }

    pub async fn add_credential_version(
        &self,
        name: &str,
        seal: impl FnOnce(u32) -> NewVersion,
        if_match: Option<&str>,
        actor: &str,
    ) -> Result<(CredentialRecord, u32)> {
        let mut tx = self.begin().await?;
        let old = get_credential_tx(&mut tx, name)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("credential {name:?}")))?;
        check_if_match(&format!("credential {name:?}"), if_match, &old.etag())?;
        let version = old.versions.last().map_or(1, |v| v.version + 1);
        let at = now();
        sqlx::query("UPDATE credential_versions SET stage = NULL WHERE credential = ? AND stage = 'pending'")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        insert_version(&mut tx, name, version, Stage::Pending, &seal(version), at, actor).await?;
        sqlx::query("UPDATE credentials SET generation = generation + 1, updated_at = ? WHERE name = ?")
            .bind(fmt_time(at))
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let rec = get_credential_tx(&mut tx, name).await?.expect("written in this transaction");
        tx.commit().await?;
        Ok((rec, version))
    }

    /// The sealed secret of one version, for rendering the Secret that carries it.
    pub async fn credential_version(&self, name: &str, version: u32) -> Result<VersionRecord> {
        let row = sqlx::query(
            "SELECT version, stage, registry, fingerprint, sealed, created_at, created_by
             FROM credential_versions WHERE credential = ? AND version = ?",
        )
        .bind(name)
        .bind(version as i64)
        .fetch_optional(self.reader())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("credential {name:?} version {version}")))?;
        row_to_version(&row)
    }
}

impl Store {
    /// What still holds a credential version: runtimes bound to it (`namespace/name`) and
    /// namespaces whose materialized Secret fluidform has not pruned (`cluster/namespace`).
    pub async fn version_holders(&self, credential: &str, version: u32) -> Result<(Vec<String>, Vec<String>)> {
        let runtimes: Vec<String> = sqlx::query_scalar(
            "SELECT r.namespace || '/' || r.name FROM runtime_bindings b JOIN runtimes r ON r.id = b.runtime_id
             WHERE b.credential = ? AND b.version = ? ORDER BY 1",
        )
        .bind(credential)
        .bind(version as i64)
        .fetch_all(self.reader())
        .await?;
        let secret = crate::domain::layers::managed_secret_name(credential, version);
        let secrets: Vec<String> = sqlx::query_scalar(
            "SELECT cluster || '/' || namespace FROM applied_objects WHERE kind = 'Secret' AND name = ? ORDER BY 1",
        )
        .bind(&secret)
        .fetch_all(self.reader())
        .await?;
        Ok((runtimes, secrets))
    }
}
