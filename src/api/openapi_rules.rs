//! What the OpenAPI document says beyond the derives: the syntax of the names in paths and
//! queries (as the validators in `domain::names` check them), in one table applied to the
//! whole document so that no route can forget it, and the limits the server checks on
//! request fields whose types live in the domain and the engine (ranges, non-empty lists,
//! which of two fields), written here beside each other rather than spread as attributes.

use serde_json::{Value, json};

use crate::domain::names::{
    DNS1035_LABEL_PATTERN, DNS1123_LABEL_PATTERN, DNS1123_SUBDOMAIN_PATTERN, LABEL_MAX, SUBDOMAIN_MAX,
};
use crate::engine::rotation::{MAX_BATCH_INTERVAL_SECS, MAX_HEALTH_TIMEOUT_SECS};

fn name(pattern: &str, max: usize, description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": pattern, "description": description})
}

/// The schema of a path or query parameter `param` of `path`, where the server checks its
/// syntax (a name that fails it is refused, or, in a path, never found).
fn parameter_schema(path: &str, location: &str, param: &str) -> Option<Value> {
    let under = |prefix: &str| path.starts_with(prefix);
    Some(match (location, param) {
        (_, "cluster") => name(DNS1123_SUBDOMAIN_PATTERN, SUBDOMAIN_MAX, "A DNS-1123 subdomain"),
        (_, "namespace") => name(DNS1123_LABEL_PATTERN, LABEL_MAX, "A DNS-1123 label"),
        ("path", "name") if under("/v1/runtimes/") || under("/v1/datasets/") => {
            name(DNS1035_LABEL_PATTERN, LABEL_MAX, "A DNS-1035 label (Fluid's rule for runtime names)")
        }
        ("path", "name") if under("/v1/credentials/") => name(
            DNS1123_SUBDOMAIN_PATTERN,
            crate::service::credentials::MAX_NAME,
            "A DNS-1123 subdomain (it prefixes Secret names, so shorter than most)",
        ),
        ("path", "name") => name(DNS1123_SUBDOMAIN_PATTERN, SUBDOMAIN_MAX, "A DNS-1123 subdomain"),
        ("header", "Idempotency-Key") => json!({"type": "string", "maxLength": 255,
            "description": "Replays the first reply for a retried request (at most 255 characters; blank: none)"}),
        ("path", "version") => json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": u32::MAX}),
        _ => return None,
    })
}

/// A list filter is a plain string: the server looks it up and a name that cannot exist
/// finds nothing (an empty page), so only single resources get the name syntax.
fn is_list(path: &str) -> bool {
    !path.ends_with('}')
}

fn nullable(v: Value) -> Value {
    json!({"oneOf": [v, {"type": "null"}]})
}

/// A regular expression (without anchors) for the decimal numbers `lo..=hi`, leading
/// zeros allowed (as Rust's integer parsing reads them).
pub(super) fn number_range(lo: u64, hi: u64) -> String {
    fn same_len(lo: &[u8], hi: &[u8], out: &mut Vec<String>, prefix: &str) {
        let n = lo.len();
        if n == 0 {
            out.push(prefix.to_string());
            return;
        }
        let (a, b) = (lo[0], hi[0]);
        if lo[1..].iter().all(|&c| c == b'0') && hi[1..].iter().all(|&c| c == b'9') {
            let first = if a == b { (a as char).to_string() } else { format!("[{}-{}]", a as char, b as char) };
            let rest = if n > 1 { format!("[0-9]{{{}}}", n - 1) } else { String::new() };
            out.push(format!("{prefix}{first}{rest}"));
        } else if a == b {
            same_len(&lo[1..], &hi[1..], out, &format!("{prefix}{}", a as char));
        } else {
            same_len(&lo[1..], &vec![b'9'; n - 1], out, &format!("{prefix}{}", a as char));
            if b - a > 1 {
                let rest = if n > 1 { format!("[0-9]{{{}}}", n - 1) } else { String::new() };
                out.push(format!("{prefix}[{}-{}]{rest}", (a + 1) as char, (b - 1) as char));
            }
            same_len(&vec![b'0'; n - 1], &hi[1..], out, &format!("{prefix}{}", b as char));
        }
    }
    let (lo_s, hi_s) = (lo.to_string(), hi.to_string());
    let mut alts = Vec::new();
    for len in lo_s.len()..=hi_s.len() {
        let from = if len == lo_s.len() { lo_s.clone() } else { format!("1{}", "0".repeat(len - 1)) };
        let to = if len == hi_s.len() { hi_s.clone() } else { "9".repeat(len) };
        same_len(from.as_bytes(), to.as_bytes(), &mut alts, "");
    }
    format!("0*(?:{})", alts.join("|"))
}

