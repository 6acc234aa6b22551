//! Layered `imagePullSecrets` resolution: which Secret names each pod pulls with, and why.
//!
//! Per component the highest non-empty layer wins whole. An empty list is absent (Fluid's
//! `len(list) != 0`). Lists are never merged; order is kept and repeated names are dropped
//! (first kept). The job master, job worker, API gateway and init containers share their
//! pod's list, so only master, worker and fuse are resolved, and only those a kind has
//! (`RuntimeKind::components`: a ThinRuntime has no master, and its resolution none).
//!
//! Orders, highest first:
//! - AlluxioRuntime and JindoRuntime: component list → runtime global → cluster default.
//!   Unlike Fluid's Alluxio fuse path (which consults its controller default before the
//!   runtime's global list), one order serves every component.
//! - ThinRuntime: runtime component → profile component → runtime global → profile global
//!   → cluster default. This is the order of Fluid's code (`pkg/ddc/thin/transform.go`,
//!   `transform_fuse.go`), not of PR #4348's text (which puts runtime global before the
//!   profile component); the code is what runs. A profile passed for another kind is
//!   ignored.
//!
//! The cluster default is fluidform's explicit layer (Fluid's `IMAGE_PULL_SECRETS`
//! controller setting, made visible). It applies to every kind, although Fluid's Jindo and
//! Thin controllers never read `IMAGE_PULL_SECRETS` (fluid issue #4463): a cluster that
//! declares a default gets it everywhere, and one that declares none behaves as Fluid.
//!
//! Provenance (`LayerSource`) reads `master`, `worker`, `fuse`, `global`, `cluster`, `none`
//! for the runtime's own layers and the cluster default, and `profileWorker`,
//! `profileFuse`, `profileGlobal` for a ThinRuntimeProfile's layers.
//!
//! A referenced name that is bound to a credential version is *managed*: its Secret is
//! `<name>-v<version>`. Any other name is *unmanaged* and passes through unchanged.
//! `referenced_names` returns the names of the layers that win for at least one component —
//! the ones a runtime needs bound today, profile layers included; a layer that wins nowhere
//! is rebound when a later change makes it win.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use super::manifest::RuntimeLayers;
use super::runtime::RuntimeKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    Master,
    Worker,
    Fuse,
}

impl Component {
    pub const ALL: [Component; 3] = [Component::Master, Component::Worker, Component::Fuse];

    pub fn as_str(self) -> &'static str {
        match self {
            Component::Master => "master",
            Component::Worker => "worker",
            Component::Fuse => "fuse",
        }
    }
}

/// Which layer a component's list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LayerSource {
    Master,
    Worker,
    Fuse,
    Global,
    Cluster,
    None,
    /// A ThinRuntimeProfile's `spec.worker.imagePullSecrets`.
    #[serde(rename = "profileWorker")]
    ProfileWorker,
    /// A ThinRuntimeProfile's `spec.fuse.imagePullSecrets`.
    #[serde(rename = "profileFuse")]
    ProfileFuse,
    /// A ThinRuntimeProfile's `spec.imagePullSecrets`.
    #[serde(rename = "profileGlobal")]
    ProfileGlobal,
}

/// One effective pull secret: the name as referenced, the Secret the pod carries, and for
/// managed credentials which version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedSecret {
    pub name: String,
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentResolution {
    pub source: LayerSource,
    pub image_pull_secrets: Vec<ResolvedSecret>,
}

