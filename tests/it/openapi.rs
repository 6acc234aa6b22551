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
