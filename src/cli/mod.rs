//! The command-line client in the same binary: `fluidform login`, `get`, `apply -f`,
//! `plan`, `apply-plan`, `rotate`, `approve|pause|resume|abort`, `watch rotation`. It
//! speaks only the REST API (`client`), prints tables for people and JSON or YAML for
//! scripts (`output`), follows runs and rotations with progress bars (`watch`), and exits
//! with a code a script can act on (`exit`).

pub mod client;
pub mod output;
pub mod watch;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use client::{Api, Connection, Failure, Output, Result, SavedConfig, config_path, enc, save_config};
use output::{cell, structured, table, time};

/// Exit codes: what a script can tell apart.
pub mod exit {
    /// Done as asked.
    pub const OK: i32 = 0;
    /// The work itself failed: a run failed, a rotation ended failed, rolled back or aborted.
    pub const FAILURE: i32 = 1;
    /// The command line is wrong (clap's own code).
    pub const USAGE: i32 = 2;
    /// The token is missing, refused, or its role does not allow this.
    pub const AUTH: i32 = 3;
    /// What was named does not exist.
    pub const NOT_FOUND: i32 = 4;
    /// Refused by the current state: a conflict, a stale ETag or plan, a lock, a gone plan.
    pub const CONFLICT: i32 = 5;
    /// The input was refused (validation, malformed body): the message names the field.
    pub const INVALID: i32 = 6;
    /// The daemon could not be reached or failed itself (5xx).
    pub const UNREACHABLE: i32 = 7;
    /// `plan --detailed-exitcode`: the plan has changes.
    pub const CHANGES: i32 = 8;

    pub fn of_status(status: u16) -> i32 {
        match status {
            401 | 403 => AUTH,
            404 => NOT_FOUND,
            409 | 410 | 412 | 423 => CONFLICT,
            400 | 413 | 415 | 422 => INVALID,
            500..=599 => UNREACHABLE,
            _ => FAILURE,
        }
    }
}

