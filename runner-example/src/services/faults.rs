//! Fault injection for the downstream services: added latency (on every request or on a
//! share of them), a cap on the requests served at once, error statuses (with a
//! `Retry-After` if asked), hangs, garbage, bodies cut short by a closed or a reset
//! connection, and (the wallet's) stale answers.
//!
//! Faults are set at start (`--fault wallet:latency=300ms`) and changed at run time through
//! `PUT /admin/faults`. Which requests fail is drawn from a seeded RNG, so a run with the same
//! seed and the same request order fails the same requests.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The faults one downstream service injects. The JSON body of `/admin/faults`.
///
/// A `PUT` replaces all of it; a field left out is off (zero, or `null` for
/// `retry_after_secs`), `latency_rate` is 1 and `error_status` is 503. `stale_rate` is the
/// wallet's alone: the scratch-card service refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Added to a request before it is answered, in milliseconds: to every request, or to
    /// the share `latency_rate` of them.
    pub latency_ms: u64,
    /// Probability (0 to 1) that a request gets `latency_ms`: 1 (every request) unless set.
    /// Below 1 it makes a slow tail, which is what a hedge is for.
    pub latency_rate: f64,
    /// Probability (0 to 1) of answering `error_status`.
    pub error_rate: f64,
    /// The status of an injected error: 400 to 599, [`DEFAULT_ERROR_STATUS`] by default.
    pub error_status: u16,
    /// A `Retry-After` header on every injected error, in whole seconds (0 to
    /// [`MAX_RETRY_AFTER_SECS`]), as a wallet that is down for maintenance or shedding load
    /// sends with its 503 (or a 429); `None` (`null`), the default, sends none. An `Option`
    /// rather than 0 for off: `Retry-After: 0` is a value a service may send.
    pub retry_after_secs: Option<u64>,
    /// Probability (0 to 1) of never answering (until the caller's deadline or a hang-up).
    pub hang_rate: f64,
    /// Probability (0 to 1) of answering 200 with a body that is not the expected JSON.
    pub garbage_rate: f64,
    /// Probability (0 to 1) of sending the headers (with the full `Content-Length`) and half
    /// of the body, then closing the connection.
    pub truncate_rate: f64,
    /// Probability (0 to 1) of sending the headers and half of the body, then resetting the
    /// connection (TCP RST).
    pub reset_rate: f64,
    /// Probability (0 to 1) that an answer is marked stale (`"stale": true`), as a replica
    /// that lags behind the primary answers: the wallet only. Drawn only for a request that
    /// no other fault hit; the answer is otherwise the usual one.
    pub stale_rate: f64,
    /// The most requests served at once (0: no cap): the others queue, in the caller's
    /// time, for a place. With `latency_ms`, a service of that capacity.
    pub max_concurrency: u32,
}

/// The status an injected error answers unless `error_status` says otherwise.
pub const DEFAULT_ERROR_STATUS: u16 = 503;

/// The longest `Retry-After` an injected error may carry: an hour. Services ask for seconds
/// to minutes; a longer one is a typo, and a caller that honours it would stay away for the
/// rest of the run.
pub const MAX_RETRY_AFTER_SECS: u64 = 3_600;

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            latency_rate: 1.0,
            error_rate: 0.0,
            error_status: DEFAULT_ERROR_STATUS,
            retry_after_secs: None,
            hang_rate: 0.0,
            garbage_rate: 0.0,
            truncate_rate: 0.0,
            reset_rate: 0.0,
            stale_rate: 0.0,
            max_concurrency: 0,
        }
    }
}

impl FaultConfig {
    /// Checks that every probability is within 0 to 1, that `error_status` is an error, and
    /// that `retry_after_secs` is at most [`MAX_RETRY_AFTER_SECS`].
    pub fn validate(&self) -> Result<(), InvalidFault> {
        for (name, rate) in [
            ("latency_rate", self.latency_rate),
            ("error_rate", self.error_rate),
            ("hang_rate", self.hang_rate),
            ("garbage_rate", self.garbage_rate),
            ("truncate_rate", self.truncate_rate),
            ("reset_rate", self.reset_rate),
            ("stale_rate", self.stale_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(InvalidFault(format!(
                    "`{name}` must be between 0 and 1, got {rate}"
                )));
            }
        }
        if !(400..=599).contains(&self.error_status) {
            return Err(InvalidFault(format!(
                "`error_status` must be from 400 to 599, got {}",
                self.error_status
            )));
        }
        if let Some(secs) = self
            .retry_after_secs
            .filter(|&secs| secs > MAX_RETRY_AFTER_SECS)
        {
            return Err(InvalidFault(format!(
                "`retry_after_secs` must be at most {MAX_RETRY_AFTER_SECS}, got {secs}"
            )));
        }
        Ok(())
    }

