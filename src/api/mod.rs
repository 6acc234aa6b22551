//! The REST API: actix handlers, request and response types, problem+json errors and the
//! OpenAPI document. `build_app` is the one place routes are assembled; the daemon and the
//! tests both use it, and `openapi()` derives the document from the same route table.

pub mod audit;
pub mod auth;
pub mod cluster_schema;
pub mod clusters;
pub mod credential_schema;
pub mod credentials;
pub mod datasets;
pub mod error;
pub mod health;
pub mod idempotency;
pub mod notification_schema;
pub mod notifications;
mod openapi_rules;
pub mod ops;
pub mod plans;
pub mod profiles;
pub mod rotations;
pub mod runtimes;
pub mod tokens;
pub mod ui;
pub mod wire;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{InfoBuilder, LicenseBuilder, OpenApi as OpenApiDoc};
use utoipa_actix_web::{AppExt, scope, service_config::ServiceConfig};
use utoipa_swagger_ui::SwaggerUi;

use std::sync::Arc;

use crate::engine::Context;
use crate::secrets::MasterKey;
use crate::store::Store;

/// Shared state of every handler.
pub struct AppState {
    pub store: Store,
    pub key: MasterKey,
    /// The engine's context (plans, runs, rotations against clusters).
    pub ctx: Arc<Context>,
    /// Recently seen bearer tokens, so most requests need no token lookup.
    pub tokens: auth::TokenCache,
    /// `/metrics` settings.
    pub ops: ops::OpsSettings,
}

impl AppState {
    pub fn new(store: Store, key: MasterKey, ctx: Arc<Context>) -> Self {
        crate::metrics::handle();
        AppState { store, key, ctx, tokens: auth::TokenCache::default(), ops: Default::default() }
    }
}

/// A page of items; `next` is the cursor of the following page, absent on the last.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

pub(crate) fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers().get("If-Match").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Reads the cursor of a list paged by a row number: 1 to 18 digits, as `next` gave them
/// (and as the document's `^[0-9]{1,18}$` says), so that what the document refuses
/// (signs, spaces) the server refuses too.
pub(crate) fn numeric_cursor(c: &str) -> Result<i64, error::ApiError> {
    Some(c)
        .filter(|c| (1..=18).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<i64>().ok())
        .ok_or_else(|| error::ApiError::field("cursor", "not a cursor this API returned"))
}

/// Whether a JSON body holds a number written as a float without a fractional part
/// (`3.0`, `1e3`): JSON Schema's `integer` takes those, serde's integers do not.
pub(crate) fn has_whole_floats(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|mut v| whole_floats_as_integers(&mut v))
}

/// Rewrites every float without a fractional part (within the range floats spell exactly)
/// as that integer; says whether it changed any.
pub(crate) fn whole_floats_as_integers(v: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => {
                *v = if f < 0.0 { Value::from(f as i64) } else { Value::from(f as u64) };
                true
            }
            _ => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |changed, x| whole_floats_as_integers(x) | changed),
        Value::Object(map) => map.values_mut().fold(false, |changed, x| whole_floats_as_integers(x) | changed),
        _ => false,
    }
}

/// Largest accepted request body.
pub(crate) const BODY_LIMIT: usize = 4 * 1024 * 1024;

fn v1(cfg: &mut ServiceConfig) {
    cfg.service(tokens::create_token)
        .service(tokens::list_tokens)
        .service(tokens::delete_token)
        .service(clusters::list_clusters)
        .service(clusters::put_cluster)
        .service(clusters::patch_cluster)
        .service(clusters::get_cluster)
        .service(clusters::delete_cluster)
        .service(clusters::probe_cluster)
        .service(credentials::list_credentials)
        .service(credentials::put_credential)
        .service(credentials::patch_credential)
        .service(credentials::get_credential)
        .service(credentials::create_credential_version)
        .service(credentials::list_credential_versions)
        .service(credentials::verify_credential_version)
        .service(runtimes::list_runtimes)
        .service(runtimes::put_runtime)
        .service(runtimes::get_runtime)
        .service(runtimes::delete_runtime)
        .service(runtimes::get_runtime_resolution)
        .service(runtimes::get_runtime_manifests)
        .service(runtimes::list_runtime_layer_history)
        .service(runtimes::rollback_runtime_layers)
        .service(datasets::list_datasets)
        .service(datasets::put_dataset)
        .service(datasets::get_dataset)
        .service(datasets::delete_dataset)
        .service(profiles::list_thinruntimeprofiles)
        .service(profiles::put_thinruntimeprofile)
        .service(profiles::get_thinruntimeprofile)
        .service(profiles::delete_thinruntimeprofile)
        .service(plans::create_plan_handler)
        .service(plans::get_plan)
        .service(plans::list_plan_objects)
        .service(plans::apply_plan)
        .service(plans::get_run)
        .service(plans::list_run_objects)
        .service(plans::list_locks)
        .service(plans::delete_lock)
        .service(notifications::list_notifications)
        .service(notifications::put_notification)
        .service(notifications::get_notification)
        .service(notifications::delete_notification)
        .service(notifications::verify_notification)
        .service(notifications::list_notification_deliveries)
        .service(rotations::list_rotations)
        .service(rotations::preview_rotation)
        .service(rotations::create_rotation)
        .service(rotations::get_rotation)
        .service(rotations::stream_rotation_events)
        .service(rotations::approve_rotation)
        .service(rotations::pause_rotation)
        .service(rotations::resume_rotation)
        .service(rotations::abort_rotation)
        .service(rotations::rollback_rotation)
        .service(audit::list_audit);
}

