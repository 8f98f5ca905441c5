//! A task error that holds any error: for task fns whose code returns `anyhow::Error` or
//! `Box<dyn Error + Send + Sync>`.

use std::error::Error as StdError;
use std::fmt;

/// Any error, as a task's error type: what `anyhow::Error` (with the `anyhow` feature) and
/// `Box<dyn Error + Send + Sync>` convert into with `?`.
///
/// A task's error must implement `std::error::Error`, so that a critical failure can carry it
/// in a [`FanOutError`](crate::FanOutError); neither of the two catch-all types does. This
/// one does, transparently: its message and its source are the error's own, and
/// [`downcast_ref`](Self::downcast_ref) finds the error it was made from.
///
/// ```
/// use runner_core::{AnyError, FanOutError, fan_out, task};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("wallet unavailable")]
/// struct WalletError;
///
/// fn call_wallet() -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
///     Err(Box::new(WalletError))
/// }
///
/// #[task(critical)]
/// async fn balance() -> Result<u64, AnyError> {
///     Ok(call_wallet()?)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let error: FanOutError = fan_out!(balance()).await.unwrap_err();
/// assert_eq!(error.to_string(), "critical task `balance` failed: wallet unavailable");
/// let any = error.downcast_ref::<AnyError>().unwrap();
/// assert!(any.downcast_ref::<WalletError>().is_some());
/// # }
/// ```
///
/// An error of a type of your own converts with [`AnyError::new`]; with a blanket `From`,
/// `AnyError` could not be an `Error` itself (`anyhow::Error` is not one for that reason).
pub struct AnyError(Repr);

enum Repr {
    Boxed(Box<dyn StdError + Send + Sync + 'static>),
    #[cfg(feature = "anyhow")]
    Anyhow(anyhow::Error),
}

impl AnyError {
    /// Any error.
    pub fn new(error: impl StdError + Send + Sync + 'static) -> Self {
        Self(Repr::Boxed(Box::new(error)))
    }

    /// A message as an error.
    pub fn msg(message: impl fmt::Display + fmt::Debug + Send + Sync + 'static) -> Self {
        Self(Repr::Boxed(Box::new(Message(message))))
    }

    /// The error it holds, if it is an `E`.
    pub fn downcast_ref<E: StdError + Send + Sync + 'static>(&self) -> Option<&E> {
        match &self.0 {
            Repr::Boxed(error) => error.downcast_ref(),
            #[cfg(feature = "anyhow")]
            Repr::Anyhow(error) => error.downcast_ref(),
        }
    }

    /// The error it holds, as `std`'s catch-all.
    pub fn into_boxed(self) -> Box<dyn StdError + Send + Sync + 'static> {
        match self.0 {
            Repr::Boxed(error) => error,
            #[cfg(feature = "anyhow")]
            Repr::Anyhow(error) => error.into(),
        }
    }

    fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        match &self.0 {
            Repr::Boxed(error) => &**error,
            #[cfg(feature = "anyhow")]
            Repr::Anyhow(error) => &**error,
        }
    }
}

impl fmt::Debug for AnyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Boxed(error) => fmt::Debug::fmt(error, f),
            #[cfg(feature = "anyhow")]
            Repr::Anyhow(error) => fmt::Debug::fmt(error, f),
        }
    }
}

impl fmt::Display for AnyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Boxed(error) => fmt::Display::fmt(error, f),
            // anyhow's own, so that `{:#}` shows its chain of contexts.
            #[cfg(feature = "anyhow")]
            Repr::Anyhow(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl StdError for AnyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner().source()
    }
}

impl From<Box<dyn StdError + Send + Sync + 'static>> for AnyError {
    fn from(error: Box<dyn StdError + Send + Sync + 'static>) -> Self {
        Self(Repr::Boxed(error))
    }
}

#[cfg(feature = "anyhow")]
impl From<anyhow::Error> for AnyError {
    fn from(error: anyhow::Error) -> Self {
        Self(Repr::Anyhow(error))
    }
}

/// A message made an error, for [`AnyError::msg`].
struct Message<M>(M);

impl<M: fmt::Debug> fmt::Debug for Message<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<M: fmt::Display> fmt::Display for Message<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl<M: fmt::Display + fmt::Debug> StdError for Message<M> {}
