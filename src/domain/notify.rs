//! Webhook notifications, the pure part: the triggers a notification can subscribe to
//! (named like Terraform Cloud's), the payload every delivery carries, its signature, and
//! the retry schedule.
//!
//! A delivery's body is built once, when the event is written, and sent byte for byte on
//! every attempt; `X-Fluidform-Signature` is the hex HMAC-SHA512 of exactly those bytes
//! under the notification's secret.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha512;

/// The version of the payload's shape; a change that could break a receiver bumps it.
pub const PAYLOAD_VERSION: u32 = 1;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Fluidform-Signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Trigger {
    /// A run was created from a plan (by a person, a rotation or the drift loop).
    #[serde(rename = "run:created")]
    RunCreated,
    /// A run started sending objects.
    #[serde(rename = "run:applying")]
    RunApplying,
    /// A run applied every object.
    #[serde(rename = "run:completed")]
    RunCompleted,
    /// A run failed (or was interrupted by a restart).
    #[serde(rename = "run:errored")]
    RunErrored,
    /// A rotation was started.
    #[serde(rename = "rotation:started")]
    RotationStarted,
    /// A rotation waits at its manual gate for `approve`.
    #[serde(rename = "rotation:needs_approval")]
    RotationNeedsApproval,
    /// A batch of a rotation became healthy.
    #[serde(rename = "rotation:batch_healthy")]
    RotationBatchHealthy,
    /// A rotation succeeded.
    #[serde(rename = "rotation:completed")]
    RotationCompleted,
    /// A rotation stopped by itself with a reason: paused (failed batch, unhealthy
    /// workloads, a drifted runtime), rolling back, or failed.
    #[serde(rename = "rotation:failed")]
    RotationFailed,
    /// A runtime's live objects started to differ from what was applied.
    #[serde(rename = "drift:detected")]
    DriftDetected,
    /// Sent only by `POST /v1/notifications/{name}/verify`.
    #[serde(rename = "verification")]
    Verification,
}

impl Trigger {
    /// Every trigger a notification may subscribe to.
    pub const SUBSCRIBABLE: &'static [Trigger] = &[
        Trigger::RunCreated,
        Trigger::RunApplying,
        Trigger::RunCompleted,
        Trigger::RunErrored,
        Trigger::RotationStarted,
        Trigger::RotationNeedsApproval,
        Trigger::RotationBatchHealthy,
        Trigger::RotationCompleted,
        Trigger::RotationFailed,
        Trigger::DriftDetected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::RunCreated => "run:created",
            Trigger::RunApplying => "run:applying",
            Trigger::RunCompleted => "run:completed",
            Trigger::RunErrored => "run:errored",
            Trigger::RotationStarted => "rotation:started",
            Trigger::RotationNeedsApproval => "rotation:needs_approval",
            Trigger::RotationBatchHealthy => "rotation:batch_healthy",
            Trigger::RotationCompleted => "rotation:completed",
            Trigger::RotationFailed => "rotation:failed",
            Trigger::DriftDetected => "drift:detected",
            Trigger::Verification => "verification",
        }
    }

    pub fn parse(s: &str) -> Option<Trigger> {
        Self::SUBSCRIBABLE.iter().chain([&Trigger::Verification]).copied().find(|t| t.as_str() == s)
    }
}

/// What happened, before it is addressed to a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub trigger: Trigger,
    pub at: DateTime<Utc>,
    /// One line for a person.
    pub message: String,
    /// What it is about: `run`, `rotation`, `runtime` or `notification`.
    pub kind: &'static str,
    /// Its id (`namespace/name` for a runtime).
    pub id: String,
    /// Where the API shows it.
    pub url: String,
    /// Details, by kind.
    pub data: serde_json::Value,
}

/// The body of a delivery to notification `name`: the exact bytes that are signed and sent.
pub fn payload(name: &str, n: &Notice) -> String {
    let mut body = serde_json::json!({
        "payloadVersion": PAYLOAD_VERSION,
        "notification": name,
        "trigger": n.trigger.as_str(),
        "at": n.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "message": n.message,
        "subject": {"kind": n.kind, "id": n.id, "url": n.url},
    });
    body[n.kind] = n.data.clone();
    body.to_string()
}

/// Hex HMAC-SHA512 of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `signature` (hex) is `body`'s under `secret`, compared in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Ok(sig) = hex::decode(signature.trim()) else { return false };
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Attempts a delivery gets before it is given up (`failed`).
pub const MAX_ATTEMPTS: u32 = 12;

/// When attempt `attempts + 1` goes after `attempts` failed ones: `base` doubled per
/// failure, at most `cap`; `None` once `MAX_ATTEMPTS` were made.
pub fn next_attempt(
    attempts: u32,
    now: DateTime<Utc>,
    base: std::time::Duration,
    cap: std::time::Duration,
) -> Option<DateTime<Utc>> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let factor = 1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
    let delay = base.saturating_mul(factor).min(cap);
    Some(now + Duration::from_std(delay).unwrap_or(Duration::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_round_trip_by_name() {
        for t in Trigger::SUBSCRIBABLE {
            assert_eq!(Trigger::parse(t.as_str()), Some(*t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(Trigger::parse("run:planning"), None);
        assert!(!Trigger::SUBSCRIBABLE.contains(&Trigger::Verification), "verification is sent, not subscribed");
    }

    #[test]
    fn signature_is_hex_hmac_sha512_of_the_exact_body() {
        // RFC 4231 test case 2.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        assert!(verify(b"Jefe", b"what do ya want for nothing?", &sig));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", &sig));
        assert!(!verify(b"other", b"what do ya want for nothing?", &sig));
        assert!(!verify(b"Jefe", b"x", "not hex"));
    }

    #[test]
    fn payload_names_version_trigger_and_subject() {
        let n = Notice {
            trigger: Trigger::RotationNeedsApproval,
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            message: "waits".into(),
            kind: "rotation",
            id: "r1".into(),
            url: "/v1/rotations/r1".into(),
            data: serde_json::json!({"state": "waiting_approval"}),
        };
        let v: serde_json::Value = serde_json::from_str(&payload("ops", &n)).unwrap();
        assert_eq!(v["payloadVersion"], 1);
        assert_eq!(v["trigger"], "rotation:needs_approval");
        assert_eq!(v["notification"], "ops");
        assert_eq!(v["subject"]["url"], "/v1/rotations/r1");
        assert_eq!(v["rotation"]["state"], "waiting_approval");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_gives_up() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let s = std::time::Duration::from_secs;
        let after = |n| next_attempt(n, t0, s(1), s(60)).map(|t| (t - t0).num_seconds());
        assert_eq!(after(1), Some(1));
        assert_eq!(after(2), Some(2));
        assert_eq!(after(3), Some(4));
        assert_eq!(after(7), Some(60), "capped");
        assert_eq!(after(MAX_ATTEMPTS), None);
    }
}
