//! Which runtimes a rotation moves, in which batches; its preview (the blast radius down to
//! live pods); and its start.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::observe::{Read, read_rollouts, unhealthy};
use super::schedule::{APPLY_SECONDS, BatchLoad, EstimateBasis, POD_RESTART_SECONDS, Pacing, schedule};
use super::{
    BatchSize, MAX_BATCH_INTERVAL_SECS, MAX_HEALTH_TIMEOUT_SECS, Preview, PreviewCluster, PreviewRuntime,
    PreviewWorkload, RotationError, RotationRequest, SkippedRuntime, Timeout, UnhealthyPolicy, VerifyMode, batch_sizes,
    parse_duration,
};
use crate::domain::FieldError;
use crate::domain::code::ErrorCode;
use crate::domain::fluid::FLUID_RENDERER;
use crate::domain::kinds::Kind;
use crate::domain::layers::managed_secret_name;
use crate::domain::render::RENDERER;
use crate::domain::rollout::Target;
use crate::domain::selector::parse_selector;
use crate::domain::states::{RotationRuntimeState, RotationState};
use crate::engine::drift::{SyncState, sync_state};
use crate::engine::verify::recent_proof;
use crate::engine::{Context, lock_id};
use crate::registry::Outcome;
use crate::registry::Verification;
use crate::service::runtimes::resolution;
use crate::store::StoreError;
use crate::store::credentials::Stage;
use crate::store::rotations::{NewRotation, RotationRuntime};
use crate::store::runtimes::{RuntimeContext, RuntimeFilter};

/// How long a rotation's runtime locks live without renewal (renewed every step).
pub const ROTATION_LEASE: chrono::Duration = chrono::Duration::seconds(120);

/// The eligible runtimes in order (with the version each is bound to), and the skipped ones.
pub(super) struct Selection {
    pub subject: String,
    pub to_version: u32,
    pub eligible: Vec<(RuntimeContext, u32)>,
    pub skipped: Vec<SkippedRuntime>,
    pub batch_sizes: Vec<usize>,
    /// Clusters whose workloads are Fluid's.
    pub fluid: std::collections::BTreeSet<String>,
}

fn check_request(req: &RotationRequest, errors: &mut Vec<FieldError>) {
    if let Some(c) = &req.components
        && c.is_empty()
    {
        errors.push(FieldError::new("components", "name at least one component"));
    }
    let targets = req.batches.clone().unwrap_or_else(|| vec![BatchSize::Percent("100%".into())]);
    if targets.is_empty() {
        errors.push(FieldError::new("batches", "give at least one batch"));
    }
    if let Err(e) = batch_sizes(1, &targets) {
        errors.push(FieldError::new("batches", e));
    }
    let secs = match &req.health_timeout {
        Some(Timeout::Text(t)) => match parse_duration(t) {
            Some(s) => Some(s),
            None => {
                errors.push(FieldError::new("healthTimeout", "seconds, or a duration like \"90s\" or \"5m\""));
                None
            }
        },
        Some(Timeout::Seconds(s)) => Some(*s),
        None => None,
    };
    if let Some(s) = secs
        && !(1..=MAX_HEALTH_TIMEOUT_SECS).contains(&s)
    {
        errors.push(FieldError::new(
            "healthTimeout",
            format!("must be between 1 second and {MAX_HEALTH_TIMEOUT_SECS} seconds (a day)"),
        ));
    }
    if let Some(m) = req.max_unavailable
        && !(1..=1000).contains(&m)
    {
        errors.push(FieldError::new("maxUnavailable", "must be between 1 and 1000"));
    }
    if req.max_failed_batches > 1000 {
        errors.push(FieldError::new("maxFailedBatches", "must be at most 1000"));
    }
    let interval = match &req.batch_interval {
        Some(Timeout::Text(t)) => match parse_duration(t) {
            Some(s) => Some(s),
            None => {
                errors.push(FieldError::new("batchInterval", "seconds, or a duration like \"90s\" or \"5m\""));
                None
            }
        },
        Some(Timeout::Seconds(s)) => Some(*s),
        None => None,
    };
    if let Some(s) = interval
        && s > MAX_BATCH_INTERVAL_SECS
    {
        errors.push(FieldError::new(
            "batchInterval",
            format!("must be at most {MAX_BATCH_INTERVAL_SECS} seconds (a day)"),
        ));
    }
    if let Some(m) = req.max_restarting_per_cluster
        && !(1..=10_000).contains(&m)
    {
        errors.push(FieldError::new("maxRestartingPerCluster", "must be between 1 and 10000"));
    }
    if req.await_revocation && req.layer.is_some() {
        errors.push(FieldError::new("awaitRevocation", "only for credential rotations"));
    }
}

