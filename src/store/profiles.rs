//! ThinRuntimeProfiles: cluster-scoped, stored per cluster. Writing one moves the
//! dependency revision of every ThinRuntime on that cluster that names it (and rebinds
//! them: the profile's layers may name credentials); one still named cannot be deleted.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::clusters::get_cluster_tx;
use super::credentials::current_versions_tx;
use super::runtimes::{RevisionChanges, bump_deps_tx, insert_revision, sync_bindings};
use super::{Result, Store, StoreError, check_if_match, etag, fmt_time, now, parse_json, parse_time};
use crate::domain::code::ErrorCode;
use crate::domain::layers::LayerInputs;
use crate::domain::runtime::RuntimeKind;
use crate::domain::thin::ThinRuntimeProfile;

#[derive(Debug, Clone)]
pub struct ProfileRecord {
    pub cluster: String,
    pub name: String,
    pub manifest: serde_json::Value,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProfileRecord {
    pub fn etag(&self) -> String {
        etag(self.generation)
    }
    pub fn profile(&self) -> Result<ThinRuntimeProfile> {
        serde_json::from_value(self.manifest.clone())
            .map_err(|e| StoreError::Corrupt(format!("thinruntimeprofile {}/{}: {e}", self.cluster, self.name)))
    }
}

fn row_to_profile(r: &sqlx::any::AnyRow) -> Result<ProfileRecord> {
    Ok(ProfileRecord {
        cluster: r.try_get("cluster")?,
        name: r.try_get("name")?,
        manifest: parse_json(&r.try_get::<String, _>("manifest")?)?,
        generation: r.try_get("generation")?,
        created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&r.try_get::<String, _>("updated_at")?)?,
    })
}

pub(crate) async fn get_profile_tx(
    conn: &mut AnyConnection,
    cluster: &str,
    name: &str,
) -> Result<Option<ProfileRecord>> {
    let row = sqlx::query("SELECT * FROM thin_runtime_profiles WHERE cluster = $1 AND name = $2")
        .bind(cluster)
        .bind(name)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(row_to_profile).transpose()
}

/// ThinRuntimes of a cluster that name the profile: id, namespace, name.
async fn users_tx(conn: &mut AnyConnection, cluster: &str, name: &str) -> Result<Vec<(i64, String, String)>> {
    let rows = sqlx::query(
        "SELECT id, namespace, name FROM runtimes WHERE cluster = $1 AND kind = 'ThinRuntime'
            AND json_extract(manifest, '$.spec.profileName') = $2 ORDER BY namespace, name",
    )
    .bind(cluster)
    .bind(name)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("namespace")?, r.try_get("name")?))).collect()
}

impl Store {
    /// Creates or replaces a profile of a cluster; returns it and whether it was created.
    pub async fn put_profile(
        &self,
        cluster: &str,
        name: &str,
        profile: &ThinRuntimeProfile,
        if_match: Option<&str>,
        actor: &str,
    ) -> Result<(ProfileRecord, bool)> {
        let manifest = serde_json::to_value(profile).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.begin().await?;
        let Some(cluster_rec) = get_cluster_tx(&mut tx, cluster).await? else {
            return Err(StoreError::not_found(format!("cluster {cluster:?}")));
        };
        let what = format!("thinruntimeprofile {name:?} of cluster {cluster:?}");
        let at = now();
        let existing = get_profile_tx(&mut tx, cluster, name).await?;
        let (generation, created_at, created) = match &existing {
            None => {
                if if_match.is_some_and(|v| v.trim() != "*") {
                    return Err(StoreError::PreconditionFailed { what, current: "none".into() });
                }
                (1, at, true)
            }
            Some(old) => {
                check_if_match(&what, if_match, &old.etag())?;
                if old.manifest == manifest {
                    return Ok((old.clone(), false));
                }
                (old.generation + 1, old.created_at, false)
            }
        };
        sqlx::query(
            "INSERT INTO thin_runtime_profiles (cluster, name, manifest, generation, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (cluster, name) DO UPDATE SET manifest = excluded.manifest,
               generation = excluded.generation, updated_at = excluded.updated_at",
        )
        .bind(cluster)
        .bind(name)
        .bind(manifest.to_string())
        .bind(generation)
        .bind(fmt_time(created_at))
        .bind(fmt_time(at))
        .execute(&mut *tx)
        .await?;
        let users = users_tx(&mut tx, cluster, name).await?;
        bump_deps_tx(&mut tx, &users.iter().map(|u| u.0).collect::<Vec<_>>()).await?;
        let current = current_versions_tx(&mut tx).await?;
        let profile_layers = profile.layers();
        for (id, ns, rt_name) in &users {
            let Some(rec) = super::runtimes::get_runtime_tx(&mut tx, ns, rt_name).await? else { continue };
            let layers = rec.runtime()?.layers();
            let inputs = LayerInputs {
                kind: RuntimeKind::Thin,
                runtime: &layers,
                profile: Some(&profile_layers),
                cluster_default: &cluster_rec.default_image_pull_secrets,
            };
            let bindings = sync_bindings(&mut tx, *id, &inputs, &current).await?;
            let changes = RevisionChanges { layers: vec![], bindings };
            insert_revision(&mut tx, *id, at, actor, &format!("thinruntimeprofile {name:?} changed"), changes).await?;
        }
        tx.commit().await?;
        let rec = ProfileRecord {
            cluster: cluster.into(),
            name: name.into(),
            manifest,
            generation,
            created_at,
            updated_at: at,
        };
        Ok((rec, created))
    }

    pub async fn get_profile(&self, cluster: &str, name: &str) -> Result<ProfileRecord> {
        let mut conn = self.reader().acquire().await?;
        get_profile_tx(&mut conn, cluster, name)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("thinruntimeprofile {name:?} of cluster {cluster:?}")))
    }

    pub async fn list_profiles(&self, cluster: Option<&str>) -> Result<Vec<ProfileRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM thin_runtime_profiles WHERE ($1 IS NULL OR cluster = $2) ORDER BY cluster, name",
        )
        .bind(cluster)
        .bind(cluster)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(row_to_profile).collect()
    }

    /// Deletes a profile; refused (`profile_in_use`) while a ThinRuntime names it.
    pub async fn delete_profile(&self, cluster: &str, name: &str, if_match: Option<&str>) -> Result<ProfileRecord> {
        let mut tx = self.begin().await?;
        let what = format!("thinruntimeprofile {name:?} of cluster {cluster:?}");
        let old = get_profile_tx(&mut tx, cluster, name).await?.ok_or_else(|| StoreError::not_found(what.clone()))?;
        check_if_match(&what, if_match, &old.etag())?;
        let users = users_tx(&mut tx, cluster, name).await?;
        if let Some((_, ns, n)) = users.first() {
            return Err(StoreError::conflict(
                ErrorCode::ProfileInUse,
                format!(
                    "{what} is named by ThinRuntime {ns}/{n} ({} in all); change or delete them first",
                    users.len()
                ),
            ));
        }
        sqlx::query("DELETE FROM thin_runtime_profiles WHERE cluster = $1 AND name = $2")
            .bind(cluster)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(old)
    }
}
