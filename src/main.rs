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
        Command::Serve(cfg) => {
            let filter = tracing_subscriber::EnvFilter::try_from_env("FLUIDFORM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            if cfg.log_format == "json" {
                tracing_subscriber::fmt().json().with_env_filter(filter).init();
            } else {
                tracing_subscriber::fmt().with_env_filter(filter).init();
            }
            fluidform::daemon::serve(*cfg).await?;
            Ok(())
        }
    }
}
