//! Where a runner keeps its tasks' slots: side by side in an arena of the run's, not each in
//! a box of its own.
//!
//! A box per task was an allocation and a free per task, and the allocator's work on them
//! (a slot is too large for its quickest bins) was a large share of a task's cost
//! (BENCHMARKS.md). The arena (`super::arena`) takes the slots in a few allocations:
//! one of exactly their size for tasks added together before any other (`add_all`), else
//! `bumpalo`'s chunks, which double. The slots never move in it, so they stay pinned; they
//! are dropped in place, in the order they were added, before its allocations are freed.
//!
//! A slot is reached by its index, from the block of slots of one type side by side that it
//! is in: tasks added together make one block, so the run keeps one pointer for them rather
//! than one per task (16 bytes of a task's 229, BENCHMARKS.md). Tasks of types that
//! alternate, added one at a time, would make a block each, larger than a pointer: once
//! blocks average fewer than three slots, each slot gets its pointer instead.

use std::any::TypeId;
use std::error::Error as StdError;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;

use futures::TryFuture;

use super::arena::{Arena, Chunk, Placed};
use super::threading::{Holds, Threading};
use crate::Task;
use crate::criticality::Criticality;
use crate::slot::TaskSlot;
use crate::timer::SharedTimer;

/// A runner's tasks' slots, in the order added.
pub(super) struct Slots<'a, M: Threading> {
    // The slots are in `arena`, which owns them: none is moved, each is dropped in place by
    // `drop`, once.
    index: Index<M::Slot<'a>>,
    len: usize,
    arena: Arena,
    // Owns the slots, which may borrow for `'a`: dropping them needs `'a` alive.
    owns: PhantomData<M::Slot<'a>>,
}

/// How a slot is found from its index.
enum Index<S: ?Sized> {
    /// By the block it is in.
    Blocks(Vec<Block<S>>),
    /// By a pointer of its own (16 bytes, with the slot's vtable): what the blocks become if
    /// they come to average fewer than three slots (tasks of types that alternate, added one
    /// at a time), where they would take more room than a pointer per slot.
    Pointers(Vec<NonNull<S>>),
}

/// Slots of one type side by side in one allocation of the arena, each one slot's size below
/// the one before, as the arena hands them out: one pointer for them all, rather than one for
/// each task.
struct Block<S: ?Sized> {
    /// Its first slot, whose vtable is every one's.
    top: NonNull<S>,
    /// The slots' type and size (see `Placed`).
    kind: TypeId,
    size: usize,
    /// The index of its first slot: its slots run to the next block's first. (A run counts
    /// its tasks in 32 bits.)
    first: u32,
    /// The arena's allocation they are in.
    chunk: Chunk,
}

impl<S: ?Sized> Block<S> {
    /// Its slot `offset` below its first.
    ///
    /// # Safety
    ///
    /// `offset` is below the number of slots in the block.
    unsafe fn at(&self, offset: usize) -> NonNull<S> {
        // SAFETY: the slot is in the same allocation of the arena as the first (see
        // `Slots::push`), and `top` is the allocation's pointer (see `Arena::alloc_with`), so
        // the offset stays inside it; the pointer keeps the first's vtable, which is the
        // slot's type's.
        unsafe { self.top.byte_sub(offset * self.size) }
    }
}

// SAFETY: the slots are owned, reached only through `&mut self` or `&self`, and are `Send`
// exactly when `M::Slot` is (`dyn ErasedSlot + Send` for `Sendable`); the arena is `Send`.
unsafe impl<'a, M: Threading> Send for Slots<'a, M> where M::Slot<'a>: Send {}

