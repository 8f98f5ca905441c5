//! The JSON shapes the services exchange.

use serde::{Deserialize, Serialize};

/// The currency of every balance and prize in the example.
pub const CURRENCY: &str = "EUR";

/// An amount of money in integer minor units (cents), never a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// The amount in minor units: 1234 is 12.34.
    pub amount_minor: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
}

/// The wallet service's answer to `GET /balances/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletBalance {
    /// The user asked about.
    pub user_id: u64,
    /// Their balance.
    #[serde(flatten)]
    pub balance: Balance,
    /// `true` when a replica that lags behind the primary answered: the balance may be
    /// behind. Left out of the JSON when `false`, and `false` when missing, so an answer
    /// without it reads as it always did.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stale: bool,
}

impl WalletBalance {
    /// Whether a lagging replica gave it: what the gateway's `get_balance` retries
    /// (`retry_if_value`), as a fresh answer is usually one request away.
    pub fn is_stale(&self) -> bool {
        self.stale
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A scratch card, as the scratch-card service answers `GET /cards/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScratchCard {
    /// The user the card belongs to.
    pub user_id: u64,
    /// The card's identifier.
    pub card_id: String,
    /// What the card wins, zero for no prize.
    pub prize: Balance,
    /// The line shown to the user.
    pub message: String,
}

/// One part of a page that is less than it should be, and why: a best-effort task the
/// gateway had to do without, or a balance that may be behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Degraded {
    /// The task's name, e.g. `get_scratch_card`.
    pub task: String,
    /// For a best-effort task, its outcome in the fan-out's report: `failed`, `timed_out`,
    /// `deadline`, `panicked`, `rejected` (its circuit breaker was open) or `fallback`. For
    /// `get_balance`, `stale`: the wallet answered as a lagging replica on every attempt,
    /// and the page carries that balance.
    pub reason: String,
}

/// The gateway's answer to `GET /get_balance?user_id=N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalancePage {
    /// The user asked about.
    pub user_id: u64,
    /// Their balance: the critical part, always present in a 200.
    pub balance: Balance,
    /// Their scratch card, `null` when the best-effort call failed.
    pub scratch_card: Option<ScratchCard>,
    /// The best-effort tasks left out of this answer, and the balance if it may be behind;
    /// empty when it is complete.
    pub degraded: Vec<Degraded>,
}
