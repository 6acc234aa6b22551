//! Field-level comparison of Kubernetes objects, limited to the fields fluidform manages.
//!
//! "Managed fields" are the fields of the object fluidform renders. A live object is
//! *projected* onto that shape before comparing: keys fluidform does not set are dropped
//! (server defaults, status, other managers' fields), so they never count as drift. Lists
//! are compared element by element (named elements by `name`). Secret `data` is never
//! shown: versioned credential Secrets are immutable and compared by name only.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::render::REDACTED_ANNOTATION;

/// One differing field: its JSON path and the value before and after (absent = null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldDiff {
    pub path: String,
    #[schema(value_type = Object)]
    pub before: Value,
    #[schema(value_type = Object)]
    pub after: Value,
}

/// Metadata keys the server owns; never compared.
pub const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
];

/// The object as fluidform compares it: no status, no server metadata, no Secret data.
pub fn normalize(object: &Value) -> Value {
    normalized(object.clone())
}

/// `normalize`, in place: a refresh normalizes every live object it reads, and needs no
/// copy of them.
pub fn normalized(mut v: Value) -> Value {
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
        if map.get("kind").and_then(Value::as_str) == Some("Secret") {
            map.remove("data");
            map.remove("stringData");
            if let Some(ann) =
                map.get_mut("metadata").and_then(|m| m.get_mut("annotations")).and_then(Value::as_object_mut)
            {
                ann.remove(REDACTED_ANNOTATION);
                if ann.is_empty() {
                    map.get_mut("metadata").and_then(Value::as_object_mut).map(|m| m.remove("annotations"));
                }
            }
        }
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in SERVER_METADATA {
                meta.remove(*k);
            }
        }
    }
    v
}

/// `live` reduced to the shape of `desired`.
pub fn project(desired: &Value, live: &Value) -> Value {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            let mut out = Map::new();
            for (k, dv) in d {
                if let Some(lv) = l.get(k) {
                    out.insert(k.clone(), project(dv, lv));
                }
            }
            Value::Object(out)
        }
        (Value::Array(d), Value::Array(l)) => {
            let by_name = d.iter().all(|e| e.get("name").is_some()) && l.iter().all(|e| e.get("name").is_some());
            let items = if by_name {
                l.iter()
                    .map(|le| match d.iter().find(|de| de.get("name") == le.get("name")) {
                        Some(de) => project(de, le),
                        None => le.clone(),
                    })
                    .collect()
            } else {
                l.iter().enumerate().map(|(i, le)| d.get(i).map_or_else(|| le.clone(), |de| project(de, le))).collect()
            };
            Value::Array(items)
        }
        (_, l) => l.clone(),
    }
}

/// The union of two objects' shapes: every key either has (values from `a` first). Used to
/// project a live object onto both what is desired and what was last applied, so a field
/// fluidform stopped setting still shows up as a change.
pub fn union_shape(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut out = x.clone();
            for (k, yv) in y {
                let merged = match x.get(k) {
                    Some(xv) => union_shape(xv, yv),
                    None => yv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        _ => a.clone(),
    }
}

/// Every field where `before` and `after` differ, by path. Objects recurse; lists of named
/// elements recurse by name; other lists and scalars compare whole.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn walk(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldDiff>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(&join(path, k), b.get(k).unwrap_or(&Value::Null), a.get(k).unwrap_or(&Value::Null), out);
            }
        }
        (Value::Array(b), Value::Array(a)) if named(b) && named(a) && same_names(b, a) => {
            for (be, ae) in b.iter().zip(a) {
                let name = ae["name"].as_str().map(str::to_owned).unwrap_or_else(|| ae["name"].to_string());
                walk(&format!("{path}[name={name}]"), be, ae, out);
            }
        }
        _ => out.push(FieldDiff { path: path.to_string(), before: before.clone(), after: after.clone() }),
    }
}

fn named(v: &[Value]) -> bool {
    !v.is_empty() && v.iter().all(|e| e.get("name").is_some())
}

fn same_names(b: &[Value], a: &[Value]) -> bool {
    b.len() == a.len() && b.iter().zip(a).all(|(x, y)| x.get("name") == y.get("name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_drops_what_fluidform_does_not_set() {
        let desired =
            json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let live = json!({"spec": {"replicas": 2, "revisionHistoryLimit": 10,
            "template": {"spec": {"containers": [{"name": "a", "image": "x", "terminationMessagePath": "/dev/t"}], "dnsPolicy": "ClusterFirst"}}},
            "status": {"replicas": 2}});
        assert_eq!(project(&desired, &live), desired);
        assert!(diff(&desired, &project(&desired, &live)).is_empty());
    }

    #[test]
    fn diff_names_paths_and_values() {
        let before = json!({"spec": {"replicas": 2, "template": {"spec": {"imagePullSecrets": [{"name": "w1"}]}}}});
        let after = json!({"spec": {"replicas": 3, "template": {"spec": {"imagePullSecrets": [{"name": "w2"}]}}}});
        let d = diff(&before, &after);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].path, "spec.replicas");
        assert_eq!(d[1].path, "spec.template.spec.imagePullSecrets");
        assert_eq!(d[1].after, json!([{"name": "w2"}]));
    }

    #[test]
    fn named_lists_diff_by_element() {
        let before = json!({"c": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]});
        let after = json!({"c": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]});
        assert_eq!(diff(&before, &after)[0].path, "c[name=b].image");
    }

    #[test]
    fn normalize_hides_secret_data_and_server_fields() {
        let live = json!({"kind": "Secret", "data": {".dockerconfigjson": "e30="}, "metadata": {"name": "s", "uid": "u", "resourceVersion": "1"}});
        assert_eq!(normalize(&live), json!({"kind": "Secret", "metadata": {"name": "s"}}));
    }
}