/// The client commands (flattened into the binary's own).
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Save the daemon's URL and a token in the config file (mode 0600), after checking them.
    Login(LoginArgs),
    /// List or show runtimes, clusters, credentials, rotations or notifications.
    Get(GetArgs),
    /// Store runtimes, Datasets and ThinRuntimeProfiles from YAML or JSON files.
    Apply(ApplyArgs),
    /// Make a plan and show what would change, field by field (like `kubectl diff`).
    Plan(PlanArgs),
    /// Apply a saved plan and follow its run.
    #[command(name = "apply-plan")]
    ApplyPlan(ApplyPlanArgs),
    /// Start (or preview) a credential rotation.
    Rotate(Box<RotateArgs>),
    /// Let a rotation waiting at its manual gate go on.
    Approve(CommandArgs),
    /// Pause a rotation after its current step.
    Pause(CommandArgs),
    /// Resume a paused rotation.
    Resume(CommandArgs),
    /// Stop a rotation where it stands.
    Abort(CommandArgs),
    /// Follow a rotation or a run live.
    Watch(WatchArgs),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub conn: Connection,
    /// Read the token from standard input (one line).
    #[arg(long)]
    pub token_stdin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Resource {
    #[value(alias = "runtime", alias = "rt")]
    Runtimes,
    #[value(alias = "cluster")]
    Clusters,
    #[value(alias = "credential", alias = "creds")]
    Credentials,
    #[value(alias = "rotation")]
    Rotations,
    #[value(alias = "notification")]
    Notifications,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    pub resource: Resource,
    /// One of them (`namespace/name` or `-n` for runtimes).
    pub name: Option<String>,
    #[arg(short, long)]
    pub namespace: Option<String>,
    #[arg(long)]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Files to apply (`-` for standard input); each may hold several documents.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// The cluster new runtimes, Datasets and profiles go to.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Namespace for documents that name none (default `default`).
    #[arg(short, long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Runtimes as `namespace/name`.
    pub runtimes: Vec<String>,
    /// Every runtime.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub cluster: Option<String>,
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Compare with what was last applied only, without reading the clusters.
    #[arg(long)]
    pub no_refresh: bool,
    #[arg(long)]
    pub create_namespaces: bool,
    /// Exit 8 when the plan has changes, 0 when it has none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct ApplyPlanArgs {
    pub plan: String,
    /// Print the run and return without waiting for it.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    pub credential: String,
    /// Default: the credential's pending version.
    #[arg(long)]
    pub to_version: Option<u32>,
    /// Cumulative batch targets, e.g. `1,10%,100%`.
    #[arg(long, value_delimiter = ',')]
    pub batches: Vec<String>,
    /// `manual` waits for `approve` after each healthy batch.
    #[arg(long, default_value = "auto")]
    pub gate: String,
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Least time between batches, e.g. `30s`.
    #[arg(long)]
    pub batch_interval: Option<String>,
    #[arg(long)]
    pub max_restarting_per_cluster: Option<u32>,
    #[arg(long)]
    pub max_unavailable: Option<u32>,
    #[arg(long)]
    pub pause_on_drift: bool,
    /// Prove the target version at its registries first: `true` (the default),
    /// `best-effort` (go on when the daemon cannot reach a registry) or `false`.
    #[arg(long, value_parser = ["true", "false", "best-effort"])]
    pub verify: Option<String>,
    /// `pause` or `rollback`.
    #[arg(long)]
    pub on_failure: Option<String>,
    #[arg(long)]
    pub max_failed_batches: Option<u32>,
    /// Components to restart, in order, e.g. `fuse,worker,master`.
    #[arg(long, value_delimiter = ',')]
    pub components: Vec<String>,
    #[arg(long = "cluster")]
    pub clusters: Vec<String>,
    #[arg(short = 'n', long = "namespace")]
    pub namespaces: Vec<String>,
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Show the blast radius and schedule without starting anything.
    #[arg(long)]
    pub preview: bool,
    /// Follow the rotation until it ends.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct CommandArgs {
    /// The rotation's id.
    pub id: String,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WatchWhat {
    Rotation,
    Run,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    pub what: WatchWhat,
    pub id: String,
    #[command(flatten)]
    pub conn: Connection,
}

/// Runs a client command; returns the process's exit code.
pub async fn run(cmd: ClientCommand) -> i32 {
    match dispatch(cmd).await {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {}", f.message);
            f.code
        }
    }
}

async fn dispatch(cmd: ClientCommand) -> Result<i32> {
    match cmd {
        ClientCommand::Login(a) => login(a).await,
        ClientCommand::Get(a) => get(a).await,
        ClientCommand::Apply(a) => apply(a).await,
        ClientCommand::Plan(a) => plan(a).await,
        ClientCommand::ApplyPlan(a) => apply_plan(a).await,
        ClientCommand::Rotate(a) => rotate(*a).await,
        ClientCommand::Approve(a) => command(a, "approve").await,
        ClientCommand::Pause(a) => command(a, "pause").await,
        ClientCommand::Resume(a) => command(a, "resume").await,
        ClientCommand::Abort(a) => command(a, "abort").await,
        ClientCommand::Watch(a) => {
            let api = Api::new(&a.conn);
            match a.what {
                WatchWhat::Rotation => {
                    let rot = watch::rotation(&api, &a.id).await?;
                    Ok(finish_rotation(a.conn.output, &rot))
                }
                WatchWhat::Run => {
                    let run = watch::run(&api, &a.id).await?;
                    Ok(finish_run(a.conn.output, &run))
                }
            }
        }
    }
}