    /// The added latency, on the requests it hits.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }

    /// Sets the one fault `kind` names, leaving the others.
    pub fn apply(&mut self, kind: FaultKind) {
        match kind {
            FaultKind::Latency { delay, rate } => {
                self.latency_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                self.latency_rate = rate;
            }
            FaultKind::Error(rate) => self.error_rate = rate,
            FaultKind::ErrorStatus(status) => self.error_status = status,
            FaultKind::RetryAfter(secs) => self.retry_after_secs = Some(secs),
            FaultKind::Hang(rate) => self.hang_rate = rate,
            FaultKind::Garbage(rate) => self.garbage_rate = rate,
            FaultKind::Truncate(rate) => self.truncate_rate = rate,
            FaultKind::Reset(rate) => self.reset_rate = rate,
            FaultKind::Stale(rate) => self.stale_rate = rate,
            FaultKind::Concurrency(max) => self.max_concurrency = max,
        }
    }
}

/// A fault configuration or a `--fault` flag that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidFault(String);

/// Which downstream service a `--fault` flag is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The wallet service.
    Wallet,
    /// The scratch-card service.
    Scratch,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Wallet => "wallet",
            Self::Scratch => "scratch",
        })
    }
}

/// One fault and its setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// Added latency, on the share `rate` of the requests (1 for all of them).
    Latency {
        /// How long each request it hits is held.
        delay: Duration,
        /// The probability, 0 to 1, that a request is held.
        rate: f64,
    },
    /// Probability of an error status.
    Error(f64),
    /// The status of an injected error (503 unless set).
    ErrorStatus(u16),
    /// The `Retry-After` of an injected error, in whole seconds (none unless set).
    RetryAfter(u64),
    /// Probability of a hang.
    Hang(f64),
    /// Probability of a malformed body.
    Garbage(f64),
    /// Probability of a body cut short by a closed connection.
    Truncate(f64),
    /// Probability of a body cut short by a reset connection.
    Reset(f64),
    /// Probability of an answer marked stale (the wallet only).
    Stale(f64),
    /// The most requests served at once (0: no cap).
    Concurrency(u32),
}

/// A `--fault` flag: `TARGET:KIND=VALUE`, e.g. `wallet:latency=300ms`,
/// `scratch:latency=100ms@0.05` (on 5 % of the requests), `scratch:error=0.3`,
/// `scratch:status=500`, `wallet:retry-after=2` (`Retry-After: 2` on each injected error),
/// `scratch:hang=0.1`, `wallet:garbage=1`, `wallet:truncate=1`, `scratch:reset=0.2`,
/// `wallet:stale=0.5` (half the balances marked stale; the wallet only),
/// `scratch:concurrency=4` (4 requests served at once).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultSpec {
    /// The service it applies to.
    pub target: Target,
    /// The fault.
    pub kind: FaultKind,
}

