//! Tables of how a Dataset's mounts are rendered: `mount.info` in Fluid's format, the root
//! UFS, encrypted options, native mounts, the master's mount script, tolerations.

use serde_json::{Value, json};

use super::fluid_tests::{one_master, render_with};
use super::tests::{container, find, java_opts, pod_spec};
use super::*;
use crate::domain::dataset::tests::dataset;

fn ds(spec: Value) -> Dataset {
    let body =
        json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset", "metadata": {"name": "hbase"}, "spec": spec});
    serde_json::from_value(body).unwrap()
}

fn mount_config(objs: &[RenderedObject]) -> &Value {
    &find(objs, "ConfigMap", "hbase-mount-config")["data"]
}

fn volume<'a>(obj: &'a Value, name: &str) -> &'a Value {
    pod_spec(obj)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

fn mount_of<'a>(c: &'a Value, name: &str) -> Option<&'a Value> {
    c["volumeMounts"].as_array().into_iter().flatten().find(|m| m["name"] == name)
}

#[test]
fn mount_info_lists_every_non_native_mount() {
    let secret =
        |name: &str, key: &str| json!({"name": name, "valueFrom": {"secretKeyRef": {"name": "creds", "key": key}}});
    let cases: &[(&str, Value, &str)] = &[
        ("no mounts", json!({}), ""),
        (
            "path from the name, options sorted",
            json!({"mounts": [{"mountPoint": "s3://bucket/a", "name": "a", "options": {"z": "1", "b": "2"}}]}),
            "/a s3://bucket/a --option b=2 --option z=1\n",
        ),
        (
            "absolute path, read-only, shared",
            json!({"mounts": [{"mountPoint": "hdfs://nn:9000/x", "name": "x", "path": "/data/x", "readOnly": true, "shared": true}]}),
            "/data/x hdfs://nn:9000/x --readonly --shared\n",
        ),
        (
            "shared options under the mount's, encrypted ones as secret files",
            json!({
                "sharedOptions": {"endpoint": "shared", "region": "r1"},
                "sharedEncryptOptions": [secret("access", "id")],
                "mounts": [
                    {"mountPoint": "s3://b/one", "name": "one", "options": {"endpoint": "own"},
                     "encryptOptions": [secret("secret", "key")]},
                    {"mountPoint": "local:///mnt/data", "name": "local"},
                    {"mountPoint": "pvc://claim/sub", "name": "claim"},
                    {"mountPoint": "https://mirror/two", "name": "two"},
                ],
            }),
            concat!(
                "/one s3://b/one --option access=/etc/fluid/secrets/creds/id --option endpoint=own",
                " --option region=r1 --option secret=/etc/fluid/secrets/creds/key\n",
                "/two https://mirror/two --option access=/etc/fluid/secrets/creds/id --option endpoint=shared",
                " --option region=r1\n",
            ),
        ),
        (
            "a mount at the root is listed too (the script skips it)",
            json!({"mounts": [{"mountPoint": "oss://b/", "name": "root", "path": "/"}]}),
            "/ oss://b/\n",
        ),
    ];
    for (name, spec, want) in cases {
        let objs = render_with(&one_master(json!({})), Some(&ds(spec.clone())), None);
        let cm = mount_config(&objs);
        assert_eq!(cm["mount.info"], *want, "{name}");
        for key in ["entrypoint.script", "mount.script"] {
            assert!(cm[key].as_str().unwrap().starts_with("#!/usr/bin/env bash\n"), "{name}: {key}");
        }
    }
}