async fn login(a: LoginArgs) -> Result<i32> {
    let path = config_path(&a.conn);
    let saved = client::load_config(&path);
    let server = a
        .conn
        .server
        .clone()
        .or_else(|| saved.map(|s| s.server))
        .ok_or_else(|| Failure::new(exit::USAGE, "give --server (or FLUIDFORM_URL)"))?;
    let token = if a.token_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Failure::new(exit::USAGE, format!("reading the token from standard input: {e}")))?;
        line.trim().to_string()
    } else if let Some(t) = a.conn.token.clone() {
        t
    } else if std::io::stdin().is_terminal() {
        console::Term::stderr().write_str("Token: ").ok();
        console::Term::stderr()
            .read_secure_line()
            .map_err(|e| Failure::new(exit::USAGE, format!("reading the token: {e}")))?
            .trim()
            .to_string()
    } else {
        return Err(Failure::new(exit::USAGE, "give --token, FLUIDFORM_TOKEN or --token-stdin"));
    };
    if token.is_empty() {
        return Err(Failure::new(exit::USAGE, "the token is empty"));
    }
    let api = Api::with(&server, Some(token.clone()));
    // Any read a viewer may make proves the URL and the token.
    api.get("/v1/clusters").await?;
    save_config(&path, &SavedConfig { server: api.base.clone(), token })
        .map_err(|e| Failure::new(exit::FAILURE, format!("writing {}: {e}", path.display())))?;
    eprintln!("logged in to {}; saved in {} (mode 0600)", api.base, path.display());
    Ok(exit::OK)
}

/// Every page of a list.
async fn list_all(api: &Api, path: &str) -> Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={}", enc(c)),
            None => path.to_string(),
        };
        let page = api.get(&url).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(n) if items.len() < 100_000 => cursor = Some(n.to_string()),
            _ => return Ok(items),
        }
    }
}

fn runtime_path(name: &str, namespace: Option<&str>) -> String {
    match name.split_once('/') {
        Some((ns, n)) => format!("{}/{}", enc(ns), enc(n)),
        None => format!("{}/{}", enc(namespace.unwrap_or("default")), enc(name)),
    }
}

fn rows_of(resource: Resource, items: &[Value]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    match resource {
        Resource::Runtimes => (
            vec!["NAMESPACE", "NAME", "KIND", "CLUSTER", "GENERATION", "SYNC", "DRIFTED FIELDS"],
            items
                .iter()
                .map(|r| {
                    vec![
                        cell(r, "/namespace"),
                        cell(r, "/name"),
                        cell(r, "/kind"),
                        cell(r, "/cluster"),
                        cell(r, "/generation"),
                        cell(r, "/status/sync"),
                        r["status"]["drift"].as_array().map_or("-".into(), |d| d.len().to_string()),
                    ]
                })
                .collect(),
        ),
        Resource::Clusters => (
            vec!["NAME", "SERVER", "MODE", "EFFECTIVE", "DEFAULT PULL SECRETS", "GENERATION"],
            items
                .iter()
                .map(|c| {
                    vec![
                        cell(c, "/name"),
                        cell(c, "/server"),
                        cell(c, "/mode"),
                        cell(c, "/effectiveMode"),
                        cell(c, "/defaultImagePullSecrets"),
                        cell(c, "/generation"),
                    ]
                })
                .collect(),
        ),
        Resource::Credentials => (
            vec!["NAME", "CURRENT", "PENDING", "VERSIONS", "UPDATED"],
            items
                .iter()
                .map(|c| {
                    vec![
                        cell(c, "/name"),
                        cell(c, "/currentVersion"),
                        cell(c, "/pendingVersion"),
                        c["versions"].as_array().map_or("-".into(), |v| v.len().to_string()),
                        time(c, "/updatedAt"),
                    ]
                })
                .collect(),
        ),
        Resource::Rotations => (
            vec!["ID", "CREDENTIAL", "TO", "STATE", "BATCHES", "CREATED", "ERROR"],
            items
                .iter()
                .map(|r| {
                    let batches = match r["batches"].as_array() {
                        Some(b) => {
                            let healthy = b.iter().filter(|x| x["state"] == "healthy").count();
                            format!("{healthy}/{}", b.len())
                        }
                        None => format!("{}/{}", cell(r, "/healthyBatches"), cell(r, "/batches")),
                    };
                    vec![
                        cell(r, "/id"),
                        cell(r, "/credential"),
                        cell(r, "/toVersion"),
                        cell(r, "/state"),
                        batches,
                        time(r, "/createdAt"),
                        cell(r, "/error"),
                    ]
                })
                .collect(),
        ),
        Resource::Notifications => (
            vec!["NAME", "URL", "TRIGGERS", "ENABLED"],
            items
                .iter()
                .map(|n| vec![cell(n, "/name"), cell(n, "/url"), cell(n, "/triggers"), cell(n, "/enabled")])
                .collect(),
        ),
    }
}

