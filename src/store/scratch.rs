//! The database a test (or a benchmark) uses for a data directory: the SQLite file in it,
//! or, when `FLUIDFORM_TEST_DATABASE_URL` names a PostgreSQL server, a database of its own
//! on that server, created the first time the directory asks and named in the file
//! `test-database-url` inside it, so a restarted app (or a second replica pointed at the
//! same directory) finds the same one. `scripts/pg.sh` starts such a server.

use std::path::Path;
use std::process::Command;

/// The environment variable that moves tests onto PostgreSQL.
pub const TEST_DATABASE_ENV: &str = "FLUIDFORM_TEST_DATABASE_URL";
const URL_FILE: &str = "test-database-url";

/// The PostgreSQL server tests run on, if any.
pub fn postgres_server() -> Option<String> {
    std::env::var(TEST_DATABASE_ENV).ok().filter(|u| u.starts_with("postgres"))
}

/// The database URL for the data directory `dir` (see the module doc).
pub fn database_url(dir: &Path) -> String {
    let Some(server) = postgres_server() else {
        return format!("sqlite://{}", dir.join("fluidform.db").display());
    };
    let file = dir.join(URL_FILE);
    std::fs::create_dir_all(dir).expect("create the data directory");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return url.trim().to_string();
    }
    let name = format!("ff_{}", uuid::Uuid::new_v4().simple());
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &server, "-c", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs (PostgreSQL's client is installed)");
    assert!(out.status.success(), "CREATE DATABASE on {server}: {}", String::from_utf8_lossy(&out.stderr));
    let url = with_database(&server, &name);
    std::fs::write(&file, &url).expect("write the test database's URL");
    url
}

/// `server` with its database replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(i) => &base[..authority_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Every byte the database of `dir` keeps at rest, for tests that look for a secret in it:
/// the SQLite files (main and write-ahead log), or a `pg_dump` of the PostgreSQL database.
pub fn database_bytes(dir: &Path) -> Vec<u8> {
    let url = database_url(dir);
    if !url.starts_with("postgres") {
        let mut all = Vec::new();
        for f in ["fluidform.db", "fluidform.db-wal"] {
            all.extend(std::fs::read(dir.join(f)).unwrap_or_default());
        }
        return all;
    }
    let out = Command::new("pg_dump").args(["--no-owner", &url]).output().expect("pg_dump runs");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_parameters_kept() {
        assert_eq!(with_database("postgres://u@h:5/postgres", "x"), "postgres://u@h:5/x");
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
        assert_eq!(with_database("postgres://u@h/db?sslmode=require", "x"), "postgres://u@h/x?sslmode=require");
    }
}
