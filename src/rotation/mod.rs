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

pub mod driver;
pub mod health;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::FieldError;
use crate::domain::layers::{Component, managed_secret_name};
use crate::domain::selector::parse_selector;
use crate::plan::apply::{Engine, lock_id};
use crate::plan::drift::{SyncState, sync_state};
use crate::plan::{PlanError, runtime_contexts};
use crate::service::clusters::connect;
use crate::service::runtimes::resolution;
use crate::store::StoreError;
use crate::store::credentials::Stage;
use crate::store::rotations::{BatchMove, NewRotation, RotationRuntime};
use crate::store::runtimes::{RuntimeContext, RuntimeFilter};

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
    fn names(self, l: &crate::domain::manifest::RuntimeLayers) -> &[String] {
        match self {
            Self::Global => &l.global,
            Self::Master => &l.master,
            Self::Worker => &l.worker,
            Self::Fuse => &l.fuse,
        }
    }
    /// The components whose pods pull with this layer when it wins.
    fn components(self) -> Vec<Component> {
        match self {
            Self::Global => Component::ALL.to_vec(),
            Self::Master => vec![Component::Master],
            Self::Worker => vec![Component::Worker],
            Self::Fuse => vec![Component::Fuse],
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
}

impl RotationRequest {
    pub fn components(&self) -> Vec<Component> {
        self.components.clone().unwrap_or_else(|| match &self.layer {
            Some(l) => l.layer.components(),
            None => Component::ALL.to_vec(),
        })
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
        match &self.health_timeout {
            Some(Timeout::Seconds(s)) => *s,
            Some(Timeout::Text(t)) => parse_duration(t).unwrap_or(600),
            None => 600,
        }
    }
    pub fn max_unavailable(&self) -> usize {
        self.max_unavailable.unwrap_or(1).max(1) as usize
    }
}

fn parse_duration(t: &str) -> Option<u64> {
    let t = t.trim();
    let (num, mult) = match t.chars().last()? {
        's' => (&t[..t.len() - 1], 1),
        'm' => (&t[..t.len() - 1], 60),
        'h' => (&t[..t.len() - 1], 3600),
        _ => (t, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
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
}

/// The eligible runtimes in order, and the skipped ones.
pub struct Selection {
    pub credential: String,
    pub to_version: u32,
    pub eligible: Vec<(RuntimeContext, u32)>,
    pub skipped: Vec<SkippedRuntime>,
    pub batch_sizes: Vec<usize>,
}

impl Engine {
    pub async fn select(&self, req: &RotationRequest) -> Result<Selection, RotationError> {
        let mut errors = Vec::new();
        let cred = match (&req.credential, &req.layer) {
            (Some(_), Some(_)) | (None, None) => {
                errors.push(FieldError::new("credential", "give either credential or layer"));
                None
            }
            (None, Some(l)) => {
                for (field, name) in [("layer.from", &l.from), ("layer.to", &l.to)] {
                    if !crate::domain::names::is_dns1123_subdomain(name) {
                        errors.push(FieldError::new(field, format!("{name:?} is not a valid Secret name")));
                    }
                }
                if l.from == l.to {
                    errors.push(FieldError::new("layer.to", "must differ from layer.from"));
                }
                if req.to_version.is_some() {
                    errors.push(FieldError::new("toVersion", "only for credential rotations"));
                }
                None
            }
            (Some(name), None) => match self.store.get_credential(name).await {
                Ok(c) => Some(c),
                Err(StoreError::NotFound { .. }) => {
                    errors.push(FieldError::new("credential", format!("credential {name:?} does not exist")));
                    None
                }
                Err(e) => return Err(e.into()),
            },
        };
        let to_version = match (req.to_version, &cred) {
            (Some(v), Some(c)) if c.versions.iter().any(|x| x.version == v) => Some(v),
            (Some(v), Some(_)) => {
                errors.push(FieldError::new("toVersion", format!("version {v} does not exist")));
                None
            }
            (None, Some(c)) => match c.version_with(Stage::Pending) {
                Some(v) => Some(v.version),
                None => {
                    errors.push(FieldError::new("toVersion", "the credential has no pending version; name one"));
                    None
                }
            },
            _ => req.layer.as_ref().map(|_| 0),
        };
        let selector = match &req.selector.label_selector {
            Some(s) => match parse_selector(s) {
                Ok(sel) => Some(sel),
                Err(m) => {
                    errors.push(FieldError::new("selector.labelSelector", m));
                    None
                }
            },
            None => None,
        };
        if let Some(c) = &req.components
            && c.is_empty()
        {
            errors.push(FieldError::new("components", "name at least one component"));
        }
        let targets = req.batches.clone().unwrap_or_else(|| vec![BatchSize::Percent("100%".into())]);
        if targets.is_empty() {
            errors.push(FieldError::new("batches", "give at least one batch"));
        }
        if let Some(Timeout::Text(t)) = &req.health_timeout
            && parse_duration(t).is_none()
        {
            errors.push(FieldError::new("healthTimeout", "seconds, or a duration like \"90s\" or \"5m\""));
        }
        if let Err(e) = batch_sizes(1, &targets) {
            errors.push(FieldError::new("batches", e));
        }
        if !errors.is_empty() {
            return Err(RotationError::Invalid(errors));
        }
        let to_version = to_version.expect("no errors");
        let sel = &req.selector;
        let contexts = runtime_contexts(&self.store, &RuntimeFilter::default(), |r| {
            sel.clusters.as_ref().is_none_or(|c| c.contains(&r.cluster))
                && sel.namespaces.as_ref().is_none_or(|n| n.contains(&r.namespace))
                && selector.as_ref().is_none_or(|s| s.matches(&r.labels()))
        })
        .await?;
        let locks: BTreeMap<String, _> =
            self.store.list_locks().await?.into_iter().map(|l| (l.id.clone(), l)).collect();
        let mut eligible = Vec::new();
        let mut skipped = Vec::new();
        for ctx in contexts {
            let skip = |reason: &str, detail: String| SkippedRuntime {
                cluster: ctx.record.cluster.clone(),
                namespace: ctx.record.namespace.clone(),
                name: ctx.record.name.clone(),
                reason: reason.into(),
                detail,
            };
            let bound = match (&req.layer, &req.credential) {
                (Some(l), _) => {
                    let layers = ctx.runtime.layers();
                    let names = l.layer.names(&layers);
                    if !names.contains(&l.from) {
                        let (reason, detail) = if names.contains(&l.to) {
                            (
                                "already_on_target_version",
                                format!("the {} layer already has {:?}", l.layer.as_str(), l.to),
                            )
                        } else {
                            (
                                "not_referencing_credential",
                                format!("the {} layer has no {:?}", l.layer.as_str(), l.from),
                            )
                        };
                        skipped.push(skip(reason, detail));
                        continue;
                    }
                    0
                }
                (None, cred) => {
                    let cred = cred.clone().unwrap_or_default();
                    let Some(&bound) = ctx.bindings.get(&cred) else {
                        skipped.push(skip(
                            "not_referencing_credential",
                            format!("no layer that wins references {cred:?}"),
                        ));
                        continue;
                    };
                    if bound == to_version {
                        skipped.push(skip("already_on_target_version", format!("bound to version {bound}")));
                        continue;
                    }
                    bound
                }
            };
            let sync = self.store.get_sync(&ctx.record.namespace, &ctx.record.name).await?;
            if sync_state(&ctx, sync.as_ref()) == SyncState::Drifted {
                skipped.push(skip("drifted", "live objects differ from what was applied; reconcile first".into()));
                continue;
            }
            if let Some(l) = locks.get(&lock_id(&ctx.record.namespace, &ctx.record.name))
                && l.expires_at > chrono::Utc::now()
            {
                skipped.push(skip(
                    "locked",
                    format!("lock held by {} until {}", l.run_id.clone().unwrap_or_default(), l.expires_at),
                ));
                continue;
            }
            eligible.push((ctx, bound));
        }
        eligible.sort_by(|(a, _), (b, _)| {
            (&a.record.cluster, &a.record.namespace, &a.record.name).cmp(&(
                &b.record.cluster,
                &b.record.namespace,
                &b.record.name,
            ))
        });
        let batch_sizes = batch_sizes(eligible.len(), &targets)
            .map_err(|e| RotationError::Invalid(vec![FieldError::new("batches", e)]))?;
        Ok(Selection { credential: req.subject(), to_version, eligible, skipped, batch_sizes })
    }

    /// The blast radius of a rotation, before anything runs.
    pub async fn preview_rotation(&self, req: &RotationRequest) -> Result<Preview, RotationError> {
        let sel = self.select(req).await?;
        let components = req.components();
        let mut batches = Vec::new();
        let mut batch_of = Vec::new();
        let mut i = 0;
        for (b, size) in sel.batch_sizes.iter().enumerate() {
            let names = sel.eligible[i..i + size]
                .iter()
                .map(|(c, _)| format!("{}/{}/{}", c.record.cluster, c.record.namespace, c.record.name))
                .collect();
            batches.push(names);
            batch_of.extend(std::iter::repeat_n(b, *size));
            i += size;
        }
        let mut clusters: BTreeMap<String, PreviewCluster> = BTreeMap::new();
        let mut pods_total = 0;
        let cluster_names: BTreeSet<String> = sel.eligible.iter().map(|(c, _)| c.record.cluster.clone()).collect();
        for cluster in cluster_names {
            let (client, error) = match connect(&self.store, &self.key, &cluster).await {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let mut pc = PreviewCluster { cluster: cluster.clone(), runtimes: vec![], error };
            for ((ctx, from), batch) in
                sel.eligible.iter().zip(&batch_of).filter(|((c, _), _)| c.record.cluster == cluster)
            {
                let res = resolution(ctx);
                let secret = match &req.layer {
                    Some(l) => l.from.clone(),
                    None => managed_secret_name(&sel.credential, *from),
                };
                let mut workloads = Vec::new();
                for comp in Component::ALL {
                    if !res
                        .component(comp)
                        .is_some_and(|r| r.image_pull_secrets.iter().any(|s| s.secret_name == secret))
                    {
                        continue;
                    }
                    let (kind, name, role) = workload_of(&ctx.record.name, comp);
                    let restarted = components.contains(&comp);
                    let pods = match &client {
                        Some(cl) if restarted => {
                            let selector = format!("release={},role={role}", ctx.record.name);
                            match cl.list("v1", "Pod", &ctx.record.namespace, &selector).await {
                                Ok(p) => Some(
                                    p.iter()
                                        .filter_map(|p| {
                                            p.pointer("/metadata/name").and_then(Value::as_str).map(String::from)
                                        })
                                        .collect::<Vec<_>>(),
                                ),
                                Err(e) => {
                                    pc.error.get_or_insert(e.to_string());
                                    None
                                }
                            }
                        }
                        _ => None,
                    };
                    pods_total += pods.as_ref().map_or(0, Vec::len);
                    workloads.push(PreviewWorkload { kind: kind.into(), name, component: comp, restarted, pods });
                }
                pc.runtimes.push(PreviewRuntime {
                    namespace: ctx.record.namespace.clone(),
                    name: ctx.record.name.clone(),
                    batch: *batch,
                    from_version: *from,
                    workloads,
                });
            }
            clusters.insert(cluster, pc);
        }
        Ok(Preview {
            credential: sel.credential,
            to_version: sel.to_version,
            batches,
            clusters: clusters.into_values().collect(),
            skipped: sel.skipped,
            pods_to_restart: pods_total,
        })
    }

    /// Starts a rotation: saves it with its batches, takes every selected runtime's lock.
    pub async fn start_rotation(&self, req: RotationRequest, actor: &str) -> Result<String, RotationError> {
        if let Some(other) = self.store.active_rotation_of(&req.subject()).await? {
            return Err(StoreError::conflict(
                "rotation_active",
                format!("rotation {other} of {:?} is still active", req.subject()),
            )
            .into());
        }
        let sel = self.select(&req).await?;
        let locked: Vec<&SkippedRuntime> = sel.skipped.iter().filter(|s| s.reason == "locked").collect();
        if let Some(l) = locked.first() {
            return Err(RotationError::Locked(format!(
                "runtime {}/{} is locked by another run ({}); wait for it or force-unlock",
                l.namespace, l.name, l.detail
            )));
        }
        if sel.eligible.is_empty() {
            return Err(RotationError::Invalid(vec![FieldError::new(
                "selector",
                format!("no runtime to rotate ({} skipped; see POST /v1/rotations/preview)", sel.skipped.len()),
            )]));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let mut runtimes = Vec::new();
        let mut i = 0;
        for (b, size) in sel.batch_sizes.iter().enumerate() {
            for (ctx, _) in &sel.eligible[i..i + size] {
                runtimes.push(RotationRuntime {
                    namespace: ctx.record.namespace.clone(),
                    name: ctx.record.name.clone(),
                    cluster: ctx.record.cluster.clone(),
                    batch: b as i64,
                    from_version: None,
                    state: "pending".into(),
                    error: None,
                });
            }
            i += size;
        }
        let owner = format!("rotation:{id}");
        let lock_ids: Vec<String> = runtimes.iter().map(|r| lock_id(&r.namespace, &r.name)).collect();
        if let Some(l) = self.store.take_locks(&owner, &self.holder, &lock_ids, driver::ROTATION_LEASE).await? {
            return Err(RotationError::Locked(format!("{} is locked by {:?}", l.id, l.run_id)));
        }
        let from_version = match &req.layer {
            Some(_) => None,
            None => self.store.get_credential(&sel.credential).await?.version_with(Stage::Current).map(|v| v.version),
        };
        let request = serde_json::to_value(&req).expect("request serializes");
        let saved = self
            .store
            .insert_rotation(NewRotation {
                id: &id,
                credential: &sel.credential,
                from_version,
                to_version: sel.to_version,
                request: &request,
                actor,
                batches: sel.batch_sizes.len(),
                runtimes: &runtimes,
            })
            .await;
        if let Err(e) = saved {
            self.store.release_locks(&owner).await?;
            return Err(e.into());
        }
        Ok(id)
    }
}

/// The workload a component runs in: kind, name, and its `role` label.
pub fn workload_of(runtime: &str, comp: Component) -> (&'static str, String, &'static str) {
    match comp {
        Component::Master => ("StatefulSet", format!("{runtime}-master"), "alluxio-master"),
        Component::Worker => ("StatefulSet", format!("{runtime}-worker"), "alluxio-worker"),
        Component::Fuse => ("DaemonSet", format!("{runtime}-fuse"), "alluxio-fuse"),
    }
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
