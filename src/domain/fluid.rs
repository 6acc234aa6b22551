//! Fluid-native clusters: how a cluster runs runtimes (`ClusterMode`), what a probe found
//! on it (`Detection`), the custom resources fluidform writes there (`render_fluid`), and
//! the workloads Fluid's charts create from them (`fluid_workload`).
//!
//! Decisions:
//! - A cluster is `fluid` (Fluid is installed: fluidform applies Fluid's Dataset and runtime
//!   resources and Fluid renders the workloads), `standalone` (fluidform renders the
//!   workloads itself) or `auto` (the default: the first probe or refreshing plan decides,
//!   from whether Fluid's CRDs are served). An `auto` cluster never probed has no mode yet.
//! - In a `fluid` cluster every component's `imagePullSecrets` is written out on the runtime
//!   resource exactly as fluidform resolved it (cluster default and managed credential
//!   versions included), so Fluid renders fluidform's resolution whatever its controller
//!   default. The runtime's global list is written with managed names replaced by their
//!   versioned Secrets; the lists Fluid never reads (`jobMaster`, `jobWorker`,
//!   `apiGateway`) likewise. A component that resolves to no pull secret gets no list
//!   (Fluid treats an empty list as absent): Fluid's own defaults then apply to it.
//! - The Dataset of a runtime (same namespace and name) is applied with the runtime; a
//!   ThinRuntimeProfile is applied as stored, once per cluster (it is cluster-scoped and
//!   shared). Both carry fluidform's labels, so pruning finds what fluidform owns.
//! - Fluid's workloads are Fluid's: fluidform changes only the pull-secret list of their
//!   pod templates (so a rotation reaches pods Fluid never updates) and recycles their
//!   `OnDelete` pods.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::dataset::Dataset;
use super::kinds::Kind;
use super::layers::{Component, Resolution};
use super::render::{
    CredentialSecret, MANAGED_BY, MANAGED_BY_LABEL, RUNTIME_NAME_LABEL, RUNTIME_NAMESPACE_LABEL, RenderedObject,
    credential_secret_object,
};
use super::runtime::{RuntimeKind, RuntimeManifest};
use super::thin::ThinRuntimeProfile;

/// How a cluster runs runtimes, as registered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClusterMode {
    /// Decided by the first probe or refreshing plan.
    #[default]
    Auto,
    Fluid,
    Standalone,
}

impl ClusterMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterMode::Auto => "auto",
            ClusterMode::Fluid => "fluid",
            ClusterMode::Standalone => "standalone",
        }
    }
    pub fn parse(s: &str) -> Option<ClusterMode> {
        [ClusterMode::Auto, ClusterMode::Fluid, ClusterMode::Standalone].into_iter().find(|m| m.as_str() == s)
    }
}

/// How a cluster runs runtimes, once known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Fluid,
    Standalone,
}

/// What a probe or refreshing plan found of Fluid on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    /// Fluid's API group (`data.fluid.io`) is served.
    pub fluid: bool,
    /// The resources of that group the cluster serves (`datasets`, `alluxioruntimes`, …).
    pub resources: Vec<String>,
    /// The runtime kinds whose resources are served.
    pub kinds: Vec<RuntimeKind>,
    /// Fluid's controllers found (Deployments in `fluid-system`); absent when that namespace
    /// could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controllers: Option<Vec<String>>,
    pub at: DateTime<Utc>,
}

impl Detection {
    /// What the served resources of `data.fluid.io/v1alpha1` say.
    pub fn from_resources(resources: Vec<String>, controllers: Option<Vec<String>>, at: DateTime<Utc>) -> Self {
        let kinds = RuntimeKind::ALL
            .into_iter()
            .filter(|k| resources.iter().any(|r| Kind::parse(k.as_str()).is_some_and(|kk| kk.info().plural == r)))
            .collect();
        Detection { fluid: resources.iter().any(|r| r == "datasets"), resources, kinds, controllers, at }
    }
}

