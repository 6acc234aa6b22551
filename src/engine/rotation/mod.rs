//! Staged credential rotation: move a credential's bindings to a new version across many
//! runtimes and clusters in batches, each proven healthy before the next.
//!
//! Decisions:
//! - `batches` are cumulative targets over the eligible runtimes, as counts or
//!   percentages: with 12 runtimes, `[1, "50%", "100%"]` gives batches of 1, 5 and 6.
//!   Percentages round up; every batch has at least one runtime; targets that add no
//!   runtime are dropped; runtimes left after the last target form a final batch.
//! - Runtimes are ordered by cluster, namespace and name before batching.
//! - A binding is per runtime, so every component's pod template that pulls with the
//!   credential changes when a batch moves. `components` says which components' pods the
//!   rotation restarts, and in which order (default master, worker, fuse); pods of other
//!   components keep the old version until they restart some other way, and the old
//!   version then stays held (not safe to revoke).
//! - Eligible: selected by the selector, bound to the credential at another version than
//!   the target, not drifted. Runtimes locked by another run make the start fail with
//!   `runtime_locked` (never silently skipped); the preview lists them.
//! - `healthTimeout` (seconds, or `"90s"`, `"5m"`) runs from the moment a batch starts
//!   restarting pods. `maxFailedBatches` (default 0) failed batches are tolerated; one more
//!   triggers `onFailure`: `pause` (resume retries the failed batch) or `rollback`.
//! - A rotation holds the lock of every runtime it selected until it ends.
//! - A layer rotation (`layer: {layer, from, to}` instead of `credential`) rewrites the
//!   manifest of each batch's runtimes (a new generation and a layer revision), restarts the
//!   pods of the components that layer feeds (all three for `global`), and on rollback
//!   writes the old name back. One layer rotation per (layer, from) is active at a time.
//! - The components a batch restarts are, per runtime, those whose resolved lists pull
//!   with what the rotation changes (the credential, or the rewritten layer), in
//!   `components` order (default master, worker, fuse; naming `components` restricts
//!   them). Health is judged on exactly those workloads: a workload the rotation does not
//!   change never holds it up.
//! - A workload the batch would restart that is already unhealthy (not every pod ready)
//!   is a problem the rotation did not cause: with `unhealthyWorkloads: block` (the
//!   default) the start is refused (422 `workloads_unhealthy`), and a later batch that
//!   finds one pauses before it moves anything; with `skip` the workload is left alone
//!   (its pods keep the old version until they restart some other way) and named on the
//!   batch.
//! - While a batch restarts pods it records what it waits for (`waitingFor`: per
//!   workload the updated, ready and desired pods and the pods the scheduler could not
//!   place, with its reason) and streams it as `batch_waiting` events when it changes.
//! - Pacing: `batchInterval` is the least time from the end of a batch to the start of
//!   the next (after an approval too); `maxRestartingPerCluster` caps the pods being
//!   replaced at once on one cluster, across every runtime of the batch (a pod counts from
//!   its deletion until its replacement is ready: desired minus ready live pods per
//!   workload); `pauseOnDrift` pauses before a batch with a runtime the drift loop found
//!   drifted since the start, naming it. The preview shows the schedule these give and an
//!   estimate of the duration (`schedule.rs`).
//! - `resume` gives the batch it resumes a fresh deadline; a rotation that then succeeds
//!   clears its error (the events keep it). `approve` when nothing waits for approval is
//!   refused (409 `not_waiting_approval`). A rotation paused while it waits for approval
//!   goes back to waiting on `resume`: only `approve` lets the next batch start.
//! - A credential rotation proves its target version at its registries from the daemon
//!   (`verify`, default `true`): the start verifies it now and is refused (422
//!   `credential_unverified`, naming the registry) when it is `invalid` or, unless
//!   `verify: "best-effort"`, `unreachable`; each batch, before it moves bindings, proves
//!   it again unless a `valid` proof younger than `FLUIDFORM_VERIFY_MAX_AGE` exists, and
//!   pauses on the same outcomes, so a credential revoked mid-rotation stops the rotation
//!   before any pod restarts with it. `verify: false` skips all of it. The preview shows
//!   the proof and whether it would refuse the start.
//! - `awaitRevocation: true`: after the last batch the stage labels shift and the
//!   runtime locks are released, but the rotation stays `running` until the old version
//!   is confirmed revoked at its registry (a proof of it comes out `invalid`); the driver
//!   proves it again whenever its last proof is older than `FLUIDFORM_VERIFY_MAX_AGE`, and
//!   `POST /v1/credentials/{name}/versions/{old}/verify` proves it at once.

mod decide;
pub mod driver;
pub(crate) mod observe;
pub mod schedule;
mod select;

use serde::{Deserialize, Serialize};