async fn get(a: GetArgs) -> Result<i32> {
    let api = Api::new(&a.conn);
    let (one, many) = match a.resource {
        Resource::Runtimes => ("runtimes", "/v1/runtimes?withStatus=true"),
        Resource::Clusters => ("clusters", "/v1/clusters"),
        Resource::Credentials => ("credentials", "/v1/credentials"),
        Resource::Rotations => ("rotations", "/v1/rotations"),
        Resource::Notifications => ("notifications", "/v1/notifications"),
    };
    let value = match &a.name {
        Some(name) => {
            let path =
                if a.resource == Resource::Runtimes { runtime_path(name, a.namespace.as_deref()) } else { enc(name) };
            api.get(&format!("/v1/{one}/{path}")).await?
        }
        None => {
            let mut path = many.to_string();
            if a.resource == Resource::Runtimes {
                if let Some(ns) = &a.namespace {
                    path.push_str(&format!("&namespace={}", enc(ns)));
                }
                if let Some(c) = &a.cluster {
                    path.push_str(&format!("&cluster={}", enc(c)));
                }
            }
            Value::Array(list_all(&api, &path).await?)
        }
    };
    if structured(a.conn.output, &value) {
        return Ok(exit::OK);
    }
    let items = match &value {
        Value::Array(items) => items.clone(),
        one => vec![one.clone()],
    };
    let (header, rows) = rows_of(a.resource, &items);
    print!("{}", table(&header, &rows));
    Ok(exit::OK)
}

/// The documents of a YAML (or JSON) text, as values with their source text.
fn documents(text: &str) -> std::result::Result<Vec<(Value, String)>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut flush = |doc: &mut String| -> std::result::Result<(), String> {
        if doc.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            doc.clear();
            return Ok(());
        }
        let v: Value = serde_saphyr::from_str(doc).map_err(|e| format!("document {}: {e}", out.len() + 1))?;
        out.push((v, std::mem::take(doc)));
        Ok(())
    };
    for line in text.lines() {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            flush(&mut current)?;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    flush(&mut current)?;
    Ok(out)
}

