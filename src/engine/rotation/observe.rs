//! What the driver reads of clusters: the workloads and pods of a batch's runtimes, and
//! what they mean for the batch. Per cluster and step it is one read (a LIST each of
//! StatefulSets, DaemonSets and pods, selected by the runtimes' `release` label): across
//! namespaces when the batch's runtimes there span several, then filtered to the targeted
//! runtimes of each namespace; one namespace at a time for a cluster whose credentials may
//! not list cluster-wide (remembered after the first 403 until the cluster's record
//! changes). Clusters are read concurrently.

use std::collections::{BTreeMap, BTreeSet};

use super::decide::{PodRef, RolloutSeen};
use crate::domain::rollout::{RolloutState, Target, WorkloadRef, all_ready, health, outdated, waiting_for};
use crate::engine::Context;
use crate::engine::port::ClusterError;

pub type States = BTreeMap<(String, String), RolloutState>;

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// LISTs, whatever a watch holds: for a rotation's first look in this process (another
    /// replica may have written what this one has not seen) and after every step that
    /// moved it.
    Fresh,
    /// From the cluster's watch where it can answer (`Cluster::watched`), else LISTs.
    Watched,
}

/// The rollout state of every namespace the targets live in, and the clusters that could
/// not be read (with why). Clusters are read concurrently. A cluster whose targets span
/// several namespaces is read with one LIST per kind across namespaces (selected by the
/// targets' release names, then filtered to the targeted runtimes of each namespace); if
/// the credentials may not list cluster-wide (403), that cluster is read per namespace
/// from then on (until its record changes). With `Read::Watched`, a cluster whose watch can
/// answer is not read at all.
pub async fn read_rollouts(ctx: &Context, targets: &[Target], read: Read) -> (States, BTreeMap<String, String>) {
    let mut by_cluster: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
    for t in targets {
        by_cluster.entry(&t.cluster).or_default().entry(&t.namespace).or_default().insert(&t.runtime);
    }
    let reads = by_cluster
        .into_iter()
        .map(|(cluster, namespaces)| async move { (cluster, read_cluster(ctx, cluster, &namespaces, read).await) });
    let mut states = States::new();
    let mut errors = BTreeMap::new();
    for (cluster, read) in futures::future::join_all(reads).await {
        match read {
            Ok(by_ns) => {
                states.extend(by_ns.into_iter().map(|(ns, s)| ((cluster.to_string(), ns), s)));
            }
            Err(e) => {
                errors.insert(cluster.to_string(), e);
            }
        }
    }
    (states, errors)
}

async fn read_cluster(
    ctx: &Context,
    cluster: &str,
    namespaces: &BTreeMap<&str, BTreeSet<&str>>,
    read: Read,
) -> Result<BTreeMap<String, RolloutState>, String> {
    let rec = ctx.store.get_cluster(cluster).await.map_err(|e| e.to_string())?;
    let client = ctx.cluster_of(&rec).await.map_err(|e| e.to_string())?;
    if read == Read::Watched
        && let Some(mut found) = client.watched(namespaces)
    {
        return Ok(namespaces.keys().map(|ns| (ns.to_string(), found.remove(*ns).unwrap_or_default())).collect());
    }
    let key = (rec.name.clone(), rec.generation);
    let per_namespace = namespaces.len() == 1 || ctx.namespaced_reads.lock().unwrap().contains(&key);
    if !per_namespace {
        let all: BTreeSet<&str> = namespaces.values().flatten().copied().collect();
        match client.rollouts(&release_selector(&all)).await {
            Ok(mut found) => {
                return Ok(namespaces
                    .iter()
                    .map(|(ns, names)| {
                        let mut state = found.remove(*ns).unwrap_or_default();
                        keep_releases(&mut state, names);
                        (ns.to_string(), state)
                    })
                    .collect());
            }
            Err(ClusterError::Auth { status: 403, .. } | ClusterError::Api { status: 403, .. }) => {
                tracing::info!(cluster, "listing across namespaces is forbidden; reading one namespace at a time");
                let mut reads = ctx.namespaced_reads.lock().unwrap();
                // Earlier generations of the cluster's record are done with.
                reads.retain(|(name, _)| *name != rec.name);
                reads.insert(key);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let mut out = BTreeMap::new();
    for (ns, names) in namespaces {
        let state = client.rollout(ns, &release_selector(names)).await.map_err(|e| e.to_string())?;
        out.insert(ns.to_string(), state);
    }
    Ok(out)
}

fn release_selector(names: &BTreeSet<&str>) -> String {
    format!("release in ({})", names.iter().copied().collect::<Vec<_>>().join(","))
}

/// Drops what a LIST across namespaces matched of runtimes in this namespace that are not
/// targets (a runtime of the same name as a target elsewhere).
fn keep_releases(state: &mut RolloutState, names: &BTreeSet<&str>) {
    let targeted =
        |labels: &BTreeMap<String, String>| labels.get("release").is_some_and(|r| names.contains(r.as_str()));
    state.workloads.retain(|w| targeted(&w.labels));
    state.pods.retain(|p| targeted(&p.labels));
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
