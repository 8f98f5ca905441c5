//! The static engine: a fixed set of tasks polled in place, inside the caller's task.
//!
//! Like tokio's `join!`, the tasks live inline in the future (a tuple of [`TaskSlot`]s), so a
//! run spawns nothing and allocates nothing (a `tracing` subscriber that enables the task
//! spans may allocate for them; that is the subscriber's cost), tasks may borrow locals, and
//! the future is `Send` exactly when the tasks are. The first task polled rotates on every
//! poll, so no task starves the others.
//!
//! [`TaskSlot`]: crate::TaskSlot

mod tuple;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::FusedFuture;
use pin_project_lite::pin_project;
use tokio_util::sync::CancellationToken;

pub use self::tuple::{Branches, IntoBranches};
use crate::cancel::{Cancel, NoToken, WithToken};
use crate::error::FanOutError;
use crate::observe;
use crate::report::{self, Report};
use crate::slot::Cuts;
use crate::stop::Stop;
use crate::timer::Clock;
use crate::turn::Turn;
use crate::with_report::{Run, WithReport, sealed};

pin_project! {
    /// Runs a fixed set of tasks concurrently: a future of `Result<(slot, ...), FanOutError>`.
    ///
    /// Each slot is typed by its task's criticality: `T` for a critical task,
    /// `Result<T, TaskError<E>>` for a best-effort one. `fan_out!` expands to this; by hand:
    ///
    /// ```
    /// use std::time::Duration;
    /// use runner_core::{FanOut, Task, TaskError};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("scratch-card service is down")]
    /// struct CardError;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), runner_core::FanOutError> {
    /// let balance = Task::critical("balance", async { Ok::<u64, std::io::Error>(1_250) })
    ///     .timeout(Duration::from_millis(200));
    /// let card = Task::best_effort("scratch_card", async { Err::<String, _>(CardError) })
    ///     .timeout(Duration::from_millis(150));
    ///
    /// let (balance, card): (u64, Result<String, TaskError<CardError>>) =
    ///     FanOut::new((balance, card))
    ///         .deadline(Duration::from_millis(300))
    ///         .await?;
    /// assert_eq!(balance, 1_250);
    /// assert!(card.is_err()); // degraded, not failed
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// `K` is how it is cancelled from outside: by nothing but being dropped (the default), or
    /// by a token, once [`cancel_on`](Self::cancel_on) gave it one.
    #[must_use = "futures do nothing unless awaited"]
    pub struct FanOut<B, K = NoToken> {
        #[pin]
        slots: Slots<B>,
        // The deadline, and one timer for the deadline and every task's own timeout, armed
        // at the earliest.
        #[pin]
        stop: Stop,
        #[pin]
        cancel: K,
        // The branch polled first on the next poll: one of at most 16, so a byte, which
        // keeps the fan-out a word smaller.
        next: u8,
        // Whether the tasks' elapsed times are wanted (for a report).
        timed: bool,
        finished: bool,
    }
}

pin_project! {
    /// The tasks' slots, in a type of their own: a tuple in a field of `FanOut` itself would be
    /// offered by rustc as the fix for a missing `.await` ("you might have meant to use field
    /// `branches`"), a private field the user cannot reach.
    struct Slots<B> {
        #[pin]
        branches: B,
    }
}

impl<B: Branches> FanOut<B> {
    /// A fan-out of a tuple of up to 16 [`Task`](crate::Task)s.
    pub fn new<T>(tasks: T) -> Self
    where
        T: IntoBranches<Branches = B>,
    {
        Self {
            slots: Slots {
                branches: tasks.into_branches(),
            },
            stop: Stop::new(),
            cancel: NoToken,
            next: 0,
            timed: false,
            finished: false,
        }
    }
}

impl<B: Branches, K: Cancel> FanOut<B, K> {
    /// Sets an overall deadline, counted from the first poll.
    ///
    /// When it passes, the fan-out fails if a critical task is still pending; otherwise the
    /// pending best-effort tasks are dropped, their slots say
    /// [`TaskError::DeadlineExceeded`](crate::TaskError::DeadlineExceeded), and the fan-out
    /// returns `Ok`. Inside a task of an enclosing fan-out, the tighter deadline applies.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.stop.set_deadline(deadline);
        self
    }

    /// Ends the fan-out with [`FanOutError::Cancelled`] when `token` is cancelled, dropping
    /// every task. The token is checked before every task poll, so a cancel made inside one
    /// task's poll stops the tasks after it. Each check takes the token's lock: give each
    /// run a token of its own (`token.child_token()`), not a clone of one that every request
    /// shares.
    ///
    /// A fan-out without a token has no room for one, so this gives a fan-out of another
    /// type, `FanOut<B, WithToken>`. Code that adds a token on one path only awaits each
    /// where it is made, returns `impl Future`, or gives the other path a token that is never
    /// cancelled (`CancellationToken::default()`).
    pub fn cancel_on(self, token: CancellationToken) -> FanOut<B, WithToken> {
        FanOut {
            slots: self.slots,
            stop: self.stop,
            cancel: WithToken::new(Some(token)),
            next: self.next,
            timed: self.timed,
            finished: self.finished,
        }
    }

    /// The same fan-out, returning its [`Report`] beside its result.
    pub fn with_report(mut self) -> WithReport<Self> {
        self.timed = true;
        WithReport::new(self)
    }
}

