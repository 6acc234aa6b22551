//! At most `MAX_WRITES_IN_FLIGHT` mutating requests in flight per API server, whatever
//! asks for them (runs of any number of plans, the rotation driver): every handle the
//! engine opens on a cluster shares that cluster's permits.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Semaphore;

use super::port::{Cluster, Deleted, RequestCounts, Result};
use crate::domain::kinds::Kind;
use crate::domain::rollout::RolloutState;

/// Mutating requests in flight per API server.
pub const MAX_WRITES_IN_FLIGHT: usize = 20;

pub struct Capped {
    pub inner: Arc<dyn Cluster>,
    pub writes: Arc<Semaphore>,
}

impl Capped {
    async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.writes.acquire().await.expect("the semaphore is never closed")
    }
}

#[async_trait::async_trait]
impl Cluster for Capped {
    async fn version(&self) -> Result<String> {
        self.inner.version().await
    }
    async fn can_i(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> Result<bool> {
        self.inner.can_i(verb, group, resource, namespace).await
    }
    async fn apply(&self, object: &Value) -> Result<()> {
        let _p = self.permit().await;
        self.inner.apply(object).await
    }
    async fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<Deleted> {
        let _p = self.permit().await;
        self.inner.delete(kind, namespace, name).await
    }
    async fn list(&self, kind: Kind, namespace: &str, selector: &str) -> Result<Vec<Value>> {
        self.inner.list(kind, namespace, selector).await
    }
    async fn list_names(&self, kind: Kind, namespace: &str, selector: &str) -> Result<BTreeSet<String>> {
        self.inner.list_names(kind, namespace, selector).await
    }
    async fn rollout(&self, namespace: &str, selector: &str) -> Result<RolloutState> {
        self.inner.rollout(namespace, selector).await
    }
    async fn rollouts(&self, selector: &str) -> Result<std::collections::BTreeMap<String, RolloutState>> {
        self.inner.rollouts(selector).await
    }
    fn watched(
        &self,
        namespaces: &std::collections::BTreeMap<&str, BTreeSet<&str>>,
    ) -> Option<std::collections::BTreeMap<String, RolloutState>> {
        self.inner.watched(namespaces)
    }
    async fn delete_pod(&self, namespace: &str, name: &str, uid: &str) -> Result<()> {
        let _p = self.permit().await;
        self.inner.delete_pod(namespace, name, uid).await
    }
    async fn ensure_namespace(&self, name: &str) -> Result<bool> {
        let _p = self.permit().await;
        self.inner.ensure_namespace(name).await
    }
    async fn discover_fluid(&self) -> Result<(Vec<String>, Option<Vec<String>>)> {
        self.inner.discover_fluid().await
    }
    async fn set_pull_secrets(&self, kind: Kind, namespace: &str, name: &str, names: &[String]) -> Result<()> {
        let _p = self.permit().await;
        self.inner.set_pull_secrets(kind, namespace, name, names).await
    }
    fn requests(&self) -> RequestCounts {
        self.inner.requests()
    }
}
