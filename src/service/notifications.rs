//! Webhook notifications: validate a PUT (URL, triggers, secret), seal the secret under
//! the master key and keep only a keyed fingerprint of it in view.

use serde::Deserialize;

use super::{Result, ServiceError};
use crate::domain::FieldError;
use crate::domain::names::is_dns1123_subdomain;
use crate::domain::notify::Trigger;
use crate::secrets::MasterKey;
use crate::store::Store;
use crate::store::notifications::{NotificationPut, NotificationRecord};

/// The shortest signing secret accepted.
pub const MIN_SECRET: usize = 16;
pub const MAX_SECRET: usize = 512;
pub const MAX_URL: usize = 2048;
pub const MAX_DESCRIPTION: usize = 1024;

/// A whole notification. `secret` is write-only and needed on every PUT (as a cluster's
/// credential is): a replacement never keeps a secret its caller did not see.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationRequest {
    /// Where deliveries are POSTed: an `http` or `https` URL without user or password.
    pub url: String,
    /// Triggers it subscribes to (`run:created`, `rotation:needs_approval`, …).
    pub triggers: Vec<String>,
    /// The HMAC-SHA512 signing key (at least 16 characters). Write-only.
    pub secret: Option<String>,
    pub description: Option<String>,
    /// Default true; a disabled notification gets no deliveries.
    pub enabled: Option<bool>,
}

/// The context a notification's secret is sealed under.
pub fn seal_context(name: &str) -> String {
    format!("notification:{name}")
}

/// Checks a webhook URL: absolute `http`/`https` with a host, no credentials in it.
pub fn check_url(text: &str) -> std::result::Result<url::Url, String> {
    if text.len() > MAX_URL {
        return Err(format!("at most {MAX_URL} characters"));
    }
    let u = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("scheme {:?}: use http or https", u.scheme()));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("names no host".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not carry a user or password (sign with `secret` instead)".into());
    }
    Ok(u)
}

fn validate(name: &str, req: &NotificationRequest) -> (Vec<Trigger>, Vec<FieldError>) {
    let mut errors = Vec::new();
    if !is_dns1123_subdomain(name) || name.len() > 253 {
        errors.push(FieldError::new("name", "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')"));
    }
    if let Err(e) = check_url(&req.url) {
        errors.push(FieldError::new("url", e));
    }
    let mut triggers = Vec::new();
    if req.triggers.is_empty() {
        errors.push(FieldError::new("triggers", "name at least one trigger"));
    }
    for (i, t) in req.triggers.iter().enumerate() {
        match Trigger::parse(t).filter(|t| Trigger::SUBSCRIBABLE.contains(t)) {
            Some(t) if !triggers.contains(&t) => triggers.push(t),
            Some(_) => {}
            None => {
                let names: Vec<&str> = Trigger::SUBSCRIBABLE.iter().map(|t| t.as_str()).collect();
                errors.push(FieldError::new(
                    format!("triggers[{i}]"),
                    format!("unknown trigger {t:?}; one of {}", names.join(", ")),
                ));
            }
        }
    }
    match req.secret.as_deref() {
        None | Some("") => errors.push(FieldError::new("secret", "give the signing secret (it is never shown again)")),
        Some(s) if s.chars().count() < MIN_SECRET => {
            errors.push(FieldError::new("secret", format!("must be at least {MIN_SECRET} characters")))
        }
        Some(s) if s.chars().count() > MAX_SECRET => {
            errors.push(FieldError::new("secret", format!("must be at most {MAX_SECRET} characters")))
        }
        Some(_) => {}
    }
    if req.description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        errors.push(FieldError::new("description", format!("must be at most {MAX_DESCRIPTION} characters")));
    }
    triggers.sort();
    (triggers, errors)
}

/// Creates or replaces notification `name`; returns it and whether it was created.
pub async fn put_notification(
    store: &Store,
    key: &MasterKey,
    name: &str,
    req: NotificationRequest,
    if_match: Option<&str>,
    actor: &str,
) -> Result<(NotificationRecord, bool)> {
    let (triggers, errors) = validate(name, &req);
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let secret = req.secret.unwrap_or_default();
    let sealed = key.seal(&seal_context(name), secret.as_bytes());
    let fingerprint = key.fingerprint(secret.as_bytes());
    let put = NotificationPut {
        name,
        url: &req.url,
        triggers: &triggers,
        secret_sealed: &sealed,
        secret_fingerprint: &fingerprint,
        description: req.description.as_deref(),
        enabled: req.enabled.unwrap_or(true),
        if_match,
        actor,
    };
    Ok(store.put_notification(put).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(url: &str, triggers: &[&str], secret: Option<&str>) -> NotificationRequest {
        NotificationRequest {
            url: url.into(),
            triggers: triggers.iter().map(|t| t.to_string()).collect(),
            secret: secret.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        let fields =
            |r: NotificationRequest| -> Vec<String> { validate("hook", &r).1.into_iter().map(|e| e.field).collect() };
        let good = "a-secret-of-20-chars";
        assert!(fields(req("https://hooks.example.com/x", &["run:created"], Some(good))).is_empty());
        assert_eq!(fields(req("ftp://h/x", &["run:created"], Some(good))), ["url"]);
        assert_eq!(fields(req("https://u:p@h/x", &["run:created"], Some(good))), ["url"]);
        assert_eq!(fields(req("not a url", &["run:created"], Some(good))), ["url"]);
        assert_eq!(fields(req("http://h/x", &["run:created", "run:planned"], Some(good))), ["triggers[1]"]);
        assert_eq!(fields(req("http://h/x", &["verification"], Some(good))), ["triggers[0]"]);
        assert_eq!(fields(req("http://h/x", &[], Some(good))), ["triggers"]);
        assert_eq!(fields(req("http://h/x", &["run:created"], None)), ["secret"]);
        assert_eq!(fields(req("http://h/x", &["run:created"], Some("short"))), ["secret"]);
        assert_eq!(validate("Bad_Name", &req("http://h/x", &["run:created"], Some(good))).1[0].field, "name");
    }
}
