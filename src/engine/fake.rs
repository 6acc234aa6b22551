//! An in-memory cluster behind the `Clusters` port, for fast tests of plan, apply, drift
//! and rotations. It keeps objects as the engine sent them, plays the StatefulSet and
//! DaemonSet controllers (pods per replica or per matching node, `OnDelete`: a pod keeps
//! its template until deleted; new pods are ready at once unless told otherwise), records
//! every request, the most mutating requests it ever had in flight, and fails the requests
//! a test tells it to.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::port::{Cluster, ClusterError, ClusterTarget, Clusters, Deleted, RequestCounter, RequestCounts, Result};
use crate::domain::kinds::Kind;
use crate::domain::rollout::{Pod, RolloutState, Workload};
use crate::domain::selector::parse_selector;

/// One request as the fake saw it: verb (`rollout` for a read of workloads and pods), kind,
/// namespace, name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub verb: &'static str,
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

type Fault = Box<dyn Fn(&Request) -> Option<ClusterError> + Send + Sync>;
type Hold = Box<dyn Fn(&Request) -> bool + Send + Sync>;

#[derive(Default)]
struct State {
    objects: BTreeMap<(Kind, String, String), Value>,
    requests: Vec<Request>,
    /// Node names and labels, for DaemonSet pods.
    nodes: BTreeMap<String, BTreeMap<String, String>>,
    /// Name prefixes of pods created unready from now on.
    unready: BTreeSet<String>,
    /// The resources of `data.fluid.io/v1alpha1` served (Fluid is "installed" when set).
    fluid: Vec<String>,
}

/// One fake API server.
pub struct FakeCluster {
    state: Mutex<State>,
    fault: Mutex<Option<Fault>>,
    /// Writes this says yes to never get an answer (as if the process died with them in flight).
    hold: Mutex<Option<Hold>>,
    /// Writes this says yes to wait until `resume` (a run caught mid-wave).
    pause: Mutex<Option<Hold>>,
    resumed: tokio::sync::watch::Sender<u64>,
    /// How many writes wait in `pause` now.
    pub paused: AtomicUsize,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// How long a mutating request takes (so concurrency can build up).
    pub write_latency: Duration,
    /// Whether `Cluster::watched` answers (as a watch that is never behind); off by default.
    pub watching: std::sync::atomic::AtomicBool,
}

impl Default for FakeCluster {
    fn default() -> Self {
        let mut state = State::default();
        for n in ["node-0", "node-1"] {
            state.nodes.insert(n.into(), BTreeMap::new());
        }
        FakeCluster {
            state: Mutex::new(state),
            fault: Mutex::new(None),
            hold: Mutex::new(None),
            pause: Mutex::new(None),
            resumed: tokio::sync::watch::Sender::new(0),
            paused: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            write_latency: Duration::from_millis(2),
            watching: Default::default(),
        }
    }
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

fn labels_at(v: &Value, p: &str) -> BTreeMap<String, String> {
    v.pointer(p).and_then(|l| serde_json::from_value(l.clone()).ok()).unwrap_or_default()
}

fn template_hash(template: &Value) -> String {
    hex::encode(&Sha256::digest(template.to_string().as_bytes())[..5])
}

impl FakeCluster {
    /// Every request seen so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests with this verb.
    pub fn count(&self, verb: &str) -> usize {
        self.requests().iter().filter(|r| r.verb == verb).count()
    }

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(&(kind, namespace.to_string(), name.to_string())).cloned()
    }

    /// Puts an object as another client would (it is not fluidform's).
    pub fn put(&self, object: Value) {
        let key = (
            Kind::parse(str_at(&object, "/kind")).expect("a known kind"),
            str_at(&object, "/metadata/namespace").into(),
            str_at(&object, "/metadata/name").into(),
        );
        let mut s = self.state.lock().unwrap();
        s.objects.insert(key, object);
        s.reconcile();
    }

