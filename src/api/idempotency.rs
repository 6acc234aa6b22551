//! `Idempotency-Key` on POST: the key is reserved before the request acts (see
//! `store::idempotency`); the first successful reply is saved (sealed, since a reply may
//! show a secret once) and returned again for a retry of the same request until it
//! expires (`FLUIDFORM_IDEMPOTENCY_TTL`, default 24 h). Keys belong to the token that sent
//! them. A retry that arrives while the first request still acts waits for its reply (up
//! to `WAIT`), then gets 409 `idempotency_in_progress`. The same key with another method,
//! path or body is refused with `idempotency_key_reused`. Failed requests are not saved,
//! so they can be retried with the same key.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorCode};
use crate::store::idempotency::{Reservation, SavedReply};

/// How long a retry waits for the reply of a request with its key that is still acting.
const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A JSON reply before it becomes an `HttpResponse`.
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Self {
        Self { status, headers: Vec::new(), body: serde_json::to_vec(body).expect("response serializes") }
    }
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    pub fn into_response(self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        b.content_type("application/json");
        for (k, v) in &self.headers {
            b.insert_header((k.as_str(), v.as_str()));
        }
        b.body(self.body)
    }
}

const CONTEXT: &str = "idempotency";

pub async fn idempotent<F, Fut>(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
    body: &[u8],
    run: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let key = req.headers().get("Idempotency-Key").and_then(|v| v.to_str().ok()).map(str::trim);
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Ok(run().await?.into_response());
    };
    if key.len() > 255 {
        return Err(ApiError::field("Idempotency-Key", "must be at most 255 characters"));
    }
    let mut h = Sha256::new();
    h.update(req.method().as_str());
    h.update(b" ");
    h.update(req.uri().to_string());
    h.update(b"\n");
    h.update(body);
    let request_hash = hex::encode(h.finalize());
    let ttl = state.ctx.settings.idempotency_ttl;
    let token = caller.token_hash.as_str();
    let started = std::time::Instant::now();
    loop {
        match state.store.reserve_key(token, key, &request_hash, ttl).await? {
            Reservation::Reserved => break,
            Reservation::InProgress { request_hash: held }
            | Reservation::Done(SavedReply { request_hash: held, .. })
                if held != request_hash =>
            {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyKeyReused,
                    "this Idempotency-Key was first used with another request; use a new key",
                ));
            }
            Reservation::Done(saved) => {
                let body = state.key.open(CONTEXT, &saved.sealed_body).map_err(ApiError::internal)?;
                let status = StatusCode::from_u16(saved.status).map_err(ApiError::internal)?;
                let reply = Reply { status, headers: saved.headers, body };
                return Ok(reply.header("Idempotent-Replayed", "true").into_response());
            }
            Reservation::InProgress { .. } if started.elapsed() < WAIT => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Reservation::InProgress { .. } => {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyInProgress,
                    "a request with this Idempotency-Key is still being processed; retry later for its reply",
                ));
            }
        }
    }
    let reply = match run().await {
        Ok(r) if r.status.is_success() => r,
        other => {
            state.store.release_key(token, key, &request_hash).await?;
            return other.map(Reply::into_response);
        }
    };
    let saved = SavedReply {
        request_hash,
        status: reply.status.as_u16(),
        headers: reply.headers.clone(),
        sealed_body: state.key.seal(CONTEXT, &reply.body),
    };
    state.store.complete_key(token, key, &saved, ttl).await?;
    Ok(reply.into_response())
}
