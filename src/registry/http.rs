//! The `Registries` port over HTTP/1.1 and rustls (ring), one connection per request:
//! `GET /v2/`, the challenge, Basic or a Bearer token from the realm. Through a CONNECT
//! proxy when `HTTPS_PROXY` (or, for a plain-http registry, `HTTP_PROXY`) matches and
//! `NO_PROXY` does not; every check bounded by `timeout`; checks of one registry spaced
//! `interval` apart, so a fleet-wide rotation never hammers it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tower::ServiceExt;

use super::challenge::{Challenge, parse_challenges};
use super::{Login, Outcome, Registries, RegistryCheck, Secret, Tls};

/// The largest answer read from a registry or its token service.
const MAX_BODY: usize = 1 << 20;

/// Proxy settings, as `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` give them.
#[derive(Debug, Clone, Default)]
pub struct Proxy {
    pub https: Option<String>,
    pub http: Option<String>,
    pub no: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Longest a whole check of one registry may take.
    pub timeout: Duration,
    /// Least time between two checks of one registry.
    pub interval: Duration,
    pub proxy: Proxy,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(10), interval: Duration::from_millis(200), proxy: Proxy::default() }
    }
}

pub struct HttpRegistries {
    settings: ClientSettings,
    matcher: Option<Matcher>,
    next: Mutex<HashMap<String, Instant>>,
}

impl HttpRegistries {
    pub fn new(settings: ClientSettings) -> Self {
        let p = &settings.proxy;
        let matcher = (p.https.is_some() || p.http.is_some()).then(|| {
            Matcher::builder()
                .https(p.https.clone().unwrap_or_default())
                .http(p.http.clone().unwrap_or_default())
                .no(p.no.clone().unwrap_or_default())
                .build()
        });
        Self { settings, matcher, next: Mutex::new(HashMap::new()) }
    }

