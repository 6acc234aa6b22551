//! Following work as it happens: a run's objects (one progress bar) and a rotation's
//! batches (a bar per batch, filled from its event stream). Bars are drawn only on a
//! terminal; elsewhere each event is one plain line, so logs and scripts read it too.

use std::io::IsTerminal;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::client::{Api, Failure, Result, enc};
use super::exit;

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>10} [{bar:30.cyan/blue}] {pos}/{len} {msg}")
        .expect("a valid template")
        .progress_chars("=> ")
}

fn draw_target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() }
}

/// Waits for run `id` to end with a progress bar over its objects; exit 0 when it
/// succeeded, 1 when it failed.
pub async fn run(api: &Api, id: &str) -> Result<Value> {
    let bar = ProgressBar::with_draw_target(None, draw_target());
    bar.set_style(style());
    bar.set_prefix("applying");
    loop {
        let run = api.get(&format!("/v1/runs/{}", enc(id))).await?;
        let counts = run["objectCounts"].as_object().cloned().unwrap_or_default();
        let n = |k: &str| counts.get(k).and_then(Value::as_u64).unwrap_or(0);
        let total: u64 = counts.values().filter_map(Value::as_u64).sum();
        bar.set_length(total);
        bar.set_position(n("applied") + n("failed") + n("skipped") + n("unknown"));
        bar.set_message(run["status"].as_str().unwrap_or("").to_string());
        match run["status"].as_str() {
            Some("succeeded") | Some("failed") => {
                bar.finish_and_clear();
                return Ok(run);
            }
            _ => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub id: Option<i64>,
    pub event: String,
    pub data: String,
}

/// Splits complete events off the front of `buf` (they end with a blank line).
pub fn parse_sse(buf: &mut String) -> Vec<Sse> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        let mut ev = Sse { id: None, event: "message".into(), data: String::new() };
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id:") {
                ev.id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("event:") {
                ev.event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                if !ev.data.is_empty() {
                    ev.data.push('\n');
                }
                ev.data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !ev.data.is_empty() || ev.id.is_some() {
            out.push(ev);
        }
    }
    out
}

fn terminal(state: &str) -> bool {
    matches!(state, "succeeded" | "failed" | "aborted" | "rolled_back")
}

/// The bars of a rotation, one per batch.
struct Board {
    multi: MultiProgress,
    bars: Vec<ProgressBar>,
    tty: bool,
}

impl Board {
    fn new(rot: &Value) -> Board {
        let tty = std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(draw_target());
        let mut bars = Vec::new();
        for (i, _) in rot["batches"].as_array().into_iter().flatten().enumerate() {
            let size = rot["runtimes"].as_array().into_iter().flatten().filter(|r| r["batch"] == i).count();
            let bar = multi.add(ProgressBar::new(size as u64));
            bar.set_style(style());
            bar.set_prefix(format!("batch {i}"));
            bars.push(bar);
        }
        Board { multi, bars, tty }
    }

    fn update(&self, rot: &Value) {
        for (i, b) in rot["batches"].as_array().into_iter().flatten().enumerate() {
            let Some(bar) = self.bars.get(i) else { continue };
            let rts: Vec<&Value> =
                rot["runtimes"].as_array().into_iter().flatten().filter(|r| r["batch"] == i).collect();
            let done = rts.iter().filter(|r| r["state"] == "healthy" || r["state"] == "rolled_back").count();
            bar.set_position(done as u64);
            let state = b["state"].as_str().unwrap_or("");
            let waiting = b["waitingFor"].as_array().map(Vec::len).unwrap_or(0);
            let msg = match state {
                "restarting" if waiting > 0 => format!("restarting, waiting for {waiting} workload(s)"),
                s => s.to_string(),
            };
            bar.set_message(msg);
            if state == "healthy" {
                bar.set_position(rts.len() as u64);
            }
        }
    }

    fn line(&self, text: String) {
        if self.tty {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    fn finish(&self) {
        for b in &self.bars {
            b.abandon();
        }
    }
}

/// One line for an event a person should see.
fn describe(ev: &Sse, id: &str) -> Option<String> {
    let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
    let batch = data["batch"].as_i64().map(|b| format!("batch {b} ")).unwrap_or_default();
    let err = data["data"]["error"].as_str().map(|e| format!(": {e}")).unwrap_or_default();
    Some(match ev.event.as_str() {
        "batch_waiting" => return None,
        "waiting_approval" => {
            format!("waiting for approval: fluidform approve {id}")
        }
        "paused" => format!("paused{err} (resume with: fluidform resume {id})"),
        k => format!("{batch}{}{err}", k.replace('_', " ")),
    })
}

/// Follows rotation `id` until it ends, drawing its batches; reconnects to the event
/// stream where it left off. Returns the rotation as it ended.
pub async fn rotation(api: &Api, id: &str) -> Result<Value> {
    let path = format!("/v1/rotations/{}", enc(id));
    let mut rot = api.get(&path).await?;
    let board = Board::new(&rot);
    board.update(&rot);
    let mut last: i64 = 0;
    let mut retries = 0;
    while !terminal(rot["state"].as_str().unwrap_or("")) {
        let req = api
            .request(reqwest::Method::GET, &format!("{path}/events"))
            .header("Accept", "text/event-stream")
            .header("Last-Event-ID", last.to_string());
        let resp = match req.send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.bytes().await.unwrap_or_default();
                board.finish();
                return Err(super::client::problem(status, &body));
            }
            Err(e) if retries < 30 => {
                retries += 1;
                board.line(format!("event stream lost ({}); reconnecting", e.without_url()));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => {
                board.finish();
                return Err(Failure::new(exit::UNREACHABLE, format!("event stream: {}", e.without_url())));
            }
        };
        let mut stream = resp.bytes_stream();
        let mut buf = String::new();
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { break };
            retries = 0;
            buf.push_str(&String::from_utf8_lossy(&chunk));
            let events = parse_sse(&mut buf);
            if events.is_empty() {
                continue;
            }
            for ev in &events {
                last = ev.id.unwrap_or(last).max(last);
                if let Some(text) = describe(ev, id) {
                    board.line(text);
                }
            }
            rot = api.get(&path).await?;
            board.update(&rot);
        }
        // The stream ends with the rotation (or was cut): read where it stands.
        rot = api.get(&path).await?;
        board.update(&rot);
    }
    board.finish();
    Ok(rot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_cut_at_blank_lines_and_partial_ones_wait() {
        let mut buf =
            "id: 1\nevent: started\ndata: {\"a\":1}\n\nid: 2\nevent: batch_started\ndata: {}\n\nid: 3\nev".to_string();
        let evs = parse_sse(&mut buf);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0], Sse { id: Some(1), event: "started".into(), data: "{\"a\":1}".into() });
        assert_eq!(evs[1].event, "batch_started");
        assert_eq!(buf, "id: 3\nev", "an incomplete event stays for the next chunk");
    }
}
