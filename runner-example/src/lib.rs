//! The balance service: an example of `runner_core` in a real HTTP service.
//!
//! Three services, in one process or each in its own:
//!
//! - the **wallet** ([`Wallet`]): balances in an embedded SQLite database;
//! - the **scratch-card service** ([`Scratch`]): a promo card per user;
//! - the **gateway** ([`Gateway`]): `GET /get_balance?user_id=N` calls both at once with
//!   `fan_out!`; the balance is critical (its failure fails the page), the card best effort
//!   (the page goes out without it, saying so). [`BaselineGateway`] is the same gateway
//!   written by hand with `tokio::try_join!`, to benchmark against (`--gateway-impl baseline`).
//!
//! Deadlines and traces cross every hop through `runner-http`: each service reads its
//! caller's budget (`x-request-deadline-ms`) and `traceparent` with `DeadlineLayer`, and the
//! gateway's client writes what is left of each task's time, and the task's span, on each
//! call with `Propagate`; the services stop working once the budget has passed. Both
//! downstream services inject faults on demand ([`Faults`]), so the gateway's degradation
//! can be watched live.
//!
//! ```no_run
//! use runner_example::{Faults, Gateway, Scratch, Server, Wallet};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let loopback = "127.0.0.1:0".parse()?;
//! let wallet = Server::bind(loopback, Wallet::in_memory(Faults::none())?.router()).await?;
//! let scratch = Server::bind(loopback, Scratch::new(Faults::none()).router()).await?;
//! let gateway = Gateway::new(&wallet.url(), &scratch.url())?;
//! let gateway = Server::bind(loopback, gateway.router()).await?;
//! println!("try {}/get_balance?user_id=7", gateway.url());
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "count-allocations")]
mod allocations;
mod config;
mod error;
mod gateway;
mod metrics;
mod model;
mod policies;
mod server;
mod services;
pub mod shutdown;
pub mod telemetry;
mod user_id;

use std::future::Future;
use std::net::SocketAddr;

use tokio::time::Instant;

pub use crate::config::{Config, GatewayImpl, Role};
pub use crate::error::{ApiError, ErrorBody};
pub use crate::gateway::answer::PARTIAL_HEADER;
pub use crate::gateway::baseline::BaselineGateway;
pub use crate::gateway::client::{DownstreamClient, ScratchError, WalletError};
pub use crate::gateway::{DEADLINE, Gateway, Timeouts};
pub use crate::metrics::{CLIENT_CLOSED, Metrics, PolicyMetrics};
pub use crate::model::{Balance, BalancePage, CURRENCY, Degraded, ScratchCard, WalletBalance};
pub use crate::policies::{
    DEFAULT as DEFAULT_POLICIES, GatewayPolicies, PoliciesConfig, PoliciesError,
};
pub use crate::server::Server;
pub use crate::services::downstream::{Stats, StatsSnapshot};
pub use crate::services::faults::{
    DEFAULT_ERROR_STATUS, FaultConfig, FaultKind, FaultSpec, Faults, InvalidFault,
    MAX_RETRY_AFTER_SECS, Target,
};
pub use crate::services::scratch::{Scratch, card_for};
pub use crate::services::wallet::{SEEDED_USERS, Wallet, seeded_balance};
pub use crate::user_id::{parse_user_id, user_id_from_query};

