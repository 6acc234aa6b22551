//! The `Clusters` port: everything the engine asks of a target cluster. The kube-rs
//! implementation is `crate::k8s`; tests use the in-memory fake in `engine::fake`.
//!
//! A handle (`Cluster`) counts the HTTP requests made through it, so a run reports what it
//! cost even when other work shares the cluster's connections.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::domain::code::{Coded, ErrorCode};
use crate::domain::kinds::Kind;
use crate::domain::rollout::RolloutState;

/// How a cluster is reached, with its credential in the clear (only in memory).
#[derive(Clone)]
pub struct ClusterConnection {
    pub server: String,
    pub ca_data: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub token: Option<String>,
    pub client_cert_data: Option<String>,
    pub client_key_data: Option<String>,
}

impl std::fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConnection").field("server", &self.server).finish_non_exhaustive()
    }
}

/// A registered cluster as the engine hands it to the port: its name and generation (a
/// connection is reused until the generation moves) and how to reach it.
#[derive(Debug, Clone)]
pub struct ClusterTarget {
    pub name: String,
    pub generation: i64,
    pub connection: ClusterConnection,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
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

impl ClusterError {
    /// An answer that another try will not change (bad object, forbidden): retrying only
    /// hammers the server.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Config(_) | Self::Auth { .. } => true,
            Self::Api { status, .. } => matches!(status, 400 | 403 | 404 | 405 | 415 | 422),
            Self::Tls(_) | Self::Network(_) => false,
        }
    }
}

impl Coded for ClusterError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Config(_) => ErrorCode::ClusterConfig,
            Self::Tls(_) => ErrorCode::ClusterTls,
            Self::Auth { .. } => ErrorCode::ClusterAuth,
            Self::Network(_) => ErrorCode::ClusterUnreachable,
            Self::Api { .. } => ErrorCode::ClusterApiError,
        }
    }
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// Counts of HTTP requests sent to a cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RequestCounts {
    /// GET (get, list, watch) requests.
    pub reads: u64,
    /// POST, PUT, PATCH and DELETE requests.
    pub writes: u64,
}

impl std::ops::AddAssign for RequestCounts {
    fn add_assign(&mut self, o: Self) {
        self.reads += o.reads;
        self.writes += o.writes;
    }
}

/// The counter a handle increments once per HTTP request.
#[derive(Debug, Default)]
pub struct RequestCounter {
    reads: AtomicU64,
    writes: AtomicU64,
}

impl RequestCounter {
    pub fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }
    pub fn write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts { reads: self.reads.load(Ordering::Relaxed), writes: self.writes.load(Ordering::Relaxed) }
    }
}

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    /// It was not there (any more).
    Gone,
    /// An object of that name exists but is not fluidform's (no `managed-by: fluidform`
    /// label): it is left alone.
    NotOurs,
}

/// Opens clusters. Implementations reuse connections per cluster and generation.
#[async_trait::async_trait]
pub trait Clusters: Send + Sync + 'static {
    async fn connect(&self, target: &ClusterTarget) -> Result<Arc<dyn Cluster>>;
}

/// One cluster, as seen through one handle.
#[async_trait::async_trait]
pub trait Cluster: Send + Sync {
    /// The API server's `gitVersion`.
    async fn version(&self) -> Result<String>;

    /// Whether the credentials may `verb` the resource (SelfSubjectAccessReview).
    async fn can_i(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> Result<bool>;

    /// Server-side apply of a whole object as field manager `fluidform`, taking the fields
    /// it sets from any other manager (`force`).
    async fn apply(&self, object: &Value) -> Result<()>;

    /// Deletes an object fluidform owns (it carries `app.kubernetes.io/managed-by:
    /// fluidform`, and the delete is guarded by its uid); anything else is left alone.
    async fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<Deleted>;

    /// One LIST of a kind in a namespace (`""` for cluster-scoped kinds) by label selector;
    /// every item carries `apiVersion` and `kind`.
    async fn list(&self, kind: Kind, namespace: &str, selector: &str) -> Result<Vec<Value>>;

    /// Names of the objects of a kind in a namespace matching `selector` (`""`: all), from
    /// a metadata-only LIST.
    async fn list_names(&self, kind: Kind, namespace: &str, selector: &str) -> Result<BTreeSet<String>>;

    /// StatefulSets, DaemonSets and pods of a namespace matching `selector`: one LIST each.
    async fn rollout(&self, namespace: &str, selector: &str) -> Result<RolloutState>;

    /// StatefulSets, DaemonSets and pods of every namespace matching `selector`: one LIST
    /// each across all namespaces, grouped by namespace (namespaces with nothing matching
    /// are absent). Needs cluster-wide `list`; a 403 says the caller should read per
    /// namespace instead.
    async fn rollouts(&self, selector: &str) -> Result<BTreeMap<String, RolloutState>>;

    /// The rollout state of the releases wanted in each namespace (as `rollouts` filtered
    /// to them) from a watch of the cluster, when one is up and cannot be older than what
    /// this process read fresh of the cluster and wrote to it; `None` otherwise, and the
    /// caller reads fresh. It sends no request.
    fn watched(&self, namespaces: &BTreeMap<&str, BTreeSet<&str>>) -> Option<BTreeMap<String, RolloutState>> {
        let _ = namespaces;
        None
    }

    /// Deletes the pod of that name and uid (for `OnDelete` rollouts): a pod already gone
    /// counts as deleted, and a pod of that name with another uid (its replacement) is left
    /// alone, so a deletion sent twice (a retry, a replica that took a rotation over)
    /// removes one pod at most.
    async fn delete_pod(&self, namespace: &str, name: &str, uid: &str) -> Result<()>;

    /// The resources of Fluid's API group (`data.fluid.io/v1alpha1`) the cluster serves,
    /// and Fluid's controllers (Deployments in `fluid-system`; `None` when not readable).
    async fn discover_fluid(&self) -> Result<(Vec<String>, Option<Vec<String>>)>;

    /// Sets the pull-secret list of a workload's pod template to exactly `names`, changing
    /// nothing else (a JSON patch guarded by the object's resourceVersion, retried on
    /// conflict, as field manager `fluidform`).
    async fn set_pull_secrets(&self, kind: Kind, namespace: &str, name: &str, names: &[String]) -> Result<()>;

    /// Creates the namespace when it is missing; true when it was created.
    async fn ensure_namespace(&self, name: &str) -> Result<bool>;

    /// Requests sent through this handle so far.
    fn requests(&self) -> RequestCounts;
}
