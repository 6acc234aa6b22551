//! The CLI (the same binary) end to end against the real daemon and a real control
//! plane: login, apply -f of several documents, plan, apply-plan, get -o json|yaml,
//! rotate --watch with its progress, and exit codes a script can use.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::cluster::TestCluster;
use crate::support::daemon::Daemon;
use crate::support::live::{label_nodes_for, pod_pull_secrets, wait_rolled_out};

const TOKEN: &str = "cli-test-admin-token-0123456";

fn cli(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fluidform"))
        .args(args)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("FLUIDFORM_URL")
        .env_remove("FLUIDFORM_TOKEN")
        .env_remove("FLUIDFORM_CONFIG")
        .output()
        .expect("the CLI runs")
}

#[track_caller]
fn ok(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {text}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn runtime_yaml(name: &str) -> String {
    format!(
        "apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata:
  name: {name}
  namespace: cli
spec:
  replicas: 1
  imagePullSecrets:
    - name: global-secret
  tieredstore:
    levels:
      - mediumtype: MEM
        path: /dev/shm
        quota: 1Gi
        high: \"0.95\"
        low: \"0.7\"
  master:
    networkMode: ContainerNetwork
  worker:
    networkMode: ContainerNetwork
  fuse:
    networkMode: ContainerNetwork
---
apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: {name}
  namespace: cli
spec:
  placement: Shared
"
    )
}

#[actix_web::test]
async fn cli_logs_in_applies_plans_and_rotates_against_the_daemon() {
    let cluster = TestCluster::start_with_nodes(1).await.expect("cluster");
    let dir = tempfile::tempdir().unwrap();
    let (data, log, home) = (dir.path().join("data"), dir.path().join("daemon.log"), dir.path().join("home"));
    std::fs::create_dir_all(&home).unwrap();
    let d = Daemon::start(&data, &log, Some(TOKEN));
    let url = format!("http://{}", d.addr);

    // Without a login: an auth failure a script can tell apart.
    let out = cli(&home, &["get", "runtimes", "--server", &url]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let out = cli(&home, &["login", "--server", &url, "--token", "wrong-token-123456789"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    ok(&cli(&home, &["login", "--server", &url, "--token", TOKEN]));
    let config = home.join("fluidform/config.json");
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o600);

    let (s, _) = d.call(TOKEN, "PUT", "/v1/clusters/k", Some(&json!({"kubeconfig": cluster.kubeconfig})));
    assert_eq!(s, 201);
    let (s, _) = d.call(
        TOKEN,
        "PUT",
        "/v1/credentials/global-secret",
        Some(&json!({"registry": "r", "username": "u", "password": "v1"})),
    );
    assert_eq!(s, 201);

    let file = dir.path().join("fleet.yaml");
    std::fs::write(&file, format!("{}---\n{}", runtime_yaml("a"), runtime_yaml("b"))).unwrap();
    let applied = ok(&cli(&home, &["apply", "-f", file.to_str().unwrap(), "--cluster", "k"]));
    assert!(applied.contains("cli/a") && applied.contains("cli/b"), "{applied}");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata:\n  name: c\nspec:\n  replicas: -1\n",
    )
    .unwrap();
    let out = cli(&home, &["apply", "-f", bad.to_str().unwrap(), "--cluster", "k", "-n", "cli"]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("replicas"), "{out:?}");

    let listed: Value = serde_json::from_str(&ok(&cli(&home, &["get", "runtimes", "-o", "json"]))).unwrap();
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b"], "{listed}");
    let yaml = ok(&cli(&home, &["get", "clusters", "-o", "yaml"]));
    assert!(yaml.contains("name: k"), "{yaml}");
    let table = ok(&cli(&home, &["get", "runtimes"]));
    assert!(table.lines().next().unwrap().contains("NAME"), "{table}");

    label_nodes_for(&cluster, &[("cli", "a"), ("cli", "b")]).await;
    let out = cli(&home, &["plan", "--all", "--create-namespaces", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(8), "a plan with changes: {out:?}");
    let diff = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(diff.contains("+ ") && diff.contains("StatefulSet"), "{diff}");
    let plan: Value =
        serde_json::from_str(&ok(&cli(&home, &["plan", "--all", "--create-namespaces", "-o", "json"]))).unwrap();
    let run: Value =
        serde_json::from_str(&ok(&cli(&home, &["apply-plan", plan["id"].as_str().unwrap(), "-o", "json"]))).unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    wait_rolled_out(&cluster, "cli", &["a", "b"]).await;
    assert_eq!(cli(&home, &["plan", "--all", "--detailed-exitcode"]).status.code(), Some(0));

    let (s, _) = d.call(
        TOKEN,
        "POST",
        "/v1/credentials/global-secret/versions",
        Some(&json!({"registry": "r", "username": "u", "password": "v2"})),
    );
    assert_eq!(s, 201);
    let preview = ok(&cli(
        &home,
        &["rotate", "global-secret", "--batches", "1,100%", "--batch-interval", "1s", "--verify", "false", "--preview"],
    ));
    assert!(preview.to_lowercase().contains("batch"), "{preview}");
    let rotated = cli(
        &home,
        &["rotate", "global-secret", "--batches", "1,100%", "--verify", "false", "--watch", "--health-timeout", "120s"],
    );
    let text = ok(&rotated);
    assert!(text.contains("succeeded"), "{text}\n{}", String::from_utf8_lossy(&rotated.stderr));
    for (pod, secrets) in pod_pull_secrets(&cluster, "cli").await {
        assert_eq!(secrets, ["global-secret-v2"], "pod {pod}");
    }
    let rots: Value = serde_json::from_str(&ok(&cli(&home, &["get", "rotations", "-o", "json"]))).unwrap();
    let id = rots[0]["id"].as_str().unwrap().to_string();
    assert_eq!(rots[0]["state"], "succeeded");
    let out = cli(&home, &["approve", &id]);
    assert_eq!(out.status.code(), Some(5), "approving a finished rotation is a conflict: {out:?}");
    let out = cli(&home, &["get", "rotations", "no-such-rotation"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
}
