//! End to end against a mock that behaves less kindly than ours usually does, in ways the
//! reference leaves open (§3.0): pages served newest first whatever `oldestFirst` says, no
//! `totalCount`, pages indented over CRLF-ended lines, every record up to `to` whatever `from`
//! says. Every record must still arrive exactly once, as one line, across runs and late
//! arrivals.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{TimeDelta, Utc};
use common::{assert_exactly_once, assert_success, Harness};
use mimecast_mock::{generate_records, Credential, Dataset, LogType, MockConfig};

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