pub use driver::{drive_once, rotation_command, spawn_rotation_driver};
pub use select::{preview_rotation, start_rotation};

use crate::domain::FieldError;
use crate::domain::code::{Coded, ErrorCode};
use crate::domain::layers::{Component, LayerSource, Resolution};
use crate::engine::plan::PlanError;
use crate::store::StoreError;
use crate::store::rotations::BatchMove;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BatchSize {
    Count(u32),
    /// A percentage such as `"10%"`.
    Percent(String),
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    Manual,
    #[default]
    Auto,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    #[default]
    Pause,
    Rollback,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotationSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Timeout {
    Seconds(u64),
    /// `"90s"`, `"5m"`, `"1h"`.
    Text(String),
}

/// A pull-secret layer a rotation can rewrite.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LayerName {
    Global,
    Master,
    Worker,
    Fuse,
}

impl LayerName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Master => "master",
            Self::Worker => "worker",
            Self::Fuse => "fuse",
        }
    }
    pub(crate) fn names(self, l: &crate::domain::manifest::RuntimeLayers) -> &[String] {
        match self {
            Self::Global => &l.global,
            Self::Master => &l.master,
            Self::Worker => &l.worker,
            Self::Fuse => &l.fuse,
        }
    }
}

/// Replace one pull-secret name by another in a layer of every selected runtime.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayerReplacement {
    pub layer: LayerName,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotationRequest {
    /// The credential whose bindings move (a credential rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Or: a pull-secret name to replace in one layer (a layer rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerReplacement>,
    /// Default: the credential's `pending` version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_version: Option<u32>,
    #[serde(default)]
    pub selector: RotationSelector,
    /// Components whose pods are restarted, in order (default master, worker, fuse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<Component>>,
    /// Cumulative batch targets (default `["100%"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batches: Option<Vec<BatchSize>>,
    #[serde(default)]
    pub gate: Gate,
    /// Default 600 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_timeout: Option<Timeout>,
    #[serde(default)]
    pub max_failed_batches: u32,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// Pods of one workload deleted at a time (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<u32>,
    /// What to do with a workload the batch would restart that is already unhealthy.
    #[serde(default)]
    pub unhealthy_workloads: UnhealthyPolicy,
    /// Prove the target version at its registries before the start and before each batch
    /// (`true`, the default), also when the daemon cannot reach a registry
    /// (`"best-effort"`: only `invalid` stops it), or not at all (`false`).
    #[serde(default)]
    pub verify: VerifyMode,
    /// After the labels shift, stay `running` until the old version is confirmed revoked
    /// at its registry.
    #[serde(default)]
    pub await_revocation: bool,
    /// Least time between the end of one batch and the start of the next (seconds, or
    /// `"90s"`, `"5m"`); default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_interval: Option<Timeout>,
    /// Most pods being replaced at once on one cluster, across every runtime of the batch
    /// (default: no cap beyond `maxUnavailable` per workload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restarting_per_cluster: Option<u32>,
    /// Pause, naming it, when a runtime of the next batch has drifted since the start.
    #[serde(default)]
    pub pause_on_drift: bool,
}

/// How a rotation proves its target version (see the module doc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VerifyMode {
    /// `true`: `invalid` and `unreachable` both stop it.
    #[default]
    Required,
    /// `"best-effort"`: only `invalid` stops it (for registries the daemon cannot reach but
    /// the clusters can).
    BestEffort,
    /// `false`: never proven.
    Off,
}

impl VerifyMode {
    /// Whether a proof with this outcome stops the rotation.
    pub fn refuses(self, outcome: crate::registry::Outcome) -> bool {
        use crate::registry::Outcome::*;
        match self {
            VerifyMode::Required => outcome != Valid,
            VerifyMode::BestEffort => outcome == Invalid,
            VerifyMode::Off => false,
        }
    }
}

impl Serialize for VerifyMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            VerifyMode::Required => s.serialize_bool(true),
            VerifyMode::Off => s.serialize_bool(false),
            VerifyMode::BestEffort => s.serialize_str("best-effort"),
        }
    }
}

impl<'de> Deserialize<'de> for VerifyMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| serde::de::Error::custom("must be true, false or \"best-effort\""))? {
            Raw::Bool(true) => Ok(VerifyMode::Required),
            Raw::Bool(false) => Ok(VerifyMode::Off),
            Raw::Text(t) if t == "best-effort" => Ok(VerifyMode::BestEffort),
            Raw::Text(t) => Err(serde::de::Error::custom(format!("{t:?}: must be true, false or \"best-effort\""))),
        }
    }
}

impl utoipa::PartialSchema for VerifyMode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let v = serde_json::json!({
            "description": "true (default): prove the target version and stop on invalid or unreachable; \"best-effort\": stop only on invalid; false: do not prove it.",
            "default": true,
            "oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["best-effort"]}],
        });
        utoipa::openapi::RefOr::T(serde_json::from_value(v).expect("a valid schema"))
    }
}
impl utoipa::ToSchema for VerifyMode {}

