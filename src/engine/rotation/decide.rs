//! A rotation's next step as a pure function of its recorded state and what the driver
//! observed (`decide`), and what the driver must observe for it (`needs`). The driver
//! (`driver.rs`) does the reading and the writing; everything it decides is here, tested
//! as a table.
//!
//! Every phase of a batch is bounded by its deadline: set when the batch starts, set again
//! (to now + `healthTimeout`) when it begins restarting pods and when it is resumed. A
//! batch whose run cannot even be created (its cluster unreachable, its credentials
//! refused) keeps trying until the deadline and then fails like an unhealthy batch.
//!
//! Proofs against the registry come in as observations too: the target version's before a
//! batch moves anything (`Observed::proof`), and, with `awaitRevocation`, the old version's
//! after the last batch (`Observed::revocation`).

use chrono::{DateTime, Duration, Utc};

use super::{Gate, OnFailure, VerifyMode};
use crate::domain::rollout::WaitingFor;
use crate::domain::states::{BatchState, RollbackState, RotationState};
use crate::registry::Outcome;

#[derive(Debug, Clone, PartialEq)]
pub struct BatchView {
    pub state: BatchState,
    pub run_id: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    /// While applying: why its run could not be created yet, if it could not.
    pub note: Option<String>,
    /// When it ended (healthy or failed).
    pub finished: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub gate: Gate,
    pub max_failed_batches: u32,
    pub on_failure: OnFailure,
    pub health_timeout: Duration,
    pub verify: VerifyMode,
    pub await_revocation: bool,
    /// Least time from the end of a batch to the start of the next.
    pub batch_interval: Option<Duration>,
    /// Pause before a batch with a drifted runtime.
    pub pause_on_drift: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RotationView {
    pub state: RotationState,
    pub current: usize,
    pub batches: Vec<BatchView>,
    /// Batches that failed so far.
    pub failed_batches: usize,
    pub rollback: Option<RollbackState>,
    pub rollback_run: Option<String>,
    pub rollback_deadline: Option<DateTime<Utc>>,
    pub policy: Policy,
}

/// What the driver must read before deciding.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    Nothing,
    /// Whether the workloads the batch will restart are healthy before it starts.
    Precheck(usize),
    /// How the run goes.
    Run(String),
    /// The batch's workloads and pods.
    Rollout(usize),
    /// The workloads and pods of every runtime the rotation moved.
    RollbackRollout,
    /// Whether the old version is revoked at its registry (after the last batch).
    Revocation,
}

/// How a run looks to the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum RunSeen {
    /// Not created yet (the driver crashed between recording its id and creating it).
    Missing,
    InProgress,
    Succeeded,
    /// Failed because its process died: retried under a new run.
    Interrupted,
    Failed(String),
}

/// How a rollout looks to the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutSeen {
    Done,
    /// Pods to delete now (within `maxUnavailable`) and what is still awaited.
    Waiting {
        deletions: Vec<PodRef>,
        waiting: Vec<WaitingFor>,
    },
    Unreadable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodRef {
    pub cluster: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    pub run: Option<RunSeen>,
    pub rollout: Option<RolloutSeen>,
    /// Workloads already unhealthy before the batch, when the rotation blocks on them.
    pub blocked: Option<String>,
    /// Runtimes of the batch the drift loop found drifted, with what differs.
    pub drifted: Option<String>,
    /// The target version's proof before the batch, when the rotation verifies.
    pub proof: Option<ProofSeen>,
    /// The old version at its registry, when the rotation awaits its revocation.
    pub revocation: Option<RevocationSeen>,
}

/// A proof of the target version.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofSeen {
    pub outcome: Outcome,
    /// What it said, naming the registries that did not take it.
    pub detail: String,
}

/// The old version, while the rotation awaits its revocation.
#[derive(Debug, Clone, PartialEq)]
pub enum RevocationSeen {
    Revoked,
    /// Not revoked, and its last proof is too old (or missing): prove it again.
    Stale,
    /// Not revoked as of a recent proof (what it said).
    Live(String),
}

/// After a healthy batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    Next,
    WaitApproval,
    Complete,
}

