//! The gateway's resilience policies over loopback: the wallet call's retries (of a stale
//! balance too) and circuit breaker (and the wait a wallet's `Retry-After` asks of both), the
//! scratch-card call's hedge and circuit breaker, and what `/metrics` counts of them.
//!
//! Each test's gateway owns its policies, so each starts with closed breakers and full
//! budgets, whatever ran before it in the process. The counters on `/metrics` come from the
//! policies' typed events, counted by the gateway's own observer.
//!
//! Nothing here asserts a time. A breaker opens after 5 failed attempts within 10 s: the
//! few requests that open it take milliseconds on loopback. "Refused at once" is shown by the
//! downstream service never seeing the request, and by the outcome strings.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use runner_example::{
    FaultConfig, Faults, PARTIAL_HEADER, PoliciesConfig, Scratch, Server, Wallet, card_for,
    seeded_balance,
};
use serde_json::{Value, json};

use support::{Answer, GENEROUS, Services, without_attempt_timeout};

/// The longest any request in these tests waits.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many requests a test sends, at most, waiting for a breaker to open.
const MAX_REQUESTS: usize = 20;

/// The three services, with these faults, and the policy counters fed.
struct Stack {
    wallet: Wallet,
    scratch: Scratch,
    gateway: Server,
    http: reqwest::Client,
    _downstream: [Server; 2],
}

impl Stack {
    /// Timeouts no machine runs out of: only the faults decide the answers.
    async fn start(wallet: Faults, scratch: Faults) -> Self {
        Self::with_policies(wallet, scratch, &PoliciesConfig::builtin()).await
    }

    /// The same, on `policies` instead of the built-in ones.
    async fn with_policies(wallet: Faults, scratch: Faults, policies: &PoliciesConfig) -> Self {
        let services = Services::with_policies(wallet, scratch, GENEROUS, policies).await;
        Self {
            wallet: services.wallet,
            scratch: services.scratch,
            gateway: services.gateway_server,
            http: support::client(CLIENT_TIMEOUT),
            _downstream: [services.wallet_server, services.scratch_server],
        }
    }

    async fn balance(&self, user_id: u64) -> Answer {
        let url = format!("{}/get_balance?user_id={user_id}", self.gateway.url());
        Answer::from(self.http.get(url).send().await).await
    }

    async fn metrics(&self) -> Metrics {
        let url = format!("{}/metrics", self.gateway.url());
        let response = self.http.get(url).send().await.expect("metrics");
        assert_eq!(response.status(), StatusCode::OK);
        Metrics(response.text().await.expect("metrics text"))
    }

    /// Requests the wallet has answered, failed attempts included.
    fn wallet_served(&self) -> u64 {
        self.wallet.stats().snapshot().served
    }

    /// Requests that reached the scratch-card service (counted as they arrive).
    fn scratch_reached(&self) -> u64 {
        self.scratch.stats().snapshot().with_deadline
    }
}

fn faults(config: FaultConfig, seed: u64) -> Faults {
    Faults::new(config, seed).expect("valid faults")
}

fn stale(rate: f64) -> FaultConfig {
    FaultConfig {
        stale_rate: rate,
        ..FaultConfig::default()
    }
}

fn failing(rate: f64) -> FaultConfig {
    FaultConfig {
        error_rate: rate,
        ..FaultConfig::default()
    }
}

/// `/metrics` as text.
struct Metrics(String);

impl Metrics {
    /// The value of the gauge `series` (name and labels, as rendered), if it has one.
    fn gauge(&self, series: &str) -> Option<f64> {
        self.0
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| {
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("`{series}` is not a number: {value}"))
            })
    }

    /// The value of `series` (name and labels, as rendered), 0 if it has none yet.
    fn value(&self, series: &str) -> u64 {
        self.0
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0, |value| {
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("`{series}` is not a count: {value}"))
            })
    }
}

