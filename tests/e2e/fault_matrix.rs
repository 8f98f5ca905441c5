//! The HTTP fault matrix: each of the two downstream services (the wallet, critical; the
//! scratch-card service, best effort) under each of eight conditions, one real request per
//! cell through the gateway, checked against the contract of `GET /get_balance` (see the
//! README): status, JSON body, `x-partial-response` and the `server-timing` outcomes.
//!
//! | condition  | wallet (critical)              | scratch card (best effort)            |
//! |------------|--------------------------------|---------------------------------------|
//! | healthy    | 200, complete                  | 200, complete                         |
//! | slow       | 504 `upstream_timeout`         | 200, partial, `timed_out`             |
//! | hang       | 504 `upstream_timeout`         | 200, partial, `timed_out`             |
//! | HTTP 500   | 502 `upstream_failed`          | 200, partial, `failed`                |
//! | malformed  | 502 `upstream_failed`          | 200, partial, `failed`                |
//! | truncated  | 502 `upstream_failed`          | 200, partial, `failed`                |
//! | refused    | 502 `upstream_failed`          | 200, partial, `failed`                |
//! | reset      | 502 `upstream_failed`          | 200, partial, `failed`                |
//!
//! Slow and hanging scratch cards are cut by the card's own 150 ms timeout, not by the
//! 300 ms deadline, which is 150 ms further away: the reason is `timed_out`, never
//! `deadline`. The service gets the same budget in its deadline header, rounded up to the
//! millisecond, so it gives up no earlier than the gateway and the gateway's own timer, not
//! the service's 504 (which would be `failed`), ends the task.
//!
//! Each cell has a gateway of its own, and so breakers and budgets of its own: the cells run
//! in one process, in any order. The gateway's policies leave the table as it is: a wallet failing with a transient
//! error (500, truncated, refused, reset) is asked three times before the 502, a malformed
//! answer once; a slow or hanging wallet is asked twice, each attempt ended at its 80 ms,
//! before the 504; a slow or hanging card is hedged after 50 ms, and the hedge hangs too.
//!
//! Timing: only the timeout cells use the real timeouts (and, for the card, a generous one for
//! the balance, which is not what they are about); the others use timeouts no loaded machine
//! can run out of. No cell asserts a speed; every request has a client timeout.
//!
//! The last tests check the truncate, reset, error-status and stale faults on the wire,
//! straight at a service, so that the matrix's "truncated" and "reset" cells are what they
//! say. (A stale wallet is no cell: its answer is a balance, and the page a 200; see the
//! policies tests.)

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use runner_example::{
    Balance, CURRENCY, DEADLINE, FaultConfig, Faults, Gateway, PARTIAL_HEADER, Scratch, Server,
    Timeouts, Wallet, WalletBalance, card_for, seeded_balance,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use support::{Answer, GENEROUS, loopback};

/// The longest any request or read in these tests waits.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The user every cell asks about: a seeded user whose card wins, so a complete answer
/// carries a real card.
const USER: u64 = 42;

/// The downstream service a cell breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Wallet,
    Scratch,
}

/// What is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    /// Nothing.
    Healthy,
    /// 1 s of latency, far past the task's timeout.
    Slow,
    /// Never answers (until the budget it was sent runs out).
    Hang,
    /// Answers 500.
    Status500,
    /// Answers 200 with a body that is not JSON.
    Malformed,
    /// Answers 200, sends half the declared body, closes the connection.
    Truncated,
    /// Nothing listens on its port: the connection is refused.
    Refused,
    /// Answers 200, sends half the body, resets the connection.
    Reset,
}

impl Condition {
    /// The faults the broken service injects.
    fn faults(self) -> FaultConfig {
        let none = FaultConfig::default();
        let config = match self {
            Self::Healthy | Self::Refused => none,
            Self::Slow => FaultConfig {
                latency_ms: 1_000,
                ..none
            },
            Self::Hang => FaultConfig {
                hang_rate: 1.0,
                ..none
            },
            Self::Status500 => FaultConfig {
                error_rate: 1.0,
                error_status: 500,
                ..none
            },
            Self::Malformed => FaultConfig {
                garbage_rate: 1.0,
                ..none
            },
            Self::Truncated => FaultConfig {
                truncate_rate: 1.0,
                ..none
            },
            Self::Reset => FaultConfig {
                reset_rate: 1.0,
                ..none
            },
        };
        config.validate().expect("valid faults");
        config
    }

