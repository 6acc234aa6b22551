//! Target clusters through the kube crate: connections from stored credentials,
//! server-side apply with field manager `fluidform`, deletes for pruning, batched live
//! reads (one LIST per namespace and kind), and rollout health.

pub mod client;

use std::error::Error as _;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cluster configuration: {0}")]
    Config(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the API server refused the credentials ({status}): {message}")]
    Auth { status: u16, message: String },
    #[error("network: {0}")]
    Network(String),
    #[error("the API server answered {status} {reason}: {message}")]
    Api { status: u16, reason: String, message: String },
}

impl SyncError {
    pub fn from_kube(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) if s.code == 401 || s.code == 403 => Self::Auth { status: s.code, message: s.message },
            kube::Error::Api(s) => Self::Api { status: s.code, reason: s.reason, message: s.message },
            other => {
                let mut text = other.to_string();
                let mut src = other.source();
                while let Some(s) = src {
                    text.push_str(": ");
                    text.push_str(&s.to_string());
                    src = s.source();
                }
                let lower = text.to_lowercase();
                if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
                    Self::Tls(text)
                } else {
                    Self::Network(text)
                }
            }
        }
    }

    /// A stable snake_case kind for problem codes and run records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Config(_) => "cluster_config",
            Self::Tls(_) => "cluster_tls",
            Self::Auth { .. } => "cluster_auth",
            Self::Network(_) => "cluster_unreachable",
            Self::Api { .. } => "cluster_api_error",
        }
    }
}
