//! The gateway's HTTP client for the wallet and the scratch-card service: the plain calls,
//! the same calls as `#[task]`s under the gateway's policies, and why each can fail.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use arrayvec::ArrayString;
use axum::http::{HeaderMap, StatusCode, header};
use reqwest::Url;
use reqwest_middleware::ClientWithMiddleware;
use runner_core::task;
use runner_http::Propagate;

use crate::model::{ScratchCard, WalletBalance};
use crate::policies::GatewayPolicies;

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
    #[error("the wallet answered {status}")]
    Status {
        /// What it answered.
        status: StatusCode,
        /// How long it asked us to wait before asking again: its `Retry-After`, on a 503 or a
        /// 429 (see [`retry_after`](Self::retry_after)).
        retry_after: Option<Duration>,
    },
    /// The wallet's body was not a balance, or not the one asked for.
    #[error("the wallet's answer was not a balance: {0}")]
    Malformed(String),
    /// The wallet could not be reached, or the connection broke before its answer's headers.
    #[error("could not reach the wallet")]
    Unreachable(#[source] reqwest_middleware::Error),
    /// The connection broke in the middle of the wallet's answer: closed or reset before the
    /// whole body came.
    #[error("the wallet's answer broke off")]
    BrokenBody(#[source] reqwest::Error),
}

/// The longest `Retry-After` the gateway takes from the wallet: a minute. The wallet's
/// breaker stays open as long as the wallet asks, and every page fails meanwhile: a wrong
/// header (an hour, a typo) must not take the pages down for longer than this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

impl WalletError {
    /// `true` if another try could go otherwise: the wallet answered a 5xx (or its own 504
    /// when our budget ran out), a 429 with a `Retry-After` (it says when it will answer),
    /// or the connection failed or broke. `false` for an unknown user, another 4xx, or an
    /// answer that is not a balance: asking again gets the same.
    ///
    /// Decides both what `get_balance` retries and what its circuit breaker counts: a run of
    /// 404s says nothing about the wallet's health. (A timeout counts for the breaker anyway.)
    pub fn is_transient(&self) -> bool {
        match self {
            Self::NotFound(_) | Self::Malformed(_) => false,
            Self::Status {
                status,
                retry_after,
            } => {
                status.is_server_error()
                    || (*status == StatusCode::TOO_MANY_REQUESTS && retry_after.is_some())
            }
            Self::DeadlineExceeded | Self::Unreachable(_) | Self::BrokenBody(_) => true,
        }
    }

    /// How long the wallet asked us to wait before asking again: the `Retry-After` of its 503
    /// or 429, in seconds, up to a minute. `None` for any other error, or when the
    /// header is missing, an HTTP date or malformed (the policy's own backoff and cooldown
    /// then apply).
    ///
    /// `get_balance`'s retry waits this instead of its backoff, and its breaker, if this
    /// error opens it, stays open this long instead of its cooldown.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The delay a `Retry-After` header asks for, in its delay-seconds form, up to
/// [`MAX_RETRY_AFTER`]. An HTTP date is not read: the wallet's clock and ours need not
/// agree, and a wrong date would be a wrong wait. A value that is neither is ignored rather
/// than failing the call, whose status already says what went wrong.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    // `1*DIGIT` (RFC 9110): no sign, no fraction, no unit, which `u64::from_str` would let
    // through (a `+`) or refuse alike.
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    // Only digits: it fails only past `u64::MAX` seconds, which the cap cuts anyway.
    let secs = value.parse::<u64>().unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
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
    Unreachable(#[source] Arc<reqwest_middleware::Error>),
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
    // One pooled client: connections to each service are reused across requests. Each
    // request carries what is left of the calling task's time, and its span's trace.
    http: ClientWithMiddleware,
    wallet: Base,
    scratch: Base,
    policies: GatewayPolicies,
}

/// A service's base URL, parsed once: each call's URL is the base with the call's path
/// segments pushed on, not a new string parsed again (parsing, with its IDNA pass over the
/// host, took 5 % of a gateway's CPU under load). A base that does not parse is kept as it
/// was given, for reqwest to report at each call, as before.
#[derive(Debug)]
struct Base(Result<Url, String>);

impl Base {
    fn new(url: &str) -> Self {
        let url = url.trim_end_matches('/');
        Self(match Url::parse(url) {
            Ok(parsed) if !parsed.cannot_be_a_base() => Ok(parsed),
            _ => Err(url.to_owned()),
        })
    }

    /// The URL of `/{resource}/{user_id}` under this base.
    fn user_url(&self, resource: &str, user_id: u64) -> Result<Url, String> {
        let mut id = ArrayString::<20>::new();
        // A `u64` has at most 20 digits.
        let _ = write!(id, "{user_id}");
        match &self.0 {
            Ok(base) => {
                let mut url = base.clone();
                if let Ok(mut path) = url.path_segments_mut() {
                    path.pop_if_empty().push(resource).push(&id);
                }
                Ok(url)
            }
            Err(base) => Err(format!("{base}/{resource}/{id}")),
        }
    }
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
        let http = reqwest_middleware::ClientBuilder::new(http)
            .with(Propagate::new())
            .build();
        Ok(Self {
            http,
            wallet: Base::new(wallet_url),
            scratch: Base::new(scratch_url),
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
    /// - **attempt timeout**: each attempt has 80 ms of the 200 ms. A healthy wallet answers
    ///   in a few, so an attempt that hangs is ended (a breaker failure) and retried while a
    ///   second attempt still fits, instead of holding the page for the whole 200 ms. When
    ///   no retry is left or fits, the task fails as timed out after 80 ms (a 504).
    /// - **breaker**: 5 failed attempts within the last 10 s, if they are also half the
    ///   attempts in them (a count alone would trip on a healthy error rate under load),
    ///   open it for 5 s: calls then fail at once (the gateway answers 503) instead of
    ///   waiting on a wallet that is down; one probe after the 5 s closes it again if the
    ///   wallet answers.
    ///
    /// The wallet's own word overrides the retry's backoff and the breaker's 5 s when it
    /// gives one: a 503 or a 429 with `Retry-After: N` ([`WalletError::retry_after`]).
    /// - `retry_delay_from`: the retry waits the N s asked instead of its backoff, still
    ///   within the deadline. runner-core refuses a retry whose asked delay is past the
    ///   backoff's 50 ms cap (`why="delay"` in `gateway_policy_retries_refused`) or does not
    ///   fit the time left (`why="deadline"`): with whole seconds inside a 200 ms timeout,
    ///   the page fails at once instead of asking again before the wallet said to, and only
    ///   `Retry-After: 0` is retried.
    /// - `cooldown_from`: if that failure opens the breaker, it stays open the N s asked (up
    ///   to a minute) instead of 5 s, and then lets its probe through.
    ///
    /// A stale answer is retried too (`retry_if_value =` [`WalletBalance::is_stale`]): the
    /// wallet answered, but as a replica that lags behind, so the balance may be behind. A
    /// replica's lag clears in milliseconds and a retry costs one more quick request, so it
    /// is asked again as a transient error is: within the same 3 attempts, backoffs, time
    /// left and retry budget (counted in `gateway_policy_retries_total`, refused as any other
    /// retry). The breaker counts it as a success: the wallet is up. When no retry is left or
    /// fits, the last stale answer is the task's value, and the page carries it with a
    /// `degraded` entry `{"task": "get_balance", "reason": "stale"}` (so
    /// `x-partial-response: true`): a balance that may be behind is better than none, but
    /// the client is told, through the flag it already reads for a missing card.
    #[task(
        critical,
        policy = self.policies.wallet,
        retry_if = WalletError::is_transient,
        retry_if_value = WalletBalance::is_stale,
        retry_delay_from = WalletError::retry_after,
        breaker_if = WalletError::is_transient,
        cooldown_from = WalletError::retry_after
    )]
    pub async fn get_balance(&self, user_id: u64) -> Result<WalletBalance, WalletError> {
        self.fetch_balance(user_id).await
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
        self.fetch_scratch_card(user_id).await
    }

    fn get(&self, url: Result<Url, String>) -> reqwest_middleware::RequestBuilder {
        match url {
            Ok(url) => self.http.get(url),
            Err(url) => self.http.get(url),
        }
    }

    /// `GET /balances/{user_id}` on the wallet, checked and decoded: the HTTP work of
    /// [`get_balance`](Self::get_balance), with no timeout of its own. The answer is the
    /// wallet's whole, its `stale` mark included, for the caller to judge.
    ///
    /// The request carries what is left of the running task's time (`runner_core::
    /// remaining()`, through runner-http's `Propagate`), none outside a task or a deadline;
    /// the caller bounds the call itself.
    pub async fn fetch_balance(&self, user_id: u64) -> Result<WalletBalance, WalletError> {
        let response = self
            .get(self.wallet.user_url("balances", user_id))
            .send()
            .await
            .map_err(WalletError::Unreachable)?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Err(WalletError::NotFound(user_id)),
            StatusCode::GATEWAY_TIMEOUT => return Err(WalletError::DeadlineExceeded),
            status => {
                // HTTP gives `Retry-After` its meaning on these two.
                let asks_to_wait = matches!(
                    status,
                    StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
                );
                return Err(WalletError::Status {
                    status,
                    retry_after: asks_to_wait
                        .then(|| retry_after(response.headers()))
                        .flatten(),
                });
            }
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
        Ok(answer)
    }

    /// `GET /cards/{user_id}` on the scratch-card service, checked and decoded: the HTTP work
    /// of [`get_scratch_card`](Self::get_scratch_card), with no timeout of its own, carrying
    /// the caller's time left as [`fetch_balance`](Self::fetch_balance)'s does.
    pub async fn fetch_scratch_card(&self, user_id: u64) -> Result<ScratchCard, ScratchError> {
        let response = self
            .get(self.scratch.user_url("cards", user_id))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each call's URL is what the base and the path made as one string before, parsed.
    #[test]
    fn a_call_url_is_the_base_and_its_path() {
        let url = |base: &str| Base::new(base).user_url("balances", u64::MAX);
        let parsed = |text: &str| Ok(Url::parse(text).unwrap());
        for base in ["http://127.0.0.1:8081", "http://127.0.0.1:8081/"] {
            assert_eq!(
                url(base),
                parsed("http://127.0.0.1:8081/balances/18446744073709551615")
            );
        }
        assert_eq!(
            url("http://wallet.internal/api/v1/"),
            parsed("http://wallet.internal/api/v1/balances/18446744073709551615")
        );
        // One that does not parse goes to reqwest as it was given, which reports it.
        assert_eq!(
            url("wallet:8081"),
            Err("wallet:8081/balances/18446744073709551615".to_owned())
        );
    }

    fn status(code: u16, retry_after: Option<u64>) -> WalletError {
        WalletError::Status {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn only_transient_errors_are_retried_and_counted_by_the_breakers() {
        for transient in [
            status(500, None),
            status(503, None),
            status(503, Some(2)),
            // The wallet says when it will answer again.
            status(429, Some(2)),
            WalletError::DeadlineExceeded,
        ] {
            assert!(transient.is_transient(), "{transient:?}");
        }
        for permanent in [
            WalletError::NotFound(1001),
            status(400, None),
            status(429, None),
            WalletError::Malformed("not json".to_owned()),
        ] {
            assert!(!permanent.is_transient(), "{permanent:?}");
        }
        let status = |code: u16| StatusCode::from_u16(code).unwrap();
        assert!(ScratchError::Status(status(502)).is_transient());
        assert!(!ScratchError::Status(status(404)).is_transient());
        assert!(!ScratchError::Malformed("not json".to_owned()).is_transient());
    }

    #[test]
    fn a_retry_after_in_seconds_is_read_and_anything_else_ignored() {
        let read = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::RETRY_AFTER, value.parse().unwrap());
            retry_after(&headers)
        };
        assert_eq!(read("2"), Some(Duration::from_secs(2)));
        assert_eq!(read("0"), Some(Duration::ZERO));
        assert_eq!(read(" 7 "), Some(Duration::from_secs(7)));
        // Past the cap, or past any number: the cap.
        assert_eq!(read("3600"), Some(MAX_RETRY_AFTER));
        assert_eq!(read("99999999999999999999999"), Some(MAX_RETRY_AFTER));
        for ignored in [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "+2",
            "-1",
            "1.5",
            "2s",
            "",
            "soon",
        ] {
            assert_eq!(read(ignored), None, "{ignored:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new()), None);

        assert_eq!(
            status(503, Some(2)).retry_after(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(status(503, None).retry_after(), None);
        assert_eq!(WalletError::DeadlineExceeded.retry_after(), None);
    }
}
