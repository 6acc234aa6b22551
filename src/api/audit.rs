//! The audit log: recorded by `record` around every request (mutating requests and
//! refused authentications), read through `GET /v1/audit` (admin).
//!
//! Every response carries `X-Request-Id` (the caller's when it sent a sane one, else a
//! new UUID), which the entry and the daemon's log line share. The entry is written
//! before the response leaves: a request whose entry cannot be written answers 500, so
//! nothing is done that the log does not show.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::wire::audit::AuditEntry;
use super::{AppState, ListResponse};
use crate::store::audit::{AuditFilter, NewAuditEntry};
use crate::store::tokens::Role;

pub const REQUEST_ID: &str = "x-request-id";

/// The caller's request id when it is short and plain, else a new one.
pub fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .filter(|v| v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Whether a finished request goes into the audit log.
fn audited(method: &Method, status: u16) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || status == 401 || status == 403
}

/// Records the entry of a finished request (when it is one the log keeps) and stamps the
/// response with its request id.
pub async fn record<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
    method: Method,
    id: String,
) -> Result<ServiceResponse<actix_web::body::EitherBody<B>>, actix_web::Error> {
    // The framework answers an oversized body itself, in plain text: as a problem here.
    let plain_413 = res.status() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
        && res.headers().get(actix_web::http::header::CONTENT_TYPE).is_none_or(|v| v != "application/problem+json");
    let mut res = if plain_413 {
        let (req, _) = res.into_parts();
        let err = ApiError::new(
            super::error::ErrorCode::PayloadTooLarge,
            format!("request bodies are limited to {} bytes", super::BODY_LIMIT),
        );
        ServiceResponse::new(req, actix_web::ResponseError::error_response(&err)).map_into_right_body()
    } else {
        res.map_into_left_body()
    };
    let status = res.status().as_u16();
    let state = res.request().app_data::<web::Data<AppState>>().cloned();
    if let Some(state) = state.filter(|_| audited(&method, status))
        && res.request().path().starts_with("/v1/")
    {
        let req = res.request();
        let caller = req.extensions().get::<Caller>().cloned();
        let entry = NewAuditEntry {
            at: state.ctx.now(),
            request_id: id.clone(),
            actor: caller.as_ref().map(|c| c.name.clone()),
            role: caller.as_ref().map(|c| c.role.as_str().to_string()),
            method: method.to_string(),
            route: req.match_pattern().unwrap_or_else(|| "(no route)".into()),
            resource: req.path().to_string(),
            status,
            remote: req.peer_addr().map(|a| a.ip().to_string()),
        };
        if let Err(e) = state.store.append_audit(&entry).await {
            tracing::error!(request_id = %id, error = %e, "audit entry could not be written");
            let (req, _) = res.into_parts();
            let body = ApiError::internal("the audit log could not be written; the request's outcome is unknown");
            let res = ServiceResponse::new(req, actix_web::ResponseError::error_response(&body));
            return Ok(res.map_into_right_body());
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HeaderName::from_static(REQUEST_ID), v);
    }
    Ok(res)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries of this token name.
    pub actor: Option<String>,
    /// Only entries whose path is this one or starts with it (`/v1/runtimes/team-a/`).
    pub resource: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only entries at or before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next` from the previous page.
    #[param(pattern = "^[1-9][0-9]{0,17}$")]
    pub cursor: Option<String>,
}

#[utoipa::path(
    operation_id = "list_audit", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "One page of the audit log, newest first", body = ListResponse<AuditEntry>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    let before = match &query.cursor {
        Some(c) => Some(
            super::numeric_cursor(c)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::field("cursor", "not a cursor this API returned"))?,
        ),
        None => None,
    };
    let filter = AuditFilter {
        actor: query.actor.clone(),
        resource: query.resource.clone(),
        since: query.since,
        until: query.until,
        before,
    };
    let items = state.store.list_audit(&filter, limit).await?;
    let next = (items.len() == limit).then(|| items.last().map(|e| e.id.to_string())).flatten();
    let items = items.into_iter().map(AuditEntry::from).collect();
    Ok(HttpResponse::Ok().json(ListResponse { items, next }))
}
