//! The shapes application code has (issue 13): backends behind traits, with static dispatch
//! and behind `dyn`, their tasks keeping everything a task fn gives them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use runner_core::{
    BestEffort, BoxTask, Critical, FanOutError, Policy, Rejection, Task, TaskError, fan_out, task,
};
use tokio::time::{Instant, sleep};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unavailable")]
struct Unavailable;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A backend called through a trait object, as an axum state holds it.
trait Wallet: Send + Sync {
    fn balance(&self, user: u64) -> BoxTask<'_, u64, Unavailable, Critical>;
    fn promo(&self, user: u64) -> BoxTask<'_, u32, Unavailable, BestEffort>;
}

/// Answers after `delay`; its promo fails until its breaker opens.
struct Slow {
    delay: Duration,
    promos: Policy,
}

impl Slow {
    fn new(delay: Duration) -> Self {
        let promos = Policy::builder()
            .breaker(runner_core::Breaker::new(1, ms(10_000), ms(5_000)))
            .build()
            .unwrap();
        Self { delay, promos }
    }
}

impl Wallet for Slow {
    #[task(critical, timeout = "100ms", boxed)]
    async fn balance(&self, user: u64) -> Result<u64, Unavailable> {
        sleep(self.delay).await;
        Ok(user * 100)
    }

    #[task(best_effort, policy = self.promos, boxed)]
    async fn promo(&self, _user: u64) -> Result<u32, Unavailable> {
        Err(Unavailable)
    }
}