    /// Fails every request `fault` returns an error for, from now on.
    pub fn fail_when(&self, fault: impl Fn(&Request) -> Option<ClusterError> + Send + Sync + 'static) {
        *self.fault.lock().unwrap() = Some(Box::new(fault));
    }

    /// Writes `which` picks are accepted and never answered, from now on.
    pub fn hold_when(&self, which: impl Fn(&Request) -> bool + Send + Sync + 'static) {
        *self.hold.lock().unwrap() = Some(Box::new(which));
    }

    /// Writes `which` picks wait, from now on until `resume`.
    pub fn pause_when(&self, which: impl Fn(&Request) -> bool + Send + Sync + 'static) {
        *self.pause.lock().unwrap() = Some(Box::new(which));
    }

    /// Lets the paused writes go on, and pauses no more.
    pub fn resume(&self) {
        *self.pause.lock().unwrap() = None;
        self.resumed.send_modify(|n| *n += 1);
    }

    pub fn heal(&self) {
        *self.fault.lock().unwrap() = None;
        *self.hold.lock().unwrap() = None;
    }

    /// Serves Fluid's resources from now on (as if Fluid's CRDs were installed).
    pub fn install_fluid(&self) {
        let mut s = self.state.lock().unwrap();
        s.fluid = ["datasets", "alluxioruntimes", "jindoruntimes", "thinruntimes", "thinruntimeprofiles"]
            .map(String::from)
            .to_vec();
    }

    /// Labels a node (DaemonSet pods follow node selectors).
    pub fn label_node(&self, node: &str, key: &str, value: &str) {
        let mut s = self.state.lock().unwrap();
        s.nodes.entry(node.into()).or_default().insert(key.into(), value.into());
        s.reconcile();
    }

    /// Pods created from now on whose name starts with `prefix` are not ready (until
    /// `ready_again`); pods that exist keep their state.
    pub fn keep_unready(&self, prefix: &str) {
        let mut s = self.state.lock().unwrap();
        s.unready.insert(prefix.into());
    }

    /// Pods whose name starts with `prefix` are not ready, from now on and already.
    pub fn make_unready(&self, prefix: &str) {
        let mut s = self.state.lock().unwrap();
        s.unready.insert(prefix.into());
        s.set_ready(|name| name.starts_with(prefix), false);
        s.reconcile();
    }

    /// Every pod is ready, and new ones will be.
    pub fn ready_again(&self) {
        let mut s = self.state.lock().unwrap();
        s.unready.clear();
        s.set_ready(|_| true, true);
        s.reconcile();
    }

