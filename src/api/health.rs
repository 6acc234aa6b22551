//! Open endpoints: liveness and readiness.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthResponse {
    pub status: String,
}

#[utoipa::path(operation_id = "get_health", tag = "health",
    responses((status = 200, description = "The process is up", body = HealthResponse)))]
#[get("/healthz")]
pub async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse { status: "ok".into() })
}

#[utoipa::path(operation_id = "get_readiness", tag = "health",
    responses(
        (status = 200, description = "Ready: the database answers", body = HealthResponse),
        (status = 503, description = "Not ready", body = HealthResponse),
    ))]
#[get("/readyz")]
pub async fn get_readiness(state: web::Data<AppState>) -> HttpResponse {
    if state.store.ping().await {
        HttpResponse::Ok().json(HealthResponse { status: "ready".into() })
    } else {
        HttpResponse::ServiceUnavailable().json(HealthResponse { status: "database unavailable".into() })
    }
}