/// The mode a cluster runs in: as registered, or as detected for `auto`; `None` while an
/// `auto` cluster was never probed.
pub fn effective_mode(mode: ClusterMode, detected: Option<&Detection>) -> Option<Mode> {
    match mode {
        ClusterMode::Fluid => Some(Mode::Fluid),
        ClusterMode::Standalone => Some(Mode::Standalone),
        ClusterMode::Auto => detected.map(|d| if d.fluid { Mode::Fluid } else { Mode::Standalone }),
    }
}

/// The renderer of Fluid's resources (see `render::RENDERER`).
pub const FLUID_RENDERER: &str = "fluid/1";

/// The workload Fluid's chart creates for a component: kind, name and `role` label.
pub fn fluid_workload(kind: RuntimeKind, runtime: &str, comp: Component) -> (Kind, String, &'static str) {
    let sts_or_ds = |c: Component| if c == Component::Fuse { Kind::DaemonSet } else { Kind::StatefulSet };
    match (kind, comp) {
        (RuntimeKind::Alluxio, c) => {
            let role = match c {
                Component::Master => "alluxio-master",
                Component::Worker => "alluxio-worker",
                Component::Fuse => "alluxio-fuse",
            };
            (sts_or_ds(c), format!("{runtime}-{}", c.as_str()), role)
        }
        (RuntimeKind::Jindo, c) => {
            let role = match c {
                Component::Master => "jindofs-master",
                Component::Worker => "jindofs-worker",
                Component::Fuse => "jindofs-fuse",
            };
            (sts_or_ds(c), format!("{runtime}-jindofs-{}", c.as_str()), role)
        }
        (RuntimeKind::Thin, c) => {
            let role = if c == Component::Fuse { "thin-fuse" } else { "thin-worker" };
            (sts_or_ds(c), format!("{runtime}-{}", c.as_str()), role)
        }
    }
}

/// Everything Fluid's resources for one runtime are made from.
pub struct FluidInput<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub manifest: &'a RuntimeManifest,
    pub resolution: &'a Resolution,
    pub bindings: &'a BTreeMap<String, u32>,
    pub dataset: Option<&'a Dataset>,
    pub secrets: &'a [CredentialSecret],
}

fn owned_labels(user: BTreeMap<String, String>, namespace: &str, name: &str) -> BTreeMap<String, String> {
    let mut labels = user;
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    labels.insert(RUNTIME_NAME_LABEL.into(), name.into());
    labels.insert(RUNTIME_NAMESPACE_LABEL.into(), namespace.into());
    labels
}

fn refs(names: impl IntoIterator<Item = String>) -> Value {
    Value::Array(names.into_iter().map(|n| json!({"name": n})).collect())
}

/// Replaces every managed name of a pull-secret list by its versioned Secret.
fn map_list(list: &mut Value, bindings: &BTreeMap<String, u32>) {
    for r in list.as_array_mut().into_iter().flatten() {
        if let Some(name) = r.get("name").and_then(Value::as_str)
            && let Some(v) = bindings.get(name)
        {
            r["name"] = Value::String(super::layers::managed_secret_name(name, *v));
        }
    }
}

fn object(api: &str, kind: Kind, namespace: &str, name: &str, value: Value) -> RenderedObject {
    RenderedObject {
        api_version: api.into(),
        kind: kind.as_str().into(),
        namespace: namespace.into(),
        name: name.into(),
        object: value,
    }
}

