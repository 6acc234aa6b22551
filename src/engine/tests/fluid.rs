//! Fluid-native clusters against the fake: Fluid's resources planned and applied with the
//! lists written out, and a rotation that changes only the pull-secret lists of the
//! workloads "Fluid" created (a stand-in here; the real-server test has its own).

use serde_json::{Value, json};

use super::{Harness, runtime};
use crate::domain::fluid::fluid_workload;
use crate::domain::kinds::Kind;
use crate::domain::layers::Component;
use crate::domain::runtime::RuntimeKind;
use crate::domain::states::RotationState;
use crate::engine::rotation::{RotationRequest, drive_once, start_rotation};

/// What Fluid's controller does once per runtime resource: create its workloads (once).
fn fluid_creates_workloads(h: &Harness, cluster: &str, namespace: &str, name: &str) {
    let fake = h.fake(cluster);
    let cr = fake.get(Kind::AlluxioRuntime, namespace, name).expect("the runtime resource was applied");
    for comp in Component::ALL {
        let (kind, wname, role) = fluid_workload(RuntimeKind::Alluxio, name, comp);
        let list = cr.pointer(&format!("/spec/{}/imagePullSecrets", comp.as_str())).cloned().unwrap_or(json!([]));
        let mut spec = json!({"imagePullSecrets": list, "containers": [{"name": "c", "image": "alluxio"}]});
        if comp == Component::Fuse {
            spec["nodeSelector"] = json!({format!("fluid.io/f-{namespace}-{name}"): "true"});
        }
        let labels = json!({"app": "alluxio", "release": name, "role": role, "app.kubernetes.io/managed-by": "Helm"});
        let mut w = json!({"apiVersion": "apps/v1", "kind": kind.as_str(),
            "metadata": {"name": wname, "namespace": namespace, "labels": labels, "generation": 1},
            "spec": {"updateStrategy": {"type": "OnDelete"}, "template": {"metadata": {"labels": labels}, "spec": spec}}});
        if kind == Kind::StatefulSet {
            w["spec"]["replicas"] = json!(1);
        }
        fake.put(w);
    }
}

