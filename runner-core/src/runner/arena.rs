//! The memory a run's tasks' slots are in: a `bumpalo` arena of the run's.

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
    pub(super) fn alloc_with<T>(&self, make: impl FnOnce() -> T) -> &mut T {
        self.0.alloc_with(make)
    }

    /// The bytes of its chunks.
    pub(super) fn allocated_bytes(&self) -> usize {
        self.0.allocated_bytes()
    }
}
