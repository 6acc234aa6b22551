//! `/v1/runtimes`: desired runtimes (operators write), their resolution, rendered
//! workloads and layer history.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, ErrorCode, Problem};
use super::{AppState, ListResponse, if_match};
use crate::domain::layers::ComponentResolution;
use crate::domain::manifest::{AlluxioRuntime, ManifestFormat};
use crate::domain::selector::parse_selector;
use crate::engine::drift::{DriftedField, SyncPolicy, SyncState, sync_policy, sync_state};
use crate::service::runtimes::{PutRuntime, put_runtime as put_runtime_service, render_redacted, resolution};
use crate::store::runtimes::{BindingChange, LayerChange, RuntimeFilter, RuntimeRecord};
use crate::store::tokens::Role;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeResponse {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub generation: i64,
    pub labels: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The stored AlluxioRuntime manifest.
    #[schema(value_type = AlluxioRuntime)]
    pub manifest: serde_json::Value,
    /// Sync state against the target cluster (on single-runtime reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RuntimeStatus>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeStatus {
    pub sync: SyncState,
    /// From the annotation `fluidform.io/sync-policy` (`manual` unless `auto`).
    pub sync_policy: SyncPolicy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Managed fields that differ live from what was applied.
    pub drift: Vec<DriftedField>,
}

