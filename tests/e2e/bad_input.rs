//! Bad input, as property tests against running services: random query strings and headers
//! sent to the gateway, and random deadline headers sent straight to the wallet and the
//! scratch-card service.
//!
//! Whatever comes in, every answer is a 200 or a 4xx (a 504 only when the deadline header
//! the client sent is too short to work in) with `content-type:
//! application/json` and a body that parses, within the client's timeout; no server thread
//! panics; and the gateway still answers `/healthz` at the end. Where the right answer is
//! known (a unicode digit is not a digit, a valid id among junk is found, a client's deadline
//! header is read as the services read it), the properties check it exactly.
//!
//! Each property starts one stack (healthy services, timeouts no loaded machine can run out
//! of) on a runtime of its own and sends one request per case: 256 cases per property unless
//! `PROPTEST_CASES` says otherwise.
//!
//! Requests stay within what HTTP/1.1 and the `http` crate can carry (a URI of at most
//! 65,534 bytes, valid header names and values): past that, hyper answers before the router
//! runs, and `a_uri_past_the_http_limit_is_refused_before_the_router` pins what it does.

mod support;

use std::sync::{Mutex, Once, PoisonError};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::StatusCode;
use reqwest::header::{HeaderName, HeaderValue};
use runner_example::{Faults, Gateway, PARTIAL_HEADER, Scratch, Server, Wallet, seeded_balance};
use runner_http::DEADLINE_MS;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

use support::GENEROUS;

/// The most a single request may take before it counts as a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest URI the `http` crate accepts, less the path in front of the query.
const MAX_QUERY: usize = 60_000;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// --- the services under test -------------------------------------------------------------

/// The names of the threads that panicked, recorded by a hook installed once.
static PANICKED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            PANICKED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(name);
            default(info);
        }));
    });
}

/// The three services on their own runtime, whose worker threads are named after the test,
/// so that a panic in one of them is told apart from the test's own.
struct Stack {
    runtime: Runtime,
    threads: String,
    wallet: Wallet,
    wallet_server: Server,
    scratch: Scratch,
    scratch_server: Server,
    gateway_server: Server,
    http: reqwest::Client,
}

impl Stack {
    fn start(test: &str) -> Self {
        record_panics();
        let threads = format!("bad-input-{test}");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(&threads)
            .enable_all()
            .build()
            .expect("a runtime");
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let wallet = Wallet::in_memory(Faults::none()).expect("in-memory wallet");
        let scratch = Scratch::new(Faults::none());
        let (wallet_server, scratch_server, gateway_server) = runtime.block_on(async {
            let wallet_server = Server::bind(loopback, wallet.router()).await.expect("bind");
            let scratch_server = Server::bind(loopback, scratch.router())
                .await
                .expect("bind");
            let gateway = Gateway::new(&wallet_server.url(), &scratch_server.url())
                .expect("client")
                .with_timeouts(GENEROUS);
            let gateway_server = Server::bind(loopback, gateway.router())
                .await
                .expect("bind");
            (wallet_server, scratch_server, gateway_server)
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("test client");
        Self {
            runtime,
            threads,
            wallet,
            wallet_server,
            scratch,
            scratch_server,
            gateway_server,
            http,
        }
    }

    /// `GET /get_balance?{query}`, the query sent as it is (the URL parser only
    /// percent-encodes what a URL cannot carry: spaces, `#`, quotes, non-ASCII).
    fn balance(&self, query: &str, headers: &[(HeaderName, HeaderValue)]) -> Answer {
        let mut url = reqwest::Url::parse(&format!("{}/get_balance", self.gateway_server.url()))
            .expect("gateway URL");
        url.set_query(Some(query));
        self.send(url, headers)
    }

    fn send(&self, url: reqwest::Url, headers: &[(HeaderName, HeaderValue)]) -> Answer {
        let mut request = self.http.get(url.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .unwrap_or_else(|error| panic!("no answer to {url}: {error}"));
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|value| value.to_str().unwrap_or("(not ASCII)").to_owned());
            let partial = response
                .headers()
                .get(PARTIAL_HEADER)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let body = response
                .bytes()
                .await
                .unwrap_or_else(|error| panic!("no body from {url}: {error}"));
            Answer {
                status,
                content_type,
                partial,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        })
    }

    /// The end of every property: `/healthz` answers, and no thread of the stack panicked.
    fn check_still_healthy(&self) {
        let url = format!("{}/healthz", self.gateway_server.url());
        let answer = self.send(url.parse().expect("URL"), &[]);
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(
            answer.json().expect("JSON"),
            serde_json::json!({"status": "ok"})
        );
        let panicked = PANICKED.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            !panicked.contains(&self.threads),
            "a service thread panicked"
        );
    }
}

