//! Faults the API serves (5xx, resets, 429s, slow and oversized answers): retried from the same
//! page, nothing lost or repeated, no tenant held back by another.

use super::*;

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
