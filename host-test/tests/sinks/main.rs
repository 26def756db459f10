//! End-to-end delivery into the pipelines people run: the real `mcsource` binary collects from
//! the mock Mimecast into real rsyslog and syslog-ng daemons (started here on loopback, nothing
//! left running) and into protocol-faithful mocks of the receivers that cannot be installed
//! here (Elasticsearch, Splunk HEC, OTLP, generic HTTP ingest). Every test compares what the receiver holds with
//! what the mock Mimecast served, through failures of the receiver and of mcsource.

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod elasticsearch;
mod http;
mod otlp;
mod splunk_hec;
mod syslog;

use std::path::PathBuf;

use chrono::{TimeDelta, Utc};
use common::Harness;
use mimecast_mock::{generate_records, Credential, LogType, MockConfig};
use serde_json::Value;

/// Records that are hard to carry: Unicode, CR LF and a tab inside a value, and one of more
/// than 64 KiB; one of each per log type, beside the demo data.
fn awkward_harness() -> Harness {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let now = Utc::now();
    for (i, t) in LogType::ALL.into_iter().enumerate() {
        let mut records = generate_records(
            t,
            900 + i as u64,
            now - TimeDelta::minutes(50),
            now - TimeDelta::minutes(40),
            3,
        );
        for (n, r) in records.iter_mut().enumerate() {
            let key = r
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, v)| v.is_string() && k.as_str() != t.time_field())
                .map(|(k, _)| k.clone())
                .unwrap();
            let text = r[&key].as_str().unwrap().to_string();
            r[&key] = Value::from(match n {
                0 => format!("{text} ünïcødé ✓ 😀 \u{2028}"),
                1 => format!("{text}\r\nsecond line\tafter a tab"),
                _ => format!("{text} {}", "x".repeat(70 * 1024)),
            });
        }
        h.server.append(t, records);
    }
    h
}

/// Writes `config.toml`: the file sink (what every other sink is compared with), the given
/// `[[sink]]` tables and one API 1.0 tenant `acme` on the mock.
fn config_with_sinks(h: &Harness, sinks: &str, top: &str) -> PathBuf {
    let tenant = h.tenant_table(
        "acme",
        &Credential::demo(),
        "lookback = \"3h\"\ninterval = \"2s\"",
    );
    let text = format!(
        "state_dir = \"state\"\n{top}\n[[sink]]\ntype = \"file\"\npath = \"events.ndjson\"\n\n{sinks}\n{tenant}"
    );
    let path = h.dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The lines of the file sink, as written.
fn file_lines(h: &Harness) -> Vec<String> {
    std::fs::read_to_string(h.sink())
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every record the mock holds, as (log type, record).
fn served(h: &Harness) -> usize {
    LogType::ALL
        .into_iter()
        .map(|t| h.server.records(t).len())
        .sum()
}

/// The items of `got` and `want` as sorted lists, for a comparison that names the difference.
fn same_multiset(got: &[String], want: &[String], what: &str) {
    let mut got = got.to_vec();
    let mut want = want.to_vec();
    got.sort();
    want.sort();
    if got != want {
        let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).take(2).collect();
        let extra = got.len() as i64 - want.len() as i64;
        panic!(
            "{what}: {} received, {} expected ({extra:+}); e.g. missing: {:.300?}",
            got.len(),
            want.len(),
            missing
        );
    }
}
