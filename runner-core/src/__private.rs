//! Not public API: what the engines' public traits mention and what the macros expand to.
//! Generated code reaches everything through `::runner_core::__private::…`, so that it
//! depends on no name in the caller's scope.

use std::error::Error as StdError;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use crate::CancellationToken;
use crate::criticality::Criticality;
pub use crate::criticality::{BestEffort, Critical};
pub use crate::fan_out::FanOut;
pub use crate::label::Label;
use crate::policy::{Coalesce, Coalesced, Once, PolicyError, Repeat};
pub use crate::slot::Cuts;
pub use crate::task::Task;
pub use crate::timer::{Clock, OwnTimer, SharedTimer, TaskTimer};
pub use crate::turn::Turn;

/// What `#[task(..., boxed)]` returns: [`BoxTask`](crate::BoxTask) by the fn's declared
/// output, which may be an alias (`io::Result<T>`).
pub type BoxTaskOf<'a, R, C> = Task<futures::future::BoxFuture<'a, R>, C>;

/// What `#[task(label = <expr>)]` takes, by reference (so that the argument it reads stays
/// the body's).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot label a task",
    label = "not an integer or a text",
    note = "a label is an integer up to 64 bits, a `str`, a `String` or a `Label`; for another value that is `Display`, write `label = Label::display(&value)` with runner-core's `Label`"
)]
pub trait LabelArg {
    /// The label.
    fn to_label(&self) -> Label;
}

macro_rules! label_arg {
    ($($t:ty),*) => {$(
        impl LabelArg for $t {
            fn to_label(&self) -> Label {
                Label::from(*self)
            }
        }
    )*};
}

label_arg!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl LabelArg for Label {
    fn to_label(&self) -> Label {
        *self
    }
}

impl LabelArg for str {
    fn to_label(&self) -> Label {
        Label::text(self)
    }
}

impl LabelArg for String {
    fn to_label(&self) -> Label {
        Label::text(self)
    }
}

#[diagnostic::do_not_recommend]
impl<T: LabelArg + ?Sized> LabelArg for &T {
    fn to_label(&self) -> Label {
        (**self).to_label()
    }
}

/// A call's label, from the attribute's expression.
pub fn label_of<T: LabelArg + ?Sized>(value: &T) -> Label {
    value.to_label()
}

/// The task a `#[task]` fn builds.
pub fn new_task<C: Criticality, F>(
    name: &'static str,
    timeout: Option<Duration>,
    future: F,
) -> Task<F, C> {
    Task::new(name, future).timeout_if(timeout)
}

/// What a `#[task]` fn must return.
#[diagnostic::on_unimplemented(
    message = "a `#[task]` fn must return `Result<T, E>`, not `{Self}`",
    label = "not a `Result`",
    note = "the task's error `E` is what a best-effort slot keeps when the task fails"
)]
pub trait TaskOutput {
    /// The task's error type.
    type Error;
    /// The task's value type.
    type Value;
}

impl<T, E> TaskOutput for Result<T, E> {
    type Error = E;
    type Value = T;
}

/// Options pinned to the fn's `Result<T, E>`, so that a `when` or fallback of the wrong type
/// is reported at its path.
pub fn options_for<R: TaskOutput>() -> Options<R::Value, R::Error> {
    Options::new()
}

/// A copy of an argument for one attempt (arguments whose type cannot be named).
pub fn copy_for_attempt<T: AttemptArg>(value: &T) -> T {
    value.for_attempt()
}

/// What a task's error must be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a task's error",
    label = "not `std::error::Error + Send + Sync + 'static`",
    note = "a task's error must implement `std::error::Error + Send + Sync + 'static`, so that a critical failure can carry it in a `FanOutError`; `thiserror` derives `Error` for your own type",
    note = "for `anyhow::Error` or `Box<dyn Error + Send + Sync>`, return `runner_core::AnyError`, which `?` converts them into (`anyhow` with the `anyhow` feature)"
)]
pub trait TaskErrorType {}

#[diagnostic::do_not_recommend]
impl<E: StdError + Send + Sync + 'static> TaskErrorType for E {}

/// Checked at a `#[task]` fn's return type.
pub fn assert_task_output<R: TaskOutput>() {}

/// Checked at a `#[task]` fn's error type, where it is written out.
pub fn assert_task_error<E: TaskErrorType>() {}

/// Checked at a `#[task]` fn's return type, where its error type is not written out (an
/// alias such as `io::Result<T>`).
pub fn assert_task_output_error<R>()
where
    R: TaskOutput,
    R::Error: TaskErrorType,
{
}

