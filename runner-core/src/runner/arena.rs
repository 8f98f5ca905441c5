//! The memory a run's tasks' slots are in: a `bumpalo` arena of the run's.

use std::alloc::Layout;
use std::ptr::NonNull;

use bumpalo::Bump;

/// The arena a run's slots are in.
///
/// `pub` only to be named by [`Holds`](super::threading::Holds), from this private module:
/// no user can name it or make one.
pub struct Arena(Bump);

impl Arena {
    /// Allocates nothing until the first slot.
    pub(super) fn new() -> Self {
        Self(Bump::new())
    }

    /// One chunk with room for `bytes`.
    pub(super) fn with_capacity(bytes: usize) -> Self {
        Self(Bump::with_capacity(bytes))
    }

    /// Puts the value `make` gives in the arena, which never moves it again nor drops it:
    /// the caller owns it, in place. (A closure lets the compiler build it there; a value
    /// passed in was built on the stack first, and copied.)
    ///
    /// The pointer is the chunk's, not a reference's: values put in the same chunk (see
    /// [`chunk`](Self::chunk)) may be reached from one another's pointers.
    pub(super) fn alloc_with<T>(&self, make: impl FnOnce() -> T) -> NonNull<T> {
        // As `Bump::alloc_with` does, without making a `&mut T` of the room: the value is
        // written from within a function of its own, which the compiler most often sees to
        // build in place.
        #[inline(always)]
        fn write<T>(place: NonNull<T>, make: impl FnOnce() -> T) {
            // SAFETY: `place` is fresh room for a `T`, aligned for it, that nothing else
            // points to.
            unsafe { place.write(make()) }
        }
        let place = self.0.alloc_layout(Layout::new::<T>()).cast::<T>();
        write(place, make);
        place
    }

    /// Which chunk values go in now: a new number whenever the arena makes a new chunk (the
    /// bytes of every chunk so far).
    pub(super) fn chunk(&self) -> usize {
        self.0.allocated_bytes()
    }

    /// The bytes of its chunks.
    pub(super) fn allocated_bytes(&self) -> usize {
        self.0.allocated_bytes()
    }
}
