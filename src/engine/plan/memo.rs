//! Renderings remembered between plans. A runtime whose inputs did not move since a plan
//! rendered it (the same runtime id, generation, layer revision, dependency revision,
//! renderer, cluster and cluster generation: what a plan's `is_unchanged` and a run's
//! staleness check already take as the whole of a rendering's inputs) renders to the same
//! objects, so a plan need not read and render it again.
//!
//! Used only for a runtime never applied, planned without refresh: then every object it
//! renders is a create and a plan keeps nothing of it but the object's kind, name and
//! digest (its diff is rendered again when the plan is read), the credential Secrets it
//! pulls with, its spec hash and its bindings, which is what the memo holds. A memo that
//! was wrong could not reach a cluster: a run renders again and refuses an object whose
//! digest differs from the plan's.
//!
//! Bounded: past `CAPACITY` runtimes it starts over (a fleet larger than that plans as if
//! there were no memo). Per process: a restart, or another replica, renders again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::domain::kinds::Kind;

/// Runtimes remembered (about 1 KB each).
pub const CAPACITY: usize = 20_000;

/// The inputs of a runtime's rendering.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoKey {
    pub runtime_id: i64,
    pub generation: i64,
    pub layer_revision: i64,
    pub deps_revision: i64,
    pub renderer: &'static str,
    pub cluster: String,
    pub cluster_generation: i64,
}

/// What a never-applied runtime's plan keeps of its rendering.
#[derive(Debug, Clone, Default)]
pub struct Memo {
    pub spec_hash: String,
    pub bindings: BTreeMap<String, u32>,
    /// Every object but the credential Secrets: kind, name, digest (SHA-256, kept as bytes:
    /// half the memory of its hex form, which is what a plan row stores).
    pub objects: Vec<(Kind, String, [u8; 32])>,
    /// The credential Secrets, by name (redacted, as rendered for a plan; shared between
    /// the runtimes of a namespace that pull with the same version).
    pub secrets: Vec<(String, Arc<Value>)>,
}

#[derive(Default)]
pub struct RenderMemo(Mutex<HashMap<MemoKey, Arc<Memo>>>);

impl RenderMemo {
    pub fn get(&self, key: &MemoKey) -> Option<Arc<Memo>> {
        self.0.lock().unwrap().get(key).cloned()
    }

    pub fn put(&self, key: MemoKey, memo: Memo) {
        let mut map = self.0.lock().unwrap();
        if map.len() >= CAPACITY && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, Arc::new(memo));
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64, generation: i64) -> MemoKey {
        MemoKey {
            runtime_id: id,
            generation,
            layer_revision: 1,
            deps_revision: 0,
            renderer: "r",
            cluster: "c1".into(),
            cluster_generation: 1,
        }
    }

    #[test]
    fn a_moved_input_misses_and_a_full_memo_starts_over() {
        let memo = RenderMemo::default();
        memo.put(key(1, 1), Memo { spec_hash: "a".into(), ..Memo::default() });
        assert_eq!(memo.get(&key(1, 1)).unwrap().spec_hash, "a");
        assert!(memo.get(&key(1, 2)).is_none(), "another generation is another rendering");
        for id in 2..=CAPACITY as i64 {
            memo.put(key(id, 1), Memo::default());
        }
        assert_eq!(memo.len(), CAPACITY);
        memo.put(key(1, 1), Memo { spec_hash: "b".into(), ..Memo::default() });
        assert_eq!(memo.len(), CAPACITY, "replacing an entry keeps the rest");
        memo.put(key(0, 1), Memo::default());
        assert_eq!(memo.len(), 1, "past its capacity it starts over");
        assert!(memo.get(&key(1, 1)).is_none());
    }
}
