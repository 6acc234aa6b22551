//! The runner: applies a saved plan as one run (see `store::runs` for what is recorded).
//!
//! A run takes a leased lock per runtime (`runtime:<namespace>:<name>`), renewed while it
//! works, so two runs never touch one runtime at once. Clusters go in parallel; within a
//! cluster objects go in waves (`domain::kinds`): namespaces when the plan asked to create
//! them, credential Secrets, then ConfigMaps, Services and Datasets, then workloads and
//! runtime resources; deletions after every apply, in reverse wave order. Within a wave up
//! to the cluster's `applyConcurrency` objects (default 16) are in flight. Before a wave is
//! sent its objects are recorded `applying` in one commit; results are recorded in group
//! commits as they come back. The first failure anywhere stops every cluster before its
//! next wave: what was applied stays recorded, the rest is `skipped`, and the next plan
//! picks up from the recorded state. Every apply is server-side with field manager
//! `fluidform` and `force`: fluidform owns the fields it renders and takes them back from
//! any other manager; fields it does not render stay with whoever set them.
//!
//! A run renders again only the runtimes it acts on (with the real Secret bytes, each
//! credential version opened once), and sends an object only if it is exactly the one the
//! plan reviewed (its digest), otherwise the run fails before sending anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::plan::compare::object_digest;
use super::plan::{Action, PlanError, PlanRequest};
use super::port::{Cluster, RequestCounts};
use super::{Context, lock_id};
use crate::domain::diff::normalize;
use crate::domain::fluid::{Mode, fluid_workload, render_profile};
use crate::domain::kinds::Kind;
use crate::domain::layers::parse_managed_secret_name;
use crate::domain::render::{CredentialSecret, credential_secret_object};
use crate::domain::runtime::RuntimeKind;
use crate::domain::states::RunStatus;
use crate::engine::plan::namespace::{cr_lists, pull_secret_fields};
use crate::engine::port::Deleted;
use crate::service::runtimes::{SecretCache, cached_secret, render_real, renderer};
use crate::store::plans::{PlanObjectFilter, PlanObjectRow, PlanRuntimeRow};
use crate::store::runs::{INTERRUPTED, NewRun, ObjectResult, RunObject, RunRecord, RunRefusal};
use crate::store::sync::{AppliedObject, ObjectKey, Scope};

/// Results recorded per commit at most.
const GROUP: usize = 64;
/// The longest a result waits for others to share its commit. What a run is about to send
/// is recorded before it is sent (`mark_applying`), so results held this long are not at
/// risk: after a crash they are found `applying`, as every object in flight then is.
const LINGER: std::time::Duration = std::time::Duration::from_millis(25);

/// One object a run acts on.
#[derive(Debug, Clone)]
struct Step {
    seq: i64,
    kind: Kind,
    action: Action,
    row: PlanObjectRow,
}

impl Step {
    fn key(&self) -> ObjectKey {
        ObjectKey {
            cluster: self.row.cluster.clone(),
            namespace: self.row.namespace.clone(),
            kind: self.row.kind.clone(),
            name: self.row.name.clone(),
        }
    }
    /// The wave an object goes in: applies by kind (pull-secret lists of Fluid's workloads
    /// after the runtime resources), deletions after all of them, reversed.
    fn wave(&self) -> u16 {
        let w = if self.row.scope == Scope::PullSecrets { 4 } else { self.kind.wave() as u16 };
        if self.action == Action::Delete { 100 + (10 - w) } else { w }
    }
}

/// The order objects are acted on within a run.
fn run_order(rows: Vec<PlanObjectRow>) -> Vec<Step> {
    let mut steps: Vec<Step> = rows
        .into_iter()
        .filter_map(|row| {
            let action = Action::parse(&row.action)?;
            let kind = Kind::parse(&row.kind)?;
            // A plan with conflicts is refused before it runs; they are never acted on.
            (action != Action::NoOp && action != Action::Conflict).then_some(Step { seq: 0, kind, action, row })
        })
        .collect();
    steps.sort_by(|a, b| {
        (&a.row.cluster, a.wave(), &a.row.namespace, a.kind, &a.row.name).cmp(&(
            &b.row.cluster,
            b.wave(),
            &b.row.namespace,
            b.kind,
            &b.row.name,
        ))
    });
    for (i, s) in steps.iter_mut().enumerate() {
        s.seq = i as i64;
    }
    steps
}

