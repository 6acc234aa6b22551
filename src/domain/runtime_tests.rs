//! `RuntimeManifest` reads the kind first, serializes to the inner manifest unchanged, and
//! answers for every kind alike.

use serde_json::json;

use super::*;
use crate::domain::jindo::tests::JINDO_YAML;
use crate::domain::manifest::tests::SEED_YAML;
use crate::domain::thin::tests::THIN_YAML;

fn parse(yaml: &str) -> RuntimeManifest {
    parse_manifest(yaml.as_bytes(), ManifestFormat::Yaml).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn kind_decides_the_type() {
    let cases = [(SEED_YAML, RuntimeKind::Alluxio), (JINDO_YAML, RuntimeKind::Jindo), (THIN_YAML, RuntimeKind::Thin)];
    for (yaml, kind) in cases {
        let m = parse(yaml);
        assert_eq!(m.kind(), kind);
        assert_eq!(m.name(), "hbase");
        assert_eq!(validate_manifest(&m, "default", "hbase"), vec![], "{kind}");
        assert!(!validate_manifest(&m, "default", "other").is_empty(), "{kind}: dispatches to the kind's validator");
    }
}

#[test]
fn serializes_to_exactly_the_inner_manifest() {
    let cases = [SEED_YAML, JINDO_YAML, THIN_YAML];
    for yaml in cases {
        let m = parse(yaml);
        let inner = match &m {
            RuntimeManifest::Alluxio(rt) => serde_json::to_value(rt).unwrap(),
            RuntimeManifest::Jindo(rt) => serde_json::to_value(rt).unwrap(),
            RuntimeManifest::Thin(rt) => serde_json::to_value(rt).unwrap(),
        };
        let outer = serde_json::to_value(&m).unwrap();
        assert_eq!(outer, inner);
        let back: RuntimeManifest = serde_json::from_value(outer).unwrap();
        assert_eq!(back, m, "deserializing reads the kind too");
    }
}

#[test]
fn kind_errors() {
    let cases: &[(&str, &str)] = &[
        (r#"{"apiVersion":"data.fluid.io/v1alpha1","metadata":{"name":"a"}}"#, "is required"),
        (r#"{"kind":""}"#, "is required"),
        (r#"{"kind":"JuiceFSRuntime"}"#, "\"JuiceFSRuntime\" is not a supported runtime kind"),
        (r#"{"kind":"Dataset"}"#, "not a supported runtime kind"),
        (r#"{"kind":7}"#, "must be a string"),
    ];
    for (body, message) in cases {
        let err = parse_manifest(body.as_bytes(), ManifestFormat::Json).expect_err(body);
        assert_eq!(err.field, "kind", "{body}");
        assert!(err.message.contains(message), "{body}: {err:?}");
        if !message.contains("string") {
            assert!(err.message.contains("AlluxioRuntime, JindoRuntime, ThinRuntime"), "{body}: {err:?}");
        }
    }
    let err = serde_json::from_value::<RuntimeManifest>(json!({"kind": "Nope"})).unwrap_err();
    assert!(err.to_string().contains("not a supported runtime kind"), "{err}");
}

#[test]
fn unknown_fields_are_judged_against_the_kind() {
    let cases: &[(&str, &str)] = &[
        // `networkmode` is Jindo's spelling; Alluxio has none at the top level.
        (r#"{"kind":"AlluxioRuntime","spec":{"networkmode":"HostNetwork"}}"#, "spec.networkmode"),
        (r#"{"kind":"JindoRuntime","spec":{"jobMaster":{}}}"#, "spec.jobMaster"),
        (r#"{"kind":"ThinRuntime","spec":{"master":{}}}"#, "spec.master"),
        (r#"{"kind":"ThinRuntime","spec":{"replicas":1,"replicas":2}}"#, "spec.replicas"),
    ];
    for (body, field) in cases {
        let err = parse_manifest(body.as_bytes(), ManifestFormat::Json).expect_err(body);
        assert_eq!(err.field, *field, "{body}: {err:?}");
    }
    let yaml = "kind: JindoRuntime\nspec:\n  fuse:\n    jvmOptions: []\n";
    let err = parse_manifest(yaml.as_bytes(), ManifestFormat::Yaml).expect_err("jindo fuse has no jvmOptions");
    assert_eq!(err.field, "spec.fuse.jvmOptions");
}

#[test]
fn accessors_for_every_kind() {
    let with_meta = |yaml: &str| {
        yaml.replace("  name: hbase\n", "  name: hbase\n  labels:\n    team: data\n  annotations:\n    note: x\n")
    };
    type Row = (&'static str, RuntimeKind, &'static str, Option<&'static str>);
    let rows: [Row; 3] = [
        (SEED_YAML, RuntimeKind::Alluxio, "master", None),
        (JINDO_YAML, RuntimeKind::Jindo, "master", None),
        (THIN_YAML, RuntimeKind::Thin, "fuse", Some("nfs")),
    ];
    for (yaml, kind, layer, profile) in rows {
        let mut m = parse(&with_meta(yaml));
        assert_eq!(m.labels(), BTreeMap::from([("team".to_string(), "data".to_string())]), "{kind}");
        assert_eq!(m.annotations(), BTreeMap::from([("note".to_string(), "x".to_string())]), "{kind}");
        assert_eq!(m.profile_name(), profile, "{kind}");
        let before = m.layers();
        let from = match layer {
            "master" => before.master[0].clone(),
            _ => before.fuse[0].clone(),
        };
        assert!(m.replace_in_layer(layer, &from, "rotated"), "{kind}");
        let after = m.layers();
        let list = if layer == "master" { &after.master } else { &after.fuse };
        assert_eq!(list[0], "rotated", "{kind}");
        assert_eq!(after.global, before.global, "{kind}: other layers untouched");
    }
    assert!(parse(THIN_YAML).layers().master.is_empty());
}

#[test]
fn kinds_and_components() {
    use Component::*;
    let rows = [
        (RuntimeKind::Alluxio, "AlluxioRuntime", vec![Master, Worker, Fuse]),
        (RuntimeKind::Jindo, "JindoRuntime", vec![Master, Worker, Fuse]),
        (RuntimeKind::Thin, "ThinRuntime", vec![Worker, Fuse]),
    ];
    for (kind, name, components) in rows {
        assert_eq!(kind.as_str(), name);
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(name));
        assert_eq!(serde_json::from_value::<RuntimeKind>(json!(name)).unwrap(), kind);
        assert_eq!(RuntimeKind::from_kind(name), Some(kind));
        assert_eq!(kind.components(), components.as_slice());
        assert_eq!(kind.has(Master), components.contains(&Master));
    }
    assert_eq!(RuntimeKind::from_kind("Alluxio"), None);
}

#[test]
fn with_layers_sets_every_layer_and_keeps_everything_else() {
    for yaml in [SEED_YAML, JINDO_YAML, THIN_YAML] {
        let m = parse(yaml);
        let before = serde_json::to_value(&m).unwrap();
        let target = RuntimeLayers {
            global: vec!["g2".into()],
            master: vec!["m2".into(), "m3".into()],
            worker: vec![],
            fuse: vec!["f2".into()],
        };
        let out = m.with_layers(&target).unwrap();
        let l = out.layers();
        assert_eq!(l.global, ["g2"], "{}", m.kind());
        assert_eq!(l.fuse, ["f2"]);
        assert!(l.worker.is_empty(), "an empty layer is no list");
        if m.kind() == RuntimeKind::Thin {
            assert!(l.master.is_empty(), "a ThinRuntime has no master layer");
        } else {
            assert_eq!(l.master, ["m2", "m3"]);
        }
        // Everything but the lists is as it was.
        let mut a = serde_json::to_value(&out).unwrap();
        let mut b = before.clone();
        for v in [&mut a, &mut b] {
            let spec = v["spec"].as_object_mut().unwrap();
            spec.remove("imagePullSecrets");
            for c in ["master", "worker", "fuse"] {
                if let Some(o) = spec.get_mut(c).and_then(|c| c.as_object_mut()) {
                    o.remove("imagePullSecrets");
                }
                if spec.get(c).is_some_and(|c| c.as_object().is_some_and(|o| o.is_empty())) {
                    spec.remove(c);
                }
            }
        }
        assert_eq!(a, b, "{}", m.kind());
        // Setting the layers it has is the identity.
        assert_eq!(m.with_layers(&m.layers()).unwrap(), m, "{}", m.kind());
    }
}
