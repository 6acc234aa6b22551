//! Credential versions proven against a real registry (the Distribution registry, TLS from
//! a test CA): htpasswd and token auth, wrong passwords, unknown users, expired tokens,
//! unreachable and silent registries, a dockerconfigjson naming two registries, a proxy;
//! then rotations that prove their target: refused on an invalid target, paused when the
//! target is revoked between batches, and waiting for the old version's revocation.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::support::app::{TestApp, runtime_json};
use crate::support::cluster::{TestCluster, free_port};
use crate::support::live::{converge, label_nodes_for, register, wait_rolled_out, wait_rotation};
use crate::support::registry::{ConnectProxy, TestRegistry};
use fluidform::registry::http::{ClientSettings, HttpRegistries, Proxy};

async fn put_password(app: &TestApp, name: &str, reg: &TestRegistry, user: &str, password: &str) {
    let body = json!({"registry": reg.host, "username": user, "password": password, "registryCaData": reg.ca_pem});
    let r = app.put(&format!("/v1/credentials/{name}"), body).await;
    assert_eq!(r.status, 201, "{}", r.text());
}

async fn add_version(app: &TestApp, name: &str, reg: &TestRegistry, user: &str, password: &str) -> u32 {
    let body = json!({"registry": reg.host, "username": user, "password": password});
    let r = app.post(&format!("/v1/credentials/{name}/versions"), body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["version"].as_u64().unwrap() as u32
}

async fn verify(app: &TestApp, name: &str, version: u32) -> Value {
    let r = app.post(&format!("/v1/credentials/{name}/versions/{version}/verify"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Asserts `text` holds none of `secrets` (also not base64-encoded as `user:password`).
#[track_caller]
fn assert_no_secret(text: &str, user: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "a secret leaked: {text}");
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{s}"));
        assert!(!text.contains(&b), "a secret leaked (base64): {text}");
    }
}

fn db_bytes(app: &TestApp) -> String {
    String::from_utf8_lossy(&fluidform::store::scratch::database_bytes(app.dir.path())).into_owned()
}

#[actix_web::test]
async fn htpasswd_registry_valid_wrong_password_unknown_user_and_untrusted_tls() {
    let reg = TestRegistry::htpasswd(&[("puller", "right-pass-1")]).await.expect("registry");
    let app = TestApp::start().await;
    put_password(&app, "cred", &reg, "puller", "right-pass-1").await;

    let ok = verify(&app, "cred", 1).await;
    assert_eq!(ok["outcome"], "valid", "{ok}");
    assert_eq!(ok["registries"][0]["registry"], reg.host);
    assert_eq!(ok["registries"][0]["status"], 200, "{ok}");
    assert_eq!(ok["actor"], "admin");
    assert!(ok["at"].is_string());

    let v2 = add_version(&app, "cred", &reg, "puller", "wrong-pass-2").await;
    let bad = verify(&app, "cred", v2).await;
    assert_eq!(bad["outcome"], "invalid", "{bad}");
    assert_eq!(bad["registries"][0]["status"], 401, "{bad}");
    assert_eq!(bad["revokedNow"], false, "a pending version is not superseded");

    let v3 = add_version(&app, "cred", &reg, "nobody", "whatever-3").await;
    let unknown = verify(&app, "cred", v3).await;
    assert_eq!(unknown["outcome"], "invalid", "{unknown}");
    assert_eq!(unknown["registries"][0]["status"], 401);

    // The outcome is stored on the version and shown in the listing.
    let listed = app.get("/v1/credentials/cred").await.json();
    let versions = listed["versions"].as_array().unwrap();
    assert_eq!(versions[0]["verification"]["outcome"], "valid", "{listed}");
    assert_eq!(versions[0]["live"], true);
    assert_eq!(versions[1]["verification"]["outcome"], "invalid");
    assert_eq!(versions[1]["live"], false);
    assert_eq!(listed["liveVersions"], json!([1]));
    let listing = app.get("/v1/credentials/cred/versions").await;
    assert_eq!(listing.json()["items"][2]["verification"]["registries"][0]["status"], 401);

    for text in [ok.to_string(), bad.to_string(), unknown.to_string(), listed.to_string(), listing.text()] {
        assert_no_secret(&text, "puller", &["right-pass-1", "wrong-pass-2"]);
        assert_no_secret(&text, "nobody", &["whatever-3"]);
    }
    assert_no_secret(&db_bytes(&app), "puller", &["right-pass-1", "wrong-pass-2"]);
    let audit = app.get("/v1/audit").await;
    assert_eq!(audit.status, 200, "{}", audit.text());
    assert!(audit.text().contains("/verify"), "the proofs are audited: {}", audit.text());
    assert_no_secret(&audit.text(), "puller", &["right-pass-1", "wrong-pass-2"]);

    // Without the test CA the registry's certificate is not trusted: unreachable, and the
    // answer says why. insecureSkipTlsVerify (asked for) gets through.
    let r = app.patch("/v1/credentials/cred", json!({"registryCaData": null})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let untrusted = verify(&app, "cred", 1).await;
    assert_eq!(untrusted["outcome"], "unreachable", "{untrusted}");
    assert!(
        untrusted["registries"][0]["detail"].as_str().unwrap().to_lowercase().contains("certificate"),
        "{untrusted}"
    );
    let r = app.patch("/v1/credentials/cred", json!({"insecureSkipTlsVerify": true})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(verify(&app, "cred", 1).await["outcome"], "valid");

    // Bad input names the field.
    let p = app
        .patch("/v1/credentials/cred", json!({"registryCaData": "not a pem"}))
        .await
        .problem(422, "validation_failed");
    assert!(p.to_string().contains("registryCaData"), "{p}");
    let p = app
        .patch("/v1/credentials/cred", json!({"registryCaData": reg.ca_pem}))
        .await
        .problem(422, "validation_failed");
    assert!(p.to_string().contains("insecureSkipTlsVerify"), "{p}");
    let p = app.post("/v1/credentials/cred/versions/x/verify", json!({})).await.problem(422, "validation_failed");
    assert!(p.to_string().contains("version"), "{p}");
    app.post("/v1/credentials/cred/versions/9/verify", json!({})).await.problem(404, "not_found");
}

#[actix_web::test]
async fn token_registry_valid_wrong_password_and_expired_token() {
    let reg =
        TestRegistry::token(&[("robot", "robot-pass"), ("stale", "stale-pass")], &["stale"]).await.expect("registry");
    let app = TestApp::start().await;
    put_password(&app, "tok", &reg, "robot", "robot-pass").await;
    let ok = verify(&app, "tok", 1).await;
    assert_eq!(ok["outcome"], "valid", "{ok}");

    let v2 = add_version(&app, "tok", &reg, "robot", "not-the-pass").await;
    let bad = verify(&app, "tok", v2).await;
    assert_eq!(bad["outcome"], "invalid", "{bad}");
    assert_eq!(bad["registries"][0]["status"], 401);
    assert!(bad["registries"][0]["detail"].as_str().unwrap().contains("token service"), "{bad}");

    // The token service takes the password but hands out a token already expired: the
    // registry refuses the token, so the version does not work.
    let v3 = add_version(&app, "tok", &reg, "stale", "stale-pass").await;
    let expired = verify(&app, "tok", v3).await;
    assert_eq!(expired["outcome"], "invalid", "{expired}");
    assert_eq!(expired["registries"][0]["status"], 401);
    assert!(expired["registries"][0]["detail"].as_str().unwrap().contains("token"), "{expired}");
    assert_eq!(reg.token_requests(), vec!["200 robot", "401", "200 stale"]);
    for text in [ok.to_string(), bad.to_string(), expired.to_string()] {
        assert_no_secret(&text, "robot", &["robot-pass", "not-the-pass"]);
        assert_no_secret(&text, "stale", &["stale-pass"]);
    }
}

#[actix_web::test]
async fn a_dockerconfigjson_is_proven_at_each_of_its_registries() {
    let a = TestRegistry::htpasswd(&[("alice", "pass-a")]).await.expect("registry a");
    let b = TestRegistry::htpasswd(&[("bob", "pass-b")]).await.expect("registry b");
    let app = TestApp::start().await;
    let auth = |u: &str, p: &str| base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
    let config = |pb: &str| {
        json!({"auths": {
            a.host.clone(): {"username": "alice", "password": "pass-a"},
            b.host.clone(): {"auth": auth("bob", pb)},
        }})
    };
    let body = json!({"dockerconfigjson": config("pass-b"), "registryCaData": format!("{}{}", a.ca_pem, b.ca_pem)});
    let r = app.put("/v1/credentials/two", body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let ok = verify(&app, "two", 1).await;
    assert_eq!(ok["outcome"], "valid", "{ok}");
    let mut seen: Vec<&str> =
        ok["registries"].as_array().unwrap().iter().map(|c| c["registry"].as_str().unwrap()).collect();
    seen.sort();
    let mut want = vec![a.host.as_str(), b.host.as_str()];
    want.sort();
    assert_eq!(seen, want);

    // One of the two refuses it: the version is invalid, and the answer says which.
    let r = app.post("/v1/credentials/two/versions", json!({"dockerconfigjson": config("old-b")})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let bad = verify(&app, "two", 2).await;
    assert_eq!(bad["outcome"], "invalid", "{bad}");
    let by: std::collections::BTreeMap<String, String> = bad["registries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["registry"].as_str().unwrap().to_string(), c["outcome"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(by[&a.host], "valid");
    assert_eq!(by[&b.host], "invalid");
    assert_no_secret(&bad.to_string(), "bob", &["old-b", "pass-b"]);
    assert_no_secret(&bad.to_string(), "alice", &["pass-a"]);
}

#[actix_web::test]
async fn unreachable_and_silent_registries_answer_in_bounded_time() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_host = silent.local_addr().unwrap().to_string();
    let closed_host = format!("127.0.0.1:{}", free_port().unwrap());
    let app = TestApp::start_tuned(|ctx| {
        let settings = ClientSettings { timeout: Duration::from_secs(2), ..ClientSettings::default() };
        ctx.registries = std::sync::Arc::new(HttpRegistries::new(settings));
    })
    .await;
    for (name, host) in [("closed", &closed_host), ("silent", &silent_host)] {
        let r = app
            .put(&format!("/v1/credentials/{name}"), json!({"registry": host, "username": "u", "password": "p-secret"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let t = Instant::now();
        let v = verify(&app, name, 1).await;
        assert!(t.elapsed() < Duration::from_secs(8), "{name} took {:?}", t.elapsed());
        assert_eq!(v["outcome"], "unreachable", "{v}");
        assert!(v["registries"][0].get("status").is_none(), "{v}");
        assert_no_secret(&v.to_string(), "u", &["p-secret"]);
    }
    drop(silent);
}

#[actix_web::test]
async fn verification_goes_through_the_proxy_and_is_paced_per_registry() {
    let reg = TestRegistry::htpasswd(&[("puller", "through-proxy")]).await.expect("registry");
    let proxy = ConnectProxy::start().expect("proxy");
    let url = proxy.url.clone();
    let app = TestApp::start_tuned(move |ctx| {
        let settings = ClientSettings {
            timeout: Duration::from_secs(10),
            interval: Duration::from_millis(700),
            proxy: Proxy { https: Some(url), http: None, no: None },
        };
        ctx.registries = std::sync::Arc::new(HttpRegistries::new(settings));
    })
    .await;
    put_password(&app, "via", &reg, "puller", "through-proxy").await;
    let t = Instant::now();
    for _ in 0..3 {
        assert_eq!(verify(&app, "via", 1).await["outcome"], "valid");
    }
    assert!(t.elapsed() >= Duration::from_millis(1400), "three checks of one registry in {:?}", t.elapsed());
    let tunnels = proxy.tunnels.lock().unwrap().clone();
    assert!(!tunnels.is_empty() && tunnels.iter().all(|h| h == &reg.host), "{tunnels:?}");
}

/// A runtime pulling with `global-secret` on the container network.
fn fleet_runtime(name: &str) -> Value {
    let mut rt = runtime_json(name, Some(&["global-secret"]), None, None, None);
    for c in ["master", "worker", "fuse"] {
        rt["spec"][c] = json!({"networkMode": "ContainerNetwork"});
    }
    rt
}

#[actix_web::test]
async fn rotations_prove_their_target_and_wait_for_the_old_version_to_be_revoked() {
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let reg = TestRegistry::htpasswd(&[("puller-1", "pass-1"), ("puller-3", "pass-3")]).await.expect("registry");
    // Every batch proves the target again (no proof is young enough).
    let app = TestApp::start_with_settings(|s| s.verify_max_age = chrono::Duration::zero()).await;
    put_password(&app, "global-secret", &reg, "puller-1", "pass-1").await;
    register(&app, "r", &cluster, &[]).await;
    let names = ["r-rt0", "r-rt1"];
    for n in names {
        let r = app.put(&format!("/v1/runtimes/fleet/{n}?cluster=r"), fleet_runtime(n)).await;
        assert_eq!(r.status, 201, "{}", r.text());
        app.shared_dataset("fleet", n, "r").await;
    }
    label_nodes_for(&cluster, &names.map(|n| ("fleet", n))).await;
    converge(&app, json!({"all": true})).await;
    wait_rolled_out(&cluster, "fleet", &names).await;

    // A mistyped password: refused before anything moves, naming the registry.
    let v2 = add_version(&app, "global-secret", &reg, "puller-2", "typo").await;
    let req = json!({"credential": "global-secret", "toVersion": v2, "batches": [1, "100%"]});
    let preview = app.post("/v1/rotations/preview", req.clone()).await;
    assert_eq!(preview.status, 200, "{}", preview.text());
    assert_eq!(preview.json()["verification"]["outcome"], "invalid");
    assert!(preview.json()["unverified"].as_str().unwrap().contains(&reg.host));
    let p = app.post("/v1/rotations", req.clone()).await.problem(422, "credential_unverified");
    assert!(p["detail"].as_str().unwrap().contains(&reg.host), "{p}");
    assert!(p.to_string().contains("toVersion"), "{p}");
    assert_no_secret(&p.to_string(), "puller-2", &["typo"]);
    // best-effort still stops on invalid.
    let mut be = req.clone();
    be["verify"] = json!("best-effort");
    app.post("/v1/rotations", be).await.problem(422, "credential_unverified");
    let p = app.post("/v1/rotations", json!({"credential": "global-secret", "verify": "maybe"})).await;
    let p = p.problem(422, "validation_failed");
    assert!(p.to_string().contains("verify"), "{p}");

    // A good version, revoked at the registry between the first and the second batch: the
    // second batch proves it again and pauses before it moves a binding.
    let v3 = add_version(&app, "global-secret", &reg, "puller-3", "pass-3").await;
    let req = json!({"credential": "global-secret", "toVersion": v3, "batches": [1, "100%"], "gate": "manual",
        "healthTimeout": 120, "awaitRevocation": true});
    let r = app.post("/v1/rotations", req).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    fluidform::engine::rotation::spawn_rotation_driver(&app.state.ctx);
    wait_rotation(&app, &id, 120, |r| r["state"] == "waiting_approval").await;
    reg.set_users(&[("puller-1", "pass-1")]);
    let r = app.post(&format!("/v1/rotations/{id}/approve"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let paused = wait_rotation(&app, &id, 60, |r| r["state"] == "paused").await;
    assert_eq!(paused["batches"][1]["state"], "pending", "nothing moved: {paused}");
    let why = paused["error"].as_str().unwrap_or_default();
    assert!(why.contains(&reg.host) && why.contains("invalid"), "{paused}");

    // Put it back and resume: the rest goes, the labels shift, and the rotation waits for
    // version 1 to stop working at the registry.
    reg.set_users(&[("puller-1", "pass-1"), ("puller-3", "pass-3")]);
    let r = app.post(&format!("/v1/rotations/{id}/resume"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r =
        wait_rotation(&app, &id, 180, |r| r["state"] == "waiting_approval" || r["batches"][1]["state"] == "healthy")
            .await;
    if r["state"] == "waiting_approval" {
        let a = app.post(&format!("/v1/rotations/{id}/approve"), json!({})).await;
        assert_eq!(a.status, 200, "{}", a.text());
    }
    wait_rotation(&app, &id, 180, |r| r["batches"][1]["state"] == "healthy").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = app.get("/v1/credentials/global-secret").await.json();
        if c["currentVersion"] == v3 {
            break;
        }
        assert!(Instant::now() < deadline, "labels never shifted: {c}");
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    }
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let still = app.get(&format!("/v1/rotations/{id}")).await.json();
    assert_eq!(still["state"], "running", "the old version still works: {still}");
    let live = verify(&app, "global-secret", 1).await;
    assert_eq!(live["outcome"], "valid");
    assert_eq!(live["revokedNow"], false);

    // The old password leaves htpasswd: the next proof (ours, or the rotation's own, which
    // proves the old version again while it waits) marks version 1 revoked, with time and
    // actor, and the rotation completes.
    reg.set_users(&[("puller-3", "pass-3")]);
    let gone = verify(&app, "global-secret", 1).await;
    assert_eq!(gone["outcome"], "invalid", "{gone}");
    let by = gone["versionStatus"]["revokedBy"].as_str().unwrap_or_default().to_string();
    assert!(by == "admin" || by == format!("rotation:{id}"), "{gone}");
    assert_eq!(gone["revokedNow"], by == "admin", "{gone}");
    assert!(gone["versionStatus"]["revokedAt"].is_string());
    wait_rotation(&app, &id, 60, |r| r["state"] == "succeeded").await;
    let c = app.get("/v1/credentials/global-secret").await.json();
    assert_eq!(c["liveVersions"], json!([v3]), "{c}");
    let v1 = &c["versions"][0];
    assert_eq!(v1["stages"], json!(["previous"]), "{c}");
    assert!(v1["revokedAt"].is_string(), "{c}");
    let events = app.get(&format!("/v1/rotations/{id}/events")).await.text();
    assert!(events.contains("target_verified"), "{events}");
    assert_no_secret(&events, "puller-3", &["pass-3"]);
    assert_no_secret(&events, "puller-1", &["pass-1"]);
}
