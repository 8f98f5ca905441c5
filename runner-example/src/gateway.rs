//! The balance gateway: `GET /get_balance?user_id=N` fans out to the wallet (critical) and
//! the scratch-card service (best effort) with `runner_core`'s `fan_out!`.
//!
//! Each call runs under a resilience policy the gateway owns, read from its policies file
//! ([`crate::policies`]): by default the wallet call is retried on transient errors and has a
//! circuit breaker; the scratch-card call is hedged and has a circuit breaker (see
//! [`DownstreamClient::get_balance`] and [`DownstreamClient::get_scratch_card`]). Each
//! gateway has breakers of its own: two gateways in one process share none.
//!
//! Headers on a fan-out answer:
//! - `Server-Timing`: each task's duration and outcome, e.g.
//!   `get_balance;dur=3.1;desc="ok", get_scratch_card;dur=150.2;desc="timed_out"`.
//! - `x-partial-response`: `false` when the answer is complete, `true` when a best-effort part
//!   is missing or a fallback's (then `degraded` says why). Only on a 200.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use runner_core::{FanOutError, Task, TaskError, TaskRecord, fan_out, task};

use crate::StartError;
use crate::downstream::DEADLINE_HEADER;
use crate::error::{self, ApiError};
use crate::metrics::{self, Metrics};
use crate::model::{Balance, BalancePage, Degraded, ScratchCard, WalletBalance};
use crate::policies::{GatewayPolicies, PoliciesConfig};
use crate::user_id::parse_user_id;

/// The overall deadline of one balance page: past it, the page fails if the balance is still
/// missing and goes out without the scratch card otherwise.
pub const DEADLINE: Duration = Duration::from_millis(300);

/// The header that says whether a 200 is complete (`false`) or degraded (`true`).
pub const PARTIAL_HEADER: &str = "x-partial-response";

/// Why the wallet gave no balance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The wallet has no such user (it answered 404).
    #[error("no wallet for user {0}")]
    NotFound(u64),
    /// The wallet gave up because the deadline we sent it passed (it answered 504).
    #[error("the wallet ran out of the time it was given")]
    DeadlineExceeded,
    /// The wallet answered with an unexpected status.
    #[error("the wallet answered {0}")]
    Status(StatusCode),
    /// The wallet's body was not a balance, or not the one asked for.
    #[error("the wallet's answer was not a balance: {0}")]
    Malformed(String),
    /// The wallet could not be reached, or the connection broke before its answer's headers.
    #[error("could not reach the wallet")]
    Unreachable(#[source] reqwest::Error),
    /// The connection broke in the middle of the wallet's answer: closed or reset before the
    /// whole body came.
    #[error("the wallet's answer broke off")]
    BrokenBody(#[source] reqwest::Error),
}

impl WalletError {
    /// `true` if another try could go otherwise: the wallet answered a 5xx (or its own 504
    /// when our budget ran out), or the connection failed or broke. `false` for an unknown
    /// user, another 4xx, or an answer that is not a balance: asking again gets the same.
    ///
    /// Decides both what `get_balance` retries and what its circuit breaker counts: a run of
    /// 404s says nothing about the wallet's health. (A timeout counts for the breaker anyway.)
    pub fn is_transient(&self) -> bool {
        match self {
            Self::NotFound(_) | Self::Malformed(_) => false,
            Self::Status(status) => status.is_server_error(),
            Self::DeadlineExceeded | Self::Unreachable(_) | Self::BrokenBody(_) => true,
        }
    }
}

/// Why the scratch-card service gave no card.
///
/// `Clone`, as the calls coalesced on one user's card share its error: `reqwest`'s errors
/// are held in an `Arc`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ScratchError {
    /// It answered with a status other than 200.
    #[error("the scratch-card service answered {0}")]
    Status(StatusCode),
    /// Its body was not a card.
    #[error("the scratch-card service's answer was not a card: {0}")]
    Malformed(String),
    /// It could not be reached, or the connection broke before its answer's headers.
    #[error("could not reach the scratch-card service")]
    Unreachable(#[source] Arc<reqwest::Error>),
    /// The connection broke in the middle of its answer.
    #[error("the scratch-card service's answer broke off")]
    BrokenBody(#[source] Arc<reqwest::Error>),
}

impl ScratchError {
    /// `true` for a 5xx or a connection that failed or broke: what `get_scratch_card`'s
    /// circuit breaker counts. A 4xx or a body that is not a card is the same on every try.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status(status) => status.is_server_error(),
            Self::Malformed(_) => false,
            Self::Unreachable(_) | Self::BrokenBody(_) => true,
        }
    }
}

