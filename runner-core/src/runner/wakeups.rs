//! Which of a run's tasks woke: a waker per task with no allocation of its own, and the list
//! of the tasks to poll next.
//!
//! A task's waker points into a table of entries the run shares with every waker it made,
//! one entry per task, allocated in chunks as tasks are added: waking sets the entry's
//! `queued` flag and, if it was clear, puts the task's index on the ready list and wakes the
//! run. A waker holds the table alive (one reference count for the whole table), never the
//! task: a task that ended, or a run that ended, leaves its wakers harmless, pushing an index
//! that nobody reads. So a task needs no allocation of its own for its waker (its slot goes
//! in the run's arena); `FuturesUnordered` adds a node of its own to each future.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{RawWaker, RawWakerVTable, Waker};

use futures::task::AtomicWaker;

/// Entries per chunk after the first, which is sized to the tasks of the first `reserve`
/// (most runs have all their tasks by then): a run that grows past it allocates a chunk
/// every 256 tasks.
const CHUNK: usize = 256;

/// What a task's waker points to.
struct Entry {
    /// The table's, to wake the run and to count the waker's reference.
    shared: *const Shared,
    index: u32,
    /// Set from the wake until the run takes the task off the ready list to poll it: a task
    /// woken many times before it is polled is on the list once.
    queued: AtomicBool,
}

/// The table: the entries, the ready list, the run's own waker.
struct Shared {
    /// The chunks of entries (the first sized to the run, the others of `CHUNK`), never
    /// moved once made (wakers point into them): boxes given up as pointers (a `Box` moved
    /// would claim its memory back from the pointers into it), freed with the table. Locked
    /// only to add one.
    chunks: Mutex<Vec<NonNull<[Entry]>>>,
    ready: Mutex<Vec<u32>>,
    run: AtomicWaker,
    /// Set as the run ends: a waker kept past it wakes nothing, and holds no list of the
    /// run's or waker of its caller's.
    closed: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let chunks = self
            .chunks
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for chunk in chunks.drain(..) {
            // SAFETY: each chunk came from `Box::into_raw` and is freed once, here, with the
            // last reference to the table: no waker points into it any more.
            drop(unsafe { Box::from_raw(chunk.as_ptr()) });
        }
    }
}

// SAFETY: the chunks' pointers are the table's own boxes; `Entry` is `Send` and `Sync`.
unsafe impl Send for Shared {}
// SAFETY: as for `Send`; the chunks are reached under their lock.
unsafe impl Sync for Shared {}

// SAFETY: an entry's `shared` pointer is to the `Shared` that owns it, which lives as long as
// any reference to it (the run's `Arc`, or a waker's count on it); the pointer is only read.
// Everything else in an entry is immutable or atomic.
unsafe impl Send for Entry {}
// SAFETY: as for `Send`.
unsafe impl Sync for Entry {}

/// A run's wake-ups: the table, and the list being worked through.
pub(super) struct Wakeups {
    shared: Arc<Shared>,
    /// The first chunk's first entry, to reach an entry without the lock (dangling until
    /// it is made).
    head: NonNull<Entry>,
    /// How many entries the first chunk holds.
    first: usize,
    /// The first entry of each later chunk, of `CHUNK` entries.
    later: Vec<NonNull<Entry>>,
    /// How many entries there are: `first + later.len() * CHUNK`.
    made: usize,
    /// The tasks taken off the ready list, being polled: swapped with it, so that neither
    /// list allocates once both have grown.
    taken: Vec<u32>,
    /// How many tasks the entries and both lists have room for: a task added to a running
    /// run (`Running::add`) takes no lock unless they must grow.
    room: usize,
}

// SAFETY: `head` and `later` point into `shared`'s chunks, which the `Arc` keeps alive and
// which are `Sync`; the rest is `Send`.
unsafe impl Send for Wakeups {}

