//! `cargo run -p runner-example`: the wallet, scratch-card and gateway services in one
//! process (or one of them, with `--role`). `--help` lists the flags.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use runner_example::{Config, run, shutdown};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                // Colours only for a person watching, not in files and log collectors.
                .with_ansi(std::io::stdout().is_terminal())
                .with_filter(log_filter),
        )
        .init();
    match run(config, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The message carries its cause: `the gateway cannot listen on ...: Address in use`.
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}
