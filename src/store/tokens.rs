//! API tokens: stored as SHA-256 hashes with a name and a role; never the token itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Result, Store, StoreError, fmt_time, now, parse_time};

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
}

fn row_to_token(row: &sqlx::sqlite::SqliteRow) -> Result<TokenRecord> {
    let role: String = row.try_get("role")?;
    Ok(TokenRecord {
        name: row.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        created_by: row.try_get("created_by")?,
    })
}

impl Store {
    pub async fn find_token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query("SELECT name, role, created_at, created_by FROM api_tokens WHERE token_hash = ?")
            .bind(hash)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(row_to_token).transpose()
    }

    pub async fn create_token(&self, name: &str, role: Role, hash: &str, actor: &str) -> Result<TokenRecord> {
        let mut tx = self.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM api_tokens WHERE name = ?").bind(name).fetch_optional(&mut *tx).await?;
        if exists.is_some() {
            return Err(StoreError::conflict("token_exists", format!("a token named {name:?} already exists")));
        }
        let at = now();
        sqlx::query("INSERT INTO api_tokens (name, role, token_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?)")
            .bind(name)
            .bind(role.as_str())
            .bind(hash)
            .bind(fmt_time(at))
            .bind(actor)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(TokenRecord { name: name.to_string(), role, created_at: at, created_by: actor.to_string() })
    }

    /// Makes `name` an admin token with this hash (the bootstrap token), replacing any
    /// earlier hash under that name.
    pub async fn upsert_bootstrap_token(&self, name: &str, hash: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM api_tokens WHERE name = ? OR token_hash = ?")
            .bind(name)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO api_tokens (name, role, token_hash, created_at, created_by) VALUES (?, 'admin', ?, ?, 'bootstrap')")
            .bind(name)
            .bind(hash)
            .bind(fmt_time(now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query("SELECT name, role, created_at, created_by FROM api_tokens ORDER BY name")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(row_to_token).collect()
    }

    pub async fn delete_token(&self, name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM api_tokens WHERE name = ?").bind(name).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("token {name:?}")));
        }
        tx.commit().await?;
        Ok(())
    }
}
