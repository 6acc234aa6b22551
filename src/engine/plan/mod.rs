//! Plans: desired objects compared with what was last applied and, on refresh, with the
//! live objects, object by object and field by field; and the inputs they were made from,
//! so applying a plan whose inputs changed is refused.
//!
//! Scope: runtimes named `namespace/name`, a label selector, a cluster, or everything; the
//! filters given are combined (all must match). A runtime deleted from the desired state
//! but still applied is in scope when its name, stored labels or cluster match, and its
//! objects are planned for deletion. A credential Secret is deleted from a namespace when
//! no runtime of that cluster and namespace (in scope or not) is bound to it any more.
//!
//! Cost: a runtime whose inputs (generation, layer revision, renderer, runtime identity)
//! equal what was last applied is not rendered: without refresh its objects are counted
//! as no-op from the applied records; with refresh its applied objects are compared with
//! the live ones. Only runtimes that changed are rendered.
//!
//! What a plan stores: a summary (counts by action, cluster and kind), the runtimes it
//! covers with their inputs, and a row per object it changes with the object's digest
//! (creates and deletes show their diff from the rendering and the applied record when
//! read; updates keep theirs). No-op objects are counted, and listed on request from what
//! is recorded as applied.
//!
//! Reasons per object: `new` (never applied), `spec_change` (runtime generation moved),
//! `layer_change` (a pull-secret layer revision moved), `binding_change` (a credential
//! binding moved), `drift` (the live object differs from what was applied), `removal`.

mod build;
pub mod compare;
pub mod live;
pub mod memo;
pub(crate) mod namespace;
mod view;
pub mod warm;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use build::create_plan;
pub use view::{ObjectPage, PlanObjectQuery, get_plan, plan_objects};

