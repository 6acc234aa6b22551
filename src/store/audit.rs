//! The audit log: one row per mutating request and per refused authentication, appended
//! and never changed (the table's triggers refuse updates and deletes). Rows hold who,
//! what and how it ended, never a body or a secret, and outlive the resources they name.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Result, Store, fmt_time, parse_time};

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The `X-Request-Id` of the request (also in the daemon's log).
    pub request_id: String,
    /// The token's name; absent when no valid token was sent.
    pub actor: Option<String>,
    pub role: Option<String>,
    pub method: String,
    /// The route template, e.g. `/v1/runtimes/{namespace}/{name}`.
    pub route: String,
    /// The path the request named, e.g. `/v1/runtimes/team-a/hbase`.
    pub resource: String,
    pub status: u16,
    /// `ok`, `refused` (4xx), `unauthenticated` (401), `forbidden` (403) or `error` (5xx).
    pub outcome: String,
    pub remote: Option<String>,
}

/// What a new entry records (the store adds the id).
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub actor: Option<String>,
    pub role: Option<String>,
    pub method: String,
    pub route: String,
    pub resource: String,
    pub status: u16,
    pub remote: Option<String>,
}

pub fn outcome(status: u16) -> &'static str {
    match status {
        401 => "unauthenticated",
        403 => "forbidden",
        s if s >= 500 => "error",
        s if s >= 400 => "refused",
        _ => "ok",
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// A path, or a prefix of paths (`/v1/runtimes/team-a/`).
    pub resource: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this id (the page before).
    pub before: Option<i64>,
}

impl Store {
    pub async fn append_audit(&self, e: &NewAuditEntry) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO audit_log (at, request_id, actor, role, method, route, resource, status, outcome, remote)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(fmt_time(e.at))
        .bind(&e.request_id)
        .bind(&e.actor)
        .bind(&e.role)
        .bind(&e.method)
        .bind(&e.route)
        .bind(&e.resource)
        .bind(i64::from(e.status))
        .bind(outcome(e.status))
        .bind(&e.remote)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Newest first, at most `limit`.
    pub async fn list_audit(&self, f: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>> {
        let prefix = f.resource.as_ref().map(|r| {
            let escaped = r.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("{escaped}%")
        });
        let rows = sqlx::query(
            "SELECT id, at, request_id, actor, role, method, route, resource, status, outcome, remote FROM audit_log
              WHERE ($1 IS NULL OR actor = $2)
                AND ($3 IS NULL OR resource = $4 OR resource LIKE $5 ESCAPE '\\')
                AND ($6 IS NULL OR at >= $7) AND ($8 IS NULL OR at <= $9)
                AND ($10 IS NULL OR id < $11)
              ORDER BY id DESC LIMIT $12",
        )
        .bind(&f.actor)
        .bind(&f.actor)
        .bind(&f.resource)
        .bind(&f.resource)
        .bind(&prefix)
        .bind(f.since.map(fmt_time))
        .bind(f.since.map(fmt_time))
        .bind(f.until.map(fmt_time))
        .bind(f.until.map(fmt_time))
        .bind(f.before)
        .bind(f.before)
        .bind(limit as i64)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: parse_time(&r.try_get::<String, _>("at")?)?,
                    request_id: r.try_get("request_id")?,
                    actor: r.try_get("actor")?,
                    role: r.try_get("role")?,
                    method: r.try_get("method")?,
                    route: r.try_get("route")?,
                    resource: r.try_get("resource")?,
                    status: r.try_get::<i64, _>("status")? as u16,
                    outcome: r.try_get("outcome")?,
                    remote: r.try_get("remote")?,
                })
            })
            .collect()
    }
}
