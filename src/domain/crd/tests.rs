//! The generated CRDs are structural, named as Fluid names them, and spell every field as
//! Fluid's own CRDs do.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;

/// Keywords a structural schema node may carry here.
const ALLOWED: [&str; 14] = [
    "type",
    "description",
    "format",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "x-kubernetes-preserve-unknown-fields",
];

/// Every node reachable through properties, additionalProperties and items is structural:
/// it has a type (or is int-or-string), no `$ref`/`oneOf`/`anyOf`/`allOf`/`not`, no keyword
/// outside `ALLOWED`, and never both properties and additionalProperties.
fn structural_problems(node: &Value, path: &str, out: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        out.push(format!("{path}: not an object"));
        return;
    };
    let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&json!(true));
    for key in obj.keys() {
        let int_or_string_marker = int_or_string && key == "x-kubernetes-int-or-string";
        if !(ALLOWED.contains(&key.as_str()) || int_or_string_marker) {
            out.push(format!("{path}: keyword {key}"));
        }
    }
    match obj.get("type").and_then(Value::as_str) {
        None if int_or_string => {}
        None => out.push(format!("{path}: no type")),
        Some(t) if int_or_string => out.push(format!("{path}: int-or-string with type {t}")),
        Some("object" | "array" | "string" | "integer" | "number" | "boolean") => {}
        Some(t) => out.push(format!("{path}: type {t}")),
    }
    if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
        out.push(format!("{path}: both properties and additionalProperties"));
    }
    if obj.contains_key("x-kubernetes-preserve-unknown-fields") && obj.get("type") != Some(&json!("object")) {
        out.push(format!("{path}: preserve-unknown-fields on a non-object"));
    }
    if obj.get("type") == Some(&json!("array")) && !obj.contains_key("items") {
        out.push(format!("{path}: array without items"));
    }
    for (name, child) in obj.get("properties").and_then(Value::as_object).into_iter().flatten() {
        structural_problems(child, &format!("{path}.{name}"), out);
    }
    if let Some(ap) = obj.get("additionalProperties") {
        structural_problems(ap, &format!("{path}{{}}"), out);
    }
    if let Some(items) = obj.get("items") {
        structural_problems(items, &format!("{path}[]"), out);
    }
}

fn open_api_schema(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

fn by_kind(kind: &str) -> Value {
    crds().into_iter().find(|c| c["spec"]["names"]["kind"] == kind).unwrap_or_else(|| panic!("no CRD for {kind}"))
}

#[test]
fn every_schema_node_is_structural() {
    for crd in crds() {
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
        let mut problems = Vec::new();
        structural_problems(open_api_schema(&crd), &kind, &mut problems);
        assert_eq!(problems, Vec::<String>::new(), "{kind}");
        let text = crd.to_string();
        for banned in ["$ref", "oneOf", "anyOf", "allOf", "\"nullable\"", "\"null\""] {
            assert!(!text.contains(banned), "{kind}: {banned} left in the CRD");
        }
    }
}

/// The walker must catch what it claims to: a check that cannot fail is no check.
#[test]
fn the_structural_walker_finds_problems() {
    let cases = [
        (json!({"properties": {}}), "no type"),
        (json!({"type": "object", "properties": {"a": {"$ref": "#/x"}}}), "keyword $ref"),
        (json!({"type": "object", "properties": {"a": {"oneOf": [], "type": "string"}}}), "keyword oneOf"),
        (
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}}),
            "both",
        ),
        (json!({"type": "array"}), "without items"),
        (json!({"type": "object", "additionalProperties": {"type": "null"}}), "type null"),
        (json!({"type": "string", "x-kubernetes-preserve-unknown-fields": true}), "non-object"),
    ];
    for (schema, want) in cases {
        let mut problems = Vec::new();
        structural_problems(&schema, "x", &mut problems);
        assert!(problems.iter().any(|p| p.contains(want)), "{schema}: {problems:?}");
    }
}