/// The credential Secrets, the Dataset and the runtime resource, in apply order.
pub fn render_fluid(input: &FluidInput) -> Vec<RenderedObject> {
    let mut out: Vec<RenderedObject> =
        input.secrets.iter().map(|s| credential_secret_object(input.namespace, s)).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    if let Some(ds) = input.dataset {
        let mut v = serde_json::to_value(ds).expect("a Dataset serializes");
        v["apiVersion"] = json!(super::crd::GROUP.to_string() + "/" + super::crd::VERSION);
        v["kind"] = json!("Dataset");
        v["metadata"] = json!({"name": input.name, "namespace": input.namespace,
            "labels": owned_labels(ds.labels(), input.namespace, input.name)});
        if let Some(a) = ds.metadata.annotations.clone().filter(|a| !a.is_empty()) {
            v["metadata"]["annotations"] = json!(a);
        }
        out.push(object("data.fluid.io/v1alpha1", Kind::Dataset, input.namespace, input.name, v));
    }
    let kind = input.manifest.kind();
    let mut v = serde_json::to_value(input.manifest).expect("a manifest serializes");
    v["metadata"] = json!({"name": input.name, "namespace": input.namespace,
        "labels": owned_labels(input.manifest.labels(), input.namespace, input.name)});
    let annotations = input.manifest.annotations();
    if !annotations.is_empty() {
        v["metadata"]["annotations"] = json!(annotations);
    }
    let spec = v.as_object_mut().and_then(|m| m.get_mut("spec")).and_then(Value::as_object_mut);
    if let Some(spec) = spec {
        if let Some(global) = spec.get_mut("imagePullSecrets") {
            map_list(global, input.bindings);
        }
        for ignored in ["jobMaster", "jobWorker", "apiGateway"] {
            if let Some(l) = spec.get_mut(ignored).and_then(|c| c.get_mut("imagePullSecrets")) {
                map_list(l, input.bindings);
            }
        }
        for (c, r) in input.resolution.components() {
            let names = r.secret_names();
            let comp = spec.entry(c.as_str()).or_insert_with(|| json!({}));
            match comp.as_object_mut() {
                Some(m) if names.is_empty() => {
                    m.remove("imagePullSecrets");
                }
                Some(m) => {
                    m.insert("imagePullSecrets".into(), refs(names));
                }
                None => {}
            }
            if comp.as_object().is_some_and(|m| m.is_empty()) {
                spec.remove(c.as_str());
            }
        }
    }
    let k = Kind::parse(kind.as_str()).expect("runtime kinds are in the kinds table");
    out.push(object("data.fluid.io/v1alpha1", k, input.namespace, input.name, v));
    out
}