    fn is_timeout(self) -> bool {
        matches!(self, Self::Slow | Self::Hang)
    }
}

/// The gateway's timeouts for a cell.
fn timeouts(service: Service, condition: Condition) -> Timeouts {
    match (service, condition.is_timeout()) {
        // The real 200 ms timeout and 300 ms deadline.
        (Service::Wallet, true) => Timeouts::default(),
        // The card's real 150 ms timeout and the real 300 ms deadline; the balance, which
        // is healthy here, gets all of that deadline.
        (Service::Scratch, true) => Timeouts {
            balance: Some(Duration::from_secs(10)),
            scratch_card: None,
            deadline: DEADLINE,
        },
        (_, false) => GENEROUS,
    }
}

/// A downstream service: running, or a port that refuses connections.
enum Downstream {
    Running(#[expect(dead_code, reason = "kept so that the server keeps running")] Server),
    /// A socket bound to a loopback port but not listening: the port stays reserved for the
    /// test, and the kernel refuses every connection to it.
    Closed(#[expect(dead_code, reason = "kept so that the port stays reserved")] TcpSocket),
}

/// The three services of one cell.
struct Stack {
    gateway: Server,
    http: reqwest::Client,
    _wallet: Downstream,
    _scratch: Downstream,
}

impl Stack {
    /// `broken` under `condition`, the other service healthy.
    async fn start(broken: Service, condition: Condition) -> Self {
        let faults_of = |service: Service| {
            let config = if service == broken {
                condition.faults()
            } else {
                FaultConfig::default()
            };
            Faults::new(config, 7).expect("valid faults")
        };
        let refused = |service: Service| service == broken && condition == Condition::Refused;

        let (wallet, wallet_url) = if refused(Service::Wallet) {
            closed_port()
        } else {
            let wallet = Wallet::in_memory(faults_of(Service::Wallet)).expect("in-memory wallet");
            running(Server::bind(loopback(), wallet.router()).await)
        };
        let (scratch, scratch_url) = if refused(Service::Scratch) {
            closed_port()
        } else {
            let scratch = Scratch::new(faults_of(Service::Scratch));
            running(Server::bind(loopback(), scratch.router()).await)
        };
        let gateway = Gateway::new(&wallet_url, &scratch_url)
            .expect("client")
            .with_timeouts(timeouts(broken, condition));
        let gateway = Server::bind(loopback(), gateway.router())
            .await
            .expect("bind");
        Self {
            gateway,
            http: client(),
            _wallet: wallet,
            _scratch: scratch,
        }
    }

    async fn balance(&self) -> Answer {
        let url = format!("{}/get_balance?user_id={USER}", self.gateway.url());
        Answer::from(self.http.get(url).send().await).await
    }
}

fn client() -> reqwest::Client {
    support::client(CLIENT_TIMEOUT)
}

fn running(server: std::io::Result<Server>) -> (Downstream, String) {
    let server = server.expect("bind");
    let url = server.url();
    (Downstream::Running(server), url)
}

fn closed_port() -> (Downstream, String) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(loopback()).expect("bind");
    let url = format!("http://{}", socket.local_addr().expect("addr"));
    (Downstream::Closed(socket), url)
}

impl Answer {
    /// The `server-timing` entries: task name, duration in ms, outcome.
    fn timings(&self) -> Vec<(String, f64, String)> {
        let header = self
            .header("server-timing")
            .expect("a Server-Timing header");
        header
            .split(", ")
            .map(|entry| {
                let mut parts = entry.split(';');
                let name = parts.next().unwrap_or_default().to_owned();
                let dur = parts
                    .next()
                    .and_then(|dur| dur.strip_prefix("dur="))
                    .and_then(|dur| dur.parse::<f64>().ok())
                    .unwrap_or_else(|| panic!("no duration in {entry:?}"));
                let desc = parts
                    .next()
                    .and_then(|desc| desc.strip_prefix("desc=\""))
                    .and_then(|desc| desc.strip_suffix('"'))
                    .unwrap_or_else(|| panic!("no outcome in {entry:?}"))
                    .to_owned();
                assert!(parts.next().is_none(), "{entry:?}");
                (name, dur, desc)
            })
            .collect()
    }

