//! Request coalescing (singleflight): concurrent calls with the same key share one run of
//! the work, and each gets its result.
//!
//! A [`Coalesce`] group holds the flights in progress, one per key. The first call with a
//! key leads its flight: it runs its own future, as it would alone. A call with the same key
//! that comes while the flight runs waits for it instead, and gets a clone of its result.
//!
//! A call ends as it would alone: at its own timeout, its own deadline, or when it is
//! dropped. When the leading call ends before its work did, its work is dropped with it (no
//! work outlives the calls that want it), and a waiting call takes the flight over by
//! running its own future: the others wait on. The work starts again then; keeping it would
//! mean running it apart from every call, spawned, boxed and `'static`.
//!
//! Why not a crate: `tower-resilience-coalesce` (0.14) fails every waiting call with
//! `LeaderCancelled` when the first caller goes away, re-polls a waiting call at once
//! instead of waking it, and boxes each call's future and a broadcast channel per key;
//! `async_singleflight` (0.6) hands a dropped leader's flight over as we do, but gives the
//! waiting calls `Err(None)` for the leader's error (the typed error is lost), takes an
//! async mutex per call and allocates a `watch` channel per flight. Here the calls share
//! the typed result, fallback included, and the table allocates nothing per call once it
//! has grown.

mod flight;
mod per_fn;
mod table;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use crate::observe::Observer;
use crate::policy::error::PolicyError;
use crate::policy::event::{self, EventKind, PolicyEvent};
use crate::sync::Mutex;

pub use self::flight::Coalesced;
pub use self::per_fn::FnGroup;
use self::table::Flights;

/// A group of calls coalesced by key: calls with the same key made while one of them runs
/// share its result.
///
/// The first call with a key leads its flight and runs its own future; the calls with the
/// same key that come while it runs wait and take a clone of its result. Each call keeps its
/// own timeout and deadline. When the leader ends first (its timeout, its drop, a refusal),
/// its work is dropped with it, and a waiting call takes the flight over with its own future:
/// the work starts again, and no work outlives the calls that want it. Nothing is cached: a
/// call after the flight ended starts a new one.
///
/// The leader's value, error or fallback is shared, except one that the leader's own time
/// shaped, which a waiting call with more time left would not have got: an error from a run
/// inside that failed on the deadline it inherited, a fallback given at the leader's cutoff,
/// or the last error when a retry was refused because it would not end before the leader's
/// deadline. That result is the leader's alone, and a waiting call takes the flight over. A
/// downstream service's own answer to the leader's budget (a 504 for the deadline a
/// `runner_http::Propagate` sent it) is not told apart: it is shared as any
/// error is.
///
/// `T` and `E` are the calls' value and error, cloned for each waiting call: wrap an error
/// that is not `Clone` in an `Arc` (`Arc<E>` is an error where `E` is). Give each kind of
/// call its own group; `#[task(coalesce(key = ...))]` makes one per fn.
///
/// **Allocation.** The table of flights grows to the most keys in flight at once and is
/// reused, so a call whose key holds nothing on the heap (a number, an id) allocates nothing.
/// A key that does (a `String`) is cloned into the table by the call that starts its flight,
/// and the attribute form makes an owned key from each call's `&str`: one or two allocations
/// a call, which the table's key must have.
///
/// **A full group.** Past its capacity of keys in flight, a call with a new key runs on its
/// own, uncoalesced, and says so with [`EventKind::CoalesceFull`].
///
/// **Why not a crate.** `tower-resilience-coalesce` (0.14) fails every waiting call with
/// `LeaderCancelled` when the first caller goes away, and boxes each call's future and a
/// broadcast channel per key. `async_singleflight` (0.6) hands a dropped leader's flight
/// over as this does, but gives the waiting calls an untyped `LeaderFailed` for the
/// leader's error, takes an async mutex per call and allocates a `watch` channel per
/// flight. Here the calls share the typed result, fallback included, with no allocation
/// per call for a plain key.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use runner_core::policy::Coalesce;
/// use runner_core::{Task, fan_out};
///
/// static CALLS: AtomicU32 = AtomicU32::new(0);
///
/// // The error is shared with every waiting call: `Arc` makes it `Clone`.
/// async fn fetch_card(user_id: u64) -> Result<String, Arc<std::io::Error>> {
///     CALLS.fetch_add(1, Ordering::Relaxed);
///     tokio::time::sleep(Duration::from_millis(20)).await;
///     Ok(format!("card of {user_id}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cards: Coalesce<u64, String, Arc<std::io::Error>> = Coalesce::new();
/// let card = |user_id| {
///     Task::best_effort("card", fetch_card(user_id))
///         .timeout(Duration::from_millis(150))
///         .coalesce(&cards, user_id)
/// };
/// let (first, second) = fan_out!(card(7), card(7)).await.unwrap();
/// assert_eq!(first.unwrap(), "card of 7");
/// assert_eq!(second.unwrap(), "card of 7");
/// assert_eq!(CALLS.load(Ordering::Relaxed), 1);
/// # }
/// ```
pub struct Coalesce<K, T, E> {
    flights: Mutex<Flights<K, Result<T, E>>>,
    capacity: usize,
    name: Cow<'static, str>,
    observer: Option<Arc<dyn Observer>>,
}