/// Validates and starts applying a plan; returns the queued run.
pub async fn apply_plan(ctx: &Arc<Context>, plan_id: &str, actor: &str) -> Result<RunRecord, PlanError> {
    apply_plan_with(ctx, plan_id, actor, None, None).await
}

/// `apply_plan` with a chosen run id (written down by the caller before it acts) and a
/// lock owner whose locks count as the caller's own.
pub async fn apply_plan_with(
    ctx: &Arc<Context>,
    plan_id: &str,
    actor: &str,
    run_id: Option<String>,
    owner: Option<&str>,
) -> Result<RunRecord, PlanError> {
    let plan = ctx.store.get_plan(plan_id).await?;
    if let Some(run) = &plan.run_id {
        return Err(PlanError::AlreadyApplied(run.clone()));
    }
    if plan.expires_at < ctx.now() {
        return Err(PlanError::Expired(plan.expires_at));
    }
    if let Some(why) = ctx.store.plan_staleness(plan_id).await? {
        return Err(PlanError::Stale(why));
    }
    let request: PlanRequest =
        serde_json::from_value(plan.request).map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
    let conflicts = plan.summary.get("conflict").and_then(Value::as_u64).unwrap_or(0) as usize;
    if conflicts > 0 {
        let filter = PlanObjectFilter { action: Some(Action::Conflict.as_str().into()), ..Default::default() };
        let some = ctx.store.plan_objects(plan_id, &filter, -1, 5).await?;
        let examples: Vec<String> =
            some.iter().map(|o| format!("{} {}/{} on {}", o.kind, o.namespace, o.name, o.cluster)).collect();
        return Err(PlanError::Conflicts { count: conflicts, examples: examples.join(", ") });
    }
    let runtimes = ctx.store.plan_runtimes(plan_id).await?;
    let clusters: BTreeSet<&str> = runtimes.iter().map(|r| r.cluster.as_str()).collect();
    for c in clusters {
        if ctx.store.get_cluster(c).await?.effective_mode().is_none() {
            return Err(PlanError::ModeUnknown(c.to_string()));
        }
    }
    let locks: Vec<String> = runtimes.iter().map(|r| lock_id(&r.namespace, &r.name)).collect();
    let steps = run_order(ctx.store.plan_objects(plan_id, &PlanObjectFilter::default(), -1, i64::MAX).await?);
    let objects: Vec<RunObject> = steps
        .iter()
        .map(|s| RunObject {
            seq: s.seq,
            cluster: s.row.cluster.clone(),
            namespace: s.row.namespace.clone(),
            api_version: s.row.api_version.clone(),
            kind: s.row.kind.clone(),
            name: s.row.name.clone(),
            action: s.action.as_str().to_string(),
            status: crate::domain::states::ObjectStatus::Pending,
            error: None,
            started_at: None,
            finished_at: None,
        })
        .collect();
    let run_id = run_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let work = ctx.enter_owned().ok_or(PlanError::ShuttingDown)?;
    let refused = ctx
        .store
        .create_run(NewRun {
            run_id: &run_id,
            plan_id,
            actor,
            holder: &ctx.replica,
            locks: &locks,
            lease: ctx.settings.run_lease,
            objects: &objects,
            owner,
        })
        .await?;
    match refused {
        Ok(()) => {}
        Err(RunRefusal::AlreadyApplied { run_id }) => return Err(PlanError::AlreadyApplied(run_id)),
        Err(RunRefusal::Locked(l)) => {
            return Err(PlanError::Locked { lock: l.id, holder: l.holder, run: l.run_id, until: l.expires_at });
        }
    }
    let (c, id) = (ctx.clone(), run_id.clone());
    ctx.spawner.spawn(async move {
        execute(c, id, request, runtimes, steps).await;
        drop(work);
    });
    Ok(ctx.store.get_run(&run_id).await?)
}

