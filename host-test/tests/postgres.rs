//! The PostgreSQL state store with a real PostgreSQL server (a throwaway server per test, since
//! the tests restart theirs; on loopback, as the `postgres` user): the real `mcsource` binary collects with
//! `[state] type = "postgres"`, exactly once through `kill -9` of mcsource and a restart of the
//! server, one host at a time, and `status` and `reset` read and change the same state.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{assert_exactly_once, assert_success, stderr, Harness, OutputWithin};
use mimecast_mock::{Credential, Fault, LogType, MockConfig};
use mimecast_receivers::PgServer;

const TYPES: [&str; 3] = ["url", "impersonation", "attachment"];

/// The PostgreSQL server's clock in Unix milliseconds, as the leases count it.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::BIGINT";

/// Tenants the several-hosts test shares among its three hosts.
const SHARED_TENANTS: usize = 60;

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

/// One host of a shared state: its own directory, config, state_dir and file sink.
struct Host {
    dir: PathBuf,
    child: Option<std::process::Child>,
}

impl Host {
    /// Host `i` sharing `tenants` (`[[tenant]]` tables) with `lease_ttl = "3s"`; not started.
    fn new(h: &Harness, i: usize, tenants: &str) -> Host {
        let dir = h.dir.path().join(format!("host{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "state_dir = \"state\"\n[state]\ntype = \"postgres\"\nurl = {{ env = \"E2E_PG_URL\" }}\n\
                 shared = true\nlease_ttl = \"3s\"\n[sink]\ntype = \"file\"\npath = \"events.ndjson\"\n\n{tenants}"
            ),
        )
        .unwrap();
        Host { dir, child: None }
    }

    /// The first line of its log holding `needle`, waiting up to 60 s for it.
    fn logged(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = std::fs::read_to_string(self.dir.join("run.log")).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} not logged by {} within 60 s:\n{log}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn events_file(&self) -> PathBuf {
        self.dir.join("events.ndjson")
    }

    /// Its file's events, up to the length the state committed for it (what a crash left
    /// after that is cut when the host starts again, and fetched by another).
    fn committed_events(&self, pg: &PgServer) -> Vec<serde_json::Value> {
        let Ok(path) = self.events_file().canonicalize() else {
            return Vec::new();
        };
        let length = pg
            .psql(&format!(
                "SELECT length FROM mcsource_sink_length WHERE sink LIKE '%:{}'",
                path.display()
            ))
            .unwrap();
        let text = std::fs::read(&path).unwrap_or_default();
        let length: usize = length.trim().parse().unwrap_or(0);
        common::read_events_from(&String::from_utf8_lossy(&text[..length.min(text.len())]))
    }
}

/// Every (tenant, event id) of the hosts' committed events, counted.
fn union(hosts: &[Host], pg: &PgServer) -> std::collections::BTreeMap<(String, String), usize> {
    let mut seen = std::collections::BTreeMap::new();
    for h in hosts {
        for e in h.committed_events(pg) {
            let key = (
                e["tenant"].as_str().unwrap().to_string(),
                e["event_id"].as_str().unwrap().to_string(),
            );
            *seen.entry(key).or_insert(0) += 1;
        }
    }
    seen
}

/// The committed cursor of every (tenant, log type), in Unix milliseconds.
fn cursors(pg: &PgServer) -> std::collections::BTreeMap<String, i64> {
    pg.psql(
        "SELECT tenant || '/' || log_type, cursor FROM mcsource_status WHERE cursor IS NOT NULL",
    )
    .unwrap()
    .lines()
    .filter_map(|l| l.split_once('|'))
    .map(|(key, cursor)| (key.to_string(), cursor.trim().parse().unwrap()))
    .collect()
}

