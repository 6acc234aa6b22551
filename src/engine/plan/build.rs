//! Making a plan (see the module doc of `plan`): the scope, then each cluster namespace in
//! turn, its runtimes in chunks so memory stays bounded whatever the fleet's size.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::compare::{compare, object_digest, runtime_reasons, spec_hash};
use super::live::{LiveNamespace, STANDALONE_KINDS, read_live, template_pull_secrets};
use super::{Action, Plan, PlanError, PlanInputs, PlanRequest, PlanSummary, PlanWarning, Reason};
use crate::domain::FieldError;
use crate::domain::diff::FieldDiff;
use crate::domain::kinds::Kind;
use crate::domain::render::{RENDERER, RenderedObject};
use crate::domain::selector::{Selector, parse_selector};
use crate::engine::Context;
use crate::engine::port::Cluster;
use crate::service::runtimes::render_redacted;
use crate::store::clusters::ClusterRecord;
use crate::store::plans::{PlanObjectRow, PlanRecord, PlanRuntimeRow};
use crate::store::runtimes::{RuntimeContext, RuntimeFilter, RuntimeHead};
use crate::store::sync::{AppliedCounts, AppliedObject, SyncRecord};

/// Runtimes rendered and compared at a time.
const CHUNK: usize = 200;
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

/// How a runtime in scope is planned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Inputs equal to what was last applied: not rendered.
    Unchanged,
    /// Rendered and compared.
    Changed,
    /// Applied, no longer desired: its objects are deleted.
    Removed,
}

#[derive(Clone)]
struct Member<'a> {
    namespace: &'a str,
    name: &'a str,
    head: Option<&'a RuntimeHead>,
    sync: Option<&'a SyncRecord>,
    class: Class,
}

fn is_unchanged(h: &RuntimeHead, s: Option<&SyncRecord>) -> bool {
    s.is_some_and(|s| {
        s.cluster == h.cluster
            && s.applied_generation == Some(h.generation)
            && s.applied_layer_revision == Some(h.layer_revision)
            && s.applied_render.as_deref() == Some(RENDERER)
            && s.applied_runtime_id == Some(h.id)
    })
}

/// What a plan accumulates while it walks the namespaces.
#[derive(Default)]
struct Builder {
    summary: PlanSummary,
    rows: Vec<PlanObjectRow>,
    runtimes: Vec<PlanRuntimeRow>,
    warnings: Vec<PlanWarning>,
    warning_count: usize,
}

impl Builder {
    fn warn(&mut self, cluster: &str, namespace: &str, message: String) {
        self.warning_count += 1;
        if self.warnings.len() < KEPT_WARNINGS {
            self.warnings.push(PlanWarning { cluster: cluster.into(), namespace: namespace.into(), message });
        }
    }
}

/// One object's outcome within a namespace, before ordering.
struct Planned {
    kind: Kind,
    name: String,
    runtime: Option<String>,
    action: Action,
    reasons: Vec<Reason>,
    diff: Vec<FieldDiff>,
    digest: Option<String>,
}