async fn apply(a: ApplyArgs) -> Result<i32> {
    let api = Api::new(&a.conn);
    let mut docs = Vec::new();
    for f in &a.files {
        let text = if f.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Failure::new(exit::USAGE, format!("reading standard input: {e}")))?;
            s
        } else {
            std::fs::read_to_string(f).map_err(|e| Failure::new(exit::USAGE, format!("{}: {e}", f.display())))?
        };
        let parsed = documents(&text).map_err(|e| Failure::new(exit::INVALID, format!("{}: {e}", f.display())))?;
        docs.extend(parsed.into_iter().map(|(v, t)| (f.display().to_string(), v, t)));
    }
    // Profiles before the ThinRuntimes naming them; runtimes before their Datasets.
    let rank = |v: &Value| match v["kind"].as_str() {
        Some("ThinRuntimeProfile") => 0,
        Some("Dataset") => 2,
        _ => 1,
    };
    docs.sort_by_key(|(_, v, _)| rank(v));
    let cluster = a.cluster.as_deref().map(|c| format!("?cluster={}", enc(c))).unwrap_or_default();
    let mut results = Vec::new();
    for (file, v, text) in docs {
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
        let ns = v["metadata"]["namespace"].as_str().or(a.namespace.as_deref()).unwrap_or("default").to_string();
        let path = match kind.as_str() {
            "AlluxioRuntime" | "JindoRuntime" | "ThinRuntime" => {
                format!("/v1/runtimes/{}/{}{cluster}", enc(&ns), enc(&name))
            }
            "Dataset" => format!("/v1/datasets/{}/{}{cluster}", enc(&ns), enc(&name)),
            "ThinRuntimeProfile" => format!("/v1/thinruntimeprofiles/{}{cluster}", enc(&name)),
            other => {
                return Err(Failure::new(
                    exit::INVALID,
                    format!(
                        "{file}: kind {other:?} is not one fluidform stores (AlluxioRuntime, JindoRuntime, ThinRuntime, Dataset, ThinRuntimeProfile)"
                    ),
                ));
            }
        };
        if name.is_empty() {
            return Err(Failure::new(exit::INVALID, format!("{file}: a {kind} without metadata.name")));
        }
        let (content_type, body) = if kind.ends_with("Runtime") {
            ("application/yaml", text.into_bytes())
        } else {
            ("application/json", serde_json::to_vec(&v).expect("serializes"))
        };
        let req = api.request(reqwest::Method::PUT, &path).header("Content-Type", content_type).body(body);
        let reply =
            api.send(req).await.map_err(|f| Failure::new(f.code, format!("{kind} {ns}/{name}: {}", f.message)))?;
        let generation = reply["generation"].as_i64();
        results.push(json!({"kind": kind, "namespace": ns, "name": name, "generation": generation,
            "warnings": reply["warnings"].clone()}));
        if a.conn.output == Output::Table {
            let target = if kind == "ThinRuntimeProfile" { name.clone() } else { format!("{ns}/{name}") };
            println!("{kind} {target} stored (generation {})", generation.map_or("-".into(), |g| g.to_string()));
            for w in reply["warnings"].as_array().into_iter().flatten() {
                println!("  warning: {}", w["message"].as_str().map(str::to_owned).unwrap_or_else(|| w.to_string()));
            }
        }
    }
    structured(a.conn.output, &Value::Array(results));
    Ok(exit::OK)
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "(absent)".into(),
        other => other.to_string(),
    }
}

/// One object's change as `kubectl diff` would show it: `-` before, `+` after.
fn diff_text(o: &Value, color: bool) -> String {
    let action = o["action"].as_str().unwrap_or("");
    let (mark, paint): (&str, fn(String) -> String) = match action {
        "create" => ("+", |s| console::style(s).green().to_string()),
        "delete" => ("-", |s| console::style(s).red().to_string()),
        _ => ("~", |s| console::style(s).yellow().to_string()),
    };
    let reasons = cell(o, "/reasons");
    let head = format!(
        "{mark} {action} {} {}/{} (cluster {}) [{reasons}]",
        cell(o, "/kind"),
        cell(o, "/namespace"),
        cell(o, "/name"),
        cell(o, "/cluster")
    );
    let mut out = if color { paint(head) } else { head };
    out.push('\n');
    for d in o["diff"].as_array().into_iter().flatten() {
        out.push_str(&format!("    {}\n", d["path"].as_str().unwrap_or("")));
        let before = format!("    - {}", show(&d["before"]));
        let after = format!("    + {}", show(&d["after"]));
        if color {
            out.push_str(&format!("{}\n{}\n", console::style(before).red(), console::style(after).green()));
        } else {
            out.push_str(&format!("{before}\n{after}\n"));
        }
    }
    if let Some(p) = o["patch"].as_str() {
        out.push_str(&format!("    (only {p} of this object is changed)\n"));
    }
    out
}

