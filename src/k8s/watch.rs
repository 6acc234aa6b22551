//! A watch per cluster of the StatefulSets, DaemonSets and pods that carry a `release`
//! label (the workloads of every runtime, fluidform's or Fluid's), kept in memory so that a
//! rotation's looks while its pods restart cost no LIST: the API server sends only what
//! changed, and each change is parsed once.
//!
//! The watch starts at the first fresh rollout read of a cluster (`Cluster::rollout(s)`),
//! stops when nothing asked it anything for `IDLE`, and stops for good (until the
//! cluster's record changes) when the credentials may not list or watch across
//! namespaces. While it is not up, `answer` gives nothing and reads go on by LIST.
//!
//! An answer from it is given only when it cannot be older than what this process knows:
//! - all three kinds are listed and being watched;
//! - each kind has seen a resourceVersion at least as high as every object of that kind
//!   that this process read fresh (LIST items) or wrote (server-side apply, pull-secret
//!   patch). Those are objects the watch selects, so it reaches their revisions whatever
//!   else the cluster writes. (resourceVersions are compared as numbers, as etcd's
//!   revisions are; an API server whose versions are not numbers turns the watch off.)
//! - no pod in the answer that this process deleted shows as live.
//!
//! What another process wrote is not known here: the rotation driver asks for a fresh read
//! at a rotation's first look in this process and after each step that moved it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::pin::pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::core::WatchEvent;
use serde::de::DeserializeOwned;

use super::rollout::{self, PodItem, WorkloadItem};
use crate::domain::kinds::Kind;
use crate::domain::rollout::{Pod, RolloutState, Workload};

/// A watch nothing asked anything for this long stops.
const IDLE: Duration = Duration::from_secs(120);
/// Each watch request ends after this (below the client's 30 s read timeout) and the next
/// goes on from where it ended.
const WATCH_SECONDS: u32 = 25;
/// The wait before listing again after a failed list or watch.
const RETRY: Duration = Duration::from_secs(1);
/// How long a deleted pod is remembered for the third rule.
const REMEMBER_DELETED: Duration = Duration::from_secs(300);
/// What the watch selects.
const SELECTOR: &str = "release";

/// The kinds a rollout reads, in the order of `State::kinds`.
const KINDS: [Kind; 3] = [Kind::StatefulSet, Kind::DaemonSet, Kind::Pod];

fn slot(kind: Kind) -> Option<usize> {
    KINDS.iter().position(|k| *k == kind)
}

#[derive(Clone)]
enum Entry {
    Workload(Workload),
    Pod(Pod),
}

impl Entry {
    fn release(&self) -> Option<&str> {
        let labels = match self {
            Entry::Workload(w) => &w.labels,
            Entry::Pod(p) => &p.labels,
        };
        labels.get(SELECTOR).map(String::as_str)
    }
}

#[derive(Default)]
struct Cache {
    synced: bool,
    rv: u64,
    items: HashMap<(String, String), Entry>,
    by_release: HashMap<String, BTreeSet<(String, String)>>,
}

impl Cache {
    fn put(&mut self, key: (String, String), entry: Entry) {
        self.remove(&key);
        if let Some(r) = entry.release() {
            self.by_release.entry(r.to_string()).or_default().insert(key.clone());
        }
        self.items.insert(key, entry);
    }

    fn remove(&mut self, key: &(String, String)) {
        if let Some(old) = self.items.remove(key)
            && let Some(r) = old.release()
            && let Some(keys) = self.by_release.get_mut(r)
        {
            keys.remove(key);
            if keys.is_empty() {
                self.by_release.remove(r);
            }
        }
    }
}

#[derive(Default)]
struct State {
    running: bool,
    /// Listing or watching across namespaces was refused, or versions are not numbers.
    off: bool,
    /// A kind's watch ended: the others end too, and nothing is answered until it starts
    /// again.
    ending: bool,
    last_used: Option<Instant>,
    kinds: [Cache; 3],
    /// Per kind, the highest resourceVersion this process read fresh or wrote.
    floor: [u64; 3],
    /// Pods this process deleted (by uid), and when.
    deleted: HashMap<String, Instant>,
}

impl State {
    fn stopping(&self) -> bool {
        self.off || self.ending || self.last_used.is_none_or(|t| t.elapsed() > IDLE)
    }

    fn stop(&mut self) {
        self.running = false;
        self.ending = false;
        self.kinds = Default::default();
    }
}

/// One cluster's watch (in the per-cluster client, so it ends with it).
#[derive(Default)]
pub struct Watches(Arc<Mutex<State>>);

fn version(rv: &str) -> Option<u64> {
    rv.parse().ok()
}

