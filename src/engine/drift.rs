//! Drift: compare what fluidform applied with the live objects, mark runtimes whose
//! managed fields differ, and, for runtimes whose sync policy is `auto`, plan and apply
//! their desired state again (recorded as a run like any other).
//!
//! The sync policy is the runtime annotation `fluidform.io/sync-policy`: `manual` (the
//! default: report only) or `auto`. Each cluster's checks are one replica's at a time: the
//! clusters are divided among the live replicas (`engine::replicas`), and a replica checks
//! a cluster while it holds the lease `drift:<cluster>` (three intervals long, renewed every
//! pass), so when a replica dies its clusters move to the others once its lease lapses.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Context;
use super::plan::live::read_live;
use super::plan::{PlanError, PlanRequest, create_plan};
use super::runner::apply_plan;
use crate::domain::diff::{diff, normalize, project};
use crate::domain::kinds::Kind;
use crate::store::StoreError;
use crate::store::runtimes::{RuntimeContext, RuntimeRecord};
use crate::store::sync::SyncRecord;

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
    let ann = ctx.runtime.annotations();
    if ann.get(SYNC_POLICY_ANNOTATION).map(String::as_str) == Some("auto") {
        SyncPolicy::Auto
    } else {
        SyncPolicy::Manual
    }
}

/// The sync state of a runtime from its desired inputs, the renderer its cluster uses now
/// and its sync record.
pub fn sync_state(rec: &RuntimeRecord, renderer: &str, sync: Option<&SyncRecord>) -> SyncState {
    let Some(s) = sync else { return SyncState::PendingChanges };
    if s.last_run_status.as_deref() == Some("failed") {
        return SyncState::Failed;
    }
    if s.applied_generation != Some(rec.generation)
        || s.applied_layer_revision != Some(rec.layer_revision)
        || s.applied_render.as_deref().is_some_and(|r| r != renderer)
        || s.applied_deps_revision.unwrap_or(0) != rec.deps_revision
        || s.applied_runtime_id.is_some_and(|id| id != rec.id)
    {
        return SyncState::PendingChanges;
    }
    if !s.drift.is_empty() {
        return SyncState::Drifted;
    }
    SyncState::InSync
}

/// One pass over every applied runtime: refresh, record drift, heal `auto` runtimes.
/// Returns the runs it started.
pub async fn drift_pass(ctx: &Arc<Context>) -> Result<Vec<String>, PlanError> {
    drift_pass_for(ctx, None).await
}

/// `drift_pass` over the runtimes of `clusters` only (all when `None`).
pub async fn drift_pass_for(ctx: &Arc<Context>, clusters: Option<&BTreeSet<String>>) -> Result<Vec<String>, PlanError> {
    let syncs = ctx.store.list_sync(None).await?;
    let mut by_cluster: BTreeMap<String, Vec<SyncRecord>> = BTreeMap::new();
    let wanted = |c: &str| clusters.is_none_or(|set| set.contains(c));
    for s in syncs.into_iter().filter(|s| s.applied_generation.is_some() && wanted(&s.cluster)) {
        by_cluster.entry(s.cluster.clone()).or_default().push(s);
    }
    let mut runs = Vec::new();
    for (cluster, runtimes) in by_cluster {
        let client = match ctx.cluster(&cluster).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(cluster = %cluster, error = %e, "drift check skipped: cluster unreachable");
                continue;
            }
        };
        let Some(mode) = ctx.store.get_cluster(&cluster).await?.effective_mode() else { continue };
        let mut namespaces: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in &runtimes {
            namespaces.entry(s.namespace.clone()).or_default().push(s.name.clone());
        }
        let mut live = BTreeMap::new();
        for (ns, names) in namespaces {
            match read_live(client.as_ref(), &ns, mode, &names).await {
                Ok(l) => {
                    live.insert(ns, l);
                }
                Err(e) => {
                    tracing::warn!(cluster = %cluster, namespace = %ns, error = %e, "drift check: live read failed")
                }
            }
        }
        let keys: Vec<(String, String)> = runtimes.iter().map(|s| (s.namespace.clone(), s.name.clone())).collect();
        let mut applied: BTreeMap<(String, String), Vec<crate::store::sync::AppliedObject>> = BTreeMap::new();
        for a in ctx.store.applied_for_runtimes(&keys).await? {
            applied.entry(a.runtime.clone().unwrap_or_default()).or_default().push(a);
        }
        let mut found = Vec::new();
        let mut drifted = Vec::new();
        for s in &runtimes {
            let Some(l) = live.get(&s.namespace) else { continue };
            let mut drift = Vec::new();
            for a in applied.get(&(s.namespace.clone(), s.name.clone())).into_iter().flatten() {
                let kind = Kind::parse(&a.key.kind).unwrap_or(Kind::ConfigMap);
                match l.objects.get(&(kind, a.key.name.clone())) {
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
            if !drift.is_empty() {
                tracing::info!(runtime = %format!("{}/{}", s.namespace, s.name), fields = drift.len(), "drift detected");
                drifted.push((s.namespace.clone(), s.name.clone()));
            }
            let values: Vec<Value> = drift.iter().map(|d| serde_json::to_value(d).expect("serializes")).collect();
            found.push((s.namespace.clone(), s.name.clone(), values));
        }
        ctx.store.record_drift(&found).await?;
        for (ns, name) in drifted {
            let Ok(rt) = ctx.store.runtime_context(&ns, &name).await else { continue };
            if sync_policy(&rt) != SyncPolicy::Auto {
                continue;
            }
            let req = PlanRequest { runtimes: Some(vec![format!("{ns}/{name}")]), refresh: true, ..Default::default() };
            let plan = create_plan(ctx, req, DRIFT_ACTOR).await?;
            match apply_plan(ctx, &plan.id, DRIFT_ACTOR).await {
                Ok(run) => runs.push(run.id),
                Err(PlanError::Locked { .. }) => {}
                Err(e) => tracing::warn!(runtime = %format!("{ns}/{name}"), error = %e, "self-heal failed"),
            }
        }
    }
    Ok(runs)
}

/// The clusters this replica checks in this pass: those assigned to it among the live
/// replicas whose `drift:<cluster>` lease it holds (a departed replica's lease must lapse
/// before its clusters are checked elsewhere).
pub async fn claim_clusters(ctx: &Context, lease: chrono::Duration) -> Result<BTreeSet<String>, StoreError> {
    let live = super::replicas::live(ctx).await?;
    let mut mine = BTreeSet::new();
    for c in ctx.store.list_clusters().await? {
        if super::replicas::assigned(&c.name, &live) != Some(ctx.replica.as_str()) {
            continue;
        }
        if ctx.store.try_lease(&format!("drift:{}", c.name), &ctx.replica, lease).await?.is_some() {
            mine.insert(c.name);
        }
    }
    Ok(mine)
}

/// Runs a drift pass every `interval` over the clusters this replica holds (see
/// `claim_clusters`).
pub fn spawn_drift_loop(ctx: &Arc<Context>, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    ctx.spawner.clone().spawn(async move {
        let lease = chrono::Duration::from_std(interval * 3).unwrap_or(chrono::Duration::seconds(180));
        loop {
            tokio::time::sleep(interval).await;
            let Some(_work) = ctx.drain.enter() else { break };
            match claim_clusters(&ctx, lease).await {
                Ok(mine) if mine.is_empty() => {}
                Ok(mine) => {
                    if let Err(e) = drift_pass_for(&ctx, Some(&mine)).await {
                        tracing::warn!(error = %e, "drift pass failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "drift leases unavailable"),
            }
        }
    })
}
