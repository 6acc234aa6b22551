//! Rotations against the fake, step by step: batches in order with every pod moved, a
//! restart of the process between any two steps, the gate written with the batch, health
//! judged only on what the batch changes, a visible reason while waiting, a fresh deadline
//! on resume, and one rotation's trouble never stopping another.

use serde_json::{Value, json};

use super::{Harness, runtime};
use crate::domain::kinds::Kind;
use crate::domain::states::{BatchState, RotationState};
use crate::engine::rotation::{RotationRequest, drive_once, rotation_command, start_rotation};
use crate::store::rotations::RotationRecord;

async fn fleet(h: &Harness, n: usize) {
    fleet_of(h, (0..n).map(|i| runtime(&format!("rt{i}"), &["global-secret"])).collect()).await;
}

/// `runtimes` in namespace `fleet` of cluster `c1`, applied with `global-secret` v1, then v2
/// added.
async fn fleet_of(h: &Harness, runtimes: Vec<Value>) {
    h.credential("global-secret", "v1").await;
    h.cluster("c1", json!({})).await;
    for rt in runtimes {
        h.runtime("c1", "fleet", rt).await;
    }
    h.converge(json!({"all": true})).await;
    h.version("global-secret", "v2").await;
}

async fn start(h: &Harness, body: Value) -> String {
    let req: RotationRequest = serde_json::from_value(body).unwrap();
    start_rotation(&h.ctx, req, "test").await.unwrap()
}

