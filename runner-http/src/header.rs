//! The two ways a budget crosses the wire: `x-request-deadline-ms` (or any header named so
//! configured), whole milliseconds left; and gRPC's `grpc-timeout`, up to eight digits and a
//! unit (`H`, `M`, `S`, `m`, `u`, `n`), as the gRPC over HTTP/2 spec writes it.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

/// gRPC's header for the caller's timeout.
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The header runner-http reads and writes the budget in by default: whole milliseconds.
pub const DEADLINE_MS: HeaderName = HeaderName::from_static("x-request-deadline-ms");

/// A budget header that cannot be read: which header, and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{header}` {expected}")]
pub struct InvalidBudget {
    header: HeaderName,
    expected: &'static str,
}

impl InvalidBudget {
    /// The header that was malformed.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }
}

const MS_EXPECTED: &str = "must be a whole number of milliseconds";
const GRPC_EXPECTED: &str = "must be 1 to 8 digits and a unit (H, M, S, m, u or n), as in `250m`";
const ONCE_EXPECTED: &str = "must be given once: two values would be two deadlines";

/// The budget a request carries in `ms_header` and `grpc-timeout` (when `grpc` is `true`):
/// the tighter of those present, `None` if neither is. A header given twice, or not in its
/// format, is refused.
pub(crate) fn read(
    headers: &HeaderMap,
    ms_header: &HeaderName,
    grpc: bool,
) -> Result<Option<Duration>, InvalidBudget> {
    let ms = one(headers, ms_header)?
        .map(|value| parse_ms(value).ok_or_else(|| invalid(ms_header, MS_EXPECTED)))
        .transpose()?;
    let grpc = match grpc {
        true => one(headers, &GRPC_TIMEOUT)?
            .map(|value| parse_grpc(value).ok_or_else(|| invalid(&GRPC_TIMEOUT, GRPC_EXPECTED)))
            .transpose()?,
        false => None,
    };
    Ok(match (ms, grpc) {
        (Some(ms), Some(grpc)) => Some(ms.min(grpc)),
        (ms, grpc) => ms.or(grpc),
    })
}

/// The one value of `name`, if it is there; two are refused, as two deadlines would be.
fn one<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h HeaderValue>, InvalidBudget> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (value, None) => Ok(value),
        (Some(_), Some(_)) => Err(invalid(name, ONCE_EXPECTED)),
        (None, Some(_)) => unreachable!("a header has a first value before a second"),
    }
}

fn invalid(header: &HeaderName, expected: &'static str) -> InvalidBudget {
    InvalidBudget {
        header: header.clone(),
        expected,
    }
}

/// Whole milliseconds: ASCII digits only (no sign, no fraction; surrounding whitespace
/// allowed), saturating rather than refused when too large to count: "more time than can be
/// counted" is still a budget, and the server's cap bounds it anyway.
pub(crate) fn parse_ms(value: &HeaderValue) -> Option<Duration> {
    let digits = value.to_str().ok()?.trim();
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_millis(
        digits.parse::<u64>().unwrap_or(u64::MAX),
    ))
}

/// gRPC's `TimeoutValue TimeoutUnit`: 1 to 8 ASCII digits, then one unit (surrounding
/// whitespace allowed, as HTTP/1 would have trimmed it).
pub(crate) fn parse_grpc(value: &HeaderValue) -> Option<Duration> {
    let text = value.as_bytes().trim_ascii();
    let (&unit, digits) = text.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Eight digits fit a `u64` with room to spare.
    let count = digits
        .iter()
        .fold(0u64, |n, digit| n * 10 + u64::from(digit - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(count * 3_600),
        b'M' => Duration::from_secs(count * 60),
        b'S' => Duration::from_secs(count),
        b'm' => Duration::from_millis(count),
        b'u' => Duration::from_micros(count),
        b'n' => Duration::from_nanos(count),
        _ => return None,
    })
}