/// Starts `mcsource run` for `host`, its log appended to `run.log` in its directory.
fn start_host(h: &Harness, url: &str, host: &mut Host) {
    let config = host.dir.join("config.toml");
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(host.dir.join("run.log"))
        .unwrap();
    host.child = Some(
        h.command(&["run", "--config", config.to_str().unwrap()])
            .env("E2E_PG_URL", url)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
}

/// Waits until the hosts' committed events number `want`; returns them counted.
fn wait_all(
    hosts: &[Host],
    pg: &PgServer,
    want: usize,
    what: &str,
) -> std::collections::BTreeMap<(String, String), usize> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let seen = union(hosts, pg);
        let total: usize = seen.values().sum();
        if total >= want {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {total} of {want} events after 120 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Three hosts share sixty tenants through leases: the tenants spread over the hosts, every
/// record is delivered exactly once across their files, a host killed with -9 has its tenants
/// taken over within the lease time, a host paused past its leases (SIGSTOP) cannot commit
/// for tenants another host took meanwhile (fencing), and a restart of PostgreSQL loses and
/// doubles nothing.
#[test]
fn several_hosts_share_the_tenants_through_leases_with_fencing() {
    let mut pg = PgServer::start().unwrap();
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let c = Credential::demo();
    let tenants: String = (0..SHARED_TENANTS)
        .map(|i| h.tenant_table(&format!("t{i}"), &c, "lookback = \"3h\"\ninterval = \"1s\""))
        .collect();
    let per_tenant = served(&h);
    let mut hosts: Vec<Host> = (0..3).map(|i| Host::new(&h, i, &tenants)).collect();
    let url = pg.url();
    for host in &mut hosts {
        start_host(&h, &url, host);
    }
    let assert_once = |seen: &std::collections::BTreeMap<(String, String), usize>, want: usize| {
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(3).collect();
        assert!(twice.is_empty(), "delivered more than once: {twice:?}");
        assert_eq!(seen.len(), want, "distinct events");
    };

    // 1. Everything once, spread over the hosts.
    let seen = wait_all(&hosts, &pg, SHARED_TENANTS * per_tenant, "first collection");
    assert_once(&seen, SHARED_TENANTS * per_tenant);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let owners = pg
            .psql("SELECT count(DISTINCT owner) FROM mcsource_lease WHERE owner IS NOT NULL")
            .unwrap();
        if owners.trim() == "3" {
            break;
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = hosts
                .iter()
                .map(|h| std::fs::read_to_string(h.dir.join("run.log")).unwrap_or_default())
                .map(|l| {
                    l.lines()
                        .filter(|l| {
                            l.contains("WARN") || l.contains("ERROR") || l.contains("lease")
                        })
                        .take(15)
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .collect();
            panic!(
                "the tenants did not spread over 3 hosts: {owners}\n{}",
                logs.join("\n---\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    // 2. kill -9 one host: its tenants are taken over by the other two within the lease
    //    time and a lease round or two; new records are collected by them, once.
    hosts[0].child.take().unwrap().kill().unwrap();
    let killed = Instant::now();
    loop {
        let live = pg
            .psql(&format!(
                "SELECT count(*), count(DISTINCT owner) FROM mcsource_lease \
                 WHERE owner IS NOT NULL AND expires_ms > {NOW_MS}"
            ))
            .unwrap();
        if live.trim() == format!("{SHARED_TENANTS}|2") {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "the killed host's tenants were not taken over (live leases, owners: {live})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    h.arrive_late(LogType::Url, 41, 20);
    let per_tenant = served(&h);
    let seen = wait_all(&hosts, &pg, SHARED_TENANTS * per_tenant, "after kill -9");
    assert_once(&seen, SHARED_TENANTS * per_tenant);

    // 3. SIGSTOP one host past its leases while records arrive; the others take its tenants;
    //    after SIGCONT its stale commits are refused, and nothing is delivered twice.
    let paused = hosts[1].child.as_ref().unwrap().id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-STOP", &paused])
        .status()
        .unwrap()
        .success());
    h.arrive_late(LogType::Attachment, 42, 20);
    std::thread::sleep(Duration::from_secs(8));
    let before_wake = cursors(&pg);
    assert!(std::process::Command::new("kill")
        .args(["-CONT", &paused])
        .status()
        .unwrap()
        .success());
    h.arrive_late(LogType::Impersonation, 43, 20);
    let per_tenant = served(&h);
    let seen = wait_all(
        &hosts,
        &pg,
        SHARED_TENANTS * per_tenant,
        "after SIGSTOP and SIGCONT",
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_once(&union(&hosts, &pg), SHARED_TENANTS * per_tenant);
    drop(seen);
    let after_wake = cursors(&pg);
    for (key, cursor) in &before_wake {
        assert!(
            after_wake.get(key) >= Some(cursor),
            "the cursor of {key:?} went back from {cursor} to {:?} after the paused host woke",
            after_wake.get(key)
        );
    }
    let woke = std::fs::read_to_string(hosts[1].dir.join("run.log")).unwrap();
    assert!(
        woke.lines()
            .any(|l| l.contains("tenant leases changed") && !l.contains("lost=[]")),
        "the paused host did not notice it lost its tenants:\n{woke}"
    );

    // 4. PostgreSQL restarts while the hosts run: they reconnect, keep or claim their tenants
    //    again, and what arrives meanwhile is delivered once.
    h.arrive_late(LogType::Url, 44, 20);
    pg.restart().unwrap();
    h.arrive_late(LogType::Attachment, 45, 20);
    let per_tenant = served(&h);
    wait_all(
        &hosts,
        &pg,
        SHARED_TENANTS * per_tenant,
        "after a PostgreSQL restart",
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_once(&union(&hosts, &pg), SHARED_TENANTS * per_tenant);

    // 5. A rolling restart (SIGTERM one host at a time, started again): the tenants move and
    //    come back, nothing is lost or doubled. (Host 0 was killed in step 2 and starts anew.)
    for (i, host) in hosts.iter_mut().enumerate() {
        if let Some(child) = host.child.take() {
            let pid = child.id().to_string();
            assert!(std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success());
            let mut child = child;
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().unwrap().is_none() {
                assert!(
                    Instant::now() < deadline,
                    "host {i} did not stop within 60 s of SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        h.arrive_late(LogType::Impersonation, 50 + i as u64, 10);
        start_host(&h, &url, host);
    }
    let per_tenant = served(&h);
    wait_all(
        &hosts,
        &pg,
        SHARED_TENANTS * per_tenant,
        "after a rolling restart",
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_once(&union(&hosts, &pg), SHARED_TENANTS * per_tenant);
    for host in &mut hosts {
        if let Some(mut child) = host.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A rate limit seen by one host holds for the host that takes its tenant over: the pause
/// lives in the shared state, so the next owner waits for the reset instead of asking again.
#[test]
fn a_rate_limit_seen_by_one_host_holds_for_the_next_owner() {
    let pg = PgServer::start().unwrap();
    let h = Harness::demo();
    let tenant = h.tenant_table(
        "acme",
        &Credential::demo(),
        "lookback = \"3h\"\ninterval = \"1s\"",
    );
    let mut hosts: Vec<Host> = (0..2).map(|i| Host::new(&h, i, &tenant)).collect();
    let url = pg.url();
    start_host(&h, &url, &mut hosts[0]);
    wait_all(&hosts, &pg, served(&h), "first collection");
    h.server.push_fault(Fault::RateLimited { reset_ms: 20_000 });
    hosts[0].logged("rate limited; waiting");
    // The second host joins; one tenant is the first host's fair share, so it stays there
    // until the first host dies.
    start_host(&h, &url, &mut hosts[1]);
    hosts[1].logged("sharing the tenants");
    std::thread::sleep(Duration::from_secs(1));
    hosts[0].child.take().unwrap().kill().unwrap();
    let line = hosts[1].logged("waiting for a rate-limit reset seen before");
    let wait_ms: u64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("wait_ms="))
        .unwrap_or_else(|| panic!("no wait_ms in {line}"))
        .parse()
        .unwrap();
    assert!(
        (5_000..=20_000).contains(&wait_ms),
        "the next owner waits {wait_ms} ms, not what is left of the 20 s reset: {line}"
    );
    let polls = || {
        h.server
            .ledger()
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/get-logs"))
            .count()
    };
    let before = polls();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(polls(), before, "the next owner polled during the pause");
    // After the reset it collects again, once.
    h.arrive_late(LogType::Url, 61, 10);
    let want = served(&h);
    let seen = wait_all(&hosts, &pg, want, "after the pause");
    assert!(seen.values().all(|n| *n == 1) && seen.len() == want);
    if let Some(mut child) = hosts[1].child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
