//! Registry credentials and their immutable numbered versions with stage labels.
//!
//! Stage labels: the first version of a credential is `current`. Every later version is
//! created `pending`; a newer version takes the `pending` label from an older one that was
//! never promoted (that one is left unlabelled). A rotation that completes moves `pending` →
//! `current` and the old `current` → `previous`. At most one version carries each label.
//!
//! Verification: each version keeps its last proof against its registry (`Verification`).
//! A version older than the `current` one whose proof comes out `invalid` is marked
//! revoked (time, actor): the registry no longer takes it. A later `valid` proof clears the
//! mark (it is live again).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Result, Store, StoreError, check_if_match, etag, fmt_time, now, parse_json, parse_time};
use crate::domain::code::ErrorCode;
use crate::domain::scope::Scope;
use crate::registry::{Outcome, Verification};

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
    /// Where it may be used (`domain::scope`).
    pub scope: Scope,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub versions: Vec<VersionRecord>,
    pub tls: CredentialTls,
}

/// How the credential's registries are trusted (PEM CA bundle, or no verification at all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialTls {
    pub registry_ca_data: Option<String>,
    pub insecure_skip_tls_verify: bool,
}

/// When a superseded version was confirmed revoked at its registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub at: DateTime<Utc>,
    pub by: String,
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
    pub verification: Option<Verification>,
    pub revoked: Option<Revocation>,
}

impl VersionRecord {
    /// Whether the registry took it at its last proof (`None`: never proven, or unreachable).
    pub fn live(&self) -> Option<bool> {
        match self.verification.as_ref().map(|v| v.outcome) {
            Some(Outcome::Valid) => Some(true),
            Some(Outcome::Invalid) => Some(false),
            _ => None,
        }
    }
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

/// `SELECT <every version column> FROM credential_versions <rest>`, as one literal.
macro_rules! select_versions {
    ($rest:literal) => {
        concat!(
            "SELECT version, stage, registry, fingerprint, sealed, created_at, created_by, verification, revoked_at, revoked_by FROM credential_versions ",
            $rest
        )
    };
}

fn row_to_version(row: &sqlx::any::AnyRow) -> Result<VersionRecord> {
    let stage: Option<String> = row.try_get("stage")?;
    let verification: Option<String> = row.try_get("verification")?;
    let revoked_at: Option<String> = row.try_get("revoked_at")?;
    Ok(VersionRecord {
        verification: verification
            .map(|v| serde_json::from_str(&v).map_err(|e| StoreError::Corrupt(format!("verification: {e}"))))
            .transpose()?,
        revoked: match revoked_at {
            Some(at) => Some(Revocation {
                at: parse_time(&at)?,
                by: row.try_get::<Option<String>, _>("revoked_by")?.unwrap_or_default(),
            }),
            None => None,
        },
        version: row.try_get::<i64, _>("version")? as u32,
        stage: stage.as_deref().map(Stage::parse).transpose()?,
        registry: row.try_get("registry")?,
        fingerprint: row.try_get("fingerprint")?,
        sealed: row.try_get("sealed")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        created_by: row.try_get("created_by")?,
    })
}

/// Writes description and scope when they changed; a narrower scope must still hold every
/// runtime bound to the credential.
async fn set_metadata_tx(
    conn: &mut sqlx::AnyConnection,
    old: &CredentialRecord,
    description: Option<String>,
    scope: &Scope,
    tls: &CredentialTls,
) -> Result<()> {
    if old.description == description && &old.scope == scope && &old.tls == tls {
        return Ok(());
    }
    if &old.scope != scope {
        check_bound_within(&mut *conn, &old.name, scope).await?;
    }
    sqlx::query(
        "UPDATE credentials SET description = $1, allowed_namespaces = $2, allowed_clusters = $3,
           generation = generation + 1, updated_at = $4 WHERE name = $5",
    )
    .bind(&description)
    .bind(scope_json(&scope.namespaces))
    .bind(scope_json(&scope.clusters))
    .bind(fmt_time(now()))
    .bind(&old.name)
    .execute(&mut *conn)
    .await?;
    set_tls_tx(conn, &old.name, tls).await
}

pub(crate) async fn get_credential_tx(conn: &mut sqlx::AnyConnection, name: &str) -> Result<Option<CredentialRecord>> {
    let Some(row) = sqlx::query(
        "SELECT name, description, allowed_namespaces, allowed_clusters, generation, created_at, updated_at,
                registry_ca_data, insecure_skip_tls_verify
           FROM credentials WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let versions = sqlx::query(select_versions!("WHERE credential = $1 ORDER BY version"))
        .bind(name)
        .fetch_all(&mut *conn)
        .await?;
    Ok(Some(CredentialRecord {
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        scope: scope_of(&row)?,
        generation: row.try_get("generation")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
        versions: versions.iter().map(row_to_version).collect::<Result<_>>()?,
        tls: CredentialTls {
            registry_ca_data: row.try_get("registry_ca_data")?,
            insecure_skip_tls_verify: row.try_get::<i64, _>("insecure_skip_tls_verify")? != 0,
        },
    }))
}

fn scope_of(row: &sqlx::any::AnyRow) -> Result<Scope> {
    let list = |col: &str| -> Result<Option<Vec<String>>> {
        row.try_get::<Option<String>, _>(col)?.as_deref().map(parse_json).transpose()
    };
    Ok(Scope { namespaces: list("allowed_namespaces")?, clusters: list("allowed_clusters")? })
}

fn scope_json(list: &Option<Vec<String>>) -> Option<String> {
    list.as_ref().map(|l| serde_json::to_string(l).expect("strings serialize"))
}

/// The scopes of the credentials among `names` that have one (others are unscoped or are
/// not credentials).
pub(crate) async fn scopes_tx(
    conn: &mut sqlx::AnyConnection,
    names: &[&String],
) -> Result<std::collections::BTreeMap<String, Scope>> {
    let mut out = std::collections::BTreeMap::new();
    for name in names {
        let row = sqlx::query(
            "SELECT allowed_namespaces, allowed_clusters FROM credentials
              WHERE name = $1 AND (allowed_namespaces IS NOT NULL OR allowed_clusters IS NOT NULL)",
        )
        .bind(name.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = row {
            out.insert(name.to_string(), scope_of(&r)?);
        }
    }
    Ok(out)
}

/// Refuses a scope that leaves out a runtime already bound to the credential.
async fn check_bound_within(conn: &mut sqlx::AnyConnection, name: &str, scope: &Scope) -> Result<()> {
    let rows = sqlx::query(
        "SELECT r.namespace, r.name, r.cluster FROM runtime_bindings b JOIN runtimes r ON r.id = b.runtime_id
          WHERE b.credential = $1 ORDER BY r.namespace, r.name",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let (ns, rt, cluster): (String, String, String) =
            (r.try_get("namespace")?, r.try_get("name")?, r.try_get("cluster")?);
        if let Err(denied) = scope.allows(&ns, &cluster) {
            return Err(StoreError::conflict(
                ErrorCode::ScopeExcludesBindings,
                format!(
                    "runtime {ns}/{rt} on cluster {cluster:?} is bound to credential {name:?}, and the new scope leaves out its {denied}; change the runtime first"
                ),
            ));
        }
    }
    Ok(())
}

/// Names of every credential that has a `current` version, with that version.
pub(crate) async fn current_versions_tx(
    conn: &mut sqlx::AnyConnection,
) -> Result<std::collections::BTreeMap<String, u32>> {
    let rows = sqlx::query("SELECT credential, version FROM credential_versions WHERE stage = 'current'")
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("credential")?, r.try_get::<i64, _>("version")? as u32))).collect()
}

