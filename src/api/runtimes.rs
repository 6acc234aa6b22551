//! `/v1/runtimes`: desired runtimes (operators write), their resolution, rendered
//! workloads and layer history.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, ErrorCode, Problem};
use super::wire::runtimes::{BindingChange, LayerChange};
use super::{AppState, ListResponse, if_match};
use crate::domain::fluid::Mode;
use crate::domain::layers::ComponentResolution;
use crate::domain::manifest::ManifestFormat;
use crate::domain::ports::PortName;
use crate::domain::quirks::Quirk;
use crate::domain::runtime::{RuntimeKind, RuntimeManifest};
use crate::domain::selector::parse_selector;
use crate::engine::drift::{DriftedField, SyncPolicy, SyncState, sync_state};
use crate::service::runtimes::{
    PutRuntime, put_runtime as put_runtime_service, render_redacted, resolution, runtime_warnings,
};
use crate::store::runtimes::{RuntimeFilter, RuntimeRecord};
use crate::store::tokens::Role;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeResponse {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub kind: RuntimeKind,
    pub generation: i64,
    pub labels: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The stored runtime manifest (AlluxioRuntime, JindoRuntime or ThinRuntime).
    #[schema(value_type = RuntimeManifest)]
    pub manifest: serde_json::Value,
    /// The Dataset stored with this PUT, when the body carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<super::datasets::DatasetResponse>,
    /// Sync state against the target cluster (on single-runtime reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RuntimeStatus>,
    /// On writes: what to know although the runtime is valid (Fluid's quirks it runs
    /// into, host ports shared with another runtime), each naming its field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Quirk>>,
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
            kind: r.kind,
            generation: r.generation,
            created_at: r.created_at,
            updated_at: r.updated_at,
            manifest: r.manifest,
            dataset: None,
            status: None,
            warnings: None,
        }
    }
}

/// JSON or YAML, from the request's Content-Type (JSON when absent).
pub(crate) fn manifest_format(req: &HttpRequest) -> Result<ManifestFormat, ApiError> {
    let ct = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    if ct.starts_with("application/json") {
        Ok(ManifestFormat::Json)
    } else if ["application/yaml", "application/x-yaml", "text/yaml", "application/vnd.kubernetes.yaml"]
        .iter()
        .any(|y| ct.starts_with(y))
    {
        Ok(ManifestFormat::Yaml)
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("send application/json or application/yaml, not {ct}"),
        ))
    }
}

/// A store error on a write, with an unregistered cluster shown as the request's fault.
pub(crate) fn unknown_cluster(cluster: &str) -> impl Fn(crate::service::ServiceError) -> ApiError + '_ {
    move |e| match e {
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
        (RuntimeManifest = "application/json"),
        (RuntimeManifest = "application/yaml"),
    ), description = "A runtime manifest (AlluxioRuntime, JindoRuntime or ThinRuntime) as a Fluid user writes it; in YAML, a second document may be the Dataset of the same namespace and name"),
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
    let format = manifest_format(&req)?;
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
    let outcome = put_runtime_service(&state.store, put).await.map_err(unknown_cluster(&cluster))?;
    state.ctx.warm.want(outcome.record.id);
    let status = if outcome.created { StatusCode::CREATED } else { StatusCode::OK };
    let etag = outcome.record.etag();
    let mut body = RuntimeResponse::from(outcome.record);
    body.dataset = outcome.dataset.map(|(d, _)| super::datasets::DatasetResponse::from(d));
    body.warnings = Some(outcome.warnings);
    Ok(HttpResponse::build(status).insert_header(("ETag", etag)).json(body))
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
    let (record, sync, mode) = state.store.runtime_with_sync(&path.0, &path.1).await?;
    let renderer = mode.map(crate::service::runtimes::renderer).unwrap_or_default();
    let policy = record
        .manifest
        .pointer(&format!("/metadata/annotations/{}", crate::engine::drift::SYNC_POLICY_ANNOTATION.replace('/', "~1")))
        .and_then(|v| v.as_str());
    let status = runtime_status(&record, renderer, policy, sync);
    let etag = record.etag();
    let mut body = RuntimeResponse::from(record);
    body.status = Some(status);
    Ok(HttpResponse::Ok().insert_header(("ETag", etag)).json(body))
}

