//! The operator's endpoints outside `/v1`: `GET /metrics` (Prometheus text, open or
//! behind `FLUIDFORM_METRICS_TOKEN`) and the middleware that counts and times every HTTP
//! request by route pattern (never the raw path, so ids do not explode the series).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::domain::states::{RotationState, RunStatus};
use crate::metrics;

/// Settings of the operator's endpoints.
#[derive(Default)]
pub struct OpsSettings {
    /// When set, `/metrics` needs `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
}

/// Counts and times every request (`fluidform_http_requests_total`, `…_duration_seconds`).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let res = next.call(req).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    metrics::http_request(route, method, res.status().as_u16(), started.elapsed());
    Ok(res)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /metrics`: every metric in Prometheus' text format; gauges of stored state are
/// read from the database now.
pub async fn get_metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if let Some(want) = &state.ops.metrics_token {
        let got = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if !constant_time_eq(got.as_bytes(), want.as_bytes()) {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "send Authorization: Bearer <FLUIDFORM_METRICS_TOKEN> for /metrics",
            ));
        }
    }
    let counts = state.store.state_counts(&state.ctx.replica).await?;
    let runs: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
    let rotations: Vec<&str> = RotationState::ALL.iter().map(|s| s.as_str()).collect();
    metrics::set_counts(metrics::RUNS, "state", &runs, &counts.runs);
    metrics::set_counts(metrics::ROTATIONS, "state", &rotations, &counts.rotations);
    metrics::set(metrics::DRIFTED, counts.drifted as f64);
    let leases = ["drift", "notifications", "rotation-driver", "runtime"];
    metrics::set_counts(metrics::LEASES, "kind", &leases, &counts.leases);
    metrics::set_counts(metrics::OUTBOX, "state", &["pending", "delivered", "failed"], &counts.outbox);
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(metrics::render()))
}
