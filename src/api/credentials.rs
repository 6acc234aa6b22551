//! `/v1/credentials`: registry credentials and their versions (admin writes). Responses
//! carry stage labels and fingerprints, never the secret.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::auth::Caller;
use super::error::{ApiError, Problem, parse_json};
use super::idempotency::{Reply, idempotent};
use super::{AppState, ListResponse, if_match};
use crate::domain::layers::managed_secret_name;
use crate::registry::Verification;
use crate::service::credentials::{
    CredentialRequest, VersionRequest, add_version, check_tls, put_credential as put_credential_service,
};
use crate::store::credentials::{CredentialRecord, Stage, VersionRecord};
use crate::store::tokens::Role;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionResponse {
    pub version: u32,
    /// Stage labels on this version (`current`, `pending`, `previous`); empty when none.
    pub stages: Vec<Stage>,
    /// The Secret this version is materialized as in a target namespace.
    pub secret_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Keyed fingerprint of the secret: equal secrets, equal fingerprints.
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// True when no runtime is bound to this version and its Secret was pruned from every
    /// namespace (fluidform prunes it only once no live workload or pod pulls with it).
    pub safe_to_revoke: bool,
    /// Runtimes bound to it (`namespace/name`).
    pub bound_runtimes: Vec<String>,
    /// Where its Secret still exists (`cluster/namespace`).
    pub materialized_in: Vec<String>,
    /// Its last proof against its registries (`POST …/versions/{version}/verify`, or a
    /// rotation's); absent when never proven.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Whether its registries took it at its last proof: true (`valid`), false
    /// (`invalid`); absent when never proven or `unreachable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<bool>,
    /// When a proof confirmed it revoked at its registry (it was superseded and came out
    /// `invalid`), and who asked for that proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialResponse {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Namespaces it may be used in (names or `*` globs); absent: everywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<Vec<String>>,
    /// Clusters it may be used on; absent: everywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_clusters: Option<Vec<String>>,
    pub generation: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_version: Option<u32>,
    pub versions: Vec<VersionResponse>,
    /// Versions whose last proof found them live at their registries.
    pub live_versions: Vec<u32>,
    /// PEM CA bundle trusted (beside the system's roots) when verifying at the registries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_ca_data: Option<String>,
    /// Verification accepts any TLS certificate of the registries.
    pub insecure_skip_tls_verify: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn version_response(name: &str, v: &VersionRecord, holders: (Vec<String>, Vec<String>)) -> VersionResponse {
    VersionResponse {
        safe_to_revoke: holders.0.is_empty() && holders.1.is_empty(),
        bound_runtimes: holders.0,
        materialized_in: holders.1,
        version: v.version,
        stages: v.stage.into_iter().collect(),
        secret_name: managed_secret_name(name, v.version),
        registry: v.registry.clone(),
        fingerprint: v.fingerprint.clone(),
        created_at: v.created_at,
        created_by: v.created_by.clone(),
        live: v.live(),
        verification: v.verification.clone(),
        revoked_at: v.revoked.as_ref().map(|r| r.at),
        revoked_by: v.revoked.as_ref().map(|r| r.by.clone()),
    }
}

async fn versions(state: &AppState, c: &CredentialRecord) -> Result<Vec<VersionResponse>, ApiError> {
    let mut out = Vec::with_capacity(c.versions.len());
    for v in &c.versions {
        let holders = state.store.version_holders(&c.name, v.version).await?;
        out.push(version_response(&c.name, v, holders));
    }
    Ok(out)
}

impl CredentialResponse {
    fn new(c: &CredentialRecord, versions: Vec<VersionResponse>) -> Self {
        Self {
            name: c.name.clone(),
            description: c.description.clone(),
            allowed_namespaces: c.scope.namespaces.clone(),
            allowed_clusters: c.scope.clusters.clone(),
            generation: c.generation,
            current_version: c.version_with(Stage::Current).map(|v| v.version),
            pending_version: c.version_with(Stage::Pending).map(|v| v.version),
            live_versions: c.versions.iter().filter(|v| v.live() == Some(true)).map(|v| v.version).collect(),
            registry_ca_data: c.tls.registry_ca_data.clone(),
            insecure_skip_tls_verify: c.tls.insecure_skip_tls_verify,
            versions,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[utoipa::path(
    operation_id = "put_credential", tag = "credentials", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Credential name"),
        ("If-Match" = Option<String>, Header, description = "ETag the credential must still have"),
    ),
    request_body(content = CredentialRequest, content_type = "application/json",
        description = "registry + username + password, or dockerconfigjson; becomes version 1 (current)"),
    responses(
        (status = 200, description = "Unchanged secret; description updated", body = CredentialResponse, headers(("ETag" = String))),
        (status = 201, description = "Created with version 1", body = CredentialResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/credentials/{name}")]
pub async fn put_credential(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let input: CredentialRequest = parse_json(&req, &body)?;
    let (rec, created) =
        put_credential_service(&state.store, &state.key, &path, input, if_match(&req).as_deref(), &caller.name).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let versions = versions(&state, &rec).await?;
    Ok(HttpResponse::build(status).insert_header(("ETag", rec.etag())).json(CredentialResponse::new(&rec, versions)))
}

/// What a credential PATCH may change: its metadata (secrets are new versions).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialPatch {
    /// The new description; null removes it.
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Namespaces (names or `*` globs) it may be used in; null: everywhere.
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_namespaces: Option<Option<Vec<String>>>,
    /// Clusters (names or `*` globs) it may be used on; null: everywhere.
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_clusters: Option<Option<Vec<String>>>,
    /// PEM CA bundle trusted (beside the system's roots) when verifying; null removes it.
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<String>)]
    pub registry_ca_data: Option<Option<String>>,
    /// Accept any TLS certificate of the registries when verifying; null resets to false.
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<bool>)]
    pub insecure_skip_tls_verify: Option<Option<bool>>,
}

fn some_or_null<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(serde::Deserialize::deserialize(d)?))
}

