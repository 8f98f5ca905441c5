//! The adaptive limit's state: Vegas over the calls' latencies, AIMD on their errors (the
//! rules are on [`Adaptive`]).

use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::policy::limit::Adaptive;
use crate::sync::{AtomicUsize, Mutex};

/// What one call through an adaptive limit says of the dependency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Sample {
    /// It succeeded in this long.
    Succeeded(Duration),
    /// It failed with a counted error, or ran out of time: the dependency is overloaded.
    Overloaded,
    /// Nothing: refused, dropped unfinished, or failed with an error that is not counted.
    Ignored,
}

/// How often the latency without a queue is measured again: every this many times the
/// limit, in windows (Netflix's `probeMultiplier`, there in samples).
const PROBE_EVERY: f64 = 30.0;

/// The fewest samples a window averages (Netflix's `WindowedLimit` minimum).
const MIN_WINDOW: u32 = 10;

/// The limit learned, read by every call without a lock, and the estimate behind it,
/// updated under one as each call ends.
#[derive(Debug)]
pub(super) struct Learned {
    // The limit now; 0 until the first call sets it from the settings.
    now: AtomicUsize,
    vegas: Mutex<Vegas>,
}

/// Vegas's state, learning once per window of samples, from their median latency (as
/// Netflix's `WindowedLimit` around `VegasLimit`, with a percentile window): one call's
/// latency says little, since of the calls let in at once, the first few find no queue
/// whatever the limit; and a mean would take a slow tail that is no queue (a tenth of the
/// calls hanging until a hedge answers) for one.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Vegas {
    // The limit, before it is rounded down to a count of calls.
    estimate: f64,
    window: Window,
    // The lowest latency seen since the last probe: the dependency's without a queue.
    no_load: Option<Duration>,
    // Samples until the next probe.
    until_probe: u32,
    // The settings the estimate was made under: others start it anew.
    settings: Option<Adaptive>,
}

impl Learned {
    pub(super) fn new() -> Self {
        Self {
            now: AtomicUsize::new(0),
            vegas: Mutex::new(Vegas::unset()),
        }
    }

    /// The limit now, under `settings`.
    #[inline]
    pub(super) fn limit(&self, settings: &Adaptive) -> usize {
        match self.now.load(Ordering::Relaxed) {
            0 => settings.initial_limit() as usize,
            now => now.clamp(settings.min as usize, settings.max as usize),
        }
    }

    /// Learns from `sample`, a call that ended with `in_flight` calls in flight (itself
    /// included): the limit before and after, if it changed.
    pub(super) fn learn(
        &self,
        settings: &Adaptive,
        sample: Sample,
        in_flight: usize,
    ) -> Option<(usize, usize)> {
        let mut vegas = self.vegas.lock().unwrap_or_else(PoisonError::into_inner);
        // What calls went by until now, under these settings (new ones start anew).
        let before = self.limit(settings);
        if vegas.settings != Some(*settings) {
            *vegas = Vegas::new(settings);
        }
        vegas.learn(settings, sample, in_flight);
        let after = vegas.limit(settings);
        self.now.store(after, Ordering::Relaxed);
        (before != after).then_some((before, after))
    }

    /// Forgets what was learned: the next call starts from the settings' initial limit.
    pub(super) fn reset(&self) {
        let mut vegas = self.vegas.lock().unwrap_or_else(PoisonError::into_inner);
        *vegas = Vegas::unset();
        self.now.store(0, Ordering::Relaxed);
    }
}

impl Vegas {
    fn unset() -> Self {
        Self {
            estimate: 0.0,
            window: Window::EMPTY,
            no_load: None,
            until_probe: 0,
            settings: None,
        }
    }

    fn new(settings: &Adaptive) -> Self {
        let estimate = f64::from(settings.initial_limit());
        Self {
            estimate,
            window: Window::EMPTY,
            no_load: None,
            until_probe: probe_after(estimate),
            settings: Some(*settings),
        }
    }

