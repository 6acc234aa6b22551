//! Persistence through sqlx: one file per aggregate, rows converted into plain types, on
//! SQLite (the default, a file beside the daemon) or PostgreSQL (what several replicas share).
//!
//! One interface, two backends behind sqlx's `Any` driver: the SQL is written once, in the
//! subset both speak (numbered placeholders, except in statements built at run time: see
//! `sql`; `ON CONFLICT`, `RETURNING`, row values), each
//! backend with its own migrations (`migrations/sqlite`, `migrations/postgres`). The
//! PostgreSQL schema defines `json_extract` and `json_each` as SQLite has them, and every
//! text column compares bytewise (`COLLATE "C"`), so ordering and pagination agree.
//!
//! Write transactions are serial on both, the guarantee the store's read-then-write
//! transactions are written against:
//! - SQLite: two pools share one database file in WAL mode: a single-connection writer, so
//!   write transactions queue instead of failing with `SQLITE_BUSY` on lock upgrades, and a
//!   pool of readers that never block it. `synchronous=FULL` makes every committed write
//!   survive a crash or power loss. `BEGIN IMMEDIATE` serialises a second process too.
//!   The hottest point read (`GET` of a runtime) skips the pool's worker thread: `direct`.
//! - PostgreSQL: one pool; a write transaction first takes a transaction-scoped advisory
//!   lock (`pg_advisory_xact_lock`), so write transactions of every replica run one at a
//!   time, as on SQLite, while reads (outside transactions) run concurrently. Migrations run
//!   under sqlx's migration advisory lock, so replicas starting together apply them once.

pub mod audit;
pub mod clusters;
mod columns;
pub mod credentials;
pub mod datasets;
mod direct;
pub mod idempotency;
pub mod locks;
pub mod notifications;
pub mod ops;
pub mod plans;
pub mod ports;
pub mod profiles;
pub mod renderings;
pub mod replicas;
pub mod rotations;
pub mod runs;
pub mod runtimes;
#[doc(hidden)]
pub mod scratch;
pub mod sql;
pub mod sync;
pub mod tokens;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::AnyPool;
use sqlx::any::{Any, AnyPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, Transaction};

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
    #[error("database: {0}")]
    Direct(#[from] rusqlite::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database URL: {0}")]
    Url(String),
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
            Self::Db(_) | Self::Direct(_) | Self::Migrate(_) | Self::Corrupt(_) | Self::Url(_) => ErrorCode::Internal,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database engine a store runs on, chosen by its URL's scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Self> {
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(StoreError::Url(format!(
                "the scheme {scheme:?} is not one fluidform stores in: use sqlite://PATH or postgres://USER:PASSWORD@HOST/DB"
            ))),
        }
    }

    /// The backend a connection talks to.
    pub fn of(conn: &sqlx::AnyConnection) -> Self {
        if conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME { Self::Postgres } else { Self::Sqlite }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The key of the advisory lock PostgreSQL write transactions take ("fluidfrm" in ASCII).
const WRITE_LOCK: i64 = 0x666c_7569_6466_726d;

/// Connections to PostgreSQL per replica, unless `FLUIDFORM_DATABASE_MAX_CONNECTIONS` says.
const PG_CONNECTIONS: u32 = 16;

#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
    /// SQLite files only: point reads on the caller's thread (see `direct`).
    direct: Option<std::sync::Arc<direct::DirectReads>>,
}

