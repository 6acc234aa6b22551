//! Making a plan (see the module doc of `plan`): the scope, then each cluster in turn (its
//! mode detected first on refresh), each of its namespaces, its runtimes in chunks so memory
//! stays bounded whatever the fleet's size (`namespace.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::memo::RenderInputs;
use super::namespace::{Class, Member, Namespace, plan_namespace, plan_profiles};
use super::{Plan, PlanError, PlanInputs, PlanRequest, PlanSummary, PlanWarning};
use crate::domain::FieldError;
use crate::domain::fluid::{Detection, Mode};
use crate::domain::selector::{Selector, parse_selector};
use crate::engine::Context;
use crate::service::runtimes::renderer;
use crate::store::clusters::ClusterRecord;
use crate::store::plans::{PlanObjectRow, PlanRecord, PlanRuntimeRow};
use crate::store::runtimes::{RuntimeFilter, RuntimeHead};
use crate::store::sync::SyncRecord;

/// Warnings kept with a plan (all are counted).
const KEPT_WARNINGS: usize = 1000;

struct Scope {
    names: Option<BTreeSet<(String, String)>>,
    selector: Option<Selector>,
    cluster: Option<String>,
}

impl Scope {
    fn new(req: &PlanRequest) -> Result<Self, PlanError> {
        let mut errors = Vec::new();
        if req.runtimes.is_none() && req.label_selector.is_none() && req.cluster.is_none() && !req.all {
            errors.push(FieldError::new("all", "give runtimes, labelSelector, cluster, or all: true"));
        }
        let mut names = BTreeSet::new();
        for (i, r) in req.runtimes.iter().flatten().enumerate() {
            match r.split_once('/') {
                Some((ns, n)) if !ns.is_empty() && !n.is_empty() && !n.contains('/') => {
                    names.insert((ns.to_string(), n.to_string()));
                }
                _ => errors.push(FieldError::new(format!("runtimes[{i}]"), "must be namespace/name")),
            }
        }
        let selector = match &req.label_selector {
            Some(s) => match parse_selector(s) {
                Ok(sel) => Some(sel),
                Err(m) => {
                    errors.push(FieldError::new("labelSelector", m));
                    None
                }
            },
            None => None,
        };
        if !errors.is_empty() {
            return Err(PlanError::Invalid(errors));
        }
        Ok(Scope { names: req.runtimes.as_ref().map(|_| names), selector, cluster: req.cluster.clone() })
    }

    fn matches(&self, ns: &str, name: &str, cluster: &str, labels: &BTreeMap<String, String>) -> bool {
        self.names.as_ref().is_none_or(|n| n.contains(&(ns.to_string(), name.to_string())))
            && self.cluster.as_deref().is_none_or(|c| c == cluster)
            && self.selector.as_ref().is_none_or(|s| s.matches(labels))
    }
}

/// What a plan accumulates while it walks the namespaces.
#[derive(Default)]
pub(super) struct Builder {
    pub summary: PlanSummary,
    pub rows: Vec<PlanObjectRow>,
    pub runtimes: Vec<PlanRuntimeRow>,
    warnings: Vec<PlanWarning>,
    warning_count: usize,
    /// The request's `adopt`: unowned objects are taken over instead of conflicts.
    pub adopt: bool,
}

impl Builder {
    pub fn warn(&mut self, cluster: &str, namespace: &str, message: String) {
        self.warning_count += 1;
        if self.warnings.len() < KEPT_WARNINGS {
            self.warnings.push(PlanWarning { cluster: cluster.into(), namespace: namespace.into(), message });
        }
    }
}

