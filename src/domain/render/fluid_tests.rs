//! Tables of Fluid's rendering rules, part one: ports, users, fuse arguments, hostnames
//! and tiers. For each, the inputs and the fields Fluid's transform and chart produce.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::tests::{container, find, java_opts, pod_spec};
use super::*;
use crate::domain::dataset::tests::dataset;
use crate::domain::layers::resolve;
use crate::domain::manifest::tests::seed_patched;
use crate::domain::manifest::{ManifestFormat, parse_runtime};
use crate::domain::ports::{self, PortName, PortRange};

pub(super) fn render_with(
    rt: &AlluxioRuntime,
    ds: Option<&Dataset>,
    allocated: Option<&BTreeMap<PortName, u16>>,
) -> Vec<RenderedObject> {
    let resolution = resolve(&rt.layers(), &[], &BTreeMap::new());
    render(&RenderInput {
        namespace: "default",
        name: "hbase",
        runtime: rt,
        resolution: &resolution,
        secrets: &[],
        ports: allocated,
        dataset: ds,
    })
}

/// The seed with one master, patched.
pub(super) fn one_master(patch: Value) -> AlluxioRuntime {
    let mut v = serde_json::to_value(seed_patched(json!({"spec": {"master": {"replicas": 1}}}))).unwrap();
    crate::domain::testutil::merge_patch(&mut v, &patch);
    serde_json::from_value(v).unwrap()
}

/// The smallest runtime a user writes: one MEM tier, nothing else.
pub(super) fn minimal() -> AlluxioRuntime {
    let body = json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "AlluxioRuntime", "metadata": {"name": "hbase"},
        "spec": {"replicas": 1, "tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "1Gi"}]}}});
    parse_runtime(&serde_json::to_vec(&body).unwrap(), ManifestFormat::Json).unwrap()
}

/// Two SSD paths, properties, fuse arguments and container networking.
pub(super) fn ssd() -> AlluxioRuntime {
    one_master(json!({"spec": {
        "tieredstore": {"levels": [{"mediumtype": "SSD", "path": "/mnt/ssd0/,/mnt/ssd1", "quotaList": "100Gi,50Gi"}]},
        "properties": {"alluxio.user.file.writetype.default": "CACHE_THROUGH", "alluxio.user.block.size.bytes.default": "64MB"},
        "fuse": {"args": ["fuse", "--fuse-opts=kernel_cache,ro,max_read=131072"], "networkMode": "ContainerNetwork"},
        "master": {"networkMode": "ContainerNetwork"},
        "worker": {"networkMode": "ContainerNetwork"},
    }}))
}

pub(super) fn ports_of(c: &Value) -> Vec<(String, i64, Option<i64>)> {
    c["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (p["name"].as_str().unwrap().to_string(), p["containerPort"].as_i64().unwrap(), p["hostPort"].as_i64())
        })
        .collect()
}

pub(super) fn env_value<'a>(c: &'a Value, name: &str) -> Option<&'a Value> {
    c["env"].as_array().into_iter().flatten().find(|e| e["name"] == name)
}

pub(super) fn has_mount(c: &Value, name: &str, path: &str) -> bool {
    c["volumeMounts"].as_array().into_iter().flatten().any(|m| m["name"] == name && m["mountPath"] == path)
}