/// `left` in whole milliseconds, rounded up: the callee then gives up at most a millisecond
/// after the caller, so that the caller's own timer, not the callee's 504, reports the time
/// running out.
pub(crate) fn format_ms(left: Duration) -> HeaderValue {
    let millis = left.as_nanos().div_ceil(1_000_000);
    HeaderValue::from(u64::try_from(millis).unwrap_or(u64::MAX))
}

/// `left` as `grpc-timeout`: the finest unit whose count fits eight digits, rounded up.
pub(crate) fn format_grpc(left: Duration) -> HeaderValue {
    const MAX: u128 = 99_999_999;
    let nanos = left.as_nanos();
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    let (count, unit) = units
        .iter()
        .map(|&(per, unit)| (nanos.div_ceil(per), unit))
        .find(|&(count, _)| count <= MAX)
        .unwrap_or((MAX, 'H'));
    let text = Grpc { count, unit }.to_string();
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("99999999H"))
}

struct Grpc {
    count: u128,
    unit: char,
}

impl fmt::Display for Grpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    #[test]
    fn milliseconds_are_whole_and_saturate() {
        assert_eq!(parse_ms(&value("250")), Some(Duration::from_millis(250)));
        assert_eq!(parse_ms(&value(" 7 ")), Some(Duration::from_millis(7)));
        assert_eq!(
            parse_ms(&value("99999999999999999999999")),
            Some(Duration::from_millis(u64::MAX))
        );
        for bad in ["", "-1", "1.5", "1e3", "+4", "12ms", "0x10"] {
            assert_eq!(parse_ms(&value(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn grpc_timeouts_take_each_unit() {
        let cases = [
            ("1H", Duration::from_secs(3_600)),
            ("2M", Duration::from_secs(120)),
            ("3S", Duration::from_secs(3)),
            ("250m", Duration::from_millis(250)),
            ("40u", Duration::from_micros(40)),
            ("99999999n", Duration::from_nanos(99_999_999)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_grpc(&value(text)), Some(expected), "{text}");
        }
        assert_eq!(parse_grpc(&value(" 5m ")), Some(Duration::from_millis(5)));
        for bad in ["", "m", "123456789m", "10s", "10 m", "-1m", "1.5S", "10"] {
            assert_eq!(parse_grpc(&value(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn a_budget_written_is_read_back_no_shorter() {
        for nanos in [1, 999, 1_000, 1_500_000, 250_000_000, 3_600_000_000_000_000] {
            let left = Duration::from_nanos(nanos);
            let ms = parse_ms(&format_ms(left)).unwrap();
            let grpc = parse_grpc(&format_grpc(left)).unwrap();
            assert!(
                ms >= left && ms - left < Duration::from_millis(1),
                "{left:?}: {ms:?}"
            );
            assert!(grpc >= left, "{left:?}: {grpc:?}");
        }
        assert_eq!(format_grpc(Duration::from_millis(250)), "250000u");
        assert_eq!(format_ms(Duration::from_micros(1_001)), "2");
    }

    #[test]
    fn the_tighter_header_wins_and_two_of_one_are_refused() {
        let mut headers = HeaderMap::new();
        assert_eq!(read(&headers, &DEADLINE_MS, true), Ok(None));
        headers.insert(DEADLINE_MS, value("300"));
        headers.insert(GRPC_TIMEOUT, value("100m"));
        assert_eq!(
            read(&headers, &DEADLINE_MS, true),
            Ok(Some(Duration::from_millis(100)))
        );
        // Without gRPC's header read, the other is the budget.
        assert_eq!(
            read(&headers, &DEADLINE_MS, false),
            Ok(Some(Duration::from_millis(300)))
        );
        headers.append(DEADLINE_MS, value("200"));
        let error = read(&headers, &DEADLINE_MS, true).unwrap_err();
        assert_eq!(error.header(), &DEADLINE_MS);
        assert_eq!(
            error.to_string(),
            "`x-request-deadline-ms` must be given once: two values would be two deadlines"
        );
    }
}
