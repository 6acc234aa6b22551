//! Fault proxies around the real cluster port: the engine talks to a real API server
//! through them, and the test decides when something goes wrong.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fluidform::domain::kinds::Kind;
use fluidform::domain::rollout::RolloutState;
use fluidform::engine::port::{Cluster, ClusterTarget, Clusters, Deleted, RequestCounts, Result};
use serde_json::Value;

/// Calls `trigger` once, right after the `n`-th successful server-side apply.
pub struct AfterApplies {
    pub inner: Arc<dyn Clusters>,
    pub n: usize,
    pub trigger: Arc<dyn Fn() + Send + Sync>,
    pub applied: Arc<AtomicUsize>,
}

struct Counted {
    inner: Arc<dyn Cluster>,
    n: usize,
    trigger: Arc<dyn Fn() + Send + Sync>,
    applied: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Clusters for AfterApplies {
    async fn connect(&self, target: &ClusterTarget) -> Result<Arc<dyn Cluster>> {
        let inner = self.inner.connect(target).await?;
        Ok(Arc::new(Counted { inner, n: self.n, trigger: self.trigger.clone(), applied: self.applied.clone() }))
    }
}

#[async_trait::async_trait]
impl Cluster for Counted {
    async fn version(&self) -> Result<String> {
        self.inner.version().await
    }
    async fn can_i(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> Result<bool> {
        self.inner.can_i(verb, group, resource, namespace).await
    }
    async fn apply(&self, object: &Value) -> Result<()> {
        self.inner.apply(object).await?;
        if self.applied.fetch_add(1, Ordering::SeqCst) + 1 == self.n {
            (self.trigger)();
        }
        Ok(())
    }
    async fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<Deleted> {
        self.inner.delete(kind, namespace, name).await
    }
    async fn list(&self, kind: Kind, namespace: &str, selector: &str) -> Result<Vec<Value>> {
        self.inner.list(kind, namespace, selector).await
    }
    async fn list_names(
        &self,
        kind: Kind,
        namespace: &str,
        selector: &str,
    ) -> Result<std::collections::BTreeSet<String>> {
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
        namespaces: &std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>>,
    ) -> Option<std::collections::BTreeMap<String, RolloutState>> {
        self.inner.watched(namespaces)
    }
    async fn delete_pod(&self, namespace: &str, name: &str, uid: &str) -> Result<()> {
        self.inner.delete_pod(namespace, name, uid).await
    }
    async fn ensure_namespace(&self, name: &str) -> Result<bool> {
        self.inner.ensure_namespace(name).await
    }
    async fn discover_fluid(&self) -> Result<(Vec<String>, Option<Vec<String>>)> {
        self.inner.discover_fluid().await
    }
    async fn set_pull_secrets(&self, kind: Kind, namespace: &str, name: &str, names: &[String]) -> Result<()> {
        self.inner.set_pull_secrets(kind, namespace, name, names).await
    }
    fn requests(&self) -> RequestCounts {
        self.inner.requests()
    }
}