#[test]
fn host_network_pods_listen_on_allocated_ports() {
    let rt = one_master(json!({"spec": {"properties": {"alluxio.worker.web.port": "31000"}}}));
    let needed = ports::needed(&rt);
    let allocated = ports::allocate(PortRange::DEFAULT, &BTreeSet::from([31000]), &BTreeMap::new(), &needed).unwrap();
    assert_eq!(allocated[&PortName::MasterRpc], 20000);
    let objs = render_with(&rt, None, Some(&allocated));
    let master = find(&objs, "StatefulSet", "hbase-master");
    let worker = find(&objs, "StatefulSet", "hbase-worker");
    type Row<'a> = (&'a Value, &'a str, Vec<(&'a str, u16)>);
    let cases: &[Row] = &[
        (master, "alluxio-master", vec![("rpc", 20000), ("web", 20001)]),
        (master, "alluxio-job-master", vec![("job-rpc", 20003), ("job-web", 20004)]),
        (worker, "alluxio-worker", vec![("rpc", 20002), ("web", 31000)]),
        (worker, "alluxio-job-worker", vec![("job-rpc", 20005), ("job-data", 20007), ("job-web", 20006)]),
    ];
    for (obj, name, want) in cases {
        let want: Vec<(String, i64, Option<i64>)> =
            want.iter().map(|&(n, p)| (n.to_string(), i64::from(p), Some(i64::from(p)))).collect();
        assert_eq!(ports_of(container(obj, name)), want, "{name}: hostPort = containerPort = allocated");
    }
    let opts = java_opts(&objs, "ALLUXIO_JAVA_OPTS");
    for opt in
        ["-Dalluxio.master.rpc.port=20000", "-Dalluxio.worker.web.port=31000", "-Dalluxio.job.worker.data.port=20007"]
    {
        assert!(opts.contains(&opt.to_string()), "{opt}");
    }
    let worker_opts = java_opts(&objs, "ALLUXIO_WORKER_JAVA_OPTS");
    assert_eq!(worker_opts[1..3], ["-Dalluxio.worker.rpc.port=20002", "-Dalluxio.worker.web.port=31000"]);
    let svc = find(&objs, "Service", "hbase-master-0");
    assert_eq!(svc["spec"]["ports"][0], json!({"name": "rpc", "port": 20000}));

    // Without an allocation, and on container networking, Fluid's fixed ports.
    let objs = render_with(&ssd(), None, Some(&allocated));
    let m = container(find(&objs, "StatefulSet", "hbase-master"), "alluxio-master");
    assert_eq!(ports_of(m), vec![("rpc".into(), 19998, None), ("web".into(), 19999, None)]);
    let objs = render_with(&rt, None, None);
    let w = container(find(&objs, "StatefulSet", "hbase-worker"), "alluxio-worker");
    assert_eq!(ports_of(w), vec![("rpc".into(), 29999, Some(29999)), ("web".into(), 31000, Some(31000))]);
}

#[test]
fn containers_run_as_root_unless_run_as() {
    let run_as = json!({"spec": {"runAs": {"uid": 1000, "gid": 2000, "user": "a", "group": "b"}}});
    let cases: &[(&str, AlluxioRuntime, i64, i64)] =
        &[("root by default", one_master(json!({})), 0, 0), ("runAs", one_master(run_as), 1000, 2000)];
    for (name, rt, uid, gid) in cases {
        let objs = render_with(rt, None, None);
        let master = find(&objs, "StatefulSet", "hbase-master");
        let worker = find(&objs, "StatefulSet", "hbase-worker");
        let fuse = find(&objs, "DaemonSet", "hbase-fuse");
        for (obj, c) in [
            (master, "alluxio-master"),
            (master, "alluxio-job-master"),
            (worker, "alluxio-worker"),
            (worker, "alluxio-job-worker"),
        ] {
            assert_eq!(
                container(obj, c)["securityContext"],
                json!({"runAsUser": uid, "runAsGroup": gid}),
                "{name}: {c}"
            );
            assert!(pod_spec(obj)["securityContext"].is_null(), "{name}: no pod securityContext");
        }
        assert_eq!(
            container(fuse, "alluxio-fuse")["securityContext"],
            json!({"privileged": true, "runAsUser": uid, "runAsGroup": gid}),
            "{name}: fuse"
        );
    }
}

