//! Scripted tasks, drop-guard probes, and the two engines behind one interface, so every rule
//! is checked on both with the same test body.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use runner_core::{
    CancellationToken, Criticality, FanOut, FanOutError, Finished, Running, Task, TaskRecord,
    TaskRunner,
};
use tokio::time::Instant;

/// The error every scripted task fails with; it carries the task's value to tell them apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("boom {0}")]
pub struct Boom(pub u32);

/// What a scripted task does after its latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Ok,
    Err,
    Panic,
    Hang,
}

/// Counts scripted futures: made, first polled, alive (not yet dropped), and the most that
/// were running at once.
#[derive(Debug, Clone, Default)]
pub struct Probe(Arc<Counters>);

#[derive(Debug, Default)]
pub struct Counters {
    made: AtomicUsize,
    started: AtomicUsize,
    alive: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    polls: AtomicUsize,
}

impl Probe {
    pub fn new() -> Self {
        Self::default()
    }

    /// Futures made and not yet dropped.
    pub fn alive(&self) -> usize {
        self.0.alive.load(Ordering::SeqCst)
    }

    /// Futures polled at least once.
    pub fn started(&self) -> usize {
        self.0.started.load(Ordering::SeqCst)
    }

    /// The most futures that were started and not yet dropped at any one time.
    pub fn max_running(&self) -> usize {
        self.0.max_running.load(Ordering::SeqCst)
    }

    /// Polls of all futures, in total.
    pub fn polls(&self) -> usize {
        self.0.polls.load(Ordering::SeqCst)
    }

    /// A future that, once polled, waits `latency` and then does `act`, returning `value`
    /// (or `Boom(value)`). It counts itself in this probe until it is dropped.
    pub fn task(
        &self,
        latency_ms: u64,
        act: Act,
        value: u32,
    ) -> impl Future<Output = Result<u32, Boom>> + Send + 'static {
        let guard = Guard::new(self.clone());
        Counted {
            guard,
            inner: Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(latency_ms)).await;
                match act {
                    Act::Ok => Ok(value),
                    Act::Err => Err(Boom(value)),
                    Act::Panic => panic!("task {value} panicked"),
                    Act::Hang => std::future::pending().await,
                }
            }),
        }
    }
}

struct Guard {
    probe: Probe,
    started: bool,
}

impl Guard {
    fn new(probe: Probe) -> Self {
        probe.0.made.fetch_add(1, Ordering::SeqCst);
        probe.0.alive.fetch_add(1, Ordering::SeqCst);
        Self {
            probe,
            started: false,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.probe.0.alive.fetch_sub(1, Ordering::SeqCst);
        if self.started {
            self.probe.0.running.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

struct Counted<F> {
    guard: Guard,
    inner: std::pin::Pin<Box<F>>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let counters = self.guard.probe.0.clone();
        counters.polls.fetch_add(1, Ordering::SeqCst);
        if !self.guard.started {
            self.guard.started = true;
            counters.started.fetch_add(1, Ordering::SeqCst);
            let running = counters.running.fetch_add(1, Ordering::SeqCst) + 1;
            counters.max_running.fetch_max(running, Ordering::SeqCst);
        }
        self.inner.as_mut().poll(cx)
    }
}

/// Pending for ever; panics when dropped.
pub struct PanicsOnDrop;

impl Future for PanicsOnDrop {
    type Output = Result<u32, Boom>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Pending
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropped");
    }
}

/// A proptest config of `PROPTEST_CASES` cases (`default` without it), not persisting
/// failures: a failing case is printed, and a test's cases stay what the seed makes them.
pub fn proptest_config(default: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default);
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Virtual time since `start`, in whole milliseconds.
pub fn elapsed_ms(start: Instant) -> u128 {
    start.elapsed().as_millis()
}

/// How a fan-out is set up, besides its tasks.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub deadline: Option<Duration>,
    pub cancel: Option<CancellationToken>,
}

impl Config {
    pub fn deadline(ms: u64) -> Self {
        Self {
            deadline: Some(Duration::from_millis(ms)),
            cancel: None,
        }
    }

