//! The balance gateway: `GET /get_balance?user_id=N` fans out to the wallet (critical) and
//! the scratch-card service (best effort) with `runner_core`'s `fan_out!`.
//!
//! Each call runs under a resilience policy the gateway owns, read from its policies file
//! ([`crate::policies`]): by default the wallet call is retried on transient errors and on a
//! stale balance, and has a circuit breaker; the scratch-card call is hedged and has a circuit breaker (see
//! [`DownstreamClient::get_balance`] and [`DownstreamClient::get_scratch_card`]). Each
//! gateway has breakers of its own: two gateways in one process share none.
//!
//! Here are the gateway, its timeouts and its page; the calls are in [`client`], the answer's
//! shape in [`answer`], the routes in [`routes`], and the same gateway written by hand, to
//! benchmark against, in [`baseline`].

pub(crate) mod answer;
pub(crate) mod baseline;
pub(crate) mod client;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use runner_core::{Task, fan_out};

use crate::StartError;
use crate::gateway::answer::page_answer;
use crate::gateway::client::DownstreamClient;
use crate::metrics::Metrics;
use crate::policies::{GatewayPolicies, PoliciesConfig};
use crate::user_id::user_id_from_query;

/// The overall deadline of one balance page: past it, the page fails if the balance is still
/// missing and goes out without the scratch card otherwise.
pub const DEADLINE: Duration = Duration::from_millis(300);

/// Timeouts that replace the ones written on the tasks; the defaults change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Replaces `get_balance`'s own 200 ms timeout.
    pub balance: Option<Duration>,
    /// Replaces `get_scratch_card`'s own 150 ms timeout.
    pub scratch_card: Option<Duration>,
    /// The fan-out's deadline, [`DEADLINE`] by default.
    pub deadline: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            balance: None,
            scratch_card: None,
            deadline: DEADLINE,
        }
    }
}

/// Applies an override to a task's own timeout.
fn with_timeout<F, C: runner_core::Criticality>(
    task: Task<F, C>,
    timeout: Option<Duration>,
) -> Task<F, C> {
    match timeout {
        Some(timeout) => task.timeout(timeout),
        None => task,
    }
}

/// The gateway: its downstream client, timeouts and metrics.
#[derive(Debug, Clone)]
pub struct Gateway {
    client: Arc<DownstreamClient>,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
}

impl Gateway {
    /// A gateway in front of the services at these base URLs, on the built-in policies.
    pub fn new(wallet_url: &str, scratch_url: &str) -> Result<Self, StartError> {
        Self::with_policies(wallet_url, scratch_url, &PoliciesConfig::builtin())
    }

    /// A gateway in front of the services at these base URLs, with policies of its own built
    /// from `policies`, counted on its `/metrics`.
    pub fn with_policies(
        wallet_url: &str,
        scratch_url: &str,
        policies: &PoliciesConfig,
    ) -> Result<Self, StartError> {
        let metrics = Arc::new(Metrics::new());
        let policies = GatewayPolicies::new(policies, Arc::new(metrics.policies().clone()))?;
        Ok(Self {
            client: Arc::new(DownstreamClient::new(wallet_url, scratch_url, policies)?),
            timeouts: Timeouts::default(),
            metrics,
        })
    }

    /// The same gateway with other timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Its metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Its timeouts.
    fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Its client for the downstream services.
    fn client(&self) -> &DownstreamClient {
        &self.client
    }

    /// The HTTP routes: `/get_balance`, `/healthz`, `/metrics`; JSON 404 and 405 otherwise.
    pub fn router(&self) -> Router {
        self.routes(get(get_balance_page).with_state(self.clone()))
    }

    /// The routes around a `/get_balance` handler, with this gateway's metrics.
    fn routes(&self, get_balance: MethodRouter) -> Router {
        routes::routes(get_balance, &self.metrics)
    }

    /// One balance page: both calls at once, under the deadline.
    ///
    /// Nothing is spawned: the calls run inside this future, so when axum drops it (the
    /// client hung up) the downstream requests are dropped with it.
    async fn page(&self, user_id: u64) -> Response {
        let client = &*self.client;
        let balance = with_timeout(client.get_balance(user_id), self.timeouts.balance);
        let card = with_timeout(client.get_scratch_card(user_id), self.timeouts.scratch_card);
        let (result, report) =
            fan_out!(deadline = self.timeouts.deadline, report; balance, card).await;
        self.metrics.record_tasks(report.tasks());
        page_answer(user_id, result, &report)
    }
}

async fn get_balance_page(State(gateway): State<Gateway>, RawQuery(query): RawQuery) -> Response {
    match user_id_from_query(query.as_deref().unwrap_or("")) {
        Ok(user_id) => gateway.page(user_id).await,
        Err(error) => error.into_response(),
    }
}