/// A runtime's sync status from its record, its cluster's renderer, its sync policy
/// annotation and its sync record.
fn runtime_status(
    record: &crate::store::runtimes::RuntimeRecord,
    renderer: &str,
    policy: Option<&str>,
    sync: Option<crate::store::sync::SyncRecord>,
) -> RuntimeStatus {
    RuntimeStatus {
        sync: sync_state(record, renderer, sync.as_ref()),
        sync_policy: if policy == Some("auto") { SyncPolicy::Auto } else { SyncPolicy::Manual },
        applied_generation: sync.as_ref().and_then(|s| s.applied_generation),
        last_run_id: sync.as_ref().and_then(|s| s.last_run_id.clone()),
        last_checked_at: sync.as_ref().and_then(|s| s.checked_at),
        drift: sync
            .map(|s| s.drift.into_iter().filter_map(|d| serde_json::from_value(d).ok()).collect())
            .unwrap_or_default(),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListRuntimesQuery {
    /// Also give each runtime's `status` (sync state and drift), as `GET` of one does.
    #[serde(default)]
    pub with_status: bool,
    /// Only runtimes on this cluster.
    pub cluster: Option<String>,
    /// Only runtimes in this namespace.
    pub namespace: Option<String>,
    /// Kubernetes label selector over the manifest's metadata.labels, e.g. `team=a,tier in (gold)`.
    pub label_selector: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
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
    let mut syncs = std::collections::HashMap::new();
    let mut renderers = std::collections::HashMap::new();
    if query.with_status {
        for s in state.store.list_sync(query.cluster.as_deref()).await? {
            syncs.insert((s.namespace.clone(), s.name.clone()), s);
        }
        for c in state.store.list_clusters().await? {
            renderers
                .insert(c.name.clone(), c.effective_mode().map(crate::service::runtimes::renderer).unwrap_or_default());
        }
    }
    let items = rows
        .into_iter()
        .map(|record| {
            let status = query.with_status.then(|| {
                let policy = record
                    .manifest
                    .pointer(&format!(
                        "/metadata/annotations/{}",
                        crate::engine::drift::SYNC_POLICY_ANNOTATION.replace('/', "~1")
                    ))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                let renderer = renderers.get(&record.cluster).copied().unwrap_or_default();
                let sync = syncs.remove(&(record.namespace.clone(), record.name.clone()));
                runtime_status(&record, renderer, policy.as_deref(), sync)
            });
            let mut body = RuntimeResponse::from(record);
            body.status = status;
            body
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListResponse { items, next: next.map(|(ns, n)| B64.encode(format!("{ns}/{n}"))) }))
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
    /// Absent for kinds without a master (ThinRuntime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<Vec<String>>,
    pub worker: Vec<String>,
    pub fuse: Vec<String>,
    /// A ThinRuntime's profile layers (global, worker, fuse), when its profile is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileLayersView>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileLayersView {
    pub name: String,
    pub global: Vec<String>,
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
    pub kind: RuntimeKind,
    pub generation: i64,
    /// The latest layer revision (see layers/history).
    pub layer_revision: i64,
    /// Every layer as declared, lowest first.
    pub layers: LayersView,
    /// Managed credentials this runtime is bound to, with the bound version.
    pub bindings: BTreeMap<String, u32>,
    /// What each pod pulls with, and which layer won.
    pub components: ComponentsView,
    /// The host ports the runtime's host-network pods bind, by port name: given by the
    /// cluster's allocator or fixed by the manifest. Used when fluidform renders the
    /// runtime (a standalone cluster); on a Fluid cluster Fluid allocates its own.
    pub host_ports: BTreeMap<PortName, u16>,
    /// What to know although the runtime is valid (see the PUT response).
    pub warnings: Vec<Quirk>,
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
    let profile = match (&ctx.profile, ctx.runtime.profile_name()) {
        (Some(p), Some(name)) => {
            let l = p.layers();
            Some(ProfileLayersView { name: name.to_string(), global: l.global, worker: l.worker, fuse: l.fuse })
        }
        _ => None,
    };
    let has_master = ctx.record.kind.has(crate::domain::layers::Component::Master);
    let warnings = runtime_warnings(&state.store, &ctx.record, &ctx.runtime, &ctx.cluster_default).await?;
    let host_ports = match &ctx.runtime {
        RuntimeManifest::Alluxio(rt) => {
            let fixed = crate::domain::ports::overrides(rt);
            crate::domain::ports::used(rt)
                .into_iter()
                .filter(|p| crate::domain::ports::host_network(rt, p.pod()))
                .filter_map(|p| fixed.get(&p).or_else(|| ctx.ports.get(&p)).map(|n| (p, *n)))
                .collect()
        }
        _ => BTreeMap::new(),
    };
    Ok(HttpResponse::Ok().insert_header(("ETag", ctx.record.etag())).json(ResolvedResponse {
        namespace: ctx.record.namespace.clone(),
        name: ctx.record.name.clone(),
        cluster: ctx.record.cluster.clone(),
        kind: ctx.record.kind,
        generation: ctx.record.generation,
        layer_revision: ctx.layer_revision,
        layers: LayersView {
            cluster: ctx.cluster_default.clone(),
            global: layers.global,
            master: has_master.then_some(layers.master),
            worker: layers.worker,
            fuse: layers.fuse,
            profile,
        },
        bindings: ctx.bindings.clone(),
        components: ComponentsView { master: res.master, worker: res.worker, fuse: res.fuse },
        host_ports,
        warnings,
    }))
}

/// What apply would send for a runtime.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestsResponse {
    /// The mode the objects are rendered for (`standalone` while an `auto` cluster's mode
    /// is not known yet).
    pub mode: Mode,
    /// The rendered objects, credential Secret data redacted.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    pub warnings: Vec<String>,
}

#[utoipa::path(
    operation_id = "get_runtime_manifests", tag = "runtimes", security(("bearer" = [])),
    params(("namespace" = String, Path), ("name" = String, Path),
        ("Accept" = Option<String>, Header, description = "application/yaml for multi-document YAML")),
    responses(
        (status = 200, description = "What apply would send for the cluster's mode: Fluid's resources in a fluid cluster, the workloads in a standalone one (multi-document YAML with Accept: application/yaml, warnings as comments); credential Secret data redacted",
            body = ManifestsResponse),
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
    let cluster = state.store.get_cluster(&ctx.record.cluster).await?;
    let mut warnings = Vec::new();
    let mode = match cluster.effective_mode() {
        Some(m) => m,
        None => {
            warnings.push(format!(
                "cluster {:?} has mode auto and was never probed: shown as standalone; probe it to know how it runs runtimes",
                cluster.name
            ));
            Mode::Standalone
        }
    };
    let items: Vec<serde_json::Value> = render_redacted(&ctx, mode)?.into_iter().map(|o| o.object).collect();
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("yaml") {
        let mut out = String::new();
        for w in &warnings {
            out.push_str(&format!("# warning: {w}\n"));
        }
        for item in &items {
            out.push_str("---\n");
            out.push_str(&serde_saphyr::to_string(item).map_err(ApiError::internal)?);
        }
        return Ok(HttpResponse::Ok().content_type("application/yaml").body(out));
    }
    Ok(HttpResponse::Ok().json(ManifestsResponse { mode, items, warnings }))
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
            layers: r.layers.into_iter().map(LayerChange::from).collect(),
            bindings: r.bindings.into_iter().map(BindingChange::from).collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListResponse { items, next: None }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackRequest {
    /// The layer revision (see layers/history) whose layers to restore.
    #[schema(minimum = 1)]
    pub revision: Option<i64>,
}

#[utoipa::path(
    operation_id = "rollback_runtime_layers", tag = "runtimes", security(("bearer" = [])),
    params(("namespace" = String, Path), ("name" = String, Path),
        ("If-Match" = Option<String>, Header, description = "ETag the runtime must still have")),
    request_body(content = RollbackRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The runtime with the layers of that revision, written as a new revision (unchanged when they are the current ones)", body = RuntimeResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem: not_found (runtime or revision), precondition_failed, validation_failed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/runtimes/{namespace}/{name}/layers/rollback")]
pub async fn rollback_runtime_layers(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let input: RollbackRequest = super::error::parse_json(&req, &body)?;
    let Some(revision) = input.revision else {
        return Err(ApiError::field("revision", "required: the layer revision to restore"));
    };
    let outcome = crate::service::runtimes::rollback_layers(
        &state.store,
        &path.0,
        &path.1,
        revision,
        if_match(&req).as_deref(),
        &caller.name,
    )
    .await?;
    let etag = outcome.record.etag();
    let mut body = RuntimeResponse::from(outcome.record);
    body.warnings = Some(outcome.warnings);
    Ok(HttpResponse::Ok().insert_header(("ETag", etag)).json(body))
}