/// What `fan_out!` accepts as a task.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a task",
    label = "not a `runner_core::Task`",
    note = "annotate its async fn with `#[task(critical)]` or `#[task(best_effort)]`, or build it with `Task::critical(name, future)` or `Task::best_effort(name, future)`"
)]
pub trait IntoTask {
    /// The task's future.
    type Future;
    /// The task's criticality.
    type Criticality;

    /// The task. (Not `into_task`, so that rustc does not suggest this hidden method for a
    /// call of the `into_task` fn below.)
    fn to_task(self) -> Task<Self::Future, Self::Criticality>;
}

#[diagnostic::do_not_recommend]
impl<F, C> IntoTask for Task<F, C> {
    type Future = F;
    type Criticality = C;

    fn to_task(self) -> Self {
        self
    }
}

/// Each task given to `fan_out!`.
///
/// The output's parameters are inferred rather than projected from `T`, so that a value
/// that is not a task is reported once, at the value, and not again where its output is
/// used.
pub fn into_task<T, F, C>(task: T) -> Task<F, C>
where
    T: IntoTask<Future = F, Criticality = C>,
{
    task.to_task()
}

/// `fan_out!(cancel = token; ...)` takes a token or a reference to one.
pub fn cancel_token(token: &CancellationToken) -> CancellationToken {
    token.clone()
}

pub use crate::policy::breaker::BreakerConfig;
pub use crate::policy::defaults::DefaultPolicy;
pub use crate::policy::{
    AsPolicy, Breaker, BreakerWindow, Budget, Hedge, Limit, LimitConfig, NoFallback, Options,
    Policy, PolicyBuilder, RateLimit, RateLimitConfig, Retry,
};
pub use inventory;
pub use std::sync::LazyLock;

/// A task fn's default policy, from the literal keys `#[task]` checked at compile time.
pub fn default_policy(task: &'static str, builder: PolicyBuilder) -> Policy {
    // The attribute's checks are the builder's.
    let_through(task, "policy", builder.name(task).build())
}

/// `retry(budget = .., budget_window = .., min_per_sec = ..)`: the default budget with the
/// settings given.
pub fn budget(share: Option<f32>, window: Option<Duration>, min_per_sec: Option<u32>) -> Budget {
    Budget::given(share, window, min_per_sec)
}

/// The breaker `#[task(breaker(...))]`'s keys give. Its values and their combinations are
/// checked at compile time, by the attribute or in `const` blocks with the same messages.
pub fn breaker(task: &'static str, keys: BreakerConfig) -> Breaker {
    let_through(task, "breaker", keys.breaker())
}

/// The limit `#[task(limit(...))]`'s keys give, checked at compile time as [`breaker`]'s
/// are.
pub fn limit(task: &'static str, keys: LimitConfig) -> Limit {
    let_through(task, "limit", keys.limit())
}

/// The rate limit `#[task(rate_limit(...))]`'s keys give, checked at compile time as
/// [`breaker`]'s are.
pub fn rate_limit(task: &'static str, keys: RateLimitConfig) -> RateLimit {
    let_through(task, "rate limit", keys.rate_limit())
}

/// A setting of `task`'s per-fn default, which the attribute checked at compile time with
/// the same rules: an error here would be a bug of this crate.
fn let_through<T>(task: &'static str, what: &str, checked: Result<T, PolicyError>) -> T {
    match checked {
        Ok(value) => value,
        Err(error) => panic!("`#[task]` let through a {what} for `{task}` that fails: {error}"),
    }
}

/// The policy `#[task(policy = <expr>)]` gives: checked by type at the user's expression,
/// and only there (a `Held` is a policy whatever it holds, so that a wrong type is one
/// error).
pub fn policy_of<P: AsPolicy>(policy: P) -> Held<P> {
    Held {
        policy,
        get: P::as_policy,
    }
}

/// A policy given to `#[task(policy = <expr>)]`.
pub struct Held<P> {
    policy: P,
    get: fn(&P) -> &Policy,
}

impl<P> AsPolicy for Held<P> {
    fn as_policy(&self) -> &Policy {
        (self.get)(&self.policy)
    }
}

