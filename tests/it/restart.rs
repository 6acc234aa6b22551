//! The real daemon stopped in the middle of a rotation batch: after SIGKILL and a restart
//! the rotation finishes with no batch skipped or repeated; SIGTERM drains, releases its
//! leases and exits within its grace period, and the next process drives on.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::cluster::TestCluster;
use crate::support::daemon::Daemon;
use crate::support::live::{label_nodes_for, pod_pull_secrets, wait_rolled_out};

pub(crate) const TOKEN: &str = "restart-test-admin-token-42";

fn ok(d: &Daemon, method: &str, path: &str, body: Value) -> Value {
    let (status, v) = d.call(TOKEN, method, path, Some(&body));
    assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
    v
}

fn poll(d: &Daemon, path: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, v) = d.call(TOKEN, "GET", path, None);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} did not get there: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Three runtimes applied and rolled out on `cluster`, then a second version of their
/// credential: ready to rotate.
pub(crate) async fn applied_fleet(d: &Daemon, cluster: &TestCluster) {
    ok(d, "PUT", "/v1/clusters/k", json!({"kubeconfig": cluster.kubeconfig}));
    ok(d, "PUT", "/v1/credentials/global-secret", json!({"registry": "r", "username": "u", "password": "v1"}));
    let names = ["rt0", "rt1", "rt2"];
    for n in names {
        let mut rt = crate::support::app::runtime_json(n, Some(&["global-secret"]), None, None, None);
        for c in ["master", "worker", "fuse"] {
            rt["spec"][c] = json!({"networkMode": "ContainerNetwork"});
        }
        ok(d, "PUT", &format!("/v1/runtimes/fleet/{n}?cluster=k"), rt);
        ok(d, "PUT", &format!("/v1/datasets/fleet/{n}?cluster=k"), crate::support::app::shared_dataset(n));
    }
    label_nodes_for(cluster, &names.map(|n| ("fleet", n))).await;
    let plan = ok(d, "POST", "/v1/plans", json!({"all": true, "createNamespaces": true, "refresh": true}));
    let run = ok(d, "POST", &format!("/v1/plans/{}/apply", plan["id"].as_str().unwrap()), json!({}));
    poll(d, &format!("/v1/runs/{}", run["id"].as_str().unwrap()), 60, |r| r["status"] == "succeeded");
    wait_rolled_out(cluster, "fleet", &names).await;
    ok(
        d,
        "POST",
        "/v1/credentials/global-secret/versions",
        json!({"registry": "r", "username": "u", "password": "v2"}),
    );
}

#[actix_web::test]
async fn sigkill_mid_batch_resumes_without_skipping_or_repeating() {
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("daemon.log"));
    let d = Daemon::start(&data, &log, Some(TOKEN));
    applied_fleet(&d, &cluster).await;

    let rot = ok(
        &d,
        "POST",
        "/v1/rotations",
        json!({"verify": false, "credential": "global-secret", "batches": [1, "100%"], "healthTimeout": 120}),
    );
    let id = rot["id"].as_str().unwrap().to_string();
    // Kill it while the second batch is replacing pods.
    poll(&d, &format!("/v1/rotations/{id}"), 120, |r| r["batches"][1]["state"] == "restarting");
    d.kill9();

    let d = Daemon::start(&data, &log, Some(TOKEN));
    let done = poll(&d, &format!("/v1/rotations/{id}"), 180, |r| r["state"] != "running");
    if done["state"] != "succeeded" {
        let log_text = std::fs::read_to_string(&log).unwrap();
        let tail: Vec<&str> = log_text.lines().filter(|l| !l.contains("sqlx")).rev().take(60).collect();
        let pods =
            crate::support::live::api(&crate::support::live::client(&cluster).await, "", "v1", "Pod", "pods", "fleet")
                .list(&Default::default())
                .await
                .unwrap();
        let pods: Vec<String> = pods
            .items
            .iter()
            .map(|p| {
                format!(
                    "{} {:?} {:?}",
                    p.metadata.name.clone().unwrap_or_default(),
                    p.metadata.labels,
                    p.data.get("status").and_then(|s| s.get("conditions"))
                )
            })
            .collect();
        panic!("{done}\nlog:\n{}\npods: {pods:#?}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    let (_, stream) = {
        let (s, raw) =
            crate::support::daemon::http(&d.addr, "GET", &format!("/v1/rotations/{id}/events"), Some(TOKEN), None)
                .unwrap();
        (s, raw)
    };
    let kinds: Vec<&str> = stream.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    for batch_event in ["batch_started", "batch_restarting", "batch_healthy"] {
        assert_eq!(kinds.iter().filter(|k| **k == batch_event).count(), 2, "{batch_event} once per batch: {kinds:?}");
    }
    for (pod, secrets) in pod_pull_secrets(&cluster, "fleet").await {
        assert_eq!(secrets, ["global-secret-v2"], "pod {pod}");
    }
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.matches("fluidform serving").count() == 2, "the daemon really restarted");
}

#[actix_web::test]
async fn sigterm_drains_releases_its_leases_and_the_next_process_drives_on() {
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("daemon.log"));
    let env = [("FLUIDFORM_DRIFT_INTERVAL", "1"), ("FLUIDFORM_SHUTDOWN_GRACE", "20")];
    let mut d = Daemon::start_with(&data, &log, Some(TOKEN), &env).expect("daemon");
    applied_fleet(&d, &cluster).await;
    let rot = ok(
        &d,
        "POST",
        "/v1/rotations",
        json!({"verify": false, "credential": "global-secret", "batches": [1, "100%"], "healthTimeout": 120}),
    );
    let id = rot["id"].as_str().unwrap().to_string();
    poll(&d, &format!("/v1/rotations/{id}"), 120, |r| r["batches"][1]["state"] == "restarting");
    let db = fluidform::store::scratch::database_url(&data);
    sqlx::any::install_default_drivers();
    let leases = || async {
        let pool = sqlx::AnyPool::connect(&db).await.unwrap();
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM locks WHERE run_id IS NULL ORDER BY id").fetch_all(&pool).await.unwrap();
        let running: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        (ids, running)
    };
    let (held, _) = leases().await;
    assert!(held.contains(&format!("rotation-driver:{id}")), "the driver holds its lease while running: {held:?}");

    let started = Instant::now();
    let status = d.term(Duration::from_secs(30)).expect("the daemon exits within its grace period");
    assert!(status.success(), "a drained stop exits 0: {status:?}");
    let took = started.elapsed();
    let (held, running) = leases().await;
    assert!(held.is_empty(), "no lease outlives the stop: {held:?} (stopped in {took:?})");
    assert_eq!(running, 0, "no run is left running by a drained stop");
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("shutting down: no new work"), "the stop is logged");
    assert!(log_text.contains("leases released"), "{log_text}");

    let d = Daemon::start(&data, &log, Some(TOKEN));
    let done = poll(&d, &format!("/v1/rotations/{id}"), 180, |r| r["state"] != "running");
    assert_eq!(done["state"], "succeeded", "{done}");
    for (pod, secrets) in pod_pull_secrets(&cluster, "fleet").await {
        assert_eq!(secrets, ["global-secret-v2"], "pod {pod}");
    }
}
