//! Where a circuit breaker stands: what its state reads as, and what its events say.

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are refused until the cooldown ends.
    Open,
    /// The cooldown has ended: the half-open trial's calls go through (one, unless
    /// [`Breaker::half_open`](crate::Breaker::half_open) says more), the rest are refused.
    HalfOpen,
    /// Forced open by [`Policy::force_open`](crate::Policy::force_open): every call is
    /// refused until [`Policy::reset`](crate::Policy::reset).
    ForcedOpen,
    /// Forced closed by [`Policy::force_closed`](crate::Policy::force_closed): every call
    /// goes through, and none is counted, until [`Policy::reset`](crate::Policy::reset).
    ForcedClosed,
}

impl BreakerState {
    /// A short, stable name, fit for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::ForcedOpen => "forced_open",
            Self::ForcedClosed => "forced_closed",
        }
    }
}
