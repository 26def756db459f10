//! API 1.0 request signing and the date formats the API uses. Pure: no clock, no I/O.
//! Spec: shared/reference/mimecast-api.md §1.2 (signature), §1.3 (`x-mc-date`), §3.4 (record times).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Why a signature could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The secret key is not standard base64.
    #[error("secret key is not valid base64; use the Secret Key exactly as Mimecast issued it")]
    SecretNotBase64,
}

/// Computes the API 1.0 signature: `base64(HMAC-SHA1(base64decode(secret), "{date}:{req_id}:{path}:{app_key}"))`.
///
/// # Errors
/// [`SignError::SecretNotBase64`] when `secret_key_b64` does not decode.
pub fn sign(
    secret_key_b64: &str,
    date: &str,
    req_id: &str,
    path: &str,
    app_key: &str,
) -> Result<String, SignError> {
    let key = STANDARD
        .decode(secret_key_b64.trim())
        .map_err(|_| SignError::SecretNotBase64)?;
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(&key).map_err(|_| SignError::SecretNotBase64)?;
    mac.update(format!("{date}:{req_id}:{path}:{app_key}").as_bytes());
    Ok(STANDARD.encode(mac.finalize().into_bytes()))
}

/// Checks `signature` against the expected one in constant time.
pub fn verify(
    secret_key_b64: &str,
    date: &str,
    req_id: &str,
    path: &str,
    app_key: &str,
    signature: &str,
) -> bool {
    let Ok(expected) = sign(secret_key_b64, date, req_id, path, app_key) else {
        return false;
    };
    let (a, b) = (expected.as_bytes(), signature.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Formats an `x-mc-date` value, e.g. `Tue, 24 Nov 2026 10:00:00 UTC` (§1.3).
pub fn format_mc_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

/// Parses an `x-mc-date` value ending in `UTC` (or `GMT`, seen on one docs mirror, §1.3).
pub fn parse_mc_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let body = s.strip_suffix(" UTC").or_else(|| s.strip_suffix(" GMT"))?;
    let naive = NaiveDateTime::parse_from_str(body, "%a, %d %b %Y %H:%M:%S").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

/// Formats a record or request time as the API does: `2026-11-24T09:00:00+0000` (§3.4).
pub fn format_api_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+0000").to_string()
}

/// Parses `2026-11-24T09:00:00+0000`, and also RFC 3339 (`…Z`, `+00:00`, fractions) (§3.4).
pub fn parse_api_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z") {
        return Some(t.with_timezone(&Utc));
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &str =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
    const APP_KEY: &str = "66666666-7777-8888-9999-000000000000";
    const REQ_ID: &str = "2f1c5d8e-7b3a-4c6d-9e0f-1a2b3c4d5e6f";
    const DATE: &str = "Tue, 24 Nov 2026 10:00:00 UTC";

    #[test]
    fn matches_all_four_reference_vectors() {
        let cases = [
            (
                DATE,
                "/api/ttp/url/get-logs",
                "lyE3q9P9PaohkyxXzvsp/K6/oo8=",
            ),
            (
                DATE,
                "/api/ttp/impersonation/get-logs",
                "a8x0oEJfSP0kn/uh3LJB/SlDqX0=",
            ),
            (
                DATE,
                "/api/ttp/attachment/get-logs",
                "G8CRoAGMWgeOzWcaO4S3yN/Dip4=",
            ),
            (
                "Tue, 24 Nov 2026 10:00:00 GMT",
                "/api/ttp/url/get-logs",
                "tucv9yrWGeNfImB+Dvb5oIrYpJw=",
            ),
        ];
        for (date, path, want) in cases {
            assert_eq!(
                sign(SECRET, date, REQ_ID, path, APP_KEY).unwrap(),
                want,
                "{path} {date}"
            );
            assert!(verify(SECRET, date, REQ_ID, path, APP_KEY, want));
        }
    }

    #[test]
    fn rejects_bad_secret_and_wrong_signature() {
        assert_eq!(
            sign("not base64!", DATE, REQ_ID, "/x", APP_KEY),
            Err(SignError::SecretNotBase64)
        );
        assert!(!verify(
            SECRET,
            DATE,
            REQ_ID,
            "/api/ttp/url/get-logs",
            APP_KEY,
            "lyE3q9P9PaohkyxXzvsp/K6/oo9="
        ));
        assert!(!verify(
            SECRET,
            DATE,
            REQ_ID,
            "/api/ttp/url/get-logs",
            APP_KEY,
            ""
        ));
    }

    #[test]
    fn mc_date_round_trips() {
        let t = parse_mc_date(DATE).unwrap();
        assert_eq!(format_mc_date(t), DATE);
        assert_eq!(parse_mc_date("Tue, 24 Nov 2026 10:00:00 GMT"), Some(t));
        assert_eq!(parse_mc_date("Tue, 24 Nov 2026 10:00:00 +0000"), None);
        assert_eq!(parse_mc_date("yesterday"), None);
    }

    #[test]
    fn api_time_accepts_both_layouts() {
        let t = parse_api_time("2026-11-24T09:00:00+0000").unwrap();
        assert_eq!(format_api_time(t), "2026-11-24T09:00:00+0000");
        assert_eq!(parse_api_time("2026-11-24T09:00:00Z"), Some(t));
        assert_eq!(parse_api_time("2026-11-24T09:00:00+00:00"), Some(t));
        assert_eq!(parse_api_time("2026-11-24T10:00:00+0100"), Some(t));
        assert_eq!(parse_api_time("2026-11-24"), None);
        assert_eq!(parse_api_time("garbage"), None);
    }
}