impl Wakeups {
    pub(super) fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                chunks: Mutex::new(Vec::new()),
                ready: Mutex::new(Vec::new()),
                run: AtomicWaker::new(),
                closed: AtomicBool::new(false),
            }),
            head: NonNull::dangling(),
            first: 0,
            later: Vec::new(),
            made: 0,
            taken: Vec::new(),
            room: 0,
        }
    }

    /// Makes entries for tasks `0..tasks`, and room on the lists for them all.
    pub(super) fn reserve(&mut self, tasks: usize) {
        if tasks <= self.room {
            return;
        }
        if tasks > self.made {
            let shared = Arc::as_ptr(&self.shared);
            let mut chunks = lock(&self.shared.chunks);
            while self.made < tasks {
                let first = self.made;
                let size = match first {
                    0 => tasks,
                    _ => CHUNK,
                };
                let chunk: Box<[Entry]> = (first..first + size)
                    .map(|index| Entry {
                        shared,
                        // A run counts its tasks in a `u32`: see `TaskRunner::add`.
                        index: index as u32,
                        queued: AtomicBool::new(false),
                    })
                    .collect();
                let chunk = NonNull::from(Box::leak(chunk));
                match first {
                    0 => (self.head, self.first) = (chunk.cast::<Entry>(), size),
                    _ => self.later.push(chunk.cast::<Entry>()),
                }
                self.made += size;
                chunks.push(chunk);
            }
        }
        // A list never holds a task twice, so `tasks` is as long as it gets.
        if self.taken.capacity() < tasks {
            self.taken.reserve(tasks - self.taken.len());
        }
        let mut ready = lock(&self.shared.ready);
        if ready.capacity() < tasks {
            let len = ready.len();
            ready.reserve(tasks - len);
        }
        self.room = self.made.min(self.taken.capacity()).min(ready.capacity());
    }

    /// The run has ended: wakers still held elsewhere wake nothing, and the lists and the
    /// run's waker are given up (only the entries stay, as long as such a waker).
    pub(super) fn close(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        drop(self.shared.run.take());
        *lock(&self.shared.ready) = Vec::new();
        self.taken = Vec::new();
        self.room = 0;
    }

    /// Registers the run's waker: the next wake-up of any task wakes it.
    pub(super) fn register(&self, waker: &Waker) {
        self.shared.run.register(waker);
    }

    /// Task `index`'s entry.
    fn entry(&self, index: usize) -> NonNull<Entry> {
        if index < self.first {
            // SAFETY: the first chunk holds `first` entries, of which this is one.
            return unsafe { self.head.add(index) };
        }
        assert!(index < self.made, "no entry made for task {index}");
        let later = index - self.first;
        // SAFETY: each later chunk holds `CHUNK` entries, of which this is one.
        unsafe { self.later[later / CHUNK].add(later % CHUNK) }
    }

    /// Puts tasks `first..end` on the ready list, as their wakers would but without waking
    /// the run (the run itself does this, as it polls), under one lock.
    pub(super) fn schedule(&self, first: usize, end: usize) {
        if first == end {
            return;
        }
        let mut ready = lock(&self.shared.ready);
        for index in first..end {
            // SAFETY: the entry is in a chunk of the live table (`self.shared`).
            let entry = unsafe { self.entry(index).as_ref() };
            if !entry.queued.swap(true, Ordering::AcqRel) {
                ready.push(entry.index);
            }
        }
    }

    /// Takes the ready list, to be polled in the order the tasks woke; `None` if it is empty.
    /// The list given back by `done_with` is reused.
    pub(super) fn take_ready(&mut self) -> Option<Vec<u32>> {
        let mut ready = lock(&self.shared.ready);
        if ready.is_empty() {
            return None;
        }
        std::mem::swap(&mut *ready, &mut self.taken);
        drop(ready);
        Some(std::mem::take(&mut self.taken))
    }

    /// Gives back the list `take_ready` gave, emptied, for the next one.
    pub(super) fn done_with(&mut self, mut list: Vec<u32>) {
        list.clear();
        self.taken = list;
    }

    /// Takes task `index` off the ready list before it is polled: a wake-up from now on puts
    /// it back. `false` if it was not on it (a stale index, or one taken already).
    pub(super) fn unqueue(&self, index: usize) -> bool {
        // SAFETY: as in `schedule`.
        let entry = unsafe { self.entry(index).as_ref() };
        entry.queued.swap(false, Ordering::AcqRel)
    }

    /// Task `index`'s waker, to poll it with: borrowed, it costs nothing until the task
    /// clones it.
    pub(super) fn waker(&self, index: usize) -> ManuallyDrop<Waker> {
        let data = self.entry(index).as_ptr().cast_const().cast::<()>();
        // SAFETY: `data` points to a live entry, which is what `VTABLE`'s functions take; the
        // waker is not dropped (`ManuallyDrop`), so it gives back no reference it did not
        // take.
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) })
    }
}