/// Why a proof of `credential` version `version` stops a rotation, naming each registry
/// that did not take it.
pub(super) fn refusal(credential: &str, version: u32, v: &Verification) -> String {
    let bad: Vec<String> = v
        .registries
        .iter()
        .filter(|c| c.outcome != Outcome::Valid)
        .map(|c| {
            let status = c.status.map(|s| format!(" ({s})")).unwrap_or_default();
            format!("registry {:?}: {}{status}: {}", c.registry, c.outcome.as_str(), c.detail)
        })
        .collect();
    let mut msg = format!(
        "version {version} of credential {credential:?} did not prove valid at its registry: {}",
        if bad.is_empty() { "it names no registry".to_string() } else { bad.join("; ") }
    );
    if v.outcome == Outcome::Unreachable {
        msg.push_str("; if only the clusters can reach the registry, start with \"verify\": \"best-effort\"");
    }
    msg
}

/// The target version's proof for a credential rotation that verifies, and why it stops
/// the rotation if it does. A `valid` proof at most `max_age` old is reused.
async fn prove_target(
    ctx: &Context,
    req: &RotationRequest,
    sel: &Selection,
    max_age: chrono::Duration,
    actor: &str,
) -> Result<Option<(Verification, Option<String>)>, RotationError> {
    if req.layer.is_some() || req.verify == VerifyMode::Off {
        return Ok(None);
    }
    let v = recent_proof(ctx, &sel.subject, sel.to_version, max_age, actor).await?;
    let why = req.verify.refuses(v.outcome).then(|| refusal(&sel.subject, sel.to_version, &v));
    Ok(Some((v, why)))
}

