//! One failing case per ThinRuntime and ThinRuntimeProfile rule, each asserting its field.

use serde_json::{Value, json};

use super::*;
use crate::domain::manifest::ManifestFormat;
use crate::domain::testutil::patched;
use crate::domain::thin::tests::{profile, thin};
use crate::domain::thin::{parse_thin, parse_thin_profile};

fn thin_with(patch: &Value) -> ThinRuntime {
    let v = patched(&serde_json::to_value(thin()).unwrap(), patch);
    parse_thin(&serde_json::to_vec(&v).unwrap(), ManifestFormat::Json)
        .unwrap_or_else(|e| panic!("patched ThinRuntime does not parse: {e}"))
}

fn profile_with(patch: &Value) -> ThinRuntimeProfile {
    let v = patched(&serde_json::to_value(profile()).unwrap(), patch);
    parse_thin_profile(&serde_json::to_vec(&v).unwrap(), ManifestFormat::Json)
        .unwrap_or_else(|e| panic!("patched ThinRuntimeProfile does not parse: {e}"))
}

fn runtime_errors(patch: &Value) -> Vec<FieldError> {
    validate_thin(&thin_with(patch), "default", "hbase")
}

fn profile_errors(patch: &Value) -> Vec<FieldError> {
    validate_thin_profile(&profile_with(patch), "nfs")
}

#[test]
fn examples_pass() {
    assert_eq!(validate_thin(&thin(), "default", "hbase"), vec![]);
    assert_eq!(validate_thin_profile(&profile(), "nfs"), vec![]);
}

/// Rules for worker and fuse hold in a runtime and in a profile alike.
#[test]
fn component_rules_hold_in_both_kinds() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("worker replicas", json!({"spec": {"worker": {"replicas": 0}}}), "spec.worker.replicas"),
        ("worker pull policy", json!({"spec": {"worker": {"imagePullPolicy": "x"}}}), "spec.worker.imagePullPolicy"),
        ("worker networkMode", json!({"spec": {"worker": {"networkMode": "Bridge"}}}), "spec.worker.networkMode"),
        ("worker env shape", json!({"spec": {"worker": {"env": [{"name": 1}]}}}), "spec.worker.env[0]"),
        (
            "worker env unknown field",
            json!({"spec": {"worker": {"env": [{"name": "A", "val": "x"}]}}}),
            "spec.worker.env[0].val",
        ),
        ("worker env name", json!({"spec": {"worker": {"env": [{"name": ""}]}}}), "spec.worker.env[0].name"),
        (
            "worker env twice",
            json!({"spec": {"worker": {"env": [{"name": "A"}, {"name": "A"}]}}}),
            "spec.worker.env[1].name",
        ),
        (
            "worker port",
            json!({"spec": {"worker": {"ports": [{"containerPort": 0}]}}}),
            "spec.worker.ports[0].containerPort",
        ),
        (
            "worker port name twice",
            json!({"spec": {"worker": {"ports": [{"name": "a", "containerPort": 1}, {"name": "a", "containerPort": 2}]}}}),
            "spec.worker.ports[1].name",
        ),
        (
            "worker port protocol",
            json!({"spec": {"worker": {"ports": [{"containerPort": 1, "protocol": "tcp"}]}}}),
            "spec.worker.ports[0].protocol",
        ),
        (
            "worker probe",
            json!({"spec": {"worker": {"livenessProbe": {"periodSeconds": "x"}}}}),
            "spec.worker.livenessProbe",
        ),
        (
            "worker volumeMount",
            json!({"spec": {"worker": {"volumeMounts": [{"name": "none", "mountPath": "/x"}]}}}),
            "spec.worker.volumeMounts[0].name",
        ),
        (
            "worker resources",
            json!({"spec": {"worker": {"resources": {"limits": {"cpu": "x"}}}}}),
            "spec.worker.resources.limits.cpu",
        ),
        (
            "worker secret",
            json!({"spec": {"worker": {"imagePullSecrets": [{"name": "A"}]}}}),
            "spec.worker.imagePullSecrets[0].name",
        ),
        (
            "fuse postStart",
            json!({"spec": {"fuse": {"lifecycle": {"postStart": {"exec": {"command": ["x"]}}}}}}),
            "spec.fuse.lifecycle.postStart",
        ),
        ("fuse lifecycle shape", json!({"spec": {"fuse": {"lifecycle": {"preStop": "x"}}}}), "spec.fuse.lifecycle"),
        ("fuse credential option", json!({"spec": {"fuse": {"options": {"password": "x"}}}}), "spec.fuse.options"),
        ("fuse cleanPolicy", json!({"spec": {"fuse": {"cleanPolicy": "Always"}}}), "spec.fuse.cleanPolicy"),
        ("fuse networkMode", json!({"spec": {"fuse": {"networkMode": "x"}}}), "spec.fuse.networkMode"),
        ("fuse readiness probe", json!({"spec": {"fuse": {"readinessProbe": []}}}), "spec.fuse.readinessProbe"),
        (
            "fuse env",
            json!({"spec": {"fuse": {"env": [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]}}}),
            "spec.fuse.env[0]",
        ),
        (
            "fuse podMetadata",
            json!({"spec": {"fuse": {"podMetadata": {"labels": {"k": "v v"}}}}}),
            "spec.fuse.podMetadata.labels",
        ),
        ("fuse secret", json!({"spec": {"fuse": {"imagePullSecrets": [{}]}}}), "spec.fuse.imagePullSecrets[0].name"),
        ("global secret", json!({"spec": {"imagePullSecrets": [{"name": "x_"}]}}), "spec.imagePullSecrets[0].name"),
        (
            "volume",
            json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]}}),
            "spec.volumes[1].name",
        ),
        ("api version", json!({"apiVersion": "data.fluid.io/v1"}), "apiVersion"),
    ];
    for (what, patch, field) in cases {
        for (kind, errors) in [("runtime", runtime_errors(&patch)), ("profile", profile_errors(&patch))] {
            assert!(errors.iter().any(|e| e.field == field), "{kind} {what}: expected {field}, got {errors:?}");
        }
    }
}

