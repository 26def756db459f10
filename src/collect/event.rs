//! Turning one Mimecast record into the event the host delivers, and the hashes that identify it.
//! Pure. Records have no id and whole-second times (reference §3), so identity is the hash of
//! the record's canonical JSON (see [`canonical`]), plus an occurrence number for identical
//! records.
//!
//! The hash is BLAKE3: cryptographic, so nobody who can get text into a record (a URL, a
//! subject) can make another record look like a duplicate and be dropped, and about three
//! times faster than SHA-256 where there is no SHA hardware, as inside WebAssembly (see
//! `docs/benchmarks.md`).

use serde_json::value::RawValue;

use crate::api::timefmt;
use crate::collect::canonical;
use crate::log_type::LogType;

/// What the cursor needs to know about one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInfo {
    /// BLAKE3 of the canonical JSON (keys sorted, no spaces) without the log type's volatile
    /// member (see [`LogType::volatile_member`]), or of the record as received when it has no
    /// canonical form (see `verbatim`).
    pub digest: [u8; 32],
    /// The record's time (`date` or `eventTime`), Unix seconds; `None` if missing or unreadable.
    pub time: Option<i64>,
    /// The record is well-formed enough to split a page at, but serde_json cannot read it as a
    /// value (a lone UTF-16 surrogate such as `"\ud800"`, which Java-based services can emit, a
    /// number beyond `f64`, nesting over 127 levels). It is delivered as received all the same,
    /// identified by its exact bytes, so one odd record never stops a log type.
    pub verbatim: bool,
}

impl RecordInfo {
    /// The first 8 bytes of the digest: the key the cursor deduplicates on.
    pub fn key(&self) -> u64 {
        let mut k = [0u8; 8];
        k.copy_from_slice(&self.digest[..8]);
        u64::from_be_bytes(k)
    }
}

/// Reads the identity and time of one record. `scratch` is a buffer for the canonical JSON,
/// reused across records so reading a page allocates it once.
pub fn inspect(log_type: LogType, raw: &RawValue, scratch: &mut Vec<u8>) -> RecordInfo {
    scratch.clear();
    let field = log_type.time_field();
    let skip = log_type.volatile_member();
    let (time, verbatim) = match canonical::write(raw.get(), field, skip, scratch) {
        Ok(time) => (time.as_deref().and_then(timefmt::parse), false),
        // The verbatim identity keeps every byte, the volatile member too: such records are
        // rare, and cutting a member out of text serde_json cannot read is not worth the risk.
        Err(_) => {
            scratch.clear();
            scratch.extend_from_slice(raw.get().as_bytes());
            (
                member_str(raw, field).as_deref().and_then(timefmt::parse),
                true,
            )
        }
    };
    RecordInfo {
        digest: blake3::hash(scratch).into(),
        time: time.map(|t| t.timestamp()),
        verbatim,
    }
}

/// The string member `field` of a record serde_json cannot read as a whole, if that member
/// itself can be read.
fn member_str(raw: &RawValue, field: &str) -> Option<String> {
    // A BTreeMap, not a HashMap: `RandomState` would import `wasi:random/insecure-seed`.
    let members: std::collections::BTreeMap<&str, &RawValue> =
        serde_json::from_str(raw.get()).ok()?;
    serde_json::from_str(members.get(field)?.get()).ok()
}

