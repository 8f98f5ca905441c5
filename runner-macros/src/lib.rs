//! The `#[task]` attribute and the `fan_out!` macro of
//! [`runner-core`](https://docs.rs/runner-core).
//!
//! Depend on `runner-core` and import them from there (`use runner_core::{task, fan_out};`):
//! the code they generate names `::runner_core`.

mod attr;
mod coalesce;
mod duration;
mod fan_out;
mod parse;
mod policy;
mod private;
mod task;
mod valid;
mod value;

use proc_macro::TokenStream;

/// Turns an `async fn` returning `Result<T, E>` into a fn that builds a
/// [`Task`](https://docs.rs/runner-core/latest/runner_core/struct.Task.html).
///
/// Calling the fn runs nothing: it returns the task, which runs when it is awaited (under its
/// timeout, giving `Result<T, TaskError<E>>`), fanned out with `fan_out!`, or added to a
/// `TaskRunner`. `E` must be `std::error::Error + Send + Sync + 'static`. It works on free
/// fns, on methods taking `&self`, on generic fns, and with borrowed arguments.
///
/// ```
/// use runner_core::{fan_out, task, TaskError};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("wallet unavailable")]
/// struct WalletError;
///
/// #[task(critical, timeout = "200ms")]
/// async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
///     Ok(user_id * 100)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Awaited on its own, a task gives `Result<T, TaskError<E>>`.
/// let balance: Result<u64, TaskError<WalletError>> = get_balance(7).await;
/// assert_eq!(balance.unwrap(), 700);
/// # }
/// ```
///
/// # `critical`
///
/// The fan-out cannot do without the task: its error, its timeout or a panic fails the whole
/// fan-out at once. Its slot in `fan_out!` is the plain value `T`.
///
/// ```
/// # use runner_core::{fan_out, task};
/// # #[derive(Debug, thiserror::Error)] #[error("wallet unavailable")] struct WalletError;
/// #[task(critical)]
/// async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
///     Ok(user_id * 100)
/// }
///
/// // The same task, without the macro:
/// fn get_balance_by_hand(user_id: u64)
///     -> runner_core::Task<impl Future<Output = Result<u64, WalletError>>, runner_core::Critical>
/// {
///     runner_core::Task::critical("get_balance", async move { Ok(user_id * 100) })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let (a, b): (u64, u64) = fan_out!(get_balance(1), get_balance_by_hand(2)).await?;
/// assert_eq!((a, b), (100, 200));
/// # Ok(())
/// # }
/// ```
///
/// # `best_effort`
///
/// The fan-out goes on without the task: its slot is `Result<T, TaskError<E>>`, which says
/// why it is missing (`.ok()` gives the `Option`).
///
/// ```
/// # use runner_core::{fan_out, task, TaskError};
/// # #[derive(Debug, thiserror::Error)] #[error("no card")] struct CardError;
/// #[task(best_effort)]
/// async fn get_scratch_card(_user_id: u64) -> Result<String, CardError> {
///     Err(CardError)
/// }
///
/// // Without the macro:
/// fn get_scratch_card_by_hand(_user_id: u64)
///     -> runner_core::Task<impl Future<Output = Result<String, CardError>>, runner_core::BestEffort>
/// {
///     runner_core::Task::best_effort("get_scratch_card", async move { Err(CardError) })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let (a, b) = fan_out!(get_scratch_card(1), get_scratch_card_by_hand(1)).await?;
/// let (a, b): (Result<String, TaskError<CardError>>, Result<String, TaskError<CardError>>) = (a, b);
/// assert!(a.is_err() && b.is_err());
/// # Ok(())
/// # }
/// ```
///
/// # `timeout = "..."`
///
/// The task's own timeout, in humantime's syntax (`"150ms"`, `"1s 500ms"`), checked at
/// compile time; zero is refused. When it elapses the task's future is dropped. The caller
/// can replace it with `.timeout(d)` on the task.
///
/// ```
/// # use std::time::Duration;
/// # use runner_core::{task, TaskError};
/// # #[derive(Debug, thiserror::Error)] #[error("no card")] struct CardError;
/// #[task(best_effort, timeout = "150ms")]
/// async fn get_scratch_card(_user_id: u64) -> Result<String, CardError> {
///     tokio::time::sleep(Duration::from_secs(1)).await;
///     Ok("You won!".to_owned())
/// }
///
/// // Without the macro:
/// fn get_scratch_card_by_hand(_user_id: u64)
///     -> runner_core::Task<impl Future<Output = Result<String, CardError>>, runner_core::BestEffort>
/// {
///     runner_core::Task::best_effort("get_scratch_card", async move {
///         tokio::time::sleep(Duration::from_secs(1)).await;
///         Ok("You won!".to_owned())
///     })
///     .timeout(Duration::from_millis(150))
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert!(matches!(get_scratch_card(1).await, Err(TaskError::TimedOut(_))));
/// assert!(matches!(get_scratch_card_by_hand(1).await, Err(TaskError::TimedOut(_))));
/// // A call-site override:
/// let card = get_scratch_card(1).timeout(Duration::from_secs(2)).await;
/// assert_eq!(card.unwrap(), "You won!");
/// # }
/// ```
///
/// # `name = "..."`
///
/// The task's name in errors, reports and spans; the fn's name by default.
///
/// ```
/// # use runner_core::task;
/// # #[derive(Debug, thiserror::Error)] #[error("wallet unavailable")] struct WalletError;
/// #[task(critical, name = "wallet.balance")]
/// async fn get_balance(_user_id: u64) -> Result<u64, WalletError> {
///     Err(WalletError)
/// }
///
/// // Without the macro, the name is the first argument:
/// let by_hand = runner_core::Task::critical("wallet.balance", async { Err::<u64, _>(WalletError) });
/// assert_eq!(by_hand.name(), get_balance(1).name());
/// ```
///
/// # `label = <expr>`
///
/// Each call's label, beside the static name: an id or a short key, from the fn's
/// arguments, so that 20 calls of one fn in a batch can be told apart. It shows in the
/// fan-out's error (``critical task `profile[17]` failed``), the task's record and
/// `Server-Timing` entry, its span and its policy's events. The expression is read by
/// reference, so the argument stays the body's: an integer, a `str`, a `String` or a
/// `Label`; another `Display` value through `runner_core::Label::display(&value)`. A task
/// without one pays nothing for it.
///
/// ```
/// # use runner_core::{task, fan_out, Label};
/// # #[derive(Debug, thiserror::Error)] #[error("profile unavailable")] struct ProfileError;
/// #[task(critical, timeout = "100ms", label = user_id)]
/// async fn profile(user_id: u64) -> Result<String, ProfileError> {
///     match user_id {
///         17 => Err(ProfileError),
///         id => Ok(format!("user {id}")),
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Without the macro:
/// let by_hand = runner_core::Task::critical("profile", async { Ok::<_, ProfileError>(1) }).label(17);
/// assert_eq!(by_hand.task_label(), Some(Label::from(17)));
///
/// let error = fan_out!(profile(16), profile(17)).await.unwrap_err();
/// assert_eq!(error.to_string(), "critical task `profile[17]` failed: profile unavailable");
/// # }
/// ```
///
/// # `crate = "..."`
///
/// The path to `runner_core`, for a crate that renamed the dependency.
///
/// ```
/// # extern crate runner_core as renamed_runner;
/// # #[derive(Debug, thiserror::Error)] #[error("wallet unavailable")] struct WalletError;
/// #[renamed_runner::task(critical, crate = "renamed_runner")]
/// async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
///     Ok(user_id)
/// }
/// # let _ = get_balance(1);
/// ```
///
/// # With `#[tracing::instrument]`: above `#[task]`
///
/// `#[tracing::instrument]` goes above `#[task]`, where it instruments the body, which is the
/// task's future: its span is open while the task runs, inside the task's own span. Below
/// `#[task]` it would instrument the fn that only builds the task, so that order is a
/// compile error that says so.
///
/// ```
/// # use runner_core::task;
/// # #[derive(Debug, thiserror::Error)] #[error("wallet unavailable")] struct WalletError;
/// #[tracing::instrument]
/// #[task(critical, timeout = "200ms")]
/// async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
///     tracing::info!("in the span, while the task runs");
///     Ok(user_id)
/// }
/// # let _ = get_balance(1);
/// ```
///
/// # In a trait: `impl Future + Send`, or `boxed` for `dyn`
///
/// A trait's method can't have a body to put `#[task]` on: the trait declares what the task
/// fn returns, and the impl's fn carries the attribute. With static dispatch (`W: Wallet`),
/// declare the task's future as `impl Future<...> + Send`, so that code generic over the
/// trait is `Send` (spawned, or an axum handler). Behind `dyn` (an `Arc<dyn Wallet>` in the
/// state), return a `BoxTask`, and write `boxed` in the attribute: the task keeps its name,
/// criticality, timeout and policy, and its future is boxed once per call.
///
/// ```
/// # use std::future::Future;
/// # use std::sync::Arc;
/// # use runner_core::{task, BoxTask, Critical, Task};
/// # #[derive(Debug, thiserror::Error)] #[error("wallet unavailable")] struct WalletError;
/// trait Wallet: Send + Sync {
///     fn balance(&self, user_id: u64)
///     -> Task<impl Future<Output = Result<u64, WalletError>> + Send, Critical>;
/// }
///
/// trait DynWallet: Send + Sync {
///     fn balance(&self, user_id: u64) -> BoxTask<'_, u64, WalletError, Critical>;
/// }
///
/// struct Http;
///
/// impl Wallet for Http {
///     #[task(critical, timeout = "200ms")]
///     async fn balance(&self, user_id: u64) -> Result<u64, WalletError> {
///         Ok(user_id * 100)
///     }
/// }
///
/// impl DynWallet for Http {
///     #[task(critical, timeout = "200ms", boxed)]
///     async fn balance(&self, user_id: u64) -> Result<u64, WalletError> {
///         Ok(user_id * 100)
///     }
/// }
///
/// // Without `boxed`, the same by hand: `Task::boxed` on any task.
/// fn by_hand(wallet: &Http) -> BoxTask<'_, u64, WalletError, Critical> {
///     Wallet::balance(wallet, 7).boxed()
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let shared: Arc<dyn DynWallet> = Arc::new(Http);
/// assert_eq!(shared.balance(7).await.unwrap(), 700);
/// assert_eq!(Wallet::balance(&Http, 7).await.unwrap(), 700);
/// assert_eq!(by_hand(&Http).await.unwrap(), 700);
/// # }
/// ```
///
/// The box borrows what the arguments borrow, for one lifetime: `'static` if they borrow
/// nothing, `'_` for a single elided borrow (`&self`), or the one lifetime they name
/// (`fn lookup<'a>(&'a self, key: &'a str)` returns `BoxTask<'a, ...>`). Two elided borrows
/// are a compile error that says to name one. A generic argument must outlive that lifetime
/// (`T: 'static` for a `'static` box). A trait that declares `async fn balance(..) -> Result<T, E>`
/// can't be implemented with a task fn: a task is not that future (its result is
/// `Result<T, TaskError<E>>` awaited alone, and its slot in a fan-out); declare the task as
/// above instead.
///
/// # Policies: `policy = <expr>`, or `retry`, `hedge`, `breaker`, `limit`, `rate_limit`; and `fallback`
///
/// `policy = <expr>` runs each call under the
/// [`Policy`](https://docs.rs/runner-core/latest/runner_core/struct.Policy.html) the
/// expression gives, evaluated at the call: typically the instance's (`policy = self.wallet`),
/// or one per key (`policy = self.hosts.get(&host)`), or a `LazyLock` built from config
/// (`policy = WALLET`). A place is borrowed; any other expression's value is moved into the
/// task. The policy's timeout, if it has one, replaces `timeout`. With it, `retry_if = path`
/// and `breaker_if = path` say which errors are retried and counted, and `fallback` gives a
/// value; the keys below cannot be combined with it, since the policy given is the whole
/// policy. The policy docs show each form.
///
/// ```
/// # use std::time::Duration;
/// # use runner_core::{task, Breaker, Policy};
/// # #[derive(Debug, thiserror::Error)] #[error("wallet unavailable")] struct WalletError;
/// struct Wallet {
///     policy: Policy,
/// }
///
/// impl Wallet {
///     #[task(critical, timeout = "200ms", policy = self.policy)]
///     async fn balance(&self, user_id: u64) -> Result<u64, WalletError> {
///         Ok(user_id * 100)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let policy = Policy::builder()
///     .breaker(Breaker::new(5, Duration::from_secs(10), Duration::from_secs(5)))
///     .build()
///     .unwrap();
/// let wallet = Wallet { policy };
/// assert_eq!(wallet.balance(7).await.unwrap(), 700);
/// # }
/// ```
///
/// The literal keys below build a per-fn default instead: one policy for the fn, built on
/// its first call and shared by every call of it in the process (a generic fn, or a method
/// of a generic type, has one for all its instantiations), reachable by the task's name
/// through `runner_core::policy::defaults` to be read, reset or forced. Give each backend or
/// instance a `policy = ...` of its own where they must not share a breaker.
/// From the outside in: the timeout and deadline, `fallback`, `rate_limit` (once per call),
/// `limit` (once per call), `retry` (of whole rounds), `hedge` (within a round), `breaker`
/// (around each attempt); the `Policy` docs give the reasons.
///
/// With `retry`, `hedge` or `policy =`, the body runs once per attempt: each attempt gets its
/// own clone of the arguments (so they must be `Clone`; pass big ones by reference or in an
/// `Arc`), and a method takes `&self`. Every value is checked at compile time: a literal by
/// the macro, a `const` path (`timeout = WALLET_TIMEOUT`, `attempts = ATTEMPTS`) by its type
/// and, in a `const` block, by the same rule with the same message.
///
/// ## `retry(attempts = N, ...)`
///
/// Up to `attempts` attempts in all, with exponential backoff and full jitter:
/// `backoff = "10ms"` (the first backoff's cap, doubled after each retry) and
/// `max_backoff = "1s"`. No retry starts that the time left cannot fit. A retry budget per
/// fn, `budget = 0.2` (a share of the calls) over `budget_window = "10s"` plus
/// `min_per_sec = 10`, keeps a failing dependency from being hammered. `when = path` names
/// a `fn(&E) -> bool` that says which errors are worth retrying, and `delay_from = path` a
/// `fn(&E) -> Option<Duration>` that gives the delay an error asks for (a 503's
/// `Retry-After`), waited instead of the backoff, still within the deadline
/// (`Options::retry_delay_from` by hand). `when_value = path` names a `fn(&T) -> bool` for
/// the `Ok` values worth another try (a job still pending), retried as failures are; the
/// last is the call's answer if no retry is left (`Options::retry_if_value`).
/// `attempt_timeout = "80ms"` ends each attempt (with
/// its hedges) that takes longer, inside the task's timeout (Envoy's `per_try_timeout`): it
/// counts as a breaker failure and is retried; when no attempt is left, the task fails with
/// `TaskError::TimedOut` of that time (`Retry::attempt_timeout` by hand).
///
/// ```
/// # use std::sync::atomic::{AtomicU32, Ordering};
/// # use std::sync::LazyLock;
/// # use std::time::Duration;
/// # use runner_core::{task, Policy, Retry};
/// #[derive(Debug, thiserror::Error)]
/// enum WalletError {
///     #[error("wallet unavailable")]
///     Unavailable,
///     #[error("no such user")]
///     NotFound,
/// }
///
/// fn is_transient(error: &WalletError) -> bool {
///     matches!(error, WalletError::Unavailable)
/// }
///
/// static CALLS: AtomicU32 = AtomicU32::new(0);
///
/// async fn fetch_balance(user_id: u64) -> Result<u64, WalletError> {
///     match CALLS.fetch_add(1, Ordering::SeqCst) % 2 {
///         0 => Err(WalletError::Unavailable), // every other call fails
///         _ => Ok(user_id * 100),
///     }
/// }
///
/// #[task(critical, timeout = "200ms", retry(attempts = 3, backoff = "10ms", when = is_transient))]
/// async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
///     fetch_balance(user_id).await
/// }
///
/// // Without the macro: a policy built once, and a closure that starts each attempt.
/// static GET_BALANCE: LazyLock<Policy> = LazyLock::new(|| {
///     Policy::builder()
///         .retry(Retry::new(3).backoff(Duration::from_millis(10)))
///         .build()
///         .unwrap()
/// });
///
/// fn get_balance_by_hand(user_id: u64)
///     -> runner_core::Task<impl Future<Output = Result<u64, WalletError>>, runner_core::Critical>
/// {
///     GET_BALANCE
///         .task("get_balance", move || fetch_balance(user_id),
///               runner_core::Options::new().retry_if(is_transient))
///         .timeout(Duration::from_millis(200))
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(get_balance(7).await.unwrap(), 700);
/// assert_eq!(get_balance_by_hand(7).await.unwrap(), 700);
/// assert_eq!(CALLS.load(Ordering::SeqCst), 4);
/// # }
/// ```
///
/// ## `hedge = "50ms"` or `hedge(after = "50ms", max = 2)`
///
/// When an attempt has not finished after the delay, another starts beside it (up to `max`
/// hedges, 1 by default); the first success wins and the others are dropped at once. The
/// delay must be below the timeout.
///
/// ```
/// # use std::sync::atomic::{AtomicU32, Ordering};
/// # use std::time::Duration;
/// # use runner_core::{task, Hedge, Policy};
/// # #[derive(Debug, thiserror::Error)] #[error("no card")] struct CardError;
/// static ATTEMPTS: AtomicU32 = AtomicU32::new(0);
///
/// async fn fetch_card(_user_id: u64) -> Result<u32, CardError> {
///     let attempt = ATTEMPTS.fetch_add(1, Ordering::SeqCst);
///     // The first attempt hits a slow replica.
///     let delay = if attempt == 0 { 1_000 } else { 10 };
///     tokio::time::sleep(Duration::from_millis(delay)).await;
///     Ok(attempt)
/// }
///
/// #[task(best_effort, timeout = "150ms", hedge = "50ms")]
/// async fn get_scratch_card(user_id: u64) -> Result<u32, CardError> {
///     fetch_card(user_id).await
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // Without the macro:
/// let get_scratch_card_policy = Policy::builder()
///     .hedge(Hedge::new(Duration::from_millis(50)))
///     .build()
///     .unwrap();
/// # let _ = || get_scratch_card_policy.best_effort("get_scratch_card", move || fetch_card(1));
///
/// let start = tokio::time::Instant::now();
/// assert_eq!(get_scratch_card(1).await.unwrap(), 1); // the hedge won
/// assert_eq!(start.elapsed(), Duration::from_millis(60));
/// # }
/// ```
///
/// ## `breaker(window = 100, cooldown = "5s", ...)`
///
/// A circuit breaker for the fn, in resilience4j's terms (see `Breaker` for every rule). It
/// judges a sliding window of attempts' outcomes, `window = 100` (the last 100 calls) or
/// `window = "10s"` (the calls of the last 10 s), once it holds `minimum_calls`; it opens when
/// `failure_rate` of them failed (0.5 if unset; an error, or time running out) or
/// `slow_rate` of them took longer than `slow`. Open, every call fails at once with
/// `TaskError::Rejected(Rejection::BreakerOpen)`, so a best-effort slot degrades instantly
/// instead of waiting out its timeout. After `cooldown` (grown by `cooldown_growth` at each
/// opening in a row, up to `max_cooldown`; or the error's own, from `cooldown_from = path`,
/// a `fn(&E) -> Option<Duration>` such as a 503's `Retry-After`), `half_open_calls` trial
/// calls go through (1 if unset), and it closes if `half_open_successes` of them succeeded
/// (1.0 if unset). `when = path` names a `fn(&E) -> bool` that says which errors count.
///
/// The first form, `breaker(failures = 5, window = "10s", cooldown = "5s")`, opens at 5
/// failures within the last 10 s (with `rate = 0.5`, only when they are also that share of
/// the window's calls): `Breaker::new`'s.
///
/// ```
/// # use std::time::Duration;
/// # use runner_core::{task, Breaker, Policy, Rejection, TaskError};
/// # #[derive(Debug, thiserror::Error)] #[error("no card")] struct CardError;
/// #[task(best_effort, timeout = "150ms", breaker(
///     window = 4, minimum_calls = 2, failure_rate = 0.5,
///     slow = "100ms", slow_rate = 0.8,
///     cooldown = "5s", cooldown_growth = 2.0, max_cooldown = "1m",
///     half_open_calls = 2, half_open_successes = 1.0,
/// ))]
/// async fn get_scratch_card(_user_id: u64) -> Result<String, CardError> {
///     Err(CardError)
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // Without the macro:
/// let get_scratch_card_policy = Policy::builder()
///     .breaker(
///         Breaker::count_based(4, Duration::from_secs(5))
///             .minimum_calls(2)
///             .failure_rate(0.5)
///             .slow_calls(Duration::from_millis(100), 0.8)
///             .cooldown_grows(2.0, Duration::from_secs(60))
///             .half_open(2, 1.0),
///     )
///     .build()
///     .unwrap();
/// # let _ = || get_scratch_card_policy.best_effort("get_scratch_card", || async { Err::<String, _>(CardError) });
///
/// assert!(matches!(get_scratch_card(1).await, Err(TaskError::Failed(_))));
/// assert!(matches!(get_scratch_card(1).await, Err(TaskError::Failed(_))));
/// // Open: refused at once, nothing sent.
/// let refused = get_scratch_card(1).await;
/// assert!(matches!(refused, Err(TaskError::Rejected(Rejection::BreakerOpen))));
/// # }
/// ```
///
/// ## `limit = 32`, `limit(max = 32, reject)` or `limit(adaptive, ...)`
///
/// A bulkhead: at most `max` calls through the policy in flight at once. An excess call waits
/// for a place within its timeout, or with `reject` fails at once with
/// `TaskError::Rejected(Rejection::LimitReached)`. A critical call goes before a best-effort
/// one: it takes a place best-effort calls wait for, and a place freed goes to it first.
///
/// `limit(adaptive)` learns the limit from the dependency's latency (Vegas over windows of
/// calls, as Netflix's concurrency-limits runs it) and cuts it when half a window's calls
/// failed with a counted error or timed out (AIMD), within `min = 1` and `max = 1000`, from
/// `initial = 20`, keeping `backoff = 0.9` of it after such a window: `Limit::adaptive(Adaptive::new().initial(20).bounds(1, 1000).backoff(0.9))` by
/// hand, `[limit]` with `adaptive = true` in a config file.
///
/// ```
/// # use std::time::Duration;
/// # use runner_core::{fan_out, task, Limit, Policy, Rejection, TaskError};
/// # #[derive(Debug, thiserror::Error)] #[error("no card")] struct CardError;
/// #[task(best_effort, timeout = "150ms", limit(max = 1, reject))]
/// async fn get_scratch_card(_user_id: u64) -> Result<u32, CardError> {
///     tokio::time::sleep(Duration::from_millis(10)).await;
///     Ok(1)
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// // Without the macro:
/// let get_scratch_card_policy = Policy::builder()
///     .limit(Limit::new(1).reject_when_full())
///     .build()
///     .unwrap();
/// # let _ = || get_scratch_card_policy.best_effort("get_scratch_card", || async { Ok::<u32, CardError>(1) });
///
/// let (first, second) = fan_out!(get_scratch_card(1), get_scratch_card(2)).await?;
/// assert_eq!(first.unwrap(), 1);
/// assert!(matches!(second, Err(TaskError::Rejected(Rejection::LimitReached))));
/// # Ok(())
/// # }
/// ```
///
/// ## `rate_limit(max = 100, per = "1s", burst = 20, reject)`
///
/// At most `max` calls start per `per` (a second unless given), one each `per / max`, with
/// up to `burst` at once after a quiet spell (`max` unless given); the GCRA, with each call
/// that must wait reserving a turn of its own. An
/// excess call waits for its turn within its timeout and the deadline; one whose turn comes
/// too late, or any excess call with `reject`, fails at once with
/// `TaskError::Rejected(Rejection::RateLimited)`. `rate(100, per = "1s")` is the same key,
/// and `rate_limit = 100` is 100 a second.
///
/// ```
/// # use std::time::Duration;
/// # use runner_core::{fan_out, task, Policy, RateLimit, Rejection, TaskError};
/// # #[derive(Debug, thiserror::Error)] #[error("no card")] struct CardError;
/// #[task(best_effort, timeout = "150ms", rate(10, per = "1s", burst = 1))]
/// async fn get_scratch_card(_user_id: u64) -> Result<u32, CardError> {
///     Ok(1)
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// // Without the macro:
/// let get_scratch_card_policy = Policy::builder()
///     .rate_limit(RateLimit::new(10, Duration::from_secs(1)).burst(1))
///     .build()
///     .unwrap();
/// # let _ = || get_scratch_card_policy.best_effort("get_scratch_card", || async { Ok::<u32, CardError>(1) });
///
/// let start = tokio::time::Instant::now();
/// // The second waits 100 ms for its turn, within its 150 ms.
/// let (first, second) = fan_out!(get_scratch_card(1), get_scratch_card(2)).await?;
/// assert_eq!((first.unwrap(), second.unwrap()), (1, 1));
/// assert_eq!(start.elapsed(), Duration::from_millis(100));
/// // Two more: the first's turn is at 200 ms, the second's at 300 ms, past its timeout.
/// let (third, fourth) = fan_out!(get_scratch_card(3), get_scratch_card(4)).await?;
/// assert_eq!(third.unwrap(), 1);
/// assert!(matches!(fourth, Err(TaskError::Rejected(Rejection::RateLimited))));
/// # Ok(())
/// # }
/// ```
///
/// ## `fallback = path`
///
/// A `fn(&TaskError<E>) -> T` that gives the task's value when it fails: its error, a
/// refusal, or time running out (it answers at that instant, as `TaskError::TimedOut`). The
/// report records the task as `Outcome::Fallback`.
///
/// ```
/// # use runner_core::{fan_out, task, Options, Outcome, TaskError};
/// # #[derive(Debug, thiserror::Error)] #[error("wallet unavailable")] struct WalletError;
/// fn cached_balance(_: &TaskError<WalletError>) -> u64 {
///     42
/// }
///
/// #[task(critical, timeout = "200ms", fallback = cached_balance)]
/// async fn get_balance(_user_id: u64) -> Result<u64, WalletError> {
///     Err(WalletError)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Without the macro, a fallback is a per-call option:
/// let get_balance_policy = runner_core::Policy::builder().build().unwrap();
/// # let _ = || get_balance_policy.task::<runner_core::Critical, _, _, _, _, _>(
/// #     "get_balance", || async { Err::<u64, _>(WalletError) }, Options::new().fallback(cached_balance));
///
/// let (result, report) = fan_out!(report; get_balance(1)).await;
/// assert_eq!(result.unwrap(), (42,));
/// assert_eq!(report.tasks()[0].outcome, Outcome::Fallback);
/// # }
/// ```
///
/// # `coalesce(key = <expr>)`: calls with the same key share one run
///
/// While a call with a key runs, the calls with the same key wait for it and take a clone
/// of its result, its error included (request coalescing, or singleflight). Each keeps its
/// own timeout, deadline and criticality; when the call that runs ends first (its timeout,
/// its drop), a waiting one takes over and runs its own body, so that one caller's
/// cancellation never fails the others. Nothing is cached: a call after the run ended runs
/// again. Around the policies: the calls that wait make no attempt, and pay nothing to a
/// breaker, a limit or a rate limit.
///
/// - `key = <expr>` is read when the fn is called, by reference (`user_id`, `self.id`, a
///   `&str` as a `String`), from the fn's arguments: it must say all that makes two calls
///   alike.
/// - Without `group`, the fn has a group of its own, shared by every caller (and every
///   instance, for a method), of up to `capacity = N` keys at once (10,000 unless given);
///   past it a call runs alone. Its key is `Hash + Eq + Clone + Send + 'static`, its
///   `Result<T, E>` `Clone + Send + 'static`: wrap an error that is not `Clone` in an `Arc`.
/// - `group = <expr>` is a [`Coalesce`](https://docs.rs/runner-core/latest/runner_core/policy/struct.Coalesce.html)
///   the application owns: a field (`self.cards`), a `static`, a `&Coalesce` argument, or a
///   method that returns one, built by hand or from a config's `CoalesceConfig`, and named
///   in its events.
///
/// ```
/// # use std::sync::atomic::{AtomicU32, Ordering};
/// # use std::time::Duration;
/// # use runner_core::{fan_out, task, Task};
/// # use runner_core::policy::Coalesce;
/// # #[derive(Debug, Clone, thiserror::Error)] #[error("no card")] struct CardError;
/// static RUNS: AtomicU32 = AtomicU32::new(0);
///
/// #[task(best_effort, timeout = "150ms", coalesce(key = user_id))]
/// async fn get_scratch_card(user_id: u64) -> Result<String, CardError> {
///     RUNS.fetch_add(1, Ordering::Relaxed);
///     tokio::time::sleep(Duration::from_millis(20)).await;
///     Ok(format!("card of {user_id}"))
/// }
///
/// // Without the macro, the group is the application's:
/// static CARDS: std::sync::LazyLock<Coalesce<u64, String, CardError>> =
///     std::sync::LazyLock::new(|| Coalesce::new().name("get_scratch_card"));
/// fn get_scratch_card_by_hand(
///     user_id: u64,
/// ) -> Task<impl Future<Output = Result<String, CardError>>, runner_core::BestEffort> {
///     Task::best_effort("get_scratch_card", async move { Ok(format!("card of {user_id}")) })
///         .timeout(Duration::from_millis(150))
///         .coalesce(&CARDS, user_id)
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let (a, b, c) = fan_out!(get_scratch_card(7), get_scratch_card(7), get_scratch_card(8)).await?;
/// assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), ("card of 7".into(), "card of 7".into(), "card of 8".into()));
/// assert_eq!(RUNS.load(Ordering::Relaxed), 2);
/// let (by_hand,) = fan_out!(get_scratch_card_by_hand(7)).await?;
/// assert_eq!(by_hand.unwrap(), "card of 7");
/// # Ok(())
/// # }
/// ```
///
/// # Methods, generics and borrowed arguments
///
/// ```
/// # use runner_core::{fan_out, task};
/// # #[derive(Debug, thiserror::Error)] #[error("wallet unavailable")] struct WalletError;
/// struct Wallet {
///     rate: u64,
/// }
///
/// impl Wallet {
///     #[task(critical, timeout = "200ms")]
///     async fn balance(&self, user: &str) -> Result<u64, WalletError> {
///         Ok(self.rate * user.len() as u64)
///     }
/// }
///
/// #[task(best_effort)]
/// async fn describe<T: std::fmt::Debug + Send>(value: T) -> Result<String, WalletError> {
///     Ok(format!("{value:?}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let wallet = Wallet { rate: 10 };
/// let user = String::from("ada");
/// let (balance, text) = fan_out!(wallet.balance(&user), describe(3_u8)).await?;
/// assert_eq!((balance, text.unwrap()), (30, "3".to_owned()));
/// # Ok(())
/// # }
/// ```
///
/// The same holds for callers on edition 2021, where a hand-written `impl Future` return
/// type would need every borrowed lifetime named:
///
/// ```edition2021
/// # use runner_core::{fan_out, task};
/// # #[derive(Debug, thiserror::Error)] #[error("wallet unavailable")] struct WalletError;
/// struct Service<C> {
///     client: C,
/// }
///
/// impl<C: AsRef<str> + Send + Sync> Service<C> {
///     #[task(critical)]
///     async fn lookup(&self, key: &str, extra: &[u8]) -> Result<usize, WalletError> {
///         Ok(self.client.as_ref().len() + key.len() + extra.len())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let service = Service { client: String::from("db") };
/// let key = String::from("user");
/// let (n,) = fan_out!(service.lookup(&key, &[1, 2])).await?;
/// assert_eq!(n, 8);
/// # Ok(())
/// # }
/// ```
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    task::expand(args.into(), item.into()).into()
}

