//! The outcomes a closed breaker judges: the last N calls, or the calls of the last stretch
//! of time, kept with running totals so that judging them is a few integer operations.

use std::time::Duration;

use tokio::time::Instant;

use crate::policy::breaker::BreakerWindow;

/// How one call went, as the window keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) failed: bool,
    pub(crate) slow: bool,
}

impl Outcome {
    const FAILED: u8 = 1;
    const SLOW: u8 = 2;

    fn byte(self) -> u8 {
        (u8::from(self.failed) * Self::FAILED) | (u8::from(self.slow) * Self::SLOW)
    }

    fn from_byte(byte: u8) -> Self {
        Self {
            failed: byte & Self::FAILED != 0,
            slow: byte & Self::SLOW != 0,
        }
    }
}

/// The calls in a window, and how many of them failed or were slow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

impl Counts {
    // Saturating: a long time window under heavy traffic may hold more than `u32::MAX`
    // calls; its rates are then judged on the counts as they stand.
    pub(crate) fn add(&mut self, outcome: Outcome) {
        self.calls = self.calls.saturating_add(1);
        self.failures = self.failures.saturating_add(u32::from(outcome.failed));
        self.slow = self.slow.saturating_add(u32::from(outcome.slow));
    }

    fn remove(&mut self, outcome: Outcome) {
        self.calls -= 1;
        self.failures -= u32::from(outcome.failed);
        self.slow -= u32::from(outcome.slow);
    }

    fn merge(mut self, other: Counts) -> Self {
        self.calls = self.calls.saturating_add(other.calls);
        self.failures = self.failures.saturating_add(other.failures);
        self.slow = self.slow.saturating_add(other.slow);
        self
    }
}

/// A time-based window is this many buckets, each a tenth of it.
const BUCKETS: usize = 10;

/// The outcomes of the window a breaker's settings name; empty until the first is recorded.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    kept: Option<Kept>,
}

// One per policy, in its breaker's lock: the buckets are kept inline rather than boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Kept {
    Calls {
        // One byte per call, oldest overwritten: allocated once, when the window is first
        // recorded in (or changed), never per call.
        ring: Box<[u8]>,
        next: usize,
        len: usize,
        totals: Counts,
    },
    Time {
        window: Duration,
        epoch: Instant,
        // The bucket that `index` is, in units of a tenth of the window since `epoch`.
        buckets: [(u64, Counts); BUCKETS],
    },
}

impl Outcomes {
    /// Forgets every outcome.
    pub(crate) fn clear(&mut self) {
        match &mut self.kept {
            None => {}
            Some(Kept::Calls {
                next, len, totals, ..
            }) => (*next, *len, *totals) = (0, 0, Counts::default()),
            Some(Kept::Time { buckets, .. }) => *buckets = Default::default(),
        }
    }

    /// Records `outcome` at `now` in `window` (a window other than the one kept starts
    /// empty), whose buckets, if it is time-based, are counted from `epoch`; gives the
    /// window's counts after it.
    pub(crate) fn record(
        &mut self,
        window: BreakerWindow,
        epoch: Instant,
        now: Instant,
        outcome: Outcome,
    ) -> Counts {
        let kept = match self.kept.take() {
            Some(kept) if kept.keeps(window) => self.kept.insert(kept),
            _ => self.kept.insert(Kept::new(window, epoch)),
        };
        match kept {
            Kept::Calls {
                ring,
                next,
                len,
                totals,
            } => {
                if *len == ring.len() {
                    totals.remove(Outcome::from_byte(ring[*next]));
                } else {
                    *len += 1;
                }
                ring[*next] = outcome.byte();
                *next = (*next + 1) % ring.len();
                totals.add(outcome);
                *totals
            }
            Kept::Time {
                window,
                epoch,
                buckets,
            } => {
                let index = bucket_index(*window, *epoch, now);
                let (at, counts) = &mut buckets[slot(index)];
                if *at != index {
                    (*at, *counts) = (index, Counts::default());
                }
                counts.add(outcome);
                in_window(buckets, index)
            }
        }
    }

