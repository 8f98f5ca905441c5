//! Model checks of the state a policy's callers share, with loom: every interleaving of two
//! or three callers at our synchronization points (the breaker's lock and override, the
//! gate's count, the live settings, the keyed map's template, the budget's counters, the
//! rate limiter's turns).
//!
//! `RUSTFLAGS="--cfg runner_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p runner-core --release
//! --lib policy::model` (`.ci/run` runs it so, in about 20 s; the three-caller models do not
//! finish unbounded in minutes; see RELIABILITY.md).

use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use tokio::time::Instant;

use crate::policy::{Breaker, Limit, Policy, PolicyMap, PolicySettings, Retry};
use crate::{BreakerState, Budget};

fn breaker(cooldown: Duration) -> Breaker {
    Breaker::new(1, Duration::from_secs(10), cooldown)
}

/// A policy whose breaker one failure opens for a nanosecond, open and past its cooldown: the
/// next attempt is its probe.
fn half_open() -> Arc<Policy> {
    half_open_with(breaker(Duration::from_nanos(1)))
}

/// A policy with `breaker`, which one failure opens, open and past its cooldown.
fn half_open_with(breaker: Breaker) -> Arc<Policy> {
    let policy = Arc::new(Policy::builder().breaker(breaker).build().unwrap());
    let config = policy.settings().breaker;
    let permit = policy.admit("t", config.as_ref(), None).unwrap().unwrap();
    permit.failed(None);
    let opened = Instant::now();
    while Instant::now() <= opened + Duration::from_nanos(1) {
        std::hint::spin_loop();
    }
    policy
}

