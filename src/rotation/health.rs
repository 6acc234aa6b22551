//! Rollout health computed the way `kubectl rollout status` does, and which pods of an
//! `OnDelete` workload still run an old template. Pure functions over live JSON.

use serde_json::Value;

fn int(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

/// Whether a workload has fully rolled out, and if not, why.
pub fn workload_health(obj: &Value) -> Result<(), String> {
    let generation = int(obj, "/metadata/generation");
    let observed = int(obj, "/status/observedGeneration");
    if observed < generation {
        return Err(format!("waiting for the controller to observe generation {generation} (at {observed})"));
    }
    match obj.get("kind").and_then(Value::as_str) {
        Some("StatefulSet") => {
            let want = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let updated = int(obj, "/status/updatedReplicas");
            let ready = int(obj, "/status/readyReplicas");
            let available = int(obj, "/status/availableReplicas");
            if updated < want {
                return Err(format!("{updated} of {want} pods updated"));
            }
            if ready < want {
                return Err(format!("{ready} of {want} updated pods ready"));
            }
            if available < want {
                return Err(format!("{available} of {want} pods available"));
            }
            Ok(())
        }
        Some("DaemonSet") => {
            let want = int(obj, "/status/desiredNumberScheduled");
            let updated = int(obj, "/status/updatedNumberScheduled");
            let available = int(obj, "/status/numberAvailable");
            if updated < want {
                return Err(format!("{updated} of {want} scheduled pods updated"));
            }
            if available < want {
                return Err(format!("{available} of {want} updated pods available"));
            }
            Ok(())
        }
        other => Err(format!("no rollout status for kind {other:?}")),
    }
}

/// The label that tells which template a pod was made from, and the workload's current one.
fn template_marker(workload: &Value) -> Option<(&'static str, String)> {
    match workload.get("kind").and_then(Value::as_str)? {
        "StatefulSet" => {
            Some(("controller-revision-hash", workload.pointer("/status/updateRevision")?.as_str()?.to_string()))
        }
        "DaemonSet" => {
            Some(("pod-template-generation", workload.pointer("/metadata/generation")?.as_i64()?.to_string()))
        }
        _ => None,
    }
}

pub fn is_ready(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
        && pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Pods of `workload` made from an older template (not yet being deleted).
pub fn outdated_pods<'a>(workload: &Value, pods: &'a [Value]) -> Vec<&'a Value> {
    let Some((label, current)) = template_marker(workload) else { return vec![] };
    pods.iter()
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .filter(|p| p.pointer(&format!("/metadata/labels/{label}")).and_then(Value::as_str) != Some(current.as_str()))
        .collect()
}

/// Whether a pod spec or pod template pulls with the Secret `name`.
pub fn pulls_with(pod_spec: &Value, name: &str) -> bool {
    pod_spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|s| s.get("name").and_then(Value::as_str) == Some(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statefulset_health_follows_rollout_status() {
        let mut s = json!({"kind": "StatefulSet", "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
        assert!(workload_health(&s).unwrap_err().contains("observe"));
        s["status"]["observedGeneration"] = json!(2);
        s["status"]["updatedReplicas"] = json!(1);
        assert!(workload_health(&s).unwrap_err().contains("1 of 2 pods updated"));
        s["status"]["updatedReplicas"] = json!(2);
        assert!(workload_health(&s).is_ok());
        s["status"]["readyReplicas"] = json!(1);
        assert!(workload_health(&s).is_err());
    }

    #[test]
    fn daemonset_health_counts_scheduled_pods() {
        let d = json!({"kind": "DaemonSet", "metadata": {"generation": 3}, "status": {"observedGeneration": 3,
            "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1}});
        assert!(workload_health(&d).unwrap_err().contains("1 of 2"));
    }

    #[test]
    fn outdated_pods_by_template_marker() {
        let sts = json!({"kind": "StatefulSet", "status": {"updateRevision": "r-2"}});
        let pods = vec![
            json!({"metadata": {"name": "a", "labels": {"controller-revision-hash": "r-1"}}}),
            json!({"metadata": {"name": "b", "labels": {"controller-revision-hash": "r-2"}}}),
            json!({"metadata": {"name": "c", "labels": {"controller-revision-hash": "r-1"}, "deletionTimestamp": "x"}}),
        ];
        let out: Vec<_> = outdated_pods(&sts, &pods).iter().map(|p| p["metadata"]["name"].clone()).collect();
        assert_eq!(out, [json!("a")]);
        let ds = json!({"kind": "DaemonSet", "metadata": {"generation": 4}});
        let dpods = vec![json!({"metadata": {"name": "d", "labels": {"pod-template-generation": "3"}}})];
        assert_eq!(outdated_pods(&ds, &dpods).len(), 1);
    }
}
