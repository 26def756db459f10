//! Collecting: every record of all three log types exactly once, across runs, filters, paging edge
//! cases, `demo` and `reset`.

use super::*;

#[test]
fn run_once_delivers_every_record_of_all_three_types_exactly_once() {
    let h = Harness::demo();
    let out = h.run_once(&h.config(""));
    assert_success(&out);
    let events = h.events();
    assert_eq!(events.len(), 900);
    assert_exactly_once(&events, &h.server, &["url", "impersonation", "attachment"]);
    assert_connections_reused(&h.server);
    // Identical records in one second are distinct events with distinct ids.
    let records = h.server.records(LogType::Url);
    let distinct: HashSet<_> = records.iter().map(|r| r.to_string()).collect();
    assert!(
        distinct.len() < records.len(),
        "the demo dataset should hold identical records"
    );
}

#[test]
fn second_run_with_the_same_state_emits_only_new_records() {
    let h = Harness::demo();
    let config = h.config("page_size = 37");
    assert_success(&h.run_once(&config));
    let first = h.events().len();
    assert_eq!(first, 900);
    // New records arrive, some with times inside the already-read period (late arrivals). They
    // are read by the next window, which opens once the clock has moved past the cursor.
    let now = Utc::now();
    let next_second = now.timestamp() + 1;
    while Utc::now().timestamp() <= next_second {
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in LogType::ALL {
        h.server.append(
            t,
            generate_records(
                t,
                7,
                now - chrono::TimeDelta::minutes(4),
                now - chrono::TimeDelta::seconds(70),
                25,
            ),
        );
    }
    assert_success(&h.run_once(&config));
    let events = h.events();
    assert_eq!(events.len(), 975);
    assert_exactly_once(&events, &h.server, &["url", "impersonation", "attachment"]);
    // A third run with nothing new adds nothing.
    assert_success(&h.run_once(&config));
    assert_eq!(h.events().len(), 975);
}

#[test]
fn empty_last_page_with_next_and_inclusive_to_are_handled() {
    let now = Utc::now();
    let mut config = MockConfig::demo(now);
    config.paging_end = PagingEnd::EmptyPageWithNext;
    config.to_inclusive = true;
    let h = Harness::start(config);
    let cfg = h.config("page_size = 50\nlog_types = [\"attachment\", \"url\"]");
    assert_success(&h.run_once(&cfg));
    assert_success(&h.run_once(&cfg));
    assert_exactly_once(&h.events(), &h.server, &["attachment", "url"]);
}

#[test]
fn filters_reach_the_api() {
    let h = Harness::demo();
    let cfg = h.config("log_types = [\"url\"]\n[tenant.filters.url]\nscan_result = \"malicious\"");
    assert_success(&h.run_once(&cfg));
    let events = h.events();
    assert!(!events.is_empty());
    assert!(events
        .iter()
        .all(|e| e["record"]["scanResult"] == "malicious"));
    let malicious = h
        .server
        .records(LogType::Url)
        .into_iter()
        .filter(|r| r["scanResult"] == "malicious")
        .count();
    assert_eq!(events.len(), malicious);
}

#[test]
fn demo_prints_events_of_all_three_types() {
    let out = Command::new(BIN)
        .arg("demo")
        .env("RUST_LOG", "warn")
        .output_within();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let types: HashSet<_> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["log_type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types.len(), 3, "{types:?}");
}

#[test]
fn reset_collects_a_log_type_again_with_the_same_event_ids() {
    let h = Harness::demo();
    let cfg = h.config("log_types = [\"url\", \"attachment\"]");
    assert_success(&h.run_once(&cfg));
    let first = h.events();
    let cfg_arg = cfg.to_str().unwrap();
    let out = h
        .command(&[
            "reset",
            "--config",
            cfg_arg,
            "--tenant",
            "acme",
            "--log-type",
            "url",
        ])
        .output_within();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("acme url: checkpoint removed"), "{stdout}");
    assert_success(&h.run_once(&cfg));
    // URL Protect came again, event for event; Attachment Protect did not move.
    let again: Vec<Value> = h.events().split_off(first.len());
    let ids = |events: &[Value], t: &str| {
        let mut ids: Vec<String> = events
            .iter()
            .filter(|e| e["log_type"] == t)
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert!(!ids(&first, "url").is_empty());
    assert_eq!(ids(&again, "url"), ids(&first, "url"));
    assert!(ids(&again, "attachment").is_empty());
    // A tenant that is neither configured nor in the state is a typo.
    let out = h
        .command(&["reset", "--config", cfg_arg, "--tenant", "acne"])
        .output_within();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"acne\"") && stderr.contains("acme"),
        "{stderr}"
    );
}

#[test]
fn a_refused_page_token_restarts_the_window_without_repeats() {
    let h = Harness::demo();
    // One log type, so the faults meet the requests in a known order: two pages pass, the
    // third (which carries a page token) is refused as an invalid token would be.
    h.server.push_faults([
        Fault::pass(),
        Fault::pass(),
        Fault::Status {
            status: 400,
            headers: vec![],
            body: r#"{"meta":{"status":400},"data":[],"fail":[{"errors":[{"code":"err_validation_invalid_page_token","message":"The page token is invalid","retryable":false}]}]}"#.into(),
        },
    ]);
    let out = h.run_once(&h.config("page_size = 50\nlog_types = [\"url\"]"));
    assert_success(&out);
    assert_exactly_once(&h.events(), &h.server, &["url"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused a follow-up page")
            && stderr.contains("err_validation_invalid_page_token"),
        "{stderr}"
    );
}
