//! What the driver reads of clusters: the workloads and pods of a batch's runtimes, one
//! `rollout` read (a LIST of StatefulSets, DaemonSets and pods) per cluster namespace,
//! filtered to those runtimes, and what they mean for the batch.

use std::collections::{BTreeMap, BTreeSet};

use super::decide::{PodRef, RolloutSeen};
use crate::domain::rollout::{RolloutState, Target, WorkloadRef, all_ready, health, outdated, waiting_for};
use crate::engine::Context;

pub type States = BTreeMap<(String, String), RolloutState>;

/// The rollout state of every namespace the targets live in, and the clusters that could
/// not be read (with why).
pub async fn read_rollouts(ctx: &Context, targets: &[Target]) -> (States, BTreeMap<String, String>) {
    let mut groups: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for t in targets {
        groups.entry((t.cluster.clone(), t.namespace.clone())).or_default().insert(t.runtime.clone());
    }
    let mut states = States::new();
    let mut errors = BTreeMap::new();
    let mut clients = BTreeMap::new();
    for ((cluster, namespace), names) in groups {
        if errors.contains_key(&cluster) {
            continue;
        }
        if !clients.contains_key(&cluster) {
            match ctx.cluster(&cluster).await {
                Ok(c) => {
                    clients.insert(cluster.clone(), c);
                }
                Err(e) => {
                    errors.insert(cluster.clone(), e.to_string());
                    continue;
                }
            }
        }
        let selector = format!("release in ({})", names.into_iter().collect::<Vec<_>>().join(","));
        match clients[&cluster].rollout(&namespace, &selector).await {
            Ok(s) => {
                states.insert((cluster, namespace), s);
            }
            Err(e) => {
                errors.insert(cluster, e.to_string());
            }
        }
    }
    (states, errors)
}

/// Workloads the targets would restart that are not healthy now, with why.
pub fn unhealthy(targets: &[Target], states: &States) -> Vec<(WorkloadRef, String)> {
    let mut out = Vec::new();
    for t in targets {
        let Some(state) = states.get(&(t.cluster.clone(), t.namespace.clone())) else { continue };
        for c in &t.components {
            let (kind, name) = t.workload(*c);
            if let Some(w) = state.workload(kind, &name)
                && let Err(why) = all_ready(w)
            {
                let r = WorkloadRef { cluster: t.cluster.clone(), namespace: t.namespace.clone(), kind, name };
                out.push((r, why));
            }
        }
    }
    out
}

/// How many pods a pass may have being replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Per workload (`maxUnavailable`).
    pub per_workload: usize,
    /// Per cluster, across every runtime of the batch (`maxRestartingPerCluster`).
    pub per_cluster: Option<usize>,
}

/// Pods of `w` being replaced now: those it wants that are not ready and live (deleted,
/// terminating, or new and not ready yet).
fn restarting(state: &crate::domain::rollout::RolloutState, w: &crate::domain::rollout::Workload) -> usize {
    let ready_live = state.pods_of(w).filter(|p| p.ready && !p.deleting).count() as i64;
    (w.desired - ready_live).max(0) as usize
}

/// One pass of the `OnDelete` rollout of a batch: per runtime, its workloads in component
/// order; a workload with pods on an old template gets up to `per_workload` (minus its
/// unready pods) of them deleted, within what its cluster's `per_cluster` budget has left
/// after the pods already being replaced there, and the runtime's later workloads wait for
/// it. Done when every workload (but the skipped ones) is healthy on its current template.
pub fn progress(
    targets: &[Target],
    states: &States,
    errors: &BTreeMap<String, String>,
    skipped: &BTreeSet<WorkloadRef>,
    limits: Limits,
) -> RolloutSeen {
    if let Some((cluster, e)) = errors.iter().next() {
        return RolloutSeen::Unreadable(format!("cluster {cluster:?}: {e}"));
    }
    let max_unavailable = limits.per_workload;
    // What each cluster may still start replacing in this pass.
    let mut budget: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(cap) = limits.per_cluster {
        let mut seen = BTreeSet::new();
        for t in targets {
            let Some(state) = states.get(&(t.cluster.clone(), t.namespace.clone())) else { continue };
            for c in &t.components {
                let (kind, name) = t.workload(*c);
                let r = WorkloadRef { cluster: t.cluster.clone(), namespace: t.namespace.clone(), kind, name };
                if skipped.contains(&r) || !seen.insert(r.clone()) {
                    continue;
                }
                if let Some(w) = state.workload(kind, &r.name) {
                    *budget.entry(t.cluster.clone()).or_insert(0) += restarting(state, w);
                }
            }
        }
        for used in budget.values_mut() {
            *used = cap.saturating_sub(*used);
        }
        for t in targets {
            budget.entry(t.cluster.clone()).or_insert(cap);
        }
    }
    let mut deletions = Vec::new();
    let mut waiting = Vec::new();
    for t in targets {
        let Some(state) = states.get(&(t.cluster.clone(), t.namespace.clone())) else {
            return RolloutSeen::Unreadable(format!("namespace {}/{} was not read", t.cluster, t.namespace));
        };
        for c in &t.components {
            let (kind, name) = t.workload(*c);
            let r =
                WorkloadRef { cluster: t.cluster.clone(), namespace: t.namespace.clone(), kind, name: name.clone() };
            if skipped.contains(&r) {
                continue;
            }
            let Some(w) = state.workload(kind, &name) else { continue };
            let old = outdated(state, w);
            if old.is_empty() {
                match health(w) {
                    Ok(()) => continue,
                    Err(why) => {
                        waiting.push(waiting_for(&t.cluster, state, w, why));
                        break;
                    }
                }
            }
            let unready = state.pods_of(w).filter(|p| !p.ready).count();
            let mut throttled = false;
            if unready < max_unavailable {
                let mut victims = old.clone();
                victims.sort_by_key(|p| (p.ready, p.name.clone()));
                let mut room = max_unavailable - unready;
                if let Some(left) = budget.get_mut(&t.cluster) {
                    throttled = *left < room;
                    room = room.min(*left);
                    *left -= room.min(victims.len());
                }
                for p in victims.into_iter().take(room) {
                    deletions.push(PodRef {
                        cluster: t.cluster.clone(),
                        namespace: t.namespace.clone(),
                        name: p.name.clone(),
                        uid: p.uid.clone(),
                    });
                }
            }
            let mut reason = format!("{} pod(s) on an old template", old.len());
            if throttled {
                let cap = limits.per_cluster.unwrap_or_default();
                reason.push_str(&format!(
                    "; waiting for a restart slot (maxRestartingPerCluster {cap} on cluster {:?})",
                    t.cluster
                ));
            }
            waiting.push(waiting_for(&t.cluster, state, w, reason));
            break; // components go in order: the next waits for this one
        }
    }
    if waiting.is_empty() { RolloutSeen::Done } else { RolloutSeen::Waiting { deletions, waiting } }
}
