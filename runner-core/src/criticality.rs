//! Criticality at the type level: it decides the type of a task's slot.

use crate::TaskError;

/// How much a fan-out depends on a task, and so what type its slot has.
///
/// Implemented only by [`Critical`] and [`BestEffort`].
pub trait Criticality: sealed::Sealed + Send + Sync + Unpin + 'static {
    /// The slot a task of this criticality fills in the fan-out's output.
    ///
    /// `T` for [`Critical`], `Result<T, TaskError<E>>` for [`BestEffort`].
    type Slot<T, E>;

    /// `true` for [`Critical`].
    const CRITICAL: bool;

    /// Turns a task's result into its slot, or gives back the error that fails the fan-out.
    #[doc(hidden)]
    fn into_slot<T, E>(result: Result<T, TaskError<E>>) -> Result<Self::Slot<T, E>, TaskError<E>>;
}

/// Marks a task the fan-out cannot do without.
///
/// Its failure (an error, its timeout, a panic) ends the fan-out at once with a
/// [`FanOutError`](crate::FanOutError), and every other task is dropped. Its slot is the
/// plain success value `T`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Critical;

/// Marks a task the fan-out can do without.
///
/// Its failure or slowness never fails the fan-out: its slot is a
/// `Result<T, TaskError<E>>` that says why it is missing (`.ok()` gives the `Option`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BestEffort;

impl Criticality for Critical {
    type Slot<T, E> = T;
    const CRITICAL: bool = true;

    fn into_slot<T, E>(result: Result<T, TaskError<E>>) -> Result<T, TaskError<E>> {
        result
    }
}

impl Criticality for BestEffort {
    type Slot<T, E> = Result<T, TaskError<E>>;
    const CRITICAL: bool = false;

    fn into_slot<T, E>(
        result: Result<T, TaskError<E>>,
    ) -> Result<Result<T, TaskError<E>>, TaskError<E>> {
        Ok(result)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Critical {}
    impl Sealed for super::BestEffort {}
}