/// The gateway's HTTP client for its two downstream services.
///
/// Its `fetch_*` methods are the plain HTTP calls; its `get_*` methods are the same calls as
/// `#[task]`s, which the `fan_out!` gateway runs. The hand-written baseline gateway
/// ([`BaselineGateway`](crate::BaselineGateway)) calls `fetch_*` directly, so both do the same
/// downstream work.
#[derive(Debug)]
pub struct DownstreamClient {
    // One pooled client: connections to each service are reused across requests.
    http: reqwest::Client,
    wallet_url: String,
    scratch_url: String,
    policies: GatewayPolicies,
}

impl DownstreamClient {
    /// A client for the services at these base URLs, e.g. `http://127.0.0.1:8081`, whose
    /// tasks run under `policies`.
    pub fn new(
        wallet_url: &str,
        scratch_url: &str,
        policies: GatewayPolicies,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            // The services are on loopback or a private network: an HTTP proxy from the
            // environment would only add a hop, or fail.
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            http,
            wallet_url: wallet_url.trim_end_matches('/').to_owned(),
            scratch_url: scratch_url.trim_end_matches('/').to_owned(),
            policies,
        })
    }

    /// The policies its tasks run under: to read, reset or force them.
    pub fn policies(&self) -> &GatewayPolicies {
        &self.policies
    }

    /// The user's balance from the wallet, as a task: [`fetch_balance`](Self::fetch_balance)
    /// under the wallet policy's timeout, sending the budget the fan-out leaves it. Without
    /// it there is no page.
    ///
    /// Its retries and breaker see [transient](WalletError::is_transient) errors only. The
    /// built-in policy (`policies.toml`):
    /// - **retry**: up to 3 attempts, after a backoff drawn below 10 ms, then below 20 ms
    ///   (capped at 50 ms): a blip costs a few milliseconds, and two retries plus their
    ///   backoffs fit in the 200 ms timeout when the wallet is fast, which is when a retry is
    ///   worth it. A retry that the time left cannot fit is not made; nor one past the retry
    ///   budget (20 % of calls over 10 s, plus 10 a second), so a failing wallet sees about
    ///   1.2 times its load, not 3 times, until the breaker opens.
    /// - **breaker**: 5 failed attempts within the last 10 s, if they are also half the
    ///   attempts in them (a count alone would trip on a healthy error rate under load),
    ///   open it for 5 s: calls then fail at once (the gateway answers 503) instead of
    ///   waiting on a wallet that is down; one probe after the 5 s closes it again if the
    ///   wallet answers.
    #[task(
        critical,
        policy = self.policies.wallet,
        retry_if = WalletError::is_transient,
        breaker_if = WalletError::is_transient
    )]
    pub async fn get_balance(&self, user_id: u64) -> Result<Balance, WalletError> {
        self.fetch_balance(user_id, runner_core::remaining()).await
    }

    /// The user's scratch card, as a task: [`fetch_scratch_card`](Self::fetch_scratch_card)
    /// under the scratch-card policy's timeout. The page goes out without it if it fails or
    /// is slow.
    ///
    /// The built-in policy (`policies.toml`):
    /// - **hedge**: if no answer came within 50 ms, a second request goes out beside the
    ///   first and the first answer wins. A healthy card service answers in a few
    ///   milliseconds, so only the slow tail is hedged, and the hedge still has 100 ms of the
    ///   150 ms timeout to answer in.
    /// - **breaker**: a sliding window of the last 10 s, judged once it holds 5 attempts:
    ///   half of them failed ([transient](ScratchError::is_transient) errors and timeouts),
    ///   or 80 % of them slower than 120 ms, open it for 5 s. The page then goes out at once
    ///   without the card (`degraded` says `rejected`) instead of waiting up to 150 ms for
    ///   it. Then 3 trial calls, 2 of which must succeed to close it; each failed trial
    ///   doubles the break, up to a minute.
    /// - **rate limit**: 20,000 calls a second, 2,000 at once after a quiet spell, what the
    ///   card service is sized for; past it the page goes out at once without the card
    ///   (`rejected`).
    ///
    /// Concurrent pages of one user share one card call (`[scratch_card.coalesce]`): while
    /// it runs, the others wait for its card, each within its own timeout, and take no
    /// attempt, hedge, breaker count or rate-limit turn of their own.
    #[task(
        best_effort,
        policy = self.policies.scratch_card,
        breaker_if = ScratchError::is_transient,
        coalesce(key = user_id, group = self.policies.scratch_cards)
    )]
    pub async fn get_scratch_card(&self, user_id: u64) -> Result<ScratchCard, ScratchError> {
        self.fetch_scratch_card(user_id, runner_core::remaining())
            .await
    }

    /// `GET /balances/{user_id}` on the wallet, checked and decoded: the HTTP work of
    /// [`get_balance`](Self::get_balance), with no timeout of its own.
    ///
    /// `budget` is what the caller has left: it goes downstream in [`DEADLINE_HEADER`]
    /// (none if `None`). The caller bounds the call itself, e.g. with `tokio::time::timeout`.
    pub async fn fetch_balance(
        &self,
        user_id: u64,
        budget: Option<Duration>,
    ) -> Result<Balance, WalletError> {
        let url = format!("{}/balances/{user_id}", self.wallet_url);
        let response = self
            .get(&url, budget)
            .send()
            .await
            .map_err(WalletError::Unreachable)?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Err(WalletError::NotFound(user_id)),
            StatusCode::GATEWAY_TIMEOUT => return Err(WalletError::DeadlineExceeded),
            status => return Err(WalletError::Status(status)),
        }
        let body = response.bytes().await.map_err(WalletError::BrokenBody)?;
        let answer: WalletBalance = serde_json::from_slice(&body)
            .map_err(|error| WalletError::Malformed(error.to_string()))?;
        if answer.user_id != user_id {
            return Err(WalletError::Malformed(format!(
                "asked for user {user_id}, got user {}",
                answer.user_id
            )));
        }
        Ok(answer.balance)
    }

    /// `GET /cards/{user_id}` on the scratch-card service, checked and decoded: the HTTP work
    /// of [`get_scratch_card`](Self::get_scratch_card), with no timeout of its own. `budget`
    /// as for [`fetch_balance`](Self::fetch_balance).
    pub async fn fetch_scratch_card(
        &self,
        user_id: u64,
        budget: Option<Duration>,
    ) -> Result<ScratchCard, ScratchError> {
        let url = format!("{}/cards/{user_id}", self.scratch_url);
        let response = self
            .get(&url, budget)
            .send()
            .await
            .map_err(|error| ScratchError::Unreachable(Arc::new(error)))?;
        if response.status() != StatusCode::OK {
            return Err(ScratchError::Status(response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|error| ScratchError::BrokenBody(Arc::new(error)))?;
        serde_json::from_slice(&body).map_err(|error| ScratchError::Malformed(error.to_string()))
    }

    /// A GET that carries the caller's remaining `budget` downstream.
    ///
    /// Inside a task, the budget is `runner_core::remaining()`, the tighter of the task's
    /// timeout and the fan-out's deadline. Rounded up to the millisecond: the service then
    /// gives up at most a millisecond after we do, so our own timer, not its 504, reports the
    /// timeout, and the report says `timed_out` rather than `failed`.
    fn get(&self, url: &str, budget: Option<Duration>) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match budget {
            Some(left) => request.header(
                DEADLINE_HEADER,
                left.as_micros().div_ceil(1_000).to_string(),
            ),
            None => request,
        }
    }
}

