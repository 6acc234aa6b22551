//! Webhook notifications and their outbox. A notification's secret is stored sealed
//! (`secret_sealed`) with a keyed fingerprint; it never leaves in clear except to the
//! dispatcher, in memory. Events enqueue deliveries with `enqueue_tx` inside the
//! transaction that records the change they announce, so a committed change always has
//! its deliveries and a rolled-back one never does. The dispatcher
//! (`engine::notify`) sends what is due and records every attempt here.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{Result, Store, StoreError, check_if_match, etag, fmt_time, now, parse_json, parse_time};
use crate::domain::notify::{Notice, Trigger, payload};

#[derive(Debug, Clone)]
pub struct NotificationRecord {
    pub name: String,
    pub url: String,
    pub triggers: Vec<Trigger>,
    pub secret_fingerprint: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
}

impl NotificationRecord {
    pub fn etag(&self) -> String {
        etag(self.generation)
    }
}

/// A whole notification as a PUT gives it (the secret already sealed).
pub struct NotificationPut<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub triggers: &'a [Trigger],
    pub secret_sealed: &'a str,
    pub secret_fingerprint: &'a str,
    pub description: Option<&'a str>,
    pub enabled: bool,
    pub if_match: Option<&'a str>,
    pub actor: &'a str,
}

/// A delivery due to be sent, with where to.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub notification: String,
    pub url: String,
    pub trigger: String,
    pub payload: String,
    pub attempts: u32,
    pub secret_sealed: String,
}

#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; absent when no answer came.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: i64,
    pub trigger: String,
    /// `pending` (sent when due, again after a failure), `delivered` or `failed` (gave up).
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The body exactly as sent (and signed).
    pub payload: serde_json::Value,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

/// How an attempt ended, and what comes next.
#[derive(Debug, Clone)]
pub enum AttemptEnd {
    Delivered,
    /// Try again at that time.
    Retry(DateTime<Utc>),
    /// No more attempts.
    GiveUp,
}

/// What one attempt saw.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub end: AttemptEnd,
}

/// Deliveries kept per notification once finished (older ones are dropped).
pub const KEEP_FINISHED: i64 = 500;

fn opt_time(row: &sqlx::any::AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<String>, _>(col)?.as_deref().map(parse_time).transpose()
}

