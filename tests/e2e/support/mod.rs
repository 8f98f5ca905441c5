//! What the end-to-end test files share: budgets, addresses, a client, a whole answer, and
//! one process per test.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use runner_example::{Budgets, Faults, Gateway, Scratch, Server, Wallet};
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

/// The wallet (in memory) and the scratch-card service with these faults, and a gateway with
/// these budgets in front of them, each on its own loopback port.
pub(crate) struct Services {
    pub(crate) wallet: Wallet,
    pub(crate) scratch: Scratch,
    pub(crate) wallet_server: Server,
    pub(crate) scratch_server: Server,
    pub(crate) gateway_server: Server,
}

impl Services {
    pub(crate) async fn start(wallet: Faults, scratch: Faults, budgets: Budgets) -> Self {
        let wallet = Wallet::in_memory(wallet).expect("in-memory wallet");
        let scratch = Scratch::new(scratch);
        let wallet_server = Server::bind(loopback(), wallet.router())
            .await
            .expect("bind");
        let scratch_server = Server::bind(loopback(), scratch.router())
            .await
            .expect("bind");
        let gateway = Gateway::new(&wallet_server.url(), &scratch_server.url())
            .expect("client")
            .with_budgets(budgets);
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

/// Set in the environment of a process that [`ran_in_own_process`] starts: the name of the
/// one test it runs.
const OWN_PROCESS: &str = "RUNNER_E2E_OWN_PROCESS";

/// Runs the calling test again, alone, in a process of its own, and checks that it passed
/// there. Returns `true` in the process that called it, whose test has nothing left to do,
/// and `false` in the new process, whose test goes on:
///
/// ```ignore
/// #[tokio::test]
/// async fn a_failing_wallet_is_a_502() {
///     if support::ran_in_own_process() {
///         return;
///     }
///     // the test
/// }
/// ```
///
/// Why: the gateway's resilience policies (its `#[task(retry(..), breaker(..))]` keys) live
/// in `static`s, one per task fn, shared by every gateway in the process. In one process, the
/// failures that some tests inject would open a breaker or spend a retry budget under the
/// others, and what a test sees would depend on which ran before it. A process of its own
/// gives each test closed breakers and full budgets.
///
/// The test is found by name: libtest names the thread that runs a test after it (also with
/// `--test-threads=1`), and the new process is the same test binary, filtered to that name
/// with `--exact`.
pub(crate) fn ran_in_own_process() -> bool {
    let thread = std::thread::current();
    let name = thread
        .name()
        .filter(|name| *name != "main")
        .expect("called from a test's own thread, which libtest names after the test");
    if std::env::var(OWN_PROCESS).is_ok_and(|running| running == name) {
        return false;
    }
    let binary = std::env::current_exe().expect("the test binary's path");
    // Blocks this test's thread (and its runtime, which has nothing else to run) until the
    // other process is done; its own client timeouts bound it.
    let output = Command::new(binary)
        .args([name, "--exact", "--test-threads=1"])
        .env(OWN_PROCESS, name)
        .output()
        .expect("the test binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A name that matched no test would "pass" by running nothing.
    let ran = stdout.contains(&format!("test {name} ... ok"));
    assert!(
        output.status.success() && ran,
        "`{name}` failed in its own process ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    true
}
