//! Tables of Fluid's rendering rules, part two: scheduling, the fuse's placement, tuned
//! properties and heaps, resources, masters and the job components.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::fluid_tests::{env_value, has_mount, minimal, one_master, ports_of, render_with, ssd};
use super::tests::{container, find, java_opts, pod_spec};
use super::*;
use crate::domain::dataset::tests::dataset;

#[test]
fn workers_carry_dataset_labels_and_fluids_affinity() {
    let shared = json!({"spec": {"placement": "Shared", "nodeAffinity": {"required": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}});
    let mut ds = serde_json::to_value(dataset()).unwrap();
    crate::domain::testutil::merge_patch(&mut ds, &shared);
    let shared_ds: Dataset = serde_json::from_value(ds).unwrap();
    let cases: &[(&str, Option<&Dataset>, &str, Value)] = &[
        (
            "exclusive by default",
            None,
            "Exclusive",
            json!({"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchExpressions": [
                {"key": "fluid.io/dataset", "operator": "Exists"}]}, "topologyKey": "kubernetes.io/hostname"}]}),
        ),
        (
            "shared",
            Some(&shared_ds),
            "Shared",
            json!({
                "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "podAffinityTerm": {"labelSelector":
                    {"matchExpressions": [{"key": "fluid.io/dataset", "operator": "Exists"}]},
                    "topologyKey": "kubernetes.io/hostname"}}],
                "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchExpressions": [
                    {"key": "fluid.io/dataset-placement", "operator": "In", "values": ["Exclusive"]}]},
                    "topologyKey": "kubernetes.io/hostname"}],
            }),
        ),
    ];
    for (name, ds, placement, anti) in cases {
        let objs = render_with(&one_master(json!({})), *ds, None);
        let worker = find(&objs, "StatefulSet", "hbase-worker");
        for labels in [&worker["metadata"]["labels"], &worker["spec"]["template"]["metadata"]["labels"]] {
            assert_eq!(labels["fluid.io/dataset"], "default-hbase", "{name}");
            assert_eq!(labels["fluid.io/dataset-placement"], *placement, "{name}");
            assert_eq!(labels["fluid.io/dataset-id"], "default-hbase", "{name}");
        }
        let affinity = &pod_spec(worker)["affinity"];
        assert_eq!(affinity["podAntiAffinity"], *anti, "{name}");
        assert_eq!(
            affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"],
            json!([{"weight": 100, "preference": {"matchExpressions": [
                {"key": "fluid.io/f-default-hbase", "operator": "In", "values": ["true"]}]}}]),
            "{name}: prefer nodes with this runtime's fuse"
        );
        let required = &affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
        assert_eq!(required.is_null(), ds.is_none(), "{name}: the Dataset's node affinity");
        for kind_name in [("ConfigMap", "hbase-config"), ("Service", "hbase-master-0"), ("DaemonSet", "hbase-fuse")] {
            assert_eq!(
                find(&objs, kind_name.0, kind_name.1)["metadata"]["labels"]["fluid.io/dataset-id"],
                "default-hbase"
            );
        }
        let sel = &worker["spec"]["selector"]["matchLabels"];
        assert_eq!(
            sel,
            &json!({"app": "alluxio", "release": "hbase", "role": "alluxio-worker"}),
            "selectors unchanged"
        );
    }
}

