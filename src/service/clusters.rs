//! Cluster registration: connection settings from explicit fields or a kubeconfig, sealed
//! credentials, and the cluster default pull-secret layer.
//!
//! A kubeconfig is reduced to its current context (or its only context): server, CA data,
//! and a bearer token or an embedded client certificate. Anything the daemon could not use
//! on its own later (file paths, exec plugins, auth providers, basic auth) is refused.
//! A PUT replaces the whole cluster: every field not given returns to its default, and the
//! write-only credential must be given again. A PATCH (JSON merge patch) changes only what
//! it names and keeps the stored credential, as long as the server and the CA stay the
//! same: a credential never follows its cluster to another server.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{Result, ServiceError};
use crate::domain::FieldError;
use crate::domain::names::is_dns1123_subdomain;
use crate::secrets::MasterKey;
use crate::store::Store;
use crate::store::clusters::{ClusterAuthKind, ClusterRecord, ClusterWrite};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterRequest {
    /// API server URL, e.g. `https://10.0.0.1:6443`.
    pub server: Option<String>,
    /// PEM CA bundle, base64 encoded (as in a kubeconfig).
    pub ca_data: Option<String>,
    #[serde(default)]
    pub insecure_skip_tls_verify: Option<bool>,
    /// Bearer token. Write-only.
    pub token: Option<String>,
    /// PEM client certificate, base64 encoded.
    pub client_cert_data: Option<String>,
    /// PEM client key, base64 encoded. Write-only.
    pub client_key_data: Option<String>,
    /// A whole kubeconfig (YAML); its current context is used. Write-only.
    pub kubeconfig: Option<String>,
    /// The cluster default pull-secret layer.
    pub default_image_pull_secrets: Option<Vec<String>>,
    /// Objects a run sends at once to this cluster, 1 to 64 (default 16).
    pub apply_concurrency: Option<u32>,
    /// Host ports the allocator gives runtimes on the host network, `<first>-<last>`
    /// (default `20000-25000`, Fluid's `--runtime-node-port-range`).
    pub port_range: Option<String>,
    /// How the cluster runs runtimes: `fluid`, `standalone`, or `auto` (the default: the
    /// first probe or refreshing plan finds out).
    pub mode: Option<crate::domain::fluid::ClusterMode>,
}

/// The credential of a cluster as stored (sealed).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAuth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
}

impl std::fmt::Debug for ClusterAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterAuth(..)")
    }
}

/// The associated data a cluster's credential is sealed under: the cluster's name and its
/// server, so a sealed credential opens only for the server it was given for (a row whose
/// `server` was changed behind the API cannot send it elsewhere).
pub fn seal_context(cluster: &str, server: &str) -> String {
    format!("cluster:{cluster}\nserver:{server}")
}

/// What credentials stored before they were bound to their server were sealed under.
fn legacy_seal_context(cluster: &str) -> String {
    format!("cluster:{cluster}")
}

struct Connection {
    server: String,
    ca_data: Option<String>,
    insecure: bool,
    auth: Option<ClusterAuth>,
}

fn from_kubeconfig(text: &str) -> Result<Connection> {
    let bad = |m: String| ServiceError::invalid("kubeconfig", m);
    // The parser quotes the lines around an error, token included: only its first line,
    // scrubbed of values, is shown.
    let kc = kube::config::Kubeconfig::from_yaml(text)
        .map_err(|e| bad(format!("not a kubeconfig: {}", crate::domain::redact::scrub(&e.to_string()))))?;
    let context = match (&kc.current_context, kc.contexts.as_slice()) {
        (Some(name), _) if !name.is_empty() => kc
            .contexts
            .iter()
            .find(|c| &c.name == name)
            .ok_or_else(|| bad(format!("current-context {name:?} is not among its contexts")))?,
        (_, [only]) => only,
        _ => return Err(bad("no current-context, and not exactly one context".into())),
    };
    let ctx = context.context.as_ref().ok_or_else(|| bad(format!("context {:?} is empty", context.name)))?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| bad(format!("cluster {:?} of the context is missing", ctx.cluster)))?;
    if cluster.certificate_authority.is_some() {
        return Err(bad("certificate-authority names a file; embed it as certificate-authority-data".into()));
    }
    if cluster.proxy_url.is_some() {
        return Err(bad("proxy-url is not supported".into()));
    }
    let server = cluster.server.clone().ok_or_else(|| bad("the cluster has no server".into()))?;
    let user_name = ctx.user.clone().unwrap_or_default();
    let user = kc
        .auth_infos
        .iter()
        .find(|u| u.name == user_name)
        .and_then(|u| u.auth_info.as_ref())
        .ok_or_else(|| bad(format!("user {user_name:?} of the context is missing")))?;
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(bad("exec and auth-provider credentials run programs; use a token or client certificate".into()));
    }
    if user.token_file.is_some() || user.client_certificate.is_some() || user.client_key.is_some() {
        return Err(bad(
            "the user names credential files; embed token, client-certificate-data and client-key-data".into()
        ));
    }
    if user.username.is_some() || user.password.is_some() {
        return Err(bad("basic authentication is not supported; use a token or client certificate".into()));
    }
    let auth = ClusterAuth {
        token: user.token.as_ref().map(|t| t.expose_secret().to_string()),
        client_cert_data: user.client_certificate_data.clone(),
        client_key_data: user.client_key_data.as_ref().map(|k| k.expose_secret().to_string()),
    };
    Ok(Connection {
        server,
        ca_data: cluster.certificate_authority_data.clone(),
        insecure: cluster.insecure_skip_tls_verify.unwrap_or(false),
        auth: Some(auth),
    })
}

