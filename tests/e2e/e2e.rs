//! End-to-end tests of the balance service: the wallet, scratch-card and gateway services
//! started in-process on ephemeral loopback ports, with faults injected, checked row by row
//! against the contract of `GET /get_balance` (see the README).
//!
//! Each test starts a gateway of its own, whose circuit breakers and retry budgets are its
//! own: the failures one test injects open no breaker under another, and the tests run in
//! one process, in any order.
//!
//! Timing: faults use real time (latencies, hangs), but no test asserts a speed. Tests whose
//! point is not a timeout run the gateway with generous timeouts, so a loaded machine cannot
//! turn their 200 into a 504. Every wait is a bounded poll.

mod support;

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use reqwest::StatusCode;
use runner_example::{
    CLIENT_CLOSED, FaultConfig, Faults, Gateway, PARTIAL_HEADER, PoliciesConfig, Scratch, Server,
    StatsSnapshot, Timeouts, Wallet, seeded_balance,
};
use runner_http::DEADLINE_MS;
use serde_json::{Value, json};

use support::{Answer, GENEROUS, Services, loopback, without_attempt_timeout};

/// Longest any poll in these tests waits before failing.
const POLL_LIMIT: Duration = Duration::from_secs(10);

/// The three services on ephemeral ports, and a client.
struct Stack {
    wallet: Wallet,
    scratch: Scratch,
    wallet_server: Server,
    gateway_server: Server,
    http: reqwest::Client,
    _scratch_server: Server,
}

impl Stack {
    /// The services with the gateway's own timeouts (200 ms, 150 ms, 300 ms).
    async fn start() -> Self {
        Self::with_timeouts(Timeouts::default()).await
    }

    async fn with_timeouts(timeouts: Timeouts) -> Self {
        Self::with_policies(timeouts, &PoliciesConfig::builtin()).await
    }

    async fn with_policies(timeouts: Timeouts, policies: &PoliciesConfig) -> Self {
        let services =
            Services::with_policies(Faults::none(), Faults::none(), timeouts, policies).await;
        Self {
            wallet: services.wallet,
            scratch: services.scratch,
            wallet_server: services.wallet_server,
            gateway_server: services.gateway_server,
            http: client(),
            _scratch_server: services.scratch_server,
        }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.gateway_server.url())
    }

    async fn get(&self, path_and_query: &str) -> Answer {
        Answer::from(self.http.get(self.url(path_and_query)).send().await).await
    }

    async fn balance(&self, query: &str) -> Answer {
        self.get(&format!("/get_balance?{query}")).await
    }

    /// A GET of `url` carrying the caller's budget `deadline` as sent.
    async fn get_with_deadline(&self, url: String, deadline: &str) -> Answer {
        let request = self.http.get(url).header(DEADLINE_MS, deadline);
        Answer::from(request.send().await).await
    }
}

fn client() -> reqwest::Client {
    support::client(POLL_LIMIT)
}

/// A service that never answers (until the caller's deadline or a hang-up).
fn hanging() -> FaultConfig {
    FaultConfig {
        hang_rate: 1.0,
        ..FaultConfig::default()
    }
}

fn faults(config: FaultConfig) -> FaultConfig {
    config.validate().expect("valid faults");
    config
}

impl Answer {
    /// Asserts an error answer: `status`, JSON content type, and `{"error": code, "detail"}`.
    fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{:?}", self.json);
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.json["error"], code, "{:?}", self.json);
        assert!(self.json["detail"].is_string(), "{:?}", self.json);
    }

    /// Asserts a 200 without the scratch card, degraded for one of `reasons`.
    fn assert_degraded(&self, reasons: &[&str]) {
        assert_eq!(self.status, StatusCode::OK, "{:?}", self.json);
        assert_eq!(self.header(PARTIAL_HEADER), Some("true"));
        assert!(self.json["balance"]["amount_minor"].is_i64());
        assert_eq!(self.json["scratch_card"], Value::Null);
        let degraded = self.json["degraded"].as_array().expect("a degraded list");
        assert_eq!(degraded.len(), 1, "{degraded:?}");
        assert_eq!(degraded[0]["task"], "get_scratch_card");
        let reason = degraded[0]["reason"].as_str().expect("a reason");
        assert!(
            reasons.contains(&reason),
            "reason {reason}, expected one of {reasons:?}"
        );
    }
}

