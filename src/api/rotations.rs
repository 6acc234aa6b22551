//! `/v1/rotations`: staged credential rotations: preview, start, progress, events (SSE)
//! and the commands approve, pause, resume, abort and rollback.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::auth::Caller;
use super::error::{ApiError, Problem, parse_json};
use super::idempotency::{Reply, idempotent};
use super::wire::rotations::{BatchRecord, RotationEvent, RotationRuntime, RotationSummary};
use super::{AppState, ListResponse};
use crate::domain::rollout::WaitingFor;
use crate::domain::states::{BatchState, RotationState};
use crate::engine::rotation::{Preview, RotationRequest};
use crate::store::rotations::RotationRecord;
use crate::store::tokens::Role;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationResponse {
    pub id: String,
    pub credential: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_version: Option<u32>,
    pub to_version: u32,
    pub state: RotationState,
    pub current_batch: i64,
    /// What the current batch waits for while it restarts pods (per workload).
    pub waiting_for: Vec<WaitingFor>,
    /// When the current batch fails unless it is healthy by then (while it applies or
    /// restarts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_at: Option<DateTime<Utc>>,
    /// Whole seconds left until `deadlineAt` (0 once it passed), at the time of the reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_left: Option<i64>,
    /// With `batchInterval`: the earliest time the next batch may start, while it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_batch_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<crate::domain::states::RollbackState>,
    pub request: RotationRequest,
    pub batches: Vec<BatchRecord>,
    pub runtimes: Vec<RotationRuntime>,
}

