//! Registry credentials proven against their registry, the way a container runtime logs in:
//! `GET /v2/`, then the `WWW-Authenticate` challenge it answers with: `Basic` (the same
//! request again with the credential) or `Bearer` (a token from the realm, fetched with the
//! credential, then `GET /v2/` with that token). The `Registries` port does one such check;
//! `http` implements it over HTTP/1.1 and rustls, through a CONNECT proxy when one is set,
//! in bounded time and paced per registry. Tests swap in a fake.
//!
//! Outcomes: `valid` (the registry accepted the credential), `invalid` (the registry or its
//! token service refused it: 401 or 403, the status is kept), `unreachable` (no answer that
//! says either: network, TLS, timeout, 5xx or an answer a registry would not give).

pub mod challenge;
pub mod http;
pub mod logins;

use serde::{Deserialize, Serialize};

pub use logins::{Login, Secret, logins};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Valid,
    Invalid,
    Unreachable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Valid => "valid",
            Outcome::Invalid => "invalid",
            Outcome::Unreachable => "unreachable",
        }
    }
}

/// The last proof of a version against its registries (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// `invalid` when any registry refused it, else `unreachable` when any could not say,
    /// else `valid`.
    pub outcome: Outcome,
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who asked: a token name, or `rotation:<id>`.
    pub actor: String,
    /// Each registry of the version (every `auths` entry of a dockerconfigjson).
    pub registries: Vec<RegistryCheck>,
}

/// The outcome at one registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCheck {
    /// The registry as the credential names it (its `auths` key).
    pub registry: String,
    pub outcome: Outcome,
    /// The HTTP status that decided it (the registry's, or its token service's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What happened, in words (never the secret).
    pub detail: String,
}

impl RegistryCheck {
    pub fn new(login: &Login, outcome: Outcome, status: Option<u16>, detail: impl Into<String>) -> Self {
        let detail = scrub(&detail.into(), &login.secret);
        Self { registry: login.registry.clone(), outcome, status, detail }
    }
}

/// How to trust a registry's TLS certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// PEM certificates trusted in addition to the system's roots.
    pub ca_pem: Option<String>,
    /// Accept any certificate (only when the credential asks for it).
    pub insecure: bool,
}

/// Checks one login against its registry.
#[async_trait::async_trait]
pub trait Registries: Send + Sync + 'static {
    async fn check(&self, login: &Login, tls: &Tls) -> RegistryCheck;
}

/// The outcome of a version from its registries' outcomes: `invalid` when any registry
/// refused it, else `unreachable` when any could not say, else `valid`. A version with no
/// registry to ask is `invalid`.
pub fn overall(checks: &[RegistryCheck]) -> Outcome {
    if checks.is_empty() || checks.iter().any(|c| c.outcome == Outcome::Invalid) {
        Outcome::Invalid
    } else if checks.iter().any(|c| c.outcome == Outcome::Unreachable) {
        Outcome::Unreachable
    } else {
        Outcome::Valid
    }
}

/// `text` with every form of the secret replaced, so nothing a registry echoes leaks.
pub fn scrub(text: &str, secret: &Secret) -> String {
    let mut out = text.to_string();
    for s in secret.sensitive() {
        if !s.is_empty() {
            out = out.replace(&s, "<redacted>");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(outcome: Outcome) -> RegistryCheck {
        RegistryCheck { registry: "r".into(), outcome, status: None, detail: String::new() }
    }

    #[test]
    fn one_refusal_makes_the_version_invalid() {
        use Outcome::*;
        let rows: Vec<(Vec<Outcome>, Outcome)> = vec![
            (vec![Valid], Valid),
            (vec![Valid, Valid], Valid),
            (vec![Valid, Unreachable], Unreachable),
            (vec![Unreachable, Invalid], Invalid),
            (vec![Invalid, Valid], Invalid),
            (vec![], Invalid),
        ];
        for (each, want) in rows {
            let checks: Vec<_> = each.iter().copied().map(check).collect();
            assert_eq!(overall(&checks), want, "{each:?}");
        }
    }

    #[test]
    fn what_a_registry_echoes_is_scrubbed() {
        let secret = Secret::Password { username: "bob".into(), password: "hunter2".into() };
        let login = Login { registry: "r".into(), scheme: "https".into(), host: "r".into(), secret };
        let c = RegistryCheck::new(&login, Outcome::Invalid, Some(401), "bad hunter2 (Ym9iOmh1bnRlcjI=)");
        assert_eq!(c.detail, "bad <redacted> (<redacted>)");
    }
}
