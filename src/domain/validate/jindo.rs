//! Validation of a parsed JindoRuntime: Fluid's CRD rules, what its jindocache engine
//! would refuse or silently ignore, and fluidform's own. Every violation is reported with
//! its JSON path.
//!
//! - CRD rules: `master.replicas`/`worker.replicas` at least 1; `networkmode` is
//!   `HostNetwork`, `ContainerNetwork` or empty; `runAs` needs all four fields.
//! - Engine rules: the deprecated `labels` (spec, master, worker, fuse) cannot be combined
//!   with any `podMetadata.labels`; jindocache fails the install when both are set.
//! - Decided here, where jindocache silently ignores input: `master.replicas` must be 1
//!   or 3 (it runs 3 masters for exactly 3 and 1 for anything else); only one tiered-store
//!   level is accepted (it reads `levels[0]`). `fuse.cleanPolicy` is `OnDemand`,
//!   `OnRuntimeDeleted` or `OnFuseChanged`; `fuse.metrics.scrapeTarget` is a comma list
//!   of `MountPod`, `Sidecar`, `All`, `None`. `ports` are range-checked only: jindocache
//!   allocates its own ports and does not read these at Fluid a826600. `secret` and
//!   `hadoopConfig` must be valid Secret and ConfigMap names.
//! - Volume names are not checked against the chart's own volumes: Fluid renders the
//!   workloads, and its chart's names are not fluidform's to reserve.

use std::collections::BTreeMap;

use super::checker::{Checker, NETWORK_MODES, NameRule, PULL_POLICIES};
use super::tiers::LevelRules;
use crate::domain::FieldError;
use crate::domain::jindo::{JindoCompTemplateSpec, JindoFuseSpec, JindoRuntime, KIND};

const CLEAN_POLICIES: [&str; 3] = ["OnDemand", "OnRuntimeDeleted", "OnFuseChanged"];
const SCRAPE_TARGETS: [&str; 4] = ["MountPod", "Sidecar", "All", "None"];
const JINDO_LEVELS: LevelRules = LevelRules { quota_required: true, single_path: false };

fn non_empty(map: Option<&BTreeMap<String, String>>) -> bool {
    map.is_some_and(|m| !m.is_empty())
}

impl Checker<'_> {
    fn jindo_component(&mut self, key: &str, c: Option<&JindoCompTemplateSpec>) {
        let Some(c) = c else { return };
        let base = format!("spec.{key}");
        self.at_least_one(&format!("{base}.replicas"), c.replicas);
        if key == "master"
            && let Some(r) = c.replicas.filter(|r| *r > 1 && *r != 3)
        {
            self.err(format!("{base}.replicas"), format!("must be 1 or 3 (a raft quorum), got {r}"));
        }
        for (name, &port) in c.ports.iter().flatten() {
            if !(1..=65535).contains(&port) {
                self.err(format!("{base}.ports.{name}"), format!("port {port} is outside 1..65535"));
            }
        }
        self.resources(&format!("{base}.resources"), c.resources.as_ref());
        self.env(&format!("{base}.env"), c.env.as_ref());
        self.label_map(&format!("{base}.nodeSelector"), c.node_selector.as_ref());
        self.tolerations(&format!("{base}.tolerations"), c.tolerations.as_ref());
        self.label_map(&format!("{base}.labels"), c.labels.as_ref());
        self.pod_metadata(&format!("{base}.podMetadata"), c.pod_metadata.as_ref());
        self.volume_mounts(&format!("{base}.volumeMounts"), c.volume_mounts.as_ref());
        self.pull_secrets(&format!("{base}.imagePullSecrets"), c.image_pull_secrets.as_ref());
    }

    fn jindo_fuse(&mut self, f: Option<&JindoFuseSpec>) {
        let Some(f) = f else { return };
        self.one_of("spec.fuse.imagePullPolicy", f.image_pull_policy.as_ref(), &PULL_POLICIES);
        self.pull_secrets("spec.fuse.imagePullSecrets", f.image_pull_secrets.as_ref());
        self.env("spec.fuse.env", f.env.as_ref());
        self.resources("spec.fuse.resources", f.resources.as_ref());
        self.label_map("spec.fuse.nodeSelector", f.node_selector.as_ref());
        self.tolerations("spec.fuse.tolerations", f.tolerations.as_ref());
        self.label_map("spec.fuse.labels", f.labels.as_ref());
        self.pod_metadata("spec.fuse.podMetadata", f.pod_metadata.as_ref());
        self.one_of("spec.fuse.cleanPolicy", f.clean_policy.as_ref(), &CLEAN_POLICIES);
        if let Some(targets) = f.metrics.as_ref().and_then(|m| m.scrape_target.as_ref()) {
            for t in targets.split(',').map(str::trim) {
                if !SCRAPE_TARGETS.contains(&t) {
                    self.err(
                        "spec.fuse.metrics.scrapeTarget",
                        format!("{t:?} is not one of {}", SCRAPE_TARGETS.join(", ")),
                    );
                }
            }
        }
    }
}

