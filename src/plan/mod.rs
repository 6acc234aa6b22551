//! Plans: desired objects compared with what was last applied and, on refresh, with the
//! live objects, object by object and field by field; and the inputs they were made from,
//! so applying a plan whose inputs changed is refused.
//!
//! Scope: runtimes named `namespace/name`, a label selector, a cluster, or everything; the
//! filters given are combined (all must match). A runtime deleted from the desired state
//! but still applied is in scope when its name, stored labels or cluster match, and its
//! objects are planned for deletion. A credential Secret is deleted from a namespace when
//! no runtime of that cluster and namespace (in scope or not) references it any more.
//!
//! Reasons per object: `new` (never applied), `spec_change` (runtime generation moved),
//! `layer_change` (a pull-secret layer revision moved), `binding_change` (a credential
//! binding moved), `drift` (the live object differs from what was applied), `removal`.

pub mod apply;
pub mod diff;
pub mod drift;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::FieldError;
use crate::domain::render::{MANAGED_BY, MANAGED_BY_LABEL, RenderedObject};
use crate::domain::selector::parse_selector;
use crate::secrets::MasterKey;
use crate::service::ServiceError;
use crate::service::clusters::connect;
use crate::service::runtimes::{SecretData, render_runtime, resolution};
use crate::store::plans::{AppliedObject, ObjectKey, PlanRecord, SyncRecord};
use crate::store::runtimes::{RuntimeContext, RuntimeFilter};
use crate::store::{Store, StoreError};
use crate::sync::SyncError;
use crate::sync::client::ClusterClient;
use diff::{FieldDiff, diff, normalize, project, union_shape};

/// Kinds in apply order; deletes go in reverse.
pub const KIND_ORDER: [&str; 5] = ["Secret", "ConfigMap", "Service", "StatefulSet", "DaemonSet"];

pub fn kind_rank(kind: &str) -> usize {
    KIND_ORDER.iter().position(|k| *k == kind).unwrap_or(KIND_ORDER.len())
}