/// However three callers interleave, at most one probe is out at a time, and one got through.
#[test]
fn a_half_open_breaker_has_one_probe_out_at_a_time() {
    loom::model(|| {
        let policy = half_open();
        let out = Arc::new(AtomicUsize::new(0));
        let probes = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let (policy, out, probes) = (policy.clone(), out.clone(), probes.clone());
                thread::spawn(move || {
                    let config = policy.settings().breaker;
                    if let Ok(Some(permit)) = policy.admit("t", config.as_ref(), None) {
                        if permit.is_probe() {
                            assert_eq!(out.fetch_add(1, Ordering::SeqCst), 0, "two probes out");
                            probes.fetch_add(1, Ordering::SeqCst);
                            out.fetch_sub(1, Ordering::SeqCst);
                        }
                        // Neither a success nor a failure: the probe is released.
                        permit.ignored();
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        assert!(probes.load(Ordering::SeqCst) >= 1);
        assert_eq!(policy.breaker_state(), Some(BreakerState::HalfOpen));
    });
}

/// A trial of two calls: however three callers interleave, never three trial calls out, and
/// each place a released call gives back is taken again.
#[test]
fn a_half_open_trial_has_at_most_its_calls_out() {
    loom::model(|| {
        let trial = Breaker::count_based(1, Duration::from_nanos(1)).half_open(2, 1.0);
        let policy = half_open_with(trial);
        let out = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let (policy, out) = (policy.clone(), out.clone());
                thread::spawn(move || {
                    let config = policy.settings().breaker;
                    if let Ok(Some(permit)) = policy.admit("t", config.as_ref(), None) {
                        assert!(permit.is_probe());
                        assert!(
                            out.fetch_add(1, Ordering::SeqCst) < 2,
                            "three trial calls out"
                        );
                        out.fetch_sub(1, Ordering::SeqCst);
                        permit.ignored();
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        assert_eq!(policy.breaker_state(), Some(BreakerState::HalfOpen));
        // Every place given back: two more trial calls get in.
        let config = policy.settings().breaker;
        let first = policy.admit("t", config.as_ref(), None).unwrap().unwrap();
        let second = policy.admit("t", config.as_ref(), None).unwrap().unwrap();
        assert!(policy.admit("t", config.as_ref(), None).is_err());
        first.succeeded();
        second.succeeded();
        assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    });
}

/// A probe that succeeds closes the breaker once, whoever else is refused meanwhile.
#[test]
fn a_probe_that_succeeds_closes_the_breaker() {
    loom::model(|| {
        let policy = half_open();
        let admitted = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (policy, admitted) = (policy.clone(), admitted.clone());
                thread::spawn(move || {
                    let config = policy.settings().breaker;
                    if let Ok(Some(permit)) = policy.admit("t", config.as_ref(), None) {
                        admitted.fetch_add(1, Ordering::SeqCst);
                        permit.succeeded();
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        assert!(admitted.load(Ordering::SeqCst) >= 1);
        assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    });
}

/// Three callers through a limit of two: never three inside, and every place given back.
#[test]
fn the_gate_never_lets_more_in_than_its_limit_and_leaks_no_place() {
    loom::model(|| {
        let policy = Arc::new(Policy::builder().build().unwrap());
        let inside = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let (policy, inside) = (policy.clone(), inside.clone());
                thread::spawn(move || {
                    if let Some(pass) = policy.gate.try_enter(&policy, &Limit::new(2), "t", true) {
                        assert!(inside.fetch_add(1, Ordering::SeqCst) < 2, "three inside");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(pass);
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        assert_eq!(policy.in_flight(), 0);
    });
}

/// A policy with a limit of one call in flight.
fn limit_of_one() -> Arc<Policy> {
    Arc::new(Policy::builder().limit(Limit::new(1)).build().unwrap())
}

/// A caller, `critical` or not, that waits for a place under a limit of one, gets one, and
/// gives it back.
fn waiter(policy: &Arc<Policy>, critical: bool) -> thread::JoinHandle<()> {
    let policy = policy.clone();
    thread::spawn(move || {
        let entered = policy.gate.wait(&policy, Limit::new(1), "t", critical);
        let pass = loom::future::block_on(entered).unwrap();
        assert!(pass.is_some());
        drop(pass);
    })
}

/// Two callers through a limit of one, each waiting for the other's place if it must: both
/// get in, whichever way the freeing and the waiting interleave (a wake-up lost between a
/// waiter's check and its sleep would be a deadlock, which loom reports).
#[test]
fn a_place_freed_while_a_caller_starts_waiting_lets_it_in() {
    loom::model(|| {
        let policy = limit_of_one();
        let callers: Vec<_> = (0..2).map(|_| waiter(&policy, true)).collect();
        for caller in callers {
            caller.join().unwrap();
        }
        assert_eq!(policy.in_flight(), 0);
        assert_eq!(policy.gate.waiting(), 0);
    });
}

/// A critical and a best-effort caller wait for the one place a third holds: whichever way
/// the freeing and the waiting interleave, both get in (no wake-up lost to the hand-over
/// from the critical waiter to the best-effort one), and every place is given back.
#[test]
fn a_place_freed_goes_to_each_kind_of_waiter_in_turn() {
    loom::model(|| {
        let policy = limit_of_one();
        let held = policy
            .gate
            .try_enter(&policy, &Limit::new(1), "t", true)
            .expect("a free place");
        let callers: Vec<_> = [true, false]
            .into_iter()
            .map(|critical| waiter(&policy, critical))
            .collect();
        drop(held);
        for caller in callers {
            caller.join().unwrap();
        }
        assert_eq!(policy.in_flight(), 0);
        assert_eq!(policy.gate.waiting(), 0);
    });
}

/// An update, a reset and a reader at once: the reader sees the old settings or the new,
/// never a mix, and the update is never undone by the reset.
#[test]
fn a_reload_is_seen_whole_and_survives_a_reset() {
    loom::model(|| {
        let old = PolicySettings::new()
            .timeout(Duration::from_millis(200))
            .breaker(breaker(Duration::from_secs(5)));
        let new = PolicySettings::new()
            .timeout(Duration::from_millis(100))
            .breaker(Breaker::new(
                3,
                Duration::from_secs(1),
                Duration::from_secs(1),
            ));
        let policy = Arc::new(crate::PolicyBuilder::from(old).build().unwrap());
        let updater = {
            let policy = policy.clone();
            thread::spawn(move || policy.update(new).unwrap())
        };
        let resetter = {
            let policy = policy.clone();
            thread::spawn(move || policy.reset())
        };
        let seen = policy.settings();
        assert!(seen == old || seen == new, "{seen:?}");
        updater.join().unwrap();
        resetter.join().unwrap();
        assert_eq!(policy.settings(), new);
        assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
    });
}

/// Two callers of one key and an update at once: one policy for the key, with the new
/// settings whichever built it.
#[test]
fn a_keyed_map_builds_one_policy_per_key_under_the_latest_template() {
    loom::model(|| {
        let map = Arc::new(
            PolicyMap::new(
                Policy::builder().breaker(breaker(Duration::from_secs(5))),
                8,
            )
            .unwrap(),
        );
        let new = PolicySettings::new().breaker(breaker(Duration::from_secs(1)));
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let map = map.clone();
                thread::spawn(move || map.get(&1_u32))
            })
            .collect();
        map.update(new).unwrap();
        let got: Vec<_> = getters.into_iter().map(|g| g.join().unwrap()).collect();
        assert!(std::sync::Arc::ptr_eq(&got[0], &got[1]));
        assert_eq!(map.get(&1).settings(), new);
    });
}

/// Retries taken from the budget by two callers at once are each counted once.
#[test]
fn the_budgets_counts_are_exact() {
    loom::model(|| {
        let budget = Budget::new(0.2, Duration::from_secs(10), 10);
        let policy = Arc::new(
            Policy::builder()
                .retry(Retry::new(2).budget(budget))
                .build()
                .unwrap(),
        );
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let policy = policy.clone();
                thread::spawn(move || {
                    policy.start_call();
                    policy.budget_withdraw()
                })
            })
            .collect();
        let allowed = callers
            .into_iter()
            .map(|caller| caller.join().unwrap())
            .filter(|allowed| *allowed)
            .count() as u64;
        let report = policy.retry_budget().unwrap();
        assert_eq!((report.retried, report.refused), (allowed, 2 - allowed));
        assert_eq!(allowed, 2, "10 a second allows both");
    });
}

/// However three callers interleave their reservations, and one gives its turn back and
/// reserves again, no two turns kept are the same.
#[test]
fn rate_limit_turns_kept_are_distinct() {
    loom::model(|| {
        let limiter =
            std::sync::Arc::new(crate::policy::RateLimit::new(1, Duration::from_secs(1)).limiter());
        let now = Instant::now();
        // The burst (one turn) is taken: every caller reserves one ahead.
        assert!(limiter.reserve(now, None).unwrap().is_none());
        let reserve = move |limiter: &std::sync::Arc<super::rate::Limiter>| {
            let turn = limiter.reserve(now, None).unwrap().expect("a turn ahead");
            let at = turn.at;
            turn.used();
            at
        };
        let callers: Vec<_> = (0..3)
            .map(|caller| {
                let limiter = limiter.clone();
                thread::spawn(move || {
                    if caller == 0 {
                        // It stops waiting: its turn is given back, if no later one was taken.
                        drop(limiter.reserve(now, None));
                    }
                    reserve(&limiter)
                })
            })
            .collect();
        let mut kept: Vec<Instant> = callers
            .into_iter()
            .map(|caller| caller.join().unwrap())
            .collect();
        kept.sort();
        kept.dedup();
        assert_eq!(kept.len(), 3, "two calls kept one turn");
    });
}

/// A limit raised by `update` while a caller starts waiting for the one place a
/// holder keeps: the caller gets in without the holder leaving ("a higher one lets waiting
/// calls in at once"). The holder leaves only after the caller is in, so a wake-up lost
/// between the caller's read of the limit and its registration is a deadlock.
#[test]
fn a_limit_raised_while_a_caller_starts_waiting_lets_it_in() {
    loom::model(|| {
        let policy = limit_of_one();
        let held = policy
            .gate
            .try_enter(&policy, &Limit::new(1), "t", true)
            .expect("a free place");
        // It waits under the limit it read as it started: one.
        let caller = waiter(&policy, true);
        let raised = policy.settings().limit(Limit::new(2));
        policy.update(raised).unwrap();
        caller.join().unwrap();
        drop(held);
    });
}

/// A critical waiter woken for the freed place is dropped (its timeout) before it
/// takes it; the best-effort waiter still gets the place.
#[test]
fn a_critical_waiter_dropped_after_its_wake_up_hands_the_place_on() {
    use std::future::Future;
    loom::model(|| {
        let policy = limit_of_one();
        let held = policy
            .gate
            .try_enter(&policy, &Limit::new(1), "t", true)
            .expect("a free place");
        // The critical waiter, polled once (it registers), then dropped on another thread
        // after the place is freed.
        let critical = policy.clone();
        let critical = thread::spawn(move || {
            let entered = critical.gate.wait(&critical, Limit::new(1), "t", true);
            let mut entered = Box::pin(entered);
            let waker = futures::task::noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            let polled = entered.as_mut().poll(&mut cx);
            drop(polled);
            thread::yield_now();
            drop(entered);
        });
        let best_effort = waiter(&policy, false);
        drop(held);
        critical.join().unwrap();
        best_effort.join().unwrap();
        assert_eq!(policy.in_flight(), 0);
        assert_eq!(policy.gate.waiting(), 0);
    });
}
