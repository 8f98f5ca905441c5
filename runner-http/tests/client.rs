//! `Propagate` on the way out: inside a task it writes the budget left, outside one nothing;
//! as a tower layer and as reqwest middleware, the latter to a real server behind
//! `DeadlineLayer` over loopback, where the budget arrives. (The trace: `tests/trace.rs`.)

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::Extension;
use axum::routing::get;
use http::{HeaderMap, Request, Response};
use runner_core::Task;
use runner_http::{DeadlineLayer, IncomingDeadline, Propagate, PropagateLayer};
use tower::{Service, ServiceExt, service_fn};

/// The headers a tower client with `propagate` sends.
async fn sent(propagate: Propagate) -> HeaderMap {
    let echo = service_fn(|request: Request<()>| async move {
        Ok::<_, Infallible>(Response::new(request.headers().clone()))
    });
    let mut client = tower::ServiceBuilder::new()
        .layer(PropagateLayer::new(propagate))
        .service(echo);
    let client = client.ready().await.unwrap();
    client.call(Request::new(())).await.unwrap().into_body()
}

#[tokio::test(start_paused = true)]
async fn inside_a_task_the_budget_left_goes_out() {
    let task = Task::critical("wallet", async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, std::io::Error>((
            sent(Propagate::new()).await,
            sent(Propagate::new().grpc_timeout().without_header()).await,
        ))
    })
    .timeout(Duration::from_millis(200));
    let (plain, grpc) = task.await.unwrap();
    assert_eq!(plain["x-request-deadline-ms"], "180");
    assert!(!plain.contains_key("grpc-timeout"));
    assert_eq!(grpc["grpc-timeout"], "180000u");
    assert!(!grpc.contains_key("x-request-deadline-ms"));
}

#[tokio::test(start_paused = true)]
async fn outside_a_task_no_budget_goes_out() {
    let headers = sent(Propagate::new().grpc_timeout()).await;
    assert!(headers.is_empty(), "{headers:?}");
}

/// A server behind `DeadlineLayer` that answers the budget it got.
async fn server() -> String {
    let handler = |Extension(incoming): Extension<IncomingDeadline>| async move {
        format!("{}", incoming.sent.map_or(0, |sent| sent.as_millis()))
    };
    let app = Router::new()
        .route("/", get(handler))
        .layer(DeadlineLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn reqwest_carries_the_budget_to_a_server_that_reads_it() {
    let url = server().await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(Propagate::new())
        .build();
    let task = Task::critical("wallet", async {
        let response = client.get(&url).send().await.unwrap();
        Ok::<_, std::io::Error>(response.text().await.unwrap())
    })
    .timeout(Duration::from_secs(5));
    let sent: u64 = task.await.unwrap().parse().unwrap();
    // All of the task's 5 s but the moments before the request went out.
    assert!((4_000..=5_000).contains(&sent), "{sent} ms");
    // Outside a task the server gets none.
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "0");
}