#[test]
fn run_as_sets_up_users_in_every_pod() {
    let rt = one_master(json!({"spec": {"runAs": {"uid": 1000, "gid": 1000, "user": "alluxio", "group": "alluxio"}}}));
    let objs = render_with(&rt, None, None);
    let worker = find(&objs, "StatefulSet", "hbase-worker");
    let iu = container(worker, "init-users");
    assert_eq!(iu["args"], json!(["init_users", "chmod_tierpath"]));
    assert_eq!(env_value(iu, "FLUID_TIERSTORE_PATHS").unwrap()["value"], "/dev/shm", "the paths as written");
    assert!(has_mount(iu, "tieredstore-0-0", "/dev/shm/default/hbase"));
    let fuse = find(&objs, "DaemonSet", "hbase-fuse");
    let init = container(fuse, "init-fuse");
    assert_eq!(init["args"], json!(["init_users", "chmod_fuse_mountpoint"]));
    assert_eq!(init["securityContext"], json!({"runAsUser": 0, "runAsGroup": 0}));
    assert_eq!(env_value(init, "FLUID_FUSE_MOUNTPOINT").unwrap()["value"], "/runtime-mnt/alluxio/default/hbase");
    let f = container(fuse, "alluxio-fuse");
    assert!(has_mount(f, "alluxio-users", "/etc/passwd"), "the fuse reads the user its init container wrote");
    let master = find(&objs, "StatefulSet", "hbase-master");
    assert_eq!(container(master, "init-users")["args"], json!(["init_users"]));
}

#[test]
fn fuse_arguments_follow_access_modes_owner_and_version() {
    let mp = "/runtime-mnt/alluxio/default/hbase/alluxio-fuse";
    let ro = "--fuse-opts=kernel_cache,ro,attr_timeout=7200,entry_timeout=7200";
    let oss = json!({"spec": {"mounts": [{"mountPoint": "oss://b/x", "name": "x"}]}});
    let cases: &[(&str, Value, Option<Value>, Vec<String>)] = &[
        (
            "read-only by default, allow_other, mount point appended",
            json!({}),
            Some(oss.clone()),
            vec!["fuse".into(), format!("{ro},allow_other"), mp.into(), "/".into()],
        ),
        (
            "ReadWriteMany mounts read-write",
            json!({}),
            Some(json!({"spec": {"accessModes": ["ReadWriteMany"]}})),
            vec!["fuse".into(), "--fuse-opts=kernel_cache,rw,allow_other".into(), mp.into(), "/".into()],
        ),
        (
            "the Dataset's owner",
            json!({}),
            Some(json!({"spec": {"owner": {"uid": 1000, "gid": 1001, "user": "a", "group": "b"}}})),
            vec!["fuse".into(), format!("{ro},uid=1000,gid=1001,allow_other"), mp.into(), "/".into()],
        ),
        (
            "libfuse 2",
            json!({"spec": {"properties": {"alluxio.fuse.jnifuse.libfuse.version": "2"}}}),
            Some(oss.clone()),
            vec![
                "fuse".into(),
                "--fuse-opts=kernel_cache,ro,max_read=131072,attr_timeout=7200,entry_timeout=7200,nonempty,allow_other"
                    .into(),
                mp.into(),
                "/".into(),
            ],
        ),
        (
            "user args keep their allow_ and get the mount point",
            json!({"spec": {"fuse": {"args": ["fuse", "--fuse-opts=kernel_cache,allow_root"]}}}),
            None,
            vec!["fuse".into(), "--fuse-opts=kernel_cache,allow_root".into(), mp.into(), "/".into()],
        ),
        (
            "user args get allow_other",
            json!({"spec": {"fuse": {"args": ["fuse", "--fuse-opts=direct_io"]}}}),
            Some(oss.clone()),
            vec!["fuse".into(), "--fuse-opts=direct_io,allow_other".into(), mp.into(), "/".into()],
        ),
        (
            "an argument that is not the options is left alone",
            json!({"spec": {"fuse": {"args": ["fuse"]}}}),
            None,
            vec!["fuse".into(), mp.into(), "/".into()],
        ),
        (
            "before Alluxio 2.8 the mount point is an environment variable",
            json!({"spec": {"fuse": {"imageTag": "release-2.7.3-SNAPSHOT"}}}),
            Some(oss.clone()),
            vec!["fuse".into(), format!("{ro},allow_other")],
        ),
        (
            "HTTP mounts only: no read-ahead",
            json!({}),
            Some(json!({"spec": {"mounts": [{"mountPoint": "https://mirror/x", "name": "x"}]}})),
            vec!["fuse".into(), format!("{ro},allow_other,max_readahead=0"), mp.into(), "/".into()],
        ),
    ];
    for (name, patch, ds_patch, want) in cases {
        let rt = one_master(patch.clone());
        let ds = ds_patch.as_ref().map(|p| {
            let mut v = serde_json::to_value(dataset()).unwrap();
            v["spec"]["accessModes"] = Value::Null;
            crate::domain::testutil::merge_patch(&mut v, p);
            serde_json::from_value::<Dataset>(v).unwrap()
        });
        let objs = render_with(&rt, ds.as_ref(), None);
        let fuse = container(find(&objs, "DaemonSet", "hbase-fuse"), "alluxio-fuse");
        assert_eq!(fuse["args"], json!(want), "{name}");
        let translation = java_opts(&objs, "ALLUXIO_JAVA_OPTS")
            .contains(&"-Dalluxio.fuse.user.group.translation.enabled=true".to_string());
        assert_eq!(translation, !name.contains("owner"), "{name}: user translation unless the owner is passed");
        let mount_env = env_value(fuse, "MOUNT_POINT").map(|e| e["value"].clone());
        assert_eq!(mount_env.is_some(), name.contains("2.8"), "{name}: MOUNT_POINT");
    }
}

