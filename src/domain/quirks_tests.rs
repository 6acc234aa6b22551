//! Tables of Fluid's quirks: which inputs warn, about which field, saying what.

use serde_json::{Value, json};

use super::*;
use crate::domain::manifest::tests::seed_patched;

fn v(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The seed without its watermarks (Fluid ignores them: see below), patched.
fn runtime(patch: &Value) -> AlluxioRuntime {
    let plain =
        json!({"spec": {"tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "2Gi"}]}}});
    let mut rt = serde_json::to_value(seed_patched(plain)).unwrap();
    crate::domain::testutil::merge_patch(&mut rt, patch);
    serde_json::from_value(rt).unwrap()
}

fn fields(q: &[Quirk]) -> Vec<&str> {
    q.iter().map(|q| q.field.as_str()).collect()
}

#[test]
fn the_seed_warns_of_its_watermarks_only() {
    let got = quirks(&seed_patched(json!({})), &[]);
    assert_eq!(fields(&got), vec!["spec.tieredstore.levels[0].high", "spec.tieredstore.levels[0].low"]);
    assert_eq!(quirks(&runtime(&json!({})), &[]), vec![]);
}

#[test]
fn each_quirk_names_its_field() {
    let cases: &[(&str, Value, &[&str], &str, &str)] = &[
        (
            "job master pull secrets",
            json!({"spec": {"jobMaster": {"imagePullSecrets": [{"name": "x"}]}}}),
            &[],
            "spec.jobMaster.imagePullSecrets",
            "pulls with the master's list",
        ),
        (
            "job worker pull secrets",
            json!({"spec": {"jobWorker": {"imagePullSecrets": [{"name": "x"}]}}}),
            &[],
            "spec.jobWorker.imagePullSecrets",
            "runs in the worker pod",
        ),
        (
            "API gateway pull secrets",
            json!({"spec": {"apiGateway": {"imagePullSecrets": [{"name": "x"}]}}}),
            &[],
            "spec.apiGateway.imagePullSecrets",
            "never reads it",
        ),
        (
            "fuse order: the cluster default first in Fluid",
            json!({}),
            &["cluster-a", "cluster-b"],
            "spec.fuse.imagePullSecrets",
            "Fluid would pull the fuse with [cluster-a, cluster-b]; fluidform uses one order for every component and \
             pulls it with spec.imagePullSecrets [global-secret]",
        ),
        (
            "job master env",
            json!({"spec": {"jobMaster": {"env": {"A": "1"}}}}),
            &[],
            "spec.jobMaster.env",
            "never reads it",
        ),
        (
            "API gateway resources",
            json!({"spec": {"apiGateway": {"resources": {"limits": {"cpu": "1"}}}}}),
            &[],
            "spec.apiGateway.resources",
            "never reads it",
        ),
        (
            "job worker volume mounts",
            json!({"spec": {"jobWorker": {"volumeMounts": [{"name": "v", "mountPath": "/v"}]}}}),
            &[],
            "spec.jobWorker.volumeMounts",
            "spec.worker.volumeMounts",
        ),
        (
            "gateway port name",
            json!({"spec": {"apiGateway": {"enabled": true, "ports": {"rest": 40000}}}}),
            &[],
            "spec.apiGateway.ports.rest",
            "ports.web",
        ),
        (
            "journal port name",
            json!({"spec": {"master": {"ports": {"embedded": 40001}}}}),
            &[],
            "spec.master.ports.embedded",
            "ports.embeddedJournal",
        ),
        (
            "ports off the host network",
            json!({"spec": {"master": {"networkMode": "ContainerNetwork"},
                "worker": {"networkMode": "ContainerNetwork", "ports": {"rpc": 40002}}}}),
            &[],
            "spec.worker.ports",
            "fixed ports",
        ),
        (
            "a port in a component's properties",
            json!({"spec": {"master": {"properties": {"alluxio.master.rpc.port": "40003"}}}}),
            &[],
            "spec.master.properties.alluxio.master.rpc.port",
            "set it in spec.properties",
        ),
        (
            "root UFS overwritten",
            json!({"spec": {"properties": {"alluxio.master.mount.table.root.ufs": "s3://x/"}}}),
            &[],
            "spec.properties.alluxio.master.mount.table.root.ufs",
            "overwritten",
        ),
        (
            "translation overwritten",
            json!({"spec": {"properties": {"alluxio.fuse.user.group.translation.enabled": "false"}}}),
            &[],
            "spec.properties.alluxio.fuse.user.group.translation.enabled",
            "unless the Dataset's owner",
        ),
        (
            "hadoop configuration",
            json!({"spec": {"hadoopConfig": "hdfs-conf"}}),
            &[],
            "spec.hadoopConfig",
            "alluxio.underfs.hdfs.configuration",
        ),
        (
            "watermarks",
            json!({"spec": {"tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "1Gi",
                "high": "0.9"}]}}}),
            &[],
            "spec.tieredstore.levels[0].high",
            "never passes watermarks",
        ),
        (
            "decimal quota list",
            json!({"spec": {"tieredstore": {"levels": [{"mediumtype": "SSD", "path": "/a,/b",
                "quotaList": "100G,1Gi"}]}}}),
            &[],
            "spec.tieredstore.levels[0].quotaList",
            "100GiB",
        ),
        (
            "emptyDir medium",
            json!({"spec": {"tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "1Gi",
                "volumeType": "emptyDir", "volumeSource": {"emptyDir": {"medium": "Memory"}}}]}}}),
            &[],
            "spec.tieredstore.levels[0].volumeSource",
            "\"Memory\"",
        ),
        (
            "fuse resources without a memory limit",
            json!({"spec": {"fuse": {"resources": {"requests": {"cpu": "1"}}}}}),
            &[],
            "spec.fuse.resources",
            "limits.memory",
        ),
        (
            "fuse tag that is not a version",
            json!({"spec": {"fuse": {"imageTag": "latest"}}}),
            &[],
            "spec.fuse.imageTag",
            "\"latest\" is not a version",
        ),
        (
            "MEM quota above the worker's limit",
            json!({"spec": {"worker": {"resources": {"limits": {"memory": "1Gi"}}}}}),
            &[],
            "spec.worker.resources.limits.memory",
            "refuses",
        ),
        (
            "runAs",
            json!({"spec": {"runAs": {"uid": 1, "gid": 1, "user": "u", "group": "g"}}}),
            &[],
            "spec.runAs",
            "init-users",
        ),
        ("no replicas", json!({"spec": {"replicas": null}}), &[], "spec.replicas", "Fluid runs no worker"),
    ];
    for (name, patch, cluster_default, field, message) in cases {
        let got = quirks(&runtime(patch), &v(cluster_default));
        assert_eq!(fields(&got), vec![*field], "{name}: {got:?}");
        assert!(got[0].message.contains(message), "{name}: {}", got[0].message);
    }
}

