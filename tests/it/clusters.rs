//! Cluster registration: explicit fields or a kubeconfig, credentials never returned,
//! clear errors for unusable input, ETag/If-Match.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

use crate::support::app::TestApp;

fn pem(label: &str) -> String {
    B64.encode(format!("-----BEGIN {label}-----\nMIIB\n-----END {label}-----\n"))
}

#[actix_web::test]
async fn token_cluster_round_trip_hides_the_token() {
    let app = TestApp::start().await;
    let r = app
        .put(
            "/v1/clusters/prod-east",
            json!({"server": "https://10.0.0.1:6443", "caData": pem("CERTIFICATE"), "token": "sekret-cluster-token",
                   "defaultImagePullSecrets": ["org-pull"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
    let body = r.json();
    assert_eq!(body["credentialKind"], "token");
    assert_eq!(body["defaultImagePullSecrets"], json!(["org-pull"]));
    assert!(!r.text().contains("sekret-cluster-token"));
    let got = app.get("/v1/clusters/prod-east").await;
    assert!(!got.text().contains("sekret-cluster-token"));
    assert_eq!(got.json()["server"], "https://10.0.0.1:6443");
    // A PUT replaces the whole cluster: without its credential it is refused, naming it.
    let p = app
        .put("/v1/clusters/prod-east", json!({"server": "https://10.0.0.1:6443", "caData": pem("CERTIFICATE")}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(p["field"], "token");
    assert_eq!(
        app.get("/v1/clusters/prod-east").await.json()["defaultImagePullSecrets"],
        json!(["org-pull"]),
        "nothing changed"
    );
    // A PATCH changes what it names and keeps the rest, the credential included.
    let patch = |body: serde_json::Value| {
        actix_web::test::TestRequest::patch()
            .uri("/v1/clusters/prod-east")
            .insert_header(("Authorization", format!("Bearer {}", crate::support::app::ADMIN)))
            .insert_header(("Content-Type", "application/merge-patch+json"))
            .set_payload(body.to_string())
    };
    let r = app.send(patch(json!({"defaultImagePullSecrets": ["org-pull", "team-pull"], "applyConcurrency": 8}))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["credentialKind"], "token");
    assert_eq!(b["defaultImagePullSecrets"], json!(["org-pull", "team-pull"]));
    assert_eq!(b["applyConcurrency"], 8);
    assert_eq!(b["server"], "https://10.0.0.1:6443", "not named, kept");
    assert_eq!(r.header("etag").as_deref(), Some("\"2\""));
    // The credential stays with its server: moving the server needs it again.
    let p = app.send(patch(json!({"server": "http://evil.example.com"}))).await.problem(422, "validation_failed");
    assert_eq!(p["field"], "token");
    assert!(!p.to_string().contains("sekret-cluster-token"));
    let r = app.send(patch(json!({"server": "https://10.0.0.2:6443", "token": "another-token"}))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["server"], "https://10.0.0.2:6443");
    // null removes a field (back to its default).
    let r = app.send(patch(json!({"applyConcurrency": null}))).await;
    assert!(r.json().get("applyConcurrency").is_none(), "{}", r.text());
    // A credential's metadata has a PATCH too; its secret does not change that way.
    app.credential("c1", "pw").await;
    let r = app
        .send(
            actix_web::test::TestRequest::patch()
                .uri("/v1/credentials/c1")
                .insert_header(("Authorization", format!("Bearer {}", crate::support::app::ADMIN)))
                .insert_header(("Content-Type", "application/merge-patch+json"))
                .set_payload(json!({"description": "pull robot"}).to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["description"], "pull robot");
    assert_eq!(r.json()["versions"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn kubeconfig_is_parsed_into_cert_credentials() {
    let app = TestApp::start().await;
    let kc = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: ctx\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: ctx\n  context:\n    cluster: k\n    user: u\n",
        ca = pem("CERTIFICATE"),
        cert = pem("CERTIFICATE"),
        key = pem("RSA PRIVATE KEY"),
    );
    let r = app.put("/v1/clusters/kc", json!({"kubeconfig": kc})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    assert_eq!(body["credentialKind"], "clientCertificate");
    assert_eq!(body["server"], "https://127.0.0.1:6443");
    assert!(!r.text().contains(&pem("RSA PRIVATE KEY")));
}

#[actix_web::test]
async fn unusable_kubeconfigs_and_fields_are_named() {
    let app = TestApp::start().await;
    let exec_kc = "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://h\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n";
    let p = app.put("/v1/clusters/a", json!({"kubeconfig": exec_kc})).await.problem(422, "validation_failed");
    assert_eq!(p["field"], "kubeconfig");
    assert!(p["detail"].as_str().unwrap().contains("exec"));
    let p =
        app.put("/v1/clusters/a", json!({"kubeconfig": "not: [a kubeconfig"})).await.problem(422, "validation_failed");
    assert_eq!(p["field"], "kubeconfig");
    let p =
        app.put("/v1/clusters/a", json!({"server": "ftp://x", "token": "t"})).await.problem(422, "validation_failed");
    assert_eq!(p["field"], "server");
    let p = app
        .put("/v1/clusters/a", json!({"server": "https://x", "token": "t", "clientCertData": pem("CERTIFICATE")}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(p["field"], "token");
    let p =
        app.put("/v1/clusters/a", json!({"server": "https://x"})).await.problem(422, "cluster_credentials_required");
    assert!(p["detail"].as_str().unwrap().contains("credentials"));
    let p = app
        .put("/v1/clusters/a", json!({"server": "https://x", "token": "t", "tokn": 1}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(p["field"], "tokn");
    let p = app
        .put(
            "/v1/clusters/a",
            json!({"server": "https://x", "token": "t", "defaultImagePullSecrets": ["ok", "Bad_Name"]}),
        )
        .await
        .problem(422, "validation_failed");
    assert_eq!(p["field"], "defaultImagePullSecrets[1]");
    let p = app
        .put("/v1/clusters/Upper", json!({"server": "https://x", "token": "t"}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(p["field"], "cluster");
    app.get("/v1/clusters/a").await.problem(404, "not_found");
    assert_eq!(app.get("/v1/clusters").await.json()["items"], json!([]), "nothing was stored");
}

#[actix_web::test]
async fn if_match_guards_updates_and_deletes() {
    let app = TestApp::start().await;
    app.cluster("c", &[]).await;
    let stale = actix_web::test::TestRequest::put()
        .uri("/v1/clusters/c")
        .insert_header(("Authorization", format!("Bearer {}", crate::support::app::ADMIN)))
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("If-Match", "\"7\""))
        .set_payload(json!({"server": "https://changed", "token": "t"}).to_string());
    app.send(stale).await.problem(412, "precondition_failed");
    assert_eq!(app.get("/v1/clusters/c").await.json()["server"], "https://127.0.0.1:6443");
    let fresh = actix_web::test::TestRequest::delete()
        .uri("/v1/clusters/c")
        .insert_header(("Authorization", format!("Bearer {}", crate::support::app::ADMIN)))
        .insert_header(("If-Match", "\"1\""));
    assert_eq!(app.send(fresh).await.status, 204);
}

#[actix_web::test]
async fn a_cluster_with_runtimes_cannot_be_deleted() {
    let app = TestApp::start().await;
    app.cluster("c", &[]).await;
    let rt = crate::support::app::runtime_json("r1", None, None, None, None);
    assert_eq!(app.put("/v1/runtimes/ns/r1?cluster=c", rt).await.status, 201);
    app.delete("/v1/clusters/c").await.problem(409, "cluster_in_use");
    assert_eq!(app.delete("/v1/runtimes/ns/r1").await.status, 204);
    assert_eq!(app.delete("/v1/clusters/c").await.status, 204);
}