fn row_to_notification(r: &sqlx::any::AnyRow) -> Result<NotificationRecord> {
    let names: Vec<String> = parse_json(&r.try_get::<String, _>("triggers")?)?;
    let triggers = names
        .iter()
        .map(|t| Trigger::parse(t).ok_or_else(|| StoreError::Corrupt(format!("trigger {t:?}"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(NotificationRecord {
        name: r.try_get("name")?,
        url: r.try_get("url")?,
        triggers,
        secret_fingerprint: r.try_get("secret_fingerprint")?,
        description: r.try_get("description")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        generation: r.try_get("generation")?,
        created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
        updated_at: parse_time(&r.try_get::<String, _>("updated_at")?)?,
        created_by: r.try_get("created_by")?,
    })
}

/// Enqueues `notice` for every enabled notification subscribed to its trigger, in the
/// caller's transaction.
pub(crate) async fn enqueue_tx(conn: &mut AnyConnection, notice: &Notice) -> Result<()> {
    let rows = sqlx::query("SELECT name, triggers FROM notifications WHERE enabled = 1").fetch_all(&mut *conn).await?;
    let at = fmt_time(now());
    for r in rows {
        let triggers: Vec<String> = parse_json(&r.try_get::<String, _>("triggers")?)?;
        if !triggers.iter().any(|t| t == notice.trigger.as_str()) {
            continue;
        }
        let name: String = r.try_get("name")?;
        insert_delivery_tx(conn, &name, notice, &at, Some(&at)).await?;
    }
    Ok(())
}

/// Inserts a pending delivery; `due` is when the dispatcher first sends it (`None`: never,
/// the caller sends it itself).
async fn insert_delivery_tx(
    conn: &mut AnyConnection,
    name: &str,
    notice: &Notice,
    at: &str,
    due: Option<&str>,
) -> Result<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO notification_deliveries (notification, trigger_name, payload, state, next_attempt_at, created_at)
         VALUES ($1, $2, $3, 'pending', $4, $5) RETURNING id",
    )
    .bind(name)
    .bind(notice.trigger.as_str())
    .bind(payload(name, notice))
    .bind(due)
    .bind(at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// A rotation's notice: its id, credential, state and current batch, read in the
/// transaction that changes it.
pub(crate) async fn rotation_notice_tx(
    conn: &mut AnyConnection,
    id: &str,
    trigger: Trigger,
    message: String,
    extra: serde_json::Value,
) -> Result<()> {
    let Some(r) =
        sqlx::query("SELECT credential, to_version, state, current_batch, error, actor FROM rotations WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(());
    };
    let mut data = serde_json::json!({
        "id": id,
        "credential": r.try_get::<String, _>("credential")?,
        "toVersion": r.try_get::<i64, _>("to_version")?,
        "state": r.try_get::<String, _>("state")?,
        "currentBatch": r.try_get::<i64, _>("current_batch")?,
        "error": r.try_get::<Option<String>, _>("error")?,
        "actor": r.try_get::<String, _>("actor")?,
    });
    if let Some(extra) = extra.as_object() {
        for (k, v) in extra {
            data[k] = v.clone();
        }
    }
    let notice = Notice {
        trigger,
        at: now(),
        message,
        kind: "rotation",
        id: id.to_string(),
        url: format!("/v1/rotations/{id}"),
        data,
    };
    enqueue_tx(conn, &notice).await
}

/// A run's notice, read in the transaction that changes it.
pub(crate) async fn run_notice_tx(conn: &mut AnyConnection, run_id: &str, trigger: Trigger) -> Result<()> {
    let Some(r) = sqlx::query("SELECT plan_id, status, actor, error FROM runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(());
    };
    let status: String = r.try_get("status")?;
    let error: Option<String> = r.try_get("error")?;
    let actor: String = r.try_get("actor")?;
    let message = match trigger {
        Trigger::RunCreated => format!("run {run_id} was created by {actor}"),
        Trigger::RunApplying => format!("run {run_id} is applying"),
        Trigger::RunCompleted => format!("run {run_id} applied every object"),
        _ => format!("run {run_id} failed: {}", error.clone().unwrap_or_default()),
    };
    let notice = Notice {
        trigger,
        at: now(),
        message,
        kind: "run",
        id: run_id.to_string(),
        url: format!("/v1/runs/{run_id}"),
        data: serde_json::json!({"id": run_id, "planId": r.try_get::<String, _>("plan_id")?, "status": status,
            "actor": actor, "error": error}),
    };
    enqueue_tx(conn, &notice).await
}

/// A runtime that started to drift.
pub(crate) async fn drift_notice_tx(
    conn: &mut AnyConnection,
    namespace: &str,
    name: &str,
    drift: &[serde_json::Value],
) -> Result<()> {
    let cluster: Option<String> =
        sqlx::query_scalar("SELECT cluster FROM runtime_sync WHERE namespace = $1 AND name = $2")
            .bind(namespace)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    let notice = Notice {
        trigger: Trigger::DriftDetected,
        at: now(),
        message: format!("runtime {namespace}/{name} drifted: {} field(s) differ live", drift.len()),
        kind: "runtime",
        id: format!("{namespace}/{name}"),
        url: format!("/v1/runtimes/{namespace}/{name}"),
        data: serde_json::json!({"namespace": namespace, "name": name, "cluster": cluster,
            "drift": drift.iter().take(20).collect::<Vec<_>>(), "driftedFields": drift.len()}),
    };
    enqueue_tx(conn, &notice).await
}

impl Store {
    /// Creates or replaces a notification; returns it and whether it was created.
    pub async fn put_notification(&self, p: NotificationPut<'_>) -> Result<(NotificationRecord, bool)> {
        let mut tx = self.begin().await?;
        let old: Option<i64> = sqlx::query_scalar("SELECT generation FROM notifications WHERE name = $1")
            .bind(p.name)
            .fetch_optional(&mut *tx)
            .await?;
        let what = format!("notification {:?}", p.name);
        let at = fmt_time(now());
        let names: Vec<&str> = p.triggers.iter().map(|t| t.as_str()).collect();
        let triggers = serde_json::to_string(&names).expect("serializes");
        match old {
            Some(generation) => {
                check_if_match(&what, p.if_match, &etag(generation))?;
                sqlx::query(
                    "UPDATE notifications SET url = $1, triggers = $2, secret_sealed = $3, secret_fingerprint = $4,
                       description = $5, enabled = $6, generation = generation + 1, updated_at = $7 WHERE name = $8",
                )
                .bind(p.url)
                .bind(&triggers)
                .bind(p.secret_sealed)
                .bind(p.secret_fingerprint)
                .bind(p.description)
                .bind(p.enabled as i64)
                .bind(&at)
                .bind(p.name)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                if p.if_match.is_some_and(|m| m.trim() != "*") {
                    return Err(StoreError::PreconditionFailed { what, current: "none".into() });
                }
                sqlx::query(
                    "INSERT INTO notifications (name, url, triggers, secret_sealed, secret_fingerprint, description,
                       enabled, generation, created_at, updated_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10)",
                )
                .bind(p.name)
                .bind(p.url)
                .bind(&triggers)
                .bind(p.secret_sealed)
                .bind(p.secret_fingerprint)
                .bind(p.description)
                .bind(p.enabled as i64)
                .bind(&at)
                .bind(&at)
                .bind(p.actor)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok((self.get_notification(p.name).await?, old.is_none()))
    }

    pub async fn get_notification(&self, name: &str) -> Result<NotificationRecord> {
        let row = sqlx::query("SELECT * FROM notifications WHERE name = $1")
            .bind(name)
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found(format!("notification {name:?}")))?;
        row_to_notification(&row)
    }

    pub async fn list_notifications(&self) -> Result<Vec<NotificationRecord>> {
        let rows = sqlx::query("SELECT * FROM notifications ORDER BY name").fetch_all(self.reader()).await?;
        rows.iter().map(row_to_notification).collect()
    }

    /// Deletes a notification with its outbox.
    pub async fn delete_notification(&self, name: &str, if_match: Option<&str>) -> Result<()> {
        let mut tx = self.begin().await?;
        let generation: i64 = sqlx::query_scalar("SELECT generation FROM notifications WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("notification {name:?}")))?;
        check_if_match(&format!("notification {name:?}"), if_match, &etag(generation))?;
        sqlx::query("DELETE FROM notifications WHERE name = $1").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records one delivery of `notice` to notification `name` that the caller sends itself
    /// (a verification: the dispatcher never picks it up); returns its id.
    pub async fn enqueue_one(&self, name: &str, notice: &Notice) -> Result<i64> {
        let mut tx = self.begin().await?;
        let id = insert_delivery_tx(&mut tx, name, notice, &fmt_time(now()), None).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Enqueues `notice` for every notification subscribed to its trigger.
    pub async fn notify(&self, notice: &Notice) -> Result<()> {
        let mut tx = self.begin().await?;
        enqueue_tx(&mut tx, notice).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pending deliveries due by `at` (oldest first), with their notification's URL and
    /// sealed secret; `only` restricts to one delivery.
    pub async fn due_deliveries(&self, at: DateTime<Utc>, limit: i64, only: Option<i64>) -> Result<Vec<DueDelivery>> {
        let rows = sqlx::query(
            "SELECT d.id, d.notification, d.trigger_name, d.payload, d.attempts, n.url, n.secret_sealed
               FROM notification_deliveries d JOIN notifications n ON n.name = d.notification
              WHERE d.state = 'pending' AND ($1 IS NOT NULL AND d.id = $2 OR $3 IS NULL AND n.enabled = 1 AND d.next_attempt_at <= $4)
              ORDER BY d.next_attempt_at, d.id LIMIT $5",
        )
        .bind(only)
        .bind(only)
        .bind(only)
        .bind(fmt_time(at))
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueDelivery {
                    id: r.try_get("id")?,
                    notification: r.try_get("notification")?,
                    url: r.try_get("url")?,
                    trigger: r.try_get("trigger_name")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get::<i64, _>("attempts")? as u32,
                    secret_sealed: r.try_get("secret_sealed")?,
                })
            })
            .collect()
    }

    /// Records attempt `attempt` of delivery `id` and what comes next, in one commit.
    pub async fn record_attempt(&self, id: i64, attempt: u32, result: &AttemptResult) -> Result<()> {
        let mut tx = self.begin().await?;
        let at = fmt_time(now());
        sqlx::query(
            "INSERT INTO notification_attempts (delivery_id, attempt, at, status, error, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (delivery_id, attempt) DO UPDATE SET at = excluded.at, status = excluded.status,
               error = excluded.error, duration_ms = excluded.duration_ms",
        )
        .bind(id)
        .bind(attempt as i64)
        .bind(&at)
        .bind(result.status.map(i64::from))
        .bind(&result.error)
        .bind(result.duration_ms)
        .execute(&mut *tx)
        .await?;
        let (state, next, finished) = match &result.end {
            AttemptEnd::Delivered => ("delivered", None, Some(at.clone())),
            AttemptEnd::Retry(t) => ("pending", Some(fmt_time(*t)), None),
            AttemptEnd::GiveUp => ("failed", None, Some(at.clone())),
        };
        sqlx::query(
            "UPDATE notification_deliveries SET state = $1, attempts = $2, next_attempt_at = $3, last_status = $4,
               last_error = $5, finished_at = $6 WHERE id = $7 AND state = 'pending'",
        )
        .bind(state)
        .bind(attempt as i64)
        .bind(next)
        .bind(result.status.map(i64::from))
        .bind(&result.error)
        .bind(finished)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A notification's deliveries, newest first, before delivery id `before`.
    pub async fn list_deliveries(&self, name: &str, before: i64, limit: i64) -> Result<Vec<DeliveryRecord>> {
        let mut conn = self.reader().begin().await?;
        let rows = sqlx::query(
            "SELECT * FROM notification_deliveries WHERE notification = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(name)
        .bind(before)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let attempts = sqlx::query("SELECT * FROM notification_attempts WHERE delivery_id = $1 ORDER BY attempt")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|a| {
                    Ok(DeliveryAttempt {
                        attempt: a.try_get::<i64, _>("attempt")? as u32,
                        at: parse_time(&a.try_get::<String, _>("at")?)?,
                        status: a.try_get::<Option<i64>, _>("status")?.map(|s| s as u16),
                        error: a.try_get("error")?,
                        duration_ms: a.try_get("duration_ms")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(DeliveryRecord {
                id,
                trigger: r.try_get("trigger_name")?,
                state: r.try_get("state")?,
                attempts: r.try_get::<i64, _>("attempts")? as u32,
                next_attempt_at: opt_time(r, "next_attempt_at")?,
                last_status: r.try_get::<Option<i64>, _>("last_status")?.map(|s| s as u16),
                last_error: r.try_get("last_error")?,
                created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
                finished_at: opt_time(r, "finished_at")?,
                payload: parse_json(&r.try_get::<String, _>("payload")?)?,
                attempt_log: attempts,
            });
        }
        conn.commit().await?;
        Ok(out)
    }

    /// One delivery of a notification.
    pub async fn get_delivery(&self, name: &str, id: i64) -> Result<DeliveryRecord> {
        self.list_deliveries(name, id + 1, 1)
            .await?
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| StoreError::not_found(format!("delivery {id}")))
    }

    /// Deliveries in the outbox per state.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM notification_deliveries GROUP BY state")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| Ok((r.try_get("state")?, r.try_get("n")?))).collect()
    }

    /// Drops finished deliveries beyond the newest `KEEP_FINISHED` of each notification.
    pub async fn prune_deliveries(&self) -> Result<u64> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "DELETE FROM notification_deliveries WHERE state != 'pending' AND id IN (
               SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY notification ORDER BY id DESC) AS k
                                 FROM notification_deliveries WHERE state != 'pending') ranked WHERE k > $1)",
        )
        .bind(KEEP_FINISHED)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}