async fn execute(
    ctx: Arc<Context>,
    run_id: String,
    request: PlanRequest,
    runtimes: Vec<PlanRuntimeRow>,
    steps: Vec<Step>,
) {
    let renew = {
        let (store, id, lease) = (ctx.store.clone(), run_id.clone(), ctx.settings.run_lease);
        ctx.spawner.spawn(async move {
            let every = (lease / 3).to_std().unwrap_or(std::time::Duration::from_secs(10));
            loop {
                tokio::time::sleep(every).await;
                // A lock lost here is noticed before the next wave (`fenced`).
                if let Err(e) = store.renew_locks(&id, lease).await {
                    tracing::warn!(run = %id, error = %e, "could not renew run locks");
                }
            }
        })
    };
    let result = run(&ctx, &run_id, &request, &runtimes, steps).await;
    renew.abort();
    let mut modes: BTreeMap<String, &'static str> = BTreeMap::new();
    for r in &runtimes {
        if !modes.contains_key(&r.cluster)
            && let Ok(c) = ctx.store.get_cluster(&r.cluster).await
        {
            modes.insert(r.cluster.clone(), renderer(c.effective_mode().unwrap_or(Mode::Standalone)));
        }
    }
    let renderer_of = |c: &str| modes.get(c).copied().unwrap_or_default().to_string();
    let (status, error, counts) = match result {
        Ok(counts) => match ctx.store.record_run_succeeded(&run_id, &runtimes, renderer_of).await {
            Ok(()) => (RunStatus::Succeeded, None, counts),
            Err(e) => (RunStatus::Failed, Some(format!("recording the result failed: {e}")), counts),
        },
        Err((msg, counts)) => (RunStatus::Failed, Some(msg), counts),
    };
    if status == RunStatus::Failed {
        let rts: Vec<(String, String, String)> = runtimes
            .iter()
            .filter(|r| !r.removed)
            .map(|r| (r.namespace.clone(), r.name.clone(), r.cluster.clone()))
            .collect();
        if let Err(e) = ctx.store.record_runtimes_run(&rts, &run_id, "failed").await {
            tracing::error!(run = %run_id, error = %e, "could not record a failed run on its runtimes");
        }
    }
    let requests = serde_json::to_value(&counts).unwrap_or(Value::Null);
    if let Err(e) = ctx.store.finish_run(&run_id, status, error.as_deref(), &requests).await {
        tracing::error!(run = %run_id, error = %e, "could not record the end of a run");
    }
    tracing::info!(run = %run_id, status = %status, "run finished");
}

type Counts = BTreeMap<String, RequestCounts>;

/// Every cluster of the run in parallel; the first error stops them all.
async fn run(
    ctx: &Arc<Context>,
    run_id: &str,
    request: &PlanRequest,
    runtimes: &[PlanRuntimeRow],
    steps: Vec<Step>,
) -> Result<Counts, (String, Counts)> {
    ctx.store.mark_run_running(run_id).await.map_err(|e| (e.to_string(), Counts::new()))?;
    let (tx, recorder) = recorder(ctx.clone(), run_id.to_string());
    let stop = Arc::new(AtomicBool::new(false));
    let mut by_cluster: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    for s in steps {
        by_cluster.entry(s.row.cluster.clone()).or_default().push(s);
    }
    let planned: HashMap<(String, String), &PlanRuntimeRow> =
        runtimes.iter().map(|r| ((r.namespace.clone(), r.name.clone()), r)).collect();
    let locks = runtimes.iter().map(|r| lock_id(&r.namespace, &r.name)).collect::<BTreeSet<_>>().len() as i64;
    let jobs = by_cluster.into_iter().map(|(cluster, steps)| {
        let (tx, stop, planned) = (&tx, &stop, &planned);
        async move {
            let mut counts = RequestCounts::default();
            let part = ClusterRun { ctx, run_id, cluster: &cluster, request, planned, tx, stop, locks };
            let r = part.run(steps, &mut counts).await;
            if r.is_err() {
                stop.store(true, Ordering::SeqCst);
            }
            (cluster, r, counts)
        }
    });
    let outcomes = futures::future::join_all(jobs).await;
    drop(tx);
    let recorded = recorder.await.unwrap_or_else(|e| Err(format!("recorder: {e}")));
    let mut counts = Counts::new();
    let mut first_error = None;
    for (cluster, r, c) in outcomes {
        counts.insert(cluster, c);
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    }
    if let Err(e) = recorded {
        first_error.get_or_insert(format!("recording results failed: {e}"));
    }
    match first_error {
        None => Ok(counts),
        Some(e) => Err((e, counts)),
    }
}

enum Record {
    Result(Box<ObjectResult>),
    Flush(oneshot::Sender<()>),
}

