//! Validation of a parsed ThinRuntime and ThinRuntimeProfile: Fluid's CRD rules, what its
//! Thin engine refuses, and fluidform's own. Every violation is reported with its path.
//!
//! - CRD rules: `worker.replicas` at least 1; `networkMode` is `HostNetwork`,
//!   `ContainerNetwork` or empty; `runAs` needs all four fields; a profile needs
//!   `fileSystemType` and its `nodePublishSecretPolicy` is one of Fluid's three.
//! - Engine rules: `fuse.lifecycle.postStart` is refused in both kinds (Fluid's engine
//!   fails the install: it owns the fuse's post-start hook); a `volumeMounts[].name` must
//!   name a volume of the same object (the engine looks only there).
//! - Decided here: `env` items must be valid `EnvVar`s with unique names and `ports`
//!   valid `ContainerPort`s with unique names; only one tiered-store level with one path is
//!   accepted (Thin reads `levels[0].path` as its cache directory, and needs no quota);
//!   a profile's `worker.enabled` is refused (Fluid reads only the runtime's); a profile
//!   is cluster-scoped, so `metadata.namespace` is refused and its name is a DNS-1123
//!   subdomain; `profileName` must be a valid object name. `fuse.options` refuses
//!   credential-looking keys as a Dataset's options do: they belong in the Dataset's
//!   `encryptOptions`. `fuse.cleanPolicy` is `OnDemand`, `OnRuntimeDeleted` or
//!   `OnFuseChanged`.
//! - Whether a ThinRuntime's profile exists is not checked here: validation sees one
//!   manifest; the profile is a separate object.

use k8s_openapi::api::core::v1::Lifecycle;

use super::checker::{Checker, NETWORK_MODES, NameRule, PULL_POLICIES};
use super::dataset::credential_options;
use super::tiers::LevelRules;
use crate::domain::FieldError;
use crate::domain::thin::{KIND, PROFILE_KIND, ThinCompTemplateSpec, ThinFuseSpec, ThinRuntime, ThinRuntimeProfile};

const CLEAN_POLICIES: [&str; 3] = ["OnDemand", "OnRuntimeDeleted", "OnFuseChanged"];
const NODE_PUBLISH_SECRET_POLICIES: [&str; 3] =
    ["NotMountNodePublishSecret", "MountNodePublishSecretIfExists", "CopyNodePublishSecretAndMountIfNotExists"];
const THIN_LEVELS: LevelRules = LevelRules { quota_required: false, single_path: true };