impl From<RuntimeRecord> for RuntimeResponse {
    fn from(r: RuntimeRecord) -> Self {
        Self {
            labels: r.labels(),
            namespace: r.namespace,
            name: r.name,
            cluster: r.cluster,
            generation: r.generation,
            created_at: r.created_at,
            updated_at: r.updated_at,
            manifest: r.manifest,
            status: None,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PutRuntimeQuery {
    /// Target cluster (registered with PUT /v1/clusters/{cluster}).
    pub cluster: Option<String>,
}

#[utoipa::path(
    operation_id = "put_runtime", tag = "runtimes", security(("bearer" = [])),
    params(
        ("namespace" = String, Path, description = "Namespace (DNS-1123 label)"),
        ("name" = String, Path, description = "Runtime name (DNS-1035 label)"),
        PutRuntimeQuery,
        ("If-Match" = Option<String>, Header, description = "ETag the runtime must still have"),
    ),
    request_body(content(
        (AlluxioRuntime = "application/json"),
        (AlluxioRuntime = "application/yaml"),
    ), description = "An AlluxioRuntime manifest as a Fluid user writes it"),
    responses(
        (status = 200, description = "Replaced (or unchanged)", body = RuntimeResponse, headers(("ETag" = String))),
        (status = 201, description = "Created", body = RuntimeResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/runtimes/{namespace}/{name}")]
pub async fn put_runtime(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<PutRuntimeQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let (namespace, name) = path.into_inner();
    let ct = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let format = if ct.starts_with("application/json") {
        ManifestFormat::Json
    } else if ["application/yaml", "application/x-yaml", "text/yaml", "application/vnd.kubernetes.yaml"]
        .iter()
        .any(|y| ct.starts_with(y))
    {
        ManifestFormat::Yaml
    } else {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("send application/json or application/yaml, not {ct}"),
        ));
    };
    let cluster = query.cluster.as_deref().filter(|c| !c.is_empty());
    let cluster = match cluster {
        Some(c) => c.to_string(),
        None => match state.store.get_runtime(&namespace, &name).await {
            Ok(existing) => existing.cluster,
            Err(crate::store::StoreError::NotFound { .. }) => {
                return Err(ApiError::field(
                    "cluster",
                    "required: add ?cluster=<registered cluster> to create a runtime",
                ));
            }
            Err(e) => return Err(e.into()),
        },
    };
    let if_match = if_match(&req);
    let put = PutRuntime {
        namespace: &namespace,
        name: &name,
        cluster: &cluster,
        body: &body,
        format,
        if_match: if_match.as_deref(),
        actor: &caller.name,
    };
    let (rec, created) = put_runtime_service(&state.store, put).await.map_err(|e| match e {
        crate::service::ServiceError::Store(crate::store::StoreError::NotFound { what })
            if what.starts_with("cluster") =>
        {
            ApiError {
                code: ErrorCode::UnknownCluster,
                detail: format!("{what} is not registered; PUT /v1/clusters/{cluster} first"),
                errors: vec![crate::domain::FieldError { field: "cluster".into(), message: "not registered".into() }],
            }
        }
        other => other.into(),
    })?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).insert_header(("ETag", rec.etag())).json(RuntimeResponse::from(rec)))
}

#[utoipa::path(
    operation_id = "get_runtime", tag = "runtimes", security(("bearer" = [])),
    params(("namespace" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "The runtime", body = RuntimeResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runtimes/{namespace}/{name}")]
pub async fn get_runtime(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let ctx = state.store.runtime_context(&path.0, &path.1).await?;
    let sync = state.store.get_sync(&path.0, &path.1).await?;
    let status = RuntimeStatus {
        sync: sync_state(&ctx.record, sync.as_ref()),
        sync_policy: sync_policy(&ctx),
        applied_generation: sync.as_ref().and_then(|s| s.applied_generation),
        last_run_id: sync.as_ref().and_then(|s| s.last_run_id.clone()),
        last_checked_at: sync.as_ref().and_then(|s| s.checked_at),
        drift: sync
            .map(|s| s.drift.into_iter().filter_map(|d| serde_json::from_value(d).ok()).collect())
            .unwrap_or_default(),
    };
    let etag = ctx.record.etag();
    let mut body = RuntimeResponse::from(ctx.record);
    body.status = Some(status);
    Ok(HttpResponse::Ok().insert_header(("ETag", etag)).json(body))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListRuntimesQuery {
    /// Only runtimes on this cluster.
    pub cluster: Option<String>,
    /// Only runtimes in this namespace.
    pub namespace: Option<String>,
    /// Kubernetes label selector over the manifest's metadata.labels, e.g. `team=a,tier in (gold)`.
    pub label_selector: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<usize>,
    /// `next` from the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    operation_id = "list_runtimes", tag = "runtimes", security(("bearer" = [])),
    params(ListRuntimesQuery),
    responses(
        (status = 200, description = "One page, ordered by namespace and name", body = ListResponse<RuntimeResponse>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runtimes")]
pub async fn list_runtimes(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListRuntimesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 1000"));
    }
    let selector = match &query.label_selector {
        Some(s) => Some(parse_selector(s).map_err(|m| ApiError::field("labelSelector", m))?),
        None => None,
    };
    let cursor = match &query.cursor {
        Some(c) => Some(decode_cursor(c).ok_or_else(|| ApiError::field("cursor", "not a cursor this API returned"))?),
        None => None,
    };
    let filter = RuntimeFilter { cluster: query.cluster.clone(), namespace: query.namespace.clone() };
    let (rows, next) = state
        .store
        .list_runtimes(&filter, cursor, limit, |r| selector.as_ref().is_none_or(|s| s.matches(&r.labels())))
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse {
        items: rows.into_iter().map(RuntimeResponse::from).collect(),
        next: next.map(|(ns, n)| B64.encode(format!("{ns}/{n}"))),
    }))
}

fn decode_cursor(c: &str) -> Option<(String, String)> {
    let text = String::from_utf8(B64.decode(c).ok()?).ok()?;
    let (ns, n) = text.split_once('/')?;
    Some((ns.to_string(), n.to_string()))
}

#[utoipa::path(
    operation_id = "delete_runtime", tag = "runtimes", security(("bearer" = [])),
    params(("namespace" = String, Path), ("name" = String, Path),
        ("If-Match" = Option<String>, Header, description = "ETag the runtime must still have")),
    responses(
        (status = 204, description = "Deleted from the desired state"),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/runtimes/{namespace}/{name}")]
pub async fn delete_runtime(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    state.store.delete_runtime(&path.0, &path.1, if_match(&req).as_deref()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LayersView {
    pub cluster: Vec<String>,
    pub global: Vec<String>,
    pub master: Vec<String>,
    pub worker: Vec<String>,
    pub fuse: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ComponentsView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<ComponentResolution>,
    pub worker: ComponentResolution,
    pub fuse: ComponentResolution,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedResponse {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub generation: i64,
    /// The latest layer revision (see layers/history).
    pub layer_revision: i64,
    /// Every layer as declared, lowest first.
    pub layers: LayersView,
    /// Managed credentials this runtime is bound to, with the bound version.
    pub bindings: BTreeMap<String, u32>,
    /// What each pod pulls with, and which layer won.
    pub components: ComponentsView,
}

#[utoipa::path(
    operation_id = "get_runtime_resolution", tag = "runtimes", security(("bearer" = [])),
    params(("namespace" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "Layers, winners, bindings and provenance", body = ResolvedResponse),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runtimes/{namespace}/{name}/resolved")]
pub async fn get_runtime_resolution(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let ctx = state.store.runtime_context(&path.0, &path.1).await?;
    let res = resolution(&ctx);
    let layers = ctx.runtime.layers();
    Ok(HttpResponse::Ok().insert_header(("ETag", ctx.record.etag())).json(ResolvedResponse {
        namespace: ctx.record.namespace.clone(),
        name: ctx.record.name.clone(),
        cluster: ctx.record.cluster.clone(),
        generation: ctx.record.generation,
        layer_revision: ctx.layer_revision,
        layers: LayersView {
            cluster: ctx.cluster_default.clone(),
            global: layers.global,
            master: layers.master,
            worker: layers.worker,
            fuse: layers.fuse,
        },
        bindings: ctx.bindings.clone(),
        components: ComponentsView { master: res.master, worker: res.worker, fuse: res.fuse },
    }))
}

#[utoipa::path(
    operation_id = "get_runtime_manifests", tag = "runtimes", security(("bearer" = [])),
    params(("namespace" = String, Path), ("name" = String, Path),
        ("Accept" = Option<String>, Header, description = "application/yaml for multi-document YAML")),
    responses(
        (status = 200, description = "Rendered objects (multi-document YAML with Accept: application/yaml); credential Secret data redacted",
            body = ListResponse<Object>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runtimes/{namespace}/{name}/manifests")]
pub async fn get_runtime_manifests(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let ctx = state.store.runtime_context(&path.0, &path.1).await?;
    let objects = render_redacted(&ctx);
    let items: Vec<serde_json::Value> = objects.into_iter().map(|o| o.object).collect();
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("yaml") {
        let mut out = String::new();
        for item in &items {
            out.push_str("---\n");
            out.push_str(&serde_saphyr::to_string(item).map_err(ApiError::internal)?);
        }
        return Ok(HttpResponse::Ok().content_type("application/yaml").body(out));
    }
    Ok(HttpResponse::Ok().json(ListResponse { items, next: None }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionResponse {
    pub revision: i64,
    pub at: DateTime<Utc>,
    /// Token name of whoever made the change.
    pub actor: String,
    pub reason: String,
    /// Layers that changed, old and new lists.
    pub layers: Vec<LayerChange>,
    /// Bindings that moved.
    pub bindings: Vec<BindingChange>,
}

#[utoipa::path(
    operation_id = "list_runtime_layer_history", tag = "runtimes", security(("bearer" = [])),
    params(("namespace" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "Layer revisions, oldest first", body = ListResponse<RevisionResponse>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runtimes/{namespace}/{name}/layers/history")]
pub async fn list_runtime_layer_history(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let items = state
        .store
        .layer_history(&path.0, &path.1)
        .await?
        .into_iter()
        .map(|r| RevisionResponse {
            revision: r.revision,
            at: r.at,
            actor: r.actor,
            reason: r.reason,
            layers: r.layers,
            bindings: r.bindings,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListResponse { items, next: None }))
}
