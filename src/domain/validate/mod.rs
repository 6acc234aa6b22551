//! Validation of parsed manifests: Fluid's rules plus fluidform's own. Every violation is
//! reported (not just the first), each naming its JSON path. AlluxioRuntime is validated
//! here; Dataset, JindoRuntime, ThinRuntime and ThinRuntimeProfile have a file each.
//!
//! Beyond the brief's list, decided here:
//! - `quota` and `quotaList` may both be set; `quotaList` wins, as in Fluid's transform.
//!   Quotas must be greater than zero.
//! - Paths are unique across all tiers, and each `mediumtype` appears in one tier only
//!   (Alluxio needs distinct tier aliases; a repeated path would mount twice).
//! - `volumeSource` is accepted only with `volumeType: emptyDir` and must hold an `emptyDir`.
//! - `runAs` needs all of `uid`, `gid`, `user`, `group` (Fluid's CRD requires them).
//! - `ports` keys must be names the component uses (e.g. `rpc`, `web`); unknown names are
//!   rejected rather than silently ignored.
//! - `volumes` must be valid Kubernetes Volumes with unique DNS-1123 names that do not
//!   collide with the volumes fluidform generates; every `volumeMounts[].name` must name one.
//! - `hadoopConfig` must be a valid ConfigMap name; `fuse.cleanPolicy` is `OnDemand` or
//!   `OnRuntimeDeleted`; env names must be non-empty and contain no `=`.
//! - `resources.claims` is refused for every kind: Fluid's engines copy only requests and
//!   limits into the pods (`TransformCoreV1ResourcesToInternalResources`).
//! - Kubernetes-typed values (volumes, mounts, tolerations, …) must parse as their
//!   Kubernetes types, and a field those types do not define is refused with its path:
//!   the API server would drop it without a word.
//!
//! The rules every kind shares live in `checker`, `k8s` and `tiers`.

use super::FieldError;
use super::manifest::{AlluxioRuntime, ComponentSpec, FuseSpec};
use super::render::is_reserved_volume_name;

mod checker;
pub mod dataset;
pub mod jindo;
mod k8s;
pub mod thin;
mod tiers;

pub use checker::API_VERSION;
use checker::{Checker, NETWORK_MODES, NameRule, PULL_POLICIES};
pub use dataset::validate_dataset;
pub use jindo::validate_jindo;
pub use thin::{validate_thin, validate_thin_profile};
use tiers::LevelRules;

pub const KIND: &str = "AlluxioRuntime";
const CLEAN_POLICIES: [&str; 2] = ["OnDemand", "OnRuntimeDeleted"];
const ALLUXIO_LEVELS: LevelRules = LevelRules { quota_required: true, single_path: false };

/// Port names each component template understands.
fn port_names(component: &str) -> &'static [&'static str] {
    match component {
        "master" | "jobMaster" => &["rpc", "web", "embedded"],
        "worker" => &["rpc", "web"],
        "jobWorker" => &["rpc", "web", "data"],
        "apiGateway" => &["rest"],
        _ => &[],
    }
}

impl Checker<'_> {
    fn component(&mut self, key: &str, c: Option<&ComponentSpec>) {
        let Some(c) = c else { return };
        let base = format!("spec.{key}");
        self.at_least_one(&format!("{base}.replicas"), c.replicas);
        let allowed = port_names(key);
        for (name, &port) in c.ports.iter().flatten() {
            let f = format!("{base}.ports.{name}");
            if !allowed.contains(&name.as_str()) {
                self.err(f.clone(), format!("unknown port name {name:?}; {key} uses {}", allowed.join(", ")));
            }
            if !(1..=65535).contains(&port) {
                self.err(f, format!("port {port} is outside 1..65535"));
            }
        }
        self.resources(&format!("{base}.resources"), c.resources.as_ref());
        self.env(&format!("{base}.env"), c.env.as_ref());
        self.label_map(&format!("{base}.nodeSelector"), c.node_selector.as_ref());
        self.one_of(&format!("{base}.networkMode"), c.network_mode.as_ref(), &NETWORK_MODES);
        self.volume_mounts(&format!("{base}.volumeMounts"), c.volume_mounts.as_ref());
        self.pod_metadata(&format!("{base}.podMetadata"), c.pod_metadata.as_ref());
        self.pull_secrets(&format!("{base}.imagePullSecrets"), c.image_pull_secrets.as_ref());
    }

    fn fuse(&mut self, f: Option<&FuseSpec>) {
        let Some(f) = f else { return };
        self.one_of("spec.fuse.imagePullPolicy", f.image_pull_policy.as_ref(), &PULL_POLICIES);
        self.pull_secrets("spec.fuse.imagePullSecrets", f.image_pull_secrets.as_ref());
        self.env("spec.fuse.env", f.env.as_ref());
        self.resources("spec.fuse.resources", f.resources.as_ref());
        self.label_map("spec.fuse.nodeSelector", f.node_selector.as_ref());
        self.one_of("spec.fuse.cleanPolicy", f.clean_policy.as_ref(), &CLEAN_POLICIES);
        self.one_of("spec.fuse.networkMode", f.network_mode.as_ref(), &NETWORK_MODES);
        self.volume_mounts("spec.fuse.volumeMounts", f.volume_mounts.as_ref());
        self.pod_metadata("spec.fuse.podMetadata", f.pod_metadata.as_ref());
    }
}

/// Fluid's validation plus ours. Returns every violation, each naming its field.
pub fn validate_runtime(rt: &AlluxioRuntime, path_namespace: &str, path_name: &str) -> Vec<FieldError> {
    let mut c = Checker::new();
    c.object_meta(
        (&rt.api_version, &rt.kind, KIND),
        &rt.metadata,
        Some(path_namespace),
        path_name,
        NameRule::Dns1035("runtime"),
    );
    let s = &rt.spec;
    c.volumes(s.volumes.as_ref(), is_reserved_volume_name);

    if let Some(v) = &s.alluxio_version {
        c.one_of("spec.alluxioVersion.imagePullPolicy", v.image_pull_policy.as_ref(), &PULL_POLICIES);
    }
    for (key, comp) in [
        ("master", &s.master),
        ("jobMaster", &s.job_master),
        ("worker", &s.worker),
        ("jobWorker", &s.job_worker),
        ("apiGateway", &s.api_gateway),
    ] {
        c.component(key, comp.as_ref());
    }
    if let Some(iu) = &s.init_users {
        c.one_of("spec.initUsers.imagePullPolicy", iu.image_pull_policy.as_ref(), &PULL_POLICIES);
        c.env("spec.initUsers.env", iu.env.as_ref());
        c.resources("spec.initUsers.resources", iu.resources.as_ref());
    }
    c.fuse(s.fuse.as_ref());
    c.tieredstore(s.tieredstore.as_ref().and_then(|t| t.levels.as_ref()), ALLUXIO_LEVELS, None);
    c.not_negative("spec.replicas", s.replicas);
    c.user("spec.runAs", s.run_as.as_ref());
    c.object_name("spec.hadoopConfig", "ConfigMap", s.hadoop_config.as_ref());
    c.clean_cache_policy(
        "spec.management.cleanCachePolicy",
        s.management.as_ref().and_then(|m| m.clean_cache_policy.as_ref()),
    );
    c.pod_metadata("spec.podMetadata", s.pod_metadata.as_ref());
    c.pull_secrets("spec.imagePullSecrets", s.image_pull_secrets.as_ref());
    c.errors
}

#[cfg(test)]
mod tests;
