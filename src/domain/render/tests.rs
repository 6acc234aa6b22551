//! Render tables: the seed example, determinism, labels, secrets and pod templates.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::domain::layers::resolve;
use crate::domain::manifest::tests::{SEED_YAML, seed, seed_patched};
use crate::domain::manifest::{ManifestFormat, parse_runtime};

fn render_runtime(rt: &AlluxioRuntime, secrets: &[CredentialSecret]) -> Vec<RenderedObject> {
    let bindings = BTreeMap::from([("global-secret".to_string(), 1)]);
    let resolution = resolve(&rt.layers(), &[], &bindings);
    render(&RenderInput {
        namespace: "default",
        name: "hbase",
        runtime: rt,
        resolution: &resolution,
        secrets,
        ports: None,
        dataset: None,
    })
}

fn seed_secret(bytes: Option<&[u8]>) -> CredentialSecret {
    CredentialSecret { credential: "global-secret".into(), version: 1, dockerconfigjson: bytes.map(<[u8]>::to_vec) }
}

pub(super) fn find<'a>(objs: &'a [RenderedObject], kind: &str, name: &str) -> &'a Value {
    &objs.iter().find(|o| o.kind == kind && o.name == name).unwrap_or_else(|| panic!("no {kind} {name}")).object
}

pub(super) fn pod_spec(obj: &Value) -> &Value {
    &obj["spec"]["template"]["spec"]
}

