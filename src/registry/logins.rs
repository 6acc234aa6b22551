//! The logins a `.dockerconfigjson` holds: one per `auths` entry, with the endpoint a
//! container runtime would reach for it and the secret it would present.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// What an `auths` entry authenticates with.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// `username` + `password`, or `auth` (base64 `user:password`).
    Password { username: String, password: String },
    /// `identitytoken`: an OAuth2 refresh token for the registry's token service.
    IdentityToken { username: String, token: String },
    /// `registrytoken`: a bearer token sent to the registry as it is.
    RegistryToken(String),
    /// The entry carries nothing to authenticate with.
    Missing,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Password { username, .. } => write!(f, "Password({username:?}, <redacted>)"),
            Secret::IdentityToken { username, .. } => write!(f, "IdentityToken({username:?}, <redacted>)"),
            Secret::RegistryToken(_) => write!(f, "RegistryToken(<redacted>)"),
            Secret::Missing => write!(f, "Missing"),
        }
    }
}

impl Secret {
    /// Every string that must never leave the process (scrubbed from what a registry says).
    pub fn sensitive(&self) -> Vec<String> {
        match self {
            Secret::Password { username, password } => {
                vec![password.clone(), B64.encode(format!("{username}:{password}"))]
            }
            Secret::IdentityToken { token, .. } => vec![token.clone()],
            Secret::RegistryToken(t) => vec![t.clone()],
            Secret::Missing => vec![],
        }
    }
}

/// One registry to authenticate against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The `auths` key as written (what answers name).
    pub registry: String,
    /// `https` or (only when the key says `http://`) `http`.
    pub scheme: String,
    /// `host[:port]` of the registry's v2 API.
    pub host: String,
    pub secret: Secret,
}

impl Login {
    /// `<scheme>://<host>/v2/`, the base every check starts from.
    pub fn base_url(&self) -> String {
        format!("{}://{}/v2/", self.scheme, self.host)
    }
}

/// Docker Hub's `auths` keys, whose API is served elsewhere.
const DOCKER_HUB: [&str; 4] = ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"];

/// Where a registry key's API is: scheme and `host[:port]` (path and trailing `/v1/` dropped).
pub fn endpoint(key: &str) -> (String, String) {
    let key = key.trim();
    let (scheme, rest) = match key.split_once("://") {
        Some((s, r)) if s.eq_ignore_ascii_case("http") => ("http", r),
        Some((_, r)) => ("https", r),
        None => ("https", key),
    };
    let host = rest.split('/').next().unwrap_or_default().to_ascii_lowercase();
    let host = if DOCKER_HUB.contains(&host.as_str()) { "registry-1.docker.io".to_string() } else { host };
    (scheme.to_string(), host)
}

/// The logins of a `.dockerconfigjson`, one per `auths` entry, in key order.
pub fn logins(dockerconfigjson: &[u8]) -> Vec<Login> {
    let v: serde_json::Value = serde_json::from_slice(dockerconfigjson).unwrap_or_default();
    let Some(auths) = v.get("auths").and_then(|a| a.as_object()) else { return vec![] };
    let mut out: Vec<Login> = auths
        .iter()
        .map(|(key, entry)| {
            let (scheme, host) = endpoint(key);
            Login { registry: key.clone(), scheme, host, secret: secret_of(entry) }
        })
        .collect();
    out.sort_by(|a, b| a.registry.cmp(&b.registry));
    out
}

fn secret_of(entry: &serde_json::Value) -> Secret {
    let s = |k: &str| entry.get(k).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_string);
    let (mut username, mut password) = (s("username"), s("password"));
    if (username.is_none() || password.is_none())
        && let Some(auth) = s("auth")
        && let Ok(bytes) = B64.decode(auth.trim())
        && let Ok(text) = String::from_utf8(bytes)
        && let Some((u, p)) = text.split_once(':')
    {
        username = Some(u.to_string());
        password = Some(p.to_string());
    }
    if let Some(token) = s("identitytoken") {
        return Secret::IdentityToken { username: username.unwrap_or_default(), token };
    }
    if let Some(token) = s("registrytoken") {
        return Secret::RegistryToken(token);
    }
    match (username, password) {
        (Some(username), Some(password)) => Secret::Password { username, password },
        _ => Secret::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_of_registry_keys() {
        let rows = [
            ("registry.example.com", ("https", "registry.example.com")),
            ("127.0.0.1:5000", ("https", "127.0.0.1:5000")),
            ("https://Registry.Example.com/v1/", ("https", "registry.example.com")),
            ("http://127.0.0.1:5000", ("http", "127.0.0.1:5000")),
            ("https://index.docker.io/v1/", ("https", "registry-1.docker.io")),
            ("docker.io", ("https", "registry-1.docker.io")),
        ];
        for (key, (scheme, host)) in rows {
            assert_eq!(endpoint(key), (scheme.to_string(), host.to_string()), "{key}");
        }
    }

    #[test]
    fn every_entry_becomes_a_login_with_its_secret() {
        let auth = B64.encode("bob:pa:ss");
        let cfg = serde_json::json!({"auths": {
            "b.example.com": {"auth": auth},
            "a.example.com:5000": {"username": "alice", "password": "pw", "auth": B64.encode("x:y")},
            "c.example.com": {"username": "svc", "identitytoken": "refresh-me"},
            "d.example.com": {"registrytoken": "bearer-me"},
            "e.example.com": {"email": "nobody@example.com"},
        }});
        let got = logins(cfg.to_string().as_bytes());
        let secrets: Vec<(&str, &Secret)> = got.iter().map(|l| (l.host.as_str(), &l.secret)).collect();
        assert_eq!(
            secrets,
            [
                ("a.example.com:5000", &Secret::Password { username: "alice".into(), password: "pw".into() }),
                ("b.example.com", &Secret::Password { username: "bob".into(), password: "pa:ss".into() }),
                ("c.example.com", &Secret::IdentityToken { username: "svc".into(), token: "refresh-me".into() }),
                ("d.example.com", &Secret::RegistryToken("bearer-me".into())),
                ("e.example.com", &Secret::Missing),
            ]
        );
        assert_eq!(got[0].base_url(), "https://a.example.com:5000/v2/");
        assert!(!format!("{:?}", got).contains("pw"), "Debug never shows a secret");
    }
}
