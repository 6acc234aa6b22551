//! One object's comparison (desired vs last applied vs live), the reasons a runtime's
//! objects change, and the fingerprints that make plans staleness-checked. Pure.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Action, Reason};
use crate::domain::diff::{FieldDiff, SERVER_METADATA, diff, normalize, project, union_shape};
use crate::store::runtimes::RuntimeContext;
use crate::store::sync::SyncRecord;

/// One object's comparison. `live` is `Some` only on refresh: `Some(None)` = absent live.
pub fn compare(
    desired: Option<&Value>,
    applied: Option<&Value>,
    live: Option<Option<&Value>>,
    runtime_reasons: &[Reason],
) -> (Action, Vec<Reason>, Vec<FieldDiff>) {
    let is_secret = desired.or(applied).and_then(|v| v.get("kind")).and_then(Value::as_str) == Some("Secret");
    match desired {
        None => match applied {
            Some(a) => (Action::Delete, vec![Reason::Removal], diff(a, &Value::Null)),
            None => (Action::NoOp, vec![], vec![]),
        },
        Some(d) => {
            let d = normalize(d);
            let base = match live {
                None => applied.cloned(),
                Some(None) => None,
                // Versioned credential Secrets are immutable: existing is equal.
                Some(Some(_)) if is_secret => Some(d.clone()),
                Some(Some(l)) => Some(project(&union_shape(&d, applied.unwrap_or(&d)), &normalize(l))),
            };
            let Some(base) = base else {
                let reasons = if applied.is_some() { vec![Reason::Drift] } else { vec![Reason::New] };
                return (Action::Create, reasons, diff(&Value::Null, &d));
            };
            let changes = diff(&base, &d);
            if changes.is_empty() {
                return (Action::NoOp, vec![], vec![]);
            }
            let drifted = live.is_some() && applied.is_some_and(|a| *a == d);
            let reasons = if drifted || runtime_reasons.is_empty() {
                vec![if live.is_some() { Reason::Drift } else { Reason::SpecChange }]
            } else {
                runtime_reasons.to_vec()
            };
            (Action::Update, reasons, changes)
        }
    }
}

/// Whether an object recorded as applied (normalized when it was recorded) still holds
/// live: exactly when `compare(Some(applied), Some(applied), Some(Some(live)), _)` is a
/// no-op, but without building the projection. A refresh checks every unchanged object
/// of a namespace this way, so the common answer (nothing moved) costs no allocation.
/// False when the quick check does not apply (Secrets, objects not in normal form) or the
/// object differs: the caller then compares in full.
pub fn applied_holds_live(applied: &Value, live: &Value) -> bool {
    is_normal(applied) && projects_to(applied, live)
}

/// Whether `normalize` would leave the object as it is (a Secret never counts: its data
/// goes).
fn is_normal(object: &Value) -> bool {
    let Some(map) = object.as_object() else { return false };
    !map.contains_key("status")
        && map.get("kind").and_then(Value::as_str) != Some("Secret")
        && map
            .get("metadata")
            .and_then(Value::as_object)
            .is_none_or(|m| SERVER_METADATA.iter().all(|k| !m.contains_key(*k)))
}

/// `project(desired, live) == desired`, without building the projection (the rules of
/// `domain::diff::project`: objects keep the desired keys, lists of named elements match by
/// name, other lists by position, anything else is the live value).
fn projects_to(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| l.get(k).is_some_and(|lv| projects_to(dv, lv))),
        (Value::Array(d), Value::Array(l)) => {
            if d.len() != l.len() {
                return false;
            }
            let by_name = d.iter().all(|e| e.get("name").is_some()) && l.iter().all(|e| e.get("name").is_some());
            if by_name {
                l.iter().zip(d).all(|(le, di)| {
                    d.iter()
                        .find(|de| de.get("name") == le.get("name"))
                        .is_some_and(|de| projects_to(de, le) && de == di)
                })
            } else {
                d.iter().zip(l).all(|(de, le)| projects_to(de, le))
            }
        }
        (Value::Object(_) | Value::Array(_), _) => false,
        (d, l) => d == l,
    }
}

/// Why a runtime's objects may change since it was last applied.
pub fn runtime_reasons(ctx: &RuntimeContext, sync: Option<&SyncRecord>) -> Vec<Reason> {
    let Some(s) = sync.filter(|s| s.applied_generation.is_some()) else {
        return vec![Reason::New];
    };
    let mut out = Vec::new();
    if s.applied_generation != Some(ctx.record.generation) && s.applied_spec_hash.as_deref() != Some(&spec_hash(ctx)) {
        out.push(Reason::SpecChange);
    }
    if s.applied_layer_revision != Some(ctx.layer_revision) {
        out.push(Reason::LayerChange);
    }
    if s.applied_bindings.as_ref() != Some(&ctx.bindings) {
        out.push(Reason::BindingChange);
    }
    out
}