/// The stable id of the `occurrence`-th identical copy (1-based) of a record for a tenant:
/// 32 hex characters. The same record yields the same id on every run, so a downstream can drop
/// repeats delivered at-least-once.
pub fn event_id(tenant: &str, log_type: LogType, digest: &[u8; 32], occurrence: u32) -> String {
    let mut h = blake3::Hasher::new();
    h.update(tenant.as_bytes());
    h.update(&[0]);
    h.update(log_type.as_str().as_bytes());
    h.update(&[0]);
    h.update(digest);
    h.update(&occurrence.to_be_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(32);
    for b in &h.finalize().as_bytes()[..16] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    id
}

/// `tenant` as a JSON string literal, quotes and escapes included.
pub fn tenant_json(tenant: &str) -> String {
    // A string always serialises.
    serde_json::to_string(tenant).unwrap_or_default()
}

/// The event line: `{"log_type","tenant","event_time","event_id","record"}`, with the record
/// byte-for-byte as received, except that a record sent indented over several lines (a
/// pretty-printing server) has its white space between tokens removed, so the event stays one
/// line. `event_time` is RFC 3339, or `null` when the record has no time.
/// `tenant_json` is the tenant as a JSON string (see [`tenant_json`]), encoded once per page.
/// `repaired`: the record held invalid UTF-8, replaced by U+FFFD (see [`crate::api::utf8_repair`]);
/// the event then has a member `"repaired":"invalid UTF-8 replaced by U+FFFD"` before `record`.
pub fn event_json(
    tenant_json: &str,
    log_type: LogType,
    time: Option<i64>,
    event_id: &str,
    raw: &RawValue,
    repaired: bool,
) -> String {
    let mut out = String::with_capacity(raw.get().len() + 160);
    out.push_str(r#"{"log_type":""#);
    out.push_str(log_type.as_str());
    out.push_str(r#"","tenant":"#);
    out.push_str(tenant_json);
    out.push_str(r#","event_time":"#);
    match time.and_then(timefmt::from_unix) {
        Some(t) => {
            out.push('"');
            out.push_str(&timefmt::format_rfc3339(t));
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push_str(r#","event_id":""#);
    out.push_str(event_id);
    if repaired {
        out.push_str(r#"","repaired":""#);
        out.push_str(crate::api::utf8_repair::REPAIRED_NOTE);
    }
    out.push_str(r#"","record":"#);
    push_one_line(&mut out, raw.get());
    out.push('}');
    out
}

/// Appends the JSON text `json` to `out` on one line: as it is when it has no line break, else
/// without the white space between its tokens. JSON strings cannot hold a raw line break, so
/// every CR or LF in valid JSON is such white space, and string contents are copied unchanged.
fn push_one_line(out: &mut String, json: &str) {
    if memchr::memchr2(b'\n', b'\r', json.as_bytes()).is_none() {
        out.push_str(json);
        return;
    }
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        out.push(c);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn canonical_digest_ignores_key_order_and_spacing() {
        let a = inspect(
            LogType::UrlProtect,
            &raw(r#"{"date":"2026-11-24T09:00:00+0000","url":"x"}"#),
            &mut Vec::new(),
        );
        let b = inspect(
            LogType::UrlProtect,
            &raw(r#"{ "url" : "x", "date":"2026-11-24T09:00:00+0000" }"#),
            &mut Vec::new(),
        );
        assert_eq!(a, b);
        assert_eq!(a.time, Some(1_795_510_800));
    }

    #[test]
    fn impersonation_identity_leaves_out_the_retrieval_token() {
        let mut scratch = Vec::new();
        let a = raw(r#"{"id":"MTOKEN:aaa","eventTime":"2026-11-24T09:00:00+0000","subject":"s"}"#);
        let b = raw(r#"{"eventTime":"2026-11-24T09:00:00+0000","subject":"s","id":"MTOKEN:bbb"}"#);
        let c = raw(r#"{"id":"MTOKEN:aaa","eventTime":"2026-11-24T09:00:00+0000","subject":"t"}"#);
        let imp = |r: &RawValue, s: &mut Vec<u8>| inspect(LogType::ImpersonationProtect, r, s);
        assert_eq!(imp(&a, &mut scratch).digest, imp(&b, &mut scratch).digest);
        assert_ne!(imp(&a, &mut scratch).digest, imp(&c, &mut scratch).digest);
        // Other log types keep every member.
        let url = |r: &RawValue, s: &mut Vec<u8>| inspect(LogType::UrlProtect, r, s);
        assert_ne!(url(&a, &mut scratch).digest, url(&b, &mut scratch).digest);
    }

    #[test]
    fn impersonation_time_comes_from_event_time() {
        let i = inspect(
            LogType::ImpersonationProtect,
            &raw(r#"{"eventTime":"2026-11-24T09:00:00+0000","date":"1999-01-01T00:00:00+0000"}"#),
            &mut Vec::new(),
        );
        assert_eq!(i.time, Some(1_795_510_800));
        let none = inspect(
            LogType::ImpersonationProtect,
            &raw(r#"{"date":"2026-11-24T09:00:00+0000"}"#),
            &mut Vec::new(),
        );
        assert_eq!(none.time, None);
    }

    #[test]
    fn a_record_serde_json_cannot_read_is_kept_as_received() {
        for text in [
            r#"{"date":"2026-11-24T09:00:00+0000","subject":"\ud800 broken"}"#,
            r#"{"date":"2026-11-24T09:00:00+0000","size":1e400}"#,
        ] {
            let r = raw(text);
            let info = inspect(LogType::UrlProtect, &r, &mut Vec::new());
            assert!(info.verbatim, "{text}");
            assert_eq!(info.time, Some(1_795_510_800), "{text}");
            assert_eq!(info.digest, *blake3::hash(text.as_bytes()).as_bytes());
            let line = event_json(
                &tenant_json("t"),
                LogType::UrlProtect,
                info.time,
                "id",
                &r,
                false,
            );
            assert!(line.ends_with(&format!("\"record\":{text}}}")));
        }
        let fine = inspect(LogType::UrlProtect, &raw(r#"{"a":1}"#), &mut Vec::new());
        assert!(!fine.verbatim);
    }

    #[test]
    fn an_indented_record_becomes_one_line_with_strings_unchanged() {
        let pretty = "{\r\n  \"date\" : \"2026-11-24T10:00:00+0000\",\n  \"details\": \"a \\\"b\\\" \\r\\n c\",\n  \"hits\": [ 1,\n 2 ]\n}";
        let record = raw(pretty);
        let line = event_json("\"t\"", LogType::UrlProtect, Some(0), "id", &record, false);
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        assert!(
            line.ends_with(r#""record":{"date":"2026-11-24T10:00:00+0000","details":"a \"b\" \r\n c","hits":[1,2]}}"#),
            "{line}"
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        let original: Value = serde_json::from_str(pretty).unwrap();
        assert_eq!(parsed["record"], original);
        // The identity does not depend on the layout.
        let compact =
            raw(r#"{"date":"2026-11-24T10:00:00+0000","details":"a \"b\" \r\n c","hits":[1,2]}"#);
        let mut scratch = Vec::new();
        assert_eq!(
            inspect(LogType::UrlProtect, &record, &mut scratch).digest,
            inspect(LogType::UrlProtect, &compact, &mut scratch).digest
        );
    }

    #[test]
    fn event_ids_differ_by_occurrence_tenant_and_type() {
        let d = [7u8; 32];
        let a = event_id("acme", LogType::UrlProtect, &d, 1);
        assert_eq!(a.len(), 32);
        assert_eq!(a, event_id("acme", LogType::UrlProtect, &d, 1));
        assert_ne!(a, event_id("acme", LogType::UrlProtect, &d, 2));
        assert_ne!(a, event_id("other", LogType::UrlProtect, &d, 1));
        assert_ne!(a, event_id("acme", LogType::AttachmentProtect, &d, 1));
    }

    #[test]
    fn event_line_is_valid_json_with_record_verbatim() {
        let r = raw(r#"{"subject":"Rechnung – fällig \"x\"","details":"a\r\nb"}"#);
        let line = event_json(
            &tenant_json("ac\"me"),
            LogType::AttachmentProtect,
            Some(1_795_510_800),
            "abc",
            &r,
            false,
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["log_type"], "attachment");
        assert_eq!(v["tenant"], "ac\"me");
        assert_eq!(v["event_time"], "2026-11-24T09:00:00Z");
        assert_eq!(v["record"]["details"], "a\r\nb");
        assert!(line.ends_with(&format!("\"record\":{}}}", r.get())));
        assert!(v.get("repaired").is_none());
        let marked = event_json(
            &tenant_json("t"),
            LogType::UrlProtect,
            None,
            "abc",
            &r,
            true,
        );
        let m: Value = serde_json::from_str(&marked).unwrap();
        assert_eq!(m["repaired"], "invalid UTF-8 replaced by U+FFFD");
        assert_eq!(m["record"], v["record"]);
        assert!(marked.ends_with(&format!("\"record\":{}}}", r.get())));
        let no_time = event_json(
            &tenant_json("t"),
            LogType::UrlProtect,
            None,
            "abc",
            &r,
            false,
        );
        assert_eq!(
            serde_json::from_str::<Value>(&no_time).unwrap()["event_time"],
            Value::Null
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod golden {
    use super::*;

    /// Event ids must never change between versions: a downstream deduplicates on them.
    /// The expected id was computed independently, in Python:
    /// `canon = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`,
    /// `d = blake3(canon.encode()).digest()`,
    /// `blake3(b"acme\0url\0" + d + (2).to_bytes(4, "big")).hexdigest()[:32]`.
    #[test]
    fn event_id_of_a_fixed_record_is_stable() {
        let raw = RawValue::from_string(
            r#"{"url":"https://a.example/x?q=1","date":"2026-11-24T09:00:00+0000","n":[1,2.5,-3,true,null],"o":{"b":"é\"\n","a":{}}}"#
                .to_string(),
        )
        .unwrap();
        let info = inspect(LogType::UrlProtect, &raw, &mut Vec::new());
        let id = event_id("acme", LogType::UrlProtect, &info.digest, 2);
        assert_eq!(id, "92bb6424d44396fa03246581340c68a1");
        assert_eq!(info.time, Some(1_795_510_800));
    }
}