#[test]
fn runtime_rules() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("kind", json!({"kind": "ThinRuntimeProfile"}), "kind"),
        ("namespace mismatch", json!({"metadata": {"namespace": "x"}}), "metadata.namespace"),
        ("profileName", json!({"spec": {"profileName": "Bad_Name"}}), "spec.profileName"),
        ("replicas", json!({"spec": {"replicas": -1}}), "spec.replicas"),
        ("runAs", json!({"spec": {"runAs": {"uid": 1, "gid": 1, "user": "a"}}}), "spec.runAs.group"),
        (
            "two levels",
            json!({"spec": {"tieredstore": {"levels": [{"mediumtype": "SSD", "path": "/a"}, {"mediumtype": "HDD", "path": "/b"}]}}}),
            "spec.tieredstore.levels[1]",
        ),
        (
            "two paths",
            json!({"spec": {"tieredstore": {"levels": [{"mediumtype": "SSD", "path": "/a,/b"}]}}}),
            "spec.tieredstore.levels[0].path",
        ),
        (
            "level medium",
            json!({"spec": {"tieredstore": {"levels": [{"path": "/a"}]}}}),
            "spec.tieredstore.levels[0].mediumtype",
        ),
        (
            "cleanCachePolicy",
            json!({"spec": {"management": {"cleanCachePolicy": {"gracePeriodSeconds": -1}}}}),
            "spec.management.cleanCachePolicy.gracePeriodSeconds",
        ),
    ];
    for (what, patch, field) in cases {
        let errors = runtime_errors(&patch);
        assert!(errors.iter().any(|e| e.field == field), "{what}: expected {field}, got {errors:?}");
    }
    let bad_name = validate_thin(&thin(), "default", "Hbase");
    assert!(bad_name.iter().any(|e| e.field == "metadata.name"), "{bad_name:?}");
}

#[test]
fn profile_rules() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("fileSystemType", json!({"spec": {"fileSystemType": ""}}), "spec.fileSystemType"),
        (
            "nodePublishSecretPolicy",
            json!({"spec": {"nodePublishSecretPolicy": "Mount"}}),
            "spec.nodePublishSecretPolicy",
        ),
        ("namespace", json!({"metadata": {"namespace": "default"}}), "metadata.namespace"),
        ("worker enabled", json!({"spec": {"worker": {"enabled": true}}}), "spec.worker.enabled"),
        ("kind", json!({"kind": "ThinRuntime"}), "kind"),
    ];
    for (what, patch, field) in cases {
        let errors = profile_errors(&patch);
        assert!(errors.iter().any(|e| e.field == field), "{what}: expected {field}, got {errors:?}");
    }
    let names = [("nfs.v2", true), ("nfs", true), ("NFS", false), ("-nfs", false)];
    for (name, ok) in names {
        let mut p = profile();
        p.metadata.name = name.into();
        let errors = validate_thin_profile(&p, name);
        assert_eq!(errors.iter().all(|e| e.field != "metadata.name"), ok, "{name}: {errors:?}");
    }
}

#[test]
fn valid_variants_pass() {
    let runtime_cases = [
        json!({"spec": {"profileName": null}}),
        json!({"spec": {"profileName": ""}}),
        json!({"spec": {"tieredstore": {"levels": [{"mediumtype": "SSD", "path": "/cache"}]}, "replicas": 0}}),
        json!({"spec": {"volumes": [{"name": "data", "hostPath": {"path": "/data"}}],
                        "fuse": {"volumeMounts": [{"name": "data", "mountPath": "/data"}],
                                 "options": {"timeout": "5"}, "cleanPolicy": "OnFuseChanged",
                                 "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5}}}}),
        json!({"spec": {"worker": {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}], "networkMode": "ContainerNetwork"}}}),
        json!({"spec": {"runAs": {"uid": 0, "gid": 0, "user": "root", "group": "root"}, "disablePrometheus": true,
                        "management": {"metadataSyncPolicy": {"autoSync": false}}}}),
    ];
    for patch in runtime_cases {
        assert_eq!(runtime_errors(&patch), vec![], "{patch}");
    }
    let profile_cases = [
        json!({"spec": {"nodePublishSecretPolicy": null}}),
        json!({"spec": {"nodePublishSecretPolicy": "CopyNodePublishSecretAndMountIfNotExists"}}),
        json!({"spec": {"volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
                        "worker": {"volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]}}}),
    ];
    for patch in profile_cases {
        assert_eq!(profile_errors(&patch), vec![], "{patch}");
    }
}