    fn begin(&self, req: Request) -> Result<()> {
        let fault = self.fault.lock().unwrap().as_ref().and_then(|f| f(&req));
        self.state.lock().unwrap().requests.push(req);
        match fault {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn write<T>(&self, req: Request, f: impl FnOnce(&mut State) -> T) -> Result<T> {
        let held = self.hold.lock().unwrap().as_ref().is_some_and(|h| h(&req));
        let mut resumed = self.resumed.subscribe();
        let paused = self.pause.lock().unwrap().as_ref().is_some_and(|p| p(&req));
        let touched = (req.kind, req.namespace.clone(), req.name.clone());
        self.begin(req)?;
        if held {
            std::future::pending::<()>().await;
        }
        if paused {
            self.paused.fetch_add(1, Ordering::SeqCst);
            let _ = resumed.changed().await;
            self.paused.fetch_sub(1, Ordering::SeqCst);
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.write_latency).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut s = self.state.lock().unwrap();
        let out = f(&mut s);
        s.reconcile_after(&touched);
        Ok(out)
    }
}

impl State {
    fn set_ready(&mut self, which: impl Fn(&str) -> bool, ready: bool) {
        for ((k, _, name), p) in self.objects.iter_mut() {
            if *k == Kind::Pod && which(name) {
                p["status"]["conditions"] = json!([{"type": "Ready", "status": if ready { "True" } else { "False" }}]);
            }
        }
    }

    /// Plays the workload controllers for every workload.
    fn reconcile(&mut self) {
        self.reconcile_where(|_, _, _| true);
    }

    /// Plays the workload controllers after a write to `(kind, namespace, name)`: a
    /// workload's own write, or a pod's (its owner's name is a prefix of the pod's), is the
    /// only write that can change a workload's pods or status, so only those are looked at.
    /// Reconciling every workload after every write made a run O(objects²).
    fn reconcile_after(&mut self, (kind, namespace, name): &(Kind, String, String)) {
        match kind {
            k if k.is_workload() => self.reconcile_where(|wk, ns, n| wk == *k && ns == namespace && n == name),
            Kind::Pod => self.reconcile_where(|_, ns, n| {
                ns == namespace && name.strip_prefix(n).is_some_and(|rest| rest.starts_with('-'))
            }),
            _ => {}
        }
    }

    /// Plays the workload controllers: pods for every StatefulSet replica and every node a
    /// DaemonSet selects, made from the current template only when missing.
    fn reconcile_where(&mut self, which: impl Fn(Kind, &str, &str) -> bool) {
        let workloads: Vec<((Kind, String, String), Value)> = self
            .objects
            .iter()
            .filter(|((k, ns, n), _)| k.is_workload() && which(*k, ns, n))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for ((kind, ns, name), w) in workloads {
            let template = w.pointer("/spec/template").cloned().unwrap_or(json!({}));
            let generation = w.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
            let (marker, current, wanted): (&str, String, Vec<String>) = match kind {
                Kind::StatefulSet => {
                    let replicas = w.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
                    (
                        "controller-revision-hash",
                        format!("{name}-{}", template_hash(&template)),
                        (0..replicas).map(|i| format!("{name}-{i}")).collect(),
                    )
                }
                _ => {
                    let selector = labels_at(&w, "/spec/template/spec/nodeSelector");
                    let nodes = self.nodes.iter().filter(|(_, l)| selector.iter().all(|(k, v)| l.get(k) == Some(v)));
                    (
                        "pod-template-generation",
                        generation.to_string(),
                        nodes.map(|(n, _)| format!("{name}-{n}")).collect(),
                    )
                }
            };
            for pod in &wanted {
                let key = (Kind::Pod, ns.clone(), pod.clone());
                if self.objects.contains_key(&key) {
                    continue;
                }
                let mut labels = labels_at(&template, "/metadata/labels");
                labels.insert(marker.into(), current.clone());
                let ready = !self.unready.iter().any(|p| pod.starts_with(p.as_str()));
                self.objects.insert(
                    key,
                    json!({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": pod, "namespace": ns, "labels": labels,
                            "uid": uuid::Uuid::new_v4().to_string(),
                            "ownerReferences": [{"kind": kind.as_str(), "name": name, "controller": true}]},
                        "spec": template.get("spec").cloned().unwrap_or(json!({})),
                        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}),
                );
            }
            let pods: Vec<&Value> =
                wanted.iter().filter_map(|p| self.objects.get(&(Kind::Pod, ns.clone(), p.clone()))).collect();
            let updated = pods.iter().filter(|p| str_at(p, &format!("/metadata/labels/{marker}")) == current).count();
            let ready =
                pods.iter().filter(|p| p.pointer("/status/conditions/0/status") == Some(&json!("True"))).count();
            let status = match kind {
                Kind::StatefulSet => {
                    json!({"observedGeneration": generation, "replicas": pods.len(), "updatedReplicas": updated,
                    "readyReplicas": ready, "availableReplicas": ready, "updateRevision": current})
                }
                _ => json!({"observedGeneration": generation, "desiredNumberScheduled": wanted.len(),
                    "updatedNumberScheduled": updated, "numberReady": ready, "numberAvailable": ready}),
            };
            if let Some(o) = self.objects.get_mut(&(kind, ns.clone(), name.clone())) {
                o["status"] = status;
            }
        }
    }

    fn list(&self, kind: Kind, namespace: &str, selector: &str) -> Vec<Value> {
        self.list_all(kind, selector)
            .into_iter()
            .filter(|(ns, _)| ns == namespace || !kind.info().namespaced)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// What `selector` matches of `kind` across all namespaces, each with its namespace.
    fn list_all(&self, kind: Kind, selector: &str) -> Vec<(String, &Value)> {
        let sel = parse_selector(selector).unwrap_or_default();
        self.objects
            .iter()
            .filter(|((k, _, _), v)| *k == kind && sel.matches(&labels_at(v, "/metadata/labels")))
            .map(|((_, ns, _), v)| (ns.clone(), v))
            .collect()
    }
}

fn workload(kind: Kind, namespace: &str, v: &Value) -> Workload {
    let int = |p: &str| v.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let (desired, updated, ready, available) = match kind {
        Kind::DaemonSet => (
            int("/status/desiredNumberScheduled"),
            int("/status/updatedNumberScheduled"),
            int("/status/numberReady"),
            int("/status/numberAvailable"),
        ),
        _ => (
            v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1),
            int("/status/updatedReplicas"),
            int("/status/readyReplicas"),
            int("/status/availableReplicas"),
        ),
    };
    Workload {
        kind: Some(kind),
        namespace: namespace.into(),
        name: str_at(v, "/metadata/name").into(),
        labels: labels_at(v, "/metadata/labels"),
        generation: int("/metadata/generation").max(1),
        observed_generation: int("/status/observedGeneration"),
        desired,
        updated,
        ready,
        available,
        update_revision: v.pointer("/status/updateRevision").and_then(Value::as_str).map(String::from),
        pull_secrets: pull_secrets(v.pointer("/spec/template/spec")),
    }
}

fn pull_secrets(spec: Option<&Value>) -> Vec<String> {
    spec.and_then(|s| s.get("imagePullSecrets"))
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(|s| s.get("name").and_then(Value::as_str).map(String::from)).collect())
        .unwrap_or_default()
}

