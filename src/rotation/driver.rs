//! The rotation driver: a persisted state machine advanced one step at a time.
//!
//! Each step reads the rotation from the database, does one thing, and writes what it did
//! before the next step acts on it; a restarted daemon picks up at the recorded step. A
//! batch goes `pending` → `applying` (bindings moved and the run id recorded in one
//! transaction; the run is created with that id, so it is never created twice) →
//! `restarting` (old pods of `OnDelete` workloads deleted a bounded number at a time,
//! replacements awaited) → `healthy` or `failed`. Only one daemon drives a rotation: it
//! holds the lease `rotation-driver:<id>` (10 s, renewed every step), so a restarted daemon
//! takes over within seconds. The health timeout is wall-clock time since the batch began
//! restarting pods, daemon downtime included.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::health::{is_ready, outdated_pods, workload_health};
use super::{RotationRequest, workload_of};
use crate::domain::layers::Component;
use crate::plan::apply::Engine;
use crate::plan::{PlanError, PlanRequest, create_plan};
use crate::service::clusters::connect;
use crate::store::StoreError;
use crate::store::rotations::{RotationRecord, RotationRuntime, is_terminal};
use crate::sync::client::ClusterClient;

/// How long a rotation's runtime locks live without renewal.
pub const ROTATION_LEASE: Duration = Duration::seconds(120);
/// How long a daemon's claim to drive a rotation lives without renewal (renewed every
/// tick): after a crash another daemon, or the restarted one, takes over within this.
const DRIVER_LEASE: Duration = Duration::seconds(10);
const TICK: StdDuration = StdDuration::from_millis(500);
const INTERRUPTED: &str = "interrupted by a daemon restart";

enum Progress {
    Waiting(String),
    Done,
}

fn request(rot: &RotationRecord) -> Result<RotationRequest, StoreError> {
    serde_json::from_value(rot.request.clone()).map_err(|e| StoreError::Corrupt(format!("rotation request: {e}")))
}

fn owner(rot: &RotationRecord) -> String {
    format!("rotation:{}", rot.id)
}

impl Engine {
    /// Drives every active rotation this daemon holds the lease of, forever.
    pub fn spawn_rotation_driver(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        self.runtime.spawn(async move {
            loop {
                if let Err(e) = engine.drive_once().await {
                    tracing::warn!(error = %e, "rotation driver step failed");
                }
                tokio::time::sleep(TICK).await;
            }
        })
    }

    /// One step of every active rotation.
    pub async fn drive_once(&self) -> Result<(), StoreError> {
        for id in self.store.active_rotations().await? {
            if !self.store.try_lease(&format!("rotation-driver:{id}"), &self.holder, DRIVER_LEASE).await? {
                continue;
            }
            let rot = self.store.get_rotation(&id).await?;
            let locks: Vec<String> =
                rot.runtimes.iter().map(|r| crate::plan::apply::lock_id(&r.namespace, &r.name)).collect();
            self.store.take_locks(&owner(&rot), &self.holder, &locks, ROTATION_LEASE).await?;
            let started = std::time::Instant::now();
            let stepped = self.step(&rot).await;
            if let Ok(mut t) = self.step_time.lock() {
                *t.entry((rot.id.clone(), rot.current_batch)).or_default() += started.elapsed();
            }
            if let Err(e) = stepped {
                tracing::warn!(rotation = %id, error = %e, "rotation step failed; will retry");
                self.store
                    .add_rotation_event(&id, "step_error", Some(rot.current_batch), &json!({"error": e.to_string()}))
                    .await?;
            }
        }
        Ok(())
    }

    async fn step(&self, rot: &RotationRecord) -> Result<(), StoreError> {
        match rot.state.as_str() {
            "running" => self.step_running(rot).await,
            "rolling_back" => self.step_rollback(rot).await,
            _ => Ok(()),
        }
    }

