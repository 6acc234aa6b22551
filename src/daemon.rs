//! Start-up: data directory, master key, database, bootstrap admin token, HTTP server.
//! Logs say where the admin token is, never what it is.

use std::path::Path;

use actix_web::{HttpServer, web};

use crate::api::{AppState, build_app};
use crate::config::ServeConfig;
use std::sync::Arc;

use crate::engine::{Context, Settings, SystemClock};
use crate::k8s::KubeClusters;
use crate::registry::http::HttpRegistries;
use crate::secrets::{MasterKey, generate_token, hash_token, write_private_file};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("admin token file {path}: {source}")]
    TokenFile { path: String, source: std::io::Error },
    #[error("listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error(
        "refusing to serve plain HTTP on {addr}: give FLUIDFORM_TLS_CERT and FLUIDFORM_TLS_KEY, listen on a loopback address, or set FLUIDFORM_INSECURE_HTTP=true behind a TLS-terminating proxy"
    )]
    PlainHttp { addr: String },
    #[error("TLS: {0}")]
    Tls(String),
}

/// The rustls configuration of the listener, from PEM files.
pub fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, StartError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| StartError::Tls(format!("certificate {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(StartError::Tls(format!("certificate {}: no certificate in it", cert.display())));
    }
    // The key's bytes never reach an error message: only its path and the parser's kind.
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| StartError::Tls(format!("private key {}: {e}", key.display())))?;
    rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::Tls(format!("certificate and key: {e}")))
}

/// Refuses plain HTTP off loopback unless asked for (before anything is prepared).
pub fn check_listener(cfg: &ServeConfig) -> Result<Option<rustls::ServerConfig>, StartError> {
    match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Ok(Some(tls_config(c, k)?)),
        _ if cfg.listen.ip().is_loopback() || cfg.insecure_http => Ok(None),
        _ => Err(StartError::PlainHttp { addr: cfg.listen.to_string() }),
    }
}

pub fn load_key(cfg: &ServeConfig) -> Result<MasterKey, StartError> {
    if let Some(k) = &cfg.master_key {
        return Ok(MasterKey::from_base64(k)?);
    }
    let path = cfg.master_key_file.clone().unwrap_or_else(|| cfg.data_dir.join("master.key"));
    let (key, generated) = MasterKey::load_or_create(&path)?;
    if generated {
        tracing::warn!(path = %path.display(), "generated a new master key for secrets at rest; back it up: without it stored credentials cannot be read");
    }
    Ok(key)
}

async fn bootstrap_admin(cfg: &ServeConfig, store: &Store) -> Result<(), StartError> {
    let token = match &cfg.admin_token {
        Some(t) => {
            tracing::info!("admin token taken from FLUIDFORM_ADMIN_TOKEN");
            t.trim().to_string()
        }
        None => {
            let path = cfg.data_dir.join("admin.token");
            let io = |source| StartError::TokenFile { path: path.display().to_string(), source };
            let token = match std::fs::read_to_string(&path) {
                Ok(t) => t.trim().to_string(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let t = generate_token();
                    write_private_file(&path, t.as_bytes()).map_err(io)?;
                    t
                }
                Err(e) => return Err(io(e)),
            };
            tracing::info!(path = %path.display(), "admin token is in this file");
            token
        }
    };
    if !store.upsert_bootstrap_token("admin", &hash_token(&token)).await? {
        tracing::warn!(
            "the bootstrap admin token was revoked and is not restored; use another admin token, or start with a new FLUIDFORM_ADMIN_TOKEN"
        );
    }
    Ok(())
}

fn ensure_dir(path: &Path) -> Result<(), StartError> {
    std::fs::create_dir_all(path).map_err(|source| StartError::DataDir { path: path.display().to_string(), source })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Everything `serve` prepares before it listens (tests use it too): data directory, key,
/// migrated store, bootstrap token, interrupted runs marked failed, the engine's context.
pub async fn prepare(cfg: &ServeConfig) -> Result<AppState, StartError> {
    ensure_dir(&cfg.data_dir)?;
    let key = load_key(cfg)?;
    let store = Store::open(&cfg.database_url()).await?;
    bootstrap_admin(cfg, &store).await?;
    let name = cfg.replica.clone().unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    let replica = format!("{name}/{}", uuid::Uuid::new_v4().simple());
    let failed = store.fail_interrupted_runs(&name).await?;
    if !failed.is_empty() {
        tracing::warn!(runs = ?failed, "runs interrupted by the previous stop were marked failed");
    }
    let settings = Settings {
        plan_ttl: chrono::Duration::seconds(cfg.plan_ttl_secs as i64),
        verify_max_age: chrono::Duration::seconds(cfg.verify_max_age_secs as i64),
        idempotency_ttl: chrono::Duration::seconds(cfg.idempotency_ttl_secs as i64),
        ..Settings::default()
    };
    let ctx = Arc::new(Context {
        store: store.clone(),
        key: key.clone(),
        clusters: Arc::new(KubeClusters::new()),
        registries: Arc::new(HttpRegistries::new(cfg.registry_client())),
        clock: Arc::new(SystemClock),
        settings,
        replica,
        spawner: tokio::runtime::Handle::current(),
        write_permits: Default::default(),
        namespaced_reads: Default::default(),
        renders: Default::default(),
        warm: Default::default(),
        drain: Default::default(),
    });
    let mut state = AppState::new(store, key, ctx);
    state.ops.metrics_token = cfg.metrics_token.clone().filter(|t| !t.trim().is_empty());
    Ok(state)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "fluidform".into())
}

