//! Replicas of one database: this one announces itself (`store::replicas`), sweeps runs
//! whose process died (their locks lapsed) every few seconds, and work that is
//! spread over replicas is divided by rendezvous hashing over the live ones: each piece of
//! work (a cluster's drift checks) goes to the replica with the highest hash of
//! (work, replica). Every replica computes the same answer from the same list, a replica
//! joining or leaving moves only its own share, and a lease on each piece keeps two
//! replicas from doing it at once while the lists they see differ.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::Context;

/// How often a replica announces itself, and how long an announcement lasts: a replica
/// that stops announcing drops out of the live set within `ANNOUNCE_TTL`.
pub const ANNOUNCE_EVERY: std::time::Duration = std::time::Duration::from_secs(3);
pub const ANNOUNCE_TTL: chrono::Duration = chrono::Duration::seconds(10);

/// The replica among `live` that `work` belongs to (`None` when `live` is empty).
pub fn assigned<'a>(work: &str, live: &'a [String]) -> Option<&'a str> {
    live.iter()
        .max_by_key(|r| {
            let mut h = Sha256::new();
            h.update(work.as_bytes());
            h.update([0]);
            h.update(r.as_bytes());
            let d = h.finalize();
            (u64::from_be_bytes(d[..8].try_into().expect("8 bytes")), r.as_str())
        })
        .map(String::as_str)
}

/// The ids of the live replicas, this one included (it is live while it asks).
pub async fn live(ctx: &Context) -> Result<Vec<String>, crate::store::StoreError> {
    let mut ids: Vec<String> = ctx.store.live_replicas().await?.into_iter().map(|r| r.id).collect();
    if !ids.contains(&ctx.replica) {
        ids.push(ctx.replica.clone());
    }
    Ok(ids)
}

/// Announces this replica every `ANNOUNCE_EVERY` until shutdown.
pub fn spawn_heartbeat(ctx: &Arc<Context>) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    ctx.spawner.clone().spawn(async move {
        loop {
            if ctx.drain.is_draining() {
                break;
            }
            if let Err(e) = ctx.store.heartbeat(&ctx.replica, ANNOUNCE_TTL).await {
                tracing::warn!(error = %e, "could not announce this replica");
            }
            // Runs whose process died (this replica's predecessor, or a peer) lose their
            // locks when the lease lapses; whoever sees it first marks them.
            match ctx.store.fail_lapsed_runs().await {
                Ok(failed) if !failed.is_empty() => {
                    tracing::warn!(runs = ?failed, "runs whose process stopped renewing their locks were marked failed")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not sweep lapsed runs"),
            }
            tokio::time::sleep(ANNOUNCE_EVERY).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::assigned;

    #[test]
    fn work_is_spread_and_only_a_leavers_share_moves() {
        let three: Vec<String> = ["a/1", "b/2", "c/3"].map(String::from).to_vec();
        let work: Vec<String> = (0..300).map(|i| format!("cluster-{i}")).collect();
        let before: Vec<&str> = work.iter().map(|w| assigned(w, &three).unwrap()).collect();
        for r in &three {
            let n = before.iter().filter(|a| **a == r.as_str()).count();
            assert!((60..=140).contains(&n), "{r} got {n} of 300");
        }
        let two: Vec<String> = vec!["a/1".into(), "c/3".into()];
        for (w, b) in work.iter().zip(&before) {
            let after = assigned(w, &two).unwrap();
            if *b != "b/2" {
                assert_eq!(after, *b, "{w} moved though its replica stayed");
            }
        }
        assert_eq!(assigned("x", &[]), None);
    }
}
