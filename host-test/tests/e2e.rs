//! End-to-end: the real `mcsource` binary with the bundled real component, against the mock
//! Mimecast on loopback. Every test starts its own mock and compares what reached the sink with
//! what the mock holds: every record exactly once.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{assert_connections_reused, assert_exactly_once, assert_success, Harness, BIN};
use mimecast_mock::{
    generate_records, Credential, Dataset, Fault, LogType, MockConfig, PagingEnd, RateLimit,
};
use serde_json::Value;

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
fn transient_faults_are_retried_from_the_same_page() {
    let h = Harness::demo();
    h.server.push_faults([
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
        Fault::ConnectionReset,
        Fault::ResetMidBody,
    ]);
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
fn a_rate_limited_tenant_holds_back_no_other() {
    // Two tenants with their own bindings and a quota per binding: `slow` reads one record per
    // request and runs into the quota at once, `quick` needs a dozen requests in all.
    let mut config = MockConfig::demo(Utc::now());
    let (slow, quick) = (Credential::demo(), Credential::reference_vector());
    config.credentials.push(quick.clone());
    config.rate_limit = Some(RateLimit {
        limit: 60,
        window: Duration::from_secs(60),
    });
    let h = Harness::start(config);
    let cfg = h.write_config(&format!(
        "{}{}",
        h.tenant_table(
            "slow",
            &slow,
            "lookback = \"3h\"\npage_size = 1\ninterval = \"1s\""
        ),
        // Polls of a caught-up tenant count against its quota too: three every interval, so
        // about 50 requests in its first minute.
        h.tenant_table("quick", &quick, "lookback = \"3h\"\ninterval = \"5s\"")
    ));
    let mut child = h.spawn_run(&cfg, Stdio::null());
    let of =
        |events: &[Value], tenant: &str| events.iter().filter(|e| e["tenant"] == tenant).count();
    let wait_for = |done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(50);
        while !done() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // First the slow tenant runs into its quota: it then waits up to a minute.
    wait_for(&|| h.server.ledger().count_status(429) > 0);
    assert!(
        h.server.ledger().count_status(429) > 0,
        "the slow tenant met no quota"
    );
    // Records that arrive meanwhile (late, inside the overlap) reach the quick tenant at once.
    for t in LogType::ALL {
        h.arrive_late(t, 7, 30);
    }
    wait_for(&|| of(&h.events(), "quick") >= 990);
    child.kill().unwrap();
    child.wait().unwrap();
    let events = h.events();
    let quick_ids: HashSet<_> = events
        .iter()
        .filter(|e| e["tenant"] == "quick")
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        (of(&events, "quick"), quick_ids.len()),
        (990, 990),
        "the tenant beside a rate-limited one must collect everything, once, while it waits"
    );
    assert!(
        of(&events, "slow") < 990,
        "the slow tenant was not held back by its quota"
    );
    let ledger = h.server.ledger();
    assert_eq!(
        ledger.violations(),
        0,
        "called again before X-RateLimit-Reset"
    );
}

