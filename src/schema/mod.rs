//! Output schemas: one Mimecast TTP record as an ECS document ([`ecs`]) or an OCSF 1.8.0 Email
//! Activity event ([`ocsf`]). Pure: the record, its tenant, type, id and time come in as a
//! [`Record`], one line of JSON goes out; no clock, no I/O, and no input makes a mapping fail.
//! Field by field tables and the reasons behind them: `docs/schemas.md`. The tests check the
//! output against the official definitions vendored in `tests/fixtures/schema/`.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::api::timefmt;
use crate::log_type::LogType;

pub mod ecs;
pub mod ocsf;
mod url_parts;

#[cfg(test)]
mod samples;

/// The shape of delivered events, chosen per tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schema {
    /// The collector's own event: `{log_type, tenant, event_time, event_id, record}`.
    #[default]
    Raw,
    /// Elastic Common Schema ([`ecs::ECS_VERSION`]).
    Ecs,
    /// OCSF [`ocsf::VERSION`] Email Activity (class 4009).
    Ocsf,
}

impl Schema {
    /// The names [`Schema::parse`] accepts, in the order of the variants.
    pub const NAMES: [&str; 3] = ["raw", "ecs", "ocsf"];

    /// Parses a name from [`Schema::NAMES`] (lower case, exact).
    pub fn parse(s: &str) -> Option<Schema> {
        match s {
            "raw" => Some(Schema::Raw),
            "ecs" => Some(Schema::Ecs),
            "ocsf" => Some(Schema::Ocsf),
            _ => None,
        }
    }

    /// The name of the schema, as in [`Schema::NAMES`].
    pub fn as_str(self) -> &'static str {
        match self {
            Schema::Raw => "raw",
            Schema::Ecs => "ecs",
            Schema::Ocsf => "ocsf",
        }
    }
}

/// One record to map, with what the collector knows about it.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The tenant the record was collected for; the host checks it in every mapped event.
    pub tenant: &'a str,
    /// Which TTP log the record comes from.
    pub log_type: LogType,
    /// The raw event's id, 32 hex characters (see [`crate::collect::event::event_id`]).
    pub event_id: &'a str,
    /// The record's time, Unix seconds; `None` if missing or unreadable.
    pub time: Option<i64>,
    /// The record as received. It may span lines, and serde_json may be unable to read it
    /// ("verbatim", see [`crate::collect::event::RecordInfo::verbatim`]).
    pub raw: &'a RawValue,
    /// Invalid UTF-8 in the record was replaced with U+FFFD.
    pub repaired: bool,
}

/// Options of a mapped schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Also deliver the record as received: ECS `event.original`, OCSF `raw_data`. A record
    /// serde_json cannot read is always delivered that way, whatever this says.
    pub original: bool,
}

/// The label (ECS `tags`, OCSF `metadata.labels`) of a record whose invalid UTF-8 was replaced.
pub const LABEL_REPAIRED: &str = "mimecast_repaired_utf8";
/// The label of a record serde_json cannot read: only its text, time and ownership are mapped.
pub const LABEL_VERBATIM: &str = "mimecast_verbatim";

/// The record's members, or `None` when it is not a JSON object serde_json can read.
fn members(raw: &RawValue) -> Option<Map<String, Value>> {
    match serde_json::from_str(raw.get()) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Removes and returns the string member `key` when it is non-empty and `keep` accepts it.
/// Anything else stays in `rest`, so it is delivered among the leftovers, never lost.
fn take_if(
    rest: &mut Map<String, Value>,
    key: &str,
    keep: impl Fn(&str) -> bool,
) -> Option<String> {
    match rest.get(key) {
        Some(Value::String(s)) if !s.is_empty() && keep(s) => match rest.remove(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// [`take_if`] for any non-empty string.
fn take(rest: &mut Map<String, Value>, key: &str) -> Option<String> {
    take_if(rest, key, |_| true)
}

/// The string member `key`, left in place.
fn peek<'m>(rest: &'m Map<String, Value>, key: &str) -> Option<&'m str> {
    rest.get(key).and_then(Value::as_str)
}

/// The record time, Unix seconds: the time member when it reads as a time (removed from `rest`
/// when the whole-second UTC form the schema's time field holds says it in full), else what
/// the collector found. Only years 0000 to 9999: RFC 3339, Elasticsearch dates and most OCSF
/// consumers stop there; a member outside them stays in `rest`.
fn take_time(
    rest: &mut Map<String, Value>,
    log_type: LogType,
    fallback: Option<i64>,
) -> Option<i64> {
    let field = log_type.time_field();
    let text = peek(rest, field);
    let parsed = text.and_then(timefmt::parse);
    let from_field = parsed.and_then(|t| in_range(t.timestamp()));
    // Only a time the whole-second UTC form says in full leaves the leftovers: a fraction or
    // another offset is kept as sent.
    let said_in_full = parsed.is_some_and(|t| text == Some(timefmt::format_mimecast(t).as_str()));
    if from_field.is_some() && said_in_full {
        rest.remove(field);
    }
    from_field.or(fallback.and_then(in_range))
}

/// `secs` if it falls in the years 0000 to 9999 (see [`take_time`]).
fn in_range(secs: i64) -> Option<i64> {
    (-62_167_219_200..=253_402_300_799)
        .contains(&secs)
        .then_some(secs)
}

/// `text` is an IPv4 or IPv6 address (URL Protect's `sendingIp` can be `Internal IP`, §3.1).
fn is_ip(text: &str) -> bool {
    text.parse::<std::net::IpAddr>().is_ok()
}

/// `text` is 64 hex digits: a SHA-256 (Attachment Protect's `fileHash` may be empty, §3.3).
fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The extension of a file name, without the dot: `pdf` of `a.b.pdf`; `None` without one.
fn extension(name: &str) -> Option<&str> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Some(ext),
        _ => None,
    }
}

