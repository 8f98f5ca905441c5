//! `#[task(coalesce(...))]` at run time, on tokio's paused clock: the fn's own group and a
//! group the application owns, with and without policies, keys read through references,
//! a generic fn's instantiations each in a group of their own, and the rules of
//! `runner_core::policy::Coalesce` kept (each call's own timeout; a leader that leaves
//! hands over; nothing cached).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use runner_core::policy::Coalesce;
use runner_core::{Policy, Retry, TaskError, fan_out, task};
use tokio::time::{Instant, sleep};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("card service unavailable")]
struct Unavailable;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs of the work, by key: the tests run at once, each with keys of its own.
struct Runs(Mutex<Vec<u64>>);

impl Runs {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    fn add(&self, key: u64) {
        self.0.lock().unwrap().push(key);
    }

    fn of(&self, key: u64) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|run| **run == key)
            .count()
    }
}

static CARD_RUNS: Runs = Runs::new();

/// 20 ms of work per run; user 0 has no card.
#[task(best_effort, timeout = "150ms", coalesce(key = user_id))]
async fn card(user_id: u64) -> Result<String, Unavailable> {
    CARD_RUNS.add(user_id);
    sleep(ms(20)).await;
    match user_id {
        0 => Err(Unavailable),
        id => Ok(format!("card of {id}")),
    }
}

#[tokio::test(start_paused = true)]
async fn calls_with_one_key_share_one_run_of_the_fn() {
    let start = Instant::now();
    let (a, b, c, other) = fan_out!(card(7), card(7), card(7), card(8)).await.unwrap();
    assert_eq!(start.elapsed(), ms(20));
    assert_eq!(a.unwrap(), "card of 7");
    assert_eq!(b.unwrap(), "card of 7");
    assert_eq!(c.unwrap(), "card of 7");
    assert_eq!(other.unwrap(), "card of 8");
    assert_eq!((CARD_RUNS.of(7), CARD_RUNS.of(8)), (1, 1));

    // Nothing is cached: a call after the flight landed runs again.
    assert_eq!(card(7).await.unwrap(), "card of 7");
    assert_eq!(CARD_RUNS.of(7), 2);
}

#[tokio::test(start_paused = true)]
async fn the_error_is_every_waiting_calls() {
    let (a, b) = fan_out!(card(0), card(0)).await.unwrap();
    assert!(matches!(a, Err(TaskError::Failed(Unavailable))));
    assert!(matches!(b, Err(TaskError::Failed(Unavailable))));
    assert_eq!(CARD_RUNS.of(0), 1);
}

static SLOW_RUNS: Runs = Runs::new();

/// 100 ms of work per run, under a 150 ms timeout.
#[task(best_effort, timeout = "150ms", coalesce(key = user_id, capacity = 1))]
async fn slow_card(user_id: u64) -> Result<u64, Unavailable> {
    SLOW_RUNS.add(user_id);
    sleep(ms(100)).await;
    Ok(user_id)
}

#[tokio::test(start_paused = true)]
async fn a_leader_timed_out_hands_the_flight_to_a_waiting_call() {
    let start = Instant::now();
    let leader = slow_card(1).timeout(ms(30));
    let waiting = async {
        sleep(ms(10)).await;
        slow_card(1).await
    };
    let (leader, waiting) = tokio::join!(leader.into_future(), waiting);
    assert!(matches!(leader, Err(TaskError::TimedOut(_))));
    // It took over at 30 ms and ran the work for 100 ms, within its own 150 ms.
    assert_eq!(waiting.unwrap(), 1);
    assert_eq!(start.elapsed(), ms(130));
    assert_eq!(SLOW_RUNS.of(1), 2);
}

#[tokio::test(start_paused = true)]
async fn past_its_capacity_a_call_runs_alone() {
    // `capacity = 1`: user 2's flight fills the group, so user 3's calls each run alone.
    let (a, b, c) = fan_out!(slow_card(2), slow_card(3), slow_card(3))
        .await
        .unwrap();
    assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (2, 3, 3));
    assert_eq!((SLOW_RUNS.of(2), SLOW_RUNS.of(3)), (1, 2));
}

/// A client that owns its group: two clients coalesce apart.
struct Client {
    runs: AtomicU32,
    cards: Coalesce<String, String, Unavailable>,
    policy: Policy,
}

impl Client {
    fn new() -> Self {
        Self {
            runs: AtomicU32::new(0),
            cards: Coalesce::new().name("cards"),
            policy: Policy::builder().retry(Retry::new(2)).build().unwrap(),
        }
    }

    /// Keyed by a borrowed `&str`, read as a `String`; retried under the client's policy.
    #[task(
        best_effort,
        timeout = "150ms",
        policy = self.policy,
        coalesce(key = region, group = self.cards)
    )]
    async fn card(&self, region: &str) -> Result<String, Unavailable> {
        // The first run fails, and the retry inside the flight succeeds.
        match self.runs.fetch_add(1, Ordering::Relaxed) {
            0 => Err(Unavailable),
            _ => {
                sleep(ms(20)).await;
                Ok(format!("card for {region}"))
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_group_given_is_the_owners_and_wraps_the_policy() {
    let (one, two) = (Client::new(), Client::new());
    let (a, b, c) = fan_out!(one.card("eu"), one.card("eu"), two.card("eu"))
        .await
        .unwrap();
    assert_eq!(a.unwrap(), "card for eu");
    assert_eq!(b.unwrap(), "card for eu");
    assert_eq!(c.unwrap(), "card for eu");
    // One flight per client, each a failed attempt and its retry.
    assert_eq!(one.runs.load(Ordering::Relaxed), 2);
    assert_eq!(two.runs.load(Ordering::Relaxed), 2);
    assert_eq!(one.cards.in_flight(), 0);
}

static GENERIC_RUNS: Runs = Runs::new();

/// A generic fn: each instantiation coalesces in a group of its own.
#[task(best_effort, coalesce(key = id))]
async fn echo<T: Clone + Send + Sync + 'static>(id: u64, value: T) -> Result<T, Unavailable> {
    GENERIC_RUNS.add(id);
    sleep(ms(5)).await;
    Ok(value)
}

#[tokio::test(start_paused = true)]
async fn a_generic_fns_instantiations_coalesce_apart() {
    let (a, b, c, d) = fan_out!(
        echo(1, 10u32),
        echo(1, 11u32),
        echo(1, "ten"),
        echo(1, "eleven")
    )
    .await
    .unwrap();
    // The same key shares within each type: the second call of each takes the first's value.
    assert_eq!((a.unwrap(), b.unwrap()), (10, 10));
    assert_eq!((c.unwrap(), d.unwrap()), ("ten", "ten"));
    assert_eq!(GENERIC_RUNS.of(1), 2);
}

#[tokio::test(start_paused = true)]
async fn spawned_calls_share_the_fns_group() {
    // `spawn` takes `Send + 'static` work: the fn's group is a `static` every call reaches.
    let calls: Vec<_> = (0..4)
        .map(|_| tokio::spawn(card(99).into_future()))
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), "card of 99");
    }
    assert_eq!(CARD_RUNS.of(99), 1);
}
