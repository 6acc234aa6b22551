//! The webhook dispatcher: sends the outbox's due deliveries, signed, and records every
//! attempt with what comes next (delivered, a retry after a backoff, or given up after
//! `MAX_ATTEMPTS`). One process at a time dispatches: it holds the lease `notifications`.
//! A delivery is marked only after its attempt, so a process that dies mid-send leaves it
//! pending and the next dispatcher sends it again (at least once; receivers deduplicate
//! by `X-Fluidform-Delivery`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::Context;
use crate::domain::notify::{SIGNATURE_HEADER, Trigger, next_attempt, sign};
use crate::service::notifications::seal_context;
use crate::store::StoreError;
use crate::store::notifications::{AttemptEnd, AttemptResult, DueDelivery};

const LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// How often the dispatcher renews its lease (well within `LEASE`).
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// Deliveries read per pass, and sent at once.
const BATCH: i64 = 64;
const IN_FLIGHT: usize = 8;

/// The HTTP client deliveries go out with: no redirects (a signed body goes where it was
/// addressed or nowhere), a timeout per attempt.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fluidform/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds")
}

/// Sends due deliveries while this process holds the dispatcher lease, forever.
pub fn spawn_notifier(ctx: &Arc<Context>) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    ctx.spawner.clone().spawn(async move {
        let client = http_client(ctx.settings.notify_timeout);
        let mut passes: u64 = 0;
        // While this process holds the lease it is renewed every `RENEW_EVERY`, not at every
        // tick: a tick with nothing due then costs one read.
        let mut held_until: Option<std::time::Instant> = None;
        loop {
            tokio::time::sleep(ctx.settings.notify_tick).await;
            let now = std::time::Instant::now();
            let held = if held_until.is_some_and(|t| now < t) {
                Ok(true)
            } else {
                let taken = ctx.store.try_lease("notifications", &ctx.replica, LEASE).await.map(|l| l.is_some());
                held_until = matches!(taken, Ok(true)).then(|| now + RENEW_EVERY);
                taken
            };
            match held {
                Ok(true) => {
                    if let Err(e) = deliver_due(&ctx, &client).await {
                        tracing::warn!(error = %e, "webhook dispatch failed; will retry");
                    }
                    passes += 1;
                    if passes % 600 == 1
                        && let Err(e) = ctx.store.prune_deliveries().await
                    {
                        tracing::warn!(error = %e, "pruning old webhook deliveries failed");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "webhook dispatcher lease unavailable"),
            }
        }
    })
}

/// One pass: every due delivery, a bounded number at a time. Returns how many were tried.
pub async fn deliver_due(ctx: &Context, client: &reqwest::Client) -> Result<usize, StoreError> {
    let due = ctx.store.due_deliveries(ctx.now(), BATCH, None).await?;
    let n = due.len();
    let results: Vec<Result<(), StoreError>> = futures::stream::iter(due)
        .map(|d| async move { attempt(ctx, client, &d).await.map(|_| ()) })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(n)
}

/// Sends delivery `id` now, once (a verification).
pub async fn deliver_now(ctx: &Context, id: i64) -> Result<Option<AttemptResult>, StoreError> {
    let client = http_client(ctx.settings.notify_timeout);
    let Some(d) = ctx.store.due_deliveries(ctx.now(), 1, Some(id)).await?.into_iter().next() else { return Ok(None) };
    attempt(ctx, &client, &d).await.map(Some)
}

/// One attempt of `d`, recorded.
async fn attempt(ctx: &Context, client: &reqwest::Client, d: &DueDelivery) -> Result<AttemptResult, StoreError> {
    let n = d.attempts + 1;
    let started = Instant::now();
    let sent = match ctx.key.open(&seal_context(&d.notification), &d.secret_sealed) {
        Ok(secret) => {
            let signature = sign(&secret, d.payload.as_bytes());
            client
                .post(&d.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature)
                .header("X-Fluidform-Delivery", d.id.to_string())
                .header("X-Fluidform-Trigger", &d.trigger)
                .header("X-Fluidform-Attempt", n.to_string())
                .body(d.payload.clone())
                .send()
                .await
                .map(|r| r.status().as_u16())
                // The URL may carry a receiver's token in its query: errors never show it.
                .map_err(|e| e.without_url().to_string())
        }
        Err(e) => Err(format!("the notification's secret cannot be opened: {e}")),
    };
    let took = started.elapsed().as_millis() as i64;
    let once = d.trigger == Trigger::Verification.as_str();
    let retry = || match next_attempt(n, ctx.now(), ctx.settings.notify_backoff, ctx.settings.notify_backoff_cap) {
        Some(t) if !once => AttemptEnd::Retry(t),
        _ => AttemptEnd::GiveUp,
    };
    let result = match sent {
        Ok(status) if (200..300).contains(&status) => {
            AttemptResult { status: Some(status), error: None, duration_ms: took, end: AttemptEnd::Delivered }
        }
        Ok(status) => AttemptResult {
            status: Some(status),
            error: Some(format!("the receiver answered {status}")),
            duration_ms: took,
            end: retry(),
        },
        Err(e) => AttemptResult { status: None, error: Some(e), duration_ms: took, end: retry() },
    };
    let outcome = match &result.end {
        AttemptEnd::Delivered => "delivered",
        AttemptEnd::Retry(_) => "retry",
        AttemptEnd::GiveUp => "failed",
    };
    crate::metrics::delivery_attempt(outcome);
    match &result.end {
        AttemptEnd::Delivered => {
            tracing::debug!(delivery = d.id, notification = %d.notification, attempt = n, "webhook delivered")
        }
        _ => tracing::info!(delivery = d.id, notification = %d.notification, attempt = n,
            error = %result.error.clone().unwrap_or_default(), outcome, "webhook delivery failed"),
    }
    ctx.store.record_attempt(d.id, n, &result).await?;
    Ok(result)
}