impl Answer {
    /// The outcome `server-timing` gives `task`.
    fn outcome(&self, task: &str) -> String {
        let timing = self
            .header("server-timing")
            .expect("a Server-Timing header");
        timing
            .split(", ")
            .find(|entry| entry.starts_with(&format!("{task};")))
            .and_then(|entry| entry.rsplit_once(";desc=\""))
            .and_then(|(_, desc)| desc.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no outcome for {task} in {timing:?}"))
            .to_owned()
    }
}

#[tokio::test]
async fn a_failing_scratch_service_opens_its_breaker_and_the_card_is_refused_at_once() {
    let stack = Stack::start(Faults::none(), faults(failing(1.0), 1)).await;

    let mut failed = 0;
    let mut rejected = 0;
    for _ in 0..MAX_REQUESTS {
        let reached_before = stack.scratch_reached();
        let answer = stack.balance(7).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        assert_eq!(answer.header(PARTIAL_HEADER), Some("true"));
        assert_eq!(answer.outcome("get_balance"), "ok");
        let reason = answer.json["degraded"][0]["reason"]
            .as_str()
            .expect("a reason")
            .to_owned();
        assert_eq!(
            answer.json,
            json!({
                "user_id": 7,
                "balance": { "amount_minor": seeded_balance(7), "currency": "EUR" },
                "scratch_card": null,
                "degraded": [{ "task": "get_scratch_card", "reason": reason }]
            })
        );
        assert_eq!(answer.outcome("get_scratch_card"), reason);
        match reason.as_str() {
            "failed" => {
                assert_eq!(rejected, 0, "a failure after the breaker opened");
                failed += 1;
            }
            "rejected" => {
                // Refused before it ran: nothing went to the scratch-card service.
                assert_eq!(stack.scratch_reached(), reached_before, "{:?}", answer.json);
                rejected += 1;
                if rejected == 3 {
                    break;
                }
            }
            other => panic!("degraded for {other}"),
        }
    }
    assert_eq!(rejected, 3, "the breaker never opened ({failed} failures)");
    // Five failed attempts open it: five requests, or fewer if a slow one was hedged (and
    // one more attempt if a hedge was still on its way when the fifth failed).
    assert!(
        (1..=5).contains(&failed),
        "{failed} failures before it opened"
    );
    let served = stack.scratch.stats().snapshot().served;
    assert!((5..=6).contains(&served), "{served} failed attempts");

    let metrics = stack.metrics().await;
    let series = |name: &str, labels: &str| metrics.value(&format!("{name}{{{labels}}}"));
    assert_eq!(
        series(
            "gateway_policy_breaker_transitions_total",
            r#"task="get_scratch_card",state="open""#
        ),
        1
    );
    assert_eq!(
        series(
            "gateway_policy_rejections_total",
            r#"task="get_scratch_card",reason="breaker_open""#
        ),
        rejected
    );
    assert_eq!(
        series(
            "gateway_task_outcomes_total",
            r#"task="get_scratch_card",outcome="rejected""#
        ),
        rejected
    );
    assert_eq!(
        series(
            "gateway_task_outcomes_total",
            r#"task="get_scratch_card",outcome="failed""#
        ),
        failed
    );
    // The wallet's breaker is its own, and stayed closed.
    assert_eq!(
        series(
            "gateway_policy_breaker_transitions_total",
            r#"task="get_balance",state="open""#
        ),
        0
    );
}

#[tokio::test]
async fn a_transient_wallet_error_is_retried_and_the_page_succeeds() {
    // Every other wallet request fails, at random; with seed 3 the first fails and the
    // second does not. The loop does not depend on that: it stops at the first page that
    // needed a retry.
    let stack = Stack::start(faults(failing(0.5), 3), Faults::none()).await;

    let mut retries = 0;
    let mut retried_page = None;
    for _ in 0..5 {
        let before = stack.wallet_served();
        let answer = stack.balance(42).await;
        let attempts = stack.wallet_served() - before;
        assert!((1..=3).contains(&attempts), "{attempts} attempts");
        retries += attempts - 1;
        if answer.status != StatusCode::OK {
            // Only when every attempt failed.
            assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{:?}", answer.json);
            assert_eq!(attempts, 3);
            continue;
        }
        if attempts > 1 {
            retried_page = Some(answer);
            break;
        }
    }
    let answer = retried_page.expect("a page that needed a retry");
    assert_eq!(
        answer.json,
        json!({
            "user_id": 42,
            "balance": { "amount_minor": seeded_balance(42), "currency": "EUR" },
            "scratch_card": serde_json::to_value(card_for(42)).expect("a card"),
            "degraded": []
        })
    );
    assert_eq!(answer.header(PARTIAL_HEADER), Some("false"));
    assert_eq!(answer.outcome("get_balance"), "ok");

    let metrics = stack.metrics().await;
    assert!(retries >= 1);
    assert_eq!(
        metrics.value(r#"gateway_policy_retries_total{task="get_balance"}"#),
        retries
    );
    assert_eq!(
        metrics
            .value(r#"gateway_policy_breaker_transitions_total{task="get_balance",state="open"}"#),
        0
    );
}

#[tokio::test]
async fn a_failing_wallet_opens_its_breaker_and_the_gateway_answers_503() {
    let stack = Stack::start(faults(failing(1.0), 1), Faults::none()).await;

    // Three attempts, all failed (failures 1 to 3): a 502.
    let answer = stack.balance(7).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{:?}", answer.json);
    assert_eq!(answer.json["error"], "upstream_failed");
    assert_eq!(stack.wallet_served(), 3);

    let assert_refused = |answer: &Answer| {
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            answer.json
        );
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(
            answer.json,
            json!({
                "error": "upstream_unavailable",
                "detail": "critical task `get_balance` rejected: circuit breaker open"
            })
        );
        assert_eq!(answer.header(PARTIAL_HEADER), None);
        assert_eq!(answer.outcome("get_balance"), "rejected");
    };

    // Two more failed attempts (4 and 5) open the breaker, and the retry it would refuse is
    // not made: a 502 again.
    let answer = stack.balance(7).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{:?}", answer.json);
    assert_eq!(stack.wallet_served(), 5);
    // While it is open, a page fails at once with a 503: the wallet is not asked.
    assert_refused(&stack.balance(7).await);
    assert_refused(&stack.balance(7).await);
    assert_eq!(stack.wallet_served(), 5);

    let metrics = stack.metrics().await;
    let count = |series: &str| metrics.value(series);
    // Two retries for the first page, one for the second, whose next one the breaker
    // would have refused.
    assert_eq!(
        count(r#"gateway_policy_retries_total{task="get_balance"}"#),
        3
    );
    assert_eq!(
        count(r#"gateway_policy_retries_refused_total{task="get_balance",why="breaker"}"#),
        1
    );
    assert_eq!(
        count(r#"gateway_policy_breaker_transitions_total{task="get_balance",state="open"}"#),
        1
    );
    assert_eq!(
        count(r#"gateway_policy_rejections_total{task="get_balance",reason="breaker_open"}"#),
        2
    );
    assert_eq!(
        count(r#"gateway_task_outcomes_total{task="get_balance",outcome="rejected"}"#),
        2
    );
    assert_eq!(
        count(r#"gateway_http_requests_total{route="/get_balance",method="GET",status="503"}"#),
        2
    );
}

#[tokio::test]
async fn an_unknown_user_is_neither_retried_nor_counted_by_the_breaker() {
    let stack = Stack::start(Faults::none(), Faults::none()).await;
    for attempt in 1..=10 {
        let answer = stack.balance(1001).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{:?}", answer.json);
        assert_eq!(answer.json["error"], "unknown_user");
        // One wallet request per page: a 404 is not retried.
        assert_eq!(stack.wallet_served(), attempt);
    }
    // Ten 404s in a row, and the breaker is still closed.
    let answer = stack.balance(7).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);

    let metrics = stack.metrics().await;
    assert_eq!(
        metrics.value(r#"gateway_policy_retries_total{task="get_balance"}"#),
        0
    );
    assert_eq!(
        metrics
            .value(r#"gateway_policy_breaker_transitions_total{task="get_balance",state="open"}"#),
        0
    );
}

#[tokio::test]
async fn a_slow_scratch_service_is_hedged_and_the_card_still_comes() {
    // Every card takes 100 ms: past the 50 ms hedge delay, within the (generous) timeout.
    let slow = FaultConfig {
        latency_ms: 100,
        ..FaultConfig::default()
    };
    let stack = Stack::start(Faults::none(), faults(slow, 1)).await;
    const PAGES: u64 = 3;
    for _ in 0..PAGES {
        let answer = stack.balance(42).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        assert_eq!(answer.header(PARTIAL_HEADER), Some("false"));
        assert_eq!(
            answer.json["scratch_card"],
            serde_json::to_value(card_for(42)).expect("a card")
        );
        assert_eq!(answer.outcome("get_scratch_card"), "ok");
    }
    let metrics = stack.metrics().await;
    // Exactly one hedge per card: the first attempt cannot answer before 100 ms, and one is
    // the most `hedge = "50ms"` starts.
    assert_eq!(
        metrics.value(r#"gateway_policy_hedges_total{task="get_scratch_card"}"#),
        PAGES
    );
    // The losing attempt was dropped, not failed: the breaker counted nothing.
    assert_eq!(
        metrics.value(
            r#"gateway_policy_breaker_transitions_total{task="get_scratch_card",state="open"}"#
        ),
        0
    );
    assert_eq!(
        metrics.value(r#"gateway_task_outcomes_total{task="get_scratch_card",outcome="ok"}"#),
        PAGES
    );
}

#[tokio::test]
async fn pages_of_one_user_loaded_at_once_share_one_card_call() {
    // Every card takes a second: the pages all come while the first one's call runs.
    let slow = FaultConfig {
        latency_ms: 1_000,
        ..FaultConfig::default()
    };
    let stack = Stack::start(Faults::none(), faults(slow, 1)).await;
    const PAGES: u64 = 3;
    let (a, b, c) = tokio::join!(stack.balance(42), stack.balance(42), stack.balance(42));
    for answer in [a, b, c] {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        assert_eq!(answer.header(PARTIAL_HEADER), Some("false"));
        assert_eq!(
            answer.json["scratch_card"],
            serde_json::to_value(card_for(42)).expect("a card")
        );
        assert_eq!(answer.outcome("get_scratch_card"), "ok");
    }
    // One call for the three pages: its attempt and its one hedge, 50 ms later (three
    // calls would have made six).
    assert_eq!(stack.scratch_reached(), 2);
    let metrics = stack.metrics().await;
    let series = |name: &str| metrics.value(&format!(r#"{name}{{task="get_scratch_card"}}"#));
    assert_eq!(series("gateway_policy_coalesced_total"), PAGES - 1);
    assert_eq!(series("gateway_policy_hedges_total"), 1);
    assert_eq!(series("gateway_policy_coalesce_takeovers_total"), 0);
}

#[tokio::test]
async fn a_wallet_asking_to_retry_after_2s_is_not_asked_sooner_and_opens_its_breaker_for_2s() {
    // Every wallet request is a 503 with `Retry-After: 2`: the wallet's word, not the
    // policy's 5 s cooldown, is how long it wants to be left alone.
    const ASKED: u64 = 2;
    let busy = FaultConfig {
        retry_after_secs: Some(ASKED),
        ..failing(1.0)
    };
    let stack = Stack::start(faults(busy, 1), Faults::none()).await;

    // Each page asks once: the retry would wait the 2 s asked, past the backoff's 50 ms
    // cap, so it is refused and the 503 goes back as a 502 at once. The fifth failed
    // attempt opens the breaker.
    for page in 1..=5 {
        let answer = stack.balance(7).await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{:?}", answer.json);
        assert_eq!(
            answer.json["detail"],
            "critical task `get_balance` failed: the wallet answered 503 Service Unavailable"
        );
        assert_eq!(stack.wallet_served(), page, "one wallet request per page");
    }
    // Open: a 503 at once, the wallet not asked.
    for _ in 0..2 {
        let answer = stack.balance(7).await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            answer.json
        );
        assert_eq!(answer.json["error"], "upstream_unavailable");
        assert_eq!(answer.outcome("get_balance"), "rejected");
    }
    assert_eq!(stack.wallet_served(), 5);

    let metrics = stack.metrics().await;
    let count = |series: &str| metrics.value(series);
    assert_eq!(
        count(r#"gateway_policy_retries_refused_total{task="get_balance",why="delay"}"#),
        5
    );
    assert_eq!(
        count(r#"gateway_policy_retries_total{task="get_balance"}"#),
        0
    );
    assert_eq!(
        count(r#"gateway_policy_breaker_transitions_total{task="get_balance",state="open"}"#),
        1
    );
    // Open for what the wallet asked, not the policy's 5 s.
    assert_eq!(
        metrics.gauge(r#"gateway_policy_breaker_cooldown_seconds{task="get_balance"}"#),
        Some(ASKED as f64)
    );

    // Once the wallet is back and its 2 s are over, the probe goes through and closes the
    // breaker. (A bounded wait; how soon is not asserted.)
    stack
        .wallet
        .faults()
        .set(FaultConfig::default())
        .expect("no faults");
    let give_up = tokio::time::Instant::now() + CLIENT_TIMEOUT;
    loop {
        let answer = stack.balance(7).await;
        if answer.status == StatusCode::OK {
            break;
        }
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            answer.json
        );
        assert!(
            tokio::time::Instant::now() < give_up,
            "the breaker never closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = stack.metrics().await;
    assert_eq!(
        metrics.value(
            r#"gateway_policy_breaker_transitions_total{task="get_balance",state="closed"}"#
        ),
        1
    );
}

/// The built-in wallet retry's attempts, without its attempt timeout: an attempt ended at its
/// 80 ms on a loaded machine would have drawn its fault without being served, and the counts
/// below would be off by one.
fn wallet_retry_without_attempt_timeout() -> (PoliciesConfig, u64) {
    let policies = without_attempt_timeout();
    let attempts = policies
        .wallet
        .retry
        .as_ref()
        .expect("the wallet call is retried")
        .attempts;
    (policies, u64::from(attempts))
}

/// The page of user 42 with this balance, a card, and what `degraded` says.
fn page_of_42(degraded: Value) -> Value {
    json!({
        "user_id": 42,
        "balance": { "amount_minor": seeded_balance(42), "currency": "EUR" },
        "scratch_card": serde_json::to_value(card_for(42)).expect("a card"),
        "degraded": degraded
    })
}

#[tokio::test]
async fn a_wallet_answering_stale_is_asked_every_attempt_and_the_page_says_stale() {
    let (policies, attempts) = wallet_retry_without_attempt_timeout();
    assert_eq!(attempts, 3, "policies.toml");
    let stack = Stack::with_policies(faults(stale(1.0), 1), Faults::none(), &policies).await;

    for page in 1..=2 {
        let answer = stack.balance(42).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        // Every attempt was stale: the last balance, marked.
        assert_eq!(
            answer.json,
            page_of_42(json!([{ "task": "get_balance", "reason": "stale" }]))
        );
        assert_eq!(answer.header(PARTIAL_HEADER), Some("true"));
        // The wallet answered each time: to the task, a value.
        assert_eq!(answer.outcome("get_balance"), "ok");
        assert_eq!(
            stack.wallet_served(),
            page * attempts,
            "one request per attempt"
        );
    }

    let metrics = stack.metrics().await;
    let count = |series: &str| metrics.value(series);
    assert_eq!(
        count(r#"gateway_policy_retries_total{task="get_balance"}"#),
        2 * (attempts - 1)
    );
    for why in ["deadline", "breaker", "budget", "delay"] {
        let series =
            format!(r#"gateway_policy_retries_refused_total{{task="get_balance",why="{why}"}}"#);
        assert_eq!(count(&series), 0, "{why}");
    }
    // A stale answer is an answer: the breaker counts successes.
    assert_eq!(
        count(r#"gateway_policy_breaker_transitions_total{task="get_balance",state="open"}"#),
        0
    );
    assert_eq!(
        count(r#"gateway_task_outcomes_total{task="get_balance",outcome="ok"}"#),
        2
    );
}

#[tokio::test]
async fn with_half_the_wallets_answers_stale_pages_come_back_fresh_after_a_retry() {
    // Which answers are stale is drawn from seed 5, one draw per wallet request, and the
    // pages are asked one after the other: the wallet requests each page makes are the same
    // on every run. (Another RNG would change this list, not the rules checked below.)
    const SEED: u64 = 5;
    // Each page's wallet requests, and whether its balance came back fresh: three pages got
    // a stale answer first (two of them twice) and a fresh one on a retry.
    const PAGES: [(u64, bool); 8] = [
        (2, true),
        (3, true),
        (1, true),
        (3, true),
        (1, true),
        (1, true),
        (1, true),
        (1, true),
    ];
    let (policies, attempts) = wallet_retry_without_attempt_timeout();
    let stack = Stack::with_policies(faults(stale(0.5), SEED), Faults::none(), &policies).await;

    let mut pages = Vec::new();
    for _ in PAGES {
        let before = stack.wallet_served();
        let answer = stack.balance(42).await;
        let requests = stack.wallet_served() - before;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        assert!((1..=attempts).contains(&requests), "{requests} requests");
        let fresh = answer.json["degraded"]
            .as_array()
            .is_some_and(Vec::is_empty);
        pages.push((requests, fresh));
        if fresh {
            // A fresh answer ends the retries.
            assert_eq!(answer.json, page_of_42(json!([])));
            assert_eq!(answer.header(PARTIAL_HEADER), Some("false"));
        } else {
            // Only when no attempt was left.
            assert_eq!(
                answer.json,
                page_of_42(json!([{ "task": "get_balance", "reason": "stale" }]))
            );
            assert_eq!(requests, attempts);
        }
    }
    assert_eq!(
        pages, PAGES,
        "(wallet requests, fresh) per page, seed {SEED}"
    );
    assert!(
        pages.iter().any(|&(requests, fresh)| fresh && requests > 1),
        "no page came back fresh after a retry"
    );

    let retries: u64 = pages.iter().map(|(requests, _)| requests - 1).sum();
    let metrics = stack.metrics().await;
    assert_eq!(
        metrics.value(r#"gateway_policy_retries_total{task="get_balance"}"#),
        retries
    );
}