impl FromStr for FaultSpec {
    type Err = InvalidFault;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let invalid = |why: &str| {
            InvalidFault(format!(
                "bad fault `{spec}`: {why} (expected e.g. `wallet:latency=300ms`, \
                 `scratch:latency=100ms@0.05`, `scratch:error=0.3`, `scratch:status=500`, \
                 `wallet:retry-after=2`, `scratch:hang=0.1`, `wallet:garbage=1`, `wallet:truncate=1`, `scratch:reset=0.2`, \
                 `wallet:stale=0.5`, `scratch:concurrency=4`)"
            ))
        };
        let (target, setting) = spec
            .split_once(':')
            .ok_or_else(|| invalid("no `:` after the service"))?;
        let target = match target.trim() {
            "wallet" => Target::Wallet,
            "scratch" => Target::Scratch,
            _ => return Err(invalid("the service is `wallet` or `scratch`")),
        };
        let (kind, value) = setting
            .split_once('=')
            .ok_or_else(|| invalid("no `=` before the value"))?;
        let value = value.trim();
        let probability = |value: &str| -> Result<f64, InvalidFault> {
            match value.trim().parse::<f64>() {
                Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
                _ => Err(invalid("a probability is a number from 0 to 1")),
            }
        };
        let rate = || probability(value);
        let kind = match kind.trim() {
            "latency" => {
                let (delay, rate) = match value.split_once('@') {
                    Some((delay, rate)) => (delay.trim(), probability(rate)?),
                    None => (value, 1.0),
                };
                let delay = humantime::parse_duration(delay).map_err(|_| {
                    invalid("a latency is a duration such as `300ms`, or `300ms@0.1` for a share of the requests")
                })?;
                FaultKind::Latency { delay, rate }
            }
            "error" => FaultKind::Error(rate()?),
            "status" => FaultKind::ErrorStatus(
                value
                    .parse::<u16>()
                    .ok()
                    .filter(|status| (400..=599).contains(status))
                    .ok_or_else(|| invalid("an error status is a number from 400 to 599"))?,
            ),
            // Whole seconds, as the header carries them: `2s` or `1.5` would not survive the
            // trip.
            "retry-after" => FaultKind::RetryAfter(
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|secs| *secs <= MAX_RETRY_AFTER_SECS)
                    .ok_or_else(|| {
                        invalid(&format!(
                            "a Retry-After is a whole number of seconds, from 0 to \
                             {MAX_RETRY_AFTER_SECS}"
                        ))
                    })?,
            ),
            "hang" => FaultKind::Hang(rate()?),
            "garbage" => FaultKind::Garbage(rate()?),
            "truncate" => FaultKind::Truncate(rate()?),
            "reset" => FaultKind::Reset(rate()?),
            // A scratch card has no replica to lag behind, and no field to say so: refused
            // rather than set and never drawn.
            "stale" if target == Target::Scratch => {
                return Err(invalid("only the wallet answers stale"));
            }
            "stale" => FaultKind::Stale(rate()?),
            "concurrency" => FaultKind::Concurrency(value.parse::<u32>().map_err(|_| {
                invalid("a concurrency cap is a whole number of requests (0 for none)")
            })?),
            _ => {
                return Err(invalid(
                    "the fault is `latency`, `concurrency`, `error`, `status`, `retry-after`, \
                     `hang`, `garbage`, `truncate`, `reset` or `stale`",
                ));
            }
        };
        Ok(Self { target, kind })
    }
}

/// What a request will suffer, drawn when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Slept before anything else.
    pub(crate) latency: Duration,
    /// The fault drawn, if any.
    pub(crate) fault: Option<Fault>,
    /// The answer is to be marked stale (the wallet's `"stale": true`): drawn only when no
    /// fault was.
    pub(crate) stale: bool,
}

/// A fault drawn for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Never answer.
    Hang,
    /// Answer this error status, with this `Retry-After` (in seconds) if there is one.
    Error {
        /// The status, 400 to 599.
        status: u16,
        /// The `Retry-After` header's seconds.
        retry_after_secs: Option<u64>,
    },
    /// Answer 200 with a malformed body.
    Garbage,
    /// Send the headers and half the body, then close the connection.
    Truncate,
    /// Send the headers and half the body, then reset the connection.
    Reset,
}

/// The live fault settings of one service, shared by its handlers and its admin route.
#[derive(Debug, Clone)]
pub struct Faults {
    inner: Arc<Mutex<State>>,
    serving: Arc<Serving>,
}

/// The requests served now, under `max_concurrency`.
#[derive(Debug, Default)]
struct Serving {
    count: AtomicU32,
    freed: Notify,
}

/// A place among the requests served at once, given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    serving: Option<Arc<Serving>>,
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.count.fetch_sub(1, Ordering::AcqRel);
            serving.freed.notify_one();
        }
    }
}

#[derive(Debug)]
struct State {
    config: FaultConfig,
    rng: SmallRng,
}

