//! The dynamic runner's view of a task slot: one object-safe trait over every
//! [`TaskSlot`]'s type, so that tasks of mixed types sit side by side.

use std::error::Error as StdError;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use futures::TryFuture;
use tokio::time::Instant;

use crate::criticality::Criticality;
use crate::error::FanOutError;
use crate::report::TaskRecord;
use crate::slot::{Cut, SlotOf, TaskSlot};
use crate::timer::Clock;
use crate::turn::Turn;

/// The object-safe face of a [`TaskSlot`], for the dynamic runner's mixed task types.
///
/// `pub` only to be named by [`Threading`](crate::runner::Threading), from this private
/// module: no user can name or implement it.
pub trait ErasedSlot {
    fn start(self: Pin<&mut Self>, clock: &mut Clock, deadline: Option<Instant>, timed: bool);
    fn poll_slot(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        clock: &mut Clock,
        turn: &mut Turn,
    ) -> Poll<Result<(), FanOutError>>;
    fn cut(self: Pin<&mut Self>, cx: &mut Context<'_>, clock: &mut Clock, turn: &mut Turn) -> Cut;
    fn cancel(self: Pin<&mut Self>, clock: &mut Clock);
    fn record(&self) -> TaskRecord;
    /// Moves the slot into `*out`, and leaves `None` in its place.
    ///
    /// # Safety
    ///
    /// `out` must point to an `Option` of this slot's type, `Option<SlotOf<F, C>>`: its
    /// `Any` cannot say so, as the slot's value need not be `'static`.
    unsafe fn take_into(self: Pin<&mut Self>, out: NonNull<()>);
    /// The name of its slot's type, for a debug build to check what `take_into` is given.
    #[cfg(debug_assertions)]
    fn slot_type(&self) -> &'static str;
}

impl<F, C> ErasedSlot for TaskSlot<F, C>
where
    F: TryFuture,
    F::Error: StdError + Send + Sync + 'static,
    C: Criticality,
{
    fn start(self: Pin<&mut Self>, clock: &mut Clock, deadline: Option<Instant>, timed: bool) {
        TaskSlot::start(self, clock, deadline, timed);
    }

    fn poll_slot(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        clock: &mut Clock,
        turn: &mut Turn,
    ) -> Poll<Result<(), FanOutError>> {
        TaskSlot::poll_slot(self, cx, clock, turn)
    }

    fn cut(self: Pin<&mut Self>, cx: &mut Context<'_>, clock: &mut Clock, turn: &mut Turn) -> Cut {
        TaskSlot::cut(self, cx, clock, turn)
    }

    fn cancel(self: Pin<&mut Self>, clock: &mut Clock) {
        TaskSlot::cancel(self, clock);
    }

    fn record(&self) -> TaskRecord {
        TaskSlot::record(self)
    }

    unsafe fn take_into(self: Pin<&mut Self>, out: NonNull<()>) {
        // SAFETY: the caller's promise: `out` points to an `Option<SlotOf<F, C>>`.
        let out = unsafe { out.cast::<Option<SlotOf<F, C>>>().as_mut() };
        *out = self.take();
    }

    #[cfg(debug_assertions)]
    fn slot_type(&self) -> &'static str {
        std::any::type_name::<SlotOf<F, C>>()
    }
}