#[test]
fn root_ufs_is_the_only_mount_at_the_root() {
    let cases: &[(&str, Value, &str, &[&str])] = &[
        ("no mounts", json!({}), "/underFSStorage", &[]),
        (
            "one mount at /",
            json!({"mounts": [{"mountPoint": "oss://bucket/", "path": "/", "options": {"fs.oss.endpoint": "e"},
                "encryptOptions": [{"name": "fs.oss.accessKeyId", "valueFrom": {"secretKeyRef": {"name": "oss", "key": "id"}}}]}]}),
            "oss://bucket/",
            &["-Dfs.oss.endpoint=e", "-Dfs.oss.accessKeyId=/etc/fluid/secrets/oss/id"],
        ),
        (
            "one mount elsewhere",
            json!({"mounts": [{"mountPoint": "oss://bucket/", "name": "b"}]}),
            "/underFSStorage",
            &[],
        ),
        (
            "two mounts",
            json!({"mounts": [{"mountPoint": "oss://a/", "path": "/"}, {"mountPoint": "oss://b/", "name": "b"}]}),
            "/underFSStorage",
            &[],
        ),
        (
            "a native mount at /",
            json!({"mounts": [{"mountPoint": "local:///data", "path": "/"}]}),
            "/underFSStorage",
            &[],
        ),
    ];
    for (name, spec, root, options) in cases {
        let objs = render_with(&one_master(json!({})), Some(&ds(spec.clone())), None);
        let opts = java_opts(&objs, "ALLUXIO_JAVA_OPTS");
        assert!(opts.contains(&format!("-Dalluxio.master.mount.table.root.ufs={root}")), "{name}");
        for o in *options {
            assert!(opts.contains(&o.to_string()), "{name}: {o}");
        }
    }
}

#[test]
fn encrypted_options_mount_their_secrets_in_the_master() {
    let objs = render_with(&one_master(json!({})), Some(&dataset()), None);
    let master = find(&objs, "StatefulSet", "hbase-master");
    assert_eq!(
        volume(master, "alluxio-mount-secret-oss-credentials")["secret"],
        json!({"secretName": "oss-credentials"})
    );
    for c in ["alluxio-master", "alluxio-job-master"] {
        assert_eq!(
            mount_of(container(master, c), "alluxio-mount-secret-oss-credentials").unwrap(),
            &json!({"name": "alluxio-mount-secret-oss-credentials", "mountPath": "/etc/fluid/secrets/oss-credentials",
                "readOnly": true}),
            "{c}"
        );
    }
    let worker = find(&objs, "StatefulSet", "hbase-worker");
    assert!(mount_of(container(worker, "alluxio-worker"), "alluxio-mount-secret-oss-credentials").is_none());
    let text = serde_json::to_string(&objs).unwrap();
    assert!(!text.contains("secretKeyRef"), "only file paths, never values or references, reach the config");
}

#[test]
fn native_mounts_become_volumes_under_underfsstorage() {
    let spec = json!({
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{
            "matchExpressions": [{"key": "disk", "operator": "In", "values": ["big"]}],
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}],
        }]}},
        "mounts": [
            {"mountPoint": "local:///mnt/data", "name": "data"},
            {"mountPoint": "pvc://claim/sub/dir", "name": "claimed", "path": "/in/here/"},
            {"mountPoint": "pvc://whole", "name": "whole"},
        ],
    });
    let objs = render_with(&one_master(json!({})), Some(&ds(spec)), None);
    let master = find(&objs, "StatefulSet", "hbase-master");
    let worker = find(&objs, "StatefulSet", "hbase-worker");
    for obj in [master, worker] {
        assert_eq!(volume(obj, "fluid-ufs-0")["hostPath"], json!({"path": "/mnt/data", "type": ""}));
        assert_eq!(volume(obj, "fluid-ufs-1")["persistentVolumeClaim"], json!({"claimName": "claim"}));
        assert_eq!(volume(obj, "fluid-ufs-2")["persistentVolumeClaim"], json!({"claimName": "whole"}));
    }
    let cases: &[(&Value, &str)] = &[
        (master, "alluxio-master"),
        (master, "alluxio-job-master"),
        (worker, "alluxio-worker"),
        (worker, "alluxio-job-worker"),
    ];
    for (obj, c) in cases {
        let c = container(obj, c);
        assert_eq!(
            mount_of(c, "fluid-ufs-0").unwrap(),
            &json!({"name": "fluid-ufs-0", "mountPath": "/underFSStorage/data"})
        );
        assert_eq!(
            mount_of(c, "fluid-ufs-1").unwrap(),
            &json!({"name": "fluid-ufs-1", "mountPath": "/underFSStorage/in/here", "subPath": "sub/dir"})
        );
        assert_eq!(mount_of(c, "fluid-ufs-2").unwrap()["mountPath"], "/underFSStorage/whole");
    }
    assert_eq!(mount_config(&objs)["mount.info"], "", "native mounts are volumes, not Alluxio mounts");
    assert_eq!(
        pod_spec(master)["affinity"],
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["big"]}]}]}}}),
        "a local:// mount ties the master to the Dataset's nodes (match expressions only, as Fluid)"
    );
}