impl Watches {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().expect("watch state lock")
    }

    /// The rollout state of the releases wanted in each namespace, if the watch can give it
    /// (see the module doc); namespaces with nothing matching are absent.
    pub fn answer(&self, namespaces: &BTreeMap<&str, BTreeSet<&str>>) -> Option<BTreeMap<String, RolloutState>> {
        let mut s = self.lock();
        s.last_used = Some(Instant::now());
        if !s.running || s.off || s.ending {
            return None;
        }
        for (i, cache) in s.kinds.iter().enumerate() {
            if !cache.synced || cache.rv < s.floor[i] {
                return None;
            }
        }
        let mut out: BTreeMap<String, RolloutState> = BTreeMap::new();
        for (ns, releases) in namespaces {
            for cache in &s.kinds {
                for release in releases {
                    let Some(keys) = cache.by_release.get(*release) else { continue };
                    for key in keys.iter().filter(|(n, _)| n == ns) {
                        match &cache.items[key] {
                            Entry::Workload(w) => out.entry(ns.to_string()).or_default().workloads.push(w.clone()),
                            Entry::Pod(p) => {
                                if !p.deleting && s.deleted.contains_key(&p.uid) {
                                    return None;
                                }
                                out.entry(ns.to_string()).or_default().pods.push(p.clone())
                            }
                        }
                    }
                }
            }
        }
        Some(out)
    }

    /// This process read or wrote objects of `kind` at these resourceVersions.
    pub fn saw<'a>(&self, kind: Kind, rvs: impl IntoIterator<Item = &'a str>) {
        let Some(i) = slot(kind) else { return };
        let mut rvs = rvs.into_iter().peekable();
        if rvs.peek().is_none() {
            return;
        }
        let mut s = self.lock();
        for rv in rvs {
            match version(rv) {
                Some(v) => s.floor[i] = s.floor[i].max(v),
                None => s.off = true,
            }
        }
    }

    /// This process is about to delete the pod of that uid.
    pub fn deleting_pod(&self, uid: &str) {
        let mut s = self.lock();
        s.deleted.retain(|_, at| at.elapsed() < REMEMBER_DELETED);
        s.deleted.insert(uid.to_string(), Instant::now());
    }

    /// Starts the watch if it is not running (and may run), on `spawner` (else on the
    /// current runtime).
    pub fn ensure(&self, client: &kube::Client, cluster: &str, spawner: Option<&tokio::runtime::Handle>) {
        let mut s = self.lock();
        s.last_used = Some(Instant::now());
        if s.running || s.off {
            return;
        }
        let Some(runtime) = spawner.cloned().or_else(|| tokio::runtime::Handle::try_current().ok()) else { return };
        s.running = true;
        let state = Arc::downgrade(&self.0);
        let client = client.clone();
        let cluster = cluster.to_string();
        runtime.spawn(async move {
            let (state, client, cluster) = (&state, &client, &cluster);
            futures::future::join_all((0..KINDS.len()).map(|i| async move {
                run(state.clone(), client.clone(), cluster, i).await;
                if let Some(state) = state.upgrade() {
                    let mut s = state.lock().expect("watch state lock");
                    s.ending = true;
                    s.kinds[i].synced = false;
                }
            }))
            .await;
            if let Some(state) = state.upgrade() {
                state.lock().expect("watch state lock").stop();
            }
            tracing::debug!(cluster, "rollout watch stopped");
        });
    }
}

/// Whether the watch of kind `i` should go on; false also when the cluster's client is gone.
fn going(state: &Weak<Mutex<State>>) -> Option<Arc<Mutex<State>>> {
    let state = state.upgrade()?;
    let stop = state.lock().expect("watch state lock").stopping();
    (!stop).then_some(state)
}

fn refused(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 401 || s.code == 403)
}

/// Lists and then watches kind `i` until the watch stops.
async fn run(state: Weak<Mutex<State>>, client: kube::Client, cluster: &str, i: usize) {
    let kind = KINDS[i];
    'list: while let Some(st) = going(&state) {
        let listed = match kind {
            Kind::Pod => list::<PodItem>(&client, kind).await,
            _ => list::<WorkloadItem>(&client, kind).await,
        };
        let rv = match listed {
            Ok((entries, rv)) => {
                let mut s = st.lock().expect("watch state lock");
                let Some(v) = version(&rv) else {
                    s.off = true;
                    return;
                };
                let mut cache = Cache { synced: true, rv: v, ..Default::default() };
                for (key, _, entry) in entries {
                    cache.put(key, entry);
                }
                s.kinds[i] = cache;
                v
            }
            Err(e) => {
                tracing::info!(cluster, %kind, error = %e, "could not list for the rollout watch");
                if refused(&e) {
                    st.lock().expect("watch state lock").off = true;
                    return;
                }
                drop(st);
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        drop(st);
        let mut rv = rv;
        // Watch from `rv`, again and again, until something needs a new list.
        loop {
            if going(&state).is_none() {
                return;
            }
            let mut received = 0;
            let began = Instant::now();
            let events = match kind {
                Kind::Pod => watch::<PodItem>(&state, &client, kind, i, &mut rv, &mut received).await,
                _ => watch::<WorkloadItem>(&state, &client, kind, i, &mut rv, &mut received).await,
            };
            crate::metrics::watch_events(cluster, kind.as_str(), received);
            match events {
                Ok(()) => {
                    // A watch the API server ends at once, with nothing in it, is not asked
                    // for again straight away.
                    if received == 0 && began.elapsed() < RETRY {
                        tokio::time::sleep(RETRY).await;
                    }
                    continue;
                }
                Err(why) => {
                    tracing::debug!(cluster, %kind, why, "listing again for the rollout watch");
                    if let Some(st) = state.upgrade() {
                        st.lock().expect("watch state lock").kinds[i].synced = false;
                    }
                    if why != "expired" {
                        tokio::time::sleep(RETRY).await;
                    }
                    continue 'list;
                }
            }
        }
    }
}

trait Item: DeserializeOwned + Clone + Send + 'static {
    fn entry(self, kind: Kind) -> ((String, String), String, Entry);
}

