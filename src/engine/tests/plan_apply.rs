//! Plans and runs against the fake: waves, the in-flight cap, failures that stop later
//! waves, a crash between recording and sending, plan paging, and no-op costing nothing.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::{Harness, runtime};
use crate::domain::kinds::Kind;
use crate::domain::states::{ObjectStatus, RunStatus};
use crate::engine::MAX_WRITES_IN_FLIGHT;
use crate::engine::drift::drift_pass;
use crate::engine::plan::{Action, PlanObjectQuery, plan_objects};
use crate::engine::port::ClusterError;
use crate::engine::runner::apply_plan;

async fn fleet(h: &Harness, cluster: &str, n: usize) {
    h.cluster(cluster, json!({})).await;
    for i in 0..n {
        h.runtime(cluster, "fleet", runtime(&format!("rt{i:02}"), &["global-secret"])).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_goes_in_waves_with_a_bounded_number_in_flight() {
    let h = Harness::new().await;
    h.credential("global-secret", "p1").await;
    fleet(&h, "c1", 40).await;
    let (p, run) = h.converge(json!({"all": true, "createNamespaces": true})).await;
    // 1 Secret + 40 × (ConfigMap, Service, 2 StatefulSets, DaemonSet).
    assert_eq!(p.summary.create, 1 + 40 * 5);
    assert_eq!(run.counts.get(&ObjectStatus::Applied), Some(&201));
    let fake = h.fake("c1");
    let max = fake.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=16).contains(&max), "at most the default 16 in flight, and more than one: {max}");
    let applies: Vec<Kind> = fake.requests().iter().filter(|r| r.verb == "apply").map(|r| r.kind).collect();
    let waves: Vec<u8> = applies.iter().map(|k| k.wave()).collect();
    assert!(waves.windows(2).all(|w| w[0] <= w[1]), "every wave finishes before the next starts: {applies:?}");
    assert_eq!(applies[0], Kind::Secret, "credential Secrets before anything that pulls with them");
    assert_eq!(fake.count("create"), 1, "the namespace, created once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_setting_bounds_one_run_and_the_server_cap_bounds_all_of_them() {
    let h = Harness::new().await;
    h.cluster("c1", json!({"applyConcurrency": 64})).await;
    for i in 0..60 {
        let ns = if i < 30 { "a" } else { "b" };
        h.runtime("c1", ns, runtime(&format!("rt{i:02}"), &[])).await;
    }
    // Two runs at once on one API server, each allowed 64 in flight.
    let pa = h.plan(json!({"all": true, "labelSelector": "team=data", "runtimes": (0..30).map(|i| format!("a/rt{i:02}")).collect::<Vec<_>>()})).await;
    let pb =
        h.plan(json!({"all": true, "runtimes": (30..60).map(|i| format!("b/rt{i:02}")).collect::<Vec<_>>()})).await;
    let ra = apply_plan(&h.ctx, &pa.id, "test").await.unwrap();
    let rb = apply_plan(&h.ctx, &pb.id, "test").await.unwrap();
    let (ra, rb) = (h.wait_run(&ra.id).await, h.wait_run(&rb.id).await);
    assert_eq!((ra.status, rb.status), (RunStatus::Succeeded, RunStatus::Succeeded));
    let max = h.fake("c1").max_in_flight.load(Ordering::SeqCst);
    assert!(max <= MAX_WRITES_IN_FLIGHT, "never more than {MAX_WRITES_IN_FLIGHT} writes in flight per server: {max}");
    assert!(max > 16, "a cluster may allow more than the default: {max}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_stops_the_later_waves_and_records_what_was_sent() {
    let h = Harness::new().await;
    fleet(&h, "c1", 3).await;
    h.credential("global-secret", "p1").await;
    // Runtimes written before the credential existed bind it now.
    for i in 0..3 {
        h.runtime("c1", "fleet", runtime(&format!("rt{i:02}"), &["global-secret", "x"])).await;
    }
    let fake = h.fake("c1");
    fake.fail_when(|r| {
        (r.verb == "apply" && r.kind == Kind::Service && r.name == "rt01-master-0").then(|| ClusterError::Api {
            status: 422,
            reason: "Invalid".into(),
            message: "spec.ports: Invalid value".into(),
        })
    });
    let p = h.plan(json!({"all": true})).await;
    let run = h.apply(&p).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.as_deref().unwrap().contains("Service fleet/rt01-master-0"), "{:?}", run.error);
    let workloads = fake.requests().iter().filter(|r| r.verb == "apply" && r.kind.is_workload()).count();
    assert_eq!(workloads, 0, "no workload is sent once an earlier wave failed");
    let objects = h.ctx.store.run_objects(&run.id, None, -1, 1000).await.unwrap();
    let status_of = |kind: &str, name: &str| objects.iter().find(|o| o.kind == kind && o.name == name).unwrap().status;
    assert_eq!(status_of("Secret", "global-secret-v1"), ObjectStatus::Applied);
    assert_eq!(status_of("Service", "rt01-master-0"), ObjectStatus::Failed);
    assert_eq!(status_of("StatefulSet", "rt00-master"), ObjectStatus::Skipped);
    // What was applied is recorded: the next plan only creates the rest.
    fake.heal();
    let next = h.plan(json!({"all": true})).await;
    let applied = objects.iter().filter(|o| o.status == ObjectStatus::Applied).count();
    assert_eq!(next.summary.create, objects.len() - applied, "{:?}", next.summary);
    assert_eq!(h.apply(&next).await.status, RunStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_recording_and_sending_leaves_a_run_marked_not_half_recorded() {
    let mut h = Harness::new().await;
    fleet(&h, "c1", 4).await;
    let fake = h.fake("c1");
    // Workloads never get an answer: the process "dies" with them in flight.
    fake.hold_when(|r| r.verb == "apply" && r.kind.is_workload());
    let p = h.plan(json!({"all": true})).await;
    let run = apply_plan(&h.ctx, &p.id, "test").await.unwrap();
    let id = run.id.clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let applying = h.ctx.store.run_objects(&id, Some(ObjectStatus::Applying), -1, 100).await.unwrap();
        if applying.iter().any(|o| o.kind == "StatefulSet") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    h.restart().await;
    let after = h.ctx.store.get_run(&id).await.unwrap();
    assert_eq!(after.status, RunStatus::Failed);
    let objects = h.ctx.store.run_objects(&id, None, -1, 1000).await.unwrap();
    for o in &objects {
        let want = if o.kind == "StatefulSet" || o.kind == "DaemonSet" {
            ObjectStatus::Unknown // recorded as being sent, never confirmed
        } else {
            ObjectStatus::Applied
        };
        assert_eq!(o.status, want, "{} {}", o.kind, o.name);
    }
    fake.heal();
    let next = h.plan(json!({"all": true})).await;
    assert_eq!(next.summary.create, 12, "the unconfirmed workloads are planned again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_page_their_objects_and_an_unchanged_fleet_costs_nothing() {
    let h = Harness::new().await;
    h.credential("global-secret", "p1").await;
    fleet(&h, "c1", 30).await;
    let p = h.plan(json!({"all": true})).await;
    assert_eq!(p.summary.create, 151);
    assert_eq!(p.summary.by_kind["StatefulSet"].create, 60);
    assert_eq!(p.summary.by_cluster["c1"].create, 151);
    assert_eq!(p.inputs.runtimes, 30);
    assert!(!p.objects.is_empty() && p.objects.len() <= 100, "the plan's own answer carries the first page");
    let bytes = serde_json::to_vec(&p).unwrap().len();
    assert!(bytes <= 64 * 1024, "and stays small: {bytes} bytes");
    let q = PlanObjectQuery { kind: Some("StatefulSet".into()), limit: 5, ..Default::default() };
    let sts = plan_objects(&h.ctx, &p.id, &q).await.unwrap();
    assert_eq!(sts.items.len(), 5);
    assert!(sts.items[0].diff[0].after["spec"]["template"].is_object(), "a create shows the object rendered");
    let mut seen = p.objects.len();
    let mut cursor = p.next.clone();
    while let Some(c) = cursor {
        let q = PlanObjectQuery { cursor: Some(c), limit: 20, ..Default::default() };
        let page = plan_objects(&h.ctx, &p.id, &q).await.unwrap();
        seen += page.items.len();
        cursor = page.next;
    }
    assert_eq!(seen, 151);
    let q = PlanObjectQuery { kind: Some("DaemonSet".into()), limit: 100, ..Default::default() };
    assert_eq!(plan_objects(&h.ctx, &p.id, &q).await.unwrap().items.len(), 30);
    h.apply(&p).await;

    let fake = h.fake("c1");
    let writes = fake.count("apply");
    let again = h.plan(json!({"all": true})).await;
    assert_eq!((again.summary.changes(), again.summary.no_op), (0, 151));
    assert!(again.objects.is_empty());
    let q = PlanObjectQuery { action: Some(Action::NoOp), limit: 500, ..Default::default() };
    assert_eq!(plan_objects(&h.ctx, &again.id, &q).await.unwrap().items.len(), 151, "no-ops are listed when asked for");
    // The first plan's creates (stored packed) are applied now, by its own run: still
    // changes of that plan, not no-ops.
    assert_eq!(
        plan_objects(&h.ctx, &p.id, &q).await.unwrap().items.len(),
        0,
        "what a plan's run applied is its change"
    );
    let run = h.apply(&again).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(fake.count("apply"), writes, "no write for an unchanged fleet");
    assert_eq!(fake.requests().len(), writes, "and no read either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_on_the_fake_is_reported_and_refreshed_plans_put_it_back() {
    let h = Harness::new().await;
    fleet(&h, "c1", 2).await;
    h.converge(json!({"all": true})).await;
    let fake = h.fake("c1");
    let mut sts = fake.get(Kind::StatefulSet, "fleet", "rt00-worker").unwrap();
    sts["spec"]["replicas"] = json!(4);
    fake.put(sts);
    drift_pass(&h.ctx).await.unwrap();
    let sync = h.ctx.store.get_sync("fleet", "rt00").await.unwrap().unwrap();
    assert_eq!(sync.drift.len(), 1, "{:?}", sync.drift);
    assert_eq!(sync.drift[0]["path"], "spec.replicas");
    let p = h.plan(json!({"runtimes": ["fleet/rt00"], "refresh": true})).await;
    assert_eq!((p.summary.update, p.summary.create), (1, 0), "{:?}", p.summary);
    assert_eq!(p.objects[0].diff[0].path, "spec.replicas");
    h.apply(&p).await;
    assert_eq!(fake.get(Kind::StatefulSet, "fleet", "rt00-worker").unwrap()["spec"]["replicas"], 1);
}

/// Waits until `n` writes wait in the fake's pause.
async fn until_paused(fake: &crate::engine::fake::FakeCluster, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if fake.paused.load(Ordering::SeqCst) >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("never {n} writes paused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_loses_a_lock_stops_before_its_next_wave() {
    let h = Harness::new().await;
    fleet(&h, "c1", 3).await;
    let fake = h.fake("c1");
    // The run is caught in its ConfigMap wave; meanwhile an operator force-unlocks one of
    // its runtimes and another holder takes it.
    fake.pause_when(|r| r.verb == "apply" && r.kind == Kind::ConfigMap);
    let p = h.plan(json!({"all": true})).await;
    let run = apply_plan(&h.ctx, &p.id, "test").await.unwrap();
    until_paused(&fake, 1).await;
    let lock = crate::engine::lock_id("fleet", "rt01");
    h.ctx.store.delete_lock(&lock).await.unwrap();
    assert!(h.ctx.store.try_lease(&lock, "someone-else", chrono::Duration::seconds(60)).await.unwrap().is_some());
    fake.resume();
    let run = h.wait_run(&run.id).await;
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.unwrap();
    assert!(error.contains("holds 2 of its 3 runtime locks"), "{error}");
    let workloads = fake.requests().iter().filter(|r| r.verb == "apply" && r.kind.is_workload()).count();
    assert_eq!(workloads, 0, "nothing of the next wave is sent once the run is fenced");
    let objects = h.ctx.store.run_objects(&run.id, None, -1, 1000).await.unwrap();
    assert!(objects.iter().filter(|o| o.kind == "ConfigMap").all(|o| o.status == ObjectStatus::Applied));
    assert!(objects.iter().filter(|o| o.kind == "StatefulSet").all(|o| o.status == ObjectStatus::Skipped));
    let locks = h.ctx.store.list_locks().await.unwrap();
    assert_eq!(locks.len(), 1, "the run released its own locks and left the taken one: {locks:?}");
    assert_eq!(locks[0].holder, "someone-else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_is_not_revived_by_a_late_renewal() {
    let h = Harness::new().await;
    fleet(&h, "c1", 2).await;
    let fake = h.fake("c1");
    fake.pause_when(|r| r.verb == "apply" && r.kind == Kind::Service);
    let p = h.plan(json!({"all": true})).await;
    let run = apply_plan(&h.ctx, &p.id, "test").await.unwrap();
    until_paused(&fake, 1).await;
    assert_eq!(h.ctx.store.live_locks(&run.id).await.unwrap(), 2);
    // The lease lapses (the process stalled past it): renewing finds nothing to renew.
    assert_eq!(h.ctx.store.renew_locks(&run.id, chrono::Duration::seconds(-1)).await.unwrap(), 2);
    assert_eq!(h.ctx.store.renew_locks(&run.id, chrono::Duration::seconds(60)).await.unwrap(), 0);
    fake.resume();
    let run = h.wait_run(&run.id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.as_deref().unwrap().contains("holds 0 of its 2 runtime locks"), "{:?}", run.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_daemon_starts_no_run_and_stops_the_current_one_between_waves() {
    let mut h = Harness::new().await;
    fleet(&h, "c1", 2).await;
    let fake = h.fake("c1");
    fake.pause_when(|r| r.verb == "apply" && r.kind == Kind::ConfigMap);
    let p = h.plan(json!({"all": true})).await;
    let run = apply_plan(&h.ctx, &p.id, "test").await.unwrap();
    until_paused(&fake, 1).await;
    h.ctx.drain.start();
    let other = h.plan(json!({"runtimes": ["fleet/rt00"]})).await;
    let refused = apply_plan(&h.ctx, &other.id, "test").await.unwrap_err();
    assert!(matches!(refused, crate::engine::plan::PlanError::ShuttingDown), "{refused}");
    let drained = {
        let ctx = h.ctx.clone();
        tokio::spawn(async move { ctx.drain.wait(std::time::Duration::from_secs(10)).await })
    };
    fake.resume();
    assert_eq!(drained.await.unwrap(), 0, "the run ends at the wave boundary and the drain sees it");
    let run = h.ctx.store.get_run(&run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.unwrap();
    assert!(error.starts_with(crate::store::runs::INTERRUPTED), "worded so a rotation runs it again: {error}");
    assert!(h.ctx.store.list_locks().await.unwrap().is_empty(), "its locks are released");
    let workloads = fake.requests().iter().filter(|r| r.verb == "apply" && r.kind.is_workload()).count();
    assert_eq!(workloads, 0);
    // The next process applies what is left.
    h.restart().await;
    let next = h.plan(json!({"all": true})).await;
    assert_eq!(h.apply(&next).await.status, RunStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_marks_only_this_replicas_runs_and_a_dead_peers() {
    let mut h = Harness::new().await;
    fleet(&h, "c1", 2).await;
    let fake = h.fake("c1");
    // A live peer is in the middle of a run when this replica restarts.
    fake.pause_when(|r| r.verb == "apply" && r.kind == Kind::ConfigMap);
    let peer = h.peer("peer").await;
    let p = h.plan(json!({"runtimes": ["fleet/rt00"]})).await;
    let peers_run = apply_plan(&peer, &p.id, "test").await.unwrap();
    until_paused(&fake, 1).await;
    // And a dead peer left one behind whose locks lapsed.
    let q = h.plan(json!({"runtimes": ["fleet/rt01"]})).await;
    let dead = h.peer("dead").await;
    let dead_run = apply_plan(&dead, &q.id, "test").await.unwrap();
    until_paused(&fake, 2).await;
    h.ctx.store.renew_locks(&dead_run.id, chrono::Duration::seconds(-1)).await.unwrap();

    h.restart().await;
    assert_eq!(
        h.ctx.store.get_run(&peers_run.id).await.unwrap().status,
        RunStatus::Running,
        "a live peer's run is its own"
    );
    let dead_after = h.ctx.store.get_run(&dead_run.id).await.unwrap();
    assert_eq!(dead_after.status, RunStatus::Failed, "a run whose holder lost every lock is marked");
    fake.resume();
    assert_eq!(h.wait_run(&peers_run.id).await.status, RunStatus::Succeeded, "the peer finishes its run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_fluidform_does_not_own_is_a_conflict_until_the_plan_adopts_it() {
    let h = Harness::new().await;
    h.credential("global-secret", "p1").await;
    fleet(&h, "c1", 2).await;
    let fake = h.fake("c1");
    // Someone else's ConfigMap and Secret under the names fluidform renders.
    fake.put(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "rt01-config", "namespace": "fleet", "labels": {"app": "theirs"}}, "data": {"k": "v"}}));
    fake.put(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "global-secret-v1", "namespace": "fleet"}, "data": {}}));
    let p = h.plan(json!({"all": true, "refresh": true})).await;
    assert_eq!(p.summary.conflict, 2, "{:?}", p.summary);
    let conflicts = plan_objects(
        &h.ctx,
        &p.id,
        &PlanObjectQuery { action: Some(Action::Conflict), limit: 100, ..Default::default() },
    )
    .await
    .unwrap();
    let mut names: Vec<String> = conflicts.items.iter().map(|o| format!("{} {}", o.kind, o.name)).collect();
    names.sort();
    assert_eq!(names, ["ConfigMap rt01-config", "Secret global-secret-v1"]);
    assert!(conflicts.items.iter().all(|o| o.reasons == [crate::engine::plan::Reason::NotOwned]));
    let refused = apply_plan(&h.ctx, &p.id, "test").await.unwrap_err();
    assert!(matches!(refused, crate::engine::plan::PlanError::Conflicts { count: 2, .. }), "{refused}");
    assert!(refused.to_string().contains("ConfigMap fleet/rt01-config"), "{refused}");
    assert_eq!(fake.count("apply"), 0, "a refused plan sends nothing");
    assert_eq!(fake.get(Kind::ConfigMap, "fleet", "rt01-config").unwrap()["data"]["k"], "v");

    let adopting = h.plan(json!({"all": true, "refresh": true, "adopt": true})).await;
    assert_eq!(adopting.summary.conflict, 0);
    let run = h.apply(&adopting).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let cm = fake.get(Kind::ConfigMap, "fleet", "rt01-config").unwrap();
    assert_eq!(cm["metadata"]["labels"][crate::domain::render::MANAGED_BY_LABEL], crate::domain::render::MANAGED_BY);
    let again = h.plan(json!({"all": true, "refresh": true})).await;
    assert_eq!((again.summary.conflict, again.summary.changes()), (0, 0), "adopted objects are fluidform's now");
}

/// A plan's runtimes as stored: name, spec hash, how many bindings.
async fn planned_runtimes(h: &Harness, plan: &str) -> Vec<(String, String, usize)> {
    let rows = h.ctx.store.plan_runtimes(plan).await.unwrap();
    rows.into_iter().map(|r| (r.name, r.spec_hash, r.bindings.len())).collect()
}

/// A plan's objects as stored: what a run sends them by.
async fn stored(h: &Harness, plan: &str) -> Vec<(String, String, String, Option<String>)> {
    let filter = crate::store::plans::PlanObjectFilter::default();
    let rows = h.ctx.store.plan_objects(plan, &filter, -1, 10_000).await.unwrap();
    rows.into_iter().map(|r| (r.kind, r.name, r.action, r.digest)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_applied_fleet_plans_again_from_its_renderings_until_an_input_moves() {
    let h = Harness::new().await;
    h.credential("global-secret", "p1").await;
    fleet(&h, "c1", 3).await;
    let first = h.plan(json!({"all": true})).await;
    assert_eq!(h.ctx.renders.len(), 3, "each never-applied runtime's rendering is kept");
    let second = h.plan(json!({"all": true})).await;
    assert_eq!(stored(&h, &first.id).await, stored(&h, &second.id).await, "the same rows, digests and order");
    assert_eq!(first.summary.by_kind, second.summary.by_kind);
    assert_eq!(planned_runtimes(&h, &first.id).await, planned_runtimes(&h, &second.id).await);

    // A new generation is a new rendering: rt01's workloads carry two replicas now.
    let mut changed = runtime("rt01", &["global-secret"]);
    changed["spec"]["replicas"] = json!(2);
    h.runtime("c1", "fleet", changed).await;
    let third = h.plan(json!({"all": true})).await;
    assert_eq!(h.ctx.renders.len(), 3, "rt01's new rendering took the place of its old one");
    let (before, after) = (stored(&h, &second.id).await, stored(&h, &third.id).await);
    let digest = |rows: &[(String, String, String, Option<String>)], name: &str| {
        rows.iter().find(|r| r.0 == "StatefulSet" && r.1 == name).and_then(|r| r.3.clone()).unwrap()
    };
    assert_ne!(digest(&before, "rt01-worker"), digest(&after, "rt01-worker"));
    assert_eq!(digest(&before, "rt00-worker"), digest(&after, "rt00-worker"));
    let run = h.apply(&third).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(h.fake("c1").get(Kind::StatefulSet, "fleet", "rt01-worker").unwrap()["spec"]["replicas"], 2);
}

/// The kept rendering of every runtime in the database, by runtime name.
async fn kept(h: &Harness, names: &[&str]) -> std::collections::BTreeMap<String, crate::store::renderings::Rendering> {
    let mut ids = std::collections::HashMap::new();
    for n in names {
        ids.insert(h.ctx.store.get_runtime("fleet", n).await.unwrap().id, n.to_string());
    }
    let rows = h.ctx.store.renderings(&ids.keys().copied().collect::<Vec<_>>()).await.unwrap();
    rows.into_values().map(|r| (ids[&r.runtime_id].clone(), r)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_process_plans_a_never_applied_fleet_from_the_renderings_kept_in_the_database() {
    let h = Harness::new().await;
    h.credential("global-secret", "p1").await;
    fleet(&h, "c1", 3).await;
    let first = h.plan(json!({"all": true})).await;
    let rows = kept(&h, &["rt00", "rt01", "rt02"]).await;
    assert_eq!(rows.len(), 3, "each never-applied runtime's rendering is kept: {rows:?}");
    assert!(rows.values().all(|r| r.inputs.starts_with(crate::engine::plan::memo::BUILD)), "{rows:?}");
    assert!(!rows.values().any(|r| r.memo.contains("dockerconfigjson") || r.memo.contains("p1")), "{rows:?}");

    // A new process remembers nothing: it reads what was kept, and plans the same.
    h.ctx.renders.clear();
    let second = h.plan(json!({"all": true})).await;
    assert_eq!(h.ctx.renders.len(), 3, "read back into memory");
    assert_eq!(stored(&h, &first.id).await, stored(&h, &second.id).await, "the same rows, digests and order");
    assert_eq!(first.summary.by_kind, second.summary.by_kind);
    assert_eq!(planned_runtimes(&h, &first.id).await, planned_runtimes(&h, &second.id).await);

    // What is read back is what the plan uses: a kept digest altered shows in the plan, and
    // the run, rendering again, refuses it and forgets what was kept.
    let mut row = rows["rt00"].clone();
    let worker = stored(&h, &first.id).await.into_iter().find(|r| r.1 == "rt00-worker").unwrap().3.unwrap();
    assert!(row.memo.contains(&worker), "{}", row.memo);
    row.memo = row.memo.replace(&worker, &"0".repeat(64));
    h.ctx.store.put_renderings(&[row]).await.unwrap();
    h.ctx.renders.clear();
    let altered = h.plan(json!({"all": true})).await;
    let digest = stored(&h, &altered.id).await.into_iter().find(|r| r.1 == "rt00-worker").unwrap().3.unwrap();
    assert_eq!(digest, "0".repeat(64));
    let run = h.apply(&altered).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.as_deref().unwrap().contains("rt00-worker would not be sent as planned"), "{:?}", run.error);
    assert_eq!(h.fake("c1").count("apply"), 0, "nothing reached the cluster");
    assert!(kept(&h, &["rt00", "rt01", "rt02"]).await.is_empty(), "the plan's kept renderings are forgotten");
    assert!(h.ctx.renders.is_empty());
    let fresh = h.plan(json!({"all": true})).await;
    assert_eq!(stored(&h, &first.id).await, stored(&h, &fresh.id).await, "rendered again");
    let run = h.apply(&fresh).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);

    // A kept rendering whose inputs moved is not read: rt00's new generation renders again.
    h.ctx.renders.clear();
    let mut changed = runtime("rt03", &["global-secret"]);
    h.runtime("c1", "fleet", changed.clone()).await;
    h.plan(json!({"all": true})).await;
    let before = kept(&h, &["rt03"]).await["rt03"].clone();
    changed["spec"]["replicas"] = json!(2);
    h.runtime("c1", "fleet", changed).await;
    h.ctx.renders.clear();
    let p = h.plan(json!({"all": true})).await;
    let after = kept(&h, &["rt03"]).await["rt03"].clone();
    assert_ne!(before.inputs, after.inputs, "written over with the new inputs");
    assert_ne!(before.memo, after.memo);
    let run = h.apply(&p).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(h.fake("c1").get(Kind::StatefulSet, "fleet", "rt03-worker").unwrap()["spec"]["replicas"], 2);

    // A runtime deleted takes its kept rendering with it.
    let rt04 = runtime("rt04", &["global-secret"]);
    h.runtime("c1", "fleet", rt04).await;
    h.plan(json!({"all": true})).await;
    let id = h.ctx.store.get_runtime("fleet", "rt04").await.unwrap().id;
    assert_eq!(h.ctx.store.renderings(&[id]).await.unwrap().len(), 1);
    h.ctx.store.delete_runtime("fleet", "rt04", None).await.unwrap();
    assert!(h.ctx.store.renderings(&[id]).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtimes_written_are_rendered_ahead_of_their_first_plan_as_the_plan_would() {
    let h = Harness::new().await;
    h.credential("global-secret", "p1").await;
    fleet(&h, "c1", 3).await;
    // What a plan keeps is what rendering ahead keeps: the same text for each runtime.
    let planned = h.plan(json!({"all": true})).await;
    let by_plan = kept(&h, &["rt00", "rt01", "rt02"]).await;
    h.ctx.store.forget_renderings(&by_plan.values().map(|r| r.runtime_id).collect::<Vec<_>>()).await.unwrap();
    h.ctx.renders.clear();
    let ids: Vec<i64> = by_plan.values().map(|r| r.runtime_id).collect();
    assert_eq!(crate::engine::plan::warm::warm(&h.ctx, &ids).await.unwrap(), 3);
    assert_eq!(kept(&h, &["rt00", "rt01", "rt02"]).await, by_plan);
    assert_eq!(h.ctx.renders.len(), 3);
    assert_eq!(crate::engine::plan::warm::warm(&h.ctx, &ids).await.unwrap(), 0, "remembered already");
    // The first plan after reads it, in this process and in a restarted one.
    let first = h.plan(json!({"all": true})).await;
    assert_eq!(stored(&h, &planned.id).await, stored(&h, &first.id).await);
    h.ctx.renders.clear();
    let restarted = h.plan(json!({"all": true})).await;
    assert_eq!(stored(&h, &planned.id).await, stored(&h, &restarted.id).await);

    // Applied runtimes are not rendered ahead (their plans read nothing kept).
    let run = h.apply(&restarted).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let mut changed = runtime("rt01", &["global-secret"]);
    changed["spec"]["replicas"] = json!(2);
    h.runtime("c1", "fleet", changed).await;
    assert_eq!(crate::engine::plan::warm::warm(&h.ctx, &ids).await.unwrap(), 0);

    // Written runtimes are taken from the queue in the background.
    let task = crate::engine::plan::warm::spawn_warmer(&h.ctx);
    for i in 10..14 {
        let id = h.runtime("c1", "fleet", runtime(&format!("rt{i}"), &["global-secret"])).await;
        h.ctx.warm.want(id);
    }
    let names = ["rt10", "rt11", "rt12", "rt13"];
    let mut waited = 0;
    while kept(&h, &names).await.len() < 4 {
        assert!(waited < 100, "rendered within 5 s: {:?}", kept(&h, &names).await.keys().collect::<Vec<_>>());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_remembered_rendering_is_refused_by_the_run_before_anything_is_sent() {
    let h = Harness::new().await;
    h.credential("global-secret", "p1").await;
    fleet(&h, "c1", 1).await;
    h.plan(json!({"all": true})).await;
    // Corrupt what the memo holds for rt00's worker, as a missed input would.
    let rec = h.ctx.store.get_runtime("fleet", "rt00").await.unwrap();
    let cluster = h.ctx.store.get_cluster("c1").await.unwrap();
    let inputs = crate::engine::plan::memo::RenderInputs {
        runtime_id: rec.id,
        generation: rec.generation,
        layer_revision: rec.layer_revision,
        deps_revision: rec.deps_revision,
        renderer: crate::service::runtimes::renderer(cluster.effective_mode().unwrap()),
        cluster: "c1".into(),
    };
    let key = crate::engine::plan::memo::MemoKey { inputs, cluster_generation: cluster.generation };
    let mut memo = (*h.ctx.renders.get(&key).expect("remembered")).clone();
    memo.objects.iter_mut().find(|o| o.1 == "rt00-worker").unwrap().2 = [0; 32];
    h.ctx.renders.put(key, memo);
    let plan = h.plan(json!({"all": true})).await;
    let run = h.apply(&plan).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.as_deref().unwrap().contains("rt00-worker would not be sent as planned"), "{:?}", run.error);
    assert_eq!(h.fake("c1").count("apply"), 0, "nothing reached the cluster");
}
