//! One object's comparison (desired vs last applied vs live), the reasons a runtime's
//! objects change, and the fingerprints that make plans staleness-checked. Pure.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Action, Reason};
use crate::domain::diff::{FieldDiff, diff, normalize, project, union_shape};
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
    canonical(&normalize(object), &mut h);
    hex::encode(h.finalize())
}

fn canonical(v: &Value, h: &mut Sha256) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            h.update(b"{");
            for k in keys {
                h.update(serde_json::to_string(k).expect("strings serialize").as_bytes());
                h.update(b":");
                canonical(&m[k], h);
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
        other => h.update(other.to_string().as_bytes()),
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
    fn applied_but_not_desired_is_deleted() {
        let (a, r, _) = compare(None, Some(&sts(1, "s")), None, &[]);
        assert_eq!((a, r), (Action::Delete, vec![Reason::Removal]));
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