pub(super) fn pull_secrets(obj: &Value) -> Vec<&str> {
    pod_spec(obj)["imagePullSecrets"]
        .as_array()
        .map(|a| a.iter().map(|s| s["name"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

pub(super) fn container<'a>(obj: &'a Value, name: &str) -> &'a Value {
    pod_spec(obj)["containers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(pod_spec(obj)["initContainers"].as_array().into_iter().flatten())
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// One `ALLUXIO_*_JAVA_OPTS` entry of the config ConfigMap, split into options.
pub(super) fn java_opts(objs: &[RenderedObject], key: &str) -> Vec<String> {
    let cm = find(objs, "ConfigMap", "hbase-config");
    cm["data"][key].as_str().unwrap_or_else(|| panic!("no {key}")).split(' ').map(str::to_string).collect()
}

pub(super) fn patched(patch: &str) -> AlluxioRuntime {
    let yaml = format!("{SEED_YAML}{patch}");
    parse_runtime(yaml.as_bytes(), ManifestFormat::Yaml).unwrap()
}

#[test]
fn seed_objects_names_and_kinds_in_order() {
    let objs = render_runtime(&seed(), &[seed_secret(Some(b"{}"))]);
    let got: Vec<(&str, &str)> = objs.iter().map(|o| (o.kind.as_str(), o.name.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("Secret", "global-secret-v1"),
            ("ConfigMap", "hbase-config"),
            ("Service", "hbase-master-0"),
            ("Service", "hbase-master-1"),
            ("Service", "hbase-master-2"),
            ("StatefulSet", "hbase-master"),
            ("StatefulSet", "hbase-worker"),
            ("DaemonSet", "hbase-fuse"),
        ]
    );
    for o in &objs {
        assert_eq!(o.namespace, "default");
        assert_eq!(o.object["metadata"]["namespace"], "default");
        assert_eq!(o.object["kind"], o.kind.as_str());
        assert_eq!(o.object["apiVersion"], o.api_version.as_str());
        assert_eq!(o.object["metadata"]["labels"][MANAGED_BY_LABEL], MANAGED_BY);
    }
}

#[test]
fn rendering_is_deterministic() {
    let rt =
        patched("  properties:\n    b.prop: \"2\"\n    a.prop: \"1\"\n  fuse:\n    env:\n      Z: z\n      A: a\n");
    let secrets = [
        CredentialSecret { credential: "zz".into(), version: 3, dockerconfigjson: Some(b"{\"auths\":{}}".to_vec()) },
        seed_secret(Some(b"{}")),
    ];
    let a = serde_json::to_vec(&render_runtime(&rt, &secrets)).unwrap();
    let b = serde_json::to_vec(&render_runtime(&rt.clone(), &secrets)).unwrap();
    assert_eq!(a, b);
    let objs = render_runtime(&rt, &secrets);
    assert_eq!(objs[0].name, "global-secret-v1", "secrets sorted by name");
    assert_eq!(objs[1].name, "zz-v3");
}

#[test]
fn pod_templates_carry_resolved_secret_names() {
    let objs = render_runtime(&seed(), &[]);
    assert_eq!(pull_secrets(find(&objs, "StatefulSet", "hbase-master")), vec!["master-secret"]);
    assert_eq!(pull_secrets(find(&objs, "StatefulSet", "hbase-worker")), vec!["worker-secret"]);
    assert_eq!(pull_secrets(find(&objs, "DaemonSet", "hbase-fuse")), vec!["global-secret-v1"]);

    let none = patched("").clone();
    let mut bare = none;
    bare.spec.image_pull_secrets = None;
    bare.spec.master = None;
    bare.spec.worker = None;
    let objs = render_runtime(&bare, &[]);
    assert!(pod_spec(find(&objs, "DaemonSet", "hbase-fuse"))["imagePullSecrets"].is_null());
}

#[test]
fn replicas_services_and_selectors() {
    let objs = render_runtime(&seed(), &[]);
    let master = find(&objs, "StatefulSet", "hbase-master");
    let worker = find(&objs, "StatefulSet", "hbase-worker");
    assert_eq!(master["spec"]["replicas"], 3);
    assert_eq!(worker["spec"]["replicas"], 2, "worker replicas from spec.replicas");
    assert_eq!(master["spec"]["updateStrategy"]["type"], "OnDelete");
    assert_eq!(
        master["spec"]["selector"]["matchLabels"],
        json!({"app": "alluxio", "release": "hbase", "role": "alluxio-master"})
    );
    let services: Vec<&RenderedObject> = objs.iter().filter(|o| o.kind == "Service").collect();
    assert_eq!(services.len(), 3, "one headless service per master replica");
    let svc = &services[1].object;
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert_eq!(svc["spec"]["selector"]["statefulset.kubernetes.io/pod-name"], "hbase-master-1");

    let mut rt = seed();
    rt.spec.replicas = None;
    rt.spec.master = None;
    let objs = render_runtime(&rt, &[]);
    assert_eq!(find(&objs, "StatefulSet", "hbase-worker")["spec"]["replicas"], 1);
    assert_eq!(find(&objs, "StatefulSet", "hbase-master")["spec"]["replicas"], 1);
    assert_eq!(objs.iter().filter(|o| o.kind == "Service").count(), 1);
    rt.spec.replicas = Some(0);
    let objs = render_runtime(&rt, &[]);
    assert_eq!(find(&objs, "StatefulSet", "hbase-worker")["spec"]["replicas"], 0);
}

#[test]
fn labels_on_workloads_and_pod_templates() {
    let rt = patched(
        "  podMetadata:\n    labels:\n      team: data\n      app: hijack\n  fuse:\n    podMetadata:\n      labels:\n        team: fuse-team\n      annotations:\n        note: x\n",
    );
    let objs = render_runtime(&rt, &[]);
    let fuse = find(&objs, "DaemonSet", "hbase-fuse");
    let want = [
        ("app", "alluxio"),
        ("role", "alluxio-fuse"),
        ("release", "hbase"),
        ("heritage", "fluidform"),
        ("app.kubernetes.io/name", "alluxio"),
        ("app.kubernetes.io/instance", "hbase"),
        (MANAGED_BY_LABEL, MANAGED_BY),
        (RUNTIME_NAME_LABEL, "hbase"),
        (RUNTIME_NAMESPACE_LABEL, "default"),
        (COMPONENT_LABEL, "fuse"),
    ];
    let pod_labels = &fuse["spec"]["template"]["metadata"]["labels"];
    for (k, v) in want {
        assert_eq!(fuse["metadata"]["labels"][k], v, "workload label {k}");
        assert_eq!(pod_labels[k], v, "pod label {k}");
    }
    assert_eq!(pod_labels["team"], "fuse-team", "component podMetadata beats runtime");
    let annotations = &fuse["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["note"], "x");
    assert_eq!(annotations["sidecar.istio.io/inject"], "false");
    let master = find(&objs, "StatefulSet", "hbase-master");
    assert_eq!(master["spec"]["template"]["metadata"]["labels"]["team"], "data");
    assert_eq!(find(&objs, "ConfigMap", "hbase-config")["metadata"]["labels"][COMPONENT_LABEL], "config");
}

#[test]
fn fuse_node_selector_and_privilege() {
    let rt = patched("  fuse:\n    nodeSelector:\n      disk: ssd\n");
    let objs = render_runtime(&rt, &[]);
    let fuse = find(&objs, "DaemonSet", "hbase-fuse");
    assert_eq!(pod_spec(fuse)["nodeSelector"], json!({"disk": "ssd", "fluid.io/f-default-hbase": "true"}));
    let c = container(fuse, "alluxio-fuse");
    assert_eq!(c["securityContext"]["privileged"], true);
    assert_eq!(c["image"], "alluxio/alluxio-dev:2.9.0");
    assert_eq!(c["args"][2], "/runtime-mnt/alluxio/default/hbase/alluxio-fuse");
    assert_eq!(fuse["spec"]["updateStrategy"]["type"], "OnDelete");
}

#[test]
fn credential_secrets_are_immutable_and_typed() {
    let objs = render_runtime(&seed(), &[seed_secret(Some(b"{\"auths\":{}}"))]);
    let s = find(&objs, "Secret", "global-secret-v1");
    assert_eq!(s["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(s["immutable"], true);
    assert_eq!(s["data"][".dockerconfigjson"], "eyJhdXRocyI6e319");
    assert_eq!(
        s["metadata"]["labels"],
        json!({
            MANAGED_BY_LABEL: MANAGED_BY,
            CREDENTIAL_LABEL: "global-secret",
            CREDENTIAL_VERSION_LABEL: "1",
        })
    );

    let objs = render_runtime(&seed(), &[seed_secret(None)]);
    let s = find(&objs, "Secret", "global-secret-v1");
    assert!(s.get("data").is_none(), "redacted secrets carry no data");
    assert_eq!(s["metadata"]["annotations"][REDACTED_ANNOTATION], "true");
    assert_eq!(s["immutable"], true);
}

#[test]
fn containers_images_ports_and_network() {
    let objs = render_runtime(&seed(), &[]);
    let master = find(&objs, "StatefulSet", "hbase-master");
    let names: Vec<&str> =
        pod_spec(master)["containers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["alluxio-master", "alluxio-job-master"]);
    assert!(pod_spec(master)["initContainers"].is_null(), "no init-users without runAs, no journal-format");
    assert_eq!(pod_spec(master)["hostNetwork"], true);
    let m = container(master, "alluxio-master");
    assert_eq!(m["image"], "alluxio/alluxio-dev:2.9.0");
    assert_eq!(m["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        m["ports"],
        json!([
            {"containerPort": 19998, "hostPort": 19998, "name": "rpc"},
            {"containerPort": 19999, "hostPort": 19999, "name": "web"},
            {"containerPort": 19200, "hostPort": 19200, "name": "embedded"},
        ])
    );

    let rt = patched(concat!(
        "  alluxioVersion:\n    image: registry.example.com/alluxio\n    imageTag: \"2.9.3\"\n",
        "    imagePullPolicy: Always\n",
        "  apiGateway:\n    enabled: true\n",
        "  runAs:\n    uid: 1000\n    gid: 1000\n    user: alluxio\n    group: alluxio\n",
        "  jobMaster:\n    ports:\n      rpc: 21001\n    env:\n      FOO: bar\n",
        "  jobWorker:\n    networkMode: ContainerNetwork\n",
    ));
    let objs = render_runtime(&rt, &[]);
    let master = find(&objs, "StatefulSet", "hbase-master");
    let jm = container(master, "alluxio-job-master");
    assert_eq!(jm["image"], "registry.example.com/alluxio:2.9.3");
    assert_eq!(jm["imagePullPolicy"], "Always");
    assert_eq!(jm["ports"][0]["containerPort"], 21001);
    assert!(!jm["env"].as_array().unwrap().iter().any(|e| e["name"] == "FOO"), "Fluid's chart has no job master env");
    assert_eq!(jm["securityContext"], json!({"runAsGroup": 1000, "runAsUser": 1000}));
    container(master, "api-gateway");
    let iu = container(master, "init-users");
    assert_eq!(iu["image"], "fluidcloudnative/init-users:v0.9.0");
    assert_eq!(iu["env"][0]["value"], "1000:alluxio:1000,1000:alluxio");
    // Job worker's networkMode does not decide the worker pod's network.
    let worker = find(&objs, "StatefulSet", "hbase-worker");
    assert_eq!(pod_spec(worker)["hostNetwork"], true);
}

#[test]
fn container_network_drops_host_network() {
    let rt = patched("  fuse:\n    networkMode: ContainerNetwork\n");
    let objs = render_runtime(&rt, &[]);
    let fuse = find(&objs, "DaemonSet", "hbase-fuse");
    assert!(pod_spec(fuse)["hostNetwork"].is_null());
    assert_eq!(pod_spec(fuse)["dnsPolicy"], "ClusterFirst");
}

#[test]
fn tiered_store_volumes_and_properties() {
    let objs = render_runtime(&seed(), &[]);
    let worker = find(&objs, "StatefulSet", "hbase-worker");
    let vol = pod_spec(worker)["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "tieredstore-0-0").unwrap();
    assert_eq!(vol["hostPath"], json!({"path": "/dev/shm/default/hbase", "type": "DirectoryOrCreate"}));
    let w = container(worker, "alluxio-worker");
    assert!(
        w["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == &json!({"mountPath": "/dev/shm/default/hbase", "name": "tieredstore-0-0"}))
    );
    let opts = java_opts(&objs, "ALLUXIO_JAVA_OPTS");
    for opt in [
        "-Dalluxio.worker.tieredstore.levels=1",
        "-Dalluxio.worker.tieredstore.level0.alias=MEM",
        "-Dalluxio.worker.tieredstore.level0.dirs.path=/dev/shm/default/hbase",
        "-Dalluxio.worker.tieredstore.level0.dirs.quota=2GB",
        "-Dalluxio.master.journal.type=EMBEDDED",
        "-Dalluxio.master.embedded.journal.addresses=hbase-master-0:19200,hbase-master-1:19200,hbase-master-2:19200",
    ] {
        assert!(opts.contains(&opt.to_string()), "missing {opt} in\n{opts:?}");
    }
    assert!(!opts.iter().any(|o| o.contains("watermark")), "Fluid passes no watermarks to Alluxio");

    let mut rt = seed_patched(json!({"spec": {
        "properties": {"alluxio.master.journal.type": "UFS"},
        "worker": {"jvmOptions": ["-Xmx4G"], "properties": {"alluxio.worker.x": "1"}},
    }}));
    let levels = rt.spec.tieredstore.as_mut().unwrap().levels.as_mut().unwrap();
    levels[0].path = "/mnt/a,/mnt/b".into();
    levels[0].volume_type = Some("emptyDir".into());
    let objs = render_runtime(&rt, &[]);
    let opts = java_opts(&objs, "ALLUXIO_JAVA_OPTS");
    assert!(opts.contains(&"-Dalluxio.worker.tieredstore.level0.dirs.quota=1GB,1GB".to_string()));
    assert_eq!(
        opts.iter().rev().find(|o| o.starts_with("-Dalluxio.master.journal.type=")).unwrap(),
        "-Dalluxio.master.journal.type=UFS",
        "spec.properties win: the last option counts"
    );
    let worker_opts = java_opts(&objs, "ALLUXIO_WORKER_JAVA_OPTS");
    assert_eq!(worker_opts[worker_opts.len() - 2..], ["-Dalluxio.worker.x=1", "-Xmx4G"]);
    let worker = find(&objs, "StatefulSet", "hbase-worker");
    let vols = pod_spec(worker)["volumes"].as_array().unwrap();
    let vol = vols.iter().find(|v| v["name"] == "tieredstore-0-1").unwrap();
    assert_eq!(vol, &json!({"emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}, "name": "tieredstore-0-1"}));
}

#[test]
fn user_volumes_only_where_mounted() {
    let rt = patched(concat!(
        "  volumes:\n    - name: data\n      hostPath:\n        path: /data\n",
        "    - name: unused\n      emptyDir: {}\n",
        "  fuse:\n    volumeMounts:\n      - name: data\n        mountPath: /data\n",
    ));
    let objs = render_runtime(&rt, &[]);
    let names = |obj: &Value| -> Vec<String> {
        pod_spec(obj)["volumes"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_string()).collect()
    };
    let fuse = names(find(&objs, "DaemonSet", "hbase-fuse"));
    assert!(fuse.contains(&"data".to_string()));
    assert!(!fuse.contains(&"unused".to_string()));
    assert!(!names(find(&objs, "StatefulSet", "hbase-master")).contains(&"data".to_string()));
}

#[test]
fn resources_and_env_are_rendered() {
    let rt = seed_patched(json!({"spec": {"worker": {
        "resources": {"requests": {"cpu": "500m", "memory": "2048Mi"}, "limits": {"memory": "4Gi"}},
        "env": {"B": "b", "A": "a"},
        "nodeSelector": {"pool": "cache"},
    }}}));
    let objs = render_runtime(&rt, &[]);
    let worker = find(&objs, "StatefulSet", "hbase-worker");
    let w = container(worker, "alluxio-worker");
    assert_eq!(w["resources"], json!({"limits": {"memory": "4Gi"}, "requests": {"cpu": "500m", "memory": "2Gi"}}));
    let env_names: Vec<&str> = w["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(env_names, vec!["ALLUXIO_WORKER_HOSTNAME", "A", "ALLUXIO_WORKER_TIEREDSTORE_LEVEL0_DIRS_PATH", "B"]);
    assert_eq!(pod_spec(worker)["nodeSelector"], json!({"pool": "cache"}));
}