    async fn step_running(&self, rot: &RotationRecord) -> Result<(), StoreError> {
        let req = request(rot)?;
        let idx = rot.current_batch;
        let Some(batch) = rot.batches.iter().find(|b| b.idx == idx) else {
            return self.complete(rot).await;
        };
        let runtimes: Vec<&RotationRuntime> = rot.runtimes.iter().filter(|r| r.batch == idx).collect();
        match batch.state.as_str() {
            "pending" => {
                self.store
                    .start_batch(rot, &req.batch_move(), idx, &uuid::Uuid::now_v7().to_string(), &owner(rot))
                    .await
            }
            "applying" => {
                let run_id = batch.run_id.clone().unwrap_or_default();
                match self.follow_run(rot, &run_id, &runtimes).await? {
                    RunOutcome::Pending => Ok(()),
                    RunOutcome::Retry => {
                        self.store
                            .set_batch(&rot.id, idx, "applying", Some(&uuid::Uuid::now_v7().to_string()), None)
                            .await
                    }
                    RunOutcome::Succeeded => self.store.set_batch(&rot.id, idx, "restarting", None, None).await,
                    RunOutcome::Failed(e) => self.fail_batch(rot, &req, idx, &e).await,
                }
            }
            "restarting" => {
                let started = batch.restart_started_at.unwrap_or_else(Utc::now);
                let deadline = started + Duration::seconds(req.health_timeout_secs() as i64);
                match self.restart_pods(&runtimes, &req.components(), req.max_unavailable()).await {
                    Ok(Progress::Done) => self.batch_healthy(rot, &req, idx).await,
                    Ok(Progress::Waiting(why)) if Utc::now() > deadline => {
                        let msg = format!("not healthy within {}s: {why}", req.health_timeout_secs());
                        self.fail_batch(rot, &req, idx, &msg).await
                    }
                    Ok(Progress::Waiting(_)) => Ok(()),
                    Err(e) if Utc::now() > deadline => self.fail_batch(rot, &req, idx, &e).await,
                    Err(e) => {
                        tracing::debug!(rotation = %rot.id, error = %e, "restart step will retry");
                        Ok(())
                    }
                }
            }
            "healthy" => self.after_healthy(rot, &req, idx).await,
            "failed" => self.after_failure(rot, &req, idx).await,
            _ => Ok(()),
        }
    }

    /// Milliseconds this process spent stepping a batch (excluding the waits between steps).
    fn batch_step_ms(&self, rot: &RotationRecord, idx: i64) -> u128 {
        self.step_time.lock().ok().and_then(|mut t| t.remove(&(rot.id.clone(), idx))).map_or(0, |d| d.as_millis())
    }

    async fn batch_healthy(&self, rot: &RotationRecord, req: &RotationRequest, idx: i64) -> Result<(), StoreError> {
        self.store.set_batch(&rot.id, idx, "healthy", None, None).await?;
        let ms = self.batch_step_ms(rot, idx);
        self.store.add_rotation_event(&rot.id, "batch_cost", Some(idx), &json!({"driverStepMs": ms})).await?;
        self.after_healthy(rot, req, idx).await
    }

    async fn after_healthy(&self, rot: &RotationRecord, req: &RotationRequest, idx: i64) -> Result<(), StoreError> {
        let last = idx + 1 >= rot.batches.len() as i64;
        if last {
            self.store.advance_batch(&rot.id, idx + 1).await?;
            let rot = self.store.get_rotation(&rot.id).await?;
            return self.complete(&rot).await;
        }
        self.store.advance_batch(&rot.id, idx + 1).await?;
        if req.gate == super::Gate::Manual {
            self.store
                .set_rotation_state(
                    &rot.id,
                    &["running"],
                    "waiting_approval",
                    None,
                    &json!({"after": idx, "next": idx + 1}),
                )
                .await?;
        }
        Ok(())
    }

    async fn fail_batch(
        &self,
        rot: &RotationRecord,
        req: &RotationRequest,
        idx: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        self.store.set_batch(&rot.id, idx, "failed", None, Some(error)).await?;
        self.after_failure(rot, req, idx).await
    }

    /// Decides what a failed batch means: tolerated (next batch), or `onFailure`.
    async fn after_failure(&self, rot: &RotationRecord, req: &RotationRequest, idx: i64) -> Result<(), StoreError> {
        let rot = self.store.get_rotation(&rot.id).await?;
        let failed = rot.batches.iter().filter(|b| b.state == "failed").count() as u32;
        let error = rot.batches.iter().find(|b| b.idx == idx).and_then(|b| b.error.clone()).unwrap_or_default();
        if failed <= req.max_failed_batches {
            if idx + 1 >= rot.batches.len() as i64 {
                let msg = format!("{failed} batch(es) failed");
                self.store
                    .set_rotation_state(&rot.id, &["running"], "failed", Some(&msg), &json!({"error": msg}))
                    .await?;
                return self.store.release_locks(&owner(&rot)).await;
            }
            return self.store.advance_batch(&rot.id, idx + 1).await;
        }
        let data = json!({"batch": idx, "error": error});
        match req.on_failure {
            super::OnFailure::Rollback => {
                self.store.set_rotation_state(&rot.id, &["running"], "rolling_back", Some(&error), &data).await?;
            }
            super::OnFailure::Pause => {
                self.store.set_rotation_state(&rot.id, &["running"], "paused", Some(&error), &data).await?;
            }
        }
        Ok(())
    }

