//! Runtimes through the API: the seed manifest as YAML, resolution and its provenance,
//! bindings, validation, rendered workloads, layer history, listing.

use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::support::app::{ADMIN, SEED_YAML, TestApp, runtime_json};

fn secrets_of(component: &Value) -> Vec<String> {
    component["imagePullSecrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["secretName"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn seed_example_resolves_as_fluid_documents() {
    let app = TestApp::start().await;
    app.cluster("c1", &[]).await;
    app.credential("global-secret", "pw-global").await;
    let r = app.put_yaml("/v1/runtimes/default/hbase?cluster=c1", SEED_YAML, ADMIN).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    assert_eq!(body["cluster"], "c1");
    assert_eq!(body["generation"], 1);
    assert_eq!(body["manifest"]["spec"]["master"]["replicas"], 3);

    let res = app.get("/v1/runtimes/default/hbase/resolved").await.json();
    let c = &res["components"];
    assert_eq!(c["master"]["source"], "master");
    assert_eq!(secrets_of(&c["master"]), ["master-secret"]);
    assert_eq!(c["worker"]["source"], "worker");
    assert_eq!(secrets_of(&c["worker"]), ["worker-secret"]);
    assert_eq!(c["fuse"]["source"], "global");
    assert_eq!(
        c["fuse"]["imagePullSecrets"],
        json!([{"name": "global-secret", "secretName": "global-secret-v1", "credential": "global-secret", "version": 1}]),
        "a managed credential resolves to its bound version's Secret"
    );
    assert!(c["master"]["imagePullSecrets"][0].get("credential").is_none(), "unmanaged names carry no credential");
    assert_eq!(res["bindings"], json!({"global-secret": 1}));
}

#[actix_web::test]
async fn cluster_default_layer_and_empty_lists() {
    let app = TestApp::start().await;
    app.cluster("c1", &["org-pull"]).await;
    // Empty lists everywhere behave as absent: the cluster default wins for every component.
    let rt = runtime_json("r1", Some(&[]), Some(&[]), None, Some(&[]));
    assert_eq!(app.put("/v1/runtimes/ns/r1?cluster=c1", rt).await.status, 201);
    let res = app.get("/v1/runtimes/ns/r1/resolved").await.json();
    for comp in ["master", "worker", "fuse"] {
        assert_eq!(res["components"][comp]["source"], "cluster", "{comp}");
        assert_eq!(secrets_of(&res["components"][comp]), ["org-pull"]);
    }
    assert_eq!(res["layers"]["cluster"], json!(["org-pull"]));
    // No layer anywhere: source none, empty list.
    app.cluster("bare", &[]).await;
    let rt = runtime_json("r2", None, None, None, None);
    assert_eq!(app.put("/v1/runtimes/ns/r2?cluster=bare", rt).await.status, 201);
    let res = app.get("/v1/runtimes/ns/r2/resolved").await.json();
    assert_eq!(res["components"]["fuse"]["source"], "none");
    assert_eq!(res["components"]["fuse"]["imagePullSecrets"], json!([]));
}

#[actix_web::test]
async fn component_layer_overrides_whole_never_merges() {
    let app = TestApp::start().await;
    app.cluster("c1", &["org-pull"]).await;
    let rt = runtime_json("r1", Some(&["g1", "g2"]), None, Some(&["w1", "w1", "g1"]), None);
    assert_eq!(app.put("/v1/runtimes/ns/r1?cluster=c1", rt).await.status, 201);
    let res = app.get("/v1/runtimes/ns/r1/resolved").await.json();
    assert_eq!(secrets_of(&res["components"]["worker"]), ["w1", "g1"], "order kept, duplicates dropped, no merge");
    assert_eq!(secrets_of(&res["components"]["master"]), ["g1", "g2"]);
    assert_eq!(res["components"]["master"]["source"], "global");
}

#[actix_web::test]
async fn adding_a_version_moves_no_binding() {
    let app = TestApp::start().await;
    app.cluster("c1", &[]).await;
    app.credential("global-secret", "pw1").await;
    let rt = runtime_json("r1", Some(&["global-secret"]), None, None, None);
    assert_eq!(app.put("/v1/runtimes/ns/r1?cluster=c1", rt.clone()).await.status, 201);
    let v2 = app
        .post("/v1/credentials/global-secret/versions", json!({"registry": "r", "username": "u", "password": "pw2"}))
        .await;
    assert_eq!(v2.status, 201);
    let res = app.get("/v1/runtimes/ns/r1/resolved").await.json();
    assert_eq!(res["bindings"], json!({"global-secret": 1}));
    // Rewriting the runtime keeps its binding too; a new runtime binds to `current` (still 1).
    let mut changed = rt.clone();
    changed["spec"]["replicas"] = json!(2);
    assert_eq!(app.put("/v1/runtimes/ns/r1", changed).await.status, 200);
    assert_eq!(app.get("/v1/runtimes/ns/r1/resolved").await.json()["bindings"], json!({"global-secret": 1}));
    let rt2 = runtime_json("r2", Some(&["global-secret"]), None, None, None);
    assert_eq!(app.put("/v1/runtimes/ns/r2?cluster=c1", rt2).await.status, 201);
    assert_eq!(app.get("/v1/runtimes/ns/r2/resolved").await.json()["bindings"], json!({"global-secret": 1}));
}

#[actix_web::test]
async fn put_answers_201_then_200_and_counts_generations() {
    let app = TestApp::start().await;
    app.cluster("c1", &[]).await;
    let rt = runtime_json("r1", None, None, None, None);
    let first = app.put("/v1/runtimes/ns/r1?cluster=c1", rt.clone()).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("etag").as_deref(), Some("\"1\""));
    let same = app.put("/v1/runtimes/ns/r1?cluster=c1", rt.clone()).await;
    assert_eq!(same.status, 200);
    assert_eq!(same.json()["generation"], 1, "an identical manifest is not a change");
    let mut changed = rt;
    changed["spec"]["replicas"] = json!(3);
    let second = app.put("/v1/runtimes/ns/r1?cluster=c1", changed.clone()).await;
    assert_eq!(second.json()["generation"], 2);
    assert_eq!(app.get("/v1/runtimes/ns/r1").await.header("etag").as_deref(), Some("\"2\""));
    // Stale If-Match: 412 and nothing changes.
    changed["spec"]["replicas"] = json!(5);
    let stale = TestRequest::put()
        .uri("/v1/runtimes/ns/r1")
        .insert_header(("Authorization", format!("Bearer {ADMIN}")))
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("If-Match", "\"1\""))
        .set_payload(changed.to_string());
    app.send(stale).await.problem(412, "precondition_failed");
    assert_eq!(app.get("/v1/runtimes/ns/r1").await.json()["manifest"]["spec"]["replicas"], 3);
    // Moving a runtime to another cluster is refused.
    app.cluster("c2", &[]).await;
    app.put("/v1/runtimes/ns/r1?cluster=c2", runtime_json("r1", None, None, None, None))
        .await
        .problem(409, "runtime_cluster_mismatch");
}