    /// `true` if the outcomes kept are `window`'s.
    pub(crate) fn keeps(&self, window: BreakerWindow) -> bool {
        self.kept.as_ref().is_some_and(|kept| kept.keeps(window))
    }
}

impl Kept {
    fn keeps(&self, window: BreakerWindow) -> bool {
        match (self, window) {
            (Self::Calls { ring, .. }, BreakerWindow::Calls(calls)) => ring.len() == calls as usize,
            (Self::Time { window: kept, .. }, BreakerWindow::Time(window)) => *kept == window,
            _ => false,
        }
    }

    fn new(window: BreakerWindow, epoch: Instant) -> Self {
        match window {
            BreakerWindow::Calls(calls) => Self::Calls {
                ring: vec![0; calls.max(1) as usize].into_boxed_slice(),
                next: 0,
                len: 0,
                totals: Counts::default(),
            },
            BreakerWindow::Time(window) => Self::Time {
                window,
                epoch,
                buckets: Default::default(),
            },
        }
    }
}

/// Which tenth of `window` since `epoch` `now` is in.
fn bucket_index(window: Duration, epoch: Instant, now: Instant) -> u64 {
    let width = (window.as_nanos() / BUCKETS as u128).max(1);
    let index = now.saturating_duration_since(epoch).as_nanos() / width;
    u64::try_from(index).unwrap_or(u64::MAX)
}

fn slot(index: u64) -> usize {
    (index % BUCKETS as u64) as usize
}

/// The counts of the buckets still in the window when the newest is `index`.
fn in_window(buckets: &[(u64, Counts); BUCKETS], index: u64) -> Counts {
    let oldest = index.saturating_sub(BUCKETS as u64 - 1);
    buckets
        .iter()
        .filter(|(at, _)| (oldest..=index).contains(at))
        .fold(Counts::default(), |sum, (_, counts)| sum.merge(*counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Outcome = Outcome {
        failed: false,
        slow: false,
    };
    const FAILED: Outcome = Outcome {
        failed: true,
        slow: false,
    };
    const SLOW_FAILED: Outcome = Outcome {
        failed: true,
        slow: true,
    };

    #[test]
    fn a_count_window_keeps_the_last_calls() {
        let now = Instant::now();
        let mut outcomes = Outcomes::default();
        let window = BreakerWindow::Calls(3);
        outcomes.record(window, now, now, SLOW_FAILED);
        outcomes.record(window, now, now, OK);
        let full = outcomes.record(window, now, now, FAILED);
        assert_eq!((full.calls, full.failures, full.slow), (3, 2, 1));
        // The slow failure leaves.
        let after = outcomes.record(window, now, now, OK);
        assert_eq!((after.calls, after.failures, after.slow), (3, 1, 0));
        // Another size starts empty.
        let resized = outcomes.record(BreakerWindow::Calls(2), now, now, OK);
        assert_eq!(
            resized,
            Counts {
                calls: 1,
                ..Counts::default()
            }
        );
    }

    #[test]
    fn a_time_window_forgets_an_outcome_between_nine_and_ten_tenths_after_it() {
        let epoch = Instant::now();
        let window = BreakerWindow::Time(Duration::from_secs(10));
        let mut outcomes = Outcomes::default();
        let at = |ms: u64| epoch + Duration::from_millis(ms);
        outcomes.record(window, epoch, at(500), FAILED);
        // In the tenth bucket: still in.
        assert_eq!(outcomes.record(window, epoch, at(9_999), OK).failures, 1);
        // At 10 s, 9.5 s after the failure, its bucket leaves.
        let later = outcomes.record(window, epoch, at(10_000), OK);
        assert_eq!((later.calls, later.failures), (2, 0));
        // Long after, nothing but the newest.
        assert_eq!(outcomes.record(window, epoch, at(60_000), OK).calls, 1);
    }
}
