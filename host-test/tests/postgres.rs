//! The PostgreSQL state store with a real PostgreSQL server (one throwaway server for this
//! test binary, on loopback, as the `postgres` user): the real `mcsource` binary collects with
//! `[state] type = "postgres"`, exactly once through `kill -9` of mcsource and a restart of the
//! server, one host at a time, and `status` and `reset` read and change the same state.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{assert_exactly_once, assert_success, stderr, Harness, OutputWithin};
use mimecast_mock::{Credential, LogType, MockConfig};
use mimecast_receivers::PgServer;

const TYPES: [&str; 3] = ["url", "impersonation", "attachment"];

/// A config with the PostgreSQL state (URL from the environment) and a file sink.
fn pg_config(h: &Harness, name: &str, extra: &str) -> PathBuf {
    let tenant = h.tenant_table(
        "acme",
        &Credential::demo(),
        &format!("lookback = \"3h\"\ninterval = \"1s\"\n{extra}"),
    );
    let path = h.dir.path().join(name);
    std::fs::write(
        &path,
        format!(
            "state_dir = \"state-{name}\"\n[state]\ntype = \"postgres\"\nurl = {{ env = \"E2E_PG_URL\" }}\n\
             [sink]\ntype = \"file\"\npath = \"events.ndjson\"\n\n{tenant}"
        ),
    )
    .unwrap();
    path
}

fn served(h: &Harness) -> usize {
    LogType::ALL
        .into_iter()
        .map(|t| h.server.records(t).len())
        .sum()
}

fn wait_for_events(h: &Harness, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while h.events().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn postgres_state_keeps_exactly_once_through_crashes_restarts_and_a_second_host() {
    let mut pg = PgServer::start().unwrap();
    let url = pg.url();
    let cmd = |h: &Harness, args: &[&str]| {
        let mut c = h.command(args);
        c.env("E2E_PG_URL", &url);
        c
    };

    // 1. kill -9 in the middle of a run, then a run to the end: every record once.
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let config = pg_config(&h, "a.toml", "page_size = 20");
    let mut run = cmd(&h, &["run", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_events(&h, 60);
    run.kill().unwrap();
    run.wait().unwrap();
    let out = cmd(&h, &["run", "--once", "--config", config.to_str().unwrap()]).output_within();
    assert_success(&out);
    assert_exactly_once(&h.events(), &h.server, &TYPES);
    let checkpoints = pg
        .psql("SELECT count(*) FROM mcsource_checkpoint WHERE tenant = 'acme'")
        .unwrap();
    assert_eq!(checkpoints.trim(), "3");
    let sink_keys = pg.psql("SELECT sink FROM mcsource_sink_length").unwrap();
    assert!(sink_keys.contains("events.ndjson"), "{sink_keys}");

    // 2. status reads it; a second host on the same state is refused while the first runs.
    let status = cmd(&h, &["status", "--config", config.to_str().unwrap()]).output_within();
    assert_success(&status);
    let table = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(table.contains("acme") && table.contains("url"), "{table}");
    let log = h.dir.path().join("first.log");
    let mut first = cmd(&h, &["run", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // The first host holds its lock once it has connected.
    let deadline = Instant::now() + Duration::from_secs(60);
    let held = || {
        pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
            .unwrap()
    };
    while held().trim() == "0" {
        assert!(
            Instant::now() < deadline,
            "the first host never took its lock: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = pg_config(&h, "b.toml", "");
    let out = cmd(&h, &["run", "--once", "--config", second.to_str().unwrap()]).output_within();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("another mcsource is using this PostgreSQL state"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains(pg.password()),
        "the password is in the log"
    );

    // 3. The server restarts while the first host runs: it reconnects, and what arrives
    //    meanwhile is delivered once.
    h.arrive_late(LogType::Url, 91, 30);
    pg.restart().unwrap();
    h.arrive_late(LogType::Attachment, 92, 30);
    wait_for_events(&h, served(&h));
    first.kill().unwrap();
    first.wait().unwrap();
    assert_exactly_once(&h.events(), &h.server, &TYPES);

    // 4. reset forgets the tenant's checkpoints in PostgreSQL.
    let out = cmd(
        &h,
        &[
            "reset",
            "--config",
            config.to_str().unwrap(),
            "--tenant",
            "acme",
        ],
    )
    .output_within();
    assert_success(&out);
    let left = pg
        .psql("SELECT count(*) FROM mcsource_checkpoint WHERE tenant = 'acme'")
        .unwrap();
    assert_eq!(left.trim(), "0");
}