async fn plan(a: PlanArgs) -> Result<i32> {
    let api = Api::new(&a.conn);
    let mut body = json!({"refresh": !a.no_refresh, "createNamespaces": a.create_namespaces, "all": a.all});
    if !a.runtimes.is_empty() {
        body["runtimes"] = json!(a.runtimes);
    }
    if let Some(c) = &a.cluster {
        body["cluster"] = json!(c);
    }
    if let Some(s) = &a.selector {
        body["labelSelector"] = json!(s);
    }
    if a.runtimes.is_empty() && a.cluster.is_none() && a.selector.is_none() {
        body["all"] = json!(true);
    }
    let p = api.post("/v1/plans", &body).await?;
    let id = p["id"].as_str().unwrap_or("").to_string();
    let objects = list_all(&api, &format!("/v1/plans/{}/objects?limit=500", enc(&id))).await?;
    let changes = p["summary"]["create"].as_u64().unwrap_or(0)
        + p["summary"]["update"].as_u64().unwrap_or(0)
        + p["summary"]["delete"].as_u64().unwrap_or(0);
    let mut whole = p.clone();
    whole["objects"] = Value::Array(objects.clone());
    whole.as_object_mut().map(|m| m.remove("next"));
    if !structured(a.conn.output, &whole) {
        let color = std::io::stdout().is_terminal();
        for o in &objects {
            print!("{}", diff_text(o, color));
        }
        for w in p["warnings"].as_array().into_iter().flatten() {
            println!("warning: {} ({}/{})", cell(w, "/message"), cell(w, "/cluster"), cell(w, "/namespace"));
        }
        let s = &p["summary"];
        println!(
            "\nPlan {id}: {} to create, {} to update, {} to delete, {} unchanged (expires {}).",
            cell(s, "/create"),
            cell(s, "/update"),
            cell(s, "/delete"),
            cell(s, "/noOp"),
            time(&p, "/expiresAt")
        );
        if changes > 0 {
            println!("Apply it with: fluidform apply-plan {id}");
        }
    }
    Ok(if a.detailed_exitcode && changes > 0 { exit::CHANGES } else { exit::OK })
}

fn finish_run(output: Output, run: &Value) -> i32 {
    if !structured(output, run) {
        let counts = run["objectCounts"].as_object().cloned().unwrap_or_default();
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!("run {} {}: {}", cell(run, "/id"), cell(run, "/status"), parts.join(", "));
        if let Some(e) = run["error"].as_str() {
            println!("error: {e}");
        }
    }
    if run["status"] == "succeeded" { exit::OK } else { exit::FAILURE }
}

async fn apply_plan(a: ApplyPlanArgs) -> Result<i32> {
    let api = Api::new(&a.conn);
    let run = api.post(&format!("/v1/plans/{}/apply", enc(&a.plan)), &json!({})).await?;
    let id = run["id"].as_str().unwrap_or("").to_string();
    if a.no_wait {
        if !structured(a.conn.output, &run) {
            println!("run {id} {}", cell(&run, "/status"));
        }
        return Ok(exit::OK);
    }
    let run = watch::run(&api, &id).await?;
    Ok(finish_run(a.conn.output, &run))
}

fn finish_rotation(output: Output, rot: &Value) -> i32 {
    if !structured(output, rot) {
        let (header, rows) = rows_of(Resource::Rotations, std::slice::from_ref(rot));
        print!("{}", table(&header, &rows));
    }
    if rot["state"] == "succeeded" { exit::OK } else { exit::FAILURE }
}

fn batch_value(b: &str) -> Value {
    match b.trim().parse::<u64>() {
        Ok(n) => json!(n),
        Err(_) => json!(b.trim()),
    }
}

