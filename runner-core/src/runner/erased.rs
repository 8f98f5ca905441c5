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
use crate::timer::{Clock, OwnTimer};
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
    /// `true` from its start until its slot is filled (or it failed): a wake-up of a task
    /// that has ended is stale.
    fn is_running(&self) -> bool;
    /// `true` once it has ended: its slot filled, or the task dropped.
    fn is_done(&self) -> bool;
    /// When its own timeout ends it, while it runs: the run keeps one timer for them all.
    fn fires_at(&self) -> Option<Instant>;
    /// Times it out if its own timer's instant is at or before `now`, after a last chance.
    fn expire(
        self: Pin<&mut Self>,
        now: Instant,
        cx: &mut Context<'_>,
        clock: &mut Clock,
        turn: &mut Turn,
    ) -> Result<(), FanOutError>;
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

impl<F, C, T> ErasedSlot for TaskSlot<F, C, T>
where
    F: TryFuture,
    F::Error: StdError + Send + Sync + 'static,
    C: Criticality,
    T: OwnTimer,
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

    fn is_running(&self) -> bool {
        TaskSlot::is_started(self) && !TaskSlot::is_done(self)
    }

    fn is_done(&self) -> bool {
        TaskSlot::is_done(self)
    }

    fn fires_at(&self) -> Option<Instant> {
        TaskSlot::fires_at(self)
    }

    fn expire(
        self: Pin<&mut Self>,
        now: Instant,
        cx: &mut Context<'_>,
        clock: &mut Clock,
        turn: &mut Turn,
    ) -> Result<(), FanOutError> {
        TaskSlot::expire(self, now, cx, clock, turn)
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

/// Takes the slot of a task that ended, as the type its handle says; `None` if it was taken,
/// or if the task failed.
///
/// # Safety
///
/// `slot` holds a task whose slot type is `C::Slot<T, E>`: its handle's runner and index are
/// the slot's (a handle is made only by its runner's `add` or `add_all`, typed by the task it
/// added at that index, and a runner's id is its alone). `Handle` is covariant in `T` and
/// `E`: a handle whose types were shortened reads the value as a supertype.
pub(super) unsafe fn take_typed<S, C, T, E>(slot: Pin<&mut S>) -> Option<C::Slot<T, E>>
where
    S: ErasedSlot + ?Sized,
    C: Criticality,
{
    let mut out: Option<C::Slot<T, E>> = None;
    #[cfg(debug_assertions)]
    assert_eq!(slot.slot_type(), std::any::type_name::<C::Slot<T, E>>());
    // SAFETY: the caller's promise: the slot holds a `C::Slot<T, E>`, which is what `out` is
    // an `Option` of.
    unsafe { slot.take_into(NonNull::from(&mut out).cast()) };
    out
}
