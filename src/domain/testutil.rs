//! Helpers the domain's table tests share.

use serde_json::Value;

/// Apply a JSON merge patch (RFC 7386): objects merge, `null` removes, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Object(Default::default())), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// `base` with `patch` merged in.
pub(crate) fn patched(base: &Value, patch: &Value) -> Value {
    let mut v = base.clone();
    merge_patch(&mut v, patch);
    v
}