    fn limit(&self, settings: &Adaptive) -> usize {
        // Rounded down, but not past float noise: `0.9_f32` is 0.89999997 as an `f64`, and
        // 100 × it must still be 90.
        let bounded =
            (self.estimate + 1e-6).clamp(f64::from(settings.min), f64::from(settings.max));
        bounded as usize
    }

    /// Adds `sample` to the window; once the window holds `max(10, limit)` samples, learns
    /// from it and starts the next.
    fn learn(&mut self, settings: &Adaptive, sample: Sample, in_flight: usize) {
        let window = &mut self.window;
        match sample {
            Sample::Ignored => return,
            Sample::Overloaded => window.overloaded += 1,
            Sample::Succeeded(latency) => window.add(latency),
        }
        window.samples += 1;
        window.in_flight = window.in_flight.max(in_flight);
        if f64::from(window.samples) < self.estimate.max(f64::from(MIN_WINDOW)) {
            return;
        }
        let window = std::mem::replace(&mut self.window, Window::EMPTY);
        match window.median() {
            // Half the window's calls or more failed or ran out of time: AIMD's decrease,
            // once. (Fewer say the dependency fails some calls, which is the breaker's
            // business: the latency of the others still says whether it keeps up.)
            _ if window.overloaded * 2 >= window.samples => {
                // `0.9_f32` is 0.89999997 as an `f64`: rounded to the seven digits an `f32`
                // holds, 100 × it is 90, not 89.
                let backoff = (f64::from(settings.backoff) * 1e7).round() / 1e7;
                self.estimate = self.bounded(self.estimate * backoff, settings);
            }
            Some(latency) => self.vegas(settings, latency, window.fastest, window.in_flight),
            None => {}
        }
    }

    /// Netflix's `VegasLimit.updateEstimatedLimit`, on a window's median latency, its
    /// fastest call's, and the most calls it saw in flight.
    ///
    /// The latency without a queue is the fastest single call seen, not the fastest
    /// window: a window's average holds the queue it measures.
    fn vegas(
        &mut self,
        settings: &Adaptive,
        latency: Duration,
        fastest: Duration,
        in_flight: usize,
    ) {
        // Measured again now and then: the lowest latency of a dependency that got slower
        // for good would otherwise shrink the limit for good.
        self.until_probe = self.until_probe.saturating_sub(1);
        if self.until_probe == 0 {
            self.until_probe = probe_after(self.estimate);
            self.no_load = Some(fastest);
            return;
        }
        let no_load = match self.no_load {
            Some(no_load) if fastest >= no_load => no_load,
            _ => {
                self.no_load = Some(fastest);
                return;
            }
        };
        // Few calls in flight: their latency says nothing of the dependency's capacity.
        if (in_flight as f64) * 2.0 < self.estimate {
            return;
        }
        let limit = self.estimate;
        let log = limit.log10().max(1.0);
        let (threshold, alpha, beta) = (log, 3.0 * log, 6.0 * log);
        // A window of calls ready at once (a paused clock, a cache) has no queue, not 0/0.
        let ratio = match latency.is_zero() {
            true => 1.0,
            false => no_load.as_secs_f64() / latency.as_secs_f64(),
        };
        let queue = (limit * (1.0 - ratio)).ceil();
        let next = if queue <= threshold {
            limit + beta
        } else if queue < alpha {
            limit + log
        } else if queue > beta {
            limit - log
        } else {
            return;
        };
        self.estimate = self.bounded(next, settings);
    }

    fn bounded(&self, estimate: f64, settings: &Adaptive) -> f64 {
        estimate.clamp(f64::from(settings.min), f64::from(settings.max))
    }
}

/// The samples of one window: the successes' latencies in a histogram of eighth-octave
/// buckets (about 9 % wide) from 1 µs to an hour, for their median without a store of each.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    samples: u32,
    succeeded: u32,
    fastest: Duration,
    buckets: [u32; BUCKETS],
    in_flight: usize,
    // The samples that failed with a counted error or ran out of time.
    overloaded: u32,
}

/// Eight buckets an octave, over 2³² µs (71 minutes).
const BUCKETS: usize = 256;