impl Store {
    /// Opens (creating when missing) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let store = match backend {
            Backend::Sqlite => Self::open_sqlite(url).await?,
            Backend::Postgres => Self::open_postgres(url).await?,
        };
        store.run_pending_tasks().await?;
        Ok(store)
    }

    async fn open_sqlite(url: &str) -> Result<Self> {
        // Create, switch to WAL (a property of the file) and migrate through the SQLite
        // driver's own options; then the `Any` pools set the per-connection pragmas.
        let base = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // Processes sharing the file migrate one at a time (sqlx takes no lock on SQLite):
        // an exclusive lock on `<file>.migrate-lock` while it runs.
        let file = base.get_filename().to_path_buf();
        let in_memory = file.as_os_str().is_empty() || file.to_string_lossy().contains(":memory:");
        let guard = if in_memory {
            None
        } else {
            let path = format!("{}.migrate-lock", file.display());
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| StoreError::Url(format!("{path}: {e}")))?;
            let locked = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
                .await
                .map_err(|e| StoreError::Corrupt(format!("migration lock: {e}")))?;
            Some(locked.map_err(|e| StoreError::Url(format!("{path}: {e}")))?)
        };
        let setup = SqlitePoolOptions::new().max_connections(1).connect_with(base).await?;
        let migrated = sqlx::migrate!("./migrations/sqlite").run(&setup).await;
        setup.close().await;
        drop(guard);
        migrated?;
        // No ping before each acquire: a connection to a local file does not go stale, and
        // the ping is a round trip to the connection's worker thread on every statement.
        let pool = |read_only: bool| {
            AnyPoolOptions::new().test_before_acquire(false).after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000")
                        .await?;
                    if read_only {
                        conn.execute("PRAGMA query_only = ON").await?;
                    }
                    Ok(())
                })
            })
        };
        let write = pool(false).max_connections(1).connect(url).await?;
        let read = pool(true).max_connections(8).connect(url).await?;
        let direct = (!in_memory).then(|| std::sync::Arc::new(direct::DirectReads::new(&file)));
        Ok(Self { backend: Backend::Sqlite, read, write, direct })
    }

    async fn open_postgres(url: &str) -> Result<Self> {
        let max = std::env::var("FLUIDFORM_DATABASE_MAX_CONNECTIONS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|n| *n >= 2)
            .unwrap_or(PG_CONNECTIONS);
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Times are RFC 3339 text and comparisons bytewise either way; pin the
                    // session settings a statement could otherwise pick up from the server.
                    conn.execute("SET TIME ZONE 'UTC'").await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { backend: Backend::Postgres, read: pool.clone(), write: pool, direct: None })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// A write transaction, serial with every other (see the module doc). On SQLite
    /// `BEGIN IMMEDIATE` takes the write lock at once (waiting up to the busy timeout for
    /// another process's), so a transaction that reads before it writes is never refused
    /// halfway; on PostgreSQL the advisory lock does the same across replicas.
    /// Inside `locks::fenced`, the fence is checked first.
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Any>> {
        let mut tx = match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = self.write.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(&mut *tx).await?;
                tx
            }
        };
        if let Some(fence) = locks::current_fence() {
            locks::check_fence_tx(&mut tx, &fence).await?;
        }
        Ok(tx)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_is_named_by_the_scheme_and_others_are_refused() {
        assert_eq!(Backend::of_url("sqlite:///tmp/x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of_url("postgres://u:p@h/db").unwrap(), Backend::Postgres);
        assert_eq!(Backend::of_url("postgresql://h/db").unwrap(), Backend::Postgres);
        let e = Backend::of_url("mysql://u:secret@h/db").unwrap_err().to_string();
        assert!(e.contains("\"mysql\"") && !e.contains("secret"), "{e}");
    }

    /// Run by scripts/test-postgres.sh (`--include-ignored`), which starts a server with TLS
    /// and names its certificate in FLUIDFORM_TEST_PG_CA.
    #[tokio::test]
    #[ignore = "needs a PostgreSQL server with TLS: scripts/test-postgres.sh"]
    async fn postgres_over_verified_tls() {
        let ca = std::env::var("FLUIDFORM_TEST_PG_CA").expect("FLUIDFORM_TEST_PG_CA names the server's certificate");
        let dir = tempfile::tempdir().unwrap();
        let url = scratch::database_url(dir.path());
        assert!(url.starts_with("postgres"), "FLUIDFORM_TEST_DATABASE_URL names a PostgreSQL server");
        let store = Store::open(&format!("{url}?sslmode=verify-full&sslrootcert={ca}")).await.unwrap();
        let tls: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(store.reader())
            .await
            .unwrap();
        assert!(tls, "the connection is TLS");
        // A certificate the client does not trust is refused.
        let other = dir.path().join("other.crt");
        let made = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
            .arg("-keyout")
            .arg(dir.path().join("other.key"))
            .arg("-out")
            .arg(&other)
            .output()
            .unwrap();
        assert!(made.status.success());
        let refused = Store::open(&format!("{url}?sslmode=verify-full&sslrootcert={}", other.display())).await;
        assert!(refused.is_err(), "an untrusted server certificate is refused");
    }
}
