//! Bearer-token authentication and role checks. Tokens are looked up by their SHA-256
//! hash; viewers read, operators also write runtimes, admins also manage clusters,
//! credentials and tokens.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::secrets::hash_token;
use crate::store::tokens::Role;

/// The authenticated caller of a `/v1` request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
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

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = header
                .as_deref()
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "send Authorization: Bearer <token>"))?;
            let found = state.store.find_token_by_hash(&hash_token(token)).await?;
            let rec = found.ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "the bearer token is not valid"))?;
            Ok(Caller { name: rec.name, role: rec.role })
        })
    }
}