impl Drop for Wakeups {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups")
            .field("entries", &self.made)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while one of these is held: a poisoned lock holds a whole value.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wake_entry(entry: &Entry) {
    // SAFETY: the entry's table is alive while the entry is (see `Entry`).
    let shared = unsafe { &*entry.shared };
    if shared.closed.load(Ordering::Acquire) {
        return;
    }
    if !entry.queued.swap(true, Ordering::AcqRel) {
        lock(&shared.ready).push(entry.index);
        shared.run.wake();
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// The entry a waker's data points to.
///
/// # Safety
///
/// `data` is a waker's data: a pointer to an entry of a table that a reference the waker
/// holds (or the run's own) keeps alive.
unsafe fn entry<'e>(data: *const ()) -> &'e Entry {
    // SAFETY: the caller's promise.
    unsafe { &*data.cast::<Entry>() }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a waker's (see `entry`); the new waker takes a reference of its own
    // on the table.
    unsafe { Arc::increment_strong_count(entry(data).shared) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: `data` is a waker's; the waker is consumed, and its reference with it.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: `data` is a waker's.
    wake_entry(unsafe { entry(data) });
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: `data` is a waker's, from `clone`, whose reference this gives back; it is not
    // used after.
    unsafe { Arc::decrement_strong_count(entry(data).shared) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_woken_many_times_is_ready_once_and_a_waker_outlives_the_run() {
        let mut wakeups = Wakeups::new();
        wakeups.reserve(300);
        let late = {
            let waker = wakeups.waker(257);
            waker.wake_by_ref();
            waker.wake_by_ref();
            Waker::clone(&waker)
        };
        wakeups.schedule(3, 4);
        let ready = wakeups.take_ready().unwrap();
        assert_eq!(ready, [257, 3]);
        assert!(wakeups.unqueue(257) && wakeups.unqueue(3) && !wakeups.unqueue(3));
        wakeups.done_with(ready);
        assert!(wakeups.take_ready().is_none());
        // The run ends; the clone still holds the table, and waking it is harmless.
        drop(wakeups);
        late.wake();
    }

    #[test]
    fn a_run_that_grows_past_its_first_chunk_wakes_each_task_by_its_own_index() {
        let mut wakeups = Wakeups::new();
        wakeups.reserve(0);
        wakeups.reserve(3);
        wakeups.reserve(600);
        let woken = [0, 2, 3, 258, 259, 599];
        for index in woken {
            wakeups.waker(index).wake_by_ref();
        }
        assert_eq!(
            wakeups.take_ready().unwrap(),
            woken.map(|index| index as u32)
        );
        for index in woken {
            assert!(wakeups.unqueue(index));
        }
        assert!(!wakeups.unqueue(1) && !wakeups.unqueue(598));
    }

    #[test]
    fn wakers_on_other_threads_each_put_their_task_on_the_list() {
        let mut wakeups = Wakeups::new();
        wakeups.reserve(64);
        let wakers: Vec<Waker> = (0..64).map(|i| Waker::clone(&wakeups.waker(i))).collect();
        std::thread::scope(|scope| {
            for chunk in wakers.chunks(16) {
                scope.spawn(move || {
                    for waker in chunk {
                        waker.wake_by_ref();
                        waker.wake_by_ref();
                    }
                });
            }
        });
        let mut ready = wakeups.take_ready().unwrap();
        ready.sort_unstable();
        assert_eq!(ready, (0..64).collect::<Vec<u32>>());
    }
}
