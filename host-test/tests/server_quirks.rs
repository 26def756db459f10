//! End to end against a mock that behaves less kindly than ours usually does, in ways the
//! reference leaves open (§3.0): pages served newest first whatever `oldestFirst` says, no
//! `totalCount`, pages indented over CRLF-ended lines, every record up to `to` whatever `from`
//! says. Every record must still arrive exactly once, as one line, across runs and late
//! arrivals.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{TimeDelta, Utc};
use common::{assert_exactly_once, assert_success, Harness, OutputWithin};
use mimecast_mock::{generate_records, Credential, Dataset, Fault, LogType, MockConfig};

#[test]
fn newest_first_pages_without_total_count_arrive_exactly_once() {
    collect_twice_with_late_arrivals(true, false, false);
}

#[test]
fn oldest_first_pages_without_total_count_arrive_exactly_once() {
    collect_twice_with_late_arrivals(false, false, false);
}

#[test]
fn newest_first_pages_with_total_count_arrive_exactly_once() {
    collect_twice_with_late_arrivals(true, true, false);
}

#[test]
fn indented_pages_arrive_exactly_once_as_one_line_events() {
    collect_twice_with_late_arrivals(false, true, true);
}

#[test]
fn a_server_ignoring_from_repeats_nothing() {
    quirks_run(|config| config.ignore_from = true);
}

/// Two `--once` runs against a mock configured with these quirks, late records arriving
/// between them; then the sink must hold every record exactly once.
fn collect_twice_with_late_arrivals(ignore_oldest_first: bool, total_count: bool, pretty: bool) {
    quirks_run(|config| {
        config.ignore_oldest_first = ignore_oldest_first;
        config.total_count = total_count;
        config.pretty_json = pretty;
    });
}

/// Two `--once` runs against a mock that `quirks` configured, late records arriving between
/// them; then the sink must hold every record exactly once.
fn quirks_run(quirks: impl FnOnce(&mut MockConfig)) {
    let now = Utc::now();
    let mut config = MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            21,
            now - TimeDelta::hours(3),
            now - TimeDelta::minutes(2),
            300,
        ),
    );
    quirks(&mut config);
    let h = Harness::start(config);
    // Small pages: many page boundaries, and pages that span more than a minute of records.
    let cfg = h.config("page_size = 7");
    assert_success(&h.run_once(&cfg));
    // Late arrivals inside the next run's overlap, among records already delivered.
    for (i, t) in [LogType::Url, LogType::Impersonation, LogType::Attachment]
        .into_iter()
        .enumerate()
    {
        h.server.append(
            t,
            generate_records(
                t,
                90 + i as u64,
                now - TimeDelta::minutes(4),
                now - TimeDelta::minutes(2),
                6,
            ),
        );
    }
    // A run opens a new window (and re-reads the overlap) only once its end, now - lag, has
    // moved past the cursor: at least a second later.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_success(&h.run_once(&cfg));
    assert_exactly_once(
        &h.events(),
        &h.server,
        &["url", "impersonation", "attachment"],
    );
}

/// Text the mock sends as the byte 0xFF (not UTF-8) wherever it occurs in a page.
const INVALID_BYTE: &str = "~INVALID-BYTE~";

#[test]
fn one_invalid_utf8_byte_in_one_record_is_repaired_and_marked_and_nothing_stalls() {
    let now = Utc::now();
    let mut config = MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            22,
            now - TimeDelta::hours(2),
            now - TimeDelta::minutes(2),
            60,
        ),
    );
    config.invalid_utf8_marker = Some(INVALID_BYTE.into());
    let h = Harness::start(config);
    let mut broken = generate_records(
        LogType::Url,
        23,
        now - TimeDelta::minutes(61),
        now - TimeDelta::minutes(60),
        1,
    );
    broken[0]["url"] = serde_json::json!(format!("https://a.example/{INVALID_BYTE}/x"));
    h.server.append(LogType::Url, broken);
    let out = h.run_once(&h.config("page_size = 7"));
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not valid UTF-8") && stderr.contains("in 1 record(s)"),
        "{stderr}"
    );
    // Every record exactly once; the broken one with U+FFFD for the byte, and marked.
    let mut events = h.events();
    let mut repaired = 0;
    for e in &mut events {
        if let Some(note) = e.as_object_mut().unwrap().remove("repaired") {
            assert_eq!(note, "invalid UTF-8 replaced by U+FFFD");
            repaired += 1;
            let url = e["record"]["url"].as_str().unwrap().to_string();
            assert_eq!(url, "https://a.example/\u{FFFD}/x");
            e["record"]["url"] = serde_json::json!(url.replace('\u{FFFD}', INVALID_BYTE));
        }
    }
    assert_eq!(repaired, 1);
    assert_exactly_once(&events, &h.server, &["url", "impersonation", "attachment"]);
}

#[test]
fn a_huge_page_token_is_refused_before_it_is_committed_and_collecting_goes_on() {
    let now = Utc::now();
    let h = Harness::start(MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            24,
            now - TimeDelta::hours(2),
            now - TimeDelta::minutes(2),
            60,
        ),
    ));
    // A few pages in, one page hands over a 1 MiB `next`; then the pager behaves again.
    for _ in 0..4 {
        h.server.push_fault(Fault::pass());
    }
    h.server
        .push_fault(Fault::HugeNextToken { bytes: 1024 * 1024 });
    let out = h.run_once(&h.config("page_size = 7"));
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("page token of 1048576 bytes") && stderr.contains("at most 65536 bytes"),
        "{stderr}"
    );
    assert_exactly_once(
        &h.events(),
        &h.server,
        &["url", "impersonation", "attachment"],
    );
}

#[test]
fn a_pager_handing_out_bogus_tokens_fails_the_run_visibly_and_repeats_nothing() {
    let now = Utc::now();
    let mut config = MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            25,
            now - TimeDelta::hours(2),
            now - TimeDelta::minutes(2),
            30,
        ),
    );
    config.bogus_next = true;
    let h = Harness::start(config);
    let cfg = h.config("page_size = 7\nlog_types = [\"url\"]");
    let out = h.run_once(&cfg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--once succeeded:\n{stderr}");
    assert!(
        stderr.contains("refused a follow-up page") && stderr.contains("not taken as complete"),
        "{stderr}"
    );
    let status = h
        .command(&["status", "--config", cfg.to_str().unwrap()])
        .output_within();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("not taken as complete"), "{status}");
    // What was served arrived once (each restarted window begins where the digests it still
    // knows begin, so it moves on a little); nothing was delivered twice, and not everything
    // could be read.
    let events = h.events();
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e["event_id"].clone()).collect();
    assert!(
        !events.is_empty() && events.len() < 30,
        "{} events",
        events.len()
    );
    assert_eq!(ids.len(), events.len());
    // Identical records can be two real events: none arrived more often than it was stored.
    let delivered = common::count(
        events
            .iter()
            .map(|e| ("url".to_string(), e["record"].clone())),
    );
    let stored = common::count(
        h.server
            .records(LogType::Url)
            .into_iter()
            .map(|r| ("url".to_string(), r)),
    );
    for (record, n) in &delivered {
        assert!(
            stored.get(record).is_some_and(|s| s >= n),
            "{record:?} {n}x"
        );
    }
}
