//! Fluid-native clusters on a real API server with Fluid's CRDs installed: detection by
//! probe, Dataset and runtime resources applied with every component's list written out,
//! drift on a hand-edited resource, Fluid's own CRDs accepting everything fluidform writes,
//! and rotations across AlluxioRuntime, JindoRuntime and ThinRuntime that change only the
//! pull-secret lists of the workloads "Fluid" (a stand-in controller) created.

use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::cluster::TestCluster;
use crate::support::fluid::{fake_controllers, fluid_workloads, fluids_own_crds, install_crds, stand_in};
use crate::support::live::{apply, client, converge, get, kind_api, label_nodes_for, plan, register_as, wait_rotation};

const HBASE: &str = r#"apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata:
  name: hbase
spec:
  replicas: 1
  imagePullSecrets:
    - name: global-secret
  tieredstore:
    levels:
      - mediumtype: MEM
        path: /dev/shm
        quota: 2Gi
        high: "0.95"
        low: "0.7"
  master:
    imagePullSecrets:
      - name: master-secret
  worker:
    imagePullSecrets:
      - name: worker-secret
---
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: hbase
spec:
  mounts:
    - mountPoint: https://mirrors.example.com/hbase/stable/
      name: hbase
"#;

fn names(v: &Value) -> Vec<String> {
    v.as_array().map(|l| l.iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

fn jindo(name: &str) -> Value {
    json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "JindoRuntime", "metadata": {"name": name},
        "spec": {"replicas": 1, "imagePullSecrets": [{"name": "global-secret"}],
            "tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "1Gi", "high": "0.9", "low": "0.8"}]}}})
}

fn thin(name: &str) -> Value {
    json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "ThinRuntime", "metadata": {"name": name},
        "spec": {"profileName": "nfs", "imagePullSecrets": [{"name": "global-secret"}]}})
}

fn profile() -> Value {
    json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "ThinRuntimeProfile", "metadata": {"name": "nfs"},
        "spec": {"fileSystemType": "nfs", "fuse": {"image": "fluid/nfs-fuse", "imageTag": "v1"}}})
}

fn alluxio(name: &str) -> Value {
    let mut rt = crate::support::app::runtime_json(name, Some(&["global-secret"]), None, None, None);
    rt["metadata"]["labels"] = json!({});
    rt
}