/// The workloads and pods of a namespace that `selector` matches, as a rollout read sees them.
fn namespace_rollout(s: &State, namespace: &str, selector: &str) -> RolloutState {
    let mut workloads: Vec<Workload> = s
        .list(Kind::StatefulSet, namespace, selector)
        .iter()
        .map(|v| workload(Kind::StatefulSet, namespace, v))
        .collect();
    workloads
        .extend(s.list(Kind::DaemonSet, namespace, selector).iter().map(|v| workload(Kind::DaemonSet, namespace, v)));
    let pods = s.list(Kind::Pod, namespace, selector).iter().map(pod).collect();
    RolloutState { workloads, pods }
}

fn pod(v: &Value) -> Pod {
    Pod {
        name: str_at(v, "/metadata/name").into(),
        uid: str_at(v, "/metadata/uid").into(),
        labels: labels_at(v, "/metadata/labels"),
        owner: v
            .pointer("/metadata/ownerReferences/0")
            .and_then(|o| Some((Kind::parse(str_at(o, "/kind"))?, str_at(o, "/name").to_string()))),
        deleting: false,
        ready: v.pointer("/status/conditions/0/status") == Some(&json!("True")),
        phase: str_at(v, "/status/phase").into(),
        pull_secrets: pull_secrets(v.get("spec")),
        unschedulable: None,
    }
}

/// Fake clusters by name.
#[derive(Default)]
pub struct FakeClusters {
    clusters: Mutex<BTreeMap<String, Arc<FakeCluster>>>,
}

impl FakeClusters {
    /// The fake behind cluster `name` (created on first use).
    pub fn cluster(&self, name: &str) -> Arc<FakeCluster> {
        self.clusters.lock().unwrap().entry(name.to_string()).or_default().clone()
    }
}

