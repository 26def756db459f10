//! End-to-end: the real `mcsource` binary with the bundled real component, against the mock
//! Mimecast on loopback. Every test starts its own mock and compares what reached the sink with
//! what the mock holds: every record exactly once.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use mimecast_mock::{
    generate_records, Credential, Dataset, Fault, LogType, MockConfig, MockServer, PagingEnd,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mcsource");

struct Harness {
    _rt: tokio::runtime::Runtime,
    server: MockServer,
    dir: tempfile::TempDir,
}

impl Harness {
    fn start(config: MockConfig) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::start(config)).unwrap();
        Harness {
            _rt: rt,
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn demo() -> Harness {
        Harness::start(MockConfig::demo(Utc::now()))
    }

    fn sink(&self) -> PathBuf {
        self.dir.path().join("events.ndjson")
    }

    /// Writes a config with the demo credentials; `tenant_extra` is appended to the tenant table.
    fn config(&self, tenant_extra: &str) -> PathBuf {
        let c = Credential::demo();
        let text = format!(
            r#"state_dir = "state"
[sink]
type = "file"
path = "events.ndjson"

[[tenant]]
id = "acme"
base_url = "{url}"
app_id = "{app_id}"
app_key = "{app_key}"
access_key = {{ env = "E2E_ACCESS_KEY" }}
secret_key = {{ file = "secret.txt" }}
lookback = "3h"
{tenant_extra}
"#,
            url = self.server.base_url(),
            app_id = c.app_id,
            app_key = c.app_key,
        );
        std::fs::write(
            self.dir.path().join("secret.txt"),
            format!("{}\n", c.secret_key),
        )
        .unwrap();
        let path = self.dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("E2E_ACCESS_KEY", Credential::demo().access_key)
            .env("RUST_LOG", "info")
            .current_dir(self.dir.path());
        cmd
    }

    fn run_once(&self, config: &Path) -> Output {
        let out = self
            .command(&["run", "--once", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        out
    }

    fn events(&self) -> Vec<Value> {
        read_events(&self.sink())
    }
}

fn read_events(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn mock_type(name: &str) -> LogType {
    LogType::parse(name).unwrap()
}

/// Multiset of records per log type.
fn count(records: impl IntoIterator<Item = (String, Value)>) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for (t, r) in records {
        *out.entry((t, r.to_string())).or_default() += 1;
    }
    out
}

/// Asserts each record the mock holds arrived exactly once, and every event id is unique.
fn assert_exactly_once(events: &[Value], server: &MockServer, types: &[&str]) {
    let mut ids = HashSet::new();
    for e in events {
        assert!(
            ids.insert(e["event_id"].as_str().unwrap().to_string()),
            "duplicate event {e}"
        );
        assert_eq!(e["tenant"], "acme");
        assert!(e["event_time"].is_string(), "{e}");
    }
    let got = count(events.iter().map(|e| {
        (
            e["log_type"].as_str().unwrap().to_string(),
            e["record"].clone(),
        )
    }));
    let want = count(types.iter().flat_map(|t| {
        server
            .records(mock_type(t))
            .into_iter()
            .map(move |r| (t.to_string(), r))
    }));
    let missing: Vec<_> = want
        .iter()
        .filter(|(k, n)| got.get(*k) != Some(n))
        .take(3)
        .collect();
    assert!(
        missing.is_empty() && got.len() == want.len(),
        "delivered != served; e.g. {missing:?}"
    );
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "mcsource failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn run_once_delivers_every_record_of_all_three_types_exactly_once() {
    let h = Harness::demo();
    let out = h.run_once(&h.config(""));
    assert_success(&out);
    let events = h.events();
    assert_eq!(events.len(), 900);
    assert_exactly_once(&events, &h.server, &["url", "impersonation", "attachment"]);
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
    // New records arrive, some with times inside the already-read period (late arrivals).
    let now = Utc::now();
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
fn transient_faults_are_retried_from_the_same_page() {
    let h = Harness::demo();
    for f in [
        Fault::Status {
            status: 503,
            headers: vec![],
            body: "<html>unavailable</html>".into(),
        },
        Fault::TruncatedBody,
        Fault::FailOn200 {
            code: "err_server_busy".into(),
            retryable: true,
        },
        Fault::RateLimited { reset_ms: 300 },
    ] {
        h.server.push_fault(f);
    }
    let out = h.run_once(&h.config("page_size = 60"));
    assert_success(&out);
    assert_exactly_once(
        &h.events(),
        &h.server,
        &["url", "impersonation", "attachment"],
    );
    assert_eq!(
        h.server.ledger().violations(),
        0,
        "called again before X-RateLimit-Reset"
    );
}

#[test]
fn wrong_secret_fails_with_a_clear_message_and_no_events() {
    let h = Harness::demo();
    let cfg = h.config("log_types = [\"url\"]");
    std::fs::write(
        h.dir.path().join("secret.txt"),
        "d3JvbmcgYnV0IHZhbGlkIGJhc2U2NA==",
    )
    .unwrap();
    let out = h.run_once(&cfg);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("signature"), "{stderr}");
    assert!(stderr.contains("secret_key"), "{stderr}");
    assert!(
        !stderr.contains(&Credential::demo().access_key),
        "secret leaked into logs"
    );
    assert!(h.events().is_empty());
}

#[test]
fn missing_permission_names_the_role_permission() {
    let now = Utc::now();
    let mut cred = Credential::demo();
    cred.permissions = vec![LogType::Url];
    let config = MockConfig::new(
        vec![cred],
        Dataset::generate(
            3,
            now - chrono::TimeDelta::hours(1),
            now - chrono::TimeDelta::minutes(2),
            40,
        ),
    );
    let h = Harness::start(config);
    let out = h.run_once(&h.config(""));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Monitoring | Attachment Protection | Read"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Monitoring | Impersonation Protection | Read"),
        "{stderr}"
    );
    // The permitted log type still collected everything.
    assert_exactly_once(&h.events(), &h.server, &["url"]);
}

