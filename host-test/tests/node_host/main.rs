//! End-to-end for issue 21: the same component in a host we did not write. jco transpiles it
//! for Node.js, `examples/node` supplies the host imports in JavaScript and its `collect.mjs`
//! collects from the mock Mimecast; what Node delivered is compared with what the mock holds (every
//! record exactly once), over API 1.0 and 2.0, with faults, and with checkpoints handed from
//! `mcsource`'s SQLite state to Node and back.

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;
mod node;

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use common::{assert_exactly_once, assert_success, read_events, Harness};
use mimecast_host::state::{Checkpoints, Commit, SqliteStore};
use mimecast_mock::{Credential, Fault, LogType, MockConfig, OAuthClient};
use node::{api1_source, api2_source, node_host};
use serde_json::{json, Value};

const ALL: [&str; 3] = ["url", "impersonation", "attachment"];

/// Where the driver configured as `name` writes its events.
fn node_events(h: &Harness, name: &str) -> Vec<Value> {
    read_events(&h.dir.path().join(name).join("events.ndjson"))
}

/// Fails with the driver's log unless it exited 0.
fn assert_node_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "collect.mjs failed: {}\n{}",
        out.status,
        common::stderr(out)
    );
}

/// Waits until the clock has left the second `ran` (Unix seconds), in which a collector last
/// polled. Windows end at `now − lag` in whole seconds, so a collector polled again within that
/// second opens no new window and reads nothing, late records included.
fn wait_past_second(ran: i64) {
    while Utc::now().timestamp() <= ran {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Adds `n` late records of every log type (see [`Harness::arrive_late`]).
fn arrive_late_everywhere(h: &Harness, seed: u64, n: usize) {
    for (i, t) in ALL.iter().enumerate() {
        h.arrive_late(common::mock_type(t), seed + i as u64, n);
    }
}

#[test]
fn node_collects_all_three_types_exactly_once_over_api1() {
    let h = Harness::demo();
    let node = node_host();
    let cfg = node.config(
        &h,
        "node",
        api1_source(&h, json!({ "pageSize": 50 })),
        json!({}),
    );
    assert_node_success(&node.collect(&h, &cfg, &[]));
    let ran = Utc::now().timestamp();
    let events = node_events(&h, "node");
    assert_eq!(events.len(), 900);
    assert_exactly_once(&events, &h.server, &ALL);
    let access_key = Credential::demo().access_key;
    let ledger = h.server.ledger();
    let logs: Vec<_> = ledger
        .requests()
        .iter()
        .filter(|r| r.log_type.is_some())
        .collect();
    assert!(logs.len() >= 18, "{} log requests", logs.len());
    assert!(logs
        .iter()
        .all(|r| r.status == 200 && r.access_key.as_deref() == Some(access_key.as_str())));

    // A run that died after appending a batch but before storing its checkpoint left lines
    // past the checkpointed length: the next run cuts them and collects what came since.
    let output = h.dir.path().join("node/events.ndjson");
    let text = std::fs::read_to_string(&output).unwrap();
    let tail: String = text
        .lines()
        .rev()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&output, format!("{text}{tail}")).unwrap();
    arrive_late_everywhere(&h, 500, 20);
    wait_past_second(ran);
    let out = node.collect(&h, &cfg, &[]);
    assert_node_success(&out);
    assert!(
        common::stderr(&out).contains("past the last checkpoint"),
        "{}",
        common::stderr(&out)
    );
    let events = node_events(&h, "node");
    assert_eq!(events.len(), 960);
    assert_exactly_once(&events, &h.server, &ALL);
}

#[test]
fn node_collects_over_api2_with_a_token_expiring_mid_run() {
    let mut config = MockConfig::demo(Utc::now());
    config.token_max_uses = Some(7);
    let h = Harness::start(config);
    let node = node_host();
    let cfg = node.config(
        &h,
        "node",
        api2_source(&h, json!({ "pageSize": 20 })),
        json!({}),
    );
    let out = node.collect(&h, &cfg, &[("MCSOURCE_NODE_LOG", "debug")]);
    assert_node_success(&out);
    let events = node_events(&h, "node");
    assert_eq!(events.len(), 900);
    assert_exactly_once(&events, &h.server, &ALL);
    let expired = h
        .server
        .ledger()
        .requests()
        .iter()
        .filter(|r| r.fail_code.as_deref() == Some("token_expired"))
        .count();
    let tokens = h.count("/oauth/token", 200);
    // 45 pages at 7 uses a token: it expired mid-window several times, and each time the
    // component took a new one (and replaced it in the JavaScript session cache).
    assert!(expired >= 3, "{expired} token_expired answers");
    assert!(tokens > expired, "{tokens} tokens for {expired} expiries");
    let places = [
        ("stderr", common::stderr(&out)),
        (
            "events",
            std::fs::read_to_string(h.dir.path().join("node/events.ndjson")).unwrap(),
        ),
        (
            "checkpoints",
            std::fs::read_to_string(h.dir.path().join("node/checkpoints.json")).unwrap(),
        ),
    ];
    let secret = OAuthClient::demo().client_secret;
    for (place, text) in &places {
        assert!(!text.contains(&secret), "the client secret is in {place}");
        for token in h.server.issued_tokens() {
            assert!(!text.contains(&token), "a bearer token is in {place}");
        }
    }
}

#[test]
fn node_retries_faults_timeouts_and_rate_limits_from_the_same_page() {
    let h = Harness::demo();
    // In runs of at most three failures a page, within the driver's five retries.
    h.server.push_faults([
        Fault::Status {
            status: 503,
            headers: vec![],
            body: "<html>unavailable</html>".into(),
        },
        Fault::TruncatedBody,
        Fault::pass(),
        Fault::FailOn200 {
            code: "err_server_busy".into(),
            retryable: true,
        },
        Fault::RateLimited { reset_ms: 300 },
        Fault::ConnectionReset,
        Fault::pass(),
        Fault::ResetMidBody,
        // Longer than the request timeout: the component's request options carry it (else
        // preview2-shim would wait 600 s).
        Fault::Delay(Duration::from_secs(4)),
        Fault::pass(),
        // Never silent for the request timeout, but hours in all: the component's own
        // deadline stops it, well before the driver's poll deadline.
        Fault::TrickleBody(Duration::from_millis(200)),
    ]);
    let node = node_host();
    let source = api1_source(&h, json!({ "pageSize": 60, "requestTimeoutMs": 1500 }));
    let cfg = node.config(&h, "node", source, json!({ "pollTimeoutMs": 5000 }));
    let out = node.collect(&h, &cfg, &[]);
    assert_node_success(&out);
    let stderr = common::stderr(&out);
    assert!(stderr.contains("rate limited"), "{stderr}");
    assert!(stderr.contains("ConnectionTimeout"), "{stderr}");
    assert!(
        stderr.contains("stalled while its body was read"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("poll took longer than"),
        "the driver's deadline had to stop a poll: {stderr}"
    );
    assert_exactly_once(&node_events(&h, "node"), &h.server, &ALL);
    assert_eq!(
        h.server.ledger().violations(),
        0,
        "called again before X-RateLimit-Reset"
    );
}

#[test]
fn node_stops_with_a_clear_message_on_a_permanent_error() {
    let h = Harness::demo();
    let node = node_host();
    let cfg = node.config(&h, "node", api1_source(&h, json!({})), json!({}));
    let wrong = "V3Jvbmcgc2VjcmV0IGtleQ==";
    let out = node.collect(&h, &cfg, &[("E2E_SECRET_KEY", wrong)]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let stderr = common::stderr(&out);
    assert!(stderr.contains("acme/url: unauthorized"), "{stderr}");
    assert!(
        !stderr.contains(wrong),
        "the secret is in the log: {stderr}"
    );
    assert!(node_events(&h, "node").is_empty());
    assert!(!h.dir.path().join("node/checkpoints.json").exists());

    // A config with mistakes: every one named, nothing sent.
    let requests = h.server.ledger().requests().len();
    let source = api1_source(&h, json!({ "pageSize": "fifty", "lagSeconds": 60 }));
    let bad = node.config(&h, "bad", source, json!({ "pollTimeoutMs": -1 }));
    let out = node.collect(&h, &bad, &[("E2E_SECRET_KEY", "")]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let stderr = common::stderr(&out);
    for problem in [
        "source.pageSize: expected a whole number",
        "config.pollTimeoutMs: expected a whole number",
        "source.lagSeconds: unknown key",
        "source.credentials.val.secretKey: environment variable E2E_SECRET_KEY is not set",
    ] {
        assert!(stderr.contains(problem), "{problem:?} missing: {stderr}");
    }
    assert_eq!(h.server.ledger().requests().len(), requests);
}

/// Node's checkpoints file holding `checkpoints` (log type to checkpoint) of tenant `acme`.
fn write_node_checkpoints(path: PathBuf, checkpoints: &serde_json::Map<String, Value>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = json!({ "version": 1, "tenant": "acme", "checkpoints": checkpoints });
    std::fs::write(path, serde_json::to_vec(&file).unwrap()).unwrap();
}

#[test]
fn checkpoints_move_from_mcsource_to_node_and_back_without_loss_or_repeat() {
    let h = Harness::demo();
    let node = node_host();
    let mcsource_cfg = h.config("page_size = 100");
    assert_success(&h.run_once(&mcsource_cfg));
    let ran = Utc::now().timestamp();
    assert_eq!(h.events().len(), 900);

    // mcsource's checkpoints, from its SQLite state, into Node's checkpoints file.
    let state = h.dir.path().join("state");
    let store = SqliteStore::open(&state).unwrap();
    let mut handed = serde_json::Map::new();
    for t in ALL {
        let checkpoint = store
            .load("acme", t)
            .unwrap()
            .expect("mcsource stored none");
        handed.insert(t.to_string(), checkpoint.into());
    }
    drop(store);
    write_node_checkpoints(h.dir.path().join("node/checkpoints.json"), &handed);

    arrive_late_everywhere(&h, 100, 30);
    wait_past_second(ran);
    let node_cfg = node.config(
        &h,
        "node",
        api1_source(&h, json!({ "pageSize": 100 })),
        json!({}),
    );
    assert_node_success(&node.collect(&h, &node_cfg, &[]));
    let ran = Utc::now().timestamp();
    let from_node = node_events(&h, "node");
    assert_eq!(
        from_node.len(),
        90,
        "Node collected only what came after mcsource"
    );

    // Node's checkpoints back into mcsource's state.
    let saved: Value =
        serde_json::from_slice(&std::fs::read(h.dir.path().join("node/checkpoints.json")).unwrap())
            .unwrap();
    let mut store = SqliteStore::open(&state).unwrap();
    for t in ALL {
        let checkpoint = saved["checkpoints"][t].as_str().unwrap();
        assert_ne!(
            Some(checkpoint),
            handed[t].as_str(),
            "{t}: Node's checkpoint did not move"
        );
        store
            .commit(&Commit {
                tenant: "acme",
                log_type: t,
                checkpoint,
                delivered: 30,
                cursor: None,
                sink: None,
                lease: None,
            })
            .unwrap();
    }
    drop(store);

    arrive_late_everywhere(&h, 200, 25);
    wait_past_second(ran);
    assert_success(&h.run_once(&mcsource_cfg));
    let from_mcsource = h.events();
    assert_eq!(from_mcsource.len(), 900 + 75);
    let all: Vec<Value> = from_mcsource.into_iter().chain(from_node).collect();
    assert_exactly_once(&all, &h.server, &ALL);
    assert_eq!(h.server.records(LogType::Url).len(), 355);
}
