//! Keeping credentials out of every text that leaves the component (poll errors, log lines),
//! whatever a server put into it: an OAuth error that echoes the posted form, a proxy page that
//! repeats the request headers. Pure.
//!
//! A credential is looked for as written and in the forms a server may echo it in: as posted
//! in a form body (`application/x-www-form-urlencoded`, upper or lower case hex), percent
//! encoded with `%20` for a space, and JSON-escaped (also with `/` written `\/`). Any bearer
//! token (`Bearer …`, `access_token …`) is blanked too, known or not. Server text quoted in an
//! error is also capped (see [`quote`]).

/// What a credential is replaced by.
pub const REDACTED: &str = "[redacted]";
/// Most bytes of a server's text that one error quotes.
pub const MAX_QUOTE_BYTES: usize = 512;
/// Ends a quote that was cut at [`MAX_QUOTE_BYTES`].
const CUT_MARK: &str = "…[cut]";
/// Credentials shorter than this are not looked for: replacing every `ab` would garble the
/// text and protect nothing.
const MIN_SECRET_BYTES: usize = 4;
/// The shortest start of a credential blanked where a quote was cut through it.
const MIN_CUT_PREFIX: usize = 4;

/// `text`, a server's, cut to at most [`MAX_QUOTE_BYTES`] (at a character boundary, ending in
/// `…[cut]`) for quoting in an error.
pub fn quote(text: &str) -> String {
    if text.len() <= MAX_QUOTE_BYTES {
        return text.to_string();
    }
    let mut end = MAX_QUOTE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARK}", &text[..end])
}

/// Removes a set of credentials, in every form looked for, from texts.
#[derive(Default, Clone)]
pub struct Scrubber {
    /// Every form of every credential, longest first.
    needles: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber")
            .field("forms", &self.needles.len())
            .finish()
    }
}

impl Scrubber {
    /// A scrubber for `secrets` (empty and very short values are skipped).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Scrubber {
        let mut s = Scrubber::default();
        for secret in secrets {
            s.add(secret);
        }
        s
    }

    /// Also removes `secret`.
    pub fn add(&mut self, secret: &str) {
        if secret.len() < MIN_SECRET_BYTES {
            return;
        }
        let form = form_encode(secret, false);
        let json = json_escape(secret);
        for needle in [
            secret.to_string(),
            form.clone(),
            form_encode(secret, true),
            form.replace('+', "%20"),
            json.replace('/', "\\/"),
            json,
        ] {
            if !self.needles.contains(&needle) {
                self.needles.push(needle);
            }
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// `text` without any of the credentials and without bearer tokens.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        out = self.blank_cut_prefixes(&out);
        blank_tokens(&out)
    }

    /// Blanks the start of a credential left where a quote was cut through it.
    fn blank_cut_prefixes(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(CUT_MARK) {
            let before = &rest[..at];
            let cut = self
                .needles
                .iter()
                .filter_map(|n| {
                    (MIN_CUT_PREFIX..n.len())
                        .rev()
                        .filter(|&k| n.is_char_boundary(k))
                        .find(|&k| before.ends_with(&n[..k]))
                })
                .max()
                .unwrap_or(0);
            out.push_str(&before[..before.len() - cut]);
            if cut > 0 {
                out.push_str(REDACTED);
            }
            out.push_str(CUT_MARK);
            rest = &rest[at + CUT_MARK.len()..];
        }
        out.push_str(rest);
        out
    }
}

/// Whether `b` can be part of a bearer token (RFC 6750 `b64token`, plus `%` for an encoded one).
fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=%".contains(&b)
}

