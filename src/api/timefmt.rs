//! Mimecast time strings (reference §3.4): whole seconds, written `2015-11-16T14:49:18+0000`;
//! also read in RFC 3339 form (`…Z`, `+00:00`), which API 2.0 gateways and some records use,
//! with a space instead of the `T`, and without a zone (taken as UTC).
//!
//! Every record's time is read and every event's time written, so the two UTC shapes Mimecast
//! uses are handled digit by digit; chrono's format strings, several times slower, only see
//! other offsets and fractions.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

/// Formats `t` as Mimecast's request form, `2026-11-24T09:00:00+0000`.
pub fn format_mimecast(t: DateTime<Utc>) -> String {
    format_utc(t, "+0000")
}

/// Formats `t` as RFC 3339 in UTC with whole seconds, e.g. `2026-11-24T09:00:00Z`.
pub fn format_rfc3339(t: DateTime<Utc>) -> String {
    format_utc(t, "Z")
}

/// `YYYY-MM-DDTHH:MM:SS` and `zone`.
fn format_utc(t: DateTime<Utc>, zone: &str) -> String {
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.format(&format!("%Y-%m-%dT%H:%M:%S{zone}")).to_string();
    }
    let mut out = String::with_capacity(19 + zone.len());
    push_digits(&mut out, year as u32, 4);
    for (sep, n) in [
        ('-', t.month()),
        ('-', t.day()),
        ('T', t.hour()),
        (':', t.minute()),
        (':', t.second()),
    ] {
        out.push(sep);
        push_digits(&mut out, n, 2);
    }
    out.push_str(zone);
    out
}

/// Appends the last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for i in (0..width).rev() {
        out.push(char::from(b'0' + ((n / 10u32.pow(i)) % 10) as u8));
    }
}

/// `YYYY-MM-DDTHH:MM:SS+0000` or `YYYY-MM-DDTHH:MM:SSZ`, read digit by digit.
fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let zone_ok = match b.len() {
        24 => &b[19..] == b"+0000",
        20 => b[19] == b'Z',
        _ => false,
    };
    if !zone_ok || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(Utc.from_utc_datetime(&time))
}

/// Parses a record time in either form; `None` if it is neither. Also read, as other
/// services write them: a space instead of the `T`, and a time without a zone, taken as UTC
/// (the zone of every Mimecast time).
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Some(t) = parse_utc(text) {
        return Some(t);
    }
    let spaced;
    let text = if text.as_bytes().get(10) == Some(&b' ') {
        spaced = format!("{}T{}", &text[..10], &text[11..]);
        spaced.as_str()
    } else {
        text
    };
    DateTime::<FixedOffset>::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .or_else(|_| DateTime::<FixedOffset>::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| Utc.from_utc_datetime(&t))
        })
        .ok()
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
        for other in [
            "2024-11-17 17:02:30+0000",
            "2024-11-17 17:02:30Z",
            "2024-11-17T17:02:30",
            "2024-11-17 17:02:30",
            "2024-11-17T17:02:30.250",
        ] {
            let secs = parse(other).map(|t| t.timestamp());
            assert_eq!(secs, Some(a.timestamp()), "{other}");
        }
        assert_eq!(format_mimecast(a), "2024-11-17T17:02:30+0000");
        assert_eq!(format_rfc3339(a), "2024-11-17T17:02:30Z");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2024-11-17",
            "2024-13-17T17:02:30+0000",
            "2024-11-17 ",
            "2024-11-17\u{e9}17:02:30",
            "2024-11-17T17:02",
        ] {
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

        /// The digit-by-digit reader agrees with chrono's format strings on near-valid text.
        #[test]
        fn fast_path_agrees_with_chrono(
            s in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\+0000|Z|\\+00:00|-0130|\\.5Z)"
        ) {
            let chrono = DateTime::<FixedOffset>::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%z")
                .or_else(|_| DateTime::parse_from_rfc3339(&s))
                .or_else(|_| DateTime::<FixedOffset>::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f%z"))
                .ok()
                .map(|t| t.with_timezone(&Utc));
            prop_assert_eq!(parse(&s), chrono);
        }

        /// The digit-by-digit writer agrees with chrono's format strings, any year.
        #[test]
        fn formats_agree_with_chrono(secs in -80_000_000_000i64..300_000_000_000) {
            let t = from_unix(secs).unwrap();
            prop_assert_eq!(format_rfc3339(t), t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            prop_assert_eq!(format_mimecast(t), t.format("%Y-%m-%dT%H:%M:%S+0000").to_string());
        }
    }
}
