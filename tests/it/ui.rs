//! `/ui` in headless Chromium (Debian's `chromium` driven by `playwright-core`, see
//! tests/ui/): the page loads with no network but loopback, follows a gated rotation's
//! batches live, and its approve button moves the rotation on.
//! `FLUIDFORM_UI_SCREENSHOT=path` keeps the screenshot (the README's is made so).

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::cluster::TestCluster;
use crate::support::daemon::{Daemon, http};
use crate::support::live::{label_nodes_for, wait_rolled_out};

const TOKEN: &str = "ui-test-admin-token-0123456";

fn ok(d: &Daemon, method: &str, path: &str, body: Value) -> Value {
    let (status, v) = d.call(TOKEN, method, path, Some(&body));
    assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
    v
}

#[actix_web::test]
async fn assets_are_embedded_and_locked_to_this_origin() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&dir.path().join("data"), &dir.path().join("log"), Some(TOKEN));
    for (path, kind) in [("/ui", "text/html"), ("/ui/app.js", "text/javascript"), ("/ui/app.css", "text/css")] {
        let (status, raw) = http(&d.addr, "GET", path, None, None).unwrap();
        assert_eq!(status, 200, "{path}");
        let head = raw.split("\r\n\r\n").next().unwrap().to_lowercase();
        assert!(head.contains(&format!("content-type: {kind}")), "{path}: {head}");
        assert!(head.contains("content-security-policy: default-src 'none'"), "{path}: {head}");
        assert!(!raw.contains("https://") && !raw.contains("http://"), "{path} refers to another host");
    }
}

#[actix_web::test]
async fn page_follows_a_rotation_and_approves_it() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    assert!(
        ui.join("node_modules/playwright-core").exists(),
        "run `npm ci` in tests/ui (and apt-get install chromium nodejs); .ci/run does"
    );
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&dir.path().join("data"), &dir.path().join("daemon.log"), Some(TOKEN));
    ok(&d, "PUT", "/v1/clusters/k", json!({"kubeconfig": cluster.kubeconfig}));
    ok(&d, "PUT", "/v1/credentials/global-secret", json!({"registry": "r", "username": "u", "password": "v1"}));
    let names = ["web-a", "web-b"];
    for n in names {
        let mut rt = crate::support::app::runtime_json(n, Some(&["global-secret"]), None, None, None);
        for c in ["master", "worker", "fuse"] {
            rt["spec"][c] = json!({"networkMode": "ContainerNetwork"});
        }
        ok(&d, "PUT", &format!("/v1/runtimes/ui/{n}?cluster=k"), rt);
        ok(&d, "PUT", &format!("/v1/datasets/ui/{n}?cluster=k"), crate::support::app::shared_dataset(n));
    }
    label_nodes_for(&cluster, &names.map(|n| ("ui", n))).await;
    let plan = ok(&d, "POST", "/v1/plans", json!({"all": true, "createNamespaces": true, "refresh": true}));
    let run = ok(&d, "POST", &format!("/v1/plans/{}/apply", plan["id"].as_str().unwrap()), json!({}));
    let run_id = run["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while d.call(TOKEN, "GET", &format!("/v1/runs/{run_id}"), None).1["status"] != "succeeded" {
        assert!(std::time::Instant::now() < deadline, "the run did not succeed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    wait_rolled_out(&cluster, "ui", &names).await;
    ok(
        &d,
        "POST",
        "/v1/credentials/global-secret/versions",
        json!({"registry": "r", "username": "u", "password": "v2"}),
    );
    let rot = ok(
        &d,
        "POST",
        "/v1/rotations",
        json!({"verify": false, "credential": "global-secret", "batches": [1, "100%"], "gate": "manual", "healthTimeout": "120s"}),
    );
    let id = rot["id"].as_str().unwrap().to_string();

    let shot =
        std::env::var("FLUIDFORM_UI_SCREENSHOT").unwrap_or_else(|_| dir.path().join("ui.png").display().to_string());
    let out = Command::new("node")
        .arg(ui.join("page.mjs"))
        .current_dir(&ui)
        .env("FLUIDFORM_URL", format!("http://{}", d.addr))
        .env("FLUIDFORM_TOKEN", TOKEN)
        .env("ROTATION", &id)
        .env("RUNTIME", "ui/web-a")
        .env("SCREENSHOT", &shot)
        .output()
        .expect("node runs");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser test failed:\n{text}");
    assert!(text.contains("ui: ok"), "{text}");
    let done = d.call(TOKEN, "GET", &format!("/v1/rotations/{id}"), None).1;
    assert_eq!(done["state"], "succeeded", "{done}");
    let approved = ok(&d, "GET", "/v1/audit", json!(null));
    assert!(approved.to_string().contains("approve"), "the approval came through the API: {approved}");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real screenshot");
}