/// Time budgets that replace the ones written on the tasks; the defaults change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Replaces `get_balance`'s own 200 ms timeout.
    pub balance: Option<Duration>,
    /// Replaces `get_scratch_card`'s own 150 ms timeout.
    pub scratch_card: Option<Duration>,
    /// The fan-out's deadline, [`DEADLINE`] by default.
    pub deadline: Duration,
}

impl Default for Budgets {
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

/// The gateway: its downstream client, budgets and metrics.
#[derive(Debug, Clone)]
pub struct Gateway {
    client: Arc<DownstreamClient>,
    budgets: Budgets,
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
            budgets: Budgets::default(),
            metrics,
        })
    }

    /// The same gateway with other time budgets.
    pub fn with_budgets(mut self, budgets: Budgets) -> Self {
        self.budgets = budgets;
        self
    }

    /// Its metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Its time budgets.
    pub(crate) fn budgets(&self) -> Budgets {
        self.budgets
    }

    /// Its client for the downstream services.
    pub(crate) fn client(&self) -> &DownstreamClient {
        &self.client
    }

    /// The HTTP routes: `/get_balance`, `/healthz`, `/metrics`; JSON 404 and 405 otherwise.
    pub fn router(&self) -> Router {
        self.routes(get(get_balance_page).with_state(self.clone()))
    }

    /// The routes around a `/get_balance` handler, with this gateway's metrics.
    pub(crate) fn routes(&self, get_balance: MethodRouter) -> Router {
        routes(get_balance, &self.metrics)
    }

    /// One balance page: both calls at once, under the deadline.
    ///
    /// Nothing is spawned: the calls run inside this future, so when axum drops it (the
    /// client hung up) the downstream requests are dropped with it.
    async fn page(&self, user_id: u64) -> Response {
        let client = &*self.client;
        let balance = with_timeout(client.get_balance(user_id), self.budgets.balance);
        let card = with_timeout(client.get_scratch_card(user_id), self.budgets.scratch_card);
        let (result, report) =
            fan_out!(deadline = self.budgets.deadline, report; balance, card).await;
        self.metrics.record_tasks(report.tasks());

        let mut response = match result {
            Ok((balance, card)) => {
                let scratch_card = card.inspect_err(log_degraded).ok();
                page_response(BalancePage {
                    user_id,
                    balance,
                    scratch_card,
                    degraded: degraded(report.tasks()),
                })
            }
            Err(error) => failure(&error).into_response(),
        };
        if let Ok(value) = HeaderValue::from_str(&report.server_timing().to_string()) {
            response.headers_mut().insert("server-timing", value);
        }
        response
    }
}

