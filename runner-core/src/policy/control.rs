//! What a policy tells and what an operator (or a test) can do to it: read its state, replace
//! its settings live, reset it, force its breaker open or closed.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tower::retry::budget::Budget as _;

use crate::observe::Observer;
use crate::policy::breaker_state::BreakerState;
use crate::policy::error::PolicyError;
use crate::policy::event::{self, EventKind, PolicyEvent};
use crate::policy::retry::Budget;
use crate::policy::settings::PolicySettings;
use crate::policy::{Live, Policy};
use crate::sync::AtomicU64;

/// A retry budget's settings and what it has done, from [`Policy::retry_budget`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BudgetReport {
    /// Its settings.
    pub budget: Budget,
    /// Retries made since the policy was built or reset.
    pub retried: u64,
    /// Retries the budget refused since then.
    pub refused: u64,
    /// Hedges charged to the budget since then (a policy with a retry charges each hedge
    /// to its budget, as Finagle's backup requests are).
    pub hedged: u64,
    /// Hedges the budget refused since then.
    pub hedges_refused: u64,
}

impl Policy {
    /// The policy's settings now: what a call that starts now goes by.
    pub fn settings(&self) -> PolicySettings {
        self.live.load().settings
    }

    /// Replaces the policy's settings, for the calls that start from now (a call keeps the
    /// settings it started with). What still applies is kept: the breaker's state and
    /// counts, the calls in flight (a lower limit admits no new call until enough finish; a
    /// higher one lets waiting calls in at once), the retry budget unless its own settings
    /// change, and the rate limiter's turns unless its pace (interval and burst) changes: a
    /// new pace starts with its whole burst free, and the calls waiting for a turn read it
    /// at once. A breaker that is removed is reset, so that one added later starts
    /// closed.
    ///
    /// The new settings are checked first: on an error, nothing changes.
    pub fn update(&self, settings: PolicySettings) -> Result<(), PolicyError> {
        settings.check()?;
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.live.load_full();
        self.live.store(Arc::new(Live::new(settings, Some(&old))));
        self.timeout
            .store(super::timeout_nanos(settings.timeout), Ordering::Relaxed);
        if settings.breaker.is_none() && old.settings.breaker.is_some() {
            // An operator's force stays: it holds until `reset`.
            self.breaker.clear();
        }
        self.gate.wake_all();
        self.reloaded.notify_waiters();
        Ok(())
    }

