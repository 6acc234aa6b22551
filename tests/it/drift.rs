//! Drift and failure against a real kube-apiserver: changes behind fluidform's back are
//! reported (and healed under `auto`), other managers' fields are left alone, an API server
//! lost mid-apply fails the run honestly, and a restart marks an interrupted run failed.

use std::sync::{Arc, Mutex};

use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::support::app::{TestApp, runtime_json};
use crate::support::cluster::TestCluster;
use crate::support::live::{actions, api, apply, client, converge, get, plan, register, wait_run};

async fn scale_behind_fluidform(kc: &kube::Client, ns: &str, name: &str, replicas: i64) {
    let sts = api(kc, "apps", "v1", "StatefulSet", "statefulsets", ns);
    let patch = json!({"spec": {"replicas": replicas}, "metadata": {"annotations": {"team.example/owner": "ops"}}});
    sts.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patched behind fluidform's back");
}

#[actix_web::test]
async fn drift_is_reported_under_manual_and_healed_under_auto() {
    let cluster = TestCluster::start().await.expect("cluster starts");
    let app = TestApp::start().await;
    register(&app, "c1", &cluster, &[]).await;
    let mut manual = runtime_json("manual", None, None, None, None);
    manual["spec"]["replicas"] = json!(2);
    let mut auto = runtime_json("auto", None, None, None, None);
    auto["spec"]["replicas"] = json!(2);
    auto["metadata"]["annotations"] = json!({"fluidform.io/sync-policy": "auto"});
    assert_eq!(app.put("/v1/runtimes/drift/manual?cluster=c1", manual).await.status, 201);
    assert_eq!(app.put("/v1/runtimes/drift/auto?cluster=c1", auto).await.status, 201);
    converge(&app, json!({"all": true})).await;
    let kc = client(&cluster).await;
    scale_behind_fluidform(&kc, "drift", "manual-worker", 5).await;
    scale_behind_fluidform(&kc, "drift", "auto-worker", 5).await;

    let runs = fluidform::engine::drift::drift_pass(&app.state.ctx).await.expect("drift pass");
    assert_eq!(runs.len(), 1, "only the auto runtime is healed");
    let healed = wait_run(&app, &runs[0]).await;
    assert_eq!(healed["status"], "succeeded", "{healed}");
    assert_eq!(healed["actor"], "fluidform-drift");

    let m = app.get("/v1/runtimes/drift/manual").await.json();
    assert_eq!(m["status"]["sync"], "drifted", "{m}");
    assert_eq!(
        m["status"]["drift"],
        json!([{"kind": "StatefulSet", "name": "manual-worker", "path": "spec.replicas", "applied": 2, "live": 5}])
    );
    let live_manual = get(&kc, "StatefulSet", "drift", "manual-worker").await.unwrap();
    assert_eq!(live_manual["spec"]["replicas"], 5, "manual policy only reports");
    let live_auto = get(&kc, "StatefulSet", "drift", "auto-worker").await.unwrap();
    assert_eq!(live_auto["spec"]["replicas"], 2, "auto policy put it back");
    assert_eq!(
        live_auto["metadata"]["annotations"]["team.example/owner"], "ops",
        "fields fluidform does not manage are left alone"
    );

    // A refreshing plan for the manual runtime shows the drift as the reason.
    let p = plan(&app, json!({"runtimes": ["drift/manual"], "refresh": true})).await;
    let o = p["objects"].as_array().unwrap().iter().find(|o| o["action"] == "update").unwrap().clone();
    assert_eq!(o["reasons"], json!(["drift"]));
    assert_eq!(o["diff"], json!([{"path": "spec.replicas", "before": 5, "after": 2}]));
    apply(&app, p["id"].as_str().unwrap()).await;
    fluidform::engine::drift::drift_pass(&app.state.ctx).await.unwrap();
    assert_eq!(app.get("/v1/runtimes/drift/manual").await.json()["status"]["sync"], "in_sync");
    assert_eq!(app.get("/v1/runtimes/drift/auto").await.json()["status"]["sync"], "in_sync");
}

