//! Hostile guests: components that loop forever, sleep in a host call, allocate without bound,
//! call a host they were not given, return malformed batches or another tenant's events, or
//! trap, each run as a tenant beside a well-behaved one in one host. Each must be stopped with an error naming its limit and tenant, while the
//! well-behaved tenant delivers every record exactly once.

#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_exactly_once, hostile_component, Harness, OutputWithin};
use mimecast_mock::{Credential, MockConfig};

fn hostile_tenant(h: &Harness, mode: &str, component: &std::path::Path) -> String {
    let c = Credential::demo();
    // The modes that forge mapped documents run with that schema.
    let schema = match mode {
        "impostor-ocsf" => "ocsf",
        "impostor-ecs" | "raw-in-ecs" => "ecs",
        _ => "raw",
    };
    format!(
        "[[tenant]]\nid = \"{mode}\"\nbase_url = \"{url}\"\napp_id = \"{}\"\napp_key = \"{}\"\n\
         access_key = \"{}\"\nsecret_key = \"{}\"\nlog_types = [\"url\"]\n\
         component = \"{}\"\nrequest_timeout = \"1s\"\nschema = \"{schema}\"\n\
         [tenant.limits]\npoll_timeout = \"6s\"\nmemory_mib = 32\n\n",
        c.app_id,
        c.app_key,
        c.access_key,
        c.secret_key,
        component.display(),
        url = h.server.base_url(),
    )
}

#[test]
fn hostile_guests_are_contained_and_neighbours_deliver_exactly_once() {
    let component = hostile_component();
    let h = Harness::start(MockConfig::demo(chrono::Utc::now()));
    // The well-behaved tenant (the real component), then one tenant per misbehaviour.
    h.config("");
    let good = std::fs::read_to_string(h.dir.path().join("config.toml")).unwrap();
    let good = &good[good.find("[[tenant]]").unwrap()..];
    let mut tenants = good.to_string();
    for mode in [
        "loop",
        "alloc",
        "disallowed-host",
        "malformed",
        "impostor",
        "impostor-ecs",
        "impostor-ocsf",
        "raw-in-ecs",
        "trap",
        "flood-cache",
    ] {
        tenants.push_str(&hostile_tenant(&h, mode, component));
    }
    let cfg = h.write_config(&tenants);
    let out = h.run_once(&cfg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "hostile tenants must make --once fail"
    );
    let line = |tenant: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with(&format!("{tenant}/url: FAILED")))
            .unwrap_or_else(|| panic!("no failure line for {tenant}:\n{stderr}"))
            .to_string()
    };
    assert!(
        line("loop").contains("poll deadline of 6s (limits.poll_timeout)"),
        "{stderr}"
    );
    assert!(
        line("alloc").contains("more than 32 MiB of memory (limits.memory_mib)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("outbound request denied by the tenant's allowlist"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tenant=disallowed-host target=http://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(
        line("disallowed-host").contains("request failed"),
        "{stderr}"
    );
    assert!(line("malformed").contains("malformed batch"), "{stderr}");
    assert!(
        line("impostor").contains(
            "malformed batch (event 0 of the batch has tenant \"acme\" instead of \"impostor\")"
        ),
        "{stderr}"
    );
    // A mapped shape is owned where that shape says: forged documents and events of another
    // shape are refused as well.
    assert!(
        line("impostor-ecs").contains("has tenant \"acme\" instead of \"impostor-ecs\""),
        "{stderr}"
    );
    assert!(
        line("impostor-ocsf").contains("has tenant \"acme\" instead of \"impostor-ocsf\""),
        "{stderr}"
    );
    assert!(
        line("raw-in-ecs").contains(
            "has the key \"log_type\", which names an owner the way only another output shape"
        ),
        "{stderr}"
    );
    assert!(line("trap").contains("trapped"), "{stderr}");
    // The panic's message, which the guest wrote to its stderr, is in the error.
    assert!(
        line("trap").contains("hostile component: trap in the middle of poll"),
        "{stderr}"
    );
    // 1 KiB values fit, 1 MiB ones do not, and no tenant gets more than 8 names; the refusals
    // are logged once per instance, not 1992 times.
    assert!(
        line("flood-cache").contains("the host kept 8 of 2000 values"),
        "{stderr}"
    );
    let refusals = stderr.matches("session-cache: not stored").count();
    assert!((1..=5).contains(&refusals), "{refusals} refusal lines");
    // The good tenant is untouched: every record once, and nothing from the hostile ones.
    let events = h.events();
    assert!(
        events.iter().all(|e| e["tenant"] == "acme"),
        "a hostile event reached the sink"
    );
    assert_exactly_once(&events, &h.server, &["url", "impersonation", "attachment"]);
}

