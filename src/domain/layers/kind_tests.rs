//! Resolution orders per runtime kind, profile layers included.

use serde_json::json;

use super::*;

fn v(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn layers(global: &[&str], master: &[&str], worker: &[&str], fuse: &[&str]) -> RuntimeLayers {
    RuntimeLayers { global: v(global), master: v(master), worker: v(worker), fuse: v(fuse) }
}

fn profile(global: &[&str], worker: &[&str], fuse: &[&str]) -> RuntimeLayers {
    layers(global, &[], worker, fuse)
}

type Winner = (LayerSource, Vec<String>);

fn summary(r: Option<&ComponentResolution>) -> Option<Winner> {
    r.map(|r| (r.source, r.secret_names()))
}

fn w(source: LayerSource, names: &[&str]) -> Option<Winner> {
    Some((source, v(names)))
}

#[test]
fn jindo_order_is_component_then_global_then_cluster() {
    use LayerSource as S;
    type Row = (&'static str, RuntimeLayers, Vec<String>, [Option<Winner>; 3]);
    let rows: Vec<Row> = vec![
        (
            "each component its own",
            layers(&["g"], &["m"], &["w"], &["f"]),
            v(&["c"]),
            [w(S::Master, &["m"]), w(S::Worker, &["w"]), w(S::Fuse, &["f"])],
        ),
        (
            "global for the others, fuse included",
            layers(&["g"], &["m"], &[], &[]),
            v(&["c"]),
            [w(S::Master, &["m"]), w(S::Global, &["g"]), w(S::Global, &["g"])],
        ),
        (
            "cluster default applies to Jindo too",
            layers(&[], &[], &[], &["f"]),
            v(&["c"]),
            [w(S::Cluster, &["c"]), w(S::Cluster, &["c"]), w(S::Fuse, &["f"])],
        ),
        ("nothing", layers(&[], &[], &[], &[]), v(&[]), [w(S::None, &[]), w(S::None, &[]), w(S::None, &[])]),
        (
            "duplicates dropped",
            layers(&["g", "g", "h"], &[], &[], &[]),
            v(&[]),
            [w(S::Global, &["g", "h"]), w(S::Global, &["g", "h"]), w(S::Global, &["g", "h"])],
        ),
    ];
    let ignored_profile = profile(&["pg"], &["pw"], &["pf"]);
    for (what, l, cluster, want) in rows {
        for p in [None, Some(&ignored_profile)] {
            let input = LayerInputs { kind: RuntimeKind::Jindo, runtime: &l, profile: p, cluster_default: &cluster };
            let r = resolve_layers(&input, &BTreeMap::new());
            let got = [summary(r.master.as_ref()), summary(Some(&r.worker)), summary(Some(&r.fuse))];
            assert_eq!(got, want, "{what} (profile given: {})", p.is_some());
        }
    }
}

#[test]
fn thin_order_is_runtime_component_profile_component_runtime_global_profile_global_cluster() {
    use LayerSource as S;
    type Row = (&'static str, RuntimeLayers, Option<RuntimeLayers>, Vec<String>, [Option<Winner>; 2]);
    let rows: Vec<Row> = vec![
        (
            "runtime components win over everything",
            layers(&["g"], &[], &["w"], &["f"]),
            Some(profile(&["pg"], &["pw"], &["pf"])),
            v(&["c"]),
            [w(S::Worker, &["w"]), w(S::Fuse, &["f"])],
        ),
        (
            "profile component beats runtime global",
            layers(&["g"], &[], &[], &[]),
            Some(profile(&["pg"], &["pw"], &["pf"])),
            v(&["c"]),
            [w(S::ProfileWorker, &["pw"]), w(S::ProfileFuse, &["pf"])],
        ),
        (
            "profile wins for fuse but not for worker",
            layers(&["g"], &[], &["w"], &[]),
            Some(profile(&["pg"], &[], &["pf"])),
            v(&["c"]),
            [w(S::Worker, &["w"]), w(S::ProfileFuse, &["pf"])],
        ),
        (
            "profile fuse only: worker falls to runtime global",
            layers(&["g"], &[], &[], &[]),
            Some(profile(&["pg"], &[], &["pf"])),
            v(&["c"]),
            [w(S::Global, &["g"]), w(S::ProfileFuse, &["pf"])],
        ),
        (
            "runtime global beats profile global",
            layers(&["g"], &[], &[], &[]),
            Some(profile(&["pg"], &[], &[])),
            v(&["c"]),
            [w(S::Global, &["g"]), w(S::Global, &["g"])],
        ),
        (
            "profile global beats the cluster default",
            layers(&[], &[], &[], &[]),
            Some(profile(&["pg"], &[], &[])),
            v(&["c"]),
            [w(S::ProfileGlobal, &["pg"]), w(S::ProfileGlobal, &["pg"])],
        ),
        (
            "empty lists everywhere are absent: cluster default",
            layers(&[], &[], &[], &[]),
            Some(profile(&[], &[], &[])),
            v(&["c"]),
            [w(S::Cluster, &["c"]), w(S::Cluster, &["c"])],
        ),
        (
            "no profile: runtime component, runtime global, cluster",
            layers(&["g"], &[], &[], &["f"]),
            None,
            v(&["c"]),
            [w(S::Global, &["g"]), w(S::Fuse, &["f"])],
        ),
        (
            "duplicates in a profile layer dropped, order kept",
            layers(&[], &[], &[], &[]),
            Some(profile(&[], &["b", "a", "b"], &["x", "x"])),
            v(&[]),
            [w(S::ProfileWorker, &["b", "a"]), w(S::ProfileFuse, &["x"])],
        ),
        ("nothing anywhere", layers(&[], &[], &[], &[]), None, v(&[]), [w(S::None, &[]), w(S::None, &[])]),
    ];
    for (what, l, p, cluster, want) in rows {
        let input =
            LayerInputs { kind: RuntimeKind::Thin, runtime: &l, profile: p.as_ref(), cluster_default: &cluster };
        let r = resolve_layers(&input, &BTreeMap::new());
        assert_eq!(r.master, None, "{what}: thin has no master");
        assert_eq!([summary(Some(&r.worker)), summary(Some(&r.fuse))], want, "{what}");
    }
}

#[test]
fn thin_ignores_a_master_layer_and_reports_no_master() {
    let l = layers(&[], &["m"], &[], &[]);
    let input = LayerInputs { kind: RuntimeKind::Thin, runtime: &l, profile: None, cluster_default: &[] };
    let r = resolve_layers(&input, &BTreeMap::new());
    assert_eq!(r.components().map(|(c, _)| c).collect::<Vec<_>>(), [Component::Worker, Component::Fuse]);
    assert!(r.component(Component::Master).is_none());
    assert!(referenced_layer_names(&input).is_empty(), "a master layer binds nothing for Thin");
    let json = serde_json::to_value(&r).unwrap();
    assert!(json.get("master").is_none(), "{json}");
    let back: Resolution = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}

#[test]
fn profile_sources_serialize_in_camel_case_and_bindings_apply() {
    let l = layers(&[], &[], &[], &[]);
    let p = profile(&["pg"], &["pw"], &[]);
    let input = LayerInputs { kind: RuntimeKind::Thin, runtime: &l, profile: Some(&p), cluster_default: &[] };
    let bindings = BTreeMap::from([("pw".to_string(), 3)]);
    let r = resolve_layers(&input, &bindings);
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({
            "worker": {"source": "profileWorker", "imagePullSecrets": [
                {"name": "pw", "secretName": "pw-v3", "credential": "pw", "version": 3}]},
            "fuse": {"source": "profileGlobal", "imagePullSecrets": [{"name": "pg", "secretName": "pg"}]},
        })
    );
    assert_eq!(serde_json::to_value(LayerSource::ProfileFuse).unwrap(), json!("profileFuse"));
}

#[test]
fn referenced_names_include_winning_profile_layers() {
    type Row = (&'static str, RuntimeLayers, Option<RuntimeLayers>, Vec<String>, Vec<&'static str>);
    let rows: Vec<Row> = vec![
        (
            "profile fuse and runtime worker",
            layers(&["g"], &[], &["w"], &[]),
            Some(profile(&["pg"], &[], &["pf"])),
            v(&["c"]),
            vec!["pf", "w"],
        ),
        (
            "profile global for both",
            layers(&[], &[], &[], &[]),
            Some(profile(&["pg"], &[], &[])),
            v(&["c"]),
            vec!["pg"],
        ),
        (
            "losing layers are not referenced",
            layers(&[], &[], &["w"], &["f"]),
            Some(profile(&["pg"], &["pw"], &["pf"])),
            v(&["c"]),
            vec!["f", "w"],
        ),
        ("cluster default when nothing else", layers(&[], &[], &[], &[]), None, v(&["c"]), vec!["c"]),
    ];
    for (what, l, p, cluster, want) in rows {
        let input =
            LayerInputs { kind: RuntimeKind::Thin, runtime: &l, profile: p.as_ref(), cluster_default: &cluster };
        let want: BTreeSet<String> = want.into_iter().map(str::to_string).collect();
        assert_eq!(referenced_layer_names(&input), want, "{what}");
    }
}

#[test]
fn alluxio_wrappers_match_the_general_entry_point() {
    let l = layers(&["g"], &["m"], &[], &["f"]);
    let cluster = v(&["c"]);
    let p = profile(&["pg"], &["pw"], &["pf"]);
    let general = LayerInputs { kind: RuntimeKind::Alluxio, runtime: &l, profile: Some(&p), cluster_default: &cluster };
    let r = resolve(&l, &cluster, &BTreeMap::new());
    assert_eq!(r, resolve_layers(&general, &BTreeMap::new()), "a profile is ignored for Alluxio");
    assert!(r.master.is_some());
    assert_eq!(referenced_names(&l, &cluster), referenced_layer_names(&general));
}
