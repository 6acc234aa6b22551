//! Saved plans: a summary row, the runtimes a plan was computed from (with the inputs that
//! make it stale when they move), and the objects it changes. No-op objects are counted in
//! the summary, not stored.
//!
//! Creates of objects never applied (action `create`, reasons exactly `["new"]`, which
//! `compare` gives only when nothing is recorded as applied) are stored packed: a run of
//! up to [`PACK`] of them in plan order with the same cluster, namespace, kind and scope is
//! one row whose `packed` column holds each one's name, owning runtime and digest, and
//! whose `seq` is the last of their sequence numbers. Readers see one [`PlanObjectRow`]
//! per object either way. A plan of a never-applied fleet of 10,000 runtimes stores about
//! 400 object rows instead of 50,020.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::sql::QueryBuilder;

use super::{Result, Store, StoreError, fmt_time, parse_json, parse_time};

#[derive(Debug, Clone)]
pub struct PlanRecord {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub created_by: String,
    pub request: serde_json::Value,
    pub inputs: serde_json::Value,
    /// The first warnings (`warning_count` says how many there were).
    pub warnings: serde_json::Value,
    pub warning_count: i64,
    pub summary: serde_json::Value,
    pub run_id: Option<String>,
}

/// One runtime a plan covers, with the inputs it was planned from.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRuntimeRow {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    /// Applied but no longer desired: its objects are deleted.
    pub removed: bool,
    pub runtime_id: Option<i64>,
    pub generation: i64,
    pub layer_revision: i64,
    pub deps_revision: i64,
    pub spec_hash: String,
    pub bindings: BTreeMap<String, u32>,
}

/// One object a plan changes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanObjectRow {
    pub seq: i64,
    pub cluster: String,
    pub namespace: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub runtime: Option<String>,
    /// create, update or delete.
    pub action: String,
    pub reasons: serde_json::Value,
    pub diff: Option<serde_json::Value>,
    pub digest: Option<String>,
    pub scope: super::sync::Scope,
}

#[derive(Debug, Clone, Default)]
pub struct PlanObjectFilter {
    pub action: Option<String>,
    pub cluster: Option<String>,
    pub kind: Option<String>,
}

/// Rows per INSERT statement (well under SQLite's variable limit).
const CHUNK: usize = 400;

/// Objects per packed row: a page of objects reads at most this many more than it shows.
pub const PACK: usize = 128;

/// One packed object: name, owning runtime, digest.
type Packed = (String, Option<String>, Option<String>);

/// Whether a row is a create of an object never applied, which is stored packed.
fn packable(o: &PlanObjectRow) -> bool {
    o.action == "create" && o.diff.is_none() && o.reasons.as_array().is_some_and(|r| r.len() == 1 && r[0] == "new")
}

/// A plan's object rows as stored: runs of packable rows sharing cluster, namespace, kind
/// and scope, each one row (see the module doc); any other row alone.
fn pack(objects: &[PlanObjectRow]) -> Vec<&[PlanObjectRow]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < objects.len() {
        let first = &objects[i];
        let mut end = i + 1;
        if packable(first) {
            while end < objects.len()
                && end - i < PACK
                && packable(&objects[end])
                && objects[end].seq == objects[end - 1].seq + 1
                && (&objects[end].cluster, &objects[end].namespace, &objects[end].kind, objects[end].scope)
                    == (&first.cluster, &first.namespace, &first.kind, first.scope)
            {
                end += 1;
            }
        }
        out.push(&objects[i..end]);
        i = end;
    }
    out
}

