//! Host ports per cluster: the allocator's state (`runtime_ports`), written in the same
//! transaction as the runtime it belongs to.
//!
//! The rules are `domain::ports`; this module keeps them true across runtimes: a runtime
//! keeps the ports it holds, new names get the lowest free ports of the cluster's range
//! (skipping every host port another runtime of the cluster binds, allocated or fixed by
//! its manifest), the partial unique index refuses two allocations of one port, rows go
//! with their runtime. An exhausted range is `host_ports_exhausted` and the transaction is
//! not committed, so nothing of the write is stored.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{AnyConnection, Row};

use super::{Result, Store, StoreError};
use crate::domain::code::ErrorCode;
use crate::domain::manifest::AlluxioRuntime;
use crate::domain::ports::{self, PortName, PortRange};

/// The ports of one runtime: what the allocator gave it and what its manifest fixes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimePorts {
    pub allocated: BTreeMap<PortName, u16>,
    pub fixed: BTreeMap<PortName, u16>,
}

/// A host port of one runtime that another runtime of the cluster binds too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedPort {
    pub name: PortName,
    pub port: u16,
    /// `namespace/name` of the other runtime.
    pub other: String,
}

fn parse_name(s: &str) -> Result<PortName> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("port name {s:?}")))
}

/// The stored ports of `runtime_id`.
pub(crate) async fn ports_tx(conn: &mut AnyConnection, runtime_id: i64) -> Result<RuntimePorts> {
    let rows = sqlx::query("SELECT port_name, port, allocated FROM runtime_ports WHERE runtime_id = $1")
        .bind(runtime_id)
        .fetch_all(conn)
        .await?;
    let mut out = RuntimePorts::default();
    for r in rows {
        let name = parse_name(&r.try_get::<String, _>("port_name")?)?;
        let port = r.try_get::<i64, _>("port")? as u16;
        if r.try_get::<i64, _>("allocated")? != 0 {
            out.allocated.insert(name, port);
        } else {
            out.fixed.insert(name, port);
        }
    }
    Ok(out)
}

