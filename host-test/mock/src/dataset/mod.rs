//! The records the mock serves: generated deterministically from a seed, appendable while the
//! server runs (records arriving live, including late arrivals with past timestamps).

mod records;
pub(crate) mod rng;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::log_type::LogType;
use crate::signing::parse_api_time;
use rng::Rng;

/// All records the mock holds, per log type, in arrival order (not necessarily time order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    url: Vec<Value>,
    impersonation: Vec<Value>,
    attachment: Vec<Value>,
}

impl Dataset {
    /// An empty dataset.
    pub fn empty() -> Self {
        Dataset::default()
    }

    /// `per_type` records of each log type with whole-second times in `[start, end)`, fixed by `seed`.
    ///
    /// Besides random bursts, when `per_type >= 8` each type is guaranteed to contain: three records in
    /// one second (indices 0–2), two byte-identical records in one second (4 and 5), a non-ASCII
    /// subject (0); URL: `sendingIp` = `Internal IP` (3); Attachment: a non-ASCII file name (6) and an
    /// empty `fileHash` (7). Attachment `details` always contain `\r\n`.
    pub fn generate(seed: u64, start: DateTime<Utc>, end: DateTime<Utc>, per_type: usize) -> Self {
        Dataset {
            url: generate_records(LogType::Url, seed, start, end, per_type),
            impersonation: generate_records(LogType::Impersonation, seed, start, end, per_type),
            attachment: generate_records(LogType::Attachment, seed, start, end, per_type),
        }
    }

    /// Every record of type `t`, in arrival order.
    pub fn records(&self, t: LogType) -> &[Value] {
        match t {
            LogType::Url => &self.url,
            LogType::Impersonation => &self.impersonation,
            LogType::Attachment => &self.attachment,
        }
    }

    /// Adds records of type `t` (they may carry any time, also in the past).
    pub fn append(&mut self, t: LogType, records: Vec<Value>) {
        let list = match t {
            LogType::Url => &mut self.url,
            LogType::Impersonation => &mut self.impersonation,
            LogType::Attachment => &mut self.attachment,
        };
        list.extend(records);
    }

    /// Total number of records over all types.
    pub fn len(&self) -> usize {
        self.url.len() + self.impersonation.len() + self.attachment.len()
    }

    /// `true` when no type holds a record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The time of a record (its `date` or `eventTime`), or `None` when absent or unparseable.
pub fn record_time(t: LogType, record: &Value) -> Option<DateTime<Utc>> {
    record
        .get(t.time_field())?
        .as_str()
        .and_then(parse_api_time)
}

/// `n` new records of type `t` with whole-second times in `[start, end)` (all at `start` when the range is
/// empty), sorted by time, fixed by `seed`. Use it to feed [`Dataset::append`] or `MockServer::append`.
///
/// See [`Dataset::generate`] for the special records guaranteed when `n >= 8`.
pub fn generate_records(
    t: LogType,
    seed: u64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    n: usize,
) -> Vec<Value> {
    let salt = match t {
        LogType::Url => 0x5552_4c00,
        LogType::Impersonation => 0x494d_5000,
        LogType::Attachment => 0x4154_5400,
    };
    let mut rng = Rng::new(seed ^ salt);
    let start_secs = start.timestamp();
    let span = (end.timestamp() - start_secs).max(1) as u64;
    let mut offsets: Vec<u64> = (0..n).map(|_| rng.below(span)).collect();
    offsets.sort_unstable();
    // Bursts: about a quarter of the records share their second with the one before.
    for i in 1..n {
        if rng.chance(250) {
            offsets[i] = offsets[i - 1];
        }
    }
    if n >= 8 {
        offsets[1] = offsets[0];
        offsets[2] = offsets[0];
        offsets[5] = offsets[4];
    }
    let mut out: Vec<Value> = Vec::with_capacity(n);
    for (i, off) in offsets.iter().enumerate() {
        let same_second_as_prev = i > 0 && offsets[i - 1] == *off;
        if same_second_as_prev && rng.chance(40) {
            if let Some(prev) = out.last().cloned() {
                out.push(prev);
                continue;
            }
        }
        let at = start_of_second(start_secs, *off);
        out.push(match t {
            LogType::Url => records::url_record(&mut rng, at),
            LogType::Impersonation => records::impersonation_record(&mut rng, at),
            LogType::Attachment => records::attachment_record(&mut rng, at),
        });
    }
    if n >= 8 {
        set(&mut out, 0, "subject", records::SUBJECTS[0]);
        match t {
            LogType::Url => set(&mut out, 3, "sendingIp", "Internal IP"),
            LogType::Attachment => {
                let (name, mime) = records::FILE_NAMES[1];
                set(&mut out, 6, "fileName", name);
                set(&mut out, 6, "fileType", mime);
                set(&mut out, 7, "fileHash", "");
            }
            LogType::Impersonation => {}
        }
        if let Some(r) = out.get(4).cloned() {
            out[5] = r;
        }
    }
    out
}

fn start_of_second(start_secs: i64, offset: u64) -> DateTime<Utc> {
    let secs = start_secs.saturating_add(i64::try_from(offset).unwrap_or(0));
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

fn set(records: &mut [Value], i: usize, field: &str, value: &str) {
    if let Some(Value::Object(map)) = records.get_mut(i) {
        map.insert(field.to_string(), Value::String(value.to_string()));
    }
}

/// Shifts `t` back by `secs` seconds; a small helper for building late arrivals in tests.
pub fn seconds_before(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    t - TimeDelta::seconds(secs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::signing::parse_api_time;

    fn t(s: &str) -> DateTime<Utc> {
        parse_api_time(s).unwrap()
    }

    fn sample() -> Dataset {
        Dataset::generate(
            42,
            t("2026-11-24T08:00:00+0000"),
            t("2026-11-24T10:00:00+0000"),
            300,
        )
    }

    #[test]
    fn same_seed_same_dataset_other_seed_differs() {
        assert_eq!(sample(), sample());
        let other = Dataset::generate(
            43,
            t("2026-11-24T08:00:00+0000"),
            t("2026-11-24T10:00:00+0000"),
            300,
        );
        assert_ne!(sample(), other);
    }

    #[test]
    fn times_are_whole_seconds_in_range_and_sorted() {
        let d = sample();
        for lt in LogType::ALL {
            let recs = d.records(lt);
            assert_eq!(recs.len(), 300);
            let times: Vec<_> = recs.iter().map(|r| record_time(lt, r).unwrap()).collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]));
            assert!(
                times
                    .iter()
                    .all(|x| *x >= t("2026-11-24T08:00:00+0000")
                        && *x < t("2026-11-24T10:00:00+0000"))
            );
            let raw = recs[0][lt.time_field()].as_str().unwrap();
            assert!(raw.ends_with("+0000") && raw.len() == 24, "{raw}");
        }
    }