#[actix_web::test]
async fn validation_failures_name_the_field_and_store_nothing() {
    let app = TestApp::start().await;
    app.cluster("c1", &[]).await;
    let base = runtime_json("r1", None, None, None, None);
    type Mutate = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutate, &str)> = vec![
        ("unknown field", Box::new(|v| v["spec"]["master"] = json!({"replica": 1})), "spec.master.replica"),
        ("master replicas", Box::new(|v| v["spec"]["master"] = json!({"replicas": 0})), "spec.master.replicas"),
        (
            "mediumtype",
            Box::new(|v| v["spec"]["tieredstore"]["levels"][0]["mediumtype"] = json!("NVME")),
            "spec.tieredstore.levels[0].mediumtype",
        ),
        (
            "quota",
            Box::new(|v| v["spec"]["tieredstore"]["levels"][0]["quota"] = json!("2Gx")),
            "spec.tieredstore.levels[0].quota",
        ),
        (
            "quotaList length",
            Box::new(|v| {
                let l = &mut v["spec"]["tieredstore"]["levels"][0];
                l["path"] = json!("/a,/b");
                l.as_object_mut().unwrap().remove("quota");
                l["quotaList"] = json!("1Gi");
            }),
            "spec.tieredstore.levels[0].quotaList",
        ),
        (
            "watermarks",
            Box::new(|v| v["spec"]["tieredstore"]["levels"][0]["low"] = json!("0.99")),
            "spec.tieredstore.levels[0].low",
        ),
        (
            "pull secret name",
            Box::new(|v| v["spec"]["imagePullSecrets"] = json!([{"name": "Bad_Secret"}])),
            "spec.imagePullSecrets[0].name",
        ),
        ("metadata name", Box::new(|v| v["metadata"]["name"] = json!("other")), "metadata.name"),
        ("metadata namespace", Box::new(|v| v["metadata"]["namespace"] = json!("elsewhere")), "metadata.namespace"),
        ("kind", Box::new(|v| v["kind"] = json!("DaskRuntime")), "kind"),
    ];
    for (what, mutate, field) in cases {
        let mut v = base.clone();
        mutate(&mut v);
        let r = app.put("/v1/runtimes/ns/r1?cluster=c1", v).await;
        let p = r.problem(422, "validation_failed");
        let fields: Vec<_> =
            p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_string()).collect();
        assert!(fields.iter().any(|f| f == field), "{what}: expected {field} among {fields:?}");
    }
    // Names in the path.
    let p = app
        .put("/v1/runtimes/ns/1bad?cluster=c1", runtime_json("1bad", None, None, None, None))
        .await
        .problem(422, "validation_failed");
    assert!(p["detail"].as_str().unwrap().contains("DNS-1035"), "{p}");
    let p = app.put("/v1/runtimes/Bad_NS/r1?cluster=c1", base.clone()).await.problem(422, "validation_failed");
    assert!(p["detail"].as_str().unwrap().contains("DNS-1123"), "{p}");
    // Unknown cluster, missing cluster.
    let p = app.put("/v1/runtimes/ns/r1?cluster=nope", base.clone()).await.problem(422, "unknown_cluster");
    assert_eq!(p["field"], "cluster");
    let p = app.put("/v1/runtimes/ns/r1", base.clone()).await.problem(422, "validation_failed");
    assert_eq!(p["field"], "cluster");
    // Unsupported media type.
    let r = app
        .send(
            TestRequest::put()
                .uri("/v1/runtimes/ns/r1?cluster=c1")
                .insert_header(("Authorization", format!("Bearer {ADMIN}")))
                .insert_header(("Content-Type", "text/plain"))
                .set_payload("x"),
        )
        .await;
    r.problem(415, "unsupported_media_type");
    app.get("/v1/runtimes/ns/r1").await.problem(404, "not_found");
    assert_eq!(app.get("/v1/runtimes").await.json()["items"], json!([]));
}