pub(super) async fn select(ctx: &Context, req: &RotationRequest) -> Result<Selection, RotationError> {
    let store = &ctx.store;
    let mut errors = Vec::new();
    let cred = match (&req.credential, &req.layer) {
        (Some(_), Some(_)) | (None, None) => {
            errors.push(FieldError::new("credential", "give either credential or layer"));
            None
        }
        (None, Some(l)) => {
            for (field, name) in [("layer.from", &l.from), ("layer.to", &l.to)] {
                if !crate::domain::names::is_dns1123_subdomain(name) {
                    errors.push(FieldError::new(field, format!("{name:?} is not a valid Secret name")));
                }
            }
            if l.from == l.to {
                errors.push(FieldError::new("layer.to", "must differ from layer.from"));
            }
            if req.to_version.is_some() {
                errors.push(FieldError::new("toVersion", "only for credential rotations"));
            }
            None
        }
        (Some(name), None) => match store.get_credential(name).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound { .. }) => {
                errors.push(FieldError::new("credential", format!("credential {name:?} does not exist")));
                None
            }
            Err(e) => return Err(e.into()),
        },
    };
    let to_version = match (req.to_version, &cred) {
        (Some(v), Some(c)) if c.versions.iter().any(|x| x.version == v) => Some(v),
        (Some(v), Some(_)) => {
            errors.push(FieldError::new("toVersion", format!("version {v} does not exist")));
            None
        }
        (None, Some(c)) => match c.version_with(Stage::Pending) {
            Some(v) => Some(v.version),
            None => {
                errors.push(FieldError::new("toVersion", "the credential has no pending version; name one"));
                None
            }
        },
        _ => req.layer.as_ref().map(|_| 0),
    };
    let selector = match &req.selector.label_selector {
        Some(s) => match parse_selector(s) {
            Ok(sel) => Some(sel),
            Err(m) => {
                errors.push(FieldError::new("selector.labelSelector", m));
                None
            }
        },
        None => None,
    };
    check_request(req, &mut errors);
    if !errors.is_empty() {
        return Err(RotationError::Invalid(errors));
    }
    let to_version = to_version.expect("no errors");
    let sel = &req.selector;
    let heads: Vec<_> = store
        .runtime_heads(&RuntimeFilter::default())
        .await?
        .into_iter()
        .filter(|h| {
            sel.clusters.as_ref().is_none_or(|c| c.contains(&h.cluster))
                && sel.namespaces.as_ref().is_none_or(|n| n.contains(&h.namespace))
                && selector.as_ref().is_none_or(|s| s.matches(&h.labels))
        })
        .collect();
    let mut defaults: HashMap<String, Vec<String>> = HashMap::new();
    let mut fluid = std::collections::BTreeSet::new();
    for c in store.list_clusters().await? {
        if c.effective_mode() == Some(crate::domain::fluid::Mode::Fluid) {
            fluid.insert(c.name.clone());
        }
        defaults.insert(c.name, c.default_image_pull_secrets);
    }
    let ids: Vec<i64> = heads.iter().map(|h| h.id).collect();
    let contexts = store.runtime_contexts_by_id(&ids, |c| defaults.get(c).cloned().unwrap_or_default()).await?;
    let syncs: HashMap<(String, String), _> =
        store.list_sync(None).await?.into_iter().map(|s| ((s.namespace.clone(), s.name.clone()), s)).collect();
    let locks: BTreeMap<String, _> = store.list_locks().await?.into_iter().map(|l| (l.id.clone(), l)).collect();
    // A layer rotation that writes a managed credential's name binds runtimes to it:
    // every one must be in the credential's scope.
    let to_scope = match &req.layer {
        Some(l) => match store.get_credential(&l.to).await {
            Ok(c) => Some((c.name, c.scope)),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let mut eligible = Vec::new();
    let mut skipped = Vec::new();
    for rt in contexts {
        if let Some((name, scope)) = &to_scope
            && let Err(denied) = scope.allows(&rt.record.namespace, &rt.record.cluster)
        {
            let layers = rt.runtime.layers();
            let moves = req.layer.as_ref().is_some_and(|l| l.layer.names(&layers).contains(&l.from));
            if moves {
                return Err(RotationError::NotAllowed(format!(
                    "credential {name:?} may not be used in {denied}: runtime {}/{} on cluster {:?} would be bound to it",
                    rt.record.namespace, rt.record.name, rt.record.cluster
                )));
            }
        }
        let skip = |reason: &str, detail: String| SkippedRuntime {
            cluster: rt.record.cluster.clone(),
            namespace: rt.record.namespace.clone(),
            name: rt.record.name.clone(),
            reason: reason.into(),
            detail,
        };
        let bound = match (&req.layer, &req.credential) {
            (Some(l), _) => {
                let layers = rt.runtime.layers();
                let names = l.layer.names(&layers);
                if !names.contains(&l.from) {
                    let (reason, detail) = if names.contains(&l.to) {
                        ("already_on_target_version", format!("the {} layer already has {:?}", l.layer.as_str(), l.to))
                    } else {
                        ("not_referencing_credential", format!("the {} layer has no {:?}", l.layer.as_str(), l.from))
                    };
                    skipped.push(skip(reason, detail));
                    continue;
                }
                0
            }
            (None, cred) => {
                let cred = cred.clone().unwrap_or_default();
                let Some(&bound) = rt.bindings.get(&cred) else {
                    skipped.push(skip("not_referencing_credential", format!("no layer that wins references {cred:?}")));
                    continue;
                };
                if bound == to_version {
                    skipped.push(skip("already_on_target_version", format!("bound to version {bound}")));
                    continue;
                }
                bound
            }
        };
        let sync = syncs.get(&(rt.record.namespace.clone(), rt.record.name.clone()));
        let renderer = if fluid.contains(&rt.record.cluster) { FLUID_RENDERER } else { RENDERER };
        if sync_state(&rt.record, renderer, sync) == SyncState::Drifted {
            skipped.push(skip("drifted", "live objects differ from what was applied; reconcile first".into()));
            continue;
        }
        if let Some(l) = locks.get(&lock_id(&rt.record.namespace, &rt.record.name))
            && l.expires_at > ctx.now()
        {
            skipped.push(skip(
                "locked",
                format!("lock held by {} until {}", l.run_id.clone().unwrap_or_default(), l.expires_at),
            ));
            continue;
        }
        eligible.push((rt, bound));
    }
    eligible.sort_by(|(a, _), (b, _)| {
        (&a.record.cluster, &a.record.namespace, &a.record.name).cmp(&(
            &b.record.cluster,
            &b.record.namespace,
            &b.record.name,
        ))
    });
    let targets = req.batches.clone().unwrap_or_else(|| vec![BatchSize::Percent("100%".into())]);
    let batch_sizes = batch_sizes(eligible.len(), &targets)
        .map_err(|e| RotationError::Invalid(vec![FieldError::new("batches", e)]))?;
    Ok(Selection { subject: req.subject(), to_version, eligible, skipped, batch_sizes, fluid })
}

/// What a rotation would restart for each eligible runtime.
fn targets(req: &RotationRequest, sel: &Selection) -> Vec<Target> {
    sel.eligible
        .iter()
        .map(|(rt, _)| Target {
            cluster: rt.record.cluster.clone(),
            namespace: rt.record.namespace.clone(),
            runtime: rt.record.name.clone(),
            kind: rt.record.kind,
            fluid: sel.fluid.contains(&rt.record.cluster),
            components: req.restarted(&resolution(rt)),
        })
        .collect()
}

/// The blast radius of a rotation, before anything runs.
pub async fn preview_rotation(ctx: &Arc<Context>, req: &RotationRequest) -> Result<Preview, RotationError> {
    let sel = select(ctx, req).await?;
    let mut batches = Vec::new();
    let mut batch_of = Vec::new();
    let mut i = 0;
    for (b, size) in sel.batch_sizes.iter().enumerate() {
        batches.push(
            sel.eligible[i..i + size]
                .iter()
                .map(|(c, _)| format!("{}/{}/{}", c.record.cluster, c.record.namespace, c.record.name))
                .collect(),
        );
        batch_of.extend(std::iter::repeat_n(b, *size));
        i += size;
    }
    let targets = targets(req, &sel);
    let (states, errors) = read_rollouts(ctx, &targets, Read::Fresh).await;
    let bad: BTreeMap<(String, String, Kind, String), String> = unhealthy(&targets, &states)
        .into_iter()
        .map(|(w, why)| ((w.cluster, w.namespace, w.kind, w.name), why))
        .collect();
    let mut clusters: BTreeMap<String, PreviewCluster> = BTreeMap::new();
    let mut pods_total = 0;
    let mut loads = vec![BatchLoad::default(); sel.batch_sizes.len()];
    for (((rt, from), batch), t) in sel.eligible.iter().zip(&batch_of).zip(targets.iter()) {
        let res = resolution(rt);
        let cluster = &rt.record.cluster;
        let pc = clusters.entry(cluster.clone()).or_insert_with(|| PreviewCluster {
            cluster: cluster.clone(),
            runtimes: vec![],
            error: errors.get(cluster).cloned(),
        });
        let state = states.get(&(cluster.clone(), rt.record.namespace.clone()));
        let mut workloads = Vec::new();
        let mut restarted_pods: BTreeMap<crate::domain::layers::Component, usize> = BTreeMap::new();
        for (comp, r) in res.components() {
            let pulls = match &req.layer {
                Some(l) => r.image_pull_secrets.iter().any(|s| s.name == l.from),
                None => r.image_pull_secrets.iter().any(|s| s.secret_name == managed_secret_name(&sel.subject, *from)),
            };
            if !pulls {
                continue;
            }
            let (kind, name) = t.workload(comp);
            let restarted = t.components.contains(&comp);
            let pods = match (state, restarted) {
                (Some(s), true) => Some(
                    s.workload(kind, &name)
                        .map(|w| s.pods_of(w).map(|p| p.name.clone()).collect::<Vec<_>>())
                        .unwrap_or_default(),
                ),
                _ => None,
            };
            pods_total += pods.as_ref().map_or(0, Vec::len);
            if restarted {
                restarted_pods.insert(comp, pods.as_ref().map_or(0, Vec::len));
            }
            let unhealthy = bad.get(&(cluster.clone(), rt.record.namespace.clone(), kind, name.clone())).cloned();
            workloads.push(PreviewWorkload {
                kind: kind.as_str().into(),
                name,
                component: comp,
                restarted,
                pods,
                unhealthy,
            });
        }
        let in_order: Vec<usize> = t.components.iter().map(|c| restarted_pods.get(c).copied().unwrap_or(0)).collect();
        loads[*batch].clusters.entry(cluster.clone()).or_default().push(in_order);
        pc.runtimes.push(PreviewRuntime {
            namespace: rt.record.namespace.clone(),
            name: rt.record.name.clone(),
            batch: *batch,
            from_version: *from,
            workloads,
        });
    }
    let proof = prove_target(ctx, req, &sel, ctx.settings.verify_max_age, "rotation-preview").await?;
    let (verification, unverified) = proof.map_or((None, None), |(v, why)| (Some(v), why));
    let pacing = Pacing {
        max_unavailable: req.max_unavailable(),
        max_restarting_per_cluster: req.max_restarting_per_cluster(),
        batch_interval: req.batch_interval_secs().unwrap_or(0),
    };
    let (schedule, estimated_seconds) = schedule(&loads, &sel.batch_sizes, &pacing);
    Ok(Preview {
        verification,
        unverified,
        schedule,
        estimated_seconds,
        estimate: EstimateBasis {
            apply_seconds: APPLY_SECONDS,
            pod_restart_seconds: POD_RESTART_SECONDS,
            batch_interval_seconds: pacing.batch_interval,
            excludes_approvals: req.gate == super::Gate::Manual,
        },
        credential: sel.subject,
        to_version: sel.to_version,
        batches,
        clusters: clusters.into_values().collect(),
        skipped: sel.skipped,
        pods_to_restart: pods_total,
        unhealthy: bad.iter().map(|((c, ns, k, n), why)| format!("{k} {ns}/{n} on cluster {c:?}: {why}")).collect(),
    })
}

/// Starts a rotation: saves it with its batches, takes every selected runtime's lock.
pub async fn start_rotation(ctx: &Arc<Context>, req: RotationRequest, actor: &str) -> Result<String, RotationError> {
    let store = &ctx.store;
    if let Some(other) = store.active_rotation_of(&req.subject()).await? {
        return Err(StoreError::conflict(
            ErrorCode::RotationActive,
            format!("rotation {other} of {:?} is still active", req.subject()),
        )
        .into());
    }
    let sel = select(ctx, &req).await?;
    if let Some(l) = sel.skipped.iter().find(|s| s.reason == "locked") {
        return Err(RotationError::Locked(format!(
            "runtime {}/{} is locked by another run ({}); wait for it or force-unlock",
            l.namespace, l.name, l.detail
        )));
    }
    if sel.eligible.is_empty() {
        return Err(RotationError::Invalid(vec![FieldError::new(
            "selector",
            format!("no runtime to rotate ({} skipped; see POST /v1/rotations/preview)", sel.skipped.len()),
        )]));
    }
    let proof = prove_target(ctx, &req, &sel, chrono::Duration::zero(), actor).await?;
    if let Some((_, Some(why))) = &proof {
        return Err(RotationError::Unverified(why.clone()));
    }
    if req.unhealthy_workloads == UnhealthyPolicy::Block {
        let targets = targets(&req, &sel);
        let (states, _) = read_rollouts(ctx, &targets, Read::Fresh).await;
        let bad = unhealthy(&targets, &states);
        if !bad.is_empty() {
            let list: Vec<String> = bad
                .iter()
                .map(|(w, why)| format!("{} {}/{} on cluster {:?}: {why}", w.kind, w.namespace, w.name, w.cluster))
                .collect();
            return Err(RotationError::Unhealthy(format!(
                "workloads this rotation would restart are unhealthy already: {}; fix them, or start with \"unhealthyWorkloads\": \"skip\" to leave them alone",
                list.join("; ")
            )));
        }
    }
    let id = uuid::Uuid::now_v7().to_string();
    let mut runtimes = Vec::new();
    let mut i = 0;
    for (b, size) in sel.batch_sizes.iter().enumerate() {
        for (rt, _) in &sel.eligible[i..i + size] {
            runtimes.push(RotationRuntime {
                namespace: rt.record.namespace.clone(),
                name: rt.record.name.clone(),
                cluster: rt.record.cluster.clone(),
                batch: b as i64,
                from_version: None,
                state: RotationRuntimeState::Pending,
                error: None,
            });
        }
        i += size;
    }
    let owner = format!("rotation:{id}");
    let lock_ids: Vec<String> = runtimes.iter().map(|r| lock_id(&r.namespace, &r.name)).collect();
    if let Some(l) = store.take_locks(&owner, &ctx.replica, &lock_ids, ROTATION_LEASE).await? {
        return Err(RotationError::Locked(format!("{} is locked by {:?}", l.id, l.run_id)));
    }
    let from_version = match &req.layer {
        Some(_) => None,
        None => store.get_credential(&sel.subject).await?.version_with(Stage::Current).map(|v| v.version),
    };
    let request = serde_json::to_value(&req).expect("request serializes");
    let saved = store
        .insert_rotation(NewRotation {
            id: &id,
            credential: &sel.subject,
            from_version,
            to_version: sel.to_version,
            request: &request,
            actor,
            batches: sel.batch_sizes.len(),
            runtimes: &runtimes,
            state: RotationState::Running,
        })
        .await;
    if let Err(e) = saved {
        store.release_locks(&owner).await?;
        return Err(e.into());
    }
    if let Some((v, _)) = proof {
        store.add_rotation_event(&id, "target_verified", None, &serde_json::to_value(&v).expect("serializes")).await?;
    }
    Ok(id)
}