/// Drives until `done` or `steps` steps; returns the number of steps taken.
async fn drive_until(h: &Harness, id: &str, steps: usize, done: impl Fn(&RotationRecord) -> bool) -> usize {
    for i in 0..steps {
        let r = h.ctx.store.get_rotation(id).await.unwrap();
        if done(&r) {
            return i;
        }
        drive_once(&h.ctx).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let r = h.ctx.store.get_rotation(id).await.unwrap();
    panic!("rotation stuck in {:?}: {:?}", r.state, r.batches);
}

fn pods_pull_only(h: &Harness, secret: &str) {
    let pods = fake_pods(h);
    assert!(!pods.is_empty());
    for (name, secrets) in pods {
        assert_eq!(secrets, [secret.to_string()], "pod {name}");
    }
}

fn fake_pods(h: &Harness) -> Vec<(String, Vec<String>)> {
    let fake = h.fake("c1");
    let mut out = Vec::new();
    for i in 0..10 {
        for suffix in ["master-0", "worker-0", "fuse-node-0", "fuse-node-1"] {
            if let Some(p) = fake.get(Kind::Pod, "fleet", &format!("rt{i}-{suffix}")) {
                let secrets = p["spec"]["imagePullSecrets"]
                    .as_array()
                    .map(|l| l.iter().map(|s| s["name"].as_str().unwrap().to_string()).collect())
                    .unwrap_or_default();
                out.push((p["metadata"]["name"].as_str().unwrap().to_string(), secrets));
            }
        }
    }
    out
}

async fn events(h: &Harness, id: &str) -> Vec<(String, Option<i64>)> {
    h.ctx.store.rotation_events(id, 0).await.unwrap().into_iter().map(|e| (e.kind, e.batch)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_go_in_order_and_survive_a_restart_between_any_two_steps() {
    let mut h = Harness::new().await;
    fleet(&h, 4).await;
    let id = start(&h, json!({"credential": "global-secret", "batches": [1, "50%", "100%"]})).await;
    let mut steps = 0;
    loop {
        let r = h.ctx.store.get_rotation(&id).await.unwrap();
        if r.state.is_terminal() {
            assert_eq!(r.state, RotationState::Succeeded, "{:?}", r.error);
            break;
        }
        drive_once(&h.ctx).await.unwrap();
        // A run the step started finishes (a crash during a run is another test's), then
        // a new process takes over: nothing in memory carries over between steps.
        let r = h.ctx.store.get_rotation(&id).await.unwrap();
        for b in &r.batches {
            if let Some(run) = &b.run_id
                && h.ctx.store.get_run(run).await.is_ok()
            {
                h.wait_run(run).await;
            }
        }
        h.restart().await;
        steps += 1;
        assert!(steps < 200, "stuck: {:?}", r.batches);
    }
    let kinds: Vec<(String, Option<i64>)> =
        events(&h, &id).await.into_iter().filter(|(k, _)| k == "batch_started" || k == "batch_healthy").collect();
    let expect: Vec<(String, Option<i64>)> =
        (0..3).flat_map(|i| [("batch_started".to_string(), Some(i)), ("batch_healthy".to_string(), Some(i))]).collect();
    assert_eq!(kinds, expect, "each batch once, in order");
    pods_pull_only(&h, "global-secret-v2");
    let fake = h.fake("c1");
    assert!(fake.get(Kind::Secret, "fleet", "global-secret-v1").is_none(), "the old version is pruned");
    let deletes = fake.requests().iter().filter(|r| r.verb == "delete" && r.kind == Kind::Pod).count();
    assert_eq!(deletes, 4 * 4, "every pod deleted exactly once (master, worker, two fuse)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manual_gate_is_written_with_the_batch_and_approve_needs_a_wait() {
    let h = Harness::new().await;
    fleet(&h, 2).await;
    let id = start(&h, json!({"credential": "global-secret", "batches": [1, "100%"], "gate": "manual"})).await;
    let r = h.ctx.store.get_rotation(&id).await.unwrap();
    let e = rotation_command(&h.ctx, &id, "approve", "test").await.unwrap_err();
    assert!(matches!(e, crate::engine::rotation::RotationError::NotWaitingApproval { .. }), "{e}");
    assert_eq!(r.state, RotationState::Running);
    drive_until(&h, &id, 100, |r| r.state == RotationState::WaitingApproval).await;
    let r = h.ctx.store.get_rotation(&id).await.unwrap();
    assert_eq!(
        (r.batches[0].state, r.batches[1].state, r.current_batch),
        (BatchState::Healthy, BatchState::Pending, 1)
    );
    for _ in 0..5 {
        drive_once(&h.ctx).await.unwrap();
    }
    assert_eq!(
        h.ctx.store.get_rotation(&id).await.unwrap().batches[1].state,
        BatchState::Pending,
        "nothing moves before approval"
    );
    rotation_command(&h.ctx, &id, "approve", "test").await.unwrap();
    drive_until(&h, &id, 100, |r| r.state == RotationState::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_at_the_gate_resumes_to_the_gate_and_never_approves() {
    let h = Harness::new().await;
    fleet(&h, 2).await;
    let id = start(&h, json!({"credential": "global-secret", "batches": [1, "100%"], "gate": "manual"})).await;
    drive_until(&h, &id, 100, |r| r.state == RotationState::WaitingApproval).await;
    for round in 0..2 {
        let paused = rotation_command(&h.ctx, &id, "pause", "test").await.unwrap();
        assert_eq!(paused.state, RotationState::Paused, "round {round}");
        let e = rotation_command(&h.ctx, &id, "approve", "test").await.unwrap_err();
        assert!(matches!(e, crate::engine::rotation::RotationError::NotWaitingApproval { .. }), "{e}");
        let resumed = rotation_command(&h.ctx, &id, "resume", "test").await.unwrap();
        assert_eq!(resumed.state, RotationState::WaitingApproval, "round {round}: back at the gate");
        for _ in 0..5 {
            drive_once(&h.ctx).await.unwrap();
        }
        let r = h.ctx.store.get_rotation(&id).await.unwrap();
        assert_eq!(
            (r.state, r.batches[1].state),
            (RotationState::WaitingApproval, BatchState::Pending),
            "round {round}"
        );
    }
    rotation_command(&h.ctx, &id, "approve", "test").await.unwrap();
    // A pause after the approval, before the batch moved anything, keeps the approval.
    rotation_command(&h.ctx, &id, "pause", "test").await.unwrap();
    let resumed = rotation_command(&h.ctx, &id, "resume", "test").await.unwrap();
    assert_eq!(resumed.state, RotationState::Running);
    drive_until(&h, &id, 100, |r| r.state == RotationState::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_judged_on_what_the_batch_changes_and_waiting_says_why() {
    let h = Harness::new().await;
    // Only fuse pulls with the credential; the master pulls with an unmanaged name.
    let mut rt = runtime("rt0", &["global-secret"]);
    rt["spec"]["master"]["imagePullSecrets"] = json!([{"name": "master-secret"}]);
    rt["spec"]["worker"]["imagePullSecrets"] = json!([{"name": "worker-secret"}]);
    fleet_of(&h, vec![rt]).await;
    let fake = h.fake("c1");
    // The master is unhealthy, and the rotation never touches it.
    fake.make_unready("rt0-master");
    let id = start(&h, json!({"credential": "global-secret", "healthTimeout": 30})).await;
    // The fuse replacements will not turn ready for a while: the batch says so.
    fake.keep_unready("rt0-fuse");
    drive_until(&h, &id, 100, |r| !r.batches[0].waiting_for.is_empty()).await;
    let r = h.ctx.store.get_rotation(&id).await.unwrap();
    let w = &r.batches[0].waiting_for;
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].kind, w[0].name.as_str()), (Kind::DaemonSet, "rt0-fuse"));
    assert!(w[0].reason.contains("of 2 updated pods ready") || w[0].reason.contains("old template"), "{}", w[0].reason);
    let waiting = events(&h, &id).await.iter().filter(|(k, _)| k == "batch_waiting").count();
    assert!(waiting >= 1, "waiting is streamed as events");
    fake.ready_again();
    fake.make_unready("rt0-master");
    drive_until(&h, &id, 200, |r| r.state == RotationState::Succeeded).await;
    let r = h.ctx.store.get_rotation(&id).await.unwrap();
    assert_eq!(r.batches[0].targets[0].components, [crate::domain::layers::Component::Fuse]);
    assert!(r.error.is_none());
    let master = fake.get(Kind::Pod, "fleet", "rt0-master-0").unwrap();
    assert_eq!(
        master["status"]["conditions"][0]["status"], "False",
        "the untouched master stayed unhealthy throughout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_workload_blocks_the_start_or_is_skipped() {
    let h = Harness::new().await;
    fleet(&h, 2).await;
    h.fake("c1").make_unready("rt1-worker");
    let req: RotationRequest = serde_json::from_value(json!({"credential": "global-secret"})).unwrap();
    let e = start_rotation(&h.ctx, req, "test").await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("StatefulSet fleet/rt1-worker") && msg.contains("0 of 1 pods ready"), "{msg}");
    assert!(h.ctx.store.active_rotation_of("global-secret").await.unwrap().is_none(), "nothing stored");
    let id = start(&h, json!({"credential": "global-secret", "unhealthyWorkloads": "skip"})).await;
    drive_until(&h, &id, 200, |r| r.state == RotationState::Succeeded).await;
    let r = h.ctx.store.get_rotation(&id).await.unwrap();
    assert_eq!(r.batches[0].skipped.len(), 1);
    assert_eq!(r.batches[0].skipped[0].workload.name, "rt1-worker");
    let worker = h.fake("c1").get(Kind::Pod, "fleet", "rt1-worker-0").unwrap();
    assert_eq!(worker["spec"]["imagePullSecrets"], json!([{"name": "global-secret-v1"}]), "left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_gives_a_fresh_deadline_and_success_clears_the_error() {
    let h = Harness::new().await;
    fleet(&h, 1).await;
    let fake = h.fake("c1");
    let id = start(&h, json!({"credential": "global-secret", "healthTimeout": 1})).await;
    // The master's replacement will not come up.
    fake.keep_unready("rt0-master");
    drive_until(&h, &id, 400, |r| r.state == RotationState::Paused).await;
    let r = h.ctx.store.get_rotation(&id).await.unwrap();
    assert!(r.error.as_deref().unwrap().contains("not healthy within 1s"), "{:?}", r.error);
    assert_eq!(r.batches[0].state, BatchState::Failed);
    fake.ready_again();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let resumed = rotation_command(&h.ctx, &id, "resume", "test").await.unwrap();
    assert!(resumed.batches[0].deadline_at.unwrap() > h.ctx.now(), "a fresh deadline, not the old one");
    drive_until(&h, &id, 400, |r| r.state == RotationState::Succeeded).await;
    let r = h.ctx.store.get_rotation(&id).await.unwrap();
    assert!(r.error.is_none(), "success clears the error: {:?}", r.error);
    assert!(events(&h, &id).await.iter().any(|(k, _)| k == "paused"), "the events keep what happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_refuses_its_credentials_fails_the_batch_within_its_deadline() {
    let h = Harness::new().await;
    fleet(&h, 1).await;
    let id = start(&h, json!({"credential": "global-secret", "healthTimeout": 1})).await;
    h.fake("c1")
        .fail_when(|_| Some(crate::engine::port::ClusterError::Auth { status: 401, message: "Unauthorized".into() }));
    drive_until(&h, &id, 400, |r| r.state == RotationState::Paused).await;
    let r = h.ctx.store.get_rotation(&id).await.unwrap();
    assert!(r.error.as_deref().unwrap().contains("could not apply within 1s"), "{:?}", r.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_waiting_on_its_pods_is_looked_at_less_and_less_until_something_moves() {
    use crate::engine::rotation::driver::{Polls, drive_with};
    let h = Harness::new().await;
    fleet(&h, 1).await;
    let fake = h.fake("c1");
    fake.keep_unready("rt0-master");
    let id = start(&h, json!({"credential": "global-secret", "healthTimeout": 60})).await;
    let mut polls = Polls::default();
    let reads = || fake.requests().iter().filter(|r| r.verb == "rollout").count();
    // Drive at the harness's 10 ms tick until the master's replacement is awaited.
    for _ in 0..400 {
        let r = h.ctx.store.get_rotation(&id).await.unwrap();
        if r.batches[0].state == BatchState::Restarting && fake.get(Kind::Pod, "fleet", "rt0-master-0").is_some() {
            break;
        }
        drive_with(&h.ctx, &mut polls).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before = reads();
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(2500) {
        drive_with(&h.ctx, &mut polls).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let looked = reads() - before;
    // At every tick that would be ~200 looks; doubling waits make it about eight.
    assert!((1..=20).contains(&looked), "{looked} rollout reads in 2.5 s of waiting");
    // Once the pod comes up the rotation goes on (within the longest wait).
    fake.ready_again();
    let started = std::time::Instant::now();
    loop {
        let r = h.ctx.store.get_rotation(&id).await.unwrap();
        if r.state == RotationState::Succeeded {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "stuck: {:?} {:?}", r.state, r.batches);
        drive_with(&h.ctx, &mut polls).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_deleting_pods_one_at_a_time_waits_twice_as_long_each_look_up_to_two_seconds() {
    use crate::engine::rotation::driver::{Polls, drive_with};
    let h = Harness::new().await;
    let mut rt = runtime("rt0", &["global-secret"]);
    rt["spec"]["replicas"] = json!(40);
    fleet_of(&h, vec![rt]).await;
    let fake = h.fake("c1");
    // maxUnavailable 1: every look finds one worker pod to replace (the fake brings each
    // replacement up at once), so no look is idle.
    let id = start(&h, json!({"credential": "global-secret", "healthTimeout": 600, "verify": false})).await;
    let reads = || fake.count("rollout");
    let deletes = || pod_deletes(&fake);
    drive_until_pods_are_deleted(&h, &fake, &id).await;
    // Each look ends a wait made due at once, so what the test sees does not hang on how
    // fast this machine is: the wait each look sets, and that no look comes before it ends.
    // The waits start again from the tick, as after a restart of the driver.
    let mut polls = Polls::default();
    let mut waits = vec![];
    for _ in 0..12 {
        polls.make_due();
        let (before, deleted) = (reads(), deletes());
        drive_with(&h.ctx, &mut polls).await.unwrap();
        assert!(reads() > before, "a due rotation is looked at");
        assert!(deletes() > deleted, "every look deletes a pod: {waits:?}");
        let wait = polls.wait_of(&id).expect("a look that deleted pods waits");
        waits.push(wait.as_millis());
        if wait >= std::time::Duration::from_millis(100) {
            // A tick in the wait reads no cluster and writes nothing: not even the lease.
            let renewed = || async {
                sqlx::query_scalar::<_, String>("SELECT renewed_at FROM locks WHERE id = $1")
                    .bind(format!("rotation-driver:{id}"))
                    .fetch_one(h.ctx.store.reader())
                    .await
                    .unwrap()
            };
            let (before, lease) = (reads(), renewed().await);
            drive_with(&h.ctx, &mut polls).await.unwrap();
            assert_eq!(reads(), before, "looked at before its wait of {wait:?} ended");
            assert_eq!(renewed().await, lease, "the lease renewed in a wait of {wait:?}");
        }
    }
    // From the test's 10 ms tick, doubling, and capped at 2 s (not the idle cap of 4 s).
    assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1280, 2000, 2000, 2000, 2000], "waits in ms");
    assert_eq!(h.ctx.store.get_rotation(&id).await.unwrap().state, RotationState::Running);
}

/// While a batch's pods restart, the looks at them take the rotation's runtime locks once
/// and then leave them be (they hold 120 s and are renewed every 30 s); a restarted process
/// takes them at its first step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looks_at_restarting_pods_renew_the_runtime_locks_once() {
    use crate::engine::rotation::driver::{Polls, drive_with};
    let h = Harness::new().await;
    let mut rt = runtime("rt0", &["global-secret"]);
    rt["spec"]["replicas"] = json!(40);
    fleet_of(&h, vec![rt]).await;
    let fake = h.fake("c1");
    // maxUnavailable 1 over 40 workers: every look replaces one pod, so the batch stays
    // restarting through the looks below.
    let id = start(&h, json!({"credential": "global-secret", "healthTimeout": 600, "verify": false})).await;
    drive_until_pods_are_deleted(&h, &fake, &id).await;
    let renewed = || async {
        sqlx::query_scalar::<_, String>("SELECT renewed_at FROM locks WHERE id = 'runtime:fleet:rt0'")
            .fetch_one(h.ctx.store.reader())
            .await
            .unwrap()
    };
    let mut polls = Polls::default();
    let before = renewed().await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    drive_with(&h.ctx, &mut polls).await.unwrap();
    let first = renewed().await;
    assert!(first > before, "the first step in this process takes the locks: {before} then {first}");
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        polls.make_due();
        let deleted = pod_deletes(&fake);
        drive_with(&h.ctx, &mut polls).await.unwrap();
        assert!(pod_deletes(&fake) > deleted, "each look replaces a pod");
        assert_eq!(renewed().await, first, "a look at pods within 30 s of the last renewal renews nothing");
    }
    let rot = h.ctx.store.get_rotation(&id).await.unwrap();
    assert_eq!(rot.batches[0].state, BatchState::Restarting, "{:?}", rot.batches);
    // A process that has not taken them (a restart, another replica) takes them first.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    drive_with(&h.ctx, &mut Polls::default()).await.unwrap();
    assert!(renewed().await > first, "a restarted driver takes the locks at its first step");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looks_after_a_wait_ask_the_watch_and_a_first_look_lists() {
    use crate::engine::rotation::driver::{Polls, drive_with};
    let h = Harness::new().await;
    let runtimes = ["rt0", "rt1"].map(|name| {
        let mut rt = runtime(name, &["global-secret"]);
        rt["spec"]["replicas"] = json!(6);
        rt
    });
    fleet_of(&h, runtimes.to_vec()).await;
    let fake = h.fake("c1");
    fake.watching.store(true, std::sync::atomic::Ordering::SeqCst);
    let id = start(
        &h,
        json!({"credential": "global-secret", "healthTimeout": 600, "verify": false, "batches": ["50%", "100%"]}),
    )
    .await;
    let deletes = || pod_deletes(&fake);
    drive_until_pods_are_deleted(&h, &fake, &id).await;
    let reads = || (fake.count("rollout"), fake.count("watched"));
    // A process that has not looked at the rotation yet (a restart, a takeover) lists.
    let mut polls = Polls::default();
    let (listed, watched) = reads();
    drive_with(&h.ctx, &mut polls).await.unwrap();
    assert_eq!(reads(), (listed + 1, watched), "a first look lists");
    // Looks after the waits it set ask the watch, and still delete pods.
    for n in 1..=3 {
        let deleted = deletes();
        polls.make_due();
        drive_with(&h.ctx, &mut polls).await.unwrap();
        assert_eq!(reads(), (listed + 1, watched + n), "look {n} after a wait is answered by the watch");
        assert!(deletes() > deleted, "the watched look {n} deletes a pod");
    }
    // To the end: the second batch's health precheck and its first look list again; its
    // other looks ask the watch.
    let started = std::time::Instant::now();
    while h.ctx.store.get_rotation(&id).await.unwrap().state != RotationState::Succeeded {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "stuck");
        polls.make_due();
        drive_with(&h.ctx, &mut polls).await.unwrap();
    }
    let (l, w) = reads();
    assert_eq!(l, listed + 3, "two more lists, for the second batch ({w} watched)");
    assert!(w > watched + 6, "{w} watched looks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_lost_the_driver_lease_writes_nothing() {
    use crate::domain::code::{Coded, ErrorCode};
    use crate::store::locks::fenced;
    let h = Harness::new().await;
    fleet(&h, 2).await;
    let id = start(&h, json!({"credential": "global-secret", "verify": false})).await;
    let lease = format!("rotation-driver:{id}");
    let short = chrono::Duration::milliseconds(200);
    let a = h.ctx.store.try_lease(&lease, "a/1", short).await.unwrap().expect("free");
    assert_eq!(h.ctx.store.try_lease(&lease, "b/1", short).await.unwrap(), None, "a holds it");
    // A renewal keeps the token.
    assert_eq!(h.ctx.store.try_lease(&lease, "a/1", short).await.unwrap().unwrap().token, a.token);
    // A stalls past its lease; B takes the rotation over with a newer token.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let b = h.ctx.store.try_lease(&lease, "b/1", chrono::Duration::seconds(30)).await.unwrap().expect("lapsed");
    assert!(b.token > a.token, "{b:?} after {a:?}");
    let before = events(&h, &id).await;
    let late = fenced(a.clone(), h.ctx.store.add_rotation_event(&id, "late_step", None, &json!({}))).await;
    assert_eq!(late.unwrap_err().code(), ErrorCode::LeaseLost);
    let check = fenced(a, h.ctx.store.check_fence()).await;
    assert_eq!(check.unwrap_err().code(), ErrorCode::LeaseLost, "no side effect either");
    assert_eq!(events(&h, &id).await, before, "the stale replica wrote nothing");
    fenced(b.clone(), h.ctx.store.add_rotation_event(&id, "current_step", None, &json!({}))).await.unwrap();
    assert!(events(&h, &id).await.iter().any(|(k, _)| k == "current_step"));
    let shown = h.ctx.store.list_locks().await.unwrap().into_iter().find(|l| l.id == lease).unwrap();
    assert_eq!((shown.holder.as_str(), shown.token), ("b/1", b.token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_deletion_removes_only_the_pod_it_saw() {
    let h = Harness::new().await;
    fleet(&h, 1).await;
    let fake = h.fake("c1");
    let client = h.ctx.cluster("c1").await.unwrap();
    let pod = fake.get(Kind::Pod, "fleet", "rt0-master-0").expect("pod");
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    // A deletion meant for an earlier pod of that name (its replacement is there now).
    client.delete_pod("fleet", "rt0-master-0", "an-earlier-uid").await.unwrap();
    assert_eq!(fake.get(Kind::Pod, "fleet", "rt0-master-0").unwrap()["metadata"]["uid"], uid.as_str());
    client.delete_pod("fleet", "rt0-master-0", &uid).await.unwrap();
    let now = fake.get(Kind::Pod, "fleet", "rt0-master-0");
    assert!(now.is_none_or(|p| p["metadata"]["uid"] != uid.as_str()), "the pod it saw is gone");
}

/// Runtimes `x` in `a` and `y` in `b` use `global-secret`; a runtime also named `y` in `a`
/// uses another credential, so a LIST across namespaces by release name matches it too.
async fn two_namespaces(h: &Harness) {
    h.credential("global-secret", "v1").await;
    h.credential("other-secret", "v1").await;
    h.cluster("c1", json!({})).await;
    h.runtime("c1", "a", runtime("x", &["global-secret"])).await;
    h.runtime("c1", "b", runtime("y", &["global-secret"])).await;
    h.runtime("c1", "a", runtime("y", &["other-secret"])).await;
    h.converge(json!({"all": true})).await;
    h.version("global-secret", "v2").await;
}

fn targets() -> Vec<crate::domain::rollout::Target> {
    use crate::domain::layers::Component;
    [("a", "x"), ("b", "y")]
        .into_iter()
        .map(|(ns, rt)| crate::domain::rollout::Target {
            cluster: "c1".into(),
            namespace: ns.into(),
            runtime: rt.into(),
            kind: crate::domain::runtime::RuntimeKind::Alluxio,
            fluid: false,
            components: vec![Component::Master, Component::Worker, Component::Fuse],
        })
        .collect()
}

/// The namespaces of the rollout reads so far (`""`: across namespaces).
fn pod_lists(h: &Harness) -> Vec<String> {
    h.fake("c1").requests().into_iter().filter(|r| r.verb == "rollout").map(|r| r.namespace).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_is_read_across_namespaces_in_one_list_and_only_the_targets_are_kept() {
    use crate::engine::rotation::observe::{Read, read_rollouts};
    let h = Harness::new().await;
    two_namespaces(&h).await;
    let before = pod_lists(&h).len();
    let (states, errors) = read_rollouts(&h.ctx, &targets(), Read::Fresh).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(pod_lists(&h)[before..], [String::new()], "one read, across namespaces");
    let keys: Vec<_> = states.keys().cloned().collect();
    assert_eq!(keys, [("c1".to_string(), "a".to_string()), ("c1".to_string(), "b".to_string())]);
    let a = &states[&("c1".to_string(), "a".to_string())];
    assert!(a.workload(Kind::StatefulSet, "x-master").is_some(), "{:?}", a.workloads);
    assert!(a.workload(Kind::StatefulSet, "y-master").is_none(), "y in a is not a target: {:?}", a.workloads);
    assert!(a.pods.iter().all(|p| p.name.starts_with("x-")), "{:?}", a.pods);
    assert!(!a.pods.is_empty());
    let b = &states[&("c1".to_string(), "b".to_string())];
    assert!(b.workload(Kind::StatefulSet, "y-master").is_some(), "{:?}", b.workloads);
    assert!(b.pods.iter().all(|p| p.name.starts_with("y-")) && !b.pods.is_empty(), "{:?}", b.pods);

    // The same runtimes read one namespace at a time give the same states.
    let (alone, _) = read_rollouts(&h.ctx, &targets()[..1], Read::Fresh).await;
    let alone = &alone[&("c1".to_string(), "a".to_string())];
    assert_eq!(alone.workloads, a.workloads);
    assert_eq!(alone.pods, a.pods);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_forbids_listing_across_namespaces_is_read_per_namespace_and_rotates() {
    use crate::engine::rotation::observe::{Read, read_rollouts};
    let h = Harness::new().await;
    two_namespaces(&h).await;
    h.fake("c1").fail_when(|r| {
        // As the kube client reports a 403 (`k8s::from_kube`).
        (r.verb == "rollout" && r.namespace.is_empty()).then(|| crate::engine::port::ClusterError::Auth {
            status: 403,
            message: "pods is forbidden: cannot list resource \"pods\" at the cluster scope".into(),
        })
    });
    let before = pod_lists(&h).len();
    let (states, errors) = read_rollouts(&h.ctx, &targets(), Read::Fresh).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(pod_lists(&h)[before..], ["", "a", "b"], "one refused LIST, then one per namespace");
    let a = &states[&("c1".to_string(), "a".to_string())];
    assert!(a.workload(Kind::StatefulSet, "x-master").is_some() && !a.pods.is_empty());

    // Remembered: the whole rotation reads per namespace and succeeds.
    let mark = pod_lists(&h).len();
    let id = start(&h, json!({"credential": "global-secret", "batches": ["100%"], "healthTimeout": 60})).await;
    drive_until(&h, &id, 400, |r| r.state == RotationState::Succeeded).await;
    let lists = pod_lists(&h)[mark..].to_vec();
    assert!(!lists.is_empty() && lists.iter().all(|ns| ns == "a" || ns == "b"), "{lists:?}");
    let x = h.fake("c1").get(Kind::Pod, "a", "x-master-0").unwrap();
    assert_eq!(x["spec"]["imagePullSecrets"], json!([{"name": "global-secret-v2"}]));
    let y_in_a = h.fake("c1").get(Kind::Pod, "a", "y-master-0").unwrap();
    assert_eq!(y_in_a["spec"]["imagePullSecrets"], json!([{"name": "other-secret-v1"}]), "not a target, not moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_two_namespaces_reads_the_cluster_once_per_step() {
    let h = Harness::new().await;
    two_namespaces(&h).await;
    let mark = pod_lists(&h).len();
    let id = start(&h, json!({"credential": "global-secret", "batches": ["100%"], "healthTimeout": 60})).await;
    drive_until(&h, &id, 400, |r| r.state == RotationState::Succeeded).await;
    let lists = pod_lists(&h)[mark..].to_vec();
    assert!(!lists.is_empty() && lists.iter().all(String::is_empty), "{lists:?}");
    for (ns, rt) in [("a", "x"), ("b", "y")] {
        let p = h.fake("c1").get(Kind::Pod, ns, &format!("{rt}-master-0")).unwrap();
        assert_eq!(p["spec"]["imagePullSecrets"], json!([{"name": "global-secret-v2"}]), "{ns}/{rt} moved");
    }
    let y_in_a = h.fake("c1").get(Kind::Pod, "a", "y-master-0").unwrap();
    assert_eq!(y_in_a["spec"]["imagePullSecrets"], json!([{"name": "other-secret-v1"}]), "not a target, not moved");
}

/// Pod deletions the fake has seen.
fn pod_deletes(fake: &crate::engine::fake::FakeCluster) -> usize {
    fake.requests().iter().filter(|r| r.verb == "delete" && r.kind == Kind::Pod).count()
}

/// Drives rotation `id` until its first batch restarts and more than one pod was deleted.
async fn drive_until_pods_are_deleted(h: &Harness, fake: &crate::engine::fake::FakeCluster, id: &str) {
    use crate::engine::rotation::driver::{Polls, drive_with};
    let mut polls = Polls::default();
    for _ in 0..400 {
        let r = h.ctx.store.get_rotation(id).await.unwrap();
        if r.batches[0].state == BatchState::Restarting && pod_deletes(fake) > 1 {
            return;
        }
        drive_with(&h.ctx, &mut polls).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the first batch did not start deleting pods");
}