/// Polls `check` every 10 ms until it holds, failing after [`POLL_LIMIT`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let give_up = tokio::time::Instant::now() + POLL_LIMIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < give_up,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn stats_of(wallet: &Wallet) -> StatsSnapshot {
    wallet.stats().snapshot()
}

// --- 200 -------------------------------------------------------------------------------

#[tokio::test]
async fn a_complete_answer_has_balance_card_and_headers() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    let answer = stack.balance("user_id=42").await;

    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header(PARTIAL_HEADER), Some("false"));
    assert_eq!(
        answer.json,
        json!({
            "user_id": 42,
            "balance": { "amount_minor": seeded_balance(42), "currency": "EUR" },
            "scratch_card": {
                "user_id": 42,
                "card_id": "card-000042",
                "prize": { "amount_minor": 100, "currency": "EUR" },
                "message": "You won 1.00 EUR!"
            },
            "degraded": []
        })
    );
    let timing = answer
        .header("server-timing")
        .expect("a Server-Timing header");
    assert!(timing.starts_with("get_balance;dur="), "{timing}");
    assert!(timing.contains(", get_scratch_card;dur="), "{timing}");
    assert!(timing.contains("desc=\"ok\""), "{timing}");
}

#[tokio::test]
async fn the_default_timeouts_answer_a_healthy_request() {
    // The only test that needs the real 200/150/300 ms timeouts to be met by a healthy stack:
    // it would fail on a machine too slow for the service itself.
    let stack = Stack::start().await;
    let answer = stack.balance("user_id=1").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(
        answer.json["balance"]["amount_minor"],
        json!(seeded_balance(1))
    );
}

#[tokio::test]
async fn a_failing_scratch_service_degrades_the_answer() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    stack
        .scratch
        .faults()
        .set(faults(FaultConfig {
            error_rate: 1.0,
            ..FaultConfig::default()
        }))
        .expect("set faults");
    let answer = stack.balance("user_id=7").await;
    answer.assert_degraded(&["failed"]);
    assert_eq!(
        answer.json["balance"]["amount_minor"],
        json!(seeded_balance(7))
    );
    let timing = answer.header("server-timing").expect("Server-Timing");
    assert!(timing.contains("get_scratch_card;dur="), "{timing}");
    assert!(timing.contains("desc=\"failed\""), "{timing}");
}

#[tokio::test]
async fn a_garbage_scratch_answer_degrades_the_answer() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    stack
        .scratch
        .faults()
        .set(faults(FaultConfig {
            garbage_rate: 1.0,
            ..FaultConfig::default()
        }))
        .expect("set faults");
    stack
        .balance("user_id=7")
        .await
        .assert_degraded(&["failed"]);
}

#[tokio::test]
async fn a_hanging_scratch_service_degrades_the_answer() {
    // The gateway's own timeout for the card (150 ms), a generous one for the balance.
    let stack = Stack::with_timeouts(Timeouts {
        balance: Some(Duration::from_secs(10)),
        scratch_card: None,
        deadline: Duration::from_secs(20),
    })
    .await;
    stack
        .scratch
        .faults()
        .set(faults(hanging()))
        .expect("set faults");
    let answer = stack.balance("user_id=7").await;
    // The task's timeout and the scratch service's own deadline (the budget the gateway sent
    // it, answered with a 504) end within a millisecond of each other: either may win.
    answer.assert_degraded(&["timed_out", "failed"]);
}