/// After a failed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Within the failure budget: go on with the next batch.
    Next,
    /// Within the budget but it was the last batch: the rotation failed.
    Fail,
    Pause,
    Rollback,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Nothing,
    Wait(String),
    /// Pause before the batch moves anything.
    Pause(String),
    StartBatch {
        batch: usize,
    },
    CreateRun {
        batch: usize,
        run_id: String,
    },
    RetryRun {
        batch: usize,
    },
    BeginRestart {
        batch: usize,
        deadline: DateTime<Utc>,
    },
    Restart {
        batch: usize,
        deletions: Vec<PodRef>,
        waiting: Vec<WaitingFor>,
    },
    BatchHealthy {
        batch: usize,
        then: Then,
    },
    FailBatch {
        batch: usize,
        error: String,
        then: AfterFailure,
    },
    Complete,
    StartRollback,
    CreateRollbackRun {
        run_id: String,
    },
    RetryRollbackRun,
    BeginRollbackRestart {
        deadline: DateTime<Utc>,
    },
    RollbackRestart {
        deletions: Vec<PodRef>,
        waiting: Vec<WaitingFor>,
    },
    FinishRollback {
        error: Option<String>,
    },
    /// Prove the old version at its registry (awaiting its revocation).
    ProveOld,
    /// The labels shifted; wait for the old version's revocation.
    AwaitRevocation(String),
}

/// When batch `i` may start under `batchInterval` (None: no wait).
fn not_before(v: &RotationView, i: usize) -> Option<DateTime<Utc>> {
    let interval = v.policy.batch_interval?;
    let previous = v.batches.get(i.checked_sub(1)?)?;
    Some(previous.finished? + interval)
}

pub fn needs(v: &RotationView, now: DateTime<Utc>) -> Need {
    match v.state {
        RotationState::Running => match v.batches.get(v.current) {
            None if v.policy.await_revocation => Need::Revocation,
            None => Need::Nothing,
            Some(b) => match b.state {
                BatchState::Pending if not_before(v, v.current).is_some_and(|t| now < t) => Need::Nothing,
                BatchState::Pending => Need::Precheck(v.current),
                BatchState::Applying => b.run_id.clone().map_or(Need::Nothing, Need::Run),
                BatchState::Restarting => Need::Rollout(v.current),
                BatchState::Healthy | BatchState::Failed => Need::Nothing,
            },
        },
        RotationState::RollingBack => match v.rollback {
            Some(RollbackState::Applying) => v.rollback_run.clone().map_or(Need::Nothing, Need::Run),
            Some(RollbackState::Restarting) => Need::RollbackRollout,
            _ => Need::Nothing,
        },
        _ => Need::Nothing,
    }
}

fn then_after_healthy(v: &RotationView) -> Then {
    if v.current + 1 >= v.batches.len() {
        Then::Complete
    } else if v.policy.gate == Gate::Manual {
        Then::WaitApproval
    } else {
        Then::Next
    }
}

/// What a failure means, `failed` counting it.
fn after_failure(v: &RotationView, failed: usize) -> AfterFailure {
    if failed <= v.policy.max_failed_batches as usize {
        if v.current + 1 >= v.batches.len() { AfterFailure::Fail } else { AfterFailure::Next }
    } else {
        match v.policy.on_failure {
            OnFailure::Pause => AfterFailure::Pause,
            OnFailure::Rollback => AfterFailure::Rollback,
        }
    }
}