#[tokio::test(start_paused = true)]
async fn a_boxed_task_behind_dyn_keeps_its_name_criticality_and_timeout() {
    let fast: Arc<dyn Wallet> = Arc::new(Slow::new(ms(10)));
    let task = fast.balance(7);
    assert_eq!(
        (task.name(), task.is_critical(), task.own_timeout()),
        ("balance", true, Some(ms(100)))
    );
    let (balance,) = fan_out!(task).await.unwrap();
    assert_eq!(balance, 700);

    // Its timeout is a timeout, awaited alone and in a fan-out.
    let slow: Arc<dyn Wallet> = Arc::new(Slow::new(ms(500)));
    let start = Instant::now();
    let alone = slow.balance(7).await.unwrap_err();
    assert!(alone.is_timeout(), "{alone:?}");
    assert_eq!(start.elapsed(), ms(100));
    let error = fan_out!(slow.balance(7)).await.unwrap_err();
    assert!(
        matches!(
            error,
            FanOutError::TaskTimedOut {
                task: "balance",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_boxed_task_keeps_its_policys_refusal() {
    let wallet: Arc<dyn Wallet> = Arc::new(Slow::new(ms(1)));
    // The first failure opens the breaker: the second call is refused, not failed.
    assert_eq!(wallet.promo(1).await, Err(TaskError::Failed(Unavailable)));
    assert_eq!(
        wallet.promo(1).await,
        Err(TaskError::Rejected(Rejection::BreakerOpen))
    );
    let (balance, promo) = fan_out!(wallet.balance(1), wallet.promo(1)).await.unwrap();
    assert_eq!(balance, 100);
    assert_eq!(promo, Err(TaskError::Rejected(Rejection::BreakerOpen)));
}

/// A backend whose boxed task borrows an argument beside `self`: one lifetime, named.
trait Directory: Send + Sync {
    fn lookup<'a>(&'a self, key: &'a str) -> BoxTask<'a, usize, Unavailable, BestEffort>;
}

struct Names(Vec<&'static str>);

impl Directory for Names {
    #[task(best_effort, timeout = "10ms", label = key, boxed)]
    async fn lookup<'a>(&'a self, key: &'a str) -> Result<usize, Unavailable> {
        self.0
            .iter()
            .position(|name| *name == key)
            .ok_or(Unavailable)
    }
}

#[tokio::test(start_paused = true)]
async fn a_boxed_task_may_borrow_an_argument_for_selfs_lifetime() {
    let names: Arc<dyn Directory> = Arc::new(Names(vec!["a", "b"]));
    let key = String::from("b");
    let task = names.lookup(&key);
    assert_eq!(task.task_label(), Some(runner_core::Label::from("b")));
    let (found, missing) = fan_out!(task, names.lookup("z")).await.unwrap();
    assert_eq!(
        (found, missing),
        (Ok(1), Err(TaskError::Failed(Unavailable)))
    );
}

/// A handler over `Arc<dyn Wallet>` is `Send`: spawned as axum would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_over_a_dyn_backend_can_be_spawned() {
    let wallet: Arc<dyn Wallet> = Arc::new(Slow::new(ms(1)));
    let handler = tokio::spawn(async move {
        let (balance, promo) = fan_out!(wallet.balance(3), wallet.promo(3)).await?;
        Ok::<_, FanOutError>((balance, promo.is_err()))
    });
    assert_eq!(handler.await.unwrap().unwrap(), (300, true));
}

/// The same backend with static dispatch: the trait names the task's future as `impl
/// Future + Send`, so that code generic over it is `Send` too; no box.
trait Ledger: Send + Sync {
    fn entries(
        &self,
        user: u64,
    ) -> Task<impl Future<Output = Result<u32, Unavailable>> + Send, Critical>;
}

struct Books;

impl Ledger for Books {
    #[task(critical, timeout = "50ms")]
    async fn entries(&self, user: u64) -> Result<u32, Unavailable> {
        sleep(ms(5)).await;
        Ok(user as u32 + 1)
    }
}

async fn count<L: Ledger>(ledger: &L, user: u64) -> Result<u32, FanOutError> {
    let (entries,) = fan_out!(ledger.entries(user)).await?;
    Ok(entries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_generic_over_a_backend_trait_can_be_spawned() {
    let ledger = Arc::new(Books);
    let handler = tokio::spawn(async move { count(&*ledger, 41).await });
    assert_eq!(handler.await.unwrap().unwrap(), 42);
}

/// A boxed task built by hand from a task fn keeps what the fn gave it.
#[tokio::test(start_paused = true)]
async fn task_boxed_by_hand_keeps_the_timeout_classification() {
    #[task(best_effort, timeout = "20ms")]
    async fn stuck() -> Result<u32, Unavailable> {
        sleep(ms(1_000)).await;
        Ok(1)
    }
    let boxed: BoxTask<'static, u32, Unavailable, BestEffort> = stuck().boxed();
    let (slot,) = fan_out!(boxed).await.unwrap();
    assert!(slot.unwrap_err().is_timeout());
    let local = stuck().boxed_local();
    assert!(local.await.unwrap_err().is_timeout());
}

/// A boxed task fn that borrows nothing is `'static`: it can be kept, or spawned.
#[tokio::test(start_paused = true)]
async fn a_boxed_task_fn_without_borrows_is_static() {
    #[task(critical, timeout = "10ms", retry(attempts = 2), boxed)]
    async fn owned(id: u64) -> Result<u64, Unavailable> {
        Ok(id)
    }
    let kept: Vec<BoxTask<'static, u64, Unavailable, Critical>> = vec![owned(1), owned(2)];
    let spawned = tokio::spawn(async move {
        let mut sum = 0;
        for task in kept {
            sum += task.await.unwrap();
        }
        sum
    });
    assert_eq!(spawned.await.unwrap(), 3);
}

/// Catch-all errors: `anyhow` and `Box<dyn Error>` code in a task fn, through `AnyError`.
mod catch_all {
    use std::error::Error;

    use anyhow::Context;
    use runner_core::{AnyError, FanOutError, TaskError, fan_out, task};

    use super::Unavailable;

    fn lookup(user: u64) -> anyhow::Result<u64> {
        match user {
            0 => Err(Unavailable).context("looking up user 0"),
            user => Ok(user),
        }
    }

    fn parse(text: &str) -> Result<u64, Box<dyn Error + Send + Sync>> {
        Ok(text.parse::<u64>()?)
    }

    #[task(critical, timeout = "50ms")]
    async fn balance(user: u64) -> Result<u64, AnyError> {
        Ok(lookup(user)? * 100)
    }

    #[task(best_effort, retry(attempts = 2))]
    async fn promo(text: String) -> Result<u64, AnyError> {
        Ok(parse(&text)?)
    }

    #[tokio::test(start_paused = true)]
    async fn anyhow_errors_convert_with_question_mark_and_keep_their_chain() {
        assert_eq!(balance(2).await.unwrap(), 200);
        let error = balance(0).await.unwrap_err();
        let TaskError::Failed(any) = &error else {
            panic!("{error:?}")
        };
        assert_eq!(any.to_string(), "looking up user 0");
        assert_eq!(any.source().unwrap().to_string(), "unavailable");
        assert!(any.downcast_ref::<Unavailable>().is_some());

        // A critical failure carries it in the fan-out's error, found by downcasting.
        let failed = fan_out!(balance(0)).await.unwrap_err();
        assert!(matches!(
            failed,
            FanOutError::TaskFailed {
                task: "balance",
                ..
            }
        ));
        assert_eq!(
            failed.to_string(),
            "critical task `balance` failed: looking up user 0"
        );
        let any = failed.downcast_ref::<AnyError>().unwrap();
        assert!(any.downcast_ref::<Unavailable>().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn boxed_errors_convert_with_question_mark() {
        let (ok, bad) = fan_out!(promo("7".into()), promo("seven".into()))
            .await
            .unwrap();
        assert_eq!(ok.unwrap(), 7);
        let Err(TaskError::Failed(any)) = bad else {
            panic!("{bad:?}")
        };
        assert_eq!(any.to_string(), "invalid digit found in string");
        assert!(any.downcast_ref::<std::num::ParseIntError>().is_some());
        assert!(any.into_boxed().is::<std::num::ParseIntError>());
    }

    #[test]
    fn a_message_or_an_error_of_any_type_makes_one() {
        assert_eq!(AnyError::msg("no card").to_string(), "no card");
        let any = AnyError::new(Unavailable);
        assert_eq!(format!("{any} / {any:?}"), "unavailable / Unavailable");
    }
}

/// Outside a Tokio runtime, the panic names the crate and the fix.
mod without_a_runtime {
    use std::time::Duration;

    use runner_core::{TaskError, fan_out, task};

    use super::Unavailable;

    #[task(best_effort, timeout = "10ms")]
    async fn timed() -> Result<u32, Unavailable> {
        Ok(1)
    }

    #[task(best_effort)]
    async fn sleeps() -> Result<u32, Unavailable> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(1)
    }

    #[test]
    fn a_timer_outside_a_runtime_panics_with_the_fix() {
        let panic = std::panic::catch_unwind(|| futures::executor::block_on(fan_out!(timed())))
            .expect_err("no runtime");
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(
            message.starts_with("runner_core needs a Tokio runtime"),
            "{message}"
        );
        assert!(message.contains("#[tokio::main]"), "{message}");
    }

    #[test]
    fn a_tokio_call_in_a_body_outside_a_runtime_says_so_in_its_slot() {
        let slot = futures::executor::block_on(std::future::IntoFuture::into_future(sleeps()));
        let Err(TaskError::Panicked(message)) = slot else {
            panic!("{slot:?}")
        };
        assert!(
            message.contains("runner_core needs a Tokio runtime"),
            "{message}"
        );
    }
}

/// The deadline across `tokio::spawn` and `spawn_blocking`.
mod spawned {
    use std::time::Duration;

    use runner_core::{Deadline, TaskError, deadline, fan_out, remaining, task};
    use tokio::time::{Instant, sleep};

    use super::{Unavailable, ms};

    #[task(best_effort)]
    async fn unbounded() -> Result<u32, Unavailable> {
        sleep(ms(1_000)).await;
        Ok(1)
    }

    /// What spawned work sees of the task's deadline, 10 ms in.
    #[task(critical, timeout = "100ms")]
    async fn left_in_spawned(carry: bool) -> Result<Option<Duration>, Unavailable> {
        let work = async {
            sleep(ms(10)).await;
            remaining()
        };
        let handle = match carry {
            true => runner_core::spawn(work),
            false => tokio::spawn(work),
        };
        Ok(handle.await.unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_spawn_loses_the_deadline_and_runner_core_spawn_carries_it() {
        assert_eq!(left_in_spawned(false).await, Ok(None));
        assert_eq!(left_in_spawned(true).await, Ok(Some(ms(90))));
    }

    /// A fan-out started in spawned work under a carried deadline inherits it: its task
    /// without a timeout of its own is cut there.
    #[tokio::test(start_paused = true)]
    async fn a_fan_out_in_spawned_work_inherits_the_carried_deadline() {
        #[task(critical, timeout = "100ms")]
        async fn captures() -> Result<Deadline, Unavailable> {
            Ok(Deadline::current())
        }
        let start = Instant::now();
        let carried = captures().await.unwrap();
        let spawned = tokio::spawn(carried.scope(async { fan_out!(unbounded()).await }));
        let (slot,) = spawned.await.unwrap().unwrap();
        assert_eq!(slot, Err(TaskError::DeadlineExceeded));
        assert_eq!(start.elapsed(), ms(100));
    }

    #[tokio::test(start_paused = true)]
    async fn spawn_blocking_carries_it_to_the_blocking_thread() {
        #[task(critical, timeout = "250ms")]
        async fn blocking() -> Result<(bool, bool), Unavailable> {
            let carried = runner_core::spawn_blocking(|| deadline().is_some());
            let lost = tokio::task::spawn_blocking(|| deadline().is_some());
            Ok((carried.await.unwrap(), lost.await.unwrap()))
        }
        assert_eq!(blocking().await.unwrap(), (true, false));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_value_reenters_where_it_is_scoped() {
        assert_eq!(Deadline::current(), Deadline::default());
        assert_eq!(Deadline::current().at(), None);

        #[task(critical, timeout = "40ms")]
        async fn captures() -> Result<Deadline, Unavailable> {
            Ok(Deadline::current())
        }
        let captured = captures().await.unwrap();
        assert_eq!(captured.remaining(), Some(ms(40)));
        // Entered again anywhere, the same deadline, and none once it is left.
        assert_eq!(captured.scope(async { remaining() }).await, Some(ms(40)));
        assert_eq!(captured.run(remaining), Some(ms(40)));
        assert_eq!(remaining(), None);
        // A panic inside leaves no deadline behind.
        let panicked = std::panic::catch_unwind(|| captured.run(|| panic!("inside")));
        assert!(panicked.is_err());
        assert_eq!(deadline(), None);
    }
}

/// `#[tracing::instrument]` above `#[task]` instruments the run: the body's events are in its
/// span (below `#[task]` it is a compile error, `ui/fail/instrument_below_task.rs`).
mod instrumented {
    use std::sync::{Arc, Mutex};

    use runner_core::task;
    use tracing::Subscriber;
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    use super::{Unavailable, ms};

    /// An event's name, with the names of the spans it was in.
    type Event = (String, Vec<String>);

    /// Each event seen.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<Event>>>);

    impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Seen {
        fn on_event(&self, event: &tracing::Event<'_>, context: Context<'_, S>) {
            let spans = context
                .event_scope(event)
                .into_iter()
                .flatten()
                .map(|span| span.name().to_owned())
                .collect();
            let message = event.metadata().name().to_owned();
            self.0.lock().unwrap().push((message, spans));
        }
    }

    #[tracing::instrument]
    #[task(critical, timeout = "200ms")]
    async fn get_balance(user_id: u64) -> Result<u64, Unavailable> {
        tokio::time::sleep(ms(5)).await;
        tracing::info!(name: "after_the_sleep", user_id);
        Ok(user_id)
    }

    #[test]
    fn the_instrument_span_is_open_while_the_task_runs() {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(seen.clone());
        tracing::subscriber::with_default(subscriber, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            assert_eq!(runtime.block_on(async { get_balance(3).await }).unwrap(), 3);
        });
        let seen = seen.0.lock().unwrap();
        let (_, spans) = seen
            .iter()
            .find(|(message, _)| message == "after_the_sleep")
            .expect("the body's event");
        assert!(spans.contains(&"get_balance".to_owned()), "{spans:?}");
    }
}

/// Calls of one task fn told apart by their labels.
mod labelled {
    use runner_core::{FanOutError, Label, Outcome, Task, TaskRunner, fan_out, task};

    use super::Unavailable;

    #[task(critical, timeout = "50ms", label = user_id)]
    async fn profile(user_id: u64) -> Result<u64, Unavailable> {
        match user_id {
            17 => Err(Unavailable),
            id => Ok(id),
        }
    }

    #[task(best_effort, label = region)]
    async fn promo(region: String) -> Result<u32, Unavailable> {
        match region.as_str() {
            "eu-west" => Ok(1),
            _ => Err(Unavailable),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_failing_call_is_named_with_its_label() {
        assert_eq!(profile(3).task_label(), Some(Label::from(3u64)));
        let error = fan_out!(profile(16), profile(17), profile(18))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "critical task `profile[17]` failed: unavailable"
        );
        assert!(matches!(
            error,
            FanOutError::TaskFailed {
                task: "profile",
                ..
            }
        ));
        assert_eq!(error.label(), Some(Label::from(17u64)));

        let mut runner = TaskRunner::new();
        let _handles = runner.add_all((10..30).map(profile));
        let error = runner.run_all().await.unwrap_err();
        assert_eq!(error.label(), Some(Label::from(17u64)));
    }

    /// The labels of the calls whose attempts a policy's observer saw start.
    #[derive(Default)]
    struct Attempts(std::sync::Mutex<Vec<Option<Label>>>);

    impl runner_core::Observer for Attempts {
        fn on_policy(&self, event: &runner_core::PolicyEvent<'_>) {
            if matches!(event.kind, runner_core::EventKind::AttemptStarted { .. }) {
                self.0.lock().unwrap().push(event.label);
            }
        }
    }

    struct Profiles {
        policy: runner_core::Policy,
    }

    impl Profiles {
        #[task(critical, policy = self.policy, label = id)]
        async fn get(&self, id: u32) -> Result<u32, Unavailable> {
            Ok(id)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn policy_events_carry_the_calls_label() {
        let seen = std::sync::Arc::new(Attempts::default());
        let policy = runner_core::Policy::builder()
            .observer(seen.clone())
            .build()
            .unwrap();
        let profiles = Profiles { policy };
        fan_out!(profiles.get(4), profiles.get(5)).await.unwrap();
        let unlabelled = profiles
            .policy
            .critical("get", || async { Ok::<_, Unavailable>(0) });
        unlabelled.await.unwrap();
        let labels = seen.0.lock().unwrap().clone();
        assert_eq!(
            labels,
            [Some(Label::from(4u32)), Some(Label::from(5u32)), None]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn reports_and_server_timing_carry_labels() {
        let (result, report) = fan_out!(report;
            promo("eu-west".into()),
            promo("us-east".into()),
            Task::best_effort("unlabelled", async { Ok::<u32, Unavailable>(0) })
        )
        .await;
        let (eu, us, _) = result.unwrap();
        assert_eq!((eu.is_ok(), us.is_err()), (true, true));
        let labels: Vec<_> = report
            .tasks()
            .iter()
            .map(|record| (record.label.map(|label| label.to_string()), record.outcome))
            .collect();
        assert_eq!(
            labels,
            [
                (Some("eu-west".to_owned()), Outcome::Ok),
                (Some("us-east".to_owned()), Outcome::Failed),
                (None, Outcome::Ok),
            ]
        );
        assert_eq!(
            report.server_timing().to_string(),
            r#"promo.eu-west;dur=0.0;desc="ok", promo.us-east;dur=0.0;desc="failed", unlabelled;dur=0.0;desc="ok""#
        );
    }
}

/// Point 7: runners whose tasks are not `Send`, and tasks whose values borrow.
mod local_and_borrowed {
    use std::cell::RefCell;
    use std::rc::Rc;

    use runner_core::{LocalTaskRunner, Outcome, RunAll, TaskRunner, remaining};

    use super::*;

    /// A client that is not `Send`, as a `!Send` SDK's is: its tasks hold it across `.await`.
    #[derive(Default)]
    struct Ledger {
        calls: RefCell<Vec<&'static str>>,
    }

    impl Ledger {
        async fn call(self: Rc<Self>, name: &'static str, delay: u64) -> Result<u64, Unavailable> {
            let calls = &self.calls;
            sleep(ms(delay)).await;
            calls.borrow_mut().push(name);
            match name {
                "broken" => Err(Unavailable),
                _ => Ok(delay),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_local_runner_keeps_every_rule_for_tasks_that_are_not_send() {
        let ledger = Rc::new(Ledger::default());
        let mut runner: LocalTaskRunner<'_> = TaskRunner::local().deadline(ms(300));
        let balance = runner.add(Task::critical(
            "balance",
            ledger.clone().call("balance", 20),
        ));
        let promo = runner
            .add(Task::best_effort("promo", ledger.clone().call("promo", 500)).timeout(ms(100)));
        let audit = runner.add(Task::best_effort("audit", ledger.clone().call("broken", 5)));
        let start = Instant::now();
        let mut results = runner.run_all().await.unwrap();
        assert_eq!(start.elapsed(), ms(100));
        assert_eq!(results.take(balance), 20);
        assert!(matches!(results.take(promo), Err(TaskError::TimedOut(_))));
        assert!(matches!(
            results.take(audit),
            Err(TaskError::Failed(Unavailable))
        ));
        assert_eq!(*ledger.calls.borrow(), ["broken", "balance"]);

        // A critical failure still ends the run at once, dropping the slow task.
        let mut runner = TaskRunner::local();
        let _slow = runner.add(Task::critical("slow", ledger.clone().call("slow", 1_000)));
        let _broken = runner.add(Task::critical("broken", ledger.clone().call("broken", 30)));
        let start = Instant::now();
        let error = runner.run_all().await.unwrap_err();
        assert_eq!(start.elapsed(), ms(30));
        assert_eq!(error.task(), Some("broken"));
        // The dropped task released its handle on the ledger.
        assert_eq!(Rc::strong_count(&ledger), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_local_run_in_a_local_set_carries_its_deadline_into_spawn_local() {
        let local = tokio::task::LocalSet::new();
        let left = local
            .run_until(async {
                let shared = Rc::new(7_u64);
                let mut runner = TaskRunner::local().deadline(ms(250));
                let left = runner.add(Task::critical("left", async move {
                    sleep(ms(50)).await;
                    let shared = Rc::clone(&shared);
                    let spawned = runner_core::spawn_local(async move { (*shared, remaining()) });
                    Ok::<_, Unavailable>(spawned.await.unwrap())
                }));
                let run = tokio::task::spawn_local(runner.run_all());
                run.await.unwrap().unwrap().take(left)
            })
            .await;
        assert_eq!(left, (7, Some(ms(200))));
    }

    fn split_fields(page: &str) -> TaskRunner<'_> {
        let mut runner = TaskRunner::new().deadline(ms(100));
        for field in page.split(';') {
            let _ = runner.add(Task::best_effort("field", async move {
                Ok::<&str, Unavailable>(field)
            }));
        }
        runner
    }

    #[tokio::test(start_paused = true)]
    async fn values_may_borrow_from_the_caller_and_outlive_the_results() {
        let page = String::from("balance=1250;card=none");
        let mut runner = TaskRunner::new();
        let fields =
            runner.add_all(page.split(';').map(|field| {
                Task::critical("field", async move { Ok::<&str, Unavailable>(field) })
            }));
        let first = runner.add(Task::best_effort("first", async {
            page.split(';').next().ok_or(Unavailable)
        }));
        let mut results = runner.run_all().await.unwrap();
        let first = results.take(first);
        let fields: Vec<&str> = results.take(fields);
        assert_eq!(results.report().tasks()[2].outcome, Outcome::Ok);
        drop(results);
        assert_eq!(fields, ["balance=1250", "card=none"]);
        assert_eq!(first, Ok("balance=1250"));

        // A runner built over a borrow, by a fn, is still `Send`.
        let run = split_fields(&page).run_all();
        fn require_send<T: Send>(_: &T) {}
        require_send(&run);
        assert_eq!(run.await.unwrap().len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_send_run_can_be_spawned() {
        let mut runner = TaskRunner::new();
        let balance = runner.add(Task::critical("balance", async {
            Ok::<u64, Unavailable>(5)
        }));
        let run: RunAll<'static> = runner.run_all();
        let mut results = tokio::spawn(run).await.unwrap().unwrap();
        assert_eq!(results.take(balance), 5);
    }
}

/// A fan-out kept in a struct, with a token on one path only: `cancel_on` gives a
/// `FanOut<B, WithToken>`, which the other path reaches with a token never cancelled.
#[tokio::test(start_paused = true)]
async fn a_fan_out_with_an_optional_token_is_kept_under_one_type() {
    use runner_core::{CancellationToken, FanOut, WithToken};

    type Tasks = (Task<std::future::Ready<Result<u64, Unavailable>>, Critical>,);
    struct Pending {
        run: FanOut<<Tasks as runner_core::IntoBranches>::Branches, WithToken>,
    }
    fn pending(token: Option<CancellationToken>) -> Pending {
        let tasks: Tasks = (Task::critical("balance", std::future::ready(Ok(7))),);
        Pending {
            run: FanOut::new(tasks).cancel_on(token.unwrap_or_default()),
        }
    }

    let (balance,) = pending(None).run.await.unwrap();
    assert_eq!(balance, 7);
    let token = CancellationToken::new();
    token.cancel();
    let cancelled = pending(Some(token)).run.await;
    assert!(
        matches!(cancelled, Err(FanOutError::Cancelled)),
        "{cancelled:?}"
    );
}
