//! Application services: turn validated requests into store calls and stored state into
//! what the API shows. Handlers call exactly one function here.

pub mod clusters;
pub mod credentials;
pub mod fluid;
pub mod notifications;
pub mod runtimes;

use crate::domain::FieldError;
use crate::domain::code::{Coded, ErrorCode};
use crate::secrets::SecretError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input that breaks a rule; every violation is listed with its field.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl Coded for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Store(e) => e.code(),
            Self::Secret(_) => ErrorCode::Internal,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(errors) => errors.clone(),
            _ => Vec::new(),
        }
    }
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError { field: field.into(), message: message.into() }])
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// A serde message without its " at line N column M" suffix (positions mean nothing to a
/// caller who sent JSON built by a program, and may sit next to a secret's bytes).
pub fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
