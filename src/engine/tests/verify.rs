//! Credential versions proven against (fake) registries: what is recorded on the version,
//! what marks it revoked, and how rotations use the proofs: a start refused on an invalid
//! or unreachable target, a batch paused before it moves anything when the target was
//! revoked since the last batch, and a rotation that waits for the old version's
//! revocation.

use serde_json::json;

use super::{Harness, runtime};
use crate::domain::kinds::Kind;
use crate::domain::states::{BatchState, RotationState};
use crate::engine::rotation::{RotationError, RotationRequest, drive_once, preview_rotation, start_rotation};
use crate::engine::verify::verify_version;
use crate::registry::Outcome;

const HOST: &str = "registry.example.com";

async fn fleet(h: &Harness, n: usize) {
    h.credential("global-secret", "v1").await;
    h.cluster("c1", json!({})).await;
    for i in 0..n {
        h.runtime("c1", "fleet", runtime(&format!("rt{i}"), &["global-secret"])).await;
    }
    h.converge(json!({"all": true})).await;
    h.version("global-secret", "v2").await;
}

fn request(body: serde_json::Value) -> RotationRequest {
    serde_json::from_value(body).unwrap()
}

async fn drive_until(h: &Harness, id: &str, done: impl Fn(&crate::store::rotations::RotationRecord) -> bool) {
    for _ in 0..300 {
        let r = h.ctx.store.get_rotation(id).await.unwrap();
        if done(&r) {
            return;
        }
        drive_once(&h.ctx).await.unwrap();
        let r = h.ctx.store.get_rotation(id).await.unwrap();
        for b in &r.batches {
            if let Some(run) = &b.run_id
                && h.ctx.store.get_run(run).await.is_ok()
            {
                h.wait_run(run).await;
            }
        }
    }
    let r = h.ctx.store.get_rotation(id).await.unwrap();
    panic!("rotation stuck in {:?}: {:?} {:?}", r.state, r.error, r.batches);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_is_recorded_and_an_invalid_superseded_version_is_revoked() {
    let h = Harness::new().await;
    h.credential("c", "one").await;
    h.version("c", "two").await;
    h.registries.answer(HOST, "one", Outcome::Invalid);
    // Version 1 is current: invalid, but not superseded, so not revoked.
    let p = verify_version(&h.ctx, "c", 1, "alice").await.unwrap();
    let v = p.version.verification.clone().unwrap();
    assert_eq!((v.outcome, v.actor.as_str(), v.registries.len()), (Outcome::Invalid, "alice", 1));
    assert_eq!(v.registries[0].status, Some(401));
    assert!(!p.revoked_now && p.version.revoked.is_none());
    assert_eq!(p.version.live(), Some(false));
    // Once version 2 is current, version 1 coming out invalid is revoked, once.
    h.ctx.store.promote_version("c", 2).await.unwrap();
    let p = verify_version(&h.ctx, "c", 1, "bob").await.unwrap();
    assert!(p.revoked_now);
    assert_eq!(p.version.revoked.as_ref().unwrap().by, "bob");
    let again = verify_version(&h.ctx, "c", 1, "carol").await.unwrap();
    assert!(!again.revoked_now);
    assert_eq!(again.version.revoked.as_ref().unwrap().by, "bob", "the first confirmation is kept");
    // The registry takes it again: it is live, no longer revoked.
    h.registries.answer(HOST, "one", Outcome::Valid);
    let live = verify_version(&h.ctx, "c", 1, "dave").await.unwrap();
    assert!(live.version.revoked.is_none());
    assert_eq!(live.version.live(), Some(true));
    assert!(verify_version(&h.ctx, "c", 9, "x").await.is_err(), "an unknown version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_does_not_start_on_a_target_its_registry_refuses() {
    let h = Harness::new().await;
    fleet(&h, 2).await;
    let body = json!({"credential": "global-secret", "batches": [1, "100%"]});
    h.registries.answer(HOST, "v2", Outcome::Invalid);
    let preview = preview_rotation(&h.ctx, &request(body.clone())).await.unwrap();
    assert_eq!(preview.verification.as_ref().unwrap().outcome, Outcome::Invalid);
    assert!(preview.unverified.as_deref().unwrap().contains(HOST), "{:?}", preview.unverified);
    match start_rotation(&h.ctx, request(body.clone()), "test").await {
        Err(RotationError::Unverified(m)) => assert!(m.contains(HOST) && m.contains("invalid (401)"), "{m}"),
        other => panic!("started: {:?}", other.map_err(|e| e.to_string())),
    }
    h.registries.answer(HOST, "v2", Outcome::Unreachable);
    match start_rotation(&h.ctx, request(body.clone()), "test").await {
        Err(RotationError::Unverified(m)) => assert!(m.contains("best-effort"), "{m}"),
        other => panic!("started: {:?}", other.map_err(|e| e.to_string())),
    }
    assert!(h.ctx.store.active_rotations().await.unwrap().is_empty(), "nothing was started");
    let mut best = body.clone();
    best["verify"] = json!("best-effort");
    let id = start_rotation(&h.ctx, request(best), "test").await.expect("best-effort starts on unreachable");
    let events = h.ctx.store.rotation_events(&id, 0).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "target_verified" && e.data["outcome"] == "unreachable"));
    let mut off = body;
    off["verify"] = json!(false);
    h.registries.answer(HOST, "v2", Outcome::Invalid);
    let checks = h.registries.count();
    let preview = preview_rotation(&h.ctx, &request(off)).await.unwrap();
    assert!(preview.verification.is_none() && h.registries.count() == checks, "verify: false asks no registry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_revoked_between_batches_pauses_before_its_pods_restart() {
    let h = Harness::new().await;
    fleet(&h, 3).await;
    let id = start_rotation(
        &h.ctx,
        request(json!({"credential": "global-secret", "batches": [1, "100%"], "gate": "manual"})),
        "test",
    )
    .await
    .unwrap();
    drive_until(&h, &id, |r| r.state == RotationState::WaitingApproval).await;
    h.registries.answer(HOST, "v2", Outcome::Invalid);
    let deletes_before = h.fake("c1").requests().iter().filter(|r| r.verb == "delete" && r.kind == Kind::Pod).count();
    crate::engine::rotation::rotation_command(&h.ctx, &id, "approve", "test").await.unwrap();
    drive_until(&h, &id, |r| r.state != RotationState::Running).await;
    let r = h.ctx.store.get_rotation(&id).await.unwrap();
    assert_eq!(r.state, RotationState::Paused);
    assert!(
        r.error.as_deref().unwrap().contains("did not start") && r.error.as_deref().unwrap().contains(HOST),
        "{:?}",
        r.error
    );
    assert_eq!(r.batches[1].state, BatchState::Pending, "nothing of batch 1 moved");
    for rt in ["rt1", "rt2"] {
        let ctx = h.ctx.store.runtime_context("fleet", rt).await.unwrap();
        assert_eq!(ctx.bindings.get("global-secret"), Some(&1), "{rt} still on version 1");
    }
    let deletes = h.fake("c1").requests().iter().filter(|r| r.verb == "delete" && r.kind == Kind::Pod).count();
    assert_eq!(deletes, deletes_before, "no pod restarted after the revocation");
    // Fixed at the registry, the rotation resumes and finishes.
    h.registries.answer(HOST, "v2", Outcome::Valid);
    crate::engine::rotation::rotation_command(&h.ctx, &id, "resume", "test").await.unwrap();
    drive_until(&h, &id, |r| r.state.is_terminal()).await;
    assert_eq!(h.ctx.store.get_rotation(&id).await.unwrap().state, RotationState::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_can_wait_for_the_old_version_to_be_revoked() {
    let h = Harness::new().await;
    fleet(&h, 2).await;
    let body = json!({"credential": "global-secret", "awaitRevocation": true});
    let id = start_rotation(&h.ctx, request(body), "test").await.unwrap();
    drive_until(&h, &id, |r| r.current_batch as usize >= r.batches.len()).await;
    for _ in 0..5 {
        drive_once(&h.ctx).await.unwrap();
    }
    let r = h.ctx.store.get_rotation(&id).await.unwrap();
    assert_eq!(r.state, RotationState::Running, "the old version is still live");
    let cred = h.ctx.store.get_credential("global-secret").await.unwrap();
    assert_eq!(cred.version_with(crate::store::credentials::Stage::Current).unwrap().version, 2, "labels shifted");
    assert_eq!(cred.versions[0].live(), Some(true), "the driver proved the old version");
    let locks: Vec<String> = h.ctx.store.list_locks().await.unwrap().into_iter().map(|l| l.id).collect();
    assert!(!locks.iter().any(|l| l.starts_with("runtime:")), "no runtime stays locked while it waits: {locks:?}");
    let events: Vec<String> = h.ctx.store.rotation_events(&id, 0).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(events.contains(&"awaiting_revocation".to_string()), "{events:?}");
    h.registries.answer(HOST, "v1", Outcome::Invalid);
    drive_until(&h, &id, |r| r.state.is_terminal()).await;
    assert_eq!(h.ctx.store.get_rotation(&id).await.unwrap().state, RotationState::Succeeded);
    let cred = h.ctx.store.get_credential("global-secret").await.unwrap();
    assert!(cred.versions[0].revoked.as_ref().is_some_and(|r| r.by.starts_with("rotation:")));
}