#[test]
fn connection_resets_are_retried_from_the_same_page() {
    let h = Harness::demo();
    // One log type, so the faults meet the requests in a known order. `Fault::pass()` lets one
    // request through untouched, which places the later resets in the middle of the paging.
    h.server.push_faults([
        Fault::ConnectionReset,
        Fault::pass(),
        Fault::pass(),
        Fault::ResetMidBody,
        Fault::pass(),
        Fault::ConnectionReset,
    ]);
    let out = h.run_once(&h.config("page_size = 50\nlog_types = [\"url\"]"));
    assert_success(&out);
    assert_exactly_once(&h.events(), &h.server, &["url"]);
    let ledger = h.server.ledger();
    let seen: Vec<_> = ledger
        .requests_for(LogType::Url)
        .map(|r| (r.status, r.fault, r.records))
        .collect();
    // Every cut page is asked for again and then served whole: pages 1, 3 and 4 of 6. (The
    // backoffs make the run last seconds, so a second window may re-read the overlap; the
    // component drops those repeats, which `assert_exactly_once` checked.)
    assert_eq!(
        seen[..7],
        [
            (0, Some("connection_reset"), 0),
            (200, Some("delay"), 50),
            (200, Some("delay"), 50),
            (200, Some("reset_mid_body"), 0),
            (200, Some("delay"), 50),
            (0, Some("connection_reset"), 0),
            (200, None, 50),
        ],
        "{seen:?}"
    );
    assert_eq!(seen[7..9], [(200, None, 50); 2], "{seen:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("poll failed; retrying").count(),
        3,
        "{stderr}"
    );
    // All three are transport failures (no HTTP answer to judge), reported as transient and
    // in plain words: two resets before the answer, one while the body was read.
    let host = h.server.addr().to_string();
    let retries: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("poll failed; retrying"))
        .collect();
    let before = format!(
        "temporarily unavailable: request to {host} failed: the connection was reset or closed"
    );
    let during = format!(
        "temporarily unavailable: the connection to {host} broke while the answer was read"
    );
    assert_eq!(
        retries.iter().filter(|l| l.contains(&before)).count(),
        2,
        "{stderr}"
    );
    assert_eq!(
        retries.iter().filter(|l| l.contains(&during)).count(),
        1,
        "{stderr}"
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
        "page_size = 500\ninterval = \"0s\"\n[tenant.filters.attachment]\nresult = \"cleanish\"",
    );
    let out = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tenant[0].interval"), "{stderr}");
    // Host problems are reported first; fix them and the component's checks run.
    let cfg = h.config("page_size = 500\n[tenant.filters.attachment]\nresult = \"cleanish\"");
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
    // Problems of different tenants come in one run: the host's of one, the component's of
    // another, and the host's of the config itself.
    let cfg = h.write_config(&format!(
        "{}{}{}",
        good_tenant(&h, "acme", "lag = \"7h\""),
        good_tenant(&h, "beta", "page_size = 500"),
        good_tenant(&h, "gamma", "")
    ));
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("path = \"events.ndjson\"", "path = \"\""),
    )
    .unwrap();
    let out = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has 3 problem(s)")
            && stderr.contains("tenant[0].lag")
            && stderr.contains("tenant[1] (beta)")
            && stderr.contains("page_size")
            && stderr.contains("sink.path")
            && !stderr.contains("gamma"),
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
fn killed_mid_run_and_restarted_delivers_exactly_once() {
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
        let mut child = h.spawn_run(&cfg, Stdio::null());
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
    // The file sink's committed length moves with the checkpoint, so kills leave no duplicates.
    assert_exactly_once(
        &h.events(),
        &h.server,
        &["url", "impersonation", "attachment"],
    );
}

