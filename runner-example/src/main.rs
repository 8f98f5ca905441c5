//! `cargo run -p runner-example`: the wallet, scratch-card and gateway services in one
//! process (or one of them, with `--role`). `--help` lists the flags.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use runner_example::{Config, run, shutdown, telemetry};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let exporter = match config.otlp_endpoint.as_ref() {
        Some(endpoint) => match telemetry::otlp(endpoint.as_str(), config.service_name()) {
            Ok(exporter) => Some(exporter),
            Err(error) => {
                eprintln!("runner-example: the OTLP exporter cannot be built: {error}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let (provider, tracer) = exporter.unzip();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                // Colours only for a person watching, not in files and log collectors.
                .with_ansi(std::io::stdout().is_terminal())
                .with_filter(log_filter),
        )
        // The request and task spans are at INFO, whatever the log's own filter says.
        .with(tracer.map(|tracer| {
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(LevelFilter::INFO)
        }))
        .init();
    let outcome = run(config, shutdown::signal()).await;
    if let Some(provider) = provider {
        // Sends the spans still batched.
        if let Err(error) = provider.shutdown() {
            tracing::warn!(%error, "the last spans could not be exported");
        }
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The message carries its cause: `the gateway cannot listen on ...: Address in use`.
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}