struct Namespace<'a> {
    cluster: &'a ClusterRecord,
    namespace: &'a str,
    members: Vec<Member<'a>>,
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

    let mut b = Builder::default();
    for cluster in clusters.values() {
        let client = if req.refresh {
            Some(ctx.cluster_of(cluster).await.map_err(|e| PlanError::cluster(&cluster.name, e))?)
        } else {
            None
        };
        let mut by_ns: BTreeMap<&str, Vec<Member>> = BTreeMap::new();
        for h in heads.iter().filter(|h| h.cluster == cluster.name) {
            let sync = syncs.get(&(h.namespace.clone(), h.name.clone()));
            let class = if is_unchanged(h, sync) { Class::Unchanged } else { Class::Changed };
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
        for (namespace, members) in by_ns {
            let n = Namespace { cluster, namespace, members };
            plan_namespace(ctx, &mut b, &n, client.as_deref(), &counts).await?;
        }
        if let Some(c) = &client {
            b.summary.live_reads.insert(cluster.name.clone(), c.requests().reads);
        }
    }

    let now = ctx.now();
    let inputs = PlanInputs {
        runtimes: heads.len(),
        removed: removed.len(),
        clusters: clusters.values().map(|c| (c.name.clone(), c.generation)).collect(),
    };
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

/// The objects one runtime chunk contributes, and the credential Secrets its runtimes
/// render (shared objects are planned once per namespace, afterwards).
async fn plan_namespace(
    ctx: &Context,
    b: &mut Builder,
    n: &Namespace<'_>,
    cluster_client: Option<&dyn Cluster>,
    counts: &AppliedCounts,
) -> Result<(), PlanError> {
    let (cluster, namespace) = (&n.cluster.name, n.namespace);
    let store = &ctx.store;
    for m in &n.members {
        b.runtimes.push(match m.head {
            Some(h) => PlanRuntimeRow {
                namespace: h.namespace.clone(),
                name: h.name.clone(),
                cluster: h.cluster.clone(),
                removed: false,
                runtime_id: Some(h.id),
                generation: h.generation,
                layer_revision: h.layer_revision,
                spec_hash: String::new(),
                bindings: BTreeMap::new(),
            },
            None => PlanRuntimeRow {
                namespace: m.namespace.into(),
                name: m.name.into(),
                cluster: cluster.clone(),
                removed: true,
                runtime_id: None,
                generation: 0,
                layer_revision: 0,
                spec_hash: String::new(),
                bindings: BTreeMap::new(),
            },
        });
    }
    let live = match cluster_client {
        Some(c) => Some(
            read_live(c, namespace, &STANDALONE_KINDS)
                .await
                .map_err(|source| PlanError::Cluster { cluster: cluster.clone(), source })?,
        ),
        None => None,
    };
    let shared_counts = counts.get(&(cluster.clone(), namespace.to_string(), None));
    if live.is_none() && n.members.iter().all(|m| m.class == Class::Unchanged) {
        for m in &n.members {
            let owner = Some((m.namespace.to_string(), m.name.to_string()));
            for (kind, c) in counts.get(&(cluster.clone(), namespace.to_string(), owner)).into_iter().flatten() {
                b.summary.count(cluster, kind, Action::NoOp, *c as usize);
            }
        }
        for (kind, c) in shared_counts.into_iter().flatten() {
            b.summary.count(cluster, kind, Action::NoOp, *c as usize);
        }
        return Ok(());
    }

    let mut planned: Vec<Planned> = Vec::new();
    let mut desired_secrets: BTreeMap<String, Value> = BTreeMap::new();
    let mut going: BTreeSet<(Kind, String)> = BTreeSet::new();
    let mut pulled: BTreeSet<String> = BTreeSet::new();
    let run_index = b.runtimes.len() - n.members.len();
    for (ci, chunk) in n.members.chunks(CHUNK).enumerate() {
        let keys: Vec<(String, String)> = chunk.iter().map(|m| (m.namespace.to_string(), m.name.to_string())).collect();
        let mut applied: HashMap<(String, String), Vec<AppliedObject>> = HashMap::new();
        for a in store.applied_for_runtimes(&keys).await? {
            applied.entry(a.runtime.clone().unwrap_or_default()).or_default().push(a);
        }
        let changed: Vec<i64> =
            chunk.iter().filter(|m| m.class == Class::Changed).filter_map(|m| m.head.map(|h| h.id)).collect();
        let defaults = n.cluster.default_image_pull_secrets.clone();
        let contexts: HashMap<i64, RuntimeContext> = store
            .runtime_contexts_by_id(&changed, |_| defaults.clone())
            .await?
            .into_iter()
            .map(|c| (c.record.id, c))
            .collect();
        for (mi, m) in chunk.iter().enumerate() {
            let owner = format!("{}/{}", m.namespace, m.name);
            let mine = applied.remove(&(m.namespace.to_string(), m.name.to_string())).unwrap_or_default();
            match m.class {
                Class::Unchanged => {
                    for a in &mine {
                        let kind = Kind::parse(&a.key.kind).unwrap_or(Kind::ConfigMap);
                        let live_obj = live.as_ref().map(|l| l.objects.get(&(kind, a.key.name.clone())));
                        if live_obj.is_some() {
                            pulled.extend(template_pull_secrets(&a.fields));
                        }
                        let (action, reasons, diff) = compare(Some(&a.fields), Some(&a.fields), live_obj, &[]);
                        planned.push(Planned {
                            kind,
                            name: a.key.name.clone(),
                            runtime: Some(owner.clone()),
                            action,
                            reasons,
                            diff,
                            digest: Some(object_digest(&a.fields)),
                        });
                    }
                }
                Class::Changed => {
                    let Some(rt) = m.head.and_then(|h| contexts.get(&h.id)) else { continue };
                    let row = &mut b.runtimes[run_index + ci * CHUNK + mi];
                    row.spec_hash = spec_hash(rt);
                    row.bindings = rt.bindings.clone();
                    let reasons = runtime_reasons(rt, m.sync);
                    let mut rendered: BTreeSet<(Kind, String)> = BTreeSet::new();
                    for RenderedObject { kind, name, object, .. } in render_redacted(rt) {
                        let kind = Kind::parse(&kind).unwrap_or(Kind::ConfigMap);
                        if kind == Kind::Secret {
                            desired_secrets.insert(name, object);
                            continue;
                        }
                        pulled.extend(template_pull_secrets(&object));
                        let a = mine.iter().find(|a| a.key.kind == kind.as_str() && a.key.name == name);
                        let live_obj = live.as_ref().map(|l| l.objects.get(&(kind, name.clone())));
                        let (action, why, diff) = compare(Some(&object), a.map(|a| &a.fields), live_obj, &reasons);
                        rendered.insert((kind, name.clone()));
                        planned.push(Planned {
                            kind,
                            name,
                            runtime: Some(owner.clone()),
                            action,
                            reasons: why,
                            diff,
                            digest: Some(object_digest(&object)),
                        });
                    }
                    for a in mine.iter().filter(|a| {
                        !rendered.contains(&(Kind::parse(&a.key.kind).unwrap_or(Kind::ConfigMap), a.key.name.clone()))
                    }) {
                        planned.push(deletion(a, Some(owner.clone()), &mut going));
                    }
                }
                Class::Removed => {
                    for a in &mine {
                        planned.push(deletion(a, Some(owner.clone()), &mut going));
                    }
                }
            }
        }
    }

    // Shared credential Secrets of the namespace.
    let applied_shared = store.applied_shared(cluster, namespace).await?;
    let bound = store.bound_secret_names(cluster, namespace).await?;
    let names: BTreeSet<String> =
        desired_secrets.keys().cloned().chain(applied_shared.iter().map(|a| a.key.name.clone())).collect();
    let mut kept: BTreeSet<String> = desired_secrets.keys().cloned().collect();
    for name in names {
        let a = applied_shared.iter().find(|a| a.key.name == name);
        // Rendered by a changed runtime, or still bound by some runtime of the namespace
        // (then it stays as applied, and comes back if it went missing live).
        let d = desired_secrets.get(&name).or_else(|| a.filter(|_| bound.contains(&name)).map(|a| &a.fields));
        if d.is_none() && a.is_some() {
            // A credential Secret goes only when nothing live still pulls with it.
            let why = match &live {
                None => Some("make a refreshing plan to prune it".to_string()),
                Some(l) => {
                    let holders = l.holders_of(&name, &going);
                    (!holders.is_empty()).then(|| format!("still used by {}", holders.join(", ")))
                }
            };
            if let Some(why) = why {
                b.warn(cluster, namespace, format!("Secret {name:?} is no longer desired but is kept: {why}"));
                continue;
            }
        }
        if d.is_some() {
            kept.insert(name.clone());
        }
        let live_obj = live.as_ref().map(|l| l.secret_names.contains(&name).then_some(&Value::Bool(true)));
        let (action, reasons, diff) = compare(d, a.map(|a| &a.fields), live_obj, &[Reason::New]);
        planned.push(Planned {
            kind: Kind::Secret,
            name,
            runtime: None,
            action,
            reasons,
            diff,
            digest: d.map(object_digest),
        });
    }

    if let Some(l) = &live {
        warn_missing_pull_secrets(b, cluster, namespace, l, &pulled, &kept);
    }
    planned.sort_by(|x, y| (x.kind.wave(), x.kind, &x.name).cmp(&(y.kind.wave(), y.kind, &y.name)));
    for p in planned {
        b.summary.count(cluster, p.kind.as_str(), p.action, 1);
        if p.action == Action::NoOp {
            continue;
        }
        let seq = b.rows.len() as i64;
        b.rows.push(PlanObjectRow {
            seq,
            cluster: cluster.clone(),
            namespace: namespace.to_string(),
            api_version: p.kind.api_version().to_string(),
            kind: p.kind.as_str().to_string(),
            name: p.name,
            runtime: p.runtime,
            action: p.action.as_str().to_string(),
            reasons: serde_json::to_value(&p.reasons).expect("serializes"),
            diff: (p.action == Action::Update).then(|| serde_json::to_value(&p.diff).expect("serializes")),
            digest: if p.action == Action::Delete { None } else { p.digest },
        });
    }
    Ok(())
}

fn deletion(a: &AppliedObject, runtime: Option<String>, going: &mut BTreeSet<(Kind, String)>) -> Planned {
    let kind = Kind::parse(&a.key.kind).unwrap_or(Kind::ConfigMap);
    going.insert((kind, a.key.name.clone()));
    let (action, reasons, diff) = compare(None, Some(&a.fields), None, &[]);
    Planned { kind, name: a.key.name.clone(), runtime, action, reasons, diff, digest: None }
}

/// Pull secrets named by the workloads that exist neither live nor in this plan.
fn warn_missing_pull_secrets(
    b: &mut Builder,
    cluster: &str,
    namespace: &str,
    live: &LiveNamespace,
    pulled: &BTreeSet<String>,
    planned_secrets: &BTreeSet<String>,
) {
    for name in pulled {
        if !live.secret_names.contains(name) && !planned_secrets.contains(name) {
            b.warn(
                cluster,
                namespace,
                format!("pull secret {name:?} is referenced but does not exist in namespace {namespace:?}"),
            );
        }
    }
}
