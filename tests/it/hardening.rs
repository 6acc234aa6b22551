//! Hardening: tokens (last admin, expiry, revocations that last), idempotency under
//! concurrency and per token, the audit log, bounded and secret-free errors, 405 and 413
//! as problems, and TLS on the real binary.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::support::app::{ADMIN, TestApp};
use crate::support::daemon::{Daemon, curl_https, free_port, http};

async fn token(app: &TestApp, name: &str, role: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "role": role});
    body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    let r = app.post("/v1/tokens", body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["token"].as_str().unwrap().to_string()
}

fn with_key(token: &str, key: &str, body: Value) -> TestRequest {
    TestRequest::post()
        .uri("/v1/tokens")
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("Idempotency-Key", key.to_string()))
        .set_payload(body.to_string())
}

#[actix_web::test]
async fn the_last_admin_stays_and_a_revoked_bootstrap_token_stays_revoked() {
    let app = TestApp::start().await;
    let p = app.delete("/v1/tokens/admin").await.problem(409, "last_admin");
    assert!(p["detail"].as_str().unwrap().contains("admin"), "{p}");
    // An admin that has expired does not count.
    let second = token(&app, "second-admin", "admin", json!({})).await;
    assert_eq!(app.call(Method::DELETE, "/v1/tokens/admin", Some(&second), None).await.status, 204);
    app.get("/v1/tokens").await.problem(401, "unauthorized");
    let dir = app.dir;
    // A restart with the same bootstrap token does not bring it back.
    let app = TestApp::start_in(dir, None).await;
    app.get("/v1/tokens").await.problem(401, "unauthorized");
    let list = app.call(Method::GET, "/v1/tokens", Some(&second), None).await.json();
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["second-admin"]);
    app.call(Method::DELETE, "/v1/tokens/second-admin", Some(&second), None).await.problem(409, "last_admin");
}

#[actix_web::test]
async fn tokens_expire() {
    let app = TestApp::start().await;
    let p = app.post("/v1/tokens", json!({"name": "t", "role": "viewer", "expiresIn": 5})).await;
    assert_eq!(p.problem(422, "validation_failed")["field"], "expiresIn");
    let p = app.post("/v1/tokens", json!({"name": "t", "role": "viewer", "expiresIn": "400d"})).await;
    assert_eq!(p.problem(422, "validation_failed")["field"], "expiresIn");
    let r = app.post("/v1/tokens", json!({"name": "t", "role": "viewer", "expiresIn": "1d"})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let at: chrono::DateTime<chrono::Utc> = r.json()["expiresAt"].as_str().unwrap().parse().unwrap();
    let left = at - chrono::Utc::now();
    assert!(left > chrono::Duration::hours(23) && left <= chrono::Duration::hours(24), "{left}");
    let listed = app.get("/v1/tokens").await.json();
    assert!(listed["items"].as_array().unwrap().iter().any(|t| t["name"] == "t" && t["expiresAt"].is_string()));
    // An expired token is refused at once, even though it was just used (cached).
    let short = token(&app, "short", "viewer", json!({"expiresIn": 60})).await;
    assert_eq!(app.call(Method::GET, "/v1/runtimes", Some(&short), None).await.status, 200);
    sqlx::query("UPDATE api_tokens SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE name = 'short'")
        .execute(&database(&app).await)
        .await
        .unwrap();
    // The cached lookup still has the old expiry for up to 5 s; a fresh lookup refuses.
    actix_web::rt::time::sleep(Duration::from_millis(5_100)).await;
    let p = app.call(Method::GET, "/v1/runtimes", Some(&short), None).await.problem(401, "unauthorized");
    assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");
}

/// A second connection to the app's database, for what the API cannot do.
async fn database(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&fluidform::store::scratch::database_url(app.dir.path())).await.unwrap()
}

