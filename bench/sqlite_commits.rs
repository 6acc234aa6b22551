//! The PUT baseline of `bench/http.sh`: a bare sqlx commit loop on SQLite with the
//! daemon's settings (WAL, `synchronous=FULL`, foreign keys, one writer connection, no ping
//! before acquire; see `store::open`). Each iteration is one transaction that upserts a runtime-sized row (the
//! manifest JSON of the HTTP benchmark) and commits. Prints commits per second.
//!
//!   cargo build --release --example sqlite_commits
//!   target/release/examples/sqlite_commits DIR [SECONDS]

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("usage: sqlite_commits DIR [SECONDS]");
    let secs: f64 = args.get(2).map_or(10.0, |s| s.parse().expect("seconds"));
    let url = format!("sqlite://{dir}/commits.db");
    let opts = SqliteConnectOptions::from_str(&url)
        .expect("url")
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool =
        SqlitePoolOptions::new().test_before_acquire(false).max_connections(1).connect_with(opts).await.expect("open");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS runtimes (namespace TEXT NOT NULL, name TEXT NOT NULL, manifest TEXT NOT NULL,
         generation INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (namespace, name))",
    )
    .execute(&pool)
    .await
    .expect("schema");
    let started = Instant::now();
    let mut commits: u64 = 0;
    while started.elapsed().as_secs_f64() < secs {
        let i = commits % 10_000;
        let manifest = format!(
            r#"{{"apiVersion":"data.fluid.io/v1alpha1","kind":"AlluxioRuntime","metadata":{{"name":"rt-{i}","labels":{{"team":"t{t}"}}}},"spec":{{"replicas":{r},"imagePullSecrets":[{{"name":"global-secret"}}],"tieredstore":{{"levels":[{{"mediumtype":"MEM","path":"/dev/shm","quota":"2Gi","high":"0.95","low":"0.7"}}]}},"master":{{"replicas":3,"imagePullSecrets":[{{"name":"master-secret"}}]}},"worker":{{"imagePullSecrets":[{{"name":"worker-secret"}}]}},"properties":{{"bench.counter":"{commits}"}}}}}}"#,
            t = i % 10,
            r = commits % 4 + 1,
        );
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query(
            "INSERT INTO runtimes (namespace, name, manifest, generation, updated_at) VALUES ('bench', ?, ?, 1, datetime('now'))
             ON CONFLICT (namespace, name) DO UPDATE SET manifest = excluded.manifest, generation = generation + 1,
             updated_at = excluded.updated_at",
        )
        .bind(format!("rt-{i}"))
        .bind(manifest)
        .execute(&mut *tx)
        .await
        .expect("upsert");
        tx.commit().await.expect("commit");
        commits += 1;
    }
    println!("{:.1}", commits as f64 / started.elapsed().as_secs_f64());
}
