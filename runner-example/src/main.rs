//! `cargo run -p runner-example`: the wallet, scratch-card and gateway services in one
//! process (or one of them, with `--role`). `--help` lists the flags.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use runner_example::{Config, run, shutdown};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // Colours only for a person watching, not in files and log collectors.
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    match run(config, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!("{text}");
            ExitCode::FAILURE
        }
    }
}
