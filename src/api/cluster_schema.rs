//! The OpenAPI schemas of a cluster's PUT and PATCH bodies, written out because a PUT takes
//! one of three shapes (server + token, server + client certificate and key, or a whole
//! kubeconfig) and refuses anything else, which a derived schema can only call "all
//! optional". The server's rules are in `service::clusters::cluster_write`.

use serde_json::{Map, Value, json};
use utoipa::openapi::{RefOr, schema::Schema};

use crate::domain::names::{DNS1123_SUBDOMAIN_PATTERN, SUBDOMAIN_MAX};

/// `<first>-<last>` or one port, each 1 to 65535 (leading zeros and spaces around a port
/// are read as the server reads them); the first may not be above the last.
fn port_range_pattern() -> String {
    let port = super::openapi_rules::number_range(1, 65_535);
    format!("^\\s*{port}\\s*(-\\s*{port}\\s*)?$")
}

/// Base64 of a PEM document (standard alphabet, padded, as in a kubeconfig) that begins
/// with one of `headers`: the server decodes it and looks for the header's kind.
fn pem(what: &str, headers: &[&str], write_only: bool) -> Value {
    use base64::Engine;
    // Each header is cut to whole 3-byte groups, so that its base64 is a fixed prefix.
    let prefixes: Vec<String> = headers
        .iter()
        .map(|h| base64::engine::general_purpose::STANDARD.encode(&h.as_bytes()[..h.len() / 3 * 3]))
        .collect();
    // The rest: whole 4-character groups, then a padded end whose unused bits are zero.
    let pattern = format!(
        "^({})([A-Za-z0-9+/]{{4}})*([A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{{2}}[AEIMQUYcgkosw048]=)?$",
        prefixes.join("|")
    );
    let mut v = json!({
        "type": "string", "pattern": pattern, "contentEncoding": "base64",
        "description": format!("{what}, PEM ({}), base64 encoded as in a kubeconfig.", headers.join(", ")),
    });
    if write_only {
        v["writeOnly"] = json!(true);
        v["description"] = json!(format!("{} Write-only.", v["description"].as_str().unwrap_or_default()));
    }
    v
}

const CERTIFICATE: &[&str] = &["-----BEGIN CERTIFICATE-----"];
const PRIVATE_KEY: &[&str] =
    &["-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----"];

/// The settings every shape may carry.
fn settings() -> Map<String, Value> {
    let v = json!({
        "defaultImagePullSecrets": {"type": "array", "description": "The cluster default pull-secret layer: Secret names.",
            "items": {"type": "string", "minLength": 1, "maxLength": SUBDOMAIN_MAX, "pattern": DNS1123_SUBDOMAIN_PATTERN}},
        "applyConcurrency": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 64,
            "description": "Objects a run sends at once to this cluster (default 16)."},
        "portRange": {"type": "string", "pattern": port_range_pattern(), "description":
            "Host ports the allocator gives runtimes on the host network, `<first>-<last>` (default `20000-25000`, Fluid's `--runtime-node-port-range`); the first not above the last."},
        "mode": {"$ref": "#/components/schemas/ClusterMode", "description":
            "How the cluster runs runtimes: `fluid`, `standalone`, or `auto` (the default: the first probe or refreshing plan finds out)."},
    });
    v.as_object().cloned().expect("an object")
}

fn connection() -> Map<String, Value> {
    let v = json!({
        "server": {"type": "string", "pattern": crate::service::clusters::SERVER_PATTERN,
            "description": "API server URL, e.g. `https://10.0.0.1:6443`: a host name or address, an optional port and path."},
        "caData": pem("CA bundle", CERTIFICATE, false),
        "insecureSkipTlsVerify": {"type": "boolean", "description": "Accept any certificate of the API server; not with caData."},
    });
    v.as_object().cloned().expect("an object")
}

fn shape(title: &str, description: &str, own: Value, required: &[&str], with_connection: bool) -> Value {
    let mut props = Map::new();
    if with_connection {
        props.extend(connection());
    }
    props.extend(own.as_object().cloned().expect("an object"));
    props.extend(settings());
    // The server reads null as absent (its request type has optional fields).
    for (k, v) in props.iter_mut() {
        if !required.contains(&k.as_str()) {
            *v = json!({"oneOf": [v.take(), {"type": "null"}]});
        }
    }
    json!({"title": title, "description": description, "type": "object", "required": required,
        "properties": props, "additionalProperties": false})
}

/// The three shapes a PUT takes, as component schemas.
pub fn put_shapes() -> Vec<(&'static str, Value)> {
    vec![
        (
            "ClusterWithToken",
            shape(
                "ClusterWithToken",
                "A cluster reached with a bearer token.",
                json!({"token": {"type": "string", "pattern": crate::service::clusters::TOKEN_PATTERN, "writeOnly": true,
                    "description": "Bearer token: visible ASCII characters. Write-only."}}),
                &["server", "token"],
                true,
            ),
        ),
        (
            "ClusterWithCertificate",
            shape(
                "ClusterWithCertificate",
                "A cluster reached with a client certificate.",
                json!({"clientCertData": pem("Client certificate", CERTIFICATE, false), "clientKeyData": pem("Client key", PRIVATE_KEY, true)}),
                &["server", "clientCertData", "clientKeyData"],
                true,
            ),
        ),
        (
            "ClusterWithKubeconfig",
            shape(
                "ClusterWithKubeconfig",
                "A cluster given as a whole kubeconfig: its current context (or only context) gives the server, the CA and the credential (a token or an embedded client certificate; no files, exec plugins or auth providers).",
                json!({"kubeconfig": {"type": "string", "minLength": 1, "writeOnly": true, "description": "A whole kubeconfig (YAML). Write-only."}}),
                &["kubeconfig"],
                false,
            ),
        ),
    ]
}

