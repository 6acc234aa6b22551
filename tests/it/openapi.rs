//! The committed OpenAPI document equals what the binary serves.

use crate::support::app::TestApp;

#[actix_web::test]
async fn committed_openapi_matches_served() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
        .expect("openapi/openapi.json is committed");
    let generated = fluidform::api::openapi_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale; regenerate it with: cargo run -- openapi > openapi/openapi.json"
    );
    let app = TestApp::start().await;
    let served: serde_json::Value = app.get("/openapi.json").await.json();
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(served, committed);
}

#[test]
fn every_v1_operation_is_documented_with_auth_and_problems() {
    let doc: serde_json::Value = serde_json::from_str(&fluidform::api::openapi_json()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v1/runtimes/{namespace}/{name}/resolved"));
    let mut ops = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            ops += 1;
            assert!(op["operationId"].is_string(), "{method} {path} has an operation id");
            if path.starts_with("/v1/") {
                assert!(op["security"].is_array(), "{method} {path} declares bearer auth");
                assert!(op["responses"]["4XX"].is_object(), "{method} {path} documents its problems");
            }
        }
    }
    assert!(ops >= 21, "only {ops} operations documented");
}

/// The document says what the server enforces: the shapes a body takes, the syntax of
/// names, ranges and non-empty lists; each promise here is one the server keeps (the
/// tests of each route, scripts/schemathesis.sh and scripts/client-walkthrough.sh check
/// the server against the whole document).
#[test]
fn the_document_states_what_the_server_enforces() {
    let doc: serde_json::Value = serde_json::from_str(&fluidform::api::openapi_json()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let refs = |name: &str| -> Vec<String> {
        schemas[name]["oneOf"]
            .as_array()
            .unwrap_or(&vec![])
            .iter()
            .map(|r| r["$ref"].as_str().unwrap_or("").to_string())
            .collect()
    };
    // Alternatives as oneOf, each closed and with exactly its required fields.
    assert_eq!(
        refs("ClusterRequest"),
        ["ClusterWithToken", "ClusterWithCertificate", "ClusterWithKubeconfig"]
            .map(|n| format!("#/components/schemas/{n}"))
    );
    assert_eq!(schemas["ClusterWithToken"]["required"], serde_json::json!(["server", "token"]));
    assert_eq!(
        schemas["ClusterWithCertificate"]["required"],
        serde_json::json!(["server", "clientCertData", "clientKeyData"])
    );
    assert_eq!(schemas["ClusterWithKubeconfig"]["required"], serde_json::json!(["kubeconfig"]));
    assert!(schemas["ClusterWithKubeconfig"]["properties"]["server"].is_null(), "a kubeconfig brings its server");
    assert_eq!(
        refs("CredentialRequest"),
        ["CredentialWithPassword", "CredentialWithDockerConfig"].map(|n| format!("#/components/schemas/{n}"))
    );
    for shape in [
        "ClusterWithToken",
        "ClusterWithCertificate",
        "ClusterWithKubeconfig",
        "CredentialWithPassword",
        "NotificationRequest",
    ] {
        assert_eq!(schemas[shape]["additionalProperties"], false, "{shape} refuses unknown fields");
    }
    // Names in paths, as the validators check them.
    let param = |path: &str, method: &str, name: &str| -> serde_json::Value {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap().clone();
        params.into_iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{method} {path} {name}"))["schema"]
            .clone()
    };
    let label1035 = param("/v1/runtimes/{namespace}/{name}", "put", "name");
    assert_eq!(
        (label1035["pattern"].as_str(), label1035["maxLength"].as_u64()),
        (Some("^[a-z]([-a-z0-9]*[a-z0-9])?$"), Some(63))
    );
    assert_eq!(param("/v1/runtimes/{namespace}/{name}", "put", "namespace")["maxLength"], 63);
    assert_eq!(param("/v1/clusters/{cluster}", "put", "cluster")["maxLength"], 253);
    assert_eq!(param("/v1/credentials/{name}", "put", "name")["maxLength"], 200);
    assert_eq!(param("/v1/credentials/{name}/versions/{version}/verify", "post", "version")["minimum"], 1);
    assert_eq!(param("/v1/runtimes", "get", "limit")["maximum"], 1000);
    // Ranges and non-empty lists.
    let with = &schemas["ClusterWithToken"]["properties"];
    assert_eq!(with["applyConcurrency"]["oneOf"][0]["maximum"], 64);
    assert_eq!(schemas["NotificationRequest"]["properties"]["triggers"]["minItems"], 1);
    assert_eq!(schemas["NotificationRequest"]["properties"]["secret"]["minLength"], 16);
    assert_eq!(schemas["RotationRequest"]["properties"]["batches"]["oneOf"][0]["minItems"], 1);
    assert_eq!(schemas["RotationRequest"]["properties"]["maxUnavailable"]["oneOf"][0]["maximum"], 1000);
    assert_eq!(schemas["CredentialPatch"]["properties"]["allowedClusters"]["oneOf"][0]["minItems"], 1);
    assert_eq!(schemas["RollbackRequest"]["required"], serde_json::json!(["revision"]));
    assert!(schemas["PlanRequest"]["not"].is_object(), "a plan names its runtimes or all");
}

/// A rule the document states is one the server keeps: a body the document refuses is
/// refused by the server with a problem naming the field.
#[actix_web::test]
async fn the_server_refuses_what_the_document_refuses() {
    use serde_json::json;
    let app = TestApp::start().await;
    let cases = [
        ("/v1/clusters/a", json!({"kubeconfig": "x", "insecureSkipTlsVerify": true}), "insecureSkipTlsVerify"),
        ("/v1/clusters/a", json!({"server": "https://host name", "token": "t"}), "server"),
        ("/v1/clusters/a", json!({"server": "https://h\"x", "token": "t"}), "server"),
        // A token is sent in a header: a control character in it once panicked a worker.
        ("/v1/clusters/a", json!({"server": "https://h", "token": "a\nb"}), "token"),
        ("/v1/tokens", json!(["x", "admin"]), ""),
    ];
    for (path, body, field) in cases {
        let res =
            if path == "/v1/tokens" { app.post(path, body.clone()).await } else { app.put(path, body.clone()).await };
        let p = res.problem(422, "validation_failed");
        assert!(p["errors"].as_array().unwrap().iter().any(|e| e["field"] == field), "{path} {body}: {p}");
    }
    // An integer written as a float is the integer (JSON Schema's `integer`).
    let t = app.post("/v1/tokens", json!({"name": "f", "role": "viewer", "expiresIn": 3600.0})).await;
    assert_eq!(t.status.as_u16(), 201, "{}", t.text());
    // Numeric cursors are digits only.
    let p = app.get("/v1/audit?cursor=%2B5").await.problem(422, "validation_failed");
    assert_eq!(p["field"], "cursor");
}