    /// The two tasks' outcomes, checking that both are reported, in order.
    fn outcomes(&self) -> (String, String) {
        let timings = self.timings();
        let names: Vec<&str> = timings.iter().map(|(name, ..)| name.as_str()).collect();
        assert_eq!(names, ["get_balance", "get_scratch_card"], "{timings:?}");
        for (name, dur, _) in &timings {
            assert!(dur.is_finite() && *dur >= 0.0, "{name}: {dur}");
        }
        (timings[0].2.clone(), timings[1].2.clone())
    }
}

/// What a cell must answer.
#[derive(Debug, Clone, Copy)]
enum Expected {
    /// 200 with the balance and the card.
    Complete,
    /// 200 with the balance, without the card, for this reason.
    Partial { reason: &'static str },
    /// An error status and code; the balance task's outcome; a phrase of the detail.
    Error {
        status: StatusCode,
        code: &'static str,
        outcome: &'static str,
        detail: &'static str,
    },
}

/// The contract, cell by cell.
fn expected(service: Service, condition: Condition) -> Expected {
    use Condition::*;
    let failed = |detail| Expected::Error {
        status: StatusCode::BAD_GATEWAY,
        code: "upstream_failed",
        outcome: "failed",
        detail,
    };
    match (service, condition) {
        (_, Healthy) => Expected::Complete,
        // Each attempt has 80 ms: the first is ended and retried, the second ends the task
        // (no third fits in the 200 ms), which names the 80 ms. A machine that stalls the
        // second attempt's start past 120 ms lets the task's own 200 ms end it first.
        (Service::Wallet, Slow | Hang) => Expected::Error {
            status: StatusCode::GATEWAY_TIMEOUT,
            code: "upstream_timeout",
            outcome: "timed_out",
            detail: "critical task `get_balance` timed out after",
        },
        (Service::Wallet, Status500) => failed("the wallet answered 500 Internal Server Error"),
        (Service::Wallet, Malformed) => failed("the wallet's answer was not a balance"),
        // Whether the break is seen while reading the headers or the body depends on when the
        // gateway reads; either way the balance task failed.
        (Service::Wallet, Truncated | Reset) => failed("critical task `get_balance` failed"),
        (Service::Wallet, Refused) => failed("could not reach the wallet"),
        (Service::Scratch, Slow | Hang) => Expected::Partial {
            reason: "timed_out",
        },
        (Service::Scratch, Status500 | Malformed | Truncated | Refused | Reset) => {
            Expected::Partial { reason: "failed" }
        }
    }
}

/// Runs one cell: a real request through the gateway, checked against [`expected`].
async fn cell(service: Service, condition: Condition) {
    let stack = Stack::start(service, condition).await;
    let answer = stack.balance().await;
    let context = format!("{service:?} {condition:?}: {answer:?}");
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{context}"
    );
    let balance = json!({ "amount_minor": seeded_balance(USER), "currency": "EUR" });
    let (balance_outcome, card_outcome) = answer.outcomes();
    match expected(service, condition) {
        Expected::Complete => {
            assert_eq!(answer.status, StatusCode::OK, "{context}");
            assert_eq!(answer.header(PARTIAL_HEADER), Some("false"), "{context}");
            assert_eq!(
                answer.json,
                json!({
                    "user_id": USER,
                    "balance": balance,
                    "scratch_card": serde_json::to_value(card_for(USER)).expect("a card"),
                    "degraded": []
                }),
                "{context}"
            );
            assert_eq!(
                (balance_outcome.as_str(), card_outcome.as_str()),
                ("ok", "ok")
            );
        }
        Expected::Partial { reason } => {
            assert_eq!(answer.status, StatusCode::OK, "{context}");
            assert_eq!(answer.header(PARTIAL_HEADER), Some("true"), "{context}");
            assert_eq!(
                answer.json,
                json!({
                    "user_id": USER,
                    "balance": balance,
                    "scratch_card": null,
                    "degraded": [{ "task": "get_scratch_card", "reason": reason }]
                }),
                "{context}"
            );
            assert_eq!(
                (balance_outcome.as_str(), card_outcome.as_str()),
                ("ok", reason),
                "{context}"
            );
            if reason == "timed_out" {
                // Not early: a timeout is no sooner than the card's 150 ms. (A lower bound on
                // a timer, not a speed.)
                let (_, dur, _) = &answer.timings()[1];
                assert!(*dur >= 149.0, "{context}");
            }
        }
        Expected::Error {
            status,
            code,
            outcome,
            detail,
        } => {
            assert_eq!(answer.status, status, "{context}");
            assert_eq!(answer.json["error"], code, "{context}");
            let text = answer.json["detail"].as_str().expect("a detail");
            assert!(text.contains(detail), "{context}: detail {text:?}");
            assert_eq!(
                answer.json.as_object().map(|object| object.len()),
                Some(2),
                "{context}"
            );
            assert_eq!(answer.header(PARTIAL_HEADER), None, "{context}");
            assert_eq!(balance_outcome, outcome, "{context}");
            // The card was either done before the balance failed, or dropped with the fan-out.
            assert!(
                ["ok", "cancelled"].contains(&card_outcome.as_str()),
                "{context}"
            );
        }
    }
}

macro_rules! cells {
    ($($name:ident: $service:ident, $condition:ident;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                cell(Service::$service, Condition::$condition).await;
            }
        )*
    };
}

