//! The engine: what fluidform does against clusters, in four roles over one context —
//! the planner (`plan`), the runner that applies plans (`runner`), the drift loop
//! (`drift`) and the rotation driver (`rotation`). Everything they ask of a cluster goes
//! through the `Clusters` port (`port`), implemented over kube-rs in `crate::k8s` and in
//! memory in `fake` for tests.

mod capped;
pub mod drain;
pub mod drift;
#[cfg(test)]
pub mod fake;
pub mod notify;
pub mod plan;
pub mod port;
pub mod probe;
pub mod replicas;
pub mod rotation;
pub mod runner;
pub mod verify;

pub use capped::MAX_WRITES_IN_FLIGHT;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::code::{Coded, ErrorCode};
use crate::secrets::MasterKey;
use crate::service::ServiceError;
use crate::service::clusters::open_auth;
use crate::store::Store;
use crate::store::clusters::ClusterRecord;
use port::{Cluster, ClusterConnection, ClusterError, ClusterTarget, Clusters};

/// The time, as the engine sees it (tests move it by hand).
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Settings of the engine's roles.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a run's runtime locks live without renewal (renewed while it works).
    pub run_lease: chrono::Duration,
    /// How long a saved plan stays applicable.
    pub plan_ttl: chrono::Duration,
    /// Objects a run sends at once to one cluster, unless the cluster says otherwise.
    pub apply_concurrency: usize,
    /// Time between two steps of the rotation driver.
    pub rotation_tick: std::time::Duration,
    /// How old a credential version's last proof against its registry may be before a
    /// rotation's next batch proves it again.
    pub verify_max_age: chrono::Duration,
    /// How long a reply saved under an `Idempotency-Key` is replayed.
    pub idempotency_ttl: chrono::Duration,
    /// Time between two passes of the webhook dispatcher.
    pub notify_tick: std::time::Duration,
    /// Wait after a delivery's first failed attempt (doubled per failure)…
    pub notify_backoff: std::time::Duration,
    /// …up to this.
    pub notify_backoff_cap: std::time::Duration,
    /// Longest a webhook receiver gets to answer.
    pub notify_timeout: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            run_lease: chrono::Duration::seconds(60),
            plan_ttl: chrono::Duration::seconds(3600),
            apply_concurrency: 16,
            rotation_tick: std::time::Duration::from_millis(500),
            verify_max_age: chrono::Duration::seconds(300),
            idempotency_ttl: chrono::Duration::hours(24),
            notify_tick: std::time::Duration::from_millis(500),
            notify_backoff: std::time::Duration::from_secs(1),
            notify_backoff_cap: std::time::Duration::from_secs(600),
            notify_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// Everything the roles share, built once at start-up.
pub struct Context {
    pub store: Store,
    pub key: MasterKey,
    pub clusters: Arc<dyn Clusters>,
    /// Where credential versions are proven (`crate::registry`).
    pub registries: Arc<dyn crate::registry::Registries>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// This process's name in lock and lease records.
    pub replica: String,
    /// Where background work is spawned (the daemon's main runtime, not an HTTP worker's).
    pub spawner: tokio::runtime::Handle,
    /// Write permits per cluster (see `capped`).
    pub write_permits: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>,
    /// Admits background work until shutdown (see `drain`).
    pub drain: drain::Drain,
    /// Clusters (name, generation) that refused a LIST across namespaces: the rotation
    /// driver reads them one namespace at a time (see `rotation::observe`).
    pub namespaced_reads: std::sync::Mutex<std::collections::HashSet<(String, i64)>>,
    /// Renderings plans remember (see `plan::memo`).
    pub renders: plan::memo::RenderMemo,
    /// Runtimes written and waiting to be rendered ahead of a plan (see `plan::warm`).
    pub warm: plan::warm::Wanted,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

impl Coded for ConnectError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Service(e) => e.code(),
            Self::Cluster(e) => e.code(),
        }
    }
}

/// A failure reaching a cluster by name, said with the name for the caller.
#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("cluster {cluster:?}: {source}")]
    Cluster { cluster: String, source: ClusterError },
}

impl ReachError {
    pub fn new(cluster: &str, e: ConnectError) -> Self {
        match e {
            ConnectError::Service(s) => Self::Service(s),
            ConnectError::Cluster(source) => Self::Cluster { cluster: cluster.to_string(), source },
        }
    }
}

impl Coded for ReachError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Service(e) => e.code(),
            Self::Cluster { source, .. } => source.code(),
        }
    }

    fn field_errors(&self) -> Vec<crate::domain::FieldError> {
        match self {
            Self::Service(e) => e.field_errors(),
            Self::Cluster { .. } => Vec::new(),
        }
    }
}

impl From<crate::store::StoreError> for ConnectError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Service(e.into())
    }
}

/// The lock a run or rotation holds on a runtime.
pub fn lock_id(namespace: &str, name: &str) -> String {
    format!("runtime:{namespace}:{name}")
}

impl Context {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A handle on a registered cluster, its stored credential opened in memory.
    pub async fn cluster(&self, name: &str) -> Result<Arc<dyn Cluster>, ConnectError> {
        let rec = self.store.get_cluster(name).await?;
        self.cluster_of(&rec).await
    }

    pub async fn cluster_of(&self, rec: &ClusterRecord) -> Result<Arc<dyn Cluster>, ConnectError> {
        let auth = open_auth(&self.key, rec)?;
        let target = ClusterTarget {
            name: rec.name.clone(),
            generation: rec.generation,
            connection: ClusterConnection {
                server: rec.server.clone(),
                ca_data: rec.ca_data.clone(),
                insecure_skip_tls_verify: rec.insecure_skip_tls_verify,
                token: auth.token,
                client_cert_data: auth.client_cert_data,
                client_key_data: auth.client_key_data,
            },
        };
        let inner = self.clusters.connect(&target).await?;
        let writes = self
            .write_permits
            .lock()
            .expect("permits lock")
            .entry(rec.name.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(capped::MAX_WRITES_IN_FLIGHT)))
            .clone();
        Ok(Arc::new(capped::Capped { inner, writes }))
    }

    /// Objects a run sends at once to `cluster`.
    pub fn concurrency_of(&self, cluster: &ClusterRecord) -> usize {
        cluster.apply_concurrency.map(|n| n as usize).unwrap_or(self.settings.apply_concurrency).max(1)
    }
}