/// One answer, read whole.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    partial: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Result<Value, TestCaseError> {
        serde_json::from_str(&self.body).map_err(|error| {
            TestCaseError::fail(format!("body is not JSON ({error}): {:?}", self.body))
        })
    }

    /// The invariant of every gateway answer: 200, 4xx, or 504 (the client's own deadline
    /// too short), JSON, and the right shape for its status. Returns the body.
    fn check_contract(&self) -> Result<Value, TestCaseError> {
        prop_assert!(
            self.status == StatusCode::OK
                || self.status.is_client_error()
                || self.status == StatusCode::GATEWAY_TIMEOUT,
            "status {}: {:?}",
            self.status,
            self.body
        );
        prop_assert_eq!(self.content_type.as_deref(), Some("application/json"));
        let json = self.json()?;
        if self.status == StatusCode::OK {
            let user_id = json["user_id"].as_u64();
            prop_assert!(user_id.is_some_and(|id| (1..=1000).contains(&id)), "{json}");
            prop_assert!(json["balance"]["amount_minor"].is_i64(), "{json}");
            prop_assert!(self.partial.is_some(), "no {PARTIAL_HEADER}");
        } else {
            prop_assert!(json["error"].is_string(), "{json}");
            prop_assert!(json["detail"].is_string(), "{json}");
        }
        Ok(json)
    }
}

// --- strategies --------------------------------------------------------------------------

/// A run of digits that are not ASCII: Arabic-Indic, Extended Arabic-Indic, Devanagari,
/// fullwidth, mathematical bold, superscripts, circled.
fn unicode_digits() -> impl Strategy<Value = String> {
    prop_oneof![
        "[٠-٩]{1,6}",
        "[۰-۹]{1,6}",
        "[०-९]{1,6}",
        "[０-９]{1,6}",
        "[𝟎-𝟗]{1,6}",
        "[⁰¹²³⁴-⁹]{1,6}",
        "[①-⑨]{1,6}",
        // ASCII digits with one unicode digit among them.
        ("[0-9]{0,3}", "[٠-٩０-９]", "[0-9]{0,3}").prop_map(|(a, b, c)| format!("{a}{b}{c}")),
    ]
}

/// Percent-encoded bytes that are not ASCII (so never a digit): e.g. `%FF%FE`.
fn encoded_high_bytes() -> impl Strategy<Value = String> {
    proptest::collection::vec(0x80_u8..=0xFF, 1..8)
        .prop_map(|bytes| bytes.iter().map(|byte| format!("%{byte:02X}")).collect())
}

/// A value for a query parameter: numbers of every size and sign, unicode digits, encoded
/// bytes, `+` and spaces, junk.
fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,4}",
        "0{1,5}[0-9]{1,4}",
        "[0-9]{15,40}",
        "-[0-9]{1,20}",
        "[+ ]{0,2}[0-9]{1,4}[+ ]{0,2}",
        "%2[bB]?[0-9]{1,4}",
        "[0-9]{1,3}(\\.|,|e|_)[0-9]{1,3}",
        unicode_digits(),
        encoded_high_bytes(),
        Just("%FF%FE".to_owned()),
        "(%[0-9A-Fa-f]{0,2}){1,6}",
        "[ -~]{0,30}",
        "\\PC{0,20}",
    ]
}

/// A query key: the real one, near misses, empty, junk.
fn query_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("user_id".to_owned()),
        2 => prop::sample::select(vec![
            "", "USER_ID", "user_id ", " user_id", "user%5Fid", "user%5fid", "user_id%00",
            "user_id[]", "user+id", "user id", "userid", "user_id=",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
        1 => "\\PC{0,8}",
    ]
}

/// One `&`-separated piece: `key=value`, a bare `key`, `=value`, or empty.
fn query_pair() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (query_key(), query_value()).prop_map(|(key, value)| format!("{key}={value}")),
        1 => query_key(),
        1 => query_value().prop_map(|value| format!("={value}")),
        1 => Just(String::new()),
    ]
}

/// A whole query string.
fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::collection::vec(query_pair(), 0..6).prop_map(|pairs| pairs.join("&")),
        1 => "[ -~]{0,100}",
        1 => "\\PC{0,60}",
        1 => huge_query(),
    ]
}

/// Up to [`MAX_QUERY`] bytes: one huge value, or the same character over and over.
fn huge_query() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["user_id=", "x=", "", "user_id=1&y="]),
        prop::sample::select(vec!['9', '0', 'a', '%', '&', '=', '+', '-']),
        1_usize..=MAX_QUERY - 16,
    )
        .prop_map(|(prefix, fill, len)| format!("{prefix}{}", fill.to_string().repeat(len)))
}

