//! The static engine over tuples of 1 to 16 tasks.

use std::error::Error as StdError;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::TryFuture;
use tokio::time::Instant;

use crate::criticality::Criticality;
use crate::error::FanOutError;
use crate::report::TaskRecord;
use crate::slot::{Cuts, SlotOf, TaskSlot};
use crate::task::Task;
use crate::timer::{Clock, SharedTimer};
use crate::turn::Turn;

/// A tuple of [`Task`]s that a [`FanOut`](crate::FanOut) can run: implemented for tuples of 1 to
/// 16 tasks whose errors are `std::error::Error + Send + Sync + 'static`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tuple of tasks",
    label = "expected a tuple of `runner_core::Task`s",
    note = "build each task with `Task::critical`/`Task::best_effort`, or annotate its async fn with `#[task(...)]`; at most 16 tasks, each returning `Result<T, E>` with `E: std::error::Error + Send + Sync + 'static`"
)]
pub trait IntoBranches: sealed::Sealed {
    /// The running form of the tuple.
    type Branches: Branches;

    #[doc(hidden)]
    fn into_branches(self) -> Self::Branches;
}

/// The running form of a tuple of tasks, a tuple of [`TaskSlot`]s, as the engine sees it.
pub trait Branches: sealed::Sealed {
    /// The fan-out's success value: a tuple of slots.
    type Output;
    /// The report's records, an array with one per task.
    type Records: AsRef<[TaskRecord]>;
    #[doc(hidden)]
    const LEN: usize;

