//! The rotation driver: a persisted state machine advanced one step at a time.
//!
//! Each step reads the rotation, observes what its phase needs (`decide::needs`), decides
//! (`decide::decide`, pure) and writes what it decided before acting on it; a restarted
//! process picks up at the recorded step. A batch goes `pending` → `applying` (bindings
//! moved and the run id recorded in one transaction; the run is created with that id, so
//! it is never created twice) → `restarting` (old pods of `OnDelete` workloads deleted a
//! bounded number at a time, replacements awaited) → `healthy` or `failed`, each end
//! written together with the rotation's next state. Only one replica drives a rotation:
//! it holds the lease `rotation-driver:<id>` (10 s, renewed every step), so another
//! replica, or the restarted process, takes over within seconds of a crash; every write of
//! a step, and each pod deletion, is fenced by that lease (`store::locks`), so a replica
//! that stalled past its lease cannot move the rotation after the new holder did. It also takes the rotation's runtime locks (a
//! 120 s lease) again while the rotation is active, paused or waiting for approval
//! included: at every step, except that looks at restarting pods renew them at most every
//! 30 s (`Polls`).
//!
//! On shutdown the driver finishes the step it is in and starts no other; the daemon then
//! releases its leases, so another replica (or the restarted process) drives on at once.
//!
//! One rotation's failure never stops the others: a step that errors is recorded as a
//! `step_error` event and retried at the next tick; a step that panics pauses that
//! rotation with the reason.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use futures::{FutureExt, StreamExt};
use serde_json::json;

use super::decide::{
    AfterFailure, BatchView, Need, Observed, PodRef, Policy, ProofSeen, RevocationSeen, RotationView, RunSeen, Step,
    Then, decide, needs,
};
use super::observe::{Limits, Read, progress, read_rollouts, unhealthy};
use super::select::{ROTATION_LEASE, refusal};
use super::{RotationError, RotationRequest, UnhealthyPolicy, VerifyMode};
use crate::domain::code::{Coded, ErrorCode};
use crate::domain::rollout::{Target, WorkloadRef};
use crate::domain::states::{BatchState, RollbackState, RotationRuntimeState, RotationState, RunStatus};
use crate::engine::plan::{PlanError, PlanRequest, create_plan};
use crate::engine::runner::apply_plan_with;
use crate::engine::verify::{recent_proof, verify_version};
use crate::engine::{Context, lock_id};
use crate::service::runtimes::resolution;
use crate::store::StoreError;
use crate::store::credentials::Stage;
use crate::store::locks::fenced;
use crate::store::rotations::{BatchStart, NextState, RotationRecord, SkippedWorkload};
use crate::store::runs::INTERRUPTED;

/// How long a process's claim to drive a rotation lives without renewal (renewed every
/// tick): after a crash another process, or the restarted one, takes over within this.
const DRIVER_LEASE: Duration = Duration::seconds(10);
/// Pod deletions in flight at once (the cluster layer caps writes per API server too).
const DELETES_IN_FLIGHT: usize = 20;

fn request(rot: &RotationRecord) -> Result<RotationRequest, StoreError> {
    serde_json::from_value(rot.request.clone()).map_err(|e| StoreError::Corrupt(format!("rotation request: {e}")))
}

fn owner(rot: &RotationRecord) -> String {
    format!("rotation:{}", rot.id)
}

fn view(rot: &RotationRecord, req: &RotationRequest) -> RotationView {
    RotationView {
        state: rot.state,
        current: rot.current_batch.max(0) as usize,
        batches: rot
            .batches
            .iter()
            .map(|b| BatchView {
                state: b.state,
                run_id: b.run_id.clone(),
                deadline: b.deadline_at,
                note: if b.state == crate::domain::states::BatchState::Applying { b.error.clone() } else { None },
                finished: b.finished_at,
            })
            .collect(),
        failed_batches: rot.failed_batches(),
        rollback: rot.rollback_state,
        rollback_run: rot.rollback_run_id.clone(),
        rollback_deadline: rot.rollback_deadline_at,
        policy: Policy {
            gate: req.gate,
            max_failed_batches: req.max_failed_batches,
            on_failure: req.on_failure,
            health_timeout: Duration::seconds(req.health_timeout_secs() as i64),
            verify: if req.layer.is_some() { VerifyMode::Off } else { req.verify },
            await_revocation: req.await_revocation && req.layer.is_none(),
            batch_interval: req.batch_interval_secs().map(|s| Duration::seconds(s as i64)),
            pause_on_drift: req.pause_on_drift,
        },
    }
}

