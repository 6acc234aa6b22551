//! Bearer tokens and roles: 401 without or with a wrong token, 403 for a role too low.

use actix_web::http::Method;
use serde_json::json;

use crate::support::app::{ADMIN, TestApp, runtime_json};

async fn token(app: &TestApp, name: &str, role: &str) -> String {
    let r = app.post("/v1/tokens", json!({"name": name, "role": role})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    assert_eq!(body["role"], role);
    body["token"].as_str().expect("token shown once").to_string()
}

#[actix_web::test]
async fn missing_or_wrong_token_is_401() {
    let app = TestApp::start().await;
    app.call(Method::GET, "/v1/clusters", None, None).await.problem(401, "unauthorized");
    app.call(Method::GET, "/v1/clusters", Some("nope"), None).await.problem(401, "unauthorized");
    let ok = app.call(Method::GET, "/v1/clusters", Some(ADMIN), None).await;
    assert_eq!(ok.status, 200);
}

#[actix_web::test]
async fn open_endpoints_need_no_token() {
    let app = TestApp::start().await;
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let r = app.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, 200, "{path}");
    }
    let docs = app.call(Method::GET, "/docs/", None, None).await;
    assert_eq!(docs.status, 200);
    assert!(docs.text().contains("swagger"), "docs page is Swagger UI");
    let js = app.call(Method::GET, "/docs/swagger-ui-bundle.js", None, None).await;
    assert_eq!(js.status, 200, "Swagger UI assets are served locally, not from a CDN");
}

#[actix_web::test]
async fn roles_gate_each_kind_of_call() {
    let app = TestApp::start().await;
    app.cluster("c1", &[]).await;
    let viewer = token(&app, "portal-read", "viewer").await;
    let operator = token(&app, "portal", "operator").await;
    let rt = runtime_json("alpha", Some(&["global-secret"]), None, None, None);

    // Viewers read, never write.
    assert_eq!(app.call(Method::GET, "/v1/runtimes", Some(&viewer), None).await.status, 200);
    app.call(Method::PUT, "/v1/runtimes/ns/alpha?cluster=c1", Some(&viewer), Some(rt.clone()))
        .await
        .problem(403, "forbidden");
    // Operators write runtimes but not clusters, credentials or tokens.
    let put = app.call(Method::PUT, "/v1/runtimes/ns/alpha?cluster=c1", Some(&operator), Some(rt)).await;
    assert_eq!(put.status, 201, "{}", put.text());
    app.call(Method::PUT, "/v1/clusters/c2", Some(&operator), Some(json!({"server": "https://x", "token": "t"})))
        .await
        .problem(403, "forbidden");
    app.call(
        Method::PUT,
        "/v1/credentials/global-secret",
        Some(&operator),
        Some(json!({"registry": "r", "username": "u", "password": "p"})),
    )
    .await
    .problem(403, "forbidden");
    app.call(Method::POST, "/v1/tokens", Some(&operator), Some(json!({"name": "x", "role": "admin"})))
        .await
        .problem(403, "forbidden");
    app.call(Method::GET, "/v1/tokens", Some(&viewer), None).await.problem(403, "forbidden");
    // Nothing the refused calls asked for exists.
    app.get("/v1/clusters/c2").await.problem(404, "not_found");
    app.get("/v1/credentials/global-secret").await.problem(404, "not_found");
}

#[actix_web::test]
async fn tokens_are_listed_without_secrets_and_revocable() {
    let app = TestApp::start().await;
    let t = token(&app, "ci", "operator").await;
    assert!(t.starts_with("ff_"));
    let list = app.get("/v1/tokens").await.json();
    let names: Vec<_> = list["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "ci"]);
    assert!(!list.to_string().contains(&t), "list never shows a token");
    app.post("/v1/tokens", json!({"name": "ci", "role": "viewer"})).await.problem(409, "token_exists");
    app.post("/v1/tokens", json!({"name": "ci2", "role": "root"})).await.problem(422, "validation_failed");
    assert_eq!(app.call(Method::GET, "/v1/runtimes", Some(&t), None).await.status, 200);
    assert_eq!(app.delete("/v1/tokens/ci").await.status, 204);
    app.call(Method::GET, "/v1/runtimes", Some(&t), None).await.problem(401, "unauthorized");
    app.delete("/v1/tokens/ci").await.problem(404, "not_found");
}

#[actix_web::test]
async fn idempotency_key_replays_the_first_reply() {
    let app = TestApp::start().await;
    let send = |key: &'static str, name: &'static str| {
        let req = actix_web::test::TestRequest::post()
            .uri("/v1/tokens")
            .insert_header(("Authorization", format!("Bearer {ADMIN}")))
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("Idempotency-Key", key))
            .set_payload(json!({"name": name, "role": "viewer"}).to_string());
        app.send(req)
    };
    let first = send("k-1", "once").await;
    assert_eq!(first.status, 201);
    let again = send("k-1", "once").await;
    assert_eq!(again.status, 201, "a retry gets the first reply, not token_exists");
    assert_eq!(again.json()["token"], first.json()["token"]);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    send("k-1", "other").await.problem(422, "idempotency_key_reused");
    let list = app.get("/v1/tokens").await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "one token created, not two");
}