/// A value for a deadline header: absurd (negative, huge, fractional, words, unicode) or
/// plain.
fn deadline_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        "[0-9]{1,6}",
        "[0-9]{19,80}",
        Just(u64::MAX.to_string()),
        Just((u128::from(u64::MAX) + 1).to_string()),
        "-[0-9]{1,20}",
        "\\+[0-9]{1,5}",
        "[0-9]{1,4}\\.[0-9]{1,4}",
        "[0-9]e[0-9]{1,3}",
        "0x[0-9a-f]{1,8}",
        prop::sample::select(vec!["", " ", "NaN", "inf", "-0", "soon", "1 2", "١٢٣"])
            .prop_map(str::to_owned),
        " {0,3}[0-9]{1,4} {0,3}",
        "[ -~]{0,20}",
        "\\PC{1,10}",
    ]
    .prop_filter_map("not a header value", |text| {
        HeaderValue::from_bytes(text.as_bytes()).ok()
    })
}

/// Header names that change how HTTP frames or routes the request: not what these tests are
/// about, and a bad `content-length` is refused by hyper before the router runs.
const FRAMING: &[&str] = &[
    "connection",
    "content-length",
    "expect",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Random headers, the deadline header among them now and then.
fn headers() -> impl Strategy<Value = Vec<(HeaderName, HeaderValue)>> {
    let name = prop_oneof![
        "[a-z][a-z0-9-]{0,24}",
        "x-[a-z0-9!#$%&'*+.^_`|~-]{1,24}",
        Just(DEADLINE_MS.as_str().to_owned()),
    ]
    .prop_filter_map("a framing header", |name| {
        (!FRAMING.contains(&name.as_str()))
            .then(|| HeaderName::from_bytes(name.as_bytes()).ok())
            .flatten()
    });
    let value = prop_oneof![
        deadline_value(),
        "[ -~]{0,64}".prop_filter_map("not a header value", |text| {
            HeaderValue::from_bytes(text.as_bytes()).ok()
        }),
        (1_usize..=16_384).prop_map(|len| HeaderValue::from_str(&"v".repeat(len)).expect("ASCII")),
    ];
    proptest::collection::vec((name, value), 0..8)
}

// --- the gateway -------------------------------------------------------------------------

#[test]
fn any_query_gets_a_200_or_a_json_4xx() {
    let stack = Stack::start("query");
    TestRunner::new(config())
        .run(&query(), |query| {
            stack.balance(&query, &[]).check_contract()?;
            Ok(())
        })
        .unwrap();
    stack.check_still_healthy();
}

#[test]
fn unicode_digits_and_encoded_bytes_are_not_a_user_id() {
    let stack = Stack::start("digits");
    let value = prop_oneof![unicode_digits(), encoded_high_bytes()];
    TestRunner::new(config())
        .run(&value, |value| {
            let answer = stack.balance(&format!("user_id={value}"), &[]);
            let json = answer.check_contract()?;
            prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST);
            prop_assert_eq!(&json["error"], "invalid_user_id");
            Ok(())
        })
        .unwrap();
    stack.check_still_healthy();
}

#[test]
fn a_valid_user_id_among_junk_is_found() {
    let stack = Stack::start("junk");
    // Junk pairs whose key, decoded, is not `user_id`.
    let junk = (query_key(), query_value())
        .prop_filter("the key is user_id", |(key, _)| {
            form_urlencoded::parse(format!("{key}=").as_bytes()).all(|(key, _)| key != "user_id")
        })
        .prop_map(|(key, value)| format!("{key}={value}"));
    let case = (
        1_u64..=1000,
        "0{0,3}",
        proptest::collection::vec(junk, 0..5),
        any::<prop::sample::Index>(),
    );
    TestRunner::new(config())
        .run(&case, |(user_id, zeros, mut pairs, at)| {
            let at = at.index(pairs.len() + 1);
            pairs.insert(at, format!("user_id={zeros}{user_id}"));
            let answer = stack.balance(&pairs.join("&"), &[]);
            let json = answer.check_contract()?;
            prop_assert_eq!(answer.status, StatusCode::OK, "{}", json);
            prop_assert_eq!(&json["user_id"], user_id);
            prop_assert_eq!(&json["balance"]["amount_minor"], seeded_balance(user_id));
            Ok(())
        })
        .unwrap();
    stack.check_still_healthy();
}