impl Window {
    const EMPTY: Self = Self {
        samples: 0,
        succeeded: 0,
        fastest: Duration::MAX,
        buckets: [0; BUCKETS],
        in_flight: 0,
        overloaded: 0,
    };

    fn add(&mut self, latency: Duration) {
        self.fastest = self.fastest.min(latency);
        self.succeeded += 1;
        let count = &mut self.buckets[bucket(latency)];
        *count = count.saturating_add(1);
    }

    /// The successes' median latency, to the middle of its bucket; none without a success.
    fn median(&self) -> Option<Duration> {
        let half = self.succeeded.div_ceil(2);
        let mut seen = 0;
        let bucket = self.buckets.iter().position(|&count| {
            seen += count;
            seen >= half && half > 0
        })?;
        // In the fastest call's bucket: as fast as it, within the bucket's width, so that a
        // window of calls as fast as the fastest says there is no queue.
        if bucket == self::bucket(self.fastest) {
            return Some(self.fastest);
        }
        let micros = ((bucket as f64 + 0.5) / 8.0).exp2();
        Some(Duration::from_secs_f64(micros / 1e6))
    }
}

/// The bucket of `latency`.
fn bucket(latency: Duration) -> usize {
    let micros = latency.as_secs_f64() * 1e6;
    ((micros.max(1.0).log2() * 8.0) as usize).min(BUCKETS - 1)
}

fn probe_after(estimate: f64) -> u32 {
    (PROBE_EVERY * estimate.max(1.0)).min(f64::from(u32::MAX)) as u32
}

