//! Fluid on a test control plane, without Fluid: CustomResourceDefinitions installed (the
//! project's own, generated from its types, or Fluid's own from `../shared/fluid/crds`),
//! Deployments standing in for Fluid's controllers, and a stand-in for Fluid's runtime
//! controllers that does what matters to fluidform: once per runtime resource it creates
//! the workloads Fluid's chart would (names, labels, `OnDelete`, each component's
//! pull-secret list from the resource, as the chart picks it), with a create as field
//! manager `ddc-helm` (an `Update` in managedFields, as Fluid's helm install), and never
//! touches them again.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::cluster::TestCluster;
use super::live::{client, kind_api};

/// Fluid's own CRDs (test data beside the repository), if that directory is there. In CI
/// it must be.
pub fn fluids_own_crds() -> Option<Vec<Value>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fluid/crds");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing; CI copies ../shared beside the repository",
            dir.display()
        );
        eprintln!("skipping the check against Fluid's own CRDs: {} is missing", dir.display());
        return None;
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let text = std::fs::read_to_string(e.path()).expect("read a CRD");
        out.push(serde_saphyr::from_str::<Value>(&text).expect("a CRD parses"));
    }
    out.sort_by_key(|c| c["metadata"]["name"].as_str().unwrap_or_default().to_string());
    Some(out)
}

/// Installs CRDs and waits until the API server serves them.
pub async fn install_crds(cluster: &TestCluster, crds: &[Value]) {
    let kc = client(cluster).await;
    let api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(kc.clone());
    for crd in crds {
        let name = crd["metadata"]["name"].as_str().unwrap().to_string();
        let obj: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
            serde_json::from_value(crd.clone()).unwrap_or_else(|e| panic!("CRD {name}: {e}"));
        api.patch(&name, &PatchParams::apply("test").force(), &Patch::Apply(&obj))
            .await
            .unwrap_or_else(|e| panic!("installing CRD {name}: {e}"));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for crd in crds {
        let name = crd["metadata"]["name"].as_str().unwrap();
        loop {
            let c = api.get(name).await.expect("read CRD");
            let established = c
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            assert!(Instant::now() < deadline, "CRD {name} not established");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Discovery catches up a moment later.
    let deadline = Instant::now() + Duration::from_secs(30);
    while kc.list_api_group_resources("data.fluid.io/v1alpha1").await.map(|l| l.resources.len()).unwrap_or(0)
        < crds.len()
    {
        assert!(Instant::now() < deadline, "Fluid's resources not served");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Deployments named like Fluid's controllers in `fluid-system` (no pods), so a probe
/// finds "controllers".
pub async fn fake_controllers(cluster: &TestCluster) {
    let kc = client(cluster).await;
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(kc.clone());
    let _ = ns
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "fluid-system"}})).unwrap())
        .await;
    let deps: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(kc, "fluid-system");
    for name in ["dataset-controller", "alluxioruntime-controller", "jindoruntime-controller", "thinruntime-controller"]
    {
        let d = json!({"metadata": {"name": name}, "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "fluid"}]}}}});
        deps.create(&PostParams::default(), &serde_json::from_value(d).unwrap()).await.expect("controller deployment");
    }
}

/// The workloads Fluid's chart creates for a runtime resource (see the module doc).
pub fn fluid_workloads(cr: &Value) -> Vec<Value> {
    let kind = cr["kind"].as_str().unwrap();
    let name = cr["metadata"]["name"].as_str().unwrap();
    let ns = cr["metadata"]["namespace"].as_str().unwrap();
    let global = cr["spec"]["imagePullSecrets"].clone();
    let list = |comp: &str| {
        let own = &cr["spec"][comp]["imagePullSecrets"];
        if own.as_array().is_some_and(|l| !l.is_empty()) { own.clone() } else { global.clone() }
    };
    let (app, chart, prefix, comps): (&str, &str, String, Vec<&str>) = match kind {
        "AlluxioRuntime" => ("alluxio", "alluxio-0.9.14", name.to_string(), vec!["master", "worker", "fuse"]),
        "JindoRuntime" => ("jindofs", "jindofs-1.0.5", format!("{name}-jindofs"), vec!["master", "worker", "fuse"]),
        "ThinRuntime" => {
            let mut c = vec!["fuse"];
            if cr["spec"]["worker"]["enabled"] == true {
                c.insert(0, "worker");
            }
            ("thin", "thin-0.1.5", name.to_string(), c)
        }
        other => panic!("kind {other}"),
    };
    comps
        .into_iter()
        .map(|comp| {
            let role = format!("{app}-{comp}");
            let labels = json!({"app": app, "chart": chart, "release": name, "heritage": "Helm", "role": role,
                "app.kubernetes.io/managed-by": "Helm", "fluid.io/managed-by": "fluid"});
            let selector = json!({"app": app, "release": name, "role": role});
            let mut spec = json!({"containers": [{"name": comp, "image": format!("{app}:placeholder")}]});
            if list(comp).as_array().is_some_and(|l| !l.is_empty()) {
                spec["imagePullSecrets"] = list(comp);
            }
            let mut w = json!({"metadata": {"name": format!("{prefix}-{comp}"), "namespace": ns, "labels": labels},
                "spec": {"selector": {"matchLabels": selector}, "updateStrategy": {"type": "OnDelete"},
                    "template": {"metadata": {"labels": labels}, "spec": spec}}});
            if comp == "fuse" {
                w["apiVersion"] = json!("apps/v1");
                w["kind"] = json!("DaemonSet");
                w["spec"]["template"]["spec"]["nodeSelector"] = json!({format!("fluid.io/f-{ns}-{name}"): "true"});
            } else {
                w["apiVersion"] = json!("apps/v1");
                w["kind"] = json!("StatefulSet");
                w["spec"]["replicas"] = json!(1);
                w["spec"]["serviceName"] = json!(format!("{prefix}-{comp}"));
            }
            w
        })
        .collect()
}

/// The stand-in for Fluid's runtime controllers, polling `namespaces` until dropped.
pub struct StandIn {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn stand_in(cluster: &TestCluster, namespaces: &[&str]) -> StandIn {
    let kc = client(cluster).await;
    let namespaces: Vec<String> = namespaces.iter().map(|s| s.to_string()).collect();
    let task = tokio::spawn(async move {
        loop {
            for ns in &namespaces {
                for kind in ["AlluxioRuntime", "JindoRuntime", "ThinRuntime"] {
                    let Ok(list) = kind_api(&kc, kind, ns).list(&Default::default()).await else { continue };
                    for cr in list.items {
                        let cr = serde_json::to_value(cr).unwrap();
                        for w in fluid_workloads(&cr) {
                            let wk = w["kind"].as_str().unwrap();
                            let api = kind_api(&kc, wk, ns);
                            let obj: DynamicObject = serde_json::from_value(w).unwrap();
                            let pp = PostParams { field_manager: Some("ddc-helm".into()), ..Default::default() };
                            // Created once; an existing one is never touched again.
                            let _ = api.create(&pp, &obj).await;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    StandIn { task }
}