cells! {
    wallet_healthy: Wallet, Healthy;
    wallet_slow: Wallet, Slow;
    wallet_hang: Wallet, Hang;
    wallet_http_500: Wallet, Status500;
    wallet_malformed_json: Wallet, Malformed;
    wallet_truncated_body: Wallet, Truncated;
    wallet_connection_refused: Wallet, Refused;
    wallet_connection_reset: Wallet, Reset;
    scratch_healthy: Scratch, Healthy;
    scratch_slow: Scratch, Slow;
    scratch_hang: Scratch, Hang;
    scratch_http_500: Scratch, Status500;
    scratch_malformed_json: Scratch, Malformed;
    scratch_truncated_body: Scratch, Truncated;
    scratch_connection_refused: Scratch, Refused;
    scratch_connection_reset: Scratch, Reset;
}

// --- the faults on the wire --------------------------------------------------------------

/// How a raw read of a whole response ended.
#[derive(Debug)]
enum End {
    /// The server closed the connection in order.
    Closed,
    /// The read failed, e.g. with a reset.
    Failed(std::io::ErrorKind),
}

/// Sends `GET path` on a fresh connection to `addr` and reads until the connection ends.
async fn raw_get(addr: SocketAddr, path: &str) -> (Vec<u8>, End) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut received = Vec::new();
    let read_all = async {
        let mut buf = [0_u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return End::Closed,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(error) => return End::Failed(error.kind()),
            }
        }
    };
    let end = tokio::time::timeout(CLIENT_TIMEOUT, read_all)
        .await
        .expect("the connection ends");
    (received, end)
}

/// Splits a raw response into its head (status line and headers) and body.
fn split_response(raw: &[u8]) -> (String, &[u8]) {
    let end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8(raw[..end].to_vec()).expect("an ASCII head");
    (head.to_ascii_lowercase(), &raw[end + 4..])
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no content-length in {head:?}"))
}

/// A wallet with `config`, served; the server is returned to keep it running.
async fn wallet_with(config: FaultConfig) -> Server {
    let wallet = Wallet::in_memory(Faults::new(config, 7).expect("valid faults")).expect("wallet");
    Server::bind(loopback(), wallet.router())
        .await
        .expect("bind")
}

#[tokio::test]
async fn the_truncate_fault_sends_half_the_declared_body_then_closes() {
    let server = wallet_with(Condition::Truncated.faults()).await;
    let (raw, end) = raw_get(server.local_addr(), "/balances/7").await;
    assert!(matches!(end, End::Closed), "{end:?}");
    let (head, body) = split_response(&raw);
    assert!(head.starts_with("http/1.1 200 ok"), "{head}");
    let declared = content_length(&head);
    assert!(
        !body.is_empty() && body.len() < declared,
        "{body:?} of {declared}"
    );
    let whole = serde_json::to_vec(&WalletBalance {
        user_id: 7,
        balance: Balance {
            amount_minor: seeded_balance(7),
            currency: CURRENCY.to_owned(),
        },
        stale: false,
    })
    .expect("json");
    assert_eq!(declared, whole.len());
    assert!(
        whole.starts_with(body),
        "{body:?} is not the start of the balance"
    );
}

