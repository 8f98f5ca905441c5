//! `DeadlineLayer` on tokio's paused clock, through `tower::ServiceExt::oneshot` (no
//! network): the budget the handler sees, the tighter header, the cap, the offset and the
//! default; a fan-out inside inheriting it; the 504 and the 400 given before any work, in
//! JSON or as a gRPC status.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use runner_core::{Task, TaskError, fan_out};
use runner_http::{DeadlineLayer, IncomingDeadline};
use tokio::time::sleep;
use tower::ServiceExt;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A handler that answers the budget it sees, in microseconds, and counts its calls.
fn app(layer: DeadlineLayer, calls: Arc<AtomicU32>) -> Router {
    let handler = move || {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::Relaxed);
            match runner_core::remaining() {
                Some(left) => left.as_micros().to_string(),
                None => "none".to_owned(),
            }
        }
    };
    Router::new().route("/", get(handler)).layer(layer)
}

/// The status and body of a GET with `headers`.
async fn get_with(layer: DeadlineLayer, headers: &[(&str, &str)]) -> (StatusCode, String, u32) {
    let calls = Arc::new(AtomicU32::new(0));
    let mut request = Request::get("/");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app(layer, calls.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8(body.to_vec()).unwrap(),
        calls.load(Ordering::Relaxed),
    )
}

#[tokio::test(start_paused = true)]
async fn the_handler_runs_under_the_callers_budget() {
    let ok = |micros: u64| (StatusCode::OK, (micros).to_string(), 1);
    let layer = DeadlineLayer::new;
    assert_eq!(
        get_with(layer(), &[("x-request-deadline-ms", "250")]).await,
        ok(250_000)
    );
    assert_eq!(
        get_with(layer(), &[("grpc-timeout", "40m")]).await,
        ok(40_000)
    );
    // Both: the tighter.
    let both = [("x-request-deadline-ms", "250"), ("grpc-timeout", "1S")];
    assert_eq!(get_with(layer(), &both).await, ok(250_000));
    // Cut to the cap, then shortened by the offset.
    let layer = || DeadlineLayer::new().max(ms(100)).offset(ms(5));
    assert_eq!(
        get_with(layer(), &[("x-request-deadline-ms", "250")]).await,
        ok(95_000)
    );
    assert_eq!(
        get_with(layer(), &[("x-request-deadline-ms", "50")]).await,
        ok(45_000)
    );
    // None sent: no deadline, or the default's.
    assert_eq!(
        get_with(DeadlineLayer::new(), &[]).await,
        (StatusCode::OK, "none".to_owned(), 1)
    );
    assert_eq!(
        get_with(DeadlineLayer::new().default_budget(ms(30)), &[]).await,
        ok(30_000)
    );
    // Another header's name, and `grpc-timeout` not read.
    let custom = || {
        DeadlineLayer::new()
            .header(http::HeaderName::from_static("x-budget"))
            .without_grpc_timeout()
    };
    let sent = [("x-budget", "70"), ("grpc-timeout", "1m")];
    assert_eq!(get_with(custom(), &sent).await, ok(70_000));
}

#[tokio::test(start_paused = true)]
async fn a_budget_already_gone_is_answered_at_once_with_504() {
    let expect = (
        StatusCode::GATEWAY_TIMEOUT,
        r#"{"error":"deadline_exceeded","detail":"the caller's deadline had passed when the request came"}"#
            .to_owned(),
        0,
    );
    let zero = [("x-request-deadline-ms", "0")];
    assert_eq!(get_with(DeadlineLayer::new(), &zero).await, expect);
    // No more than the offset: nothing left for the work.
    let short = [("grpc-timeout", "3m")];
    assert_eq!(
        get_with(DeadlineLayer::new().offset(ms(3)), &short).await,
        expect
    );
}

