//! The process: `kill -9` and restart, SIGTERM, SIGHUP reloads, a closed stdout, a second run on
//! one state_dir, a sink that cannot be cut back.

use super::*;

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
        .output_within();
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
