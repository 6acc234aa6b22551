//! Live objects of one cluster namespace, read for a refreshing plan: one LIST per managed
//! kind (by fluidform's label), the names of every Secret, the names of objects of those
//! kinds that are not fluidform's (one metadata LIST per kind), and the pods that may still
//! pull with a Secret. In a `fluid` cluster the managed kinds are Fluid's resources, and the
//! workloads Fluid created for the runtimes (found by their `release` label) are read too:
//! their pull-secret lists are fluidform's to keep.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::domain::diff::normalized;
use crate::domain::fluid::Mode;
use crate::domain::kinds::Kind;
use crate::domain::render::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::engine::port::{Cluster, ClusterError, Result};

/// The kinds a standalone rendering creates besides credential Secrets.
pub const STANDALONE_KINDS: [Kind; 4] = [Kind::ConfigMap, Kind::Service, Kind::StatefulSet, Kind::DaemonSet];
/// The kinds fluidform writes in a `fluid` cluster besides credential Secrets.
pub const FLUID_KINDS: [Kind; 4] = [Kind::Dataset, Kind::AlluxioRuntime, Kind::JindoRuntime, Kind::ThinRuntime];

#[derive(Debug, Default)]
pub struct LiveNamespace {
    /// Normalized (no status, no server metadata) managed objects by kind and name.
    pub objects: BTreeMap<(Kind, String), Value>,
    pub secret_names: BTreeSet<String>,
    /// Objects of the kinds fluidform writes here (credential Secrets included) that exist
    /// without its `managed-by` label: not its own to create or take over unasked.
    pub foreign: BTreeSet<(Kind, String)>,
    /// Pods of fluidform's workloads (they carry its labels through the templates).
    pub pods: Vec<Value>,
}

/// Whether a pod spec or pod template spec pulls with the Secret `name`.
pub fn pulls_with(pod_spec: &Value, name: &str) -> bool {
    pod_spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|s| s.get("name").and_then(Value::as_str) == Some(name)))
}

/// The pull-secret names of a workload's pod template.
pub fn template_pull_secrets(object: &Value) -> Vec<String> {
    object
        .pointer("/spec/template/spec/imagePullSecrets")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(|s| s.get("name").and_then(Value::as_str).map(String::from)).collect())
        .unwrap_or_default()
}

impl LiveNamespace {
    /// Live workloads (except those in `going`, which the same plan deletes) and running
    /// pods that still pull with the Secret `name`. A pod being deleted holds nothing: it
    /// pulls no image again, and counting it would keep an old version's Secret whenever a
    /// rotation's last replaced pods are still terminating when it ends.
    pub fn holders_of(&self, name: &str, going: &BTreeSet<(Kind, String)>) -> Vec<String> {
        let mut out = Vec::new();
        for ((kind, n), obj) in &self.objects {
            if going.contains(&(*kind, n.clone())) {
                continue;
            }
            if obj.pointer("/spec/template/spec").is_some_and(|s| pulls_with(s, name)) {
                out.push(format!("{kind} {n}"));
            }
        }
        for pod in &self.pods {
            let running = pod.pointer("/metadata/deletionTimestamp").is_none()
                && pod
                    .pointer("/status/phase")
                    .and_then(Value::as_str)
                    .is_none_or(|p| p != "Succeeded" && p != "Failed");
            if running && pod.get("spec").is_some_and(|s| pulls_with(s, name)) {
                out.push(format!("Pod {}", pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()));
            }
        }
        out
    }
}

/// A LIST of a kind the cluster may not serve (a Fluid CRD not installed): empty.
async fn list_if_served(cluster: &dyn Cluster, kind: Kind, namespace: &str, selector: &str) -> Result<Vec<Value>> {
    match cluster.list(kind, namespace, selector).await {
        Err(ClusterError::Api { status: 404, .. }) => Ok(vec![]),
        other => other,
    }
}

/// Reads a namespace's managed objects (one LIST per kind), its Secret names, the names of
/// objects of those kinds (and Secrets) it does not own, and pods; in a `fluid` cluster also
/// the workloads Fluid created for `runtimes`. The reads go out together: the API server
/// answers them in parallel while the plan parses.
pub async fn read_live(
    cluster: &dyn Cluster,
    namespace: &str,
    mode: Mode,
    runtimes: &[String],
) -> Result<LiveNamespace> {
    let managed = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
    let released = format!("release in ({})", runtimes.join(","));
    let kinds: &[Kind] = match mode {
        Mode::Standalone => &STANDALONE_KINDS,
        Mode::Fluid => &FLUID_KINDS,
    };
    // (kind, selector, whether the kind may not be served: Fluid's CRDs may be missing)
    let mut lists: Vec<(Kind, &str, bool)> = kinds.iter().map(|k| (*k, managed.as_str(), true)).collect();
    // The pods that may pull with a Secret, and in a fluid cluster Fluid's workloads.
    let pods = match mode {
        Mode::Standalone => Some(managed.as_str()),
        Mode::Fluid if !runtimes.is_empty() => {
            lists.push((Kind::StatefulSet, released.as_str(), false));
            lists.push((Kind::DaemonSet, released.as_str(), false));
            Some(released.as_str())
        }
        Mode::Fluid => None,
    };
    let reads = futures::future::try_join_all(lists.iter().map(|&(kind, selector, maybe_missing)| async move {
        if maybe_missing {
            list_if_served(cluster, kind, namespace, selector).await
        } else {
            cluster.list(kind, namespace, selector).await
        }
    }));
    let pod_read = async {
        match pods {
            Some(sel) => cluster.list(Kind::Pod, namespace, sel).await,
            None => Ok(vec![]),
        }
    };
    // `key!=value` also selects objects without the label.
    let unowned = format!("{MANAGED_BY_LABEL}!={MANAGED_BY}");
    let foreign_kinds: Vec<Kind> = kinds.iter().copied().chain([Kind::Secret]).collect();
    let foreign = futures::future::try_join_all(foreign_kinds.iter().map(|&kind| {
        let unowned = unowned.as_str();
        async move {
            match cluster.list_names(kind, namespace, unowned).await {
                Err(ClusterError::Api { status: 404, .. }) => Ok(BTreeSet::new()), // a Fluid CRD not installed
                other => other.map(|names| names.into_iter().map(|n| (kind, n)).collect::<BTreeSet<_>>()),
            }
        }
    }));
    let (listed, secret_names, pods, foreign) =
        futures::try_join!(reads, cluster.list_names(Kind::Secret, namespace, ""), pod_read, foreign)?;
    let mut live =
        LiveNamespace { secret_names, pods, foreign: foreign.into_iter().flatten().collect(), ..Default::default() };
    for ((kind, _, _), objs) in lists.iter().zip(listed) {
        for obj in objs {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
            live.objects.insert((*kind, name), normalized(obj));
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn running_pods_hold_the_secrets_they_pull_with_and_terminating_ones_do_not() {
        let pod = |name: &str, extra: Value| {
            let mut p = json!({"metadata": {"name": name}, "status": {"phase": "Running"},
                "spec": {"imagePullSecrets": [{"name": "s-v1"}]}});
            p["metadata"].as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            p
        };
        let live = LiveNamespace {
            pods: vec![pod("a", json!({})), pod("b", json!({"deletionTimestamp": "2026-12-02T00:00:00Z"}))],
            ..Default::default()
        };
        assert_eq!(live.holders_of("s-v1", &BTreeSet::new()), ["Pod a"]);
        assert!(live.holders_of("s-v2", &BTreeSet::new()).is_empty());
    }
}