async fn rotate(a: RotateArgs) -> Result<i32> {
    let api = Api::new(&a.conn);
    let mut req = json!({"credential": a.credential, "gate": a.gate});
    if !a.batches.is_empty() {
        req["batches"] = Value::Array(a.batches.iter().map(|b| batch_value(b)).collect());
    }
    let mut set = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            req[k] = v;
        }
    };
    set("toVersion", a.to_version.map(|v| json!(v)));
    set("healthTimeout", a.health_timeout.as_deref().map(batch_value));
    set("batchInterval", a.batch_interval.as_deref().map(batch_value));
    set("maxRestartingPerCluster", a.max_restarting_per_cluster.map(|v| json!(v)));
    set("maxUnavailable", a.max_unavailable.map(|v| json!(v)));
    set("onFailure", a.on_failure.clone().map(|v| json!(v)));
    set("maxFailedBatches", a.max_failed_batches.map(|v| json!(v)));
    set("components", (!a.components.is_empty()).then(|| json!(a.components)));
    set(
        "verify",
        a.verify.as_deref().map(|v| match v {
            "true" => json!(true),
            "false" => json!(false),
            other => json!(other),
        }),
    );
    if a.pause_on_drift {
        req["pauseOnDrift"] = json!(true);
    }
    let mut selector = json!({});
    if !a.clusters.is_empty() {
        selector["clusters"] = json!(a.clusters);
    }
    if !a.namespaces.is_empty() {
        selector["namespaces"] = json!(a.namespaces);
    }
    if let Some(s) = &a.selector {
        selector["labelSelector"] = json!(s);
    }
    req["selector"] = selector;
    if a.preview {
        let p = api.post("/v1/rotations/preview", &req).await?;
        if !structured(a.conn.output, &p) {
            let rows: Vec<Vec<String>> = p["schedule"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| {
                    vec![
                        cell(b, "/batch"),
                        cell(b, "/runtimes"),
                        cell(b, "/pods"),
                        cell(b, "/restartWaves"),
                        format!("+{}s", cell(b, "/startsAfterSeconds")),
                        format!("{}s", cell(b, "/estimatedSeconds")),
                    ]
                })
                .collect();
            print!("{}", table(&["BATCH", "RUNTIMES", "PODS", "WAVES", "STARTS", "TAKES"], &rows));
            println!(
                "{} pods to restart; estimated {}s (assuming {}s per pod restart{})",
                cell(&p, "/podsToRestart"),
                cell(&p, "/estimatedSeconds"),
                cell(&p, "/estimate/podRestartSeconds"),
                if p["estimate"]["excludesApprovals"] == true { ", approvals not counted" } else { "" }
            );
            for s in p["skipped"].as_array().into_iter().flatten() {
                println!(
                    "skipped {}/{}: {} ({})",
                    cell(s, "/namespace"),
                    cell(s, "/name"),
                    cell(s, "/reason"),
                    cell(s, "/detail")
                );
            }
        }
        return Ok(exit::OK);
    }
    let rot = api.post("/v1/rotations", &req).await?;
    let id = rot["id"].as_str().unwrap_or("").to_string();
    if !a.watch {
        if !structured(a.conn.output, &rot) {
            println!("rotation {id} started; follow it with: fluidform watch rotation {id}");
        }
        return Ok(exit::OK);
    }
    eprintln!("rotation {id} started");
    let rot = watch::rotation(&api, &id).await?;
    Ok(finish_rotation(a.conn.output, &rot))
}

async fn command(a: CommandArgs, cmd: &str) -> Result<i32> {
    let api = Api::new(&a.conn);
    let rot = api.post(&format!("/v1/rotations/{}/{cmd}", enc(&a.id)), &json!({})).await?;
    if !structured(a.conn.output, &rot) {
        println!("rotation {} is {}", cell(&rot, "/id"), cell(&rot, "/state"));
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_on_separators_and_skip_empty_ones() {
        let text = "---\n# a comment\n---\nkind: Dataset\nmetadata:\n  name: a\n---\nkind: AlluxioRuntime\nmetadata:\n  name: a\n";
        let docs = documents(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0["kind"], "Dataset");
        assert!(docs[1].1.contains("AlluxioRuntime"));
        assert!(documents("kind: [unclosed\n").unwrap_err().contains("document 1"));
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        assert_eq!(exit::of_status(401), exit::AUTH);
        assert_eq!(exit::of_status(404), exit::NOT_FOUND);
        assert_eq!(exit::of_status(409), exit::CONFLICT);
        assert_eq!(exit::of_status(422), exit::INVALID);
        assert_eq!(exit::of_status(502), exit::UNREACHABLE);
    }

    #[test]
    fn a_diff_shows_before_and_after() {
        let o = json!({"action": "update", "kind": "StatefulSet", "namespace": "ns", "name": "w", "cluster": "c",
            "reasons": ["binding_change"], "diff": [{"path": "spec.x", "before": "a", "after": "b"}]});
        assert_eq!(
            diff_text(&o, false),
            "~ update StatefulSet ns/w (cluster c) [binding_change]\n    spec.x\n    - \"a\"\n    + \"b\"\n"
        );
    }
}