#[test]
fn fuse_tolerates_every_taint_and_is_node_critical() {
    let mut rt = one_master(json!({}));
    let objs = render_with(&rt, None, None);
    let fuse = pod_spec(find(&objs, "DaemonSet", "hbase-fuse"));
    assert_eq!(fuse["tolerations"], json!([{"operator": "Exists"}]));
    assert_eq!(fuse["priorityClassName"], "system-node-critical");
    assert!(fuse["hostPID"].is_null());
    let labels = &find(&objs, "DaemonSet", "hbase-fuse")["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["sidecar.istio.io/inject"], "false", "Istio reads the label too");
    rt.metadata.annotations = Some(BTreeMap::from([("runtime.fluid.io/fuse.hostpid".into(), "true".into())]));
    let objs = render_with(&rt, None, None);
    assert_eq!(pod_spec(find(&objs, "DaemonSet", "hbase-fuse"))["hostPID"], true);
    let master = pod_spec(find(&objs, "StatefulSet", "hbase-master"));
    assert!(master["tolerations"].is_null() && master["priorityClassName"].is_null());
}

#[test]
fn tuned_properties_and_default_heaps() {
    let objs = render_with(&minimal(), None, None);
    let global = java_opts(&objs, "ALLUXIO_JAVA_OPTS");
    for opt in [
        "-Dalluxio.master.metastore=ROCKS",
        "-Dalluxio.user.file.readtype.default=CACHE",
        "-Dalluxio.master.security.impersonation.root.users=*",
        "-Dalluxio.security.authorization.permission.enabled=false",
        "-Dalluxio.master.journal.type=UFS",
        "-Dalluxio.user.file.replication.max=1",
        "-Dalluxio.master.mount.table.root.ufs=/underFSStorage",
        "-Dalluxio.user.direct.memory.io.enabled=true",
        "-Dalluxio.user.block.size.bytes.default=256MB",
    ] {
        assert!(global.contains(&opt.to_string()), "{opt}");
    }
    // The chart's 9 fixed options, then 60 properties: 45 tuned, journal type, direct memory
    // I/O, the HTTP timeout, 9 ports, root UFS, replication, user translation.
    assert_eq!(global.iter().filter(|o| o.starts_with("-Dalluxio.")).count(), 9 + 60);
    assert_eq!(java_opts(&objs, "ALLUXIO_MASTER_JAVA_OPTS")[1..], ["-Xmx16G", "-XX:+UnlockExperimentalVMOptions"]);
    assert_eq!(
        java_opts(&objs, "ALLUXIO_WORKER_JAVA_OPTS")[4..],
        ["-Xmx12G", "-XX:+UnlockExperimentalVMOptions", "-XX:MaxDirectMemorySize=32g"]
    );
    assert_eq!(
        java_opts(&objs, "ALLUXIO_FUSE_JAVA_OPTS"),
        ["-Xmx16G", "-Xms16G", "-XX:+UseG1GC", "-XX:MaxDirectMemorySize=32g", "-XX:+UnlockExperimentalVMOptions"]
    );

    // What the user names wins, and a component's property keeps the default out of the
    // global options (Fluid checks the merged properties).
    let rt = one_master(json!({"spec": {
        "properties": {"alluxio.master.metastore": "HEAP", "alluxio.user.file.replication.max": "9"},
        "data": {"replicas": 2},
        "worker": {"properties": {"alluxio.worker.allocator.class": "x.Y"}, "jvmOptions": ["-Xmx2G"]},
        "fuse": {"properties": {"alluxio.fuse.debug.enabled": "true"}},
    }}));
    let objs = render_with(&rt, Some(&dataset()), None);
    let global = java_opts(&objs, "ALLUXIO_JAVA_OPTS");
    assert!(global.contains(&"-Dalluxio.master.metastore=HEAP".to_string()));
    assert!(global.contains(&"-Dalluxio.user.file.replication.max=2".to_string()), "Fluid overwrites it from data");
    assert!(!global.iter().any(|o| o.starts_with("-Dalluxio.worker.allocator.class=")));
    assert!(!global.iter().any(|o| o.starts_with("-Dalluxio.fuse.debug.enabled=")));
    assert!(!global.iter().any(|o| o.starts_with("-Dalluxio.user.direct.memory.io.enabled")), "read-write Dataset");
    assert!(global.contains(&"-Dalluxio.user.block.size.bytes.default=16MB".to_string()), "not HTTP");
    let worker = java_opts(&objs, "ALLUXIO_WORKER_JAVA_OPTS");
    assert_eq!(worker[worker.len() - 2..], ["-Dalluxio.worker.allocator.class=x.Y", "-Xmx2G"]);
    assert_eq!(java_opts(&objs, "ALLUXIO_FUSE_JAVA_OPTS")[0], "-Dalluxio.fuse.debug.enabled=true");
}

#[test]
fn worker_memory_request_covers_the_mem_quota() {
    let cases: &[(&str, Value, Value)] = &[
        ("unset: the MEM quota", json!({}), json!({"requests": {"memory": "2Gi"}})),
        (
            "smaller: raised",
            json!({"requests": {"memory": "1Gi", "cpu": "1"}}),
            json!({"requests": {"cpu": "1", "memory": "2Gi"}}),
        ),
        ("larger: kept", json!({"requests": {"memory": "4Gi"}}), json!({"requests": {"memory": "4Gi"}})),
    ];
    for (name, resources, want) in cases {
        let rt = one_master(json!({"spec": {"worker": {"resources": resources}}}));
        let objs = render_with(&rt, None, None);
        let w = container(find(&objs, "StatefulSet", "hbase-worker"), "alluxio-worker");
        assert_eq!(w["resources"], *want, "{name}");
        let mem = want["requests"]["memory"].as_str().unwrap();
        assert!(java_opts(&objs, "ALLUXIO_WORKER_JAVA_OPTS").contains(&format!("-Dalluxio.worker.memory.size={mem}")));
    }
    let objs = render_with(&ssd(), None, None);
    let w = container(find(&objs, "StatefulSet", "hbase-worker"), "alluxio-worker");
    assert!(w["resources"].is_null(), "SSD quota is not memory");

    // The fuse: resources only with a memory limit, which grows by the MEM quota.
    let cases: &[(&str, Value, Value)] = &[
        ("no memory limit: none", json!({"requests": {"cpu": "1"}}), Value::Null),
        ("limit plus MEM quota", json!({"limits": {"memory": "4Gi"}}), json!({"limits": {"memory": "6Gi"}})),
        ("zero: 50Gi plus MEM quota", json!({"limits": {"memory": "0"}}), json!({"limits": {"memory": "52Gi"}})),
    ];
    for (name, resources, want) in cases {
        let rt = one_master(json!({"spec": {"fuse": {"resources": resources}}}));
        let objs = render_with(&rt, None, None);
        assert_eq!(container(find(&objs, "DaemonSet", "hbase-fuse"), "alluxio-fuse")["resources"], *want, "{name}");
    }
}

#[test]
fn masters_start_in_parallel_without_a_journal_format() {
    let cases: &[(&str, i32, &str, &str)] =
        &[("one master", 1, "status.podIP", "UFS"), ("three masters", 3, "metadata.name", "EMBEDDED")];
    for (name, replicas, hostname, journal) in cases {
        let rt = one_master(json!({"spec": {"master": {"replicas": replicas}}}));
        let objs = render_with(&rt, None, None);
        let master = find(&objs, "StatefulSet", "hbase-master");
        assert_eq!(master["spec"]["podManagementPolicy"], "Parallel", "{name}");
        assert!(pod_spec(master)["initContainers"].is_null(), "{name}: Fluid never formats the journal");
        let journal_volume =
            pod_spec(master)["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "alluxio-journal");
        assert_eq!(journal_volume.unwrap()["emptyDir"], json!({"sizeLimit": "30Gi"}), "{name}");
        let m = container(master, "alluxio-master");
        assert!(has_mount(m, "alluxio-journal", "/journal"), "{name}");
        assert!(!has_mount(container(master, "alluxio-job-master"), "alluxio-journal", "/journal"), "{name}");
        assert_eq!(env_value(m, "ALLUXIO_MASTER_HOSTNAME").unwrap()["valueFrom"]["fieldRef"]["fieldPath"], *hostname);
        let global = java_opts(&objs, "ALLUXIO_JAVA_OPTS");
        let last = global.iter().rev().find(|o| o.starts_with("-Dalluxio.master.journal.type=")).unwrap();
        assert_eq!(last, &format!("-Dalluxio.master.journal.type={journal}"), "{name}");
    }
}

#[test]
fn job_components_use_only_what_fluid_reads() {
    let rt = one_master(json!({"spec": {
        "jobMaster": {"env": {"A": "1"}, "properties": {"p": "1"}, "jvmOptions": ["-Xmx1G"],
            "resources": {"limits": {"cpu": "2"}}},
        "jobWorker": {"env": {"B": "2"}, "resources": {"requests": {"cpu": "1"}}},
        "apiGateway": {"enabled": true, "env": {"C": "3"}, "resources": {"limits": {"cpu": "1"}}},
    }}));
    let objs = render_with(&rt, None, None);
    let master = find(&objs, "StatefulSet", "hbase-master");
    let jm = container(master, "alluxio-job-master");
    assert!(env_value(jm, "A").is_none());
    assert_eq!(jm["resources"], json!({"limits": {"cpu": "2"}}));
    assert_eq!(
        java_opts(&objs, "ALLUXIO_JOB_MASTER_JAVA_OPTS"),
        ["-Dalluxio.master.hostname=${ALLUXIO_MASTER_HOSTNAME}"]
    );
    let gw = container(master, "api-gateway");
    assert!(env_value(gw, "C").is_none() && gw["resources"].is_null() && gw["securityContext"].is_null());
    assert_eq!(ports_of(gw), vec![("rest".into(), 39999, Some(39999))]);
    let jw = container(find(&objs, "StatefulSet", "hbase-worker"), "alluxio-job-worker");
    assert!(env_value(jw, "B").is_none());
    assert_eq!(jw["resources"], json!({"requests": {"cpu": "1"}}));
    assert!(java_opts(&objs, "ALLUXIO_JAVA_OPTS").contains(&"-Dalluxio.proxy.web.port=39999".to_string()));
}