    #[test]
    fn has_bursts_identical_pairs_unicode_crlf_internal_ip() {
        let d = sample();
        for lt in LogType::ALL {
            let recs = d.records(lt);
            let burst = recs.windows(3).any(|w| {
                w.iter()
                    .all(|r| r[lt.time_field()] == w[0][lt.time_field()])
                    && w[0] != w[1]
            });
            assert!(
                burst,
                "{lt}: no burst of 3 distinct-ish records in one second"
            );
            assert!(
                recs.windows(2).any(|w| w[0] == w[1]),
                "{lt}: no identical pair"
            );
            assert!(recs
                .iter()
                .any(|r| r["subject"].as_str().is_some_and(|s| !s.is_ascii())));
        }
        let url = d.records(LogType::Url);
        assert!(url.iter().any(|r| r["sendingIp"] == "Internal IP"));
        assert!(url.iter().any(|r| r["tagMap"]["UrlReputationScan"]
            .get("Inspect:FileExts")
            .is_some()));
        let att = d.records(LogType::Attachment);
        assert!(att
            .iter()
            .all(|r| r["details"].as_str().unwrap().contains("\r\n")));
        assert!(att.iter().any(|r| r["fileHash"] == ""));
        assert!(att
            .iter()
            .any(|r| r["fileHash"].as_str().unwrap().len() == 64));
        assert!(att
            .iter()
            .any(|r| !r["fileName"].as_str().unwrap().is_ascii()));
        let imp = d.records(LogType::Impersonation);
        assert!(imp
            .iter()
            .all(|r| r["id"].as_str().unwrap().starts_with("MTOKEN:")));
        assert!(imp
            .iter()
            .all(|r| r.get("date").is_none() && r.get("eventTime").is_some()));
        assert!(imp.iter().any(|r| r["taggedMalicious"] == true));
        assert!(imp.iter().any(|r| r["taggedMalicious"] == false));
    }

    #[test]
    fn fields_match_reference() {
        let d = sample();
        let url_fields = [
            "date",
            "userEmailAddress",
            "fromUserEmailAddress",
            "url",
            "ttpDefinition",
            "action",
            "adminOverride",
            "userOverride",
            "userAwarenessAction",
            "scanResult",
            "category",
            "route",
            "emailPartsDescription",
            "messageId",
            "subject",
            "sendingIp",
            "actions",
            "creationMethod",
            "tagMap",
        ];
        let imp_fields = [
            "eventTime",
            "id",
            "senderAddress",
            "recipientAddress",
            "subject",
            "definition",
            "hits",
            "identifiers",
            "action",
            "taggedExternal",
            "taggedMalicious",
            "senderIpAddress",
            "messageId",
            "impersonationResults",
        ];
        let att_fields = [
            "date",
            "senderAddress",
            "recipientAddress",
            "fileName",
            "fileType",
            "fileHash",
            "result",
            "actionTriggered",
            "details",
            "route",
            "messageId",
            "subject",
            "definition",
        ];
        for (lt, fields) in [
            (LogType::Url, &url_fields[..]),
            (LogType::Impersonation, &imp_fields[..]),
            (LogType::Attachment, &att_fields[..]),
        ] {
            for r in d.records(lt) {
                let obj = r.as_object().unwrap();
                assert_eq!(obj.len(), fields.len(), "{lt}: {r}");
                for f in fields {
                    assert!(obj.contains_key(*f), "{lt} lacks {f}");
                }
                let mid = r["messageId"].as_str().unwrap();
                assert!(mid.starts_with('<') && mid.ends_with('>'));
            }
        }
    }

    #[test]
    fn generate_records_handles_tiny_and_empty_ranges() {
        let s = t("2026-11-24T08:00:00+0000");
        assert!(generate_records(LogType::Url, 1, s, s, 0).is_empty());
        let recs = generate_records(LogType::Url, 1, s, s, 3);
        assert!(recs.iter().all(|r| r["date"] == "2026-11-24T08:00:00+0000"));
    }

    #[test]
    fn append_keeps_arrival_order() {
        let mut d = Dataset::empty();
        let s = t("2026-11-24T08:00:00+0000");
        let late = generate_records(LogType::Attachment, 9, seconds_before(s, 600), s, 5);
        d.append(LogType::Attachment, late.clone());
        assert_eq!(d.records(LogType::Attachment), &late[..]);
        assert_eq!(d.len(), 5);
    }
}