/// The task a `#[task]` fn with retries or hedges builds: each attempt calls `attempt`.
pub fn policy_task<P, C, A, F, T, E, FB>(
    name: &'static str,
    timeout: Option<Duration>,
    policy: P,
    options: Options<T, E, FB>,
    attempt: A,
) -> Task<impl Future<Output = Result<T, E>> + use<P, C, A, F, T, E, FB>, C>
where
    P: AsPolicy,
    C: Criticality,
    A: Fn() -> F,
    F: Future<Output = Result<T, E>>,
    FB: crate::policy::Fallback<T, E>,
{
    crate::policy::through(policy, name, timeout, Repeat(attempt), options)
}

/// The task a `#[task]` fn with only a breaker, a limit or a fallback builds: one attempt.
pub fn policy_task_once<P, C, F, T, E, FB>(
    name: &'static str,
    timeout: Option<Duration>,
    policy: P,
    options: Options<T, E, FB>,
    future: F,
) -> Task<impl Future<Output = Result<T, E>> + use<P, C, F, T, E, FB>, C>
where
    P: AsPolicy,
    C: Criticality,
    F: Future<Output = Result<T, E>>,
    FB: crate::policy::Fallback<T, E>,
{
    crate::policy::through(policy, name, timeout, Once(future), options)
}

/// The slot of a `#[task(coalesce(key = ...))]` fn's own group.
pub use crate::policy::coalesce::FnGroup;

/// The capacity of a `#[task(coalesce(key = ...))]` fn's own group, unless it says.
pub const COALESCE_CAPACITY: usize = Coalesce::<(), (), ()>::DEFAULT_CAPACITY;

/// How `#[task(coalesce(key = <expr>))]` reads its key: by method call, so that a borrowed
/// key is read through (`&str` gives a `String`, `&Key` a `Key`) and an argument it names
/// stays the body's.
pub trait CoalesceKeyOf {
    /// The key, owned.
    type Key;
    /// The key, owned.
    fn __coalesce_key(&self) -> Self::Key;
}

impl<Q: ToOwned + ?Sized> CoalesceKeyOf for Q {
    type Key = Q::Owned;
    fn __coalesce_key(&self) -> Q::Owned {
        self.to_owned()
    }
}

/// What `#[task(coalesce(key = <expr>))]` groups calls by in the fn's own group.
///
/// A key that is not one is reported once, at the key. `M` makes that so: of the two impls,
/// the second never applies, and with two to choose from the compiler keeps only the one
/// whose bounds hold, so that for a wrong key there is none, and no [`Key`](Self::Key) for
/// the call that takes it to raise a second error about.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a coalescing key",
    label = "not `Hash + Eq + Clone + Send + 'static`",
    note = "calls are grouped by their key in a table that outlives them: a key is `Hash + Eq + Clone + Send + 'static`, such as an integer, a `String` or a tuple of them"
)]
pub trait CoalesceKey<M> {
    /// The key itself.
    type Key: Hash + Eq + Clone + Send + 'static;
    /// The key itself.
    fn into_key(self) -> Self::Key;
}

/// See [`CoalesceKey`].
#[derive(Debug)]
pub enum Fits {}

/// See [`CoalesceKey`].
#[derive(Debug)]
pub enum NeverFits {}

/// No type is one: see [`CoalesceKey`].
pub trait Never: never::Sealed {}

mod never {
    pub trait Sealed {}
}

#[diagnostic::do_not_recommend]
impl<K: Hash + Eq + Clone + Send + 'static> CoalesceKey<Fits> for K {
    type Key = K;
    fn into_key(self) -> K {
        self
    }
}

#[diagnostic::do_not_recommend]
impl<K: Never> CoalesceKey<NeverFits> for K {
    type Key = ();
    fn into_key(self) {}
}

/// The key of a call to a `#[task(coalesce(key = ...))]` fn, checked at the user's key.
pub fn coalesce_key<M, K: CoalesceKey<M>>(key: K) -> K::Key {
    key.into_key()
}

/// The result of a `#[task(coalesce(key = ...))]` fn, of which its waiting calls take a
/// clone. One that cannot be shared is reported at the return type, and in the same words
/// at the attribute, where the compiler meets the fn's future: `M` works as
/// [`CoalesceKey`]'s does, so that no other error (a `Clone` bound deep in the coalesced
/// future) is added to those two.
#[diagnostic::on_unimplemented(
    message = "coalesced calls share one result, and `{Self}` is not `Clone + Send + 'static`",
    label = "not `Clone + Send + 'static`",
    note = "every call waiting on a flight takes a clone of its result, its error included; wrap an error that is not `Clone` in an `Arc` (`Arc<E>` is a `std::error::Error` where `E` is)"
)]
pub trait SharedResult<M> {
    /// `T` of `Result<T, E>`.
    type Value: Clone + Send + 'static;
    /// `E` of `Result<T, E>`.
    type Error: Clone + Send + 'static;
}