#[test]
fn check_reports_host_and_component_problems_at_once() {
    let h = Harness::demo();
    let cfg = h.config(
        "page_size = 500\ninterval = \"0s\"\n[tenant.filters.attachment]\nresult = \"clean\"",
    );
    let out = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tenant[0].interval"), "{stderr}");
    // Host problems are reported first; fix them and the component's checks run.
    let cfg = h.config("page_size = 500\n[tenant.filters.attachment]\nresult = \"clean\"");
    let out = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("page_size") && stderr.contains("filters.attachment.result"),
        "{stderr}"
    );
    let ok = h.config("");
    let out = h
        .command(&["check", "--config", ok.to_str().unwrap()])
        .output()
        .unwrap();
    assert_success(&out);
}

#[test]
fn killed_mid_run_and_restarted_loses_nothing() {
    let now = Utc::now();
    let config = MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            11,
            now - chrono::TimeDelta::hours(2),
            now - chrono::TimeDelta::minutes(2),
            600,
        ),
    );
    let h = Harness::start(config);
    let cfg = h.config("page_size = 5");
    for _ in 0..3 {
        let mut child = h
            .command(&["run", "--config", cfg.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it has delivered something more, then kill it without warning.
        let before = h.events().len();
        let deadline = Instant::now() + Duration::from_secs(60);
        while h.events().len() < before + 40 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert_success(&h.run_once(&cfg));
    let events = h.events();
    // At-least-once across kills: a batch delivered but not yet checkpointed is repeated, with
    // the same event ids. Dropping repeated ids yields exactly what the mock holds.
    let mut seen = HashSet::new();
    let unique: Vec<_> = events
        .into_iter()
        .filter(|e| seen.insert(e["event_id"].as_str().unwrap().to_string()))
        .collect();
    assert_exactly_once(&unique, &h.server, &["url", "impersonation", "attachment"]);
}

#[test]
fn demo_prints_events_of_all_three_types() {
    let out = Command::new(BIN)
        .arg("demo")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
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