#[utoipa::path(
    operation_id = "patch_credential", tag = "credentials", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Credential name"),
        ("If-Match" = Option<String>, Header, description = "ETag the credential must still have"),
    ),
    request_body(content = CredentialPatch, content_type = "application/merge-patch+json",
        description = "Metadata only (description); a new secret is a new version (POST …/versions)"),
    responses(
        (status = 200, description = "Changed (or unchanged)", body = CredentialResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/credentials/{name}")]
pub async fn patch_credential(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::field("", "a merge patch is a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let input: CredentialPatch = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        ApiError::field(
            if path == "." { String::new() } else { path },
            crate::service::strip_position(&e.into_inner().to_string()),
        )
    })?;
    let rec = patch_credential_service(&state.store, &path, input, if_match(&req).as_deref()).await?;
    let versions = versions(&state, &rec).await?;
    Ok(HttpResponse::Ok().insert_header(("ETag", rec.etag())).json(CredentialResponse::new(&rec, versions)))
}

/// Applies a credential merge patch: unnamed fields keep their value; the scope and the
/// TLS settings are checked as they will be stored, every bad field named at once. Without
/// `If-Match`, the credential as read here guards the write.
async fn patch_credential_service(
    store: &crate::store::Store,
    name: &str,
    p: CredentialPatch,
    if_match: Option<&str>,
) -> Result<CredentialRecord, ApiError> {
    let old = store.get_credential(name).await?;
    let description = p.description.unwrap_or(old.description.clone());
    let scope = crate::domain::scope::Scope {
        namespaces: p.allowed_namespaces.unwrap_or(old.scope.namespaces.clone()),
        clusters: p.allowed_clusters.unwrap_or(old.scope.clusters.clone()),
    };
    let mut errors = scope.validate();
    let ca = p.registry_ca_data.unwrap_or(old.tls.registry_ca_data.clone());
    let insecure = p.insecure_skip_tls_verify.map_or(old.tls.insecure_skip_tls_verify, |v| v.unwrap_or(false));
    let tls = match check_tls(ca, insecure) {
        Ok(t) => Some(t),
        Err(crate::service::ServiceError::Invalid(e)) => {
            errors.extend(e);
            None
        }
        Err(e) => return Err(e.into()),
    };
    let Some(tls) = tls.filter(|_| errors.is_empty()) else { return Err(ApiError::invalid(errors)) };
    let guard = if_match.map(str::to_string).unwrap_or_else(|| old.etag());
    Ok(store.set_credential_metadata(name, description, &scope, &tls, Some(&guard)).await?)
}