/// A task that records results in group commits; `Flush` answers once everything sent
/// before it is committed.
fn recorder(
    ctx: Arc<Context>,
    run_id: String,
) -> (mpsc::UnboundedSender<Record>, tokio::task::JoinHandle<Result<(), String>>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Record>();
    let handle = ctx.spawner.clone().spawn(async move {
        let mut failure: Option<String> = None;
        while let Some(first) = rx.recv().await {
            let mut pending: Vec<ObjectResult> = Vec::new();
            let mut waiters = Vec::new();
            let take = |m: Record, pending: &mut Vec<ObjectResult>, waiters: &mut Vec<oneshot::Sender<()>>| match m {
                Record::Result(r) => pending.push(*r),
                Record::Flush(w) => waiters.push(w),
            };
            take(first, &mut pending, &mut waiters);
            // Results come back a few at a time: wait a little for more (a flush, a full
            // group or the end of the run commits at once), so a commit holds dozens.
            let until = tokio::time::Instant::now() + LINGER;
            while pending.len() < GROUP && waiters.is_empty() {
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Ok(Some(m)) => take(m, &mut pending, &mut waiters),
                    Ok(None) | Err(_) => break,
                }
            }
            if let Err(e) = ctx.store.record_results(&run_id, &pending).await {
                tracing::error!(run = %run_id, error = %e, "could not record object results");
                failure.get_or_insert(e.to_string());
            }
            for w in waiters {
                let _ = w.send(());
            }
        }
        failure.map_or(Ok(()), Err)
    });
    (tx, handle)
}

async fn flush(tx: &mpsc::UnboundedSender<Record>) {
    let (w, r) = oneshot::channel();
    if tx.send(Record::Flush(w)).is_ok() {
        let _ = r.await;
    }
}

/// What one cluster's part of a run shares.
struct ClusterRun<'a> {
    ctx: &'a Arc<Context>,
    run_id: &'a str,
    cluster: &'a str,
    request: &'a PlanRequest,
    planned: &'a HashMap<(String, String), &'a PlanRuntimeRow>,
    tx: &'a mpsc::UnboundedSender<Record>,
    stop: &'a AtomicBool,
    /// How many runtime locks the run took; it acts only while it holds them all.
    locks: i64,
}

