//! Plan and apply against a real kube-apiserver: the seed runtime applied, a plan made from
//! remembered renderings applied, a layer change
//! planned and applied as one update, deletions pruned, scoping, stale plans and locks.

use base64::Engine;
use serde_json::{Value, json};

use crate::support::app::{ADMIN, SEED_YAML, TestApp, runtime_json};
use crate::support::cluster::TestCluster;
use crate::support::live::{actions, api, apply, client, converge, get, plan, register};

fn pull_secrets(obj: &Value) -> Value {
    obj["spec"]["template"]["spec"]["imagePullSecrets"].clone()
}

#[actix_web::test]
async fn seed_runtime_applies_and_converges() {
    let cluster = TestCluster::start().await.expect("cluster starts");
    let app = TestApp::start().await;
    register(&app, "c1", &cluster, &[]).await;
    let probe = app.post("/v1/clusters/c1/probe", json!({})).await;
    assert_eq!(probe.status, 200, "{}", probe.text());
    assert_eq!(probe.json()["version"], "v1.36.3");
    assert_eq!(probe.json()["canManage"], true);
    app.credential("global-secret", "seed-pass-1a2b").await;
    assert_eq!(app.put_yaml("/v1/runtimes/default/hbase?cluster=c1", SEED_YAML, ADMIN).await.status, 201);

    let p = plan(&app, json!({"runtimes": ["default/hbase"], "refresh": true})).await;
    let acts = actions(&p);
    assert!(acts.iter().all(|(a, _, _)| a == "create"), "{acts:?}");
    assert_eq!(acts[0], ("create".into(), "Secret".into(), "global-secret-v1".into()), "Secrets come first");
    assert_eq!(p["summary"]["create"], acts.len());
    let warnings = p["warnings"].to_string();
    assert!(warnings.contains("master-secret") && warnings.contains("worker-secret"), "{warnings}");
    assert!(!p.to_string().contains("seed-pass-1a2b"));
    assert_eq!(p["inputs"]["runtimes"], 1);
    assert_eq!(p["inputs"]["clusters"]["c1"], 1, "cluster generations are inputs");

    let run = apply(&app, p["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(run["objects"].as_array().unwrap().iter().all(|o| o["status"] == "applied"));

    let kc = client(&cluster).await;
    let master = get(&kc, "StatefulSet", "default", "hbase-master").await.expect("master exists");
    assert_eq!(pull_secrets(&master), json!([{"name": "master-secret"}]));
    let worker = get(&kc, "StatefulSet", "default", "hbase-worker").await.expect("worker exists");
    assert_eq!(pull_secrets(&worker), json!([{"name": "worker-secret"}]));
    let fuse = get(&kc, "DaemonSet", "default", "hbase-fuse").await.expect("fuse exists");
    assert_eq!(pull_secrets(&fuse), json!([{"name": "global-secret-v1"}]));
    let secret = get(&kc, "Secret", "default", "global-secret-v1").await.expect("secret exists");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(secret["immutable"], true);
    let data = base64::engine::general_purpose::STANDARD
        .decode(secret["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    assert!(String::from_utf8(data).unwrap().contains("seed-pass-1a2b"), "the API server holds the real credential");
    let managers: Vec<_> =
        master["metadata"]["managedFields"].as_array().unwrap().iter().map(|m| m["manager"].clone()).collect();
    assert!(managers.contains(&json!("fluidform")), "{managers:?}");

    // Unchanged desired state: all no-op, and applying it writes nothing.
    let again = plan(&app, json!({"runtimes": ["default/hbase"], "refresh": true})).await;
    assert!(actions(&again).is_empty(), "{:?}", actions(&again));
    let run = apply(&app, again["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["requests"].to_string(), "{}", "no request at all for an all-no-op plan: {run}");
    let status = app.get("/v1/runtimes/default/hbase").await.json()["status"].clone();
    assert_eq!(status["sync"], "in_sync", "{status}");
    // Re-applying an applied plan is refused.
    app.post(&format!("/v1/plans/{}/apply", p["id"].as_str().unwrap()), json!({}))
        .await
        .problem(409, "plan_already_applied");
}

#[actix_web::test]
async fn worker_layer_change_is_one_update() {
    let cluster = TestCluster::start().await.expect("cluster starts");
    let app = TestApp::start().await;
    register(&app, "c1", &cluster, &[]).await;
    let rt = runtime_json("alpha", Some(&["g1"]), None, Some(&["w1"]), None);
    assert_eq!(app.put("/v1/runtimes/team-a/alpha?cluster=c1", rt.clone()).await.status, 201);
    converge(&app, json!({"cluster": "c1"})).await;
    let kc = client(&cluster).await;
    let before_master = get(&kc, "StatefulSet", "team-a", "alpha-master").await.unwrap();

    let mut changed = rt;
    changed["spec"]["worker"]["imagePullSecrets"] = json!([{"name": "w2"}]);
    assert_eq!(app.put("/v1/runtimes/team-a/alpha", changed).await.status, 200);
    let status = app.get("/v1/runtimes/team-a/alpha").await.json()["status"].clone();
    assert_eq!(status["sync"], "pending_changes");
    let p = plan(&app, json!({"runtimes": ["team-a/alpha"]})).await;
    assert_eq!(actions(&p), vec![("update".to_string(), "StatefulSet".to_string(), "alpha-worker".to_string())]);
    let obj = p["objects"].as_array().unwrap().iter().find(|o| o["action"] == "update").unwrap().clone();
    assert_eq!(obj["reasons"], json!(["layer_change"]));
    assert_eq!(obj["diff"][0]["path"], "spec.template.spec.imagePullSecrets");
    assert_eq!(obj["diff"][0]["before"], json!([{"name": "w1"}]));
    assert_eq!(obj["diff"][0]["after"], json!([{"name": "w2"}]));

    let run = apply(&app, p["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["objects"].as_array().unwrap().len(), 1, "only the worker was touched");
    assert_eq!(run["requests"]["c1"]["writes"], 1, "one apply request for one changed object: {run}");
    let worker = get(&kc, "StatefulSet", "team-a", "alpha-worker").await.unwrap();
    assert_eq!(pull_secrets(&worker), json!([{"name": "w2"}]));
    let after_master = get(&kc, "StatefulSet", "team-a", "alpha-master").await.unwrap();
    assert_eq!(
        before_master["metadata"]["resourceVersion"], after_master["metadata"]["resourceVersion"],
        "master untouched"
    );
    let next = plan(&app, json!({"runtimes": ["team-a/alpha"], "refresh": true})).await;
    assert!(actions(&next).is_empty(), "{:?}", actions(&next));
    // Refreshing reads one LIST per kind in the namespace (4 workload kinds, Secrets, Pods),
    // not one GET per object, one metadata LIST per kind it writes for objects it does not
    // own (the same 4 and Secrets), plus two reads per cluster that look for Fluid.
    assert_eq!(next["summary"]["liveReads"]["c1"], 13, "{}", next["summary"]);
    assert_eq!(app.get("/v1/runtimes/team-a/alpha").await.json()["status"]["sync"], "in_sync");
}

#[actix_web::test]
async fn deleting_a_runtime_prunes_only_what_fluidform_owns() {
    let cluster = TestCluster::start().await.expect("cluster starts");
    let app = TestApp::start().await;
    register(&app, "c1", &cluster, &[]).await;
    app.credential("global-secret", "p").await;
    for name in ["one", "two"] {
        let rt = runtime_json(name, Some(&["global-secret"]), None, None, None);
        assert_eq!(app.put(&format!("/v1/runtimes/shared/{name}?cluster=c1"), rt).await.status, 201);
    }
    converge(&app, json!({"all": true})).await;
    let kc = client(&cluster).await;
    let cms = api(&kc, "", "v1", "ConfigMap", "configmaps", "shared");
    let foreign: kube::api::DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "not-ours", "labels": {"release": "one"}}, "data": {"a": "b"}}))
    .unwrap();
    cms.create(&Default::default(), &foreign).await.expect("foreign ConfigMap");

    assert_eq!(app.delete("/v1/runtimes/shared/one").await.status, 204);
    let p = plan(&app, json!({"all": true, "refresh": true})).await;
    let acts = actions(&p);
    assert!(acts.iter().all(|(a, _, n)| a == "delete" && n.starts_with("one-")), "{acts:?}");
    assert!(!acts.iter().any(|(_, k, _)| k == "Secret"), "the credential Secret is still used by `two`");
    assert!(
        p["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["action"] == "delete")
            .all(|o| o["reasons"] == json!(["removal"]))
    );
    let run = apply(&app, p["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(get(&kc, "StatefulSet", "shared", "one-master").await.is_none());
    assert!(get(&kc, "DaemonSet", "shared", "one-fuse").await.is_none());
    assert!(get(&kc, "ConfigMap", "shared", "not-ours").await.is_some(), "objects fluidform does not own survive");
    assert!(get(&kc, "StatefulSet", "shared", "two-master").await.is_some());
    assert!(get(&kc, "Secret", "shared", "global-secret-v1").await.is_some());

    // The last user gone, the Secret goes too.
    assert_eq!(app.delete("/v1/runtimes/shared/two").await.status, 204);
    let (p, _) = converge(&app, json!({"all": true})).await;
    assert!(actions(&p).contains(&("delete".into(), "Secret".into(), "global-secret-v1".into())));
    assert!(get(&kc, "Secret", "shared", "global-secret-v1").await.is_none());
}

#[actix_web::test]
async fn a_plan_scoped_to_one_cluster_touches_only_it() {
    let (a, b) = (TestCluster::start().await.expect("a"), TestCluster::start().await.expect("b"));
    let app = TestApp::start().await;
    register(&app, "a", &a, &[]).await;
    register(&app, "b", &b, &[]).await;
    for (cluster, names) in [("a", ["a1", "a2"]), ("b", ["b1", "b2"])] {
        for n in names {
            let rt = runtime_json(n, None, None, None, None);
            assert_eq!(app.put(&format!("/v1/runtimes/ns/{n}?cluster={cluster}"), rt).await.status, 201);
        }
    }
    let (p, _) = converge(&app, json!({"cluster": "a"})).await;
    assert!(p["objects"].as_array().unwrap().iter().all(|o| o["cluster"] == "a"));
    let (ka, kb) = (client(&a).await, client(&b).await);
    assert!(get(&ka, "StatefulSet", "ns", "a1-master").await.is_some());
    assert!(get(&ka, "StatefulSet", "ns", "a2-worker").await.is_some());
    assert!(get(&ka, "StatefulSet", "ns", "b1-master").await.is_none());
    let ns_b = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(kb.clone());
    assert!(ns_b.get_opt("ns").await.unwrap().is_none(), "cluster b got nothing");
    assert_eq!(app.get("/v1/runtimes/ns/b1").await.json()["status"]["sync"], "pending_changes");
}

#[actix_web::test]
async fn stale_plans_and_concurrent_applies_are_refused() {
    let cluster = TestCluster::start().await.expect("cluster starts");
    let app = TestApp::start().await;
    register(&app, "c1", &cluster, &[]).await;
    for n in ["r1", "r2"] {
        assert_eq!(
            app.put(&format!("/v1/runtimes/ns/{n}?cluster=c1"), runtime_json(n, None, None, None, None)).await.status,
            201
        );
    }
    let mut body = json!({"runtimes": ["ns/r1"], "createNamespaces": true});
    let p1 = plan(&app, body.clone()).await;
    // A change to an unrelated runtime does not make it stale...
    let mut r2 = runtime_json("r2", None, None, None, None);
    r2["spec"]["replicas"] = json!(3);
    assert_eq!(app.put("/v1/runtimes/ns/r2", r2).await.status, 200);
    // ...a change to r1 does.
    let mut r1 = runtime_json("r1", None, None, None, None);
    r1["spec"]["replicas"] = json!(2);
    assert_eq!(app.put("/v1/runtimes/ns/r1", r1).await.status, 200);
    let p = app
        .post(&format!("/v1/plans/{}/apply", p1["id"].as_str().unwrap()), json!({}))
        .await
        .problem(409, "plan_stale");
    assert!(p["detail"].as_str().unwrap().contains("ns/r1"), "{p}");

    // Two fresh plans for r1: the first apply runs, the second meets its lock.
    body["refresh"] = json!(false);
    let (x, y) = (plan(&app, body.clone()).await, plan(&app, body).await);
    let first = app.post(&format!("/v1/plans/{}/apply", x["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(first.status, 202);
    let second = app.post(&format!("/v1/plans/{}/apply", y["id"].as_str().unwrap()), json!({})).await;
    let p = second.problem(409, "runtime_locked");
    assert!(p["detail"].as_str().unwrap().contains("runtime:ns:r1"), "{p}");
    let locks = app.get("/v1/locks").await.json();
    assert_eq!(locks["items"][0]["id"], "runtime:ns:r1");
    let run = crate::support::live::wait_run(&app, first.json()["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(app.get("/v1/locks").await.json()["items"], json!([]), "locks released when the run ends");
}

#[actix_web::test]
async fn a_plan_made_from_remembered_renderings_applies_on_a_real_server() {
    let cluster = TestCluster::start().await.expect("cluster starts");
    let app = TestApp::start().await;
    register(&app, "c1", &cluster, &[]).await;
    assert_eq!(app.post("/v1/clusters/c1/probe", json!({})).await.status, 200);
    app.credential("global-secret", "memo-pass-9z8y").await;
    assert_eq!(app.put_yaml("/v1/runtimes/default/hbase?cluster=c1", SEED_YAML, ADMIN).await.status, 201);

    // Without refresh the second plan reuses what the first rendered of the never-applied
    // runtime; it must show the same objects and be exactly what the run renders and sends.
    let first = plan(&app, json!({"runtimes": ["default/hbase"]})).await;
    let second = plan(&app, json!({"runtimes": ["default/hbase"]})).await;
    assert_eq!(actions(&first), actions(&second));
    assert_eq!(first["summary"], second["summary"]);
    assert!(actions(&second).iter().all(|(a, _, _)| a == "create"), "{second}");
    let run = apply(&app, second["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let kc = client(&cluster).await;
    let worker = get(&kc, "StatefulSet", "default", "hbase-worker").await.expect("worker exists");
    assert_eq!(pull_secrets(&worker), json!([{"name": "worker-secret"}]));
    assert!(get(&kc, "Secret", "default", "global-secret-v1").await.is_some());
}