#[test]
fn hostnames_reach_alluxio() {
    let objs = render_with(&one_master(json!({})), None, None);
    let worker = java_opts(&objs, "ALLUXIO_WORKER_JAVA_OPTS");
    assert_eq!(worker[0], "-Dalluxio.worker.hostname=${ALLUXIO_WORKER_HOSTNAME}");
    assert!(!worker.iter().any(|o| o.contains("container.hostname")), "host network: the node is the container");
    assert_eq!(java_opts(&objs, "ALLUXIO_JOB_WORKER_JAVA_OPTS")[0], worker[0]);
    let global = java_opts(&objs, "ALLUXIO_JAVA_OPTS");
    assert_eq!(
        global[..2],
        ["-Dalluxio.master.hostname=hbase-master-0.default", "-Dalluxio.user.hostname=${ALLUXIO_CLIENT_HOSTNAME}"]
    );
    assert_eq!(java_opts(&objs, "ALLUXIO_MASTER_JAVA_OPTS")[0], "-Dalluxio.master.hostname=${ALLUXIO_MASTER_HOSTNAME}");
    let fuse = container(find(&objs, "DaemonSet", "hbase-fuse"), "alluxio-fuse");
    assert_eq!(
        env_value(fuse, "ALLUXIO_CLIENT_HOSTNAME").unwrap()["valueFrom"]["fieldRef"]["fieldPath"],
        "status.hostIP"
    );
    assert_eq!(
        env_value(fuse, "ALLUXIO_CLIENT_JAVA_OPTS").unwrap()["value"],
        " -Dalluxio.user.hostname=${ALLUXIO_CLIENT_HOSTNAME} "
    );

    let objs = render_with(&ssd(), None, None);
    let worker = java_opts(&objs, "ALLUXIO_WORKER_JAVA_OPTS");
    assert!(worker.contains(&"-Dalluxio.worker.container.hostname=${ALLUXIO_WORKER_CONTAINER_HOSTNAME}".to_string()));
    let w = container(find(&objs, "StatefulSet", "hbase-worker"), "alluxio-worker");
    assert_eq!(
        env_value(w, "ALLUXIO_WORKER_CONTAINER_HOSTNAME").unwrap()["valueFrom"]["fieldRef"]["fieldPath"],
        "status.podIP"
    );
}

