//! `retry` and `hedge` on methods taking `&self`, with borrowed (`&str`) and owned (`String`)
//! arguments: each attempt gets its own copy of them.

#![deny(warnings)]

use std::sync::atomic::{AtomicU32, Ordering};

use runner_core::{fan_out, task, TaskError};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

struct Wallet {
    rate: u64,
    calls: AtomicU32,
}

impl Wallet {
    #[task(critical, retry(attempts = 3), hedge(after = "50ms", max = 2))]
    async fn balance(&self, user: &str, currency: String) -> Result<String, Unavailable> {
        // The first attempt fails; the retry sees the same arguments again.
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(Unavailable);
        }
        Ok(format!("{} {currency}", self.rate * user.len() as u64))
    }

    #[task(best_effort, retry(attempts = 2, backoff = "5ms"), hedge = "20ms")]
    async fn label<'a>(self: &'a Self, user: &'a str, suffix: String) -> Result<String, Unavailable> {
        Ok(format!("{user}{suffix}:{}", self.rate))
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let wallet = Wallet { rate: 10, calls: AtomicU32::new(0) };
    let user = String::from("ada");
    let (balance, label): (String, Result<String, TaskError<Unavailable>>) = fan_out!(
        wallet.balance(&user, "EUR".to_owned()),
        wallet.label(&user, String::from("!")),
    )
    .await
    .unwrap();
    assert_eq!(balance, "30 EUR");
    assert_eq!(wallet.calls.load(Ordering::SeqCst), 2);
    assert_eq!(label.unwrap(), "ada!:10");
    assert_eq!(wallet.balance("bob", String::new()).await.unwrap(), "30 ");
}