#[actix_web::test]
#[allow(clippy::await_holding_lock)]
async fn api_server_lost_mid_apply_fails_the_run_and_the_next_plan_converges() {
    let cluster = Arc::new(Mutex::new(TestCluster::start().await.expect("cluster starts")));
    let stopper = cluster.clone();
    // The API server goes away right after the second object is applied.
    let proxy = crate::support::faults::AfterApplies {
        inner: Arc::new(fluidform::k8s::KubeClusters::new()),
        n: 2,
        trigger: Arc::new(move || stopper.lock().unwrap().stop_apiserver()),
        applied: Default::default(),
    };
    let app = TestApp::start_with(Some(Arc::new(proxy))).await;
    let kubeconfig = cluster.lock().unwrap().kubeconfig.clone();
    // One object at a time, so which objects were sent is deterministic.
    let r = app
        .put("/v1/clusters/c1", json!({"kubeconfig": kubeconfig, "applyConcurrency": 1, "mode": "standalone"}))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        app.put("/v1/runtimes/default/lost?cluster=c1", runtime_json("lost", None, None, None, None)).await.status,
        201
    );
    let p = plan(&app, json!({"runtimes": ["default/lost"]})).await;
    let run = apply(&app, p["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(error.contains("cluster \"c1\""), "{error}");
    let statuses: Vec<_> = run["objects"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(&statuses[..3], ["applied", "applied", "failed"], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == "skipped"), "{statuses:?}");
    assert!(run["objects"][2]["error"].as_str().unwrap().len() > 10, "the API error is recorded");
    assert_eq!(app.get("/v1/runtimes/default/lost").await.json()["status"]["sync"], "failed");

    // No run is executing now, so the hook cannot contend for the lock while it is held.
    cluster.lock().unwrap().restart_apiserver().await.expect("apiserver back");
    // Only what the server accepted was recorded: the next plan creates the rest.
    let next = plan(&app, json!({"runtimes": ["default/lost"], "refresh": true})).await;
    let creates = actions(&next).len();
    assert_eq!(creates, statuses.len() - 2, "{:?}", actions(&next));
    let done = apply(&app, next["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(app.get("/v1/runtimes/default/lost").await.json()["status"]["sync"], "in_sync");
}

#[actix_web::test]
async fn a_restart_marks_interrupted_runs_failed_and_frees_their_locks() {
    use fluidform::domain::states::ObjectStatus;
    use fluidform::store::runs::{NewRun, RunObject};
    let cluster = TestCluster::start().await.expect("cluster starts");
    let app = TestApp::start().await;
    register(&app, "c1", &cluster, &[]).await;
    assert_eq!(
        app.put("/v1/runtimes/default/r1?cluster=c1", runtime_json("r1", None, None, None, None)).await.status,
        201
    );
    let p = plan(&app, json!({"runtimes": ["default/r1"]})).await;
    // The state a process killed mid-run leaves behind: run running, lock held, one object
    // sent (applying), the rest pending.
    let object = |seq: i64, kind: &str, name: &str| RunObject {
        seq,
        cluster: "c1".into(),
        namespace: "default".into(),
        api_version: "v1".into(),
        kind: kind.into(),
        name: name.into(),
        action: "create".into(),
        status: ObjectStatus::Pending,
        error: None,
        started_at: None,
        finished_at: None,
    };
    let store = &app.state.store;
    let refused = store
        .create_run(NewRun {
            run_id: "run-killed",
            plan_id: p["id"].as_str().unwrap(),
            actor: "admin",
            // An earlier process of this replica (named after the host and pid by default).
            holder: &format!(
                "{}-{}/old-process",
                std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim(),
                std::process::id()
            ),
            locks: &["runtime:default:r1".to_string()],
            lease: chrono::Duration::seconds(600),
            objects: &[object(0, "ConfigMap", "r1-config"), object(1, "Service", "r1-master-0")],
            owner: None,
        })
        .await
        .unwrap();
    assert!(refused.is_ok());
    store.mark_run_running("run-killed").await.unwrap();
    store.mark_applying("run-killed", &[0]).await.unwrap();
    assert_eq!(app.get("/v1/locks").await.json()["items"][0]["runId"], "run-killed");

    let TestApp { dir, .. } = app;
    let app = TestApp::start_in(dir, None).await;
    let run = app.get("/v1/runs/run-killed").await.json();
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error"], "interrupted by a daemon restart");
    assert_eq!(run["objects"][0]["status"], "unknown", "sent but unconfirmed");
    assert_eq!(run["objects"][1]["status"], "skipped");
    assert_eq!(app.get("/v1/locks").await.json()["items"], json!([]));
    app.post(&format!("/v1/plans/{}/apply", p["id"].as_str().unwrap()), json!({}))
        .await
        .problem(409, "plan_already_applied");
    converge(&app, json!({"runtimes": ["default/r1"]})).await;
    let kc = client(&cluster).await;
    assert!(get(&kc, "StatefulSet", "default", "r1-master").await.is_some());
}

#[actix_web::test]
async fn probe_reports_auth_tls_and_network_failures() {
    let cluster = TestCluster::start().await.expect("cluster starts");
    let app = TestApp::start().await;
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(&cluster.ca_pem);
    let r = app
        .put("/v1/clusters/limited", json!({"server": cluster.server, "caData": ca, "token": cluster.limited_token}))
        .await;
    assert_eq!(r.status, 201);
    let probe = app.post("/v1/clusters/limited/probe", json!({})).await;
    assert_eq!(probe.status, 200, "{}", probe.text());
    assert_eq!(probe.json()["canManage"], false, "a user without RBAC grants cannot manage objects");
    let r = app.put("/v1/clusters/bad-token", json!({"server": cluster.server, "caData": ca, "token": "wrong"})).await;
    assert_eq!(r.status, 201);
    app.post("/v1/clusters/bad-token/probe", json!({})).await.problem(502, "cluster_auth");
    let other_ca = base64::engine::general_purpose::STANDARD.encode(&cluster.client_cert_pem);
    let r = app
        .put("/v1/clusters/bad-ca", json!({"server": cluster.server, "caData": other_ca, "token": cluster.admin_token}))
        .await;
    assert_eq!(r.status, 201);
    app.post("/v1/clusters/bad-ca/probe", json!({})).await.problem(502, "cluster_tls");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let r = app
        .put("/v1/clusters/down", json!({"server": format!("https://127.0.0.1:{port}"), "caData": ca, "token": "t"}))
        .await;
    assert_eq!(r.status, 201);
    app.post("/v1/clusters/down/probe", json!({})).await.problem(502, "cluster_unreachable");
    app.post("/v1/clusters/nope/probe", json!({})).await.problem(404, "not_found");
}
