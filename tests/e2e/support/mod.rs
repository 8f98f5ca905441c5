//! What the end-to-end test files share: budgets, addresses, a client, and a whole answer.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use runner_example::Budgets;
use serde_json::Value;

/// Budgets no loaded test machine can run out of, for tests that are not about timeouts.
pub(crate) const GENEROUS: Budgets = Budgets {
    balance: Some(Duration::from_secs(10)),
    scratch_card: Some(Duration::from_secs(10)),
    deadline: Duration::from_secs(20),
};

/// An ephemeral port on loopback.
pub(crate) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// An HTTP client that gives up on a request after `timeout`.
pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .expect("test client")
}

/// A response, read whole; its body must be JSON.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) json: Value,
}

impl Answer {
    pub(crate) async fn from(response: reqwest::Result<reqwest::Response>) -> Self {
        let response = response.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {text:?}"));
        Self {
            status,
            headers,
            json,
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}
