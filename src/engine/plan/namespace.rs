//! Planning one cluster namespace: its runtimes in chunks (rendered when they changed,
//! compared from their applied records when not), its shared credential Secrets once, and
//! in a `fluid` cluster the pull-secret lists of the workloads Fluid created; and, once per
//! `fluid` cluster, its ThinRuntimeProfiles.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::build::Builder;
use super::compare::{applied_holds_live, compare, object_digest, runtime_reasons, spec_hash};
use super::live::{LiveNamespace, read_live, template_pull_secrets};
use super::memo::{Memo, MemoKey, RenderInputs};
use super::{Action, PlanError, Reason};
use crate::domain::diff::{FieldDiff, normalize};
use crate::domain::fluid::{Mode, fluid_workload, render_profile};
use crate::domain::kinds::Kind;
use crate::domain::render::{MANAGED_BY, MANAGED_BY_LABEL, RenderedObject};
use crate::domain::runtime::RuntimeKind;
use crate::engine::Context;
use crate::engine::port::Cluster;
use crate::service::runtimes::{render_redacted, renderer};
use crate::store::clusters::ClusterRecord;
use crate::store::plans::{PlanObjectRow, PlanRuntimeRow};
use crate::store::renderings::Rendering;
use crate::store::runtimes::{RuntimeContext, RuntimeHead};
use crate::store::sync::{AppliedCounts, AppliedObject, Scope, SyncRecord};

/// Runtimes rendered and compared at a time.
const CHUNK: usize = 200;

/// How a runtime in scope is planned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// Inputs equal to what was last applied: not rendered.
    Unchanged,
    /// Rendered and compared.
    Changed,
    /// Applied, no longer desired: its objects are deleted.
    Removed,
}

#[derive(Clone)]
pub(super) struct Member<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub head: Option<&'a RuntimeHead>,
    pub sync: Option<&'a SyncRecord>,
    pub class: Class,
}

pub(super) struct Namespace<'a> {
    pub cluster: &'a ClusterRecord,
    pub namespace: &'a str,
    pub members: Vec<Member<'a>>,
    pub mode: Mode,
}

/// One object's outcome, before ordering.
struct Planned {
    kind: Kind,
    name: String,
    runtime: Option<String>,
    action: Action,
    reasons: Vec<Reason>,
    diff: Vec<FieldDiff>,
    digest: Option<String>,
    scope: Scope,
}

impl Planned {
    fn of(
        kind: Kind,
        name: String,
        runtime: Option<String>,
        outcome: (Action, Vec<Reason>, Vec<FieldDiff>),
        digest: Option<String>,
    ) -> Self {
        let (action, reasons, diff) = outcome;
        Planned { kind, name, runtime, action, reasons, diff, digest, scope: Scope::Object }
    }
}

fn push_rows(b: &mut Builder, cluster: &str, namespace: &str, mut planned: Vec<Planned>) {
    planned.sort_by(|x, y| {
        (x.scope == Scope::PullSecrets, x.kind.wave(), x.kind, &x.name).cmp(&(
            y.scope == Scope::PullSecrets,
            y.kind.wave(),
            y.kind,
            &y.name,
        ))
    });
    for p in planned {
        b.summary.count(cluster, p.kind.as_str(), p.action, 1);
        if p.action == Action::NoOp {
            continue;
        }
        let seq = b.rows.len() as i64;
        b.rows.push(PlanObjectRow {
            seq,
            cluster: cluster.to_string(),
            namespace: namespace.to_string(),
            api_version: p.kind.api_version().to_string(),
            kind: p.kind.as_str().to_string(),
            name: p.name,
            runtime: p.runtime,
            action: p.action.as_str().to_string(),
            reasons: serde_json::to_value(&p.reasons).expect("serializes"),
            diff: (p.action == Action::Update).then(|| serde_json::to_value(&p.diff).expect("serializes")),
            digest: if p.action == Action::Delete { None } else { p.digest },
            scope: p.scope,
        });
    }
}

