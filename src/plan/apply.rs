//! Applying a saved plan: one run, written before it acts (see `store::plans`).
//!
//! A run takes a leased lock per runtime (`runtime:<namespace>:<name>`), renewed while it
//! works, so two runs never touch one runtime at once. Objects go cluster by cluster:
//! namespaces first when the plan asked to create them, then creates and updates in kind
//! order (credential Secrets before the workloads that pull with them), then deletions in
//! reverse order (workloads before the Secrets they used). Every apply is server-side with
//! field manager `fluidform` and `force`: fluidform owns the fields it renders and takes them
//! back from any other manager; fields it does not render stay with whoever set them. The
//! first failure stops the run; what was applied before it stays recorded, the rest is
//! `skipped`, and the next plan picks up from the recorded state.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::Value;

use super::diff::normalize;
use super::{Action, Plan, PlanError, PlanObject, kind_rank, runtime_input, staleness};
use crate::domain::render::RenderedObject;
use crate::secrets::MasterKey;
use crate::service::clusters::{ConnectError, connect};
use crate::service::runtimes::{SecretData, render_runtime};
use crate::store::plans::{AppliedObject, NewRun, ObjectKey, RunObject, RunRecord, RunRefusal, SyncRecord};
use crate::store::{Store, StoreError};
use crate::sync::client::RequestCounts;

/// Called after each object of a run with its position (fault injection for tests).
pub type AfterObject = Arc<dyn Fn(usize) + Send + Sync>;

/// What runs plans, shared by the API and the background loops.
#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub key: MasterKey,
    /// Identity of this daemon process in lock records.
    pub holder: String,
    pub runtime: tokio::runtime::Handle,
    pub lease: Duration,
    pub plan_ttl: Duration,
    pub after_object: Option<AfterObject>,
    /// Time this process spent stepping each (rotation, batch), for the batch's events.
    pub step_time: Arc<std::sync::Mutex<BTreeMap<(String, i64), std::time::Duration>>>,
}

pub fn lock_id(namespace: &str, name: &str) -> String {
    format!("runtime:{namespace}:{name}")
}

/// The order objects are acted on within a run.
fn run_order(objects: &[PlanObject]) -> Vec<&PlanObject> {
    let mut act: Vec<&PlanObject> = objects.iter().filter(|o| o.action != Action::NoOp).collect();
    act.sort_by_key(|o| {
        let deleting = o.action == Action::Delete;
        let rank = if deleting { usize::MAX - kind_rank(&o.kind) } else { kind_rank(&o.kind) };
        (o.cluster.clone(), deleting, rank, o.namespace.clone(), o.name.clone())
    });
    act
}

impl Engine {
    /// Validates and starts applying a plan; returns the queued run.
    pub async fn apply_plan(&self, plan_id: &str, actor: &str) -> Result<RunRecord, PlanError> {
        self.apply_plan_with(plan_id, actor, None, None).await
    }

