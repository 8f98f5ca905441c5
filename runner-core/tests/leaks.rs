//! No leaks: 100,000 fan-outs on both engines, ended every way a fan-out can end (success,
//! critical failure, deadline, dropped future, cancellation token, aborted spawned task),
//! leave no live runtime task behind and the heap where it started.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use runner_core::{CancellationToken, FanOut, Task, TaskRunner};
use support::{Act, Probe, ms};

/// Counts the bytes allocated and not yet freed, across all threads.
struct Live;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counting is one
// atomic add, which never allocates.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

const FAN_OUTS: usize = 100_000;

/// One fan-out, ended the way `round` picks, on the engine `round` picks.
async fn one(round: usize, probe: &Probe) {
    let token = CancellationToken::new();
    let ending = round % 6;
    let (critical_act, deadline) = match ending {
        0 => (Act::Ok, None),       // success
        1 => (Act::Err, None),      // critical failure
        2 => (Act::Hang, Some(30)), // deadline with a critical task pending
        _ => (Act::Hang, None),     // dropped, cancelled or aborted below
    };
    let critical = Task::critical("critical", probe.task(10, critical_act, 1)).timeout(ms(100));
    let best_effort = Task::best_effort("best_effort", probe.task(5, Act::Hang, 2)).timeout(ms(50));
    let run: std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> =
        if round.is_multiple_of(2) {
            let mut fan_out = FanOut::new((critical, best_effort)).cancel_on(token.clone());
            if let Some(deadline) = deadline {
                fan_out = fan_out.deadline(ms(deadline));
            }
            Box::pin(async move { fan_out.await.is_ok() })
        } else {
            let mut runner = TaskRunner::new().cancel_on(token.clone());
            if let Some(deadline) = deadline {
                runner = runner.deadline(ms(deadline));
            }
            let _ = runner.add(critical);
            let _ = runner.add(best_effort);
            Box::pin(async move { runner.run_all().await.is_ok() })
        };
    match ending {
        0..=2 => {
            let succeeded = run.await;
            assert_eq!(succeeded, ending == 0);
        }
        3 => assert!(
            tokio::time::timeout(ms(20), run).await.is_err(),
            "dropped while pending"
        ),
        4 => {
            let cancel = async {
                tokio::time::sleep(ms(20)).await;
                token.cancel();
            };
            let (succeeded, ()) = tokio::join!(run, cancel);
            assert!(!succeeded);
        }
        _ => {
            let spawned = tokio::spawn(run);
            tokio::time::sleep(ms(20)).await;
            spawned.abort();
            assert!(spawned.await.unwrap_err().is_cancelled());
        }
    }
}

#[test]
fn a_hundred_thousand_fan_outs_leave_nothing_behind() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let probe = Probe::new();
    // Warm up, so that the runtime's own queues and the timer wheel have their working size.
    runtime.block_on(async {
        for round in 0..600 {
            one(round, &probe).await;
        }
    });
    let before = LIVE_BYTES.load(Ordering::SeqCst);
    runtime.block_on(async {
        for round in 0..FAN_OUTS {
            one(round, &probe).await;
        }
        // Let aborted tasks finish being torn down.
        tokio::time::sleep(Duration::from_millis(1)).await;
    });
    let after = LIVE_BYTES.load(Ordering::SeqCst);
    assert_eq!(probe.alive(), 0, "every task future was dropped");
    assert_eq!(
        runtime.metrics().num_alive_tasks(),
        0,
        "no runtime task is left"
    );
    assert_eq!(
        after - before,
        0,
        "live heap bytes after {FAN_OUTS} fan-outs, less before"
    );
}