impl Item for WorkloadItem {
    fn entry(self, kind: Kind) -> ((String, String), String, Entry) {
        let key = (self.metadata.namespace.clone(), self.metadata.name.clone());
        let rv = self.metadata.resource_version.clone();
        let ns = key.0.clone();
        (key, rv, Entry::Workload(rollout::workload(kind, &ns, self)))
    }
}

impl Item for PodItem {
    fn entry(self, _: Kind) -> ((String, String), String, Entry) {
        let key = (self.metadata.namespace.clone(), self.metadata.name.clone());
        let rv = self.metadata.resource_version.clone();
        (key, rv, Entry::Pod(rollout::pod(self)))
    }
}

async fn list<T: Item + std::fmt::Debug>(
    client: &kube::Client,
    kind: Kind,
) -> Result<(Vec<((String, String), String, Entry)>, String), kube::Error> {
    let (items, rv) = super::list_pages::<T>(client, kind, "", SELECTOR, None).await?;
    Ok((items.into_iter().map(|t| t.entry(kind)).collect(), rv))
}

/// One watch request from `rv`, applying its events; `Err` when a new list is needed
/// (`"expired"` when the API server no longer has `rv`).
async fn watch<T: Item>(
    state: &Weak<Mutex<State>>,
    client: &kube::Client,
    kind: Kind,
    i: usize,
    rv: &mut u64,
    received: &mut u64,
) -> Result<(), &'static str> {
    let uri = format!(
        "{}?watch=1&allowWatchBookmarks=true&timeoutSeconds={WATCH_SECONDS}&labelSelector={SELECTOR}&resourceVersion={rv}",
        super::collection_path(kind, "")
    );
    let req = http::Request::get(uri).body(Vec::new()).map_err(|_| "request")?;
    let stream = client.request_events::<T>(req).await.map_err(|e| if refused(&e) { "refused" } else { "failed" })?;
    let mut stream = pin!(stream);
    while let Some(event) = stream.next().await {
        *received += 1;
        let Some(st) = state.upgrade() else { return Ok(()) };
        let mut s = st.lock().expect("watch state lock");
        let event = event.map_err(|_| "broken")?;
        let (key, version_of, entry, gone) = match event {
            WatchEvent::Added(t) | WatchEvent::Modified(t) => {
                let (key, v, entry) = t.entry(kind);
                (key, v, Some(entry), false)
            }
            WatchEvent::Deleted(t) => {
                let (key, v, entry) = t.entry(kind);
                (key, v, Some(entry), true)
            }
            WatchEvent::Bookmark(b) => {
                let v = version(&b.metadata.resource_version).ok_or("version")?;
                s.kinds[i].rv = s.kinds[i].rv.max(v);
                continue;
            }
            WatchEvent::Error(status) if status.code == 410 => return Err("expired"),
            WatchEvent::Error(_) => return Err("error event"),
        };
        let Some(v) = version(&version_of) else {
            s.off = true;
            return Err("version");
        };
        if let Some(Entry::Pod(p)) = &entry
            && (gone || p.deleting)
        {
            s.deleted.remove(&p.uid);
        }
        let cache = &mut s.kinds[i];
        match (gone, entry) {
            (true, _) => cache.remove(&key),
            (false, Some(e)) => cache.put(key, e),
            (false, None) => {}
        }
        cache.rv = cache.rv.max(v);
        *rv = cache.rv;
        if s.stopping() {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(release: &str) -> BTreeMap<String, String> {
        [("release".to_string(), release.to_string())].into()
    }

    fn workload(ns: &str, name: &str, release: &str) -> ((String, String), Entry) {
        let w = Workload {
            kind: Some(Kind::StatefulSet),
            namespace: ns.into(),
            name: name.into(),
            labels: labels(release),
            ..Default::default()
        };
        ((ns.into(), name.into()), Entry::Workload(w))
    }

    fn pod(ns: &str, name: &str, uid: &str, release: &str, deleting: bool) -> ((String, String), Entry) {
        let p = Pod { name: name.into(), uid: uid.into(), labels: labels(release), deleting, ..Default::default() };
        ((ns.into(), name.into()), Entry::Pod(p))
    }

    /// A watch up and listed at revision 10, holding runtime `a` in two namespaces and `b`.
    fn listed() -> Watches {
        let w = Watches::default();
        {
            let mut s = w.lock();
            s.running = true;
            for cache in &mut s.kinds {
                cache.synced = true;
                cache.rv = 10;
            }
            for (key, e) in
                [workload("n1", "a-master", "a"), workload("n2", "a-master", "a"), workload("n1", "b-master", "b")]
            {
                s.kinds[0].put(key, e);
            }
            let (key, e) = pod("n1", "a-master-0", "u1", "a", false);
            s.kinds[2].put(key, e);
        }
        w
    }

    fn scope<'a>(pairs: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, BTreeSet<&'a str>> {
        let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (ns, rt) in pairs {
            out.entry(*ns).or_default().insert(*rt);
        }
        out
    }

    #[test]
    fn an_answer_holds_the_releases_wanted_in_each_namespace_only() {
        let w = listed();
        let got = w.answer(&scope(&[("n1", "a"), ("n2", "b")])).expect("answers");
        assert_eq!(got.keys().collect::<Vec<_>>(), ["n1"], "n2 holds no b");
        let names: Vec<_> = got["n1"].workloads.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["a-master"]);
        assert_eq!(got["n1"].pods.len(), 1);
    }

    #[test]
    fn no_answer_before_every_kind_is_listed_or_while_one_is_behind_what_was_seen() {
        let w = listed();
        let wanted = scope(&[("n1", "a")]);
        w.lock().kinds[1].synced = false;
        assert!(w.answer(&wanted).is_none(), "DaemonSets not listed yet");
        w.lock().kinds[1].synced = true;
        // A fresh LIST (or a write) saw a pod at revision 12; the watch is at 10.
        w.saw(Kind::Pod, ["12"]);
        assert!(w.answer(&wanted).is_none(), "behind a pod seen at 12");
        w.lock().kinds[2].rv = 12;
        assert!(w.answer(&wanted).is_some(), "caught up");
        // Kinds the watch does not hold raise nothing.
        w.saw(Kind::ConfigMap, ["99"]);
        assert!(w.answer(&wanted).is_some());
        w.lock().ending = true;
        assert!(w.answer(&wanted).is_none(), "one kind's watch ended");
    }

    #[test]
    fn a_pod_deleted_here_holds_the_answer_back_until_the_watch_shows_it_going() {
        let w = listed();
        let wanted = scope(&[("n1", "a")]);
        w.deleting_pod("u1");
        assert!(w.answer(&wanted).is_none(), "the watch still shows u1 live");
        // Another namespace's answer is not held back by it.
        assert!(w.answer(&scope(&[("n2", "a")])).is_some());
        let (key, e) = pod("n1", "a-master-0", "u1", "a", true);
        w.lock().kinds[2].put(key.clone(), e);
        let got = w.answer(&wanted).expect("u1 shows deleting");
        assert!(got["n1"].pods[0].deleting);
        // Its replacement (same name, another uid) is live.
        let (key, e) = pod("n1", "a-master-0", "u2", "a", false);
        w.lock().kinds[2].put(key, e);
        assert_eq!(w.answer(&wanted).expect("answers").get("n1").map(|s| s.pods[0].uid.as_str()), Some("u2"));
    }

    #[test]
    fn a_relabelled_or_removed_object_leaves_its_old_release() {
        let w = listed();
        let (key, e) = workload("n1", "a-master", "c");
        w.lock().kinds[0].put(key.clone(), e);
        let got = w.answer(&scope(&[("n1", "a"), ("n1", "c")])).expect("answers");
        let names: Vec<_> = got["n1"].workloads.iter().map(|w| w.labels["release"].as_str()).collect();
        assert_eq!(names, ["c"], "once, under its new release");
        w.lock().kinds[0].remove(&key);
        assert!(!w.lock().kinds[0].by_release.contains_key("c"));
        assert!(!w.answer(&scope(&[("n1", "c")])).expect("answers").contains_key("n1"));
    }

    #[test]
    fn versions_that_are_not_numbers_turn_the_watch_off() {
        let w = listed();
        w.saw(Kind::StatefulSet, ["abc"]);
        assert!(w.answer(&scope(&[("n1", "a")])).is_none());
        assert!(w.lock().stopping());
    }
}