fn check_pem(field: &str, data: &str, marker: &str, errors: &mut Vec<FieldError>) {
    match B64.decode(data.trim()) {
        Ok(bytes) if String::from_utf8_lossy(&bytes).contains(marker) => {}
        Ok(_) => errors.push(FieldError { field: field.into(), message: format!("decodes but holds no {marker}") }),
        Err(_) => errors.push(FieldError { field: field.into(), message: "must be base64-encoded PEM".into() }),
    }
}

fn auth_kind(auth: &ClusterAuth, errors: &mut Vec<FieldError>) -> Option<ClusterAuthKind> {
    match (&auth.token, &auth.client_cert_data, &auth.client_key_data) {
        // It is sent as `Authorization: Bearer <token>`: visible ASCII only (TOKEN_PATTERN).
        (Some(t), None, None) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()) => {
            Some(ClusterAuthKind::Token)
        }
        (Some(t), None, None) if t.trim().is_empty() => {
            errors.push(FieldError { field: "token".into(), message: "must not be empty".into() });
            None
        }
        (Some(_), None, None) => {
            errors.push(FieldError {
                field: "token".into(),
                message: "must be visible ASCII characters only (it is sent in an HTTP header)".into(),
            });
            None
        }
        (None, Some(cert), Some(key)) => {
            check_pem("clientCertData", cert, "CERTIFICATE", errors);
            check_pem("clientKeyData", key, "PRIVATE KEY", errors);
            Some(ClusterAuthKind::ClientCertificate)
        }
        (None, Some(_), None) => {
            errors.push(FieldError { field: "clientKeyData".into(), message: "required with clientCertData".into() });
            None
        }
        (None, None, Some(_)) => {
            errors.push(FieldError { field: "clientCertData".into(), message: "required with clientKeyData".into() });
            None
        }
        (None, None, None) => None,
        _ => {
            errors.push(FieldError {
                field: "token".into(),
                message: "give either a token or a client certificate and key, not both".into(),
            });
            None
        }
    }
}

