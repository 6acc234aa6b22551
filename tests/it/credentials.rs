//! Credentials and versions: stage labels, fingerprints, never the secret.

use serde_json::json;

use crate::support::app::TestApp;

#[actix_web::test]
async fn versions_get_labels_and_fingerprints_never_secrets() {
    let app = TestApp::start().await;
    let r = app
        .put(
            "/v1/credentials/global-secret",
            json!({"registry": "r.example.com", "username": "u", "password": "pw-one-9f8e"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let c = r.json();
    assert_eq!(c["currentVersion"], 1);
    assert_eq!(c["versions"][0]["stages"], json!(["current"]));
    assert_eq!(c["versions"][0]["secretName"], "global-secret-v1");
    assert!(c["versions"][0]["fingerprint"].as_str().unwrap().starts_with("hmac-sha256:"));

    let v2 = app
        .post(
            "/v1/credentials/global-secret/versions",
            json!({"registry": "r.example.com", "username": "u", "password": "pw-two-7a6b"}),
        )
        .await;
    assert_eq!(v2.status, 201, "{}", v2.text());
    assert_eq!(v2.json()["version"], 2);
    assert_eq!(v2.json()["stages"], json!(["pending"]));
    let v3 = app
        .post(
            "/v1/credentials/global-secret/versions",
            json!({"dockerconfigjson": {"auths": {"r.example.com": {"auth": "dTpwdy10aHJlZQ=="}}}}),
        )
        .await;
    assert_eq!(v3.status, 201, "{}", v3.text());

    let list = app.get("/v1/credentials/global-secret/versions").await;
    let items = list.json()["items"].clone();
    let stages: Vec<_> = items.as_array().unwrap().iter().map(|v| v["stages"].clone()).collect();
    assert_eq!(
        stages,
        [json!(["current"]), json!([]), json!(["pending"])],
        "the newest un-promoted version is pending"
    );
    let fps: Vec<_> =
        items.as_array().unwrap().iter().map(|v| v["fingerprint"].as_str().unwrap().to_string()).collect();
    assert_ne!(fps[0], fps[1]);
    for secret in ["pw-one-9f8e", "pw-two-7a6b", "dTpwdy10aHJlZQ=="] {
        assert!(!list.text().contains(secret));
        assert!(!app.get("/v1/credentials").await.text().contains(secret));
    }
}

#[actix_web::test]
async fn same_secret_is_idempotent_other_secret_conflicts() {
    let app = TestApp::start().await;
    let body = json!({"registry": "r", "username": "u", "password": "p1"});
    assert_eq!(app.put("/v1/credentials/c", body.clone()).await.status, 201);
    let again = app.put("/v1/credentials/c", body).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["versions"].as_array().unwrap().len(), 1);
    let p = app
        .put("/v1/credentials/c", json!({"registry": "r", "username": "u", "password": "p2"}))
        .await
        .problem(409, "credential_exists");
    assert!(p["detail"].as_str().unwrap().contains("/versions"));
}

#[actix_web::test]
async fn bad_credentials_name_their_fields() {
    let app = TestApp::start().await;
    let p =
        app.put("/v1/credentials/c", json!({"registry": "r", "username": "u"})).await.problem(422, "validation_failed");
    assert_eq!(p["field"], "password");
    let p = app.put("/v1/credentials/c", json!({"dockerconfigjson": "{}"})).await.problem(422, "validation_failed");
    assert_eq!(p["field"], "dockerconfigjson");
    let p = app
        .put("/v1/credentials/Not_Valid", json!({"registry": "r", "username": "u", "password": "p"}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(p["field"], "name");
    app.post("/v1/credentials/missing/versions", json!({"registry": "r", "username": "u", "password": "p"}))
        .await
        .problem(404, "not_found");
    let p = app.put("/v1/credentials/c", json!({"registry": 5})).await.problem(422, "validation_failed");
    assert_eq!(p["field"], "registry");
    let r = app
        .send(
            actix_web::test::TestRequest::put()
                .uri("/v1/credentials/c")
                .insert_header(("Authorization", format!("Bearer {}", crate::support::app::ADMIN)))
                .insert_header(("Content-Type", "application/json"))
                .set_payload("{not json"),
        )
        .await;
    r.problem(400, "malformed_body");
    assert_eq!(app.get("/v1/credentials").await.json()["items"], json!([]));
}