impl RotationResponse {
    /// The reply for `r` as seen at `now`.
    pub fn at(r: RotationRecord, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let current = r.batches.iter().find(|b| b.idx == r.current_batch);
        let waiting_for = current.map(|b| b.waiting_for.clone()).unwrap_or_default();
        let deadline_at = current
            .filter(|b| matches!(b.state, BatchState::Applying | BatchState::Restarting))
            .filter(|_| r.state == RotationState::Running)
            .and_then(|b| b.deadline_at);
        let request: RotationRequest = serde_json::from_value(r.request).map_err(ApiError::internal)?;
        let next_batch_at = current
            .filter(|b| b.state == BatchState::Pending)
            .filter(|_| matches!(r.state, RotationState::Running | RotationState::WaitingApproval))
            .and_then(|b| r.batches.iter().find(|p| p.idx == b.idx - 1))
            .and_then(|p| p.finished_at)
            .and_then(|end| request.batch_interval_secs().map(|s| end + chrono::Duration::seconds(s as i64)));
        Ok(Self {
            next_batch_at,
            waiting_for,
            deadline_at,
            seconds_left: deadline_at.map(|d| (d - now).num_seconds().max(0)),
            request,
            id: r.id,
            credential: r.credential,
            from_version: r.from_version,
            to_version: r.to_version,
            state: r.state,
            current_batch: r.current_batch,
            error: r.error,
            actor: r.actor,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
            rollback: r.rollback_state,
            batches: r.batches.into_iter().map(BatchRecord::from).collect(),
            runtimes: r.runtimes.into_iter().map(RotationRuntime::from).collect(),
        })
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListRotationsQuery {
    /// Only rotations in this state.
    pub state: Option<RotationState>,
    /// Only rotations of this credential (or `layer:<layer>:<from>`).
    pub credential: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next` from the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    operation_id = "list_rotations", tag = "rotations", security(("bearer" = [])),
    params(ListRotationsQuery),
    responses(
        (status = 200, description = "Rotations, newest first", body = ListResponse<RotationSummary>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rotations")]
pub async fn list_rotations(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListRotationsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    let mut items = state
        .store
        .list_rotations(query.state, query.credential.as_deref(), query.cursor.as_deref(), limit as i64 + 1)
        .await?;
    let next = (items.len() > limit).then(|| items[limit - 1].id.clone());
    items.truncate(limit);
    let items = items.into_iter().map(RotationSummary::from).collect();
    Ok(HttpResponse::Ok().json(ListResponse { items, next }))
}

#[utoipa::path(
    operation_id = "preview_rotation", tag = "rotations", security(("bearer" = [])),
    request_body(content = RotationRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Blast radius: clusters, runtimes, workloads, pods; batch schedule; skipped runtimes", body = Preview),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/rotations/preview")]
pub async fn preview_rotation(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let input: RotationRequest = parse_json(&req, &body)?;
    Ok(HttpResponse::Ok().json(crate::engine::rotation::preview_rotation(&state.ctx, &input).await?))
}

#[utoipa::path(
    operation_id = "create_rotation", tag = "rotations", security(("bearer" = [])),
    request_body(content = RotationRequest, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first reply for a retried request")),
    responses(
        (status = 201, description = "Started", body = RotationResponse),
        (status = "4XX", description = "Problem: rotation_active, runtime_locked, validation_failed, workloads_unhealthy, credential_unverified (the target version is invalid at a registry, or unreachable without verify: \"best-effort\")", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/rotations")]
pub async fn create_rotation(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let input: RotationRequest = parse_json(&req, &body)?;
    idempotent(&state, &req, &caller, &body, || async {
        let id = crate::engine::rotation::start_rotation(&state.ctx, input, &caller.name).await?;
        let rot = RotationResponse::at(state.store.get_rotation(&id).await?, state.ctx.now())?;
        Ok(Reply::json(StatusCode::CREATED, &rot).header("Location", format!("/v1/rotations/{id}")))
    })
    .await
}

#[utoipa::path(
    operation_id = "get_rotation", tag = "rotations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Rotation id")),
    responses(
        (status = 200, description = "State, per-batch and per-runtime progress", body = RotationResponse),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rotations/{id}")]
pub async fn get_rotation(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(HttpResponse::Ok().json(RotationResponse::at(state.store.get_rotation(&path).await?, state.ctx.now())?))
}

#[utoipa::path(
    operation_id = "stream_rotation_events", tag = "rotations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Rotation id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")),
    responses(
        (status = 200, description = "Server-sent events, one per rotation event (`id:` its sequence number, `event:` its kind, `data:` the event as JSON, a RotationEvent); the stream ends when the rotation ends", body = String, content_type = "text/event-stream"),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/rotations/{id}/events")]
pub async fn stream_rotation_events(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let id = path.into_inner();
    state.store.get_rotation(&id).await?;
    let after: i64 =
        req.headers().get("Last-Event-ID").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    let store = state.store.clone();
    let stream = futures::stream::unfold((after, false), move |(after, done)| {
        let store = store.clone();
        let id = id.clone();
        async move {
            if done {
                return None;
            }
            loop {
                let events = match store.rotation_events(&id, after).await {
                    Ok(e) => e,
                    Err(e) => {
                        return Some((Err(actix_web::error::ErrorInternalServerError(e.to_string())), (after, true)));
                    }
                };
                if !events.is_empty() {
                    let last = events.last().map_or(after, |e| e.seq);
                    let mut text = String::new();
                    for e in events {
                        let (seq, kind) = (e.seq, e.kind.clone());
                        let data = serde_json::to_string(&RotationEvent::from(e)).unwrap_or_default();
                        text.push_str(&format!("id: {seq}\nevent: {kind}\ndata: {data}\n\n"));
                    }
                    return Some((Ok::<_, actix_web::Error>(Bytes::from(text)), (last, false)));
                }
                let ended = store.get_rotation(&id).await.map(|r| r.state.is_terminal()).unwrap_or(true);
                if ended {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream))
}

async fn command(state: &AppState, caller: &Caller, id: &str, cmd: &str) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let rot = crate::engine::rotation::rotation_command(&state.ctx, id, cmd, &caller.name).await?;
    Ok(HttpResponse::Ok().json(RotationResponse::at(rot, state.ctx.now())?))
}

macro_rules! rotation_command {
    ($fn:ident, $op:literal, $path:literal, $cmd:literal, $desc:literal) => {
        #[utoipa::path(
            operation_id = $op, tag = "rotations", security(("bearer" = [])),
            params(("id" = String, Path, description = "Rotation id")),
            responses(
                (status = 200, description = $desc, body = RotationResponse),
                (status = "4XX", description = "Problem (rotation_state when not possible in the current state; not_waiting_approval for approve when nothing waits)", body = Problem, content_type = "application/problem+json"),
            )
        )]
        #[post($path)]
        pub async fn $fn(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
            command(&state, &caller, &path, $cmd).await
        }
    };
}

rotation_command!(
    approve_rotation,
    "approve_rotation",
    "/rotations/{id}/approve",
    "approve",
    "Approved: the next batch starts"
);
rotation_command!(
    pause_rotation,
    "pause_rotation",
    "/rotations/{id}/pause",
    "pause",
    "Paused after the current step (idempotent)"
);
rotation_command!(
    resume_rotation,
    "resume_rotation",
    "/rotations/{id}/resume",
    "resume",
    "Resumed with a fresh health deadline; a failed batch is retried; paused while waiting for approval, it waits again (idempotent)"
);
rotation_command!(
    abort_rotation,
    "abort_rotation",
    "/rotations/{id}/abort",
    "abort",
    "Aborted where it stands; bindings stay as they are (idempotent)"
);
rotation_command!(
    rollback_rotation,
    "rollback_rotation",
    "/rotations/{id}/rollback",
    "rollback",
    "Rolling back every binding it moved (idempotent)"
);
