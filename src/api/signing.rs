//! API 1.0 request signing (reference §1.2–1.4). Pure: the caller supplies the time and the
//! random bytes of the request id, so the signature is reproducible in tests.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The API 1.0 secret key, decoded once from the Base64 text Mimecast shows.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// Decodes the Base64 secret key.
    ///
    /// # Errors
    /// The text is not standard Base64 (with `=` padding), as Mimecast issues it.
    pub fn from_base64(text: &str) -> Result<SecretKey, base64::DecodeError> {
        BASE64.decode(text.trim()).map(SecretKey)
    }

    /// Base64 of HMAC-SHA1 over `message` keyed with this secret: always 28 characters.
    pub fn hmac_sha1_base64(&self, message: &[u8]) -> String {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        let mut mac = match Hmac::<Sha1>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(message);
        BASE64.encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The `x-mc-date` value: RFC 1123 style with a literal `UTC` (§1.3), e.g.
/// `Tue, 24 Nov 2026 10:00:00 UTC`.
pub fn mc_date(now: DateTime<Utc>) -> String {
    now.format("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

/// Formats 16 random bytes as a version-4 UUID for `x-mc-req-id`.
pub fn request_id(random: [u8; 16]) -> String {
    let mut b = random;
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The `Authorization` header value for one API 1.0 call:
/// `MC {access_key}:{base64 HMAC-SHA1(secret, "date:request_id:path:app_key")}`.
pub fn authorization(
    access_key: &str,
    secret: &SecretKey,
    app_key: &str,
    date: &str,
    request_id: &str,
    path: &str,
) -> String {
    let to_sign = format!("{date}:{request_id}:{path}:{app_key}");
    format!(
        "MC {access_key}:{}",
        secret.hmac_sha1_base64(to_sign.as_bytes())
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &str =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
    const APP_KEY: &str = "66666666-7777-8888-9999-000000000000";
    const REQ_ID: &str = "2f1c5d8e-7b3a-4c6d-9e0f-1a2b3c4d5e6f";
    const DATE: &str = "Tue, 24 Nov 2026 10:00:00 UTC";

    fn sign(date: &str, path: &str) -> String {
        let secret = SecretKey::from_base64(SECRET).unwrap();
        authorization(
            "mc-test-access-key-0001",
            &secret,
            APP_KEY,
            date,
            REQ_ID,
            path,
        )
    }

    #[test]
    fn reference_vector_url() {
        assert_eq!(
            sign(DATE, "/api/ttp/url/get-logs"),
            "MC mc-test-access-key-0001:lyE3q9P9PaohkyxXzvsp/K6/oo8="
        );
    }

    #[test]
    fn reference_vector_impersonation() {
        assert_eq!(
            sign(DATE, "/api/ttp/impersonation/get-logs"),
            "MC mc-test-access-key-0001:a8x0oEJfSP0kn/uh3LJB/SlDqX0="
        );
    }

    #[test]
    fn reference_vector_attachment() {
        assert_eq!(
            sign(DATE, "/api/ttp/attachment/get-logs"),
            "MC mc-test-access-key-0001:G8CRoAGMWgeOzWcaO4S3yN/Dip4="
        );
    }

    #[test]
    fn reference_vector_gmt_date_differs() {
        assert_eq!(
            sign("Tue, 24 Nov 2026 10:00:00 GMT", "/api/ttp/url/get-logs"),
            "MC mc-test-access-key-0001:tucv9yrWGeNfImB+Dvb5oIrYpJw="
        );
    }

    #[test]
    fn date_header_uses_literal_utc() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
        assert_eq!(mc_date(t), DATE);
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 7, 5, 9).unwrap();
        assert_eq!(mc_date(t), "Sun, 01 Mar 2026 07:05:09 UTC");
    }

    #[test]
    fn request_id_is_a_v4_uuid() {
        let id = request_id([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(request_id([0; 16]), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn bad_base64_secret_is_an_error() {
        assert!(SecretKey::from_base64("not base64!").is_err());
    }

    #[test]
    fn debug_redacts_secret() {
        let s = SecretKey::from_base64(SECRET).unwrap();
        assert_eq!(format!("{s:?}"), "SecretKey(<redacted>)");
    }
}
