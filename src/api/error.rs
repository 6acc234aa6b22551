//! Every error the API returns, as `application/problem+json` (RFC 9457) with a stable
//! snake_case `code`. `ErrorCode::meta` is the one table of codes, statuses and titles.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::FieldError;
use crate::service::ServiceError;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    NotFound,
    MalformedBody,
    PayloadTooLarge,
    MethodNotAllowed,
    ValidationFailed,
    UnsupportedMediaType,
    PreconditionFailed,
    IdempotencyKeyReused,
    IdempotencyInProgress,
    TokenExists,
    CredentialExists,
    ClusterInUse,
    ClusterCredentialsRequired,
    RuntimeClusterMismatch,
    UnknownCluster,
    PlanStale,
    PlanAlreadyApplied,
    PlanExpired,
    RuntimeLocked,
    RotationActive,
    RotationState,
    NotWaitingApproval,
    WorkloadsUnhealthy,
    CredentialUnverified,
    ClusterModeUnknown,
    ProfileInUse,
    HostPortsExhausted,
    LastAdmin,
    CredentialNotAllowed,
    ScopeExcludesBindings,
    ShuttingDown,
    PlanConflicts,
    ClusterConfig,
    ClusterTls,
    ClusterAuth,
    ClusterUnreachable,
    ClusterApiError,
    NotificationDeliveryFailed,
    Internal,
}