/// Computes and saves a plan.
pub async fn create_plan(ctx: &Context, req: PlanRequest, actor: &str) -> Result<Plan, PlanError> {
    let scope = Scope::new(&req)?;
    let store = &ctx.store;
    let filter = RuntimeFilter { cluster: req.cluster.clone(), namespace: None };
    let heads: Vec<RuntimeHead> = store
        .runtime_heads(&filter)
        .await?
        .into_iter()
        .filter(|h| scope.matches(&h.namespace, &h.name, &h.cluster, &h.labels))
        .collect();
    let syncs: HashMap<(String, String), SyncRecord> = store
        .list_sync(req.cluster.as_deref())
        .await?
        .into_iter()
        .map(|s| ((s.namespace.clone(), s.name.clone()), s))
        .collect();
    let desired: BTreeSet<(&str, &str)> = heads.iter().map(|h| (h.namespace.as_str(), h.name.as_str())).collect();
    if let Some(names) = &scope.names {
        for (ns, name) in names {
            if !desired.contains(&(ns.as_str(), name.as_str())) && !syncs.contains_key(&(ns.clone(), name.clone())) {
                return Err(PlanError::Invalid(vec![FieldError::new(
                    "runtimes",
                    format!("runtime {ns}/{name} neither exists nor was ever applied"),
                )]));
            }
        }
    }
    // Removed: applied, no longer desired anywhere, in scope.
    let mut removed: Vec<&SyncRecord> = Vec::new();
    for ((ns, name), s) in &syncs {
        if desired.contains(&(ns.as_str(), name.as_str())) || !scope.matches(ns, name, &s.cluster, &s.labels) {
            continue;
        }
        if store.get_runtime(ns, name).await.is_ok() {
            continue; // exists, out of scope through another filter
        }
        removed.push(s);
    }
    removed.sort_by(|a, b| (&a.cluster, &a.namespace, &a.name).cmp(&(&b.cluster, &b.namespace, &b.name)));

    let cluster_names: BTreeSet<&str> =
        heads.iter().map(|h| h.cluster.as_str()).chain(removed.iter().map(|s| s.cluster.as_str())).collect();
    let mut clusters: BTreeMap<String, ClusterRecord> = BTreeMap::new();
    for c in &cluster_names {
        clusters.insert(c.to_string(), store.get_cluster(c).await?);
    }
    let counts = store.applied_counts().await?;

    let mut b = Builder { adopt: req.adopt, ..Builder::default() };
    let mut generations = BTreeMap::new();
    for cluster in clusters.values() {
        let client = if req.refresh {
            Some(ctx.cluster_of(cluster).await.map_err(|e| PlanError::cluster(&cluster.name, e))?)
        } else {
            None
        };
        let mut cluster = cluster.clone();
        if let Some(c) = &client {
            let (resources, controllers) = c
                .discover_fluid()
                .await
                .map_err(|source| PlanError::Cluster { cluster: cluster.name.clone(), source })?;
            let found = Detection::from_resources(resources, controllers, ctx.now());
            cluster = store.record_detection(&cluster.name, &found).await?;
        }
        let mode = mode_of(&mut b, &cluster, client.is_some());
        generations.insert(cluster.name.clone(), cluster.generation);
        let render_key = renderer(mode);
        let mut by_ns: BTreeMap<&str, Vec<Member>> = BTreeMap::new();
        for h in heads.iter().filter(|h| h.cluster == cluster.name) {
            let sync = syncs.get(&(h.namespace.clone(), h.name.clone()));
            let unchanged = sync.is_some_and(|s| RenderInputs::of(h, render_key).applied_in(s));
            let class = if unchanged { Class::Unchanged } else { Class::Changed };
            by_ns.entry(&h.namespace).or_default().push(Member {
                namespace: &h.namespace,
                name: &h.name,
                head: Some(h),
                sync,
                class,
            });
        }
        for s in removed.iter().filter(|s| s.cluster == cluster.name) {
            by_ns.entry(&s.namespace).or_default().push(Member {
                namespace: &s.namespace,
                name: &s.name,
                head: None,
                sync: Some(s),
                class: Class::Removed,
            });
        }
        if mode == Mode::Fluid {
            plan_profiles(ctx, &mut b, &cluster, client.as_deref()).await?;
        }
        for (namespace, members) in by_ns {
            let n = Namespace { cluster: &cluster, namespace, members, mode };
            plan_namespace(ctx, &mut b, &n, client.as_deref(), &counts).await?;
        }
        if let Some(c) = &client {
            b.summary.live_reads.insert(cluster.name.clone(), c.requests().reads);
        }
    }

    let now = ctx.now();
    let inputs = PlanInputs { runtimes: heads.len(), removed: removed.len(), clusters: generations };
    let record = PlanRecord {
        id: uuid::Uuid::now_v7().to_string(),
        created_at: now,
        expires_at: now + ctx.settings.plan_ttl,
        created_by: actor.to_string(),
        request: serde_json::to_value(&req).expect("serializes"),
        inputs: serde_json::to_value(&inputs).expect("serializes"),
        warnings: serde_json::to_value(&b.warnings).expect("serializes"),
        warning_count: b.warning_count as i64,
        summary: serde_json::to_value(&b.summary).expect("serializes"),
        run_id: None,
    };
    store.insert_plan(&record, &b.runtimes, &b.rows).await?;
    super::get_plan(ctx, &record.id).await
}

/// The mode a cluster is planned in, with the warnings it calls for: an `auto` cluster
/// never probed is shown as standalone (and a run will refuse it until it is probed).
fn mode_of(b: &mut Builder, cluster: &ClusterRecord, refreshed: bool) -> Mode {
    let fluid_found = cluster.detected.as_ref().is_some_and(|d| d.fluid);
    match cluster.effective_mode() {
        None => {
            b.warn(
                &cluster.name,
                "",
                format!(
                    "cluster {:?} has mode auto and was never probed: shown as standalone; probe it (POST /v1/clusters/{}/probe) or make a refreshing plan before applying",
                    cluster.name, cluster.name
                ),
            );
            Mode::Standalone
        }
        Some(Mode::Standalone) => {
            if fluid_found {
                b.warn(
                    &cluster.name,
                    "",
                    format!(
                        "Fluid's CRDs are installed on standalone cluster {:?}: Fluid's controllers and fluidform may both own these runtimes",
                        cluster.name
                    ),
                );
            }
            Mode::Standalone
        }
        Some(Mode::Fluid) => {
            if refreshed && !fluid_found {
                b.warn(
                    &cluster.name,
                    "",
                    format!(
                        "cluster {:?} is mode fluid but does not serve Fluid's resources (data.fluid.io)",
                        cluster.name
                    ),
                );
            }
            Mode::Fluid
        }
    }
}
