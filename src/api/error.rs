//! Every error the API returns, as `application/problem+json` (RFC 9457) with a stable
//! snake_case `code`.
//!
//! Codes travel with errors from where they arise. `ErrorCode` in `crate::domain::code` is
//! the one table of codes, statuses and titles; it is layer-neutral, so the store, the
//! services and the engine name codes without depending on this layer. Each layer's error
//! enum implements `Coded`, saying the code of every variant where the failure happens
//! (`StoreError::conflict(ErrorCode::TokenExists, ..)` in the store, `PlanError::Stale` is
//! `plan_stale` in the engine, a `ClusterError::Tls` is `cluster_tls` at the port). Errors that
//! wrap another layer's error delegate to it. Nothing turns a string back into a code.
//!
//! There is one conversion into a problem: `impl<E: Coded> From<E> for ApiError`. It takes
//! the code, its status and title from the table, the detail from the error's `Display`
//! (for `validation_failed`, the offending fields joined), and the fields from
//! `Coded::field_errors`. An `internal` error logs its cause and tells the client only that
//! the server failed. Errors of the HTTP edge itself (authentication, idempotency keys,
//! bodies that cannot be read) are built here with `ApiError::new`.
//!
//! To add a code: add a line to the `error_codes!` table in `crate::domain::code` (a new
//! snake_case string, its status and title; never change a published one, the table test
//! freezes them), return it from the `Coded::code` of the error where the failure arises,
//! and add it to the `PUBLISHED` snapshot in that module's tests.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::FieldError;
pub use crate::domain::code::{Coded, ErrorCode};

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:fluidform:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
    /// The first offending field, as a JSON path into the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every offending field, for validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), errors: Vec::new() }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError { field: field.into(), message: message.into() }])
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| if e.field.is_empty() { e.message.clone() } else { format!("{}: {}", e.field, e.message) })
            .collect::<Vec<_>>()
            .join("; ");
        Self { code: ErrorCode::ValidationFailed, detail, errors }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "the server failed to handle the request; see its log")
    }

    pub fn problem(&self) -> Problem {
        let (status, title) = self.code.meta();
        Problem {
            type_: format!("urn:fluidform:problem:{}", self.code.as_str()),
            title: title.into(),
            status,
            detail: self.detail.clone(),
            code: self.code,
            field: self.errors.first().map(|e| e.field.clone()),
            errors: self.errors.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).content_type("application/problem+json").json(self.problem())
    }
}

/// The one conversion from an error of any layer into a problem.
impl<E: Coded> From<E> for ApiError {
    fn from(e: E) -> Self {
        match e.code() {
            ErrorCode::Internal => Self::internal(e),
            ErrorCode::ValidationFailed => Self::invalid(e.field_errors()),
            code => Self { code, detail: e.to_string(), errors: e.field_errors() },
        }
    }
}

/// Reads a JSON body, naming the exact JSON path of the first bad field.
pub fn parse_json<T: serde::de::DeserializeOwned>(req: &actix_web::HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    let ct = req.headers().get(actix_web::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.is_empty() && !ct.starts_with("application/json") {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType, format!("send application/json, not {ct}")));
    }
    // serde reads a struct from a JSON array too (its fields by position); a body is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::field("", "the body must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let first = serde_path_to_error::deserialize(de);
    // An integer may be written `3.0` (JSON Schema's `integer`): read it again with such
    // numbers as integers, only when that is what failed.
    if first.is_err() && super::has_whole_floats(body) {
        let mut v: serde_json::Value = serde_json::from_slice(body).expect("checked as JSON");
        super::whole_floats_as_integers(&mut v);
        return serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            let mut msg = strip_position(&e.into_inner().to_string());
            if crate::domain::redact::secret_field(&path) {
                msg = crate::domain::redact::scrub(&msg);
            }
            ApiError::field(if path == "." { String::new() } else { path }, msg)
        });
    }
    first.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let mut msg = strip_position(&inner.to_string());
            if crate::domain::redact::secret_field(&path) {
                msg = crate::domain::redact::scrub(&msg);
            }
            ApiError::field(if path == "." { String::new() } else { path }, msg)
        } else {
            ApiError::new(ErrorCode::MalformedBody, format!("not valid JSON: {inner}"))
        }
    })
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

pub fn query_error(err: actix_web::error::QueryPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::field("query", err.to_string()).into()
}

pub fn path_error(err: actix_web::error::PathError, _: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::field("path", err.to_string()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn a_store_conflict_keeps_the_code_it_was_raised_with() {
        let e: ApiError = StoreError::conflict(ErrorCode::LastAdmin, "token \"a\" is the last admin").into();
        let p = e.problem();
        assert_eq!(
            (p.code, p.status, p.type_.as_str()),
            (ErrorCode::LastAdmin, 409, "urn:fluidform:problem:last_admin")
        );
        assert_eq!(p.detail, "token \"a\" is the last admin");
        assert_eq!(e.status_code(), StatusCode::CONFLICT);
    }

    #[test]
    fn validation_failures_list_their_fields_and_internal_errors_hide_their_cause() {
        let e: ApiError = crate::service::ServiceError::invalid("spec.replicas", "must be at least 1").into();
        let p = e.problem();
        assert_eq!((p.code, p.status), (ErrorCode::ValidationFailed, 422));
        assert_eq!(p.detail, "spec.replicas: must be at least 1");
        assert_eq!(p.field.as_deref(), Some("spec.replicas"));

        let e: ApiError = StoreError::Corrupt("the secret bytes".into()).into();
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(!e.detail.contains("secret"), "{}", e.detail);
    }
}
