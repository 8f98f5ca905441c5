//! What `#[task(policy = <expr>)]` accepts: anything that holds a [`Policy`].

use std::sync::{Arc, LazyLock};

use crate::policy::Policy;

/// A way to reach a [`Policy`]: the policy itself, a reference to one, an `Arc`, a `Box`, or
/// a `LazyLock` that builds one.
///
/// `#[task(policy = <expr>)]` borrows a place (`self.wallet`, `WALLET`) and moves any other
/// expression's value (`self.policies.get(&host)`, an `Arc`) into the task.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a policy",
    label = "not a `runner_core::Policy`",
    note = "`policy = ...` takes a `Policy`, a reference to one, an `Arc<Policy>` or a `LazyLock<Policy>`: build one with `Policy::builder()...build()`"
)]
pub trait AsPolicy {
    /// The policy.
    fn as_policy(&self) -> &Policy;
}

impl AsPolicy for Policy {
    fn as_policy(&self) -> &Policy {
        self
    }
}

impl<P: AsPolicy + ?Sized> AsPolicy for &P {
    fn as_policy(&self) -> &Policy {
        (**self).as_policy()
    }
}

impl<P: AsPolicy + ?Sized> AsPolicy for Arc<P> {
    fn as_policy(&self) -> &Policy {
        (**self).as_policy()
    }
}

impl<P: AsPolicy + ?Sized> AsPolicy for Box<P> {
    fn as_policy(&self) -> &Policy {
        (**self).as_policy()
    }
}

impl<P: AsPolicy, F: FnOnce() -> P> AsPolicy for LazyLock<P, F> {
    fn as_policy(&self) -> &Policy {
        (**self).as_policy()
    }
}
