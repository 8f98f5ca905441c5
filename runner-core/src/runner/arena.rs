//! The memory a run's tasks' slots are in: room made for the tasks added together, exactly
//! their size, then a `bumpalo` arena for any added after.
//!
//! `bumpalo` rounds a chunk up to a power of two below a page, and to a whole page above:
//! for 100 tasks, 36 bytes a task of room that no task uses. The tasks of an `add_all`, the
//! most common way a run gets its tasks, have their number known, so they get room of
//! exactly their size; the rest take `bumpalo`'s chunks.

use std::alloc::Layout;
use std::any::TypeId;
use std::cell::Cell;
use std::ptr::NonNull;

use bumpalo::Bump;

/// The arena a run's slots are in.
///
/// `pub` only to be named by [`Holds`](super::threading::Holds), from this private module:
/// no user can name it or make one.
pub struct Arena {
    room: Option<Room>,
    bump: Bump,
    /// The bump arena's bytes when a value last went in it, and its chunks by then: a new
    /// chunk is seen as a change in its bytes.
    bump_bytes: Cell<usize>,
    bump_chunks: Cell<u32>,
}

/// Which allocation of an arena's a value went in: values in the same one may be reached
/// from one another's pointers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Chunk(u32);

/// Where [`Arena::alloc_with`] put a value: in which allocation, and the value's type and
/// size, read off the value put there rather than assumed by the caller.
///
/// `pub` for the same reason as [`Arena`].
#[derive(Clone, Copy, Debug)]
pub struct Placed {
    pub(super) chunk: Chunk,
    /// Told apart without a `'static` bound: lifetimes change neither a type's layout nor
    /// its vtable.
    pub(super) kind: TypeId,
    pub(super) size: usize,
}

/// One allocation, filled from its end down, as `bumpalo` fills its chunks.
struct Room {
    start: NonNull<u8>,
    layout: Layout,
    /// The bytes still free, at its start.
    free: Cell<usize>,
}

// SAFETY: the room owns its allocation, which nothing else points to but the values in it,
// which their owner sends with it.
unsafe impl Send for Room {}

impl Drop for Room {
    fn drop(&mut self) {
        // SAFETY: allocated in `Room::new` with this layout, and freed once, here.
        unsafe { std::alloc::dealloc(self.start.as_ptr(), self.layout) }
    }
}

impl Room {
    /// Room for `count` values of `layout`; `None` for none, or for more than the allocator
    /// gives. The count is an iterator's lower bound, which may be far more than the tasks
    /// a run can hold: the tasks then take chunks as they come, and fail only if those do.
    fn new(layout: Layout, count: usize) -> Option<Self> {
        let layout = Layout::from_size_align(layout.size().checked_mul(count)?, layout.align())
            .ok()
            .filter(|layout| layout.size() > 0)?;
        // SAFETY: the layout's size is not zero.
        let start = NonNull::new(unsafe { std::alloc::alloc(layout) })?;
        Some(Self {
            start,
            layout,
            free: Cell::new(layout.size()),
        })
    }

    /// Room for a `T` below the last value, if it fits.
    fn take<T>(&self) -> Option<NonNull<T>> {
        let layout = Layout::new::<T>();
        if layout.align() > self.layout.align() {
            return None;
        }
        let at = self.free.get().checked_sub(layout.size())? & !(layout.align() - 1);
        self.free.set(at);
        // SAFETY: `at` is inside the allocation, with a `T`'s size after it that nothing else
        // uses, aligned for it (the start is aligned to the room's alignment, at least the
        // `T`'s).
        Some(unsafe { self.start.add(at) }.cast::<T>())
    }
}

impl Arena {
    /// Allocates nothing until the first slot.
    pub(super) fn new() -> Self {
        Self::with(None)
    }

    /// Room for exactly `count` values of `layout`.
    pub(super) fn with_room(layout: Layout, count: usize) -> Self {
        Self::with(Room::new(layout, count))
    }

    fn with(room: Option<Room>) -> Self {
        Self {
            room,
            bump: Bump::new(),
            bump_bytes: Cell::new(0),
            bump_chunks: Cell::new(0),
        }
    }