/// `text` with every bearer token replaced by [`REDACTED`]: the value after `Bearer ` (as the
/// scheme is written), and after `access_token` or `authorization` (any case) followed by `=`
/// or `:` (quotes and spaces around them allowed; an `authorization`'s scheme word is kept).
/// Prose such as "the bearer token" or "access_token of 9 bytes" is left alone.
fn blank_tokens(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let value_at = |mut i: usize, ranges: &mut Vec<(usize, usize)>| {
        let start = i;
        while i < bytes.len() && token_byte(bytes[i]) {
            i += 1;
        }
        if i > start {
            ranges.push((start, i));
        }
    };
    let skip = |mut i: usize, set: &[u8]| {
        while i < bytes.len() && set.contains(&bytes[i]) {
            i += 1;
        }
        i
    };
    for (at, _) in text.match_indices("Bearer ") {
        let i = skip(at + "Bearer".len(), b" ");
        value_at(i, &mut ranges);
    }
    for key in ["access_token", "authorization"] {
        for (at, _) in lower.match_indices(key) {
            let after = at + key.len();
            let i = skip(after, b" \t\"'\\:=");
            if !bytes[after..i].iter().any(|b| b":=".contains(b)) {
                continue;
            }
            let mut i = i;
            if key == "authorization" {
                // A scheme word (`Bearer`, `Basic`) before the credential.
                let word = skip(i, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
                if word < bytes.len() && bytes[word] == b' ' {
                    i = skip(word, b" ");
                }
            }
            value_at(i, &mut ranges);
        }
    }
    if ranges.is_empty() {
        return text.to_string();
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in ranges {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// `value` as `application/x-www-form-urlencoded` writes it (space as `+`; `lower_hex`:
/// `%2f` rather than `%2F`). The token request's form body is written with this too, so the
/// scrubber looks for exactly the form a server can echo.
pub(crate) fn form_encode(value: &str, lower_hex: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ if lower_hex => out.push_str(&format!("%{b:02x}")),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `value` as the inside of a JSON string literal.
fn json_escape(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr\"et/with+plus=and space&amp";

    fn scrubber() -> Scrubber {
        Scrubber::new(["client-id-123", SECRET, "", "ab"])
    }

    #[test]
    fn a_credential_is_removed_as_written_form_encoded_and_json_escaped() {
        let s = scrubber();
        let form =
            "client_id=client-id-123&client_secret=s3cr%22et%2Fwith%2Bplus%3Dand+space%26amp";
        let echoes = [
            format!("invalid_client: {SECRET}"),
            format!("the posted form was {form}&grant_type=client_credentials"),
            format!(
                "lower hex: {}",
                form.to_lowercase().replace("client-id-123", "x")
            ),
            "percent: s3cr%22et%2Fwith%2Bplus%3Dand%20space%26amp".to_string(),
            format!("json: {}", serde_json::to_string(SECRET).unwrap()),
            r#"php json: "s3cr\"et\/with+plus=and space&amp""#.to_string(),
        ];
        for echo in echoes {
            let clean = s.scrub(&echo);
            assert!(clean.contains(REDACTED), "{clean}");
            for leak in [
                "s3cr",
                "with+plus",
                "with%2Bplus",
                "with%2bplus",
                "client-id-123",
            ] {
                assert!(!clean.contains(leak), "{leak} in {clean}");
            }
        }
        // Text without a credential is left alone; values too short to look for are skipped.
        assert_eq!(
            s.scrub("about ab and a grant_type"),
            "about ab and a grant_type"
        );
    }

    #[test]
    fn bearer_tokens_are_removed_known_or_not() {
        let s = Scrubber::default();
        for (text, kept) in [
            (
                "Authorization: Bearer eyJ.abc-_~+/=",
                "Authorization: Bearer [redacted]",
            ),
            (
                "authorization: bearer xyz, then more",
                "authorization: bearer [redacted], then more",
            ),
            (
                r#"{"access_token":"tok123","token_type":"Bearer"}"#,
                r#"{"access_token":"[redacted]","token_type":"Bearer"}"#,
            ),
            ("access_token=tok&x=1", "access_token=[redacted]&x=1"),
            (
                r#"{\"access_token\":\"tok\"}"#,
                r#"{\"access_token\":\"[redacted]\"}"#,
            ),
            ("a bearer.", "a bearer."),
            ("authorization=Basic abc", "authorization=Basic [redacted]"),
            // Prose is not a token.
            (
                "the bearer token even after a fresh one",
                "the bearer token even after a fresh one",
            ),
            (
                "an access_token of 9 bytes; expected Bearer",
                "an access_token of 9 bytes; expected Bearer",
            ),
        ] {
            assert_eq!(s.scrub(text), kept);
        }
    }

    #[test]
    fn quotes_are_capped_and_a_credential_cut_in_half_is_removed_too() {
        let long = "é".repeat(MAX_QUOTE_BYTES);
        let q = quote(&long);
        assert!(q.len() <= MAX_QUOTE_BYTES + CUT_MARK.len() && q.ends_with(CUT_MARK));
        assert_eq!(quote("short"), "short");
        // A form echo cut through the secret: its start is removed as well.
        let s = scrubber();
        let filler = "x".repeat(MAX_QUOTE_BYTES - 10);
        let q = quote(&format!("{filler}s3cr%22et%2Fwith"));
        let clean = s.scrub(&format!("error ({q})"));
        assert!(!clean.contains("s3cr"), "{clean}");
        assert!(
            clean.ends_with(&format!("{REDACTED}{CUT_MARK})")),
            "{clean}"
        );
    }

    #[test]
    fn debug_shows_no_credential() {
        assert!(!format!("{:?}", scrubber()).contains("s3cr"));
    }
}
