//! A baseline for benchmarks: the balance gateway written by hand with `tokio::try_join!` and
//! `tokio::time::timeout`, without `runner_core`'s engine or policies.
//!
//! It makes the same downstream calls as [`Gateway`], through the same
//! [`DownstreamClient`](crate::DownstreamClient) methods (`fetch_balance`, `fetch_scratch_card`),
//! sends the same deadline header, and answers with the same JSON and statuses: 404 for an
//! unknown user, 502 when the wallet fails, 504 when it runs out of time, and a 200 with
//! `scratch_card: null` and a `degraded` entry when the card is missing (or a `stale` one for
//! a stale balance, which it does not ask again: it has no retries). What it leaves out:
//! the `Server-Timing` header and the per-task metrics, which need the fan-out's report. The
//! routes around the handler (`/healthz`, `/metrics`, request metrics, JSON 404/405) are the
//! same.
//!
//! Start it with `--gateway-impl baseline`; `scripts/http_bench.sh` compares the two.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::gateway::answer::{page_response, stale_balance};
use crate::gateway::client::WalletError;
use crate::gateway::{Gateway, Timeouts};
use crate::metrics::Metrics;
use crate::model::{BalancePage, Degraded};
use crate::user_id::user_id_from_query;

/// The wallet call's own timeout: the one `#[task]` gives `get_balance`.
const BALANCE_TIMEOUT: Duration = Duration::from_millis(200);

/// The scratch-card call's own timeout: the one `#[task]` gives `get_scratch_card`.
const SCRATCH_CARD_TIMEOUT: Duration = Duration::from_millis(150);

/// `call` with `left` as the time its request carries downstream: the one piece of
/// `runner_core` the baseline uses, so that the client's middleware writes the header for it
/// as it does inside a task (the tighter of this and a deadline the client gave).
fn within<F: Future>(left: Duration, call: F) -> runner_core::Scoped<F> {
    runner_core::Deadline::until(Instant::now() + left).scope(call)
}

/// The hand-written gateway: the same downstream client, timeouts and metrics as
/// [`Gateway`], with its own handler.
#[derive(Debug, Clone)]
pub struct BaselineGateway {
    parts: Gateway,
}

/// How long one call may take: the tighter of its own timeout and the page's deadline (both
/// start with the request), and which of the two that is.
#[derive(Debug, Clone, Copy)]
struct Limit {
    after: Duration,
    /// `timed_out` when the call's own timeout is the tighter, `deadline` otherwise: the
    /// words `fan_out!` uses, so that `degraded` reads the same.
    reason: &'static str,
}

impl Limit {
    fn new(timeout: Duration, deadline: Duration) -> Self {
        if timeout <= deadline {
            Self {
                after: timeout,
                reason: "timed_out",
            }
        } else {
            Self {
                after: deadline,
                reason: "deadline",
            }
        }
    }

    /// What is left of it `started` ago: the budget sent downstream, and the timeout.
    fn left(&self, started: Instant) -> Duration {
        self.after.saturating_sub(started.elapsed())
    }
}

/// Why there is no balance, hence no page.
enum BalanceFailure {
    Wallet(WalletError),
    OutOfTime(Limit),
}

impl BaselineGateway {
    /// A gateway in front of the services at these base URLs.
    pub fn new(wallet_url: &str, scratch_url: &str) -> Result<Self, crate::StartError> {
        Gateway::new(wallet_url, scratch_url).map(|parts| Self { parts })
    }

    /// The same gateway with other timeouts.
    pub fn with_timeouts(self, timeouts: Timeouts) -> Self {
        Self {
            parts: self.parts.with_timeouts(timeouts),
        }
    }

    /// Its metrics (request counts and latencies; no per-task series).
    pub fn metrics(&self) -> &Metrics {
        self.parts.metrics()
    }

    /// The same routes as [`Gateway::router`](crate::Gateway::router).
    pub fn router(&self) -> Router {
        self.parts
            .routes(get(get_balance_page).with_state(self.clone()))
    }

