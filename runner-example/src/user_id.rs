//! Strict parsing of a user id, shared by the gateway's query and the services' paths.

use axum::extract::Path as UrlPath;
use axum::extract::rejection::PathRejection;

use crate::error::ApiError;

/// The `user_id` of a raw query string: exactly one, strictly parsed.
///
/// The query is parsed here rather than by axum's `Query` extractor so that a missing or
/// repeated parameter gets a JSON error naming the mistake.
pub fn user_id_from_query(query: &str) -> Result<u64, ApiError> {
    let mut values = form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == "user_id")
        .map(|(_, value)| value);
    let Some(value) = values.next() else {
        return Err(ApiError::bad_request(
            "missing_user_id",
            "the query must have `user_id`, e.g. `?user_id=42`",
        ));
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request(
            "repeated_user_id",
            "`user_id` must be given once",
        ));
    }
    parse_user_id(&value)
}

/// The user id in a service's path (`/balances/{user_id}`, `/cards/{user_id}`): a path axum
/// could not read is an `invalid_path`, the rest as [`parse_user_id`] says.
pub(crate) fn user_id_from_path(
    raw: Result<UrlPath<String>, PathRejection>,
) -> Result<u64, ApiError> {
    let UrlPath(raw) =
        raw.map_err(|rejection| ApiError::bad_request("invalid_path", rejection.body_text()))?;
    parse_user_id(&raw)
}

/// Parses `raw` as a user id: ASCII digits only, at most `i64::MAX` because the wallet keeps
/// ids in SQLite's signed 64-bit integers. `+7`, ` 7` and `7.0` are refused, not guessed at.
pub fn parse_user_id(raw: &str) -> Result<u64, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::bad_request("empty_user_id", "`user_id` is empty"));
    }
    if let Some(digits) = raw.strip_prefix('-')
        && !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_digit())
    {
        return Err(ApiError::bad_request(
            "negative_user_id",
            format!("`user_id` must not be negative, got `{}`", shorten(raw)),
        ));
    }
    if !raw.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            "invalid_user_id",
            format!("`user_id` must be a whole number, got `{}`", shorten(raw)),
        ));
    }
    raw.parse::<i64>()
        .ok()
        .and_then(|id| u64::try_from(id).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "user_id_out_of_range",
                format!(
                    "`user_id` must be at most {}, got `{}`",
                    i64::MAX,
                    shorten(raw)
                ),
            )
        })
}

/// Keeps error details short when a client sends a huge value.
fn shorten(raw: &str) -> String {
    const MAX: usize = 40;
    match raw.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &raw[..end]),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> String {
        parse_user_id(raw).unwrap_err().body.error
    }

    #[test]
    fn finds_exactly_one_user_id() {
        assert_eq!(user_id_from_query("user_id=7").unwrap(), 7);
        assert_eq!(user_id_from_query("other=1&user_id=7").unwrap(), 7);
        assert_eq!(user_id_from_query("user_id=%37").unwrap(), 7);
        let code = |query: &str| user_id_from_query(query).unwrap_err().body.error;
        assert_eq!(code(""), "missing_user_id");
        assert_eq!(code("userid=7"), "missing_user_id");
        assert_eq!(code("user_id=1&user_id=1"), "repeated_user_id");
        assert_eq!(code("user_id="), "empty_user_id");
        assert_eq!(code("user_id"), "empty_user_id");
        assert_eq!(code("user_id=-3"), "negative_user_id");
        assert_eq!(code("user_id=abc"), "invalid_user_id");
    }

    #[test]
    fn accepts_plain_digits() {
        assert_eq!(parse_user_id("42").unwrap(), 42);
        assert_eq!(parse_user_id("0").unwrap(), 0);
        assert_eq!(
            parse_user_id(&i64::MAX.to_string()).unwrap(),
            i64::MAX as u64
        );
    }

    #[test]
    fn names_each_mistake() {
        assert_eq!(code(""), "empty_user_id");
        assert_eq!(code("-1"), "negative_user_id");
        assert_eq!(code("abc"), "invalid_user_id");
        assert_eq!(code("+7"), "invalid_user_id");
        assert_eq!(code("-"), "invalid_user_id");
        assert_eq!(code("1.5"), "invalid_user_id");
        assert_eq!(code("9223372036854775808"), "user_id_out_of_range");
        assert_eq!(code("18446744073709551616"), "user_id_out_of_range");
    }

    #[test]
    fn shortens_long_input() {
        let long = "x".repeat(1000);
        assert!(parse_user_id(&long).unwrap_err().body.detail.len() < 100);
    }
}