/// Stored rows in statements of at most `CHUNK` rows and about `CHUNK` objects, so one
/// statement's arguments stay small however the rows pack.
fn statements<'a>(runs: &'a [&'a [PlanObjectRow]]) -> Vec<&'a [&'a [PlanObjectRow]]> {
    let mut out = Vec::new();
    let (mut start, mut objects) = (0, 0);
    for (i, run) in runs.iter().enumerate() {
        if i > start && (i - start == CHUNK || objects + run.len() > CHUNK) {
            out.push(&runs[start..i]);
            (start, objects) = (i, 0);
        }
        objects += run.len();
    }
    if start < runs.len() {
        out.push(&runs[start..]);
    }
    out
}

fn row_to_plan(r: &sqlx::any::AnyRow) -> Result<PlanRecord> {
    Ok(PlanRecord {
        id: r.try_get("id")?,
        created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
        expires_at: parse_time(&r.try_get::<String, _>("expires_at")?)?,
        created_by: r.try_get("created_by")?,
        request: parse_json(&r.try_get::<String, _>("request")?)?,
        inputs: parse_json(&r.try_get::<String, _>("inputs")?)?,
        warnings: parse_json(&r.try_get::<String, _>("warnings")?)?,
        warning_count: r.try_get("warning_count")?,
        summary: parse_json(&r.try_get::<String, _>("summary")?)?,
        run_id: r.try_get("run_id")?,
    })
}

/// A stored row's objects: itself, or each of its packed entries.
fn row_to_objects(r: &sqlx::any::AnyRow, out: &mut Vec<PlanObjectRow>, after: i64, limit: usize) -> Result<()> {
    let row = row_to_object(r)?;
    let Some(packed) = r.try_get::<Option<String>, _>("packed")? else {
        out.push(row);
        return Ok(());
    };
    let entries: Vec<Packed> =
        serde_json::from_str(&packed).map_err(|e| StoreError::Corrupt(format!("packed plan objects: {e}")))?;
    let first = row.seq + 1 - entries.len() as i64;
    for (i, (name, runtime, digest)) in entries.into_iter().enumerate() {
        let seq = first + i as i64;
        if seq <= after {
            continue;
        }
        if out.len() >= limit {
            break;
        }
        out.push(PlanObjectRow { seq, name, runtime, digest, ..row.clone() });
    }
    Ok(())
}

fn row_to_object(r: &sqlx::any::AnyRow) -> Result<PlanObjectRow> {
    Ok(PlanObjectRow {
        seq: r.try_get("seq")?,
        cluster: r.try_get("cluster")?,
        namespace: r.try_get("namespace")?,
        api_version: r.try_get("api_version")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        runtime: r.try_get("runtime")?,
        action: r.try_get("action")?,
        reasons: parse_json(&r.try_get::<String, _>("reasons")?)?,
        diff: r.try_get::<Option<String>, _>("diff")?.as_deref().map(parse_json).transpose()?,
        digest: r.try_get("digest")?,
        scope: super::sync::Scope::parse(&r.try_get::<String, _>("scope")?).unwrap_or_default(),
    })
}

impl Store {
    /// Saves a plan with its runtimes and objects in one transaction.
    pub async fn insert_plan(
        &self,
        p: &PlanRecord,
        runtimes: &[PlanRuntimeRow],
        objects: &[PlanObjectRow],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO plans (id, created_at, expires_at, created_by, request, inputs, warnings, warning_count, summary, run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
        )
        .bind(&p.id)
        .bind(fmt_time(p.created_at))
        .bind(fmt_time(p.expires_at))
        .bind(&p.created_by)
        .bind(p.request.to_string())
        .bind(p.inputs.to_string())
        .bind(p.warnings.to_string())
        .bind(p.warning_count)
        .bind(p.summary.to_string())
        .execute(&mut *tx)
        .await?;
        for chunk in runtimes.chunks(CHUNK) {
            let mut q: QueryBuilder = QueryBuilder::new(
                self.backend(),
                "INSERT INTO plan_runtimes (plan_id, namespace, name, cluster, removed, runtime_id, generation, layer_revision, deps_revision, spec_hash, bindings) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(p.id.clone())
                    .push_bind(r.namespace.clone())
                    .push_bind(r.name.clone())
                    .push_bind(r.cluster.clone())
                    .push_bind(r.removed as i64)
                    .push_bind(r.runtime_id)
                    .push_bind(r.generation)
                    .push_bind(r.layer_revision)
                    .push_bind(r.deps_revision)
                    .push_bind(r.spec_hash.clone())
                    .push_bind(serde_json::to_string(&r.bindings).expect("bindings serialize"));
            });
            q.build().execute(&mut *tx).await?;
        }
        let runs = pack(objects);
        for chunk in statements(&runs) {
            let mut q: QueryBuilder = QueryBuilder::new(
                self.backend(),
                "INSERT INTO plan_objects (plan_id, seq, cluster, namespace, api_version, kind, name, runtime, action, reasons, diff, digest, scope, packed) ",
            );
            q.push_values(chunk, |mut b, run| {
                // A packed row is stored with the last one's seq and name.
                let o = &run[run.len() - 1];
                let packed = (run.len() > 1).then(|| {
                    let entries: Vec<(&str, Option<&str>, Option<&str>)> =
                        run.iter().map(|o| (o.name.as_str(), o.runtime.as_deref(), o.digest.as_deref())).collect();
                    serde_json::to_string(&entries).expect("entries serialize")
                });
                b.push_bind(p.id.clone())
                    .push_bind(o.seq)
                    .push_bind(o.cluster.clone())
                    .push_bind(o.namespace.clone())
                    .push_bind(o.api_version.clone())
                    .push_bind(o.kind.clone())
                    .push_bind(o.name.clone())
                    .push_bind(o.runtime.clone().filter(|_| packed.is_none()))
                    .push_bind(o.action.clone())
                    .push_bind(o.reasons.to_string())
                    .push_bind(o.diff.as_ref().map(|d| d.to_string()))
                    .push_bind(o.digest.clone().filter(|_| packed.is_none()))
                    .push_bind(o.scope.as_str())
                    .push_bind(packed);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_plan(&self, id: &str) -> Result<PlanRecord> {
        let row = sqlx::query("SELECT * FROM plans WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found(format!("plan {id:?}")))?;
        row_to_plan(&row)
    }

    pub async fn plan_runtimes(&self, id: &str) -> Result<Vec<PlanRuntimeRow>> {
        let rows = sqlx::query("SELECT * FROM plan_runtimes WHERE plan_id = $1 ORDER BY cluster, namespace, name")
            .bind(id)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PlanRuntimeRow {
                    namespace: r.try_get("namespace")?,
                    name: r.try_get("name")?,
                    cluster: r.try_get("cluster")?,
                    removed: r.try_get::<i64, _>("removed")? != 0,
                    runtime_id: r.try_get("runtime_id")?,
                    generation: r.try_get("generation")?,
                    layer_revision: r.try_get("layer_revision")?,
                    deps_revision: r.try_get("deps_revision")?,
                    spec_hash: r.try_get("spec_hash")?,
                    bindings: parse_json(&r.try_get::<String, _>("bindings")?)?,
                })
            })
            .collect()
    }

    /// A page of a plan's objects in plan order, after `after` (a `seq`): at most `limit`.
    pub async fn plan_objects(
        &self,
        id: &str,
        filter: &PlanObjectFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<PlanObjectRow>> {
        let rows = sqlx::query(
            "SELECT * FROM plan_objects WHERE plan_id = $1 AND seq > $2
               AND ($3 IS NULL OR action = $4) AND ($5 IS NULL OR cluster = $6) AND ($7 IS NULL OR kind = $8)
             ORDER BY seq LIMIT $9",
        )
        .bind(id)
        .bind(after)
        .bind(&filter.action)
        .bind(&filter.action)
        .bind(&filter.cluster)
        .bind(&filter.cluster)
        .bind(&filter.kind)
        .bind(&filter.kind)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        // Every row fetched holds at least one object after `after`, so `limit` rows hold
        // `limit` objects when the plan has them.
        let limit = usize::try_from(limit).unwrap_or(0);
        let mut out = Vec::with_capacity(rows.len().min(limit));
        for r in &rows {
            if out.len() >= limit {
                break;
            }
            row_to_objects(r, &mut out, after, limit)?;
        }
        Ok(out)
    }

    /// Why a plan's inputs no longer hold, or `None` when they all do: one query over the
    /// plan's runtimes and clusters.
    pub async fn plan_staleness(&self, id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT 'runtime' AS what, p.namespace || '/' || p.name AS subject, p.removed AS removed,
                    p.generation AS planned_generation, p.layer_revision AS planned_revision,
                    r.generation AS generation, r.layer_revision AS revision, CAST(r.id IS NULL AS INTEGER) AS gone,
                    COALESCE(CAST(r.id != p.runtime_id AS INTEGER), 0) AS replaced,
                    COALESCE(CAST(r.deps_revision != p.deps_revision AS INTEGER), 0) AS deps
               FROM plan_runtimes p LEFT JOIN runtimes r ON r.namespace = p.namespace AND r.name = p.name
              WHERE p.plan_id = $1
                AND ((p.removed = 0 AND (r.id IS NULL OR r.id != p.runtime_id OR r.generation != p.generation
                                         OR r.layer_revision != p.layer_revision OR r.deps_revision != p.deps_revision))
                  OR (p.removed = 1 AND r.id IS NOT NULL))
             UNION ALL
             SELECT 'cluster', c.key, 0, CAST(c.value AS BIGINT), 0, k.generation, 0, CAST(k.name IS NULL AS INTEGER), 0, 0
               FROM plans, json_each(plans.inputs, '$.clusters') c LEFT JOIN clusters k ON k.name = c.key
              WHERE plans.id = $1 AND (k.name IS NULL OR k.generation != CAST(c.value AS BIGINT))
             LIMIT 1",
        )
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let what: String = r.try_get("what")?;
        let subject: String = r.try_get("subject")?;
        let gone = r.try_get::<i64, _>("gone")? != 0;
        Ok(Some(if what == "cluster" {
            if gone {
                format!("cluster {subject:?} was deleted")
            } else {
                format!(
                    "cluster {subject:?} is at generation {} (plan used {})",
                    r.try_get::<i64, _>("generation")?,
                    r.try_get::<i64, _>("planned_generation")?
                )
            }
        } else if r.try_get::<i64, _>("removed")? != 0 {
            format!("runtime {subject} exists again")
        } else if gone {
            format!("runtime {subject} was deleted")
        } else if r.try_get::<i64, _>("replaced")? != 0 {
            format!("runtime {subject} was deleted and created again")
        } else if r.try_get::<i64, _>("deps")? != 0 {
            format!("runtime {subject}'s Dataset or ThinRuntimeProfile changed")
        } else {
            let (g, pg) = (r.try_get::<i64, _>("generation")?, r.try_get::<i64, _>("planned_generation")?);
            if g != pg {
                format!("runtime {subject} is at generation {g} (plan used {pg})")
            } else {
                format!(
                    "runtime {subject} layers or bindings are at revision {} (plan used {})",
                    r.try_get::<i64, _>("revision")?,
                    r.try_get::<i64, _>("planned_revision")?
                )
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sync::Scope;

    fn row(seq: i64, ns: &str, kind: &str, name: &str, action: &str, reasons: serde_json::Value) -> PlanObjectRow {
        PlanObjectRow {
            seq,
            cluster: if ns == "far" { "c2".into() } else { "c1".into() },
            namespace: ns.into(),
            api_version: "v1".into(),
            kind: kind.into(),
            name: name.into(),
            runtime: (kind != "Secret").then(|| format!("{ns}/{name}")),
            action: action.into(),
            reasons,
            diff: (action == "update").then(|| serde_json::json!([{"path": "/data/x", "old": 1, "new": 2}])),
            digest: (action != "delete").then(|| format!("{seq:064x}")),
            scope: Scope::Object,
        }
    }

    /// A plan of mixed objects: packed runs of creates cut at `PACK`, at a change of
    /// namespace, kind or cluster, and around rows that cannot be packed.
    fn objects() -> Vec<PlanObjectRow> {
        let new = || serde_json::json!(["new"]);
        let mut out: Vec<PlanObjectRow> = Vec::new();
        let mut push = |ns: &str, kind: &str, name: String, action: &str, reasons: serde_json::Value| {
            let seq = out.len() as i64;
            out.push(row(seq, ns, kind, &name, action, reasons));
        };
        push("a", "Secret", "pull-v1".into(), "create", new());
        for i in 0..300 {
            push("a", "ConfigMap", format!("r{i:03}-config"), "create", new());
        }
        push("a", "ConfigMap", "r900-config".into(), "update", serde_json::json!(["specChange"]));
        push("a", "ConfigMap", "r901-config".into(), "create", serde_json::json!(["drift"]));
        for i in 0..5 {
            push("a", "Service", format!("r{i:03}-master-0"), "create", new());
        }
        push("a", "Service", "r902-master-0".into(), "create", serde_json::json!(["new", "adoption"]));
        push("a", "Service", "r903-master-0".into(), "delete", serde_json::json!(["removal"]));
        for i in 0..3 {
            push("b", "Service", format!("r{i:03}-master-0"), "create", new());
        }
        for i in 0..2 {
            push("far", "Service", format!("r{i:03}-master-0"), "create", new());
        }
        out
    }

    #[test]
    fn statements_hold_at_most_chunk_rows_and_about_chunk_objects() {
        let objects: Vec<PlanObjectRow> = (0..2000)
            .map(|i| row(i, "a", "ConfigMap", &format!("r{i}"), "create", serde_json::json!(["new"])))
            .collect();
        let singles: Vec<&[PlanObjectRow]> = objects.chunks(1).collect();
        let sizes: Vec<usize> = statements(&singles).iter().map(|s| s.len()).collect();
        assert_eq!(sizes, [CHUNK, CHUNK, CHUNK, CHUNK, CHUNK]);
        let packed = pack(&objects);
        assert!(packed.iter().all(|r| r.len() == PACK) || packed.last().unwrap().len() < PACK);
        for st in statements(&packed) {
            let n: usize = st.iter().map(|r| r.len()).sum();
            assert!(n <= CHUNK || st.len() == 1, "{n} objects in one statement");
        }
        assert_eq!(statements(&packed).iter().flat_map(|s| s.iter()).map(|r| r.len()).sum::<usize>(), 2000);
    }

    async fn saved() -> (tempfile::TempDir, Store, Vec<PlanObjectRow>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::scratch::database_url(dir.path())).await.unwrap();
        let now = Utc::now();
        let plan = PlanRecord {
            id: "p1".into(),
            created_at: now,
            expires_at: now,
            created_by: "test".into(),
            request: serde_json::json!({}),
            inputs: serde_json::json!({}),
            warnings: serde_json::json!([]),
            warning_count: 0,
            summary: serde_json::json!({}),
            run_id: None,
        };
        let objects = objects();
        store.insert_plan(&plan, &[], &objects).await.unwrap();
        (dir, store, objects)
    }

    #[tokio::test]
    async fn creates_of_unapplied_objects_are_stored_packed_and_read_back_one_by_one() {
        let (_dir, s, objects) = saved().await;
        let stored: i64 = sqlx::query("SELECT COUNT(*) AS n FROM plan_objects WHERE plan_id = 'p1'")
            .fetch_one(s.reader())
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        // Secret, 3 packed ConfigMap rows (128 + 128 + 44), update, drift create, packed
        // Services (5), adoption, delete, packed b Services (3), packed far Services (2).
        assert_eq!(stored, 11, "{} objects", objects.len());
        let all = s.plan_objects("p1", &PlanObjectFilter::default(), -1, i64::MAX).await.unwrap();
        assert_eq!(all, objects);

        // Paging in steps that cut packed rows anywhere gives the same objects.
        for step in [1, 7, 128, 129] {
            let (mut after, mut paged) = (-1, Vec::new());
            loop {
                let page = s.plan_objects("p1", &PlanObjectFilter::default(), after, step).await.unwrap();
                assert!(page.len() <= step as usize);
                let Some(last) = page.last() else { break };
                after = last.seq;
                paged.extend(page);
            }
            assert_eq!(paged, objects, "pages of {step}");
        }

        let filters = [
            PlanObjectFilter { kind: Some("Service".into()), ..Default::default() },
            PlanObjectFilter { cluster: Some("c2".into()), ..Default::default() },
            PlanObjectFilter { action: Some("create".into()), kind: Some("ConfigMap".into()), ..Default::default() },
            PlanObjectFilter { action: Some("delete".into()), ..Default::default() },
        ];
        for f in filters {
            let want: Vec<&PlanObjectRow> = objects
                .iter()
                .filter(|o| f.action.as_ref().is_none_or(|a| *a == o.action))
                .filter(|o| f.cluster.as_ref().is_none_or(|c| *c == o.cluster))
                .filter(|o| f.kind.as_ref().is_none_or(|k| *k == o.kind))
                .collect();
            let got = s.plan_objects("p1", &f, -1, i64::MAX).await.unwrap();
            assert_eq!(got.iter().collect::<Vec<_>>(), want, "{f:?}");
            let page = s.plan_objects("p1", &f, want[0].seq, 3).await.unwrap();
            assert_eq!(page.iter().collect::<Vec<_>>(), want[1..want.len().min(4)].to_vec(), "{f:?} after the first");
        }
    }
}