#[actix_web::test]
async fn idempotency_keys_hold_under_concurrency_per_token_and_expire() {
    let app = TestApp::start_with_settings(|s| s.idempotency_ttl = chrono::Duration::seconds(2)).await;
    let body = json!({"name": "made-once", "role": "viewer"});
    // Two retries at once: one acts, the other gets its reply.
    let (a, b) =
        futures::join!(app.send(with_key(ADMIN, "k", body.clone())), app.send(with_key(ADMIN, "k", body.clone())));
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (201, 201), "{} / {}", a.text(), b.text());
    assert_eq!(a.json()["token"], b.json()["token"], "the same reply, one token");
    let replayed = [&a, &b].iter().filter(|r| r.header("idempotent-replayed").is_some()).count();
    assert_eq!(replayed, 1);
    // Another token's key space is its own: the same key acts again (and finds the name taken).
    let other = token(&app, "other-admin", "admin", json!({})).await;
    app.send(with_key(&other, "k", body.clone())).await.problem(409, "token_exists");
    // A failed request does not keep its key.
    let p = app.send(with_key(&other, "k", body.clone())).await.problem(409, "token_exists");
    assert!(p.get("code").is_some());
    // Replies expire: after the TTL the key is free and acts again.
    actix_web::rt::time::sleep(Duration::from_millis(2_200)).await;
    app.send(with_key(ADMIN, "k", body)).await.problem(409, "token_exists");
}

#[actix_web::test]
async fn the_audit_log_records_writes_and_refusals_and_keeps_them() {
    let app = TestApp::start().await;
    app.cluster("c1", &[]).await;
    let viewer = token(&app, "reader", "viewer", json!({})).await;
    app.call(Method::GET, "/v1/clusters", None, None).await.problem(401, "unauthorized");
    app.call(Method::DELETE, "/v1/clusters/c1", Some(&viewer), None).await.problem(403, "forbidden");
    let rt = crate::support::app::runtime_json("r1", None, None, None, None);
    let put = app.put("/v1/runtimes/ns/r1?cluster=c1", rt).await;
    let request_id = put.header("x-request-id").expect("every response has a request id");
    assert_eq!(app.delete("/v1/runtimes/ns/r1").await.status, 204);
    assert_eq!(app.get("/v1/runtimes").await.status, 200, "reads are not audited");
    let page = app.get("/v1/audit?limit=500").await.json();
    let items = page["items"].as_array().unwrap();
    let rows: Vec<(String, String, u64, String, String)> = items
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap().into(),
                e["resource"].as_str().unwrap().into(),
                e["status"].as_u64().unwrap(),
                e["outcome"].as_str().unwrap().into(),
                e["actor"].as_str().unwrap_or("-").into(),
            )
        })
        .collect();
    let want = [
        ("DELETE".into(), "/v1/runtimes/ns/r1".into(), 204, "ok".into(), "admin".into()),
        ("PUT".into(), "/v1/runtimes/ns/r1".into(), 201, "ok".into(), "admin".into()),
        ("DELETE".into(), "/v1/clusters/c1".into(), 403, "forbidden".into(), "reader".into()),
        ("GET".into(), "/v1/clusters".into(), 401, "unauthenticated".into(), "-".into()),
        ("POST".into(), "/v1/tokens".into(), 201, "ok".into(), "admin".into()),
        ("PUT".into(), "/v1/clusters/c1".into(), 201, "ok".into(), "admin".into()),
    ];
    assert_eq!(rows, want.to_vec());
    let put_entry = &items[1];
    assert_eq!(put_entry["route"], "/v1/runtimes/{namespace}/{name}");
    assert_eq!(put_entry["requestId"], request_id.as_str());
    assert_eq!(put_entry["role"], "admin");
    // Filters and pages.
    let mine = app.get("/v1/audit?actor=reader").await.json();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let runtimes = app.get("/v1/audit?resource=/v1/runtimes/").await.json();
    assert_eq!(runtimes["items"].as_array().unwrap().len(), 2, "kept after the runtime was deleted");
    let first = app.get("/v1/audit?limit=2").await.json();
    let next = first["next"].as_str().unwrap();
    let second = app.get(&format!("/v1/audit?limit=2&cursor={next}")).await.json();
    assert_eq!(second["items"][0]["id"].as_i64().unwrap(), first["items"][1]["id"].as_i64().unwrap() - 1);
    let future = app.get("/v1/audit?since=2999-01-01T00:00:00Z").await.json();
    assert_eq!(future["items"], json!([]));
    app.get("/v1/audit?limit=0").await.problem(422, "validation_failed");
    app.call(Method::GET, "/v1/audit", Some(&viewer), None).await.problem(403, "forbidden");
    // Append-only, even for someone with the database file.
    let db = database(&app).await;
    let err = sqlx::query("UPDATE audit_log SET actor = 'nobody'").execute(&db).await.unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(sqlx::query("DELETE FROM audit_log").execute(&db).await.is_err());
}