#[tokio::test(start_paused = true)]
async fn a_budget_that_cannot_be_read_is_a_400_in_json() {
    for (name, value, expected) in [
        (
            "x-request-deadline-ms",
            "soon",
            "`x-request-deadline-ms` must be a whole number of milliseconds",
        ),
        (
            "x-request-deadline-ms",
            "-5",
            "`x-request-deadline-ms` must be a whole number of milliseconds",
        ),
        (
            "grpc-timeout",
            "10s",
            "`grpc-timeout` must be 1 to 8 digits and a unit (H, M, S, m, u or n), as in `250m`",
        ),
    ] {
        let (status, body, calls) = get_with(DeadlineLayer::new(), &[(name, value)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {value}");
        assert_eq!(
            body,
            format!(r#"{{"error":"invalid_deadline","detail":"{expected}"}}"#)
        );
        assert_eq!(calls, 0);
    }
    // Two budgets in one header are refused as well, saying so.
    let twice = [
        ("x-request-deadline-ms", "5"),
        ("x-request-deadline-ms", "9"),
    ];
    assert_eq!(
        get_with(DeadlineLayer::new(), &twice).await,
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid_deadline","detail":"`x-request-deadline-ms` must be given once: two values would be two deadlines"}"#
                .to_owned(),
            0
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_grpc_caller_gets_grpc_statuses() {
    let calls = Arc::new(AtomicU32::new(0));
    let call = |timeout: &str| {
        Request::post("/")
            .header("content-type", "application/grpc+proto")
            .header("grpc-timeout", timeout)
            .body(Body::empty())
            .unwrap()
    };
    let expired = app(DeadlineLayer::new(), calls.clone())
        .oneshot(call("0n"))
        .await
        .unwrap();
    // Trailers only: the status in the headers, and no body.
    assert_eq!(expired.status(), StatusCode::OK);
    assert_eq!(expired.headers()["grpc-status"], "4");
    assert_eq!(expired.headers()["content-type"], "application/grpc");
    let body = expired.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty(), "{body:?}");
    let malformed = app(DeadlineLayer::new(), calls.clone())
        .oneshot(call("soon"))
        .await
        .unwrap();
    assert_eq!(malformed.headers()["grpc-status"], "3");
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    // gRPC-Web's statuses travel otherwise: it gets the JSON answer.
    let web = Request::post("/")
        .header("content-type", "application/grpc-web")
        .header("grpc-timeout", "0n")
        .body(Body::empty())
        .unwrap();
    let web = app(DeadlineLayer::new(), calls.clone())
        .oneshot(web)
        .await
        .unwrap();
    assert_eq!(web.status(), StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_fan_out_in_the_handler_inherits_the_deadline() {
    async fn page() -> String {
        let card = Task::best_effort("card", async {
            sleep(Duration::from_secs(1)).await;
            Ok::<_, std::io::Error>("card")
        });
        let balance = Task::critical("balance", async {
            Ok::<_, std::io::Error>(runner_core::remaining())
        });
        let start = tokio::time::Instant::now();
        let (left, card) = fan_out!(balance, card).await.unwrap();
        assert!(matches!(card, Err(TaskError::DeadlineExceeded)));
        format!("{left:?} {:?}", start.elapsed())
    }
    let app = Router::new()
        .route("/", get(page))
        .layer(DeadlineLayer::new());
    let request = Request::get("/")
        .header("x-request-deadline-ms", "120")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    // The card was cut at the caller's 120 ms, not its own second.
    assert_eq!(body, "Some(120ms) 120ms");
}

#[tokio::test(start_paused = true)]
async fn the_handler_reads_what_came_in_its_extensions() {
    let handler = |Extension(incoming): Extension<IncomingDeadline>| async move {
        let left = incoming
            .deadline
            .map(|at| at.saturating_duration_since(tokio::time::Instant::now()));
        format!("{:?} {left:?}", incoming.sent)
    };
    let app = Router::new()
        .route("/", get(handler))
        .layer(DeadlineLayer::new().max(ms(100)));
    let request = Request::get("/")
        .header("x-request-deadline-ms", "5000")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "Some(5s) Some(100ms)");
}
