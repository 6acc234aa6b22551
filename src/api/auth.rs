//! Bearer-token authentication and role checks. Tokens are looked up by their SHA-256
//! hash; viewers read, operators also write runtimes, admins also manage clusters,
//! credentials and tokens.
//!
//! A token seen recently is answered from memory (`TokenCache`, at most `TOKEN_TTL` old).
//! Revoking a token through this process drops it from the cache at once; the TTL bounds
//! how long another process sharing the database may still accept it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::secrets::hash_token;
use crate::store::tokens::Role;

/// How long a looked-up token is trusted without asking the database again.
pub const TOKEN_TTL: Duration = Duration::from_secs(5);

/// Callers by token hash, with when they were looked up.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Caller, Instant)>>,
}

impl TokenCache {
    fn get(&self, hash: &str) -> Option<Caller> {
        let map = self.entries.lock().ok()?;
        map.get(hash).filter(|(_, at)| at.elapsed() < TOKEN_TTL).map(|(c, _)| c.clone())
    }

    fn put(&self, hash: String, caller: Caller) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 10_000 {
                map.retain(|_, (_, at)| at.elapsed() < TOKEN_TTL);
            }
            map.insert(hash, (caller, Instant::now()));
        }
    }

    /// Forgets every cached token of `name` (it was revoked).
    pub fn revoke(&self, name: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.retain(|_, (c, _)| c.name != name);
        }
    }
}

/// The authenticated caller of a `/v1` request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    /// The SHA-256 of the token it sent: what idempotency keys are scoped to.
    pub token_hash: String,
    /// When its token stops working.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Caller {
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("this call needs the {} role; token {:?} is {}", role.as_str(), self.name, self.role.as_str()),
            ))
        }
    }
}

/// Where the audit log finds who called: the request's extensions.
struct CallerSlot(HttpRequest);

impl CallerSlot {
    fn insert(&self, caller: Caller) {
        actix_web::HttpMessage::extensions_mut(&self.0).insert(caller);
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let req_ext = CallerSlot(req.clone());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = header
                .as_deref()
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "send Authorization: Bearer <token>"))?;
            let hash = hash_token(token);
            let now = state.ctx.now();
            let caller = match state.tokens.get(&hash) {
                Some(c) => c,
                None => {
                    let found = state.store.find_token_by_hash(&hash).await?;
                    let rec =
                        found.ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "the bearer token is not valid"))?;
                    let caller =
                        Caller { name: rec.name, role: rec.role, token_hash: hash.clone(), expires_at: rec.expires_at };
                    state.tokens.put(hash, caller.clone());
                    caller
                }
            };
            if let Some(at) = caller.expires_at.filter(|at| *at <= now) {
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    format!("token {:?} expired at {}", caller.name, at.to_rfc3339()),
                ));
            }
            req_ext.insert(caller.clone());
            Ok(caller)
        })
    }
}