#[diagnostic::do_not_recommend]
impl<T: Clone + Send + 'static, E: Clone + Send + 'static> SharedResult<Fits> for Result<T, E> {
    type Value = T;
    type Error = E;
}

#[diagnostic::do_not_recommend]
impl<R: Never> SharedResult<NeverFits> for R {
    type Value = ();
    type Error = ();
}

/// The task of a `#[task(coalesce(key = ..., group = <expr>))]` fn: coalesced in the group
/// given.
pub fn coalesce<F, C, K, T, E>(
    task: Task<F, C>,
    group: &Coalesce<K, T, E>,
    key: K,
) -> Task<Coalesced<'_, K, T, E, F>, C>
where
    C: Criticality,
    F: Future<Output = Result<T, E>>,
    K: Hash + Eq + Clone,
    T: Clone,
    E: Clone,
{
    task.coalesce(group, key)
}

/// The task of a `#[task(coalesce(key = ...))]` fn returning `R`: coalesced in the fn's own
/// group, made at its first call with `capacity` (checked at compile time).
///
/// Its future is opaque, a `Future` by its declared bounds alone, so that a result that is
/// not [`SharedResult`] raises no error about the coalesced future's own bounds.
pub fn coalesce_per_fn<R, M, F, C, K>(
    task: Task<F, C>,
    group: &'static FnGroup,
    capacity: usize,
    key: K,
) -> Task<impl Future<Output = Result<R::Value, R::Error>> + use<R, M, F, C, K>, C>
where
    R: SharedResult<M>,
    C: Criticality,
    F: Future<Output = Result<R::Value, R::Error>>,
    K: Hash + Eq + Clone + Send + 'static,
{
    let group = group.get(task.name(), capacity);
    task.coalesce(group, key)
}

/// An argument of a `#[task]` fn with retries or hedges: each attempt gets its own copy.
#[diagnostic::on_unimplemented(
    message = "`retry`, `hedge` and `policy = ...` give each attempt its own copy of the arguments, and `{Self}` is not `Clone`",
    label = "not `Clone`",
    note = "take the argument by shared reference (`&T`), or wrap it in an `Arc`; a `&mut` argument cannot be shared by attempts that may run at once"
)]
pub trait AttemptArg: Sized {
    /// A copy for the next attempt.
    fn for_attempt(&self) -> Self;
}

#[diagnostic::do_not_recommend]
impl<T: Clone> AttemptArg for T {
    fn for_attempt(&self) -> Self {
        self.clone()
    }
}

/// The checks of `#[task(...)]` values written as `const` paths, made at compile time: each
/// takes the value and the message the attribute gives a literal, and panics with it (a
/// compile error, in the `const` block the macro writes) if the value cannot work.
pub mod checked {
    use std::time::Duration;

    /// A positive duration.
    pub const fn positive(value: Duration, message: &'static str) -> Duration {
        if value.is_zero() {
            panic!("{}", message);
        }
        value
    }

    /// At least one (attempts, failures).
    pub const fn at_least_one(value: u32, message: &'static str) -> u32 {
        if value == 0 {
            panic!("{}", message);
        }
        value
    }

    /// 1 to 8 hedges.
    pub const fn hedges(value: u32, message: &'static str) -> u32 {
        if value == 0 || value > 8 {
            panic!("{}", message);
        }
        value
    }

    /// A coalescing group's capacity: at least one key.
    pub const fn capacity(value: usize, message: &'static str) -> usize {
        if value == 0 {
            panic!("{}", message);
        }
        value
    }

    /// A limit of calls in flight.
    pub const fn limit(value: usize, message: &'static str) -> usize {
        if value == 0 || value > crate::policy::LIMIT_MAX {
            panic!("{}", message);
        }
        value
    }

    /// A retry budget's share, within `0.0..=1000.0`.
    pub const fn share(value: f32, message: &'static str) -> f32 {
        if !(value >= 0.0 && value <= 1000.0) {
            panic!("{}", message);
        }
        value
    }

    /// A breaker's rate, within `(0.0, 1.0]`.
    pub const fn rate(value: f32, message: &'static str) -> f32 {
        if !(value > 0.0 && value <= 1.0) {
            panic!("{}", message);
        }
        value
    }

    /// A backoff share, within `(0.0, 1.0)`.
    pub const fn backoff(value: f32, message: &'static str) -> f32 {
        if !(value > 0.0 && value < 1.0) {
            panic!("{}", message);
        }
        value
    }