#[tokio::test]
async fn a_slow_scratch_service_is_cut_by_the_fan_out_deadline() {
    let stack = Stack::with_timeouts(Timeouts {
        balance: Some(Duration::from_secs(10)),
        scratch_card: Some(Duration::from_secs(10)),
        deadline: Duration::from_millis(300),
    })
    .await;
    stack
        .scratch
        .faults()
        .set(faults(hanging()))
        .expect("set faults");
    // A balance that is fast enough on any machine is needed here; if the wallet itself took
    // more than 300 ms, the answer would be a 504, which is also correct.
    let answer = stack.balance("user_id=7").await;
    if answer.status == StatusCode::OK {
        answer.assert_degraded(&["deadline", "failed"]);
    } else {
        answer.assert_error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout");
    }
}

// --- 502 and 504 -------------------------------------------------------------------------

#[tokio::test]
async fn a_failing_wallet_is_a_502() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    stack
        .wallet
        .faults()
        .set(faults(FaultConfig {
            error_rate: 1.0,
            ..FaultConfig::default()
        }))
        .expect("set faults");
    let answer = stack.balance("user_id=7").await;
    answer.assert_error(StatusCode::BAD_GATEWAY, "upstream_failed");
    assert!(answer.header(PARTIAL_HEADER).is_none());
    let timing = answer.header("server-timing").expect("Server-Timing");
    assert!(timing.contains("get_balance;dur="), "{timing}");
}

#[tokio::test]
async fn a_garbage_wallet_answer_is_a_502() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    stack
        .wallet
        .faults()
        .set(faults(FaultConfig {
            garbage_rate: 1.0,
            ..FaultConfig::default()
        }))
        .expect("set faults");
    let answer = stack.balance("user_id=7").await;
    answer.assert_error(StatusCode::BAD_GATEWAY, "upstream_failed");
    let detail = answer.json["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("not a balance"), "{detail}");
}

#[tokio::test]
async fn an_unreachable_wallet_is_a_502() {
    // A port that was free a moment ago and has nothing listening now.
    let closed = std::net::TcpListener::bind(loopback()).expect("bind");
    let closed_url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let scratch = Scratch::new(Faults::none());
    let scratch_server = Server::bind(loopback(), scratch.router())
        .await
        .expect("bind");
    let gateway = Gateway::new(&closed_url, &scratch_server.url())
        .expect("client")
        .with_timeouts(GENEROUS);
    let gateway_server = Server::bind(loopback(), gateway.router())
        .await
        .expect("bind");
    let answer = Answer::from(
        client()
            .get(format!("{}/get_balance?user_id=7", gateway_server.url()))
            .send()
            .await,
    )
    .await;
    answer.assert_error(StatusCode::BAD_GATEWAY, "upstream_failed");
}

#[tokio::test]
async fn a_wallet_slower_than_its_timeout_is_a_504() {
    let stack = Stack::start().await;
    stack
        .wallet
        .faults()
        .set(faults(FaultConfig {
            latency_ms: 1_000,
            ..FaultConfig::default()
        }))
        .expect("set faults");
    let answer = stack.balance("user_id=7").await;
    answer.assert_error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout");
    assert!(answer.header("server-timing").is_some());
}

#[tokio::test]
async fn a_wallet_slower_than_the_deadline_is_a_504() {
    let stack = Stack::with_timeouts(Timeouts {
        balance: Some(Duration::from_secs(10)),
        scratch_card: None,
        deadline: Duration::from_millis(300),
    })
    .await;
    stack
        .wallet
        .faults()
        .set(faults(hanging()))
        .expect("set faults");
    stack
        .balance("user_id=7")
        .await
        .assert_error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout");
}