impl<'a, M: Threading> Slots<'a, M> {
    pub(super) fn new() -> Self {
        Self {
            index: Index::Blocks(Vec::new()),
            len: 0,
            // Allocates nothing until the first slot.
            arena: Arena::new(),
            owns: PhantomData,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes room for `more` tasks of type `Task<F, C>`: before the first slot, room in the
    /// arena of exactly their size (`more` is an iterator's lower bound: tasks past it take
    /// the arena's chunks).
    pub(super) fn reserve<F: TryFuture, C: Criticality>(&mut self, more: usize) {
        if self.is_empty() && more > 0 {
            // No slot is in the arena yet: the one replaced holds nothing.
            self.arena = Arena::with_room(
                std::alloc::Layout::new::<TaskSlot<F, C, SharedTimer>>(),
                more,
            );
        }
    }

    /// Puts a task's slot in the arena; its index.
    ///
    /// # Panics
    ///
    /// At the `u32::MAX`th task: the run counts its tasks in 32 bits.
    #[inline]
    pub(super) fn push<F, C>(&mut self, task: Task<F, C>) -> usize
    where
        F: TryFuture,
        F::Error: StdError + Send + Sync + 'static,
        C: Criticality,
        M: Holds<'a, F, C>,
    {
        assert!(
            self.len < u32::MAX as usize,
            "a TaskRunner holds fewer than u32::MAX (4,294,967,295) tasks"
        );
        let (slot, placed) = M::hold(task, &self.arena);
        // The slot joins the last block if it is of the block's type, in the same allocation
        // of the arena, and just below the block's last slot.
        let joins = match &self.index {
            Index::Blocks(blocks) => blocks.last().is_some_and(|block| {
                block.kind == placed.kind
                    && block.chunk == placed.chunk
                    && block
                        .top
                        .as_ptr()
                        .cast::<u8>()
                        .wrapping_sub((self.len - block.first as usize) * placed.size)
                        == slot.as_ptr().cast::<u8>()
            }),
            Index::Pointers(_) => false,
        };
        if !joins {
            self.index_apart(slot, placed);
        }
        self.len += 1;
        self.len - 1
    }

    /// Indexes the slot just pushed, which joins no block: in a block of its own, or by its
    /// pointer.
    #[cold]
    fn index_apart(&mut self, slot: NonNull<M::Slot<'a>>, placed: Placed) {
        let blocks = match &mut self.index {
            Index::Pointers(pointers) => return pointers.push(slot),
            Index::Blocks(blocks) => blocks,
        };
        if blocks.len() >= 8 && blocks.len() * 3 > self.len {
            let mut pointers = Vec::with_capacity(self.len + 1);
            pointers.extend(self.pointers());
            pointers.push(slot);
            self.index = Index::Pointers(pointers);
            return;
        }
        // Most runs have one block: room for four (a `Vec`'s first growth) would be three too
        // many.
        blocks.reserve_exact(usize::from(blocks.is_empty()));
        blocks.push(Block {
            top: slot,
            kind: placed.kind,
            size: placed.size,
            // Below `u32::MAX`: see `push`.
            first: self.len as u32,
            chunk: placed.chunk,
        });
    }

    #[inline]
    pub(super) fn get(&self, index: usize) -> &M::Slot<'a> {
        let slot = self
            .find(index)
            .expect("a task's index is below the number of tasks");
        // SAFETY: the pointer is to a live slot this owns (see `index`), and `&self` lends
        // it shared only.
        unsafe { slot.as_ref() }
    }

    #[inline]
    pub(super) fn get_mut(&mut self, index: usize) -> Pin<&mut M::Slot<'a>> {
        self.try_get_mut(index)
            .expect("a task's index is below the number of tasks")
    }