#[test]
fn any_headers_leave_the_answer_unchanged_but_for_a_deadline() {
    let stack = Stack::start("headers");
    TestRunner::new(config())
        .run(&(1_u64..=1000, headers()), |(user_id, headers)| {
            let answer = stack.balance(&format!("user_id={user_id}"), &headers);
            let json = answer.check_contract()?;
            // A client's deadline header is the page's budget: one the gateway cannot read
            // (or two of them) is a 400, one already gone a 504, one of a second or more
            // plenty; other headers change nothing.
            let deadlines: Vec<_> = headers
                .iter()
                .filter(|(name, _)| *name == DEADLINE_MS)
                .map(|(_, value)| deadline_model(value))
                .collect();
            match deadlines[..] {
                [] | [Some(1_000..)] => {
                    prop_assert_eq!(answer.status, StatusCode::OK, "{}", json);
                    prop_assert_eq!(answer.partial.as_deref(), Some("false"));
                    prop_assert_eq!(&json["balance"]["amount_minor"], seeded_balance(user_id));
                }
                [Some(0..=1)] => {
                    // Nothing left once the way back is taken off.
                    prop_assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT, "{}", json);
                    prop_assert_eq!(&json["error"], "deadline_exceeded");
                }
                [Some(_)] => {
                    if answer.status != StatusCode::OK {
                        prop_assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT, "{}", json);
                        prop_assert_eq!(&json["error"], "upstream_timeout");
                    }
                }
                _ => {
                    prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", json);
                    prop_assert_eq!(&json["error"], "invalid_deadline");
                }
            }
            Ok(())
        })
        .unwrap();
    stack.check_still_healthy();
    // Every request the services saw carried the gateway's budget for it: the tighter of its
    // own and the client's, no larger than the balance's 10 s.
    let wallet = stack.wallet.stats().snapshot();
    assert_eq!(wallet.with_deadline, wallet.served, "{wallet:?}");
    assert!(wallet.served > 0, "{wallet:?}");
    assert!(
        wallet.last_deadline_ms.is_some_and(|ms| ms <= 10_000),
        "{wallet:?}"
    );
    let scratch = stack.scratch.stats().snapshot();
    assert_eq!(scratch.with_deadline, scratch.served, "{scratch:?}");
}

// --- the downstream services -------------------------------------------------------------

/// What a service makes of a deadline header: its milliseconds, or `None` if it is not a
/// whole number (saturating: a number too big to count is a lot of time, not an error).
fn deadline_model(value: &HeaderValue) -> Option<u64> {
    let text = std::str::from_utf8(value.as_bytes()).ok()?.trim();
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

#[test]
fn the_services_take_any_deadline_header() {
    let stack = Stack::start("deadline");
    let service = prop_oneof![Just("wallet"), Just("scratch")];
    TestRunner::new(config())
        .run(
            &(service, 1_u64..=1000, deadline_value()),
            |(service, user_id, deadline)| {
                let url = match service {
                    "wallet" => format!("{}/balances/{user_id}", stack.wallet_server.url()),
                    _ => format!("{}/cards/{user_id}", stack.scratch_server.url()),
                };
                let headers = [(DEADLINE_MS, deadline.clone())];
                let answer = stack.send(url.parse().expect("URL"), &headers);
                prop_assert_eq!(answer.content_type.as_deref(), Some("application/json"));
                let json = answer.json()?;
                match deadline_model(&deadline) {
                    None => {
                        prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", json);
                        prop_assert_eq!(&json["error"], "invalid_deadline");
                    }
                    // A budget of a second or more is plenty for a healthy service.
                    Some(millis) if millis >= 1_000 => {
                        prop_assert_eq!(answer.status, StatusCode::OK, "{}", json);
                        prop_assert_eq!(&json["user_id"], user_id);
                    }
                    // A shorter one may run out first: then it is the service's 504.
                    Some(_) => {
                        if answer.status != StatusCode::OK {
                            prop_assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
                            prop_assert_eq!(&json["error"], "deadline_exceeded");
                        }
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    stack.check_still_healthy();
    for stats in [stack.wallet.stats(), stack.scratch.stats()] {
        let stats = stats.snapshot();
        assert_eq!(stats.in_flight, 0, "{stats:?}");
    }
}

// --- past the limits of HTTP -------------------------------------------------------------

/// A URI longer than the `http` crate can hold never reaches the router: hyper answers
/// 414 itself (with an empty body, not JSON: no code of ours runs), closes the connection, and
/// the gateway goes on serving. Sent over a raw connection, since no HTTP client builds
/// such a request.
#[test]
fn a_uri_past_the_http_limit_is_refused_before_the_router() {
    let stack = Stack::start("uri-limit");
    let addr = stack.gateway_server.local_addr();
    let head = stack.runtime.block_on(async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let query = format!("user_id={}", "9".repeat(64 * 1024));
        let request = format!("GET /get_balance?{query} HTTP/1.1\r\nHost: gateway\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send the request");
        // Until the head is in, or the connection ends (a close or a reset).
        let mut received = Vec::new();
        let read_head = async {
            let mut buf = [0_u8; 4096];
            while !received.windows(4).any(|window| window == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, read_head)
            .await
            .expect("an answer or a closed connection");
        String::from_utf8_lossy(&received).into_owned()
    });
    assert!(head.starts_with("HTTP/1.1 414 "), "{head}");
    stack.check_still_healthy();
}
