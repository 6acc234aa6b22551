//! Rotations, their batches, runtimes and events as the API shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::rollout::{WaitingFor, WorkloadRef};
use crate::domain::states::{BatchState, RotationRuntimeState, RotationState};
use crate::store::rotations as store;

/// A workload a batch left alone because it was unhealthy before the batch.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedWorkload {
    #[serde(flatten)]
    pub workload: WorkloadRef,
    pub reason: String,
}

impl From<store::SkippedWorkload> for SkippedWorkload {
    fn from(r: store::SkippedWorkload) -> Self {
        Self { workload: r.workload, reason: r.reason }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecord {
    pub idx: i64,
    pub state: BatchState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_started_at: Option<DateTime<Utc>>,
    /// When the batch fails unless it is healthy by then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// While restarting: the workloads not done yet, and why.
    pub waiting_for: Vec<WaitingFor>,
    /// Workloads left alone because they were unhealthy before the batch.
    pub skipped: Vec<SkippedWorkload>,
}

impl From<store::BatchRecord> for BatchRecord {
    fn from(r: store::BatchRecord) -> Self {
        Self {
            idx: r.idx,
            state: r.state,
            run_id: r.run_id,
            started_at: r.started_at,
            restart_started_at: r.restart_started_at,
            deadline_at: r.deadline_at,
            finished_at: r.finished_at,
            error: r.error,
            waiting_for: r.waiting_for,
            skipped: r.skipped.into_iter().map(SkippedWorkload::from).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationRuntime {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub batch: i64,
    /// The version the runtime was bound to before the rotation moved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_version: Option<u32>,
    pub state: RotationRuntimeState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<store::RotationRuntime> for RotationRuntime {
    fn from(r: store::RotationRuntime) -> Self {
        Self {
            namespace: r.namespace,
            name: r.name,
            cluster: r.cluster,
            batch: r.batch,
            from_version: r.from_version,
            state: r.state,
            error: r.error,
        }
    }
}

/// A rotation as a list shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationSummary {
    pub id: String,
    pub credential: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_version: Option<u32>,
    pub to_version: u32,
    pub state: RotationState,
    pub current_batch: i64,
    /// Batches in all, and those healthy.
    pub batches: i64,
    pub healthy_batches: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<store::RotationSummary> for RotationSummary {
    fn from(r: store::RotationSummary) -> Self {
        Self {
            id: r.id,
            credential: r.credential,
            from_version: r.from_version,
            to_version: r.to_version,
            state: r.state,
            current_batch: r.current_batch,
            batches: r.batches,
            healthy_batches: r.healthy_batches,
            error: r.error,
            actor: r.actor,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<i64>,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<store::RotationEvent> for RotationEvent {
    fn from(r: store::RotationEvent) -> Self {
        Self { seq: r.seq, at: r.at, kind: r.kind, batch: r.batch, data: r.data }
    }
}
