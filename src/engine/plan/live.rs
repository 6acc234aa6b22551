//! Live objects of one cluster namespace, read for a refreshing plan: one LIST per managed
//! kind (by fluidform's label), the names of every Secret, and the pods of fluidform's
//! workloads (which still pull with what).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::domain::diff::normalize;
use crate::domain::kinds::Kind;
use crate::domain::render::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::engine::port::{Cluster, Result};

/// The kinds a standalone rendering creates besides credential Secrets.
pub const STANDALONE_KINDS: [Kind; 4] = [Kind::ConfigMap, Kind::Service, Kind::StatefulSet, Kind::DaemonSet];

#[derive(Debug, Default)]
pub struct LiveNamespace {
    /// Normalized (no status, no server metadata) managed objects by kind and name.
    pub objects: BTreeMap<(Kind, String), Value>,
    pub secret_names: BTreeSet<String>,
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
    /// pods that still pull with the Secret `name`.
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
            let running =
                pod.pointer("/status/phase").and_then(Value::as_str).is_none_or(|p| p != "Succeeded" && p != "Failed");
            if running && pod.get("spec").is_some_and(|s| pulls_with(s, name)) {
                out.push(format!("Pod {}", pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()));
            }
        }
        out
    }
}

/// Reads a namespace's managed objects (one LIST per kind), its Secret names and pods.
pub async fn read_live(cluster: &dyn Cluster, namespace: &str, kinds: &[Kind]) -> Result<LiveNamespace> {
    let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
    let mut live = LiveNamespace::default();
    for kind in kinds {
        for obj in cluster.list(*kind, namespace, &selector).await? {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
            live.objects.insert((*kind, name), normalize(&obj));
        }
    }
    live.secret_names = cluster.list_names(Kind::Secret, namespace).await?;
    live.pods = cluster.list(Kind::Pod, namespace, &selector).await?;
    Ok(live)
}
