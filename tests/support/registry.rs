//! A real container registry for the credential verification tests: the Distribution
//! registry (`tests/cluster/build.sh` builds it into the same bin dir as the control plane)
//! serving TLS from a test CA, with htpasswd auth (bcrypt lines written here) or token auth
//! against a small token service of our own (TLS too; RS256 JWTs with an `x5c` chain the
//! registry trusts through its `rootcertbundle`). Also a CONNECT proxy that records where
//! it tunnels to.
//!
//! Every registry has its own temp dir and port; dropping it kills exactly its process.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::cluster::{find_bin_dir, free_port, kill, openssl, random_token, spawn_logged};

/// The token service's `service` (the JWT audience) and `issuer`.
pub const SERVICE: &str = "fluidform-test-registry";
pub const ISSUER: &str = "fluidform-test-issuer";

pub struct TestRegistry {
    /// `127.0.0.1:<port>`, what a credential names as its registry.
    pub host: String,
    /// The test CA that signed the registry's (and the token service's) certificate.
    pub ca_pem: String,
    pub dir: PathBuf,
    child: Option<Child>,
    token: Option<Arc<Mutex<TokenState>>>,
    _tempdir: tempfile::TempDir,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            kill(c);
        }
    }
}

/// The token service's accounts and what it saw.
#[derive(Default)]
struct TokenState {
    users: HashMap<String, String>,
    /// Accounts whose tokens it issues already expired (a realm with a broken clock, or a
    /// robot account past its end).
    expired: HashSet<String>,
    requests: Vec<String>,
}

fn htpasswd(users: &[(&str, &str)]) -> String {
    users.iter().map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, 4).expect("bcrypt"))).collect()
}

