//! The per-fn default policies: the ones `#[task(...)]`'s literal policy keys build, one per
//! task fn, shared by every call of it in the process.
//!
//! Each is registered when the program starts (with `inventory`), so that an operator can
//! read or force one before its fn is first called, and a test suite can reset them all
//! between tests:
//!
//! ```
//! use runner_core::{BreakerState, policy::defaults, task};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("wallet unavailable")]
//! struct WalletError;
//!
//! #[task(critical, breaker(failures = 5, window = "10s", cooldown = "5s"))]
//! async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
//!     Ok(user_id * 100)
//! }
//!
//! let policy = defaults::of("get_balance").expect("registered at start");
//! policy.force_open();
//! assert_eq!(policy.breaker_state(), Some(BreakerState::ForcedOpen));
//! defaults::reset_all();
//! assert_eq!(policy.breaker_state(), Some(BreakerState::Closed));
//! ```
//!
//! A task fn whose policy is its own value (`#[task(policy = <expr>)]`) has no default: the
//! application holds the policy.

use std::sync::LazyLock;

use crate::policy::Policy;

/// A task fn's default policy, as registered.
#[derive(Debug)]
pub struct DefaultPolicy {
    module: &'static str,
    task: &'static str,
    policy: &'static LazyLock<Policy>,
}

inventory::collect!(DefaultPolicy);

impl DefaultPolicy {
    /// What `#[task]` registers.
    #[doc(hidden)]
    pub const fn new(
        module: &'static str,
        task: &'static str,
        policy: &'static LazyLock<Policy>,
    ) -> Self {
        Self {
            module,
            task,
            policy,
        }
    }

    /// The module of the task fn (`module_path!()` where it is written).
    pub fn module(&self) -> &'static str {
        self.module
    }

    /// The task's name: the fn's, or the attribute's `name = "..."`.
    pub fn task(&self) -> &'static str {
        self.task
    }

    /// The policy (built on first use).
    pub fn policy(&self) -> &'static Policy {
        self.policy
    }

    fn is(&self, name: &str) -> bool {
        name == self.task
            || name
                .strip_suffix(self.task)
                .and_then(|module| module.strip_suffix("::"))
                == Some(self.module)
    }
}

/// Every per-fn default policy in the program, in no particular order.
pub fn all() -> impl Iterator<Item = &'static DefaultPolicy> {
    inventory::iter::<DefaultPolicy>.into_iter()
}

/// The default policy of the task named `name` (`"get_balance"`), or of the one at the path
/// `name` (`"my_crate::wallet::get_balance"`) where two task fns share a name.
pub fn of(name: &str) -> Option<&'static Policy> {
    all()
        .find(|default| default.is(name))
        .map(DefaultPolicy::policy)
}

/// Resets every per-fn default policy (see [`Policy::reset`]): what a test suite whose tests
/// share task fns calls at the start of each test.
pub fn reset_all() {
    all().for_each(|default| default.policy().reset());
}
