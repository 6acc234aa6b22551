//! `Idempotency-Key` on POST: the first successful reply to a key is saved (sealed, since a
//! reply may show a secret once) and returned again for a retry of the same request. The
//! same key with another method, path or body is refused with `idempotency_key_reused`.
//! Failed requests are not saved, so they can be retried with the same key.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorCode};
use crate::store::idempotency::SavedReply;

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
    if let Some(saved) = state.store.find_reply(&caller.name, key).await? {
        if saved.request_hash != request_hash {
            return Err(ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was first used with another request; use a new key",
            ));
        }
        let body = state.key.open(CONTEXT, &saved.sealed_body).map_err(ApiError::internal)?;
        let status = StatusCode::from_u16(saved.status).map_err(ApiError::internal)?;
        let reply = Reply { status, headers: saved.headers, body };
        return Ok(reply.header("Idempotent-Replayed", "true").into_response());
    }
    let reply = run().await?;
    if reply.status.is_success() {
        let saved = SavedReply {
            request_hash,
            status: reply.status.as_u16(),
            headers: reply.headers.clone(),
            sealed_body: state.key.seal(CONTEXT, &reply.body),
        };
        state.store.save_reply(&caller.name, key, &saved).await?;
    }
    Ok(reply.into_response())
}