impl Faults {
    /// Faults set to `config`, drawn from an RNG seeded with `seed`.
    pub fn new(config: FaultConfig, seed: u64) -> Result<Self, InvalidFault> {
        config.validate()?;
        Ok(Self {
            inner: Arc::new(Mutex::new(State {
                config,
                rng: SmallRng::seed_from_u64(seed),
            })),
            serving: Arc::default(),
        })
    }

    /// No faults.
    pub fn none() -> Self {
        Self {
            inner: Arc::new(Mutex::new(State {
                config: FaultConfig::default(),
                rng: SmallRng::seed_from_u64(0),
            })),
            serving: Arc::default(),
        }
    }

    /// The current settings.
    pub fn get(&self) -> FaultConfig {
        self.lock().config
    }

    /// Replaces the settings, unless they are invalid.
    pub fn set(&self, config: FaultConfig) -> Result<(), InvalidFault> {
        config.validate()?;
        self.lock().config = config;
        // A cap raised or lifted lets queued requests in.
        self.serving.freed.notify_waiters();
        Ok(())
    }

    /// Waits for a place among the requests served at once, if `max_concurrency` caps them
    /// (read again whenever a place is freed, or the faults change).
    pub(crate) async fn place(&self) -> Place {
        let serving = &self.serving;
        loop {
            let freed = serving.freed.notified();
            let mut freed = std::pin::pin!(freed);
            freed.as_mut().enable();
            let cap = self.lock().config.max_concurrency;
            if cap == 0 {
                return Place { serving: None };
            }
            let taken = serving
                .count
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
                    (count < cap).then_some(count + 1)
                });
            if taken.is_ok() {
                return Place {
                    serving: Some(serving.clone()),
                };
            }
            freed.await;
        }
    }

    /// Draws what the next request suffers: each fault independently, in the order hang,
    /// error, garbage, truncate, reset; the first that hits is the one. Then the latency, if
    /// it is on a share of the requests only (so that the draws of the other faults, for a
    /// given seed, are the same as without it); then, if no fault hit, whether the answer is
    /// stale. A rate of 0 draws nothing, so a seed replays the same faults with or without
    /// the settings added since it was recorded.
    pub(crate) fn roll(&self) -> Plan {
        let mut state = self.lock();
        let config = state.config;
        // `random::<f64>()` is in [0, 1): a rate of 1 always hits and 0 never does.
        let mut hits = |rate: f64| rate > 0.0 && state.rng.random::<f64>() < rate;
        let fault = if hits(config.hang_rate) {
            Some(Fault::Hang)
        } else if hits(config.error_rate) {
            Some(Fault::Error {
                status: config.error_status,
                retry_after_secs: config.retry_after_secs,
            })
        } else if hits(config.garbage_rate) {
            Some(Fault::Garbage)
        } else if hits(config.truncate_rate) {
            Some(Fault::Truncate)
        } else if hits(config.reset_rate) {
            Some(Fault::Reset)
        } else {
            None
        };
        let delayed =
            config.latency_ms > 0 && (config.latency_rate >= 1.0 || hits(config.latency_rate));
        let stale = fault.is_none() && hits(config.stale_rate);
        Plan {
            latency: if delayed {
                config.latency()
            } else {
                Duration::ZERO
            },
            fault,
            stale,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data, valid even if a holder panicked: keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_concurrency_cap_queues_the_requests_past_it() {
        use futures::FutureExt;
        let faults = Faults::new(
            FaultConfig {
                max_concurrency: 2,
                ..FaultConfig::default()
            },
            1,
        )
        .unwrap();
        let (first, second) = (faults.place().await, faults.place().await);
        let third = faults.place();
        let mut third = std::pin::pin!(third);
        assert!(third.as_mut().now_or_never().is_none(), "two are served");
        drop(first);
        let third = third.await;
        // Lifting the cap lets the queued in at once.
        let fourth = faults.place();
        let mut fourth = std::pin::pin!(fourth);
        assert!(fourth.as_mut().now_or_never().is_none());
        faults.set(FaultConfig::default()).unwrap();
        let _fourth = fourth.await;
        drop((second, third));
        let spec: FaultSpec = "scratch:concurrency=4".parse().unwrap();
        assert_eq!(spec.kind, FaultKind::Concurrency(4));
        assert!("scratch:concurrency=-1".parse::<FaultSpec>().is_err());
    }

    #[test]
    fn parses_the_documented_flags() {
        let spec: FaultSpec = "wallet:latency=300ms".parse().unwrap();
        assert_eq!(spec.target, Target::Wallet);
        assert_eq!(
            spec.kind,
            FaultKind::Latency {
                delay: Duration::from_millis(300),
                rate: 1.0
            }
        );
        let spec: FaultSpec = "scratch:latency=400ms@0.1".parse().unwrap();
        assert_eq!(spec.target, Target::Scratch);
        assert_eq!(
            spec.kind,
            FaultKind::Latency {
                delay: Duration::from_millis(400),
                rate: 0.1
            }
        );
        let spec: FaultSpec = "scratch:latency= 1s @ 1".parse().unwrap();
        assert_eq!(
            spec.kind,
            FaultKind::Latency {
                delay: Duration::from_secs(1),
                rate: 1.0
            }
        );
        let spec: FaultSpec = "scratch:error=0.3".parse().unwrap();
        assert_eq!(spec.kind, FaultKind::Error(0.3));
        let spec: FaultSpec = "scratch:hang=0.1".parse().unwrap();
        assert_eq!(spec.kind, FaultKind::Hang(0.1));
        let spec: FaultSpec = "wallet:status=500".parse().unwrap();
        assert_eq!(spec.kind, FaultKind::ErrorStatus(500));
        let spec: FaultSpec = "wallet:retry-after=2".parse().unwrap();
        assert_eq!(spec.kind, FaultKind::RetryAfter(2));
        let spec: FaultSpec = "wallet:retry-after=0".parse().unwrap();
        assert_eq!(spec.kind, FaultKind::RetryAfter(0));
        let spec: FaultSpec = "wallet:truncate=1".parse().unwrap();
        assert_eq!(spec.kind, FaultKind::Truncate(1.0));
        let spec: FaultSpec = "scratch:reset=0.2".parse().unwrap();
        assert_eq!(spec.kind, FaultKind::Reset(0.2));
        let spec: FaultSpec = "wallet:stale=0.5".parse().unwrap();
        assert_eq!(spec.kind, FaultKind::Stale(0.5));
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "wallet",
            "bank:error=0.1",
            "wallet:error",
            "wallet:error=2",
            "wallet:error=-0.1",
            "wallet:latency=soon",
            "wallet:latency=300ms@",
            "wallet:latency=300ms@1.5",
            "wallet:latency=300ms@-0.1",
            "wallet:latency=@0.5",
            "wallet:latency=300ms@0.1@0.2",
            "wallet:explode=1",
            "wallet:status=200",
            "wallet:status=600",
            "wallet:status=server_error",
            "wallet:retry-after=2s",
            "wallet:retry-after=1.5",
            "wallet:retry-after=-1",
            "wallet:retry-after=3601",
            "wallet:retry-after=",
            "wallet:retry_after=2",
            "wallet:truncate=yes",
            "wallet:reset=1.5",
            "wallet:stale=1.5",
            "wallet:stale=often",
            "wallet:stale-rate=0.5",
            "scratch:stale=0.5",
        ] {
            assert!(bad.parse::<FaultSpec>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn certain_and_impossible_faults() {
        let faults = Faults::none();
        assert_eq!(faults.roll().fault, None);
        faults
            .set(FaultConfig {
                error_rate: 1.0,
                ..FaultConfig::default()
            })
            .unwrap();
        assert_eq!(
            faults.roll().fault,
            Some(Fault::Error {
                status: 503,
                retry_after_secs: None
            })
        );
        for (config, fault) in [
            (
                FaultConfig {
                    error_rate: 1.0,
                    error_status: 500,
                    ..FaultConfig::default()
                },
                Fault::Error {
                    status: 500,
                    retry_after_secs: None,
                },
            ),
            (
                FaultConfig {
                    error_rate: 1.0,
                    retry_after_secs: Some(2),
                    ..FaultConfig::default()
                },
                Fault::Error {
                    status: 503,
                    retry_after_secs: Some(2),
                },
            ),
            (
                FaultConfig {
                    truncate_rate: 1.0,
                    ..FaultConfig::default()
                },
                Fault::Truncate,
            ),
            (
                FaultConfig {
                    reset_rate: 1.0,
                    ..FaultConfig::default()
                },
                Fault::Reset,
            ),
        ] {
            faults.set(config).unwrap();
            assert_eq!(faults.roll().fault, Some(fault));
        }
        for status in [200, 302, 600] {
            let config = FaultConfig {
                error_status: status,
                ..FaultConfig::default()
            };
            assert!(faults.set(config).is_err(), "status {status} was accepted");
        }
        assert!(
            faults
                .set(FaultConfig {
                    hang_rate: 1.5,
                    ..FaultConfig::default()
                })
                .is_err()
        );
        assert!(
            faults
                .set(FaultConfig {
                    latency_rate: 1.5,
                    ..FaultConfig::default()
                })
                .is_err()
        );
        let error = faults
            .set(FaultConfig {
                stale_rate: 1.5,
                ..FaultConfig::default()
            })
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`stale_rate` must be between 0 and 1, got 1.5"
        );
        let retry_after = |secs| FaultConfig {
            retry_after_secs: Some(secs),
            ..FaultConfig::default()
        };
        assert!(faults.set(retry_after(MAX_RETRY_AFTER_SECS)).is_ok());
        let error = faults
            .set(retry_after(MAX_RETRY_AFTER_SECS + 1))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`retry_after_secs` must be at most 3600, got 3601"
        );
    }

    #[test]
    fn a_stale_answer_is_drawn_only_when_no_fault_is() {
        let stale = FaultConfig {
            stale_rate: 1.0,
            ..FaultConfig::default()
        };
        let faults = Faults::new(stale, 3).unwrap();
        let plan = faults.roll();
        assert_eq!((plan.fault, plan.stale), (None, true));
        // An error is no answer to mark.
        faults
            .set(FaultConfig {
                error_rate: 1.0,
                ..stale
            })
            .unwrap();
        let plan = faults.roll();
        assert!(matches!(plan.fault, Some(Fault::Error { .. })) && !plan.stale);
        assert!(!Faults::none().roll().stale);

        // A seeded draw: about half, and the same ones on every run.
        let draws = || {
            let faults = Faults::new(
                FaultConfig {
                    stale_rate: 0.5,
                    ..FaultConfig::default()
                },
                11,
            )
            .unwrap();
            (0..1_000).map(|_| faults.roll().stale).collect::<Vec<_>>()
        };
        let half = draws().iter().filter(|stale| **stale).count();
        assert!((400..600).contains(&half), "{half} of 1000");
        assert_eq!(draws(), draws());
    }

    #[test]
    fn latency_on_a_share_of_the_requests() {
        let slow = |latency_rate: f64| FaultConfig {
            latency_ms: 100,
            latency_rate,
            ..FaultConfig::default()
        };
        let delayed = |config: FaultConfig, requests: usize| {
            let faults = Faults::new(config, 7).unwrap();
            (0..requests)
                .filter(|_| faults.roll().latency == Duration::from_millis(100))
                .count()
        };
        assert_eq!(delayed(slow(1.0), 100), 100);
        assert_eq!(delayed(slow(0.0), 100), 0);
        // A seeded draw: about a tenth, and the same count on every run.
        let tenth = delayed(slow(0.1), 10_000);
        assert!((800..1_200).contains(&tenth), "{tenth} of 10000");
        assert_eq!(delayed(slow(0.1), 10_000), tenth);
        // No latency set: no delay, whatever the rate.
        let faults = Faults::new(FaultConfig::default(), 7).unwrap();
        assert_eq!(faults.roll().latency, Duration::ZERO);
    }

    #[test]
    fn a_latency_on_every_request_leaves_the_other_draws_alone() {
        // The same seed draws the same errors with or without a latency on every request:
        // `--fault-seed` runs recorded before latencies could be partial still replay.
        let errors = FaultConfig {
            error_rate: 0.5,
            ..FaultConfig::default()
        };
        let with_latency = FaultConfig {
            latency_ms: 5,
            ..errors
        };
        let draws = |config: FaultConfig| {
            let faults = Faults::new(config, 11).unwrap();
            (0..64).map(|_| faults.roll().fault).collect::<Vec<_>>()
        };
        assert_eq!(draws(errors), draws(with_latency));
    }
}