/// A fingerprint of everything in a runtime's manifest except its pull-secret layers, so a
/// change of layers alone is reported as `layer_change`, not `spec_change`.
pub fn spec_hash(ctx: &RuntimeContext) -> String {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("imagePullSecrets");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut m = ctx.record.manifest.clone();
    strip(&mut m);
    hex::encode(Sha256::digest(m.to_string().as_bytes()))
}

/// The fingerprint of an object as a run would send it, Secret data aside: a plan records
/// it and a run refuses to send anything else. Keys are hashed in sorted order, so two
/// equal objects built in different orders share it.
pub fn object_digest(object: &Value) -> String {
    let mut h = Sha256::new();
    // Rendered objects are in normal form already: hash them without a copy.
    if is_normal(object) {
        canonical(object, &mut h);
    } else {
        canonical(&normalize(object), &mut h);
    }
    hex::encode(h.finalize())
}

/// Feeds what is written into the hash.
struct Hashing<'a>(&'a mut Sha256);

impl std::io::Write for Hashing<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compact JSON with keys in sorted order, straight into the hash.
fn canonical(v: &Value, h: &mut Sha256) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            h.update(b"{");
            for (k, v) in entries {
                serde_json::to_writer(Hashing(h), k).expect("strings serialize");
                h.update(b":");
                canonical(v, h);
                h.update(b",");
            }
            h.update(b"}");
        }
        Value::Array(a) => {
            h.update(b"[");
            for x in a {
                canonical(x, h);
                h.update(b",");
            }
            h.update(b"]");
        }
        other => serde_json::to_writer(Hashing(h), other).expect("values serialize"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sts(replicas: i64, secret: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "r-worker"},
            "spec": {"replicas": replicas, "template": {"spec": {"imagePullSecrets": [{"name": secret}]}}}})
    }

    #[test]
    fn new_object_is_created() {
        let (a, r, _) = compare(Some(&sts(1, "s")), None, None, &[Reason::New]);
        assert_eq!((a, r), (Action::Create, vec![Reason::New]));
    }

    #[test]
    fn unchanged_is_no_op_and_changed_is_update_with_runtime_reason() {
        let (a, _, d) = compare(Some(&sts(1, "s")), Some(&sts(1, "s")), None, &[]);
        assert_eq!(a, Action::NoOp);
        assert!(d.is_empty());
        let (a, r, d) = compare(Some(&sts(1, "s2")), Some(&sts(1, "s")), None, &[Reason::LayerChange]);
        assert_eq!((a, r), (Action::Update, vec![Reason::LayerChange]));
        assert_eq!(d[0].path, "spec.template.spec.imagePullSecrets");
    }

    #[test]
    fn live_difference_on_applied_state_is_drift() {
        let mut live = sts(5, "s");
        live["status"] = json!({"replicas": 5});
        live["spec"]["serviceName"] = json!("set-by-server");
        let (a, r, d) = compare(Some(&sts(1, "s")), Some(&sts(1, "s")), Some(Some(&live)), &[]);
        assert_eq!((a, r), (Action::Update, vec![Reason::Drift]));
        assert_eq!(d.len(), 1, "only the managed field differs: {d:?}");
        let (a, r, _) = compare(Some(&sts(1, "s")), Some(&sts(1, "s")), Some(None), &[]);
        assert_eq!((a, r), (Action::Create, vec![Reason::Drift]));
    }

    #[test]
    fn a_field_no_longer_rendered_is_a_change_even_on_refresh() {
        let mut applied = sts(1, "s");
        applied["spec"]["template"]["spec"]["nodeSelector"] = json!({"a": "b"});
        let (a, _, d) = compare(Some(&sts(1, "s")), Some(&applied), Some(Some(&applied)), &[Reason::SpecChange]);
        assert_eq!(a, Action::Update);
        assert_eq!(d[0].path, "spec.template.spec.nodeSelector");
    }

    #[test]
    fn the_quick_live_check_agrees_with_the_full_comparison() {
        let applied = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "w", "labels": {"a": "1"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 1}]}],
                "imagePullSecrets": [{"name": "s"}], "args": ["x", "y"]}}}});
        let with = |f: &dyn Fn(&mut Value)| {
            let mut l = applied.clone();
            l["metadata"]["uid"] = json!("u");
            l["status"] = json!({"replicas": 1});
            l["spec"]["revisionHistoryLimit"] = json!(10);
            f(&mut l);
            l
        };
        let cases = [
            with(&|_| {}),
            with(&|l| l["spec"]["replicas"] = json!(2)),
            with(&|l| l["spec"]["template"]["spec"]["containers"][0]["image"] = json!("j")),
            with(&|l| l["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = json!("/t")),
            with(&|l| l["spec"]["template"]["spec"]["containers"] = json!([])),
            with(&|l| l["spec"]["template"]["spec"]["args"] = json!(["y", "x"])),
            with(&|l| l["spec"]["template"]["spec"]["args"] = json!(["x", "y", "z"])),
            with(&|l| l["spec"]["template"]["spec"]["imagePullSecrets"] = json!([{"name": "s"}, {"name": "t"}])),
            with(&|l| l["metadata"]["labels"] = json!({"a": "2"})),
            with(&|l| l["metadata"]["labels"] = json!({"a": "1", "b": "2"})),
            with(&|l| {
                l["spec"].as_object_mut().unwrap().remove("template");
            }),
            with(&|l| l["spec"]["replicas"] = json!("1")),
        ];
        for (i, live) in cases.iter().enumerate() {
            let full = compare(Some(&applied), Some(&applied), Some(Some(live)), &[]).0 == Action::NoOp;
            assert_eq!(applied_holds_live(&applied, live), full, "case {i}");
        }
        // Not in normal form, or a Secret: always left to the full comparison.
        let mut with_status = applied.clone();
        with_status["status"] = json!({});
        assert!(!applied_holds_live(&with_status, &with_status));
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
        assert!(!applied_holds_live(&secret, &secret));
    }

    #[test]
    fn applied_but_not_desired_is_deleted() {
        let (a, r, _) = compare(None, Some(&sts(1, "s")), None, &[]);
        assert_eq!((a, r), (Action::Delete, vec![Reason::Removal]));
    }

    /// Digests stored by plans made before an upgrade must still match after it: the
    /// encoding is the one the first implementation built with `to_string`.
    #[test]
    fn digests_keep_their_encoding() {
        fn before(v: &Value, out: &mut String) {
            match v {
                Value::Object(m) => {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort();
                    out.push('{');
                    for k in keys {
                        out.push_str(&serde_json::to_string(k).unwrap());
                        out.push(':');
                        before(&m[k], out);
                        out.push(',');
                    }
                    out.push('}');
                }
                Value::Array(a) => {
                    out.push('[');
                    for x in a {
                        before(x, out);
                        out.push(',');
                    }
                    out.push(']');
                }
                other => out.push_str(&other.to_string()),
            }
        }
        let objects = [
            sts(3, "s"),
            json!({"kind": "ConfigMap", "metadata": {"name": "c", "uid": "u"}, "data": {"b": "x\"y\n\u{e9}", "a": "0.95"},
                "status": {}, "n": [1.5, -2, null, true, {"z": [], "y": {}}]}),
            json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {".dockerconfigjson": "e30="}}),
        ];
        for o in objects {
            let mut text = String::new();
            before(&normalize(&o), &mut text);
            assert_eq!(object_digest(&o), hex::encode(Sha256::digest(text.as_bytes())), "{o}");
        }
    }

    #[test]
    fn digests_ignore_secret_data_and_status_only() {
        let secret =
            |data: &str| json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {".dockerconfigjson": data}});
        assert_eq!(object_digest(&secret("a")), object_digest(&secret("b")));
        let mut with_status = sts(1, "s");
        with_status["status"] = json!({"replicas": 1});
        assert_eq!(object_digest(&with_status), object_digest(&sts(1, "s")));
        assert_ne!(object_digest(&sts(2, "s")), object_digest(&sts(1, "s")));
    }
}

#[cfg(test)]
mod secret_digest {
    use super::object_digest;
    use crate::domain::render::{CredentialSecret, credential_secret_object};

    #[test]
    fn a_redacted_secret_and_the_real_one_share_a_digest() {
        let s = |d: Option<Vec<u8>>| CredentialSecret { credential: "c".into(), version: 1, dockerconfigjson: d };
        let redacted = credential_secret_object("ns", &s(None)).object;
        let real = credential_secret_object("ns", &s(Some(b"{}".to_vec()))).object;
        assert_eq!(
            crate::domain::diff::normalize(&redacted),
            crate::domain::diff::normalize(&real),
            "{redacted} vs {real}"
        );
        assert_eq!(object_digest(&redacted), object_digest(&real));
    }
}