/// Fluid's rules for a JindoRuntime plus fluidform's. Returns every violation.
pub fn validate_jindo(rt: &JindoRuntime, path_namespace: &str, path_name: &str) -> Vec<FieldError> {
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
    if let Some(v) = &s.jindo_version {
        c.one_of("spec.jindoVersion.imagePullPolicy", v.image_pull_policy.as_ref(), &PULL_POLICIES);
    }
    c.jindo_component("master", s.master.as_ref());
    c.jindo_component("worker", s.worker.as_ref());
    c.jindo_fuse(s.fuse.as_ref());

    let deprecated = [
        ("spec.labels", s.labels.as_ref()),
        ("spec.master.labels", s.master.as_ref().and_then(|m| m.labels.as_ref())),
        ("spec.worker.labels", s.worker.as_ref().and_then(|m| m.labels.as_ref())),
        ("spec.fuse.labels", s.fuse.as_ref().and_then(|m| m.labels.as_ref())),
    ];
    let pod_labels = [
        s.pod_metadata.as_ref(),
        s.master.as_ref().and_then(|m| m.pod_metadata.as_ref()),
        s.worker.as_ref().and_then(|m| m.pod_metadata.as_ref()),
        s.fuse.as_ref().and_then(|m| m.pod_metadata.as_ref()),
    ];
    if pod_labels.iter().flatten().any(|pm| non_empty(pm.labels.as_ref())) {
        for (field, labels) in deprecated {
            if non_empty(labels) {
                c.err(
                    field,
                    "is deprecated and cannot be combined with podMetadata.labels; move these labels to podMetadata.labels",
                );
            }
        }
    }
    c.label_map("spec.labels", s.labels.as_ref());

    c.tieredstore(s.tieredstore.as_ref().and_then(|t| t.levels.as_ref()), JINDO_LEVELS, Some(1));
    c.not_negative("spec.replicas", s.replicas);
    c.user("spec.runAs", s.run_as.as_ref());
    c.object_name("spec.hadoopConfig", "ConfigMap", s.hadoop_config.as_ref());
    c.object_name("spec.secret", "Secret", s.secret.as_ref());
    c.one_of("spec.networkmode", s.network_mode.as_ref(), &NETWORK_MODES);
    c.clean_cache_policy("spec.cleanCachePolicy", s.clean_cache_policy.as_ref());
    c.pod_metadata("spec.podMetadata", s.pod_metadata.as_ref());
    c.pull_secrets("spec.imagePullSecrets", s.image_pull_secrets.as_ref());
    c.errors
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::jindo::{parse_jindo, tests::jindo};
    use crate::domain::manifest::ManifestFormat;
    use crate::domain::testutil::patched;

    fn with(patch: Value) -> JindoRuntime {
        let v = patched(&serde_json::to_value(jindo()).unwrap(), &patch);
        parse_jindo(&serde_json::to_vec(&v).unwrap(), ManifestFormat::Json)
            .unwrap_or_else(|e| panic!("patched JindoRuntime does not parse: {e}"))
    }

    fn check(rt: &JindoRuntime) -> Vec<FieldError> {
        validate_jindo(rt, "default", "hbase")
    }

    #[test]
    fn example_passes() {
        assert_eq!(check(&jindo()), vec![]);
    }

    #[test]
    fn each_rule_names_its_field() {
        let lvl = |extra: Value| {
            let mut l = json!({"mediumtype": "MEM", "path": "/dev/shm", "quota": "2Gi"});
            crate::domain::testutil::merge_patch(&mut l, &extra);
            json!({"spec": {"tieredstore": {"levels": [l]}}})
        };
        let cases: Vec<(&str, Value, &str)> = vec![
            ("kind", json!({"kind": "AlluxioRuntime"}), "kind"),
            ("name mismatch", json!({"metadata": {"name": "x"}}), "metadata.name"),
            ("master replicas 0", json!({"spec": {"master": {"replicas": 0}}}), "spec.master.replicas"),
            ("master replicas 2", json!({"spec": {"master": {"replicas": 2}}}), "spec.master.replicas"),
            ("worker replicas 0", json!({"spec": {"worker": {"replicas": 0}}}), "spec.worker.replicas"),
            ("worker count", json!({"spec": {"replicas": -1}}), "spec.replicas"),
            ("networkmode", json!({"spec": {"networkmode": "Host"}}), "spec.networkmode"),
            (
                "pull policy",
                json!({"spec": {"jindoVersion": {"imagePullPolicy": "x"}}}),
                "spec.jindoVersion.imagePullPolicy",
            ),
            ("fuse pull policy", json!({"spec": {"fuse": {"imagePullPolicy": "x"}}}), "spec.fuse.imagePullPolicy"),
            ("fuse cleanPolicy", json!({"spec": {"fuse": {"cleanPolicy": "Never"}}}), "spec.fuse.cleanPolicy"),
            (
                "scrape target",
                json!({"spec": {"fuse": {"metrics": {"scrapeTarget": "MountPod,Pod"}}}}),
                "spec.fuse.metrics.scrapeTarget",
            ),
            ("port", json!({"spec": {"master": {"ports": {"rpc": 0}}}}), "spec.master.ports.rpc"),
            (
                "toleration",
                json!({"spec": {"worker": {"tolerations": [{"operator": "Maybe"}]}}}),
                "spec.worker.tolerations[0].operator",
            ),
            ("fuse toleration", json!({"spec": {"fuse": {"tolerations": ["x"]}}}), "spec.fuse.tolerations[0]"),
            (
                "resources",
                json!({"spec": {"worker": {"resources": {"requests": {"memory": "lots"}}}}}),
                "spec.worker.resources.requests.memory",
            ),
            (
                "resource claims",
                json!({"spec": {"fuse": {"resources": {"claims": [{"name": "gpu"}]}}}}),
                "spec.fuse.resources.claims",
            ),
            ("env", json!({"spec": {"fuse": {"env": {"": "x"}}}}), "spec.fuse.env"),
            (
                "labels with podMetadata",
                json!({"spec": {"labels": {"a": "b"}, "podMetadata": {"labels": {"c": "d"}}}}),
                "spec.labels",
            ),
            (
                "component labels with podMetadata",
                json!({"spec": {"fuse": {"labels": {"a": "b"}}, "master": {"podMetadata": {"labels": {"c": "d"}}}}}),
                "spec.fuse.labels",
            ),
            ("bad deprecated label", json!({"spec": {"master": {"labels": {"a b": "x"}}}}), "spec.master.labels"),
            (
                "two levels",
                json!({"spec": {"tieredstore": {"levels": [
                {"mediumtype": "MEM", "path": "/a", "quota": "1Gi"}, {"mediumtype": "SSD", "path": "/b", "quota": "1Gi"}]}}}),
                "spec.tieredstore.levels[1]",
            ),
            ("level quota", lvl(json!({"quota": null})), "spec.tieredstore.levels[0].quota"),
            ("level watermark", lvl(json!({"high": "2"})), "spec.tieredstore.levels[0].high"),
            ("runAs", json!({"spec": {"runAs": {"uid": 1}}}), "spec.runAs.gid"),
            ("hadoopConfig", json!({"spec": {"hadoopConfig": "Bad"}}), "spec.hadoopConfig"),
            ("secret", json!({"spec": {"secret": "bad_name"}}), "spec.secret"),
            (
                "cleanCachePolicy",
                json!({"spec": {"cleanCachePolicy": {"maxRetryAttempts": -1}}}),
                "spec.cleanCachePolicy.maxRetryAttempts",
            ),
            ("volume", json!({"spec": {"volumes": [{"name": "Bad", "emptyDir": {}}]}}), "spec.volumes[0].name"),
            (
                "volumeMount",
                json!({"spec": {"worker": {"volumeMounts": [{"name": "x", "mountPath": "/x"}]}}}),
                "spec.worker.volumeMounts[0].name",
            ),
            ("global secret", json!({"spec": {"imagePullSecrets": [{"name": "A"}]}}), "spec.imagePullSecrets[0].name"),
            (
                "master secret",
                json!({"spec": {"master": {"imagePullSecrets": [{}]}}}),
                "spec.master.imagePullSecrets[0].name",
            ),
            (
                "fuse secret",
                json!({"spec": {"fuse": {"imagePullSecrets": [{"name": "-x"}]}}}),
                "spec.fuse.imagePullSecrets[0].name",
            ),
        ];
        for (what, patch, field) in cases {
            let errors = check(&with(patch));
            assert!(errors.iter().any(|e| e.field == field), "{what}: expected an error at {field}, got {errors:?}");
        }
    }

    #[test]
    fn valid_variants_pass() {
        let cases = [
            json!({"spec": {"master": {"replicas": 1}}}),
            json!({"spec": {"networkmode": ""}}),
            json!({"spec": {"labels": {"a": "b"}, "fuse": {"labels": {"c": "d"}}}}),
            json!({"spec": {"podMetadata": {"labels": {"a": "b"}, "annotations": {"x/y": "z"}}}}),
            json!({"spec": {"fuse": {"cleanPolicy": "OnFuseChanged", "metrics": {"scrapeTarget": "MountPod, Sidecar"}}}}),
            json!({"spec": {"tieredstore": null}}),
            json!({"spec": {"volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
                            "master": {"volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]},
                            "worker": {"tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]}}}),
            json!({"spec": {"secret": "oss-secret", "hadoopConfig": "hadoop", "user": "root", "logConfig": {"a": "b"}}}),
            json!({"spec": {"worker": {"resources": {"claims": []}}}}),
        ];
        for patch in cases {
            assert_eq!(check(&with(patch.clone())), vec![], "{patch}");
        }
    }
}