impl<K, T, E> Coalesce<K, T, E> {
    /// How many keys a group coalesces at once, unless told: past it, a call with a new key
    /// runs on its own.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A group of up to [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) keys in flight.
    pub fn new() -> Self {
        Self::build(Self::DEFAULT_CAPACITY)
    }

    /// A group of up to `capacity` keys in flight at once; a call with a new key when it
    /// is full runs on its own, uncoalesced. Zero is refused.
    pub fn with_capacity(capacity: usize) -> Result<Self, PolicyError> {
        match capacity {
            0 => Err(PolicyError::new("coalesce.capacity", CAPACITY_ZERO)),
            capacity => Ok(Self::build(capacity)),
        }
    }

    fn build(capacity: usize) -> Self {
        Self {
            flights: Mutex::new(Flights::new()),
            capacity,
            name: Cow::Borrowed(""),
            observer: None,
        }
    }

    /// Names the group in its events (as a policy's name, [`PolicyEvent::policy`]).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Gives the group's events to `observer` instead of the process's.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// How many keys it coalesces at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The keys in flight now.
    pub fn in_flight(&self) -> usize {
        self.lock().keys()
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, Flights<K, Result<T, E>>> {
        // A panic never leaves the table half changed: the user code run under the lock (the
        // key's `Hash`, `Eq` and `Clone`, the result's `Clone`) runs before the change it
        // is for, and a call's role follows the change before an observer runs (see
        // `Coalesced::poll`). A key whose `Hash` or `Eq` panics only sometimes is beyond
        // this, as it is for a `HashMap`.
        self.flights
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn emit(&self, task: &'static str, kind: EventKind) {
        let observer = event::observer(self.observer.as_ref());
        if observer.is_some() || event::traced() {
            self.emit_to(observer, task, kind);
        }
    }

    #[cold]
    #[inline(never)]
    fn emit_to(&self, observer: Option<&dyn Observer>, task: &'static str, kind: EventKind) {
        let event = PolicyEvent {
            task,
            label: crate::context::label(),
            policy: &self.name,
            kind,
        };
        event::emit(observer, event);
    }
}

impl<K, T, E> Coalesce<K, T, E>
where
    K: Hash + Eq + Clone,
    T: Clone,
    E: Clone,
{
    /// `future`, coalesced with the calls of the same `key` in flight: the call that task
    /// `task` makes. [`Task::coalesce`](crate::Task::coalesce) is this inside a task's timeout.
    pub fn call<F>(&self, task: &'static str, key: K, future: F) -> Coalesced<'_, K, T, E, F>
    where
        F: Future<Output = Result<T, E>>,
    {
        Coalesced::new(self, task, key, future)
    }
}

impl<K, T, E> Default for Coalesce<K, T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, T, E> fmt::Debug for Coalesce<K, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coalesce")
            .field("name", &self.name)
            .field("capacity", &self.capacity)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// Held word for word to `#[task(coalesce(capacity = 0))]`'s compile-time message.
pub(crate) const CAPACITY_ZERO: &str =
    "a coalescing group holds at least one key: `capacity` must be at least 1";

/// A [`Coalesce`] group's settings in a config file (the `serde` feature): its capacity.
/// The key is the code's, as the calls are.
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoalesceConfig {
    /// How many keys it coalesces at once (see [`Coalesce::with_capacity`]).
    #[cfg_attr(feature = "serde", serde(default = "default_capacity"))]
    pub capacity: usize,
}

#[cfg(feature = "serde")]
fn default_capacity() -> usize {
    Coalesce::<(), (), ()>::DEFAULT_CAPACITY
}

impl Default for CoalesceConfig {
    fn default() -> Self {
        Self {
            capacity: Coalesce::<(), (), ()>::DEFAULT_CAPACITY,
        }
    }
}

impl CoalesceConfig {
    /// The group these settings give, or the error naming the field that cannot work.
    pub fn group<K, T, E>(&self) -> Result<Coalesce<K, T, E>, PolicyError> {
        Coalesce::with_capacity(self.capacity)
    }

    /// The settings, checked as [`group`](Self::group) checks them.
    pub fn check(&self) -> Result<(), PolicyError> {
        self.group::<(), (), ()>().map(drop)
    }
}
