//! A runtime's rendering inputs, and renderings remembered between plans. A runtime whose
//! [`RenderInputs`] did not move since a plan rendered it (with the same cluster
//! generation) renders to the same objects, so a plan need not read and render it again.
//! The same inputs tell a plan that a runtime is unchanged since it was applied
//! ([`RenderInputs::applied_in`]); a run's staleness check (`Store::plan_staleness`, in
//! SQL) compares the same fields but the renderer, which moves only with the cluster's
//! mode, and so with its generation.
//!
//! Used only for a runtime never applied, planned without refresh: then every object it
//! renders is a create and a plan keeps nothing of it but the object's kind, name and
//! digest (its diff is rendered again when the plan is read), the credential Secrets it
//! pulls with, its spec hash and its bindings, which is what the memo holds. A memo that
//! was wrong could not reach a cluster: a run renders again and refuses an object whose
//! digest differs from the plan's.
//!
//! Bounded: past `CAPACITY` runtimes it starts over (a fleet larger than that plans as if
//! there were no memo). Kept in the database too (`store::renderings`), under a text of
//! its key and of the build ([`BUILD`]: a hash of the source, so a build that renders
//! otherwise keeps nothing of another's): a restarted process, or another replica, reads
//! what a plan kept rather than rendering again. What a plan reads back is what it would
//! have kept: the credential Secrets are kept by name and rendered again (redacted, no
//! data), so nothing secret is written.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::compare::{object_digest, spec_hash};
use crate::domain::fluid::Mode;
use crate::domain::kinds::Kind;
use crate::domain::layers::parse_managed_secret_name;
use crate::domain::render::{CredentialSecret, credential_secret_object};
use crate::service::runtimes::render_redacted;
use crate::store::runtimes::{RuntimeContext, RuntimeHead};
use crate::store::sync::SyncRecord;

/// Runtimes remembered (about 1 KB each).
pub const CAPACITY: usize = 20_000;

/// The build whose renderings these are: a hash of the source it was built from
/// (`build.rs`).
pub const BUILD: &str = env!("FLUIDFORM_SOURCE_HASH");

/// What a runtime's rendering is a function of, besides its cluster's record: the runtime
/// row (a runtime deleted and created again is another), its generation, the revision of
/// its layers and bindings, that of its Dataset or profile, the renderer and the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RenderInputs {
    pub runtime_id: i64,
    pub generation: i64,
    pub layer_revision: i64,
    pub deps_revision: i64,
    pub renderer: &'static str,
    pub cluster: String,
}

impl RenderInputs {
    /// A runtime context's inputs as rendered by `renderer`.
    pub fn of_context(rt: &RuntimeContext, renderer: &'static str) -> Self {
        RenderInputs {
            runtime_id: rt.record.id,
            generation: rt.record.generation,
            layer_revision: rt.layer_revision,
            deps_revision: rt.record.deps_revision,
            renderer,
            cluster: rt.record.cluster.clone(),
        }
    }

    /// A stored runtime's inputs as rendered by `renderer`.
    pub fn of(h: &RuntimeHead, renderer: &'static str) -> Self {
        RenderInputs {
            runtime_id: h.id,
            generation: h.generation,
            layer_revision: h.layer_revision,
            deps_revision: h.deps_revision,
            renderer,
            cluster: h.cluster.clone(),
        }
    }

    /// Whether these are the inputs last applied, as its sync record holds them.
    pub fn applied_in(&self, s: &SyncRecord) -> bool {
        s.cluster == self.cluster
            && s.applied_generation == Some(self.generation)
            && s.applied_layer_revision == Some(self.layer_revision)
            && s.applied_deps_revision.unwrap_or(0) == self.deps_revision
            && s.applied_render.as_deref() == Some(self.renderer)
            && s.applied_runtime_id == Some(self.runtime_id)
    }
}

/// A remembered rendering's key: its inputs and the cluster's generation (a cluster's
/// default pull secrets and mode are in its record).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoKey {
    pub inputs: RenderInputs,
    pub cluster_generation: i64,
}

impl MemoKey {
    /// The key as kept in the database, with the build.
    pub fn text(&self) -> String {
        let i = &self.inputs;
        format!(
            "{BUILD} {} {} {} {} {} {} {}",
            i.runtime_id,
            i.generation,
            i.layer_revision,
            i.deps_revision,
            i.renderer,
            self.cluster_generation,
            i.cluster
        )
    }
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

/// A memo as kept in the database: `secrets` by name only.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    spec_hash: String,
    bindings: BTreeMap<String, u32>,
    /// Kind, name, hex digest.
    objects: Vec<(String, String, String)>,
    secrets: Vec<String>,
}

impl Memo {
    /// The memo as kept in the database.
    pub fn to_text(&self) -> String {
        let kept = Kept {
            spec_hash: self.spec_hash.clone(),
            bindings: self.bindings.clone(),
            objects: self.objects.iter().map(|(k, n, d)| (k.as_str().to_string(), n.clone(), hex::encode(d))).collect(),
            secrets: self.secrets.iter().map(|(n, _)| n.clone()).collect(),
        };
        serde_json::to_string(&kept).expect("a memo serializes")
    }

    /// Takes each credential Secret from `shared` when an equal one is there, else puts
    /// it there: the memos of a namespace hold one copy of each.
    pub fn share_secrets(&mut self, shared: &mut BTreeMap<String, Arc<Value>>) {
        for (name, object) in &mut self.secrets {
            let s = shared.entry(name.clone()).or_insert_with(|| object.clone());
            if **s == **object {
                *object = s.clone();
            }
        }
    }