#[tokio::test]
async fn a_clients_deadline_is_the_pages_and_reaches_the_wallet() {
    // Timeouts no machine runs out of: only the client's 80 ms can end the page.
    let stack = Stack::with_timeouts(GENEROUS).await;
    stack
        .wallet
        .faults()
        .set(faults(hanging()))
        .expect("set faults");
    let page = || stack.url("/get_balance?user_id=7");
    let answer = stack.get_with_deadline(page(), "80").await;
    answer.assert_error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout");
    // The wallet was told what was left of the client's 80 ms (less the gateway's 1 ms for
    // the way back), not the gateway's own 10 s.
    let stats = stats_of(&stack.wallet);
    assert_eq!(stats.with_deadline, 1);
    assert!(
        stats
            .last_deadline_ms
            .is_some_and(|ms| (1..=79).contains(&ms)),
        "{stats:?}"
    );
    // A budget already gone is answered before any work; one that cannot be read is a 400.
    for (deadline, status, code) in [
        ("0", StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded"),
        ("soon", StatusCode::BAD_REQUEST, "invalid_deadline"),
    ] {
        let answer = stack.get_with_deadline(page(), deadline).await;
        answer.assert_error(status, code);
    }
    assert_eq!(stats_of(&stack.wallet).with_deadline, 1);
}

// --- 400, 404, 405 -----------------------------------------------------------------------

#[tokio::test]
async fn bad_user_ids_are_a_400_with_a_json_body() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    let cases = [
        ("", "missing_user_id"),
        ("other=1", "missing_user_id"),
        ("user_id=", "empty_user_id"),
        ("user_id", "empty_user_id"),
        ("user_id=abc", "invalid_user_id"),
        ("user_id=12abc", "invalid_user_id"),
        ("user_id=1.5", "invalid_user_id"),
        ("user_id=%2B7", "invalid_user_id"),
        ("user_id=%20", "invalid_user_id"),
        ("user_id=%FF", "invalid_user_id"),
        ("user_id=-1", "negative_user_id"),
        ("user_id=9223372036854775808", "user_id_out_of_range"),
        ("user_id=18446744073709551616", "user_id_out_of_range"),
        ("user_id=1&user_id=1", "repeated_user_id"),
        ("user_id=1&user_id=2", "repeated_user_id"),
    ];
    for (query, code) in cases {
        let answer = stack.balance(query).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "query {query:?}");
        assert_eq!(
            answer.json["error"], code,
            "query {query:?}: {:?}",
            answer.json
        );
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert!(answer.json["detail"].is_string());
    }
    // Nothing reached the wallet.
    assert_eq!(stats_of(&stack.wallet).served, 0);
}

#[tokio::test]
async fn an_unknown_user_is_a_404() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    for query in ["user_id=1001", "user_id=0", "user_id=9223372036854775807"] {
        stack
            .balance(query)
            .await
            .assert_error(StatusCode::NOT_FOUND, "unknown_user");
    }
}

#[tokio::test]
async fn other_methods_are_a_405_with_a_json_body() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let answer = Answer::from(
            stack
                .http
                .request(method.clone(), stack.url("/get_balance?user_id=1"))
                .send()
                .await,
        )
        .await;
        answer.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }
}

#[tokio::test]
async fn unknown_routes_are_a_404_with_a_json_body() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    for path in ["/", "/get_balance/7", "/balance?user_id=1"] {
        stack
            .get(path)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
}

// --- /healthz and /metrics ---------------------------------------------------------------

#[tokio::test]
async fn healthz_answers_ok() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    let answer = stack.get("/healthz").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json, json!({ "status": "ok" }));
}

#[tokio::test]
async fn metrics_count_requests_and_task_outcomes() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    assert_eq!(stack.balance("user_id=3").await.status, StatusCode::OK);
    stack
        .scratch
        .faults()
        .set(faults(FaultConfig {
            error_rate: 1.0,
            ..FaultConfig::default()
        }))
        .expect("set faults");
    assert_eq!(stack.balance("user_id=3").await.status, StatusCode::OK);
    assert_eq!(
        stack.balance("user_id=x").await.status,
        StatusCode::BAD_REQUEST
    );

    let response = stack
        .http
        .get(stack.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("metrics text");
    for series in [
        r#"gateway_http_requests_total{route="/get_balance",method="GET",status="200"} 2"#,
        r#"gateway_http_requests_total{route="/get_balance",method="GET",status="400"} 1"#,
        r#"gateway_task_outcomes_total{task="get_balance",outcome="ok"} 2"#,
        r#"gateway_task_outcomes_total{task="get_scratch_card",outcome="ok"} 1"#,
        r#"gateway_task_outcomes_total{task="get_scratch_card",outcome="failed"} 1"#,
        r#"gateway_http_request_duration_seconds_count{route="/get_balance"} 3"#,
        r#"gateway_task_duration_seconds_count{task="get_balance"} 2"#,
        "# TYPE gateway_http_request_duration_seconds histogram",
        "# EOF",
    ] {
        assert!(text.contains(series), "missing `{series}` in:\n{text}");
    }
}