#[async_trait::async_trait]
impl Clusters for FakeClusters {
    async fn connect(&self, target: &ClusterTarget) -> Result<Arc<dyn Cluster>> {
        Ok(Arc::new(Handle { cluster: self.cluster(&target.name), counter: RequestCounter::default() }))
    }
}

struct Handle {
    cluster: Arc<FakeCluster>,
    counter: RequestCounter,
}

fn req(verb: &'static str, kind: Kind, namespace: &str, name: &str) -> Request {
    Request { verb, kind, namespace: namespace.into(), name: name.into() }
}

#[async_trait::async_trait]
impl Cluster for Handle {
    async fn version(&self) -> Result<String> {
        self.counter.read();
        self.cluster.begin(req("version", Kind::Namespace, "", ""))?;
        Ok("v1.36.3-fake".into())
    }

    async fn can_i(&self, _verb: &str, _group: &str, _resource: &str, _ns: Option<&str>) -> Result<bool> {
        self.counter.write();
        Ok(true)
    }

    async fn apply(&self, object: &Value) -> Result<()> {
        self.counter.write();
        let kind = Kind::parse(str_at(object, "/kind")).ok_or_else(|| ClusterError::Config("unknown kind".into()))?;
        let (ns, name) =
            (str_at(object, "/metadata/namespace").to_string(), str_at(object, "/metadata/name").to_string());
        let object = object.clone();
        self.cluster
            .write(req("apply", kind, &ns, &name), move |s| {
                let key = (kind, ns, name);
                let mut next = object;
                let generation = match s.objects.get(&key) {
                    Some(old) => {
                        let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
                        if old.get("spec") != next.get("spec") { g + 1 } else { g }
                    }
                    None => 1,
                };
                next["metadata"]["generation"] = json!(generation);
                if let Some(status) = s.objects.get(&key).and_then(|o| o.get("status")).cloned() {
                    next["status"] = status;
                }
                s.objects.insert(key, next);
            })
            .await
    }

    async fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<Deleted> {
        self.counter.write();
        let key = (kind, namespace.to_string(), name.to_string());
        self.cluster
            .write(req("delete", kind, namespace, name), move |s| {
                let Some(obj) = s.objects.get(&key) else { return Deleted::Gone };
                if kind != Kind::Pod && str_at(obj, "/metadata/labels/app.kubernetes.io~1managed-by") != "fluidform" {
                    return Deleted::NotOurs;
                }
                s.objects.remove(&key);
                if kind.is_workload() {
                    s.objects.retain(|(k, ns, _), v| {
                        !(*k == Kind::Pod && *ns == key.1 && str_at(v, "/metadata/ownerReferences/0/name") == key.2)
                    });
                }
                Deleted::Deleted
            })
            .await
    }

    async fn list(&self, kind: Kind, namespace: &str, selector: &str) -> Result<Vec<Value>> {
        self.counter.read();
        self.cluster.begin(req("list", kind, namespace, ""))?;
        Ok(self.cluster.state.lock().unwrap().list(kind, namespace, selector))
    }

    async fn list_names(&self, kind: Kind, namespace: &str, selector: &str) -> Result<BTreeSet<String>> {
        self.counter.read();
        self.cluster.begin(req("list", kind, namespace, ""))?;
        let s = self.cluster.state.lock().unwrap();
        Ok(s.list(kind, namespace, selector).iter().map(|v| str_at(v, "/metadata/name").to_string()).collect())
    }

    async fn rollout(&self, namespace: &str, selector: &str) -> Result<RolloutState> {
        for _ in 0..3 {
            self.counter.read();
        }
        self.cluster.begin(req("rollout", Kind::Pod, namespace, ""))?;
        Ok(namespace_rollout(&self.cluster.state.lock().unwrap(), namespace, selector))
    }