impl ComponentResolution {
    /// The Secret names the pod template carries, in order.
    pub fn secret_names(&self) -> Vec<String> {
        self.image_pull_secrets.iter().map(|s| s.secret_name.clone()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    /// Absent for kinds without a master (ThinRuntime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<ComponentResolution>,
    pub worker: ComponentResolution,
    pub fuse: ComponentResolution,
}

impl Resolution {
    /// Every component this runtime has, with its resolution, in `Component::ALL` order.
    pub fn components(&self) -> impl Iterator<Item = (Component, &ComponentResolution)> {
        Component::ALL.into_iter().filter_map(move |c| self.component(c).map(|r| (c, r)))
    }

    /// The component's resolution; `None` when the runtime has no such component.
    pub fn component(&self, c: Component) -> Option<&ComponentResolution> {
        match c {
            Component::Master => self.master.as_ref(),
            Component::Worker => Some(&self.worker),
            Component::Fuse => Some(&self.fuse),
        }
    }
}

/// The Secret a credential version is materialized as.
pub fn managed_secret_name(credential: &str, version: u32) -> String {
    format!("{credential}-v{version}")
}

/// The credential and version of a Secret named `<credential>-v<version>`.
pub fn parse_managed_secret_name(secret: &str) -> Option<(&str, u32)> {
    let (credential, version) = secret.rsplit_once("-v")?;
    let v: u32 = version.parse().ok().filter(|_| version.bytes().all(|b| b.is_ascii_digit()))?;
    (!credential.is_empty()).then_some((credential, v))
}

/// Everything resolution reads: the kind, the runtime's layers, the profile's (Thin
/// only) and the cluster default.
#[derive(Debug, Clone, Copy)]
pub struct LayerInputs<'a> {
    pub kind: RuntimeKind,
    pub runtime: &'a RuntimeLayers,
    pub profile: Option<&'a RuntimeLayers>,
    pub cluster_default: &'a [String],
}

fn own_layer(layers: &RuntimeLayers, component: Component) -> &[String] {
    match component {
        Component::Master => &layers.master,
        Component::Worker => &layers.worker,
        Component::Fuse => &layers.fuse,
    }
}

/// The layers one component consults, highest first.
fn candidates<'a>(component: Component, input: &LayerInputs<'a>) -> Vec<(LayerSource, &'a [String])> {
    let own_source = match component {
        Component::Master => LayerSource::Master,
        Component::Worker => LayerSource::Worker,
        Component::Fuse => LayerSource::Fuse,
    };
    let mut out = vec![(own_source, own_layer(input.runtime, component))];
    let profile = input.profile.filter(|_| input.kind == RuntimeKind::Thin);
    if let Some(p) = profile {
        let source = match component {
            Component::Master => None,
            Component::Worker => Some(LayerSource::ProfileWorker),
            Component::Fuse => Some(LayerSource::ProfileFuse),
        };
        out.extend(source.map(|s| (s, own_layer(p, component))));
    }
    out.push((LayerSource::Global, &input.runtime.global));
    if let Some(p) = profile {
        out.push((LayerSource::ProfileGlobal, &p.global));
    }
    out.push((LayerSource::Cluster, input.cluster_default));
    out
}

/// The winning layer for one component and its names (duplicates dropped).
fn winner<'a>(component: Component, input: &LayerInputs<'a>) -> (LayerSource, Vec<&'a str>) {
    let (source, list) =
        candidates(component, input).into_iter().find(|(_, list)| !list.is_empty()).unwrap_or((LayerSource::None, &[]));
    let mut seen = BTreeSet::new();
    let names = list.iter().map(String::as_str).filter(|n| seen.insert(*n)).collect();
    (source, names)
}

fn resolve_component(
    component: Component,
    input: &LayerInputs<'_>,
    bindings: &BTreeMap<String, u32>,
) -> ComponentResolution {
    let (source, names) = winner(component, input);
    let image_pull_secrets = names
        .into_iter()
        .map(|name| match bindings.get(name) {
            Some(&version) => ResolvedSecret {
                name: name.to_string(),
                secret_name: managed_secret_name(name, version),
                credential: Some(name.to_string()),
                version: Some(version),
            },
            None => ResolvedSecret {
                name: name.to_string(),
                secret_name: name.to_string(),
                credential: None,
                version: None,
            },
        })
        .collect();
    ComponentResolution { source, image_pull_secrets }
}

/// Resolve every component the kind has. `bindings` maps credential name → bound version.
pub fn resolve_layers(input: &LayerInputs<'_>, bindings: &BTreeMap<String, u32>) -> Resolution {
    Resolution {
        master: input.kind.has(Component::Master).then(|| resolve_component(Component::Master, input, bindings)),
        worker: resolve_component(Component::Worker, input, bindings),
        fuse: resolve_component(Component::Fuse, input, bindings),
    }
}

/// Every name in a layer that wins for some component of the kind: what it must bind.
pub fn referenced_layer_names(input: &LayerInputs<'_>) -> BTreeSet<String> {
    input.kind.components().iter().flat_map(|&c| winner(c, input).1).map(str::to_string).collect()
}

fn alluxio<'a>(layers: &'a RuntimeLayers, cluster_default: &'a [String]) -> LayerInputs<'a> {
    LayerInputs { kind: RuntimeKind::Alluxio, runtime: layers, profile: None, cluster_default }
}

/// Resolve an AlluxioRuntime's components. `bindings` maps credential name → bound version.
pub fn resolve(layers: &RuntimeLayers, cluster_default: &[String], bindings: &BTreeMap<String, u32>) -> Resolution {
    resolve_layers(&alluxio(layers, cluster_default), bindings)
}

