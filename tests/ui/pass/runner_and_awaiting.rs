//! `#[task]` tasks awaited on their own, and added to a `TaskRunner`.

#![deny(warnings)]

use runner_core::{task, TaskError, TaskRunner};

#[derive(Debug, thiserror::Error)]
#[error("no offer {0}")]
struct NoOffer(u32);

#[task(best_effort, timeout = "100ms")]
async fn offer(id: u32) -> Result<u32, NoOffer> {
    if id % 2 == 0 { Ok(id * 10) } else { Err(NoOffer(id)) }
}

#[task(critical)]
async fn balance() -> Result<u32, NoOffer> {
    Ok(1_000)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let alone: Result<u32, TaskError<NoOffer>> = offer(3).await;
    assert_eq!(alone.unwrap_err().to_string(), "no offer 3");

    let mut runner = TaskRunner::new();
    let total = runner.add(balance());
    let offers = runner.add_all((1..=4).map(offer));
    let mut results = runner.run_all().await.unwrap();
    assert_eq!(results.take(total), 1_000);
    let offers: Vec<Option<u32>> = results.take(offers).into_iter().map(Result::ok).collect();
    assert_eq!(offers, [None, Some(20), None, Some(40)]);
}
