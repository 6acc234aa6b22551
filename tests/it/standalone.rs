//! Standalone rendering through the API: host ports allocated per cluster (disjoint,
//! stable, released, overridden, an exhausted range refused with nothing stored, the
//! range a cluster setting), Fluid's quirks as warnings, layer rollback, and two
//! host-network runtimes side by side on a real API server and scheduler.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::support::app::{ADMIN, TestApp, runtime_json};
use crate::support::cluster::TestCluster;
use crate::support::live::{converge, label_nodes_for, register, wait_rolled_out};

fn host_ports(resolved: &Value) -> BTreeMap<String, u64> {
    resolved["hostPorts"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
}

async fn resolved(app: &TestApp, ns: &str, name: &str) -> Value {
    let r = app.get(&format!("/v1/runtimes/{ns}/{name}/resolved")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[actix_web::test]
async fn host_ports_are_disjoint_stable_released_and_never_half_stored() {
    let app = TestApp::start().await;
    let cluster = json!({"server": "https://127.0.0.1:6443", "insecureSkipTlsVerify": true, "token": "t",
        "portRange": "20000-20019"});
    assert_eq!(app.put("/v1/clusters/c", cluster).await.json()["portRange"], "20000-20019");
    let put = |name: &str, rt: Value| {
        let app = &app;
        let path = format!("/v1/runtimes/ns/{name}?cluster=c");
        async move { app.put(&path, rt).await }
    };

    // Two runtimes on the host network (Fluid's default): 9 ports each, none shared.
    assert_eq!(put("a", runtime_json("a", None, None, None, None)).await.status, 201);
    assert_eq!(put("b", runtime_json("b", None, None, None, None)).await.status, 201);
    let a = host_ports(&resolved(&app, "ns", "a").await);
    let b = host_ports(&resolved(&app, "ns", "b").await);
    assert_eq!(a.len(), 9, "{a:?}");
    assert_eq!(a["master.rpc"], 20000, "lowest first, in Fluid's order: {a:?}");
    let (pa, pb): (BTreeSet<u64>, BTreeSet<u64>) = (a.values().copied().collect(), b.values().copied().collect());
    assert_eq!(pb.len(), 9);
    assert!(pa.is_disjoint(&pb), "{a:?} {b:?}");
    assert!(pa.iter().chain(&pb).all(|p| (20000..=20019).contains(p)));

    // The rendered workloads listen on them, on the host.
    let items = app.get("/v1/runtimes/ns/a/manifests").await.json()["items"].clone();
    let master = items.as_array().unwrap().iter().find(|o| o["metadata"]["name"] == "a-master").unwrap();
    let rendered: BTreeSet<u64> = master["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .map(|p| p["hostPort"].as_u64().unwrap())
        .collect();
    let master_ports: BTreeSet<u64> =
        a.iter().filter(|(k, _)| k.starts_with("master") || k.starts_with("jobMaster")).map(|(_, v)| *v).collect();
    assert_eq!(rendered, master_ports);

    // An update keeps every port; a new name (the API gateway) gets a new one.
    let mut a2 = runtime_json("a", None, None, None, None);
    a2["spec"]["apiGateway"] = json!({"enabled": true});
    assert_eq!(put("a", a2).await.status, 200);
    let a_after = host_ports(&resolved(&app, "ns", "a").await);
    assert_eq!(a_after.len(), 10);
    assert!(a.iter().all(|(k, v)| a_after[k] == *v), "stable: {a:?} then {a_after:?}");
    assert!(!pb.contains(&a_after["apiGateway.rest"]));

    // One port left: a third runtime is refused, and nothing of it is stored.
    let p = put("c", runtime_json("c", None, None, None, None)).await.problem(409, "host_ports_exhausted");
    assert!(p["detail"].as_str().unwrap().contains("20000-20019"), "{p}");
    app.get("/v1/runtimes/ns/c").await.problem(404, "not_found");
    // A runtime on the container network needs none.
    let mut cn = runtime_json("cn", None, None, None, None);
    for c in ["master", "worker"] {
        cn["spec"][c] = json!({"networkMode": "ContainerNetwork"});
    }
    assert_eq!(put("cn", cn).await.status, 201);
    assert_eq!(host_ports(&resolved(&app, "ns", "cn").await), BTreeMap::new());

    // Deleting b releases its ports: c gets them.
    assert_eq!(app.delete("/v1/runtimes/ns/b").await.status, 204);
    assert_eq!(put("c", runtime_json("c", None, None, None, None)).await.status, 201);
    let c: BTreeSet<u64> = host_ports(&resolved(&app, "ns", "c").await).values().copied().collect();
    assert!(c.is_subset(&pb.union(&BTreeSet::from([20019])).copied().collect()), "{c:?}");

    // A port the manifest fixes wins and is not allocated; one that another runtime
    // binds is accepted with a warning naming the field.
    let mut d = runtime_json("d", None, None, None, None);
    d["spec"]["properties"] = json!({"alluxio.master.rpc.port": "20000"});
    d["spec"]["master"] = json!({"ports": {"web": 31000}});
    d["spec"]["worker"] = json!({"networkMode": "ContainerNetwork"});
    let r = app
        .put(
            "/v1/clusters/c",
            json!({"server": "https://127.0.0.1:6443", "insecureSkipTlsVerify": true,
        "token": "t", "portRange": "20000-20040"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = put("d", d).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let warnings = r.json()["warnings"].clone();
    assert!(
        warnings.as_array().unwrap().iter().any(|w| w["field"] == "spec.properties[\"alluxio.master.rpc.port\"]"
            && w["message"].as_str().unwrap().contains("ns/a")),
        "{warnings}"
    );
    let dp = host_ports(&resolved(&app, "ns", "d").await);
    assert_eq!((dp["master.rpc"], dp["master.web"]), (20000, 31000));
    assert_eq!(dp.len(), 4, "master and job master only (the worker is on the container network): {dp:?}");
    assert!(!pa.contains(&dp["jobMaster.rpc"]));

    // The range is a cluster setting: a narrower one moves what falls outside, or is
    // refused as a whole when it cannot hold them; a bad one names the field.
    let p = app.patch("/v1/clusters/c", json!({"portRange": "20000-20005"})).await.problem(409, "host_ports_exhausted");
    assert!(p["detail"].as_str().unwrap().contains("20000-20005"), "{p}");
    assert_eq!(app.get("/v1/clusters/c").await.json()["portRange"], "20000-20040", "unchanged");
    let p = app.patch("/v1/clusters/c", json!({"portRange": "25000-20000"})).await.problem(422, "validation_failed");
    assert_eq!(p["field"], "portRange");
    let before = resolved(&app, "ns", "a").await;
    let r = app.patch("/v1/clusters/c", json!({"portRange": "40000-40100"})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let moved = host_ports(&resolved(&app, "ns", "a").await);
    assert!(moved.values().all(|p| (40000..=40100).contains(p)), "{moved:?}");
    assert_eq!(moved.keys().collect::<Vec<_>>(), host_ports(&before).keys().collect::<Vec<_>>());
    let mut all: Vec<u64> = Vec::new();
    for n in ["a", "c", "d"] {
        all.extend(host_ports(&resolved(&app, "ns", n).await).into_values().filter(|p| (40000..=40100).contains(p)));
    }
    assert_eq!(all.len(), all.iter().collect::<BTreeSet<_>>().len(), "still disjoint after the move: {all:?}");
    // PUT without portRange returns the cluster to the default range.
    let r = app
        .put(
            "/v1/clusters/c",
            json!({"server": "https://127.0.0.1:6443", "insecureSkipTlsVerify": true,
        "token": "t"}),
        )
        .await;
    assert_eq!(r.json()["portRange"], "20000-25000");
}

#[actix_web::test]
async fn fluids_quirks_are_warnings_on_the_put_and_on_resolved() {
    let app = TestApp::start().await;
    app.cluster("c", &["cluster-pull"]).await;
    let mut rt = runtime_json("q", None, None, None, None);
    rt["spec"]["jobMaster"] = json!({"imagePullSecrets": [{"name": "job-secret"}]});
    rt["spec"]["apiGateway"] = json!({"enabled": true, "imagePullSecrets": [{"name": "gw-secret"}]});
    let r = app.put("/v1/runtimes/ns/q?cluster=c", rt).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let fields: Vec<String> =
        r.json()["warnings"].as_array().unwrap().iter().map(|w| w["field"].as_str().unwrap().to_string()).collect();
    for f in ["spec.jobMaster.imagePullSecrets", "spec.apiGateway.imagePullSecrets"] {
        assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
    }
    let res = resolved(&app, "ns", "q").await;
    let again: Vec<String> =
        res["warnings"].as_array().unwrap().iter().map(|w| w["field"].as_str().unwrap().to_string()).collect();
    assert_eq!(again, fields, "the same warnings on /resolved");
    // The fuse: Fluid consults the controller default before spec.imagePullSecrets;
    // fluidform keeps its one order and says what Fluid would have given.
    let mut g = runtime_json("g", Some(&["global-pull"]), None, None, None);
    g["spec"]["fuse"] = json!({});
    let r = app.put("/v1/runtimes/ns/g?cluster=c", g).await;
    assert_eq!(r.status, 201);
    let res = resolved(&app, "ns", "g").await;
    assert_eq!(res["components"]["fuse"]["imagePullSecrets"][0]["name"], "global-pull");
    let fuse = res["warnings"].as_array().unwrap().iter().find(|w| w["field"] == "spec.fuse.imagePullSecrets");
    assert!(fuse.is_some_and(|w| w["message"].as_str().unwrap().contains("cluster-pull")), "{res}");
    // A runtime without quirks has an empty list, not a missing one.
    let mut plain = runtime_json("plain", None, None, None, None);
    plain["spec"]["tieredstore"]["levels"][0] = json!({"mediumtype": "MEM", "path": "/dev/shm", "quota": "1Gi"});
    let r = app.put("/v1/runtimes/ns/plain?cluster=c", plain).await;
    assert_eq!(r.json()["warnings"], json!([]));
}

#[actix_web::test]
async fn layer_rollback_restores_a_revision_as_a_new_one() {
    let app = TestApp::start().await;
    app.cluster("c", &[]).await;
    let v1 = runtime_json("r", Some(&["g1"]), None, None, Some(&["f1"]));
    assert_eq!(app.put("/v1/runtimes/ns/r?cluster=c", v1).await.status, 201);
    let mut v2 = runtime_json("r", Some(&["g2"]), None, Some(&["w2"]), None);
    v2["metadata"]["labels"]["tier"] = json!("gold");
    assert_eq!(app.put("/v1/runtimes/ns/r", v2).await.status, 200);
    assert_eq!(app.get("/v1/runtimes/ns/r").await.json()["generation"], 2);

    let rollback = |body: Value, if_match: Option<&str>| {
        let mut req = actix_web::test::TestRequest::post()
            .uri("/v1/runtimes/ns/r/layers/rollback")
            .insert_header(("Authorization", format!("Bearer {ADMIN}")))
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body.to_string());
        if let Some(m) = if_match {
            req = req.insert_header(("If-Match", m.to_string()));
        }
        req
    };
    app.send(rollback(json!({"revision": 1}), Some("\"1\""))).await.problem(412, "precondition_failed");
    app.send(rollback(json!({"revision": 9}), None)).await.problem(404, "not_found");
    let p = app.send(rollback(json!({}), None)).await.problem(422, "validation_failed");
    assert_eq!(p["field"], "revision");
    let p = app.send(rollback(json!({"revision": 0}), None)).await.problem(422, "validation_failed");
    assert_eq!(p["field"], "revision");
    assert_eq!(app.get("/v1/runtimes/ns/r").await.json()["generation"], 2, "refusals changed nothing");

    let r = app.send(rollback(json!({"revision": 1}), Some("\"2\""))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag").as_deref(), Some("\"3\""));
    let body = r.json();
    assert_eq!(body["generation"], 3);
    assert_eq!(body["manifest"]["metadata"]["labels"]["tier"], "gold", "only layers are rolled back");
    let res = resolved(&app, "ns", "r").await;
    assert_eq!(res["layers"]["global"], json!(["g1"]));
    assert_eq!(res["layers"]["fuse"], json!(["f1"]));
    assert_eq!(res["layers"]["worker"], json!([]));
    let history = app.get("/v1/runtimes/ns/r/layers/history").await.json()["items"].clone();
    let items = history.as_array().unwrap();
    assert_eq!(items.len(), 3, "the history keeps both: {history}");
    let last = &items[2];
    assert_eq!(last["revision"], 3);
    assert_eq!(last["actor"], "admin");
    assert_eq!(last["reason"], "layers rolled back to revision 1");
    // Rolling back to the current layers changes nothing.
    let r = app.send(rollback(json!({"revision": 3}), None)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["generation"], 3);
    assert_eq!(app.get("/v1/runtimes/ns/r/layers/history").await.json()["items"].as_array().unwrap().len(), 3);
    // Viewers may not.
    let viewer = app.post("/v1/tokens", json!({"name": "reader", "role": "viewer"})).await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let req = actix_web::test::TestRequest::post()
        .uri("/v1/runtimes/ns/r/layers/rollback")
        .insert_header(("Authorization", format!("Bearer {viewer}")))
        .insert_header(("Content-Type", "application/json"))
        .set_payload(json!({"revision": 1}).to_string());
    app.send(req).await.problem(403, "forbidden");
}

/// Two runtimes on the host network, one kwok node: the scheduler places every pod of
/// both (their host ports do not collide), and the live objects show disjoint ports.
#[actix_web::test]
async fn two_host_network_runtimes_share_a_node_on_a_real_cluster() {
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let app = TestApp::start().await;
    register(&app, "h", &cluster, &[]).await;
    for n in ["one", "two"] {
        let r = app.put(&format!("/v1/runtimes/hn/{n}?cluster=h"), runtime_json(n, None, None, None, None)).await;
        assert_eq!(r.status, 201, "{}", r.text());
        app.shared_dataset("hn", n, "h").await;
    }
    label_nodes_for(&cluster, &[("hn", "one"), ("hn", "two")]).await;
    converge(&app, json!({"all": true})).await;
    wait_rolled_out(&cluster, "hn", &["one", "two"]).await;
    let kc = crate::support::live::client(&cluster).await;
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    for n in ["one", "two"] {
        for (kind, obj) in [("StatefulSet", "master"), ("StatefulSet", "worker"), ("DaemonSet", "fuse")] {
            let live = crate::support::live::get(&kc, kind, "hn", &format!("{n}-{obj}")).await.unwrap();
            let spec = &live["spec"]["template"]["spec"];
            if obj != "fuse" {
                assert_eq!(spec["hostNetwork"], true, "{n}-{obj}");
            }
            for c in spec["containers"].as_array().unwrap() {
                for p in c["ports"].as_array().into_iter().flatten() {
                    if let Some(hp) = p["hostPort"].as_u64() {
                        let who = format!("{n}-{obj}/{}", c["name"].as_str().unwrap());
                        if let Some(other) = seen.insert(hp, who.clone()) {
                            assert!(other.starts_with(n), "host port {hp} bound by {other} and {who}");
                        }
                    }
                }
            }
        }
    }
    let one: BTreeSet<u64> = host_ports(&resolved(&app, "hn", "one").await).into_values().collect();
    let two: BTreeSet<u64> = host_ports(&resolved(&app, "hn", "two").await).into_values().collect();
    assert!(one.is_disjoint(&two));
    let live: BTreeSet<u64> = seen.keys().copied().collect();
    assert_eq!(live, one.union(&two).copied().collect(), "the live objects bind exactly the allocated ports");
}