fn schema(v: Value) -> RefOr<Schema> {
    RefOr::T(serde_json::from_value(v).expect("a valid schema"))
}

/// The body of `PUT /v1/clusters/{cluster}`: one of the three shapes.
pub struct ClusterPut;

impl utoipa::PartialSchema for ClusterPut {
    fn schema() -> RefOr<Schema> {
        let refs: Vec<Value> =
            put_shapes().iter().map(|(n, _)| json!({"$ref": format!("#/components/schemas/{n}")})).collect();
        schema(json!({
            "description": "The whole cluster: server and a token, server and a client certificate and key, or a kubeconfig; every setting not given returns to its default.",
            "oneOf": refs,
        }))
    }
}

impl utoipa::ToSchema for ClusterPut {
    fn name() -> std::borrow::Cow<'static, str> {
        "ClusterRequest".into()
    }

    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
        out.extend(put_shapes().into_iter().map(|(n, v)| (n.to_string(), schema(v))));
        out.push(("ClusterMode".into(), <crate::domain::fluid::ClusterMode as utoipa::PartialSchema>::schema()));
    }
}

/// The body of `PATCH /v1/clusters/{cluster}`: a JSON merge patch of any of the fields
/// (null resets one); the result must be a valid PUT body.
pub struct ClusterPatch;

impl utoipa::PartialSchema for ClusterPatch {
    fn schema() -> RefOr<Schema> {
        let mut props = Map::new();
        for (_, s) in put_shapes() {
            for (k, v) in s["properties"].as_object().expect("properties") {
                let nullable = if v["oneOf"].is_array() { v.clone() } else { json!({"oneOf": [v, {"type": "null"}]}) };
                props.insert(k.clone(), nullable);
            }
        }
        schema(json!({
            "type": "object", "properties": props, "additionalProperties": false,
            "description": "A JSON merge patch: the fields given change (null resets one), the rest stay; the stored credential stays unless given, and must be given to change the server or the CA. A kubeconfig replaces server, CA and credential.",
        }))
    }
}

impl utoipa::ToSchema for ClusterPatch {
    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
        out.push(("ClusterMode".into(), <crate::domain::fluid::ClusterMode as utoipa::PartialSchema>::schema()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::clusters::ClusterRequest;

    /// Every property the document names is one the server reads (its request type
    /// refuses unknown fields).
    #[test]
    fn the_document_names_only_fields_the_server_reads() {
        for (name, s) in put_shapes() {
            let mut body = Map::new();
            for (k, v) in s["properties"].as_object().unwrap() {
                let v = if v["oneOf"].is_array() { &v["oneOf"][0] } else { v };
                let value = match v["type"].as_str() {
                    Some("array") => json!([]),
                    Some("integer") => json!(1),
                    Some("boolean") => json!(false),
                    _ if k == "mode" => json!("auto"),
                    _ => json!("x"),
                };
                body.insert(k.clone(), value);
            }
            let parsed: Result<ClusterRequest, _> = serde_json::from_value(Value::Object(body));
            assert!(parsed.is_ok(), "{name}: {:?}", parsed.err());
        }
    }

    #[test]
    fn pem_patterns_take_what_the_server_takes() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let re = |v: Value| regex::Regex::new(v["pattern"].as_str().unwrap()).unwrap();
        let ca = re(pem("x", CERTIFICATE, false));
        let key = re(pem("x", PRIVATE_KEY, false));
        for tail in ["", "\n", "\nMIIB\n", "\nMIIBxyz==\n-----END CERTIFICATE-----\n"] {
            assert!(ca.is_match(&b64(&format!("-----BEGIN CERTIFICATE-----{tail}"))), "{tail:?}");
            for h in PRIVATE_KEY {
                assert!(key.is_match(&b64(&format!("{h}{tail}"))), "{h} {tail:?}");
            }
        }
        assert!(!ca.is_match(&b64("-----BEGIN PRIVATE KEY-----\n")));
        assert!(!ca.is_match("0000"));
        assert!(!ca.is_match(&format!("{} ", b64("-----BEGIN CERTIFICATE-----\n"))));
        // What the pattern takes decodes as the server decodes it (strict, padded base64).
        let decode = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).is_ok();
        for s in ["LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==", "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCgA="] {
            assert_eq!(ca.is_match(s), decode(s), "{s}");
        }
        assert!(!ca.is_match("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCh=="), "unused bits set");
        assert!(!decode("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCh=="));
    }

    #[test]
    fn port_ranges_as_the_server_reads_them() {
        let re = regex::Regex::new(&port_range_pattern()).unwrap();
        for s in ["20000-25000", "1", "65535", "1-65535", "0080-90", " 1 - 2 "] {
            assert!(re.is_match(s), "{s}");
            assert!(crate::domain::ports::parse_port_range(s).is_ok(), "{s}");
        }
        for s in ["0", "65536", "1-", "-1", "a-b", "1-2-3", "", "70000"] {
            assert!(!re.is_match(s), "{s}");
            assert!(crate::domain::ports::parse_port_range(s).is_err(), "{s}");
        }
    }
}