fn names(v: &Value) -> Vec<String> {
    v.as_array().map(|l| l.iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fluid_cluster_gets_fluids_resources_and_a_rotation_patches_only_the_lists() {
    let h = Harness::new().await;
    h.fake("f1").install_fluid();
    h.cluster("f1", json!({"mode": "auto", "defaultImagePullSecrets": ["org-pull"]})).await;
    h.credential("global-secret", "v1").await;
    let mut rt = runtime("rt0", &["global-secret"]);
    rt["spec"]["master"]["imagePullSecrets"] = json!([{"name": "master-secret"}]);
    h.runtime("f1", "data", rt).await;
    let ds: crate::domain::dataset::Dataset = serde_json::from_value(json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset",
        "metadata": {"name": "rt0"}, "spec": {"mounts": [{"mountPoint": "https://mirrors.example.com/data/", "name": "data"}]}}))
    .unwrap();
    h.ctx.store.put_dataset("data", "rt0", "f1", &ds, None).await.unwrap();

    // Never probed: a plan shows it as standalone and says so; an apply is refused.
    let p = h.plan(json!({"all": true})).await;
    assert!(p.warnings.iter().any(|w| w.message.contains("never probed")), "{:?}", p.warnings);
    let e = crate::engine::runner::apply_plan(&h.ctx, &p.id, "test").await.unwrap_err();
    assert!(matches!(e, crate::engine::plan::PlanError::ModeUnknown(_)), "{e}");

    // A refreshing plan finds Fluid: the cluster is fluid now.
    let (p, _) = h.converge(json!({"all": true, "refresh": true})).await;
    let kinds: Vec<&str> = p.objects.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(kinds, ["Secret", "Dataset", "AlluxioRuntime"], "{:?}", p.objects);
    let fake = h.fake("f1");
    let cr = fake.get(Kind::AlluxioRuntime, "data", "rt0").unwrap();
    assert_eq!(names(&cr["spec"]["master"]["imagePullSecrets"]), ["master-secret"]);
    assert_eq!(names(&cr["spec"]["worker"]["imagePullSecrets"]), ["global-secret-v1"], "written out as resolved");
    assert_eq!(names(&cr["spec"]["fuse"]["imagePullSecrets"]), ["global-secret-v1"]);
    assert!(fake.get(Kind::Dataset, "data", "rt0").is_some());
    assert!(fake.get(Kind::StatefulSet, "data", "rt0-master").is_none(), "fluidform renders no workload here");

    fluid_creates_workloads(&h, "f1", "data", "rt0");
    for node in ["node-0", "node-1"] {
        fake.label_node(node, "fluid.io/f-data-rt0", "true");
    }
    let before = fake.get(Kind::StatefulSet, "data", "rt0-worker").unwrap();
    h.version("global-secret", "v2").await;
    let req: RotationRequest = serde_json::from_value(json!({"credential": "global-secret"})).unwrap();
    let id = start_rotation(&h.ctx, req, "test").await.unwrap();
    for _ in 0..200 {
        if h.ctx.store.get_rotation(&id).await.unwrap().state.is_terminal() {
            break;
        }
        drive_once(&h.ctx).await.unwrap();
    }
    let r = h.ctx.store.get_rotation(&id).await.unwrap();
    assert_eq!(r.state, RotationState::Succeeded, "{:?} {:?}", r.error, r.batches);
    let after = fake.get(Kind::StatefulSet, "data", "rt0-worker").unwrap();
    assert_eq!(names(&after["spec"]["template"]["spec"]["imagePullSecrets"]), ["global-secret-v2"]);
    let mut unchanged = after.clone();
    unchanged["spec"]["template"]["spec"]["imagePullSecrets"] =
        before["spec"]["template"]["spec"]["imagePullSecrets"].clone();
    assert_eq!(unchanged["spec"], before["spec"], "nothing but the list changed");
    assert_eq!(after["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm", "still Fluid's");
    let master = fake.get(Kind::StatefulSet, "data", "rt0-master").unwrap();
    assert_eq!(names(&master["spec"]["template"]["spec"]["imagePullSecrets"]), ["master-secret"], "not rotated");
    for pod in ["rt0-worker-0", "rt0-fuse-node-0", "rt0-fuse-node-1"] {
        let p = fake.get(Kind::Pod, "data", pod).unwrap();
        assert_eq!(names(&p["spec"]["imagePullSecrets"]), ["global-secret-v2"], "{pod}");
    }
    assert!(fake.get(Kind::Secret, "data", "global-secret-v1").is_none(), "the old version is pruned");
    let patches = fake.requests().iter().filter(|r| r.verb == "patch").count();
    assert_eq!(patches, 2, "worker and fuse lists, once each");

    // Someone else changes a list fluidform keeps: drift says so, a refreshing plan puts it back.
    let mut w = fake.get(Kind::StatefulSet, "data", "rt0-worker").unwrap();
    w["spec"]["template"]["spec"]["imagePullSecrets"] = json!([{"name": "someone-else"}]);
    fake.put(w);
    crate::engine::drift::drift_pass(&h.ctx).await.unwrap();
    let sync = h.ctx.store.get_sync("data", "rt0").await.unwrap().unwrap();
    assert_eq!(sync.drift.len(), 1, "{:?}", sync.drift);
    assert_eq!(
        (sync.drift[0]["kind"].as_str(), sync.drift[0]["path"].as_str()),
        (Some("StatefulSet"), Some("spec.template.spec.imagePullSecrets"))
    );
    let (p, _) = h.converge(json!({"all": true, "refresh": true})).await;
    assert_eq!(p.objects.len(), 1, "{:?}", p.objects);
    assert_eq!(p.objects[0].patch.as_deref(), Some("imagePullSecrets"));
    let w = fake.get(Kind::StatefulSet, "data", "rt0-worker").unwrap();
    assert_eq!(names(&w["spec"]["template"]["spec"]["imagePullSecrets"]), ["global-secret-v2"]);
}

/// A never-applied runtime of a Fluid cluster read back from its kept rendering plans the
/// same as rendered: its credential Secrets, kept by name, are rendered again alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fluid_clusters_kept_renderings_read_back_to_the_same_plan() {
    let h = Harness::new().await;
    h.fake("f1").install_fluid();
    h.cluster("f1", json!({"mode": "auto", "defaultImagePullSecrets": ["org-pull"]})).await;
    h.credential("global-secret", "v1").await;
    h.credential("other-secret", "v1").await;
    h.runtime("f1", "data", runtime("rt0", &["global-secret"])).await;
    h.converge(json!({"all": true, "refresh": true})).await;
    h.runtime("f1", "data", runtime("new0", &["global-secret", "other-secret"])).await;
    h.runtime("f1", "data", runtime("new1", &["other-secret"])).await;
    h.runtime("f1", "data", runtime("new2", &["other-secret"])).await;
    let rows = |plan: &str| {
        let (h, plan) = (&h, plan.to_string());
        async move {
            let filter = crate::store::plans::PlanObjectFilter::default();
            let rows = h.ctx.store.plan_objects(&plan, &filter, -1, 1_000).await.unwrap();
            rows.into_iter().map(|r| (r.kind, r.name, r.action, r.digest)).collect::<Vec<_>>()
        }
    };
    let first = h.plan(json!({"all": true})).await;
    let creates: Vec<(String, String)> =
        rows(&first.id).await.into_iter().filter(|r| r.2 == "create").map(|r| (r.0, r.1)).collect();
    assert!(creates.contains(&("Secret".into(), "other-secret-v1".into())), "{creates:?}");
    assert_eq!(creates.iter().filter(|c| c.0 == "AlluxioRuntime").count(), 3, "{creates:?}");
    h.ctx.renders.clear();
    let second = h.plan(json!({"all": true})).await;
    assert_eq!(h.ctx.renders.len(), 3, "every new runtime read back from the database");
    assert_eq!(rows(&first.id).await, rows(&second.id).await);
    assert_eq!(first.summary.by_kind, second.summary.by_kind);
    let (p, run) = h.converge(json!({"all": true})).await;
    assert_eq!(p.summary.by_kind, second.summary.by_kind, "planned from what was read back");
    assert_eq!(run.status, crate::domain::states::RunStatus::Succeeded, "{:?}", run.error);
}
