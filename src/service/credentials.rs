//! Registry credentials: validate what a caller sends, turn it into the exact
//! `.dockerconfigjson` bytes a Secret will carry, seal them, and fingerprint them.
//!
//! A version is either `registry` + `username` + `password` (rendered as
//! `{"auths":{"<registry>":{"username","password","auth"}}}`) or a raw `dockerconfigjson`
//! (a JSON object, or a string holding one) whose `auths` must be a non-empty object.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use super::{Result, ServiceError};
use crate::domain::FieldError;
use crate::domain::names::is_dns1123_subdomain;
use crate::secrets::MasterKey;
use crate::store::Store;
use crate::store::credentials::{CredentialRecord, CredentialTls, NewVersion, seal_context};

/// Longest credential name: `<name>-v<version>` must stay a valid Secret name.
pub const MAX_NAME: usize = 200;

/// A credential's first version, and an optional description.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialRequest {
    pub description: Option<String>,
    /// Namespaces (names or `*` globs) runtimes using it may be in; absent: everywhere.
    pub allowed_namespaces: Option<Vec<String>>,
    /// Clusters (names or `*` globs) runtimes using it may be on; absent: everywhere.
    pub allowed_clusters: Option<Vec<String>>,
    /// PEM CA bundle trusted (beside the system's roots) for the registries' TLS
    /// certificates when the daemon verifies a version.
    pub registry_ca_data: Option<String>,
    /// Accept any TLS certificate of the registries when verifying (only when asked).
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
    /// Registry server, e.g. `registry.example.com`.
    pub registry: Option<String>,
    pub username: Option<String>,
    /// Password or token. Write-only.
    pub password: Option<String>,
    /// A whole `.dockerconfigjson` (object or string). Write-only.
    pub dockerconfigjson: Option<serde_json::Value>,
}

/// A new version's secret.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionRequest {
    /// Registry server, e.g. `registry.example.com`.
    pub registry: Option<String>,
    pub username: Option<String>,
    /// Password or token. Write-only.
    pub password: Option<String>,
    /// A whole `.dockerconfigjson` (object or string). Write-only.
    pub dockerconfigjson: Option<serde_json::Value>,
}

/// The secret part of either request.
#[derive(Clone, Default)]
pub struct SecretMaterial {
    pub registry: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub dockerconfigjson: Option<serde_json::Value>,
}

impl From<VersionRequest> for SecretMaterial {
    fn from(r: VersionRequest) -> Self {
        Self { registry: r.registry, username: r.username, password: r.password, dockerconfigjson: r.dockerconfigjson }
    }
}

/// The validated bytes of a `.dockerconfigjson` and the registries it covers.
pub struct DockerConfig {
    pub bytes: Vec<u8>,
    pub registry: String,
}