    /// An adaptive limit's `min <= initial <= max`.
    pub const fn adaptive(min: u32, initial: u32, max: usize) {
        if min as usize > max {
            panic!(
                "an adaptive limit learns between `min` and `max`: `min` is at least 1 and no more than `max`"
            );
        }
        if initial < min || initial as usize > max {
            panic!("an adaptive limit starts from `initial`, which must be within `min` to `max`");
        }
    }

    /// A rate limit's `per`: positive, at most an hour.
    pub const fn rate_per(value: Duration, message: &'static str) -> Duration {
        if value.is_zero()
            || value.as_secs() > 3_600
            || (value.as_secs() == 3_600 && value.subsec_nanos() > 0)
        {
            panic!("{}", message);
        }
        value
    }

    /// A rate limit's burst: 1 to 1,000,000.
    pub const fn burst(value: u32, message: &'static str) -> u32 {
        if value == 0 || value > crate::policy::RATE_MAX_BURST {
            panic!("{}", message);
        }
        value
    }

    /// No more than one call per nanosecond.
    pub const fn rate_pace(max: u32, per: Duration, message: &'static str) {
        // A zero `per` has its own message, from its own check.
        if !per.is_zero() && per.as_nanos() < max as u128 {
            panic!("{}", message);
        }
    }

    /// A retry budget's `min_per_sec`.
    pub const fn min_per_sec(value: u32, message: &'static str) -> u32 {
        if value >= i32::MAX as u32 {
            panic!("{}", message);
        }
        value
    }

    /// A retry budget's window, within 1 s to 60 s.
    pub const fn budget_window(value: Duration, message: &'static str) -> Duration {
        let (secs, nanos) = (value.as_secs(), value.subsec_nanos());
        if secs < 1 || secs > 60 || (secs == 60 && nanos > 0) {
            panic!("{}", message);
        }
        value
    }

    /// `max_backoff` no shorter than `backoff`.
    pub const fn backoffs(backoff: Duration, max_backoff: Duration, message: &'static str) {
        if max_backoff.as_nanos() < backoff.as_nanos() {
            panic!("{}", message);
        }
    }

    /// A count-based breaker window of 1 to 100,000 calls.
    pub const fn window_calls(value: u32, message: &'static str) -> u32 {
        if value == 0 || value > crate::policy::breaker::MAX_WINDOW_CALLS {
            panic!("{}", message);
        }
        value
    }

    /// 1 to 1,000 half-open trial calls.
    pub const fn half_open_calls(value: u32, message: &'static str) -> u32 {
        if value == 0 || value > crate::policy::breaker::MAX_HALF_OPEN_CALLS {
            panic!("{}", message);
        }
        value
    }

    /// A cooldown's growth factor, at least 1.0.
    pub const fn growth(value: f32, message: &'static str) -> f32 {
        if !(value >= 1.0 && value.is_finite()) {
            panic!("{}", message);
        }
        value
    }

    /// `max_cooldown` no shorter than `cooldown`.
    pub const fn cooldowns(cooldown: Duration, max_cooldown: Duration, message: &'static str) {
        if max_cooldown.as_nanos() < cooldown.as_nanos() {
            panic!("{}", message);
        }
    }

    /// An attempt timeout below the task's timeout.
    pub const fn attempt_below(attempt: Duration, timeout: Duration) {
        if attempt.as_nanos() >= timeout.as_nanos() {
            panic!(
                "an attempt timeout would never end an attempt: the task's timeout ends it first; give one below the timeout"
            );
        }
    }

    /// A hedge delay below the attempt timeout.
    pub const fn hedge_below_attempt(after: Duration, attempt: Duration) {
        if after.as_nanos() >= attempt.as_nanos() {
            panic!(
                "a hedge would never start: the attempt timeout ends the attempt first; give a delay below it"
            );
        }
    }

    /// A hedge delay below the task's timeout.
    pub const fn hedge_below(after: Duration, timeout: Duration) {
        if after.as_nanos() >= timeout.as_nanos() {
            panic!(
                "a hedge would never start: the task's timeout ends it first; give a delay below the timeout"
            );
        }
    }
}

/// One policy event, as the policies give them: what the benches measure the cost of with no
/// observer and no subscriber.
pub fn emit_for_bench(policy: &Policy) {
    policy.emit(
        "t",
        crate::policy::EventKind::RetryScheduled {
            attempt: 2,
            delay: Duration::from_millis(1),
        },
    );
}