#[test]
fn names_scopes_and_subresources() {
    type Row = (&'static str, &'static str, &'static str, &'static [&'static str], &'static str, bool);
    let rows: [Row; 5] = [
        ("Dataset", "datasets", "dataset", &["dataset"], "Namespaced", false),
        ("AlluxioRuntime", "alluxioruntimes", "alluxioruntime", &["alluxio"], "Namespaced", true),
        ("JindoRuntime", "jindoruntimes", "jindoruntime", &["jindo"], "Namespaced", true),
        ("ThinRuntime", "thinruntimes", "thinruntime", &[], "Namespaced", false),
        ("ThinRuntimeProfile", "thinruntimeprofiles", "thinruntimeprofile", &[], "Cluster", false),
    ];
    assert_eq!(crds().len(), rows.len());
    for (kind, plural, singular, short, scope, scale) in rows {
        let crd = by_kind(kind);
        assert_eq!(crd["metadata"]["name"], format!("{plural}.data.fluid.io"), "{kind}");
        assert_eq!(crd["spec"]["group"], "data.fluid.io");
        let names = &crd["spec"]["names"];
        assert_eq!(names["plural"], plural, "{kind}");
        assert_eq!(names["singular"], singular, "{kind}");
        assert_eq!(names["listKind"], format!("{kind}List"), "{kind}");
        assert_eq!(names.get("shortNames").cloned().unwrap_or(json!([])), json!(short), "{kind}");
        assert_eq!(crd["spec"]["scope"], scope, "{kind}");
        let version = &crd["spec"]["versions"][0];
        assert_eq!(
            (version["name"].as_str(), version["served"].as_bool(), version["storage"].as_bool()),
            (Some("v1alpha1"), Some(true), Some(true))
        );
        assert_eq!(crd["spec"]["versions"].as_array().unwrap().len(), 1);
        assert_eq!(version["subresources"]["status"], json!({}), "{kind}");
        assert_eq!(version["subresources"].get("scale").is_some(), scale, "{kind}");
        let schema = open_api_schema(&crd);
        assert_eq!(
            schema["properties"]["status"],
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
        );
        assert_eq!(schema["properties"]["metadata"], json!({"type": "object"}));
        assert_eq!(schema["properties"]["spec"]["type"], "object", "{kind}");
    }
}

#[test]
fn typed_nodes_convert_as_kubernetes_writes_them() {
    let alluxio = by_kind("AlluxioRuntime");
    let spec = &open_api_schema(&alluxio)["properties"]["spec"]["properties"];
    let level = &spec["tieredstore"]["properties"]["levels"]["items"]["properties"];
    assert_eq!(level["quota"]["x-kubernetes-int-or-string"], true);
    assert!(level["quota"].get("type").is_none());
    assert_eq!(level["high"]["type"], "string", "watermarks stay strings, as in Fluid's CRD");
    assert_eq!(
        level["volumeSource"],
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "description": level["volumeSource"]["description"]})
    );
    let requests = &spec["master"]["properties"]["resources"]["properties"]["requests"];
    assert_eq!(requests["type"], "object");
    assert_eq!(requests["additionalProperties"]["x-kubernetes-int-or-string"], true);
    assert_eq!(spec["master"]["properties"]["ports"]["additionalProperties"]["type"], "integer");
    assert_eq!(spec["volumes"]["items"]["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(spec["replicas"]["type"], "integer");
    assert_eq!(spec["replicas"]["format"], "int32");
    let thin = by_kind("ThinRuntime");
    let env = &open_api_schema(&thin)["properties"]["spec"]["properties"]["fuse"]["properties"]["env"];
    assert_eq!(env["type"], "array");
    assert_eq!(env["items"]["type"], "object");
}

#[test]
fn conversion_errors_name_the_path() {
    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    enum Either {
        A(String),
        B(i32),
    }
    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    struct HasEither {
        either: Either,
    }
    let err = schema::structural::<HasEither>().expect_err("a two-way oneOf is not structural");
    assert!(err.contains("either") && err.contains("oneOf"), "{err}");
}

// ---- comparison with Fluid's own CRDs ----

fn fluid_crds_dir() -> PathBuf {
    std::env::var_os("FLUID_CRDS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/work/shared/fluid/crds"))
}