impl Checker<'_> {
    fn thin_worker(&mut self, w: Option<&ThinCompTemplateSpec>, in_profile: bool) {
        let Some(w) = w else { return };
        let b = "spec.worker";
        self.one_of(&format!("{b}.imagePullPolicy"), w.image_pull_policy.as_ref(), &PULL_POLICIES);
        self.pull_secrets(&format!("{b}.imagePullSecrets"), w.image_pull_secrets.as_ref());
        self.at_least_one(&format!("{b}.replicas"), w.replicas);
        self.container_ports(&format!("{b}.ports"), w.ports.as_ref());
        self.resources(&format!("{b}.resources"), w.resources.as_ref());
        self.env_list(&format!("{b}.env"), w.env.as_ref());
        if in_profile && w.enabled.is_some() {
            self.err(format!("{b}.enabled"), "is ignored by Fluid in a profile; set worker.enabled on the ThinRuntime");
        }
        self.label_map(&format!("{b}.nodeSelector"), w.node_selector.as_ref());
        self.volume_mounts(&format!("{b}.volumeMounts"), w.volume_mounts.as_ref());
        self.probe(&format!("{b}.livenessProbe"), w.liveness_probe.as_ref());
        self.probe(&format!("{b}.readinessProbe"), w.readiness_probe.as_ref());
        self.one_of(&format!("{b}.networkMode"), w.network_mode.as_ref(), &NETWORK_MODES);
    }

    fn thin_fuse(&mut self, f: Option<&ThinFuseSpec>) {
        let Some(f) = f else { return };
        let b = "spec.fuse";
        self.one_of(&format!("{b}.imagePullPolicy"), f.image_pull_policy.as_ref(), &PULL_POLICIES);
        self.pull_secrets(&format!("{b}.imagePullSecrets"), f.image_pull_secrets.as_ref());
        self.container_ports(&format!("{b}.ports"), f.ports.as_ref());
        self.env_list(&format!("{b}.env"), f.env.as_ref());
        credential_options(
            self,
            &format!("{b}.options"),
            f.options.as_ref(),
            "give it through the Dataset mount's encryptOptions with a Secret reference instead",
        );
        self.resources(&format!("{b}.resources"), f.resources.as_ref());
        self.label_map(&format!("{b}.nodeSelector"), f.node_selector.as_ref());
        self.one_of(&format!("{b}.cleanPolicy"), f.clean_policy.as_ref(), &CLEAN_POLICIES);
        self.one_of(&format!("{b}.networkMode"), f.network_mode.as_ref(), &NETWORK_MODES);
        self.probe(&format!("{b}.livenessProbe"), f.liveness_probe.as_ref());
        self.probe(&format!("{b}.readinessProbe"), f.readiness_probe.as_ref());
        self.volume_mounts(&format!("{b}.volumeMounts"), f.volume_mounts.as_ref());
        if let Some(l) = &f.lifecycle
            && self
                .k8s_typed::<Lifecycle>(&format!("{b}.lifecycle"), "lifecycle", l)
                .is_some_and(|l| l.post_start.is_some())
        {
            self.err(
                format!("{b}.lifecycle.postStart"),
                "is not supported: Fluid's Thin engine refuses a custom fuse postStart hook",
            );
        }
        self.pod_metadata(&format!("{b}.podMetadata"), f.pod_metadata.as_ref());
    }
}

/// Fluid's rules for a ThinRuntime plus fluidform's. Returns every violation.
pub fn validate_thin(rt: &ThinRuntime, path_namespace: &str, path_name: &str) -> Vec<FieldError> {
    let mut c = Checker::new();
    c.object_meta(
        (&rt.api_version, &rt.kind, KIND),
        &rt.metadata,
        Some(path_namespace),
        path_name,
        NameRule::Dns1035("runtime"),
    );
    let s = &rt.spec;
    c.volumes(s.volumes.as_ref(), |_| false);
    c.object_name("spec.profileName", "ThinRuntimeProfile", s.profile_name.as_ref().filter(|n| !n.is_empty()));
    c.thin_worker(s.worker.as_ref(), false);
    c.thin_fuse(s.fuse.as_ref());
    c.tieredstore(s.tieredstore.as_ref().and_then(|t| t.levels.as_ref()), THIN_LEVELS, Some(1));
    c.not_negative("spec.replicas", s.replicas);
    c.user("spec.runAs", s.run_as.as_ref());
    c.clean_cache_policy(
        "spec.management.cleanCachePolicy",
        s.management.as_ref().and_then(|m| m.clean_cache_policy.as_ref()),
    );
    c.pull_secrets("spec.imagePullSecrets", s.image_pull_secrets.as_ref());
    c.errors
}

/// Fluid's rules for a (cluster-scoped) ThinRuntimeProfile plus fluidform's.
pub fn validate_thin_profile(p: &ThinRuntimeProfile, path_name: &str) -> Vec<FieldError> {
    let mut c = Checker::new();
    c.object_meta(
        (&p.api_version, &p.kind, PROFILE_KIND),
        &p.metadata,
        None,
        path_name,
        NameRule::Dns1123Subdomain("ThinRuntimeProfile"),
    );
    let s = &p.spec;
    if s.file_system_type.is_empty() {
        c.err("spec.fileSystemType", "is required");
    }
    c.volumes(s.volumes.as_ref(), |_| false);
    c.thin_worker(s.worker.as_ref(), true);
    c.thin_fuse(s.fuse.as_ref());
    c.one_of("spec.nodePublishSecretPolicy", s.node_publish_secret_policy.as_ref(), &NODE_PUBLISH_SECRET_POLICIES);
    c.pull_secrets("spec.imagePullSecrets", s.image_pull_secrets.as_ref());
    c.errors
}

#[cfg(test)]
#[path = "thin_tests.rs"]
mod tests;