async fn set_tls_tx(conn: &mut sqlx::AnyConnection, name: &str, tls: &CredentialTls) -> Result<()> {
    sqlx::query("UPDATE credentials SET registry_ca_data = $1, insecure_skip_tls_verify = $2 WHERE name = $3")
        .bind(&tls.registry_ca_data)
        .bind(tls.insecure_skip_tls_verify as i64)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

async fn insert_version(
    conn: &mut sqlx::AnyConnection,
    credential: &str,
    version: u32,
    stage: Stage,
    new: &NewVersion,
    at: DateTime<Utc>,
    actor: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO credential_versions (credential, version, stage, registry, fingerprint, sealed, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
    #[allow(clippy::too_many_arguments)]
    pub async fn put_credential(
        &self,
        name: &str,
        description: Option<String>,
        scope: &Scope,
        tls: &CredentialTls,
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
                sqlx::query("INSERT INTO credentials (name, description, allowed_namespaces, allowed_clusters, generation, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $6)")
                    .bind(name)
                    .bind(&description)
                    .bind(scope_json(&scope.namespaces))
                    .bind(scope_json(&scope.clusters))
                    .bind(fmt_time(at))
                    .bind(fmt_time(at))
                    .execute(&mut *tx)
                    .await?;
                set_tls_tx(&mut tx, name, tls).await?;
                insert_version(&mut tx, name, 1, Stage::Current, &first, at, actor).await?;
                true
            }
            Some(old) => {
                check_if_match(&format!("credential {name:?}"), if_match, &old.etag())?;
                let latest = old.versions.last().map(|v| v.fingerprint.as_str());
                if latest != Some(first.fingerprint.as_str()) {
                    return Err(StoreError::conflict(
                        ErrorCode::CredentialExists,
                        format!(
                            "credential {name:?} exists with another secret; add it as a new version with POST /v1/credentials/{name}/versions"
                        ),
                    ));
                }
                set_metadata_tx(&mut tx, &old, description, scope, tls).await?;
                false
            }
        };
        let rec = get_credential_tx(&mut tx, name).await?.expect("written in this transaction");
        tx.commit().await?;
        Ok((rec, created))
    }

    /// Changes a credential's metadata: description, scope and how its registries are
    /// trusted (its versions are untouched).
    pub async fn set_credential_metadata(
        &self,
        name: &str,
        description: Option<String>,
        scope: &Scope,
        tls: &CredentialTls,
        if_match: Option<&str>,
    ) -> Result<CredentialRecord> {
        let mut tx = self.begin().await?;
        let old = get_credential_tx(&mut tx, name)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("credential {name:?}")))?;
        check_if_match(&format!("credential {name:?}"), if_match, &old.etag())?;
        set_metadata_tx(&mut tx, &old, description, scope, tls).await?;
        let rec = get_credential_tx(&mut tx, name).await?.expect("just read");
        tx.commit().await?;
        Ok(rec)
    }

    /// Adds version N+1 with stage `pending` (see the module doc). `seal` receives the new
    /// version number so the secret is sealed under that version's context.
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
        sqlx::query("UPDATE credential_versions SET stage = NULL WHERE credential = $1 AND stage = 'pending'")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        insert_version(&mut tx, name, version, Stage::Pending, &seal(version), at, actor).await?;
        sqlx::query("UPDATE credentials SET generation = generation + 1, updated_at = $1 WHERE name = $2")
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
        let row = sqlx::query(select_versions!("WHERE credential = $1 AND version = $2"))
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
             WHERE b.credential = $1 AND b.version = $2 ORDER BY 1",
        )
        .bind(credential)
        .bind(version as i64)
        .fetch_all(self.reader())
        .await?;
        let secret = crate::domain::layers::managed_secret_name(credential, version);
        let secrets: Vec<String> = sqlx::query_scalar(
            "SELECT cluster || '/' || namespace FROM applied_objects WHERE kind = 'Secret' AND name = $1 ORDER BY 1",
        )
        .bind(&secret)
        .fetch_all(self.reader())
        .await?;
        Ok((runtimes, secrets))
    }
}