#[actix_web::test]
async fn rendered_workloads_carry_resolved_secrets() {
    let app = TestApp::start().await;
    app.cluster("c1", &[]).await;
    app.credential("global-secret", "pw-render-5c4d").await;
    assert_eq!(app.put_yaml("/v1/runtimes/default/hbase?cluster=c1", SEED_YAML, ADMIN).await.status, 201);
    let r = app.get("/v1/runtimes/default/hbase/manifests").await;
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("pw-render-5c4d"), "Secret data is redacted in this view");
    let items = r.json()["items"].as_array().unwrap().clone();
    let find = |kind: &str, name: &str| {
        items
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} rendered"))
            .clone()
    };
    let master = find("StatefulSet", "hbase-master");
    assert_eq!(master["spec"]["replicas"], 3);
    assert_eq!(master["spec"]["template"]["spec"]["imagePullSecrets"], json!([{"name": "master-secret"}]));
    let worker = find("StatefulSet", "hbase-worker");
    assert_eq!(worker["spec"]["replicas"], 2);
    assert_eq!(worker["spec"]["template"]["spec"]["imagePullSecrets"], json!([{"name": "worker-secret"}]));
    let fuse = find("DaemonSet", "hbase-fuse");
    assert_eq!(fuse["spec"]["template"]["spec"]["imagePullSecrets"], json!([{"name": "global-secret-v1"}]));
    assert_eq!(fuse["spec"]["template"]["spec"]["nodeSelector"]["fluid.io/f-default-hbase"], "true");
    for i in 0..3 {
        find("Service", &format!("hbase-master-{i}"));
    }
    find("ConfigMap", "hbase-config");
    let secret = find("Secret", "global-secret-v1");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(secret["immutable"], true);
    for o in &items {
        assert_eq!(o["metadata"]["labels"]["app.kubernetes.io/managed-by"], "fluidform", "{}", o["metadata"]["name"]);
    }
    assert_eq!(master["metadata"]["labels"]["release"], "hbase");
    assert_eq!(master["metadata"]["labels"]["role"], "alluxio-master");
    // Same input, same bytes; YAML on request.
    let again = app.get("/v1/runtimes/default/hbase/manifests").await;
    assert_eq!(again.body, r.body);
    let yaml = app
        .send(
            TestRequest::get()
                .uri("/v1/runtimes/default/hbase/manifests")
                .insert_header(("Authorization", format!("Bearer {ADMIN}")))
                .insert_header(("Accept", "application/yaml")),
        )
        .await;
    assert_eq!(yaml.header("content-type").as_deref(), Some("application/yaml"));
    assert_eq!(yaml.text().matches("---\n").count(), items.len());
    assert!(yaml.text().contains("kind: DaemonSet"));
}