#[test]
fn the_master_applies_the_mounts() {
    let cases: &[(&str, i32, bool)] = &[("one master: startup probe", 1, true), ("three masters: at start", 3, false)];
    for (name, replicas, probe) in cases {
        let rt = one_master(json!({"spec": {"master": {"replicas": replicas}}}));
        let objs = render_with(&rt, Some(&dataset()), None);
        let master = find(&objs, "StatefulSet", "hbase-master");
        let m = container(master, "alluxio-master");
        assert_eq!(m["command"], json!(["/etc/fluid/scripts/entrypoint.sh"]), "{name}");
        assert_eq!(m["args"], json!(["master-only", "--no-format"]), "{name}");
        assert_eq!(mount_of(m, "alluxio-mount-conf").unwrap()["mountPath"], "/etc/fluid/scripts", "{name}");
        assert_eq!(
            volume(master, "alluxio-mount-conf")["configMap"],
            json!({"name": "hbase-mount-config", "items": [
                {"key": "entrypoint.script", "path": "entrypoint.sh", "mode": 0o550},
                {"key": "mount.script", "path": "mount.sh", "mode": 0o550},
                {"key": "mount.info", "path": "mount.info", "mode": 0o444},
            ]}),
            "{name}"
        );
        assert_eq!(!m["startupProbe"].is_null(), *probe, "{name}");
        if *probe {
            assert_eq!(
                m["startupProbe"],
                json!({"exec": {"command": ["bash", "-c", "/etc/fluid/scripts/mount.sh >> /proc/1/fd/1 2>&1"]},
                    "initialDelaySeconds": 5, "failureThreshold": 10, "timeoutSeconds": 15, "periodSeconds": 20}),
                "{name}"
            );
        }
        let at_start = m["env"].as_array().unwrap().iter().any(|e| e["name"] == "FLUIDFORM_MOUNT_AT_START");
        assert_eq!(at_start, !probe, "{name}");
        assert_eq!(container(master, "alluxio-job-master")["command"], json!(["/entrypoint.sh"]), "{name}");
    }

    // Without a Dataset nothing is mounted: no mount ConfigMap, Alluxio's own entrypoint.
    let objs = render_with(&one_master(json!({})), None, None);
    assert!(!objs.iter().any(|o| o.name == "hbase-mount-config"));
    let m = container(find(&objs, "StatefulSet", "hbase-master"), "alluxio-master");
    assert_eq!(m["command"], json!(["/entrypoint.sh"]));
    assert!(m["startupProbe"].is_null() && mount_of(m, "alluxio-mount-conf").is_none());
}

#[test]
fn dataset_tolerations_reach_master_and_worker() {
    let toleration = json!({"key": "dedicated", "operator": "Equal", "value": "cache", "effect": "NoSchedule"});
    let objs = render_with(&one_master(json!({})), Some(&ds(json!({"tolerations": [toleration.clone()]}))), None);
    for name in ["hbase-master", "hbase-worker"] {
        assert_eq!(pod_spec(find(&objs, "StatefulSet", name))["tolerations"], json!([toleration]), "{name}");
    }
    assert_eq!(pod_spec(find(&objs, "DaemonSet", "hbase-fuse"))["tolerations"], json!([{"operator": "Exists"}]));
}