#[actix_web::test]
async fn errors_never_quote_a_secret_and_framework_errors_are_problems() {
    let app = TestApp::start().await;
    let secret = "sup3r-s3cret-t0ken-value";
    let kubeconfig = format!(
        "apiVersion: v1\nclusters: []\nusers:\n- name: u\n  user:\n    token: {secret}\n    extra: [unclosed\n"
    );
    let r = app.put("/v1/clusters/k", json!({"kubeconfig": kubeconfig})).await;
    let p = r.problem(422, "validation_failed");
    assert_eq!(p["field"], "kubeconfig");
    assert!(!r.text().contains(secret), "{}", r.text());
    assert!(p["detail"].as_str().unwrap().contains("line 7"), "positions stay: {p}");
    for body in [
        json!({"registry": "r", "username": "u", "password": 987654321987u64}),
        json!({"dockerconfigjson": 987654321987u64}),
    ] {
        let r = app.put("/v1/credentials/c", body).await;
        let p = r.problem(422, "validation_failed");
        assert!(p["field"] == "password" || p["field"] == "dockerconfigjson", "{p}");
        assert!(!r.text().contains("987654321987"), "{}", r.text());
    }
    let r = app.put("/v1/clusters/k", json!({"server": "https://x", "token": 12345678901u64})).await;
    assert!(!r.text().contains("12345678901"), "{}", r.text());
    // Other fields still say what they were given.
    let p = app.put("/v1/credentials/c", json!({"registry": 5})).await.problem(422, "validation_failed");
    assert!(p["detail"].as_str().unwrap().contains('5'), "{p}");

    // An undeclared method on a served path: 405 with Allow.
    let r = app.call(Method::PATCH, "/v1/runtimes/ns/r1", Some(ADMIN), Some(json!({}))).await;
    let p = r.problem(405, "method_not_allowed");
    assert_eq!(r.header("allow").as_deref(), Some("GET, PUT, DELETE, HEAD"), "{p}");
    app.call(Method::GET, "/v1/nothing-here", Some(ADMIN), None).await.problem(404, "not_found");
    // A body over the limit: 413 as a problem.
    let big = "x".repeat(5 * 1024 * 1024);
    let req = TestRequest::put()
        .uri("/v1/credentials/c")
        .insert_header(("Authorization", format!("Bearer {ADMIN}")))
        .insert_header(("Content-Type", "application/json"))
        .set_payload(format!("{{\"description\": \"{big}\"}}"));
    let r = app.send(req).await;
    r.problem(413, "payload_too_large");
}