#[cfg(all(test, not(runner_loom)))]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn learned(settings: &Adaptive) -> Learned {
        let learned = Learned::new();
        learned.learn(settings, Sample::Ignored, 0);
        learned
    }

    /// One window's samples, each `sample`, with the limit's worth of calls in flight.
    fn window(learned: &Learned, settings: &Adaptive, sample: Sample) {
        let limit = learned.limit(settings);
        for _ in 0..limit.max(MIN_WINDOW as usize) {
            learned.learn(settings, sample, limit);
        }
    }

    #[test]
    fn a_fast_dependency_under_load_raises_the_limit_to_its_bound() {
        let settings = Adaptive::new().bounds(1, 100);
        let learned = learned(&settings);
        for _ in 0..50 {
            window(&learned, &settings, Sample::Succeeded(ms(10)));
        }
        assert_eq!(learned.limit(&settings), 100);
    }

    #[test]
    fn a_queue_building_up_lowers_the_limit_until_it_is_short() {
        let settings = Adaptive::new().initial(100).bounds(1, 1_000);
        let learned = learned(&settings);
        window(&learned, &settings, Sample::Succeeded(ms(10)));
        // The dependency takes 10 calls at once, at 10 ms each: a window's calls wait, on
        // average, for half the rounds the limit makes.
        let mut limits = Vec::new();
        for _ in 0..200 {
            let limit = learned.limit(&settings) as u32;
            let rounds = limit.div_ceil(10);
            let latency = ms(10) * (rounds + 1) / 2;
            window(&learned, &settings, Sample::Succeeded(latency));
            limits.push(learned.limit(&settings));
        }
        let late = &limits[100..];
        assert!(
            late.iter().all(|limit| (10..=40).contains(limit)),
            "{limits:?}"
        );
    }

    #[test]
    fn a_window_half_overloaded_cuts_the_limit_by_the_backoff_once() {
        let settings = Adaptive::new().initial(100).bounds(5, 1_000).backoff(0.5);
        let learned = learned(&settings);
        for _ in 0..50 {
            assert_eq!(
                learned.learn(&settings, Sample::Succeeded(ms(10)), 100),
                None
            );
        }
        for _ in 0..49 {
            assert_eq!(learned.learn(&settings, Sample::Overloaded, 100), None);
        }
        assert_eq!(
            learned.learn(&settings, Sample::Overloaded, 100),
            Some((100, 50))
        );
        window(&learned, &settings, Sample::Overloaded);
        assert_eq!(learned.limit(&settings), 25);
        for _ in 0..10 {
            window(&learned, &settings, Sample::Overloaded);
        }
        assert_eq!(learned.limit(&settings), 5, "no lower than its bound");
    }

    #[test]
    fn a_dependency_failing_some_calls_is_judged_by_the_others() {
        let settings = Adaptive::new().initial(50).bounds(1, 100);
        let learned = learned(&settings);
        // A third of the calls fail; the others answer at once: no queue, so it grows.
        for _ in 0..20 {
            let limit = learned.limit(&settings);
            for n in 0..limit.max(10) {
                let sample = match n % 3 {
                    0 => Sample::Overloaded,
                    _ => Sample::Succeeded(ms(10)),
                };
                learned.learn(&settings, sample, limit);
            }
        }
        assert_eq!(learned.limit(&settings), 100);
    }

    #[test]
    fn a_slow_tail_is_no_queue() {
        let settings = Adaptive::new().initial(50).bounds(1, 100);
        let learned = learned(&settings);
        // A tenth of the calls take 50 times as long (they hung until a hedge answered):
        // the median call finds no queue, and the limit grows.
        for _ in 0..20 {
            let limit = learned.limit(&settings);
            for n in 0..limit.max(10) {
                let latency = if n % 10 == 0 { ms(50) } else { ms(1) };
                learned.learn(&settings, Sample::Succeeded(latency), limit);
            }
        }
        assert_eq!(learned.limit(&settings), 100);
    }

    #[test]
    fn few_calls_in_flight_teach_nothing() {
        let settings = Adaptive::new().initial(100);
        let learned = learned(&settings);
        window(&learned, &settings, Sample::Succeeded(ms(10)));
        for _ in 0..1_000 {
            assert_eq!(
                learned.learn(&settings, Sample::Succeeded(ms(500)), 10),
                None
            );
        }
        assert_eq!(learned.limit(&settings), 100);
    }

    #[test]
    fn new_settings_start_anew() {
        let settings = Adaptive::new().initial(100);
        let learned = learned(&settings);
        window(&learned, &settings, Sample::Overloaded);
        assert_eq!(learned.limit(&settings), 90);
        let other = Adaptive::new().initial(40);
        // The change says where calls stood: at the old limit.
        assert_eq!(learned.learn(&other, Sample::Ignored, 1), Some((90, 40)));
        assert_eq!(learned.limit(&other), 40);
        learned.reset();
        assert_eq!(learned.limit(&settings), 100);
    }

    /// A limit above 2 × 65,535 (allowed: up to 2³¹ − 1) makes windows whose samples a `u16`
    /// bucket could not count: the window still has a median, and the limit still learns.
    #[test]
    fn a_window_larger_than_a_u16_bucket_still_has_a_median() {
        let settings = Adaptive::new().initial(200_000).bounds(1, 1_000_000);
        let learned = learned(&settings);
        // No queue: then a long one (100 x the latency without one).
        window(&learned, &settings, Sample::Succeeded(ms(1)));
        window(&learned, &settings, Sample::Succeeded(ms(1)));
        let grown = learned.limit(&settings);
        assert!(grown > 200_000, "no queue, yet {grown}");
        // Two windows: the helper's is one sample short of a fractional estimate.
        window(&learned, &settings, Sample::Succeeded(ms(100)));
        window(&learned, &settings, Sample::Succeeded(ms(100)));
        let cut = learned.limit(&settings);
        assert!(cut < grown, "a queue, yet {cut}");
    }

    /// A zero latency (a call ready at once, or a paused clock) is no queue, not 0/0.
    #[test]
    fn zero_latency_is_no_queue() {
        let settings = Adaptive::new().initial(20).bounds(1, 100);
        let learned = learned(&settings);
        for _ in 0..10 {
            window(&learned, &settings, Sample::Succeeded(Duration::ZERO));
        }
        assert!(
            learned.limit(&settings) > 20,
            "{}",
            learned.limit(&settings)
        );
    }
}