    /// The policy's timeout now, if it has one: the timeout of a task built now.
    #[inline]
    pub fn timeout(&self) -> Option<Duration> {
        match self.timeout.load(Ordering::Relaxed) {
            super::NO_TIMEOUT => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// The policy's name (see [`PolicyBuilder::name`](crate::PolicyBuilder::name)).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the breaker stands, if the policy has one or an operator forced it.
    pub fn breaker_state(&self) -> Option<BreakerState> {
        let state = self.breaker.state();
        let forced = matches!(state, BreakerState::ForcedOpen | BreakerState::ForcedClosed);
        (forced || self.settings().breaker.is_some()).then_some(state)
    }

    /// How many calls hold a place under the limit now.
    pub fn in_flight(&self) -> usize {
        self.gate.in_flight()
    }

    /// The limit of calls in flight now, if the policy has one: a fixed limit's, or what an
    /// adaptive one has learned.
    pub fn limit_now(&self) -> Option<usize> {
        let limit = self.settings().limit?;
        Some(self.gate.limit(&limit))
    }

    /// The retry budget, if the policy retries: its settings and what it did.
    pub fn retry_budget(&self) -> Option<BudgetReport> {
        let retry = self.settings().retry?;
        Some(BudgetReport {
            budget: retry.budget,
            retried: self.retried.load(Ordering::Relaxed),
            refused: self.budget_refused.load(Ordering::Relaxed),
            hedged: self.hedged.load(Ordering::Relaxed),
            hedges_refused: self.hedges_refused.load(Ordering::Relaxed),
        })
    }

    /// Closes the breaker and forgets its counts, lifts any force, refills the retry budget
    /// and the rate limit's burst, and starts an adaptive limit again from its initial one: the policy as it was built, with its current settings. Calls in flight keep
    /// their places.
    pub fn reset(&self) {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let from = self.breaker.reset();
        let live = self.live.load_full();
        self.live.store(Arc::new(Live::new(live.settings, None)));
        drop(writer);
        self.reloaded.notify_waiters();
        self.gate.reset();
        for counter in [
            &self.retried,
            &self.budget_refused,
            &self.hedged,
            &self.hedges_refused,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        self.operator_moved(from, BreakerState::Closed);
    }

    /// Refuses every call with [`Rejection::BreakerOpen`](crate::Rejection::BreakerOpen)
    /// until [`reset`](Self::reset), breaker or not (resilience4j's forced-open state).
    pub fn force_open(&self) {
        let from = self.breaker.force(true);
        self.operator_moved(from, BreakerState::ForcedOpen);
    }

    /// Lets every call through, and counts none, until [`reset`](Self::reset).
    pub fn force_closed(&self) {
        let from = self.breaker.force(false);
        self.operator_moved(from, BreakerState::ForcedClosed);
    }

    fn operator_moved(&self, from: BreakerState, to: BreakerState) {
        if from != to {
            self.emit("", EventKind::BreakerChanged { from, to });
        }
    }

    /// `true` if an observer listens to this policy: what the events that need a clock read
    /// check first.
    #[inline]
    pub(crate) fn observed(&self) -> bool {
        event::observer(self.observer.as_ref()).is_some()
    }

    /// One event of a call of `task`: built only if an observer or a `tracing` subscriber
    /// may take it.
    #[inline]
    pub(crate) fn emit(&self, task: &'static str, kind: EventKind) {
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
            // An operator's event (no task) belongs to no call, whichever poll it came from.
            label: crate::context::label().filter(|_| !task.is_empty()),
            policy: &self.name,
            kind,
        };
        event::emit(observer, event);
    }

    /// The settings a call starts with, read once, its share paid into the retry budget if
    /// the policy retries: one load of the live settings for both. A call that a rate limit
    /// or a bulkhead may refuse pays in once they let it through ([`deposit`](Self::deposit)):
    /// a refused call earns no retries for the others.
    pub(crate) fn start_call(&self) -> PolicySettings {
        let live = self.live.load();
        if let (Some(budget), false) = (&live.budget, live.settings.gated()) {
            budget.deposit();
        }
        live.settings
    }

    /// Pays a call's share into the retry budget, if the policy retries.
    pub(crate) fn deposit(&self) {
        if let Some(budget) = &self.live.load().budget {
            budget.deposit();
        }
    }

    /// A retry, if the budget has one left.
    pub(crate) fn budget_withdraw(&self) -> bool {
        self.withdraw(&self.retried, &self.budget_refused)
    }

    /// A hedge, if the budget has one left (and always, without a retry and its budget).
    pub(crate) fn hedge_withdraw(&self) -> bool {
        self.withdraw(&self.hedged, &self.hedges_refused)
    }

    fn withdraw(&self, made: &AtomicU64, refused: &AtomicU64) -> bool {
        let live = self.live.load();
        let Some(budget) = &live.budget else {
            return true;
        };
        let allowed = budget.withdraw();
        let counter = match allowed {
            true => made,
            false => refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        allowed
    }

    /// `true` if an attempt made at `at` would be refused by the breaker, as far as can be
    /// told now.
    pub(crate) fn breaker_refuses_at(&self, at: Instant) -> bool {
        match self.breaker.forced() {
            Some(forced) => forced.is_err(),
            None => match self.settings().breaker {
                Some(config) => self.breaker.refuses_at(&config, at),
                None => false,
            },
        }
    }
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("settings", &self.settings())
            .field("breaker", &self.breaker.state())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}
