//! Scrubbing credentials out of text a tenant's component hands the host (log messages, error
//! texts), whatever a server echoed into it: each configured credential value in the forms it
//! can take on the wire (as is, form- or percent-encoded, JSON-escaped, as HTTP Basic
//! credentials) and any bearer token or token-like field, so a hostile or careless answer
//! cannot carry a secret into the log, the `status` table or the state database.

use base64::Engine as _;

/// What replaces a scrubbed value.
pub const REDACTED: &str = "[redacted]";

/// Shorter values are not scrubbed: replacing every `abc` would garble messages, and real
/// Mimecast credentials are far longer.
const MIN_SECRET_LEN: usize = 4;

/// A bearer token or secret field value shorter than this is left alone: it is a word of a
/// message ("bearer token expired"), not a credential (Mimecast's tokens are far longer).
const MIN_TOKEN_LEN: usize = 16;

/// Field names whose value is scrubbed wherever they appear (`name=value`, `"name":"value"`).
const SECRET_FIELDS: [&str; 6] = [
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "secret_key",
    "password",
];

/// The credential values of one tenant, in every form they are scrubbed in.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a value is replaced before any shorter one inside it.
    needles: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} forms)", self.needles.len())
    }
}

impl Redactor {
    /// A redactor for these credential values (and, for `pairs`, their HTTP Basic form
    /// `base64(user:password)`).
    pub fn new<'a>(
        values: impl IntoIterator<Item = &'a str>,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Redactor {
        let mut needles = Vec::new();
        for value in values {
            if value.len() < MIN_SECRET_LEN {
                continue;
            }
            needles.push(value.to_string());
            needles.push(form_encode(value));
            needles.push(percent_encode(value, false));
            needles.push(percent_encode(value, true));
            let json = serde_json::to_string(value).unwrap_or_default();
            let json = json.trim_matches('"');
            needles.push(json.to_string());
            needles.push(json.replace('/', "\\/"));
        }
        for (user, password) in pairs {
            if password.len() >= MIN_SECRET_LEN {
                needles.push(
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
                );
            }
        }
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Redactor { needles }
    }

    /// `text` with every credential form, bearer token and secret field value replaced by
    /// [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        let out = scrub_after(&out, "bearer", |rest| {
            rest.strip_prefix(' ').or_else(|| rest.strip_prefix("%20"))
        });
        let mut out = out;
        for field in SECRET_FIELDS {
            out = scrub_after(&out, field, field_value_start);
        }
        out
    }
}

/// Replaces the token that follows each (ASCII case-insensitive) `key` in `text`, where
/// `value_start` finds where its value begins in what follows the key (or `None`: no value).
fn scrub_after(text: &str, key: &str, value_start: impl Fn(&str) -> Option<&str>) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(key) {
        let after_key = from + found + key.len();
        from = after_key;
        let Some(rest) = value_start(&text[after_key..]) else {
            continue;
        };
        let start = text.len() - rest.len();
        let len = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        if len < MIN_TOKEN_LEN {
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(REDACTED);
        copied = start + len;
        from = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// After a field name: `=`, `:` or `":"` (with optional spaces and quotes, JSON-escaped
/// quotes included), then the value.
fn field_value_start(rest: &str) -> Option<&str> {
    let rest = rest.trim_start_matches(['"', '\\', '\'', ' ']);
    let rest = rest
        .strip_prefix('=')
        .or_else(|| rest.strip_prefix(':'))
        .or_else(|| rest.strip_prefix("%3D"))?;
    Some(rest.trim_start_matches(['"', '\\', '\'', ' ']))
}

/// Characters a token, key or encoded secret is made of (RFC 6750 `b64token`, plus `%` for
/// percent-encoded values).
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=' | '%')
}

/// `application/x-www-form-urlencoded`: unreserved characters as they are, space as `+`,
/// everything else `%XX`.
fn form_encode(value: &str) -> String {
    percent_encode(value, false).replace("%20", "+")
}

/// RFC 3986 percent-encoding of everything but unreserved characters (`lower`: lower-case hex).
fn percent_encode(value: &str, lower: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            _ if lower => out.push_str(&format!("%{b:02x}")),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &str = "Sup3r+Secret/Key==&Q xyz";

    fn redactor() -> Redactor {
        Redactor::new([SECRET, "client-id-1234"], [("client-id-1234", SECRET)])
    }

    fn assert_clean(text: &str) {
        let out = redactor().scrub(text);
        for leak in ["Sup3r", "Secret", "c2VjcmV0", "eyJhbGci"] {
            assert!(!out.contains(leak), "{leak} left in {out:?}");
        }
        assert!(out.contains(REDACTED), "{out:?}");
    }

    #[test]
    fn a_secret_is_scrubbed_in_every_wire_form() {
        assert_clean(&format!("raw {SECRET} end"));
        assert_clean("form client_id=client-id-1234&client_secret=Sup3r%2BSecret%2FKey%3D%3D%26Q+xyz&grant_type=client_credentials");
        assert_clean("lower sup3r Sup3r%2bSecret%2fKey%3d%3d%26Q%20xyz");
        assert_clean(r#"{"error":"invalid_client","echo":"Sup3r+Secret\/Key==&Q xyz"}"#);
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("client-id-1234:{SECRET}"));
        assert_clean(&format!("Authorization: Basic {basic}"));
    }

    #[test]
    fn bearer_tokens_and_secret_fields_are_scrubbed_whatever_their_value() {
        let r = Redactor::default();
        let out = r.scrub("sent Authorization: Bearer eyJhbGciOi.abc-def_ghi=0123 and more");
        assert_eq!(out, "sent Authorization: Bearer [redacted] and more");
        let out = r.scrub(
            r#"{"access_token":"eyJhbGci1234567890","token_type":"bearer","expires_in":3600}"#,
        );
        assert_eq!(
            out,
            r#"{"access_token":"[redacted]","token_type":"bearer","expires_in":3600}"#
        );
        let out = r.scrub("grant_type=client_credentials&client_secret=abc%2Fdef12345678&x=1");
        assert_eq!(
            out,
            "grant_type=client_credentials&client_secret=[redacted]&x=1"
        );
        let out = r.scrub(r#"echo: {\"client_secret\": \"s3cr3t-0123456789\"}"#);
        assert!(!out.contains("s3cr3t"), "{out}");
        // Words of a message are not tokens.
        let text = "the bearer token expired; client_secret: is wrong";
        assert_eq!(r.scrub(text), text);
    }

    #[test]
    fn text_without_credentials_is_unchanged() {
        let text =
            "HTTP 401: invalid_client (check client_id and client_secret); token_type bearer";
        assert_eq!(redactor().scrub(text), text);
        assert_eq!(redactor().scrub(""), "");
        assert_eq!(redactor().scrub("é ü 漢字 bearer"), "é ü 漢字 bearer");
    }

    #[test]
    fn short_values_are_not_scrubbed_and_debug_shows_no_value() {
        let r = Redactor::new(["abc"], []);
        assert_eq!(r.scrub("abc abc"), "abc abc");
        assert!(!format!("{:?}", redactor()).contains("Sup3r"));
    }
}
