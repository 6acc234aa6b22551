//! The `Clusters` port over kube-rs: one kube client per cluster and generation, shared by
//! every run and the rotation driver (so TLS connections are reused), and every HTTP
//! request counted on the handle that made it, and timed by cluster, verb and outcome for
//! `/metrics` (`metered`).
//!
//! Rollout reads deserialize straight into the few fields a rollout needs (`rollout.rs`),
//! not into whole objects: a rotation polls them every step. Other LISTs leave out
//! `managedFields` while parsing (`trimmed.rs`). The reads of one call go out together.

mod kubeconfig;
mod metered;
mod rollout;
mod trimmed;
mod watch;

use std::collections::{BTreeSet, HashMap};
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

use crate::domain::kinds::Kind;
use crate::domain::render::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::domain::rollout::RolloutState;
use crate::engine::port::{
    Cluster, ClusterError, ClusterTarget, Clusters, Deleted, RequestCounter, RequestCounts, Result,
};

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "fluidform";

/// Items per page of a LIST.
const PAGE: u32 = 500;

pub fn from_kube(e: kube::Error) -> ClusterError {
    match e {
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => {
            ClusterError::Auth { status: s.code, message: s.message }
        }
        kube::Error::Api(s) => ClusterError::Api { status: s.code, reason: s.reason, message: s.message },
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
                ClusterError::Tls(text)
            } else {
                ClusterError::Network(text)
            }
        }
    }
}

struct Shared {
    name: String,
    generation: i64,
    server: String,
    client: kube::Client,
    watches: watch::Watches,
    spawner: Option<tokio::runtime::Handle>,
}

/// The kube-rs implementation of the port.
#[derive(Default)]
pub struct KubeClusters {
    cache: Mutex<HashMap<String, Arc<Shared>>>,
    /// Where rollout watches run: the runtime `new` was called on, which outlives the
    /// request that first reads a cluster (an HTTP worker's runtime may stop first).
    spawner: Option<tokio::runtime::Handle>,
}

impl KubeClusters {
    pub fn new() -> Self {
        Self { cache: Default::default(), spawner: tokio::runtime::Handle::try_current().ok() }
    }
}

#[async_trait::async_trait]
impl Clusters for KubeClusters {
    async fn connect(&self, target: &ClusterTarget) -> Result<Arc<dyn Cluster>> {
        let cached = self.cache.lock().expect("cache lock").get(&target.name).cloned();
        let shared = match cached {
            Some(s) if s.generation == target.generation && s.server == target.connection.server => s,
            _ => {
                let client = kubeconfig::client(&target.name, &target.connection).await?;
                let s = Arc::new(Shared {
                    name: target.name.clone(),
                    generation: target.generation,
                    server: target.connection.server.clone(),
                    client,
                    watches: watch::Watches::default(),
                    spawner: self.spawner.clone(),
                });
                self.cache.lock().expect("cache lock").insert(target.name.clone(), s.clone());
                s
            }
        };
        Ok(Arc::new(KubeCluster { shared, counter: RequestCounter::default() }))
    }
}

struct KubeCluster {
    shared: Arc<Shared>,
    counter: RequestCounter,
}

pub fn api_resource(kind: Kind) -> ApiResource {
    let info = kind.info();
    let (group, version) = info.api_version.split_once('/').unwrap_or(("", info.api_version));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, info.name), info.plural)
}

impl KubeCluster {
    fn client(&self) -> kube::Client {
        self.shared.client.clone()
    }

    fn api(&self, kind: Kind, namespace: &str) -> Api<DynamicObject> {
        let ar = api_resource(kind);
        if kind.info().namespaced {
            Api::namespaced_with(self.client(), namespace, &ar)
        } else {
            Api::all_with(self.client(), &ar)
        }
    }