    /// Waits for this registry's turn.
    async fn pace(&self, host: &str) {
        let wait = {
            let mut next = self.next.lock().expect("pacing lock");
            let now = Instant::now();
            let at = next.get(host).copied().filter(|t| *t > now).unwrap_or(now);
            next.insert(host.to_string(), at + self.settings.interval);
            at - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[async_trait::async_trait]
impl Registries for HttpRegistries {
    async fn check(&self, login: &Login, tls: &Tls) -> RegistryCheck {
        self.pace(&login.host).await;
        let secs = self.settings.timeout.as_secs_f64();
        match tokio::time::timeout(self.settings.timeout, check(self, login, tls)).await {
            Ok(c) => c,
            Err(_) => RegistryCheck::new(login, Outcome::Unreachable, None, format!("no answer within {secs}s")),
        }
    }
}

/// One answer of a registry or token service.
struct Answer {
    status: u16,
    challenges: Vec<Challenge>,
    body: Bytes,
}

/// Where the error codes of a registry's JSON answer are (`{"errors":[{"code":…}]}`).
fn error_codes(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let codes: Vec<&str> = v
        .get("errors")
        .and_then(|e| e.as_array())
        .map(|a| a.iter().filter_map(|e| e.get("code").and_then(|c| c.as_str())).collect())
        .unwrap_or_default();
    if codes.is_empty() { String::new() } else { format!(" ({})", codes.join(", ")) }
}

async fn check(client: &HttpRegistries, login: &Login, tls: &Tls) -> RegistryCheck {
    use Outcome::*;
    let say = |outcome, status, detail: String| RegistryCheck::new(login, outcome, status, detail);
    if login.secret == Secret::Missing {
        return say(Invalid, None, "the entry has no username and password, auth or token".into());
    }
    let config = match tls_config(tls) {
        Ok(c) => c,
        Err(e) => return say(Unreachable, None, e),
    };
    let base = login.base_url();
    let first = match fetch(client, &base, None, None, &config).await {
        Ok(a) => a,
        Err(e) => return say(Unreachable, None, e),
    };
    match first.status {
        200 => return say(Valid, Some(200), "the registry asks for no credentials".into()),
        401 => {}
        s => return say(Unreachable, Some(s), format!("GET /v2/ answered {s}, not 200 or 401")),
    }
    let bearer = first.challenges.iter().find(|c| c.scheme == "bearer");
    let authorization = match (bearer, &login.secret) {
        (_, Secret::RegistryToken(t)) => format!("Bearer {t}"),
        (Some(ch), _) => match token(client, login, ch, &config).await {
            Ok(t) => format!("Bearer {t}"),
            Err(c) => return c,
        },
        (None, Secret::Password { username, password }) => {
            format!("Basic {}", B64.encode(format!("{username}:{password}")))
        }
        (None, _) => {
            return say(
                Invalid,
                Some(401),
                "the registry asks for Basic credentials; the entry has only a token".into(),
            );
        }
    };
    let proof = match fetch(client, &base, Some(&authorization), None, &config).await {
        Ok(a) => a,
        Err(e) => return say(Unreachable, None, e),
    };
    let codes = error_codes(&proof.body);
    match proof.status {
        200 => say(Valid, Some(200), "the registry accepted the credential".into()),
        s @ (401 | 403) if bearer.is_some() => {
            let why =
                proof.challenges.iter().find_map(|c| c.param("error").map(|e| format!(": {e}"))).unwrap_or_default();
            say(Invalid, Some(s), format!("the registry refused the token its token service issued{why}{codes}"))
        }
        s @ (401 | 403) => say(Invalid, Some(s), format!("the registry refused the credential{codes}")),
        s => say(Unreachable, Some(s), format!("GET /v2/ with the credential answered {s}{codes}")),
    }
}

/// A token from the realm of `ch`, fetched with the login's credential (GET with Basic, or
/// an OAuth2 refresh-token POST for an identity token). An `Err` is the check's answer.
async fn token(
    client: &HttpRegistries,
    login: &Login,
    ch: &Challenge,
    config: &Arc<ClientConfig>,
) -> Result<String, RegistryCheck> {
    use Outcome::*;
    let say = |outcome, status, detail: String| RegistryCheck::new(login, outcome, status, detail);
    let Some(realm) = ch.param("realm").filter(|r| !r.is_empty()) else {
        return Err(say(Unreachable, Some(401), "the Bearer challenge names no realm".into()));
    };
    let realm_uri: hyper::Uri =
        realm.parse().map_err(|_| say(Unreachable, Some(401), "the realm is not a URL".into()))?;
    let realm_host = realm_uri.authority().map(|a| a.to_string()).unwrap_or_default();
    if realm_uri.scheme_str() != Some("https") && login.scheme == "https" {
        return Err(say(
            Unreachable,
            Some(401),
            format!("the token service {realm_host} is not HTTPS; the credential is not sent to it"),
        ));
    }
    let mut query = Vec::new();
    let enc = |s: &str| url_encode(s);
    if let Some(s) = ch.param("service") {
        query.push(format!("service={}", enc(s)));
    }
    if let Some(s) = ch.param("scope") {
        query.push(format!("scope={}", enc(s)));
    }
    let (auth, form) = match &login.secret {
        Secret::Password { username, password } => {
            query.push(format!("account={}", enc(username)));
            (Some(format!("Basic {}", B64.encode(format!("{username}:{password}")))), None)
        }
        Secret::IdentityToken { token, .. } => {
            let mut form = vec![
                "grant_type=refresh_token".to_string(),
                "client_id=fluidform".to_string(),
                format!("refresh_token={}", enc(token)),
            ];
            form.append(&mut query);
            (None, Some(form.join("&")))
        }
        _ => (None, None),
    };
    let sep = if realm.contains('?') { '&' } else { '?' };
    let url = if query.is_empty() { realm.to_string() } else { format!("{realm}{sep}{}", query.join("&")) };
    let a = fetch(client, &url, auth.as_deref(), form, config)
        .await
        .map_err(|e| say(Unreachable, None, format!("token service {realm_host}: {e}")))?;
    match a.status {
        200 => {}
        s @ (401 | 403) => {
            return Err(say(Invalid, Some(s), format!("the token service {realm_host} refused the credential")));
        }
        s => return Err(say(Unreachable, Some(s), format!("the token service {realm_host} answered {s}"))),
    }
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
    v.get("token")
        .or_else(|| v.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| say(Unreachable, Some(200), format!("the token service {realm_host} answered without a token")))
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One request on a connection of its own. `Err` says why no answer came, in words.
async fn fetch(
    client: &HttpRegistries,
    url: &str,
    authorization: Option<&str>,
    form: Option<String>,
    config: &Arc<ClientConfig>,
) -> Result<Answer, String> {
    let uri: hyper::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("{url:?} is neither http nor https")),
    };
    let host = uri.host().ok_or_else(|| format!("{url:?} has no host"))?.to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let tcp = match client.matcher.as_ref().and_then(|m| m.intercept(&uri)) {
        Some(proxy) => {
            let dst: hyper::Uri = format!("{}://{host}:{port}", uri.scheme_str().unwrap_or("https"))
                .parse()
                .map_err(|_| "bad destination".to_string())?;
            let mut tunnel = Tunnel::new(proxy.uri().clone(), HttpConnector::new());
            if let Some(a) = proxy.basic_auth() {
                tunnel = tunnel.with_auth(a.clone());
            }
            let io = tunnel.oneshot(dst).await.map_err(|e| format!("through the proxy: {e}"))?;
            io.into_inner()
        }
        None => tokio::net::TcpStream::connect((bare.as_str(), port))
            .await
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?,
    };
    let io: Box<dyn Io> = if https {
        let name = ServerName::try_from(bare.clone()).map_err(|_| format!("{host:?} is not a server name"))?;
        let tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}:{port}: {e}"))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP with {host}:{port}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or(host.clone());
    let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_else(|| "/".into());
    let mut req = hyper::Request::builder()
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, concat!("fluidform/", env!("CARGO_PKG_VERSION")))
        .header(hyper::header::ACCEPT, "application/json");
    if let Some(a) = authorization {
        let mut v =
            hyper::header::HeaderValue::from_str(a).map_err(|_| "the credential is not a valid header".to_string())?;
        v.set_sensitive(true);
        req = req.header(hyper::header::AUTHORIZATION, v);
    }
    let body = match form {
        Some(f) => {
            req = req.method("POST").header(hyper::header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Full::new(Bytes::from(f))
        }
        None => Full::new(Bytes::new()),
    };
    let req = req.body(body).map_err(|e| format!("request: {e}"))?;
    let resp = sender.send_request(req).await.map_err(|e| format!("HTTP with {host}:{port}: {e}"))?;
    let status = resp.status().as_u16();
    let values: Vec<String> = resp
        .headers()
        .get_all(hyper::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let challenges = parse_challenges(values.iter().map(String::as_str));
    let body = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| format!("reading the answer of {host}:{port}: {e}"))?;
    Ok(Answer { status, challenges, body })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's trusted roots, read once.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The certificates of a PEM bundle; `Err` when it holds none.
pub fn pem_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

fn tls_config(tls: &Tls) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let mut config = if tls.insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate(provider()))).with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(system_roots().iter().cloned());
        if let Some(pem) = &tls.ca_pem {
            for c in pem_certificates(pem).map_err(|e| format!("registryCaData {e}"))? {
                roots.add(c).map_err(|e| format!("registryCaData: {e}"))?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `insecureSkipTlsVerify`: any certificate is accepted (signatures are still checked).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(url_encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
        assert_eq!(url_encode("user@example.com"), "user%40example.com");
    }

    #[test]
    fn a_ca_bundle_must_hold_a_certificate() {
        assert!(pem_certificates("not pem").is_err());
        assert!(pem_certificates("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").is_err());
    }
}
