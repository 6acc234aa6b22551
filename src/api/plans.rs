//! `/v1/plans`, `/v1/runs`, `/v1/locks`: Terraform-style plan and apply against target
//! clusters, run status, and the locks runs hold.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::auth::Caller;
use super::error::{ApiError, ErrorCode, Problem, parse_json};
use super::idempotency::{Reply, idempotent};
use super::{AppState, ListResponse};
use crate::plan::{Plan, PlanError, PlanRequest, create_plan};
use crate::store::plans::{LockRecord, RunObject, RunRecord};
use crate::store::tokens::Role;
use crate::sync::client::RequestCounts;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunResponse {
    pub id: String,
    pub plan_id: String,
    /// queued, running, succeeded or failed.
    pub status: String,
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
    /// Per-object results in execution order.
    pub objects: Vec<RunObject>,
}

impl From<RunRecord> for RunResponse {
    fn from(r: RunRecord) -> Self {
        Self {
            requests: serde_json::from_value(r.requests).unwrap_or_default(),
            id: r.id,
            plan_id: r.plan_id,
            status: r.status,
            actor: r.actor,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            error: r.error,
            objects: r.objects,
        }
    }
}

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Invalid(errors) => ApiError::invalid(errors),
            PlanError::Store(s) => s.into(),
            PlanError::Service(s) => s.into(),
            PlanError::Cluster { cluster, source } => ApiError::cluster(&cluster, &source),
            e @ PlanError::Stale(_) => ApiError::new(ErrorCode::PlanStale, e.to_string()),
            e @ PlanError::AlreadyApplied(_) => ApiError::new(ErrorCode::PlanAlreadyApplied, e.to_string()),
            e @ PlanError::Locked { .. } => ApiError::new(ErrorCode::RuntimeLocked, e.to_string()),
            e @ PlanError::Expired(_) => ApiError::new(ErrorCode::PlanExpired, e.to_string()),
        }
    }
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
        let e = &state.engine;
        let plan = create_plan(&e.store, &e.key, input, &caller.name, e.plan_ttl).await?;
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
    let plan = Plan::from_record(state.store.get_plan(&path).await?)?;
    Ok(HttpResponse::Ok().json(plan))
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
    let run = state.engine.apply_plan(&path, &caller.name).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/v1/runs/{}", run.id)))
        .json(RunResponse::from(run)))
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
    Ok(HttpResponse::Ok().json(RunResponse::from(state.store.get_run(&path).await?)))
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
    Ok(HttpResponse::Ok().json(ListResponse { items: state.store.list_locks().await?, next: None }))
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
    Ok(HttpResponse::Ok().json(lock))
}