fn api_version_of(kind: &str) -> &'static str {
    match kind {
        "StatefulSet" | "DaemonSet" => "apps/v1",
        _ => "v1",
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanRequest {
    /// Runtimes as `namespace/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtimes: Option<Vec<String>>,
    /// Kubernetes label selector over runtime labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Only runtimes on this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Every runtime (needed when no other filter is given).
    #[serde(default)]
    pub all: bool,
    /// Read the live objects and compare with them too.
    #[serde(default)]
    pub refresh: bool,
    /// Create missing target namespaces when applying.
    #[serde(default)]
    pub create_namespaces: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Delete,
    NoOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    New,
    SpecChange,
    LayerChange,
    BindingChange,
    Drift,
    Removal,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanObject {
    pub cluster: String,
    pub namespace: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `namespace/name` of the owning runtime; absent for shared credential Secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    pub action: Action,
    pub reasons: Vec<Reason>,
    /// Managed fields before (applied or live) and after (desired); Secret data never shown.
    pub diff: Vec<FieldDiff>,
}

impl PlanObject {
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            cluster: self.cluster.clone(),
            namespace: self.namespace.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeInput {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub generation: i64,
    /// Fingerprint of the manifest without its pull-secret layers.
    pub spec_hash: String,
    pub layer_revision: i64,
    pub bindings: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemovedInput {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
}

/// Exactly what a plan was computed from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanInputs {
    pub runtimes: Vec<RuntimeInput>,
    pub removed: Vec<RemovedInput>,
    /// Cluster generations.
    pub clusters: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub no_op: usize,
    /// Read requests sent to each cluster to refresh (one LIST per namespace and kind).
    #[serde(default)]
    pub live_reads: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanWarning {
    pub cluster: String,
    pub namespace: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub created_by: String,
    pub request: PlanRequest,
    pub inputs: PlanInputs,
    pub summary: PlanSummary,
    pub objects: Vec<PlanObject>,
    pub warnings: Vec<PlanWarning>,
    /// The run that applied this plan, once applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl Plan {
    pub fn from_record(r: PlanRecord) -> Result<Self, StoreError> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("plan {}: {e}", r.id));
        Ok(Plan {
            request: serde_json::from_value(r.request).map_err(corrupt)?,
            inputs: serde_json::from_value(r.inputs).map_err(corrupt)?,
            summary: serde_json::from_value(r.summary).map_err(corrupt)?,
            objects: serde_json::from_value(r.objects).map_err(corrupt)?,
            warnings: serde_json::from_value(r.warnings).map_err(corrupt)?,
            id: r.id,
            created_at: r.created_at,
            expires_at: r.expires_at,
            created_by: r.created_by,
            run_id: r.run_id,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("invalid plan request")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("cluster {cluster:?}: {source}")]
    Cluster { cluster: String, source: SyncError },
    #[error("the plan's inputs changed since it was made: {0}")]
    Stale(String),
    #[error("the plan was already applied by run {0}")]
    AlreadyApplied(String),
    #[error("runtime lock {lock} is held by run {run:?} ({holder}) until {until}")]
    Locked { lock: String, holder: String, run: Option<String>, until: DateTime<Utc> },
    #[error("the plan expired at {0}")]
    Expired(DateTime<Utc>),
}

/// Live objects of one cluster namespace, as read by one LIST per kind.
#[derive(Debug, Default)]
pub struct LiveNamespace {
    pub objects: BTreeMap<(String, String), Value>,
    pub secret_names: BTreeSet<String>,
    /// Pods of fluidform's workloads (they carry its labels through the templates).
    pub pods: Vec<Value>,
}

impl LiveNamespace {
    /// Live workloads (except those in `going`, which the same plan deletes) and pods that
    /// still pull with the Secret `name`.
    pub fn holders_of(&self, name: &str, going: &BTreeSet<(String, String)>) -> Vec<String> {
        use crate::rotation::health::pulls_with;
        let mut out = Vec::new();
        for ((kind, n), obj) in &self.objects {
            if going.contains(&(kind.clone(), n.clone())) {
                continue;
            }
            if obj.pointer("/spec/template/spec").is_some_and(|s| pulls_with(s, name)) {
                out.push(format!("{kind} {n}"));
            }
        }
        for pod in &self.pods {
            let running =
                pod.pointer("/status/phase").and_then(Value::as_str).is_none_or(|p| p != "Succeeded" && p != "Failed");
            if running && pod.get("spec").is_some_and(|s| pulls_with(s, name)) {
                out.push(format!("Pod {}", pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()));
            }
        }
        out
    }
}

/// Reads a namespace's managed objects (one LIST per kind) and its Secret names.
pub async fn read_live(client: &ClusterClient, namespace: &str) -> Result<LiveNamespace, SyncError> {
    let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
    let mut live = LiveNamespace::default();
    for kind in &KIND_ORDER[1..] {
        for obj in client.list(api_version_of(kind), kind, namespace, &selector).await? {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
            live.objects.insert((kind.to_string(), name), obj);
        }
    }
    live.secret_names = client.list_names("v1", "Secret", namespace).await?;
    live.pods = client.list("v1", "Pod", namespace, &selector).await?;
    Ok(live)
}

/// One object's comparison. `live` is `Some` only on refresh: `Some(None)` = absent live.
pub fn compare(
    desired: Option<&Value>,
    applied: Option<&Value>,
    live: Option<Option<&Value>>,
    runtime_reasons: &[Reason],
) -> (Action, Vec<Reason>, Vec<FieldDiff>) {
    let is_secret = desired.or(applied).and_then(|v| v.get("kind")).and_then(Value::as_str) == Some("Secret");
    match desired {
        None => match applied {
            Some(a) => (Action::Delete, vec![Reason::Removal], diff(a, &Value::Null)),
            None => (Action::NoOp, vec![], vec![]),
        },
        Some(d) => {
            let d = normalize(d);
            let base = match live {
                None => applied.cloned(),
                Some(None) => None,
                // Versioned credential Secrets are immutable: existing is equal.
                Some(Some(_)) if is_secret => Some(d.clone()),
                Some(Some(l)) => Some(project(&union_shape(&d, applied.unwrap_or(&d)), &normalize(l))),
            };
            let Some(base) = base else {
                let reasons = if applied.is_some() { vec![Reason::Drift] } else { vec![Reason::New] };
                return (Action::Create, reasons, diff(&Value::Null, &d));
            };
            let changes = diff(&base, &d);
            if changes.is_empty() {
                return (Action::NoOp, vec![], vec![]);
            }
            let drifted = live.is_some() && applied.is_some_and(|a| *a == d);
            let reasons = if drifted || runtime_reasons.is_empty() {
                vec![if live.is_some() { Reason::Drift } else { Reason::SpecChange }]
            } else {
                runtime_reasons.to_vec()
            };
            (Action::Update, reasons, changes)
        }
    }
}

fn runtime_reasons(ctx: &RuntimeContext, sync: Option<&SyncRecord>) -> Vec<Reason> {
    let Some(s) = sync.filter(|s| s.applied_generation.is_some()) else {
        return vec![Reason::New];
    };
    let mut out = Vec::new();
    if s.applied_generation != Some(ctx.record.generation) && s.applied_spec_hash.as_deref() != Some(&spec_hash(ctx)) {
        out.push(Reason::SpecChange);
    }
    if s.applied_layer_revision != Some(ctx.layer_revision) {
        out.push(Reason::LayerChange);
    }
    if s.applied_bindings.as_ref() != Some(&ctx.bindings) {
        out.push(Reason::BindingChange);
    }
    out
}

/// A fingerprint of everything in a runtime's manifest except its pull-secret layers, so a
/// change of layers alone is reported as `layer_change`, not `spec_change`.
pub fn spec_hash(ctx: &RuntimeContext) -> String {
    use sha2::{Digest, Sha256};
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("imagePullSecrets");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut m = ctx.record.manifest.clone();
    strip(&mut m);
    hex::encode(Sha256::digest(m.to_string().as_bytes()))
}

pub fn runtime_input(ctx: &RuntimeContext) -> RuntimeInput {
    RuntimeInput {
        namespace: ctx.record.namespace.clone(),
        name: ctx.record.name.clone(),
        cluster: ctx.record.cluster.clone(),
        generation: ctx.record.generation,
        spec_hash: spec_hash(ctx),
        layer_revision: ctx.layer_revision,
        bindings: ctx.bindings.clone(),
    }
}

fn validate_request(req: &PlanRequest) -> Result<Option<crate::domain::selector::Selector>, PlanError> {
    let mut errors = Vec::new();
    if req.runtimes.is_none() && req.label_selector.is_none() && req.cluster.is_none() && !req.all {
        errors.push(FieldError {
            field: "all".into(),
            message: "give runtimes, labelSelector, cluster, or all: true".into(),
        });
    }
    for (i, r) in req.runtimes.iter().flatten().enumerate() {
        if r.split_once('/').is_none_or(|(ns, n)| ns.is_empty() || n.is_empty() || n.contains('/')) {
            errors.push(FieldError { field: format!("runtimes[{i}]"), message: "must be namespace/name".into() });
        }
    }
    let selector = match &req.label_selector {
        Some(s) => match parse_selector(s) {
            Ok(sel) => Some(sel),
            Err(m) => {
                errors.push(FieldError { field: "labelSelector".into(), message: m });
                None
            }
        },
        None => None,
    };
    if errors.is_empty() { Ok(selector) } else { Err(PlanError::Invalid(errors)) }
}

/// Every runtime passing `filter` and `keep`, with its resolution inputs.
pub async fn runtime_contexts(
    store: &Store,
    filter: &RuntimeFilter,
    keep: impl Fn(&crate::store::runtimes::RuntimeRecord) -> bool,
) -> Result<Vec<RuntimeContext>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = store.list_runtimes(filter, cursor, 500, &keep).await?;
        for rec in page {
            out.push(store.runtime_context(&rec.namespace, &rec.name).await?);
        }
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

struct Desired {
    runtime: Option<String>,
    object: Value,
}

/// Computes and saves a plan.
pub async fn create_plan(
    store: &Store,
    key: &MasterKey,
    req: PlanRequest,
    actor: &str,
    ttl: chrono::Duration,
) -> Result<Plan, PlanError> {
    let selector = validate_request(&req)?;
    if let Some(c) = &req.cluster {
        store.get_cluster(c).await.map_err(|e| match e {
            StoreError::NotFound { .. } => PlanError::Invalid(vec![FieldError {
                field: "cluster".into(),
                message: format!("cluster {c:?} is not registered"),
            }]),
            e => e.into(),
        })?;
    }
    let names: Option<BTreeSet<(String, String)>> = req
        .runtimes
        .as_ref()
        .map(|rs| rs.iter().filter_map(|r| r.split_once('/')).map(|(a, b)| (a.to_string(), b.to_string())).collect());
    let in_scope = |ns: &str, name: &str, cluster: &str, labels: &BTreeMap<String, String>| {
        names.as_ref().is_none_or(|n| n.contains(&(ns.to_string(), name.to_string())))
            && req.cluster.as_deref().is_none_or(|c| c == cluster)
            && selector.as_ref().is_none_or(|s| s.matches(labels))
    };

    // Desired runtimes in scope.
    let filter = RuntimeFilter { cluster: req.cluster.clone(), namespace: None };
    let contexts =
        runtime_contexts(store, &filter, |r| in_scope(&r.namespace, &r.name, &r.cluster, &r.labels())).await?;
    if let Some(n) = &names {
        for (ns, name) in n {
            let known = contexts.iter().any(|c| &c.record.namespace == ns && &c.record.name == name);
            if !known && store.get_sync(ns, name).await?.is_none() {
                return Err(PlanError::Invalid(vec![FieldError {
                    field: "runtimes".into(),
                    message: format!("runtime {ns}/{name} neither exists nor was ever applied"),
                }]));
            }
        }
    }
    // Removed runtimes: applied, no longer desired, in scope.
    let syncs: BTreeMap<(String, String), SyncRecord> =
        store.list_sync().await?.into_iter().map(|s| ((s.namespace.clone(), s.name.clone()), s)).collect();
    let desired_keys: BTreeSet<(String, String)> =
        contexts.iter().map(|c| (c.record.namespace.clone(), c.record.name.clone())).collect();
    let mut removed = Vec::new();
    for ((ns, name), s) in &syncs {
        if desired_keys.contains(&(ns.clone(), name.clone())) || !in_scope(ns, name, &s.cluster, &s.labels) {
            continue;
        }
        if store.get_runtime(ns, name).await.is_ok() {
            continue; // exists but out of scope through another filter
        }
        removed.push(RemovedInput { namespace: ns.clone(), name: name.clone(), cluster: s.cluster.clone() });
    }

    // Desired objects.
    let mut desired: BTreeMap<ObjectKey, Desired> = BTreeMap::new();
    let mut reasons_by_runtime: BTreeMap<String, Vec<Reason>> = BTreeMap::new();
    let mut touched: BTreeSet<(String, String)> = BTreeSet::new();
    let mut unmanaged_refs: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for ctx in &contexts {
        let owner = format!("{}/{}", ctx.record.namespace, ctx.record.name);
        let sync = syncs.get(&(ctx.record.namespace.clone(), ctx.record.name.clone()));
        reasons_by_runtime.insert(owner.clone(), runtime_reasons(ctx, sync));
        touched.insert((ctx.record.cluster.clone(), ctx.record.namespace.clone()));
        let res = resolution(ctx);
        for (_, comp) in res.components() {
            for s in comp.image_pull_secrets.iter().filter(|s| s.credential.is_none()) {
                unmanaged_refs
                    .entry((ctx.record.cluster.clone(), ctx.record.namespace.clone()))
                    .or_default()
                    .insert(s.secret_name.clone());
            }
        }
        for obj in render_runtime(store, key, ctx, SecretData::Redacted).await? {
            let RenderedObject { kind, namespace, name, object, .. } = obj;
            let k = ObjectKey { cluster: ctx.record.cluster.clone(), namespace, kind: kind.clone(), name };
            let runtime = (kind != "Secret").then(|| owner.clone());
            desired.entry(k).or_insert(Desired { runtime, object });
        }
    }
    for r in &removed {
        touched.insert((r.cluster.clone(), r.namespace.clone()));
    }

    // Applied objects: those of runtimes in scope, and Secrets of touched namespaces.
    let in_plan_runtimes: BTreeSet<String> = contexts
        .iter()
        .map(|c| format!("{}/{}", c.record.namespace, c.record.name))
        .chain(removed.iter().map(|r| format!("{}/{}", r.namespace, r.name)))
        .collect();
    let mut applied: BTreeMap<ObjectKey, AppliedObject> = BTreeMap::new();
    for (cluster, ns) in &touched {
        for a in store.applied_in_namespace(cluster, ns).await? {
            let owned_here =
                a.runtime.as_ref().is_some_and(|(rns, rn)| in_plan_runtimes.contains(&format!("{rns}/{rn}")));
            if owned_here || a.runtime.is_none() {
                applied.insert(a.key.clone(), a);
            }
        }
    }
    // A credential Secret stays while any runtime of its namespace (in scope or not) uses it.
    let mut still_referenced: BTreeSet<ObjectKey> = BTreeSet::new();
    for (cluster, ns) in &touched {
        let f = RuntimeFilter { cluster: Some(cluster.clone()), namespace: Some(ns.clone()) };
        for ctx in runtime_contexts(store, &f, |_| true).await? {
            let res = resolution(&ctx);
            for (_, comp) in res.components() {
                for s in comp.image_pull_secrets.iter().filter(|s| s.credential.is_some()) {
                    still_referenced.insert(ObjectKey {
                        cluster: cluster.clone(),
                        namespace: ns.clone(),
                        kind: "Secret".into(),
                        name: s.secret_name.clone(),
                    });
                }
            }
        }
    }

    // Live state, one LIST per namespace and kind.
    let mut live: BTreeMap<(String, String), LiveNamespace> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut clusters: BTreeMap<String, i64> = BTreeMap::new();
    let mut live_reads = BTreeMap::new();
    let cluster_names: BTreeSet<String> = touched.iter().map(|(c, _)| c.clone()).collect();
    for cluster in &cluster_names {
        clusters.insert(cluster.clone(), store.get_cluster(cluster).await?.generation);
        if !req.refresh {
            continue;
        }
        let client = connect(store, key, cluster).await.map_err(|e| match e {
            crate::service::clusters::ConnectError::Sync(source) => {
                PlanError::Cluster { cluster: cluster.clone(), source }
            }
            crate::service::clusters::ConnectError::Service(s) => s.into(),
        })?;
        for (c, ns) in touched.iter().filter(|(c, _)| c == cluster) {
            let l = read_live(&client, ns).await.map_err(|source| PlanError::Cluster { cluster: c.clone(), source })?;
            for name in unmanaged_refs.get(&(c.clone(), ns.clone())).into_iter().flatten() {
                if !l.secret_names.contains(name) {
                    warnings.push(PlanWarning {
                        cluster: c.clone(),
                        namespace: ns.clone(),
                        message: format!("pull secret {name:?} is referenced but does not exist in namespace {ns:?}"),
                    });
                }
            }
            live.insert((c.clone(), ns.clone()), l);
        }
        live_reads.insert(cluster.clone(), client.requests().reads);
    }

    // Compare.
    let mut objects = Vec::new();
    let all_keys: BTreeSet<ObjectKey> = desired.keys().chain(applied.keys()).cloned().collect();
    for k in all_keys {
        let d = desired.get(&k);
        let a = applied.get(&k);
        if d.is_none() && k.kind == "Secret" && still_referenced.contains(&k) {
            continue; // used by a runtime outside this plan
        }
        if d.is_none() && k.kind == "Secret" && a.is_some() {
            // A credential Secret goes only when nothing live still pulls with it.
            let why = match live.get(&(k.cluster.clone(), k.namespace.clone())) {
                None => Some("make a refreshing plan to prune it".to_string()),
                Some(l) => {
                    let going: BTreeSet<(String, String)> = applied
                        .keys()
                        .filter(|x| x.cluster == k.cluster && x.namespace == k.namespace && !desired.contains_key(*x))
                        .map(|x| (x.kind.clone(), x.name.clone()))
                        .collect();
                    let holders = l.holders_of(&k.name, &going);
                    (!holders.is_empty()).then(|| format!("still used by {}", holders.join(", ")))
                }
            };
            if let Some(why) = why {
                warnings.push(PlanWarning {
                    cluster: k.cluster.clone(),
                    namespace: k.namespace.clone(),
                    message: format!("Secret {:?} is no longer desired but is kept: {why}", k.name),
                });
                continue;
            }
        }
        let live_obj = live.get(&(k.cluster.clone(), k.namespace.clone())).map(|l| {
            if k.kind == "Secret" {
                l.secret_names.contains(&k.name).then_some(&Value::Bool(true))
            } else {
                l.objects.get(&(k.kind.clone(), k.name.clone()))
            }
        });
        let owner = d
            .and_then(|d| d.runtime.clone())
            .or_else(|| a.and_then(|a| a.runtime.as_ref().map(|(ns, n)| format!("{ns}/{n}"))));
        let rr = owner.as_ref().and_then(|o| reasons_by_runtime.get(o)).cloned().unwrap_or_default();
        let (action, reasons, changes) = compare(d.map(|d| &d.object), a.map(|a| &a.fields), live_obj, &rr);
        objects.push(PlanObject {
            api_version: api_version_of(&k.kind).to_string(),
            cluster: k.cluster,
            namespace: k.namespace,
            kind: k.kind,
            name: k.name,
            runtime: owner,
            action,
            reasons,
            diff: changes,
        });
    }
    objects.sort_by(|x, y| {
        (&x.cluster, &x.namespace, kind_rank(&x.kind), &x.name).cmp(&(
            &y.cluster,
            &y.namespace,
            kind_rank(&y.kind),
            &y.name,
        ))
    });
    let mut summary = PlanSummary { live_reads, ..Default::default() };
    for o in &objects {
        match o.action {
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Delete => summary.delete += 1,
            Action::NoOp => summary.no_op += 1,
        }
    }
    let inputs = PlanInputs { runtimes: contexts.iter().map(runtime_input).collect(), removed, clusters };
    let now = Utc::now();
    let plan = Plan {
        id: uuid::Uuid::now_v7().to_string(),
        created_at: now,
        expires_at: now + ttl,
        created_by: actor.to_string(),
        request: req,
        inputs,
        summary,
        objects,
        warnings,
        run_id: None,
    };
    store
        .insert_plan(&PlanRecord {
            id: plan.id.clone(),
            created_at: plan.created_at,
            expires_at: plan.expires_at,
            created_by: plan.created_by.clone(),
            request: serde_json::to_value(&plan.request).expect("serializes"),
            inputs: serde_json::to_value(&plan.inputs).expect("serializes"),
            objects: serde_json::to_value(&plan.objects).expect("serializes"),
            warnings: serde_json::to_value(&plan.warnings).expect("serializes"),
            summary: serde_json::to_value(&plan.summary).expect("serializes"),
            run_id: None,
        })
        .await?;
    Ok(plan)
}

/// Why a plan's inputs no longer hold, or `None` when they all do.
pub async fn staleness(store: &Store, inputs: &PlanInputs) -> Result<Option<String>, PlanError> {
    for r in &inputs.runtimes {
        let now = match store.runtime_context(&r.namespace, &r.name).await {
            Ok(ctx) => runtime_input(&ctx),
            Err(StoreError::NotFound { .. }) => {
                return Ok(Some(format!("runtime {}/{} was deleted", r.namespace, r.name)));
            }
            Err(e) => return Err(e.into()),
        };
        if now.generation != r.generation {
            return Ok(Some(format!(
                "runtime {}/{} is at generation {} (plan used {})",
                r.namespace, r.name, now.generation, r.generation
            )));
        }
        if now.layer_revision != r.layer_revision {
            return Ok(Some(format!(
                "runtime {}/{} layers are at revision {} (plan used {})",
                r.namespace, r.name, now.layer_revision, r.layer_revision
            )));
        }
        if now.bindings != r.bindings {
            return Ok(Some(format!("runtime {}/{} credential bindings moved", r.namespace, r.name)));
        }
    }
    for r in &inputs.removed {
        if store.get_runtime(&r.namespace, &r.name).await.is_ok() {
            return Ok(Some(format!("runtime {}/{} exists again", r.namespace, r.name)));
        }
    }
    for (c, g) in &inputs.clusters {
        match store.get_cluster(c).await {
            Ok(rec) if rec.generation == *g => {}
            Ok(rec) => return Ok(Some(format!("cluster {c:?} is at generation {} (plan used {g})", rec.generation))),
            Err(StoreError::NotFound { .. }) => return Ok(Some(format!("cluster {c:?} was deleted"))),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sts(replicas: i64, secret: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "r-worker"},
            "spec": {"replicas": replicas, "template": {"spec": {"imagePullSecrets": [{"name": secret}]}}}})
    }

    #[test]
    fn new_object_is_created() {
        let (a, r, _) = compare(Some(&sts(1, "s")), None, None, &[Reason::New]);
        assert_eq!((a, r), (Action::Create, vec![Reason::New]));
    }

    #[test]
    fn unchanged_is_no_op_and_changed_is_update_with_runtime_reason() {
        let (a, _, d) = compare(Some(&sts(1, "s")), Some(&sts(1, "s")), None, &[]);
        assert_eq!(a, Action::NoOp);
        assert!(d.is_empty());
        let (a, r, d) = compare(Some(&sts(1, "s2")), Some(&sts(1, "s")), None, &[Reason::LayerChange]);
        assert_eq!((a, r), (Action::Update, vec![Reason::LayerChange]));
        assert_eq!(d[0].path, "spec.template.spec.imagePullSecrets");
    }

    #[test]
    fn live_difference_on_applied_state_is_drift() {
        let mut live = sts(5, "s");
        live["status"] = json!({"replicas": 5});
        live["spec"]["serviceName"] = json!("set-by-server");
        let (a, r, d) = compare(Some(&sts(1, "s")), Some(&sts(1, "s")), Some(Some(&live)), &[]);
        assert_eq!((a, r), (Action::Update, vec![Reason::Drift]));
        assert_eq!(d.len(), 1, "only the managed field differs: {d:?}");
        let (a, r, _) = compare(Some(&sts(1, "s")), Some(&sts(1, "s")), Some(None), &[]);
        assert_eq!((a, r), (Action::Create, vec![Reason::Drift]));
    }

    #[test]
    fn a_field_no_longer_rendered_is_a_change_even_on_refresh() {
        let mut applied = sts(1, "s");
        applied["spec"]["template"]["spec"]["nodeSelector"] = json!({"a": "b"});
        let (a, _, d) = compare(Some(&sts(1, "s")), Some(&applied), Some(Some(&applied)), &[Reason::SpecChange]);
        assert_eq!(a, Action::Update);
        assert_eq!(d[0].path, "spec.template.spec.nodeSelector");
    }

    #[test]
    fn applied_but_not_desired_is_deleted() {
        let (a, r, _) = compare(None, Some(&sts(1, "s")), None, &[]);
        assert_eq!((a, r), (Action::Delete, vec![Reason::Removal]));
    }
}