/// A ThinRuntimeProfile as fluidform applies it (cluster-scoped, its own labels).
pub fn render_profile(profile: &ThinRuntimeProfile) -> RenderedObject {
    let mut v = serde_json::to_value(profile).expect("a profile serializes");
    let name = profile.metadata.name.clone();
    let mut labels = profile.labels();
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    v["apiVersion"] = json!("data.fluid.io/v1alpha1");
    v["kind"] = json!("ThinRuntimeProfile");
    v["metadata"] = json!({"name": name, "labels": labels});
    if let Some(a) = profile.metadata.annotations.clone().filter(|a| !a.is_empty()) {
        v["metadata"]["annotations"] = json!(a);
    }
    object("data.fluid.io/v1alpha1", Kind::ThinRuntimeProfile, "", &name, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::layers::{LayerInputs, resolve_layers};
    use crate::domain::parse::ManifestFormat;
    use crate::domain::runtime::parse_manifest;

    fn manifest(yaml: &str) -> RuntimeManifest {
        parse_manifest(yaml.as_bytes(), ManifestFormat::Yaml).unwrap()
    }

    fn render(m: &RuntimeManifest, cluster: &[String], bindings: &BTreeMap<String, u32>) -> Vec<RenderedObject> {
        let layers = m.layers();
        let res = resolve_layers(
            &LayerInputs { kind: m.kind(), runtime: &layers, profile: None, cluster_default: cluster },
            bindings,
        );
        render_fluid(&FluidInput {
            namespace: "ns",
            name: m.name(),
            manifest: m,
            resolution: &res,
            bindings,
            dataset: None,
            secrets: &[],
        })
    }

    #[test]
    fn every_component_list_is_written_out_as_resolved() {
        let m = manifest(
            "apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata: {name: hbase, labels: {team: a}}\nspec:\n  imagePullSecrets: [{name: global-secret}]\n  master: {imagePullSecrets: [{name: master-secret}]}\n  jobMaster: {imagePullSecrets: [{name: global-secret}]}\n",
        );
        let bindings = BTreeMap::from([("global-secret".to_string(), 2)]);
        let objs = render(&m, &["org-pull".into()], &bindings);
        let rt = &objs.last().unwrap().object;
        assert_eq!(rt["kind"], "AlluxioRuntime");
        assert_eq!(rt["spec"]["master"]["imagePullSecrets"], json!([{"name": "master-secret"}]));
        assert_eq!(
            rt["spec"]["worker"]["imagePullSecrets"],
            json!([{"name": "global-secret-v2"}]),
            "global wins over the cluster default, versioned"
        );
        assert_eq!(rt["spec"]["fuse"]["imagePullSecrets"], json!([{"name": "global-secret-v2"}]));
        assert_eq!(rt["spec"]["imagePullSecrets"], json!([{"name": "global-secret-v2"}]));
        assert_eq!(rt["spec"]["jobMaster"]["imagePullSecrets"], json!([{"name": "global-secret-v2"}]));
        assert_eq!(rt["metadata"]["labels"]["team"], "a");
        assert_eq!(rt["metadata"]["labels"][MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(rt["metadata"]["namespace"], "ns");
    }

    #[test]
    fn the_cluster_default_is_written_out_and_thin_has_no_master() {
        let m = manifest(
            "apiVersion: data.fluid.io/v1alpha1\nkind: ThinRuntime\nmetadata: {name: t}\nspec: {profileName: p}\n",
        );
        let objs = render(&m, &["org-pull".into()], &BTreeMap::new());
        let rt = &objs.last().unwrap().object;
        assert_eq!(rt["kind"], "ThinRuntime");
        assert_eq!(rt["spec"]["worker"]["imagePullSecrets"], json!([{"name": "org-pull"}]));
        assert_eq!(rt["spec"]["fuse"]["imagePullSecrets"], json!([{"name": "org-pull"}]));
        assert!(rt["spec"].get("master").is_none());
        assert_eq!(rt["spec"]["profileName"], "p");
        let none = render(&m, &[], &BTreeMap::new());
        assert!(none.last().unwrap().object["spec"].get("worker").is_none(), "nothing resolved, no list");
    }

    #[test]
    fn fluid_names_its_workloads_per_chart() {
        assert_eq!(
            fluid_workload(RuntimeKind::Alluxio, "r", Component::Fuse),
            (Kind::DaemonSet, "r-fuse".into(), "alluxio-fuse")
        );
        assert_eq!(
            fluid_workload(RuntimeKind::Jindo, "r", Component::Master),
            (Kind::StatefulSet, "r-jindofs-master".into(), "jindofs-master")
        );
        assert_eq!(
            fluid_workload(RuntimeKind::Thin, "r", Component::Worker),
            (Kind::StatefulSet, "r-worker".into(), "thin-worker")
        );
    }

    #[test]
    fn modes() {
        let at = Utc::now();
        let fluid = Detection::from_resources(
            vec!["datasets".into(), "alluxioruntimes".into(), "thinruntimes".into()],
            None,
            at,
        );
        assert!(fluid.fluid);
        assert_eq!(fluid.kinds, [RuntimeKind::Alluxio, RuntimeKind::Thin]);
        let bare = Detection::from_resources(vec![], None, at);
        assert_eq!(effective_mode(ClusterMode::Auto, None), None);
        assert_eq!(effective_mode(ClusterMode::Auto, Some(&fluid)), Some(Mode::Fluid));
        assert_eq!(effective_mode(ClusterMode::Auto, Some(&bare)), Some(Mode::Standalone));
        assert_eq!(effective_mode(ClusterMode::Standalone, Some(&fluid)), Some(Mode::Standalone));
        assert_eq!(effective_mode(ClusterMode::Fluid, None), Some(Mode::Fluid));
    }
}