#[actix_web::test]
async fn a_fluid_cluster_gets_its_dataset_and_runtime_with_every_list_written_out() {
    let cluster = TestCluster::start().await.expect("cluster");
    install_crds(&cluster, &fluidform::domain::crd::crds()).await;
    fake_controllers(&cluster).await;
    let app = TestApp::start().await;
    register_as(&app, "f", &cluster, &["org-pull"], "auto").await;
    let c = app.get("/v1/clusters/f").await.json();
    assert_eq!(c["mode"], "auto");
    assert!(c.get("effectiveMode").is_none(), "not known before a probe: {c}");

    app.credential("global-secret", "hbase-pass").await;
    let r = app.put_yaml("/v1/runtimes/data/hbase?cluster=f", HBASE, crate::support::app::ADMIN).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["dataset"]["generation"], 1, "the Dataset came with the runtime");
    let m = app.get("/v1/runtimes/data/hbase/manifests").await.json();
    assert_eq!(m["mode"], "standalone");
    assert!(m["warnings"][0].as_str().unwrap().contains("never probed"), "{m}");
    let p = plan(&app, json!({"runtimes": ["data/hbase"]})).await;
    app.post(&format!("/v1/plans/{}/apply", p["id"].as_str().unwrap()), json!({}))
        .await
        .problem(409, "cluster_mode_unknown");

    let probe = app.post("/v1/clusters/f/probe", json!({})).await;
    assert_eq!(probe.status, 200, "{}", probe.text());
    let probe = probe.json();
    assert_eq!(probe["effectiveMode"], "fluid");
    assert_eq!(probe["fluid"]["kinds"], json!(["AlluxioRuntime", "JindoRuntime", "ThinRuntime"]));
    assert!(probe["fluid"]["controllers"].to_string().contains("alluxioruntime-controller"), "{probe}");
    assert_eq!(app.get("/v1/clusters/f").await.json()["effectiveMode"], "fluid");
    let m = app.get("/v1/runtimes/data/hbase/manifests").await.json();
    let kinds: Vec<&str> = m["items"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Secret", "Dataset", "AlluxioRuntime"], "{m}");

    let (p, _) = converge(&app, json!({"runtimes": ["data/hbase"]})).await;
    assert!(p["warnings"].to_string().contains("master-secret"), "unmanaged names still warned about");
    let kc = client(&cluster).await;
    let cr = get(&kc, "AlluxioRuntime", "data", "hbase").await.expect("the runtime resource");
    assert_eq!(names(&cr["spec"]["master"]["imagePullSecrets"]), ["master-secret"]);
    assert_eq!(names(&cr["spec"]["worker"]["imagePullSecrets"]), ["worker-secret"]);
    assert_eq!(names(&cr["spec"]["fuse"]["imagePullSecrets"]), ["global-secret-v1"], "fuse written out as resolved");
    assert_eq!(names(&cr["spec"]["imagePullSecrets"]), ["global-secret-v1"]);
    assert_eq!(cr["metadata"]["labels"]["app.kubernetes.io/managed-by"], "fluidform");
    let ds = get(&kc, "Dataset", "data", "hbase").await.expect("the Dataset");
    assert_eq!(ds["spec"]["mounts"][0]["name"], "hbase");
    assert!(
        get(&kc, "StatefulSet", "data", "hbase-master").await.is_none(),
        "Fluid renders the workloads, not fluidform"
    );
    assert_eq!(app.get("/v1/runtimes/data/hbase").await.json()["status"]["sync"], "in_sync");

    // Someone edits the runtime resource by hand: drift, and a refreshing plan puts it back.
    let edit = json!({"spec": {"fuse": {"imagePullSecrets": [{"name": "someone-else"}]}}});
    kind_api(&kc, "AlluxioRuntime", "data")
        .patch(
            "hbase",
            &PatchParams { field_manager: Some("kubectl-edit".into()), ..Default::default() },
            &Patch::Merge(&edit),
        )
        .await
        .expect("hand edit");
    fluidform::engine::drift::drift_pass(&app.state.ctx).await.unwrap();
    let status = app.get("/v1/runtimes/data/hbase").await.json()["status"].clone();
    assert_eq!(status["sync"], "drifted", "{status}");
    assert_eq!(status["drift"][0]["path"], "spec.fuse.imagePullSecrets", "{status}");
    let p = plan(&app, json!({"runtimes": ["data/hbase"], "refresh": true})).await;
    assert_eq!(p["objects"][0]["reasons"], json!(["drift"]), "{p}");
    let run = apply(&app, p["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let cr = get(&kc, "AlluxioRuntime", "data", "hbase").await.unwrap();
    assert_eq!(names(&cr["spec"]["fuse"]["imagePullSecrets"]), ["global-secret-v1"]);

    // A JindoRuntime is fine here; a standalone cluster refuses one.
    assert_eq!(app.put("/v1/runtimes/data/j1?cluster=f", jindo("j1")).await.status, 201);
    let other = TestCluster::start().await.expect("cluster");
    register_as(&app, "plain", &other, &[], "standalone").await;
    let refused = app.put("/v1/runtimes/data/j2?cluster=plain", jindo("j2")).await.problem(422, "validation_failed");
    assert_eq!(refused["field"], "kind");
    let refused = app.put("/v1/runtimes/data/t1?cluster=f", thin("t1")).await.problem(422, "validation_failed");
    assert_eq!(refused["field"], "spec.profileName", "a profile must be stored first");
}

#[actix_web::test]
async fn fluids_own_crds_accept_everything_fluidform_writes() {
    let Some(crds) = fluids_own_crds() else { return };
    let cluster = TestCluster::start().await.expect("cluster");
    install_crds(&cluster, &crds).await;
    let app = TestApp::start().await;
    register_as(&app, "f", &cluster, &["org-pull"], "fluid").await;
    app.credential("global-secret", "p").await;
    assert_eq!(app.put_yaml("/v1/runtimes/data/hbase?cluster=f", HBASE, crate::support::app::ADMIN).await.status, 201);
    let seed = crate::support::app::SEED_YAML.replace("name: hbase", "name: seed");
    assert_eq!(app.put_yaml("/v1/runtimes/data/seed?cluster=f", &seed, crate::support::app::ADMIN).await.status, 201);
    assert_eq!(app.put("/v1/runtimes/data/j1?cluster=f", jindo("j1")).await.status, 201);
    assert_eq!(app.put("/v1/thinruntimeprofiles/nfs?cluster=f", profile()).await.status, 201);
    assert_eq!(app.put("/v1/runtimes/data/t1?cluster=f", thin("t1")).await.status, 201);
    let p = plan(&app, json!({"all": true})).await;
    let mut objects = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page = app.get(&format!("/v1/plans/{}/objects?limit=50{q}", p["id"].as_str().unwrap())).await.json();
        objects.extend(page["items"].as_array().unwrap().clone());
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let kc = client(&cluster).await;
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(kc.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": "data"}})).unwrap();
    namespaces.create(&Default::default(), &ns).await.expect("namespace");
    let mut checked = Vec::new();
    for o in objects.iter().filter(|o| o["apiVersion"] == "data.fluid.io/v1alpha1") {
        let obj = o["diff"][0]["after"].clone();
        let kind = obj["kind"].as_str().unwrap().to_string();
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
        let api = kind_api(&kc, &kind, &ns);
        let params = PatchParams::apply("fluidform").force().dry_run();
        api.patch(obj["metadata"]["name"].as_str().unwrap(), &params, &Patch::Apply(&obj))
            .await
            .unwrap_or_else(|e| panic!("Fluid's CRD refuses {kind} {}: {e}\n{obj}", obj["metadata"]["name"]));
        checked.push(kind);
    }
    checked.sort();
    checked.dedup();
    assert_eq!(checked, ["AlluxioRuntime", "Dataset", "JindoRuntime", "ThinRuntime", "ThinRuntimeProfile"]);
}

/// Waits until every workload the stand-in made for these runtimes has all its pods ready.
async fn wait_fluid_rolled_out(cluster: &TestCluster, ns: &str, runtimes: &[(&str, &str)]) {
    let kc = client(cluster).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    for (kind, name) in runtimes {
        let cr = loop {
            if let Some(cr) = get(&kc, kind, ns, name).await {
                break cr;
            }
            assert!(Instant::now() < deadline, "{kind} {ns}/{name} missing");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        for w in fluid_workloads(&cr) {
            let (wk, wn) = (w["kind"].as_str().unwrap(), w["metadata"]["name"].as_str().unwrap());
            loop {
                let live = get(&kc, wk, ns, wn).await;
                let k = fluidform::domain::kinds::Kind::parse(wk).unwrap();
                let ok = live
                    .as_ref()
                    .and_then(|o| fluidform::k8s::workload_of_value(k, ns, o))
                    .is_some_and(|w| w.desired > 0 && fluidform::domain::rollout::health(&w).is_ok());
                if ok {
                    break;
                }
                assert!(Instant::now() < deadline, "{wk} {ns}/{wn} did not roll out: {live:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[actix_web::test]
async fn a_rotation_across_kinds_in_a_fluid_cluster_changes_only_fluids_pull_secret_lists() {
    let cluster = TestCluster::start_with_nodes(2).await.expect("cluster");
    install_crds(&cluster, &fluidform::domain::crd::crds()).await;
    let _fluid = stand_in(&cluster, &["mixed"]).await;
    let app = TestApp::start().await;
    register_as(&app, "f", &cluster, &[], "fluid").await;
    app.credential("global-secret", "v1").await;
    assert_eq!(app.put("/v1/thinruntimeprofiles/nfs?cluster=f", profile()).await.status, 201);
    for (path, body) in [("a1", alluxio("a1")), ("j1", jindo("j1")), ("t1", thin("t1"))] {
        let r = app.put(&format!("/v1/runtimes/mixed/{path}?cluster=f"), body).await;
        assert_eq!(r.status, 201, "{path}: {}", r.text());
    }
    label_nodes_for(&cluster, &[("mixed", "a1"), ("mixed", "j1"), ("mixed", "t1")]).await;
    converge(&app, json!({"all": true})).await;
    let rts = [("AlluxioRuntime", "a1"), ("JindoRuntime", "j1"), ("ThinRuntime", "t1")];
    wait_fluid_rolled_out(&cluster, "mixed", &rts).await;
    let again = plan(&app, json!({"all": true, "refresh": true})).await;
    assert_eq!(again["summary"]["update"], 0, "Fluid's workloads already have the lists: {}", again["summary"]);

    let v2 = app
        .post("/v1/credentials/global-secret/versions", json!({"registry": "r", "username": "u", "password": "v2"}))
        .await;
    assert_eq!(v2.status, 201);
    let r = app
        .post(
            "/v1/rotations",
            json!({"verify": false, "credential": "global-secret", "batches": [1, "100%"], "healthTimeout": 120}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    fluidform::engine::rotation::spawn_rotation_driver(&app.state.ctx);
    let done = wait_rotation(&app, &id, 300, |r| r["state"] != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let events: Vec<String> =
        app.state.store.rotation_events(&id, 0).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(events.iter().filter(|k| *k == "batch_healthy").count(), 2, "{events:?}");

    let kc = client(&cluster).await;
    for (kind, name) in rts {
        let cr = get(&kc, kind, "mixed", name).await.unwrap();
        for w in fluid_workloads(&cr) {
            let (wk, wn) = (w["kind"].as_str().unwrap(), w["metadata"]["name"].as_str().unwrap());
            let live = get(&kc, wk, "mixed", wn).await.unwrap();
            assert_eq!(names(&live["spec"]["template"]["spec"]["imagePullSecrets"]), ["global-secret-v2"], "{wk} {wn}");
            let managers = live["metadata"]["managedFields"].as_array().unwrap();
            let mine: Vec<&Value> = managers.iter().filter(|m| m["manager"] == "fluidform").collect();
            assert_eq!(mine.len(), 1, "{wn}: {managers:?}");
            let owned = &mine[0]["fieldsV1"];
            let keys = |v: &Value| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
            assert_eq!(keys(owned), ["f:spec"], "{wn}: {owned}");
            assert_eq!(keys(&owned["f:spec"]), ["f:template"], "{wn}: {owned}");
            assert_eq!(keys(&owned["f:spec"]["f:template"]), ["f:spec"], "{wn}: {owned}");
            assert_eq!(
                keys(&owned["f:spec"]["f:template"]["f:spec"]),
                ["f:imagePullSecrets"],
                "{wn}: fluidform owns the pull-secret list and nothing else"
            );
            let helm =
                managers.iter().find(|m| m["manager"] == "ddc-helm").expect("the stand-in's fields stay its own");
            assert_eq!(helm["operation"], "Update");
            assert!(helm["fieldsV1"].to_string().contains("f:containers"), "{wn}: {helm}");
        }
    }
    let pods = crate::support::live::pod_pull_secrets(&cluster, "mixed").await;
    assert!(pods.len() >= 6, "{pods:?}");
    for (pod, secrets) in pods {
        assert_eq!(secrets, ["global-secret-v2"], "pod {pod}");
    }
    assert!(get(&kc, "Secret", "mixed", "global-secret-v1").await.is_none(), "v1 pruned");
    let cr = get(&kc, "ThinRuntime", "mixed", "t1").await.unwrap();
    assert!(cr["spec"].get("master").is_none());
    assert_eq!(names(&cr["spec"]["fuse"]["imagePullSecrets"]), ["global-secret-v2"]);
}

#[actix_web::test]
async fn sigkill_mid_batch_in_a_fluid_cluster_resumes_without_skipping_or_repeating() {
    use crate::support::daemon::Daemon;
    const TOKEN: &str = "fluid-restart-admin-token-7";
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    install_crds(&cluster, &fluidform::domain::crd::crds()).await;
    let _fluid = stand_in(&cluster, &["fleet"]).await;
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("daemon.log"));
    let d = Daemon::start(&data, &log, Some(TOKEN));
    let ok = |d: &Daemon, method: &str, path: &str, body: Value| {
        let (status, v) = d.call(TOKEN, method, path, Some(&body));
        assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
        v
    };
    let poll = |d: &Daemon, path: &str, secs: u64, done: &dyn Fn(&Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (_, v) = d.call(TOKEN, "GET", path, None);
            if done(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{path} did not get there: {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    ok(&d, "PUT", "/v1/clusters/k", json!({"kubeconfig": cluster.kubeconfig}));
    ok(&d, "PUT", "/v1/credentials/global-secret", json!({"registry": "r", "username": "u", "password": "v1"}));
    let names = ["rt0", "rt1"];
    for n in names {
        let mut rt = alluxio(n);
        for c in ["master", "worker", "fuse"] {
            rt["spec"][c] = json!({"networkMode": "ContainerNetwork"});
        }
        ok(&d, "PUT", &format!("/v1/runtimes/fleet/{n}?cluster=k"), rt);
    }
    label_nodes_for(&cluster, &names.map(|n| ("fleet", n))).await;
    let p = ok(&d, "POST", "/v1/plans", json!({"all": true, "createNamespaces": true, "refresh": true}));
    assert!(p["summary"]["byKind"]["AlluxioRuntime"]["create"] == 2, "the probe-less refresh found Fluid: {p}");
    let run = ok(&d, "POST", &format!("/v1/plans/{}/apply", p["id"].as_str().unwrap()), json!({}));
    poll(&d, &format!("/v1/runs/{}", run["id"].as_str().unwrap()), 60, &|r| r["status"] == "succeeded");
    wait_fluid_rolled_out(&cluster, "fleet", &[("AlluxioRuntime", "rt0"), ("AlluxioRuntime", "rt1")]).await;
    ok(
        &d,
        "POST",
        "/v1/credentials/global-secret/versions",
        json!({"registry": "r", "username": "u", "password": "v2"}),
    );
    let rot = ok(
        &d,
        "POST",
        "/v1/rotations",
        json!({"verify": false, "credential": "global-secret", "batches": [1, "100%"], "healthTimeout": 120}),
    );
    let id = rot["id"].as_str().unwrap().to_string();
    poll(&d, &format!("/v1/rotations/{id}"), 120, &|r| r["batches"][1]["state"] == "restarting");
    d.kill9();

    let d = Daemon::start(&data, &log, Some(TOKEN));
    let done = poll(&d, &format!("/v1/rotations/{id}"), 180, &|r| r["state"] != "running");
    assert_eq!(done["state"], "succeeded", "{done}");
    let (_, stream) =
        crate::support::daemon::http(&d.addr, "GET", &format!("/v1/rotations/{id}/events"), Some(TOKEN), None).unwrap();
    let kinds: Vec<&str> = stream.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    for event in ["batch_started", "batch_restarting", "batch_healthy"] {
        assert_eq!(kinds.iter().filter(|k| **k == event).count(), 2, "{event} once per batch: {kinds:?}");
    }
    for (pod, secrets) in crate::support::live::pod_pull_secrets(&cluster, "fleet").await {
        assert_eq!(secrets, ["global-secret-v2"], "pod {pod}");
    }
    let kc = client(&cluster).await;
    assert!(get(&kc, "Secret", "fleet", "global-secret-v1").await.is_none(), "v1 pruned");
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(log_text.matches("fluidform serving").count(), 2, "the daemon really restarted");
}