    /// Puts the value `make` gives in the arena, which never moves it again nor drops it:
    /// the caller owns it, in place. (A closure lets the compiler build it there; a value
    /// passed in was built on the stack first, and copied.) Also where it went.
    ///
    /// The pointer is the allocation's, not a reference's: values put in the same one may be
    /// reached from one another's pointers.
    pub(super) fn alloc_with<T>(&self, make: impl FnOnce() -> T) -> (NonNull<T>, Placed) {
        // As `Bump::alloc_with` does, without making a `&mut T` of the room: the value is
        // written from within a function of its own, which the compiler most often sees to
        // build in place.
        #[inline(always)]
        fn write<T>(place: NonNull<T>, make: impl FnOnce() -> T) {
            // SAFETY: `place` is fresh room for a `T`, aligned for it, that nothing else
            // points to.
            unsafe { place.write(make()) }
        }
        let (place, chunk) = match self.room.as_ref().and_then(Room::take::<T>) {
            Some(place) => (place, Chunk(0)),
            None => {
                let place = self.bump.alloc_layout(Layout::new::<T>()).cast::<T>();
                // The bump arena only ever adds chunks, and a value goes in its newest.
                let bytes = self.bump.allocated_bytes();
                if bytes != self.bump_bytes.replace(bytes) {
                    // Fewer chunks than values, and a run holds fewer than `u32::MAX` values.
                    let chunks = self.bump_chunks.get().checked_add(1);
                    self.bump_chunks
                        .set(chunks.expect("fewer than `u32::MAX` chunks"));
                }
                (place, Chunk(self.bump_chunks.get()))
            }
        };
        write(place, make);
        let placed = Placed {
            chunk,
            kind: typeid::of::<T>(),
            size: size_of::<T>(),
        };
        (place, placed)
    }

    /// The bytes of its allocations.
    pub(super) fn allocated_bytes(&self) -> usize {
        self.room.as_ref().map_or(0, |room| room.layout.size()) + self.bump.allocated_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_holds_exactly_its_count_and_the_rest_go_to_chunks_of_their_own() {
        let arena = Arena::with_room(Layout::new::<[u64; 3]>(), 3);
        assert_eq!(arena.allocated_bytes(), 72);
        let placed: Vec<_> = (0..5u64)
            .map(|i| arena.alloc_with(|| [i, i + 1, i + 2]))
            .collect();
        let chunks: Vec<_> = placed.iter().map(|(_, placed)| placed.chunk).collect();
        assert_eq!(chunks, [Chunk(0), Chunk(0), Chunk(0), Chunk(1), Chunk(1)]);
        // The room is filled from its end down, each value just below the one before.
        for pair in placed[..3].windows(2) {
            assert_eq!(pair[0].0.as_ptr().wrapping_sub(1), pair[1].0.as_ptr());
        }
        for (i, (place, _)) in (0..5u64).zip(&placed) {
            // SAFETY: each value was written by `alloc_with`, and the arena is alive.
            assert_eq!(unsafe { place.read() }, [i, i + 1, i + 2]);
        }
    }

    #[test]
    fn no_room_is_made_for_nothing_or_for_too_much() {
        assert_eq!(
            Arena::with_room(Layout::new::<u64>(), 0).allocated_bytes(),
            0
        );
        assert_eq!(
            Arena::with_room(Layout::new::<()>(), 9).allocated_bytes(),
            0
        );
        // Past what a `Layout` can describe. (A count the allocator refuses makes no room
        // either, but AddressSanitizer aborts at such a request rather than refuse it.)
        for count in [usize::MAX, 1 << 60] {
            assert_eq!(
                Arena::with_room(Layout::new::<u64>(), count).allocated_bytes(),
                0
            );
        }
        let arena = Arena::with_room(Layout::new::<u64>(), 1 << 60);
        let (place, placed) = arena.alloc_with(|| 7u64);
        assert_ne!(placed.chunk, Chunk(0));
        assert_eq!((placed.kind, placed.size), (typeid::of::<u64>(), 8));
        // SAFETY: written by `alloc_with`, and the arena is alive.
        assert_eq!(unsafe { place.read() }, 7);
    }
}
