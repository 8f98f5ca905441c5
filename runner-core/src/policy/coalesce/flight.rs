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
        loop {
            match *this.role {
                Role::Start => {
                    *this.role = group.join(this.task, this.key, cx);
                    if let Role::Waiting { .. } = this.role {
                        return Poll::Pending;
                    }
                }
                Role::Waiting { flight, waker } => {
                    match group.wait(this.task, flight, waker, cx) {
                        Some(Waited::Took((result, fallback))) => {
                            *this.role = Role::Done;
                            // The result is its fallback's for every call that takes it.
                            if fallback {
                                context::post(Verdict::Fallback);
                            }
                            return Poll::Ready(result);
                        }
                        Some(Waited::Leads) => *this.role = Role::Leading(flight),
                        None => return Poll::Pending,
                    }
                }
                Role::Leading(flight) => {
                    let result = ready!(this.future.as_mut().poll(cx));
                    *this.role = Role::Done;
                    group.land(this.key, flight, &result);
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
    /// leader, waits on one that has one, or runs alone when the group is full.
    fn join(&self, task: &'static str, key: &K, cx: &Context<'_>) -> Role {
        let mut flights = self.lock();
        let Some(at) = flights.find(key) else {
            if flights.keys() >= self.capacity {
                return Role::Alone;
            }
            return Role::Leading(flights.start(key.clone()));
        };
        let flight = flights.get(at);
        if !flight.led {
            flight.led = true;
            drop(flights);
            self.emit(task, EventKind::CoalesceTakenOver);
            return Role::Leading(at);
        }
        let waker = flight.wait(cx.waker());
        let waiting = flight.waiting;
        drop(flights);
        self.emit(task, EventKind::Coalesced { waiting });
        Role::Waiting { flight: at, waker }
    }

    /// A waiting call polled: it takes the result if it came, leads if the leader left, or
    /// waits on.
    fn wait(
        &self,
        task: &'static str,
        at: usize,
        waker: u32,
        cx: &Context<'_>,
    ) -> Option<Waited<Result<T, E>>> {
        let mut flights = self.lock();
        let flight = flights.get(at);
        if flight.result.is_some() {
            flight.leave(waker);
            // The last one to take it takes it by value.
            let took = match (flight.waiting, flight.result.as_ref()) {
                (0, _) => {
                    let took = flight.result.take();
                    flights.free(at);
                    took
                }
                (_, Some((result, fallback))) => Some((result.clone(), *fallback)),
                (_, None) => None,
            };
            return took.map(Waited::Took);
        }
        if !flight.led {
            flight.leave(waker);
            flight.led = true;
            drop(flights);
            self.emit(task, EventKind::CoalesceTakenOver);
            return Some(Waited::Leads);
        }
        flight.rewait(waker, cx.waker());
        None
    }

    /// The leader's work gave `result`: for the calls waiting on it, unless the time that
    /// ran out was the leader's own (a run inside it failed on the deadline it inherited),
    /// which the others' may not have; then one of them takes the flight over.
    fn land(&self, key: &K, at: usize, result: &Result<T, E>) {
        let posted = context::posted();
        let mut flights = self.lock();
        let flight = flights.get(at);
        flight.led = false;
        if posted == Some(Verdict::Expired) && flight.waiting > 0 {
            flight.wake_all();
            return;
        }
        if flight.waiting > 0 {
            flight.result = Some((result.clone(), posted == Some(Verdict::Fallback)));
            flight.wake_all();
            flights.close(key, at);
            return;
        }
        flights.close(key, at);
        flights.free(at);
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
