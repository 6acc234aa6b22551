//! The CLI's side of the REST API: where the daemon is and the token (flags, then
//! `FLUIDFORM_URL`/`FLUIDFORM_TOKEN`, then the config file `fluidform login` wrote, mode
//! 0600), JSON calls, and problems turned into messages and exit codes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::exit;

/// Where the daemon is and how to reach it, as flags and the environment give it.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// The daemon's URL (default: the one `fluidform login` saved, else http://127.0.0.1:8080).
    #[arg(long, env = "FLUIDFORM_URL", global = true)]
    pub server: Option<String>,
    /// An API token (default: the one `fluidform login` saved).
    #[arg(long, env = "FLUIDFORM_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// The CLI's config file (default: $XDG_CONFIG_HOME/fluidform/config.json or
    /// ~/.config/fluidform/config.json).
    #[arg(long, env = "FLUIDFORM_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Output: `table` for people, `json` or `yaml` for scripts.
    #[arg(short, long, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

/// What `fluidform login` saves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SavedConfig {
    pub server: String,
    pub token: String,
}

/// A failure, with the exit code it means.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// The config file's path: `--config`, else the XDG location (this and clap's `env` are
/// the CLI's only reads of the environment).
pub fn config_path(conn: &Connection) -> PathBuf {
    if let Some(p) = &conn.config {
        return p.clone();
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("fluidform").join("config.json")
}

pub fn load_config(path: &Path) -> Option<SavedConfig> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes the config file readable by its owner only (its directory too, when created).
pub fn save_config(path: &Path, cfg: &SavedConfig) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    let tmp = path.with_extension("json.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(serde_json::to_string_pretty(cfg).expect("serializes").as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub struct Api {
    pub base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    /// The client for `conn`: flags and environment first, then the saved config.
    pub fn new(conn: &Connection) -> Api {
        let saved = load_config(&config_path(conn));
        let base = conn
            .server
            .clone()
            .or_else(|| saved.as_ref().map(|s| s.server.clone()))
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let token = conn.token.clone().or_else(|| saved.map(|s| s.token)).filter(|t| !t.is_empty());
        Self::with(&base, token)
    }

    pub fn with(base: &str, token: Option<String>) -> Api {
        let http = reqwest::Client::builder()
            .user_agent(concat!("fluidform-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("the HTTP client builds");
        Api { base: base.trim_end_matches('/').to_string(), token, http }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    /// Sends a request and reads a JSON answer (Null for an empty one); a problem becomes a
    /// `Failure` with its exit code.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let resp = req.send().await.map_err(|e| unreachable(&self.base, e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| unreachable(&self.base, e))?;
        if status.is_success() {
            if body.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&body)
                .map_err(|e| Failure::new(exit::FAILURE, format!("the daemon's answer is not JSON: {e}")));
        }
        Err(problem(status.as_u16(), &body))
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.request(reqwest::Method::POST, path).json(body)).await
    }
}

fn unreachable(base: &str, e: reqwest::Error) -> Failure {
    Failure::new(exit::UNREACHABLE, format!("cannot reach the daemon at {base}: {}", e.without_url()))
}

/// A problem+json answer as a message, and its exit code.
pub fn problem(status: u16, body: &[u8]) -> Failure {
    let p: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = p["code"].as_str().unwrap_or("error");
    let detail = p["detail"].as_str().map(str::to_owned).unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let mut message = format!("{code} ({status}): {detail}");
    if let Some(errors) = p["errors"].as_array().filter(|e| e.len() > 1) {
        for e in errors {
            message.push_str(&format!(
                "\n  {}: {}",
                e["field"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            ));
        }
    }
    Failure::new(exit::of_status(status), message)
}

/// Percent-encodes one path segment or query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
