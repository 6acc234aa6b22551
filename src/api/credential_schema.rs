//! The OpenAPI schemas of the credential requests, written out because the server takes one
//! of two shapes (registry + username + password, or a whole dockerconfigjson) and refuses
//! anything else: a derived schema could only say "all optional".

use serde_json::{Value, json};
use utoipa::openapi::{RefOr, schema::Schema};

use crate::service::credentials::{CredentialRequest, VersionRequest};

fn secret_shapes(extra: Value) -> Value {
    let with = |mut props: Value, required: &[&str]| {
        props.as_object_mut().expect("object").extend(extra.as_object().cloned().unwrap_or_default());
        json!({"type": "object", "required": required, "properties": props, "additionalProperties": false})
    };
    let password = with(
        json!({
            "registry": {"type": "string", "minLength": 1, "pattern": "^\\S+$",
                "description": "Registry server, e.g. `registry.example.com` (or `http://host:port` for a plain-http one)."},
            "username": {"type": "string", "minLength": 1, "pattern": "^[^:]+$"},
            "password": {"type": "string", "minLength": 1, "writeOnly": true, "description": "Password or token. Write-only."},
        }),
        &["registry", "username", "password"],
    );
    let docker = with(
        json!({
            "dockerconfigjson": {
                "description": "A whole `.dockerconfigjson`: an object, or a string holding one. Write-only.",
                "writeOnly": true,
                "oneOf": [
                    {"type": "object", "required": ["auths"], "properties": {
                        "auths": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "object"}}}},
                    {"type": "string", "minLength": 1},
                ],
            },
        }),
        &["dockerconfigjson"],
    );
    json!({"oneOf": [password, docker]})
}

fn schema(v: Value) -> RefOr<Schema> {
    RefOr::T(serde_json::from_value(v).expect("a valid schema"))
}

impl utoipa::PartialSchema for CredentialRequest {
    fn schema() -> RefOr<Schema> {
        let mut s = secret_shapes(json!({
            "description": {"type": ["string", "null"]},
            "registryCaData": {"type": "string", "description":
                "PEM CA bundle trusted, beside the system's roots, for the registries' TLS certificates when the daemon verifies a version."},
            "insecureSkipTlsVerify": {"type": "boolean", "default": false, "description":
                "Accept any TLS certificate of the registries when verifying; not with registryCaData."},
        }));
        s["description"] = json!(
            "The credential's version 1 (labelled current): registry + username + password, or a whole dockerconfigjson."
        );
        schema(s)
    }
}
impl utoipa::ToSchema for CredentialRequest {}

impl utoipa::PartialSchema for VersionRequest {
    fn schema() -> RefOr<Schema> {
        let mut s = secret_shapes(json!({}));
        s["description"] =
            json!("A new version's secret: registry + username + password, or a whole dockerconfigjson.");
        schema(s)
    }
}
impl utoipa::ToSchema for VersionRequest {}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    #[test]
    fn both_shapes_are_closed() {
        let v = serde_json::to_value(CredentialRequest::schema()).unwrap();
        let shapes = v["oneOf"].as_array().unwrap();
        assert_eq!(shapes.len(), 2, "{v}");
        for s in shapes {
            assert_eq!(s["additionalProperties"], false, "{s}");
            assert!(s["properties"]["registryCaData"].is_object(), "{s}");
        }
        assert_eq!(shapes[0]["required"], json!(["registry", "username", "password"]));
        assert_eq!(shapes[1]["required"], json!(["dockerconfigjson"]));
    }
}