    /// Every batch healthy: shift stage labels, prune what nothing holds any more.
    async fn complete(&self, rot: &RotationRecord) -> Result<(), StoreError> {
        if request(rot)?.layer.is_some() {
            self.store.set_rotation_state(&rot.id, &["running"], "succeeded", None, &json!({})).await?;
            return self.store.release_locks(&owner(rot)).await;
        }
        self.store.promote_version(&rot.credential, rot.to_version).await?;
        self.store
            .add_rotation_event(
                &rot.id,
                "stages_shifted",
                None,
                &json!({"current": rot.to_version, "previous": rot.from_version}),
            )
            .await?;
        let prune = self.prune(rot).await;
        let data = json!({"prune": prune.as_ref().err().map(ToString::to_string)});
        self.store.set_rotation_state(&rot.id, &["running"], "succeeded", None, &data).await?;
        self.store.release_locks(&owner(rot)).await
    }

    /// A refreshing plan over the rotated runtimes prunes the old version's Secrets from
    /// every namespace where no runtime, live template or running pod still uses them.
    async fn prune(&self, rot: &RotationRecord) -> Result<(), PlanError> {
        let names: Vec<String> = rot.runtimes.iter().map(|r| format!("{}/{}", r.namespace, r.name)).collect();
        let req = PlanRequest { runtimes: Some(names), refresh: true, ..Default::default() };
        let plan = create_plan(&self.store, &self.key, req, &owner(rot), self.plan_ttl).await?;
        if plan.summary.create + plan.summary.update + plan.summary.delete == 0 {
            return Ok(());
        }
        let run = self.apply_plan_with(&plan.id, &owner(rot), None, Some(&owner(rot))).await?;
        for _ in 0..600 {
            let r = self.store.get_run(&run.id).await?;
            if r.status == "succeeded" || r.status == "failed" {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        Ok(())
    }

    async fn step_rollback(&self, rot: &RotationRecord) -> Result<(), StoreError> {
        let req = request(rot)?;
        let moved: Vec<&RotationRuntime> = rot.runtimes.iter().filter(|r| r.state != "pending").collect();
        match rot.rollback_state.as_deref() {
            None => {
                self.store.start_rollback(rot, &req.batch_move(), &uuid::Uuid::now_v7().to_string(), &owner(rot)).await
            }
            Some("applying") => {
                let run_id = rot.rollback_run_id.clone().unwrap_or_default();
                match self.follow_run(rot, &run_id, &moved).await? {
                    RunOutcome::Pending => Ok(()),
                    RunOutcome::Retry => {
                        self.store
                            .set_rollback_state(&rot.id, "applying", Some(&uuid::Uuid::now_v7().to_string()))
                            .await
                    }
                    RunOutcome::Succeeded => self.store.set_rollback_state(&rot.id, "restarting", None).await,
                    RunOutcome::Failed(e) => self.finish_rollback(rot, Some(&e)).await,
                }
            }
            Some("restarting") => match self.restart_pods(&moved, &req.components(), req.max_unavailable()).await {
                Ok(Progress::Done) => self.finish_rollback(rot, None).await,
                Ok(Progress::Waiting(why))
                    if Utc::now() > rot.updated_at + Duration::seconds(req.health_timeout_secs() as i64) =>
                {
                    self.finish_rollback(rot, Some(&format!("rollback not healthy within the health timeout: {why}")))
                        .await
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    async fn finish_rollback(&self, rot: &RotationRecord, error: Option<&str>) -> Result<(), StoreError> {
        self.store.set_rollback_state(&rot.id, "done", None).await?;
        let data = json!({"error": error});
        self.store.set_rotation_state(&rot.id, &["rolling_back"], "rolled_back", error, &data).await?;
        self.store.release_locks(&owner(rot)).await
    }

    /// Makes sure the run `run_id` exists (creating it from a fresh plan when it does not)
    /// and reports how it went.
    async fn follow_run(
        &self,
        rot: &RotationRecord,
        run_id: &str,
        runtimes: &[&RotationRuntime],
    ) -> Result<RunOutcome, StoreError> {
        match self.store.get_run(run_id).await {
            Ok(run) => Ok(match run.status.as_str() {
                "succeeded" => RunOutcome::Succeeded,
                "failed" if run.error.as_deref() == Some(INTERRUPTED) => RunOutcome::Retry,
                "failed" => RunOutcome::Failed(run.error.unwrap_or_else(|| "the run failed".into())),
                _ => RunOutcome::Pending,
            }),
            Err(StoreError::NotFound { .. }) => {
                let names = runtimes.iter().map(|r| format!("{}/{}", r.namespace, r.name)).collect();
                let req = PlanRequest { runtimes: Some(names), refresh: true, ..Default::default() };
                let who = owner(rot);
                let made = async {
                    let plan = create_plan(&self.store, &self.key, req, &who, self.plan_ttl).await?;
                    self.apply_plan_with(&plan.id, &who, Some(run_id.to_string()), Some(&who)).await
                };
                match made.await {
                    Ok(_) => Ok(RunOutcome::Pending),
                    Err(PlanError::Store(e)) => Err(e),
                    Err(e @ (PlanError::Cluster { .. } | PlanError::Locked { .. })) => {
                        tracing::info!(rotation = %rot.id, error = %e, "apply not possible yet; will retry");
                        Ok(RunOutcome::Pending)
                    }
                    Err(e) => Ok(RunOutcome::Failed(e.to_string())),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// One pass of the `OnDelete` rollout for these runtimes: per workload (components in
    /// order), wait while replacements are not ready, else delete up to `max_unavailable`
    /// pods still on an old template. Done when every selected workload is healthy.
    async fn restart_pods(
        &self,
        runtimes: &[&RotationRuntime],
        components: &[Component],
        max_unavailable: usize,
    ) -> Result<Progress, String> {
        let mut clients: BTreeMap<String, ClusterClient> = BTreeMap::new();
        let mut waiting = Vec::new();
        for rt in runtimes {
            if !clients.contains_key(&rt.cluster) {
                let c = connect(&self.store, &self.key, &rt.cluster).await.map_err(|e| e.to_string())?;
                clients.insert(rt.cluster.clone(), c);
            }
            let client = &clients[&rt.cluster];
            for comp in components {
                let (kind, name, role) = workload_of(&rt.name, *comp);
                let api_version = "apps/v1";
                let Some(workload) =
                    client.get(api_version, kind, &rt.namespace, &name).await.map_err(|e| e.to_string())?
                else {
                    continue;
                };
                let selector = format!("app=alluxio,release={},role={role}", rt.name);
                let pods = client.list("v1", "Pod", &rt.namespace, &selector).await.map_err(|e| e.to_string())?;
                let outdated = outdated_pods(&workload, &pods);
                let unready = pods.iter().filter(|p| !is_ready(p)).count();
                if outdated.is_empty() {
                    match workload_health(&workload) {
                        Ok(()) => continue,
                        Err(why) => {
                            waiting.push(format!("{kind} {}/{name}: {why}", rt.namespace));
                            break;
                        }
                    }
                }
                if unready < max_unavailable {
                    let mut victims: Vec<&Value> = outdated.clone();
                    victims.sort_by_key(|p| is_ready(p));
                    for pod in victims.into_iter().take(max_unavailable - unready) {
                        let pod_name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                        client.delete_pod(&rt.namespace, pod_name).await.map_err(|e| e.to_string())?;
                        tracing::info!(pod = %format!("{}/{pod_name}", rt.namespace), "deleted a pod on an old template");
                    }
                }
                waiting.push(format!("{kind} {}/{name}: {} pod(s) on an old template", rt.namespace, outdated.len()));
                break; // components go in order: the next waits for this one
            }
        }
        Ok(if waiting.is_empty() { Progress::Done } else { Progress::Waiting(waiting.join("; ")) })
    }

    /// Acts on a command; idempotent (a command already in effect changes nothing).
    pub async fn rotation_command(
        &self,
        id: &str,
        command: &str,
        actor: &str,
    ) -> Result<RotationRecord, super::RotationError> {
        let rot = self.store.get_rotation(id).await?;
        let data = json!({"actor": actor});
        let (from, to): (&[&str], &str) = match command {
            "approve" => (&["waiting_approval"], "running"),
            "pause" => (&["running", "waiting_approval"], "paused"),
            "resume" => (&["paused"], "running"),
            "abort" => (&["running", "waiting_approval", "paused", "rolling_back"], "aborted"),
            "rollback" => (&["running", "waiting_approval", "paused", "failed"], "rolling_back"),
            other => return Err(super::RotationError::State { state: rot.state, action: other.into() }),
        };
        let already = rot.state == to || (command == "approve" && rot.state == "running");
        if !already && !from.contains(&rot.state.as_str()) {
            return Err(super::RotationError::State { state: rot.state, action: command.into() });
        }
        // Resume retries a failed batch from its apply, under a new run.
        if command == "resume"
            && rot.state == "paused"
            && let Some(b) = rot.batches.iter().find(|b| b.idx == rot.current_batch && b.state == "failed")
        {
            self.store.set_batch(&rot.id, b.idx, "applying", Some(&uuid::Uuid::now_v7().to_string()), None).await?;
        }
        self.store.set_rotation_state(id, from, to, None, &data).await?;
        if is_terminal(to) {
            self.store.release_locks(&owner(&rot)).await?;
        }
        Ok(self.store.get_rotation(id).await?)
    }
}

enum RunOutcome {
    Pending,
    Retry,
    Succeeded,
    Failed(String),
}