    /// A memo read back from `to_text`, its credential Secrets rendered again (redacted) for
    /// `namespace` or taken from `shared` when rendered already; `None` if it does not read.
    pub fn from_text(text: &str, namespace: &str, shared: &mut BTreeMap<String, Arc<Value>>) -> Option<Memo> {
        let kept: Kept = serde_json::from_str(text).ok()?;
        let mut objects = Vec::with_capacity(kept.objects.len());
        for (kind, name, digest) in kept.objects {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(&digest, &mut bytes).ok()?;
            objects.push((Kind::parse(&kind)?, name, bytes));
        }
        let mut secrets = Vec::with_capacity(kept.secrets.len());
        for name in kept.secrets {
            let object = match shared.get(&name) {
                Some(o) => o.clone(),
                None => {
                    let (credential, version) = parse_managed_secret_name(&name)?;
                    let secret = CredentialSecret { credential: credential.into(), version, dockerconfigjson: None };
                    let o = Arc::new(credential_secret_object(namespace, &secret).object);
                    shared.insert(name.clone(), o.clone());
                    o
                }
            };
            secrets.push((name, object));
        }
        Some(Memo { spec_hash: kept.spec_hash, bindings: kept.bindings, objects, secrets })
    }
}

impl Memo {
    /// What a plan keeps of a never-applied runtime planned without refresh, rendered for a
    /// cluster in `mode`: every object a create, kept by kind, name and digest, and the
    /// credential Secrets it pulls with.
    pub fn rendered(rt: &RuntimeContext, mode: Mode) -> crate::service::Result<Memo> {
        let mut memo = Memo { spec_hash: spec_hash(rt), bindings: rt.bindings.clone(), ..Memo::default() };
        for o in render_redacted(rt, mode)? {
            let kind = Kind::parse(&o.kind).unwrap_or(Kind::ConfigMap);
            if kind == Kind::Secret {
                memo.secrets.push((o.name, Arc::new(o.object)));
                continue;
            }
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(object_digest(&o.object), &mut bytes).expect("a digest is 32 bytes of hex");
            memo.objects.push((kind, o.name, bytes));
        }
        Ok(memo)
    }
}

/// One rendering per runtime: a newer one (another generation, say) takes the place of
/// the one before, so a runtime written again and again holds one entry.
#[derive(Default)]
pub struct RenderMemo(Mutex<HashMap<i64, (MemoKey, Arc<Memo>)>>);

impl RenderMemo {
    pub fn get(&self, key: &MemoKey) -> Option<Arc<Memo>> {
        let map = self.0.lock().unwrap();
        map.get(&key.inputs.runtime_id).filter(|(k, _)| k == key).map(|(_, m)| m.clone())
    }

    pub fn put(&self, key: MemoKey, memo: Memo) {
        let mut map = self.0.lock().unwrap();
        let id = key.inputs.runtime_id;
        if map.len() >= CAPACITY && !map.contains_key(&id) {
            map.clear();
        }
        map.insert(id, (key, Arc::new(memo)));
    }

    /// Forgets every rendering.
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
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
        let inputs = RenderInputs {
            runtime_id: id,
            generation,
            layer_revision: 1,
            deps_revision: 0,
            renderer: "r",
            cluster: "c1".into(),
        };
        MemoKey { inputs, cluster_generation: 1 }
    }

    /// Unchanged since applied only while every input holds: each one moved alone makes
    /// the runtime render again.
    #[test]
    fn a_runtime_is_unchanged_only_while_every_input_it_was_applied_with_holds() {
        let head = RuntimeHead {
            id: 7,
            namespace: "ns".into(),
            name: "rt".into(),
            cluster: "c1".into(),
            generation: 3,
            layer_revision: 4,
            deps_revision: 2,
            labels: BTreeMap::new(),
        };
        let applied = SyncRecord {
            cluster: "c1".into(),
            applied_generation: Some(3),
            applied_layer_revision: Some(4),
            applied_deps_revision: Some(2),
            applied_render: Some("r1".into()),
            applied_runtime_id: Some(7),
            ..SyncRecord::default()
        };
        assert!(RenderInputs::of(&head, "r1").applied_in(&applied));
        assert!(!RenderInputs::of(&head, "r2").applied_in(&applied), "another renderer");
        let moved: [fn(&mut SyncRecord); 6] = [
            |s| s.cluster = "c2".into(),
            |s| s.applied_generation = Some(2),
            |s| s.applied_layer_revision = None,
            |s| s.applied_deps_revision = Some(1),
            |s| s.applied_render = None,
            |s| s.applied_runtime_id = Some(6),
        ];
        for (i, m) in moved.iter().enumerate() {
            let mut s = applied.clone();
            m(&mut s);
            assert!(!RenderInputs::of(&head, "r1").applied_in(&s), "input {i} moved");
        }
        let never = SyncRecord { applied_deps_revision: None, ..applied.clone() };
        let head0 = RuntimeHead { deps_revision: 0, ..head.clone() };
        assert!(RenderInputs::of(&head0, "r1").applied_in(&never), "no dependency revision recorded is 0");
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
        memo.put(key(1, 2), Memo { spec_hash: "c".into(), ..Memo::default() });
        assert_eq!(memo.len(), CAPACITY, "a runtime's newer rendering takes its older one's place");
        assert!(memo.get(&key(1, 1)).is_none());
        assert_eq!(memo.get(&key(1, 2)).unwrap().spec_hash, "c");
        memo.put(key(0, 1), Memo::default());
        assert_eq!(memo.len(), 1, "past its capacity it starts over");
        assert!(memo.get(&key(1, 1)).is_none());
    }
}