/// The allocated ports of each of `ids` (one query).
pub(crate) async fn allocated_for_tx(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<BTreeMap<i64, BTreeMap<PortName, u16>>> {
    let mut out: BTreeMap<i64, BTreeMap<PortName, u16>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut q: super::sql::QueryBuilder = super::sql::QueryBuilder::new(
        super::Backend::of(conn),
        "SELECT runtime_id, port_name, port FROM runtime_ports WHERE allocated = 1 AND runtime_id IN (",
    );
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    q.push(")");
    for r in q.build().fetch_all(conn).await? {
        out.entry(r.try_get("runtime_id")?)
            .or_default()
            .insert(parse_name(&r.try_get::<String, _>("port_name")?)?, r.try_get::<i64, _>("port")? as u16);
    }
    Ok(out)
}

/// Every host port bound on `cluster` by runtimes other than `except`.
async fn taken_tx(conn: &mut AnyConnection, cluster: &str, except: i64) -> Result<BTreeSet<u16>> {
    let ports: Vec<i64> = sqlx::query_scalar("SELECT port FROM runtime_ports WHERE cluster = $1 AND runtime_id != $2")
        .bind(cluster)
        .bind(except)
        .fetch_all(conn)
        .await?;
    Ok(ports.into_iter().map(|p| p as u16).collect())
}

fn exhausted(e: ports::Exhausted) -> StoreError {
    StoreError::conflict(ErrorCode::HostPortsExhausted, format!("{e}; widen the cluster's portRange or free ports"))
}

/// Gives runtime `runtime_id` (on `cluster`, whose range is `range`) the host ports `rt`
/// needs, keeping the ones it holds, and records the ports its manifest fixes. Writes only
/// when something moved.
pub(crate) async fn assign_tx(
    conn: &mut AnyConnection,
    runtime_id: i64,
    cluster: &str,
    range: PortRange,
    rt: &AlluxioRuntime,
) -> Result<RuntimePorts> {
    let old = ports_tx(&mut *conn, runtime_id).await?;
    let needed = ports::needed(rt);
    let fixed_all = ports::overrides(rt);
    // What the runtime's own pods bind on the host by its own choice.
    let fixed: BTreeMap<PortName, u16> =
        fixed_all.iter().filter(|(p, _)| ports::host_network(rt, p.pod())).map(|(p, n)| (*p, *n)).collect();
    let own: BTreeSet<u16> = fixed.values().copied().collect();
    let keeps_all = needed.iter().all(|n| old.allocated.get(n).is_some_and(|p| range.contains(*p) && !own.contains(p)));
    let allocated = if keeps_all {
        needed.iter().map(|n| (*n, old.allocated[n])).collect()
    } else {
        let mut taken = taken_tx(&mut *conn, cluster, runtime_id).await?;
        taken.extend(&own);
        ports::allocate(range, &taken, &old.allocated, &needed).map_err(exhausted)?
    };
    let new = RuntimePorts { allocated, fixed };
    if new != old {
        write_tx(conn, runtime_id, cluster, &new).await?;
    }
    Ok(new)
}

async fn write_tx(conn: &mut AnyConnection, runtime_id: i64, cluster: &str, ports: &RuntimePorts) -> Result<()> {
    sqlx::query("DELETE FROM runtime_ports WHERE runtime_id = $1").bind(runtime_id).execute(&mut *conn).await?;
    for (map, allocated) in [(&ports.allocated, 1), (&ports.fixed, 0)] {
        for (name, port) in map {
            sqlx::query(
                "INSERT INTO runtime_ports (runtime_id, cluster, port_name, port, allocated) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(runtime_id)
            .bind(cluster)
            .bind(name.as_str())
            .bind(i64::from(*port))
            .bind(allocated)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Allocates for every AlluxioRuntime, oldest first (what runtimes stored before the
/// allocator existed need). A cluster whose range cannot hold them all keeps the rest
/// unallocated (they listen on Fluid's fixed ports) rather than failing the start; their
/// next write reports the exhausted range.
async fn allocate_all_tx(conn: &mut AnyConnection) -> Result<()> {
    let rows = sqlx::query(
        "SELECT r.id, r.cluster, r.manifest, c.port_range FROM runtimes r JOIN clusters c ON c.name = r.cluster
          WHERE r.kind = 'AlluxioRuntime' ORDER BY r.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let manifest: String = row.try_get("manifest")?;
        let Ok(rt) = serde_json::from_str::<AlluxioRuntime>(&manifest) else { continue };
        let range = row
            .try_get::<Option<String>, _>("port_range")?
            .and_then(|r| r.parse::<PortRange>().ok())
            .unwrap_or(PortRange::DEFAULT);
        let cluster: String = row.try_get("cluster")?;
        match assign_tx(&mut *conn, row.try_get("id")?, &cluster, range, &rt).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Moves every allocated port of `cluster` that lies outside `range` into it (the lowest
/// free ports, in runtime and port-name order); returns the runtimes that moved. Fails
/// with `host_ports_exhausted` when the range cannot hold them.
pub(crate) async fn fit_range_tx(conn: &mut AnyConnection, cluster: &str, range: PortRange) -> Result<Vec<i64>> {
    let rows = sqlx::query("SELECT runtime_id, port_name, port, allocated FROM runtime_ports WHERE cluster = $1")
        .bind(cluster)
        .fetch_all(&mut *conn)
        .await?;
    let mut taken = BTreeSet::new();
    let mut outside: Vec<(i64, String)> = Vec::new();
    for r in &rows {
        let port = r.try_get::<i64, _>("port")? as u16;
        if r.try_get::<i64, _>("allocated")? != 0 && !range.contains(port) {
            outside.push((r.try_get("runtime_id")?, r.try_get("port_name")?));
        } else {
            taken.insert(port);
        }
    }
    outside.sort();
    let free: Vec<u16> = (range.first..=range.last).filter(|p| !taken.contains(p)).take(outside.len()).collect();
    if free.len() < outside.len() {
        return Err(exhausted(ports::Exhausted { range, needed: outside.len(), free: free.len() }));
    }
    let mut moved = Vec::new();
    for ((id, name), port) in outside.into_iter().zip(free) {
        sqlx::query("UPDATE runtime_ports SET port = $1 WHERE runtime_id = $2 AND port_name = $3")
            .bind(i64::from(port))
            .bind(id)
            .bind(&name)
            .execute(&mut *conn)
            .await?;
        if moved.last() != Some(&id) {
            moved.push(id);
        }
    }
    Ok(moved)
}

impl Store {
    /// Runs the data migrations a schema migration left to Rust (`pending_tasks`), each in
    /// one transaction with its own removal.
    pub(crate) async fn run_pending_tasks(&self) -> Result<()> {
        let tasks: Vec<String> = sqlx::query_scalar("SELECT name FROM pending_tasks").fetch_all(&self.write).await?;
        for task in tasks {
            let mut tx = self.begin().await?;
            match task.as_str() {
                "host_ports" => allocate_all_tx(&mut tx).await?,
                other => return Err(StoreError::Corrupt(format!("unknown pending task {other:?}"))),
            }
            sqlx::query("DELETE FROM pending_tasks WHERE name = $1").bind(&task).execute(&mut *tx).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// The host ports of runtime `ns/name` that another runtime of its cluster binds too
    /// (possible only for ports a manifest fixes itself).
    pub async fn shared_ports(&self, runtime_id: i64) -> Result<Vec<SharedPort>> {
        let rows = sqlx::query(
            "SELECT p.port_name, p.port, r.namespace, r.name
               FROM runtime_ports p
               JOIN runtime_ports o ON o.cluster = p.cluster AND o.port = p.port AND o.runtime_id != p.runtime_id
               JOIN runtimes r ON r.id = o.runtime_id
              WHERE p.runtime_id = $1
              ORDER BY p.port_name, r.namespace, r.name",
        )
        .bind(runtime_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SharedPort {
                    name: parse_name(&r.try_get::<String, _>("port_name")?)?,
                    port: r.try_get::<i64, _>("port")? as u16,
                    other: format!("{}/{}", r.try_get::<String, _>("namespace")?, r.try_get::<String, _>("name")?),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::runtime::RuntimeManifest;
    use crate::store::clusters::{ClusterAuthKind, ClusterWrite};

    async fn store(dir: &tempfile::TempDir) -> Store {
        Store::open(&crate::store::scratch::database_url(dir.path())).await.unwrap()
    }

    fn runtime(name: &str) -> RuntimeManifest {
        serde_json::from_value(serde_json::json!({"apiVersion": "data.fluid.io/v1alpha1", "kind": "AlluxioRuntime",
            "metadata": {"name": name}, "spec": {"replicas": 1}}))
        .unwrap()
    }

    /// Runtimes stored before the allocator existed get ports once, at the next start.
    #[tokio::test]
    async fn the_pending_task_allocates_for_runtimes_stored_before() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
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
        let mut ids = Vec::new();
        for n in ["a", "b"] {
            ids.push(s.put_runtime("ns", n, "c", &runtime(n), None, "t").await.unwrap().0.id);
        }
        // As a database migrated from before: no ports, the task pending.
        sqlx::query("DELETE FROM runtime_ports").execute(&s.write).await.unwrap();
        sqlx::query("INSERT INTO pending_tasks (name) VALUES ('host_ports')").execute(&s.write).await.unwrap();
        drop(s);
        let s = store(&dir).await;
        let mut conn = s.reader().acquire().await.unwrap();
        let a = ports_tx(&mut conn, ids[0]).await.unwrap().allocated;
        let b = ports_tx(&mut conn, ids[1]).await.unwrap().allocated;
        assert_eq!(a.len(), 9);
        assert_eq!(a[&PortName::MasterRpc], 20000, "oldest first");
        assert!(a.values().all(|p| !b.values().any(|q| q == p)));
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_tasks").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(left, 0, "done once");
    }
}