/// `lo..=hi` seconds as text: a number of seconds, or of the `units` (`s`, `m`, `h`, `d`),
/// surrounded by spaces or not, as `domain::duration::parse_seconds` reads it.
fn duration_text(lo: u64, hi: u64, units: &str) -> String {
    let mut alts = vec![format!("{}s?", number_range(lo, hi))];
    for (unit, secs) in [('m', 60), ('h', 3_600), ('d', 86_400)] {
        let (from, to) = (lo.div_ceil(secs).max(1), hi / secs);
        if units.contains(unit) && from <= to {
            alts.push(format!("{}{unit}", number_range(from, to)));
        }
    }
    let bigger = units.replace('s', "");
    if lo == 0 && !bigger.is_empty() {
        alts.push(format!("0*0[{bigger}]"));
    }
    format!("^\\s*(?:{})\\s*$", alts.join("|"))
}

fn seconds_or_text(min: u64, max: u64, units: &str) -> Value {
    json!({"oneOf": [
        {"type": "integer", "format": "int64", "minimum": min, "maximum": max},
        {"type": "string", "pattern": duration_text(min, max, units),
            "description": format!("A number of seconds, or of {units}; {min} to {max} seconds in all.")},
    ]})
}

/// `(component, property, schema)`: the property's schema as the server checks it.
fn property_rules() -> Vec<(&'static str, &'static str, Value)> {
    let subdomain =
        json!({"type": "string", "minLength": 1, "maxLength": SUBDOMAIN_MAX, "pattern": DNS1123_SUBDOMAIN_PATTERN});
    let scope = |axis: &str| {
        super::credential_schema::scope(&format!("{axis} (names or `*` globs) it may be used in; null: everywhere."))
    };
    // Any JSON value (the derives can only say "object" for a `serde_json::Value`).
    let any = |d: &str| json!({"description": d});
    vec![
        ("FieldDiff", "before", any("The value before (null: absent).")),
        ("FieldDiff", "after", any("The value after (null: absent).")),
        ("DriftedField", "applied", any("The value fluidform applied (null: absent).")),
        ("DriftedField", "live", any("The value on the cluster (null: absent).")),
        ("CredentialPatch", "allowedNamespaces", scope("Namespaces")),
        ("CredentialPatch", "allowedClusters", scope("Clusters")),
        (
            "RollbackRequest",
            "revision",
            json!({"type": "integer", "format": "int64", "minimum": 1,
            "description": "The layer revision (see layers/history) whose layers to restore."}),
        ),
        (
            "PlanRequest",
            "runtimes",
            nullable(json!({"type": "array", "description": "Runtimes as `namespace/name`.",
            "items": {"type": "string", "pattern": "^[^/]+/[^/]+$"}})),
        ),
        ("TokenRequest", "expiresIn", nullable(seconds_or_text(60, 366 * 86_400, "smhd"))),
        (
            "RotationRequest",
            "toVersion",
            nullable(json!({"type": "integer", "format": "int32", "minimum": 1,
            "maximum": u32::MAX, "description": "Default: the credential's `pending` version."})),
        ),
        (
            "RotationRequest",
            "components",
            nullable(json!({"type": "array", "minItems": 1,
            "items": {"$ref": "#/components/schemas/Component"},
            "description": "Components whose pods are restarted, in order (default master, worker, fuse)."})),
        ),
        (
            "RotationRequest",
            "batches",
            nullable(json!({"type": "array", "minItems": 1,
            "items": {"$ref": "#/components/schemas/BatchSize"},
            "description": "Cumulative batch targets (default `[\"100%\"]`)."})),
        ),
        ("RotationRequest", "healthTimeout", nullable(seconds_or_text(1, MAX_HEALTH_TIMEOUT_SECS, "smh"))),
        ("RotationRequest", "batchInterval", nullable(seconds_or_text(0, MAX_BATCH_INTERVAL_SECS, "smh"))),
        (
            "RotationRequest",
            "maxFailedBatches",
            json!({"type": "integer", "format": "int32", "minimum": 0, "maximum": 1000}),
        ),
        (
            "RotationRequest",
            "maxUnavailable",
            nullable(json!({"type": "integer", "format": "int32", "minimum": 1,
            "maximum": 1000, "description": "Pods of one workload deleted at a time (default 1)."})),
        ),
        (
            "RotationRequest",
            "maxRestartingPerCluster",
            nullable(json!({"type": "integer", "format": "int32",
            "minimum": 1, "maximum": 10_000, "description":
            "Most pods being replaced at once on one cluster, across every runtime of the batch (default: no cap beyond `maxUnavailable` per workload)."})),
        ),
        ("LayerReplacement", "from", subdomain.clone()),
        ("LayerReplacement", "to", subdomain),
    ]
}