    #[doc(hidden)]
    fn start(self: Pin<&mut Self>, clock: &mut Clock, deadline: Option<Instant>, timed: bool);
    #[doc(hidden)]
    fn poll_branch(
        self: Pin<&mut Self>,
        index: usize,
        cx: &mut Context<'_>,
        clock: &mut Clock,
        turn: &mut Turn,
    ) -> Poll<Result<(), FanOutError>>;
    /// Settles task `index` at the deadline, adding what the deadline did to it to `cuts`.
    #[doc(hidden)]
    fn cut_branch(
        self: Pin<&mut Self>,
        index: usize,
        cx: &mut Context<'_>,
        clock: &mut Clock,
        turn: &mut Turn,
        cuts: &mut Cuts,
    );
    #[doc(hidden)]
    fn cancel(self: Pin<&mut Self>, clock: &mut Clock);
    /// The earliest instant a task's own timer fires, among the running tasks.
    #[doc(hidden)]
    fn next_expiry(&self) -> Option<Instant>;
    /// Times out task `index` if it is running and its own timer's instant has come.
    #[doc(hidden)]
    fn expire_branch(
        self: Pin<&mut Self>,
        index: usize,
        now: Instant,
        cx: &mut Context<'_>,
        clock: &mut Clock,
        turn: &mut Turn,
    ) -> Result<(), FanOutError>;
    /// `true` once no task runs.
    #[doc(hidden)]
    fn is_done(&self) -> bool;
    #[doc(hidden)]
    fn take_output(self: Pin<&mut Self>) -> Option<Self::Output>;
    #[doc(hidden)]
    fn records(&self) -> Self::Records;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! tuple_impls {
    ($len:literal => $($F:ident $C:ident $idx:tt),+) => {
        impl<$($F, $C),+> sealed::Sealed for ($(Task<$F, $C>,)+) {}

        impl<$($F, $C),+> IntoBranches for ($(Task<$F, $C>,)+)
        where
            $($F: TryFuture, $F::Error: StdError + Send + Sync + 'static, $C: Criticality,)+
        {
            type Branches = ($(TaskSlot<$F, $C, SharedTimer>,)+);

            fn into_branches(self) -> Self::Branches {
                ($(TaskSlot::new(self.$idx),)+)
            }
        }

        impl<$($F, $C),+> sealed::Sealed for ($(TaskSlot<$F, $C, SharedTimer>,)+)
        where
            $($F: TryFuture, $C: Criticality,)+
        {
        }

        // SAFETY (for every `Pin::new_unchecked` below): the fields of a pinned tuple of
        // slots are pinned structurally. A tuple has no `Drop` of its own that could move a
        // field, it is `Unpin` only when every slot is, and no method here moves a field out
        // or hands out an unpinned `&mut` to one: each is only ever re-pinned in place.
        impl<$($F, $C),+> Branches for ($(TaskSlot<$F, $C, SharedTimer>,)+)
        where
            $($F: TryFuture, $F::Error: StdError + Send + Sync + 'static, $C: Criticality,)+
        {
            type Output = ($(SlotOf<$F, $C>,)+);
            type Records = [TaskRecord; $len];
            const LEN: usize = $len;

            fn start(self: Pin<&mut Self>, clock: &mut Clock, deadline: Option<Instant>, timed: bool) {
                // SAFETY: see the impl.
                let this = unsafe { self.get_unchecked_mut() };
                // SAFETY: see the impl.
                $(unsafe { Pin::new_unchecked(&mut this.$idx) }.start(clock, deadline, timed);)+
            }

            fn poll_branch(
                self: Pin<&mut Self>,
                index: usize,
                cx: &mut Context<'_>,
                clock: &mut Clock,
                turn: &mut Turn,
            ) -> Poll<Result<(), FanOutError>> {
                // SAFETY: see the impl.
                let this = unsafe { self.get_unchecked_mut() };
                match index {
                    // SAFETY: see the impl.
                    $($idx => unsafe { Pin::new_unchecked(&mut this.$idx) }.poll_slot(cx, clock, turn),)+
                    _ => Poll::Ready(Ok(())),
                }
            }

            fn cut_branch(
                self: Pin<&mut Self>,
                index: usize,
                cx: &mut Context<'_>,
                clock: &mut Clock,
                turn: &mut Turn,
                cuts: &mut Cuts,
            ) {
                // SAFETY: see the impl.
                let this = unsafe { self.get_unchecked_mut() };
                match index {
                    // SAFETY: see the impl.
                    $($idx => cuts.add(unsafe { Pin::new_unchecked(&mut this.$idx) }.cut(cx, clock, turn)),)+
                    _ => {}
                }
            }

            fn cancel(self: Pin<&mut Self>, clock: &mut Clock) {
                // SAFETY: see the impl.
                let this = unsafe { self.get_unchecked_mut() };
                // SAFETY: see the impl.
                $(unsafe { Pin::new_unchecked(&mut this.$idx) }.cancel(clock);)+
            }

            fn next_expiry(&self) -> Option<Instant> {
                [$(self.$idx.fires_at(),)+].into_iter().flatten().min()
            }

            fn expire_branch(
                self: Pin<&mut Self>,
                index: usize,
                now: Instant,
                cx: &mut Context<'_>,
                clock: &mut Clock,
                turn: &mut Turn,
            ) -> Result<(), FanOutError> {
                // SAFETY: see the impl.
                let this = unsafe { self.get_unchecked_mut() };
                match index {
                    // SAFETY: see the impl.
                    $($idx => unsafe { Pin::new_unchecked(&mut this.$idx) }.expire(now, cx, clock, turn),)+
                    _ => Ok(()),
                }
            }

            fn is_done(&self) -> bool {
                $(self.$idx.is_done())&&+
            }

            fn take_output(self: Pin<&mut Self>) -> Option<Self::Output> {
                // SAFETY: see the impl.
                let this = unsafe { self.get_unchecked_mut() };
                // SAFETY: see the impl.
                Some(($(unsafe { Pin::new_unchecked(&mut this.$idx) }.take()?,)+))
            }

            fn records(&self) -> Self::Records {
                [$(self.$idx.record(),)+]
            }
        }
    };
}

tuple_impls!(1 => F0 C0 0);
tuple_impls!(2 => F0 C0 0, F1 C1 1);
tuple_impls!(3 => F0 C0 0, F1 C1 1, F2 C2 2);
tuple_impls!(4 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3);
tuple_impls!(5 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4);
tuple_impls!(6 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4, F5 C5 5);
tuple_impls!(7 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4, F5 C5 5, F6 C6 6);
tuple_impls!(8 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4, F5 C5 5, F6 C6 6, F7 C7 7);
tuple_impls!(9 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4, F5 C5 5, F6 C6 6, F7 C7 7, F8 C8 8);
tuple_impls!(10 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4, F5 C5 5, F6 C6 6, F7 C7 7, F8 C8 8, F9 C9 9);
tuple_impls!(11 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4, F5 C5 5, F6 C6 6, F7 C7 7, F8 C8 8, F9 C9 9, F10 C10 10);
tuple_impls!(12 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4, F5 C5 5, F6 C6 6, F7 C7 7, F8 C8 8, F9 C9 9, F10 C10 10, F11 C11 11);
tuple_impls!(13 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4, F5 C5 5, F6 C6 6, F7 C7 7, F8 C8 8, F9 C9 9, F10 C10 10, F11 C11 11, F12 C12 12);
tuple_impls!(14 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4, F5 C5 5, F6 C6 6, F7 C7 7, F8 C8 8, F9 C9 9, F10 C10 10, F11 C11 11, F12 C12 12, F13 C13 13);
tuple_impls!(15 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4, F5 C5 5, F6 C6 6, F7 C7 7, F8 C8 8, F9 C9 9, F10 C10 10, F11 C11 11, F12 C12 12, F13 C13 13, F14 C14 14);
tuple_impls!(16 => F0 C0 0, F1 C1 1, F2 C2 2, F3 C3 3, F4 C4 4, F5 C5 5, F6 C6 6, F7 C7 7, F8 C8 8, F9 C9 9, F10 C10 10, F11 C11 11, F12 C12 12, F13 C13 13, F14 C14 14, F15 C15 15);