#[tokio::test]
async fn the_reset_fault_sends_part_of_the_body_then_resets() {
    let server = wallet_with(Condition::Reset.faults()).await;
    let (raw, end) = raw_get(server.local_addr(), "/balances/7").await;
    assert!(
        matches!(end, End::Failed(std::io::ErrorKind::ConnectionReset)),
        "{end:?}"
    );
    // The kernel may drop what was still unread when the reset came: if anything arrived,
    // it is the head and less than the declared body.
    if raw.windows(4).any(|window| window == b"\r\n\r\n") {
        let (head, body) = split_response(&raw);
        assert!(head.starts_with("http/1.1 200 ok"), "{head}");
        assert!(body.len() < content_length(&head));
    }
}

#[tokio::test]
async fn the_error_fault_answers_the_chosen_status_with_a_json_body() {
    let server = wallet_with(Condition::Status500.faults()).await;
    let response = client()
        .get(format!("{}/balances/7", server.url()))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers().get("retry-after"), None);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["error"], "injected_error");
}

#[tokio::test]
async fn the_error_fault_carries_the_retry_after_asked_for() {
    let server = wallet_with(FaultConfig {
        error_rate: 1.0,
        retry_after_secs: Some(2),
        ..FaultConfig::default()
    })
    .await;
    let response = client()
        .get(format!("{}/balances/7", server.url()))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("2")
    );
}

#[tokio::test]
async fn the_stale_fault_marks_the_wallets_answer_and_the_card_service_refuses_it() {
    let server = wallet_with(FaultConfig {
        stale_rate: 1.0,
        ..FaultConfig::default()
    })
    .await;
    let answer = Answer::from(
        client()
            .get(format!("{}/balances/7", server.url()))
            .send()
            .await,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json,
        json!({ "user_id": 7, "amount_minor": seeded_balance(7), "currency": "EUR", "stale": true })
    );

    // A scratch card has no replica to lag behind.
    let scratch = Scratch::new(Faults::none());
    let server = Server::bind(loopback(), scratch.router())
        .await
        .expect("bind");
    let answer = Answer::from(
        client()
            .put(format!("{}/admin/faults", server.url()))
            .header("content-type", "application/json")
            .body(r#"{"stale_rate": 0.5}"#)
            .send()
            .await,
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:?}", answer.json);
    assert_eq!(answer.json["error"], "invalid_faults");
    assert_eq!(scratch.faults().get().stale_rate, 0.0);
}

#[tokio::test]
async fn the_new_faults_can_be_set_through_the_admin_route() {
    let server = wallet_with(FaultConfig::default()).await;
    let http = client();
    let admin = format!("{}/admin/faults", server.url());
    let put = |body: &'static str| {
        let request = http
            .put(&admin)
            .header("content-type", "application/json")
            .body(body);
        async move { Answer::from(request.send().await).await }
    };
    let answer =
        put(r#"{"error_rate": 1, "error_status": 500, "retry_after_secs": 2, "truncate_rate": 0.5, "reset_rate": 0.25, "stale_rate": 0.75, "max_concurrency": 8}"#)
            .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(
        answer.json,
        json!({
            "latency_ms": 0,
            "latency_rate": 1.0,
            "error_rate": 1.0,
            "error_status": 500,
            "retry_after_secs": 2,
            "hang_rate": 0.0,
            "garbage_rate": 0.0,
            "truncate_rate": 0.5,
            "reset_rate": 0.25,
            "stale_rate": 0.75,
            "max_concurrency": 8
        })
    );
    for bad in [
        r#"{"max_concurrency": -1}"#,
        r#"{"error_status": 200}"#,
        r#"{"error_status": 600}"#,
        r#"{"truncate_rate": 2}"#,
        r#"{"reset_rate": -1}"#,
        r#"{"stale_rate": 1.5}"#,
        r#"{"stale_rate": true}"#,
        r#"{"retry_after_secs": 3601}"#,
        r#"{"retry_after_secs": -1}"#,
        r#"{"retry_after_secs": "2s"}"#,
    ] {
        let answer = put(bad).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(answer.json["error"], "invalid_faults", "{bad}");
    }
    // A field left out is off; the error status goes back to 503.
    let answer = put("{}").await;
    assert_eq!(answer.json["error_status"], 503);
    assert_eq!(answer.json["retry_after_secs"], Value::Null);
    assert_eq!(answer.json["reset_rate"], 0.0);
    assert_eq!(answer.json["stale_rate"], 0.0);
}