/// A page as JSON, with `x-partial-response` saying whether anything in it is degraded.
/// Shared with the baseline gateway, which must answer the same.
pub(crate) fn page_response(page: BalancePage) -> Response {
    let partial = !page.degraded.is_empty();
    let mut response = Json(page).into_response();
    response.headers_mut().insert(
        PARTIAL_HEADER,
        HeaderValue::from_static(if partial { "true" } else { "false" }),
    );
    response
}

fn log_degraded(error: &TaskError<ScratchError>) {
    tracing::debug!(error = %error, "answering without the scratch card");
}

/// The best-effort tasks of a page that went out without a value of their own, and why, as
/// the report says: `failed`, `timed_out`, `deadline`, `panicked`, `rejected` (its breaker
/// was open), or `fallback` (its slot holds its fallback's value).
fn degraded(tasks: &[TaskRecord]) -> Vec<Degraded> {
    tasks
        .iter()
        .filter(|record| !record.critical && record.outcome.is_failure())
        .map(|record| Degraded {
            task: record.name.to_owned(),
            reason: record.outcome.as_str().to_owned(),
        })
        .collect()
}

/// The status for a failed fan-out: 404 for an unknown user, 503 when the wallet call was
/// refused (its breaker is open), 504 when time ran out, 502 when the wallet failed. Never
/// 500: the gateway itself did nothing wrong.
fn failure(error: &FanOutError) -> ApiError {
    let wallet = error.downcast_ref::<WalletError>();
    if let Some(WalletError::NotFound(user_id)) = wallet {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_user",
            format!("no wallet for user {user_id}"),
        );
    }
    if matches!(error, FanOutError::TaskRejected { .. }) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            error.to_string(),
        );
    }
    if error.is_timeout() || matches!(wallet, Some(WalletError::DeadlineExceeded)) {
        return ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            error.to_string(),
        );
    }
    // The message carries the wallet's own error: `critical task ... failed: the wallet
    // answered 503`.
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "upstream_failed",
        error.to_string(),
    )
}

