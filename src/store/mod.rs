//! SQLite persistence through sqlx: one file per aggregate, rows converted into plain types.
//!
//! Two pools share one database file in WAL mode: a single-connection writer, so write
//! transactions queue instead of failing with `SQLITE_BUSY` on lock upgrades, and a pool of
//! readers that never block it. `synchronous=FULL` makes every committed write survive a
//! crash or power loss. The SQL is kept plain so a PostgreSQL backend can sit beside it.

pub mod audit;
pub mod clusters;
pub mod credentials;
pub mod datasets;
pub mod idempotency;
pub mod locks;
pub mod notifications;
pub mod ops;
pub mod plans;
pub mod ports;
pub mod profiles;
pub mod rotations;
pub mod runs;
pub mod runtimes;
pub mod sync;
pub mod tokens;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::domain::code::{Coded, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{detail}")]
    Conflict { code: ErrorCode, detail: String },
    #[error("{what} has changed: its ETag is now {current}")]
    PreconditionFailed { what: String, current: String },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }
    /// A write refused because of what is stored; `code` says which rule it broke.
    pub fn conflict(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into() }
    }
}

impl Coded for StoreError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict { code, .. } => *code,
            Self::PreconditionFailed { .. } => ErrorCode::PreconditionFailed,
            Self::Db(_) | Self::Migrate(_) | Self::Corrupt(_) => ErrorCode::Internal,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub struct Store {
    read: SqlitePool,
    write: SqlitePool,
}

impl Store {
    /// Opens (creating when missing) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self> {
        let base = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // No ping before each acquire: a connection to a local file does not go stale, and
        // the ping is a round trip to the connection's worker thread on every statement.
        let pool = || SqlitePoolOptions::new().test_before_acquire(false);
        let write = pool().max_connections(1).connect_with(base.clone()).await?;
        sqlx::migrate!("./migrations").run(&write).await?;
        let read = pool().max_connections(8).connect_with(base.read_only(true)).await?;
        let store = Self { read, write };
        store.run_pending_tasks().await?;
        Ok(store)
    }

    pub fn reader(&self) -> &SqlitePool {
        &self.read
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock at once (waiting up to
    /// the busy timeout for another process's), so a transaction that reads before it
    /// writes is never refused halfway when a second process shares the file.
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.read).await.is_ok()
    }
}

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("time {s:?}: {e}")))
}

pub fn parse_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("json column: {e}")))
}

/// Compares an `If-Match` value with a resource's current ETag.
pub fn check_if_match(what: &str, if_match: Option<&str>, current: &str) -> Result<()> {
    match if_match {
        Some(v) if v.trim() != "*" && !v.split(',').any(|t| t.trim() == current) => {
            Err(StoreError::PreconditionFailed { what: what.to_string(), current: current.to_string() })
        }
        _ => Ok(()),
    }
}

/// ETags are the quoted generation of the resource.
pub fn etag(generation: i64) -> String {
    format!("\"{generation}\"")
}
