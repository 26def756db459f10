//! What a network sink needs to know of one event beyond its text, read from whichever output
//! shape it has: its stable id (Elasticsearch `_id`, syslog structured data, OTLP attribute),
//! its time (index dates) and whether Mimecast judged it malicious (syslog severity). One
//! borrowed parse per event; everything else in the event is skipped unread.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One event's id, time and verdict, where it has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMeta {
    /// `event_id` (raw), `event.id` (ECS) or `metadata.uid` (OCSF).
    pub id: Option<String>,
    /// `event_time` (raw), `@timestamp` (ECS) or `time` (OCSF, ms).
    pub time: Option<DateTime<Utc>>,
    /// Whether Mimecast judged the record malicious: ECS `event.kind = "alert"`, OCSF
    /// `severity_id` of 4 (High) or more, or the raw record's verdict fields.
    pub malicious: bool,
}

#[derive(Deserialize, Default)]
struct Any<'a> {
    // raw
    #[serde(borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    record: Option<RawRecord<'a>>,
    // ECS
    #[serde(borrow, default)]
    event: Option<EcsEvent<'a>>,
    #[serde(borrow, default, rename = "@timestamp")]
    timestamp: Option<Cow<'a, str>>,
    // OCSF
    #[serde(borrow, default)]
    metadata: Option<OcsfMetadata<'a>>,
    #[serde(default)]
    time: Option<i64>,
    #[serde(default)]
    severity_id: Option<i64>,
}

/// The verdict fields of Mimecast's TTP records (URL `scanResult`, impersonation
/// `taggedMalicious`, attachment `result`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawRecord<'a> {
    #[serde(borrow, default)]
    scan_result: Option<Cow<'a, str>>,
    #[serde(default)]
    tagged_malicious: Option<bool>,
    #[serde(borrow, default)]
    result: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct EcsEvent<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct OcsfMetadata<'a> {
    #[serde(borrow, default)]
    uid: Option<Cow<'a, str>>,
}

/// Reads the id, time and verdict of `event` (an event line of any shape); what it lacks or
/// what does not parse is `None` / `false`.
pub fn read(event: &str) -> EventMeta {
    // A value of an unexpected type (a hostile component's) leaves the whole event unread.
    let any = serde_json::from_str::<Any<'_>>(event).unwrap_or_default();
    let id = any
        .event_id
        .or_else(|| any.event.as_ref().and_then(|e| e.id.clone()))
        .or_else(|| any.metadata.and_then(|m| m.uid))
        .map(Cow::into_owned);
    let text_time = any.event_time.or(any.timestamp);
    let time = text_time
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| any.time.and_then(DateTime::from_timestamp_millis));
    let raw_malicious = any.record.is_some_and(|r| {
        r.scan_result.as_deref() == Some("malicious")
            || r.tagged_malicious == Some(true)
            || r.result.as_deref() == Some("malicious")
    });
    let ecs_alert = any
        .event
        .is_some_and(|e| e.kind.as_deref() == Some("alert"));
    let ocsf_high = any.severity_id.is_some_and(|s| (4..=6).contains(&s));
    EventMeta {
        id,
        time,
        malicious: raw_malicious || ecs_alert || ocsf_high,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_gives_its_id_time_and_verdict() {
        let raw = r#"{"log_type":"url","tenant":"acme","event_time":"2026-11-24T09:00:00Z","event_id":"e1","record":{"scanResult":"malicious","url":"x"}}"#;
        let m = read(raw);
        assert_eq!(m.id.as_deref(), Some("e1"));
        assert_eq!(m.time.unwrap().to_rfc3339(), "2026-11-24T09:00:00+00:00");
        assert!(m.malicious);
        let ecs = r#"{"@timestamp":"2026-11-24T09:10:00Z","event":{"id":"e2","kind":"event","dataset":"mimecast.ttp_ip_logs"},"organization":{"id":"acme"}}"#;
        let m = read(ecs);
        assert_eq!((m.id.as_deref(), m.malicious), (Some("e2"), false));
        assert_eq!(m.time.unwrap().timestamp(), 1_795_511_400);
        let ocsf = r#"{"class_uid":4009,"time":1795511400000,"severity_id":4,"metadata":{"uid":"e3","tenant_uid":"acme"}}"#;
        let m = read(ocsf);
        assert_eq!((m.id.as_deref(), m.malicious), (Some("e3"), true));
        assert_eq!(m.time.unwrap().timestamp(), 1_795_511_400);
    }

    #[test]
    fn what_does_not_parse_is_left_out() {
        assert_eq!(read("not json"), EventMeta::default());
        assert_eq!(read(r#"{"event_id":5}"#), EventMeta::default());
        let m = read(r#"{"event_id":"x","event_time":null,"record":{"taggedMalicious":"yes"}}"#);
        assert_eq!(m, EventMeta::default());
        let m = read(r#"{"event_id":"x","event_time":"yesterday"}"#);
        assert_eq!((m.id.as_deref(), m.time), (Some("x"), None));
    }
}