fn make_cert(dir: &std::path::Path) -> (String, String) {
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=fluidform-test", "-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn the_real_binary_serves_https_and_refuses_plain_http_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path());
    let log = dir.path().join("d.log");
    let env = [("FLUIDFORM_TLS_CERT", cert.as_str()), ("FLUIDFORM_TLS_KEY", key.as_str())];
    let d = Daemon::start_with(&dir.path().join("data"), &log, Some("tls-admin-token"), &env).expect("starts");
    let (status, body) = curl_https(&cert, &format!("https://{}/v1/tokens", d.addr), Some("tls-admin-token")).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(http(&d.addr, "GET", "/readyz", None, None).map(|(s, _)| s != 200).unwrap_or(true), "no plain HTTP");
    drop(d);

    // Plain HTTP on every interface is refused at start, and allowed when asked for.
    let addr = format!("0.0.0.0:{}", free_port());
    let err = Daemon::start_on(&addr, &dir.path().join("data2"), &log, Some("t"), &[]).err().expect("refused");
    assert!(err.contains("refusing to serve plain HTTP"), "{err}");
    let d = Daemon::start_on(&addr, &dir.path().join("data2"), &log, Some("t"), &[("FLUIDFORM_INSECURE_HTTP", "true")]);
    assert!(d.is_ok(), "{:?}", d.err());
    // A key that is not a key: the error names the file, never its bytes.
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nnot-a-key-c2VjcmV0\n-----END PRIVATE KEY-----\n").unwrap();
    let err = Daemon::start_with(&dir.path().join("data3"), &log, Some("t"), &env).err().expect("refused");
    assert!(err.contains("private key"), "{err}");
    let tail = std::fs::read_to_string(&log).unwrap();
    assert!(!tail.contains("not-a-key-c2VjcmV0"));
}

#[actix_web::test]
async fn credential_scopes_refuse_bindings_outside_them_and_store_nothing() {
    let app = TestApp::start().await;
    app.cluster("c1", &[]).await;
    app.cluster("c2", &[]).await;
    let scoped = json!({"registry": "r.example.com", "username": "u", "password": "p",
        "allowedNamespaces": ["team-*"], "allowedClusters": ["c1"]});
    let r = app.put("/v1/credentials/team-pull", scoped).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["allowedNamespaces"], json!(["team-*"]));
    let rt = |name: &str| crate::support::app::runtime_json(name, Some(&["team-pull"]), None, None, None);
    assert_eq!(app.put("/v1/runtimes/team-a/ok?cluster=c1", rt("ok")).await.status, 201);
    let res = app.get("/v1/runtimes/team-a/ok/resolved").await.json();
    assert_eq!(res["bindings"], json!({"team-pull": 1}));
    for (path, words) in [
        ("/v1/runtimes/other/no?cluster=c1", "namespace \"other\""),
        ("/v1/runtimes/team-b/no?cluster=c2", "cluster \"c2\""),
    ] {
        let r = app.put(path, rt("no")).await;
        let p = r.problem(403, "credential_not_allowed");
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains("team-pull") && detail.contains(words), "{detail}");
    }
    app.get("/v1/runtimes/other/no").await.problem(404, "not_found");
    app.get("/v1/runtimes/team-b/no").await.problem(404, "not_found");

    // A cluster default that would bind a runtime outside the scope is refused whole.
    let plain = crate::support::app::runtime_json("plain", None, None, None, None);
    assert_eq!(app.put("/v1/runtimes/team-b/plain?cluster=c2", plain).await.status, 201);
    let r = app.patch("/v1/clusters/c2", json!({"defaultImagePullSecrets": ["team-pull"]})).await;
    r.problem(403, "credential_not_allowed");
    assert_eq!(app.get("/v1/clusters/c2").await.json()["defaultImagePullSecrets"], json!([]));

    // A narrower scope must still hold the runtimes bound to it; a bad one names its field.
    let p = app.patch("/v1/credentials/team-pull", json!({"allowedNamespaces": ["team-b"]})).await;
    let p = p.problem(409, "scope_excludes_bindings");
    assert!(p["detail"].as_str().unwrap().contains("team-a/ok"), "{p}");
    let p = app.patch("/v1/credentials/team-pull", json!({"allowedNamespaces": []})).await;
    assert_eq!(p.problem(422, "validation_failed")["field"], "allowedNamespaces");
    let p = app.patch("/v1/credentials/team-pull", json!({"allowedClusters": ["C_1"]})).await;
    assert_eq!(p.problem(422, "validation_failed")["field"], "allowedClusters[0]");
    let wider = app.patch("/v1/credentials/team-pull", json!({"allowedClusters": null})).await;
    assert_eq!(wider.status, 200, "{}", wider.text());
    assert!(wider.json().get("allowedClusters").is_none(), "null: every cluster");
    assert_eq!(app.put("/v1/runtimes/team-b/now?cluster=c2", rt("now")).await.status, 201);

    // A layer rotation that would write the name into a runtime outside the scope.
    let mut old = crate::support::app::runtime_json("old", None, None, Some(&["old-pull"]), None);
    old["metadata"]["name"] = json!("old");
    assert_eq!(app.put("/v1/runtimes/other/old?cluster=c1", old).await.status, 201);
    let req = json!({"layer": {"layer": "worker", "from": "old-pull", "to": "team-pull"}});
    let p = app.post("/v1/rotations", req).await.problem(403, "credential_not_allowed");
    assert!(p["detail"].as_str().unwrap().contains("other/old"), "{p}");
    assert_eq!(app.get("/v1/locks").await.json()["items"], json!([]), "nothing started");
}