/// A workload that was unhealthy before the rotation touched it.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UnhealthyPolicy {
    /// Refuse the start (422); a later batch that finds one pauses before moving anything.
    #[default]
    Block,
    /// Leave it alone (its pods are not restarted) and name it on the batch.
    Skip,
}

/// The longest `healthTimeout` accepted (a day).
pub const MAX_HEALTH_TIMEOUT_SECS: u64 = 86_400;

impl RotationRequest {
    /// The components of `resolution` whose pods this rotation restarts, in order: those
    /// that pull with what it changes, restricted to and ordered by `components`.
    pub fn restarted(&self, resolution: &Resolution) -> Vec<Component> {
        let order = self.components.clone().unwrap_or_else(|| Component::ALL.to_vec());
        order.into_iter().filter(|c| resolution.component(*c).is_some_and(|r| self.affects(r))).collect()
    }

    /// Whether a component's resolved list pulls with what this rotation changes.
    fn affects(&self, r: &crate::domain::layers::ComponentResolution) -> bool {
        match (&self.layer, &self.credential) {
            (Some(l), _) => {
                let source = match l.layer {
                    LayerName::Global => LayerSource::Global,
                    LayerName::Master => LayerSource::Master,
                    LayerName::Worker => LayerSource::Worker,
                    LayerName::Fuse => LayerSource::Fuse,
                };
                r.source == source && r.image_pull_secrets.iter().any(|s| s.name == l.from || s.name == l.to)
            }
            (None, Some(c)) => r.image_pull_secrets.iter().any(|s| s.credential.as_deref() == Some(c.as_str())),
            (None, None) => false,
        }
    }
    /// What the rotation is about: the credential, or `layer:<layer>:<from>`. One rotation
    /// per subject is active at a time.
    pub fn subject(&self) -> String {
        match (&self.layer, &self.credential) {
            (Some(l), _) => format!("layer:{}:{}", l.layer.as_str(), l.from),
            (None, c) => c.clone().unwrap_or_default(),
        }
    }
    pub fn batch_move(&self) -> BatchMove {
        match &self.layer {
            Some(l) => BatchMove::Layer { layer: l.layer.as_str().into(), from: l.from.clone(), to: l.to.clone() },
            None => BatchMove::Credential,
        }
    }
    pub fn health_timeout_secs(&self) -> u64 {
        let secs = match &self.health_timeout {
            Some(Timeout::Seconds(s)) => *s,
            Some(Timeout::Text(t)) => parse_duration(t).unwrap_or(600),
            None => 600,
        };
        secs.clamp(1, MAX_HEALTH_TIMEOUT_SECS)
    }
    pub fn max_unavailable(&self) -> usize {
        self.max_unavailable.unwrap_or(1).max(1) as usize
    }
    /// `batchInterval` in seconds, when one is set.
    pub fn batch_interval_secs(&self) -> Option<u64> {
        match &self.batch_interval {
            Some(Timeout::Seconds(s)) => Some(*s),
            Some(Timeout::Text(t)) => parse_duration(t),
            None => None,
        }
        .map(|s| s.min(MAX_BATCH_INTERVAL_SECS))
        .filter(|s| *s > 0)
    }
    pub fn max_restarting_per_cluster(&self) -> Option<usize> {
        self.max_restarting_per_cluster.map(|n| n.max(1) as usize)
    }
}

/// The longest `batchInterval` accepted (a day).
pub const MAX_BATCH_INTERVAL_SECS: u64 = 86_400;

fn parse_duration(t: &str) -> Option<u64> {
    let t = t.trim();
    let (num, mult) = match t.chars().last()? {
        's' => (&t[..t.len() - 1], 1),
        'm' => (&t[..t.len() - 1], 60),
        'h' => (&t[..t.len() - 1], 3600),
        _ => (t, 1),
    };
    num.parse::<u64>().ok().and_then(|n| n.checked_mul(mult))
}

