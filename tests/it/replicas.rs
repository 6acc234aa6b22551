//! Several replicas of the real daemon on one database (the suite's backend: SQLite file
//! shared by two processes, or PostgreSQL with FLUIDFORM_TEST_DATABASE_URL): any replica
//! answers any request consistently, Idempotency-Key retries act once across replicas, a
//! rotation survives the replica driving it, and drift checks are spread and taken over.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::restart::{TOKEN, applied_fleet};
use crate::support::cluster::TestCluster;
use crate::support::daemon::{Daemon, http_with};
use crate::support::live::pod_pull_secrets;

/// The key both replicas seal secrets with (replicas of one database share it).
const KEY: &str = "cmVwbGljYXMtc2hhcmUtb25lLWtleS0zMi1ieXRlcyE=";

/// Replicas `names` on one data directory (so one database), started at once: the
/// migrations run under their lock while both start.
fn replicas(data: &Path, dir: &Path, names: &[&str], env: &[(&str, &str)]) -> Vec<Daemon> {
    std::fs::create_dir_all(data).unwrap();
    // The database is created before both start (a PostgreSQL database per test).
    fluidform::store::scratch::database_url(data);
    let handles: Vec<_> = names
        .iter()
        .map(|n| {
            let (data, log, n) = (data.to_path_buf(), dir.join(format!("{n}.log")), n.to_string());
            let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            env.push(("FLUIDFORM_REPLICA_ID".into(), n.clone()));
            env.push(("FLUIDFORM_MASTER_KEY".into(), KEY.into()));
            std::thread::spawn(move || {
                let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                Daemon::start_with(&data, &log, Some(TOKEN), &env).unwrap_or_else(|e| panic!("replica {n}: {e}"))
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().expect("replica starts")).collect()
}

/// A call with headers: status, response headers (lowercased names) and JSON body.
fn call(d: &Daemon, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> (u16, String, Value) {
    let text = body.map(|b| b.to_string());
    let (status, raw) = http_with(&d.addr, method, path, Some(TOKEN), headers, text.as_deref()).expect("answers");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(Value::Null))
}

fn etag(head: &str) -> String {
    head.lines().find_map(|l| l.strip_prefix("etag: ")).expect("an ETag").trim().to_string()
}

/// The named leases and their holders' replica names.
fn leases(d: &Daemon, prefix: &str) -> Vec<(String, String)> {
    let (_, _, v) = call(d, "GET", "/v1/locks", &[], None);
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["id"].as_str().unwrap().starts_with(prefix))
        .map(|l| {
            let holder = l["holder"].as_str().unwrap();
            (l["id"].as_str().unwrap().to_string(), holder.split('/').next().unwrap().to_string())
        })
        .collect()
}

fn poll<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[actix_web::test]
async fn any_replica_answers_and_an_idempotent_retry_acts_once_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut r = replicas(&data, dir.path(), &["a", "b"], &[]);
    let (b, a) = (r.pop().unwrap(), r.pop().unwrap());

    let cred = json!({"registry": "r.example", "username": "u", "password": "p-one"});
    let (s, head, _) = call(&a, "PUT", "/v1/credentials/shared", &[], Some(cred.clone()));
    assert_eq!(s, 201);
    let first = etag(&head);
    // Written through A, read through B at once, with the same ETag.
    let (s, head, got) = call(&b, "GET", "/v1/credentials/shared", &[], None);
    assert_eq!((s, etag(&head)), (200, first.clone()), "{got}");
    let mut changed = cred.clone();
    changed["description"] = json!("changed through b");
    let (s, head, _) = call(&b, "PUT", "/v1/credentials/shared", &[("If-Match", &first)], Some(changed));
    assert_eq!(s, 200);
    let second = etag(&head);
    assert_ne!(first, second);
    // A sees B's write: the old ETag no longer matches there.
    let (s, _, p) = call(&a, "PUT", "/v1/credentials/shared", &[("If-Match", &first)], Some(cred));
    assert_eq!((s, p["code"].as_str()), (412, Some("precondition_failed")), "{p}");
    let (_, head, got) = call(&a, "GET", "/v1/credentials/shared", &[], None);
    assert_eq!((etag(&head), got["description"].as_str()), (second, Some("changed through b")));

    // The same Idempotency-Key sent to both replicas at once: one token made, one reply.
    let body = json!({"name": "made-once", "role": "viewer"});
    let send = |d: &Daemon| call(d, "POST", "/v1/tokens", &[("Idempotency-Key", "across")], Some(body.clone()));
    let (x, y) = std::thread::scope(|s| {
        let x = s.spawn(|| send(&a));
        let y = s.spawn(|| send(&b));
        (x.join().unwrap(), y.join().unwrap())
    });
    assert_eq!((x.0, y.0), (201, 201), "{} / {}", x.2, y.2);
    assert_eq!(x.2["token"], y.2["token"], "the same reply, one token");
    assert_eq!([&x.1, &y.1].iter().filter(|h| h.contains("idempotent-replayed")).count(), 1, "one acted");
    let (_, _, tokens) = call(&b, "GET", "/v1/tokens", &[], None);
    let named = tokens["items"].as_array().unwrap().iter().filter(|t| t["name"] == "made-once").count();
    assert_eq!(named, 1, "{tokens}");
    // Both report the database ready; each names itself in its log.
    for (d, n) in [(&a, "a"), (&b, "b")] {
        assert_eq!(call(d, "GET", "/readyz", &[], None).0, 200);
        let log = std::fs::read_to_string(&d.log).unwrap();
        assert!(log.contains(&format!("replica=\"{n}/")) || log.contains(&format!("replica={n}/")), "{n} names itself");
    }
}

#[actix_web::test]
async fn a_rotation_is_taken_over_when_the_replica_driving_it_dies() {
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut r = replicas(&data, dir.path(), &["a", "b"], &[]);
    let (b, a) = (r.pop().unwrap(), r.pop().unwrap());
    applied_fleet(&a, &cluster).await;

    let body = json!({"verify": false, "credential": "global-secret", "batches": [1, "100%"], "healthTimeout": 120});
    let (s, _, rot) = call(&b, "POST", "/v1/rotations", &[], Some(body));
    assert_eq!(s, 201, "{rot}");
    let id = rot["id"].as_str().unwrap().to_string();
    let path = format!("/v1/rotations/{id}");
    poll("the second batch restarting", 120, || {
        (call(&a, "GET", &path, &[], None).2["batches"][1]["state"] == "restarting").then_some(())
    });
    let lease = format!("rotation-driver:{id}");
    let driver = leases(&a, &lease).first().map(|(_, h)| h.clone()).expect("someone drives it");
    let (dead, alive) = if driver == "a" { (a, b) } else { (b, a) };
    let survivor = if driver == "a" { "b" } else { "a" };
    let killed = Instant::now();
    dead.kill9();
    // The lease is 10 s and the survivor's driver ticks every 500 ms; the bound leaves room
    // for a loaded machine (bench/failover.sh measures the time).
    poll("the survivor takes the driver lease", 30, || {
        leases(&alive, &lease).iter().any(|(_, h)| h == survivor).then_some(())
    });
    let took = killed.elapsed();
    let done = poll("the rotation ends", 180, || {
        let v = call(&alive, "GET", &path, &[], None).2;
        (v["state"] != "running").then_some(v)
    });
    assert_eq!(done["state"], "succeeded", "{done}");
    let (_, stream) =
        crate::support::daemon::http(&alive.addr, "GET", &format!("/v1/rotations/{id}/events"), Some(TOKEN), None)
            .unwrap();
    let kinds: Vec<&str> = stream.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    for batch_event in ["batch_started", "batch_restarting", "batch_healthy"] {
        assert_eq!(kinds.iter().filter(|k| **k == batch_event).count(), 2, "{batch_event} once per batch: {kinds:?}");
    }
    for (pod, secrets) in pod_pull_secrets(&cluster, "fleet").await {
        assert_eq!(secrets, ["global-secret-v2"], "pod {pod}");
    }
    // Read by bench/failover.sh.
    eprintln!("failover: the driver lease moved {} ms after the kill", took.as_millis());
}

#[actix_web::test]
async fn drift_checks_are_spread_over_replicas_and_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut r = replicas(&data, dir.path(), &["a", "b"], &[("FLUIDFORM_DRIFT_INTERVAL", "1")]);
    let (b, a) = (r.pop().unwrap(), r.pop().unwrap());
    let clusters: Vec<String> = (0..8).map(|i| format!("edge-{i}")).collect();
    for c in &clusters {
        let body = json!({"server": "https://127.0.0.1:9", "token": "t", "mode": "standalone"});
        let (s, _, v) = call(&a, "PUT", &format!("/v1/clusters/{c}"), &[], Some(body));
        assert_eq!(s, 201, "{v}");
    }
    let spread = poll("every cluster's drift lease held, by both replicas", 30, || {
        let held = leases(&b, "drift:");
        let holders: BTreeSet<String> = held.iter().map(|(_, h)| h.clone()).collect();
        (held.len() == clusters.len() && holders.len() == 2).then_some(held)
    });
    let of_a = spread.iter().filter(|(_, h)| h == "a").count();
    assert!((1..clusters.len()).contains(&of_a), "{spread:?}");
    a.kill9();
    poll("the survivor holds every drift lease", 30, || {
        let held = leases(&b, "drift:");
        (held.len() == clusters.len() && held.iter().all(|(_, h)| h == "b")).then_some(())
    });
}