/// SIGTERM (how systemd, Kubernetes and `docker stop` stop a service) drains like Ctrl-C: the
/// polls in flight end, their batches are committed, and the run exits with status 0 (before,
/// the process died of the signal, with status 143). A later run goes on from there.
#[test]
fn sigterm_finishes_the_polls_in_flight_and_exits_cleanly() {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let cfg = h.config("page_size = 5");
    let log = h.dir.path().join("run.log");
    let mut child = h.spawn_run(&cfg, std::fs::File::create(&log).unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.events().len() < 40 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mcsource did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(
        stderr.contains("terminated (SIGTERM); finishing the polls in flight"),
        "{stderr}"
    );
    assert_success(&h.run_once(&cfg));
    assert_exactly_once(
        &h.events(),
        &h.server,
        &["url", "impersonation", "attachment"],
    );
}

/// `RUST_LOG=trace` on a cold compiled-code cache shows mcsource's own traces, not the
/// compiler's (which ran to gigabytes): wasmtime and Cranelift stay at `info` unless named.
#[test]
fn trace_logging_leaves_out_the_compilers_traces_unless_named() {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let cfg = h.config("");
    let cold = h.dir.path().join("cold-cache");
    let out = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .env("RUST_LOG", "trace")
        .env("MCSOURCE_CACHE_DIR", &cold)
        .output()
        .unwrap();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let compiler_lines = stderr
        .lines()
        .filter(|l| l.contains(" cranelift") || l.contains(" wasmtime"))
        .filter(|l| l.contains("TRACE") || l.contains("DEBUG"))
        .count();
    assert_eq!(compiler_lines, 0, "{} bytes of log", stderr.len());
    assert!(stderr.len() < 1 << 20, "{} bytes of log", stderr.len());
}

/// Under an address-space limit (`ulimit -v`, as some hosting sets) far below what the fast
/// memory layout reserves (hundreds of GiB of address space, not memory), `mcsource` starts
/// anyway, in a compact layout, says so, and collects everything (it used to stop at start:
/// "mmap failed to reserve 0x50a2000000 bytes").
#[test]
fn a_small_address_space_limit_falls_back_to_a_compact_memory_layout() {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let cfg = h.config("");
    let run = h.command(&["run", "--once", "--config", cfg.to_str().unwrap()]);
    let out = Command::new("prlimit")
        .arg(format!("--as={}", 6u64 << 30))
        .arg("--")
        .arg(BIN)
        .args(run.get_args())
        .envs(run.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(run.get_current_dir().unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("compact memory layout"), "{stderr}");
    assert_exactly_once(
        &h.events(),
        &h.server,
        &["url", "impersonation", "attachment"],
    );
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

#[test]
fn sighup_reload_adds_changes_and_removes_tenants_without_touching_the_others() {
    let h = Harness::demo();
    let cfg = h.config("interval = \"1s\"\nlog_types = [\"url\"]");
    let first = std::fs::read_to_string(&cfg).unwrap();
    let log = h.dir.path().join("run.log");
    let mut child = h.spawn_run(&cfg, std::fs::File::create(&log).unwrap());
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait_for = |what: &dyn Fn(&[Value]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !what(&h.events()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(what(&h.events()), "timed out; log:\n{}", log_text());
    };
    let reload = |config: &str| {
        std::fs::write(&cfg, config).unwrap();
        let hup = Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(hup.success());
    };
    // Waits until a tenant has stopped for the `n`th time (its poll in flight finished).
    let stopped = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while log_text().matches("tenant stopped").count() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let urls = || h.server.records(LogType::Url).len();
    let count =
        |events: &[Value], tenant: &str| events.iter().filter(|e| e["tenant"] == tenant).count();
    wait_for(&|e| count(e, "acme") == urls());
    // Add a second tenant with the same credentials; acme's table is unchanged.
    let second = first.replacen("[[tenant]]", "[[tenant]]\nid = \"beta\"\nREST", 1);
    let beta = &second[second.find("[[tenant]]").unwrap()..];
    let beta = beta.replace("id = \"acme\"\n", "").replace("REST\n", "");
    reload(&format!("{first}\n{beta}"));
    wait_for(&|e| count(e, "beta") == urls());
    // Change beta: it restarts with its checkpoint, so it delivers what is new and nothing again.
    reload(&format!("{first}\n{beta}page_size = 7\n"));
    stopped(1);
    h.arrive_late(LogType::Url, 41, 5);
    wait_for(&|e| count(e, "acme") == urls() && count(e, "beta") == urls());
    let with_beta = urls();
    // Remove beta: it stops; acme goes on alone.
    reload(&first);
    stopped(2);
    h.arrive_late(LogType::Url, 42, 5);
    wait_for(&|e| count(e, "acme") == urls());
    // Long enough for a running beta to have polled again (interval 1 s).
    std::thread::sleep(Duration::from_millis(2500));
    child.kill().unwrap();
    child.wait().unwrap();
    let text = log_text();
    assert!(
        text.contains("starting tenant") && text.contains("tenant=beta"),
        "{text}"
    );
    let stops: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("stopping tenant"))
        .collect();
    assert_eq!(
        stops.len(),
        2,
        "beta stops for the change and the removal: {text}"
    );
    assert!(
        stops.iter().all(|l| l.contains("tenant=beta")),
        "acme must not be restarted: {text}"
    );
    let events = h.events();
    for (tenant, expected) in [("acme", urls()), ("beta", with_beta)] {
        let mine: Vec<Value> = events
            .iter()
            .filter(|e| e["tenant"] == tenant)
            .cloned()
            .collect();
        let mut ids = HashSet::new();
        assert!(
            mine.iter().all(|e| ids.insert(e["event_id"].to_string())),
            "{tenant}: duplicate"
        );
        assert_eq!(mine.len(), expected, "{tenant}");
    }
}

#[test]
fn slow_and_oversized_responses_are_cut_off_and_retried() {
    let h = Harness::demo();
    h.server.push_fault(Fault::Delay(Duration::from_secs(4)));
    h.server.push_fault(Fault::Status {
        status: 200,
        headers: vec![],
        body: format!(
            "{{\"data\":[{{\"clickLogs\":[\"{}\"]}}]}}",
            "x".repeat(2 << 20)
        ),
    });
    let cfg = h.config(
        "log_types = [\"url\"]\nrequest_timeout = \"1s\"\n[tenant.limits]\nmax_response_mib = 1",
    );
    let out = h.run_once(&cfg);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("response refused: larger than limits.max_response_mib"),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("timeout"), "{stderr}");
    assert_exactly_once(&h.events(), &h.server, &["url"]);
}

#[test]
fn non_retryable_fail_and_expired_binding_stop_with_the_fix() {
    let h = Harness::demo();
    h.server.push_fault(Fault::FailOn200 {
        code: "err_validation_blank".into(),
        retryable: false,
    });
    let out = h.run_once(&h.config("log_types = [\"url\"]"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("acme/url: FAILED") && stderr.contains("err_validation_blank"),
        "{stderr}"
    );

    let now = Utc::now();
    let mut expired = Credential::demo();
    expired.expired = true;
    let h = Harness::start(MockConfig::new(
        vec![expired],
        Dataset::generate(
            9,
            now - chrono::TimeDelta::hours(1),
            now - chrono::TimeDelta::minutes(2),
            10,
        ),
    ));
    let out = h.run_once(&h.config("log_types = [\"attachment\"]"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Never Expire") && stderr.contains("create new Access and Secret keys"),
        "{stderr}"
    );
    assert!(h.events().is_empty());
}

#[test]
fn status_shows_delivered_lag_and_errors() {
    let h = Harness::demo();
    let cfg = h.config("");
    assert_success(&h.run_once(&cfg));
    let out = h
        .command(&["status", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_success(&out);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("TENANT"), "{table}");
    for t in ["url", "impersonation", "attachment"] {
        let row = table
            .lines()
            .find(|l| {
                l.contains(&format!("acme    {t}")) || (l.starts_with("acme") && l.contains(t))
            })
            .unwrap_or_else(|| panic!("{table}"));
        assert!(row.contains("300"), "{row}");
    }
}

#[test]
fn compiled_component_is_cached_under_a_relative_state_dir() {
    let h = Harness::demo();
    h.config("log_types = [\"url\"]");
    // A relative config path, so state_dir (and the cache under it) is relative too.
    let out = h
        .command(&["run", "--once", "--config", "config.toml"])
        .env_remove("MCSOURCE_CACHE_DIR")
        .output()
        .unwrap();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("cannot use the compiled-component cache"),
        "{stderr}"
    );
    let cached = std::fs::read_dir(h.dir.path().join("state/compiled"))
        .unwrap()
        .count();
    assert!(cached > 0, "nothing cached in state/compiled");
}

/// Runs `mcsource ARGS` (a demo), reads the first line of its stdout and closes the pipe, as
/// `mcsource demo | head -1` does; returns that line and how the process ended.
fn first_line_then_hang_up(args: &[&str]) -> (String, std::process::Output) {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(args)
        .env("MCSOURCE_CACHE_DIR", common::shared_cache_dir())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The pipe's read end is closed here.
    (first, child.wait_with_output().unwrap())
}

#[test]
fn demo_stops_cleanly_when_its_reader_goes_away() {
    let (first, out) = first_line_then_hang_up(&["demo"]);
    assert!(first.starts_with("{\"log_type\":"), "{first}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("demo: stdout closed by its reader; stopped"),
        "{stderr}"
    );
    // It stopped at once instead of retrying every log type with backoff.
    assert!(
        stderr.matches("batch not delivered").count() <= 3,
        "{stderr}"
    );
}

#[test]
fn json_log_format_writes_one_object_per_log_line() {
    let (_, out) = first_line_then_hang_up(&["--log-format", "json", "demo"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Every line, the command's own status lines included, is a JSON object.
    let logs: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        logs.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("demo: stdout closed by its reader"))),
        "{stderr}"
    );
    assert!(
        logs.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("mock Mimecast API listening"))),
        "{stderr}"
    );
    assert!(logs.iter().all(|l| l["level"].is_string()), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes in JSON logs: {stderr}"
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

/// `/dev/full` refuses every write and cannot be cut back: the first batch leaves the sink in
/// an unknown state, so the run stops at once with the reason instead of writing on.
#[cfg(target_os = "linux")]
#[test]
fn a_sink_that_cannot_be_cut_back_stops_the_run() {
    let h = Harness::demo();
    let cfg = h.config("");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("path = \"events.ndjson\"", "path = \"/dev/full\"");
    std::fs::write(&cfg, text).unwrap();
    let started = Instant::now();
    let out = h.run_once(&cfg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "error: stopped: the sink is unusable: the sink file /dev/full could not be cut back"
        ),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "no retries against an unusable sink"
    );
}

#[test]
fn a_second_run_on_the_same_state_dir_is_refused_but_status_works() {
    let h = Harness::demo();
    let cfg = h.config("interval = \"1s\"\nlog_types = [\"url\"]");
    let mut first = h.spawn_run(&cfg, Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.events().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!h.events().is_empty(), "the first run delivered nothing");
    let second = h.run_once(&cfg);
    let status = h
        .command(&["status", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    let state = h.dir.path().join("state");
    assert!(
        stderr.contains(&format!(
            "another mcsource is using state_dir {}",
            state.display()
        )),
        "{stderr}"
    );
    assert_success(&status);
    assert!(String::from_utf8_lossy(&status.stdout).starts_with("TENANT"));
    // Once the first has gone, the state is free again.
    assert_success(&h.run_once(&cfg));
}

#[test]
fn run_to_a_closed_stdout_says_so_in_one_clean_sentence() {
    use std::io::BufRead;
    let h = Harness::demo();
    let cfg = h.config("");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[sink]\ntype = \"file\"\npath = \"events.ndjson\"\n",
        "[sink]\ntype = \"stdout\"\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let mut child = h
        .command(&["run", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The pipe's read end is closed here.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "error: stdout was closed by the process reading it; the events not delivered are \
             fetched again on the next start (their checkpoints did not move)"
        ),
        "{stderr}"
    );
}

#[test]
fn check_caches_compiled_code_in_mcsource_cache_dir() {
    let h = Harness::demo();
    let cfg = h.config("");
    let cache = h.dir.path().join("cache");
    let out = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .env("MCSOURCE_CACHE_DIR", &cache)
        .env("HOME", h.dir.path().join("home"))
        .env_remove("XDG_CACHE_HOME")
        .output()
        .unwrap();
    assert_success(&out);
    let files = walk(&cache);
    assert!(!files.is_empty(), "nothing cached in {}", cache.display());
    assert!(
        !h.dir.path().join("home").exists(),
        "the user cache was used"
    );
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// An API 1.0 tenant with the demo credentials and `base_url = "discover"`: `email` is looked up
/// at `discover_url`.
fn discover_tenant(id: &str, email: &str, discover_url: &str) -> String {
    let c = Credential::demo();
    format!(
        "[[tenant]]\nid = \"{id}\"\nbase_url = \"discover\"\ndiscover_email = \"{email}\"\n\
         discover_url = \"{discover_url}\"\napp_id = \"{}\"\napp_key = \"{}\"\n\
         access_key = \"{}\"\nsecret_key = \"{}\"\nlookback = \"3h\"\nlog_types = [\"url\"]\n\
         interval = \"1s\"\n\n",
        c.app_id, c.app_key, c.access_key, c.secret_key
    )
}

/// The harness's tenant `acme` (collecting `url` every second) as a `[[tenant]]` table renamed
/// `id`, optionally with more keys.
fn good_tenant(h: &Harness, id: &str, extra: &str) -> String {
    let text =
        std::fs::read_to_string(h.config("interval = \"1s\"\nlog_types = [\"url\"]")).unwrap();
    let table = &text[text.find("[[tenant]]").unwrap()..];
    format!(
        "{}{extra}\n\n",
        table.replace("id = \"acme\"", &format!("id = \"{id}\""))
    )
}

/// A loopback TCP proxy to `target` that closes its first `refused` connections unanswered (a
/// network blip), then forwards; returns its `http://` URL.
fn flaky_proxy(target: std::net::SocketAddr, refused: usize) -> String {
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { continue };
            if n < refused {
                continue;
            }
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            let (mut up_from, mut up_to) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut up_from, &mut up_to);
                let _ = up_to.shutdown(Shutdown::Write);
            });
            let (mut down_from, mut down_to) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut down_from, &mut down_to);
                let _ = down_to.shutdown(Shutdown::Write);
            });
        }
    });
    url
}

