//! The operator's surface: `/metrics` after known traffic, and webhooks delivered signed
//! to a local receiver, retried after its failure and after a daemon restart.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::app::{ADMIN, TestApp};
use crate::support::daemon::{Daemon, free_port, http};
use crate::support::receiver::{Receiver, signature};

/// The value of the sample `name{labels}` in a Prometheus text exposition (0 if absent).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
            (n == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))).then_some(value)
        })
        .map(|v| v.parse::<f64>().unwrap())
        .sum()
}

#[actix_web::test]
async fn metrics_count_known_traffic() {
    let app = TestApp::start().await;
    let before = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(before.status, 200, "{}", before.text());
    assert!(before.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let route = [("route", "/v1/notifications/{name}"), ("method", "GET"), ("status", "404")];
    let n0 = sample(&before.text(), "fluidform_http_requests_total", &route);
    for _ in 0..3 {
        app.get("/v1/notifications/nobody-here").await.problem(404, "not_found");
    }
    app.credential("metrics-cred", "pw-0123456789").await;
    let after = app.call(Method::GET, "/metrics", None, None).await.text();
    assert_eq!(sample(&after, "fluidform_http_requests_total", &route) - n0, 3.0, "{after}");
    let put = [("route", "/v1/credentials/{name}"), ("method", "PUT")];
    assert!(sample(&after, "fluidform_http_requests_total", &put) >= 1.0);
    assert!(sample(&after, "fluidform_http_request_duration_seconds_count", &route) - n0 >= 3.0);
    assert_eq!(sample(&after, "fluidform_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    for family in [
        "fluidform_runs",
        "fluidform_rotations",
        "fluidform_drifted_runtimes",
        "fluidform_leases_held",
        "fluidform_notification_outbox",
    ] {
        assert!(after.contains(&format!("# TYPE {family} gauge")), "{family} missing: {after}");
    }
    assert_eq!(sample(&after, "fluidform_rotations", &[("state", "running")]), 0.0);
    // Raw paths never become labels.
    assert!(!after.contains("nobody-here"));
}

#[actix_web::test]
async fn metrics_token_guards_metrics_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_with(
        &dir.path().join("data"),
        &dir.path().join("log"),
        Some(TOKEN),
        &[("FLUIDFORM_METRICS_TOKEN", "scrape-token-123")],
    )
    .unwrap();
    assert_eq!(http(&d.addr, "GET", "/metrics", None, None).unwrap().0, 401);
    assert_eq!(http(&d.addr, "GET", "/metrics", Some("wrong"), None).unwrap().0, 401);
    let (status, text) = http(&d.addr, "GET", "/metrics", Some("scrape-token-123"), None).unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("fluidform_http_requests_total"), "{text}");
}

const TOKEN: &str = "ops-test-admin-token-0123";
const SECRET: &str = "receiver-shared-secret-42";

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

/// A run (against a cluster nobody answers on): `run:created`, then `run:errored`.
fn make_run(d: &Daemon, name: &str) -> String {
    let (status, _) = d.call(TOKEN, "GET", "/v1/clusters/nowhere", None);
    if status == 404 {
        ok(
            d,
            "PUT",
            "/v1/clusters/nowhere",
            json!({"server": "https://127.0.0.1:9", "insecureSkipTlsVerify": true, "token": "nobody-answers", "mode": "standalone"}),
        );
    }
    let rt = crate::support::app::runtime_json(name, None, None, None, None);
    ok(d, "PUT", &format!("/v1/runtimes/hooks/{name}?cluster=nowhere"), rt);
    let plan = ok(d, "POST", "/v1/plans", json!({"runtimes": [format!("hooks/{name}")], "refresh": false}));
    let run = ok(d, "POST", &format!("/v1/plans/{}/apply", plan["id"].as_str().unwrap()), json!({}));
    run["id"].as_str().unwrap().to_string()
}

fn assert_signed(r: &crate::support::receiver::Received) {
    assert_eq!(r.header("x-fluidform-signature"), Some(signature(SECRET, &r.body).as_str()), "{r:?}");
}