    pub fn cancel(token: &CancellationToken) -> Self {
        Self {
            deadline: None,
            cancel: Some(token.clone()),
        }
    }
}

/// The slot of a scripted task of criticality `C`.
pub type Slot<C> = <C as Criticality>::Slot<u32, Boom>;
/// A run's result and its report's records.
pub type Run<T> = (Result<T, FanOutError>, Vec<TaskRecord>);

/// One of the engines, seen through the same interface.
pub trait Engine {
    fn run1<A, CA>(a: Task<A, CA>, config: Config) -> impl Future<Output = Run<(Slot<CA>,)>>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality;

    fn run2<A, CA, B, CB>(
        a: Task<A, CA>,
        b: Task<B, CB>,
        config: Config,
    ) -> impl Future<Output = Run<(Slot<CA>, Slot<CB>)>>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        B: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality,
        CB: Criticality;

    fn run3<A, CA, B, CB, D, CD>(
        a: Task<A, CA>,
        b: Task<B, CB>,
        d: Task<D, CD>,
        config: Config,
    ) -> impl Future<Output = Run<(Slot<CA>, Slot<CB>, Slot<CD>)>>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        B: Future<Output = Result<u32, Boom>> + Send + 'static,
        D: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality,
        CB: Criticality,
        CD: Criticality;
}

/// `FanOut`, the static engine.
pub struct Static;

/// `TaskRunner`, the dynamic engine.
pub struct Dynamic;

/// `TaskRunner::start`, the dynamic engine handing out each task as it ends.
pub struct Streaming;

/// Runs a fan-out as `config` says, with its report: a token makes it a fan-out of another
/// type, so each is awaited where it is made.
async fn run_static<B: runner_core::Branches>(
    fan_out: FanOut<B>,
    config: Config,
) -> Run<B::Output> {
    let fan_out = match config.deadline {
        Some(deadline) => fan_out.deadline(deadline),
        None => fan_out,
    };
    let (result, report) = match config.cancel {
        Some(token) => fan_out.cancel_on(token).with_report().await,
        None => fan_out.with_report().await,
    };
    (result, report.tasks().to_vec())
}

fn runner(config: Config) -> TaskRunner<'static> {
    let runner = TaskRunner::new();
    let runner = match config.deadline {
        Some(deadline) => runner.deadline(deadline),
        None => runner,
    };
    match config.cancel {
        Some(token) => runner.cancel_on(token),
        None => runner,
    }
}

impl Engine for Static {
    async fn run1<A, CA>(a: Task<A, CA>, config: Config) -> Run<(Slot<CA>,)>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality,
    {
        run_static(FanOut::new((a,)), config).await
    }

    async fn run2<A, CA, B, CB>(
        a: Task<A, CA>,
        b: Task<B, CB>,
        config: Config,
    ) -> Run<(Slot<CA>, Slot<CB>)>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        B: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality,
        CB: Criticality,
    {
        run_static(FanOut::new((a, b)), config).await
    }

    async fn run3<A, CA, B, CB, D, CD>(
        a: Task<A, CA>,
        b: Task<B, CB>,
        d: Task<D, CD>,
        config: Config,
    ) -> Run<(Slot<CA>, Slot<CB>, Slot<CD>)>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        B: Future<Output = Result<u32, Boom>> + Send + 'static,
        D: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality,
        CB: Criticality,
        CD: Criticality,
    {
        run_static(FanOut::new((a, b, d)), config).await
    }
}

impl Engine for Dynamic {
    async fn run1<A, CA>(a: Task<A, CA>, config: Config) -> Run<(Slot<CA>,)>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality,
    {
        let mut runner = runner(config);
        let a = runner.add(a);
        let (result, report) = runner.run_all().with_report().await;
        let result = result.map(|mut results| (results.take(a),));
        (result, report.tasks().to_vec())
    }

    async fn run2<A, CA, B, CB>(
        a: Task<A, CA>,
        b: Task<B, CB>,
        config: Config,
    ) -> Run<(Slot<CA>, Slot<CB>)>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        B: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality,
        CB: Criticality,
    {
        let mut runner = runner(config);
        let a = runner.add(a);
        let b = runner.add(b);
        let (result, report) = runner.run_all().with_report().await;
        let result = result.map(|mut results| (results.take(a), results.take(b)));
        (result, report.tasks().to_vec())
    }

