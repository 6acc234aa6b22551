//! The real `fluidform` binary as a child process on a data directory, with a minimal
//! HTTP/1.1 client: for tests about logs, files on disk and being killed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Daemon {
    child: Child,
    pub addr: String,
    pub log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Daemon {
    /// Starts `fluidform serve` on `data` (appending to `log`) and waits for `/readyz`.
    /// `admin` = None lets the daemon generate its token file.
    pub fn start(data: &Path, log: &Path, admin: Option<&str>) -> Daemon {
        Self::start_with(data, log, admin, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `start` with extra environment; `Err` with the log when it exits or never gets
    /// ready. With `FLUIDFORM_TLS_CERT` in `env`, readiness is checked over HTTPS with
    /// that certificate as the CA (by `curl`).
    pub fn start_with(data: &Path, log: &Path, admin: Option<&str>, env: &[(&str, &str)]) -> Result<Daemon, String> {
        let addr = format!("127.0.0.1:{}", free_port());
        Self::start_on(&addr, data, log, admin, env)
    }

    pub fn start_on(
        addr: &str,
        data: &Path,
        log: &Path,
        admin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<Daemon, String> {
        let addr = addr.to_string();
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fluidform"));
        cmd.arg("serve")
            .env("FLUIDFORM_LISTEN", &addr)
            .env("FLUIDFORM_DATA_DIR", data)
            .env("FLUIDFORM_DATABASE_URL", fluidform::store::scratch::database_url(data))
            .env("FLUIDFORM_LOG", "debug")
            .env("FLUIDFORM_DRIFT_INTERVAL", "0")
            .env_remove("FLUIDFORM_MASTER_KEY")
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file));
        match admin {
            Some(t) => cmd.env("FLUIDFORM_ADMIN_TOKEN", t),
            None => cmd.env_remove("FLUIDFORM_ADMIN_TOKEN"),
        };
        for (k, v) in env {
            cmd.env(k, v);
        }
        let tls_ca = env.iter().find(|(k, _)| *k == "FLUIDFORM_TLS_CERT").map(|(_, v)| v.to_string());
        let child = cmd.spawn().expect("daemon starts");
        let mut d = Daemon { child, addr, log: log.to_path_buf() };
        let deadline = Instant::now() + Duration::from_secs(30);
        let local = d.addr.replace("0.0.0.0", "127.0.0.1");
        while Instant::now() < deadline {
            let ready = match &tls_ca {
                None => matches!(http(&local, "GET", "/readyz", None, None), Ok((200, _))),
                Some(ca) => curl_https(ca, &format!("https://{local}/readyz"), None).is_ok_and(|(s, _)| s == 200),
            };
            if ready {
                return Ok(d);
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                return Err(format!("daemon exited ({status}): {}", std::fs::read_to_string(log).unwrap_or_default()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("daemon not ready: {}", std::fs::read_to_string(log).unwrap_or_default()))
    }

    /// SIGTERM, then waits up to `within` for the exit; the exit status.
    pub fn term(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL: no shutdown handler runs.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }

    /// A JSON call; returns the status and the parsed body (Null when empty).
    pub fn call(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let text = body.map(|b| b.to_string());
        let (status, raw) = http(&self.addr, method, path, Some(token), text.as_deref()).expect("daemon answers");
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

/// A minimal HTTP/1.1 client: one request per connection, whole response as text.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    http_with(addr, method, path, token, &[], body)
}

/// `http` with extra request headers.
pub fn http_with(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    let mut extra = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    for (k, v) in headers {
        extra.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, out))
}

/// `curl` over HTTPS trusting only `ca`: the status and the body.
pub fn curl_https(ca: &str, url: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "--cacert", ca, "-w", "\n%{http_code}", url]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    Ok((code.trim().parse().unwrap_or(0), body.to_string()))
}