#[actix_web::test]
async fn layer_history_records_who_changed_what() {
    let app = TestApp::start().await;
    app.cluster("c1", &[]).await;
    let rt = runtime_json("r1", Some(&["g1"]), None, Some(&["w1"]), None);
    assert_eq!(app.put("/v1/runtimes/ns/r1?cluster=c1", rt.clone()).await.status, 201);
    let mut changed = rt.clone();
    changed["spec"]["worker"]["imagePullSecrets"] = json!([{"name": "w2"}]);
    assert_eq!(app.put("/v1/runtimes/ns/r1", changed.clone()).await.status, 200);
    // A change outside the layers adds no revision.
    changed["spec"]["replicas"] = json!(4);
    assert_eq!(app.put("/v1/runtimes/ns/r1", changed).await.status, 200);
    // The cluster default layer changing is recorded too.
    app.cluster("c1", &["org-pull"]).await;
    let h = app.get("/v1/runtimes/ns/r1/layers/history").await.json();
    let items = h["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{h}");
    assert_eq!(items[0]["actor"], "admin");
    assert_eq!(items[1]["layers"], json!([{"layer": "worker", "old": ["w1"], "new": ["w2"]}]));
    assert_eq!(items[2]["layers"], json!([{"layer": "cluster", "old": [], "new": ["org-pull"]}]));
    assert!(items[1]["at"].is_string());
}

#[actix_web::test]
async fn list_paginates_and_filters() {
    let app = TestApp::start().await;
    app.cluster("a", &[]).await;
    app.cluster("b", &[]).await;
    for i in 0..5 {
        let mut rt = runtime_json(&format!("r{i}"), None, None, None, None);
        rt["metadata"]["labels"] = json!({"tier": if i % 2 == 0 { "gold" } else { "silver" }});
        let cluster = if i < 3 { "a" } else { "b" };
        assert_eq!(app.put(&format!("/v1/runtimes/ns/r{i}?cluster={cluster}"), rt).await.status, 201);
    }
    let mut names = Vec::new();
    let mut url = "/v1/runtimes?limit=2".to_string();
    loop {
        let page = app.get(&url).await.json();
        names.extend(page["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(c) => url = format!("/v1/runtimes?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(names, ["r0", "r1", "r2", "r3", "r4"]);
    let gold = app.get("/v1/runtimes?labelSelector=tier%3Dgold").await.json();
    let gold: Vec<_> =
        gold["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(gold, ["r0", "r2", "r4"]);
    let b_gold = app.get("/v1/runtimes?cluster=b&labelSelector=tier+in+(gold)").await.json();
    assert_eq!(b_gold["items"].as_array().unwrap().len(), 1);
    app.get("/v1/runtimes?labelSelector=tier%3D%3D%3D").await.problem(422, "validation_failed");
    app.get("/v1/runtimes?limit=0").await.problem(422, "validation_failed");
    app.get("/v1/runtimes?cursor=%%%").await.problem(422, "validation_failed");
}

/// A runtime written through the API is rendered in the background, ahead of the first
/// plan, which then stores the same objects and digests as a plan that renders.
#[actix_web::test]
async fn a_runtime_put_is_rendered_ahead_of_the_first_plan() {
    let app = TestApp::start().await;
    let warmer = fluidform::engine::plan::warm::spawn_warmer(&app.state.ctx);
    app.cluster("c1", &["org-pull"]).await;
    app.credential("global-secret", "pw-global").await;
    let rt = runtime_json("r1", Some(&["global-secret"]), None, None, None);
    assert_eq!(app.put("/v1/runtimes/ns/r1?cluster=c1", rt).await.status, 201);
    let store = &app.state.ctx.store;
    let id = store.get_runtime("ns", "r1").await.unwrap().id;
    let mut waited = 0;
    let kept = loop {
        if let Some(r) = store.renderings(&[id]).await.unwrap().remove(&id) {
            break r;
        }
        assert!(waited < 100, "rendered within 5 s");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    };
    assert!(!kept.memo.contains("pw-global"), "{}", kept.memo);
    let objects = |plan: &Value| -> Vec<Value> {
        let keep = ["kind", "name", "action", "reasons", "diff"];
        let page = plan["objects"].as_array().unwrap();
        page.iter().map(|o| keep.iter().map(|k| o[*k].clone()).collect()).collect()
    };
    let ahead = app.post("/v1/plans", json!({"all": true})).await.json();
    // Forgotten, the plan renders; it plans the same.
    store.forget_renderings(&[id]).await.unwrap();
    app.state.ctx.renders.clear();
    let rendered = app.post("/v1/plans", json!({"all": true})).await.json();
    assert_eq!(objects(&ahead).len(), 6, "the Secret, ConfigMap, Service and three workloads: {ahead}");
    assert_eq!(objects(&ahead), objects(&rendered));
    assert_eq!(ahead["summary"], rendered["summary"]);
    assert_eq!(store.renderings(&[id]).await.unwrap()[&id], kept, "the plan keeps what was kept ahead");
    warmer.abort();
}
