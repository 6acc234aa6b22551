//! API tokens: stored as SHA-256 hashes with a name, a role and an optional expiry; never
//! the token itself.
//!
//! The last admin token that has not expired cannot be revoked (`last_admin`): a fleet
//! must never be left without someone who can manage it. Revoked hashes are remembered,
//! so the bootstrap token a revoked admin was started with is not restored at the next
//! start (`upsert_bootstrap_token` answers `false`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Result, Store, StoreError, fmt_time, now, parse_time};
use crate::domain::code::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// When the token stops working; `None` never.
    pub expires_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    pub fn expired(&self, at: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= at)
    }
}

const COLUMNS: &str = "name, role, created_at, created_by, expires_at";

fn row_to_token(row: &sqlx::any::AnyRow) -> Result<TokenRecord> {
    let role: String = row.try_get("role")?;
    Ok(TokenRecord {
        name: row.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        created_by: row.try_get("created_by")?,
        expires_at: row.try_get::<Option<String>, _>("expires_at")?.as_deref().map(parse_time).transpose()?,
    })
}

impl Store {
    /// The token with this hash, expired ones included (the caller decides).
    pub async fn find_token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash).fetch_optional(self.reader()).await?;
        row.as_ref().map(row_to_token).transpose()
    }

    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        hash: &str,
        actor: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<TokenRecord> {
        let mut tx = self.begin().await?;
        let exists =
            sqlx::query("SELECT 1 FROM api_tokens WHERE name = $1").bind(name).fetch_optional(&mut *tx).await?;
        if exists.is_some() {
            return Err(StoreError::conflict(ErrorCode::TokenExists, format!("a token named {name:?} already exists")));
        }
        let at = now();
        sqlx::query(
            "INSERT INTO api_tokens (name, role, token_hash, created_at, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(hash)
        .bind(fmt_time(at))
        .bind(actor)
        .bind(expires_at.map(fmt_time))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TokenRecord { name: name.to_string(), role, created_at: at, created_by: actor.to_string(), expires_at })
    }

    /// Makes `name` an admin token with this hash (the bootstrap token), replacing any
    /// earlier hash under that name; `false` (and nothing written) when this hash was
    /// revoked.
    pub async fn upsert_bootstrap_token(&self, name: &str, hash: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let revoked = sqlx::query("SELECT 1 FROM revoked_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&mut *tx)
            .await?;
        if revoked.is_some() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM api_tokens WHERE name = $1 OR token_hash = $2")
            .bind(name)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO api_tokens (name, role, token_hash, created_at, created_by) VALUES ($1, 'admin', $2, $3, 'bootstrap')")
            .bind(name)
            .bind(hash)
            .bind(fmt_time(now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(self.reader()).await?;
        rows.iter().map(row_to_token).collect()
    }

    /// Revokes a token and remembers its hash. The last admin that has not expired stays.
    pub async fn delete_token(&self, name: &str, actor: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT role, token_hash FROM api_tokens WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("token {name:?}")))?;
        let role: String = row.try_get("role")?;
        let hash: String = row.try_get("token_hash")?;
        let at = fmt_time(now());
        if role == "admin" {
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM api_tokens WHERE role = 'admin' AND name != $1 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(name)
            .bind(&at)
            .fetch_one(&mut *tx)
            .await?;
            if others == 0 {
                return Err(StoreError::conflict(
                    ErrorCode::LastAdmin,
                    format!("token {name:?} is the last admin token; create another admin token before revoking it"),
                ));
            }
        }
        sqlx::query("DELETE FROM api_tokens WHERE name = $1").bind(name).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO revoked_tokens (token_hash, name, revoked_at, revoked_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(&hash)
        .bind(name)
        .bind(&at)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