    /// Every page of a LIST, as typed items.
    async fn list_typed<T: serde::de::DeserializeOwned + Clone + std::fmt::Debug>(
        &self,
        kind: Kind,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<T>> {
        let (items, _) =
            list_pages(&self.client(), kind, namespace, selector, Some(&self.counter)).await.map_err(from_kube)?;
        Ok(items)
    }

    /// A fresh LIST of what a rollout reads, told to the watch (which it starts).
    async fn list_rollout(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<(Vec<rollout::WorkloadItem>, Vec<rollout::WorkloadItem>, Vec<rollout::PodItem>)> {
        let watches = &self.shared.watches;
        watches.ensure(&self.shared.client, &self.shared.name, self.shared.spawner.as_ref());
        crate::metrics::rollout_read(&self.shared.name, "list");
        let (sts, ds, pods) = futures::try_join!(
            self.list_typed::<rollout::WorkloadItem>(Kind::StatefulSet, namespace, selector),
            self.list_typed::<rollout::WorkloadItem>(Kind::DaemonSet, namespace, selector),
            self.list_typed::<rollout::PodItem>(Kind::Pod, namespace, selector),
        )?;
        watches.saw(Kind::StatefulSet, sts.iter().map(|w| w.metadata.resource_version.as_str()));
        watches.saw(Kind::DaemonSet, ds.iter().map(|w| w.metadata.resource_version.as_str()));
        watches.saw(Kind::Pod, pods.iter().map(|p| p.metadata.resource_version.as_str()));
        Ok((sts, ds, pods))
    }

    /// Tells the watch of a write's outcome: the object's new resourceVersion, when the
    /// watch selects the object (it carries a `release` label).
    fn wrote(&self, kind: Kind, has_release: bool, rv: Option<&str>) {
        if has_release && let Some(rv) = rv {
            self.shared.watches.saw(kind, [rv]);
        }
    }
}

/// The path of a kind's collection in a namespace (`""`: every namespace, or a
/// cluster-scoped kind).
fn collection_path(kind: Kind, namespace: &str) -> String {
    let info = kind.info();
    let base = if info.group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{}", info.api_version) };
    let ns = if info.namespaced && !namespace.is_empty() { format!("/namespaces/{namespace}") } else { String::new() };
    format!("{base}{ns}/{}", info.plural)
}

/// Every page of a LIST as typed items, and the list's resourceVersion; each page counted
/// on `counter` when given.
async fn list_pages<T: serde::de::DeserializeOwned + Clone + std::fmt::Debug>(
    client: &kube::Client,
    kind: Kind,
    namespace: &str,
    selector: &str,
    counter: Option<&RequestCounter>,
) -> std::result::Result<(Vec<T>, String), kube::Error> {
    let path = collection_path(kind, namespace);
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut version = String::new();
    loop {
        let mut q = form_urlencoded(&[("limit", &PAGE.to_string()), ("labelSelector", selector)]);
        if let Some(t) = &token {
            q.push_str("&continue=");
            q.push_str(&urlencode(t));
        }
        let req = http::Request::get(format!("{path}?{q}"))
            .body(Vec::new())
            .map_err(|e| kube::Error::BuildRequest(kube::core::request::Error::BuildRequest(e)))?;
        if let Some(c) = counter {
            c.read();
        }
        let page: rollout::ListPage<T> = client.request(req).await?;
        out.extend(page.items);
        if version.is_empty() {
            version = page.metadata.resource_version;
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => token = Some(c),
            None => return Ok((out, version)),
        }
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// apiVersion, kind, namespace and name of an object.
fn identity(object: &Value) -> Result<(Kind, String, String)> {
    let s = |p: &str| object.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let bad = || ClusterError::Config("object lacks kind or metadata.name".into());
    let kind = s("/kind").and_then(|k| Kind::parse(&k)).ok_or_else(bad)?;
    Ok((kind, s("/metadata/namespace").unwrap_or_default(), s("/metadata/name").ok_or_else(bad)?))
}

#[async_trait::async_trait]
impl Cluster for KubeCluster {
    async fn version(&self) -> Result<String> {
        self.counter.read();
        Ok(self.client().apiserver_version().await.map_err(from_kube)?.git_version)
    }

    async fn can_i(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> Result<bool> {
        use k8s_openapi::api::authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    namespace: namespace.map(Into::into),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client());
        self.counter.write();
        let out = api.create(&PostParams::default(), &review).await.map_err(from_kube)?;
        Ok(out.status.is_some_and(|s| s.allowed))
    }

    async fn apply(&self, object: &Value) -> Result<()> {
        let (kind, namespace, name) = identity(object)?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let req = kube::core::Request::new(collection_path(kind, &namespace))
            .patch(&name, &params, &Patch::Apply(object))
            .map_err(|e| from_kube(kube::Error::BuildRequest(e)))?;
        self.counter.write();
        // The answer is the whole object; only what the watch needs of it is parsed.
        let applied: rollout::Written = self.client().request(req).await.map_err(from_kube)?;
        let rv = Some(applied.metadata.resource_version.as_str()).filter(|v| !v.is_empty());
        self.wrote(kind, applied.metadata.labels.release.is_some(), rv);
        Ok(())
    }

    async fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<Deleted> {
        let api = self.api(kind, namespace);
        self.counter.read();
        let Some(obj) = api.get_opt(name).await.map_err(from_kube)? else { return Ok(Deleted::Gone) };
        let ours =
            obj.metadata.labels.as_ref().and_then(|l| l.get(MANAGED_BY_LABEL)).map(String::as_str) == Some(MANAGED_BY);
        if !ours {
            return Ok(Deleted::NotOurs);
        }
        let params = DeleteParams {
            propagation_policy: Some(kube::api::PropagationPolicy::Background),
            preconditions: Some(kube::api::Preconditions { uid: obj.metadata.uid.clone(), resource_version: None }),
            ..Default::default()
        };
        self.counter.write();
        match api.delete(name, &params).await {
            Ok(_) => Ok(Deleted::Deleted),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(Deleted::Gone),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Deleted::NotOurs),
            Err(e) => Err(from_kube(e)),
        }
    }

    async fn list(&self, kind: Kind, namespace: &str, selector: &str) -> Result<Vec<Value>> {
        let items: Vec<trimmed::Trimmed> = self.list_typed(kind, namespace, selector).await?;
        Ok(items
            .into_iter()
            .map(|trimmed::Trimmed(mut v)| {
                v["apiVersion"] = Value::String(kind.api_version().into());
                v["kind"] = Value::String(kind.as_str().into());
                v
            })
            .collect())
    }

    async fn list_names(&self, kind: Kind, namespace: &str, selector: &str) -> Result<BTreeSet<String>> {
        let api = self.api(kind, namespace);
        let mut names = BTreeSet::new();
        let mut params = ListParams::default().limit(PAGE);
        if !selector.is_empty() {
            params = params.labels(selector);
        }
        loop {
            self.counter.read();
            let list = api.list_metadata(&params).await.map_err(from_kube)?;
            names.extend(list.items.into_iter().filter_map(|o| o.metadata.name));
            match list.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => params = params.continue_token(&c),
                None => return Ok(names),
            }
        }
    }

    async fn rollout(&self, namespace: &str, selector: &str) -> Result<RolloutState> {
        let (sts, ds, pods) = self.list_rollout(namespace, selector).await?;
        Ok(rollout::state(namespace, sts, ds, pods))
    }

    async fn rollouts(&self, selector: &str) -> Result<std::collections::BTreeMap<String, RolloutState>> {
        let (sts, ds, pods) = self.list_rollout("", selector).await?;
        Ok(rollout::states_by_namespace(sts, ds, pods))
    }

    fn watched(
        &self,
        namespaces: &std::collections::BTreeMap<&str, BTreeSet<&str>>,
    ) -> Option<std::collections::BTreeMap<String, RolloutState>> {
        let answer = self.shared.watches.answer(namespaces)?;
        crate::metrics::rollout_read(&self.shared.name, "watch");
        Some(answer)
    }

    async fn delete_pod(&self, namespace: &str, name: &str, uid: &str) -> Result<()> {
        self.shared.watches.deleting_pod(uid);
        let params = DeleteParams {
            preconditions: Some(kube::api::Preconditions { uid: Some(uid.to_string()), resource_version: None }),
            ..DeleteParams::default()
        };
        let req = kube::core::Request::new(collection_path(Kind::Pod, namespace))
            .delete(name, &params)
            .map_err(|e| from_kube(kube::Error::BuildRequest(e)))?;
        self.counter.write();
        // The answer (the pod, or a Status) is read past, not parsed into anything.
        match self.client().request::<serde::de::IgnoredAny>(req).await {
            Ok(_) => Ok(()),
            // Gone, or replaced already (the uid precondition failed).
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(from_kube(e)),
        }
    }

    async fn discover_fluid(&self) -> Result<(Vec<String>, Option<Vec<String>>)> {
        self.counter.read();
        let resources = match self.client().list_api_group_resources("data.fluid.io/v1alpha1").await {
            Ok(list) => list.resources.into_iter().map(|r| r.name).filter(|n| !n.contains('/')).collect(),
            Err(kube::Error::Api(s)) if s.code == 404 => vec![],
            Err(e) => return Err(from_kube(e)),
        };
        let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(self.client(), "fluid-system");
        self.counter.read();
        let controllers = match deployments.list_metadata(&ListParams::default()).await {
            Ok(list) => Some(list.items.into_iter().filter_map(|d| d.metadata.name).collect()),
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 401 => None,
            Err(e) => return Err(from_kube(e)),
        };
        Ok((resources, controllers))
    }

    async fn set_pull_secrets(&self, kind: Kind, namespace: &str, name: &str, names: &[String]) -> Result<()> {
        let info = kind.info();
        let uri = format!(
            "/apis/{}/namespaces/{namespace}/{}/{name}?fieldManager={FIELD_MANAGER}",
            info.api_version, info.plural
        );
        let want: Vec<Value> = names.iter().map(|n| serde_json::json!({"name": n})).collect();
        let api = self.api(kind, namespace);
        for _ in 0..8 {
            self.counter.read();
            let Some(obj) = api.get_opt(name).await.map_err(from_kube)? else {
                return Err(ClusterError::Api {
                    status: 404,
                    reason: "NotFound".into(),
                    message: format!("{kind} {namespace}/{name} does not exist"),
                });
            };
            let value = serde_json::to_value(&obj).map_err(|e| ClusterError::Config(e.to_string()))?;
            if value
                .pointer("/spec/template/spec/imagePullSecrets")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                == want.as_slice()
            {
                return Ok(());
            }
            let rv = obj.metadata.resource_version.clone().unwrap_or_default();
            let patch = serde_json::json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                {"op": "add", "path": "/spec/template/spec/imagePullSecrets", "value": want},
            ]);
            let req = http::Request::patch(&uri)
                .header("Content-Type", "application/json-patch+json")
                .body(serde_json::to_vec(&patch).expect("a patch serializes"))
                .map_err(|e| ClusterError::Config(e.to_string()))?;
            self.counter.write();
            match self.client().request::<Value>(req).await {
                Ok(patched) => {
                    let has_release = patched.pointer("/metadata/labels/release").is_some();
                    self.wrote(kind, has_release, patched.pointer("/metadata/resourceVersion").and_then(Value::as_str));
                    return Ok(());
                }
                // Someone else wrote the object since it was read: read it again.
                Err(kube::Error::Api(s)) if s.code == 409 || s.code == 422 => continue,
                Err(e) => return Err(from_kube(e)),
            }
        }
        Err(ClusterError::Api {
            status: 409,
            reason: "Conflict".into(),
            message: format!("{kind} {namespace}/{name} kept changing; its pull-secret list was not set"),
        })
    }

    async fn ensure_namespace(&self, name: &str) -> Result<bool> {
        let api = self.api(Kind::Namespace, "");
        self.counter.read();
        if api.get_opt(name).await.map_err(from_kube)?.is_some() {
            return Ok(false);
        }
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name,
            "labels": {crate::domain::render::MANAGED_BY_LABEL: crate::domain::render::MANAGED_BY}}});
        let obj: DynamicObject = serde_json::from_value(ns).map_err(|e| ClusterError::Config(e.to_string()))?;
        self.counter.write();
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(from_kube(e)),
        }
    }

    fn requests(&self) -> RequestCounts {
        self.counter.snapshot()
    }
}

pub(crate) fn timeouts(config: &mut kube::Config) {
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(30));
    config.write_timeout = Some(Duration::from_secs(30));
}

/// A StatefulSet or DaemonSet given as JSON, as a rollout sees it.
pub fn workload_of_value(kind: Kind, namespace: &str, object: &Value) -> Option<crate::domain::rollout::Workload> {
    let item: rollout::WorkloadItem = serde_json::from_value(object.clone()).ok()?;
    Some(rollout::workload(kind, namespace, item))
}
