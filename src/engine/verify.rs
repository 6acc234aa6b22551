//! Proving a credential version against its registries: open its `.dockerconfigjson` in
//! memory, check every registry in it through the `Registries` port (concurrently), and
//! record the outcome on the version (see `store::credentials` for what marks a version
//! revoked). The secret never leaves this function: what is stored, logged and answered is
//! outcomes, statuses and words.

use futures::future::join_all;

use super::Context;
use crate::registry::Verification;
use crate::registry::{Tls, logins, overall};
use crate::service::ServiceError;
use crate::service::credentials::version_secret;
use crate::store::credentials::VersionRecord;

/// A version's proof as recorded, and whether it marked the version revoked just now.
pub struct Proven {
    pub version: VersionRecord,
    pub revoked_now: bool,
}

/// Verifies `name` version `version` now and records the outcome.
pub async fn verify_version(ctx: &Context, name: &str, version: u32, actor: &str) -> Result<Proven, ServiceError> {
    let cred = ctx.store.get_credential(name).await?;
    if !cred.versions.iter().any(|v| v.version == version) {
        return Err(crate::store::StoreError::not_found(format!("credential {name:?} version {version}")).into());
    }
    let secret = version_secret(&ctx.store, &ctx.key, name, version).await?;
    let tls = Tls { ca_pem: cred.tls.registry_ca_data.clone(), insecure: cred.tls.insecure_skip_tls_verify };
    let checks = join_all(logins(&secret).iter().map(|l| ctx.registries.check(l, &tls))).await;
    drop(secret);
    let v = Verification { outcome: overall(&checks), at: ctx.now(), actor: actor.to_string(), registries: checks };
    let (version_rec, revoked_now) = ctx.store.record_verification(name, version, &v).await?;
    tracing::info!(
        credential = name,
        version,
        outcome = v.outcome.as_str(),
        revoked = revoked_now,
        "verified a credential version at its registry"
    );
    Ok(Proven { version: version_rec, revoked_now })
}

/// The version's last proof when it is `valid` and at most `max_age` old, else a new one
/// (a proof that did not come out `valid` is never reused: the registry may take it now).
pub async fn recent_proof(
    ctx: &Context,
    name: &str,
    version: u32,
    max_age: chrono::Duration,
    actor: &str,
) -> Result<Verification, ServiceError> {
    let rec = ctx.store.credential_version(name, version).await?;
    if let Some(v) = rec.verification
        && v.outcome == crate::registry::Outcome::Valid
        && ctx.now() - v.at <= max_age
    {
        return Ok(v);
    }
    let proven = verify_version(ctx, name, version, actor).await?;
    Ok(proven.version.verification.expect("just recorded"))
}

/// A `Registries` double for tests: each host answers what it was told (default `valid`),
/// and every check is counted.
#[cfg(test)]
pub mod fake {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use crate::registry::{Login, Outcome, Registries, RegistryCheck, Secret, Tls};

    #[derive(Default)]
    pub struct FakeRegistries {
        /// host → password → outcome (any password when absent).
        answers: Mutex<HashMap<String, HashMap<String, Outcome>>>,
        pub checks: Mutex<Vec<String>>,
    }

    impl FakeRegistries {
        /// `host` answers `outcome` for `password`.
        pub fn answer(&self, host: &str, password: &str, outcome: Outcome) {
            self.answers.lock().unwrap().entry(host.into()).or_default().insert(password.into(), outcome);
        }
        pub fn count(&self) -> usize {
            self.checks.lock().unwrap().len()
        }
    }

    #[async_trait::async_trait]
    impl Registries for FakeRegistries {
        async fn check(&self, login: &Login, _tls: &Tls) -> RegistryCheck {
            self.checks.lock().unwrap().push(login.host.clone());
            let password = match &login.secret {
                Secret::Password { password, .. } => password.clone(),
                _ => String::new(),
            };
            let outcome = self
                .answers
                .lock()
                .unwrap()
                .get(&login.host)
                .and_then(|m| m.get(&password).copied())
                .unwrap_or(Outcome::Valid);
            let status = match outcome {
                Outcome::Valid => Some(200),
                Outcome::Invalid => Some(401),
                Outcome::Unreachable => None,
            };
            RegistryCheck::new(login, outcome, status, format!("fake says {}", outcome.as_str()))
        }
    }
}