/// Splits `n` ordered runtimes into batches per the cumulative targets (see module doc).
pub fn batch_sizes(n: usize, targets: &[BatchSize]) -> Result<Vec<usize>, String> {
    let mut sizes = Vec::new();
    let mut done = 0usize;
    for (i, t) in targets.iter().enumerate() {
        let target = match t {
            BatchSize::Count(c) => *c as usize,
            BatchSize::Percent(p) => {
                let v: f64 = p
                    .strip_suffix('%')
                    .and_then(|x| x.trim().parse().ok())
                    .filter(|v: &f64| *v > 0.0 && *v <= 100.0)
                    .ok_or_else(|| format!("batches[{i}]: {p:?} is not a percentage in (0%, 100%]"))?;
                (v * n as f64 / 100.0).ceil() as usize
            }
        };
        if matches!(t, BatchSize::Count(0)) {
            return Err(format!("batches[{i}]: a batch target must be at least 1"));
        }
        let target = target.min(n);
        if target > done {
            sizes.push(target - done);
            done = target;
        }
    }
    if done < n {
        sizes.push(n - done);
    }
    Ok(sizes)
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("invalid rotation request")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{0}")]
    Locked(String),
    #[error("rotation is {state}; {action} is not possible now")]
    State { state: String, action: String },
    #[error("rotation is {state}: nothing waits for approval")]
    NotWaitingApproval { state: String },
    #[error("{0}")]
    Unhealthy(String),
    #[error("{0}")]
    Unverified(String),
    #[error(transparent)]
    Verify(#[from] crate::service::ServiceError),
    /// A credential's scope leaves out a runtime the rotation would bind to it.
    #[error("{0}")]
    NotAllowed(String),
}

impl Coded for RotationError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Store(e) => e.code(),
            Self::Plan(e) => e.code(),
            Self::Locked(_) => ErrorCode::RuntimeLocked,
            Self::State { .. } => ErrorCode::RotationState,
            Self::NotWaitingApproval { .. } => ErrorCode::NotWaitingApproval,
            Self::Unhealthy(_) => ErrorCode::WorkloadsUnhealthy,
            Self::Unverified(_) => ErrorCode::CredentialUnverified,
            Self::Verify(e) => e.code(),
            Self::NotAllowed(_) => ErrorCode::CredentialNotAllowed,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(errors) => errors.clone(),
            Self::Plan(e) => e.field_errors(),
            Self::Verify(e) => e.field_errors(),
            Self::Unverified(m) => vec![FieldError::new("toVersion", m)],
            Self::Unhealthy(m) => vec![FieldError::new("unhealthyWorkloads", m)],
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedRuntime {
    pub cluster: String,
    pub namespace: String,
    pub name: String,
    /// already_on_target_version, not_referencing_credential, drifted or locked.
    pub reason: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewWorkload {
    pub kind: String,
    pub name: String,
    pub component: Component,
    /// Whether the rotation restarts this workload's pods (its component is selected).
    pub restarted: bool,
    /// Live pods that will restart; absent when the cluster could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods: Option<Vec<String>>,
    /// Why the workload is unhealthy now, before the rotation touches it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewRuntime {
    pub namespace: String,
    pub name: String,
    pub batch: usize,
    pub from_version: u32,
    pub workloads: Vec<PreviewWorkload>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviewCluster {
    pub cluster: String,
    pub runtimes: Vec<PreviewRuntime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// The credential, or `layer:<layer>:<from>` for a layer rotation.
    pub credential: String,
    pub to_version: u32,
    /// Runtimes per batch, in order.
    pub batches: Vec<Vec<String>>,
    pub clusters: Vec<PreviewCluster>,
    pub skipped: Vec<SkippedRuntime>,
    pub pods_to_restart: usize,
    /// Workloads the rotation would restart that are unhealthy already (see
    /// `unhealthyWorkloads`).
    pub unhealthy: Vec<String>,
    /// The target version's proof at its registries (absent for layer rotations and with
    /// `verify: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::registry::Verification>,
    /// Why the start would be refused with `credential_unverified`, if it would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unverified: Option<String>,
    /// When each batch would start and how long it would take, with the pacing asked for.
    pub schedule: Vec<schedule::ScheduledBatch>,
    /// The whole rotation's estimated duration in seconds (manual approvals not counted).
    pub estimated_seconds: u64,
    /// What the estimate assumes.
    pub estimate: schedule::EstimateBasis,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> BatchSize {
        BatchSize::Percent(s.into())
    }

    #[test]
    fn cumulative_batches() {
        assert_eq!(batch_sizes(12, &[BatchSize::Count(1), p("50%"), p("100%")]).unwrap(), [1, 5, 6]);
        assert_eq!(batch_sizes(4, &[BatchSize::Count(1), p("50%"), p("100%")]).unwrap(), [1, 1, 2]);
        assert_eq!(batch_sizes(2, &[BatchSize::Count(1), p("10%"), p("50%"), p("100%")]).unwrap(), [1, 1]);
        assert_eq!(batch_sizes(10, &[BatchSize::Count(3)]).unwrap(), [3, 7], "the rest forms a final batch");
        assert_eq!(batch_sizes(3, &[p("100%")]).unwrap(), [3]);
        assert!(batch_sizes(3, &[p("0%")]).is_err());
        assert!(batch_sizes(3, &[p("abc")]).is_err());
        assert!(batch_sizes(3, &[BatchSize::Count(0)]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("5m"), Some(300));
        assert_eq!(parse_duration("2"), Some(2));
        assert_eq!(parse_duration("x"), None);
    }
}