#[test]
fn fuse_order_warns_only_where_fluid_differs() {
    let cases: &[(&str, Value, &[&str], bool)] = &[
        ("no cluster default", json!({}), &[], false),
        ("the fuse has its own list", json!({"spec": {"fuse": {"imagePullSecrets": [{"name": "f"}]}}}), &["c"], false),
        ("no global list: both use the default", json!({"spec": {"imagePullSecrets": null}}), &["c"], false),
        ("the same names", json!({"spec": {"imagePullSecrets": [{"name": "c"}, {"name": "c"}]}}), &["c"], false),
        ("an empty fuse list is absent", json!({"spec": {"fuse": {"imagePullSecrets": []}}}), &["c"], true),
    ];
    for (name, patch, cluster_default, warns) in cases {
        let got = quirks(&runtime(patch), &v(cluster_default));
        assert_eq!(fields(&got).contains(&"spec.fuse.imagePullSecrets"), *warns, "{name}: {got:?}");
    }
}

#[test]
fn overwritten_properties_warn_only_when_fluid_overwrites() {
    let cases: &[(&str, Value, usize)] = &[
        ("translation left on", json!({"alluxio.fuse.user.group.translation.enabled": "true"}), 0),
        ("short circuit without an emptyDir tier", json!({"alluxio.user.short.circuit.enabled": "true"}), 0),
        ("replication", json!({"alluxio.user.file.replication.max": "3"}), 1),
        ("hadoop configuration given", json!({"alluxio.underfs.hdfs.configuration": "/hdfs-config/core-site.xml"}), 0),
    ];
    for (name, props, count) in cases {
        let got = quirks(&runtime(&json!({"spec": {"properties": props, "hadoopConfig": "hdfs"}})), &[]);
        let hadoop = usize::from(!name.starts_with("hadoop"));
        assert_eq!(got.len(), count + hadoop, "{name}: {got:?}");
    }
}
