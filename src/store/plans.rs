//! Saved plans: a summary row, the runtimes a plan was computed from (with the inputs that
//! make it stale when they move), and the objects it changes. No-op objects are counted in
//! the summary, not stored.

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
        for chunk in objects.chunks(CHUNK) {
            let mut q: QueryBuilder = QueryBuilder::new(
                self.backend(),
                "INSERT INTO plan_objects (plan_id, seq, cluster, namespace, api_version, kind, name, runtime, action, reasons, diff, digest, scope) ",
            );
            q.push_values(chunk, |mut b, o| {
                b.push_bind(p.id.clone())
                    .push_bind(o.seq)
                    .push_bind(o.cluster.clone())
                    .push_bind(o.namespace.clone())
                    .push_bind(o.api_version.clone())
                    .push_bind(o.kind.clone())
                    .push_bind(o.name.clone())
                    .push_bind(o.runtime.clone())
                    .push_bind(o.action.clone())
                    .push_bind(o.reasons.to_string())
                    .push_bind(o.diff.as_ref().map(|d| d.to_string()))
                    .push_bind(o.digest.clone())
                    .push_bind(o.scope.as_str());
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

    /// A page of a plan's objects in plan order, after `after` (a `seq`).
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
        rows.iter().map(row_to_object).collect()
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
