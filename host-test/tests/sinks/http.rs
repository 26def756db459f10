//! The generic HTTP sink against a mock NDJSON ingest (Vector `http_server`, Fluent Bit
//! `http`, Logstash `http`): gzip, a bearer token from the environment, a 202 success status,
//! retryable failures, and a receiver that is down for a while: polling pauses (the checkpoint
//! does not move) and nothing is lost.

use std::time::{Duration, Instant};

use mimecast_mock::{HttpIngestConfig, HttpIngestReceiver, SinkFault};
use serde_json::Value;

use crate::common::{assert_success, stderr, OutputWithin};
use crate::{awkward_harness, config_with_sinks, file_lines, same_multiset, served};

fn ingest(h: &crate::common::Harness) -> HttpIngestReceiver {
    let config = HttpIngestConfig {
        path: "/ingest".into(),
        required_headers: vec![("authorization".into(), "Bearer t0ken".into())],
        success_status: 202,
        ..HttpIngestConfig::default()
    };
    h._rt.block_on(HttpIngestReceiver::start(config)).unwrap()
}

fn http_sink(rx: &HttpIngestReceiver) -> String {
    format!(
        "[[sink]]\ntype = \"http\"\nurl = \"{}/ingest\"\ngzip = true\nsuccess_status = [202]\n\
         headers = {{ Authorization = {{ env = \"E2E_HTTP_TOKEN\" }} }}\n\
         batch = {{ max_events = 200 }}\nretry = {{ initial = \"100ms\", max = \"500ms\" }}\n",
        rx.url()
    )
}

fn received(rx: &HttpIngestReceiver) -> Vec<String> {
    rx.lines().iter().map(Value::to_string).collect()
}

fn normalized(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap().to_string())
        .collect()
}

#[test]
fn every_event_arrives_once_through_retryable_failures() {
    let h = awkward_harness();
    let rx = ingest(&h);
    rx.push_faults([
        SinkFault::status(503),
        SinkFault::retry_after(429, Duration::from_secs(1)),
        SinkFault::ConnectionReset,
        SinkFault::status(500),
    ]);
    let config = config_with_sinks(&h, &http_sink(&rx), "");
    let out = h
        .command(&["run", "--once", "--config", config.to_str().unwrap()])
        .env("E2E_HTTP_TOKEN", "Bearer t0ken")
        .output_within();
    assert_success(&out);
    let lines = file_lines(&h);
    assert_eq!(lines.len(), served(&h));
    same_multiset(&received(&rx), &normalized(&lines), "HTTP ingest");
    assert!(rx
        .requests()
        .iter()
        .all(|r| r.header("content-encoding") == Some("gzip")));
    assert!(!stderr(&out).contains("t0ken"), "the token is in the log");
}

/// While the receiver is down, no checkpoint moves and polling waits for delivery; when it is
/// back, everything arrives once.
#[test]
fn a_receiver_down_pauses_collection_and_loses_nothing() {
    let h = awkward_harness();
    let rx = ingest(&h);
    h._rt.block_on(rx.stop());
    let config = config_with_sinks(&h, &http_sink(&rx), "");
    let mut run = h
        .command(&["run", "--config", config.to_str().unwrap()])
        .env("E2E_HTTP_TOKEN", "Bearer t0ken")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let pages_while_down = h.server.ledger().requests().len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        h.server.ledger().requests().len(),
        pages_while_down,
        "polling went on while the sink could take nothing"
    );
    assert!(
        file_lines(&h).is_empty(),
        "a batch was committed while its sink was down"
    );
    h._rt.block_on(rx.restart()).unwrap();
    let total = served(&h);
    let deadline = Instant::now() + Duration::from_secs(120);
    while file_lines(&h).len() < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    run.kill().unwrap();
    run.wait().unwrap();
    let lines = file_lines(&h);
    assert_eq!(lines.len(), total);
    same_multiset(
        &received(&rx),
        &normalized(&lines),
        "HTTP ingest after the outage",
    );
}

/// A status outside `success_status` and the wrong token are refusals: the run stops naming
/// the sink, and nothing is committed.
#[test]
fn a_wrong_token_stops_the_run_naming_the_sink() {
    let h = awkward_harness();
    let rx = ingest(&h);
    let config = config_with_sinks(&h, &http_sink(&rx), "");
    let out = h
        .command(&["run", "--once", "--config", config.to_str().unwrap()])
        .env("E2E_HTTP_TOKEN", "Bearer nope")
        .output_within();
    assert!(!out.status.success());
    let log = stderr(&out);
    assert!(
        log.contains("sink http: the receiver refused the credentials (403"),
        "{log}"
    );
    assert!(file_lines(&h).is_empty());
}

/// Runs the tenants `names` (`lookback = "3h"`) once into the file sink and an HTTP sink with
/// `batch.linger = "300ms"`; checks every event arrived once in both, and returns how many
/// requests the receiver got for how many non-empty batches.
fn run_with_linger(names: &[&str]) -> (usize, usize) {
    let h = awkward_harness();
    let rx = ingest(&h);
    let c = mimecast_mock::Credential::demo();
    let tenants: String = names
        .iter()
        .map(|name| h.tenant_table(name, &c, "lookback = \"3h\""))
        .collect();
    let sinks = format!(
        "[[sink]]\ntype = \"http\"\nurl = \"{}/ingest\"\nheaders = {{ Authorization = \"Bearer t0ken\" }}\n\
         batch = {{ linger = \"300ms\" }}\n",
        rx.url()
    );
    let text = format!("state_dir = \"state\"\n[[sink]]\ntype = \"file\"\npath = \"events.ndjson\"\n\n{sinks}\n{tenants}");
    let config = h.dir.path().join("config.toml");
    std::fs::write(&config, text).unwrap();
    let out = h
        .command(&["run", "--once", "--config", config.to_str().unwrap()])
        .output_within();
    assert_success(&out);
    let lines = file_lines(&h);
    assert_eq!(lines.len(), names.len() * served(&h));
    same_multiset(
        &received(&rx),
        &normalized(&lines),
        "HTTP ingest with linger",
    );
    let batches = stderr(&out)
        .lines()
        .filter(|l| l.contains("poll finished") && !l.contains("events=0"))
        .count();
    let requests = rx.requests().len();
    eprintln!("{requests} requests for {batches} batches");
    (requests, batches)
}

/// With `batch.linger`, batches of several tenants that become ready close together travel in
/// one request: fewer requests than batches, every event once.
#[test]
fn linger_joins_several_tenants_batches_into_fewer_requests() {
    let (requests, batches) = run_with_linger(&["t0", "t1", "t2", "t3"]);
    assert!(
        requests < batches,
        "{requests} requests for {batches} batches"
    );
}

/// One tenant's log types overlap: a batch of one log type is delivered while the tenant polls
/// the others, so with `batch.linger` the batches of its three logs share requests. (Before,
/// a tenant waited for each delivery before its next poll, and every batch went alone.)
#[test]
fn one_tenants_log_types_are_delivered_together() {
    let (requests, batches) = run_with_linger(&["solo"]);
    assert!(
        batches >= 3 && requests < batches,
        "{requests} requests for {batches} batches of one tenant"
    );
}
