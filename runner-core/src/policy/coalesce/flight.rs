//! One call through a coalescing group: it leads its key's flight, or waits on it, and takes
//! the flight over when its leader leaves first.

use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use crate::context::{self, Verdict};
use crate::policy::coalesce::Coalesce;
use crate::policy::event::EventKind;

pin_project! {
    /// A call coalesced with the calls of the same key: what
    /// [`Coalesce::call`] and [`Task::coalesce`](crate::Task::coalesce) give.
    ///
    /// It runs its own future only while it leads its key's flight, and drops it unpolled
    /// when another call's result comes first. Dropped while it leads, it hands the flight to
    /// a waiting call; dropped while it waits, it leaves the others waiting.
    #[must_use = "futures do nothing unless polled"]
    pub struct Coalesced<'g, K, T, E, F>
    where
        K: Hash,
        K: Eq,
    {
        group: &'g Coalesce<K, T, E>,
        task: &'static str,
        key: K,
        role: Role,
        #[pin]
        future: F,
    }

    impl<'g, K, T, E, F> PinnedDrop for Coalesced<'g, K, T, E, F>
    where
        K: Hash,
        K: Eq,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.group.leave(this.key, *this.role);
        }
    }
}

/// Where a call stands in its key's flight.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// Not polled yet.
    Start,
    /// It runs the work, for the calls waiting on the flight at this place.
    Leading(usize),
    /// It waits on the flight at `flight`, its waker at `waker`.
    Waiting {
        flight: usize,
        waker: u32,
    },
    /// The group was full: it runs on its own.
    Alone,
    Done,
}

impl<'g, K: Hash + Eq, T, E, F> Coalesced<'g, K, T, E, F> {
    pub(super) fn new(group: &'g Coalesce<K, T, E>, task: &'static str, key: K, future: F) -> Self {
        Self {
            group,
            task,
            key,
            role: Role::Start,
            future,
        }
    }
}

impl<K, T, E, F> Future for Coalesced<'_, K, T, E, F>
where
    K: Hash + Eq + Clone,
    T: Clone,
    E: Clone,
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let group = *this.group;
        // The group's state changes only where no user code (the key's `Hash`, `Eq` and
        // `Clone`, the result's `Clone`, an observer) can panic halfway through, and the
        // call's role follows it before any user code runs: a panic anywhere leaves a role
        // that the call's drop ends cleanly (a leader hands its flight over, a waiting call
        // leaves).
        loop {
            match *this.role {
                Role::Start => {
                    let (role, event) = group.join(this.key, cx);
                    *this.role = role;
                    if let Some(event) = event {
                        group.emit(this.task, event);
                    }
                    if let Role::Waiting { .. } = role {
                        return Poll::Pending;
                    }
                }
                Role::Waiting { flight, waker } => match group.wait(flight, waker, cx) {
                    Some(Waited::Took((result, fallback))) => {
                        *this.role = Role::Done;
                        // The result is its fallback's for every call that takes it.
                        if fallback {
                            context::post(Verdict::Fallback);
                        }
                        return Poll::Ready(result);
                    }
                    Some(Waited::Leads) => {
                        *this.role = Role::Leading(flight);
                        group.emit(this.task, EventKind::CoalesceTakenOver);
                    }
                    None => return Poll::Pending,
                },
                Role::Leading(flight) => {
                    let (polled, out_of_time) =
                        context::watch_out_of_time(|| this.future.as_mut().poll(cx));
                    let result = ready!(polled);
                    // Still the leader while it lands: if the result's `Clone` panics there,
                    // the drop hands the flight over.
                    group.land(this.key, flight, &result, out_of_time);
                    *this.role = Role::Done;
                    return Poll::Ready(result);
                }
                Role::Alone => return this.future.as_mut().poll(cx),
                Role::Done => panic!("`Coalesced` polled after completion"),
            }
        }
    }
}

/// What a waiting call found.
enum Waited<R> {
    /// The leader's result, and whether it is its fallback's.
    Took((R, bool)),
    /// The flight, without a leader: it runs the work now.
    Leads,
}

