//! Shaping the gateway's answer: the page as JSON, its headers, and the status of a page that
//! could not be made.
//!
//! Headers on a fan-out answer:
//! - `Server-Timing`: each task's duration and outcome, e.g.
//!   `get_balance;dur=3.1;desc="ok", get_scratch_card;dur=150.2;desc="timed_out"`.
//! - `x-partial-response`: `false` when the answer is complete, `true` when a best-effort part
//!   is missing or a fallback's, or the balance is stale (then `degraded` says why). Only on
//!   a 200.

use std::fmt;

use arrayvec::ArrayString;
use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use runner_core::{FanOutError, Report, TaskError, TaskRecord};

use crate::error::ApiError;
use crate::gateway::client::{ScratchError, WalletError};
use crate::model::{BalancePage, Degraded, ScratchCard, WalletBalance};

/// The header that says whether a 200 is complete (`false`) or degraded (`true`).
pub const PARTIAL_HEADER: &str = "x-partial-response";

// Header names made once: inserting one from a `&str` copies it into a new name each time.
const PARTIAL: HeaderName = HeaderName::from_static(PARTIAL_HEADER);
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The answer to a fan-out page: the page, or the status its failure calls for, with the
/// tasks' `Server-Timing`.
pub(crate) fn page_answer(
    user_id: u64,
    result: Result<(WalletBalance, Result<ScratchCard, TaskError<ScratchError>>), FanOutError>,
    report: &Report<[TaskRecord; 2]>,
) -> Response {
    let mut response = match result {
        Ok((wallet, card)) => {
            let scratch_card = card.inspect_err(log_degraded).ok();
            page_response(BalancePage {
                user_id,
                degraded: degraded(wallet.stale, report.tasks()),
                balance: wallet.balance,
                scratch_card,
            })
        }
        Err(error) => failure(&error).into_response(),
    };
    if let Some(value) = server_timing(report) {
        response.headers_mut().insert(SERVER_TIMING, value);
    }
    response
}

/// The tasks' `Server-Timing`, written on the stack and copied once into the header's value
/// (a `String` would grow five times on the way).
fn server_timing(report: &Report<[TaskRecord; 2]>) -> Option<HeaderValue> {
    let mut text = ArrayString::<512>::new();
    match fmt::Write::write_fmt(&mut text, format_args!("{}", report.server_timing())) {
        Ok(()) => HeaderValue::from_str(&text).ok(),
        // Names and labels too long for the buffer.
        Err(_) => HeaderValue::from_str(&report.server_timing().to_string()).ok(),
    }
}

/// A page as JSON, with `x-partial-response` saying whether anything in it is degraded.
/// Shared with the baseline gateway, which must answer the same.
pub(crate) fn page_response(page: BalancePage) -> Response {
    let partial = !page.degraded.is_empty();
    let mut response = Json(page).into_response();
    response.headers_mut().insert(
        PARTIAL,
        HeaderValue::from_static(if partial { "true" } else { "false" }),
    );
    response
}

/// The `degraded` entry of a page whose balance a lagging replica gave (its retries, if
/// any, all stale too). Shared with the baseline gateway, which must answer the same.
pub(crate) fn stale_balance() -> Degraded {
    tracing::debug!("answering with a stale balance");
    Degraded {
        task: "get_balance".to_owned(),
        reason: "stale".to_owned(),
    }
}

fn log_degraded(error: &TaskError<ScratchError>) {
    tracing::debug!(error = %error, "answering without the scratch card");
}

/// What a page lacks: first its balance, if `balance_stale`; then the best-effort tasks that
/// went out without a value of their own, and why, as the report says: `failed`,
/// `timed_out`, `deadline`, `panicked`, `rejected` (its breaker was open), or `fallback` (its
/// slot holds its fallback's value).
fn degraded(balance_stale: bool, tasks: &[TaskRecord]) -> Vec<Degraded> {
    let tasks = tasks
        .iter()
        .filter(|record| !record.critical && record.outcome.is_failure())
        .map(|record| Degraded {
            task: record.name.to_owned(),
            reason: record.outcome.as_str().to_owned(),
        });
    balance_stale
        .then(stale_balance)
        .into_iter()
        .chain(tasks)
        .collect()
}

/// The status for a failed fan-out: 404 for an unknown user, 503 when the wallet call was
/// refused (its breaker is open), 504 when time ran out, 502 when the wallet failed. Never
/// 500: the gateway itself did nothing wrong.
fn failure(error: &FanOutError) -> ApiError {
    let wallet = error.downcast_ref::<WalletError>();
    if let Some(WalletError::NotFound(user_id)) = wallet {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_user",
            format!("no wallet for user {user_id}"),
        );
    }
    if matches!(error, FanOutError::TaskRejected { .. }) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            error.to_string(),
        );
    }
    if error.is_timeout() || matches!(wallet, Some(WalletError::DeadlineExceeded)) {
        return ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            error.to_string(),
        );
    }
    // The message carries the wallet's own error: `critical task ... failed: the wallet
    // answered 503`.
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "upstream_failed",
        error.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn degraded_lists_a_stale_balance_then_the_best_effort_tasks_without_a_value() {
        use runner_core::Outcome;
        let record = |name, critical, outcome| TaskRecord {
            label: None,
            name,
            critical,
            outcome,
            elapsed: Duration::ZERO,
        };
        let tasks = [
            record("get_balance", true, Outcome::Ok),
            record("get_scratch_card", false, Outcome::Rejected),
            record("card_ok", false, Outcome::Ok),
            record("card_fallback", false, Outcome::Fallback),
        ];
        let reasons = |balance_stale| {
            degraded(balance_stale, &tasks)
                .into_iter()
                .map(|entry| (entry.task, entry.reason))
                .collect::<Vec<_>>()
        };
        let owned = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(task, reason)| (task.to_string(), reason.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            reasons(false),
            owned(&[
                ("get_scratch_card", "rejected"),
                ("card_fallback", "fallback")
            ])
        );
        // A stale balance comes first, as its task does in the report.
        assert_eq!(
            reasons(true),
            owned(&[
                ("get_balance", "stale"),
                ("get_scratch_card", "rejected"),
                ("card_fallback", "fallback")
            ])
        );
    }
}