use crate::domain::FieldError;
use crate::domain::code::{Coded, ErrorCode};
use crate::domain::diff::FieldDiff;
use crate::engine::port::ClusterError;
use crate::service::ServiceError;
use crate::store::StoreError;

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanRequest {
    /// Runtimes as `namespace/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtimes: Option<Vec<String>>,
    /// Kubernetes label selector over runtime labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Only runtimes on this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Every runtime (needed when no other filter is given).
    #[serde(default)]
    pub all: bool,
    /// Read the live objects and compare with them too.
    #[serde(default)]
    pub refresh: bool,
    /// Create missing target namespaces when applying.
    #[serde(default)]
    pub create_namespaces: bool,
    /// Take over objects of the same name that exist and that fluidform does not own
    /// (found by a refreshing plan). Without it they are `conflict`s and apply refuses.
    #[serde(default)]
    pub adopt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Delete,
    NoOp,
    /// An object of that name exists and fluidform does not own it; apply refuses the plan
    /// (plan again with `adopt: true` to take it over).
    Conflict,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::NoOp => "no-op",
            Action::Conflict => "conflict",
        }
    }
    pub fn parse(s: &str) -> Option<Action> {
        [Action::Create, Action::Update, Action::Delete, Action::NoOp, Action::Conflict]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    New,
    SpecChange,
    LayerChange,
    BindingChange,
    Drift,
    Removal,
    /// The object exists and fluidform does not own it.
    NotOwned,
    /// It exists, fluidform does not own it, and the plan takes it over (`adopt`).
    Adoption,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanObject {
    pub cluster: String,
    pub namespace: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `namespace/name` of the owning runtime; absent for shared credential Secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    pub action: Action,
    pub reasons: Vec<Reason>,
    /// Managed fields before (applied or live) and after (desired); Secret data never shown.
    pub diff: Vec<FieldDiff>,
    /// `imagePullSecrets` when only the pull-secret list of the pod template of a workload
    /// Fluid created is changed (the rest of that object is Fluid's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Set when the diff could not be shown as planned (the runtime changed since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Objects per action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionCounts {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub no_op: usize,
    #[serde(default)]
    pub conflict: usize,
}

impl ActionCounts {
    pub fn add(&mut self, action: Action, n: usize) {
        match action {
            Action::Create => self.create += n,
            Action::Update => self.update += n,
            Action::Delete => self.delete += n,
            Action::NoOp => self.no_op += n,
            Action::Conflict => self.conflict += n,
        }
    }
    pub fn changes(&self) -> usize {
        self.create + self.update + self.delete
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub no_op: usize,
    /// Objects that exist unowned (see `Action::Conflict`); a plan with any is not applied.
    #[serde(default)]
    pub conflict: usize,
    /// The same counts per cluster.
    #[serde(default)]
    pub by_cluster: BTreeMap<String, ActionCounts>,
    /// The same counts per kind.
    #[serde(default)]
    pub by_kind: BTreeMap<String, ActionCounts>,
    /// Read requests sent to each cluster to refresh (one LIST per namespace and kind).
    #[serde(default)]
    pub live_reads: BTreeMap<String, u64>,
}

impl PlanSummary {
    pub fn count(&mut self, cluster: &str, kind: &str, action: Action, n: usize) {
        if n == 0 {
            return;
        }
        match action {
            Action::Create => self.create += n,
            Action::Update => self.update += n,
            Action::Delete => self.delete += n,
            Action::NoOp => self.no_op += n,
            Action::Conflict => self.conflict += n,
        }
        self.by_cluster.entry(cluster.to_string()).or_default().add(action, n);
        self.by_kind.entry(kind.to_string()).or_default().add(action, n);
    }
    pub fn changes(&self) -> usize {
        self.create + self.update + self.delete
    }
}

/// What a plan was computed from, in counts (the per-runtime inputs are stored with it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanInputs {
    /// Runtimes in the plan's scope.
    pub runtimes: usize,
    /// Runtimes applied once and deleted since (their objects are deleted).
    pub removed: usize,
    /// Cluster generations.
    pub clusters: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanWarning {
    pub cluster: String,
    pub namespace: String,
    pub message: String,
}

/// A saved plan: its summary and the first page of the objects it changes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub created_by: String,
    pub request: PlanRequest,
    pub inputs: PlanInputs,
    pub summary: PlanSummary,
    /// The first warnings; `warningCount` says how many there are.
    pub warnings: Vec<PlanWarning>,
    pub warning_count: usize,
    /// The first changed objects (GET /v1/plans/{id}/objects pages through all of them).
    pub objects: Vec<PlanObject>,
    /// Cursor of the next page of changed objects, when there are more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The run that applied this plan, once applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("invalid plan request")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("cluster {cluster:?}: {source}")]
    Cluster { cluster: String, source: ClusterError },
    #[error("the plan's inputs changed since it was made: {0}")]
    Stale(String),
    #[error("the plan was already applied by run {0}")]
    AlreadyApplied(String),
    #[error("runtime lock {lock} is held by run {run:?} ({holder}) until {until}")]
    Locked { lock: String, holder: String, run: Option<String>, until: DateTime<Utc> },
    #[error("the plan expired at {0}")]
    Expired(DateTime<Utc>),
    #[error(
        "cluster {0:?} has mode auto and was never probed, so how it runs runtimes is not known; probe it (POST /v1/clusters/{0}/probe) or make a refreshing plan"
    )]
    ModeUnknown(String),
    #[error("the daemon is shutting down and starts no new run")]
    ShuttingDown,
    #[error(
        "the plan has {count} conflict(s): objects of these names exist and fluidform does not own them: {examples}; remove them, or plan again with adopt: true to take them over"
    )]
    Conflicts { count: usize, examples: String },
}

impl Coded for PlanError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Store(e) => e.code(),
            Self::Service(e) => e.code(),
            Self::Cluster { source, .. } => source.code(),
            Self::Stale(_) => ErrorCode::PlanStale,
            Self::AlreadyApplied(_) => ErrorCode::PlanAlreadyApplied,
            Self::Locked { .. } => ErrorCode::RuntimeLocked,
            Self::Expired(_) => ErrorCode::PlanExpired,
            Self::ModeUnknown(_) => ErrorCode::ClusterModeUnknown,
            Self::ShuttingDown => ErrorCode::ShuttingDown,
            Self::Conflicts { .. } => ErrorCode::PlanConflicts,
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(errors) => errors.clone(),
            Self::Service(e) => e.field_errors(),
            _ => Vec::new(),
        }
    }
}

impl PlanError {
    pub fn cluster(cluster: &str, e: crate::engine::ConnectError) -> Self {
        match e {
            crate::engine::ConnectError::Cluster(source) => PlanError::Cluster { cluster: cluster.to_string(), source },
            crate::engine::ConnectError::Service(s) => s.into(),
        }
    }
}
