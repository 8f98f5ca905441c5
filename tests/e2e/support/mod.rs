//! What the end-to-end test files share: timeouts, addresses, a client, a whole answer, and
//! one process per test.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use runner_example::{Faults, Gateway, PoliciesConfig, Scratch, Server, Timeouts, Wallet};
use serde_json::Value;

/// Timeouts no loaded test machine can run out of, for tests that are not about timeouts.
pub(crate) const GENEROUS: Timeouts = Timeouts {
    balance: Some(Duration::from_secs(10)),
    scratch_card: Some(Duration::from_secs(10)),
    deadline: Duration::from_secs(20),
};

/// The built-in policies without the wallet's 80 ms attempt timeout, for tests whose wallet
/// is slow or hangs on purpose and whose point is what happens meanwhile (a hang-up, a
/// drain): with it, the gateway would end the attempt itself and retry.
pub(crate) fn without_attempt_timeout() -> PoliciesConfig {
    let mut policies = PoliciesConfig::builtin();
    if let Some(retry) = policies.wallet.retry.as_mut() {
        retry.attempt_timeout = None;
    }
    policies
}

/// An ephemeral port on loopback.
pub(crate) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The wallet (in memory) and the scratch-card service with these faults, and a gateway with
/// these timeouts in front of them, each on its own loopback port.
pub(crate) struct Services {
    pub(crate) wallet: Wallet,
    pub(crate) scratch: Scratch,
    pub(crate) wallet_server: Server,
    pub(crate) scratch_server: Server,
    pub(crate) gateway_server: Server,
}

impl Services {
    pub(crate) async fn start(wallet: Faults, scratch: Faults, timeouts: Timeouts) -> Self {
        Self::with_policies(wallet, scratch, timeouts, &PoliciesConfig::builtin()).await
    }

    /// The same, with a gateway on `policies` instead of the built-in ones.
    pub(crate) async fn with_policies(
        wallet: Faults,
        scratch: Faults,
        timeouts: Timeouts,
        policies: &PoliciesConfig,
    ) -> Self {
        let wallet = Wallet::in_memory(wallet).expect("in-memory wallet");
        let scratch = Scratch::new(scratch);
        let wallet_server = Server::bind(loopback(), wallet.router())
            .await
            .expect("bind");
        let scratch_server = Server::bind(loopback(), scratch.router())
            .await
            .expect("bind");
        let gateway = Gateway::with_policies(&wallet_server.url(), &scratch_server.url(), policies)
            .expect("client")
            .with_timeouts(timeouts);
        let gateway_server = Server::bind(loopback(), gateway.router())
            .await
            .expect("bind");
        Self {
            wallet,
            scratch,
            wallet_server,
            scratch_server,
            gateway_server,
        }
    }
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
