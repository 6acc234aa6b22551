//! A connection to one target cluster: a kube client built from the stored (decrypted)
//! credentials, with every HTTP request counted by verb so runs can report what they cost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{
    AuthInfo, Cluster, Context as KubeContext, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use kube::core::GroupVersionKind;
use serde_json::Value;

use super::SyncError;

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "fluidform";

/// How a cluster is reached, with the credential in the clear (only in memory).
pub struct ClusterConnection {
    pub server: String,
    pub ca_data: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub token: Option<String>,
    pub client_cert_data: Option<String>,
    pub client_key_data: Option<String>,
}

/// Counts of HTTP requests sent to a cluster.
#[derive(Debug, Default)]
pub struct RequestCounter {
    reads: AtomicU64,
    writes: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RequestCounts {
    /// GET (get, list, watch) requests.
    pub reads: u64,
    /// POST, PUT, PATCH and DELETE requests.
    pub writes: u64,
}

impl RequestCounter {
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts { reads: self.reads.load(Ordering::Relaxed), writes: self.writes.load(Ordering::Relaxed) }
    }
}

#[derive(Clone)]
struct Counting<S> {
    inner: S,
    counter: Arc<RequestCounter>,
}

impl<S, B> tower::Service<http::Request<B>> for Counting<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let c = if req.method() == http::Method::GET || req.method() == http::Method::HEAD {
            &self.counter.reads
        } else {
            &self.counter.writes
        };
        c.fetch_add(1, Ordering::Relaxed);
        self.inner.call(req)
    }
}

#[derive(Clone)]
pub struct ClusterClient {
    client: kube::Client,
    counter: Arc<RequestCounter>,
}

fn to_kubeconfig(c: &ClusterConnection) -> Kubeconfig {
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: "target".into(),
            cluster: Some(Cluster {
                server: Some(c.server.clone()),
                insecure_skip_tls_verify: Some(c.insecure_skip_tls_verify),
                certificate_authority_data: c.ca_data.clone(),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: "fluidform".into(),
            auth_info: Some(AuthInfo {
                token: c.token.clone().map(Into::into),
                client_certificate_data: c.client_cert_data.clone(),
                client_key_data: c.client_key_data.clone().map(Into::into),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: "target".into(),
            context: Some(KubeContext {
                cluster: "target".into(),
                user: Some("fluidform".into()),
                ..Default::default()
            }),
            other: Default::default(),
        }],
        current_context: Some("target".into()),
        ..Default::default()
    }
}

/// The kinds fluidform manages, in the order they are applied.
pub fn api_resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let plural = match kind {
        "Secret" => "secrets",
        "ConfigMap" => "configmaps",
        "Service" => "services",
        "StatefulSet" => "statefulsets",
        "DaemonSet" => "daemonsets",
        "Namespace" => "namespaces",
        "Pod" => "pods",
        other => return ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, other)),
    };
    ApiResource::from_gvk_with_plural(&gvk, plural)
}

impl ClusterClient {
    pub async fn connect(conn: &ClusterConnection) -> Result<Self, SyncError> {
        let mut config = kube::Config::from_custom_kubeconfig(to_kubeconfig(conn), &KubeConfigOptions::default())
            .await
            .map_err(|e| SyncError::Config(e.to_string()))?;
        config.connect_timeout = Some(Duration::from_secs(5));
        config.read_timeout = Some(Duration::from_secs(30));
        config.write_timeout = Some(Duration::from_secs(30));
        let counter = Arc::new(RequestCounter::default());
        let layer = tower::layer::layer_fn({
            let counter = counter.clone();
            move |inner| Counting { inner, counter: counter.clone() }
        });
        let builder = kube::client::ClientBuilder::try_from(config).map_err(|e| SyncError::Config(e.to_string()))?;
        let client = builder.with_layer(&layer).build();
        Ok(Self { client, counter })
    }

    pub fn requests(&self) -> RequestCounts {
        self.counter.snapshot()
    }

    fn api(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Api<DynamicObject> {
        let ar = api_resource(api_version, kind);
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        }
    }