async fn pki(dir: &std::path::Path) -> Result<String> {
    let ec = "-algorithm EC -pkeyopt ec_paramgen_curve:P-256";
    for key in ["ca", "serving"] {
        openssl(dir, &format!("genpkey {ec} -out {key}.key")).await?;
    }
    openssl(
        dir,
        "req -x509 -new -key ca.key -out ca.crt -days 3650 -subj /CN=fluidform-test-registry-ca \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )
    .await?;
    fs::write(
        dir.join("serving.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )?;
    openssl(dir, "req -new -key serving.key -subj /CN=registry -out serving.csr").await?;
    let serial = random_token()?;
    openssl(
        dir,
        &format!(
            "x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -set_serial 0x{serial} -days 3650 \
             -extfile serving.ext -out serving.crt"
        ),
    )
    .await?;
    Ok(fs::read_to_string(dir.join("ca.crt"))?)
}

impl TestRegistry {
    /// A registry with htpasswd auth for `users` (name, password).
    pub async fn htpasswd(users: &[(&str, &str)]) -> Result<TestRegistry> {
        let auth = |dir: &std::path::Path| {
            format!("auth:\n  htpasswd:\n    realm: fluidform-test\n    path: {}\n", dir.join("htpasswd").display())
        };
        let (tempdir, ca_pem) = Self::prepare().await?;
        fs::write(tempdir.path().join("htpasswd"), htpasswd(users))?;
        let a = auth(tempdir.path());
        Self::start(tempdir, ca_pem, a, None).await
    }

    /// A registry with token auth: its realm is a token service that knows `users` and
    /// issues expired tokens to the accounts in `expired`.
    pub async fn token(users: &[(&str, &str)], expired: &[&str]) -> Result<TestRegistry> {
        let (tempdir, ca_pem) = Self::prepare().await?;
        let dir = tempdir.path();
        openssl(dir, "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out token.key").await?;
        openssl(dir, "req -x509 -new -key token.key -out token.crt -days 3650 -subj /CN=fluidform-test-token-signer")
            .await?;
        openssl(dir, "pkcs8 -topk8 -nocrypt -in token.key -outform DER -out token.pk8").await?;
        openssl(dir, "x509 -in token.crt -outform DER -out token.der").await?;
        let state = Arc::new(Mutex::new(TokenState {
            users: users.iter().map(|(u, p)| (u.to_string(), p.to_string())).collect(),
            expired: expired.iter().map(|u| u.to_string()).collect(),
            requests: Vec::new(),
        }));
        let port = serve_tokens(dir, state.clone())?;
        let auth = format!(
            "auth:\n  token:\n    realm: https://127.0.0.1:{port}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            dir.join("token.crt").display()
        );
        Self::start(tempdir, ca_pem, auth, Some(state)).await
    }

    async fn prepare() -> Result<(tempfile::TempDir, String)> {
        let tempdir = tempfile::Builder::new().prefix("fluidform-registry-").tempdir()?;
        let ca = pki(tempdir.path()).await?;
        Ok((tempdir, ca))
    }

    async fn start(
        tempdir: tempfile::TempDir,
        ca_pem: String,
        auth: String,
        token: Option<Arc<Mutex<TokenState>>>,
    ) -> Result<TestRegistry> {
        let bin = find_bin_dir(&["registry"])?.join("registry");
        let dir = tempdir.path().to_path_buf();
        let port = free_port()?;
        let host = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {host}\n  secret: fluidform-test-secret\n  tls:\n    certificate: {}\n    key: {}\n{auth}",
            dir.join("data").display(),
            dir.join("serving.crt").display(),
            dir.join("serving.key").display(),
        );
        fs::write(dir.join("config.yml"), config)?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg(dir.join("config.yml"))
            .env("OTEL_TRACES_EXPORTER", "none")
            .env("OTEL_SDK_DISABLED", "true");
        let child = spawn_logged(cmd, &dir, "registry")?;
        let reg = TestRegistry { host, ca_pem, dir, child: Some(child), token, _tempdir: tempdir };
        reg.wait_ready().await?;
        Ok(reg)
    }

    async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("https://{}/v2/", self.host);
        let ca = self.dir.join("ca.crt");
        while Instant::now() < deadline {
            let out = tokio::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
                .arg(&ca)
                .arg(&url)
                .output()
                .await
                .context("running curl")?;
            if String::from_utf8_lossy(&out.stdout) == "401" {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("registry not ready at {url}: {}", self.log_tail(30))
    }

    /// Replaces the accounts the registry (htpasswd) or its token service knows.
    pub fn set_users(&self, users: &[(&str, &str)]) {
        match &self.token {
            Some(t) => t.lock().unwrap().users = users.iter().map(|(u, p)| (u.to_string(), p.to_string())).collect(),
            None => {
                // Written aside and renamed in, so the registry never reads half a file; it
                // reloads the file when its modification time changes.
                let tmp = self.dir.join("htpasswd.new");
                fs::write(&tmp, htpasswd(users)).unwrap();
                fs::rename(&tmp, self.dir.join("htpasswd")).unwrap();
            }
        }
    }

    /// The requests the token service answered (`<status> <account>`), oldest first.
    pub fn token_requests(&self) -> Vec<String> {
        self.token.as_ref().map(|t| t.lock().unwrap().requests.clone()).unwrap_or_default()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

fn tls_acceptor(dir: &std::path::Path) -> Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(dir.join("serving.crt"))?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(dir.join("serving.key"))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Starts the token service on a thread of its own; returns its port.
fn serve_tokens(dir: &std::path::Path, state: Arc<Mutex<TokenState>>) -> Result<u16> {
    let acceptor = tls_acceptor(dir)?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(&fs::read(dir.join("token.pk8"))?)
        .map_err(|e| anyhow::anyhow!("token key: {e}"))?;
    let key = Arc::new(key);
    let cert = B64.encode(fs::read(dir.join("token.der"))?);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (acceptor, state, key, cert) = (acceptor.clone(), state.clone(), key.clone(), cert.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let Some(head) = read_head(&mut tls).await else { return };
                    let (status, body) = answer_token(&head, &state, &key, &cert);
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(reply.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    });
    Ok(port)
}

async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn answer_token(head: &str, state: &Mutex<TokenState>, key: &ring::signature::RsaKeyPair, cert: &str) -> (u16, String) {
    let basic = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        if !name.eq_ignore_ascii_case("authorization") {
            return None;
        }
        let b = value.trim().strip_prefix("Basic ")?;
        let text = String::from_utf8(B64.decode(b.trim()).ok()?).ok()?;
        text.split_once(':').map(|(u, p)| (u.to_string(), p.to_string()))
    });
    let mut st = state.lock().unwrap();
    let Some((user, password)) = basic.filter(|(u, p)| st.users.get(u) == Some(p)) else {
        st.requests.push("401".into());
        return (401, r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.into());
    };
    let _ = password;
    st.requests.push(format!("200 {user}"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let (nbf, exp) = if st.expired.contains(&user) { (now - 7200, now - 3600) } else { (now - 10, now + 300) };
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [cert]});
    let claims = serde_json::json!({"iss": ISSUER, "sub": user, "aud": SERVICE, "exp": exp, "nbf": nbf,
        "iat": nbf, "jti": random_token().unwrap(), "access": []});
    let signing_input = format!("{}.{}", B64URL.encode(header.to_string()), B64URL.encode(claims.to_string()));
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(&ring::signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signing_input.as_bytes(), &mut sig)
        .expect("signs");
    let token = format!("{signing_input}.{}", B64URL.encode(sig));
    (200, serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string())
}

/// A CONNECT proxy on loopback that records every `host:port` it tunnels to.
pub struct ConnectProxy {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    pub tunnels: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub fn start() -> Result<ConnectProxy> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let seen = tunnels.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((mut client, _)) = listener.accept().await else { continue };
                    let seen = seen.clone();
                    tokio::spawn(async move {
                        let Some(head) = read_head(&mut client).await else { return };
                        let Some(target) = head.strip_prefix("CONNECT ").and_then(|r| r.split_whitespace().next())
                        else {
                            let _ = client.write_all(b"HTTP/1.1 405 Only CONNECT\r\n\r\n").await;
                            return;
                        };
                        seen.lock().unwrap().push(target.to_string());
                        let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                            return;
                        };
                        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    });
                }
            });
        });
        Ok(ConnectProxy { url, tunnels })
    }
}
