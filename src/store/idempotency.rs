//! Replies to POST requests that carried an `Idempotency-Key`, per token (by the hash of
//! the token that sent them). A key is reserved before the request acts, so two
//! concurrent retries never both act; the reply is saved sealed by the caller (it may
//! show a secret once, such as a new API token) and replayed until it expires.
//!
//! A reservation whose request never finished (the process died, the connection was
//! dropped mid-request) is abandoned after `ABANDONED_AFTER` and the key may be used
//! again: the request may or may not have acted, as for any request without a reply.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Result, Store, fmt_time, now, parse_json, parse_time};

/// How long a reservation without a reply holds its key.
pub const ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(5);

#[derive(Debug, Clone)]
pub struct SavedReply {
    pub request_hash: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub sealed_body: String,
}

/// What a key holds when a request arrives with it.
#[derive(Debug, Clone)]
pub enum Reservation {
    /// The key was free: it is now this request's.
    Reserved,
    /// Another request with this key is still acting.
    InProgress { request_hash: String },
    /// A request with this key finished; its reply.
    Done(SavedReply),
}

impl Store {
    /// Reserves `key` for a request (`request_hash`) of the token `token_hash`, or says
    /// what holds it. Expired replies and abandoned reservations free their keys first.
    pub async fn reserve_key(
        &self,
        token_hash: &str,
        key: &str,
        request_hash: &str,
        ttl: chrono::Duration,
    ) -> Result<Reservation> {
        let at = now();
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1").bind(fmt_time(at)).execute(&mut *tx).await?;
        let row = sqlx::query(
            "SELECT request_hash, state, status, headers, body, created_at FROM idempotency_keys
              WHERE token_hash = $1 AND key = $2",
        )
        .bind(token_hash)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = row {
            let state: String = r.try_get("state")?;
            let created: DateTime<Utc> = parse_time(&r.try_get::<String, _>("created_at")?)?;
            let held = r.try_get::<String, _>("request_hash")?;
            if state == "done" {
                return Ok(Reservation::Done(SavedReply {
                    request_hash: held,
                    status: r.try_get::<Option<i64>, _>("status")?.unwrap_or(200) as u16,
                    headers: parse_json(&r.try_get::<Option<String>, _>("headers")?.unwrap_or_else(|| "[]".into()))?,
                    sealed_body: String::from_utf8_lossy(&r.try_get::<Option<Vec<u8>>, _>("body")?.unwrap_or_default())
                        .into_owned(),
                }));
            }
            if created + ABANDONED_AFTER > at {
                return Ok(Reservation::InProgress { request_hash: held });
            }
        }
        sqlx::query(
            "INSERT INTO idempotency_keys (token_hash, key, request_hash, state, created_at, expires_at)
             VALUES ($1, $2, $3, 'in_progress', $4, $5)
             ON CONFLICT (token_hash, key) DO UPDATE SET request_hash = excluded.request_hash,
               state = 'in_progress', status = NULL, headers = NULL, body = NULL,
               created_at = excluded.created_at, expires_at = excluded.expires_at",
        )
        .bind(token_hash)
        .bind(key)
        .bind(request_hash)
        .bind(fmt_time(at))
        .bind(fmt_time(at + ttl.max(ABANDONED_AFTER)))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Reservation::Reserved)
    }

    /// Saves the reply of a reserved key; it is replayed for `ttl`.
    pub async fn complete_key(
        &self,
        token_hash: &str,
        key: &str,
        reply: &SavedReply,
        ttl: chrono::Duration,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'done', status = $1, headers = $2, body = $3, expires_at = $4
              WHERE token_hash = $5 AND key = $6 AND request_hash = $7",
        )
        .bind(reply.status as i64)
        .bind(serde_json::to_string(&reply.headers).expect("headers serialize"))
        .bind(reply.sealed_body.as_bytes())
        .bind(fmt_time(now() + ttl))
        .bind(token_hash)
        .bind(key)
        .bind(&reply.request_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Frees a reserved key whose request failed (it may be retried with the same key).
    pub async fn release_key(&self, token_hash: &str, key: &str, request_hash: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE token_hash = $1 AND key = $2 AND request_hash = $3 AND state = 'in_progress'",
        )
        .bind(token_hash)
        .bind(key)
        .bind(request_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