#[test]
fn tiers_are_per_runtime_numbered_by_medium_and_mounted_in_fuse() {
    let rt = one_master(json!({"spec": {"tieredstore": {"levels": [
        {"mediumtype": "SSD", "path": "/mnt/ssd0/,/mnt/ssd1", "quotaList": "100Gi,50Gi"},
        {"mediumtype": "MEM", "path": "/dev/shm", "quota": "2Gi", "volumeType": "emptyDir"},
    ]}}}));
    let objs = render_with(&rt, None, None);
    let opts = java_opts(&objs, "ALLUXIO_JAVA_OPTS");
    for opt in [
        "-Dalluxio.worker.tieredstore.levels=2",
        "-Dalluxio.worker.tieredstore.level1.alias=SSD",
        "-Dalluxio.worker.tieredstore.level1.dirs.mediumtype=SSD,SSD",
        "-Dalluxio.worker.tieredstore.level1.dirs.path=/mnt/ssd0/default/hbase,/mnt/ssd1/default/hbase",
        "-Dalluxio.worker.tieredstore.level1.dirs.quota=100GB,50GB",
        "-Dalluxio.worker.tieredstore.level0.alias=MEM",
        "-Dalluxio.worker.tieredstore.level0.dirs.path=/dev/shm/default/hbase",
        "-Dalluxio.user.short.circuit.enabled=false",
    ] {
        assert!(opts.contains(&opt.to_string()), "{opt} in {opts:?}");
    }
    let worker = find(&objs, "StatefulSet", "hbase-worker");
    let fuse = find(&objs, "DaemonSet", "hbase-fuse");
    let cases: &[(&str, &str, bool, bool)] = &[
        ("tieredstore-0-0", "/mnt/ssd0/default/hbase", true, true),
        ("tieredstore-0-1", "/mnt/ssd1/default/hbase", true, true),
        ("tieredstore-1-0", "/dev/shm/default/hbase", true, false),
    ];
    for (volume, path, in_worker, in_fuse) in cases {
        for c in ["alluxio-worker", "alluxio-job-worker"] {
            assert_eq!(has_mount(container(worker, c), volume, path), *in_worker, "{c} {volume}");
        }
        assert_eq!(has_mount(container(fuse, "alluxio-fuse"), volume, path), *in_fuse, "fuse {volume}");
    }
    let fuse_volume = pod_spec(fuse)["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "tieredstore-0-1");
    assert_eq!(
        fuse_volume.unwrap()["hostPath"],
        json!({"path": "/mnt/ssd1/default/hbase", "type": "DirectoryOrCreate"})
    );
    let w = container(worker, "alluxio-worker");
    assert_eq!(env_value(w, "ALLUXIO_WORKER_TIEREDSTORE_LEVEL0_DIRS_PATH").unwrap()["value"], "/dev/shm/default/hbase");

    // No tiers: Fluid's chart keeps its default MEM tier.
    let mut bare = one_master(json!({}));
    bare.spec.tieredstore = None;
    let objs = render_with(&bare, None, None);
    let opts = java_opts(&objs, "ALLUXIO_JAVA_OPTS");
    assert!(opts.contains(&"-Dalluxio.worker.tieredstore.level0.dirs.path=/dev/shm".to_string()));
    assert!(opts.contains(&"-Dalluxio.worker.tieredstore.level0.dirs.quota=1G".to_string()));
    let vols = &pod_spec(find(&objs, "StatefulSet", "hbase-worker"))["volumes"];
    assert_eq!(vols[0], json!({"name": "tieredstore-0-0", "emptyDir": {"medium": "Memory", "sizeLimit": "1G"}}));
}