    async fn rollouts(&self, selector: &str) -> Result<BTreeMap<String, RolloutState>> {
        for _ in 0..3 {
            self.counter.read();
        }
        self.cluster.begin(req("rollout", Kind::Pod, "", ""))?;
        let s = self.cluster.state.lock().unwrap();
        let mut out: BTreeMap<String, RolloutState> = BTreeMap::new();
        for kind in [Kind::StatefulSet, Kind::DaemonSet] {
            for (ns, v) in s.list_all(kind, selector) {
                let w = workload(kind, &ns, v);
                out.entry(ns).or_default().workloads.push(w);
            }
        }
        for (ns, v) in s.list_all(Kind::Pod, selector) {
            out.entry(ns).or_default().pods.push(pod(v));
        }
        Ok(out)
    }

    fn watched(&self, namespaces: &BTreeMap<&str, BTreeSet<&str>>) -> Option<BTreeMap<String, RolloutState>> {
        if !self.cluster.watching.load(Ordering::SeqCst) {
            return None;
        }
        self.cluster.begin(req("watched", Kind::Pod, "", "")).ok()?;
        let s = self.cluster.state.lock().unwrap();
        let mut out = BTreeMap::new();
        for (ns, releases) in namespaces {
            let selector = format!("release in ({})", releases.iter().copied().collect::<Vec<_>>().join(","));
            let state = namespace_rollout(&s, ns, &selector);
            if !state.workloads.is_empty() || !state.pods.is_empty() {
                out.insert(ns.to_string(), state);
            }
        }
        Some(out)
    }

    async fn delete_pod(&self, namespace: &str, name: &str, uid: &str) -> Result<()> {
        let key = (Kind::Pod, namespace.to_string(), name.to_string());
        let replaced =
            self.cluster.state.lock().unwrap().objects.get(&key).is_some_and(|p| str_at(p, "/metadata/uid") != uid);
        if replaced {
            // The API server refuses the delete (its uid precondition fails): nothing happens.
            self.counter.write();
            return Ok(());
        }
        self.delete(Kind::Pod, namespace, name).await.map(|_| ())
    }

    async fn discover_fluid(&self) -> Result<(Vec<String>, Option<Vec<String>>)> {
        self.counter.read();
        self.cluster.begin(req("discover", Kind::Namespace, "", ""))?;
        let s = self.cluster.state.lock().unwrap();
        let controllers = (!s.fluid.is_empty())
            .then(|| vec!["alluxioruntime-controller".to_string(), "dataset-controller".to_string()]);
        Ok((s.fluid.clone(), controllers.or(Some(vec![]))))
    }

    async fn set_pull_secrets(&self, kind: Kind, namespace: &str, name: &str, names: &[String]) -> Result<()> {
        self.counter.write();
        let key = (kind, namespace.to_string(), name.to_string());
        let list: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
        self.cluster
            .write(req("patch", kind, namespace, name), move |s| match s.objects.get_mut(&key) {
                None => Err(ClusterError::Api {
                    status: 404,
                    reason: "NotFound".into(),
                    message: "no such workload".into(),
                }),
                Some(o) => {
                    if o.pointer("/spec/template/spec/imagePullSecrets") != Some(&Value::Array(list.clone())) {
                        o["spec"]["template"]["spec"]["imagePullSecrets"] = Value::Array(list);
                        let g = o.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
                        o["metadata"]["generation"] = json!(g + 1);
                    }
                    Ok(())
                }
            })
            .await?
    }

    async fn ensure_namespace(&self, name: &str) -> Result<bool> {
        self.counter.read();
        if self.cluster.get(Kind::Namespace, "", name).is_some() {
            return Ok(false);
        }
        self.counter.write();
        let n = name.to_string();
        self.cluster
            .write(req("create", Kind::Namespace, "", name), move |s| {
                s.objects.insert(
                    (Kind::Namespace, String::new(), n.clone()),
                    json!({"kind": "Namespace", "metadata": {"name": n}}),
                );
            })
            .await
            .map(|()| true)
    }

    fn requests(&self) -> RequestCounts {
        self.counter.snapshot()
    }
}
