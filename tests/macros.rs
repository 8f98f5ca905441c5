//! `#[task]` and `fan_out!` at run time, on tokio's paused clock: the attribute's timeout
//! and name reach the engine, failures and deadlines follow the rules, and a task fn can read
//! its deadline to pass it downstream.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use runner_core::{FanOutError, Outcome, TaskError, fan_out, task};
use tokio::time::Instant;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("wallet unavailable")]
struct WalletError;

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("no card")]
struct CardError;

/// Counts the futures alive, to prove that work was dropped.
struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[task(critical, timeout = "200ms")]
async fn get_balance(latency_ms: u64, fail: bool) -> Result<u64, WalletError> {
    tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    if fail { Err(WalletError) } else { Ok(1_250) }
}

#[task(best_effort, timeout = "150ms", name = "scratch_card")]
async fn get_scratch_card(latency_ms: u64, alive: Alive) -> Result<String, CardError> {
    let _alive = alive;
    tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    Ok("free spin".to_owned())
}

#[task(best_effort)]
async fn remaining_budget_ms() -> Result<u128, CardError> {
    Ok(runner_core::remaining().map_or(0, |left| left.as_millis()))
}

#[tokio::test(start_paused = true)]
async fn a_slow_best_effort_task_times_out_at_its_attribute_timeout() {
    let alive = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let (result, report) =
        fan_out!(report; get_balance(10, false), get_scratch_card(500, Alive::new(&alive))).await;
    let (balance, card) = result.unwrap();
    assert_eq!(balance, 1_250);
    assert!(matches!(card, Err(TaskError::TimedOut(d)) if d == Duration::from_millis(150)));
    assert_eq!(start.elapsed(), Duration::from_millis(150));
    assert_eq!(alive.load(Ordering::SeqCst), 0);
    let names: Vec<_> = report
        .tasks()
        .iter()
        .map(|t| (t.name, t.critical, t.outcome))
        .collect();
    assert_eq!(
        names,
        [
            ("get_balance", true, Outcome::Ok),
            ("scratch_card", false, Outcome::TimedOut)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_critical_task_fails_the_fan_out_and_drops_the_rest() {
    let alive = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let error = fan_out!(
        get_balance(20, true),
        get_scratch_card(100, Alive::new(&alive))
    )
    .await
    .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    assert_eq!(alive.load(Ordering::SeqCst), 0);
    assert_eq!(error.task(), Some("get_balance"));
    assert_eq!(error.downcast_ref::<WalletError>(), Some(&WalletError));
}

#[tokio::test(start_paused = true)]
async fn a_slow_critical_task_times_out_as_a_504() {
    let error = fan_out!(get_balance(500, false)).await.unwrap_err();
    assert!(matches!(
        error,
        FanOutError::TaskTimedOut {
            task: "get_balance",
            ..
        }
    ));
    assert!(error.is_timeout());
}

#[tokio::test(start_paused = true)]
async fn the_deadline_literal_bounds_the_fan_out_and_is_visible_inside_tasks() {
    let alive = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let (balance, card, budget) = fan_out!(
        deadline = "100ms";
        get_balance(50, false),
        get_scratch_card(120, Alive::new(&alive)),
        remaining_budget_ms(),
    )
    .await
    .unwrap();
    assert_eq!(balance, 1_250);
    assert!(matches!(card, Err(TaskError::DeadlineExceeded)));
    // The budget task has no timeout of its own: the deadline is its budget.
    assert_eq!(budget.unwrap(), 100);
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(alive.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_that_cuts_a_critical_task_fails_naming_it() {
    let error = fan_out!(deadline = "30ms"; get_balance(50, false))
        .await
        .unwrap_err();
    assert!(
        matches!(error, FanOutError::DeadlineExceeded { ref pending, .. } if pending == &["get_balance"])
    );
}

/// Logs its drop, to compare drop orders.
struct Logged(&'static str, Arc<std::sync::Mutex<Vec<&'static str>>>);

impl Drop for Logged {
    fn drop(&mut self) {
        self.1.lock().unwrap().push(self.0);
    }
}

async fn plain(_: Logged, a: Logged, (b, _): (Logged, Logged)) -> Result<(), CardError> {
    let log = a.1.clone();
    log.lock().unwrap().push("body");
    drop(b);
    Ok(())
}

#[task(critical)]
async fn as_task(_: Logged, a: Logged, (b, _): (Logged, Logged)) -> Result<(), CardError> {
    let log = a.1.clone();
    log.lock().unwrap().push("body");
    drop(b);
    Ok(())
}

#[tokio::test]
async fn arguments_are_dropped_as_an_async_fn_drops_them() {
    let order = |task: bool| {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let arg = |name| Logged(name, log.clone());
        let (u, a, b, c) = (arg("unused"), arg("a"), arg("b"), arg("c"));
        let log2 = log.clone();
        async move {
            if task {
                let task = as_task(u, a, (b, c));
                log2.lock().unwrap().push("created");
                task.await.unwrap();
            } else {
                let future = plain(u, a, (b, c));
                log2.lock().unwrap().push("created");
                future.await.unwrap();
            }
            log2.lock().unwrap().clone()
        }
    };
    let expected = order(false).await;
    assert_eq!(expected, ["created", "body", "b", "c", "a", "unused"]);
    assert_eq!(order(true).await, expected);
}
