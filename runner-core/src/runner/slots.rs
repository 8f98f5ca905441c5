//! Where a runner keeps its tasks' slots: side by side in an arena of the run's, not each in
//! a box of its own.
//!
//! A box per task was an allocation and a free per task, and the allocator's work on them
//! (a slot is too large for its quickest bins) was a large share of a task's cost
//! (BENCHMARKS.md). The arena (`bumpalo`'s, in `super::arena`) takes the slots in a few
//! chunks: one, sized to fit, when the tasks are added together (`add_all`), else chunks
//! that double. The slots never move in it, so they stay pinned; they are dropped in place,
//! in the order they were added, before its chunks are freed.

use std::error::Error as StdError;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;

use futures::TryFuture;

use super::arena::Arena;
use super::threading::{Holds, Threading};
use crate::Task;
use crate::criticality::Criticality;
use crate::slot::TaskSlot;
use crate::timer::SharedTimer;

/// A runner's tasks' slots, in the order added.
pub(super) struct Slots<'a, M: Threading> {
    // Each points at a slot in `arena`, which it owns: none is moved, each is dropped in
    // place by `drop`, once.
    slots: Vec<NonNull<M::Slot<'a>>>,
    arena: Arena,
    // Owns the slots, which may borrow for `'a`: dropping them needs `'a` alive.
    owns: PhantomData<M::Slot<'a>>,
}

// SAFETY: the slots are owned, reached only through `&mut self` or `&self`, and are `Send`
// exactly when `M::Slot` is (`dyn ErasedSlot + Send` for `Sendable`); the arena is `Send`.
unsafe impl<'a, M: Threading> Send for Slots<'a, M> where M::Slot<'a>: Send {}

impl<'a, M: Threading> Slots<'a, M> {
    pub(super) fn new() -> Self {
        Self {
            slots: Vec::new(),
            // Allocates nothing until the first slot.
            arena: Arena::new(),
            owns: PhantomData,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Makes room for `more` tasks of type `Task<F, C>`: in the list, and, before the first
    /// slot, in one chunk of the arena that fits them all.
    pub(super) fn reserve<F: TryFuture, C: Criticality>(&mut self, more: usize) {
        self.slots.reserve(more);
        if self.slots.is_empty() && more > 0 {
            // A slot's size is a multiple of its alignment; one more alignment's worth covers
            // the chunk's own start.
            let layout = std::alloc::Layout::new::<TaskSlot<F, C, SharedTimer>>();
            let bytes = layout
                .size()
                .saturating_mul(more)
                .saturating_add(layout.align());
            // No slot is in the arena yet: the one replaced holds nothing.
            self.arena = Arena::with_capacity(bytes);
        }
    }

    /// Puts a task's slot in the arena; its index.
    ///
    /// # Panics
    ///
    /// At the `u32::MAX`th task: the run counts its tasks in 32 bits.
    pub(super) fn push<F, C>(&mut self, task: Task<F, C>) -> usize
    where
        F: TryFuture,
        F::Error: StdError + Send + Sync + 'static,
        C: Criticality,
        M: Holds<'a, F, C>,
    {
        assert!(
            self.slots.len() < u32::MAX as usize,
            "a TaskRunner holds fewer than u32::MAX (4,294,967,295) tasks"
        );
        self.slots.push(M::hold(task, &self.arena));
        self.slots.len() - 1
    }

    pub(super) fn get(&self, index: usize) -> &M::Slot<'a> {
        // SAFETY: the pointer is to a live slot this owns (see `slots`), and `&self` lends
        // it shared only.
        unsafe { self.slots[index].as_ref() }
    }

    pub(super) fn get_mut(&mut self, index: usize) -> Pin<&mut M::Slot<'a>> {
        self.try_get_mut(index)
            .expect("a task's index is below the number of tasks")
    }

    pub(super) fn try_get_mut(&mut self, index: usize) -> Option<Pin<&mut M::Slot<'a>>> {
        let mut slot = *self.slots.get(index)?;
        // SAFETY: the pointer is to a live slot this owns (see `slots`), lent by `&mut self`
        // alone; it is pinned, as nothing ever moves it out of the arena.
        Some(unsafe { Pin::new_unchecked(slot.as_mut()) })
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &M::Slot<'a>> + Clone {
        // SAFETY: as in `get`.
        self.slots.iter().map(|slot| unsafe { slot.as_ref() })
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = Pin<&mut M::Slot<'a>>> {
        // SAFETY: as in `try_get_mut`; each slot is lent once, by a pointer of its own.
        self.slots
            .iter_mut()
            .map(|slot| unsafe { Pin::new_unchecked(slot.as_mut()) })
    }
}

impl<M: Threading> Drop for Slots<'_, M> {
    fn drop(&mut self) {
        /// The slots left to drop: if dropping one unwinds (a `tracing` layer that panics as
        /// a span closes), this drops the rest as the panic passes, as a `Vec` of boxes
        /// would, rather than let the arena free memory that pinned slots are still in.
        struct Rest<'s, T: ?Sized>(std::vec::Drain<'s, NonNull<T>>);

        impl<T: ?Sized> Rest<'_, T> {
            fn drop_all(&mut self) {
                for slot in self.0.by_ref() {
                    // SAFETY: each slot is dropped once, here, in the arena it was pinned in,
                    // before the arena (a field, dropped after this) frees its chunks.
                    unsafe { std::ptr::drop_in_place(slot.as_ptr()) };
                }
            }
        }

        impl<T: ?Sized> Drop for Rest<'_, T> {
            fn drop(&mut self) {
                self.drop_all();
            }
        }

        Rest(self.slots.drain(..)).drop_all();
    }
}

impl<M: Threading> fmt::Debug for Slots<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slots")
            .field("tasks", &self.slots.len())
            .field("arena_bytes", &self.arena.allocated_bytes())
            .finish()
    }
}
