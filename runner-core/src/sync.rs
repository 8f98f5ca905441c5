//! The synchronization the policies share their state with: std's and arc-swap's, or loom's
//! when the state is model-checked (`RUSTFLAGS="--cfg runner_loom"`, see RELIABILITY.md).
//!
//! Third-party state (tower's retry budget, quick_cache's shards, tokio's `Notify`) stays as
//! it is under loom: it takes no loom step inside, so the model sees each of its calls as one
//! step, and explores every interleaving of ours around them. What loom cannot see is the
//! order such a call makes between threads: [`Notify`] adds, in the model only, the one our
//! code relies on.

use std::ops::Deref;
use std::sync::Arc;

#[cfg(runner_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(runner_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(runner_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(not(runner_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// A value replaced whole and read without a lock: arc-swap's `ArcSwap` (a read is a few
/// loads and a thread-local slot, no shared write), or a loom `Mutex` in the model.
pub(crate) struct Swap<T> {
    #[cfg(not(runner_loom))]
    inner: arc_swap::ArcSwap<T>,
    #[cfg(runner_loom)]
    inner: Mutex<Arc<T>>,
}

impl<T> Swap<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(runner_loom))]
            inner: arc_swap::ArcSwap::from_pointee(value),
            #[cfg(runner_loom)]
            inner: Mutex::new(Arc::new(value)),
        }
    }

    /// The value now, to read briefly (not across an `.await`).
    #[inline]
    pub(crate) fn load(&self) -> impl Deref<Target = Arc<T>> + '_ {
        #[cfg(not(runner_loom))]
        return self.inner.load();
        #[cfg(runner_loom)]
        return Box::new(Arc::clone(&self.inner.lock().unwrap()));
    }

    /// The value now, to keep.
    pub(crate) fn load_full(&self) -> Arc<T> {
        #[cfg(not(runner_loom))]
        return self.inner.load_full();
        #[cfg(runner_loom)]
        return Arc::clone(&self.inner.lock().unwrap());
    }

    pub(crate) fn store(&self, value: Arc<T>) {
        #[cfg(not(runner_loom))]
        self.inner.store(value);
        #[cfg(runner_loom)]
        {
            *self.inner.lock().unwrap() = value;
        }
    }
}

/// tokio's `Notify`, and in the model the order it makes from a notification to the wake-up
/// it causes: what a woken waiter reads next must include what the notifier wrote before
/// notifying, as tokio's own lock ensures, unseen by loom.
#[derive(Debug)]
pub(crate) struct Notify {
    inner: tokio::sync::Notify,
    #[cfg(runner_loom)]
    order: AtomicUsize,
}

impl Notify {
    pub(crate) fn new() -> Self {
        Self {
            inner: tokio::sync::Notify::new(),
            #[cfg(runner_loom)]
            order: AtomicUsize::new(0),
        }
    }

    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.notified()
    }

    /// To be called by a waiter once its `notified()` is ready.
    #[inline]
    pub(crate) fn woken(&self) {
        #[cfg(runner_loom)]
        self.order
            .fetch_add(0, std::sync::atomic::Ordering::Acquire);
    }

    pub(crate) fn notify_one(&self) {
        #[cfg(runner_loom)]
        self.order
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        self.inner.notify_one();
    }

    pub(crate) fn notify_waiters(&self) {
        #[cfg(runner_loom)]
        self.order
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        self.inner.notify_waiters();
    }
}
