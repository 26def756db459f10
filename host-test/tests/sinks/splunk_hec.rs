//! The Splunk HEC sink against a mock HEC that keeps Splunk's contract: tokens, codes, request
//! channels and indexer acknowledgement. With acks, a batch counts only once indexed; events an
//! indexer lost (their ackId never turns true) are sent again, also after `kill -9`.

use std::time::{Duration, Instant};

use mimecast_mock::{AckMode, HecConfig, HecToken, SinkFault, SplunkHecReceiver};
use serde_json::Value;

use crate::common::{assert_success, stderr, OutputWithin};
use crate::{awkward_harness, config_with_sinks, file_lines, served};

const TOKEN: &str = "11111111-2222-3333-4444-555555555555";

fn hec(h: &crate::common::Harness, ack: bool) -> SplunkHecReceiver {
    let token = if ack {
        HecToken::new(TOKEN).with_ack()
    } else {
        HecToken::new(TOKEN)
    };
    h._rt
        .block_on(SplunkHecReceiver::start(HecConfig::new(token)))
        .unwrap()
}

fn hec_sink(rx: &SplunkHecReceiver, extra: &str) -> String {
    format!(
        "[[sink]]\ntype = \"splunk_hec\"\nurl = \"{}\"\ntoken = {{ env = \"E2E_HEC_TOKEN\" }}\n\
         index = \"main\"\nbatch = {{ max_events = 150 }}\nretry = {{ initial = \"100ms\", max = \"500ms\" }}\n{extra}\n",
        rx.url()
    )
}

/// The events HEC stored, as the mcsource events they carry.
fn stored(rx: &SplunkHecReceiver) -> Vec<Value> {
    rx.events().into_iter().map(|e| e.event).collect()
}

fn parsed(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Each file event once in `got` (as a multiset).
fn assert_each_once(got: &[Value], want: &[Value], what: &str) {
    let key = |v: &Value| v.to_string();
    let mut got: Vec<String> = got.iter().map(key).collect();
    let mut want: Vec<String> = want.iter().map(key).collect();
    got.sort();
    want.sort();
    assert!(
        got == want,
        "{what}: {} stored, {} expected",
        got.len(),
        want.len()
    );
}

#[test]
fn with_acks_every_event_is_indexed_once_with_its_metadata() {
    let h = awkward_harness();
    let rx = hec(&h, true);
    rx.set_ack_mode(AckMode::After(Duration::from_millis(300)));
    rx.push_faults([SinkFault::status(503), SinkFault::ConnectionReset]);
    let config = config_with_sinks(&h, &hec_sink(&rx, "ack = true"), "");
    let out = h
        .command(&["run", "--once", "--config", config.to_str().unwrap()])
        .env("E2E_HEC_TOKEN", TOKEN)
        .output_within();
    assert_success(&out);
    let lines = file_lines(&h);
    assert_eq!(lines.len(), served(&h));
    assert_each_once(&stored(&rx), &parsed(&lines), "HEC with acks");
    for e in rx.events() {
        let log_type = e.event["log_type"].as_str().unwrap();
        assert_eq!(
            e.sourcetype.as_deref(),
            Some(format!("mimecast:ttp:{log_type}").as_str())
        );
        assert_eq!(e.source.as_deref(), Some("mcsource:acme"));
        assert_eq!(e.index.as_deref(), Some("main"));
        let fields = e.fields.unwrap();
        assert_eq!(fields["tenant"], "acme");
        assert_eq!(fields["event_id"], e.event["event_id"]);
        let time =
            chrono::DateTime::parse_from_rfc3339(e.event["event_time"].as_str().unwrap()).unwrap();
        assert!(
            (e.time.unwrap() - time.timestamp() as f64).abs() < 1.0,
            "time"
        );
        assert!(e.channel.is_some());
    }
    assert!(!stderr(&out).contains(TOKEN), "the token is in the log");
}

/// An indexer loses everything (acks never come) and mcsource is killed with -9 while it waits;
/// after the restart, with the indexer healthy, every event is indexed: zero loss.
#[test]
fn lost_acks_and_kill_9_lose_nothing() {
    let h = awkward_harness();
    let rx = hec(&h, true);
    rx.set_ack_mode(AckMode::Never);
    let config = config_with_sinks(&h, &hec_sink(&rx, "ack = true\nack_timeout = \"1s\""), "");
    let mut run = h
        .command(&["run", "--config", config.to_str().unwrap()])
        .env("E2E_HEC_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while rx
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/event"))
        .count()
        < 4
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    run.kill().unwrap();
    let out = run.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("did not acknowledge"), "{log}");
    assert!(file_lines(&h).is_empty(), "a batch counted without its ack");
    assert_eq!(rx.event_count(), 0);
    rx.set_ack_mode(AckMode::Immediate);
    let out = h
        .command(&["run", "--once", "--config", config.to_str().unwrap()])
        .env("E2E_HEC_TOKEN", TOKEN)
        .output_within();
    assert_success(&out);
    let lines = file_lines(&h);
    assert_eq!(lines.len(), served(&h));
    assert_each_once(
        &stored(&rx),
        &parsed(&lines),
        "HEC after lost acks and kill -9",
    );
}

/// A token without acknowledgement where `ack = true`, and a wrong token, stop the run with
/// HEC's words and the fix; nothing is committed.
#[test]
fn token_problems_stop_the_run_with_the_fix() {
    for (ack_on_token, token, expected) in [
        (false, TOKEN, "HEC took the events but gave no ackId"),
        (
            true,
            "22222222-2222-3333-4444-555555555555",
            "HEC refused the events",
        ),
    ] {
        let h = awkward_harness();
        let rx = hec(&h, ack_on_token);
        let config = config_with_sinks(&h, &hec_sink(&rx, "ack = true"), "");
        let out = h
            .command(&["run", "--once", "--config", config.to_str().unwrap()])
            .env("E2E_HEC_TOKEN", token)
            .output_within();
        assert!(!out.status.success());
        let log = stderr(&out);
        assert!(
            log.contains(&format!("sink splunk_hec: {expected}")),
            "{log}"
        );
        let fix = if ack_on_token {
            "check the sink's token"
        } else {
            "indexer acknowledgement is off for this token"
        };
        assert!(log.contains(fix), "{log}");
        assert!(!log.contains(token), "the token is in the log");
        assert!(file_lines(&h).is_empty());
    }
}