/// Events of `tenant`, relabelled `acme` so that [`assert_exactly_once`] can check them.
fn events_of(events: &[Value], tenant: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["tenant"] == tenant)
        .map(|e| {
            let mut e = e.clone();
            e["tenant"] = "acme".into();
            e
        })
        .collect()
}

/// The `mcsource status` row of `tenant`'s `url` log type.
fn status_row(h: &Harness, cfg: &std::path::Path, tenant: &str) -> String {
    let out = h
        .command(&["status", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_success(&out);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    table
        .lines()
        .find(|l| l.split_whitespace().take(2).eq([tenant, "url"]))
        .unwrap_or_else(|| panic!("no row {tenant}/url in\n{table}"))
        .to_string()
}

#[test]
fn run_once_isolates_tenants_whose_discovery_or_component_fails() {
    let h = Harness::demo();
    let url = h.server.base_url();
    let mut tenants = good_tenant(&h, "acme", "");
    // Unknown to the discovery host: will not pass by itself.
    tenants += &discover_tenant("nowhere", "nobody@example.com", &url);
    // Two connections refused, then the discovery host answers: retried with backoff.
    tenants += &discover_tenant("late", "svc@example.com", &flaky_proxy(h.server.addr(), 2));
    tenants += &good_tenant(&h, "broken", "component = \"missing.wasm\"");
    let cfg = h.write_config(&tenants);
    let out = h.run_once(&cfg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("nowhere/url: FAILED after 0 events: tenant nowhere: region discovery for nobody@example.com")
            && stderr.contains("check discover_email"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "broken/url: FAILED after 0 events: tenant broken: its component cannot be loaded"
        ) && stderr.contains("missing.wasm"),
        "{stderr}"
    );
    assert!(stderr.contains("2 log type(s) failed"), "{stderr}");
    // The blip was retried, and both good tenants delivered every record exactly once.
    assert!(
        stderr.contains("region discovery failed; this tenant tries again")
            && stderr.contains("tenant late:"),
        "{stderr}"
    );
    let events = h.events();
    for tenant in ["acme", "late"] {
        assert_exactly_once(&events_of(&events, tenant), &h.server, &["url"]);
    }
    assert_eq!(events_of(&events, "acme").len() * 2, events.len());
    // `status` shows what failed.
    assert!(status_row(&h, &cfg, "nowhere").contains("region discovery for nobody@example.com"));
    assert!(status_row(&h, &cfg, "broken").contains("missing.wasm"));
}

#[test]
fn run_and_reload_go_on_beside_tenants_whose_discovery_or_component_fails() {
    let h = Harness::demo();
    let url = h.server.base_url();
    let first =
        good_tenant(&h, "acme", "") + &discover_tenant("nowhere", "nobody@example.com", &url);
    let cfg = h.write_config(&first);
    let log = h.dir.path().join("run.log");
    let mut child = h.spawn_run(&cfg, std::fs::File::create(&log).unwrap());
    let wait_for = |what: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !what() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            what(),
            "timed out; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    let urls = h.server.records(LogType::Url).len();
    let delivered = |tenant: &str| events_of(&h.events(), tenant).len();
    wait_for(&|| delivered("acme") == urls);
    // The failing discovery is retried with backoff inside the running process.
    wait_for(&|| h.count("/api/login/discover-authentication", 200) >= 2);
    // A reload adding a good tenant and one whose component file is missing is not rejected.
    let more =
        good_tenant(&h, "beta", "") + &good_tenant(&h, "broken", "component = \"missing.wasm\"");
    h.write_config(&format!("{first}{more}"));
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for(&|| delivered("beta") == urls);
    wait_for(&|| status_row(&h, &cfg, "broken").contains("missing.wasm"));
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("configuration reload failed"), "{text}");
    assert!(
        text.contains("tenant nowhere: region discovery for nobody@example.com")
            && text.contains("tenant broken: its component cannot be loaded"),
        "{text}"
    );
    assert!(
        !text.contains("stopping tenant"),
        "acme must not be restarted: {text}"
    );
    let events = h.events();
    for tenant in ["acme", "beta"] {
        assert_exactly_once(&events_of(&events, tenant), &h.server, &["url"]);
    }
    assert_eq!(events.len(), 2 * urls, "nothing from nowhere or broken");
    assert!(status_row(&h, &cfg, "nowhere").contains("region discovery for nobody@example.com"));
}

#[test]
fn check_reports_a_tenant_component_that_does_not_load() {
    let h = Harness::demo();
    std::fs::write(h.dir.path().join("garbage.wasm"), b"not a component").unwrap();
    let tenants = good_tenant(&h, "acme", "")
        + &good_tenant(&h, "gone", "component = \"missing.wasm\"")
        + &good_tenant(&h, "junk", "component = \"garbage.wasm\"");
    let cfg = h.write_config(&tenants);
    for online in [false, true] {
        let mut args = vec!["check", "--config", cfg.to_str().unwrap()];
        if online {
            args.push("--online");
        }
        let out = h.command(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("has 2 problem(s)"), "{stderr}");
        assert!(
            stderr.contains("- tenant[1].component: cannot read component")
                && stderr.contains("missing.wasm"),
            "{stderr}"
        );
        assert!(
            stderr.contains("- tenant[2].component: component")
                && stderr.contains("garbage.wasm: the component does not load"),
            "{stderr}"
        );
    }
}

/// `check --online` gives a tenant that cannot even be instantiated a row of its own, and
/// still probes the others.
#[test]
fn probe_all_turns_a_tenant_that_cannot_start_into_its_row() {
    let h = Harness::demo();
    // In this process, not the binary's: the access key is given literally.
    let tenants = (good_tenant(&h, "acme", "") + &good_tenant(&h, "unloaded", "")).replace(
        "{ env = \"E2E_ACCESS_KEY\" }",
        &format!("\"{}\"", Credential::demo().access_key),
    );
    let cfg = h.write_config(&tenants);
    let mut config = mimecast_host::config::FileConfig::load(&cfg)
        .unwrap()
        .validate(h.dir.path())
        .unwrap();
    // Its build was never loaded (`check` loads it first): instantiation fails.
    config.tenants[1].component = Some(h.dir.path().join("never-loaded.wasm"));
    let options = mimecast_host::runtime::RuntimeOptions {
        cache_dir: Some(common::shared_cache_dir()),
        ..Default::default()
    };
    let runtime =
        mimecast_host::runtime::Runtime::new(mimecast_host::runtime::BUNDLED_COMPONENT, &options)
            .unwrap();
    let rows = h._rt.block_on(mimecast_host::diagnose::probe_all(
        &runtime,
        &config.tenants,
    ));
    let table = mimecast_host::diagnose::table(&rows);
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows[0].is_ok() && rows[0].tenant == "acme", "{table}");
    assert_eq!(
        (rows[1].tenant.as_str(), rows[1].log_type.as_str()),
        ("unloaded", "-")
    );
    let problem = rows[1].problem.as_deref().unwrap_or_default();
    assert!(
        problem.contains("never-loaded.wasm") && problem.contains("not loaded"),
        "{table}"
    );
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
        .output()
        .unwrap();
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
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"acne\"") && stderr.contains("acme"),
        "{stderr}"
    );
}