#[actix_web::test]
async fn webhooks_are_signed_retried_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("daemon.log"));
    let d = Daemon::start(&data, &log, Some(TOKEN));
    let receiver = Receiver::start(0, &[500]);
    let url = format!("http://127.0.0.1:{}/hook?token=receiver-query-token", receiver.port);

    // Bad input names the field.
    let (status, p) = d.call(
        TOKEN,
        "PUT",
        "/v1/notifications/ops",
        Some(&json!({"url": "ftp://x", "triggers": ["run:created"], "secret": SECRET})),
    );
    assert!(status == 400 || status == 422, "{status} {p}");
    assert!(p.to_string().contains("\"url\""), "{p}");
    let (_, p) = d.call(
        TOKEN,
        "PUT",
        "/v1/notifications/ops",
        Some(&json!({"url": url, "triggers": ["run:made"], "secret": SECRET})),
    );
    assert!(p.to_string().contains("triggers[0]"), "{p}");

    let n = ok(
        &d,
        "PUT",
        "/v1/notifications/ops",
        json!({"url": url, "triggers": ["run:created", "run:errored"], "secret": SECRET}),
    );
    assert_eq!(n["triggers"], json!(["run:created", "run:errored"]));
    let got = ok(&d, "GET", "/v1/notifications/ops", json!(null));
    assert!(!got.to_string().contains(SECRET) && !n.to_string().contains(SECRET), "{got}");

    // The receiver fails the first delivery (500): it comes again, the same bytes, signed.
    let run = make_run(&d, "rt1");
    let first = receiver.wait_for(3, Duration::from_secs(30));
    let retried: Vec<_> =
        first.iter().filter(|r| r.header("x-fluidform-delivery") == first[0].header("x-fluidform-delivery")).collect();
    assert_eq!(retried.len(), 2, "the refused delivery came again: {first:?}");
    assert_eq!(retried[0].body, retried[1].body, "a retry sends the same bytes");
    assert_eq!(retried[0].header("x-fluidform-attempt"), Some("1"));
    assert_eq!(retried[1].header("x-fluidform-attempt"), Some("2"));
    for r in &first {
        assert_signed(r);
        assert_eq!(r.json()["payloadVersion"], 1);
    }
    let triggers: Vec<Value> = first.iter().map(|r| r.json()["trigger"].clone()).collect();
    assert!(triggers.contains(&json!("run:created")) && triggers.contains(&json!("run:errored")), "{triggers:?}");
    let created = first.iter().find(|r| r.json()["trigger"] == "run:created").unwrap().json();
    assert!(created.to_string().contains(&run), "{created}");
    let deliveries = poll(&d, "/v1/notifications/ops/deliveries", 10, |v| {
        v["items"].as_array().is_some_and(|i| i.len() == 2 && i.iter().all(|d| d["state"] == "delivered"))
    });
    let statuses: Vec<Vec<Value>> = deliveries["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attemptLog"].as_array().unwrap().iter().map(|a| a["status"].clone()).collect())
        .collect();
    assert!(statuses.contains(&vec![json!(500), json!(200)]), "{statuses:?}");

    // Verification: one delivery with trigger `verification`, answered now.
    let v = ok(&d, "POST", "/v1/notifications/ops/verify", json!({}));
    assert_eq!(v["state"], "delivered", "{v}");
    let got = receiver.wait_for(4, Duration::from_secs(5));
    assert_eq!(got[3].json()["trigger"], "verification");
    assert_signed(&got[3]);

    // The receiver goes away; an event waits in the outbox through a SIGKILL and restart.
    let port = free_port();
    let url2 = format!("http://127.0.0.1:{port}/hook");
    ok(&d, "PUT", "/v1/notifications/later", json!({"url": url2, "triggers": ["run:created"], "secret": SECRET}));
    let run2 = make_run(&d, "rt2");
    poll(&d, "/v1/notifications/later/deliveries", 20, |v| {
        v["items"][0]["attemptLog"].as_array().is_some_and(|a| !a.is_empty())
    });
    d.kill9();
    let late = Receiver::start(port, &[]);
    let d = Daemon::start(&data, &log, Some(TOKEN));
    let got = late.wait_for(1, Duration::from_secs(90));
    assert_signed(&got[0]);
    assert_eq!(got[0].json()["trigger"], "run:created");
    assert!(got[0].json().to_string().contains(&run2));
    let dl = poll(&d, "/v1/notifications/later/deliveries", 10, |v| v["items"][0]["state"] == "delivered");
    assert!(dl["items"][0]["attemptLog"].as_array().unwrap().len() >= 2, "{dl}");

    // The secret is nowhere: not in the log, the audit log or any reply.
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(!log_text.contains(SECRET), "the log shows the secret");
    assert!(!log_text.contains("receiver-query-token"), "the log shows the URL's token");
    let audit = ok(&d, "GET", "/v1/audit", json!(null));
    assert!(!audit.to_string().contains(SECRET));
    let db = fluidform::store::scratch::database_bytes(&data);
    assert!(!String::from_utf8_lossy(&db).contains(SECRET), "the secret is sealed at rest");

    assert_eq!(d.call(TOKEN, "DELETE", "/v1/notifications/later", None).0, 204);
    assert_eq!(d.call(TOKEN, "GET", "/v1/notifications/later", None).0, 404);
    let _ = ADMIN;
}
