//! How long a `429` asks us to wait (reference §4.3). Pure: header values and the clock in,
//! milliseconds out.
//!
//! Mimecast sends `X-RateLimit-Reset` as the milliseconds until the quota resets. Gateways in
//! front of an API sometimes send `Retry-After` instead (seconds or an HTTP date), and a
//! reset header written as a Unix time instead of a duration would otherwise stall a tenant
//! for weeks; both are read, and every wait is capped.

use chrono::{DateTime, Utc};

/// Longest wait taken from a response: one hour. A longer quota period is simply asked about
/// again an hour later (one call per hour).
pub const MAX_WAIT_MS: u64 = 3_600_000;

/// A reset value this large cannot be a duration in milliseconds (it would be over 11 days),
/// so it is read as a Unix time: in milliseconds from 10^12 on, in seconds below that.
const ABSOLUTE_FROM: f64 = 1e9;
const ABSOLUTE_MILLIS_FROM: f64 = 1e12;

/// The wait in milliseconds asked for by `X-RateLimit-Reset` (`reset`) or, failing that,
/// `Retry-After`, received at `now`; `None` when neither is usable.
pub fn wait_ms(reset: Option<&str>, retry_after: Option<&str>, now: DateTime<Utc>) -> Option<u64> {
    reset
        .and_then(|v| reset_ms(v, now))
        .or_else(|| retry_after.and_then(|v| retry_after_ms(v, now)))
        .map(|ms| ms.min(MAX_WAIT_MS))
}

/// `X-RateLimit-Reset`: milliseconds to wait, or a Unix time (see [`ABSOLUTE_FROM`]).
fn reset_ms(value: &str, now: DateTime<Utc>) -> Option<u64> {
    let v: f64 = value.trim().parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    if v < ABSOLUTE_FROM {
        return Some(v.ceil() as u64);
    }
    let at_ms = if v >= ABSOLUTE_MILLIS_FROM {
        v
    } else {
        v * 1000.0
    };
    Some(until(at_ms, now))
}

/// `Retry-After`: whole seconds, or an HTTP date (RFC 9110 §10.2.3).
fn retry_after_ms(value: &str, now: DateTime<Utc>) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(until(at.timestamp_millis() as f64, now))
}

/// Milliseconds from `now` to the Unix time `at_ms`; zero when it has passed.
fn until(at_ms: f64, now: DateTime<Utc>) -> u64 {
    let delta = at_ms - now.timestamp_millis() as f64;
    if delta > 0.0 {
        delta.min(u64::MAX as f64).ceil() as u64
    } else {
        0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
    }

    #[test]
    fn reset_is_milliseconds_rounded_up() {
        assert_eq!(wait_ms(Some("1500"), None, now()), Some(1500));
        assert_eq!(wait_ms(Some(" 250.2 "), None, now()), Some(251));
        assert_eq!(wait_ms(Some("0"), Some("30"), now()), Some(0));
    }

    #[test]
    fn reset_as_a_unix_time_is_turned_into_a_duration() {
        let in_ten_s = now().timestamp() + 10;
        assert_eq!(
            wait_ms(Some(&in_ten_s.to_string()), None, now()),
            Some(10_000)
        );
        let in_ten_s_ms = (now().timestamp() + 10) * 1000;
        assert_eq!(
            wait_ms(Some(&in_ten_s_ms.to_string()), None, now()),
            Some(10_000)
        );
        let past = now().timestamp() - 10;
        assert_eq!(wait_ms(Some(&past.to_string()), None, now()), Some(0));
    }

    #[test]
    fn retry_after_is_used_without_a_usable_reset() {
        assert_eq!(wait_ms(None, Some("7"), now()), Some(7000));
        assert_eq!(wait_ms(Some("soon"), Some("7"), now()), Some(7000));
        assert_eq!(wait_ms(Some("-3"), Some("7"), now()), Some(7000));
        assert_eq!(
            wait_ms(None, Some("Wed, 25 Nov 2026 10:00:30 GMT"), now()),
            Some(30_000)
        );
        assert_eq!(wait_ms(None, Some("later"), now()), None);
        assert_eq!(wait_ms(None, None, now()), None);
    }

    #[test]
    fn waits_are_capped() {
        assert_eq!(wait_ms(Some("999999999"), None, now()), Some(MAX_WAIT_MS));
        assert_eq!(wait_ms(None, Some("86400"), now()), Some(MAX_WAIT_MS));
        assert_eq!(wait_ms(Some("inf"), Some("NaN"), now()), None);
    }

    proptest! {
        #[test]
        fn any_header_text_gives_a_bounded_wait(reset in ".{0,24}", retry in ".{0,32}") {
            if let Some(ms) = wait_ms(Some(&reset), Some(&retry), now()) {
                prop_assert!(ms <= MAX_WAIT_MS);
            }
        }
    }
}