/// Validates a cluster request and turns it into what the store keeps.
pub fn cluster_write(name: &str, req: ClusterRequest, key: &MasterKey) -> Result<ClusterWrite> {
    let mut errors = Vec::new();
    if !is_dns1123_subdomain(name) {
        errors.push(FieldError {
            field: "cluster".into(),
            message: "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')".into(),
        });
    }
    let conn = if let Some(kc) = &req.kubeconfig {
        for (field, set) in [
            ("server", req.server.is_some()),
            ("caData", req.ca_data.is_some()),
            ("token", req.token.is_some()),
            ("clientCertData", req.client_cert_data.is_some()),
            ("clientKeyData", req.client_key_data.is_some()),
            // The kubeconfig says whether to verify the server's certificate.
            ("insecureSkipTlsVerify", req.insecure_skip_tls_verify.is_some()),
        ] {
            if set {
                errors.push(FieldError { field: field.into(), message: "cannot be combined with kubeconfig".into() });
            }
        }
        match from_kubeconfig(kc) {
            Ok(c) => Some(c),
            Err(ServiceError::Invalid(mut e)) => {
                errors.append(&mut e);
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        let auth = ClusterAuth {
            token: req.token.clone(),
            client_cert_data: req.client_cert_data.clone(),
            client_key_data: req.client_key_data.clone(),
        };
        let any = auth.token.is_some() || auth.client_cert_data.is_some() || auth.client_key_data.is_some();
        match &req.server {
            Some(server) => Some(Connection {
                server: server.clone(),
                ca_data: req.ca_data.clone(),
                insecure: req.insecure_skip_tls_verify.unwrap_or(false),
                auth: any.then_some(auth),
            }),
            None => {
                errors.push(FieldError { field: "server".into(), message: "required (or give a kubeconfig)".into() });
                None
            }
        }
    };
    let mut sealed_auth = None;
    if let Some(conn) = &conn {
        match url_check(&conn.server) {
            Ok(()) => {}
            Err(m) => errors.push(FieldError { field: "server".into(), message: m }),
        }
        if let Some(ca) = &conn.ca_data {
            check_pem("caData", ca, "CERTIFICATE", &mut errors);
        }
        if conn.ca_data.is_some() && conn.insecure {
            errors.push(FieldError {
                field: "insecureSkipTlsVerify".into(),
                message: "cannot be combined with caData".into(),
            });
        }
        if let Some(auth) = &conn.auth {
            if let Some(kind) = auth_kind(auth, &mut errors) {
                let plain = serde_json::to_vec(auth).expect("auth serializes");
                sealed_auth = Some((kind, key.seal(&seal_context(name, &conn.server), &plain)));
            } else if req.kubeconfig.is_some() && errors.is_empty() {
                errors.push(FieldError {
                    field: "kubeconfig".into(),
                    message: "its user has neither token nor client certificate".into(),
                });
            }
        }
    }
    let defaults = req.default_image_pull_secrets.clone().unwrap_or_default();
    for (i, n) in defaults.iter().enumerate() {
        if !is_dns1123_subdomain(n) {
            errors.push(FieldError {
                field: format!("defaultImagePullSecrets[{i}]"),
                message: format!("{n:?} is not a valid Secret name"),
            });
        }
    }
    if let Some(n) = req.apply_concurrency
        && !(1..=64).contains(&n)
    {
        errors.push(FieldError { field: "applyConcurrency".into(), message: "must be between 1 and 64".into() });
    }
    let port_range = match req.port_range.as_deref().map(crate::domain::ports::parse_port_range) {
        None => None,
        Some(Ok(r)) => Some(r).filter(|r| *r != crate::domain::ports::PortRange::DEFAULT),
        Some(Err(m)) => {
            errors.push(FieldError { field: "portRange".into(), message: m });
            None
        }
    };
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let conn = conn.expect("no errors means a connection");
    Ok(ClusterWrite {
        server: conn.server,
        ca_data: conn.ca_data,
        insecure_skip_tls_verify: conn.insecure,
        auth: sealed_auth,
        default_image_pull_secrets: defaults,
        apply_concurrency: req.apply_concurrency,
        port_range,
        mode: req.mode.unwrap_or_default(),
    })
}

/// What a bearer token may hold: visible ASCII, as the OpenAPI document says.
pub const TOKEN_PATTERN: &str = "^[!-~]+$";

/// What an API server URL may be: `http(s)://`, a host name, IPv4 or bracketed IPv6
/// address, an optional port and path; no user, query or fragment, and only the characters
/// a URI holds (the kube client parses it as one when it connects). The OpenAPI document
/// gives the same pattern.
pub const SERVER_PATTERN: &str =
    "^https?://([A-Za-z0-9][-A-Za-z0-9.]*|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?(/[-A-Za-z0-9._~!$&'()*+,;=:@%/]*)?$";

fn url_check(server: &str) -> std::result::Result<(), String> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(SERVER_PATTERN).expect("a valid pattern"));
    if !server.starts_with("https://") && !server.starts_with("http://") {
        return Err("must be an http(s) URL".to_string());
    }
    if !re.is_match(server) || server.parse::<http::Uri>().is_err() {
        return Err("must be http(s)://host[:port][/path], with only the characters a URL holds".into());
    }
    Ok(())
}

pub async fn put_cluster(
    store: &Store,
    key: &MasterKey,
    name: &str,
    req: ClusterRequest,
    if_match: Option<&str>,
    actor: &str,
) -> Result<(ClusterRecord, bool)> {
    let write = cluster_write(name, req, key)?;
    if write.auth.is_none() && store.get_cluster(name).await.is_ok() {
        return Err(ServiceError::invalid(
            "token",
            "required: a PUT replaces the whole cluster, credential included (give token, clientCertData and clientKeyData, or kubeconfig); PATCH changes single fields and keeps the credential",
        ));
    }
    check_mode(store, name, &write).await?;
    Ok(store.put_cluster(name, write, if_match, actor).await?)
}

