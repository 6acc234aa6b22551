//! The OpenAPI schemas of the credential requests, written out because the server takes one
//! of two shapes (registry + username + password, or a whole dockerconfigjson) and refuses
//! anything else: a derived schema could only say "all optional".

use serde_json::{Value, json};
use utoipa::openapi::{RefOr, schema::Schema};

use crate::service::credentials::{CredentialRequest, VersionRequest};

/// A whole `.dockerconfigjson`, as a component of its own.
fn docker_config() -> Value {
    json!({"type": "object", "title": "DockerConfigJson", "required": ["auths"], "description":
        "A `.dockerconfigjson` document: `auths` maps each registry to its entry.",
        "properties": {"auths": {"type": "object", "minProperties": 1,
            "additionalProperties": {"type": "object", "additionalProperties": true}}}})
}

/// The two shapes of a secret, each a component: `(name, schema)`; `extra` are the
/// properties every shape of the request carries beside the secret.
fn secret_shapes(prefix: &str, extra: Value) -> Vec<(String, Value)> {
    let with = |title: String, description: &str, mut props: Value, required: &[&str]| {
        props.as_object_mut().expect("object").extend(extra.as_object().cloned().unwrap_or_default());
        let v = json!({"title": title, "description": description, "type": "object", "required": required,
            "properties": props, "additionalProperties": false});
        (title, v)
    };
    let password = with(
        format!("{prefix}WithPassword"),
        "Registry, username and password (or token).",
        json!({
            "registry": {"type": "string", "minLength": 1, "pattern": "^\\S+$",
                "description": "Registry server, e.g. `registry.example.com` (or `http://host:port` for a plain-http one)."},
            "username": {"type": "string", "minLength": 1, "pattern": "^[^:]+$"},
            "password": {"type": "string", "minLength": 1, "writeOnly": true, "description": "Password or token. Write-only."},
        }),
        &["registry", "username", "password"],
    );
    let docker = with(
        format!("{prefix}WithDockerConfig"),
        "A whole `.dockerconfigjson`.",
        json!({
            "dockerconfigjson": {
                "description": "A whole `.dockerconfigjson`: an object, or a string holding one. Write-only.",
                "writeOnly": true,
                "oneOf": [{"$ref": "#/components/schemas/DockerConfigJson"}, {"type": "string", "minLength": 1}],
            },
        }),
        &["dockerconfigjson"],
    );
    vec![password, docker]
}

fn schema(v: Value) -> RefOr<Schema> {
    RefOr::T(serde_json::from_value(v).expect("a valid schema"))
}

fn one_of(shapes: &[(String, Value)], description: &str) -> RefOr<Schema> {
    let refs: Vec<Value> = shapes.iter().map(|(n, _)| json!({"$ref": format!("#/components/schemas/{n}")})).collect();
    schema(json!({"description": description, "oneOf": refs}))
}

fn components(shapes: Vec<(String, Value)>, out: &mut Vec<(String, RefOr<Schema>)>) {
    out.extend(shapes.into_iter().map(|(n, v)| (n, schema(v))));
    out.push(("DockerConfigJson".into(), schema(docker_config())));
}

/// A credential's scope along one axis, as `domain::scope::Scope::validate` checks it.
pub(super) fn scope(description: &str) -> Value {
    json!({"oneOf": [
        {"type": "array", "minItems": 1, "maxItems": crate::domain::scope::MAX_PATTERNS,
            "items": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": "^[-a-z0-9.*]+$"}},
        {"type": "null"},
    ], "description": description})
}

fn credential_shapes() -> Vec<(String, Value)> {
    secret_shapes(
        "Credential",
        json!({
            "description": {"type": ["string", "null"]},
            "allowedNamespaces": scope("Namespaces (names or `*` globs) runtimes using it may be in; absent or null: everywhere."),
            "allowedClusters": scope("Clusters (names or `*` globs) runtimes using it may be on; absent or null: everywhere."),
            "registryCaData": {"type": ["string", "null"], "description":
                "PEM CA bundle trusted, beside the system's roots, for the registries' TLS certificates when the daemon verifies a version."},
            "insecureSkipTlsVerify": {"type": "boolean", "default": false, "description":
                "Accept any TLS certificate of the registries when verifying; not with registryCaData."},
        }),
    )
}

impl utoipa::PartialSchema for CredentialRequest {
    fn schema() -> RefOr<Schema> {
        one_of(
            &credential_shapes(),
            "The credential's version 1 (labelled current): registry + username + password, or a whole dockerconfigjson.",
        )
    }
}
impl utoipa::ToSchema for CredentialRequest {
    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
        components(credential_shapes(), out);
    }
}

impl utoipa::PartialSchema for VersionRequest {
    fn schema() -> RefOr<Schema> {
        one_of(
            &secret_shapes("Version", json!({})),
            "A new version's secret: registry + username + password, or a whole dockerconfigjson.",
        )
    }
}
impl utoipa::ToSchema for VersionRequest {
    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
        components(secret_shapes("Version", json!({})), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    #[test]
    fn both_shapes_are_closed() {
        let v = serde_json::to_value(CredentialRequest::schema()).unwrap();
        assert_eq!(v["oneOf"].as_array().unwrap().len(), 2, "{v}");
        let shapes: Vec<Value> = credential_shapes().into_iter().map(|(_, s)| s).collect();
        for s in &shapes {
            assert_eq!(s["additionalProperties"], false, "{s}");
            assert!(s["properties"]["registryCaData"].is_object(), "{s}");
        }
        assert_eq!(shapes[0]["required"], json!(["registry", "username", "password"]));
        assert_eq!(shapes[1]["required"], json!(["dockerconfigjson"]));
    }
}
