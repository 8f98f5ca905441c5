//! The filled slots of a successful [`TaskRunner`](super::TaskRunner) run.

use std::fmt;
use std::time::Duration;

use super::handle::Claim;
use super::threading::{Sendable, Threading};
use crate::criticality::Criticality;
use crate::report::Report;
use crate::runner::erased::{ErasedSlot, take_typed};
use crate::runner::slots::Slots;

/// The slots of a successful run, taken with the handles [`TaskRunner`](super::TaskRunner)
/// gave out.
pub struct Results<'a, M: Threading = Sendable> {
    slots: Slots<'a, M>,
    runner: u64,
    elapsed: Duration,
}

impl<'a, M: Threading> Results<'a, M> {
    pub(super) fn new(slots: Slots<'a, M>, runner: u64, elapsed: Duration) -> Self {
        Self {
            slots,
            runner,
            elapsed,
        }
    }

    /// Takes the slot (or, for [`Handles`](super::Handles), the slots in input order) of
    /// the task the handle stands for.
    ///
    /// # Panics
    ///
    /// If the handle came from another runner: handles are not `Clone`, so within one
    /// runner each slot can be taken only once.
    pub fn take<H: Claim>(&mut self, handle: H) -> H::Output {
        handle.claim(self)
    }

    /// The run's report: one record per task, in the order they were added.
    pub fn report(&self) -> Report {
        Report::new(
            self.slots.iter().map(|slot| slot.record()).collect(),
            self.elapsed,
        )
    }

    /// How many tasks ran.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// `true` if the runner had no task.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub(super) fn take_slot<C: Criticality, T, E>(
        &mut self,
        runner: u64,
        index: usize,
    ) -> C::Slot<T, E> {
        assert_eq!(
            runner, self.runner,
            "handle used with the results of another `TaskRunner`"
        );
        let out = self.slots.try_get_mut(index).and_then(|slot| {
            // SAFETY: the handle is this runner's (its id is checked above), made for the
            // task it added at `index`.
            unsafe { take_typed::<_, C, T, E>(slot) }
        });
        out.expect("a handle's slot is filled once its runner succeeded, and taken only once")
    }
}

impl<M: Threading> fmt::Debug for Results<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Results")
            .field("tasks", &self.slots.len())
            .field("elapsed", &self.elapsed)
            .finish_non_exhaustive()
    }
}