/// `(component, schema)`: a whole component's extra rules, merged into it. The rules
/// that relate fields are written as `not` of what the server refuses, which generated
/// clients leave to the server (they cannot turn it into types) instead of failing on.
fn component_rules() -> Vec<(&'static str, Value)> {
    let absent = json!({"type": "null"});
    vec![
        // Which runtimes: at least one of the filters, or all.
        (
            "PlanRequest",
            json!({"not": {"description": "no filter and not all", "properties": {
            "runtimes": absent, "labelSelector": absent, "cluster": absent, "all": {"const": false}}}}),
        ),
        // A credential rotation or a layer rotation: one of the two, and the credential's
        // own settings only with a credential.
        (
            "RotationRequest",
            json!({"not": {"anyOf": [
                {"description": "neither credential nor layer", "properties": {"credential": absent, "layer": absent}},
                {"description": "both", "required": ["credential", "layer"],
                    "properties": {"credential": {"type": "string"}, "layer": {"type": "object"}}},
                {"description": "toVersion with a layer", "required": ["layer", "toVersion"],
                    "properties": {"layer": {"type": "object"}, "toVersion": {"type": "integer"}}},
                {"description": "awaitRevocation with a layer", "required": ["layer", "awaitRevocation"],
                    "properties": {"layer": {"type": "object"}, "awaitRevocation": {"const": true}}},
            ]}}),
        ),
        ("RollbackRequest", json!({"required": ["revision"]})),
        (
            "BatchSize",
            json!({"oneOf": [
                {"type": "integer", "format": "int32", "minimum": 1},
                {"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%$", "description": "A percentage in (0%, 100%], such as `\"10%\"`."},
            ]}),
        ),
    ]
}

fn apply_component_rules(schemas: &mut serde_json::Map<String, Value>) {
    for (component, property, schema) in property_rules() {
        let c = schemas.get_mut(component).unwrap_or_else(|| panic!("no component {component}"));
        let slot = c["properties"].get_mut(property).unwrap_or_else(|| panic!("no {component}.{property}"));
        *slot = schema;
    }
    for (component, rules) in component_rules() {
        let c = schemas.get_mut(component).unwrap_or_else(|| panic!("no component {component}"));
        let c = c.as_object_mut().expect("an object schema");
        for (k, v) in rules.as_object().expect("an object").clone() {
            if k == "required" {
                let list = c.entry("required").or_insert_with(|| json!([]));
                list.as_array_mut().expect("a list").extend(v.as_array().cloned().unwrap_or_default());
            } else {
                c.insert(k, v);
            }
        }
    }
}

/// Applies the tables to the document (as JSON).
pub(super) fn tighten(v: &mut Value) {
    if let Some(paths) = v["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            for op in item.as_object_mut().into_iter().flat_map(|m| m.values_mut()) {
                for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                    let (Some(location), Some(param)) = (p["in"].as_str(), p["name"].as_str()) else { continue };
                    let (location, param) = (location.to_string(), param.to_string());
                    let (location, param) = (location.as_str(), param.as_str());
                    if location == "query" && is_list(path) {
                        continue;
                    }
                    if location == "query" && param == "cluster" && path.starts_with("/v1/thinruntimeprofiles/") {
                        // A profile is stored per cluster: every call names it.
                        p["required"] = json!(true);
                    }
                    if let Some(schema) = parameter_schema(path, location, param) {
                        p["schema"] = schema;
                    }
                }
            }
        }
    }
    if let Some(schemas) = v["components"]["schemas"].as_object_mut() {
        apply_component_rules(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(p: &str) -> regex::Regex {
        regex::Regex::new(&format!("^{p}$")).unwrap()
    }

    #[test]
    fn number_ranges_take_exactly_their_numbers() {
        for (lo, hi) in [(0, 0), (1, 9), (0, 1000), (60, 1234), (1, 65535), (7, 7), (19, 21), (100, 999), (5, 1005)] {
            let re = full(&number_range(lo, hi));
            for n in 0..=(hi + 1500) {
                assert_eq!(re.is_match(&n.to_string()), (lo..=hi).contains(&n), "{lo}..={hi}: {n}");
            }
            assert!(re.is_match(&format!("00{lo}")), "leading zeros");
            for bad in ["", "-1", "+1", "1.0", " 1", "a"] {
                assert!(!re.is_match(bad), "{bad:?}");
            }
        }
        let re = full(&number_range(60, 366 * 86_400));
        for (n, ok) in [(59, false), (60, true), (31_622_400, true), (31_622_401, false), (99_999_999, false)] {
            assert_eq!(re.is_match(&n.to_string()), ok, "{n}");
        }
    }

    #[test]
    fn duration_texts_as_the_server_reads_them() {
        let re = regex::Regex::new(&duration_text(60, 366 * 86_400, "smhd")).unwrap();
        for t in ["60", "60s", "1m", " 90d ", "366d", "8784h", "527040m", "0060"] {
            let secs = crate::domain::duration::parse_seconds(t).unwrap();
            assert!(re.is_match(t) && (60..=366 * 86_400).contains(&secs), "{t}");
        }
        for t in ["0", "59", "59s", "0m", "367d", "8785h", "1w", "", "1.5h", "-1m", "m"] {
            let ok = crate::domain::duration::parse_seconds(t).is_some_and(|s| (60..=366 * 86_400).contains(&s));
            assert!(!re.is_match(t) && !ok, "{t}");
        }
        let re = regex::Regex::new(&duration_text(0, 86_400, "smh")).unwrap();
        for t in ["0", "0s", "0m", "24h", "1440m", "86400"] {
            assert!(re.is_match(t), "{t}");
        }
        for t in ["25h", "1d", "86401"] {
            assert!(!re.is_match(t), "{t}");
        }
    }
}
