//! Whether a runner's tasks must be `Send`: the runner holds its tasks type-erased, so the
//! choice is made once, in its type, rather than followed from the tasks as `FanOut`'s is.

use std::error::Error as StdError;
use std::ptr::NonNull;

use futures::TryFuture;

use crate::Task;
use crate::criticality::Criticality;
use crate::runner::arena::{Arena, Placed};
use crate::runner::erased::ErasedSlot;
use crate::slot::TaskSlot;
use crate::timer::SharedTimer;

/// What a [`TaskRunner`](super::TaskRunner) asks of its tasks' threads: [`Sendable`] (the
/// default) or [`Local`].
pub trait Threading: sealed::Sealed + 'static {
    #[doc(hidden)]
    type Slot<'a>: ?Sized + ErasedSlot + 'a;
}

/// Tasks that are `Send`, so the run is `Send`: for `tokio::spawn` and axum handlers. The
/// default of [`TaskRunner`](super::TaskRunner).
#[derive(Debug)]
pub enum Sendable {}

/// Tasks that need not be `Send` (holding an `Rc`, a `RefCell` borrow, a `!Send` client), so
/// the run is not `Send` either: for a current-thread runtime, a `LocalSet` or
/// `spawn_local`. See [`LocalTaskRunner`](super::LocalTaskRunner).
#[derive(Debug)]
pub enum Local {}

impl Threading for Sendable {
    type Slot<'a> = dyn ErasedSlot + Send + 'a;
}

impl Threading for Local {
    type Slot<'a> = dyn ErasedSlot + 'a;
}

/// A runner of threading `Self` can hold a task whose future is `F`, for `'a`: for
/// [`Sendable`], one whose future and value are `Send`.
#[diagnostic::on_unimplemented(
    message = "this task is not `Send`, and a `TaskRunner` runs `Send` tasks",
    label = "its future, or its value, is not `Send`",
    note = "for tasks that hold an `Rc`, a `RefCell` borrow or another `!Send` value across an `.await`, use `TaskRunner::local()` (a `LocalTaskRunner`) on a current-thread runtime or in a `LocalSet`",
    note = "to find the value that is not `Send`, pass the task to `fn require_send<T: Send>(_: &T) {{}}`"
)]
pub trait Holds<'a, F: TryFuture, C>: Threading {
    // What is asked of every task whatever the threading is asked here, not by the impls:
    // a task whose error is not an `Error` gets that error, not the note above.
    /// Puts the task's slot in the run's arena (see `Slots`), which owns it from then on;
    /// also where it went.
    #[doc(hidden)]
    fn hold(task: Task<F, C>, arena: &Arena) -> (NonNull<Self::Slot<'a>>, Placed)
    where
        F::Error: StdError + Send + Sync + 'static,
        C: Criticality;
}

// Not recommended: a task that is not `Send` gets the note above, which names the fix,
// rather than only the value that is not `Send`.
#[diagnostic::do_not_recommend]
impl<'a, F, C> Holds<'a, F, C> for Sendable
where
    F: TryFuture + Send + 'a,
    F::Ok: Send + 'a,
{
    fn hold(task: Task<F, C>, arena: &Arena) -> (NonNull<Self::Slot<'a>>, Placed)
    where
        F::Error: StdError + Send + Sync + 'static,
        C: Criticality,
    {
        let (slot, placed) = arena.alloc_with(|| TaskSlot::<F, C, SharedTimer>::new(task));
        (slot, placed)
    }
}

impl<'a, F, C> Holds<'a, F, C> for Local
where
    F: TryFuture + 'a,
    F::Ok: 'a,
{
    fn hold(task: Task<F, C>, arena: &Arena) -> (NonNull<Self::Slot<'a>>, Placed)
    where
        F::Error: StdError + Send + Sync + 'static,
        C: Criticality,
    {
        let (slot, placed) = arena.alloc_with(|| TaskSlot::<F, C, SharedTimer>::new(task));
        (slot, placed)
    }
}

mod sealed {
    pub trait Sealed {}

    impl Sealed for super::Sendable {}
    impl Sealed for super::Local {}
}