/// Every name in a layer that wins for some component of an AlluxioRuntime.
pub fn referenced_names(layers: &RuntimeLayers, cluster_default: &[String]) -> BTreeSet<String> {
    referenced_layer_names(&alluxio(layers, cluster_default))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn layers(global: &[&str], master: &[&str], worker: &[&str], fuse: &[&str]) -> RuntimeLayers {
        RuntimeLayers { global: v(global), master: v(master), worker: v(worker), fuse: v(fuse) }
    }

    fn summary(r: &ComponentResolution) -> (LayerSource, Vec<String>) {
        (r.source, r.secret_names())
    }

    #[test]
    fn resolution_table() {
        use LayerSource as S;
        type Row<'a> = (&'a str, RuntimeLayers, Vec<String>, [(LayerSource, Vec<String>); 3]);
        let rows: Vec<Row> = vec![
            (
                "seed example",
                layers(&["global-secret"], &["master-secret"], &["worker-secret"], &[]),
                v(&[]),
                [
                    (S::Master, v(&["master-secret"])),
                    (S::Worker, v(&["worker-secret"])),
                    (S::Global, v(&["global-secret"])),
                ],
            ),
            (
                "empty component lists fall through to global",
                layers(&["g"], &[], &[], &[]),
                v(&["c"]),
                [(S::Global, v(&["g"])), (S::Global, v(&["g"])), (S::Global, v(&["g"]))],
            ),
            (
                "cluster default when the runtime declares none",
                layers(&[], &[], &[], &[]),
                v(&["c1", "c2"]),
                [(S::Cluster, v(&["c1", "c2"])), (S::Cluster, v(&["c1", "c2"])), (S::Cluster, v(&["c1", "c2"]))],
            ),
            (
                "nothing anywhere",
                layers(&[], &[], &[], &[]),
                v(&[]),
                [(S::None, v(&[])), (S::None, v(&[])), (S::None, v(&[]))],
            ),
            (
                "component beats global beats cluster, no merging",
                layers(&["g1", "g2"], &[], &["w"], &["f"]),
                v(&["c"]),
                [(S::Global, v(&["g1", "g2"])), (S::Worker, v(&["w"])), (S::Fuse, v(&["f"]))],
            ),
            (
                "component beats cluster without global",
                layers(&[], &["m"], &[], &[]),
                v(&["c"]),
                [(S::Master, v(&["m"])), (S::Cluster, v(&["c"])), (S::Cluster, v(&["c"]))],
            ),
            (
                "duplicates dropped, first kept, order kept",
                layers(&["b", "a", "b", "c", "a"], &["z", "y", "z"], &[], &[]),
                v(&[]),
                [(S::Master, v(&["z", "y"])), (S::Global, v(&["b", "a", "c"])), (S::Global, v(&["b", "a", "c"]))],
            ),
            (
                "duplicates in the cluster default dropped too",
                layers(&[], &[], &[], &[]),
                v(&["c", "c"]),
                [(S::Cluster, v(&["c"])), (S::Cluster, v(&["c"])), (S::Cluster, v(&["c"]))],
            ),
        ];
        for (what, l, cluster, want) in rows {
            let r = resolve(&l, &cluster, &BTreeMap::new());
            assert_eq!(summary(r.master.as_ref().unwrap()), want[0], "{what}: master");
            assert_eq!(summary(&r.worker), want[1], "{what}: worker");
            assert_eq!(summary(&r.fuse), want[2], "{what}: fuse");
        }
    }

    #[test]
    fn managed_and_unmanaged_names() {
        let l = layers(&["global-secret", "legacy"], &["master-secret"], &[], &[]);
        let bindings = BTreeMap::from([("global-secret".to_string(), 1)]);
        let r = resolve(&l, &[], &bindings);
        assert_eq!(
            r.fuse.image_pull_secrets,
            vec![
                ResolvedSecret {
                    name: "global-secret".into(),
                    secret_name: "global-secret-v1".into(),
                    credential: Some("global-secret".into()),
                    version: Some(1),
                },
                ResolvedSecret { name: "legacy".into(), secret_name: "legacy".into(), credential: None, version: None },
            ]
        );
        assert_eq!(r.master.as_ref().unwrap().secret_names(), v(&["master-secret"]));
        assert_eq!(managed_secret_name("global-secret", 12), "global-secret-v12");
        assert_eq!(parse_managed_secret_name("global-secret-v12"), Some(("global-secret", 12)));
        assert_eq!(parse_managed_secret_name("a-v1-v2"), Some(("a-v1", 2)));
        assert_eq!(parse_managed_secret_name("legacy"), None);
        assert_eq!(parse_managed_secret_name("x-v+1"), None);

        let json = serde_json::to_value(&r.worker).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"source": "global", "imagePullSecrets": [
                {"name": "global-secret", "secretName": "global-secret-v1",
                 "credential": "global-secret", "version": 1},
                {"name": "legacy", "secretName": "legacy"}]})
        );
    }

    #[test]
    fn referenced_names_are_the_winning_layers() {
        let cluster = v(&["c"]);
        let all_overridden = layers(&["g"], &["m"], &["w"], &["f"]);
        assert_eq!(referenced_names(&all_overridden, &cluster), BTreeSet::from(["m".into(), "w".into(), "f".into()]));
        let seed = layers(&["global-secret"], &["master-secret"], &["worker-secret"], &[]);
        assert_eq!(
            referenced_names(&seed, &cluster),
            BTreeSet::from(["global-secret".into(), "master-secret".into(), "worker-secret".into()])
        );
        let bare = layers(&[], &["m"], &[], &[]);
        assert_eq!(referenced_names(&bare, &cluster), BTreeSet::from(["m".into(), "c".into()]));
        assert!(referenced_names(&layers(&[], &[], &[], &[]), &[]).is_empty());
    }
}

#[cfg(test)]
mod kind_tests;