/// Why the services could not start. Each message carries its cause, on one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A listening address could not be bound.
    #[error("the {service} cannot listen on {addr}: {source}")]
    Bind {
        /// Which service.
        service: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The wallet's database could not be opened or seeded.
    #[error("the wallet database cannot be opened: {0}")]
    Database(#[from] rusqlite::Error),
    /// The gateway's HTTP client could not be built.
    #[error("the gateway's HTTP client cannot be built: {0}")]
    Client(#[from] reqwest::Error),
    /// The policies file cannot be used.
    #[error(transparent)]
    Policies(#[from] PoliciesError),
    /// A policy cannot be built from its settings.
    #[error("the gateway's policies cannot be built: {0}")]
    Policy(#[from] runner_core::PolicyError),
    /// A fault setting is invalid.
    #[error(transparent)]
    Fault(#[from] InvalidFault),
    /// The gateway runs alone but a downstream URL is missing.
    #[error("`--role gateway` needs `{0}`")]
    MissingUrl(&'static str),
}

/// Runs the services `config` asks for until `shutdown` resolves, then drains them.
///
/// The gateway stops first, since its in-flight requests still need the wallet and the
/// scratch-card service; all of them together get `config.shutdown_grace`. Requests still
/// running after that are dropped, and this returns `Ok` all the same: the process was asked
/// to stop, and it did.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let runs_gateway = matches!(config.role, Role::All | Role::Gateway);
    let runs_wallet = match config.role {
        Role::All => config.wallet_url.is_none(),
        Role::Wallet => true,
        Role::Gateway | Role::Scratch => false,
    };
    let runs_scratch = match config.role {
        Role::All => config.scratch_url.is_none(),
        Role::Scratch => true,
        Role::Gateway | Role::Wallet => false,
    };

    let mut downstreams = Vec::new();
    let mut wallet_url = config.wallet_url.as_ref().map(ToString::to_string);
    let mut scratch_url = config.scratch_url.as_ref().map(ToString::to_string);
    if runs_wallet {
        let path = config.db_path();
        let faults = Faults::new(config.faults_for(Target::Wallet), config.fault_seed)?;
        let wallet = Wallet::open(&path, faults)?;
        let server = bind("wallet service", config.wallet_listen, wallet.router()).await?;
        tracing::info!(url = %server.url(), db = %path.display(), "wallet service listening");
        wallet_url = Some(server.url());
        downstreams.push(server);
    }
    if runs_scratch {
        // Another seed than the wallet's, so that the two services' faults are independent.
        let seed = config.fault_seed.wrapping_add(1);
        let scratch = Scratch::new(Faults::new(config.faults_for(Target::Scratch), seed)?);
        let server = bind(
            "scratch-card service",
            config.scratch_listen,
            scratch.router(),
        )
        .await?;
        tracing::info!(url = %server.url(), "scratch-card service listening");
        scratch_url = Some(server.url());
        downstreams.push(server);
    }
    let gateway = if runs_gateway {
        let wallet_url = wallet_url.ok_or(StartError::MissingUrl("--wallet-url"))?;
        let scratch_url = scratch_url.ok_or(StartError::MissingUrl("--scratch-url"))?;
        let router = match config.gateway_impl {
            GatewayImpl::Runner => {
                let policies = match &config.policies {
                    Some(path) => PoliciesConfig::from_file(path)?,
                    None => PoliciesConfig::builtin(),
                };
                Gateway::with_policies(&wallet_url, &scratch_url, &policies)?.router()
            }
            GatewayImpl::Baseline => BaselineGateway::new(&wallet_url, &scratch_url)?.router(),
        };
        #[cfg(feature = "count-allocations")]
        let router = router.route("/admin/allocations", axum::routing::get(allocations::read));
        let server = bind("gateway", config.listen, router).await?;
        tracing::info!(
            url = %server.url(),
            implementation = ?config.gateway_impl,
            wallet = %wallet_url,
            scratch = %scratch_url,
            "gateway listening: try {}/get_balance?user_id=7",
            server.url()
        );
        Some(server)
    } else {
        None
    };

    shutdown.await;
    let drain_by = Instant::now() + config.shutdown_grace;
    for server in gateway.into_iter().chain(downstreams) {
        drain(server, drain_by).await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn bind(
    service: &'static str,
    addr: SocketAddr,
    router: axum::Router,
) -> Result<Server, StartError> {
    Server::bind(addr, router)
        .await
        .map_err(|source| StartError::Bind {
            service,
            addr,
            source,
        })
}

/// Stops `server` and waits for its in-flight requests until `by`.
async fn drain(server: Server, by: Instant) {
    let url = server.url();
    match tokio::time::timeout_at(by, server.shutdown()).await {
        Ok(Ok(())) => tracing::info!(%url, "drained"),
        Ok(Err(error)) => tracing::warn!(%url, %error, "server ended with an error"),
        Err(_) => tracing::warn!(
            %url,
            "in-flight requests still running at the end of the grace period: dropped"
        ),
    }
}
