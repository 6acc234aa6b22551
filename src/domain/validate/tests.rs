//! One failing case per validation rule, each asserting the field it names.

use super::*;
use crate::domain::manifest::tests::{seed, seed_patched};
use serde_json::json;

fn check(rt: &AlluxioRuntime) -> Vec<FieldError> {
    validate_runtime(rt, "default", "hbase")
}

#[test]
fn seed_example_passes() {
    assert_eq!(check(&seed()), vec![]);
}

fn patched(patch: serde_json::Value) -> AlluxioRuntime {
    seed_patched(patch)
}

fn level(extra: serde_json::Value) -> serde_json::Value {
    let mut l = json!({"mediumtype": "MEM", "path": "/dev/shm", "quota": "2Gi"});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            l.as_object_mut().unwrap().remove(k);
        } else {
            l[k] = v.clone();
        }
    }
    json!({"spec": {"tieredstore": {"levels": [l]}}})
}

#[test]
fn each_rule_names_its_field() {
    let lvl = "spec.tieredstore.levels[0]";
    let cases: Vec<(&str, serde_json::Value, String)> = vec![
        ("api version", json!({"apiVersion": "v1"}), "apiVersion".into()),
        ("kind", json!({"kind": "JindoRuntime"}), "kind".into()),
        ("name missing", json!({"metadata": {"name": null}}), "metadata.name".into()),
        ("name mismatch", json!({"metadata": {"name": "other"}}), "metadata.name".into()),
        ("namespace mismatch", json!({"metadata": {"namespace": "prod"}}), "metadata.namespace".into()),
        ("bad label key", json!({"metadata": {"labels": {"bad key": "x"}}}), "metadata.labels".into()),
        ("bad label value", json!({"metadata": {"labels": {"team": "-x"}}}), "metadata.labels".into()),
        ("master replicas 0", json!({"spec": {"master": {"replicas": 0}}}), "spec.master.replicas".into()),
        ("jobMaster replicas", json!({"spec": {"jobMaster": {"replicas": -1}}}), "spec.jobMaster.replicas".into()),
        ("worker comp replicas", json!({"spec": {"worker": {"replicas": 0}}}), "spec.worker.replicas".into()),
        ("jobWorker replicas", json!({"spec": {"jobWorker": {"replicas": 0}}}), "spec.jobWorker.replicas".into()),
        ("apiGateway replicas", json!({"spec": {"apiGateway": {"replicas": 0}}}), "spec.apiGateway.replicas".into()),
        ("worker count negative", json!({"spec": {"replicas": -1}}), "spec.replicas".into()),
        ("mediumtype missing", level(json!({"mediumtype": null})), format!("{lvl}.mediumtype")),
        ("mediumtype unknown", level(json!({"mediumtype": "NVME"})), format!("{lvl}.mediumtype")),
        ("volumeType", level(json!({"volumeType": "pvc"})), format!("{lvl}.volumeType")),
        (
            "volumeSource without emptyDir type",
            level(json!({"volumeSource": {"emptyDir": {}}})),
            format!("{lvl}.volumeSource"),
        ),
        (
            "volumeSource not an emptyDir",
            level(json!({"volumeType": "emptyDir", "volumeSource": {"hostPath": {"path": "/x"}}})),
            format!("{lvl}.volumeSource"),
        ),
        ("path missing", level(json!({"path": null})), format!("{lvl}.path")),
        ("path relative", level(json!({"path": "/a,cache"})), format!("{lvl}.path")),
        (
            "path entry empty",
            level(json!({"path": "/a,,/b", "quota": null, "quotaList": "1Gi,1Gi,1Gi"})),
            format!("{lvl}.path"),
        ),
        ("no quota", level(json!({"quota": null})), format!("{lvl}.quota")),
        ("quota unparsable", level(json!({"quota": "2GB"})), format!("{lvl}.quota")),
        ("quota zero", level(json!({"quota": 0})), format!("{lvl}.quota")),
        (
            "quotaList count",
            level(json!({"path": "/a,/b", "quota": null, "quotaList": "1Gi"})),
            format!("{lvl}.quotaList"),
        ),
        (
            "quotaList entry",
            level(json!({"path": "/a,/b", "quota": null, "quotaList": "1Gi,lots"})),
            format!("{lvl}.quotaList"),
        ),
        ("high above 1", level(json!({"high": "1.5"})), format!("{lvl}.high")),
        ("high not decimal", level(json!({"high": "high"})), format!("{lvl}.high")),
        ("low zero", level(json!({"low": "0"})), format!("{lvl}.low")),
        ("low exponent", level(json!({"low": "1e-1"})), format!("{lvl}.low")),
        ("low not below high", level(json!({"high": "0.7", "low": "0.9"})), format!("{lvl}.low")),
        ("low equal high", level(json!({"high": 0.8, "low": 0.8})), format!("{lvl}.low")),
        ("networkMode", json!({"spec": {"worker": {"networkMode": "Bridge"}}}), "spec.worker.networkMode".into()),
        ("fuse networkMode", json!({"spec": {"fuse": {"networkMode": "host"}}}), "spec.fuse.networkMode".into()),
        (
            "pull policy",
            json!({"spec": {"alluxioVersion": {"imagePullPolicy": "Sometimes"}}}),
            "spec.alluxioVersion.imagePullPolicy".into(),
        ),
        (
            "fuse pull policy",
            json!({"spec": {"fuse": {"imagePullPolicy": "always"}}}),
            "spec.fuse.imagePullPolicy".into(),
        ),
        (
            "initUsers pull policy",
            json!({"spec": {"initUsers": {"imagePullPolicy": "x"}}}),
            "spec.initUsers.imagePullPolicy".into(),
        ),
        (
            "worker secret name",
            json!({"spec": {"worker": {"imagePullSecrets": [{"name": "ok"}, {"name": "Bad_Name"}]}}}),
            "spec.worker.imagePullSecrets[1].name".into(),
        ),
        (
            "global secret name",
            json!({"spec": {"imagePullSecrets": [{"name": "UPPER"}]}}),
            "spec.imagePullSecrets[0].name".into(),
        ),
        (
            "ignored jobMaster layer still checked",
            json!({"spec": {"jobMaster": {"imagePullSecrets": [{"name": "a b"}]}}}),
            "spec.jobMaster.imagePullSecrets[0].name".into(),
        ),
        (
            "apiGateway secret name",
            json!({"spec": {"apiGateway": {"imagePullSecrets": [{}]}}}),
            "spec.apiGateway.imagePullSecrets[0].name".into(),
        ),
        (
            "jobWorker secret name",
            json!({"spec": {"jobWorker": {"imagePullSecrets": [{"name": "-x"}]}}}),
            "spec.jobWorker.imagePullSecrets[0].name".into(),
        ),
        (
            "fuse secret name",
            json!({"spec": {"fuse": {"imagePullSecrets": [{"name": "x."}]}}}),
            "spec.fuse.imagePullSecrets[0].name".into(),
        ),
        ("port range", json!({"spec": {"master": {"ports": {"rpc": 70000}}}}), "spec.master.ports.rpc".into()),
        ("port zero", json!({"spec": {"jobWorker": {"ports": {"data": 0}}}}), "spec.jobWorker.ports.data".into()),
        ("port name", json!({"spec": {"worker": {"ports": {"http": 80}}}}), "spec.worker.ports.http".into()),
        (
            "podMetadata label",
            json!({"spec": {"podMetadata": {"labels": {"a/b/c": "x"}}}}),
            "spec.podMetadata.labels".into(),
        ),
        (
            "component podMetadata label",
            json!({"spec": {"fuse": {"podMetadata": {"labels": {"k": "v v"}}}}}),
            "spec.fuse.podMetadata.labels".into(),
        ),
        (
            "resources quantity",
            json!({"spec": {"worker": {"resources": {"limits": {"memory": "lots"}}}}}),
            "spec.worker.resources.limits.memory".into(),
        ),
        (
            "nodeSelector",
            json!({"spec": {"fuse": {"nodeSelector": {"bad key": "x"}}}}),
            "spec.fuse.nodeSelector".into(),
        ),
        ("volume unnamed", json!({"spec": {"volumes": [{"emptyDir": {}}]}}), "spec.volumes[0].name".into()),
        ("volume invalid", json!({"spec": {"volumes": [{"name": "x", "hostPath": "nope"}]}}), "spec.volumes[0]".into()),
        (
            "volume twice",
            json!({"spec": {"volumes": [{"name": "x", "emptyDir": {}}, {"name": "x", "emptyDir": {}}]}}),
            "spec.volumes[1].name".into(),
        ),
        (
            "volume reserved name",
            json!({"spec": {"volumes": [{"name": "alluxio-journal", "emptyDir": {}}]}}),
            "spec.volumes[0].name".into(),
        ),
        (
            "volumeMount unknown volume",
            json!({"spec": {"master": {"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}}}),
            "spec.master.volumeMounts[0].name".into(),
        ),
        (
            "runAs incomplete",
            json!({"spec": {"runAs": {"uid": 1000, "gid": 1000, "user": "a"}}}),
            "spec.runAs.group".into(),
        ),
        ("fuse cleanPolicy", json!({"spec": {"fuse": {"cleanPolicy": "Never"}}}), "spec.fuse.cleanPolicy".into()),
        ("hadoopConfig", json!({"spec": {"hadoopConfig": "Bad"}}), "spec.hadoopConfig".into()),
        ("env name", json!({"spec": {"master": {"env": {"A=B": "x"}}}}), "spec.master.env".into()),
        (
            "volume unknown field",
            json!({"spec": {"volumes": [{"name": "x", "hostPath": {"path": "/x", "kind": "Dir"}}]}}),
            "spec.volumes[0].hostPath.kind".into(),
        ),
        (
            "volumeMount unknown field",
            json!({"spec": {"volumes": [{"name": "x", "emptyDir": {}}],
                            "fuse": {"volumeMounts": [{"name": "x", "mountPath": "/x", "readonly": true}]}}}),
            "spec.fuse.volumeMounts[0].readonly".into(),
        ),
        (
            "volumeSource unknown field",
            level(json!({"volumeType": "emptyDir", "volumeSource": {"emptyDir": {"medium": "Memory", "size": "1Gi"}}})),
            format!("{lvl}.volumeSource.emptyDir.size"),
        ),
        (
            "resource claims",
            json!({"spec": {"master": {"resources": {"claims": [{"name": "gpu"}]}}}}),
            "spec.master.resources.claims".into(),
        ),
    ];
    for (what, patch, field) in cases {
        let rt = patched(patch);
        let errors = check(&rt);
        assert!(errors.iter().any(|e| e.field == field), "{what}: expected an error at {field}, got {errors:?}");
    }
}

#[test]
fn path_rules() {
    let rt = seed();
    let bad_name = validate_runtime(&rt, "default", "1hbase");
    assert!(bad_name.iter().any(|e| e.field == "metadata.name"));
    let bad_ns = validate_runtime(&rt, "Default_NS", "hbase");
    assert!(bad_ns.iter().any(|e| e.field == "metadata.namespace"));
    let mut with_ns = seed();
    with_ns.metadata.namespace = Some("default".into());
    assert_eq!(check(&with_ns), vec![]);
}

#[test]
fn every_violation_is_reported() {
    let rt = patched(json!({
        "kind": "Other",
        "spec": {"replicas": -2, "master": {"replicas": 0}, "imagePullSecrets": [{"name": "A"}]}
    }));
    let fields: Vec<String> = check(&rt).into_iter().map(|e| e.field).collect();
    for f in ["kind", "spec.replicas", "spec.master.replicas", "spec.imagePullSecrets[0].name"] {
        assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
    }
}

#[test]
fn valid_variants_pass() {
    let cases = [
        level(json!({"path": "/a,/b", "quota": null, "quotaList": "1Gi, 2Gi"})),
        level(json!({"quota": 1073741824, "high": 0.95, "low": 0.7})),
        level(json!({"high": "1"})),
        level(json!({"volumeType": "emptyDir", "volumeSource": {"emptyDir": {"medium": "Memory"}}})),
        json!({"spec": {"replicas": 0, "data": {"replicas": 0, "pin": true}}}),
        json!({"spec": {"master": {"networkMode": "ContainerNetwork", "ports": {"rpc": 1, "web": 65535}}}}),
        json!({"spec": {"volumes": [{"name": "data", "hostPath": {"path": "/data"}}],
                        "worker": {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}}}),
        json!({"spec": {"runAs": {"uid": 1000, "gid": 1000, "user": "alluxio", "group": "alluxio"}}}),
        json!({"metadata": {"labels": {"team": "data", "app.kubernetes.io/part-of": "x"}}}),
    ];
    for patch in cases {
        let rt = patched(patch.clone());
        assert_eq!(check(&rt), vec![], "{patch}");
    }
}
