//! The `fluidform` binary: parse settings, start logging, run the chosen command.

use clap::Parser;
use fluidform::config::{Cli, Command};

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

/// Caps glibc's malloc arenas at the CPU count (2 to 8) unless `MALLOC_ARENA_MAX` says
/// otherwise, before any thread starts. With glibc's default of 8 per CPU, what one thread
/// frees stays in the arena of the thread that allocated it: a daemon that renders in the
/// background while plans run reached 231 MiB over 10 plans of 10,000 runtimes, 166 MiB
/// with 2 arenas, and planned no slower (`bench/plan.sh`).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
        // SAFETY: mallopt only sets a parameter of the allocator; no thread allocates yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cpus as libc::c_int);
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            print!("{}", fluidform::api::openapi_json());
            Ok(())
        }
        Command::Client(cmd) => std::process::exit(fluidform::cli::run(*cmd).await),
        Command::Serve(cfg) => {
            use std::io::IsTerminal;
            let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log)
                .map_err(|e| anyhow::anyhow!("--log / FLUIDFORM_LOG {:?}: {e}", cfg.log))?;
            // Colours only for a terminal: a log written to a file stays plain text.
            let ansi = std::io::stdout().is_terminal();
            if cfg.log_format == "json" {
                tracing_subscriber::fmt().json().with_env_filter(filter).init();
            } else {
                tracing_subscriber::fmt().with_ansi(ansi).with_env_filter(filter).init();
            }
            fluidform::daemon::serve(*cfg).await?;
            Ok(())
        }
    }
}
