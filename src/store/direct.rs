//! Reads on the calling thread, for the hottest point reads on SQLite.
//!
//! sqlx runs each SQLite connection on a worker thread of its own: every statement is sent
//! to it over a channel and its rows come back over another, two thread hand-offs per
//! statement. For a point read of a few dozen microseconds the hand-offs cost more than the
//! read (`GET /v1/runtimes/{ns}/{name}` under load spent a third of its time in the
//! kernel's task switch). `DirectReads` keeps a few read-only connections of the same file
//! (same bundled SQLite, through rusqlite) and runs the statement on the caller's thread.
//!
//! What it keeps:
//! - **Coherence.** In WAL mode a statement outside a transaction reads the last committed
//!   state, as the sqlx readers do: a write committed before the read started is seen.
//! - **No writes.** Connections open read-only and with `query_only`.
//! - **Short blocking.** A WAL reader does not wait for the writer; the busy timeout is the
//!   same 10 s as the pools', reached only while another process recovers the WAL.
//!
//! Only SQLite files get one (an in-memory database is private to its connection); on
//! PostgreSQL the statement goes through the pool as before.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::Result;

/// Idle connections kept for reuse; more may be open at once, the rest are closed.
const IDLE: usize = 8;

#[derive(Debug)]
pub(crate) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl DirectReads {
    pub(crate) fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA query_only = ON")?;
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one), then keeps the connection.
    pub(crate) fn with<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match idle {
            Some(c) => c,
            None => self.open()?,
        };
        let out = read(&conn);
        if let Ok(mut v) = self.idle.lock()
            && v.len() < IDLE
        {
            v.push(conn);
        }
        out
    }

    /// The first row of `sql` with `params`, mapped by `map`; `None` when there is none.
    pub(crate) fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnOnce(&rusqlite::Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let mut rows = stmt.query(params)?;
            rows.next()?.map(map).transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::runtime::RuntimeManifest;
    use crate::store::Store;
    use crate::store::clusters::{ClusterAuthKind, ClusterWrite};

    fn runtime(name: &str, replicas: i64) -> RuntimeManifest {
        serde_json::from_value(serde_json::json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "AlluxioRuntime",
            "metadata": {"name": name}, "spec": {"replicas": replicas}}))
        .unwrap()
    }

    /// The same read through the direct connection and through the sqlx pool, as text to
    /// compare (the records hold no `PartialEq`).
    async fn both(s: &Store, ns: &str, name: &str) -> (String, String) {
        let pooled = Store { direct: None, ..s.clone() };
        let show = |r: crate::store::Result<_>| format!("{:?}", r.map_err(|e: crate::store::StoreError| e.to_string()));
        (show(s.runtime_with_sync(ns, name).await), show(pooled.runtime_with_sync(ns, name).await))
    }

    /// The direct read maps the row as the pool does (with and without a sync record),
    /// sees each commit at once, answers not found, and cannot write.
    #[tokio::test]
    async fn direct_reads_match_the_pool_and_see_each_commit() {
        // A SQLite file even on the PostgreSQL leg of the suite: direct reads exist only there.
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&format!("sqlite://{}", dir.path().join("fluidform.db").display())).await.unwrap();
        assert!(s.direct.is_some(), "a SQLite file gets direct reads");
        let write = ClusterWrite {
            server: "https://x".into(),
            ca_data: None,
            insecure_skip_tls_verify: true,
            auth: Some((ClusterAuthKind::Token, "sealed".into())),
            default_image_pull_secrets: vec![],
            apply_concurrency: None,
            port_range: None,
            mode: Default::default(),
        };
        s.put_cluster("c", write, None, "t").await.unwrap();
        s.put_runtime("ns", "a", "c", &runtime("a", 1), None, "t").await.unwrap();

        let (direct, pooled) = both(&s, "ns", "a").await;
        assert!(direct.contains("generation: 1,") && direct.contains("None"), "{direct}");
        assert_eq!(direct, pooled);

        // A commit is seen by the next read, on a connection that was idle before it.
        s.put_runtime("ns", "a", "c", &runtime("a", 3), None, "t").await.unwrap();
        let (rec, sync, _) = s.runtime_with_sync("ns", "a").await.unwrap();
        assert_eq!((rec.generation, rec.manifest["spec"]["replicas"].as_i64()), (2, Some(3)));
        assert!(sync.is_none());

        sqlx::query(
            "INSERT INTO runtime_sync (namespace, name, cluster, labels, applied_generation, applied_bindings, drift, checked_at)
             VALUES ('ns', 'a', 'c', '{\"team\":\"x\"}', 2, '{\"reg\":3}', '[{\"field\":\"spec\"}]', '2026-12-01T00:00:00.000000Z')",
        )
        .execute(&s.write)
        .await
        .unwrap();
        let (direct, pooled) = both(&s, "ns", "a").await;
        assert!(direct.contains("applied_generation: Some(2)") && direct.contains("\"reg\": 3"), "{direct}");
        assert_eq!(direct, pooled);

        let (direct, pooled) = both(&s, "ns", "missing").await;
        assert_eq!(direct, pooled);
        assert!(direct.contains("runtime ns/missing not found"), "{direct}");

        let refused = s.direct.as_ref().unwrap().with(|c| Ok(c.execute("DELETE FROM runtimes", [])?));
        assert!(refused.is_err(), "a direct connection must not write");
        assert_eq!(s.runtime_with_sync("ns", "a").await.unwrap().0.generation, 2);
    }
}