    async fn run3<A, CA, B, CB, D, CD>(
        a: Task<A, CA>,
        b: Task<B, CB>,
        d: Task<D, CD>,
        config: Config,
    ) -> Run<(Slot<CA>, Slot<CB>, Slot<CD>)>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        B: Future<Output = Result<u32, Boom>> + Send + 'static,
        D: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality,
        CB: Criticality,
        CD: Criticality,
    {
        let mut runner = runner(config);
        let a = runner.add(a);
        let b = runner.add(b);
        let d = runner.add(d);
        let (result, report) = runner.run_all().with_report().await;
        let result = result.map(|mut results| (results.take(a), results.take(b), results.take(d)));
        (result, report.tasks().to_vec())
    }
}

/// Takes every task `run` hands out with `take`, which must claim it, and each only once; the
/// run's error if it fails.
async fn hand_out(
    run: &mut Running<'static>,
    mut take: impl FnMut(&mut Finished<'_, 'static>) -> bool,
) -> Result<(), FanOutError> {
    while let Some(finished) = run.join_next().await {
        let mut finished = finished?;
        assert!(
            take(&mut finished),
            "{finished:?} handed out, but not taken"
        );
    }
    Ok(())
}

/// Puts `slot` in `into`, which must be empty: a task is handed out once.
fn once<S>(into: &mut Option<S>, slot: Option<S>) -> bool {
    match slot {
        Some(slot) => {
            assert!(into.replace(slot).is_none(), "a task handed out twice");
            true
        }
        None => false,
    }
}

impl Engine for Streaming {
    async fn run1<A, CA>(a: Task<A, CA>, config: Config) -> Run<(Slot<CA>,)>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality,
    {
        let mut run = runner(config).start();
        let a = run.add(a);
        let mut slot_a = None;
        let result = hand_out(&mut run, |finished| once(&mut slot_a, finished.take(&a))).await;
        let records = run.report().tasks().to_vec();
        (result.map(|()| (slot_a.unwrap(),)), records)
    }

    async fn run2<A, CA, B, CB>(
        a: Task<A, CA>,
        b: Task<B, CB>,
        config: Config,
    ) -> Run<(Slot<CA>, Slot<CB>)>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        B: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality,
        CB: Criticality,
    {
        let mut run = runner(config).start();
        let (a, b) = (run.add(a), run.add(b));
        let (mut slot_a, mut slot_b) = (None, None);
        let result = hand_out(&mut run, |finished| {
            once(&mut slot_a, finished.take(&a)) || once(&mut slot_b, finished.take(&b))
        })
        .await;
        let records = run.report().tasks().to_vec();
        (result.map(|()| (slot_a.unwrap(), slot_b.unwrap())), records)
    }

    async fn run3<A, CA, B, CB, D, CD>(
        a: Task<A, CA>,
        b: Task<B, CB>,
        d: Task<D, CD>,
        config: Config,
    ) -> Run<(Slot<CA>, Slot<CB>, Slot<CD>)>
    where
        A: Future<Output = Result<u32, Boom>> + Send + 'static,
        B: Future<Output = Result<u32, Boom>> + Send + 'static,
        D: Future<Output = Result<u32, Boom>> + Send + 'static,
        CA: Criticality,
        CB: Criticality,
        CD: Criticality,
    {
        let mut run = runner(config).start();
        let (a, b, d) = (run.add(a), run.add(b), run.add(d));
        let (mut slot_a, mut slot_b, mut slot_d) = (None, None, None);
        let result = hand_out(&mut run, |finished| {
            once(&mut slot_a, finished.take(&a))
                || once(&mut slot_b, finished.take(&b))
                || once(&mut slot_d, finished.take(&d))
        })
        .await;
        let records = run.report().tasks().to_vec();
        let slots = result.map(|()| (slot_a.unwrap(), slot_b.unwrap(), slot_d.unwrap()));
        (slots, records)
    }
}

/// Turns `async fn name<E: Engine>()` bodies into one paused-clock test per engine.
#[macro_export]
macro_rules! on_every_engine {
    ($($name:ident),+ $(,)?) => {
        mod static_engine {
            $(
                #[tokio::test(start_paused = true)]
                async fn $name() {
                    super::$name::<$crate::support::Static>().await;
                }
            )+
        }
        mod dynamic_engine {
            $(
                #[tokio::test(start_paused = true)]
                async fn $name() {
                    super::$name::<$crate::support::Dynamic>().await;
                }
            )+
        }
        mod streaming {
            $(
                #[tokio::test(start_paused = true)]
                async fn $name() {
                    super::$name::<$crate::support::Streaming>().await;
                }
            )+
        }
    };
}