fn summary(waiting: &[WaitingFor]) -> String {
    waiting
        .iter()
        .map(|w| format!("{} {}/{}: {}", w.kind, w.namespace, w.name, w.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

fn past(deadline: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    deadline.is_some_and(|d| now > d)
}

/// The next step.
pub fn decide(v: &RotationView, o: &Observed, now: DateTime<Utc>) -> Step {
    let secs = v.policy.health_timeout.num_seconds();
    match v.state {
        RotationState::Running => {
            let i = v.current;
            let Some(b) = v.batches.get(i) else {
                if !v.policy.await_revocation {
                    return Step::Complete;
                }
                return match &o.revocation {
                    Some(RevocationSeen::Revoked) => Step::Complete,
                    Some(RevocationSeen::Stale) => Step::ProveOld,
                    Some(RevocationSeen::Live(why)) => Step::AwaitRevocation(why.clone()),
                    None => Step::Wait("reading the old version".into()),
                };
            };
            let fail =
                |error: String| Step::FailBatch { batch: i, error, then: after_failure(v, v.failed_batches + 1) };
            match b.state {
                BatchState::Pending => match (not_before(v, i), &o.proof, &o.blocked, &o.drifted) {
                    (Some(t), _, _, _) if now < t => {
                        Step::Wait(format!("batchInterval: the next batch starts at {}", t.to_rfc3339()))
                    }
                    (_, Some(p), _, _) if v.policy.verify.refuses(p.outcome) => {
                        Step::Pause(format!("batch {i} did not start: {}", p.detail))
                    }
                    (_, _, Some(why), _) => Step::Pause(why.clone()),
                    (_, _, None, Some(why)) if v.policy.pause_on_drift => Step::Pause(why.clone()),
                    _ => Step::StartBatch { batch: i },
                },
                BatchState::Applying => match &o.run {
                    None => Step::Wait("reading the run".into()),
                    Some(RunSeen::Missing) if past(b.deadline, now) => {
                        let why = b.note.clone().unwrap_or_else(|| "its run could not be created".into());
                        fail(format!("could not apply within {secs}s: {why}"))
                    }
                    Some(RunSeen::Missing) => match &b.run_id {
                        Some(id) => Step::CreateRun { batch: i, run_id: id.clone() },
                        None => Step::RetryRun { batch: i },
                    },
                    Some(RunSeen::InProgress) => Step::Wait("applying".into()),
                    Some(RunSeen::Interrupted) => Step::RetryRun { batch: i },
                    Some(RunSeen::Succeeded) => {
                        Step::BeginRestart { batch: i, deadline: now + v.policy.health_timeout }
                    }
                    Some(RunSeen::Failed(e)) => fail(e.clone()),
                },
                BatchState::Restarting => match &o.rollout {
                    None => Step::Wait("reading the rollout".into()),
                    Some(RolloutSeen::Done) => Step::BatchHealthy { batch: i, then: then_after_healthy(v) },
                    Some(RolloutSeen::Waiting { waiting, .. }) if past(b.deadline, now) => {
                        fail(format!("not healthy within {secs}s: {}", summary(waiting)))
                    }
                    Some(RolloutSeen::Waiting { deletions, waiting }) => {
                        Step::Restart { batch: i, deletions: deletions.clone(), waiting: waiting.clone() }
                    }
                    Some(RolloutSeen::Unreadable(e)) if past(b.deadline, now) => {
                        fail(format!("not healthy within {secs}s: {e}"))
                    }
                    Some(RolloutSeen::Unreadable(e)) => Step::Wait(e.clone()),
                },
                // Written together with the rotation's next state; seen only from records
                // made before that was so.
                BatchState::Healthy => Step::BatchHealthy { batch: i, then: then_after_healthy(v) },
                BatchState::Failed => Step::FailBatch {
                    batch: i,
                    error: "the batch failed".into(),
                    then: after_failure(v, v.failed_batches),
                },
            }
        }
        RotationState::RollingBack => match v.rollback {
            None => Step::StartRollback,
            Some(RollbackState::Applying) => match &o.run {
                Some(RunSeen::Missing) if past(v.rollback_deadline, now) => {
                    Step::FinishRollback { error: Some(format!("rollback could not apply within {secs}s")) }
                }
                Some(RunSeen::Missing) => match &v.rollback_run {
                    Some(id) => Step::CreateRollbackRun { run_id: id.clone() },
                    None => Step::RetryRollbackRun,
                },
                Some(RunSeen::Interrupted) => Step::RetryRollbackRun,
                Some(RunSeen::Succeeded) => Step::BeginRollbackRestart { deadline: now + v.policy.health_timeout },
                Some(RunSeen::Failed(e)) => Step::FinishRollback { error: Some(format!("rollback failed: {e}")) },
                _ => Step::Wait("rolling back".into()),
            },
            Some(RollbackState::Restarting) => match &o.rollout {
                Some(RolloutSeen::Done) => Step::FinishRollback { error: None },
                Some(RolloutSeen::Waiting { waiting, .. }) if past(v.rollback_deadline, now) => Step::FinishRollback {
                    error: Some(format!("rollback not healthy within {secs}s: {}", summary(waiting))),
                },
                Some(RolloutSeen::Waiting { deletions, waiting }) => {
                    Step::RollbackRestart { deletions: deletions.clone(), waiting: waiting.clone() }
                }
                Some(RolloutSeen::Unreadable(e)) if past(v.rollback_deadline, now) => {
                    Step::FinishRollback { error: Some(format!("rollback not healthy within {secs}s: {e}")) }
                }
                Some(RolloutSeen::Unreadable(e)) => Step::Wait(e.clone()),
                None => Step::Wait("reading the rollout".into()),
            },
            Some(RollbackState::Done) => Step::Nothing,
        },
        _ => Step::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::kinds::Kind;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn batch(state: BatchState, deadline: Option<i64>) -> BatchView {
        BatchView { state, run_id: Some("run-1".into()), deadline: deadline.map(t), note: None, finished: None }
    }

    fn view(state: RotationState, current: usize, batches: Vec<BatchView>) -> RotationView {
        RotationView {
            state,
            current,
            batches,
            failed_batches: 0,
            rollback: None,
            rollback_run: None,
            rollback_deadline: None,
            policy: Policy {
                gate: Gate::Auto,
                max_failed_batches: 0,
                on_failure: OnFailure::Pause,
                health_timeout: Duration::seconds(60),
                verify: VerifyMode::Required,
                await_revocation: false,
                batch_interval: None,
                pause_on_drift: false,
            },
        }
    }

    fn waiting() -> Vec<WaitingFor> {
        vec![WaitingFor {
            cluster: "c".into(),
            namespace: "ns".into(),
            kind: Kind::StatefulSet,
            name: "r-master".into(),
            desired: 1,
            updated: 0,
            ready: 0,
            outdated: 1,
            pending: vec![],
            reason: "0 of 1 pods updated".into(),
        }]
    }

    fn run(r: RunSeen) -> Observed {
        Observed { run: Some(r), ..Default::default() }
    }

    fn rollout(r: RolloutSeen) -> Observed {
        Observed { rollout: Some(r), ..Default::default() }
    }

    #[test]
    fn the_transition_table() {
        use BatchState as B;
        use RotationState as R;
        let pod = PodRef { cluster: "c".into(), namespace: "ns".into(), name: "r-master-0".into(), uid: "u".into() };
        let now = t(100);
        let mut manual = view(R::Running, 0, vec![batch(B::Restarting, Some(200)), batch(B::Pending, None)]);
        manual.policy.gate = Gate::Manual;
        let mut rollback_policy = view(R::Running, 0, vec![batch(B::Restarting, Some(50)), batch(B::Pending, None)]);
        rollback_policy.policy.on_failure = OnFailure::Rollback;
        let mut budget = view(R::Running, 0, vec![batch(B::Applying, Some(200)), batch(B::Pending, None)]);
        budget.policy.max_failed_batches = 1;
        let mut budget_last = budget.clone();
        budget_last.current = 1;
        budget_last.batches = vec![batch(B::Healthy, None), batch(B::Applying, Some(200))];
        let mut rolling = view(R::RollingBack, 0, vec![batch(B::Failed, None)]);
        let mut rolling_apply = rolling.clone();
        rolling_apply.rollback = Some(RollbackState::Applying);
        rolling_apply.rollback_run = Some("rb-1".into());
        let mut rolling_restart = rolling.clone();
        rolling_restart.rollback = Some(RollbackState::Restarting);
        rolling_restart.rollback_deadline = Some(t(50));
        let mut unreachable = view(R::Running, 0, vec![batch(B::Applying, Some(50))]);
        unreachable.batches[0].note = Some("cluster \"c\": network".into());
        let blocked =
            Observed { blocked: Some("StatefulSet ns/r-master: 2 of 3 pods ready".into()), ..Default::default() };

        let rows: Vec<(&str, RotationView, Observed, Step)> = vec![
            (
                "a pending batch starts",
                view(R::Running, 0, vec![batch(B::Pending, None)]),
                Observed::default(),
                Step::StartBatch { batch: 0 },
            ),
            (
                "an unhealthy workload blocks before anything moves",
                view(R::Running, 0, vec![batch(B::Pending, None)]),
                blocked,
                Step::Pause("StatefulSet ns/r-master: 2 of 3 pods ready".into()),
            ),
            (
                "a recorded run that does not exist is created with its id",
                view(R::Running, 0, vec![batch(B::Applying, Some(200))]),
                run(RunSeen::Missing),
                Step::CreateRun { batch: 0, run_id: "run-1".into() },
            ),
            (
                "an applying run is awaited",
                view(R::Running, 0, vec![batch(B::Applying, Some(200))]),
                run(RunSeen::InProgress),
                Step::Wait("applying".into()),
            ),
            (
                "a run interrupted by a restart is retried",
                view(R::Running, 0, vec![batch(B::Applying, Some(200))]),
                run(RunSeen::Interrupted),
                Step::RetryRun { batch: 0 },
            ),
            (
                "an applied batch restarts pods with a fresh deadline",
                view(R::Running, 0, vec![batch(B::Applying, Some(200))]),
                run(RunSeen::Succeeded),
                Step::BeginRestart { batch: 0, deadline: t(160) },
            ),
            (
                "a failed run fails the batch and pauses",
                view(R::Running, 0, vec![batch(B::Applying, Some(200))]),
                run(RunSeen::Failed("boom".into())),
                Step::FailBatch { batch: 0, error: "boom".into(), then: AfterFailure::Pause },
            ),
            (
                "within the budget the next batch goes",
                budget.clone(),
                run(RunSeen::Failed("boom".into())),
                Step::FailBatch { batch: 0, error: "boom".into(), then: AfterFailure::Next },
            ),
            (
                "within the budget on the last batch the rotation fails",
                budget_last,
                run(RunSeen::Failed("boom".into())),
                Step::FailBatch { batch: 1, error: "boom".into(), then: AfterFailure::Fail },
            ),
            (
                "a run that cannot be created yet is tried again until the deadline",
                view(R::Running, 0, vec![batch(B::Applying, Some(200))]),
                run(RunSeen::Missing),
                Step::CreateRun { batch: 0, run_id: "run-1".into() },
            ),
            (
                "…and fails the batch after it, saying why",
                unreachable,
                run(RunSeen::Missing),
                Step::FailBatch {
                    batch: 0,
                    error: "could not apply within 60s: cluster \"c\": network".into(),
                    then: AfterFailure::Pause,
                },
            ),
            (
                "pods are deleted while waiting",
                view(R::Running, 0, vec![batch(B::Restarting, Some(200))]),
                rollout(RolloutSeen::Waiting { deletions: vec![pod.clone()], waiting: waiting() }),
                Step::Restart { batch: 0, deletions: vec![pod.clone()], waiting: waiting() },
            ),
            (
                "past the deadline the batch fails naming what it waited for",
                rollback_policy,
                rollout(RolloutSeen::Waiting { deletions: vec![], waiting: waiting() }),
                Step::FailBatch {
                    batch: 0,
                    error: "not healthy within 60s: StatefulSet ns/r-master: 0 of 1 pods updated".into(),
                    then: AfterFailure::Rollback,
                },
            ),
            (
                "a healthy batch goes on",
                view(R::Running, 0, vec![batch(B::Restarting, Some(200)), batch(B::Pending, None)]),
                rollout(RolloutSeen::Done),
                Step::BatchHealthy { batch: 0, then: Then::Next },
            ),
            (
                "a manual gate waits after a healthy batch",
                manual,
                rollout(RolloutSeen::Done),
                Step::BatchHealthy { batch: 0, then: Then::WaitApproval },
            ),
            (
                "the last healthy batch completes the rotation",
                view(R::Running, 0, vec![batch(B::Restarting, Some(200))]),
                rollout(RolloutSeen::Done),
                Step::BatchHealthy { batch: 0, then: Then::Complete },
            ),
            (
                "past the last batch the rotation completes",
                view(R::Running, 1, vec![batch(B::Healthy, None)]),
                Observed::default(),
                Step::Complete,
            ),
            (
                "a paused rotation does nothing",
                view(R::Paused, 0, vec![batch(B::Failed, None)]),
                Observed::default(),
                Step::Nothing,
            ),
            (
                "a rotation waiting for approval does nothing",
                view(R::WaitingApproval, 1, vec![batch(B::Healthy, None), batch(B::Pending, None)]),
                Observed::default(),
                Step::Nothing,
            ),
            ("a rollback starts by moving bindings back", rolling.clone(), Observed::default(), Step::StartRollback),
            (
                "a rollback run is created with its id",
                rolling_apply.clone(),
                run(RunSeen::Missing),
                Step::CreateRollbackRun { run_id: "rb-1".into() },
            ),
            (
                "an applied rollback restarts pods",
                rolling_apply.clone(),
                run(RunSeen::Succeeded),
                Step::BeginRollbackRestart { deadline: t(160) },
            ),
            (
                "a failed rollback says so",
                rolling_apply,
                run(RunSeen::Failed("nope".into())),
                Step::FinishRollback { error: Some("rollback failed: nope".into()) },
            ),
            (
                "a rolled-back rollout ends the rollback",
                rolling_restart.clone(),
                rollout(RolloutSeen::Done),
                Step::FinishRollback { error: None },
            ),
            (
                "a rollback past its deadline ends with its error",
                rolling_restart,
                rollout(RolloutSeen::Waiting { deletions: vec![], waiting: waiting() }),
                Step::FinishRollback {
                    error: Some("rollback not healthy within 60s: StatefulSet ns/r-master: 0 of 1 pods updated".into()),
                },
            ),
        ];
        for (what, v, o, want) in rows {
            assert_eq!(decide(&v, &o, now), want, "{what}");
        }
        rolling.rollback = Some(RollbackState::Done);
        assert_eq!(decide(&rolling, &Observed::default(), now), Step::Nothing);
    }

    #[test]
    fn proofs_at_the_registry_gate_batches_and_the_end() {
        use BatchState as B;
        use RotationState as R;
        let now = t(100);
        let proof = |outcome: Outcome| Observed {
            proof: Some(ProofSeen { outcome, detail: format!("registry \"r\": {}", outcome.as_str()) }),
            ..Default::default()
        };
        let pending = view(R::Running, 1, vec![batch(B::Healthy, None), batch(B::Pending, None)]);
        let mut best_effort = pending.clone();
        best_effort.policy.verify = VerifyMode::BestEffort;
        let mut done = view(R::Running, 1, vec![batch(B::Healthy, None)]);
        done.policy.await_revocation = true;
        let revocation = |r: RevocationSeen| Observed { revocation: Some(r), ..Default::default() };
        let rows: Vec<(&str, RotationView, Observed, Step)> = vec![
            ("a valid target starts the batch", pending.clone(), proof(Outcome::Valid), Step::StartBatch { batch: 1 }),
            (
                "a target revoked since the last batch pauses before anything moves",
                pending.clone(),
                proof(Outcome::Invalid),
                Step::Pause("batch 1 did not start: registry \"r\": invalid".into()),
            ),
            (
                "an unreachable registry pauses a verifying rotation",
                pending.clone(),
                proof(Outcome::Unreachable),
                Step::Pause("batch 1 did not start: registry \"r\": unreachable".into()),
            ),
            (
                "…but not a best-effort one",
                best_effort.clone(),
                proof(Outcome::Unreachable),
                Step::StartBatch { batch: 1 },
            ),
            (
                "a best-effort rotation still stops on invalid",
                best_effort,
                proof(Outcome::Invalid),
                Step::Pause("batch 1 did not start: registry \"r\": invalid".into()),
            ),
            (
                "a refused proof wins over unhealthy workloads",
                pending.clone(),
                Observed { blocked: Some("unhealthy".into()), ..proof(Outcome::Invalid) },
                Step::Pause("batch 1 did not start: registry \"r\": invalid".into()),
            ),
            (
                "without awaiting revocation the end completes",
                view(R::Running, 1, vec![batch(B::Healthy, None)]),
                Observed::default(),
                Step::Complete,
            ),
            (
                "awaiting, a revoked old version completes",
                done.clone(),
                revocation(RevocationSeen::Revoked),
                Step::Complete,
            ),
            ("awaiting, a stale proof is made again", done.clone(), revocation(RevocationSeen::Stale), Step::ProveOld),
            (
                "awaiting, a live old version waits",
                done.clone(),
                revocation(RevocationSeen::Live("still valid".into())),
                Step::AwaitRevocation("still valid".into()),
            ),
        ];
        for (what, v, o, want) in rows {
            assert_eq!(decide(&v, &o, now), want, "{what}");
        }
        assert_eq!(needs(&done, Utc::now()), Need::Revocation);
        assert_eq!(needs(&view(R::Running, 1, vec![batch(B::Healthy, None)]), Utc::now()), Need::Nothing);
    }

    #[test]
    fn what_to_observe_follows_the_phase() {
        use BatchState as B;
        use RotationState as R;
        let now = t(100);
        assert_eq!(needs(&view(R::Running, 0, vec![batch(B::Pending, None)]), now), Need::Precheck(0));
        assert_eq!(needs(&view(R::Running, 0, vec![batch(B::Applying, None)]), now), Need::Run("run-1".into()));
        assert_eq!(needs(&view(R::Running, 0, vec![batch(B::Restarting, None)]), now), Need::Rollout(0));
        assert_eq!(needs(&view(R::Paused, 0, vec![batch(B::Restarting, None)]), now), Need::Nothing);
        let mut rb = view(R::RollingBack, 0, vec![batch(B::Failed, None)]);
        rb.rollback = Some(RollbackState::Restarting);
        assert_eq!(needs(&rb, now), Need::RollbackRollout);
        let mut paced = view(R::Running, 1, vec![batch(B::Healthy, None), batch(B::Pending, None)]);
        paced.batches[0].finished = Some(t(90));
        paced.policy.batch_interval = Some(Duration::seconds(30));
        assert_eq!(needs(&paced, now), Need::Nothing, "nothing is read while the interval runs");
        assert_eq!(needs(&paced, t(120)), Need::Precheck(1));
    }

    #[test]
    fn pacing_waits_for_the_interval_and_pauses_on_drift() {
        use BatchState as B;
        use RotationState as R;
        let mut paced = view(R::Running, 1, vec![batch(B::Healthy, None), batch(B::Pending, None)]);
        paced.batches[0].finished = Some(t(90));
        paced.policy.batch_interval = Some(Duration::seconds(30));
        let drifted = Observed { drifted: Some("fleet/rt1 drifted".into()), ..Default::default() };
        let rows: Vec<(&str, RotationView, Observed, DateTime<Utc>, Step)> = vec![
            (
                "before the interval ran out the batch waits",
                paced.clone(),
                Observed::default(),
                t(100),
                Step::Wait(format!("batchInterval: the next batch starts at {}", t(120).to_rfc3339())),
            ),
            ("at its end the batch starts", paced.clone(), Observed::default(), t(120), Step::StartBatch { batch: 1 }),
            (
                "the first batch never waits",
                {
                    let mut v = paced.clone();
                    v.current = 0;
                    v.batches[0] = batch(B::Pending, None);
                    v
                },
                Observed::default(),
                t(100),
                Step::StartBatch { batch: 0 },
            ),
            (
                "drift is ignored unless asked for",
                paced.clone(),
                drifted.clone(),
                t(130),
                Step::StartBatch { batch: 1 },
            ),
            (
                "with pauseOnDrift a drifted runtime pauses the rotation with the reason",
                {
                    let mut v = paced.clone();
                    v.policy.pause_on_drift = true;
                    v
                },
                drifted,
                t(130),
                Step::Pause("fleet/rt1 drifted".into()),
            ),
        ];
        for (what, v, o, now, want) in rows {
            assert_eq!(decide(&v, &o, now), want, "{what}");
        }
    }
}