    pub async fn version(&self) -> Result<String, SyncError> {
        Ok(self.client.apiserver_version().await.map_err(SyncError::from_kube)?.git_version)
    }

    /// Whether the credentials may `verb` the resource (SelfSubjectAccessReview).
    pub async fn can_i(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<bool, SyncError> {
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
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let out = api.create(&PostParams::default(), &review).await.map_err(SyncError::from_kube)?;
        Ok(out.status.is_some_and(|s| s.allowed))
    }

    /// Server-side apply of a whole object, taking ownership of the fields it sets even from
    /// other managers (`force`): fluidform's desired state is the source of truth for them.
    pub async fn apply(&self, object: &Value) -> Result<Value, SyncError> {
        let (api_version, kind, namespace, name) = identity(object)?;
        let api = self.api(&api_version, &kind, namespace.as_deref());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let out = api.patch(&name, &params, &Patch::Apply(object)).await.map_err(SyncError::from_kube)?;
        serde_json::to_value(out).map_err(|e| SyncError::Config(e.to_string()))
    }

    /// Deletes an object; an object already gone counts as deleted.
    pub async fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Result<(), SyncError> {
        let api = self.api(api_version, kind, Some(namespace));
        let params =
            DeleteParams { propagation_policy: Some(kube::api::PropagationPolicy::Background), ..Default::default() };
        match api.delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(SyncError::from_kube(e)),
        }
    }

    /// One LIST of a kind in a namespace, filtered by a label selector.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<Value>, SyncError> {
        let api = self.api(api_version, kind, Some(namespace));
        let list = api.list(&ListParams::default().labels(selector)).await.map_err(SyncError::from_kube)?;
        list.items
            .into_iter()
            .map(|o| {
                let mut v = serde_json::to_value(o).map_err(|e| SyncError::Config(e.to_string()))?;
                v["apiVersion"] = Value::String(api_version.into());
                v["kind"] = Value::String(kind.into());
                Ok(v)
            })
            .collect()
    }

    /// Names of every object of a kind in a namespace (metadata only, one LIST).
    pub async fn list_names(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<std::collections::BTreeSet<String>, SyncError> {
        let api = self.api(api_version, kind, Some(namespace));
        let list = api.list_metadata(&ListParams::default()).await.map_err(SyncError::from_kube)?;
        Ok(list.items.into_iter().filter_map(|o| o.metadata.name).collect())
    }

    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, SyncError> {
        let api = self.api(api_version, kind, Some(namespace));
        match api.get_opt(name).await.map_err(SyncError::from_kube)? {
            Some(o) => Ok(Some(serde_json::to_value(o).map_err(|e| SyncError::Config(e.to_string()))?)),
            None => Ok(None),
        }
    }

    /// Creates the namespace when it is missing; true when it was created.
    pub async fn ensure_namespace(&self, name: &str) -> Result<bool, SyncError> {
        let api = self.api("v1", "Namespace", None);
        if api.get_opt(name).await.map_err(SyncError::from_kube)?.is_some() {
            return Ok(false);
        }
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name,
            "labels": {"app.kubernetes.io/managed-by": "fluidform"}}});
        let obj: DynamicObject = serde_json::from_value(ns).map_err(|e| SyncError::Config(e.to_string()))?;
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(SyncError::from_kube(e)),
        }
    }

    /// Deletes pods by name (for `OnDelete` rollouts).
    pub async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), SyncError> {
        self.delete("v1", "Pod", namespace, name).await
    }
}

/// apiVersion, kind, namespace and name of an object.
pub fn identity(object: &Value) -> Result<(String, String, Option<String>, String), SyncError> {
    let s = |p: &str| object.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let bad = || SyncError::Config("object lacks apiVersion, kind or metadata.name".into());
    Ok((
        s("/apiVersion").ok_or_else(bad)?,
        s("/kind").ok_or_else(bad)?,
        s("/metadata/namespace"),
        s("/metadata/name").ok_or_else(bad)?,
    ))
}
