//! Staged credential rotation against real control planes with kwok nodes: batches in
//! order with pods really restarted, the manual gate, an unhealthy batch rolled back,
//! commands, and conflicts.

use serde_json::{Value, json};

use crate::support::app::{TestApp, runtime_json};
use crate::support::cluster::TestCluster;
use crate::support::live::{converge, label_nodes_for, pod_pull_secrets, register, wait_rolled_out, wait_rotation};

/// A runtime pulling with `global-secret` whose pods use the container network, so many
/// runtimes fit on one fake node (host network would make their ports collide).
fn fleet_runtime(name: &str) -> Value {
    let mut rt = runtime_json(name, Some(&["global-secret"]), None, None, None);
    for c in ["master", "worker", "fuse"] {
        rt["spec"][c] = json!({"networkMode": "ContainerNetwork"});
    }
    rt
}

/// Registers the clusters, creates `global-secret` v1, puts `per` runtimes on each cluster
/// in namespace `fleet`, applies them, waits for their pods, then adds version 2.
async fn fleet(app: &TestApp, clusters: &[(&str, &TestCluster)], per: usize) -> Vec<(String, String)> {
    app.credential("global-secret", "fleet-v1").await;
    let mut all = Vec::new();
    let mut placed = Vec::new();
    for (cname, cluster) in clusters {
        let names: Vec<String> = (0..per).map(|i| format!("{cname}-rt{i}")).collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| ("fleet", n.as_str())).collect();
        place(app, cname, cluster, &pairs).await;
        all.extend(names.iter().map(|n| (cname.to_string(), n.clone())));
        placed.extend(names.into_iter().map(|n| (*cluster, "fleet".to_string(), n)));
    }
    roll_out_then_v2(app, &placed).await;
    all
}

/// Registers `cname` and stores a fleet runtime with its Dataset at each (namespace, name)
/// of `placed`, with nodes labelled for their fuse.
async fn place(app: &TestApp, cname: &str, cluster: &TestCluster, placed: &[(&str, &str)]) {
    register(app, cname, cluster, &[]).await;
    for (ns, n) in placed {
        let r = app.put(&format!("/v1/runtimes/{ns}/{n}?cluster={cname}"), fleet_runtime(n)).await;
        assert_eq!(r.status, 201, "{}", r.text());
        app.shared_dataset(ns, n, cname).await;
    }
    label_nodes_for(cluster, placed).await;
}

/// Applies every runtime, waits for `placed` (cluster, namespace, name) to roll out, then
/// adds `global-secret` v2.
async fn roll_out_then_v2(app: &TestApp, placed: &[(&TestCluster, String, String)]) {
    converge(app, json!({"all": true})).await;
    for (cluster, ns, n) in placed {
        wait_rolled_out(cluster, ns, &[n.as_str()]).await;
    }
    let v2 = app
        .post(
            "/v1/credentials/global-secret/versions",
            json!({"registry": "registry.example.com", "username": "puller", "password": "fleet-v2"}),
        )
        .await;
    assert_eq!(v2.status, 201);
}

/// Starts the rotation `req` (201) and the driver; returns the rotation's id.
async fn start_driven(app: &TestApp, req: Value) -> String {
    let started = app.post("/v1/rotations", req).await;
    assert_eq!(started.status, 201, "{}", started.text());
    fluidform::engine::rotation::spawn_rotation_driver(&app.state.ctx);
    started.json()["id"].as_str().unwrap().to_string()
}

fn events(app_events: &Value) -> Vec<(String, Option<i64>)> {
    app_events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_string(), e["batch"].as_i64()))
        .collect()
}

/// Rotation events as the API streams them.
fn wire_events(
    evs: Vec<fluidform::store::rotations::RotationEvent>,
) -> Vec<fluidform::api::wire::rotations::RotationEvent> {
    evs.into_iter().map(Into::into).collect()
}

async fn event_list(app: &TestApp, id: &str) -> Vec<(String, Option<i64>)> {
    let store = &app.state.store;
    let evs = store.rotation_events(id, 0).await.unwrap();
    events(&serde_json::to_value(wire_events(evs)).unwrap())
}

