//! `/v1/tokens`: API tokens for portals and operators (admin only).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, Problem, parse_json};
use super::idempotency::{Reply, idempotent};
use super::{AppState, ListResponse};
use crate::domain::names::is_dns1123_subdomain;
use crate::secrets::{generate_token, hash_token};
use crate::store::tokens::Role;

/// How long a new token may live: 60 s to 366 days.
const TOKEN_LIFETIME: std::ops::RangeInclusive<u64> = 60..=366 * 86_400;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    /// A DNS-1123 subdomain, unique among tokens.
    #[schema(
        min_length = 1,
        max_length = 253,
        pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    )]
    pub name: String,
    pub role: Role,
    /// The token stops working this long after it is created: seconds, or a number with
    /// `s`, `m`, `h` or `d` (`"90d"`); 60 s to 366 days. Absent: it never expires.
    pub expires_in: Option<crate::domain::duration::DurationInput>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenCreated {
    pub name: String,
    pub role: Role,
    /// Shown only in this reply; store it now.
    pub token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[utoipa::path(
    operation_id = "create_token", tag = "tokens", security(("bearer" = [])),
    request_body(content = TokenRequest, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first reply for a retried request")),
    responses(
        (status = 201, description = "Created; the token is shown once", body = TokenCreated),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let input: TokenRequest = parse_json(&req, &body)?;
    if !is_dns1123_subdomain(&input.name) {
        return Err(ApiError::field("name", "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')"));
    }
    let expires_at = match &input.expires_in {
        None => None,
        Some(d) => {
            let secs = d.seconds_within("expiresIn", TOKEN_LIFETIME).map_err(|e| ApiError::invalid(vec![e]))?;
            Some(state.ctx.now() + chrono::Duration::seconds(secs as i64))
        }
    };
    idempotent(&state, &req, &caller, &body, || async {
        let token = generate_token();
        let rec =
            state.store.create_token(&input.name, input.role, &hash_token(&token), &caller.name, expires_at).await?;
        let created = TokenCreated { name: rec.name, role: rec.role, token, expires_at: rec.expires_at };
        Ok(Reply::json(StatusCode::CREATED, &created))
    })
    .await
}

#[utoipa::path(
    operation_id = "list_tokens", tag = "tokens", security(("bearer" = [])),
    responses(
        (status = 200, description = "Token names and roles", body = ListResponse<TokenInfo>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/tokens")]
pub async fn list_tokens(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let items = state
        .store
        .list_tokens()
        .await?
        .into_iter()
        .map(|t| TokenInfo {
            name: t.name,
            role: t.role,
            created_at: t.created_at,
            created_by: t.created_by,
            expires_at: t.expires_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListResponse { items, next: None }))
}

#[utoipa::path(
    operation_id = "delete_token", tag = "tokens", security(("bearer" = [])),
    params(("name" = String, Path, description = "Token name")),
    responses(
        (status = 204, description = "Revoked (for good: a revoked bootstrap token is not restored at the next start)"),
        (status = "4XX", description = "Problem: not_found, last_admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/tokens/{name}")]
pub async fn delete_token(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    state.store.delete_token(&path, &caller.name).await?;
    state.tokens.revoke(&path);
    Ok(HttpResponse::NoContent().finish())
}
