//! Mimecast time strings (reference §3.4): whole seconds, written `2015-11-16T14:49:18+0000`;
//! also read in RFC 3339 form (`…Z`, `+00:00`), which API 2.0 gateways and some records use.

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

/// Formats `t` as Mimecast's request form, `2026-11-24T09:00:00+0000`.
pub fn format_mimecast(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+0000").to_string()
}

/// Formats `t` as RFC 3339 in UTC with whole seconds, e.g. `2026-11-24T09:00:00Z`.
pub fn format_rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a record time in either form; `None` if it is neither.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::<FixedOffset>::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .or_else(|_| DateTime::<FixedOffset>::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Converts Unix seconds to a time; `None` when out of chrono's range.
pub fn from_unix(secs: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(secs, 0).single()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_both_forms() {
        let a = parse("2024-11-17T17:02:30+0000").unwrap();
        let b = parse("2024-11-17T17:02:30Z").unwrap();
        let c = parse("2024-11-17T19:02:30+02:00").unwrap();
        let d = parse("2024-11-17T18:02:30+0100").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a, d);
        assert_eq!(format_mimecast(a), "2024-11-17T17:02:30+0000");
        assert_eq!(format_rfc3339(a), "2024-11-17T17:02:30Z");
    }

    #[test]
    fn rejects_garbage() {
        for s in ["", "yesterday", "2024-11-17", "2024-13-17T17:02:30+0000"] {
            assert!(parse(s).is_none(), "{s}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(secs in 0i64..4_102_444_800) {
            let t = from_unix(secs).unwrap();
            prop_assert_eq!(parse(&format_mimecast(t)), Some(t));
            prop_assert_eq!(parse(&format_rfc3339(t)), Some(t));
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = parse(&s);
        }
    }
}
