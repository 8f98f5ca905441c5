//! Every form of `fan_out!`: options and their combinations, built tasks, a trailing comma,
//! call-site overrides that change the slot types, and the future being `Send`.

#![deny(warnings)]

use std::time::Duration;

use runner_core::{fan_out, task, CancellationToken, Outcome, Task, TaskError};

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

#[task(critical)]
async fn fast(value: u8) -> Result<u8, Unavailable> {
    Ok(value)
}

#[task(best_effort)]
async fn slow(value: u8) -> Result<u8, Unavailable> {
    tokio::time::sleep(Duration::from_secs(10)).await;
    Ok(value)
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    // A literal deadline, checked at compile time.
    let (a, b) = fan_out!(deadline = "300ms"; fast(1), slow(2)).await.unwrap();
    assert!(matches!((a, b), (1, Err(TaskError::DeadlineExceeded))));

    // A deadline expression.
    let budget = Duration::from_millis(100);
    let (a, b) = fan_out!(deadline = budget; fast(1), slow(2)).await.unwrap();
    assert!(matches!((a, b), (1, Err(TaskError::DeadlineExceeded))));

    // A cancellation token, owned or borrowed.
    let token = CancellationToken::new();
    let (a,) = fan_out!(cancel = &token; fast(3)).await.unwrap();
    assert_eq!(a, 3);
    token.cancel();
    assert!(fan_out!(cancel = token; slow(4)).await.unwrap_err().is_cancelled());

    // The report, with other options, and a trailing comma.
    let (result, report) = fan_out!(deadline = "50ms", report; fast(5), slow(6),).await;
    assert!(result.is_ok());
    assert_eq!(report.tasks()[1].outcome, Outcome::DeadlineExceeded);

    // Tasks built by hand mix with `#[task]` ones.
    let (a, b) = fan_out!(fast(7), Task::best_effort("by_hand", async { Ok::<u8, Unavailable>(8) }))
        .await
        .unwrap();
    assert_eq!((a, b.unwrap()), (7, 8));

    // Call-site overrides: a timeout, and criticality, which changes the slot type.
    let (a, b): (Result<u8, TaskError<Unavailable>>, u8) = fan_out!(
        slow(9).timeout(Duration::from_millis(10)),
        slow(10).into_critical().timeout(Duration::from_secs(20)),
    )
    .await
    .unwrap();
    assert!(matches!(a, Err(TaskError::TimedOut(_))));
    assert_eq!(b, 10);

    // The future is `Send` when its tasks are, as axum handlers need.
    let handle = tokio::spawn(assert_send(fan_out!(deadline = "1s"; fast(11), slow(12))));
    let (a, _) = handle.await.unwrap().unwrap();
    assert_eq!(a, 11);
}
