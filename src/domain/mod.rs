//! The pure domain: runtime manifests (AlluxioRuntime, JindoRuntime, ThinRuntime),
//! ThinRuntimeProfiles and Datasets, their validation, layered pull-secret resolution,
//! workload rendering, and the CustomResourceDefinitions of the kinds fluidform writes.
//! No I/O lives here: every function is a plain transformation of its inputs, so the
//! rules are tested as tables.

pub mod code;
pub mod crd;
pub mod dataset;
pub mod diff;
pub mod duration;
pub mod fluid;
pub mod jindo;
pub mod kinds;
pub mod layers;
pub mod manifest;
pub mod names;
pub mod notify;
pub mod parse;
pub mod ports;
pub mod quantity;
pub mod quirks;
pub mod redact;
pub mod render;
pub mod rollout;
pub mod runtime;
pub mod scope;
pub mod selector;
pub mod states;
#[cfg(test)]
pub(crate) mod testutil;
pub mod thin;
pub mod validate;

use serde::Serialize;

/// One problem with a request body, naming the field it concerns.
///
/// `field` is a JSON path such as `spec.tieredstore.levels[0].quota`; it is empty when the
/// problem concerns the whole body (a syntax error, for instance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.field, self.message) }
    }
}

impl std::error::Error for FieldError {}
