//! Typed tickets for the slots of a [`TaskRunner`](super::TaskRunner)'s tasks.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use super::Results;
use super::threading::Threading;

// `fn() -> _`: a handle neither owns a slot nor limits its auto traits.
type SlotMarker<C, T, E> = PhantomData<fn() -> (C, T, E)>;
use crate::criticality::Criticality;

/// The ticket for one task's slot, returned by [`TaskRunner::add`](super::TaskRunner::add).
///
/// Not `Clone`: each slot is taken once.
#[must_use = "a handle is the only way to take its task's slot"]
pub struct Handle<C, T, E> {
    pub(super) runner: u64,
    pub(super) index: usize,
    slot: SlotMarker<C, T, E>,
}

impl<C, T, E> Handle<C, T, E> {
    pub(super) fn new(runner: u64, index: usize) -> Self {
        Self {
            runner,
            index,
            slot: PhantomData,
        }
    }
}

/// The ticket for the slots of tasks added together by
/// [`TaskRunner::add_all`](super::TaskRunner::add_all).
#[must_use = "a handle is the only way to take its tasks' slots"]
pub struct Handles<C, T, E> {
    pub(super) runner: u64,
    pub(super) range: Range<usize>,
    slot: SlotMarker<C, T, E>,
}

impl<C, T, E> Handles<C, T, E> {
    pub(super) fn new(runner: u64, range: Range<usize>) -> Self {
        Self {
            runner,
            range,
            slot: PhantomData,
        }
    }

    /// How many tasks it stands for.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// `true` if it stands for no task.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }
}

impl<C, T, E> fmt::Debug for Handle<C, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<C, T, E> fmt::Debug for Handles<C, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handles")
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// What [`Results::take`] accepts: a [`Handle`] gives one slot, [`Handles`] a `Vec` of them.
pub trait Claim: sealed::Sealed {
    /// The slot, or slots, it gives.
    type Output;

    #[doc(hidden)]
    fn claim<M: Threading>(self, results: &mut Results<'_, M>) -> Self::Output;
}

mod sealed {
    pub trait Sealed {}
}

impl<C, T, E> sealed::Sealed for Handle<C, T, E> {}
impl<C, T, E> sealed::Sealed for Handles<C, T, E> {}

impl<C: Criticality, T, E> Claim for Handle<C, T, E> {
    type Output = C::Slot<T, E>;

    fn claim<M: Threading>(self, results: &mut Results<'_, M>) -> C::Slot<T, E> {
        results.take_slot::<C, T, E>(self.runner, self.index)
    }
}

impl<C: Criticality, T, E> Claim for Handles<C, T, E> {
    type Output = Vec<C::Slot<T, E>>;

    fn claim<M: Threading>(self, results: &mut Results<'_, M>) -> Vec<C::Slot<T, E>> {
        self.range
            .map(|index| results.take_slot::<C, T, E>(self.runner, index))
            .collect()
    }
}