pub fn docker_config(m: &SecretMaterial) -> Result<DockerConfig> {
    let mut errors = Vec::new();
    let mut err = |field: &str, message: &str| errors.push(FieldError { field: field.into(), message: message.into() });
    if let Some(raw) = &m.dockerconfigjson {
        for (field, set) in
            [("registry", m.registry.is_some()), ("username", m.username.is_some()), ("password", m.password.is_some())]
        {
            if set {
                err(field, "cannot be combined with dockerconfigjson");
            }
        }
        let value = match raw {
            serde_json::Value::String(s) => serde_json::from_str::<serde_json::Value>(s).ok(),
            other => Some(other.clone()),
        };
        let auths = value.as_ref().and_then(|v| v.get("auths")).and_then(|a| a.as_object());
        match (value.as_ref(), auths) {
            (Some(v), Some(auths)) if !auths.is_empty() && auths.values().all(|e| e.is_object()) => {
                if errors.is_empty() {
                    let registry = auths.keys().cloned().collect::<Vec<_>>().join(",");
                    return Ok(DockerConfig { bytes: serde_json::to_vec(v).expect("value serializes"), registry });
                }
            }
            _ => err("dockerconfigjson", "must be a JSON object with a non-empty \"auths\" object of registry entries"),
        }
        return Err(ServiceError::Invalid(errors));
    }
    let registry = m.registry.as_deref().unwrap_or("").trim();
    let username = m.username.as_deref().unwrap_or("");
    let password = m.password.as_deref().unwrap_or("");
    if registry.is_empty() {
        err("registry", "required (or give dockerconfigjson)");
    } else if registry.contains(char::is_whitespace) {
        err("registry", "must be a registry host, without spaces");
    }
    if username.is_empty() {
        err("username", "required (or give dockerconfigjson)");
    } else if username.contains(':') {
        err("username", "must not contain ':'");
    }
    if password.is_empty() {
        err("password", "required (or give dockerconfigjson)");
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let auth = B64.encode(format!("{username}:{password}"));
    let v = serde_json::json!({"auths": {registry: {"username": username, "password": password, "auth": auth}}});
    Ok(DockerConfig { bytes: serde_json::to_vec(&v).expect("value serializes"), registry: registry.to_string() })
}

pub fn check_name(name: &str) -> Result<()> {
    if !is_dns1123_subdomain(name) || name.len() > MAX_NAME {
        return Err(ServiceError::invalid(
            "name",
            format!("must be a DNS-1123 subdomain of at most {MAX_NAME} characters (it prefixes Secret names)"),
        ));
    }
    Ok(())
}

/// How a credential's registries are trusted, checked: a CA bundle must hold PEM
/// certificates and cannot be combined with `insecureSkipTlsVerify`.
pub fn check_tls(registry_ca_data: Option<String>, insecure: bool) -> Result<CredentialTls> {
    let mut errors = Vec::new();
    let ca = registry_ca_data.filter(|c| !c.trim().is_empty());
    if let Some(ca) = &ca
        && let Err(e) = crate::registry::http::pem_certificates(ca)
    {
        errors.push(FieldError { field: "registryCaData".into(), message: e });
    }
    if ca.is_some() && insecure {
        errors.push(FieldError {
            field: "insecureSkipTlsVerify".into(),
            message: "cannot be combined with registryCaData".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    Ok(CredentialTls { registry_ca_data: ca, insecure_skip_tls_verify: insecure })
}

fn seal(key: &MasterKey, name: &str, version: u32, dc: &DockerConfig) -> NewVersion {
    NewVersion {
        registry: Some(dc.registry.clone()),
        fingerprint: key.fingerprint(&dc.bytes),
        sealed: key.seal(&seal_context(name, version), &dc.bytes),
    }
}

pub async fn put_credential(
    store: &Store,
    key: &MasterKey,
    name: &str,
    req: CredentialRequest,
    if_match: Option<&str>,
    actor: &str,
) -> Result<(CredentialRecord, bool)> {
    check_name(name)?;
    let description = req.description.clone();
    let scope = crate::domain::scope::Scope {
        namespaces: req.allowed_namespaces.clone(),
        clusters: req.allowed_clusters.clone(),
    };
    let scope_errors = scope.validate();
    let tls = check_tls(req.registry_ca_data.clone(), req.insecure_skip_tls_verify);
    let dc = docker_config(&SecretMaterial {
        registry: req.registry,
        username: req.username,
        password: req.password,
        dockerconfigjson: req.dockerconfigjson,
    });
    let (tls, dc) = match (tls, dc) {
        (Ok(t), Ok(d)) if scope_errors.is_empty() => (t, d),
        (tls, dc) => {
            let mut errors = scope_errors;
            for r in [tls.err(), dc.err()].into_iter().flatten() {
                match r {
                    ServiceError::Invalid(e) => errors.extend(e),
                    other => return Err(other),
                }
            }
            return Err(ServiceError::Invalid(errors));
        }
    };
    Ok(store.put_credential(name, description, &scope, &tls, seal(key, name, 1, &dc), if_match, actor).await?)
}

pub async fn add_version(
    store: &Store,
    key: &MasterKey,
    name: &str,
    req: VersionRequest,
    if_match: Option<&str>,
    actor: &str,
) -> Result<(CredentialRecord, u32)> {
    let dc = docker_config(&req.into())?;
    Ok(store.add_credential_version(name, |v| seal(key, name, v, &dc), if_match, actor).await?)
}

/// The plain `.dockerconfigjson` of a version, for materializing its Secret on a cluster.
pub async fn version_secret(store: &Store, key: &MasterKey, name: &str, version: u32) -> Result<Vec<u8>> {
    let v = store.credential_version(name, version).await?;
    Ok(key.open(&seal_context(name, version), &v.sealed)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn material(registry: &str, user: &str, pass: &str) -> SecretMaterial {
        SecretMaterial {
            registry: Some(registry.into()),
            username: Some(user.into()),
            password: Some(pass.into()),
            dockerconfigjson: None,
        }
    }

    #[test]
    fn username_password_becomes_dockerconfigjson() {
        let dc = docker_config(&material("registry.example.com", "bob", "s3cret")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&dc.bytes).unwrap();
        assert_eq!(v["auths"]["registry.example.com"]["auth"], B64.encode("bob:s3cret"));
        assert_eq!(dc.registry, "registry.example.com");
    }

    #[test]
    fn missing_fields_are_each_named() {
        let Err(err) = docker_config(&SecretMaterial::default()) else { panic!("accepted") };
        let ServiceError::Invalid(errs) = err else { panic!("expected invalid") };
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["registry", "username", "password"]);
    }

    #[test]
    fn raw_dockerconfigjson_needs_auths() {
        let ok = SecretMaterial {
            dockerconfigjson: Some(serde_json::json!("{\"auths\":{\"r.io\":{\"auth\":\"eDp5\"}}}")),
            ..Default::default()
        };
        assert_eq!(docker_config(&ok).unwrap().registry, "r.io");
        let bad = SecretMaterial { dockerconfigjson: Some(serde_json::json!({"auth": {}})), ..Default::default() };
        assert!(matches!(docker_config(&bad), Err(ServiceError::Invalid(e)) if e[0].field == "dockerconfigjson"));
    }
}
