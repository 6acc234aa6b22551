//! `/v1/clusters`: target clusters (admin writes, everyone reads). Credentials are
//! write-only: responses say which kind is set, never its value.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::auth::Caller;
use super::error::{ApiError, Problem, parse_json};
use super::{AppState, ListResponse, if_match};
use crate::domain::fluid::{ClusterMode, Detection, Mode};
use crate::service::clusters::{
    ClusterRequest, patch_cluster as patch_cluster_service, put_cluster as put_cluster_service,
};
use crate::store::clusters::{ClusterAuthKind, ClusterRecord};
use crate::store::tokens::Role;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterResponse {
    pub name: String,
    pub server: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_data: Option<String>,
    pub insecure_skip_tls_verify: bool,
    /// Which kind of credential is stored (its value is never returned).
    pub credential_kind: ClusterAuthKind,
    pub default_image_pull_secrets: Vec<String>,
    /// Objects a run sends at once to this cluster (absent: the daemon's default, 16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_concurrency: Option<u32>,
    /// Host ports the allocator gives runtimes on the host network (`<first>-<last>`).
    pub port_range: String,
    /// How the cluster runs runtimes, as registered.
    pub mode: ClusterMode,
    /// How it runs them now: `mode`, or for `auto` what the last probe found; absent while
    /// an `auto` cluster was never probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_mode: Option<Mode>,
    /// What the last probe or refreshing plan found of Fluid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<Detection>,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ClusterRecord> for ClusterResponse {
    fn from(c: ClusterRecord) -> Self {
        Self {
            effective_mode: c.effective_mode(),
            apply_concurrency: c.apply_concurrency,
            port_range: c.port_range.unwrap_or_default().to_string(),
            mode: c.mode,
            detected: c.detected,
            name: c.name,
            server: c.server,
            ca_data: c.ca_data,
            insecure_skip_tls_verify: c.insecure_skip_tls_verify,
            credential_kind: c.auth_kind,
            default_image_pull_secrets: c.default_image_pull_secrets,
            generation: c.generation,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

fn cluster_reply(status: StatusCode, rec: ClusterRecord) -> HttpResponse {
    let etag = rec.etag();
    HttpResponse::build(status).insert_header(("ETag", etag)).json(ClusterResponse::from(rec))
}

#[utoipa::path(
    operation_id = "put_cluster", tag = "clusters", security(("bearer" = [])),
    params(
        ("cluster" = String, Path, description = "Cluster name (DNS-1123 subdomain)"),
        ("If-Match" = Option<String>, Header, description = "ETag the cluster must still have"),
    ),
    request_body(content = super::cluster_schema::ClusterPut, content_type = "application/json",
        description = "The whole cluster: fields not given return to their defaults, and the credential must be given (PATCH changes single fields)"),
    responses(
        (status = 200, description = "Replaced", body = ClusterResponse, headers(("ETag" = String))),
        (status = 201, description = "Created", body = ClusterResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/clusters/{cluster}")]
pub async fn put_cluster(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let input: ClusterRequest = parse_json(&req, &body)?;
    let (rec, created) =
        put_cluster_service(&state.store, &state.key, &path, input, if_match(&req).as_deref(), &caller.name).await?;
    Ok(cluster_reply(if created { StatusCode::CREATED } else { StatusCode::OK }, rec))
}

#[utoipa::path(
    operation_id = "patch_cluster", tag = "clusters", security(("bearer" = [])),
    params(
        ("cluster" = String, Path, description = "Cluster name"),
        ("If-Match" = Option<String>, Header, description = "ETag the cluster must still have"),
    ),
    request_body(content = super::cluster_schema::ClusterPatch, content_type = "application/merge-patch+json",
        description = "A JSON merge patch: the fields given change (null removes), the rest stay; the stored credential stays unless given, and must be given to change the server or the CA"),
    responses(
        (status = 200, description = "Changed (or unchanged)", body = ClusterResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/clusters/{cluster}")]
pub async fn patch_cluster(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let ct = req.headers().get(actix_web::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.is_empty() && !ct.starts_with("application/merge-patch+json") && !ct.starts_with("application/json") {
        return Err(ApiError::new(
            super::error::ErrorCode::UnsupportedMediaType,
            format!("send application/merge-patch+json, not {ct}"),
        ));
    }
    let mut patch: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::new(super::error::ErrorCode::MalformedBody, "not valid JSON"))?;
    super::whole_floats_as_integers(&mut patch);
    let (rec, _) =
        patch_cluster_service(&state.store, &state.key, &path, &patch, if_match(&req).as_deref(), &caller.name).await?;
    Ok(cluster_reply(StatusCode::OK, rec))
}

#[utoipa::path(
    operation_id = "get_cluster", tag = "clusters", security(("bearer" = [])),
    params(("cluster" = String, Path, description = "Cluster name")),
    responses(
        (status = 200, description = "The cluster", body = ClusterResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/clusters/{cluster}")]
pub async fn get_cluster(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(cluster_reply(StatusCode::OK, state.store.get_cluster(&path).await?))
}

#[utoipa::path(
    operation_id = "list_clusters", tag = "clusters", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every cluster", body = ListResponse<ClusterResponse>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/clusters")]
pub async fn list_clusters(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let items = state.store.list_clusters().await?.into_iter().map(ClusterResponse::from).collect();
    Ok(HttpResponse::Ok().json(ListResponse { items, next: None }))
}

#[utoipa::path(
    operation_id = "delete_cluster", tag = "clusters", security(("bearer" = [])),
    params(
        ("cluster" = String, Path, description = "Cluster name"),
        ("If-Match" = Option<String>, Header, description = "ETag the cluster must still have"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/clusters/{cluster}")]
pub async fn delete_cluster(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    state.store.delete_cluster(&path, if_match(&req).as_deref()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionCheck {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub allowed: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResponse {
    pub cluster: String,
    /// The API server's version (`gitVersion`).
    pub version: String,
    /// True when every permission fluidform needs is granted.
    pub can_manage: bool,
    pub permissions: Vec<PermissionCheck>,
    /// What was found of Fluid: its resources, the runtime kinds they serve, its controllers.
    pub fluid: Detection,
    /// How the cluster runs runtimes now (its `mode`, or for `auto` what was just found).
    pub effective_mode: Mode,
}

#[utoipa::path(
    operation_id = "probe_cluster", tag = "clusters", security(("bearer" = [])),
    params(("cluster" = String, Path, description = "Cluster name")),
    responses(
        (status = 200, description = "Reachable: version, permissions (SelfSubjectAccessReview), and what was found of Fluid (recorded on the cluster)", body = ProbeResponse),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "TLS, authentication or network failure", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/clusters/{cluster}/probe")]
pub async fn probe_cluster(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let probe = crate::engine::probe::probe(&state.ctx, &path).await?;
    Ok(HttpResponse::Ok().json(ProbeResponse {
        cluster: path.into_inner(),
        version: probe.version,
        can_manage: probe.permissions.iter().all(|p| p.3),
        permissions: probe
            .permissions
            .into_iter()
            .map(|(verb, group, resource, allowed)| PermissionCheck { verb, group, resource, allowed })
            .collect(),
        fluid: probe.detection,
        effective_mode: probe.mode,
    }))
}
