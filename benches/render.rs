//! Resolve + render cost per runtime with 10,000 runtimes stored in a real SQLite file.
//!
//! `cargo bench --bench render` prints medians and p99 for: reading one runtime's context
//! from the store (the baseline: the I/O every render needs), resolving its layers alone, and
//! rendering its workloads (`render_redacted` resolves internally, so the render timing
//! already includes one resolve); plus the ratio of render to the read.
//!
//! Every component runs on the pod network, so the 10,000 runtimes take no host ports from
//! the cluster's range (5,000 ports hold a few hundred host-network runtimes).
//!
//! The read goes through sqlx's SQLite worker thread (a channel hop per statement), so on a
//! VM whose idle vCPUs must be woken it varies several-fold with scheduling; render is pure
//! CPU on one thread. `taskset -c 0 cargo bench --bench render` keeps both on one CPU.

use std::time::{Duration, Instant};

use fluidform::domain::manifest::{ManifestFormat, parse_runtime};
use fluidform::secrets::MasterKey;
use fluidform::service::runtimes::{render_redacted, resolution};
use fluidform::store::Store;
use fluidform::store::clusters::{ClusterAuthKind, ClusterWrite};
use fluidform::store::credentials::NewVersion;

const RUNTIMES: usize = 10_000;
const SAMPLES: usize = 2_000;

fn manifest(i: usize) -> String {
    format!(
        r#"{{"apiVersion":"data.fluid.io/v1alpha1","kind":"AlluxioRuntime","metadata":{{"name":"rt-{i}","labels":{{"team":"t{t}"}}}},
        "spec":{{"replicas":2,"imagePullSecrets":[{{"name":"global-secret"}}],
        "tieredstore":{{"levels":[{{"mediumtype":"MEM","path":"/dev/shm","quota":"2Gi","high":"0.95","low":"0.7"}}]}},
        "master":{{"replicas":3,"imagePullSecrets":[{{"name":"master-secret"}}],"networkMode":"ContainerNetwork"}},
        "worker":{{"imagePullSecrets":[{{"name":"worker-secret"}}],"networkMode":"ContainerNetwork"}},
        "fuse":{{"networkMode":"ContainerNetwork"}},
        "properties":{{"alluxio.user.file.writetype.default":"MUST_CACHE"}}}}}}"#,
        t = i % 10
    )
}

fn stats(name: &str, mut v: Vec<Duration>) -> Duration {
    v.sort();
    let med = v[v.len() / 2];
    let p99 = v[v.len() * 99 / 100];
    println!("{name:<28} median {:>9.1} µs   p99 {:>9.1} µs", med.as_secs_f64() * 1e6, p99.as_secs_f64() * 1e6);
    med
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::open(&url).await.unwrap();
    let key = MasterKey::generate();
    store
        .put_cluster(
            "c1",
            ClusterWrite {
                server: "https://127.0.0.1:6443".into(),
                ca_data: None,
                insecure_skip_tls_verify: true,
                auth: Some((ClusterAuthKind::Token, key.seal("cluster:c1", b"{\"token\":\"t\"}"))),
                default_image_pull_secrets: vec![],
                apply_concurrency: None,
                port_range: None,
                mode: fluidform::domain::fluid::ClusterMode::Standalone,
            },
            None,
            "bench",
        )
        .await
        .unwrap();
    let dc = br#"{"auths":{"r.example.com":{"auth":"dTpw"}}}"#;
    store
        .put_credential(
            "global-secret",
            None,
            &fluidform::domain::scope::Scope::everywhere(),
            &fluidform::store::credentials::CredentialTls::default(),
            NewVersion {
                registry: Some("r.example.com".into()),
                fingerprint: key.fingerprint(dc),
                sealed: key.seal("credential:global-secret:v1", dc),
            },
            None,
            "bench",
        )
        .await
        .unwrap();
    let t = Instant::now();
    for i in 0..RUNTIMES {
        let rt = parse_runtime(manifest(i).as_bytes(), ManifestFormat::Json).unwrap();
        store.put_runtime("bench", &format!("rt-{i}"), "c1", &rt.into(), None, "bench").await.unwrap();
    }
    println!("stored {RUNTIMES} runtimes in {:.1} s (one durable transaction each)", t.elapsed().as_secs_f64());

    let (mut read, mut resolve, mut render) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0usize;
    for s in 0..SAMPLES {
        let i = (s * 7919) % RUNTIMES;
        let t0 = Instant::now();
        let ctx = store.runtime_context("bench", &format!("rt-{i}")).await.unwrap();
        let t1 = Instant::now();
        let res = resolution(&ctx);
        let t2 = Instant::now();
        let objs = render_redacted(&ctx, fluidform::domain::fluid::Mode::Standalone).unwrap();
        let t3 = Instant::now();
        bytes += objs.iter().map(|o| serde_json::to_vec(&o.object).unwrap().len()).sum::<usize>();
        std::hint::black_box(res);
        read.push(t1 - t0);
        resolve.push(t2 - t1);
        render.push(t3 - t2);
    }
    println!("{SAMPLES} samples over {RUNTIMES} stored runtimes ({} bytes rendered per runtime)", bytes / SAMPLES);
    let r = stats("read context (baseline)", read);
    let a = stats("resolve alone", resolve);
    let b = stats("render (incl. resolve)", render);
    println!("ratio render (incl. resolve) / read, medians: {:.2}", b.as_secs_f64() / r.as_secs_f64());
    println!("ratio resolve alone / read, medians: {:.3}", a.as_secs_f64() / r.as_secs_f64());
}