    /// `apply_plan` with a chosen run id (written down by the caller before it acts) and a
    /// lock owner whose locks count as the caller's own.
    pub async fn apply_plan_with(
        &self,
        plan_id: &str,
        actor: &str,
        run_id: Option<String>,
        owner: Option<&str>,
    ) -> Result<RunRecord, PlanError> {
        let plan = Plan::from_record(self.store.get_plan(plan_id).await?)?;
        if let Some(run) = &plan.run_id {
            return Err(PlanError::AlreadyApplied(run.clone()));
        }
        if plan.expires_at < Utc::now() {
            return Err(PlanError::Expired(plan.expires_at));
        }
        if let Some(why) = staleness(&self.store, &plan.inputs).await? {
            return Err(PlanError::Stale(why));
        }
        let locks: Vec<String> = plan
            .inputs
            .runtimes
            .iter()
            .map(|r| lock_id(&r.namespace, &r.name))
            .chain(plan.inputs.removed.iter().map(|r| lock_id(&r.namespace, &r.name)))
            .collect();
        let objects: Vec<RunObject> = run_order(&plan.objects)
            .into_iter()
            .enumerate()
            .map(|(i, o)| RunObject {
                seq: i as i64,
                cluster: o.cluster.clone(),
                namespace: o.namespace.clone(),
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                name: o.name.clone(),
                action: serde_json::to_value(o.action)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                status: "pending".into(),
                error: None,
                started_at: None,
                finished_at: None,
            })
            .collect();
        let run_id = run_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let refused = self
            .store
            .create_run(NewRun {
                run_id: &run_id,
                plan_id,
                actor,
                holder: &self.holder,
                locks: &locks,
                lease: self.lease,
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
        let engine = self.clone();
        let id = run_id.clone();
        self.runtime.spawn(async move { engine.execute(&id, plan).await });
        Ok(self.store.get_run(&run_id).await?)
    }

    async fn execute(&self, run_id: &str, plan: Plan) {
        let renew = {
            let store = self.store.clone();
            let id = run_id.to_string();
            let lease = self.lease;
            self.runtime.spawn(async move {
                let every = (lease / 3).to_std().unwrap_or(std::time::Duration::from_secs(10));
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = store.renew_locks(&id, lease).await {
                        tracing::warn!(run = %id, error = %e, "could not renew run locks");
                    }
                }
            })
        };
        let mut counts: BTreeMap<String, RequestCounts> = BTreeMap::new();
        let result = self.execute_objects(run_id, &plan, &mut counts).await;
        renew.abort();
        let requests = serde_json::to_value(&counts).unwrap_or(Value::Null);
        let outcome = match &result {
            Ok(()) => self.record_success(run_id, &plan).await.map(|_| ("succeeded", None)),
            Err(msg) => Ok(("failed", Some(msg.clone()))),
        };
        let (status, error) = match outcome {
            Ok(v) => v,
            Err(e) => ("failed", Some(format!("recording the result failed: {e}"))),
        };
        if status == "failed" {
            for r in &plan.inputs.runtimes {
                let _ = self.store.record_runtime_run(&r.namespace, &r.name, &r.cluster, run_id, "failed").await;
            }
        }
        if let Err(e) = self.store.finish_run(run_id, status, error.as_deref(), &requests).await {
            tracing::error!(run = %run_id, error = %e, "could not record the end of a run");
        }
        tracing::info!(run = %run_id, status, "run finished");
    }

    /// Renders every runtime of the plan with real Secret data, checking each still has
    /// the inputs the plan was made from.
    async fn desired_objects(&self, plan: &Plan) -> Result<BTreeMap<ObjectKey, Value>, String> {
        let mut out = BTreeMap::new();
        for input in &plan.inputs.runtimes {
            let ctx = self.store.runtime_context(&input.namespace, &input.name).await.map_err(|e| e.to_string())?;
            if runtime_input(&ctx) != *input {
                return Err(format!(
                    "runtime {}/{} changed after the plan was checked; make a new plan",
                    input.namespace, input.name
                ));
            }
            let objects =
                render_runtime(&self.store, &self.key, &ctx, SecretData::Real).await.map_err(|e| e.to_string())?;
            for RenderedObject { kind, namespace, name, object, .. } in objects {
                out.insert(ObjectKey { cluster: input.cluster.clone(), namespace, kind, name }, object);
            }
        }
        Ok(out)
    }

    async fn execute_objects(
        &self,
        run_id: &str,
        plan: &Plan,
        counts: &mut BTreeMap<String, RequestCounts>,
    ) -> Result<(), String> {
        self.store.mark_run_running(run_id).await.map_err(|e| e.to_string())?;
        let desired = self.desired_objects(plan).await?;
        let order = run_order(&plan.objects);
        let mut client = None;
        for (seq, obj) in order.iter().enumerate() {
            let seq_i = seq as i64;
            if client.as_ref().is_none_or(|(c, _): &(String, _)| *c != obj.cluster) {
                if let Some((c, cl)) = client.take() {
                    counts.insert(c, crate::sync::client::ClusterClient::requests(&cl));
                }
                let cl = connect(&self.store, &self.key, &obj.cluster).await.map_err(|e| match e {
                    ConnectError::Sync(s) => format!("cluster {:?}: {s}", obj.cluster),
                    ConnectError::Service(s) => format!("cluster {:?}: {s}", obj.cluster),
                })?;
                if plan.request.create_namespaces {
                    let namespaces: std::collections::BTreeSet<&str> = order
                        .iter()
                        .filter(|o| o.cluster == obj.cluster && o.action != Action::Delete)
                        .map(|o| o.namespace.as_str())
                        .collect();
                    for ns in namespaces {
                        cl.ensure_namespace(ns)
                            .await
                            .map_err(|e| format!("cluster {:?}: namespace {ns}: {e}", obj.cluster))?;
                    }
                }
                client = Some((obj.cluster.clone(), cl));
            }
            let (_, cl) = client.as_ref().expect("connected above");
            let key = obj.key();
            self.store.mark_object(run_id, seq_i, "applying", None).await.map_err(|e| e.to_string())?;
            let result = match obj.action {
                Action::Create | Action::Update => {
                    let Some(object) = desired.get(&key) else {
                        return Err(format!("{} {}/{} is no longer rendered", key.kind, key.namespace, key.name));
                    };
                    match cl.apply(object).await {
                        Ok(_) => {
                            let applied = AppliedObject {
                                key: key.clone(),
                                api_version: obj.api_version.clone(),
                                runtime: obj
                                    .runtime
                                    .as_ref()
                                    .and_then(|r| r.split_once('/'))
                                    .map(|(a, b)| (a.to_string(), b.to_string())),
                                fields: normalize(object),
                                applied_at: Utc::now(),
                                run_id: run_id.to_string(),
                            };
                            self.store.record_applied(run_id, seq_i, &applied).await.map_err(|e| e.to_string())?;
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
                Action::Delete => match cl.delete(&obj.api_version, &obj.kind, &obj.namespace, &obj.name).await {
                    Ok(()) => {
                        self.store.record_deleted(run_id, seq_i, &key).await.map_err(|e| e.to_string())?;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Action::NoOp => Ok(()),
            };
            if let Err(e) = result {
                let msg = format!("{} {}/{} on cluster {:?}: {e}", obj.kind, obj.namespace, obj.name, obj.cluster);
                let _ = self.store.mark_object(run_id, seq_i, "failed", Some(&e.to_string())).await;
                counts.insert(obj.cluster.clone(), cl.requests());
                return Err(msg);
            }
            if let Some(hook) = &self.after_object {
                hook(seq);
            }
        }
        if let Some((c, cl)) = client {
            counts.insert(c, cl.requests());
        }
        Ok(())
    }

    async fn record_success(&self, run_id: &str, plan: &Plan) -> Result<(), StoreError> {
        for input in &plan.inputs.runtimes {
            let labels =
                self.store.get_runtime(&input.namespace, &input.name).await.map(|r| r.labels()).unwrap_or_default();
            let s = SyncRecord {
                namespace: input.namespace.clone(),
                name: input.name.clone(),
                cluster: input.cluster.clone(),
                labels,
                applied_generation: Some(input.generation),
                applied_spec_hash: Some(input.spec_hash.clone()),
                applied_layer_revision: Some(input.layer_revision),
                applied_bindings: Some(input.bindings.clone()),
                last_run_id: Some(run_id.to_string()),
                last_run_status: Some("succeeded".into()),
                drift: Vec::new(),
                checked_at: Some(Utc::now()),
            };
            self.store.record_runtime_applied(&s, false).await?;
        }
        for r in &plan.inputs.removed {
            let s = SyncRecord {
                namespace: r.namespace.clone(),
                name: r.name.clone(),
                cluster: r.cluster.clone(),
                ..Default::default()
            };
            self.store.record_runtime_applied(&s, true).await?;
        }
        Ok(())
    }
}