/// Starts the background loops (drift, rotation driver, webhook dispatcher) on this daemon.
pub fn start_workers(state: &AppState, cfg: &ServeConfig) {
    if let Some(every) = cfg.drift_interval() {
        crate::engine::drift::spawn_drift_loop(&state.ctx, every);
    }
    crate::engine::replicas::spawn_heartbeat(&state.ctx);
    crate::engine::rotation::spawn_rotation_driver(&state.ctx);
    crate::engine::notify::spawn_notifier(&state.ctx);
    crate::engine::plan::warm::spawn_warmer(&state.ctx);
}

pub async fn serve(cfg: ServeConfig) -> Result<(), StartError> {
    let tls = check_listener(&cfg)?;
    let state = web::Data::new(prepare(&cfg).await?);
    start_workers(&state, &cfg);
    let grace = std::time::Duration::from_secs(cfg.shutdown_grace_secs);
    let app_state = state.clone();
    let mut server = HttpServer::new(move || build_app(app_state.clone()))
        .disable_signals()
        .shutdown_timeout(cfg.shutdown_grace_secs);
    if let Some(n) = cfg.http_workers {
        server = server.workers(n);
    }
    let listen = |source| StartError::Listen { addr: cfg.listen.to_string(), source };
    let https = tls.is_some();
    let server = match tls {
        Some(t) => server.bind_rustls_0_23(cfg.listen, t).map_err(listen)?,
        None => server.bind(cfg.listen).map_err(listen)?,
    };
    tracing::info!(
        listen = %cfg.listen,
        https,
        data_dir = %cfg.data_dir.display(),
        replica = %state.ctx.replica,
        database = state.store.backend().as_str(),
        "fluidform serving"
    );
    let server = server.run();
    let handle = server.handle();
    let ctx = state.ctx.clone();
    let stopping = tokio::spawn(async move {
        let signal = shutdown_signal().await;
        tracing::info!(
            signal,
            grace_secs = grace.as_secs(),
            "shutting down: no new work; finishing what is in progress"
        );
        ctx.drain.start();
        let (_, left) = tokio::join!(handle.stop(true), ctx.drain.wait(grace));
        if left > 0 {
            tracing::warn!(left, "the grace period ended with work in progress; it is marked at the next start");
        }
        // A pooled PostgreSQL connection opened by an HTTP worker is bound to that worker's
        // runtime, which has just stopped: the first use of one fails and the pool drops it,
        // so each step is tried a few times (on connections opened here).
        match attempts(|| ctx.store.release_leases(&ctx.replica)).await {
            Ok(n) => tracing::info!(leases = n, "leases released"),
            Err(e) => tracing::warn!(error = %e, "could not release leases; they lapse on their own"),
        }
        if let Err(e) = attempts(|| ctx.store.leave(&ctx.replica)).await {
            tracing::warn!(error = %e, "could not leave the replica set; this replica drops out when its announcement lapses");
        }
    });
    server.await.map_err(|source| StartError::Listen { addr: cfg.listen.to_string(), source })?;
    // The server stops only through the signal task; wait for its bookkeeping.
    let _ = stopping.await;
    tracing::info!("fluidform stopped");
    Ok(())
}

/// `step`, tried up to four times until it succeeds; the last answer.
async fn attempts<T, E, F: std::future::Future<Output = Result<T, E>>>(step: impl Fn() -> F) -> Result<T, E> {
    let mut last = step().await;
    for _ in 0..3 {
        if last.is_ok() {
            break;
        }
        last = step().await;
    }
    last
}

/// SIGTERM or SIGINT (Ctrl-C), whichever comes first; its name.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
