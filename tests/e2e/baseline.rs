//! The hand-written baseline gateway (`--gateway-impl baseline`, used by
//! `scripts/http_bench.sh`) answers like the `fan_out!` gateway: the same 200 body for a
//! healthy stack, and the same statuses when the wallet fails or the card is missing.
//!
//! Both gateways run in-process on ephemeral loopback ports, in front of one wallet and one
//! scratch-card service. Tests that are not about timeouts use generous timeouts, so a loaded
//! machine cannot turn a 200 into a 504. Each test's `fan_out!` gateway has breakers of its
//! own. (The baseline gateway has no policies: it neither retries nor hedges.)

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use runner_example::{
    BaselineGateway, FaultConfig, Faults, Gateway, PARTIAL_HEADER, Scratch, Server, Timeouts,
    Wallet, seeded_balance,
};
use serde_json::{Value, json};

use support::{GENEROUS, loopback, without_attempt_timeout};

/// The downstream services and both gateways in front of them.
struct Stack {
    wallet: Wallet,
    scratch: Scratch,
    runner: Server,
    baseline: Server,
    http: reqwest::Client,
    _downstream: [Server; 2],
}

impl Stack {
    async fn start(timeouts: Timeouts) -> Self {
        let wallet = Wallet::in_memory(Faults::none()).expect("in-memory wallet");
        let scratch = Scratch::new(Faults::none());
        let wallet_server = Server::bind(loopback(), wallet.router())
            .await
            .expect("bind");
        let scratch_server = Server::bind(loopback(), scratch.router())
            .await
            .expect("bind");
        let (wallet_url, scratch_url) = (wallet_server.url(), scratch_server.url());
        // No attempt timeout: with it, a loaded machine could end an attempt at its 80 ms and
        // the runner's wallet requests would not be the count the tests expect.
        let runner = Gateway::with_policies(&wallet_url, &scratch_url, &without_attempt_timeout())
            .expect("client")
            .with_timeouts(timeouts);
        let baseline = BaselineGateway::new(&wallet_url, &scratch_url)
            .expect("client")
            .with_timeouts(timeouts);
        Self {
            wallet,
            scratch,
            runner: Server::bind(loopback(), runner.router())
                .await
                .expect("bind"),
            baseline: Server::bind(loopback(), baseline.router())
                .await
                .expect("bind"),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("test client"),
            _downstream: [wallet_server, scratch_server],
        }
    }

    async fn get(&self, gateway: &Server, user_id: u64) -> (StatusCode, Option<String>, Value) {
        let url = format!("{}/get_balance?user_id={user_id}", gateway.url());
        let response = self.http.get(url).send().await.expect("an answer");
        let status = response.status();
        let partial = response
            .headers()
            .get(PARTIAL_HEADER)
            .map(|value| value.to_str().expect("ASCII").to_owned());
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {text:?}"));
        (status, partial, body)
    }
}

fn set(faults: &Faults, config: FaultConfig) {
    faults.set(config).expect("valid faults");
}

#[tokio::test]
async fn baseline_answers_like_the_runner_gateway() {
    let stack = Stack::start(GENEROUS).await;

    // Healthy: 200, the seeded balance, the same body as the `fan_out!` gateway.
    for user_id in [1, 42, 1000] {
        let (status, partial, body) = stack.get(&stack.baseline, user_id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(partial.as_deref(), Some("false"));
        assert_eq!(
            body["balance"],
            json!({ "amount_minor": seeded_balance(user_id), "currency": "EUR" })
        );
        let (runner_status, runner_partial, runner_body) = stack.get(&stack.runner, user_id).await;
        assert_eq!(
            (runner_status, runner_partial, runner_body),
            (status, partial, body)
        );
    }

    // An unknown user: 404 from both.
    let (status, _, body) = stack.get(&stack.baseline, 1001).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "unknown_user");

    // The scratch-card service fails: 200 without the card, degraded, as from the runner.
    set(
        stack.scratch.faults(),
        FaultConfig {
            error_rate: 1.0,
            ..FaultConfig::default()
        },
    );
    let (status, partial, body) = stack.get(&stack.baseline, 7).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(partial.as_deref(), Some("true"));
    assert_eq!(body["scratch_card"], Value::Null);
    assert_eq!(
        body["degraded"],
        json!([{ "task": "get_scratch_card", "reason": "failed" }])
    );
    assert_eq!(
        stack.get(&stack.runner, 7).await,
        (status, partial, body),
        "the runner gateway answers the same"
    );
    set(stack.scratch.faults(), FaultConfig::default());

    // The wallet answers stale every time: the same marked page from both, after one request
    // from the baseline (no retries) and three from the runner (its retry's attempts).
    set(
        stack.wallet.faults(),
        FaultConfig {
            stale_rate: 1.0,
            ..FaultConfig::default()
        },
    );
    let mut pages = Vec::new();
    for (gateway, requests) in [(&stack.baseline, 1), (&stack.runner, 3)] {
        let before = stack.wallet.stats().snapshot().served;
        let (status, partial, body) = stack.get(gateway, 42).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(partial.as_deref(), Some("true"));
        assert_eq!(
            body["balance"],
            json!({ "amount_minor": seeded_balance(42), "currency": "EUR" })
        );
        assert_eq!(
            body["degraded"],
            json!([{ "task": "get_balance", "reason": "stale" }])
        );
        assert_eq!(stack.wallet.stats().snapshot().served - before, requests);
        pages.push((status, partial, body));
    }
    assert_eq!(pages[0], pages[1], "the runner gateway answers the same");

    // The wallet fails: 502 from both.
    set(
        stack.wallet.faults(),
        FaultConfig {
            error_rate: 1.0,
            error_status: 500,
            ..FaultConfig::default()
        },
    );
    for gateway in [&stack.baseline, &stack.runner] {
        let (status, partial, body) = stack.get(gateway, 42).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(partial, None);
        assert_eq!(body["error"], "upstream_failed");
        assert!(body["detail"].as_str().expect("a detail").contains("500"));
    }
}

#[tokio::test]
async fn baseline_times_out_a_hanging_wallet_with_504() {
    // Short timeouts, but the wallet never answers: no machine is slow enough to get a 200.
    let stack = Stack::start(Timeouts {
        balance: Some(Duration::from_millis(50)),
        ..GENEROUS
    })
    .await;
    set(
        stack.wallet.faults(),
        FaultConfig {
            hang_rate: 1.0,
            ..FaultConfig::default()
        },
    );
    let (status, _, body) = stack.get(&stack.baseline, 42).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"], "upstream_timeout");
}
