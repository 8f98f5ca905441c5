//! `fan_out!` with per-task timeouts and a deadline allocates nothing, counted with a
//! counting global allocator on the test's own thread after a warm-up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use runner_core::{TaskError, fan_out, task};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counting touches
// only `const`-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Debug, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

#[task(critical, timeout = "200ms")]
async fn get_balance(user_id: u64) -> Result<u64, Unavailable> {
    tokio::task::yield_now().await;
    Ok(user_id * 100)
}

#[task(best_effort, timeout = "150ms")]
async fn get_scratch_card(_user_id: u64) -> Result<u64, Unavailable> {
    tokio::task::yield_now().await;
    Err(Unavailable)
}

async fn one_request(user_id: u64) {
    let (balance, card) =
        fan_out!(deadline = "300ms"; get_balance(user_id), get_scratch_card(user_id))
            .await
            .unwrap();
    assert_eq!(balance, user_id * 100);
    assert!(matches!(card, Err(TaskError::Failed(Unavailable))));
}

#[test]
fn fan_out_with_timeouts_and_a_deadline_allocates_nothing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let allocations = runtime.block_on(async {
        for user_id in 0..10 {
            one_request(user_id).await;
        }
        ARMED.with(|armed| armed.set(true));
        for user_id in 0..1_000 {
            one_request(user_id).await;
        }
        ARMED.with(|armed| armed.set(false));
        ALLOCATIONS.with(Cell::get)
    });
    assert_eq!(allocations, 0, "allocations over 1,000 fan-outs");
}
