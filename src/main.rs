//! The `fluidform` binary: parse settings, start logging, run the chosen command.

use clap::Parser;
use fluidform::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
