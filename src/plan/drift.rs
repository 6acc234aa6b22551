//! Drift: compare what fluidform applied with the live objects, mark runtimes whose
//! managed fields differ, and, for runtimes whose sync policy is `auto`, plan and apply
//! their desired state again (recorded as a run like any other).
//!
//! The sync policy is the runtime annotation `fluidform.io/sync-policy`: `manual` (the
//! default: report only) or `auto`. One daemon at a time runs the loop: it holds the lease
//! `drift-loop` in the database while it works.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::apply::Engine;
use super::diff::{diff, normalize, project};
use super::{PlanError, PlanRequest, create_plan, read_live};
use crate::service::clusters::connect;
use crate::store::plans::SyncRecord;
use crate::store::runtimes::RuntimeContext;

pub const SYNC_POLICY_ANNOTATION: &str = "fluidform.io/sync-policy";
const DRIFT_ACTOR: &str = "fluidform-drift";

/// One managed field that differs live from what was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftedField {
    pub kind: String,
    pub name: String,
    /// JSON path of the field; empty when the whole object is missing live.
    pub path: String,
    #[schema(value_type = Object)]
    pub applied: Value,
    #[schema(value_type = Object)]
    pub live: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Applied, unchanged since, and the live objects match.
    InSync,
    /// The live objects differ from what was applied.
    Drifted,
    /// Never applied, or changed since it was last applied.
    PendingChanges,
    /// The last run for it failed.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncPolicy {
    Manual,
    Auto,
}

pub fn sync_policy(ctx: &RuntimeContext) -> SyncPolicy {
    let ann = ctx.runtime.metadata.annotations.as_ref().and_then(|a| a.get(SYNC_POLICY_ANNOTATION));
    if ann.map(String::as_str) == Some("auto") { SyncPolicy::Auto } else { SyncPolicy::Manual }
}

/// The sync state of a runtime from its desired inputs and its sync record.
pub fn sync_state(ctx: &RuntimeContext, sync: Option<&SyncRecord>) -> SyncState {
    let Some(s) = sync else { return SyncState::PendingChanges };
    if s.last_run_status.as_deref() == Some("failed") {
        return SyncState::Failed;
    }
    if s.applied_generation != Some(ctx.record.generation)
        || s.applied_layer_revision != Some(ctx.layer_revision)
        || s.applied_bindings.as_ref() != Some(&ctx.bindings)
    {
        return SyncState::PendingChanges;
    }
    if !s.drift.is_empty() {
        return SyncState::Drifted;
    }
    SyncState::InSync
}

impl Engine {
    /// One pass over every applied runtime: refresh, record drift, heal `auto` runtimes.
    /// Returns the runs it started.
    pub async fn drift_pass(&self) -> Result<Vec<String>, PlanError> {
        let syncs = self.store.list_sync().await?;
        let mut by_cluster: BTreeMap<String, Vec<SyncRecord>> = BTreeMap::new();
        for s in syncs.into_iter().filter(|s| s.applied_generation.is_some()) {
            by_cluster.entry(s.cluster.clone()).or_default().push(s);
        }
        let mut runs = Vec::new();
        for (cluster, runtimes) in by_cluster {
            let client = match connect(&self.store, &self.key, &cluster).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(cluster = %cluster, error = %e, "drift check skipped: cluster unreachable");
                    continue;
                }
            };
            let namespaces: BTreeSet<String> = runtimes.iter().map(|s| s.namespace.clone()).collect();
            let mut live = BTreeMap::new();
            for ns in namespaces {
                match read_live(&client, &ns).await {
                    Ok(l) => {
                        live.insert(ns, l);
                    }
                    Err(e) => {
                        tracing::warn!(cluster = %cluster, namespace = %ns, error = %e, "drift check: live read failed")
                    }
                }
            }
            for s in runtimes {
                let Some(l) = live.get(&s.namespace) else { continue };
                let mut drift = Vec::new();
                for a in self.store.applied_for_runtime(&s.namespace, &s.name).await? {
                    match l.objects.get(&(a.key.kind.clone(), a.key.name.clone())) {
                        None => drift.push(DriftedField {
                            kind: a.key.kind.clone(),
                            name: a.key.name.clone(),
                            path: String::new(),
                            applied: Value::String("present".into()),
                            live: Value::Null,
                        }),
                        Some(obj) => {
                            for d in diff(&a.fields, &project(&a.fields, &normalize(obj))) {
                                drift.push(DriftedField {
                                    kind: a.key.kind.clone(),
                                    name: a.key.name.clone(),
                                    path: d.path,
                                    applied: d.before,
                                    live: d.after,
                                });
                            }
                        }
                    }
                }
                let values: Vec<Value> = drift.iter().map(|d| serde_json::to_value(d).expect("serializes")).collect();
                self.store.record_drift(&s.namespace, &s.name, &values).await?;
                if drift.is_empty() {
                    continue;
                }
                tracing::info!(runtime = %format!("{}/{}", s.namespace, s.name), fields = drift.len(), "drift detected");
                let Ok(ctx) = self.store.runtime_context(&s.namespace, &s.name).await else { continue };
                if sync_policy(&ctx) != SyncPolicy::Auto {
                    continue;
                }
                let req = PlanRequest {
                    runtimes: Some(vec![format!("{}/{}", s.namespace, s.name)]),
                    refresh: true,
                    ..Default::default()
                };
                let plan = create_plan(&self.store, &self.key, req, DRIFT_ACTOR, self.plan_ttl).await?;
                match self.apply_plan(&plan.id, DRIFT_ACTOR).await {
                    Ok(run) => runs.push(run.id),
                    Err(PlanError::Locked { .. }) => {}
                    Err(e) => {
                        tracing::warn!(runtime = %format!("{}/{}", s.namespace, s.name), error = %e, "self-heal failed")
                    }
                }
            }
        }
        Ok(runs)
    }

    /// Runs `drift_pass` every `interval` while this daemon holds the `drift-loop` lease.
    pub fn spawn_drift_loop(&self, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        self.runtime.spawn(async move {
            let lease = chrono::Duration::from_std(interval * 3).unwrap_or(chrono::Duration::seconds(180));
            loop {
                tokio::time::sleep(interval).await;
                match engine.store.try_lease("drift-loop", &engine.holder, lease).await {
                    Ok(true) => {
                        if let Err(e) = engine.drift_pass().await {
                            tracing::warn!(error = %e, "drift pass failed");
                        }
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "drift lease unavailable"),
                }
            }
        })
    }
}