// --- the deadline downstream -------------------------------------------------------------

#[tokio::test]
async fn the_remaining_budget_reaches_the_downstream_services() {
    let stack = Stack::start().await;
    let answer = stack.balance("user_id=5").await;
    // The status does not matter here (a loaded machine may answer 504), only what the
    // services saw.
    assert!(answer.status.is_success() || answer.status.is_server_error());

    eventually("the wallet saw the balance request", || async {
        stats_of(&stack.wallet).with_deadline == 1
    })
    .await;
    let wallet = stats_of(&stack.wallet);
    // At most the balance task's own 200 ms timeout, the tighter of it and the deadline.
    let budget = wallet.last_deadline_ms.expect("a budget");
    assert!(budget <= 200, "wallet budget {budget} ms");

    // At least one: a card request slower than 50 ms (a loaded machine) gets a hedge.
    eventually("the scratch service saw the card request", || async {
        stack.scratch.stats().snapshot().with_deadline >= 1
    })
    .await;
    let budget = stack
        .scratch
        .stats()
        .snapshot()
        .last_deadline_ms
        .expect("a budget");
    assert!(budget <= 150, "scratch budget {budget} ms");
}

#[tokio::test]
async fn a_downstream_service_stops_when_the_callers_deadline_passes() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    stack
        .wallet
        .faults()
        .set(faults(FaultConfig {
            latency_ms: 30_000,
            ..FaultConfig::default()
        }))
        .expect("set faults");
    // Straight to the wallet, with a budget of 50 ms: it answers 504 instead of sleeping on.
    let balance = || format!("{}/balances/7", stack.wallet_server.url());
    let answer = stack.get_with_deadline(balance(), "50").await;
    answer.assert_error(StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded");
    let stats = stats_of(&stack.wallet);
    assert_eq!(stats.deadline_exceeded, 1);
    assert_eq!(stats.last_deadline_ms, Some(50));
    assert_eq!(stats.in_flight, 0);

    let answer = stack.get_with_deadline(balance(), "soon").await;
    answer.assert_error(StatusCode::BAD_REQUEST, "invalid_deadline");
}

// --- cancellation ------------------------------------------------------------------------

