//! Renders runtimes as they are written, ahead of the first plan: a runtime stored with
//! `PUT` is rendered in the background, and what a plan would keep of it (`memo`) is
//! remembered and kept in the database, so the first plan of a fleet just written reads
//! it instead of rendering every runtime. What it keeps is keyed by the same inputs a plan
//! checks: a runtime, cluster or layer that moved after it was rendered is rendered again
//! by the plan, as before. Only runtimes never applied are rendered (only their plans read
//! what is kept); a write's answer never waits for it, and what it could not render
//! (an error, a shutdown) is left to the plan.
//!
//! Written runtimes are taken in groups: the first wakes the task, which waits `GATHER`
//! for others, then reads their contexts a few statements per `CHUNK`, renders them and
//! keeps the lot in one commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::memo::{Memo, MemoKey, RenderInputs};
use crate::domain::fluid::Mode;
use crate::engine::Context;
use crate::service::runtimes::renderer;
use crate::store::StoreError;
use crate::store::renderings::Rendering;

/// How long the first written runtime waits for others to be rendered with it.
const GATHER: Duration = Duration::from_millis(50);
/// Runtimes read and rendered together.
const CHUNK: usize = 400;
/// Runtimes waiting at most; past it the oldest are left to the plan.
const QUEUE: usize = 50_000;

/// Runtimes written and not rendered yet.
#[derive(Default)]
pub struct Wanted {
    ids: Mutex<Vec<i64>>,
    notify: tokio::sync::Notify,
}

impl Wanted {
    /// Asks for runtime `id` to be rendered.
    pub fn want(&self, id: i64) {
        let mut ids = self.ids.lock().unwrap();
        if ids.len() >= QUEUE {
            ids.remove(0);
        }
        ids.push(id);
        drop(ids);
        self.notify.notify_one();
    }

    fn take(&self) -> Vec<i64> {
        let mut ids = std::mem::take(&mut *self.ids.lock().unwrap());
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Renders written runtimes until shutdown.
pub fn spawn_warmer(ctx: &Arc<Context>) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    ctx.spawner.clone().spawn(async move {
        loop {
            ctx.warm.notify.notified().await;
            tokio::time::sleep(GATHER).await;
            let Some(_work) = ctx.drain.enter() else { break };
            let ids = ctx.warm.take();
            if let Err(e) = warm(&ctx, &ids).await {
                tracing::warn!(error = %e, runtimes = ids.len(), "could not render written runtimes ahead of a plan");
            }
        }
    })
}

/// Renders these runtimes (those never applied, not remembered already) and keeps what a
/// plan would; returns how many it rendered.
pub async fn warm(ctx: &Context, ids: &[i64]) -> Result<usize, StoreError> {
    let store = &ctx.store;
    let mut rendered = 0;
    for chunk in ids.chunks(CHUNK) {
        // The clusters first: a context read after its cluster moved renders with the
        // cluster it is keyed by, so what is kept agrees with itself.
        let clusters: HashMap<String, crate::store::clusters::ClusterRecord> =
            store.list_clusters().await?.into_iter().map(|c| (c.name.clone(), c)).collect();
        let applied = store.applied_runtime_ids(chunk).await?;
        let wanted: Vec<i64> = chunk.iter().copied().filter(|id| !applied.contains(id)).collect();
        let defaults = |c: &str| clusters.get(c).map(|c| c.default_image_pull_secrets.clone()).unwrap_or_default();
        let contexts = store.runtime_contexts_by_id(&wanted, defaults).await?;
        let mut keep = Vec::new();
        // The runtimes of a namespace pulling with one credential version hold one copy of
        // its Secret, as a plan's memos do.
        let mut secrets: HashMap<String, std::collections::BTreeMap<String, Arc<serde_json::Value>>> = HashMap::new();
        for rt in &contexts {
            let Some(cluster) = clusters.get(&rt.record.cluster) else { continue };
            let mode = cluster.effective_mode().unwrap_or(Mode::Standalone);
            let key = MemoKey {
                inputs: RenderInputs::of_context(rt, renderer(mode)),
                cluster_generation: cluster.generation,
            };
            if ctx.renders.get(&key).is_some() {
                continue;
            }
            let Ok(mut memo) = Memo::rendered(rt, mode) else { continue };
            memo.share_secrets(secrets.entry(rt.record.namespace.clone()).or_default());
            keep.push(Rendering { runtime_id: rt.record.id, inputs: key.text(), memo: memo.to_text() });
            ctx.renders.put(key, memo);
            rendered += 1;
        }
        store.put_renderings(&keep).await?;
    }
    Ok(rendered)
}