    #[inline]
    pub(super) fn try_get_mut(&mut self, index: usize) -> Option<Pin<&mut M::Slot<'a>>> {
        let mut slot = self.find(index)?;
        // SAFETY: the pointer is to a live slot this owns (see `index`), lent by `&mut self`
        // alone; it is pinned, as nothing ever moves it out of the arena.
        Some(unsafe { Pin::new_unchecked(slot.as_mut()) })
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &M::Slot<'a>> + Clone {
        // SAFETY: as in `get`.
        self.pointers().map(|slot| unsafe { slot.as_ref() })
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = Pin<&mut M::Slot<'a>>> {
        // SAFETY: as in `try_get_mut`; each slot is lent once, by a pointer of its own, for
        // as long as `&mut self`.
        self.pointers()
            .map(|mut slot| unsafe { Pin::new_unchecked(slot.as_mut()) })
    }

    /// The pointer to slot `index`; `None` past the last.
    #[inline]
    fn find(&self, index: usize) -> Option<NonNull<M::Slot<'a>>> {
        if index >= self.len {
            return None;
        }
        let blocks = match &self.index {
            Index::Blocks(blocks) => blocks,
            Index::Pointers(pointers) => return pointers.get(index).copied(),
        };
        // The block of the slot: most runs have one, added together (`add_all`).
        let block = match &**blocks {
            [block] => block,
            blocks => &blocks[blocks.partition_point(|block| block.first as usize <= index) - 1],
        };
        // SAFETY: the slot is in the block: at or after its first, before the next one's.
        Some(unsafe { block.at(index - block.first as usize) })
    }

    /// Every slot's pointer, in the order added.
    fn pointers(&self) -> impl Iterator<Item = NonNull<M::Slot<'a>>> + Clone + '_ {
        let (blocks, pointers): (&[Block<_>], &[NonNull<_>]) = match &self.index {
            Index::Blocks(blocks) => (blocks, &[]),
            Index::Pointers(pointers) => (&[], pointers),
        };
        let ends = blocks
            .iter()
            .skip(1)
            .map(|block| block.first as usize)
            .chain([self.len]);
        let in_blocks = blocks.iter().zip(ends).flat_map(|(block, end)| {
            // SAFETY: the block holds its slots `first..end`.
            (0..end - block.first as usize).map(|offset| unsafe { block.at(offset) })
        });
        in_blocks.chain(pointers.iter().copied())
    }
}

impl<M: Threading> Drop for Slots<'_, M> {
    fn drop(&mut self) {
        /// The slots left to drop: if dropping one unwinds (a `tracing` layer that panics as
        /// a span closes), this drops the rest as the panic passes, as a `Vec` of boxes
        /// would, rather than let the arena free memory that pinned slots are still in.
        struct Rest<I: Iterator<Item = NonNull<T>>, T: ?Sized>(I);

        impl<I: Iterator<Item = NonNull<T>>, T: ?Sized> Rest<I, T> {
            fn drop_all(&mut self) {
                for slot in self.0.by_ref() {
                    // SAFETY: each slot is dropped once, here, in the arena it was pinned in,
                    // before the arena (a field, dropped after this) frees its chunks.
                    unsafe { std::ptr::drop_in_place(slot.as_ptr()) };
                }
            }
        }

        impl<I: Iterator<Item = NonNull<T>>, T: ?Sized> Drop for Rest<I, T> {
            fn drop(&mut self) {
                self.drop_all();
            }
        }

        Rest(self.pointers()).drop_all();
    }
}