/// Runs `mcsource run --once` and fails the test if it has not ended within `limit` (a guest
/// that blocks in a host call would otherwise hang the test for the guest's whole sleep).
fn run_once_within(
    h: &Harness,
    cfg: &std::path::Path,
    limit: std::time::Duration,
) -> (bool, String) {
    let log = h.dir.path().join("run.log");
    let mut child = h
        .command(&["run", "--once", "--config", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "mcsource still running after {limit:?}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    (status.success(), std::fs::read_to_string(&log).unwrap())
}

#[test]
fn a_guest_sleeping_in_a_host_call_is_stopped_at_its_deadline() {
    let component = hostile_component();
    let h = Harness::start(MockConfig::demo(chrono::Utc::now()));
    h.config("");
    let good = std::fs::read_to_string(h.dir.path().join("config.toml")).unwrap();
    let good = &good[good.find("[[tenant]]").unwrap()..];
    let tenants = format!("{good}{}", hostile_tenant(&h, "sleep", component));
    let cfg = h.write_config(&tenants);
    // The guest sleeps for an hour; its deadline is 6 s.
    let (success, stderr) = run_once_within(&h, &cfg, std::time::Duration::from_secs(60));
    assert!(!success, "the sleeping tenant must make --once fail");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("sleep/url: FAILED"))
        .unwrap_or_else(|| panic!("no failure line for the sleeping tenant:\n{stderr}"));
    assert!(
        line.contains(
            "tenant sleep: the component ran past its poll deadline of 6s (limits.poll_timeout)"
        ),
        "{line}"
    );
    // The neighbour delivered everything, exactly once.
    let events = h.events();
    assert!(events.iter().all(|e| e["tenant"] == "acme"));
    assert_exactly_once(&events, &h.server, &["url", "impersonation", "attachment"]);
}

#[test]
fn check_and_check_online_run_each_tenant_with_its_own_component() {
    let component = hostile_component();
    let h = Harness::start(MockConfig::demo(chrono::Utc::now()));
    // The bundled component refuses this filter value and cannot reach this host; the tenant's
    // own build accepts any configuration and answers `probe` without a request, so `check`
    // passes only if it really uses that build.
    let tenant = hostile_tenant(&h, "own-build", component)
        .replace(&h.server.base_url(), "http://127.0.0.1:9")
        + "[tenant.filters.attachment]\nresult = \"clean\"\n";
    let cfg = h.write_config(&tenant);
    let out = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .output_within();
    common::assert_success(&out);
    let out = h
        .command(&["check", "--online", "--config", cfg.to_str().unwrap()])
        .output_within();
    common::assert_success(&out);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().eq(["own-build", "url", "OK"])),
        "{table}"
    );
}

/// A guest that spins holds no tokio worker beyond one epoch tick: with the worker pool limited
/// to one thread (a pod with a CPU quota of 1), a spinning tenant whose deadline is 20 s must not
/// keep the well-behaved tenant (deadline 6 s) from finishing its polls well within its own
/// deadline. Before guests yielded to the executor, the neighbour's polls ran past their deadline
/// "while waiting in a host call" once the spinner was stopped, and delivered nothing.
#[test]
fn a_spinning_guest_does_not_starve_its_neighbours_on_one_worker_thread() {
    let component = hostile_component();
    let h = Harness::start(MockConfig::demo(chrono::Utc::now()));
    h.config("request_timeout = \"1s\"\n[tenant.limits]\npoll_timeout = \"6s\"\n");
    let good = std::fs::read_to_string(h.dir.path().join("config.toml")).unwrap();
    let good = &good[good.find("[[tenant]]").unwrap()..];
    let spinner = hostile_tenant(&h, "loop", component)
        .replace("poll_timeout = \"6s\"", "poll_timeout = \"20s\"");
    let cfg = h.write_config(&format!("{spinner}{good}"));
    let out = h
        .command(&["run", "--once", "--config", cfg.to_str().unwrap()])
        .env("TOKIO_WORKER_THREADS", "1")
        .output_within();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the spinning tenant must fail:\n{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("loop/url: FAILED") && l.contains("poll deadline of 20s")),
        "{stderr}"
    );
    assert!(
        !stderr
            .lines()
            .any(|l| l.starts_with("acme/") && l.contains("FAILED")),
        "the neighbour was starved:\n{stderr}"
    );
    let events = h.events();
    assert!(events.iter().all(|e| e["tenant"] == "acme"));
    assert_exactly_once(&events, &h.server, &["url", "impersonation", "attachment"]);
}

/// A component that hands the host its own credentials (as a server echoing the posted token
/// request would make it do: raw, form-encoded, JSON-escaped, beside a bearer token) leaks none
/// of them: not into the log, the `status` table, nor the state database.
#[test]
fn credentials_echoed_by_a_component_are_scrubbed_from_every_output() {
    const SECRET: &str = "Sup3r+Secret/Key==&Q xyz";
    let component = hostile_component();
    let h = Harness::start(MockConfig::demo(chrono::Utc::now()));
    let tenant = format!(
        "[[tenant]]\nid = \"echo-secret\"\nbase_url = \"{}\"\nclient_id = \"hostile-client-0001\"\n\
         client_secret = \"{SECRET}\"\nlog_types = [\"url\"]\ncomponent = \"{}\"\n",
        h.server.base_url(),
        component.display()
    );
    let cfg = h.write_config(&tenant);
    let out = h.run_once(&cfg);
    assert!(!out.status.success());
    let status = h
        .command(&["status", "--config", cfg.to_str().unwrap()])
        .output_within();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid_client"), "{stderr}");
    let mut outputs = vec![
        ("run stderr".to_string(), out.stderr.clone()),
        ("status".to_string(), status.stdout.clone()),
    ];
    for entry in std::fs::read_dir(h.dir.path().join("state")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            outputs.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    for (name, bytes) in outputs {
        let text = String::from_utf8_lossy(&bytes);
        for leak in [
            "Sup3r",
            "Secret%2FKey",
            "leaked-token-value",
            "hostile-client-0001",
        ] {
            assert!(!text.contains(leak), "{leak} leaked into {name}:\n{text}");
        }
    }
}