async fn get_balance_page(State(gateway): State<Gateway>, RawQuery(query): RawQuery) -> Response {
    match user_id_from_query(query.as_deref().unwrap_or("")) {
        Ok(user_id) => gateway.page(user_id).await,
        Err(error) => error.into_response(),
    }
}

/// The `user_id` of a raw query string: exactly one, strictly parsed.
///
/// The query is parsed here rather than by axum's `Query` extractor so that a missing or
/// repeated parameter gets a JSON error naming the mistake.
pub fn user_id_from_query(query: &str) -> Result<u64, ApiError> {
    let mut values = form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == "user_id")
        .map(|(_, value)| value);
    let Some(value) = values.next() else {
        return Err(ApiError::bad_request(
            "missing_user_id",
            "the query must have `user_id`, e.g. `?user_id=42`",
        ));
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request(
            "repeated_user_id",
            "`user_id` must be given once",
        ));
    }
    parse_user_id(&value)
}

/// The gateway's routes around its `GET /get_balance` handler: `/healthz`, `/metrics`, JSON
/// 404 and 405, and the request metrics. Shared by both gateway implementations.
pub(crate) fn routes(get_balance: MethodRouter, metrics: &Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/get_balance",
            get_balance.fallback(error::method_not_allowed),
        )
        .route("/healthz", get(healthz).fallback(error::method_not_allowed))
        .route(
            "/metrics",
            get(metrics::render)
                .with_state(metrics.clone())
                .fallback(error::method_not_allowed),
        )
        .fallback(error::no_route)
        .layer(middleware::from_fn_with_state(
            metrics.clone(),
            metrics::track,
        ))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_one_user_id() {
        assert_eq!(user_id_from_query("user_id=7").unwrap(), 7);
        assert_eq!(user_id_from_query("other=1&user_id=7").unwrap(), 7);
        assert_eq!(user_id_from_query("user_id=%37").unwrap(), 7);
        let code = |query: &str| user_id_from_query(query).unwrap_err().body.error;
        assert_eq!(code(""), "missing_user_id");
        assert_eq!(code("userid=7"), "missing_user_id");
        assert_eq!(code("user_id=1&user_id=1"), "repeated_user_id");
        assert_eq!(code("user_id="), "empty_user_id");
        assert_eq!(code("user_id"), "empty_user_id");
        assert_eq!(code("user_id=-3"), "negative_user_id");
        assert_eq!(code("user_id=abc"), "invalid_user_id");
    }

    #[test]
    fn only_transient_errors_are_retried_and_counted_by_the_breakers() {
        let status = |code: u16| StatusCode::from_u16(code).unwrap();
        for transient in [
            WalletError::Status(status(500)),
            WalletError::Status(status(503)),
            WalletError::DeadlineExceeded,
        ] {
            assert!(transient.is_transient(), "{transient:?}");
        }
        for permanent in [
            WalletError::NotFound(1001),
            WalletError::Status(status(400)),
            WalletError::Status(status(429)),
            WalletError::Malformed("not json".to_owned()),
        ] {
            assert!(!permanent.is_transient(), "{permanent:?}");
        }
        assert!(ScratchError::Status(status(502)).is_transient());
        assert!(!ScratchError::Status(status(404)).is_transient());
        assert!(!ScratchError::Malformed("not json".to_owned()).is_transient());
    }

    #[test]
    fn degraded_lists_the_best_effort_tasks_without_a_value_of_their_own() {
        use runner_core::Outcome;
        let record = |name, critical, outcome| TaskRecord {
            label: None,
            name,
            critical,
            outcome,
            elapsed: Duration::ZERO,
        };
        let degraded = degraded(&[
            record("get_balance", true, Outcome::Ok),
            record("get_scratch_card", false, Outcome::Rejected),
            record("card_ok", false, Outcome::Ok),
            record("card_fallback", false, Outcome::Fallback),
        ]);
        let reasons: Vec<(&str, &str)> = degraded
            .iter()
            .map(|entry| (entry.task.as_str(), entry.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("get_scratch_card", "rejected"),
                ("card_fallback", "fallback")
            ]
        );
    }
}