impl ClusterRun<'_> {
    /// This cluster's waves; the request counts of its handle go to `counts`.
    async fn run(&self, steps: Vec<Step>, counts: &mut RequestCounts) -> Result<(), String> {
        let cluster = self.cluster;
        let rec = self.ctx.store.get_cluster(cluster).await.map_err(|e| format!("cluster {cluster:?}: {e}"))?;
        let client = self.ctx.cluster_of(&rec).await.map_err(|e| format!("cluster {cluster:?}: {e}"))?;
        let result = self.waves(client.as_ref(), self.ctx.concurrency_of(&rec), steps).await;
        *counts = client.requests();
        result
    }

    async fn waves(&self, client: &dyn Cluster, concurrency: usize, steps: Vec<Step>) -> Result<(), String> {
        let desired = self.desired_objects(&steps).await?;
        if self.request.create_namespaces {
            let namespaces: BTreeSet<&str> = steps
                .iter()
                .filter(|s| s.action != Action::Delete && s.kind.info().namespaced)
                .map(|s| s.row.namespace.as_str())
                .collect();
            for ns in namespaces {
                client
                    .ensure_namespace(ns)
                    .await
                    .map_err(|e| format!("cluster {:?}: namespace {ns}: {e}", self.cluster))?;
            }
        }
        let mut waves: BTreeMap<u16, Vec<Step>> = BTreeMap::new();
        for s in steps {
            waves.entry(s.wave()).or_default().push(s);
        }
        for (n, wave) in waves.into_values().enumerate() {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(()); // another cluster failed; its error is the run's
            }
            self.may_go_on(n + 1).await?;
            let seqs: Vec<i64> = wave.iter().map(|s| s.seq).collect();
            self.ctx.store.mark_applying(self.run_id, &seqs).await.map_err(|e| e.to_string())?;
            // Once anything fails, objects not yet sent stay unsent (`skipped`).
            let failed = futures::stream::iter(wave)
                .map(|s| async {
                    if self.stop.load(Ordering::SeqCst) {
                        return Some((ObjectResult::NotSent { seq: s.seq }, None));
                    }
                    let (result, message) = act(client, s, &desired, self.run_id).await;
                    if message.is_some() {
                        self.stop.store(true, Ordering::SeqCst);
                    }
                    Some((result, message))
                })
                .buffer_unordered(concurrency)
                .fold(None::<String>, |first, done| {
                    let message = done.and_then(|(result, message)| {
                        let _ = self.tx.send(Record::Result(Box::new(result)));
                        message
                    });
                    async move { first.or(message) }
                })
                .await;
            flush(self.tx).await;
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Whether the run may send wave `n`: not while the daemon drains, and not once it
    /// holds fewer locks than it took (force-unlocked, or its lease lapsed): another run
    /// may own those runtimes now. The objects of the waves not sent are `skipped`.
    async fn may_go_on(&self, n: usize) -> Result<(), String> {
        if self.ctx.drain.is_draining() {
            // Worded as an interruption: a rotation runs the batch again after the restart.
            return Err(format!("{INTERRUPTED}: stopped before wave {n} by the daemon's shutdown"));
        }
        let held = self.ctx.store.live_locks(self.run_id).await.map_err(|e| e.to_string())?;
        if held < self.locks {
            return Err(format!(
                "stopped before wave {n}: the run holds {held} of its {} runtime locks (force-unlocked or lease lapsed)",
                self.locks
            ));
        }
        Ok(())
    }

    /// The objects to send, rendered again for the runtimes acted on, each checked against
    /// the digest the plan recorded.
    async fn desired_objects(&self, steps: &[Step]) -> Result<HashMap<ObjectKey, Value>, String> {
        let store = &self.ctx.store;
        let sending: Vec<&Step> = steps.iter().filter(|s| s.action != Action::Delete).collect();
        let mut owners: BTreeSet<(String, String)> = BTreeSet::new();
        for s in sending.iter().filter(|s| s.kind != Kind::Secret && s.kind != Kind::ThinRuntimeProfile) {
            let owner = s.row.runtime.as_deref().and_then(|r| r.split_once('/'));
            let Some((ns, n)) = owner else { return Err(format!("{} {} has no runtime", s.kind, s.row.name)) };
            owners.insert((ns.to_string(), n.to_string()));
        }
        let mut ids = Vec::new();
        for o in &owners {
            match self.planned.get(o).and_then(|p| p.runtime_id) {
                Some(id) => ids.push(id),
                None => return Err(format!("runtime {}/{} is not in the plan", o.0, o.1)),
            }
        }
        let rec = store.get_cluster(self.cluster).await.map_err(|e| e.to_string())?;
        let mode = rec.effective_mode().ok_or_else(|| PlanError::ModeUnknown(self.cluster.to_string()).to_string())?;
        let defaults = rec.default_image_pull_secrets.clone();
        let contexts = store.runtime_contexts_by_id(&ids, |_| defaults.clone()).await.map_err(|e| e.to_string())?;
        let mut cache = SecretCache::new();
        let mut rendered: HashMap<ObjectKey, Value> = HashMap::new();
        for rt in &contexts {
            let p = self.planned.get(&(rt.record.namespace.clone(), rt.record.name.clone()));
            let same = p.is_some_and(|p| {
                p.runtime_id == Some(rt.record.id)
                    && p.generation == rt.record.generation
                    && p.layer_revision == rt.layer_revision
                    && p.deps_revision == rt.record.deps_revision
            });
            if !same {
                return Err(format!(
                    "runtime {}/{} changed after the plan was checked; make a new plan",
                    rt.record.namespace, rt.record.name
                ));
            }
            for o in render_real(store, &self.ctx.key, rt, mode, &mut cache).await.map_err(|e| e.to_string())? {
                if let Some(kind) = RuntimeKind::from_kind(&o.kind) {
                    // The lists the runtime resource asks of the workloads Fluid created.
                    for (comp, names) in cr_lists(kind, &o.object) {
                        let (wkind, wname, _) = fluid_workload(kind, &rt.record.name, comp);
                        let key = ObjectKey {
                            cluster: self.cluster.to_string(),
                            namespace: o.namespace.clone(),
                            kind: wkind.as_str().into(),
                            name: wname.clone(),
                        };
                        rendered.insert(key, pull_secret_fields(wkind, &o.namespace, &wname, &names));
                    }
                }
                let key =
                    ObjectKey { cluster: self.cluster.to_string(), namespace: o.namespace, kind: o.kind, name: o.name };
                rendered.insert(key, o.object);
            }
        }
        if contexts.len() != ids.len() {
            return Err("a runtime of the plan was deleted after the plan was checked; make a new plan".into());
        }
        let mut out = HashMap::new();
        for s in sending {
            let key = s.key();
            let object = match s.kind {
                Kind::Secret => {
                    let Some((credential, version)) = parse_managed_secret_name(&s.row.name) else {
                        return Err(format!("Secret {} is not a credential version", s.row.name));
                    };
                    let bytes = cached_secret(store, &self.ctx.key, &mut cache, credential, version)
                        .await
                        .map_err(|e| e.to_string())?;
                    let secret =
                        CredentialSecret { credential: credential.into(), version, dockerconfigjson: Some(bytes) };
                    credential_secret_object(&s.row.namespace, &secret).object
                }
                Kind::ThinRuntimeProfile => {
                    let p = store.get_profile(self.cluster, &s.row.name).await.map_err(|e| e.to_string())?;
                    render_profile(&p.profile().map_err(|e| e.to_string())?).object
                }
                _ => match rendered.remove(&key) {
                    Some(o) => o,
                    None => {
                        return Err(format!(
                            "{} {}/{} is no longer rendered; make a new plan",
                            s.kind, key.namespace, key.name
                        ));
                    }
                },
            };
            if s.row.digest.as_deref().is_some_and(|d| d != object_digest(&object)) {
                // The plan may have come from a kept rendering (`plan::memo`): the next plan
                // renders these runtimes again.
                self.ctx.renders.clear();
                if let Err(e) = store.forget_renderings(&ids).await {
                    tracing::warn!(run = %self.run_id, error = %e, "could not forget the kept renderings");
                }
                return Err(format!(
                    "{} {}/{} would not be sent as planned (its rendering changed); make a new plan",
                    s.kind, key.namespace, key.name
                ));
            }
            out.insert(key, object);
        }
        Ok(out)
    }
}

