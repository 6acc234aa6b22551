//! Helpers for tests against a real API server: register a `TestCluster` with the app, make
//! and apply plans, wait for runs, and read live objects with a kube client of the test's own.

use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

use super::app::TestApp;
use super::cluster::TestCluster;

/// Registers `cluster` under `name` with its admin kubeconfig, as a standalone cluster
/// (fluidform renders the workloads).
pub async fn register(app: &TestApp, name: &str, cluster: &TestCluster, defaults: &[&str]) {
    register_as(app, name, cluster, defaults, "standalone").await;
}

/// Registers `cluster` under `name` with its admin kubeconfig and `mode`.
pub async fn register_as(app: &TestApp, name: &str, cluster: &TestCluster, defaults: &[&str], mode: &str) {
    let r = app
        .put(
            &format!("/v1/clusters/{name}"),
            json!({"kubeconfig": cluster.kubeconfig, "defaultImagePullSecrets": defaults, "mode": mode}),
        )
        .await;
    assert!(r.status.is_success(), "register {name}: {}", r.text());
}

/// Makes a plan; panics unless 201.
pub async fn plan(app: &TestApp, body: Value) -> Value {
    let r = app.post("/v1/plans", body).await;
    assert_eq!(r.status, 201, "plan: {}", r.text());
    r.json()
}

/// Polls a run until it ends.
pub async fn wait_run(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let run = app.get(&format!("/v1/runs/{id}")).await.json();
        let status = run["status"].as_str().unwrap_or_default().to_string();
        if status == "succeeded" || status == "failed" {
            return run;
        }
        assert!(Instant::now() < deadline, "run {id} did not finish: {run}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Applies a plan and waits for its run; returns the finished run.
pub async fn apply(app: &TestApp, plan_id: &str) -> Value {
    let r = app.post(&format!("/v1/plans/{plan_id}/apply"), json!({})).await;
    assert_eq!(r.status, 202, "apply: {}", r.text());
    wait_run(app, r.json()["id"].as_str().unwrap()).await
}

/// Plans with refresh and applies; asserts the run succeeded.
pub async fn converge(app: &TestApp, scope: Value) -> (Value, Value) {
    let mut body = scope;
    body["refresh"] = json!(true);
    body["createNamespaces"] = json!(true);
    let p = plan(app, body).await;
    let run = apply(app, p["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "run: {run}");
    (p, run)
}

pub fn actions(plan: &Value) -> Vec<(String, String, String)> {
    plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["action"] != "no-op")
        .map(|o| {
            (
                o["action"].as_str().unwrap().into(),
                o["kind"].as_str().unwrap().into(),
                o["name"].as_str().unwrap().into(),
            )
        })
        .collect()
}

pub async fn client(cluster: &TestCluster) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(&cluster.kubeconfig).expect("kubeconfig parses");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
    kube::Client::try_from(cfg).expect("client")
}

pub fn api(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    ns: &str,
) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), ns, &ar)
}

pub async fn get(client: &kube::Client, kind: &str, ns: &str, name: &str) -> Option<Value> {
    let a = kind_api(client, kind, ns);
    a.get_opt(name).await.expect("live read").map(|o| serde_json::to_value(o).unwrap())
}

/// The API of any kind fluidform knows (`domain::kinds`), in `ns` (ignored when cluster-scoped).
pub fn kind_api(client: &kube::Client, kind: &str, ns: &str) -> Api<DynamicObject> {
    let info = fluidform::domain::kinds::Kind::parse(kind).unwrap_or_else(|| panic!("kind {kind}")).info();
    let (group, version) = info.api_version.split_once('/').unwrap_or(("", info.api_version));
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, info.name), info.plural);
    if info.namespaced { Api::namespaced_with(client.clone(), ns, &ar) } else { Api::all_with(client.clone(), &ar) }
}

/// Labels every node so the fuse DaemonSets of these runtimes (`namespace/name`) land.
pub async fn label_nodes_for(cluster: &TestCluster, runtimes: &[(&str, &str)]) {
    let kc = client(cluster).await;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(kc);
    let labels: serde_json::Map<String, Value> =
        runtimes.iter().map(|(ns, n)| (format!("fluid.io/f-{ns}-{n}"), json!("true"))).collect();
    for node in &cluster.nodes {
        let patch = json!({"metadata": {"labels": labels}});
        nodes
            .patch(node, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
            .await
            .expect("label node");
    }
}

/// Marks every fake node unschedulable (or schedulable again): pods replaced from now on
/// stay Pending.
pub async fn cordon(cluster: &TestCluster, unschedulable: bool) {
    let kc = client(cluster).await;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(kc);
    for node in &cluster.nodes {
        let patch = json!({"spec": {"unschedulable": unschedulable}});
        nodes
            .patch(node, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
            .await
            .expect("cordon node");
    }
}

/// Waits until the master, worker and fuse of each runtime have rolled out.
pub async fn wait_rolled_out(cluster: &TestCluster, ns: &str, runtimes: &[&str]) {
    let kc = client(cluster).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    for rt in runtimes {
        for (kind, name) in [
            ("StatefulSet", format!("{rt}-master")),
            ("StatefulSet", format!("{rt}-worker")),
            ("DaemonSet", format!("{rt}-fuse")),
        ] {
            loop {
                let obj = get(&kc, kind, ns, &name).await;
                let k = fluidform::domain::kinds::Kind::parse(kind).expect("a workload kind");
                let w = obj.as_ref().and_then(|o| fluidform::k8s::workload_of_value(k, ns, o));
                match w.as_ref().map(fluidform::domain::rollout::health) {
                    Some(Ok(())) => break,
                    other => assert!(Instant::now() < deadline, "{kind} {ns}/{name} did not roll out: {other:?}"),
                }
                actix_web::rt::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Live pods of a namespace with the Secrets they pull with.
pub async fn pod_pull_secrets(cluster: &TestCluster, ns: &str) -> Vec<(String, Vec<String>)> {
    let kc = client(cluster).await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(kc, ns);
    let list = pods.list(&Default::default()).await.expect("list pods");
    list.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let secrets =
                p.spec.and_then(|s| s.image_pull_secrets).unwrap_or_default().into_iter().map(|s| s.name).collect();
            (p.metadata.name.unwrap_or_default(), secrets)
        })
        .collect()
}

/// Polls a rotation until `done` says so (or panics after `secs`).
pub async fn wait_rotation(app: &TestApp, id: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = app.get(&format!("/v1/rotations/{id}")).await.json();
        if done(&r) {
            return r;
        }
        if Instant::now() >= deadline {
            let events: Vec<fluidform::api::wire::rotations::RotationEvent> =
                app.state.store.rotation_events(id, 0).await.unwrap().into_iter().map(Into::into).collect();
            let mut runs = Vec::new();
            for b in r["batches"].as_array().into_iter().flatten() {
                if let Some(run) = b["runId"].as_str() {
                    runs.push(app.get(&format!("/v1/runs/{run}")).await.text());
                }
            }
            panic!(
                "rotation did not get there: {r}\nevents: {}\nruns: {runs:?}",
                serde_json::to_string(&events).unwrap()
            );
        }
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}