/// The run the rotation is applying now (its current batch's, or its rollback's): it holds
/// the locks of the runtimes it applies until it ends.
fn applying_run(rot: &RotationRecord) -> Option<&str> {
    if rot.state == RotationState::RollingBack {
        return rot.rollback_run_id.as_deref().filter(|_| rot.rollback_state == Some(RollbackState::Applying));
    }
    let batch = rot.batches.iter().find(|b| b.idx == rot.current_batch)?;
    batch.run_id.as_deref().filter(|_| batch.state == BatchState::Applying)
}

/// Past its last batch, waiting for the old version's revocation: it holds no locks then.
fn awaiting_revocation(rot: &RotationRecord) -> bool {
    rot.current_batch.max(0) as usize >= rot.batches.len()
        && request(rot).is_ok_and(|r| r.await_revocation && r.layer.is_none())
}

/// Drives every active rotation this process holds the lease of, forever.
pub fn spawn_rotation_driver(ctx: &Arc<Context>) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    ctx.spawner.clone().spawn(async move {
        let mut polls = Polls::default();
        loop {
            // On shutdown the step in progress ends and no other starts (see `drain`).
            let Some(_work) = ctx.drain.enter() else { break };
            if let Err(e) = drive_with(&ctx, &mut polls).await {
                tracing::warn!(error = %e, "rotation driver step failed");
            }
            drop(_work);
            tokio::time::sleep(ctx.settings.rotation_tick).await;
        }
    })
}

/// The longest a rotation waiting on its pods goes unobserved.
const POLL_MAX: StdDuration = StdDuration::from_secs(4);
/// The longest between two looks while a look still finds pods to delete.
const POLL_RESTARTING: StdDuration = StdDuration::from_secs(2);

/// When each rotation waiting on its pods is looked at next. A look that found nothing to
/// do doubles the wait before the next (from the tick up to `POLL_MAX`); a look that deleted
/// pods doubles it too, up to `POLL_RESTARTING`, since the pods it deleted take seconds to
/// come back; anything else that moves the rotation (a batch done, a command) brings it back
/// to every tick. A batch of pods that take half a minute to come back costs a dozen or
/// two reads, not sixty; a runtime's next component is restarted at most 2 s after the one
/// before it is healthy.
///
/// It also remembers when this process last took each rotation's runtime locks while its
/// pods restart: a look at pods that follows another within `LOCKS_RENEW_EVERY` of the last
/// taking leaves them be (a rotation of 1,000 runtimes holds 1,000 locks, and taking them
/// is a read and an upsert of every one, while a batch takes a dozen or two looks). Every
/// other step takes them, as the first step in a process does.
#[derive(Default)]
pub struct Polls {
    looks: std::collections::HashMap<String, Poll>,
    locked: std::collections::HashMap<String, std::time::Instant>,
}

struct Poll {
    next: std::time::Instant,
    wait: StdDuration,
    /// What the rotation looked like then; a change (an approval, a pause) ends the wait.
    seen: String,
    /// When the driver lease is renewed while the wait lasts.
    renew_at: std::time::Instant,
}

/// How often the driver lease (`DRIVER_LEASE`) is renewed while a rotation waits.
const RENEW_EVERY: StdDuration = StdDuration::from_secs(3);
/// How often a rotation's runtime locks (`ROTATION_LEASE`, 120 s) are renewed while it
/// steps: a quarter of their lease, so three renewals can be missed before one expires.
const LOCKS_RENEW_EVERY: StdDuration = StdDuration::from_secs(30);

#[cfg(test)]
impl Polls {
    /// The wait the last look of `id` set, if it is waiting.
    pub fn wait_of(&self, id: &str) -> Option<StdDuration> {
        self.looks.get(id).map(|p| p.wait)
    }

    /// Makes every wait end now, so a test sees the next look without sleeping through it.
    pub fn make_due(&mut self) {
        let now = std::time::Instant::now();
        self.looks.values_mut().for_each(|p| p.next = now);
    }
}

fn fingerprint(rot: &RotationRecord) -> String {
    let batches: Vec<crate::domain::states::BatchState> = rot.batches.iter().map(|b| b.state).collect();
    crate::store::rotations::rotation_mark(rot.state, rot.current_batch, &batches)
}

/// One step of every active rotation.
pub async fn drive_once(ctx: &Arc<Context>) -> Result<(), StoreError> {
    drive_with(ctx, &mut Polls::default()).await
}

