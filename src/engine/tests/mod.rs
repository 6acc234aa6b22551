//! The engine against in-memory clusters (`fake`): plans, runs, drift and rotations end to
//! end on a real SQLite file, fast enough to test every transition, fault and crash point.
//! Every cluster behaviour tested here also has a test against a real API server in
//! `tests/it`.

mod fluid;
mod plan_apply;
mod rotation;
mod verify;

use std::sync::Arc;

use serde_json::{Value, json};
use tempfile::TempDir;

use super::fake::{FakeCluster, FakeClusters};
use super::plan::{Plan, PlanRequest, create_plan};
use super::runner::apply_plan;
use super::verify::fake::FakeRegistries;
use super::{Context, Settings, SystemClock};
use crate::domain::manifest::ManifestFormat;
use crate::domain::states::RunStatus;
use crate::secrets::MasterKey;
use crate::service::clusters::{ClusterRequest, put_cluster};
use crate::service::credentials::{CredentialRequest, VersionRequest, add_version, put_credential};
use crate::service::runtimes::{PutRuntime, put_runtime};
use crate::store::Store;
use crate::store::runs::RunRecord;

pub struct Harness {
    pub dir: TempDir,
    pub ctx: Arc<Context>,
    pub fakes: Arc<FakeClusters>,
    /// The registries credential versions are proven against.
    pub registries: Arc<FakeRegistries>,
    key: MasterKey,
}

impl Harness {
    pub async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let fakes = Arc::new(FakeClusters::default());
        let registries = Arc::new(FakeRegistries::default());
        let replica = format!("test-{}", uuid::Uuid::new_v4().simple());
        let ctx = Self::context(&dir, &key, fakes.clone(), &registries, replica).await;
        Harness { dir, ctx, fakes, registries, key }
    }

    async fn context(
        dir: &TempDir,
        key: &MasterKey,
        fakes: Arc<FakeClusters>,
        registries: &Arc<FakeRegistries>,
        replica: String,
    ) -> Arc<Context> {
        let url = crate::store::scratch::database_url(dir.path());
        let store = Store::open(&url).await.unwrap();
        Arc::new(Context {
            store,
            key: key.clone(),
            clusters: fakes,
            registries: registries.clone(),
            clock: Arc::new(SystemClock),
            settings: Settings {
                rotation_tick: std::time::Duration::from_millis(10),
                // Every batch proves its target again, so a test can revoke it in between.
                verify_max_age: chrono::Duration::zero(),
                ..Settings::default()
            },
            replica,
            spawner: tokio::runtime::Handle::current(),
            write_permits: Default::default(),
            namespaced_reads: Default::default(),
            renders: Default::default(),
            warm: Default::default(),
            drain: Default::default(),
        })
    }

    /// The same database, as a freshly started process with the same replica id sees it
    /// (interrupted runs failed; its own leases its again at once).
    pub async fn restart(&mut self) {
        self.ctx =
            Self::context(&self.dir, &self.key, self.fakes.clone(), &self.registries, self.ctx.replica.clone()).await;
        self.ctx.store.fail_interrupted_runs(&self.ctx.replica).await.unwrap();
    }

    /// Another live process on the same database (a peer replica named `replica`).
    pub async fn peer(&self, replica: &str) -> Arc<Context> {
        Self::context(&self.dir, &self.key, self.fakes.clone(), &self.registries, format!("{replica}/1")).await
    }

    pub fn fake(&self, cluster: &str) -> Arc<FakeCluster> {
        self.fakes.cluster(cluster)
    }

    pub async fn cluster(&self, name: &str, extra: Value) {
        let mut body = json!({"server": "https://fake.invalid", "insecureSkipTlsVerify": true, "token": "t", "mode": "standalone"});
        body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
        let req: ClusterRequest = serde_json::from_value(body).unwrap();
        put_cluster(&self.ctx.store, &self.ctx.key, name, req, None, "test").await.unwrap();
    }

    pub async fn credential(&self, name: &str, password: &str) {
        let req = CredentialRequest {
            registry: Some("registry.example.com".into()),
            username: Some("u".into()),
            password: Some(password.into()),
            ..Default::default()
        };
        put_credential(&self.ctx.store, &self.ctx.key, name, req, None, "test").await.unwrap();
    }

    pub async fn version(&self, name: &str, password: &str) {
        let req = VersionRequest {
            registry: Some("registry.example.com".into()),
            username: Some("u".into()),
            password: Some(password.into()),
            dockerconfigjson: None,
        };
        add_version(&self.ctx.store, &self.ctx.key, name, req, None, "test").await.unwrap();
    }

    /// Stores a runtime; its id.
    pub async fn runtime(&self, cluster: &str, namespace: &str, manifest: Value) -> i64 {
        let body = manifest.to_string();
        let name = manifest["metadata"]["name"].as_str().unwrap().to_string();
        let put = PutRuntime {
            namespace,
            name: &name,
            cluster,
            body: body.as_bytes(),
            format: ManifestFormat::Json,
            if_match: None,
            actor: "test",
        };
        let id = put_runtime(&self.ctx.store, put).await.unwrap().record.id;
        // Fuse pods land on the nodes Fluid labels for the runtime (both fake nodes).
        for node in ["node-0", "node-1"] {
            self.fake(cluster).label_node(node, &format!("fluid.io/f-{namespace}-{name}"), "true");
        }
        id
    }

    pub async fn plan(&self, req: Value) -> Plan {
        let req: PlanRequest = serde_json::from_value(req).unwrap();
        create_plan(&self.ctx, req, "test").await.unwrap()
    }

    /// Applies a plan and waits for its run to finish.
    pub async fn apply(&self, plan: &Plan) -> RunRecord {
        let run = apply_plan(&self.ctx, &plan.id, "test").await.unwrap();
        self.wait_run(&run.id).await
    }

    /// Waits for a run to finish; a minute is the limit because a loaded machine (CI runs
    /// suites side by side on two cores) can be far slower than a quiet one.
    pub async fn wait_run(&self, id: &str) -> RunRecord {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let r = self.ctx.store.get_run(id).await.unwrap();
            if r.status.is_finished() {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("run {id} did not finish within a minute");
    }

    /// Plans and applies; the run must succeed.
    pub async fn converge(&self, req: Value) -> (Plan, RunRecord) {
        let p = self.plan(req).await;
        let run = self.apply(&p).await;
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
        (p, run)
    }
}

/// A small runtime on the container network pulling with the given global layer.
pub fn runtime(name: &str, global: &[&str]) -> Value {
    let refs: Vec<Value> = global.iter().map(|n| json!({"name": n})).collect();
    let mut spec = json!({
        "replicas": 1,
        "tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "1Gi", "high": "0.95", "low": "0.7"}]},
        "master": {"networkMode": "ContainerNetwork"},
        "worker": {"networkMode": "ContainerNetwork"},
        "fuse": {"networkMode": "ContainerNetwork"},
    });
    if !refs.is_empty() {
        spec["imagePullSecrets"] = Value::Array(refs);
    }
    json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "AlluxioRuntime",
        "metadata": {"name": name, "labels": {"team": "data"}}, "spec": spec})
}
