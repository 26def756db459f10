//! Tenants whose region discovery or own component fails hold back no other, in `run`, reloads,
//! `check` and `check --online`.

use super::*;

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
        .output_within();
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
        let out = h.command(&args).output_within();
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
    let rows = h._rt.block_on(mimecast_host::runner::diagnose::probe_all(
        &runtime,
        &config.tenants,
    ));
    let table = mimecast_host::runner::diagnose::table(&rows);
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