/// Runs tasks concurrently: a future of `Result<(slot, ...), FanOutError>`.
///
/// Each argument is a task (a call of a `#[task]` fn, or a
/// [`Task`](https://docs.rs/runner-core/latest/runner_core/struct.Task.html) built by
/// hand). A critical task's slot is `T`; a best-effort task's slot is
/// `Result<T, TaskError<E>>`. The future allocates nothing, spawns nothing, may borrow
/// locals, and is `Send` whenever its tasks are. It expands to
/// `FanOut::new((task, ...))`: 1 to 16 tasks; for more, use `TaskRunner`.
///
/// ```
/// use runner_core::{fan_out, task, TaskError};
/// # #[derive(Debug, thiserror::Error)] #[error("wallet unavailable")] struct WalletError;
/// # #[derive(Debug, thiserror::Error)] #[error("no card")] struct CardError;
///
/// #[task(critical, timeout = "200ms")]
/// async fn get_balance(user_id: u64) -> Result<u64, WalletError> {
///     Ok(user_id * 100)
/// }
///
/// #[task(best_effort, timeout = "150ms")]
/// async fn get_scratch_card(_user_id: u64) -> Result<String, CardError> {
///     Err(CardError)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let (balance, card): (u64, Result<String, TaskError<CardError>>) =
///     fan_out!(get_balance(7), get_scratch_card(7)).await?;
/// assert_eq!(balance, 700);
/// assert!(card.is_err());
///
/// // Without the macro:
/// let (balance, card) = runner_core::FanOut::new((get_balance(7), get_scratch_card(7))).await?;
/// # assert_eq!(balance, 700);
/// # assert!(card.is_err());
/// # Ok(())
/// # }
/// ```
///
/// Options come before the tasks, separated from them by `;`.
///
/// # `deadline = "..."`
///
/// An overall deadline, a literal checked at compile time. When it passes, the fan-out fails
/// if a critical task is pending; otherwise pending best-effort slots say
/// `TaskError::DeadlineExceeded` and the fan-out succeeds.
///
/// ```
/// # use std::time::Duration;
/// # use runner_core::{fan_out, task, TaskError};
/// # #[derive(Debug, thiserror::Error)] #[error("failed")] struct Failed;
/// #[task(critical)]
/// async fn fast() -> Result<u8, Failed> { Ok(1) }
/// #[task(best_effort)]
/// async fn slow() -> Result<u8, Failed> {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok(2)
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let (a, b) = fan_out!(deadline = "300ms"; fast(), slow()).await?;
/// assert!(matches!((a, b), (1, Err(TaskError::DeadlineExceeded))));
///
/// // Without the macro:
/// let (a, b) = runner_core::FanOut::new((fast(), slow()))
///     .deadline(Duration::from_millis(300))
///     .await?;
/// # assert!(matches!((a, b), (1, Err(TaskError::DeadlineExceeded))));
/// # Ok(())
/// # }
/// ```
///
/// # `deadline = <expr>`
///
/// The same, with any expression of type `std::time::Duration`.
///
/// ```
/// # use std::time::Duration;
/// # use runner_core::{fan_out, task};
/// # #[derive(Debug, thiserror::Error)] #[error("failed")] struct Failed;
/// # #[task(critical)] async fn fast() -> Result<u8, Failed> { Ok(1) }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), runner_core::FanOutError> {
/// let budget = Duration::from_millis(250);
/// let (a,) = fan_out!(deadline = budget; fast()).await?;
/// // Without the macro:
/// let (b,) = runner_core::FanOut::new((fast(),)).deadline(budget).await?;
/// assert_eq!((a, b), (1, 1));
/// # Ok(())
/// # }
/// ```
///
/// # `cancel = <token>`
///
/// Ends the fan-out with `FanOutError::Cancelled` when the
/// [`CancellationToken`](https://docs.rs/tokio-util/latest/tokio_util/sync/struct.CancellationToken.html)
/// (or a reference to one) is cancelled, dropping every task.
///
/// ```
/// # use std::time::Duration;
/// # use runner_core::{fan_out, task, CancellationToken};
/// # #[derive(Debug, thiserror::Error)] #[error("failed")] struct Failed;
/// #[task(critical)]
/// async fn forever() -> Result<u8, Failed> {
///     std::future::pending().await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let token = CancellationToken::new();
/// token.cancel();
/// let error = fan_out!(cancel = token; forever()).await.unwrap_err();
/// assert!(error.is_cancelled());
///
/// // Without the macro:
/// let error = runner_core::FanOut::new((forever(),)).cancel_on(token.clone()).await.unwrap_err();
/// assert!(error.is_cancelled());
/// # }
/// ```
///
/// # `report`
///
/// The future gives `(Result<(slot, ...), FanOutError>, Report)`: per task its name,
/// criticality, outcome and elapsed time, even when the fan-out failed.
///
/// ```
/// # use runner_core::{fan_out, task, Outcome};
/// # #[derive(Debug, thiserror::Error)] #[error("failed")] struct Failed;
/// # #[task(critical)] async fn fast() -> Result<u8, Failed> { Ok(1) }
/// # #[task(best_effort)] async fn broken() -> Result<u8, Failed> { Err(Failed) }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (result, report) = fan_out!(deadline = "300ms", report; fast(), broken()).await;
/// assert!(result.is_ok());
/// assert_eq!(report.tasks()[1].outcome, Outcome::Failed);
///
/// // Without the macro:
/// let (result, report) = runner_core::FanOut::new((fast(), broken())).with_report().await;
/// # assert!(result.is_ok());
/// # assert_eq!(report.tasks()[0].name, "fast");
/// # }
/// ```
///
/// # `crate = "..."`
///
/// The path to `runner_core`, for a crate that renamed the dependency.
///
/// ```
/// # extern crate runner_core as renamed_runner;
/// # #[derive(Debug, thiserror::Error)] #[error("failed")] struct Failed;
/// #[renamed_runner::task(critical, crate = "renamed_runner")]
/// async fn fast() -> Result<u8, Failed> { Ok(1) }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), renamed_runner::FanOutError> {
/// let (a,) = renamed_runner::fan_out!(crate = "renamed_runner"; fast()).await?;
/// // Without the macro:
/// let (b,) = renamed_runner::FanOut::new((fast(),)).await?;
/// assert_eq!((a, b), (1, 1));
/// # Ok(())
/// # }
/// ```
#[proc_macro]
pub fn fan_out(input: TokenStream) -> TokenStream {
    fan_out::expand(input.into()).into()
}