impl<K, T, E> Coalesce<K, T, E>
where
    K: Hash + Eq + Clone,
    T: Clone,
    E: Clone,
{
    /// A call with `key` joins its flight: it leads a new one, takes over one without a
    /// leader, waits on one that has one, or runs alone when the group is full; with the
    /// event to tell once the call has its role.
    fn join(&self, key: &K, cx: &Context<'_>) -> (Role, Option<EventKind>) {
        let mut flights = self.lock();
        let Some(at) = flights.find(key) else {
            if flights.keys() >= self.capacity {
                return (Role::Alone, Some(EventKind::CoalesceFull));
            }
            return (Role::Leading(flights.start(key.clone())), None);
        };
        let flight = flights.get(at);
        if !flight.led {
            flight.led = true;
            return (Role::Leading(at), Some(EventKind::CoalesceTakenOver));
        }
        let waker = flight.wait(cx.waker());
        let waiting = flight.waiting;
        (
            Role::Waiting { flight: at, waker },
            Some(EventKind::Coalesced { waiting }),
        )
    }

    /// A waiting call polled: it takes the result if it came, leads if the leader left, or
    /// waits on.
    fn wait(&self, at: usize, waker: u32, cx: &Context<'_>) -> Option<Waited<Result<T, E>>> {
        let mut flights = self.lock();
        let flight = flights.get(at);
        if let Some((result, fallback)) = &flight.result {
            if flight.waiting > 1 {
                // Cloned before the call leaves: if the clone panics, it still waits, and
                // its drop leaves.
                let took = (result.clone(), *fallback);
                flight.leave(waker);
                return Some(Waited::Took(took));
            }
            // The last one to take it takes it by value, and frees the flight.
            flight.leave(waker);
            let took = flight.result.take();
            flights.free(at);
            return took.map(Waited::Took);
        }
        if !flight.led {
            flight.leave(waker);
            flight.led = true;
            return Some(Waited::Leads);
        }
        flight.rewait(waker, cx.waker());
        None
    }

    /// The leader's work gave `result`: for the calls waiting on it, unless time that ran
    /// out on the leader itself shaped it, which the others' may not have (a run inside
    /// failed on the deadline it inherited, its fallback answered at its cutoff, or a retry
    /// was refused for its deadline: `out_of_time`); then one of them takes the flight over.
    fn land(&self, key: &K, at: usize, result: &Result<T, E>, out_of_time: bool) {
        let posted = context::posted();
        let expired = result.is_err() && posted == Some(Verdict::Expired);
        let mut flights = self.lock();
        let waiting = flights.get(at).waiting;
        if waiting > 0 && (out_of_time || expired) {
            let flight = flights.get(at);
            flight.led = false;
            flight.wake_all();
            return;
        }
        // The result's `Clone` and the key's `Hash` run before the flight changes.
        let shared = (waiting > 0).then(|| result.clone());
        flights.close(key, at);
        let flight = flights.get(at);
        flight.led = false;
        match shared {
            Some(shared) => {
                flight.result = Some((shared, posted == Some(Verdict::Fallback)));
                flight.wake_all();
            }
            None => flights.free(at),
        }
    }
}

impl<K, T, E> Coalesce<K, T, E> {
    /// A call in `role` is dropped (or done): a leader hands its flight to the waiting calls,
    /// and the last call of a flight frees it.
    fn leave(&self, key: &K, role: Role)
    where
        K: Hash + Eq,
    {
        let (at, gone) = match role {
            Role::Leading(at) => (at, None),
            Role::Waiting { flight, waker } => (flight, Some(waker)),
            Role::Start | Role::Alone | Role::Done => return,
        };
        let mut flights = self.lock();
        let flight = flights.get(at);
        match gone {
            Some(waker) => flight.leave(waker),
            None => flight.led = false,
        }
        if flight.waiting > 0 {
            if gone.is_none() {
                flight.wake_all();
            }
            return;
        }
        if flight.led {
            return;
        }
        if flight.result.is_none() {
            flights.close(key, at);
        }
        flights.free(at);
    }
}
