//! The schedule a rotation's pacing gives, before it runs: per batch its pods per cluster,
//! how many restart waves they take (`maxUnavailable` per workload, components in order,
//! `maxRestartingPerCluster` across a cluster), when it would start and how long it would
//! take. Pure: the preview feeds it the pods it found live.

use std::collections::BTreeMap;

use serde::Serialize;

/// Seconds assumed for applying a batch's objects.
pub const APPLY_SECONDS: u64 = 5;
/// Seconds assumed for one pod to be replaced and turn ready.
pub const POD_RESTART_SECONDS: u64 = 30;

/// The pods a batch restarts: per cluster, per runtime, per restarted component in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchLoad {
    pub clusters: BTreeMap<String, Vec<Vec<usize>>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    pub max_unavailable: usize,
    pub max_restarting_per_cluster: Option<usize>,
    pub batch_interval: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledBatch {
    pub batch: usize,
    pub runtimes: usize,
    pub pods: usize,
    pub pods_by_cluster: BTreeMap<String, usize>,
    /// Rounds of pod replacements the slowest cluster needs.
    pub restart_waves: usize,
    /// Seconds after the rotation's start the batch would start (approvals not counted).
    pub starts_after_seconds: u64,
    pub estimated_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EstimateBasis {
    pub apply_seconds: u64,
    pub pod_restart_seconds: u64,
    pub batch_interval_seconds: u64,
    /// True when a manual gate adds waits the estimate cannot know.
    pub excludes_approvals: bool,
}

/// Waves a cluster needs: each runtime's components go one after another, each
/// `max_unavailable` pods at a time; all runtimes share the cluster's cap.
fn cluster_waves(runtimes: &[Vec<usize>], p: &Pacing) -> usize {
    let per_workload = p.max_unavailable.max(1);
    let serial = runtimes.iter().map(|comps| comps.iter().map(|n| n.div_ceil(per_workload)).sum()).max().unwrap_or(0);
    let total: usize = runtimes.iter().flatten().sum();
    let capped = p.max_restarting_per_cluster.map_or(0, |cap| total.div_ceil(cap.max(1)));
    serial.max(capped)
}

/// The schedule of `batches` under `pacing`, and the total estimated seconds.
pub fn schedule(batches: &[BatchLoad], runtimes: &[usize], pacing: &Pacing) -> (Vec<ScheduledBatch>, u64) {
    let mut out = Vec::with_capacity(batches.len());
    let mut at = 0u64;
    for (i, b) in batches.iter().enumerate() {
        if i > 0 {
            at += pacing.batch_interval;
        }
        let waves = b.clusters.values().map(|rts| cluster_waves(rts, pacing)).max().unwrap_or(0);
        let pods_by_cluster: BTreeMap<String, usize> =
            b.clusters.iter().map(|(c, rts)| (c.clone(), rts.iter().flatten().sum())).collect();
        let secs = APPLY_SECONDS + waves as u64 * POD_RESTART_SECONDS;
        out.push(ScheduledBatch {
            batch: i,
            runtimes: runtimes.get(i).copied().unwrap_or(0),
            pods: pods_by_cluster.values().sum(),
            pods_by_cluster,
            restart_waves: waves,
            starts_after_seconds: at,
            estimated_seconds: secs,
        });
        at += secs;
    }
    (out, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(clusters: &[(&str, Vec<Vec<usize>>)]) -> BatchLoad {
        BatchLoad { clusters: clusters.iter().map(|(c, r)| (c.to_string(), r.clone())).collect() }
    }

    #[test]
    fn waves_follow_the_caps_and_the_interval_spaces_batches() {
        let uncapped = Pacing { max_unavailable: 1, max_restarting_per_cluster: None, batch_interval: 0 };
        // One runtime: master 1, worker 2, fuse 2 → 1 + 2 + 2 waves, one after another.
        assert_eq!(cluster_waves(&[vec![1, 2, 2]], &uncapped), 5);
        // Four such runtimes go in parallel without a cap…
        let four = vec![vec![1, 2, 2]; 4];
        assert_eq!(cluster_waves(&four, &uncapped), 5);
        // …and a cluster cap of 2 spreads their 20 pods over 10 waves.
        let capped = Pacing { max_restarting_per_cluster: Some(2), ..uncapped };
        assert_eq!(cluster_waves(&four, &capped), 10);
        let wide = Pacing { max_unavailable: 2, ..uncapped };
        assert_eq!(cluster_waves(&[vec![1, 2, 2]], &wide), 3);

        let paced = Pacing { batch_interval: 60, ..capped };
        let batches = [load(&[("a", vec![vec![1, 1, 2]])]), load(&[("a", four.clone()), ("b", vec![vec![1]])])];
        let (s, total) = schedule(&batches, &[1, 5], &paced);
        assert_eq!(s[0].restart_waves, 4);
        assert_eq!(s[0].estimated_seconds, APPLY_SECONDS + 4 * POD_RESTART_SECONDS);
        assert_eq!(s[1].starts_after_seconds, s[0].estimated_seconds + 60, "the interval after the first batch");
        assert_eq!(s[1].pods_by_cluster, BTreeMap::from([("a".to_string(), 20), ("b".to_string(), 1)]));
        assert_eq!(s[1].restart_waves, 10, "the slowest cluster sets the pace");
        assert_eq!((s[1].runtimes, s[1].pods), (5, 21));
        assert_eq!(total, s[1].starts_after_seconds + s[1].estimated_seconds);
    }
}
