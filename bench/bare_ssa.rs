//! The baseline of `bench/apply.sh`: a bare concurrent server-side-apply client, with no
//! store, no plan and no bookkeeping. It reads objects (one JSON object per line), applies
//! the Namespaces first, then every other object with `--concurrency` in flight, through
//! kube-rs (the client stack fluidform uses), field manager `--field-manager`, `force`.
//! Prints the seconds from the first request to the last response.
//!
//! With `--list`, the baseline of a refresh instead: the LISTs a standalone refresh of one
//! namespace sends (ConfigMaps, Services, StatefulSets, DaemonSets and Pods by fluidform's
//! label, every Secret), all at once, each parsed into objects; prints their seconds.
//!
//!   cargo build --release --example bare_ssa
//!   target/release/examples/bare_ssa KUBECONFIG OBJECTS.jsonl [CONCURRENCY] [FIELD-MANAGER]
//!   target/release/examples/bare_ssa --list KUBECONFIG NAMESPACE

use std::time::Instant;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use serde_json::Value;

fn api(client: &kube::Client, object: &Value) -> (Api<DynamicObject>, String) {
    let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let (api_version, kind) = (text("/apiVersion"), text("/kind"));
    let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
    let plural = format!("{}s", kind.to_lowercase());
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, &kind), &plural);
    let api = match object.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    (api, text("/metadata/name"))
}

async fn client(kubeconfig: &str) -> kube::Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("config");
    kube::Client::try_from(config).expect("client")
}

async fn list(kubeconfig: &str, namespace: &str) {
    let client = client(kubeconfig).await;
    let managed = ListParams::default().labels("app.kubernetes.io/managed-by=fluidform");
    let kinds = [
        ("", "v1", "ConfigMap", "configmaps", &managed),
        ("", "v1", "Service", "services", &managed),
        ("apps", "v1", "StatefulSet", "statefulsets", &managed),
        ("apps", "v1", "DaemonSet", "daemonsets", &managed),
        ("", "v1", "Pod", "pods", &managed),
        ("", "v1", "Secret", "secrets", &ListParams::default()),
    ];
    let t0 = Instant::now();
    let lists = futures::future::join_all(kinds.iter().map(|(g, v, k, plural, params)| {
        let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, k), plural);
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
        async move { api.list(params).await.expect("list").items.len() }
    }))
    .await;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!("listed {} objects", lists.iter().sum::<usize>());
    println!("{secs:.4}");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, kubeconfig, namespace] = args.as_slice()
        && flag == "--list"
    {
        return list(kubeconfig, namespace).await;
    }
    let [_, kubeconfig, objects, rest @ ..] = args.as_slice() else {
        panic!("usage: bare_ssa KUBECONFIG OBJECTS.jsonl [CONCURRENCY] [FIELD-MANAGER]")
    };
    let concurrency: usize = rest.first().map_or(16, |c| c.parse().expect("concurrency"));
    let manager = rest.get(1).map_or("bare-ssa", String::as_str);
    let client = client(kubeconfig).await;
    let objects: Vec<Value> = std::fs::read_to_string(objects)
        .expect("objects")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("object"))
        .collect();
    let (namespaces, rest): (Vec<&Value>, Vec<&Value>) = objects.iter().partition(|o| o["kind"] == "Namespace");
    let params = PatchParams::apply(manager).force();
    let apply = |o: &Value| {
        let (api, name) = api(&client, o);
        let params = &params;
        let o = o.clone();
        async move { api.patch(&name, params, &Patch::Apply(&o)).await.map(|_| ()) }
    };
    let t0 = Instant::now();
    for ns in namespaces {
        apply(ns).await.expect("apply namespace");
    }
    let failed = futures::stream::iter(rest)
        .map(apply)
        .buffer_unordered(concurrency)
        .filter_map(|r| async move { r.err() })
        .collect::<Vec<_>>()
        .await;
    let secs = t0.elapsed().as_secs_f64();
    if let Some(e) = failed.first() {
        eprintln!("{} of {} applies failed; first: {e}", failed.len(), objects.len());
        std::process::exit(1);
    }
    println!("{secs:.4}");
}
