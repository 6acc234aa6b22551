//! Rollout health as `kubectl rollout status` computes it, which pods of an `OnDelete`
//! workload still run an old template, and what a waiting rollout is waiting for. Pure
//! predicates over small typed views of live workloads and pods (the cluster layer fills
//! them from the API server's objects; the fake cluster fills them from its own state).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::kinds::Kind;
use super::layers::Component;
use super::runtime::RuntimeKind;

/// What a rollout needs to know about a StatefulSet or DaemonSet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    pub kind: Option<Kind>,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub generation: i64,
    pub observed_generation: i64,
    /// StatefulSet `spec.replicas` (default 1); DaemonSet `status.desiredNumberScheduled`.
    pub desired: i64,
    /// Pods on the current template (`updatedReplicas`, `updatedNumberScheduled`).
    pub updated: i64,
    /// Ready pods (`readyReplicas`, `numberReady`).
    pub ready: i64,
    /// Available pods (`availableReplicas`, `numberAvailable`).
    pub available: i64,
    /// StatefulSet `status.updateRevision`.
    pub update_revision: Option<String>,
    /// `spec.template.spec.imagePullSecrets` names, in order.
    pub pull_secrets: Vec<String>,
}

/// What a rollout needs to know about a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    /// Its uid: the one pod of that name a deletion may remove (a replacement has another).
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    /// The controller that owns it (`ownerReferences` with `controller: true`).
    pub owner: Option<(Kind, String)>,
    pub deleting: bool,
    pub ready: bool,
    pub phase: String,
    pub pull_secrets: Vec<String>,
    /// Why it is not scheduled (`PodScheduled=False`: reason and message), if it is not.
    pub unschedulable: Option<String>,
}

impl Pod {
    /// Running or about to run (not finished).
    pub fn is_live(&self) -> bool {
        self.phase != "Succeeded" && self.phase != "Failed"
    }
}

/// The workloads and pods of one namespace (or of one selector in it).
#[derive(Debug, Clone, Default)]
pub struct RolloutState {
    pub workloads: Vec<Workload>,
    pub pods: Vec<Pod>,
}

impl RolloutState {
    pub fn workload(&self, kind: Kind, name: &str) -> Option<&Workload> {
        self.workloads.iter().find(|w| w.kind == Some(kind) && w.name == name)
    }

    /// The pods `workload` owns.
    pub fn pods_of<'a>(&'a self, workload: &'a Workload) -> impl Iterator<Item = &'a Pod> + 'a {
        self.pods
            .iter()
            .filter(move |p| p.owner.as_ref().is_some_and(|(k, n)| Some(*k) == workload.kind && *n == workload.name))
    }
}

/// Whether a workload has fully rolled out, and if not, why.
pub fn health(w: &Workload) -> Result<(), String> {
    if w.observed_generation < w.generation {
        return Err(format!(
            "waiting for the controller to observe generation {} (at {})",
            w.generation, w.observed_generation
        ));
    }
    let noun = if w.kind == Some(Kind::DaemonSet) { "scheduled pods" } else { "pods" };
    if w.updated < w.desired {
        return Err(format!("{} of {} {noun} updated", w.updated, w.desired));
    }
    if w.ready < w.desired {
        return Err(format!("{} of {} updated pods ready", w.ready, w.desired));
    }
    if w.available < w.desired {
        return Err(format!("{} of {} pods available", w.available, w.desired));
    }
    Ok(())
}

/// Whether every pod a workload wants is ready, whatever template it runs: the test for
/// a workload that was already unhealthy before a rotation touched it.
pub fn all_ready(w: &Workload) -> Result<(), String> {
    if w.ready < w.desired {
        return Err(format!("{} of {} pods ready", w.ready, w.desired));
    }
    Ok(())
}

/// The label that tells which template a pod was made from, and the workload's current one.
fn template_marker(w: &Workload) -> Option<(&'static str, String)> {
    match w.kind? {
        Kind::StatefulSet => Some(("controller-revision-hash", w.update_revision.clone()?)),
        Kind::DaemonSet => Some(("pod-template-generation", w.generation.to_string())),
        _ => None,
    }
}

/// Pods of `w` (among `state`'s) made from an older template and not yet being deleted.
pub fn outdated<'a>(state: &'a RolloutState, w: &'a Workload) -> Vec<&'a Pod> {
    let Some((label, current)) = template_marker(w) else { return vec![] };
    state
        .pods_of(w)
        .filter(|p| !p.deleting)
        .filter(|p| p.labels.get(label).map(String::as_str) != Some(current.as_str()))
        .collect()
}

/// A workload a rollout waits for, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingFor {
    pub cluster: String,
    pub namespace: String,
    pub kind: Kind,
    pub name: String,
    pub desired: i64,
    pub updated: i64,
    pub ready: i64,
    /// Pods still on an old template.
    pub outdated: usize,
    /// Pods not scheduled, with the scheduler's reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingPod>,
    /// What is missing, in words.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingPod {
    pub pod: String,
    pub reason: String,
}