#[actix_web::test]
async fn an_object_fluidform_does_not_own_is_adopted_only_when_the_plan_says_so() {
    use crate::support::cluster::TestCluster;
    use crate::support::live::{client, get, kind_api, plan, register, wait_run};
    let cluster = TestCluster::start().await.expect("cluster starts");
    let app = TestApp::start().await;
    register(&app, "c1", &cluster, &[]).await;
    let rt = crate::support::app::runtime_json("owned", None, None, None, None);
    assert_eq!(app.put("/v1/runtimes/default/owned?cluster=c1", rt).await.status, 201);
    // A ConfigMap of the name fluidform renders, made by someone else.
    let kc = client(&cluster).await;
    let theirs: kube::api::DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "owned-config", "namespace": "default", "labels": {"team": "storage"}}, "data": {"mine": "yes"}}))
    .unwrap();
    kind_api(&kc, "ConfigMap", "default").create(&Default::default(), &theirs).await.expect("create");

    let p = plan(&app, json!({"runtimes": ["default/owned"], "refresh": true})).await;
    assert_eq!(p["summary"]["conflict"], 1, "{p}");
    let id = p["id"].as_str().unwrap();
    let listed = app.get(&format!("/v1/plans/{id}/objects?action=conflict")).await.json();
    assert_eq!(listed["items"][0]["name"], "owned-config", "{listed}");
    assert_eq!(listed["items"][0]["reasons"], json!(["not_owned"]));
    let refused = app.post(&format!("/v1/plans/{id}/apply"), json!({})).await.problem(409, "plan_conflicts");
    assert!(refused["detail"].as_str().unwrap().contains("ConfigMap default/owned-config"), "{refused}");
    let live = get(&kc, "ConfigMap", "default", "owned-config").await.unwrap();
    assert_eq!(live["data"], json!({"mine": "yes"}), "nothing was sent");
    assert!(get(&kc, "StatefulSet", "default", "owned-master").await.is_none(), "no other object either");

    let p = plan(&app, json!({"runtimes": ["default/owned"], "refresh": true, "adopt": true})).await;
    assert_eq!(p["summary"]["conflict"], 0, "{p}");
    let run = app.post(&format!("/v1/plans/{}/apply", p["id"].as_str().unwrap()), json!({})).await.json();
    let run = wait_run(&app, run["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let live = get(&kc, "ConfigMap", "default", "owned-config").await.unwrap();
    assert_eq!(live["metadata"]["labels"]["app.kubernetes.io/managed-by"], "fluidform", "{live}");
}