#[actix_web::test]
async fn three_clusters_rotate_in_batch_order_and_the_old_version_is_pruned() {
    let (a, b, c) = (
        TestCluster::start_with_nodes(2).await.expect("a"),
        TestCluster::start_with_nodes(2).await.expect("b"),
        TestCluster::start_with_nodes(2).await.expect("c"),
    );
    let app = TestApp::start().await;
    let all = fleet(&app, &[("a", &a), ("b", &b), ("c", &c)], 4).await;
    let req = json!({"verify": false, "credential": "global-secret", "batches": [1, "50%", "100%"], "gate": "auto", "healthTimeout": "120s"});

    let preview = app.post("/v1/rotations/preview", req.clone()).await;
    assert_eq!(preview.status, 200, "{}", preview.text());
    let pv = preview.json();
    assert_eq!(pv["toVersion"], 2, "defaults to the pending version");
    let sizes: Vec<usize> = pv["batches"].as_array().unwrap().iter().map(|b| b.as_array().unwrap().len()).collect();
    assert_eq!(sizes, [1, 5, 6]);
    assert_eq!(pv["clusters"].as_array().unwrap().len(), 3);
    // 12 runtimes × (1 master + 1 worker + 2 fuse pods).
    assert_eq!(pv["podsToRestart"], 48, "{pv}");
    assert_eq!(pv["skipped"], json!([]));

    let id = start_driven(&app, req).await;
    let done = wait_rotation(&app, &id, 400, |r| r["state"] != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");

    // The recorded timeline: each batch started once, after the previous one was healthy.
    let timeline: Vec<(String, Option<i64>)> =
        event_list(&app, &id).await.into_iter().filter(|(k, _)| k == "batch_started" || k == "batch_healthy").collect();
    let expect: Vec<(String, Option<i64>)> =
        (0..3).flat_map(|i| [("batch_started".to_string(), Some(i)), ("batch_healthy".to_string(), Some(i))]).collect();
    assert_eq!(timeline, expect);

    // Every workload and every live pod pulls with the new version's Secret.
    for (cluster, name) in [("a", &a), ("b", &b), ("c", &c)] {
        for (pod, secrets) in pod_pull_secrets(name, "fleet").await {
            assert_eq!(secrets, ["global-secret-v2"], "pod {pod} on {cluster}");
        }
        let kc = crate::support::live::client(name).await;
        assert!(
            crate::support::live::get(&kc, "Secret", "fleet", "global-secret-v1").await.is_none(),
            "v1 pruned on {cluster}"
        );
        assert!(crate::support::live::get(&kc, "Secret", "fleet", "global-secret-v2").await.is_some());
    }
    for (_, n) in &all {
        let res = app.get(&format!("/v1/runtimes/fleet/{n}/resolved")).await.json();
        assert_eq!(res["bindings"], json!({"global-secret": 2}));
    }
    let versions = app.get("/v1/credentials/global-secret/versions").await.json();
    assert_eq!(versions["items"][0]["stages"], json!(["previous"]));
    assert_eq!(versions["items"][0]["safeToRevoke"], true, "{versions}");
    assert_eq!(versions["items"][1]["stages"], json!(["current"]));
    assert_eq!(versions["items"][1]["safeToRevoke"], false);
    assert_eq!(app.get("/v1/locks").await.json()["items"], json!([]));
}

#[actix_web::test]
async fn manual_gate_waits_for_approval() {
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let app = TestApp::start().await;
    fleet(&app, &[("m", &cluster)], 2).await;
    let req = json!({"verify": false, "credential": "global-secret", "batches": [1, "100%"], "gate": "manual", "components": ["fuse", "worker", "master"]});
    let id = start_driven(&app, req).await;
    let waiting = wait_rotation(&app, &id, 120, |r| r["state"] == "waiting_approval").await;
    assert_eq!(waiting["batches"][0]["state"], "healthy");
    actix_web::rt::time::sleep(std::time::Duration::from_secs(2)).await;
    let still = app.get(&format!("/v1/rotations/{id}")).await.json();
    assert_eq!(still["state"], "waiting_approval");
    assert_eq!(still["batches"][1]["state"], "pending", "nothing moves before approval");
    let approved = app.post(&format!("/v1/rotations/{id}/approve"), json!({})).await;
    assert_eq!(approved.status, 200);
    app.post(&format!("/v1/rotations/{id}/approve"), json!({})).await.problem(409, "not_waiting_approval");
    let done = wait_rotation(&app, &id, 120, |r| r["state"] == "succeeded").await;
    assert_eq!(done["batches"][1]["state"], "healthy");
}

#[actix_web::test]
async fn an_unhealthy_batch_stops_the_rotation_and_rolls_back() {
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let app = TestApp::start().await;
    app.credential("global-secret", "v1").await;
    register(&app, "u", &cluster, &[]).await;
    // "a-bad" sorts first, so it is batch 0; once the rotation starts, its replacement
    // pods can never be scheduled (the node is cordoned): the batch itself made it unhealthy.
    for n in ["a-bad", "b-ok", "c-ok"] {
        assert_eq!(app.put(&format!("/v1/runtimes/fleet/{n}?cluster=u"), fleet_runtime(n)).await.status, 201);
        app.shared_dataset("fleet", n, "u").await;
    }
    label_nodes_for(&cluster, &[("fleet", "a-bad"), ("fleet", "b-ok"), ("fleet", "c-ok")]).await;
    converge(&app, json!({"all": true})).await;
    wait_rolled_out(&cluster, "fleet", &["a-bad", "b-ok", "c-ok"]).await;
    assert_eq!(
        app.post("/v1/credentials/global-secret/versions", json!({"registry": "r", "username": "u", "password": "v2"}))
            .await
            .status,
        201
    );

    let req = json!({"verify": false, "credential": "global-secret", "batches": [1, "100%"], "healthTimeout": 6, "onFailure": "rollback"});
    let r = app.post("/v1/rotations", req).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    crate::support::live::cordon(&cluster, true).await;
    let t0 = std::time::Instant::now();
    fluidform::engine::rotation::spawn_rotation_driver(&app.state.ctx);
    let failed = wait_rotation(&app, &id, 120, |r| r["state"] != "running").await;
    assert_eq!(failed["state"], "rolling_back", "{failed}");
    let waiting = failed["batches"][0]["error"].as_str().unwrap().to_string();
    assert!(waiting.contains("a-bad-master"), "the error names what it waited for: {waiting}");
    crate::support::live::cordon(&cluster, false).await;
    let done = wait_rotation(&app, &id, 120, |r| r["state"] == "rolled_back").await;
    assert!(t0.elapsed().as_secs() < 60, "stopped soon after the health timeout");
    assert!(done["error"].as_str().unwrap_or_default().contains("not healthy within 6s"), "{done}");
    assert_eq!(done["batches"][0]["state"], "failed");
    assert!(done["batches"][0]["error"].as_str().unwrap().contains("not healthy within 6s"), "{done}");
    assert_eq!(done["batches"][1]["state"], "pending", "later batches untouched");
    for n in ["a-bad", "b-ok", "c-ok"] {
        let res = app.get(&format!("/v1/runtimes/fleet/{n}/resolved")).await.json();
        assert_eq!(res["bindings"], json!({"global-secret": 1}), "{n}");
    }
    let kc = crate::support::live::client(&cluster).await;
    let worker = crate::support::live::get(&kc, "StatefulSet", "fleet", "a-bad-worker").await.unwrap();
    assert_eq!(
        worker["spec"]["template"]["spec"]["imagePullSecrets"],
        json!([{"name": "global-secret-v1"}]),
        "live object restored"
    );
    let untouched = crate::support::live::get(&kc, "StatefulSet", "fleet", "c-ok-worker").await.unwrap();
    assert_eq!(untouched["metadata"]["generation"], 1, "a later batch's runtime was never changed");
    let kinds: Vec<String> = event_list(&app, &id).await.into_iter().map(|(k, _)| k).collect();
    assert!(
        kinds.contains(&"batch_failed".to_string()) && kinds.contains(&"rollback_started".to_string()),
        "{kinds:?}"
    );
}

#[actix_web::test]
async fn commands_conflicts_and_locked_runtimes() {
    let cluster = TestCluster::start().await.expect("cluster");
    let app = TestApp::start().await;
    app.credential("global-secret", "v1").await;
    register(&app, "k", &cluster, &[]).await;
    for n in ["r1", "r2", "r3"] {
        let rt = runtime_json(n, Some(&["global-secret"]), None, None, None);
        assert_eq!(app.put(&format!("/v1/runtimes/ns/{n}?cluster=k"), rt).await.status, 201);
    }
    let other = runtime_json("r4", Some(&["other-secret"]), None, None, None);
    assert_eq!(app.put("/v1/runtimes/ns/r4?cluster=k", other).await.status, 201);
    assert_eq!(
        app.post("/v1/credentials/global-secret/versions", json!({"registry": "r", "username": "u", "password": "v2"}))
            .await
            .status,
        201
    );

    // A runtime locked by another run is reported by the preview and refuses the start.
    let store = &app.state.store;
    assert!(
        store
            .take_locks("run-elsewhere", "someone", &["runtime:ns:r2".into()], chrono::Duration::seconds(300))
            .await
            .unwrap()
            .is_none()
    );
    let req = json!({"verify": false, "credential": "global-secret", "batches": [1, "100%"], "gate": "manual"});
    let pv = app.post("/v1/rotations/preview", req.clone()).await.json();
    let skipped: Vec<(String, String)> = pv["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().into(), s["reason"].as_str().unwrap().into()))
        .collect();
    assert!(skipped.contains(&("r2".into(), "locked".into())), "{skipped:?}");
    assert!(skipped.contains(&("r4".into(), "not_referencing_credential".into())), "{skipped:?}");
    let p = app.post("/v1/rotations", req.clone()).await.problem(409, "runtime_locked");
    assert!(p["detail"].as_str().unwrap().contains("ns/r2"));
    store.release_locks("run-elsewhere").await.unwrap();

    // Validation names fields.
    let p = app
        .post("/v1/rotations", json!({"verify": false, "credential": "global-secret", "batches": ["0%"]}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(p["field"], "batches");
    let p = app
        .post("/v1/rotations", json!({"verify": false, "credential": "nope"}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(p["field"], "credential");
    let p = app
        .post("/v1/rotations", json!({"verify": false, "credential": "global-secret", "toVersion": 9}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(p["field"], "toVersion");

    // One active rotation per credential; commands act at once and are idempotent. No
    // driver runs in this test, so the state changes only through the commands.
    let r = app.post("/v1/rotations", req.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    app.post("/v1/rotations", req).await.problem(409, "rotation_active");
    let locks = app.get("/v1/locks").await.json();
    assert_eq!(locks["items"].as_array().unwrap().len(), 3, "the rotation holds its runtimes: {locks}");
    let plan = app.post("/v1/plans", json!({"runtimes": ["ns/r1"], "createNamespaces": true})).await.json();
    app.post(&format!("/v1/plans/{}/apply", plan["id"].as_str().unwrap()), json!({}))
        .await
        .problem(409, "runtime_locked");
    for (cmd, state) in
        [("pause", "paused"), ("pause", "paused"), ("resume", "running"), ("abort", "aborted"), ("abort", "aborted")]
    {
        let r = app.post(&format!("/v1/rotations/{id}/{cmd}"), json!({})).await;
        assert_eq!(r.status, 200, "{cmd}: {}", r.text());
        assert_eq!(r.json()["state"], state, "{cmd}");
    }
    app.post(&format!("/v1/rotations/{id}/resume"), json!({})).await.problem(409, "rotation_state");
    app.post(&format!("/v1/rotations/{id}/bogus"), json!({})).await.problem(404, "not_found");
    assert_eq!(app.get("/v1/locks").await.json()["items"], json!([]), "an aborted rotation frees its runtimes");
    let kinds: Vec<String> = event_list(&app, &id).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["started", "paused", "running", "aborted"]);
    // The event stream replays the timeline and ends with the rotation.
    let sse = app.get(&format!("/v1/rotations/{id}/events")).await;
    assert_eq!(sse.header("content-type").as_deref(), Some("text/event-stream"));
    let text = sse.text();
    assert!(text.contains("event: started") && text.contains("event: aborted"), "{text}");
    assert!(text.contains("id: 4\n"));
}

#[actix_web::test]
async fn a_layer_rotation_replaces_a_name_in_batches() {
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let app = TestApp::start().await;
    register(&app, "l", &cluster, &[]).await;
    let names = ["w0", "w1"];
    for n in names {
        let mut rt = fleet_runtime(n);
        rt["spec"]["worker"]["imagePullSecrets"] = json!([{"name": "worker-secret"}]);
        assert_eq!(app.put(&format!("/v1/runtimes/fleet/{n}?cluster=l"), rt).await.status, 201);
        app.shared_dataset("fleet", n, "l").await;
    }
    label_nodes_for(&cluster, &[("fleet", "w0"), ("fleet", "w1")]).await;
    converge(&app, json!({"all": true})).await;
    wait_rolled_out(&cluster, "fleet", &names).await;
    let kc = crate::support::live::client(&cluster).await;
    let master_uid = |p: Option<Value>| p.unwrap()["metadata"]["uid"].clone();
    let masters_before = [master_uid(
        crate::support::live::api(&kc, "", "v1", "Pod", "pods", "fleet")
            .get_opt("w0-master-0")
            .await
            .unwrap()
            .map(|p| serde_json::to_value(p).unwrap()),
    )];

    let req = json!({"layer": {"layer": "worker", "from": "worker-secret", "to": "worker-secret-2026"}, "batches": [1, "100%"]});
    let pv = app.post("/v1/rotations/preview", req.clone()).await.json();
    assert_eq!(pv["credential"], "layer:worker:worker-secret");
    assert_eq!(
        pv["clusters"][0]["runtimes"][0]["workloads"].as_array().unwrap().len(),
        1,
        "only the worker pulls with it: {pv}"
    );
    let r = app.post("/v1/rotations", req.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    app.post("/v1/rotations", req).await.problem(409, "rotation_active");
    let id = r.json()["id"].as_str().unwrap().to_string();
    fluidform::engine::rotation::spawn_rotation_driver(&app.state.ctx);
    let done = wait_rotation(&app, &id, 120, |r| r["state"] != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");

    for n in names {
        let res = app.get(&format!("/v1/runtimes/fleet/{n}/resolved")).await.json();
        assert_eq!(res["layers"]["worker"], json!(["worker-secret-2026"]), "{n}");
        let history = app.get(&format!("/v1/runtimes/fleet/{n}/layers/history")).await.json();
        let last = history["items"].as_array().unwrap().last().unwrap().clone();
        assert!(last["reason"].as_str().unwrap().contains(&id), "{last}");
        assert_eq!(
            last["layers"],
            json!([{"layer": "worker", "old": ["worker-secret"], "new": ["worker-secret-2026"]}])
        );
    }
    for (pod, secrets) in pod_pull_secrets(&cluster, "fleet").await {
        if pod.contains("worker") {
            assert_eq!(secrets, ["worker-secret-2026"], "{pod}");
        } else {
            assert_eq!(secrets, ["global-secret"], "{pod}");
        }
    }
    let after = master_uid(
        crate::support::live::api(&kc, "", "v1", "Pod", "pods", "fleet")
            .get_opt("w0-master-0")
            .await
            .unwrap()
            .map(|p| serde_json::to_value(p).unwrap()),
    );
    assert_eq!(masters_before[0], after, "master pods are not restarted by a worker-layer rotation");
}

/// Polls `f` over a live object until it holds (or panics after 60 s).
async fn wait_live(kc: &kube::Client, kind: &str, ns: &str, name: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let obj = crate::support::live::get(kc, kind, ns, name).await;
        if let Some(o) = obj.as_ref().filter(|o| f(o)) {
            return o.clone();
        }
        assert!(std::time::Instant::now() < deadline, "{kind} {ns}/{name} never got there: {obj:?}");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The operator's day from the rotations issue, on a real control plane with one kwok
/// node: a master that never fully schedules (three host-network replicas, one node) does
/// not hold up a rotation that does not touch it; a batch whose replacement pod cannot be
/// placed says which pod and why while it waits, pauses at its deadline, and after a
/// resume gets a fresh deadline and succeeds without the old error.
#[actix_web::test]
async fn gates_judge_what_the_batch_changed_and_waiting_says_why() {
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let app = TestApp::start().await;
    for c in ["global-secret", "master-secret", "worker-secret"] {
        app.credential(c, &format!("{c}-v1")).await;
    }
    register(&app, "o", &cluster, &[]).await;
    // A PATCH changes only what it names: the stored credential still reaches the server.
    let patch = actix_web::test::TestRequest::patch()
        .uri("/v1/clusters/o")
        .insert_header(("Authorization", format!("Bearer {}", crate::support::app::ADMIN)))
        .insert_header(("Content-Type", "application/merge-patch+json"))
        .set_payload(json!({"applyConcurrency": 4}).to_string());
    let patched = app.send(patch).await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(
        (patched.json()["applyConcurrency"].as_i64(), patched.json()["mode"].as_str()),
        (Some(4), Some("standalone"))
    );
    let probe = app.post("/v1/clusters/o/probe", json!({})).await;
    assert_eq!(probe.status, 200, "the kept credential works: {}", probe.text());
    let mut hb = runtime_json("hb", Some(&["global-secret"]), Some(&["master-secret"]), None, None);
    hb["spec"]["master"]["replicas"] = json!(3);
    assert_eq!(app.put("/v1/runtimes/ops/hb?cluster=o", hb).await.status, 201);
    app.shared_dataset("ops", "hb", "o").await;
    let mut ok = fleet_runtime("ok");
    ok["spec"]["worker"]["imagePullSecrets"] = json!([{"name": "worker-secret"}]);
    assert_eq!(app.put("/v1/runtimes/ops/ok?cluster=o", ok).await.status, 201);
    app.shared_dataset("ops", "ok", "o").await;
    label_nodes_for(&cluster, &[("ops", "hb"), ("ops", "ok")]).await;
    converge(&app, json!({"all": true})).await;
    wait_rolled_out(&cluster, "ops", &["ok"]).await;
    let kc = crate::support::live::client(&cluster).await;
    // Three masters on the host network of one node: one runs, the others never schedule.
    let master = wait_live(&kc, "StatefulSet", "ops", "hb-master", |o| {
        o["status"]["readyReplicas"] == 1 && o["status"]["replicas"].as_i64().unwrap_or(0) >= 2
    })
    .await;
    wait_live(&kc, "DaemonSet", "ops", "hb-fuse", |o| o["status"]["numberReady"] == 1).await;
    wait_live(&kc, "StatefulSet", "ops", "hb-worker", |o| o["status"]["readyReplicas"] == 1).await;

    // 1. Rotating global-secret changes worker and fuse of hb (its master has its own
    //    list) and nothing of ok (whose worker has its own list; master and fuse use the
    //    global one, so they do change).
    let v2 = json!({"registry": "r", "username": "u", "password": "global-v2"});
    assert_eq!(app.post("/v1/credentials/global-secret/versions", v2).await.status, 201);
    let req = json!({"verify": false, "credential": "global-secret", "batches": ["100%"], "healthTimeout": 60});
    let pv = app.post("/v1/rotations/preview", req.clone()).await.json();
    assert_eq!(pv["unhealthy"], json!([]), "the unhealthy master is not the rotation's business: {pv}");
    let id = start_driven(&app, req).await;
    let done = wait_rotation(&app, &id, 90, |r| r["state"] != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let after = crate::support::live::get(&kc, "StatefulSet", "ops", "hb-master").await.unwrap();
    assert_eq!(after["metadata"]["generation"], master["metadata"]["generation"], "the master was not touched");
    assert_eq!(after["status"]["readyReplicas"], 1, "and is as unhealthy as before");
    let worker = crate::support::live::get(&kc, "StatefulSet", "ops", "hb-worker").await.unwrap();
    assert_eq!(worker["spec"]["template"]["spec"]["imagePullSecrets"], json!([{"name": "global-secret-v2"}]));
    let untouched = crate::support::live::get(&kc, "StatefulSet", "ops", "ok-worker").await.unwrap();
    assert_eq!(untouched["metadata"]["generation"], 1, "ok's worker pulls with worker-secret only");

    // A rotation that would restart the unhealthy master is refused up front by default.
    let mv2 = json!({"registry": "r", "username": "u", "password": "master-v2"});
    assert_eq!(app.post("/v1/credentials/master-secret/versions", mv2).await.status, 201);
    let mreq = json!({"verify": false, "credential": "master-secret", "batches": ["100%"]});
    let pv = app.post("/v1/rotations/preview", mreq.clone()).await.json();
    let unhealthy = pv["unhealthy"].to_string();
    assert!(unhealthy.contains("hb-master"), "{pv}");
    let p = app.post("/v1/rotations", mreq).await.problem(422, "workloads_unhealthy");
    assert!(p["detail"].as_str().unwrap().contains("hb-master"), "{p}");

    // 2. The node is cordoned: ok's replacement worker pod cannot be placed. While the
    //    batch waits it names that pod and the scheduler's reason, with time left.
    let wv2 = json!({"registry": "r", "username": "u", "password": "worker-v2"});
    assert_eq!(app.post("/v1/credentials/worker-secret/versions", wv2).await.status, 201);
    crate::support::live::cordon(&cluster, true).await;
    let wreq = json!({"verify": false, "credential": "worker-secret", "batches": ["100%"], "healthTimeout": 8, "onFailure": "pause"});
    let r = app.post("/v1/rotations", wreq).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let wid = r.json()["id"].as_str().unwrap().to_string();
    let waiting = wait_rotation(&app, &wid, 60, |r| {
        r["waitingFor"].as_array().is_some_and(|w| w.iter().any(|w| !w["pending"].as_array().is_none_or(Vec::is_empty)))
    })
    .await;
    let w = &waiting["waitingFor"][0];
    assert_eq!((w["kind"].as_str(), w["name"].as_str()), (Some("StatefulSet"), Some("ok-worker")), "{waiting}");
    assert_eq!(w["pending"][0]["pod"], "ok-worker-0", "{waiting}");
    assert!(w["pending"][0]["reason"].as_str().unwrap().contains("unschedulable"), "the scheduler's words: {w}");
    assert!(waiting["secondsLeft"].as_i64().is_some_and(|s| (0..=8).contains(&s)), "{waiting}");
    let streamed = app.state.store.rotation_events(&wid, 0).await.unwrap();
    assert!(
        streamed.iter().any(|e| e.kind == "batch_waiting" && e.data.to_string().contains("unschedulable")),
        "waiting is streamed as events"
    );

    // 3. At the deadline the rotation pauses. Past the old deadline the node is fixed
    //    and the rotation resumed: the batch gets a fresh deadline and succeeds, and the
    //    success does not carry the pause's error.
    let paused = wait_rotation(&app, &wid, 60, |r| r["state"] == "paused").await;
    assert!(paused["error"].as_str().unwrap_or_default().contains("not healthy within 8s"), "{paused}");
    actix_web::rt::time::sleep(std::time::Duration::from_secs(3)).await;
    crate::support::live::cordon(&cluster, false).await;
    let resumed = app.post(&format!("/v1/rotations/{wid}/resume"), json!({})).await;
    assert_eq!(resumed.status, 200, "{}", resumed.text());
    let resumed = resumed.json();
    let old_deadline = paused["batches"][0]["deadlineAt"].as_str().unwrap().to_string();
    let new_deadline = resumed["batches"][0]["deadlineAt"].as_str().unwrap().to_string();
    assert!(new_deadline > old_deadline, "a fresh deadline: {old_deadline} then {new_deadline}");
    let done = wait_rotation(&app, &wid, 60, |r| r["state"] != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(done.get("error").is_none(), "no stale error: {done}");
    let kinds: Vec<String> = event_list(&app, &wid).await.into_iter().map(|(k, _)| k).collect();
    assert!(kinds.contains(&"paused".to_string()), "the history keeps the pause: {kinds:?}");
    // Nothing waits for approval now.
    app.post(&format!("/v1/rotations/{wid}/approve"), json!({})).await.problem(409, "not_waiting_approval");
}

/// Pods of a namespace being replaced now: terminating, or not yet Ready.
async fn restarting_pods(kc: &kube::Client, ns: &str) -> usize {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(kc.clone(), ns);
    let Ok(list) = pods.list(&Default::default()).await else { return 0 };
    list.items
        .iter()
        .filter(|p| {
            let ready = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            p.metadata.deletion_timestamp.is_some() || !ready
        })
        .count()
}

#[actix_web::test]
async fn paced_rotation_keeps_its_interval_and_per_cluster_cap() {
    let cluster = TestCluster::start_with_nodes(2).await.expect("cluster");
    let app = TestApp::start().await;
    fleet(&app, &[("p", &cluster)], 3).await;
    let req = json!({"verify": false, "credential": "global-secret", "batches": [1, "100%"], "gate": "auto",
        "batchInterval": "4s", "maxRestartingPerCluster": 2, "pauseOnDrift": true, "healthTimeout": "120s"});

    // Bad pacing names the field.
    let mut bad = req.clone();
    bad["maxRestartingPerCluster"] = json!(0);
    let p = app.post("/v1/rotations/preview", bad).await;
    assert!(p.status.is_client_error() && p.text().contains("maxRestartingPerCluster"), "{}", p.text());
    let mut bad = req.clone();
    bad["batchInterval"] = json!("soon");
    let p = app.post("/v1/rotations/preview", bad).await;
    assert!(p.status.is_client_error() && p.text().contains("batchInterval"), "{}", p.text());

    let pv = app.post("/v1/rotations/preview", req.clone()).await;
    assert_eq!(pv.status, 200, "{}", pv.text());
    let pv = pv.json();
    let schedule = pv["schedule"].as_array().unwrap_or_else(|| panic!("no schedule: {pv}"));
    assert_eq!(schedule.len(), 2, "{pv}");
    // 3 runtimes × 4 pods; batch 2 has 8 pods, 2 at a time on the cluster.
    assert_eq!(schedule[1]["pods"], 8, "{pv}");
    assert!(schedule[1]["restartWaves"].as_u64().unwrap() >= 4, "{pv}");
    assert!(
        schedule[1]["startsAfterSeconds"].as_u64().unwrap() >= schedule[0]["estimatedSeconds"].as_u64().unwrap() + 4,
        "{pv}"
    );
    assert!(pv["estimatedSeconds"].as_u64().unwrap() > 0, "{pv}");

    let id = start_driven(&app, req).await;
    let kc = crate::support::live::client(&cluster).await;
    let mut most = 0;
    loop {
        most = most.max(restarting_pods(&kc, "fleet").await);
        let r = app.get(&format!("/v1/rotations/{id}")).await.json();
        if r["state"] != "running" {
            assert_eq!(r["state"], "succeeded", "{r}");
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(most <= 2, "{most} pods were being replaced at once; the cap is 2");
    assert!(most >= 1, "the sampling saw no restart at all");

    let evs = serde_json::to_value(wire_events(app.state.store.rotation_events(&id, 0).await.unwrap())).unwrap();
    let at = |kind: &str, batch: i64| -> chrono::DateTime<chrono::Utc> {
        let e = evs.as_array().unwrap().iter().find(|e| e["kind"] == kind && e["batch"] == batch);
        e.and_then(|e| e["at"].as_str()).unwrap_or_else(|| panic!("no {kind} {batch}: {evs}")).parse().unwrap()
    };
    let gap = at("batch_started", 1) - at("batch_healthy", 0);
    assert!(gap >= chrono::Duration::milliseconds(3900), "batch 2 started {gap} after batch 1 ended");
    // The rotation's traffic shows in /metrics: API-server requests to this cluster, batches.
    let m = app.call(actix_web::http::Method::GET, "/metrics", None, None).await.text();
    let apiserver: f64 = m
        .lines()
        .filter(|l| l.starts_with("fluidform_apiserver_requests_total{") && l.contains("cluster=\"p\""))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert!(apiserver > 0.0, "no API-server requests counted for cluster p: {m}");
    assert!(m.contains("fluidform_rotation_batch_duration_seconds_count{outcome=\"healthy\"}"), "{m}");
    for (pod, secrets) in pod_pull_secrets(&cluster, "fleet").await {
        assert_eq!(secrets, ["global-secret-v2"], "pod {pod}");
    }
}

#[actix_web::test]
async fn pause_on_drift_stops_before_a_batch_with_a_drifted_runtime() {
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let app = TestApp::start().await;
    fleet(&app, &[("d", &cluster)], 2).await;
    // A runtime drifted already is skipped when the rotation is planned; pauseOnDrift is for
    // one that drifts while the rotation runs, here while it waits at the gate.
    let req = json!({"verify": false, "credential": "global-secret", "batches": [1, "100%"], "gate": "manual", "pauseOnDrift": true,
        "healthTimeout": "120s"});
    let started = app.post("/v1/rotations", req).await;
    assert_eq!(started.status, 201, "{}", started.text());
    let rot = started.json();
    let id = rot["id"].as_str().unwrap().to_string();
    let later = rot["runtimes"].as_array().unwrap().iter().find(|r| r["batch"] == 1).expect("a runtime in batch 2");
    let name = later["name"].as_str().unwrap().to_string();
    fluidform::engine::rotation::spawn_rotation_driver(&app.state.ctx);
    wait_rotation(&app, &id, 120, |r| r["state"] == "waiting_approval").await;

    // Someone changes the second batch's worker behind fluidform's back; the drift loop sees it.
    let kc = crate::support::live::client(&cluster).await;
    let sts = crate::support::live::api(&kc, "apps", "v1", "StatefulSet", "statefulsets", "fleet");
    let patch = json!({"spec": {"replicas": 2}});
    sts.patch(&format!("{name}-worker"), &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch))
        .await
        .expect("patched behind fluidform's back");
    fluidform::engine::drift::drift_pass(&app.state.ctx).await.expect("drift pass");
    let rt = app.get(&format!("/v1/runtimes/fleet/{name}")).await.json();
    assert_eq!(rt["status"]["sync"], "drifted", "{rt}");

    assert_eq!(app.post(&format!("/v1/rotations/{id}/approve"), json!({})).await.status, 200);
    let paused = wait_rotation(&app, &id, 60, |r| r["state"] == "paused" || r["state"] == "succeeded").await;
    assert_eq!(paused["state"], "paused", "{paused}");
    assert_eq!(paused["batches"][0]["state"], "healthy", "{paused}");
    assert_eq!(paused["batches"][1]["state"], "pending", "the drifted batch did not start: {paused}");
    assert!(paused["error"].as_str().unwrap_or_default().contains(&name), "the reason names the runtime: {paused}");
}

/// A batch whose runtimes live in two namespaces of one cluster is read with one LIST per
/// kind across namespaces (`/api/v1/pods?labelSelector=…`) and rotates there; credentials
/// that may read only a namespace are refused that LIST (403), which is what makes the
/// driver read such a cluster one namespace at a time.
#[actix_web::test]
async fn a_batch_across_namespaces_is_read_at_once_and_rotates_there() {
    use fluidform::domain::kinds::Kind;
    use fluidform::engine::port::{ClusterConnection, ClusterError, ClusterTarget, Clusters};
    let cluster = TestCluster::start_with_nodes(2).await.expect("cluster");
    let app = TestApp::start().await;
    app.credential("global-secret", "fleet-v1").await;
    let placed = [("ns-a", "x"), ("ns-b", "y")];
    place(&app, "c1", &cluster, &placed).await;
    let waits: Vec<_> = placed.iter().map(|(ns, n)| (&cluster, ns.to_string(), n.to_string())).collect();
    roll_out_then_v2(&app, &waits).await;

    // The port's read across namespaces, as the admin and as a user who may only view ns-a.
    let kc = crate::support::live::client(&cluster).await;
    let bindings: kube::Api<k8s_openapi::api::rbac::v1::RoleBinding> = kube::Api::namespaced(kc, "ns-a");
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "limited-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "limited"}],
    }))
    .unwrap();
    bindings.create(&Default::default(), &binding).await.expect("bind view in ns-a");
    let connect = |token: &str| ClusterTarget {
        name: format!("c1-{}", &token[..4]),
        generation: 1,
        connection: ClusterConnection {
            server: cluster.server.clone(),
            ca_data: Some(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &cluster.ca_pem)),
            insecure_skip_tls_verify: false,
            token: Some(token.to_string()),
            client_cert_data: None,
            client_key_data: None,
        },
    };
    let clusters = fluidform::k8s::KubeClusters::new();
    let admin = clusters.connect(&connect(&cluster.admin_token)).await.expect("admin");
    let all = admin.rollouts("release in (x,y)").await.expect("a LIST across namespaces");
    assert_eq!(all.keys().collect::<Vec<_>>(), ["ns-a", "ns-b"]);
    for (ns, rt) in placed {
        let s = &all[ns];
        assert!(s.workload(fluidform::domain::kinds::Kind::StatefulSet, &format!("{rt}-master")).is_some(), "{s:?}");
        let one = admin.rollout(ns, &format!("release in ({rt})")).await.unwrap();
        assert_eq!(s.workloads, one.workloads, "the same as one namespace's read");
        assert_eq!(s.pods.len(), one.pods.len());
        assert!(!one.pods.is_empty());
    }
    let limited = clusters.connect(&connect(&cluster.limited_token)).await.expect("limited");
    let refused = limited.rollouts("release in (x,y)").await.expect_err("cluster-wide LIST refused");
    assert!(matches!(refused, ClusterError::Auth { status: 403, .. }), "{refused:?}");
    let ns_a = limited.rollout("ns-a", "release in (x)").await.expect("its namespace can be read");
    assert!(!ns_a.pods.is_empty());

    // The fresh read started a watch; once it has listed, it answers the same, for nothing.
    let scope: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        placed.iter().map(|(ns, rt)| (*ns, [*rt].into())).collect();
    let pods_of = |s: &fluidform::domain::rollout::RolloutState| {
        let mut pods: Vec<_> = s.pods.iter().map(|p| (p.name.clone(), p.uid.clone(), p.ready, p.deleting)).collect();
        pods.sort();
        pods
    };
    let watched = wait_watched(&*admin, &scope, |_| true).await;
    let sent = admin.requests();
    assert_eq!(watched.keys().collect::<Vec<_>>(), ["ns-a", "ns-b"]);
    for (ns, _) in placed {
        let mut want = all[ns].workloads.clone();
        let mut got = watched[ns].workloads.clone();
        want.sort_by(|a, b| a.name.cmp(&b.name));
        got.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(got, want, "the watch holds what the LIST read in {ns}");
        assert_eq!(pods_of(&watched[ns]), pods_of(&all[ns]), "pods in {ns}");
    }
    assert_eq!(admin.requests(), sent, "an answer from the watch sends no request");
    // A pod this process deletes never shows live again in an answer; its replacement comes
    // through the watch's events.
    let by_statefulset = |p: &&fluidform::domain::rollout::Pod| {
        p.ready && p.owner.as_ref().is_some_and(|(k, _)| *k == Kind::StatefulSet)
    };
    let victim = watched["ns-a"].pods.iter().find(by_statefulset).expect("a ready StatefulSet pod").clone();
    admin.delete_pod("ns-a", &victim.name, &victim.uid).await.expect("deleted");
    let replaced = wait_watched(&*admin, &scope, |w| {
        let pods = &w["ns-a"].pods;
        assert!(
            !pods.iter().any(|p| p.uid == victim.uid && !p.deleting),
            "the deleted pod {} shows live: {pods:?}",
            victim.name
        );
        pods.iter().any(|p| p.name == victim.name && p.uid != victim.uid && p.ready)
    })
    .await;
    assert_eq!(replaced["ns-a"].pods.len(), all["ns-a"].pods.len(), "{replaced:?}");
    // Credentials that may not list across namespaces get no watch: reads stay LISTs.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(limited.watched(&scope).is_none(), "a watch the credentials may not run answers nothing");

    // One batch over both namespaces rotates every pod.
    let req = json!({"verify": false, "credential": "global-secret", "batches": ["100%"], "healthTimeout": "120s"});
    let id = start_driven(&app, req).await;
    let done = wait_rotation(&app, &id, 300, |r| r["state"] != "running").await;
    assert_eq!(done["state"], "succeeded", "{done}");
    for (ns, _) in placed {
        let pods = pod_pull_secrets(&cluster, ns).await;
        assert_eq!(pods.len(), 4, "{pods:?}");
        for (pod, secrets) in pods {
            assert_eq!(secrets, ["global-secret-v2"], "pod {ns}/{pod}");
        }
    }
}

/// Asks `cluster`'s watch until it answers with something `done` says yes to (60 s at most).
async fn wait_watched(
    cluster: &dyn fluidform::engine::port::Cluster,
    scope: &std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>>,
    done: impl Fn(&std::collections::BTreeMap<String, fluidform::domain::rollout::RolloutState>) -> bool,
) -> std::collections::BTreeMap<String, fluidform::domain::rollout::RolloutState> {
    for _ in 0..600 {
        if let Some(w) = cluster.watched(scope)
            && done(&w)
        {
            return w;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the watch did not answer as wanted in 60 s");
}
