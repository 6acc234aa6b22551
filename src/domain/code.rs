//! The one table of error codes: each code's stable snake_case string, HTTP status and title.
//!
//! Layer-neutral on purpose: the store, the services and the engine name the code of an error
//! where it arises, without depending on the HTTP layer. The status is a plain `u16` here; the
//! api layer turns it into an HTTP status when it writes the problem document.
//! See `crate::api::error` for how a code travels from an error to the client.

use serde::{Deserialize, Serialize};

use super::FieldError;

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:literal, $title:literal;)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($variant,)+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The stable snake_case string clients match on.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The HTTP status and title of the code.
            pub const fn meta(self) -> (u16, &'static str) {
                match self {
                    $(ErrorCode::$variant => ($status, $title),)+
                }
            }

            /// The code named by its snake_case string.
            pub fn parse(code: &str) -> Option<Self> {
                match code {
                    $($code => Some(ErrorCode::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

// Clients depend on these strings, statuses and titles: never change one, only add.
error_codes! {
    Unauthorized = "unauthorized", 401, "Missing or invalid bearer token";
    Forbidden = "forbidden", 403, "The token's role does not allow this call";
    NotFound = "not_found", 404, "Not found";
    MalformedBody = "malformed_body", 400, "The request body could not be read";
    PayloadTooLarge = "payload_too_large", 413, "The request body is larger than the server accepts";
    MethodNotAllowed = "method_not_allowed", 405, "The route does not accept this method";
    ValidationFailed = "validation_failed", 422, "The request breaks a validation rule";
    UnsupportedMediaType = "unsupported_media_type", 415, "Unsupported content type";
    PreconditionFailed = "precondition_failed", 412, "If-Match does not match the current ETag";
    IdempotencyKeyReused = "idempotency_key_reused", 422, "Idempotency-Key was used for another request";
    IdempotencyInProgress = "idempotency_in_progress", 409, "A request with this Idempotency-Key is still in progress";
    TokenExists = "token_exists", 409, "A token with this name exists";
    CredentialExists = "credential_exists", 409, "The credential exists with another secret";
    ClusterInUse = "cluster_in_use", 409, "The cluster still has runtimes";
    ClusterCredentialsRequired = "cluster_credentials_required", 422, "The cluster needs credentials";
    RuntimeClusterMismatch = "runtime_cluster_mismatch", 409, "The runtime belongs to another cluster";
    UnknownCluster = "unknown_cluster", 422, "The cluster is not registered";
    PlanStale = "plan_stale", 409, "The plan's inputs changed since it was made";
    PlanAlreadyApplied = "plan_already_applied", 409, "The plan was already applied";
    PlanExpired = "plan_expired", 410, "The plan expired";
    RuntimeLocked = "runtime_locked", 409, "Another run holds a runtime this needs";
    RotationActive = "rotation_active", 409, "Another rotation of this credential is active";
    RotationState = "rotation_state", 409, "Not possible in the rotation's current state";
    NotWaitingApproval = "not_waiting_approval", 409, "The rotation is not waiting for approval";
    WorkloadsUnhealthy = "workloads_unhealthy", 422, "Workloads the rotation would restart are unhealthy";
    CredentialUnverified = "credential_unverified", 422, "The target credential version did not prove valid at its registry";
    ClusterModeUnknown = "cluster_mode_unknown", 409, "How the cluster runs runtimes is not known yet; probe it";
    ProfileInUse = "profile_in_use", 409, "A ThinRuntime still names this profile";
    HostPortsExhausted = "host_ports_exhausted", 409, "The cluster's host port range has too few free ports";
    LastAdmin = "last_admin", 409, "The last admin token cannot be revoked";
    LeaseLost = "lease_lost", 409, "This replica no longer holds the lease of this work";
    CredentialNotAllowed = "credential_not_allowed", 403, "The credential may not be used there";
    ScopeExcludesBindings = "scope_excludes_bindings", 409, "The new scope leaves out runtimes bound to the credential";
    ShuttingDown = "shutting_down", 503, "The daemon is shutting down; retry on another replica or after it restarts";
    PlanConflicts = "plan_conflicts", 409, "The plan would take over objects fluidform does not own";
    ClusterConfig = "cluster_config", 422, "The cluster's connection settings cannot be used";
    ClusterTls = "cluster_tls", 502, "TLS with the cluster's API server failed";
    ClusterAuth = "cluster_auth", 502, "The cluster's API server refused the credentials";
    ClusterUnreachable = "cluster_unreachable", 502, "The cluster's API server cannot be reached";
    ClusterApiError = "cluster_api_error", 502, "The cluster's API server returned an error";
    NotificationDeliveryFailed = "notification_delivery_failed", 502, "The webhook receiver did not accept the delivery";
    Internal = "internal", 500, "Internal error";
}

impl ErrorCode {
    pub const fn status(self) -> u16 {
        self.meta().0
    }

    pub const fn title(self) -> &'static str {
        self.meta().1
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows its code. Each layer's error enum implements it, naming the code
/// of every variant where the failure arises; the api layer has one conversion from any
/// `Coded` error into a problem document.
pub trait Coded: std::error::Error {
    fn code(&self) -> ErrorCode;

    /// The offending fields, for errors about the request's content.
    fn field_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_snake_case_string() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} appears twice");
            assert!(!s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{s}");
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(s));
            assert_eq!(serde_json::from_value::<ErrorCode>(serde_json::json!(s)).unwrap(), code);
            assert_eq!(ErrorCode::parse(s), Some(code));
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }

    /// The table as clients saw it when codes moved out of the api layer: code, status, title.
    const PUBLISHED: &str = "\
unauthorized 401 Missing or invalid bearer token\n\
forbidden 403 The token's role does not allow this call\n\
not_found 404 Not found\n\
malformed_body 400 The request body could not be read\n\
payload_too_large 413 The request body is larger than the server accepts\n\
method_not_allowed 405 The route does not accept this method\n\
validation_failed 422 The request breaks a validation rule\n\
unsupported_media_type 415 Unsupported content type\n\
precondition_failed 412 If-Match does not match the current ETag\n\
idempotency_key_reused 422 Idempotency-Key was used for another request\n\
idempotency_in_progress 409 A request with this Idempotency-Key is still in progress\n\
token_exists 409 A token with this name exists\n\
credential_exists 409 The credential exists with another secret\n\
cluster_in_use 409 The cluster still has runtimes\n\
cluster_credentials_required 422 The cluster needs credentials\n\
runtime_cluster_mismatch 409 The runtime belongs to another cluster\n\
unknown_cluster 422 The cluster is not registered\n\
plan_stale 409 The plan's inputs changed since it was made\n\
plan_already_applied 409 The plan was already applied\n\
plan_expired 410 The plan expired\n\
runtime_locked 409 Another run holds a runtime this needs\n\
rotation_active 409 Another rotation of this credential is active\n\
rotation_state 409 Not possible in the rotation's current state\n\
not_waiting_approval 409 The rotation is not waiting for approval\n\
workloads_unhealthy 422 Workloads the rotation would restart are unhealthy\n\
credential_unverified 422 The target credential version did not prove valid at its registry\n\
cluster_mode_unknown 409 How the cluster runs runtimes is not known yet; probe it\n\
profile_in_use 409 A ThinRuntime still names this profile\n\
host_ports_exhausted 409 The cluster's host port range has too few free ports\n\
last_admin 409 The last admin token cannot be revoked\n\
lease_lost 409 This replica no longer holds the lease of this work\n\
credential_not_allowed 403 The credential may not be used there\n\
scope_excludes_bindings 409 The new scope leaves out runtimes bound to the credential\n\
shutting_down 503 The daemon is shutting down; retry on another replica or after it restarts\n\
plan_conflicts 409 The plan would take over objects fluidform does not own\n\
cluster_config 422 The cluster's connection settings cannot be used\n\
cluster_tls 502 TLS with the cluster's API server failed\n\
cluster_auth 502 The cluster's API server refused the credentials\n\
cluster_unreachable 502 The cluster's API server cannot be reached\n\
cluster_api_error 502 The cluster's API server returned an error\n\
notification_delivery_failed 502 The webhook receiver did not accept the delivery\n\
internal 500 Internal error\n\
";

    #[test]
    fn the_table_is_total_and_keeps_every_published_code_status_and_title() {
        let table: String =
            ErrorCode::ALL.iter().map(|c| format!("{} {} {}\n", c.as_str(), c.status(), c.title())).collect();
        assert_eq!(table, PUBLISHED);
        for &code in ErrorCode::ALL {
            assert!((400..600).contains(&code.status()), "{code}");
        }
    }

    #[test]
    fn not_found_and_conflicts_are_never_400() {
        assert_eq!(ErrorCode::NotFound.status(), 404);
        for code in [ErrorCode::TokenExists, ErrorCode::RuntimeClusterMismatch, ErrorCode::PlanStale] {
            assert_eq!(code.status(), 409, "{code}");
        }
        assert_eq!(ErrorCode::RuntimeClusterMismatch.as_str(), "runtime_cluster_mismatch");
    }
}