#[tokio::test]
async fn a_client_hanging_up_cancels_the_downstream_calls() {
    // Timeouts far longer than the poll limit, and no attempt timeout: only the hang-up can
    // end the wallet's work within this test. (With the 80 ms attempt timeout it passes when
    // the hang-up comes within 80 ms, but a loaded machine would see the gateway end the
    // attempt and retry first, and count two cancelled requests.)
    let stack = Stack::with_policies(
        Timeouts {
            balance: Some(Duration::from_secs(60)),
            scratch_card: Some(Duration::from_secs(60)),
            deadline: Duration::from_secs(120),
        },
        &without_attempt_timeout(),
    )
    .await;
    stack
        .wallet
        .faults()
        .set(faults(hanging()))
        .expect("set faults");

    // A raw connection, so that the test decides when it closes. Loopback writes of a few
    // bytes do not block.
    let mut connection =
        std::net::TcpStream::connect(stack.gateway_server.local_addr()).expect("connect");
    connection
        .write_all(b"GET /get_balance?user_id=9 HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .expect("send the request");

    eventually("the wallet is working on the request", || async {
        stats_of(&stack.wallet).in_flight == 1
    })
    .await;
    assert_eq!(stats_of(&stack.wallet).cancelled, 0);

    drop(connection);

    eventually("the wallet saw its request cancelled", || async {
        let stats = stats_of(&stack.wallet);
        stats.cancelled == 1 && stats.in_flight == 0
    })
    .await;
    let stats = stats_of(&stack.wallet);
    assert_eq!(stats.served, 0, "the wallet never answered: {stats:?}");
    assert_eq!(stats.deadline_exceeded, 0, "{stats:?}");

    // The gateway counts the hung-up request too, with nginx's 499.
    let hung_up = format!(
        r#"gateway_http_requests_total{{route="/get_balance",method="GET",status="{CLIENT_CLOSED}"}} 1"#
    );
    let text = stack
        .http
        .get(stack.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(text.contains(&hung_up), "missing `{hung_up}` in:\n{text}");
}

// --- admin routes and shutdown -----------------------------------------------------------

#[tokio::test]
async fn faults_can_be_changed_through_the_admin_route() {
    let stack = Stack::with_timeouts(GENEROUS).await;
    let admin = format!("{}/admin/faults", stack.wallet_server.url());
    let put = |body: &'static str| {
        let request = stack
            .http
            .put(&admin)
            .header("content-type", "application/json")
            .body(body);
        async move { Answer::from(request.send().await).await }
    };

    let answer = put(r#"{"error_rate": 1.0}"#).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["error_rate"], 1.0);
    let answer = Answer::from(stack.http.get(&admin).send().await).await;
    assert_eq!(
        answer.json,
        json!({
            "latency_ms": 0,
            "latency_rate": 1.0,
            "error_rate": 1.0,
            "error_status": 503,
            "retry_after_secs": null,
            "hang_rate": 0.0,
            "garbage_rate": 0.0,
            "truncate_rate": 0.0,
            "reset_rate": 0.0,
            "stale_rate": 0.0,
            "max_concurrency": 0
        })
    );
    stack
        .balance("user_id=1")
        .await
        .assert_error(StatusCode::BAD_GATEWAY, "upstream_failed");

    put(r#"{"error_rate": 1.5}"#)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_faults");
    put(r#"{"explode": true}"#)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_faults");
    put("not json")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_faults");

    assert_eq!(put("{}").await.status, StatusCode::OK);
    assert_eq!(stack.balance("user_id=1").await.status, StatusCode::OK);

    let stats = Answer::from(
        stack
            .http
            .get(format!("{}/admin/stats", stack.wallet_server.url()))
            .send()
            .await,
    )
    .await;
    assert_eq!(stats.status, StatusCode::OK);
    // The failing request made three attempts (a 503 is retried), the healthy one one.
    assert_eq!(stats.json["served"], 4);
}

#[tokio::test]
async fn shutdown_drains_the_requests_in_flight() {
    // A wallet slow enough for the request to be caught in flight (300 ms), so no attempt
    // timeout, which would end it at 80 ms: the drain is the point, not the retry.
    let stack = Stack::with_policies(GENEROUS, &without_attempt_timeout()).await;
    stack
        .wallet
        .faults()
        .set(faults(FaultConfig {
            latency_ms: 300,
            ..FaultConfig::default()
        }))
        .expect("set faults");
    let Stack {
        wallet,
        gateway_server,
        http,
        ..
    } = stack;
    let url = format!("{}/get_balance?user_id=2", gateway_server.url());
    let in_flight = http.get(&url).send();
    let in_flight = async { Answer::from(in_flight.await).await };
    let shutdown = async {
        eventually("the request reached the wallet", || async {
            stats_of(&wallet).in_flight == 1
        })
        .await;
        gateway_server.shutdown().await
    };
    let (answer, stopped) = tokio::join!(in_flight, shutdown);
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    stopped.expect("a clean shutdown");
    assert!(http.get(&url).send().await.is_err(), "still accepting");
}
