//! `/v1/plans`, `/v1/runs`, `/v1/locks`: Terraform-style plan and apply against target
//! clusters, run status, and the locks runs hold.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::auth::Caller;
use super::error::{ApiError, Problem, parse_json};
use super::idempotency::{Reply, idempotent};
use super::wire::locks::LockRecord;
use super::wire::runs::RunObject;
use super::{AppState, ListResponse};
use crate::domain::states::{ObjectStatus, RunStatus};
use crate::engine::plan::{Action, Plan, PlanObject, PlanObjectQuery, PlanRequest, create_plan};
use crate::engine::port::RequestCounts;
use crate::store::runs::{self, RunRecord};
use crate::store::tokens::Role;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunResponse {
    pub id: String,
    pub plan_id: String,
    pub status: RunStatus,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// HTTP requests sent to each cluster.
    pub requests: BTreeMap<String, RequestCounts>,
    /// Objects per status.
    pub object_counts: BTreeMap<ObjectStatus, i64>,
    /// The first per-object results in execution order (GET /v1/runs/{id}/objects pages
    /// through all of them).
    pub objects: Vec<RunObject>,
    /// Cursor of the next page of objects, when there are more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Objects a run's own answer carries.
const RUN_FIRST_PAGE: usize = 100;

impl RunResponse {
    fn new(r: RunRecord, objects: Vec<runs::RunObject>) -> Self {
        let next = (objects.len() > RUN_FIRST_PAGE).then(|| objects[RUN_FIRST_PAGE - 1].seq.to_string());
        Self {
            objects: objects.into_iter().take(RUN_FIRST_PAGE).map(RunObject::from).collect(),
            next,
            object_counts: r.counts,
            requests: serde_json::from_value(r.requests).unwrap_or_default(),
            id: r.id,
            plan_id: r.plan_id,
            status: r.status,
            actor: r.actor,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            error: r.error,
        }
    }
}

async fn run_response(state: &AppState, run: RunRecord) -> Result<RunResponse, ApiError> {
    let objects = state.store.run_objects(&run.id, None, -1, RUN_FIRST_PAGE as i64 + 1).await?;
    Ok(RunResponse::new(run, objects))
}

#[utoipa::path(
    operation_id = "create_plan", tag = "plans", security(("bearer" = [])),
    request_body(content = PlanRequest, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first reply for a retried request")),
    responses(
        (status = 201, description = "The saved plan", body = Plan),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "A target cluster could not be read", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/plans")]
pub async fn create_plan_handler(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let input: PlanRequest = parse_json(&req, &body)?;
    idempotent(&state, &req, &caller, &body, || async {
        let plan = create_plan(&state.ctx, input, &caller.name).await?;
        Ok(Reply::json(StatusCode::CREATED, &plan).header("Location", format!("/v1/plans/{}", plan.id)))
    })
    .await
}

#[utoipa::path(
    operation_id = "get_plan", tag = "plans", security(("bearer" = [])),
    params(("id" = String, Path, description = "Plan id")),
    responses(
        (status = 200, description = "The plan", body = Plan),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/plans/{id}")]
pub async fn get_plan(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let plan = crate::engine::plan::get_plan(&state.ctx, &path).await?;
    Ok(HttpResponse::Ok().json(plan))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PlanObjectsQuery {
    /// Only objects with this action; `no-op` lists the objects the plan leaves as they are.
    pub action: Option<Action>,
    /// Only objects on this cluster.
    pub cluster: Option<String>,
    /// Only objects of this kind, e.g. `StatefulSet`.
    pub kind: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next` from the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    operation_id = "list_plan_objects", tag = "plans", security(("bearer" = [])),
    params(("id" = String, Path, description = "Plan id"), PlanObjectsQuery),
    responses(
        (status = 200, description = "One page of the plan's objects in plan order, with their field diffs", body = ListResponse<PlanObject>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/plans/{id}/objects")]
pub async fn list_plan_objects(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PlanObjectsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    let q = PlanObjectQuery {
        action: query.action,
        cluster: query.cluster.clone(),
        kind: query.kind.clone(),
        cursor: query.cursor.clone(),
        limit,
    };
    let page = crate::engine::plan::plan_objects(&state.ctx, &path, &q).await?;
    Ok(HttpResponse::Ok().json(ListResponse { items: page.items, next: page.next }))
}

#[utoipa::path(
    operation_id = "apply_plan", tag = "plans", security(("bearer" = [])),
    params(("id" = String, Path, description = "Plan id")),
    responses(
        (status = 202, description = "The run that applies the plan (poll GET /v1/runs/{id})", body = RunResponse),
        (status = "4XX", description = "Problem: plan_stale, plan_already_applied, plan_expired, runtime_locked", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/plans/{id}/apply")]
pub async fn apply_plan(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let run = crate::engine::runner::apply_plan(&state.ctx, &path, &caller.name).await?;
    let body = run_response(&state, run).await?;
    Ok(HttpResponse::Accepted().insert_header(("Location", format!("/v1/runs/{}", body.id))).json(body))
}

#[utoipa::path(
    operation_id = "get_run", tag = "plans", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "Status, per-object results, timing", body = RunResponse),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{id}")]
pub async fn get_run(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let run = state.store.get_run(&path).await?;
    Ok(HttpResponse::Ok().json(run_response(&state, run).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RunObjectsQuery {
    /// Only objects in this state.
    pub status: Option<ObjectStatus>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `next` from the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

#[utoipa::path(
    operation_id = "list_run_objects", tag = "plans", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id"), RunObjectsQuery),
    responses(
        (status = 200, description = "One page of the run's per-object results in execution order", body = ListResponse<RunObject>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{id}/objects")]
pub async fn list_run_objects(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<RunObjectsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 1000"));
    }
    let after = match &query.cursor {
        Some(c) => super::numeric_cursor(c)?,
        None => -1,
    };
    state.store.get_run(&path).await?;
    let mut items = state.store.run_objects(&path, query.status, after, limit as i64 + 1).await?;
    let next = (items.len() > limit).then(|| items[limit - 1].seq.to_string());
    items.truncate(limit);
    let items = items.into_iter().map(RunObject::from).collect();
    Ok(HttpResponse::Ok().json(ListResponse { items, next }))
}

#[utoipa::path(
    operation_id = "list_locks", tag = "plans", security(("bearer" = [])),
    responses(
        (status = 200, description = "Held leases", body = ListResponse<LockRecord>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/locks")]
pub async fn list_locks(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let items = state.store.list_locks().await?.into_iter().map(LockRecord::from).collect();
    Ok(HttpResponse::Ok().json(ListResponse { items, next: None }))
}

#[utoipa::path(
    operation_id = "delete_lock", tag = "plans", security(("bearer" = [])),
    params(("id" = String, Path, description = "Lock id, e.g. runtime:<namespace>:<name>")),
    responses(
        (status = 200, description = "Force-unlocked; the lock as it was", body = LockRecord),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/locks/{id}")]
pub async fn delete_lock(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let lock = state.store.delete_lock(&path).await?;
    tracing::warn!(lock = %lock.id, by = %caller.name, "lock force-unlocked");
    Ok(HttpResponse::Ok().json(LockRecord::from(lock)))
}