/// What `w` is waiting for, from its state and its pods.
pub fn waiting_for(cluster: &str, state: &RolloutState, w: &Workload, reason: String) -> WaitingFor {
    let pending = state
        .pods_of(w)
        .filter(|p| !p.deleting)
        .filter_map(|p| p.unschedulable.as_ref().map(|r| PendingPod { pod: p.name.clone(), reason: r.clone() }))
        .collect();
    WaitingFor {
        cluster: cluster.to_string(),
        namespace: w.namespace.clone(),
        kind: w.kind.unwrap_or(Kind::StatefulSet),
        name: w.name.clone(),
        desired: w.desired,
        updated: w.updated,
        ready: w.ready,
        outdated: outdated(state, w).len(),
        pending,
        reason,
    }
}

/// A runtime of a batch and the components whose pods the batch restarts, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub cluster: String,
    pub namespace: String,
    pub runtime: String,
    #[serde(default = "alluxio")]
    pub kind: RuntimeKind,
    /// Whose workloads they are: Fluid's (names from Fluid's charts) or fluidform's.
    #[serde(default)]
    pub fluid: bool,
    pub components: Vec<Component>,
}

fn alluxio() -> RuntimeKind {
    RuntimeKind::Alluxio
}

impl Target {
    /// The workload a component of this target runs in: kind and name.
    pub fn workload(&self, comp: Component) -> (Kind, String) {
        if self.fluid {
            let (k, n, _) = super::fluid::fluid_workload(self.kind, &self.runtime, comp);
            (k, n)
        } else {
            let k = if comp == Component::Fuse { Kind::DaemonSet } else { Kind::StatefulSet };
            (k, format!("{}-{}", self.runtime, comp.as_str()))
        }
    }
}

/// A workload a batch restarts or leaves alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    pub cluster: String,
    pub namespace: String,
    pub kind: Kind,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(generation: i64, observed: i64, desired: i64, updated: i64, ready: i64) -> Workload {
        Workload {
            kind: Some(Kind::StatefulSet),
            name: "r-master".into(),
            generation,
            observed_generation: observed,
            desired,
            updated,
            ready,
            available: ready,
            update_revision: Some("r-2".into()),
            ..Default::default()
        }
    }

    fn pod(name: &str, owner: &str, label: (&str, &str), ready: bool) -> Pod {
        Pod {
            name: name.into(),
            labels: BTreeMap::from([(label.0.to_string(), label.1.to_string())]),
            owner: Some((Kind::StatefulSet, owner.into())),
            ready,
            phase: "Running".into(),
            ..Default::default()
        }
    }

    #[test]
    fn health_follows_rollout_status() {
        let rows = [
            (sts(2, 1, 2, 2, 2), Some("observe generation 2")),
            (sts(2, 2, 2, 1, 2), Some("1 of 2 pods updated")),
            (sts(2, 2, 2, 2, 1), Some("1 of 2 updated pods ready")),
            (sts(2, 2, 2, 2, 2), None),
        ];
        for (w, want) in rows {
            match (health(&w), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.contains(w), "{e} should say {w}"),
                (got, want) => panic!("{got:?} for {w:?}, want {want:?}"),
            }
        }
        let mut ds = sts(3, 3, 2, 2, 1);
        ds.kind = Some(Kind::DaemonSet);
        assert_eq!(health(&ds).unwrap_err(), "1 of 2 updated pods ready");
        assert!(all_ready(&sts(3, 2, 3, 1, 3)).is_ok(), "old template but ready: healthy before");
        assert!(all_ready(&sts(3, 3, 3, 3, 2)).is_err());
    }

    #[test]
    fn outdated_pods_by_owner_and_template_marker() {
        let w = sts(2, 2, 3, 1, 3);
        let mut deleting = pod("c", "r-master", ("controller-revision-hash", "r-1"), true);
        deleting.deleting = true;
        let state = RolloutState {
            workloads: vec![w.clone()],
            pods: vec![
                pod("a", "r-master", ("controller-revision-hash", "r-1"), true),
                pod("b", "r-master", ("controller-revision-hash", "r-2"), true),
                deleting,
                pod("other", "r-worker", ("controller-revision-hash", "r-1"), true),
            ],
        };
        let names: Vec<&str> = outdated(&state, &w).iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a"]);
        let mut ds = w.clone();
        ds.kind = Some(Kind::DaemonSet);
        ds.generation = 4;
        let mut dp = pod("d", "r-master", ("pod-template-generation", "3"), true);
        dp.owner = Some((Kind::DaemonSet, "r-master".into()));
        let dstate = RolloutState { workloads: vec![], pods: vec![dp] };
        assert_eq!(outdated(&dstate, &ds).len(), 1);
    }

    #[test]
    fn waiting_for_names_pending_pods_and_their_reason() {
        let w = sts(2, 2, 3, 2, 2);
        let mut stuck = pod("r-master-2", "r-master", ("controller-revision-hash", "r-2"), false);
        stuck.unschedulable = Some("Unschedulable: 0/2 nodes are available: 2 node(s) didn't have free ports".into());
        let state = RolloutState { workloads: vec![w.clone()], pods: vec![stuck] };
        let wf = waiting_for("c1", &state, &w, health(&w).unwrap_err());
        assert_eq!(wf.pending.len(), 1);
        assert!(wf.pending[0].reason.contains("free ports"));
        assert_eq!((wf.desired, wf.updated, wf.ready, wf.outdated), (3, 2, 2, 0));
        assert_eq!(wf.reason, "2 of 3 pods updated");
    }
}