#[utoipa::path(
    operation_id = "get_credential", tag = "credentials", security(("bearer" = [])),
    params(("name" = String, Path, description = "Credential name")),
    responses(
        (status = 200, description = "The credential and its versions", body = CredentialResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/credentials/{name}")]
pub async fn get_credential(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let rec = state.store.get_credential(&path).await?;
    let versions = versions(&state, &rec).await?;
    Ok(HttpResponse::Ok().insert_header(("ETag", rec.etag())).json(CredentialResponse::new(&rec, versions)))
}

#[utoipa::path(
    operation_id = "list_credentials", tag = "credentials", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every credential", body = ListResponse<CredentialResponse>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/credentials")]
pub async fn list_credentials(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let mut items = Vec::new();
    for c in state.store.list_credentials().await? {
        let versions = versions(&state, &c).await?;
        items.push(CredentialResponse::new(&c, versions));
    }
    Ok(HttpResponse::Ok().json(ListResponse { items, next: None }))
}

#[utoipa::path(
    operation_id = "create_credential_version", tag = "credentials", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Credential name"),
        ("If-Match" = Option<String>, Header, description = "ETag the credential must still have"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first reply for a retried request"),
    ),
    request_body(content = VersionRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The new version, labelled pending", body = VersionResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/credentials/{name}/versions")]
pub async fn create_credential_version(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let input: VersionRequest = parse_json(&req, &body)?;
    idempotent(&state, &req, &caller, &body, || async {
        let (rec, version) =
            add_version(&state.store, &state.key, &path, input, if_match(&req).as_deref(), &caller.name).await?;
        let v = rec.versions.iter().find(|v| v.version == version).expect("version was just added");
        let holders = state.store.version_holders(&rec.name, version).await?;
        Ok(Reply::json(StatusCode::CREATED, &version_response(&rec.name, v, holders))
            .header("ETag", rec.etag())
            .header("Location", format!("/v1/credentials/{}/versions", rec.name)))
    })
    .await
}

#[utoipa::path(
    operation_id = "list_credential_versions", tag = "credentials", security(("bearer" = [])),
    params(("name" = String, Path, description = "Credential name")),
    responses(
        (status = 200, description = "Versions, oldest first", body = ListResponse<VersionResponse>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/credentials/{name}/versions")]
pub async fn list_credential_versions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let rec = state.store.get_credential(&path).await?;
    let items = versions(&state, &rec).await?;
    Ok(HttpResponse::Ok().insert_header(("ETag", rec.etag())).json(ListResponse { items, next: None }))
}

/// The answer of a verification: the version's outcome at its registries.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationResponse {
    pub credential: String,
    pub version: u32,
    #[serde(flatten)]
    pub verification: Verification,
    /// Whether this proof marked the version revoked (it was superseded and came out
    /// `invalid`).
    pub revoked_now: bool,
    /// The version, as listed after this proof.
    pub version_status: VersionResponse,
}

#[utoipa::path(
    operation_id = "verify_credential_version", tag = "credentials", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Credential name"),
        ("version" = u32, Path, description = "Version number"),
    ),
    responses(
        (status = 200, description = "Proven from the daemon against every registry of the version: valid, invalid (with the registry's status) or unreachable; recorded on the version (a superseded version that comes out invalid is marked revoked)", body = VerificationResponse),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/credentials/{name}/versions/{version}/verify")]
pub async fn verify_credential_version(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let (name, version) = path.into_inner();
    let version: u32 = version
        .parse()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| ApiError::field("version", format!("{version:?} is not a version number (1, 2, …)")))?;
    let proven = crate::engine::verify::verify_version(&state.ctx, &name, version, &caller.name).await?;
    let holders = state.store.version_holders(&name, version).await?;
    let verification = proven.version.verification.clone().expect("just recorded");
    Ok(HttpResponse::Ok().json(VerificationResponse {
        credential: name.clone(),
        version,
        verification,
        revoked_now: proven.revoked_now,
        version_status: version_response(&name, &proven.version, holders),
    }))
}