impl<M: Threading> fmt::Debug for Slots<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slots")
            .field("tasks", &self.len)
            .field("arena_bytes", &self.arena.allocated_bytes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::runner::threading::Local;

    const NAMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];

    /// Notes its number in `dropped` as it is dropped.
    struct Drops(usize, Rc<RefCell<Vec<usize>>>);

    impl Drop for Drops {
        fn drop(&mut self) {
            self.1.borrow_mut().push(self.0);
        }
    }

    type Small = std::future::Ready<Result<Drops, std::io::Error>>;

    /// Task `i`, named `NAMES[i % 8]`, of type `Small`, or (`other`) of a larger type.
    fn push(
        slots: &mut Slots<'_, Local>,
        i: usize,
        other: bool,
        dropped: &Rc<RefCell<Vec<usize>>>,
    ) {
        let name = NAMES[i % NAMES.len()];
        let guard = Drops(i, Rc::clone(dropped));
        let index = match other {
            false => slots.push(Task::best_effort(
                name,
                std::future::ready(Ok::<_, std::io::Error>(guard)),
            )),
            true => slots.push(Task::best_effort(
                name,
                std::future::ready(Ok::<_, std::io::Error>((guard, [0u8; 100]))),
            )),
        };
        assert_eq!(index, i);
    }

    /// How many blocks index the slots; `None` once each has a pointer of its own.
    fn blocks(slots: &Slots<'_, Local>) -> Option<usize> {
        match &slots.index {
            Index::Blocks(blocks) => Some(blocks.len()),
            Index::Pointers(_) => None,
        }
    }

    /// `n` tasks of type `Small` added together, in room made for them.
    fn added_together(n: usize, dropped: &Rc<RefCell<Vec<usize>>>) -> Slots<'static, Local> {
        let mut slots = Slots::<Local>::new();
        slots.reserve::<Small, crate::BestEffort>(n);
        for i in 0..n {
            push(&mut slots, i, false, dropped);
        }
        slots
    }

    /// Every index finds its own slot, in every way a slot is reached, and dropping the
    /// slots drops each task once, in the order added.
    fn assert_found_then_dropped_in_order(
        mut slots: Slots<'_, Local>,
        dropped: &RefCell<Vec<usize>>,
    ) {
        let n = slots.len();
        let expected: Vec<_> = (0..n).map(|i| NAMES[i % NAMES.len()]).collect();
        let names: Vec<_> = slots.iter().map(|slot| slot.record().name).collect();
        assert_eq!(names, expected);
        for (i, name) in expected.iter().enumerate() {
            assert_eq!(slots.get(i).record().name, *name);
            assert_eq!(slots.get_mut(i).record().name, *name);
        }
        assert!(slots.try_get_mut(n).is_none());
        assert_eq!(slots.iter_mut().count(), n);
        drop(slots);
        assert_eq!(*dropped.borrow(), (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn tasks_added_together_share_one_block_and_each_index_finds_its_own() {
        let dropped = Rc::new(RefCell::new(Vec::new()));
        let slots = added_together(100, &dropped);
        assert_eq!(blocks(&slots), Some(1));
        assert_found_then_dropped_in_order(slots, &dropped);
    }

    #[test]
    fn mixed_types_and_new_chunks_start_blocks_and_each_index_finds_its_own() {
        let dropped = Rc::new(RefCell::new(Vec::new()));
        let mut slots = Slots::<Local>::new();
        // One at a time, with no room made: the arena's chunks double, each a new block.
        for i in 0..300 {
            push(&mut slots, i, false, &dropped);
        }
        let chunks = blocks(&slots).unwrap();
        assert!((2..10).contains(&chunks), "{chunks} blocks");
        // Types alternating: a block each.
        for i in 300..310 {
            push(&mut slots, i, i % 2 == 0, &dropped);
        }
        assert_eq!(blocks(&slots), Some(chunks + 10));
        assert_found_then_dropped_in_order(slots, &dropped);
    }

    #[test]
    fn blocks_that_average_fewer_than_three_slots_become_a_pointer_per_slot() {
        let dropped = Rc::new(RefCell::new(Vec::new()));
        let mut slots = added_together(100, &dropped);
        // Alternating types, one at a time: a block each, until blocks take more room than
        // pointers would.
        let mut turned = None;
        for i in 100..300 {
            push(&mut slots, i, i % 2 == 0, &dropped);
            if turned.is_none() && blocks(&slots).is_none() {
                turned = Some(i);
            }
        }
        assert_eq!(
            turned,
            Some(149),
            "1 + 49 blocks for 150 slots, then pointers"
        );
        assert_found_then_dropped_in_order(slots, &dropped);
    }
}