    /// One balance page: both calls at once with `try_join!`, each under its timeout.
    ///
    /// A wallet failure ends `try_join!` at once, which drops the card call. Nothing is
    /// spawned, so a client hanging up drops both calls too.
    async fn page(&self, user_id: u64) -> Response {
        let started = Instant::now();
        let timeouts = self.parts.timeouts();
        let deadline = timeouts.deadline;
        let balance_limit = Limit::new(timeouts.balance.unwrap_or(BALANCE_TIMEOUT), deadline);
        let card_limit = Limit::new(
            timeouts.scratch_card.unwrap_or(SCRATCH_CARD_TIMEOUT),
            deadline,
        );
        let client = self.parts.client();

        let balance = async {
            let left = balance_limit.left(started);
            match tokio::time::timeout(left, within(left, client.fetch_balance(user_id))).await {
                Ok(Ok(balance)) => Ok(balance),
                Ok(Err(error)) => Err(BalanceFailure::Wallet(error)),
                Err(_) => Err(BalanceFailure::OutOfTime(balance_limit)),
            }
        };
        // Best effort: its failure is a value, never an error of the join.
        let card = async {
            let left = card_limit.left(started);
            let card =
                match tokio::time::timeout(left, within(left, client.fetch_scratch_card(user_id)))
                    .await
                {
                    Ok(Ok(card)) => Ok(card),
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "answering without the scratch card");
                        Err("failed")
                    }
                    Err(_) => {
                        tracing::debug!(
                            reason = card_limit.reason,
                            "answering without the scratch card"
                        );
                        Err(card_limit.reason)
                    }
                };
            Ok::<_, BalanceFailure>(card)
        };

        match tokio::try_join!(balance, card) {
            Ok((wallet, card)) => {
                let mut degraded = Vec::new();
                if wallet.stale {
                    degraded.push(stale_balance());
                }
                let scratch_card = match card {
                    Ok(card) => Some(card),
                    Err(reason) => {
                        degraded.push(Degraded {
                            task: "get_scratch_card".to_owned(),
                            reason: reason.to_owned(),
                        });
                        None
                    }
                };
                page_response(BalancePage {
                    user_id,
                    balance: wallet.balance,
                    scratch_card,
                    degraded,
                })
            }
            Err(failure) => failure_response(failure, deadline).into_response(),
        }
    }
}

/// 404 for an unknown user, 504 when time ran out, 502 when the wallet failed.
fn failure_response(failure: BalanceFailure, deadline: Duration) -> ApiError {
    match failure {
        BalanceFailure::Wallet(WalletError::NotFound(user_id)) => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_user",
            format!("no wallet for user {user_id}"),
        ),
        BalanceFailure::Wallet(error @ WalletError::DeadlineExceeded) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            format!("`get_balance` failed: {error}"),
        ),
        BalanceFailure::Wallet(error) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_failed",
            format!("`get_balance` failed: {error}"),
        ),
        BalanceFailure::OutOfTime(limit) => {
            let detail = if limit.reason == "deadline" {
                format!("the {deadline:?} deadline passed before `get_balance` answered")
            } else {
                format!("`get_balance` timed out after {:?}", limit.after)
            };
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", detail)
        }
    }
}

async fn get_balance_page(
    State(gateway): State<BaselineGateway>,
    RawQuery(query): RawQuery,
) -> Response {
    match user_id_from_query(query.as_deref().unwrap_or("")) {
        Ok(user_id) => gateway.page(user_id).await,
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The baseline's timeouts are the ones the built-in policies give the tasks it stands in
    /// for.
    #[test]
    fn timeouts_match_the_tasks() {
        let gateway = Gateway::new("http://127.0.0.1:1", "http://127.0.0.1:2").unwrap();
        let client = gateway.client();
        assert_eq!(client.get_balance(1).own_timeout(), Some(BALANCE_TIMEOUT));
        assert_eq!(
            client.get_scratch_card(1).own_timeout(),
            Some(SCRATCH_CARD_TIMEOUT)
        );
    }

    #[test]
    fn the_tighter_limit_names_itself() {
        let limit = Limit::new(Duration::from_millis(200), Duration::from_millis(300));
        assert_eq!(
            (limit.after, limit.reason),
            (Duration::from_millis(200), "timed_out")
        );
        let limit = Limit::new(Duration::from_secs(1), Duration::from_millis(300));
        assert_eq!(
            (limit.after, limit.reason),
            (Duration::from_millis(300), "deadline")
        );
    }
}
