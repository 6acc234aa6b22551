//! `/v1/notifications`: webhooks (admin only). A notification's secret is write-only:
//! replies show its keyed fingerprint, never the secret.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::auth::Caller;
use super::error::{ApiError, ErrorCode, Problem, parse_json};
use super::wire::notifications::DeliveryRecord;
use super::{AppState, ListResponse, if_match};
use crate::domain::notify::{Notice, Trigger};
use crate::service::notifications::{NotificationRequest, put_notification as put_notification_service};
use crate::store::notifications::NotificationRecord;
use crate::store::tokens::Role;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationResponse {
    pub name: String,
    pub url: String,
    pub triggers: Vec<Trigger>,
    /// Keyed fingerprint of the signing secret (equal secrets, equal fingerprints).
    pub secret_fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<NotificationRecord> for NotificationResponse {
    fn from(n: NotificationRecord) -> Self {
        Self {
            name: n.name,
            url: n.url,
            triggers: n.triggers,
            secret_fingerprint: n.secret_fingerprint,
            description: n.description,
            enabled: n.enabled,
            generation: n.generation,
            created_at: n.created_at,
            updated_at: n.updated_at,
            created_by: n.created_by,
        }
    }
}

#[utoipa::path(
    operation_id = "put_notification", tag = "notifications", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Notification name"),
        ("If-Match" = Option<String>, Header, description = "ETag the notification must still have"),
    ),
    request_body(content = super::notification_schema::NotificationPut, content_type = "application/json",
        description = "The whole notification; `secret` is needed on every PUT and never returned"),
    responses(
        (status = 200, description = "Replaced", body = NotificationResponse, headers(("ETag" = String))),
        (status = 201, description = "Created", body = NotificationResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/notifications/{name}")]
pub async fn put_notification(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let input: NotificationRequest = parse_json(&req, &body)?;
    let (rec, created) =
        put_notification_service(&state.store, &state.key, &path, input, if_match(&req).as_deref(), &caller.name)
            .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).insert_header(("ETag", rec.etag())).json(NotificationResponse::from(rec)))
}

#[utoipa::path(
    operation_id = "get_notification", tag = "notifications", security(("bearer" = [])),
    params(("name" = String, Path, description = "Notification name")),
    responses(
        (status = 200, description = "The notification", body = NotificationResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/notifications/{name}")]
pub async fn get_notification(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let rec = state.store.get_notification(&path).await?;
    Ok(HttpResponse::Ok().insert_header(("ETag", rec.etag())).json(NotificationResponse::from(rec)))
}

#[utoipa::path(
    operation_id = "list_notifications", tag = "notifications", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every notification", body = ListResponse<NotificationResponse>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/notifications")]
pub async fn list_notifications(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let items = state.store.list_notifications().await?.into_iter().map(NotificationResponse::from).collect();
    Ok(HttpResponse::Ok().json(ListResponse { items, next: None }))
}

#[utoipa::path(
    operation_id = "delete_notification", tag = "notifications", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Notification name"),
        ("If-Match" = Option<String>, Header, description = "ETag the notification must still have"),
    ),
    responses(
        (status = 204, description = "Deleted, with its pending deliveries"),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/notifications/{name}")]
pub async fn delete_notification(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    state.store.delete_notification(&path, if_match(&req).as_deref()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    operation_id = "verify_notification", tag = "notifications", security(("bearer" = [])),
    params(("name" = String, Path, description = "Notification name")),
    responses(
        (status = 200, description = "A `verification` delivery was sent and accepted (2xx)", body = DeliveryRecord),
        (status = 502, description = "The receiver refused it or could not be reached (`notification_delivery_failed`); the attempt is in …/deliveries", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/notifications/{name}/verify")]
pub async fn verify_notification(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let rec = state.store.get_notification(&path).await?;
    let notice = Notice {
        trigger: Trigger::Verification,
        at: state.ctx.now(),
        message: format!("verification of notification {:?} requested by {}", rec.name, caller.name),
        kind: "notification",
        id: rec.name.clone(),
        url: format!("/v1/notifications/{}", rec.name),
        data: serde_json::json!({"name": rec.name, "triggers": rec.triggers}),
    };
    let id = state.store.enqueue_one(&rec.name, &notice).await?;
    crate::engine::notify::deliver_now(&state.ctx, id).await?;
    let delivery = state.store.get_delivery(&rec.name, id).await?;
    if delivery.state != "delivered" {
        let why = delivery.last_error.clone().unwrap_or_else(|| "no answer".into());
        return Err(ApiError::new(
            ErrorCode::NotificationDeliveryFailed,
            format!("verification delivery {id} to {:?} failed: {why}", rec.name),
        ));
    }
    Ok(HttpResponse::Ok().json(DeliveryRecord::from(delivery)))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// `next` from the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

#[utoipa::path(
    operation_id = "list_notification_deliveries", tag = "notifications", security(("bearer" = [])),
    params(("name" = String, Path, description = "Notification name"), DeliveriesQuery),
    responses(
        (status = 200, description = "Deliveries newest first, each with its attempts and their status codes", body = ListResponse<DeliveryRecord>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/notifications/{name}/deliveries")]
pub async fn list_notification_deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 200"));
    }
    let before = match &query.cursor {
        Some(c) => super::numeric_cursor(c)?,
        None => i64::MAX,
    };
    state.store.get_notification(&path).await?;
    let mut items = state.store.list_deliveries(&path, before, limit as i64 + 1).await?;
    let next = (items.len() > limit).then(|| items[limit - 1].id.to_string());
    items.truncate(limit);
    let items = items.into_iter().map(DeliveryRecord::from).collect();
    Ok(HttpResponse::Ok().json(ListResponse { items, next }))
}
