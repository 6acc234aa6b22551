//! Prometheus metrics through the `metrics` facade: the one recorder of the process, the
//! names and help texts of every metric fluidform exports, and small helpers the HTTP
//! layer, the kube client layer and the engine call. `GET /metrics` renders them
//! (`api::ops`); gauges that describe stored state (runs, rotations, drift, leases) are
//! read from the database when scraped, so every replica reports the same truth.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "fluidform_http_requests_total";
pub const HTTP_DURATION: &str = "fluidform_http_request_duration_seconds";
pub const APISERVER_REQUESTS: &str = "fluidform_apiserver_requests_total";
pub const APISERVER_DURATION: &str = "fluidform_apiserver_request_duration_seconds";
pub const RUNS: &str = "fluidform_runs";
pub const ROTATIONS: &str = "fluidform_rotations";
pub const BATCH_DURATION: &str = "fluidform_rotation_batch_duration_seconds";
pub const DRIFTED: &str = "fluidform_drifted_runtimes";
pub const LEASES: &str = "fluidform_leases_held";
pub const BUILD_INFO: &str = "fluidform_build_info";
pub const DELIVERIES: &str = "fluidform_notification_deliveries_total";
pub const OUTBOX: &str = "fluidform_notification_outbox";
pub const ROLLOUT_READS: &str = "fluidform_rollout_reads_total";
pub const WATCH_EVENTS: &str = "fluidform_rollout_watch_events_total";

/// Histogram buckets (seconds): from a fast SQLite read to a slow rotation batch.
const BUCKETS: &[f64] =
    &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use. Tests build many apps in one process:
/// they share it, as every part of one daemon does.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().set_buckets(BUCKETS).expect("buckets are not empty").build_recorder();
        let handle = recorder.handle();
        // Another recorder installed first (an embedding program's) keeps its place; this
        // handle then renders nothing, which is the embedding program's choice.
        if metrics::set_global_recorder(recorder).is_ok() {
            describe();
        }
        handle
    })
}

fn describe() {
    describe_counter!(HTTP_REQUESTS, Unit::Count, "HTTP requests answered, by route pattern, method and status");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "Time to answer an HTTP request (until its headers)");
    describe_counter!(
        APISERVER_REQUESTS,
        Unit::Count,
        "Requests sent to target clusters' API servers, by cluster, verb and outcome"
    );
    describe_histogram!(APISERVER_DURATION, Unit::Seconds, "Latency of requests to target API servers");
    describe_gauge!(RUNS, Unit::Count, "Stored runs by state");
    describe_gauge!(ROTATIONS, Unit::Count, "Stored rotations by state");
    describe_histogram!(BATCH_DURATION, Unit::Seconds, "Rotation batches from start to end, by outcome");
    describe_gauge!(DRIFTED, Unit::Count, "Applied runtimes whose live objects differ from what was applied");
    describe_gauge!(LEASES, Unit::Count, "Leases and locks this process holds, by kind");
    describe_gauge!(BUILD_INFO, Unit::Count, "Always 1; the labels say which build this is");
    describe_counter!(DELIVERIES, Unit::Count, "Webhook delivery attempts, by outcome");
    describe_gauge!(OUTBOX, Unit::Count, "Webhook deliveries in the outbox, by state");
    describe_counter!(
        ROLLOUT_READS,
        Unit::Count,
        "Rollout state reads of a cluster, by cluster and where from (list: LISTs; watch: the rollout watch)"
    );
    describe_counter!(WATCH_EVENTS, Unit::Count, "Events the rollout watches received, by cluster and kind");
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "name" => env!("CARGO_PKG_NAME")).set(1.0);
}

/// One answered HTTP request.
pub fn http_request(route: String, method: String, status: u16, took: Duration) {
    let status = status.to_string();
    counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status.clone())
        .increment(1);
    histogram!(HTTP_DURATION, "route" => route, "method" => method, "status" => status).record(took.as_secs_f64());
}

/// One read of a cluster's rollout state, `from` `list` or `watch`.
pub fn rollout_read(cluster: &str, from: &'static str) {
    counter!(ROLLOUT_READS, "cluster" => cluster.to_string(), "from" => from).increment(1);
}

/// `n` events a rollout watch of `kind` received.
pub fn watch_events(cluster: &str, kind: &'static str, n: u64) {
    counter!(WATCH_EVENTS, "cluster" => cluster.to_string(), "kind" => kind).increment(n);
}

/// One request to a target API server.
pub fn apiserver_request(cluster: &str, verb: &'static str, outcome: &'static str, took: Duration) {
    counter!(APISERVER_REQUESTS, "cluster" => cluster.to_string(), "verb" => verb, "outcome" => outcome).increment(1);
    histogram!(APISERVER_DURATION, "cluster" => cluster.to_string(), "verb" => verb).record(took.as_secs_f64());
}

/// A rotation batch ended (`healthy` or `failed`) after `secs`.
pub fn batch_ended(outcome: &'static str, secs: f64) {
    histogram!(BATCH_DURATION, "outcome" => outcome).record(secs.max(0.0));
}

/// One webhook delivery attempt.
pub fn delivery_attempt(outcome: &'static str) {
    counter!(DELIVERIES, "outcome" => outcome).increment(1);
}

/// Sets a gauge family from counts per label value; `known` values absent from `counts`
/// read 0 (so a state that emptied does not keep its last value).
pub fn set_counts(name: &'static str, label: &'static str, known: &[&str], counts: &[(String, i64)]) {
    for k in known {
        if !counts.iter().any(|(v, _)| v == k) {
            gauge!(name, label => k.to_string()).set(0.0);
        }
    }
    for (v, n) in counts {
        gauge!(name, label => v.clone()).set(*n as f64);
    }
}

/// Sets a plain gauge.
pub fn set(name: &'static str, value: f64) {
    gauge!(name).set(value);
}

/// The text exposition of every metric.
pub fn render() -> String {
    let h = handle();
    h.run_upkeep();
    h.render()
}