/// What the record says about the threat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// URL `scanResult` `malicious`, Attachment `result` `malicious`, Impersonation
    /// `taggedMalicious` true.
    Malicious,
    /// Scanned and found clean (`clean`, `safe`; Impersonation: `taggedMalicious` false).
    Clean,
    /// The scan did not finish (Attachment `timeout`, `error`).
    Failed,
    /// Missing or another value.
    Unknown,
}

/// The verdict of a record (reference §3.1–3.3).
fn verdict(log_type: LogType, rest: &Map<String, Value>) -> Verdict {
    let text = |key| peek(rest, key).map(str::to_ascii_lowercase);
    match log_type {
        LogType::UrlProtect => match text("scanResult").as_deref() {
            Some("malicious") => Verdict::Malicious,
            Some("clean") => Verdict::Clean,
            _ => Verdict::Unknown,
        },
        LogType::AttachmentProtect => match text("result").as_deref() {
            Some("malicious") => Verdict::Malicious,
            Some("safe" | "clean") => Verdict::Clean,
            Some("timeout" | "error") => Verdict::Failed,
            _ => Verdict::Unknown,
        },
        LogType::ImpersonationProtect => match rest.get("taggedMalicious") {
            Some(Value::Bool(true)) => Verdict::Malicious,
            Some(Value::Bool(false)) => Verdict::Clean,
            _ => Verdict::Unknown,
        },
    }
}

/// Sets `value` at the dotted `path` of `doc`, creating the objects on the way (a non-object
/// in the way is replaced: paths are ours, never the record's).
fn put(doc: &mut Map<String, Value>, path: &str, value: Value) {
    let mut at = doc;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            at.insert(part.to_string(), value);
            return;
        }
        let slot = at
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        match slot {
            Value::Object(next) => at = next,
            _ => return,
        }
    }
}

/// Appends `value` to the array at `path`, unless it is already there.
fn push_unique(doc: &mut Map<String, Value>, path: &str, value: &str) {
    let mut list = match get(doc, path) {
        Some(Value::Array(list)) => list.clone(),
        _ => Vec::new(),
    };
    if !list.iter().any(|v| v.as_str() == Some(value)) {
        list.push(Value::from(value));
        put(doc, path, Value::Array(list));
    }
}

/// The value at the dotted `path` of `doc`.
fn get<'d>(doc: &'d Map<String, Value>, path: &str) -> Option<&'d Value> {
    let mut parts = path.split('.');
    let mut at = doc.get(parts.next()?)?;
    for part in parts {
        at = at.as_object()?.get(part)?;
    }
    Some(at)
}

/// One line of JSON. A map of JSON values always serialises.
fn to_line(doc: Map<String, Value>) -> String {
    serde_json::to_string(&Value::Object(doc)).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_round_trip() {
        for name in Schema::NAMES {
            assert_eq!(Schema::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(Schema::parse("ECS"), None);
        assert_eq!(Schema::default(), Schema::Raw);
    }

    #[test]
    fn helpers_read_what_mimecast_sends() {
        assert!(is_ip("198.51.100.7") && is_ip("2001:db8::1"));
        assert!(!is_ip("Internal IP") && !is_ip(""));
        assert!(is_sha256(&"aB".repeat(32)));
        assert!(!is_sha256(&"a".repeat(63)) && !is_sha256(&"g".repeat(64)));
        assert_eq!(extension("Rechnung_4711_fällig.pdf"), Some("pdf"));
        assert_eq!(extension("archive.tar.gz"), Some("gz"));
        assert_eq!(extension(".profile"), None);
        assert_eq!(extension("README"), None);
        assert_eq!(extension("dir.d/file"), None);
        assert_eq!(extension("name."), None);
    }

    /// `examples/events/{ecs,ocsf}-{url,impersonation,attachment}.json` are what the mappings
    /// make of [`samples::example`]. `UPDATE_EXAMPLES=1 cargo test … schema::tests::examples`
    /// rewrites them.
    #[test]
    fn examples_are_what_the_mappings_produce() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events");
        let update = std::env::var_os("UPDATE_EXAMPLES").is_some();
        for log_type in LogType::ALL {
            let sample = samples::example(log_type);
            let record = sample.record();
            let mapped = [
                ("ecs", ecs::document(&record, Options::default())),
                ("ocsf", ocsf::document(&record, Options::default())),
            ];
            for (schema, line) in mapped {
                let path = dir.join(format!("{schema}-{}.json", log_type.as_str()));
                let value: Value = serde_json::from_str(&line).unwrap();
                if update {
                    std::fs::create_dir_all(&dir).unwrap();
                    let pretty = serde_json::to_string_pretty(&value).unwrap() + "\n";
                    std::fs::write(&path, pretty).unwrap();
                }
                let file = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                    panic!("{}: {e}; run with UPDATE_EXAMPLES=1", path.display())
                });
                let expected: Value = serde_json::from_str(&file).unwrap();
                assert_eq!(
                    value,
                    expected,
                    "{} is stale; run with UPDATE_EXAMPLES=1",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn put_builds_nested_objects() {
        let mut doc = Map::new();
        put(&mut doc, "a.b.c", Value::from(1));
        put(&mut doc, "a.b.d", Value::from(2));
        push_unique(&mut doc, "r.u", "x");
        push_unique(&mut doc, "r.u", "x");
        push_unique(&mut doc, "r.u", "y");
        assert_eq!(
            Value::Object(doc),
            serde_json::json!({"a": {"b": {"c": 1, "d": 2}}, "r": {"u": ["x", "y"]}})
        );
    }
}