impl ErrorCode {
    /// The table: HTTP status and title of every code.
    pub fn meta(self) -> (StatusCode, &'static str) {
        use ErrorCode::*;
        match self {
            Unauthorized => (StatusCode::UNAUTHORIZED, "Missing or invalid bearer token"),
            Forbidden => (StatusCode::FORBIDDEN, "The token's role does not allow this call"),
            NotFound => (StatusCode::NOT_FOUND, "Not found"),
            MalformedBody => (StatusCode::BAD_REQUEST, "The request body could not be read"),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "The request body is larger than the server accepts"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "The route does not accept this method"),
            ValidationFailed => (StatusCode::UNPROCESSABLE_ENTITY, "The request breaks a validation rule"),
            UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported content type"),
            PreconditionFailed => (StatusCode::PRECONDITION_FAILED, "If-Match does not match the current ETag"),
            IdempotencyKeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "Idempotency-Key was used for another request"),
            IdempotencyInProgress => (StatusCode::CONFLICT, "A request with this Idempotency-Key is still in progress"),
            TokenExists => (StatusCode::CONFLICT, "A token with this name exists"),
            CredentialExists => (StatusCode::CONFLICT, "The credential exists with another secret"),
            ClusterInUse => (StatusCode::CONFLICT, "The cluster still has runtimes"),
            ClusterCredentialsRequired => (StatusCode::UNPROCESSABLE_ENTITY, "The cluster needs credentials"),
            RuntimeClusterMismatch => (StatusCode::CONFLICT, "The runtime belongs to another cluster"),
            UnknownCluster => (StatusCode::UNPROCESSABLE_ENTITY, "The cluster is not registered"),
            PlanStale => (StatusCode::CONFLICT, "The plan's inputs changed since it was made"),
            PlanAlreadyApplied => (StatusCode::CONFLICT, "The plan was already applied"),
            PlanExpired => (StatusCode::GONE, "The plan expired"),
            RuntimeLocked => (StatusCode::CONFLICT, "Another run holds a runtime this needs"),
            RotationActive => (StatusCode::CONFLICT, "Another rotation of this credential is active"),
            RotationState => (StatusCode::CONFLICT, "Not possible in the rotation's current state"),
            NotWaitingApproval => (StatusCode::CONFLICT, "The rotation is not waiting for approval"),
            WorkloadsUnhealthy => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Workloads the rotation would restart are unhealthy")
            }
            CredentialUnverified => {
                (StatusCode::UNPROCESSABLE_ENTITY, "The target credential version did not prove valid at its registry")
            }
            ClusterModeUnknown => (StatusCode::CONFLICT, "How the cluster runs runtimes is not known yet; probe it"),
            ProfileInUse => (StatusCode::CONFLICT, "A ThinRuntime still names this profile"),
            HostPortsExhausted => (StatusCode::CONFLICT, "The cluster's host port range has too few free ports"),
            LastAdmin => (StatusCode::CONFLICT, "The last admin token cannot be revoked"),
            CredentialNotAllowed => (StatusCode::FORBIDDEN, "The credential may not be used there"),
            ScopeExcludesBindings => {
                (StatusCode::CONFLICT, "The new scope leaves out runtimes bound to the credential")
            }
            ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The daemon is shutting down; retry on another replica or after it restarts",
            ),
            PlanConflicts => (StatusCode::CONFLICT, "The plan would take over objects fluidform does not own"),
            ClusterConfig => (StatusCode::UNPROCESSABLE_ENTITY, "The cluster's connection settings cannot be used"),
            ClusterTls => (StatusCode::BAD_GATEWAY, "TLS with the cluster's API server failed"),
            ClusterAuth => (StatusCode::BAD_GATEWAY, "The cluster's API server refused the credentials"),
            ClusterUnreachable => (StatusCode::BAD_GATEWAY, "The cluster's API server cannot be reached"),
            ClusterApiError => (StatusCode::BAD_GATEWAY, "The cluster's API server returned an error"),
            NotificationDeliveryFailed => (StatusCode::BAD_GATEWAY, "The webhook receiver did not accept the delivery"),
            Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
        }
    }

    pub fn as_str(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
    }

    fn from_store_conflict(code: &str) -> Self {
        match code {
            "token_exists" => Self::TokenExists,
            "credential_exists" => Self::CredentialExists,
            "cluster_in_use" => Self::ClusterInUse,
            "cluster_credentials_required" => Self::ClusterCredentialsRequired,
            "runtime_cluster_mismatch" => Self::RuntimeClusterMismatch,
            "rotation_active" => Self::RotationActive,
            "profile_in_use" => Self::ProfileInUse,
            "host_ports_exhausted" => Self::HostPortsExhausted,
            "last_admin" => Self::LastAdmin,
            "credential_not_allowed" => Self::CredentialNotAllowed,
            "scope_excludes_bindings" => Self::ScopeExcludesBindings,
            _ => Self::Internal,
        }
    }
}

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

    /// A problem talking to a target cluster.
    pub fn cluster(cluster: &str, e: &crate::engine::port::ClusterError) -> Self {
        use crate::engine::port::ClusterError as S;
        let code = match e {
            S::Config(_) => ErrorCode::ClusterConfig,
            S::Tls(_) => ErrorCode::ClusterTls,
            S::Auth { .. } => ErrorCode::ClusterAuth,
            S::Network(_) => ErrorCode::ClusterUnreachable,
            S::Api { .. } => ErrorCode::ClusterApiError,
        };
        Self::new(code, format!("cluster {cluster:?}: {e}"))
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
            status: status.as_u16(),
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
        self.code.meta().0
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).content_type("application/problem+json").json(self.problem())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::new(ErrorCode::NotFound, format!("{what} not found")),
            StoreError::Conflict { code, detail } => Self::new(ErrorCode::from_store_conflict(code), detail),
            e @ StoreError::PreconditionFailed { .. } => Self::new(ErrorCode::PreconditionFailed, e.to_string()),
            e => Self::internal(e),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(errors) => Self::invalid(errors),
            ServiceError::Store(s) => s.into(),
            ServiceError::Secret(s) => Self::internal(s),
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

    #[test]
    fn codes_are_snake_case_and_statuses_never_400_for_404_or_409() {
        assert_eq!(ErrorCode::RuntimeClusterMismatch.as_str(), "runtime_cluster_mismatch");
        assert_eq!(ErrorCode::NotFound.meta().0, StatusCode::NOT_FOUND);
        assert_eq!(ErrorCode::TokenExists.meta().0, StatusCode::CONFLICT);
    }
}