/// Applies a JSON merge patch (RFC 7386) to a registered cluster: fields it does not name
/// keep their value; the stored credential is kept unless the patch gives one, and may
/// not be kept when the server or the CA changes.
pub async fn patch_cluster(
    store: &Store,
    key: &MasterKey,
    name: &str,
    patch: &serde_json::Value,
    if_match: Option<&str>,
    actor: &str,
) -> Result<(ClusterRecord, bool)> {
    let old = store.get_cluster(name).await?;
    let Some(fields) = patch.as_object() else {
        return Err(ServiceError::invalid("", "a merge patch is a JSON object"));
    };
    let mut base = serde_json::json!({
        "server": old.server,
        "caData": old.ca_data,
        "insecureSkipTlsVerify": old.insecure_skip_tls_verify,
        "defaultImagePullSecrets": old.default_image_pull_secrets,
        "applyConcurrency": old.apply_concurrency,
        "portRange": old.port_range.map(|r| r.to_string()),
        "mode": old.mode,
    });
    if fields.get("kubeconfig").is_some_and(|k| !k.is_null()) {
        // A kubeconfig brings its own server, CA and credential.
        for k in ["server", "caData", "insecureSkipTlsVerify"] {
            base.as_object_mut().expect("an object").remove(k);
        }
    }
    let base_obj = base.as_object_mut().expect("an object");
    for (k, v) in fields {
        if v.is_null() {
            base_obj.remove(k);
        } else {
            base_obj.insert(k.clone(), v.clone());
        }
    }
    base_obj.retain(|_, v| !v.is_null());
    let text = base.to_string();
    let de = &mut serde_json::Deserializer::from_str(&text);
    let req: ClusterRequest = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let mut msg = crate::service::strip_position(&e.into_inner().to_string());
        if crate::domain::redact::secret_field(&path) {
            msg = crate::domain::redact::scrub(&msg);
        }
        ServiceError::invalid(if path == "." { String::new() } else { path }, msg)
    })?;
    let write = cluster_write(name, req, key)?;
    if write.auth.is_none() && (write.server != old.server || write.ca_data != old.ca_data) {
        return Err(ServiceError::invalid(
            "token",
            "the stored credential stays with its server and CA: give the credential again (token, client certificate, or kubeconfig) to change them",
        ));
    }
    check_mode(store, name, &write).await?;
    Ok(store.put_cluster(name, write, if_match, actor).await?)
}

/// A cluster turned standalone may not hold runtimes that need Fluid.
async fn check_mode(store: &Store, name: &str, write: &ClusterWrite) -> Result<()> {
    if write.mode == crate::domain::fluid::ClusterMode::Standalone {
        let filter = crate::store::runtimes::RuntimeFilter { cluster: Some(name.to_string()), namespace: None };
        let (needs_fluid, _) =
            store.list_runtimes(&filter, None, 1, |r| r.kind != crate::domain::runtime::RuntimeKind::Alluxio).await?;
        if let Some(r) = needs_fluid.first() {
            return Err(ServiceError::invalid(
                "mode",
                format!(
                    "{} {}/{} runs on this cluster and needs Fluid; standalone renders AlluxioRuntimes only",
                    r.kind, r.namespace, r.name
                ),
            ));
        }
    }
    Ok(())
}

/// Opens the stored credential of a cluster (for connecting to it).
pub fn open_auth(key: &MasterKey, rec: &ClusterRecord) -> Result<ClusterAuth> {
    let plain = key
        .open(&seal_context(&rec.name, &rec.server), &rec.auth_sealed)
        .or_else(|_| key.open(&legacy_seal_context(&rec.name), &rec.auth_sealed))?;
    serde_json::from_slice(&plain).map_err(|_| ServiceError::Secret(crate::secrets::SecretError::Decrypt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sealed_cluster_credential_opens_only_for_its_server() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::scratch::database_url(dir.path())).await.unwrap();
        let key = MasterKey::generate();
        let req: ClusterRequest =
            serde_json::from_value(serde_json::json!({"server": "https://a.example:6443", "token": "tok-1"})).unwrap();
        let (mut rec, _) = put_cluster(&store, &key, "c1", req, None, "test").await.unwrap();
        assert_eq!(open_auth(&key, &rec).unwrap().token.as_deref(), Some("tok-1"));
        // The row's server changed behind the API: its credential no longer opens.
        rec.server = "http://evil.example".into();
        assert!(open_auth(&key, &rec).is_err());
        // Credentials sealed before the server was bound in still open.
        let legacy = key.seal(&legacy_seal_context("c1"), br#"{"token":"old"}"#);
        rec.auth_sealed = legacy;
        assert_eq!(open_auth(&key, &rec).unwrap().token.as_deref(), Some("old"));
    }
}