fn describe(mut doc: OpenApiDoc) -> OpenApiDoc {
    doc.info = InfoBuilder::new()
        .title("fluidform")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Declarative provisioning of Fluid runtimes (AlluxioRuntime, JindoRuntime, ThinRuntime) across \
             Kubernetes clusters: desired runtimes and Datasets, layered imagePullSecrets, versioned registry credentials. \
             Every /v1 call needs `Authorization: Bearer <token>`; errors are application/problem+json.",
        ))
        .license(Some(LicenseBuilder::new().name("Apache-2.0").identifier(Some("Apache-2.0")).build()))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    doc
}

fn routes<T>(app: utoipa_actix_web::UtoipaApp<T>) -> utoipa_actix_web::UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    app.service(health::get_health).service(health::get_readiness).service(scope::scope("/v1").configure(v1))
}

/// Path templates of the served routes (split into segments) with their methods.
fn route_table() -> &'static Vec<(Vec<String>, Vec<String>)> {
    static TABLE: std::sync::OnceLock<Vec<(Vec<String>, Vec<String>)>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let doc = openapi();
        let mut table: Vec<(Vec<String>, Vec<String>)> = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let value = serde_json::to_value(item).unwrap_or_default();
                let mut methods: Vec<String> = ["get", "put", "post", "patch", "delete"]
                    .iter()
                    .filter(|m| value.get(**m).is_some())
                    .map(|m| m.to_uppercase())
                    .collect();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                (path.trim_matches('/').split('/').map(str::to_owned).collect(), methods)
            })
            .collect();
        table.push((vec!["docs".into()], vec!["GET".into(), "HEAD".into()]));
        table
    })
}

/// No route took the request: 405 with `Allow` when the path is served with other
/// methods, else 404.
fn unrouted(req: &HttpRequest) -> Result<HttpResponse, error::ApiError> {
    let segments: Vec<&str> = req.path().trim_matches('/').split('/').collect();
    let allowed = route_table().iter().find(|(template, _)| {
        template.len() == segments.len()
            && template.iter().zip(&segments).all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
    });
    match allowed {
        Some((_, methods)) => {
            let allow = methods.join(", ");
            let err = error::ApiError::new(
                error::ErrorCode::MethodNotAllowed,
                format!("{} is not served on {}; allowed: {allow}", req.method(), req.path()),
            );
            let mut res = actix_web::ResponseError::error_response(&err);
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
                res.headers_mut().insert(actix_web::http::header::ALLOW, v);
            }
            Ok(res)
        }
        None => Err(error::ApiError::new(error::ErrorCode::NotFound, "no such route")),
    }
}

/// The OpenAPI document of every route `build_app` serves.
pub fn openapi() -> OpenApiDoc {
    let (_, doc) = routes(App::new().into_utoipa_app()).split_for_parts();
    describe(doc)
}

/// Pretty JSON of the document as served at `/openapi.json` and committed in
/// `openapi/openapi.json`: `openapi()` with the rules of `openapi_rules` applied (as JSON,
/// since some of what they say, such as "any JSON value", has no utoipa type).
pub fn openapi_json() -> String {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        let mut v = serde_json::to_value(openapi()).expect("OpenAPI serializes");
        openapi_rules::tighten(&mut v);
        let mut s = serde_json::to_string_pretty(&v).expect("JSON serializes");
        s.push('\n');
        s
    })
    .clone()
}

pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, _) = routes(App::new().into_utoipa_app()).split_for_parts();
    // HEAD answers like GET, without the body (actix routes only the methods they name).
    app.wrap_fn(|mut req, srv| {
        use actix_web::body::{BoxBody, EitherBody};
        let head = req.method() == actix_web::http::Method::HEAD;
        if head {
            req.head_mut().method = actix_web::http::Method::GET;
        }
        let fut = srv.call(req);
        async move {
            let res = fut.await?;
            Ok(if head { res.map_body(|_, _| EitherBody::right(BoxBody::new(()))) } else { res.map_into_left_body() })
        }
    })
    .wrap(actix_web::middleware::from_fn(ops::track))
    // Outermost: every request gets an id, and the audit log its entry.
    .wrap_fn(|req, srv| {
        let id = audit::request_id(&req);
        let method = req.method().clone();
        let fut = srv.call(req);
        async move { audit::record(fut.await?, method, id).await }
    })
    .app_data(state)
    .app_data(web::PayloadConfig::new(BODY_LIMIT))
    .app_data(web::QueryConfig::default().error_handler(error::query_error))
    .app_data(web::PathConfig::default().error_handler(error::path_error))
    .service(SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/openapi.json")))
    .route(
        "/openapi.json",
        web::get().to(|| async { HttpResponse::Ok().content_type("application/json").body(openapi_json()) }),
    )
    .route("/docs", web::get().to(|| async { HttpResponse::Found().insert_header(("Location", "/docs/")).finish() }))
    .route("/metrics", web::get().to(ops::get_metrics))
    .configure(ui::routes)
    .default_service(web::to(|req: HttpRequest| async move { unrouted(&req) }))
}