/// Sends one object; the result to record and, on failure, the run's error message.
async fn act(
    client: &dyn Cluster,
    s: Step,
    desired: &HashMap<ObjectKey, Value>,
    run_id: &str,
) -> (ObjectResult, Option<String>) {
    let key = s.key();
    let applied = |object: &Value, scope: Scope| ObjectResult::Applied {
        seq: s.seq,
        applied: AppliedObject {
            key: key.clone(),
            api_version: s.row.api_version.clone(),
            scope,
            runtime: s.row.runtime.as_deref().and_then(|r| r.split_once('/')).map(|(a, b)| (a.into(), b.into())),
            fields: normalize(object),
            applied_at: chrono::Utc::now(),
            run_id: run_id.to_string(),
        },
    };
    let outcome = match (s.action, desired.get(&key)) {
        (Action::Create | Action::Update, None) => {
            return (
                ObjectResult::Failed { seq: s.seq, error: "not rendered".into() },
                Some(format!("{} {}/{} is not rendered", s.kind, key.namespace, key.name)),
            );
        }
        (Action::Create | Action::Update, Some(object)) if s.row.scope == Scope::PullSecrets => {
            let names = crate::engine::plan::live::template_pull_secrets(object);
            client
                .set_pull_secrets(s.kind, &key.namespace, &key.name, &names)
                .await
                .map(|()| applied(object, Scope::PullSecrets))
        }
        (Action::Create | Action::Update, Some(object)) => client.apply(object).await.map(|()| applied(object, Scope::Object)),
        (Action::Delete | Action::NoOp | Action::Conflict, _) => client.delete(s.kind, &key.namespace, &key.name).await.map(|d| {
            if d == Deleted::NotOurs {
                tracing::warn!(object = %format!("{} {}/{}", s.kind, key.namespace, key.name), "not deleted: the live object is not fluidform's");
            }
            ObjectResult::Deleted { seq: s.seq, key: key.clone() }
        }),
    };
    match outcome {
        Ok(r) => (r, None),
        Err(e) => {
            let msg = format!("{} {}/{} on cluster {:?}: {e}", s.kind, key.namespace, key.name, key.cluster);
            (ObjectResult::Failed { seq: s.seq, error: e.to_string() }, Some(msg))
        }
    }
}
