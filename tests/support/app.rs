//! Builds the real app (`build_app`) on a fresh data directory with a real SQLite file and
//! drives it in process.

use actix_web::body::to_bytes;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode, header::HeaderMap};
use actix_web::test::{TestRequest, init_service};
use actix_web::web;
use serde_json::Value;
use tempfile::TempDir;

use std::sync::Arc;

use fluidform::api::{AppState, build_app};
use fluidform::config::ServeConfig;
use fluidform::engine::port::Clusters;

pub const ADMIN: &str = "test-admin-token-0123456789";

pub struct TestApp {
    pub dir: TempDir,
    pub state: web::Data<AppState>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
    /// Asserts a problem+json reply with this status and code, and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text());
        assert_eq!(self.header("content-type").as_deref(), Some("application/problem+json"));
        let p = self.json();
        assert_eq!(p["code"], code, "problem: {p}");
        assert_eq!(p["status"], status);
        for k in ["type", "title", "detail"] {
            assert!(p[k].is_string(), "problem lacks {k}: {p}");
        }
        p
    }
}

pub fn serve_config(dir: &std::path::Path) -> ServeConfig {
    use clap::Parser;
    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        cfg: ServeConfig,
    }
    let mut cfg = Wrap::parse_from(["test"]).cfg;
    cfg.data_dir = dir.to_path_buf();
    cfg.admin_token = Some(ADMIN.to_string());
    cfg.master_key = None;
    cfg.master_key_file = None;
    cfg.database_url = Some(fluidform::store::scratch::database_url(dir));
    cfg
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(None).await
    }

    /// Starts the app reaching clusters through `clusters` (a fault proxy around the real
    /// ones, say) instead of the kube implementation.
    pub async fn start_with(clusters: Option<Arc<dyn Clusters>>) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, clusters).await
    }

    /// Starts the app with its engine context adjusted first (settings, the registry
    /// client, …).
    pub async fn start_tuned(tune: impl FnOnce(&mut fluidform::engine::Context)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = serve_config(dir.path());
        let mut state = fluidform::daemon::prepare(&cfg).await.expect("daemon prepares");
        tune(Arc::get_mut(&mut state.ctx).expect("nothing else holds the context yet"));
        TestApp { dir, state: web::Data::new(state) }
    }

    /// Starts the app with engine settings changed by `f` (short lifetimes, say).
    pub async fn start_with_settings(f: impl FnOnce(&mut fluidform::engine::Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = serve_config(dir.path());
        let mut state = fluidform::daemon::prepare(&cfg).await.expect("daemon prepares");
        f(&mut Arc::get_mut(&mut state.ctx).expect("nothing else holds the context yet").settings);
        TestApp { dir, state: web::Data::new(state) }
    }

    /// Starts the app on an existing data directory (a restart).
    pub async fn start_in(dir: TempDir, clusters: Option<Arc<dyn Clusters>>) -> TestApp {
        let cfg = serve_config(dir.path());
        let mut state = fluidform::daemon::prepare(&cfg).await.expect("daemon prepares");
        if let Some(c) = clusters {
            let ctx = Arc::get_mut(&mut state.ctx).expect("nothing else holds the context yet");
            ctx.clusters = c;
        }
        TestApp { dir, state: web::Data::new(state) }
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = TestRequest::default().method(method).uri(path);
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        if let Some(b) = body {
            req = req.insert_header(("Content-Type", "application/json")).set_payload(b.to_string());
        }
        self.send(req).await
    }

    pub async fn send(&self, req: TestRequest) -> Resp {
        let app = init_service(build_app(self.state.clone())).await;
        let resp: ServiceResponse = app.call(req.to_request()).await.expect("service answers").map_into_boxed_body();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = to_bytes(resp.into_body()).await.map(|b| b.to_vec()).unwrap_or_default();
        Resp { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, Some(ADMIN), None).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(ADMIN), Some(body)).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(ADMIN), Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, Some(ADMIN), None).await
    }

    pub async fn put_yaml(&self, path: &str, yaml: &str, token: &str) -> Resp {
        let req = TestRequest::put()
            .uri(path)
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Content-Type", "application/yaml"))
            .set_payload(yaml.to_string());
        self.send(req).await
    }

    /// A JSON merge patch as the admin.
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        let req = TestRequest::patch()
            .uri(path)
            .insert_header(("Authorization", format!("Bearer {ADMIN}")))
            .insert_header(("Content-Type", "application/merge-patch+json"))
            .set_payload(body.to_string());
        self.send(req).await
    }

    /// Registers cluster `name` with a token credential and the given default layer.
    pub async fn cluster(&self, name: &str, defaults: &[&str]) {
        let r = self
            .put(
                &format!("/v1/clusters/{name}"),
                serde_json::json!({"server": "https://127.0.0.1:6443", "insecureSkipTlsVerify": true,
                    "token": format!("cluster-token-{name}"), "defaultImagePullSecrets": defaults}),
            )
            .await;
        assert!(r.status.is_success(), "cluster {name}: {}", r.text());
    }

    pub async fn credential(&self, name: &str, password: &str) {
        let r = self
            .put(
                &format!("/v1/credentials/{name}"),
                serde_json::json!({"registry": "registry.example.com", "username": "puller", "password": password}),
            )
            .await;
        assert!(r.status.is_success(), "credential {name}: {}", r.text());
    }

    /// Stores a `Shared` Dataset beside runtime `ns/name`, so its worker may share a node
    /// with other runtimes' workers (Fluid's default placement, `Exclusive`, allows one
    /// cache worker per node, which few fake nodes cannot hold for a fleet).
    pub async fn shared_dataset(&self, ns: &str, name: &str, cluster: &str) {
        let r = self.put(&format!("/v1/datasets/{ns}/{name}?cluster={cluster}"), shared_dataset(name)).await;
        assert!(r.status.is_success(), "dataset {ns}/{name}: {}", r.text());
    }
}

/// A Dataset named `name` with `placement: Shared` and no mounts.
pub fn shared_dataset(name: &str) -> Value {
    serde_json::json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset",
        "metadata": {"name": name}, "spec": {"placement": "Shared"}})
}

/// The seed example from Fluid's documentation, verbatim.
pub const SEED_YAML: &str = r#"apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata:
  name: hbase
spec:
  replicas: 2
  imagePullSecrets:
    - name: global-secret
  tieredstore:
    levels:
      - mediumtype: MEM
        path: /dev/shm
        quota: 2Gi
        high: "0.95"
        low: "0.7"
  master:
    replicas: 3
    imagePullSecrets:
      - name: master-secret
  worker:
    imagePullSecrets:
      - name: worker-secret
"#;

/// A JSON AlluxioRuntime named `name` with the given layers (None = field absent).
pub fn runtime_json(
    name: &str,
    global: Option<&[&str]>,
    master: Option<&[&str]>,
    worker: Option<&[&str]>,
    fuse: Option<&[&str]>,
) -> Value {
    let refs = |l: &[&str]| Value::Array(l.iter().map(|n| serde_json::json!({"name": n})).collect());
    let mut spec = serde_json::json!({
        "replicas": 1,
        "tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "1Gi", "high": "0.95", "low": "0.7"}]},
    });
    if let Some(g) = global {
        spec["imagePullSecrets"] = refs(g);
    }
    for (k, l) in [("master", master), ("worker", worker), ("fuse", fuse)] {
        if let Some(l) = l {
            spec[k] = serde_json::json!({"imagePullSecrets": refs(l)});
        }
    }
    serde_json::json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "AlluxioRuntime",
        "metadata": {"name": name, "labels": {"team": "data"}}, "spec": spec})
}