impl Store {
    /// Records a version's proof; a superseded version (older than `current`) that comes out
    /// `invalid` is marked revoked by `v.actor` unless it was already, and a `valid` proof
    /// clears the mark. Returns the version as stored and whether it was marked revoked now.
    pub async fn record_verification(
        &self,
        name: &str,
        version: u32,
        v: &Verification,
    ) -> Result<(VersionRecord, bool)> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(select_versions!("WHERE credential = $1 AND version = $2"))
            .bind(name)
            .bind(version as i64)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("credential {name:?} version {version}")))?;
        let old = row_to_version(&row)?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM credential_versions WHERE credential = $1 AND stage = 'current'")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let superseded = current.is_some_and(|c| (version as i64) < c);
        let json = serde_json::to_string(v).expect("verification serializes");
        let revoke = superseded && v.outcome == Outcome::Invalid && old.revoked.is_none();
        let clear = v.outcome == Outcome::Valid && old.revoked.is_some();
        sqlx::query("UPDATE credential_versions SET verification = $1 WHERE credential = $2 AND version = $3")
            .bind(&json)
            .bind(name)
            .bind(version as i64)
            .execute(&mut *tx)
            .await?;
        if revoke || clear {
            let (at, by) = if revoke { (Some(fmt_time(v.at)), Some(v.actor.clone())) } else { (None, None) };
            sqlx::query(
                "UPDATE credential_versions SET revoked_at = $1, revoked_by = $2 WHERE credential = $3 AND version = $4",
            )
            .bind(at)
            .bind(by)
            .bind(name)
            .bind(version as i64)
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(select_versions!("WHERE credential = $1 AND version = $2"))
            .bind(name)
            .bind(version as i64)
            .fetch_one(&mut *tx)
            .await?;
        let rec = row_to_version(&row)?;
        tx.commit().await?;
        Ok((rec, revoke))
    }
}
