//! Daemon settings from flags and `FLUIDFORM_*` variables; the only module that reads the
//! environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "fluidform", version, about = "Declarative provisioning for Fluid data runtimes")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: REST API plus background workers.
    Serve(Box<ServeConfig>),
    /// Print the OpenAPI document the daemon serves.
    Openapi,
    /// The command-line client (`login`, `get`, `apply`, `plan`, `rotate`, …).
    #[command(flatten)]
    Client(Box<crate::cli::ClientCommand>),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address the REST API listens on.
    #[arg(long, env = "FLUIDFORM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, env = "FLUIDFORM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "FLUIDFORM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve plain HTTP on a non-loopback address (behind a TLS-terminating proxy).
    #[arg(long, env = "FLUIDFORM_INSECURE_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub insecure_http: bool,

    /// Directory for the SQLite database, the generated key and the admin token.
    #[arg(long, env = "FLUIDFORM_DATA_DIR", default_value = "./fluidform-data")]
    pub data_dir: PathBuf,

    /// Database URL; defaults to `sqlite://<data-dir>/fluidform.db`.
    #[arg(long, env = "FLUIDFORM_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Bootstrap admin token. Without it one is generated into `<data-dir>/admin.token`.
    #[arg(long, env = "FLUIDFORM_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Key for secrets at rest: 32 bytes, base64. Without it (or a key file) a key is
    /// generated into `<data-dir>/master.key`.
    #[arg(long, env = "FLUIDFORM_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,

    /// File holding the key for secrets at rest (base64, 32 bytes).
    #[arg(long, env = "FLUIDFORM_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,

    /// Log filter (`info`, `debug`, `fluidform=debug,sqlx=warn`, …).
    #[arg(long = "log", env = "FLUIDFORM_LOG", default_value = "info")]
    pub log: String,

    /// Log format: `text` or `json`.
    #[arg(long, env = "FLUIDFORM_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// HTTP worker threads (default: number of CPUs).
    #[arg(long, env = "FLUIDFORM_HTTP_WORKERS")]
    pub http_workers: Option<usize>,

    /// Seconds between drift refreshes of applied runtimes (0 disables the loop).
    #[arg(long, env = "FLUIDFORM_DRIFT_INTERVAL", default_value_t = 60)]
    pub drift_interval_secs: u64,

    /// This replica's name in leases, lock and run records and logs (default: the host
    /// name and the process id, `host-1234`). Start-up marks failed the runs an earlier
    /// process of the same name left unfinished; replicas sharing a database need distinct
    /// names (a pod's name is a good one: stable across restarts of its container).
    #[arg(long, env = "FLUIDFORM_REPLICA_ID")]
    pub replica: Option<String>,

    /// Seconds SIGTERM waits for runs and rotation steps in progress to stop at their next
    /// boundary before the daemon exits anyway.
    #[arg(long, env = "FLUIDFORM_SHUTDOWN_GRACE", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_grace_secs: u64,

    /// Seconds a saved plan stays applicable.
    #[arg(long, env = "FLUIDFORM_PLAN_TTL", default_value_t = 3600)]
    pub plan_ttl_secs: u64,

    /// Seconds one credential verification may take per registry (connect, challenge,
    /// token, proof).
    #[arg(long, env = "FLUIDFORM_REGISTRY_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub registry_timeout_secs: u64,

    /// Verifications per second at most against one registry.
    #[arg(long, env = "FLUIDFORM_REGISTRY_RATE", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub registry_rate: u32,

    /// Seconds a credential version's proof stays good for a rotation's next batch; older,
    /// the batch proves it again before it moves anything (0: every batch).
    #[arg(long, env = "FLUIDFORM_VERIFY_MAX_AGE", default_value_t = 300)]
    pub verify_max_age_secs: u64,
    /// Seconds a reply saved under an Idempotency-Key is replayed (60 to 2592000).
    #[arg(long, env = "FLUIDFORM_IDEMPOTENCY_TTL", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(60..=2_592_000))]
    pub idempotency_ttl_secs: u64,

    /// Bearer token `/metrics` asks for; without it `/metrics` is open like `/healthz`.
    #[arg(long, env = "FLUIDFORM_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

impl ServeConfig {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("fluidform.db").display()))
    }

    /// The registry client's settings, with the proxy from `HTTPS_PROXY`, `HTTP_PROXY` and
    /// `NO_PROXY` (or their lowercase forms), as container runtimes read them.
    pub fn registry_client(&self) -> crate::registry::http::ClientSettings {
        let var = |names: [&str; 2]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()));
        crate::registry::http::ClientSettings {
            timeout: Duration::from_secs(self.registry_timeout_secs),
            interval: Duration::from_secs_f64(1.0 / f64::from(self.registry_rate.max(1))),
            proxy: crate::registry::http::Proxy {
                https: var(["HTTPS_PROXY", "https_proxy"]),
                http: var(["HTTP_PROXY", "http_proxy"]),
                no: var(["NO_PROXY", "no_proxy"]),
            },
        }
    }

    pub fn drift_interval(&self) -> Option<Duration> {
        (self.drift_interval_secs > 0).then(|| Duration::from_secs(self.drift_interval_secs))
    }
}
