//! Saved replies to POST requests that carried an `Idempotency-Key`, per caller. Bodies may
//! hold secrets shown once (a new API token), so they are stored sealed by the caller.

use sqlx::Row;

use super::{Result, Store, fmt_time, now, parse_json};

#[derive(Debug, Clone)]
pub struct SavedReply {
    pub request_hash: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub sealed_body: String,
}

impl Store {
    pub async fn find_reply(&self, actor: &str, key: &str) -> Result<Option<SavedReply>> {
        let row =
            sqlx::query("SELECT request_hash, status, headers, body FROM idempotency_keys WHERE actor = ? AND key = ?")
                .bind(actor)
                .bind(key)
                .fetch_optional(self.reader())
                .await?;
        row.map(|r| {
            Ok(SavedReply {
                request_hash: r.try_get("request_hash")?,
                status: r.try_get::<i64, _>("status")? as u16,
                headers: parse_json(&r.try_get::<String, _>("headers")?)?,
                sealed_body: String::from_utf8_lossy(&r.try_get::<Vec<u8>, _>("body")?).into_owned(),
            })
        })
        .transpose()
    }

    /// Saves a reply unless one is already saved under the key (the first reply wins).
    pub async fn save_reply(&self, actor: &str, key: &str, reply: &SavedReply) -> Result<()> {
        sqlx::query(
            "INSERT INTO idempotency_keys (actor, key, request_hash, status, headers, body, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (actor, key) DO NOTHING",
        )
        .bind(actor)
        .bind(key)
        .bind(&reply.request_hash)
        .bind(reply.status as i64)
        .bind(serde_json::to_string(&reply.headers).expect("headers serialize"))
        .bind(reply.sealed_body.as_bytes())
        .bind(fmt_time(now()))
        .execute(&mut *self.begin_plain().await?)
        .await?;
        Ok(())
    }

    async fn begin_plain(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        Ok(self.write.acquire().await?)
    }
}