/// One step of every active rotation that is due (see `Polls`).
pub async fn drive_with(ctx: &Arc<Context>, polls: &mut Polls) -> Result<(), StoreError> {
    let active = ctx.store.active_rotation_marks().await?;
    polls.looks.retain(|id, _| active.iter().any(|(a, _)| a == id));
    polls.locked.retain(|id, _| active.iter().any(|(a, _)| a == id));
    for (id, mark) in active {
        if ctx.drain.is_draining() {
            break;
        }
        // A rotation waiting on its pods, unchanged since, costs nothing until its wait ends
        // or its lease is due for renewal.
        let now = std::time::Instant::now();
        let waiting = |polls: &Polls| polls.looks.get(&id).is_some_and(|p| p.seen == mark && now < p.next);
        if waiting(polls) && polls.looks.get(&id).is_some_and(|p| now < p.renew_at) {
            continue;
        }
        let Some(fence) = ctx.store.try_lease(&format!("rotation-driver:{id}"), &ctx.replica, DRIVER_LEASE).await?
        else {
            continue;
        };
        if waiting(polls) {
            if let Some(p) = polls.looks.get_mut(&id) {
                p.renew_at = now + RENEW_EVERY;
            }
            continue;
        }
        let rot = ctx.store.get_rotation(&id).await?;
        let seen = fingerprint(&rot);
        let waited = polls.looks.get(&id).filter(|p| p.seen == seen);
        if waited.is_some_and(|p| std::time::Instant::now() < p.next) {
            continue;
        }
        // A look after a wait this process set may be answered by the clusters' watches;
        // any other look reads fresh.
        let read = if waited.is_some() { Read::Watched } else { Read::Fresh };
        // Everything the step writes is fenced by the driver lease: a replica that stalled
        // past it while another took the rotation over writes nothing.
        let renew_locks =
            !awaiting_revocation(&rot) && polls.locked.get(&id).is_none_or(|at| at.elapsed() >= LOCKS_RENEW_EVERY);
        let locked_step = async {
            if renew_locks {
                let locks: Vec<String> = rot.runtimes.iter().map(|r| lock_id(&r.namespace, &r.name)).collect();
                let (who, run) = (owner(&rot), applying_run(&rot));
                if let Some(l) = ctx.store.take_locks_beside(&who, run, &ctx.replica, &locks, ROTATION_LEASE).await? {
                    tracing::warn!(rotation = %id, lock = %l.id, holder = %l.holder, "a runtime lock of the rotation is held by someone else");
                    return Ok((false, Looked::Moved));
                }
            }
            Ok::<_, StoreError>((renew_locks, step(ctx, &rot, read).await?))
        };
        let stepped = std::panic::AssertUnwindSafe(fenced(fence, locked_step)).catch_unwind().await;
        // Only a look at pods leaves the locks as they were: any other step may have run
        // a batch, whose run takes the batch's locks over and drops them when it ends.
        match &stepped {
            Ok(Ok((true, Looked::Idle | Looked::Deleted))) => {
                polls.locked.insert(id.clone(), std::time::Instant::now());
            }
            Ok(Ok((false, Looked::Idle | Looked::Deleted))) => {}
            _ => {
                polls.locked.remove(&id);
            }
        }
        let stepped = stepped.map(|r| r.map(|(_, looked)| looked));
        match stepped {
            Ok(Err(e)) if e.code() == ErrorCode::LeaseLost => {
                tracing::info!(rotation = %id, error = %e, "the driver lease moved to another replica; it drives on");
                polls.looks.remove(&id);
            }
            Ok(Ok(looked @ (Looked::Idle | Looked::Deleted))) => {
                let cap = if looked == Looked::Idle { POLL_MAX } else { POLL_RESTARTING };
                let tick = ctx.settings.rotation_tick;
                let wait = polls.looks.get(&id).map_or(tick, |p| (p.wait * 2).min(cap)).max(tick);
                let now = std::time::Instant::now();
                polls.looks.insert(id.clone(), Poll { next: now + wait, wait, seen, renew_at: now + RENEW_EVERY });
            }
            Ok(Ok(Looked::Moved)) => {
                polls.looks.remove(&id);
            }
            Ok(Err(e)) => {
                tracing::warn!(rotation = %id, error = %e, "rotation step failed; will retry");
                ctx.store
                    .add_rotation_event(&id, "step_error", Some(rot.current_batch), &json!({"error": e.to_string()}))
                    .await?;
            }
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown".into());
                let msg = format!("the driver step crashed: {why}");
                tracing::error!(rotation = %id, error = %msg, "rotation step panicked; pausing it");
                ctx.store
                    .set_rotation_state(
                        &id,
                        &[RotationState::Running, RotationState::RollingBack],
                        RotationState::Paused,
                        Some(Some(&msg)),
                        &json!({"error": msg}),
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

/// The runtimes of batch `idx` and the components the batch restarts.
async fn batch_targets(
    ctx: &Context,
    rot: &RotationRecord,
    req: &RotationRequest,
    idx: i64,
) -> Result<Vec<Target>, StoreError> {
    let members: Vec<_> = rot.runtimes.iter().filter(|r| r.batch == idx).collect();
    let mut clusters = std::collections::BTreeMap::new();
    for r in &members {
        if !clusters.contains_key(&r.cluster) {
            clusters.insert(r.cluster.clone(), ctx.store.get_cluster(&r.cluster).await?);
        }
    }
    // Every context in a few statements (a runtime deleted since the rotation started is
    // no target).
    let keys: Vec<(String, String)> = members.iter().map(|r| (r.namespace.clone(), r.name.clone())).collect();
    let ids = ctx.store.runtime_ids(&keys).await?;
    let wanted: Vec<i64> = keys.iter().filter_map(|k| ids.get(k).copied()).collect();
    let defaults = |c: &str| clusters.get(c).map(|c| c.default_image_pull_secrets.clone()).unwrap_or_default();
    let mut contexts: std::collections::HashMap<i64, _> =
        ctx.store.runtime_contexts_by_id(&wanted, defaults).await?.into_iter().map(|c| (c.record.id, c)).collect();
    let mut out = Vec::new();
    for r in members {
        let Some(rt) = ids.get(&(r.namespace.clone(), r.name.clone())).and_then(|id| contexts.remove(id)) else {
            continue;
        };
        out.push(Target {
            cluster: r.cluster.clone(),
            namespace: r.namespace.clone(),
            runtime: r.name.clone(),
            kind: rt.record.kind,
            fluid: clusters[&r.cluster].effective_mode() == Some(crate::domain::fluid::Mode::Fluid),
            components: req.restarted(&resolution(&rt)),
        });
    }
    Ok(out)
}

async fn run_seen(ctx: &Context, run_id: &str) -> Result<RunSeen, StoreError> {
    Ok(match ctx.store.get_run(run_id).await {
        Ok(run) => match run.status {
            RunStatus::Succeeded => RunSeen::Succeeded,
            RunStatus::Failed if run.error.as_deref().is_some_and(|e| e.starts_with(INTERRUPTED)) => {
                RunSeen::Interrupted
            }
            RunStatus::Failed => RunSeen::Failed(run.error.unwrap_or_else(|| "the run failed".into())),
            RunStatus::Queued | RunStatus::Running => RunSeen::InProgress,
        },
        Err(StoreError::NotFound { .. }) => RunSeen::Missing,
        Err(e) => return Err(e),
    })
}

fn skipped_of(rot: &RotationRecord, idx: i64) -> std::collections::BTreeSet<WorkloadRef> {
    rot.batches.iter().filter(|b| b.idx == idx).flat_map(|b| b.skipped.iter().map(|s| s.workload.clone())).collect()
}

/// What a step that watched pods did, for when the rotation is looked at next (`Polls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Looked {
    /// It found nothing to do yet.
    Idle,
    /// It deleted pods and waits for their replacements.
    Deleted,
    /// It moved the rotation on, or did not watch pods.
    Moved,
}

/// One step.
async fn step(ctx: &Arc<Context>, rot: &RotationRecord, read: Read) -> Result<Looked, StoreError> {
    let req = request(rot)?;
    let v = view(rot, &req);
    let now = ctx.now();
    let mut observed = Observed::default();
    let mut skipped_now: Vec<SkippedWorkload> = Vec::new();
    match needs(&v, now) {
        Need::Nothing => {}
        Need::Precheck(i) => {
            if req.pause_on_drift {
                observed.drifted = drifted_in_batch(ctx, rot, i as i64).await?;
            }
            let targets = batch_targets(ctx, rot, &req, i as i64).await?;
            let (states, _) = read_rollouts(ctx, &targets, Read::Fresh).await;
            let bad = unhealthy(&targets, &states);
            if !bad.is_empty() {
                match req.unhealthy_workloads {
                    UnhealthyPolicy::Block => {
                        let list: Vec<String> = bad
                            .iter()
                            .map(|(w, why)| format!("{} {}/{}: {why}", w.kind, w.namespace, w.name))
                            .collect();
                        observed.blocked = Some(format!(
                            "batch {i} would restart workloads that are unhealthy already: {}",
                            list.join("; ")
                        ));
                    }
                    UnhealthyPolicy::Skip => {
                        skipped_now =
                            bad.into_iter().map(|(workload, reason)| SkippedWorkload { workload, reason }).collect();
                    }
                }
            }
        }
        Need::Run(run_id) => observed.run = Some(run_seen(ctx, &run_id).await?),
        Need::Revocation => observed.revocation = Some(revocation_seen(ctx, rot).await?),
        Need::Rollout(i) => {
            let targets = rot.batches.iter().find(|b| b.idx == i as i64).map(|b| b.targets.clone()).unwrap_or_default();
            let (states, errors) = read_rollouts(ctx, &targets, read).await;
            let limits = Limits { per_workload: req.max_unavailable(), per_cluster: req.max_restarting_per_cluster() };
            observed.rollout = Some(progress(&targets, &states, &errors, &skipped_of(rot, i as i64), limits));
        }
        Need::RollbackRollout => {
            let mut targets = Vec::new();
            for b in &rot.batches {
                targets.extend(b.targets.iter().cloned());
            }
            let (states, errors) = read_rollouts(ctx, &targets, read).await;
            let limits = Limits { per_workload: req.max_unavailable(), per_cluster: req.max_restarting_per_cluster() };
            observed.rollout = Some(progress(&targets, &states, &errors, &Default::default(), limits));
        }
    }
    if let Need::Precheck(i) = needs(&v, now)
        && v.policy.verify != VerifyMode::Off
    {
        observed.proof = Some(target_proof(ctx, rot, i).await?);
    }
    let decision = decide(&v, &observed, now);
    let looked = match &decision {
        _ if observed.rollout.is_none() => Looked::Moved,
        Step::Wait(_) => Looked::Idle,
        Step::Restart { deletions, .. } if deletions.is_empty() => Looked::Idle,
        Step::Restart { .. } => Looked::Deleted,
        _ => Looked::Moved,
    };
    act(ctx, rot, &req, decision, skipped_now).await?;
    Ok(looked)
}

/// The target version's proof before batch `i` (a `valid` one younger than the setting is
/// reused), recorded as an event.
async fn target_proof(ctx: &Context, rot: &RotationRecord, i: usize) -> Result<ProofSeen, StoreError> {
    let v = recent_proof(ctx, &rot.credential, rot.to_version, ctx.settings.verify_max_age, &owner(rot))
        .await
        .map_err(service_store_error)?;
    ctx.store
        .add_rotation_event(&rot.id, "target_verified", Some(i as i64), &serde_json::to_value(&v).expect("serializes"))
        .await?;
    let detail = refusal(&rot.credential, rot.to_version, &v);
    Ok(ProofSeen { outcome: v.outcome, detail })
}

/// Whether the old version is revoked, or when it should be proven again.
async fn revocation_seen(ctx: &Context, rot: &RotationRecord) -> Result<RevocationSeen, StoreError> {
    let Some(old) = rot.from_version else { return Ok(RevocationSeen::Revoked) };
    let rec = ctx.store.credential_version(&rot.credential, old).await?;
    Ok(match (&rec.revoked, &rec.verification) {
        (Some(_), _) => RevocationSeen::Revoked,
        (None, Some(v)) if ctx.now() - v.at <= ctx.settings.verify_max_age => RevocationSeen::Live(format!(
            "version {old} is still {} at its registry as of {}",
            v.outcome.as_str(),
            v.at.to_rfc3339()
        )),
        _ => RevocationSeen::Stale,
    })
}

fn service_store_error(e: crate::service::ServiceError) -> StoreError {
    match e {
        crate::service::ServiceError::Store(s) => s,
        other => StoreError::Corrupt(other.to_string()),
    }
}

async fn act(
    ctx: &Arc<Context>,
    rot: &RotationRecord,
    req: &RotationRequest,
    decision: Step,
    skipped: Vec<SkippedWorkload>,
) -> Result<(), StoreError> {
    let store = &ctx.store;
    let timeout = Duration::seconds(req.health_timeout_secs() as i64);
    match decision {
        Step::Nothing | Step::Wait(_) => Ok(()),
        Step::Pause(why) => store
            .set_rotation_state(
                &rot.id,
                &[RotationState::Running],
                RotationState::Paused,
                Some(Some(&why)),
                &json!({"error": why}),
            )
            .await
            .map(|_| ()),
        Step::StartBatch { batch } => {
            let run_id = uuid::Uuid::now_v7().to_string();
            let start = BatchStart {
                mv: &req.batch_move(),
                idx: batch as i64,
                run_id: &run_id,
                actor: &owner(rot),
                deadline: ctx.now() + timeout,
                skipped: &skipped,
            };
            store.start_batch(rot, start).await
        }
        Step::CreateRun { batch, run_id } => {
            let names: Vec<String> = rot
                .runtimes
                .iter()
                .filter(|r| r.batch == batch as i64)
                .map(|r| format!("{}/{}", r.namespace, r.name))
                .collect();
            create_run(ctx, rot, names, &run_id).await
        }
        Step::RetryRun { batch } => {
            store.retry_batch(&rot.id, batch as i64, &uuid::Uuid::now_v7().to_string(), None).await
        }
        Step::BeginRestart { batch, deadline } => {
            let targets = batch_targets(ctx, rot, req, batch as i64).await?;
            store.begin_restart(&rot.id, batch as i64, &targets, deadline).await
        }
        Step::Restart { batch, deletions, waiting } => {
            store.check_fence().await?;
            delete_pods(ctx, &deletions).await;
            store.record_waiting(&rot.id, batch as i64, &waiting).await
        }
        Step::BatchHealthy { batch, then } => {
            batch_metric(rot, batch, "healthy", ctx.now());
            let next = match then {
                Then::Next | Then::Complete => NextState::Advance,
                Then::WaitApproval => NextState::WaitApproval,
            };
            store.end_batch(rot, batch as i64, true, None, next).await?;
            if then == Then::Complete {
                let rot = store.get_rotation(&rot.id).await?;
                if req.await_revocation && req.layer.is_none() {
                    shift_stages(ctx, &rot, req).await?;
                    let data = json!({"version": rot.from_version});
                    store.add_rotation_event(&rot.id, "awaiting_revocation", None, &data).await?;
                    // Last: releasing them ends the driver lease too (the next tick takes it
                    // again), and with it this step's fence.
                    store.release_locks(&owner(&rot)).await?;
                } else {
                    complete(ctx, &rot, req).await?;
                }
            }
            Ok(())
        }
        Step::FailBatch { batch, error, then } => {
            batch_metric(rot, batch, "failed", ctx.now());
            let next = match then {
                AfterFailure::Next => NextState::Advance,
                AfterFailure::Fail => NextState::Fail,
                AfterFailure::Pause => NextState::Pause,
                AfterFailure::Rollback => NextState::RollBack,
            };
            store.end_batch(rot, batch as i64, false, Some(&error), next).await
        }
        Step::Complete => complete(ctx, rot, req).await,
        Step::StartRollback => {
            let run = uuid::Uuid::now_v7().to_string();
            store.start_rollback(rot, &req.batch_move(), &run, &owner(rot), ctx.now() + timeout).await
        }
        Step::CreateRollbackRun { run_id } => {
            let names: Vec<String> = rot
                .runtimes
                .iter()
                .filter(|r| r.state != RotationRuntimeState::Pending)
                .map(|r| format!("{}/{}", r.namespace, r.name))
                .collect();
            create_run(ctx, rot, names, &run_id).await
        }
        Step::RetryRollbackRun => {
            let run = uuid::Uuid::now_v7().to_string();
            store.set_rollback_state(&rot.id, crate::domain::states::RollbackState::Applying, Some(&run), None).await
        }
        Step::BeginRollbackRestart { deadline } => {
            store
                .set_rollback_state(&rot.id, crate::domain::states::RollbackState::Restarting, None, Some(deadline))
                .await
        }
        Step::RollbackRestart { deletions, .. } => {
            store.check_fence().await?;
            delete_pods(ctx, &deletions).await;
            Ok(())
        }
        Step::FinishRollback { error } => store.finish_rollback(&rot.id, error.as_deref()).await,
        Step::ProveOld => {
            let Some(old) = rot.from_version else { return Ok(()) };
            let proven = verify_version(ctx, &rot.credential, old, &owner(rot)).await.map_err(service_store_error)?;
            let v = proven.version.verification.expect("just recorded");
            let data = json!({"version": old, "outcome": v.outcome, "revoked": proven.version.revoked.is_some()});
            store.add_rotation_event(&rot.id, "old_version_verified", None, &data).await
        }
        Step::AwaitRevocation(_) => Ok(()),
    }
}

/// Records a batch's duration, from its start to now, when it ends.
fn batch_metric(rot: &RotationRecord, batch: usize, outcome: &'static str, now: chrono::DateTime<chrono::Utc>) {
    if let Some(started) = rot.batches.iter().find(|b| b.idx == batch as i64).and_then(|b| b.started_at) {
        crate::metrics::batch_ended(outcome, (now - started).num_milliseconds() as f64 / 1000.0);
    }
}

/// The runtimes of batch `idx` the drift loop found drifted (its sync record as of now),
/// named with their first differing field, or None.
async fn drifted_in_batch(ctx: &Context, rot: &RotationRecord, idx: i64) -> Result<Option<String>, StoreError> {
    use crate::engine::drift::{SyncState, sync_state};
    let syncs: std::collections::HashMap<(String, String), crate::store::sync::SyncRecord> =
        ctx.store.list_sync(None).await?.into_iter().map(|s| ((s.namespace.clone(), s.name.clone()), s)).collect();
    let mut found = Vec::new();
    for r in rot.runtimes.iter().filter(|r| r.batch == idx) {
        let rt = match ctx.store.runtime_context(&r.namespace, &r.name).await {
            Ok(rt) => rt,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let fluid =
            ctx.store.get_cluster(&r.cluster).await?.effective_mode() == Some(crate::domain::fluid::Mode::Fluid);
        let renderer = if fluid { crate::domain::fluid::FLUID_RENDERER } else { crate::domain::render::RENDERER };
        let sync = syncs.get(&(r.namespace.clone(), r.name.clone()));
        if sync_state(&rt.record, renderer, sync) == SyncState::Drifted {
            let first = sync
                .and_then(|s| s.drift.first())
                .map(|d| {
                    let at = |k: &str| d[k].as_str().unwrap_or_default().to_string();
                    let path = at("path");
                    format!(
                        " ({} {} {})",
                        at("kind"),
                        at("name"),
                        if path.is_empty() { "missing".into() } else { path }
                    )
                })
                .unwrap_or_default();
            found.push(format!("{}/{}{first}", r.namespace, r.name));
        }
    }
    Ok((!found.is_empty()).then(|| {
        format!("pauseOnDrift: batch {idx} has drifted runtimes: {}; reconcile them, then resume", found.join("; "))
    }))
}

/// Creates the run `run_id` from a fresh refreshing plan of `runtimes`. A run that cannot
/// be created yet (a cluster unreachable, a lock held) is tried again next step; the
/// batch's deadline bounds how long.
async fn create_run(
    ctx: &Arc<Context>,
    rot: &RotationRecord,
    runtimes: Vec<String>,
    run_id: &str,
) -> Result<(), StoreError> {
    let who = owner(rot);
    let req = PlanRequest { runtimes: Some(runtimes), refresh: true, ..Default::default() };
    let made = async {
        let plan = create_plan(ctx, req, &who).await?;
        apply_plan_with(ctx, &plan.id, &who, Some(run_id.to_string()), Some(&who)).await
    };
    match made.await {
        Ok(_) => Ok(()),
        Err(PlanError::Store(e)) => Err(e),
        Err(e) => {
            tracing::info!(rotation = %rot.id, error = %e, "apply not possible yet; will retry");
            if rot.state == RotationState::Running {
                ctx.store.note_batch(&rot.id, rot.current_batch, &e.to_string()).await?;
            }
            ctx.store
                .add_rotation_event(&rot.id, "apply_waiting", Some(rot.current_batch), &json!({"error": e.to_string()}))
                .await
        }
    }
}

async fn delete_pods(ctx: &Context, pods: &[PodRef]) {
    let mut clients = std::collections::BTreeMap::new();
    for p in pods {
        if !clients.contains_key(&p.cluster)
            && let Ok(c) = ctx.cluster(&p.cluster).await
        {
            clients.insert(p.cluster.clone(), c);
        }
    }
    futures::stream::iter(pods)
        .for_each_concurrent(DELETES_IN_FLIGHT, |p| {
            let client = clients.get(&p.cluster).cloned();
            async move {
                let Some(c) = client else { return };
                match c.delete_pod(&p.namespace, &p.name, &p.uid).await {
                    Ok(()) => {
                        tracing::info!(pod = %format!("{}/{}", p.namespace, p.name), "deleted a pod on an old template")
                    }
                    Err(e) => tracing::warn!(pod = %p.name, error = %e, "could not delete a pod; will retry"),
                }
            }
        })
        .await;
}

/// Every batch healthy: the stage labels shift and the old version's Secrets are pruned
/// where nothing holds them, once (a second call finds the labels shifted and does nothing).
/// Returns what went wrong pruning, if anything.
async fn shift_stages(
    ctx: &Arc<Context>,
    rot: &RotationRecord,
    req: &RotationRequest,
) -> Result<Option<String>, StoreError> {
    let store = &ctx.store;
    if req.layer.is_some() {
        return Ok(None);
    }
    let current = store.get_credential(&rot.credential).await?.version_with(Stage::Current).map(|v| v.version);
    if current == Some(rot.to_version) && rot.from_version != Some(rot.to_version) {
        return Ok(None);
    }
    store.promote_version(&rot.credential, rot.to_version).await?;
    store
        .add_rotation_event(
            &rot.id,
            "stages_shifted",
            None,
            &json!({"current": rot.to_version, "previous": rot.from_version}),
        )
        .await?;
    Ok(prune(ctx, rot).await.err().map(|e| e.to_string()))
}

/// Every batch healthy (and, when awaited, the old version revoked): shift stage labels,
/// prune what nothing holds any more, succeed.
async fn complete(ctx: &Arc<Context>, rot: &RotationRecord, req: &RotationRequest) -> Result<(), StoreError> {
    let store = &ctx.store;
    let prune = shift_stages(ctx, rot, req).await?;
    store
        .set_rotation_state(
            &rot.id,
            &[RotationState::Running],
            RotationState::Succeeded,
            Some(None),
            &json!({"prune": prune}),
        )
        .await
        .map(|_| ())
}

/// A refreshing plan over the rotated runtimes prunes the old version's Secrets from
/// every namespace where no runtime, live template or running pod still uses them.
async fn prune(ctx: &Arc<Context>, rot: &RotationRecord) -> Result<(), PlanError> {
    let names: Vec<String> = rot.runtimes.iter().map(|r| format!("{}/{}", r.namespace, r.name)).collect();
    let req = PlanRequest { runtimes: Some(names), refresh: true, ..Default::default() };
    let who = owner(rot);
    let plan = create_plan(ctx, req, &who).await?;
    if plan.summary.changes() == 0 {
        return Ok(());
    }
    let run = apply_plan_with(ctx, &plan.id, &who, None, Some(&who)).await?;
    for _ in 0..600 {
        if ctx.store.get_run(&run.id).await?.status.is_finished() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    Ok(())
}

/// The state a paused rotation was in when it was paused: the state event before its last
/// `paused` one (every state change writes an event named after the new state).
async fn paused_from(ctx: &Context, id: &str) -> Result<Option<RotationState>, StoreError> {
    let events = ctx.store.rotation_events(id, 0).await?;
    let mut states = events.iter().rev().filter_map(|e| RotationState::parse(&e.kind));
    Ok(match states.next() {
        Some(RotationState::Paused) => states.next(),
        _ => None,
    })
}

/// A command on a rotation. Commands already in effect change nothing (pause on a paused
/// rotation, …), except `approve`, which only a rotation waiting for approval takes.
pub async fn rotation_command(
    ctx: &Arc<Context>,
    id: &str,
    command: &str,
    actor: &str,
) -> Result<RotationRecord, RotationError> {
    use RotationState as S;
    let store = &ctx.store;
    let rot = store.get_rotation(id).await?;
    let data = json!({"actor": actor});
    let refuse = || RotationError::State { state: rot.state.as_str().into(), action: command.into() };
    match command {
        "approve" => {
            if rot.state != S::WaitingApproval {
                return Err(RotationError::NotWaitingApproval { state: rot.state.as_str().into() });
            }
            store.set_rotation_state(id, &[S::WaitingApproval], S::Running, None, &data).await?;
        }
        "pause" => {
            if rot.state != S::Paused && !matches!(rot.state, S::Running | S::WaitingApproval) {
                return Err(refuse());
            }
            store.set_rotation_state(id, &[S::Running, S::WaitingApproval], S::Paused, None, &data).await?;
        }
        "resume" => {
            if rot.state == S::Running {
                return Ok(rot);
            }
            if rot.state != S::Paused {
                return Err(refuse());
            }
            if paused_from(ctx, id).await? == Some(S::WaitingApproval) {
                // Paused at the gate: resuming returns it there. Going on to `running`
                // would start the next batch that nobody approved.
                store.set_rotation_state(id, &[S::Paused], S::WaitingApproval, None, &data).await?;
                return Ok(store.get_rotation(id).await?);
            }
            let req = request(&rot)?;
            let deadline = ctx.now() + Duration::seconds(req.health_timeout_secs() as i64);
            store.resume_rotation(&rot, &uuid::Uuid::now_v7().to_string(), deadline, actor).await?;
        }
        "abort" => {
            if rot.state != S::Aborted
                && !matches!(rot.state, S::Running | S::WaitingApproval | S::Paused | S::RollingBack)
            {
                return Err(refuse());
            }
            store
                .set_rotation_state(
                    id,
                    &[S::Running, S::WaitingApproval, S::Paused, S::RollingBack],
                    S::Aborted,
                    None,
                    &data,
                )
                .await?;
        }
        "rollback" => {
            if rot.state != S::RollingBack
                && !matches!(rot.state, S::Running | S::WaitingApproval | S::Paused | S::Failed)
            {
                return Err(refuse());
            }
            store
                .set_rotation_state(
                    id,
                    &[S::Running, S::WaitingApproval, S::Paused, S::Failed],
                    S::RollingBack,
                    None,
                    &data,
                )
                .await?;
        }
        _ => return Err(refuse()),
    }
    Ok(store.get_rotation(id).await?)
}