impl<B: Branches, K: Cancel> sealed::Sealed for FanOut<B, K> {}

impl<B: Branches, K: Cancel> Run for FanOut<B, K> {
    type Ok = B::Output;
    type Records = B::Records;

    fn poll_run(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<B::Output, FanOutError>> {
        let mut this = self.project();
        let mut branches = this.slots.project().branches;
        assert!(!*this.finished, "`FanOut` polled after completion");
        let mut clock = Clock::default();
        let mut turn = Turn::default();
        let result = 'run: {
            if this.cancel.as_mut().poll_cancelled(cx) {
                break 'run Err(FanOutError::Cancelled);
            }
            if !this.stop.is_started() {
                let deadline = this.stop.as_mut().start(&mut clock, *this.timed);
                // No task starts at or after the deadline (a zero one, or one inherited
                // from a task whose time is up): the deadline settles them all unstarted.
                if this.stop.has_passed(&mut clock) {
                    let branches = branches.as_mut();
                    break 'run cut(
                        branches,
                        &this.stop,
                        &*this.cancel,
                        cx,
                        &mut clock,
                        &mut turn,
                    );
                }
                branches.as_mut().start(&mut clock, deadline, *this.timed);
                this.stop.as_mut().arm(branches.next_expiry());
            }
            // What a last chance at a timer's instant is given: only a run with a timer needs
            // it, and noting it costs a unit of the budget.
            if this.stop.own_due().is_some() || this.stop.deadline_at().is_some() {
                turn.note_budget(cx);
            }

            let first = usize::from(*this.next);
            // Below `B::LEN`, at most 16.
            *this.next = if first + 1 == B::LEN {
                0
            } else {
                first as u8 + 1
            };
            let mut all_done = true;
            for offset in 0..B::LEN {
                // A cancel made inside an earlier task's poll stops the ones after it.
                if offset > 0 && this.cancel.is_cancelled() {
                    break 'run Err(FanOutError::Cancelled);
                }
                let index = if first + offset < B::LEN {
                    first + offset
                } else {
                    first + offset - B::LEN
                };
                let polled = branches
                    .as_mut()
                    .poll_branch(index, cx, &mut clock, &mut turn);
                match polled {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(error)) => break 'run Err(error),
                    Poll::Pending => all_done = false,
                }
            }
            // The tasks were polled first: work that finished at the instant its own timer
            // fires has already won, and the rest get a last chance as they time out.
            while !all_done
                && let Some(due) = this.stop.own_due()
                && this.stop.as_mut().poll_alarm(cx)
            {
                // Every task due at the instant the alarm was armed for times out; none is
                // due later, so the next instant is strictly later and this loop ends.
                for index in 0..B::LEN {
                    if this.cancel.is_cancelled() {
                        break 'run Err(FanOutError::Cancelled);
                    }
                    let expired = branches
                        .as_mut()
                        .expire_branch(index, due, cx, &mut clock, &mut turn);
                    if let Err(error) = expired {
                        break 'run Err(error);
                    }
                }
                all_done = branches.is_done();
                // Re-armed at the next task's instant, or at the deadline, and polled again
                // (above, or as the deadline below), so that its waker is registered or it
                // fires at once if that instant has come too.
                this.stop.as_mut().arm(branches.next_expiry());
            }
            if !all_done {
                if !this.stop.as_mut().poll_deadline(cx) {
                    return Poll::Pending;
                }
                let branches = branches.as_mut();
                break 'run cut(
                    branches,
                    &this.stop,
                    &*this.cancel,
                    cx,
                    &mut clock,
                    &mut turn,
                );
            }
            Ok(())
        };

        *this.finished = true;
        let result = this.stop.conclude(result, this.cancel.is_cancelled());
        match &result {
            Ok(()) if report::warns() => {
                report::warn_degraded(branches.records().as_ref().iter().copied());
            }
            Ok(()) => {}
            // Nothing keeps running once the fan-out has failed.
            Err(_) => branches.as_mut().cancel(&mut clock),
        }
        observe::run_finished(
            || branches.records(),
            || this.stop.elapsed(&mut clock),
            result.as_ref().err(),
        );
        Poll::Ready(result.map(|()| {
            branches
                .take_output()
                .expect("every slot is filled once every task is done")
        }))
    }

    fn report(self: Pin<&mut Self>) -> Report<B::Records> {
        Report::new(
            self.slots.branches.records(),
            self.stop.elapsed(&mut Clock::default()),
        )
    }
}

/// Settles every task still pending at the deadline, in the order written, each after a last
/// chance to finish; the run fails if a critical one was still pending.
fn cut<B: Branches>(
    mut branches: Pin<&mut B>,
    stop: &Stop,
    cancel: &impl Cancel,
    cx: &mut Context<'_>,
    clock: &mut Clock,
    turn: &mut Turn,
) -> Result<(), FanOutError> {
    let mut cuts = Cuts::default();
    for index in 0..B::LEN {
        if cancel.is_cancelled() {
            return Err(FanOutError::Cancelled);
        }
        branches
            .as_mut()
            .cut_branch(index, cx, clock, turn, &mut cuts);
    }
    cuts.into_error(stop.elapsed(clock)).map_or(Ok(()), Err)
}

impl<B: Branches, K: Cancel> Future for FanOut<B, K> {
    type Output = Result<B::Output, FanOutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_run(cx)
    }
}

impl<B: Branches, K: Cancel> FusedFuture for FanOut<B, K> {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}