fn fluid_spec(dir: &std::path::Path, plural: &str) -> Value {
    let path = dir.join(format!("data.fluid.io_{plural}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let crd: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    open_api_schema(&crd)["properties"]["spec"].clone()
}

fn is_free_form(node: &Value) -> bool {
    node.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true))
}

fn int_or_string(node: &Value) -> bool {
    node.get("x-kubernetes-int-or-string") == Some(&json!(true))
}

/// Differences between our schema and Fluid's at the same path: names only we have,
/// names only Fluid has, and types that disagree. Below a free-form node of ours (a
/// Kubernetes-typed value kept whole) there is nothing of ours to compare.
fn differences(ours: &Value, fluid: &Value, path: &str, out: &mut Vec<String>) {
    if int_or_string(ours) != int_or_string(fluid) {
        out.push(format!("{path}: int-or-string is {} here, {} in Fluid", int_or_string(ours), int_or_string(fluid)));
        return;
    }
    if ours.get("type") != fluid.get("type") {
        out.push(format!("{path}: type {} here, {} in Fluid", ours["type"], fluid["type"]));
        return;
    }
    if is_free_form(ours) {
        return;
    }
    let empty = serde_json::Map::new();
    let our_props = ours.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    let their_props = fluid.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    for (name, o) in our_props {
        match their_props.get(name) {
            None => out.push(format!("{path}.{name}: not in Fluid's CRD")),
            Some(t) => differences(o, t, &format!("{path}.{name}"), out),
        }
    }
    for name in their_props.keys().filter(|n| !our_props.contains_key(*n)) {
        out.push(format!("{path}.{name}: in Fluid's CRD, not modelled"));
    }
    for key in ["items", "additionalProperties"] {
        match (ours.get(key), fluid.get(key)) {
            (Some(o), Some(t)) if t.is_object() => differences(o, t, &format!("{path}.{key}"), out),
            (None, None) => {}
            (o, t) => out.push(format!("{path}: {key} {} here, {} in Fluid", o.is_some(), t.is_some())),
        }
    }
}

#[test]
fn every_field_is_spelt_as_in_fluids_crds() {
    let dir = fluid_crds_dir();
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Fluid's CRDs are missing from {} (set FLUID_CRDS_DIR); CI must run this check",
            dir.display()
        );
        eprintln!("skipping: Fluid's CRDs not found in {} (set FLUID_CRDS_DIR to run this check)", dir.display());
        return;
    }
    let mut all = Vec::new();
    for crd in crds() {
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap().to_string();
        let ours = &open_api_schema(&crd)["properties"]["spec"];
        differences(ours, &fluid_spec(&dir, &plural), &format!("{plural}: spec"), &mut all);
    }
    assert_eq!(all, Vec::<String>::new());
}

/// The comparison must see a misspelt, a missing and a mistyped field.
#[test]
fn the_comparison_finds_differences() {
    let fluid = json!({"type": "object", "properties": {
        "networkmode": {"type": "string"}, "replicas": {"type": "integer"}, "quota": {"x-kubernetes-int-or-string": true}}});
    let ours = json!({"type": "object", "properties": {
        "networkMode": {"type": "string"}, "replicas": {"type": "string"}, "quota": {"type": "string"}}});
    let mut out = Vec::new();
    differences(&ours, &fluid, "spec", &mut out);
    for want in [
        "spec.networkMode: not in Fluid",
        "spec.networkmode: in Fluid's CRD, not modelled",
        "spec.replicas: type",
        "spec.quota: int-or-string",
    ] {
        assert!(out.iter().any(|d| d.starts_with(want)), "{want} in {out:?}");
    }
}