fn row_for(m: &Member<'_>, cluster: &str) -> PlanRuntimeRow {
    match m.head {
        Some(h) => PlanRuntimeRow {
            namespace: h.namespace.clone(),
            name: h.name.clone(),
            cluster: h.cluster.clone(),
            removed: false,
            runtime_id: Some(h.id),
            generation: h.generation,
            layer_revision: h.layer_revision,
            deps_revision: h.deps_revision,
            spec_hash: String::new(),
            bindings: BTreeMap::new(),
        },
        None => PlanRuntimeRow {
            namespace: m.namespace.into(),
            name: m.name.into(),
            cluster: cluster.into(),
            removed: true,
            runtime_id: None,
            generation: 0,
            layer_revision: 0,
            deps_revision: 0,
            spec_hash: String::new(),
            bindings: BTreeMap::new(),
        },
    }
}

/// What the pull-secret list of a workload Fluid created looks like when fluidform keeps it:
/// the only fields it records as applied there.
pub fn pull_secret_fields(kind: Kind, namespace: &str, name: &str, names: &[String]) -> Value {
    let refs: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
    json!({"apiVersion": kind.api_version(), "kind": kind.as_str(), "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"spec": {"imagePullSecrets": refs}}}})
}

/// The pull-secret lists the runtime resource `object` asks Fluid's workloads to have, per
/// component that has one.
pub fn cr_lists(kind: RuntimeKind, object: &Value) -> Vec<(crate::domain::layers::Component, Vec<String>)> {
    kind.components()
        .iter()
        .filter_map(|c| {
            let list = object.pointer(&format!("/spec/{}/imagePullSecrets", c.as_str()))?.as_array()?;
            let names: Vec<String> = list.iter().filter_map(|r| r.get("name")?.as_str().map(String::from)).collect();
            (!names.is_empty()).then_some((*c, names))
        })
        .collect()
}

/// The objects of one cluster namespace.
pub(super) async fn plan_namespace(
    ctx: &Context,
    b: &mut Builder,
    n: &Namespace<'_>,
    cluster_client: Option<&dyn Cluster>,
    counts: &AppliedCounts,
) -> Result<(), PlanError> {
    let (cluster, namespace) = (&n.cluster.name, n.namespace);
    let store = &ctx.store;
    let first_row = b.runtimes.len();
    b.runtimes.extend(n.members.iter().map(|m| row_for(m, cluster)));
    let names: Vec<String> = n.members.iter().map(|m| m.name.to_string()).collect();
    let live = match cluster_client {
        Some(c) => Some(
            read_live(c, namespace, n.mode, &names)
                .await
                .map_err(|source| PlanError::Cluster { cluster: cluster.clone(), source })?,
        ),
        None => None,
    };
    if live.is_none() && n.members.iter().all(|m| m.class == Class::Unchanged) {
        for m in &n.members {
            let owner = Some((m.namespace.to_string(), m.name.to_string()));
            for (kind, c) in counts.get(&(cluster.clone(), namespace.to_string(), owner)).into_iter().flatten() {
                b.summary.count(cluster, kind, Action::NoOp, *c as usize);
            }
        }
        for (kind, c) in counts.get(&(cluster.clone(), namespace.to_string(), None)).into_iter().flatten() {
            b.summary.count(cluster, kind, Action::NoOp, *c as usize);
        }
        return Ok(());
    }

    let mut planned: Vec<Planned> = Vec::new();
    // Shared: every runtime of a namespace pulling with a credential version renders the
    // same Secret, and memos hold it once.
    let mut desired_secrets: BTreeMap<String, Arc<Value>> = BTreeMap::new();
    let mut going: BTreeSet<(Kind, String)> = BTreeSet::new();
    let mut pulled: BTreeSet<String> = BTreeSet::new();
    // The renderings made or read back here share their credential Secrets.
    let mut shared: BTreeMap<String, Arc<Value>> = BTreeMap::new();
    // Renderings made here, kept in the database for later processes and other replicas.
    let mut keep: Vec<Rendering> = Vec::new();
    for (ci, chunk) in n.members.chunks(CHUNK).enumerate() {
        let keys: Vec<(String, String)> = chunk.iter().map(|m| (m.namespace.to_string(), m.name.to_string())).collect();
        let mut applied: HashMap<(String, String), Vec<AppliedObject>> = HashMap::new();
        for a in store.applied_for_runtimes(&keys).await? {
            applied.entry(a.runtime.clone().unwrap_or_default()).or_default().push(a);
        }
        // Never applied and planned without refresh: what an earlier plan rendered of it
        // stands while its inputs stand (`memo`).
        let memo_key = |m: &Member<'_>| -> Option<MemoKey> {
            let h = m.head.filter(|_| live.is_none() && m.class == Class::Changed)?;
            let never = m.sync.is_none_or(|s| s.applied_generation.is_none())
                && !applied.contains_key(&(m.namespace.to_string(), m.name.to_string()));
            never.then(|| MemoKey {
                inputs: RenderInputs::of(h, renderer(n.mode)),
                cluster_generation: n.cluster.generation,
            })
        };
        let keys: Vec<Option<MemoKey>> = chunk.iter().map(memo_key).collect();
        let mut memos: Vec<Option<Arc<Memo>>> =
            keys.iter().map(|k| k.as_ref().and_then(|k| ctx.renders.get(k))).collect();
        // What this process does not remember, an earlier one (or another replica) may
        // have kept in the database.
        let missed: Vec<i64> = keys
            .iter()
            .zip(&memos)
            .filter(|(k, m)| k.is_some() && m.is_none())
            .filter_map(|(k, _)| k.as_ref().map(|k| k.inputs.runtime_id))
            .collect();
        if !missed.is_empty() {
            let kept = store.renderings(&missed).await?;
            for (key, memo) in keys.iter().zip(memos.iter_mut()).filter(|(_, m)| m.is_none()) {
                let Some(key) = key else { continue };
                let Some(row) = kept.get(&key.inputs.runtime_id).filter(|r| r.inputs == key.text()) else { continue };
                if let Some(m) = Memo::from_text(&row.memo, namespace, &mut shared) {
                    ctx.renders.put(key.clone(), m);
                    *memo = ctx.renders.get(key);
                }
            }
        }
        let changed: Vec<i64> = chunk
            .iter()
            .zip(&memos)
            .filter(|(m, memo)| m.class == Class::Changed && memo.is_none())
            .filter_map(|(m, _)| m.head.map(|h| h.id))
            .collect();
        let defaults = n.cluster.default_image_pull_secrets.clone();
        let contexts: HashMap<i64, RuntimeContext> = store
            .runtime_contexts_by_id(&changed, |_| defaults.clone())
            .await?
            .into_iter()
            .map(|c| (c.record.id, c))
            .collect();
        // A never-applied runtime planned without refresh is all creates: what the plan
        // needs of it is its memo, made here when neither this process nor the database
        // had it (a runtime that does not render is planned below, which says why).
        for (mi, m) in chunk.iter().enumerate() {
            let (Some(key), None) = (&keys[mi], &memos[mi]) else { continue };
            let Some(rt) = m.head.and_then(|h| contexts.get(&h.id)) else { continue };
            let Ok(mut memo) = Memo::rendered(rt, n.mode) else { continue };
            memo.share_secrets(&mut shared);
            keep.push(Rendering { runtime_id: key.inputs.runtime_id, inputs: key.text(), memo: memo.to_text() });
            ctx.renders.put(key.clone(), memo);
            memos[mi] = ctx.renders.get(key);
        }
        for (mi, m) in chunk.iter().enumerate() {
            let owner = format!("{}/{}", m.namespace, m.name);
            let mine = applied.remove(&(m.namespace.to_string(), m.name.to_string())).unwrap_or_default();
            let (objects, patches) = mine.into_iter().partition::<Vec<_>, _>(|a| a.scope == Scope::Object);
            let live_of = |kind: Kind, name: &str| live.as_ref().map(|l| l.objects.get(&(kind, name.to_string())));
            // The runtime resource as desired, in a fluid cluster (for the workloads' lists).
            let mut cr: Option<(RuntimeKind, Value)> = None;
            let mut reasons: Vec<Reason> = Vec::new();
            match m.class {
                Class::Unchanged => {
                    for a in &objects {
                        let kind = Kind::parse(&a.key.kind).unwrap_or(Kind::ConfigMap);
                        let live_obj = live_of(kind, &a.key.name);
                        if let Some(rk) = RuntimeKind::from_kind(&a.key.kind) {
                            if live_obj.is_some() {
                                pulled.extend(cr_lists(rk, &a.fields).into_iter().flat_map(|(_, n)| n));
                            }
                            cr = Some((rk, a.fields.clone()));
                        }
                        if live_obj.is_some() {
                            pulled.extend(template_pull_secrets(&a.fields));
                        }
                        let outcome = match live_obj {
                            Some(Some(l)) if applied_holds_live(&a.fields, l) => (Action::NoOp, vec![], vec![]),
                            _ => compare(Some(&a.fields), Some(&a.fields), live_obj, &[]),
                        };
                        // A no-op row is not stored, so neither is its digest.
                        let digest = (outcome.0 != Action::NoOp).then(|| object_digest(&a.fields));
                        planned.push(Planned::of(kind, a.key.name.clone(), Some(owner.clone()), outcome, digest));
                    }
                }
                Class::Changed if memos[mi].is_some() => {
                    let memo = memos[mi].as_deref().expect("matched");
                    let row = &mut b.runtimes[first_row + ci * CHUNK + mi];
                    row.spec_hash = memo.spec_hash.clone();
                    row.bindings = memo.bindings.clone();
                    for (name, object) in &memo.secrets {
                        desired_secrets.insert(name.clone(), object.clone());
                    }
                    for (kind, name, digest) in &memo.objects {
                        let create = (Action::Create, vec![Reason::New], vec![]);
                        let digest = Some(hex::encode(digest));
                        planned.push(Planned::of(*kind, name.clone(), Some(owner.clone()), create, digest));
                    }
                }
                Class::Changed => {
                    let Some(rt) = m.head.and_then(|h| contexts.get(&h.id)) else { continue };
                    let row = &mut b.runtimes[first_row + ci * CHUNK + mi];
                    row.spec_hash = spec_hash(rt);
                    row.bindings = rt.bindings.clone();
                    reasons = runtime_reasons(rt, m.sync);
                    let rendered_objects = match render_redacted(rt, n.mode) {
                        Ok(o) => o,
                        Err(e) => {
                            b.warn(cluster, namespace, format!("runtime {owner} is not planned: {e}"));
                            continue;
                        }
                    };
                    let mut rendered: BTreeSet<(Kind, String)> = BTreeSet::new();
                    for RenderedObject { kind, name, object, .. } in rendered_objects {
                        let kind = Kind::parse(&kind).unwrap_or(Kind::ConfigMap);
                        if kind == Kind::Secret {
                            let shared = match desired_secrets.get(&name) {
                                Some(s) if **s == object => s.clone(),
                                _ => Arc::new(object),
                            };
                            desired_secrets.insert(name, shared);
                            continue;
                        }
                        if let Some(rk) = RuntimeKind::from_kind(kind.as_str()) {
                            pulled.extend(cr_lists(rk, &object).into_iter().flat_map(|(_, n)| n));
                            cr = Some((rk, object.clone()));
                        }
                        pulled.extend(template_pull_secrets(&object));
                        let a = objects.iter().find(|a| a.key.kind == kind.as_str() && a.key.name == name);
                        let live_obj = live_of(kind, &name);
                        let outcome = match (a, live_obj) {
                            // Never applied and not live: a create, whose diff is shown from the
                            // rendering when the plan is read, so none is computed here.
                            (None, None | Some(None)) => (Action::Create, vec![Reason::New], vec![]),
                            _ => compare(Some(&object), a.map(|a| &a.fields), live_obj, &reasons),
                        };
                        rendered.insert((kind, name.clone()));
                        let digest = (outcome.0 != Action::NoOp).then(|| object_digest(&object));
                        planned.push(Planned::of(kind, name, Some(owner.clone()), outcome, digest));
                    }
                    for a in objects.iter().filter(|a| {
                        !rendered.contains(&(Kind::parse(&a.key.kind).unwrap_or(Kind::ConfigMap), a.key.name.clone()))
                    }) {
                        planned.push(deletion(a, Some(owner.clone()), &mut going));
                    }
                }
                Class::Removed => {
                    for a in &objects {
                        planned.push(deletion(a, Some(owner.clone()), &mut going));
                    }
                }
            }
            if let (Mode::Fluid, Some(l), Some((rk, object))) = (n.mode, &live, &cr) {
                planned.extend(workload_lists(l, *rk, namespace, m.name, &owner, object, &patches, &reasons));
            }
        }
    }
    // A cache: a plan that could not keep them is as good, the next process renders again.
    if let Err(e) = store.put_renderings(&keep).await {
        tracing::warn!(namespace, error = %e, "could not keep the renderings of a plan");
    }
    drop(keep);
    plan_secrets(ctx, b, n, &live, desired_secrets, &going, &mut planned).await?;
    if let Some(l) = &live {
        let kept: BTreeSet<String> = planned
            .iter()
            .filter(|p| p.kind == Kind::Secret && p.action != Action::Delete)
            .map(|p| p.name.clone())
            .collect();
        for name in pulled {
            if !l.secret_names.contains(&name) && !kept.contains(&name) {
                b.warn(
                    cluster,
                    namespace,
                    format!("pull secret {name:?} is referenced but does not exist in namespace {namespace:?}"),
                );
            }
        }
    }
    if let Some(l) = &live {
        for p in planned.iter_mut().filter(|p| p.action == Action::Create && p.scope == Scope::Object) {
            if l.foreign.contains(&(p.kind, p.name.clone())) {
                if b.adopt {
                    p.reasons.push(Reason::Adoption);
                } else {
                    (p.action, p.reasons) = (Action::Conflict, vec![Reason::NotOwned]);
                }
            }
        }
    }
    push_rows(b, cluster, namespace, planned);
    Ok(())
}

/// The pull-secret lists of the workloads Fluid created for a runtime, against what its
/// runtime resource asks for: an update (a patch of that list only) where they differ.
#[allow(clippy::too_many_arguments)]
fn workload_lists(
    live: &LiveNamespace,
    kind: RuntimeKind,
    namespace: &str,
    runtime: &str,
    owner: &str,
    cr: &Value,
    patched: &[AppliedObject],
    reasons: &[Reason],
) -> Vec<Planned> {
    let mut out = Vec::new();
    for (comp, names) in cr_lists(kind, cr) {
        let (wkind, wname, _) = fluid_workload(kind, runtime, comp);
        let Some(obj) = live.objects.get(&(wkind, wname.clone())) else { continue }; // Fluid has not created it yet
        let desired = pull_secret_fields(wkind, namespace, &wname, &names);
        let applied = patched.iter().find(|a| a.key.kind == wkind.as_str() && a.key.name == wname).map(|a| &a.fields);
        let (action, why, diff) = compare(Some(&desired), applied, Some(Some(obj)), reasons);
        let why = if applied.is_none() && action != Action::NoOp { vec![Reason::New] } else { why };
        out.push(Planned {
            kind: wkind,
            name: wname,
            runtime: Some(owner.to_string()),
            action: if action == Action::Create { Action::Update } else { action },
            reasons: why,
            diff,
            digest: Some(object_digest(&desired)),
            scope: Scope::PullSecrets,
        });
    }
    out
}

/// The namespace's credential Secrets: those changed runtimes render, and those applied.
async fn plan_secrets(
    ctx: &Context,
    b: &mut Builder,
    n: &Namespace<'_>,
    live: &Option<LiveNamespace>,
    desired_secrets: BTreeMap<String, Arc<Value>>,
    going: &BTreeSet<(Kind, String)>,
    planned: &mut Vec<Planned>,
) -> Result<(), PlanError> {
    let (cluster, namespace) = (&n.cluster.name, n.namespace);
    let applied_shared = ctx.store.applied_shared(cluster, namespace).await?;
    let bound = ctx.store.bound_secret_names(cluster, namespace).await?;
    let names: BTreeSet<String> =
        desired_secrets.keys().cloned().chain(applied_shared.iter().map(|a| a.key.name.clone())).collect();
    for name in names {
        let a = applied_shared.iter().find(|a| a.key.name == name);
        // Rendered by a changed runtime, or still bound by some runtime of the namespace
        // (then it stays as applied, and comes back if it went missing live).
        let d =
            desired_secrets.get(&name).map(|s| &**s).or_else(|| a.filter(|_| bound.contains(&name)).map(|a| &a.fields));
        if d.is_none() && a.is_some() {
            // A credential Secret goes only when nothing live still pulls with it.
            let why = match live {
                None => Some("make a refreshing plan to prune it".to_string()),
                Some(l) => {
                    let holders = l.holders_of(&name, going);
                    (!holders.is_empty()).then(|| format!("still used by {}", holders.join(", ")))
                }
            };
            if let Some(why) = why {
                b.warn(cluster, namespace, format!("Secret {name:?} is no longer desired but is kept: {why}"));
                continue;
            }
        }
        // Someone else's Secret of that name is not fluidform's to keep: planned as a
        // create (then a conflict, or an adoption) until fluidform has applied it.
        let live_obj = live.as_ref().map(|l| {
            let foreign = a.is_none() && l.foreign.contains(&(Kind::Secret, name.clone()));
            (l.secret_names.contains(&name) && !foreign).then_some(&Value::Bool(true))
        });
        let outcome = compare(d, a.map(|a| &a.fields), live_obj, &[Reason::New]);
        planned.push(Planned::of(Kind::Secret, name, None, outcome, d.map(object_digest)));
    }
    Ok(())
}

/// A fluid cluster's ThinRuntimeProfiles: every stored one applied, every applied one no
/// longer stored deleted.
pub(super) async fn plan_profiles(
    ctx: &Context,
    b: &mut Builder,
    cluster: &ClusterRecord,
    client: Option<&dyn Cluster>,
) -> Result<(), PlanError> {
    let stored = ctx.store.list_profiles(Some(&cluster.name)).await?;
    let applied = ctx.store.applied_shared(&cluster.name, "").await?;
    if stored.is_empty() && applied.is_empty() {
        return Ok(());
    }
    let live = match client {
        Some(c) => {
            let sel = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
            let objs = match c.list(Kind::ThinRuntimeProfile, "", &sel).await {
                Err(crate::engine::port::ClusterError::Api { status: 404, .. }) => vec![],
                other => other.map_err(|source| PlanError::Cluster { cluster: cluster.name.clone(), source })?,
            };
            let by_name: BTreeMap<String, Value> = objs
                .into_iter()
                .map(|o| {
                    (o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string(), normalize(&o))
                })
                .collect();
            Some(by_name)
        }
        None => None,
    };
    let mut planned = Vec::new();
    let mut names: BTreeSet<String> = applied.iter().map(|a| a.key.name.clone()).collect();
    let desired: BTreeMap<String, Value> = stored
        .iter()
        .filter_map(|p| p.profile().ok().map(|prof| (p.name.clone(), render_profile(&prof).object)))
        .collect();
    names.extend(desired.keys().cloned());
    for name in names {
        let d = desired.get(&name);
        let a = applied.iter().find(|a| a.key.name == name).map(|a| &a.fields);
        let l = live.as_ref().map(|l| l.get(&name));
        let outcome = compare(d, a, l, &[Reason::SpecChange]);
        planned.push(Planned::of(Kind::ThinRuntimeProfile, name, None, outcome, d.map(object_digest)));
    }
    push_rows(b, &cluster.name, "", planned);
    Ok(())
}

fn deletion(a: &AppliedObject, runtime: Option<String>, going: &mut BTreeSet<(Kind, String)>) -> Planned {
    let kind = Kind::parse(&a.key.kind).unwrap_or(Kind::ConfigMap);
    going.insert((kind, a.key.name.clone()));
    Planned::of(kind, a.key.name.clone(), runtime, compare(None, Some(&a.fields), None, &[]), None)
}
