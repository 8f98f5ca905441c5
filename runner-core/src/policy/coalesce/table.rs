//! The flights of a group: which key each is for, who leads it, who waits on it, and the
//! result its waiting calls take.
//!
//! Flights live in a `Vec` whose free places are reused with the capacity their wakers
//! had, and keys map to places in a `HashMap` that keeps its capacity as keys leave: once
//! the group has seen its busiest moment, a call allocates nothing here.

use std::collections::HashMap;
use std::hash::Hash;
use std::task::Waker;

/// The flights of a group, under its lock.
pub(super) struct Flights<K, R> {
    by_key: HashMap<K, usize>,
    flights: Vec<Flight<R>>,
    free: Vec<usize>,
}

/// One flight: the work its leader runs, for the calls that wait on it.
pub(super) struct Flight<R> {
    /// A call runs the work now. A flight without one, waited on, is taken over by the
    /// first of its waiting calls to be polled.
    pub(super) led: bool,
    /// The calls waiting on it, leader aside.
    pub(super) waiting: u32,
    /// What the leader's work gave, for the calls still waiting: its result, and whether
    /// it is its fallback's.
    pub(super) result: Option<(R, bool)>,
    wakers: Vec<Option<Waker>>,
    free_wakers: Vec<u32>,
}

impl<K, R> Flights<K, R> {
    pub(super) fn new() -> Self {
        Self {
            by_key: HashMap::new(),
            flights: Vec::new(),
            free: Vec::new(),
        }
    }

    /// The keys in flight.
    pub(super) fn keys(&self) -> usize {
        self.by_key.len()
    }
}

impl<K: Hash + Eq, R> Flights<K, R> {
    /// The flight of `key` now, if one runs (or is waited on).
    pub(super) fn find(&self, key: &K) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// A new flight for `key`, led by its caller. The key goes into the map first: its
    /// `Hash` is the user's, and if it panics nothing has changed.
    pub(super) fn start(&mut self, key: K) -> usize {
        let at = self.free.last().copied().unwrap_or(self.flights.len());
        self.by_key.insert(key, at);
        match self.free.pop() {
            Some(_) => {}
            None => self.flights.push(Flight {
                led: false,
                waiting: 0,
                result: None,
                wakers: Vec::new(),
                free_wakers: Vec::new(),
            }),
        }
        self.flights[at].led = true;
        at
    }

    pub(super) fn get(&mut self, at: usize) -> &mut Flight<R> {
        &mut self.flights[at]
    }

    /// No new call joins the flight at `at` (of `key`): it finished, or nobody wants it.
    pub(super) fn close(&mut self, key: &K, at: usize) {
        if self.by_key.get(key) == Some(&at) {
            self.by_key.remove(key);
        }
    }

    /// The flight at `at`, closed, led by none and waited on by none, is done with: its
    /// place is free, its wakers' capacity kept.
    pub(super) fn free(&mut self, at: usize) {
        let flight = &mut self.flights[at];
        debug_assert!(!flight.led && flight.waiting == 0);
        flight.result = None;
        flight.wakers.clear();
        flight.free_wakers.clear();
        self.free.push(at);
    }
}

impl<R> Flight<R> {
    /// A waiting call's place for its waker.
    pub(super) fn wait(&mut self, waker: &Waker) -> u32 {
        self.waiting += 1;
        match self.free_wakers.pop() {
            Some(at) => {
                self.wakers[at as usize] = Some(waker.clone());
                at
            }
            None => {
                self.wakers.push(Some(waker.clone()));
                // A flight has fewer waiting calls than a `u32` counts: `waiting` would
                // overflow first.
                (self.wakers.len() - 1) as u32
            }
        }
    }

    /// Keeps the waker of the waiting call at `at` up to date.
    pub(super) fn rewait(&mut self, at: u32, waker: &Waker) {
        match &mut self.wakers[at as usize] {
            Some(held) if held.will_wake(waker) => {}
            held => *held = Some(waker.clone()),
        }
    }

    /// The waiting call at `at` waits no more.
    pub(super) fn leave(&mut self, at: u32) {
        self.waiting -= 1;
        self.wakers[at as usize] = None;
        self.free_wakers.push(at);
    }

    /// Wakes every waiting call: to take the result, or the flight over.
    pub(super) fn wake_all(&self) {
        for waker in self.wakers.iter().flatten() {
            waker.wake_by_ref();
        }
    }
}
