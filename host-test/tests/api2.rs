//! End-to-end for issue 5: API 2.0 (OAuth) collection, a token expiring mid-window, region
//! discovery and `check --online` diagnostics. The real `mcsource` binary with the bundled
//! component runs against the mock Mimecast on loopback; every test starts its own mock.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::Utc;
use common::{assert_success, Harness, OutputWithin};
use mimecast_mock::{Credential, LogType, MockConfig, OAuthClient};

const ALL: [&str; 3] = ["url", "impersonation", "attachment"];

fn assert_exactly_once(events: &[serde_json::Value], server: &mimecast_mock::MockServer) {
    common::assert_exactly_once(events, server, &ALL);
}

#[test]
fn api2_collects_all_three_types_exactly_once() {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let cfg = h.write_config(&h.api2_tenant("api = \"2.0\""));
    assert_success(&h.run_once(&cfg));
    let events = h.events();
    assert_eq!(events.len(), 900);
    assert_exactly_once(&events, &h.server);
    let ledger = h.server.ledger();
    let client = OAuthClient::demo().client_id;
    assert!(ledger
        .requests()
        .iter()
        .filter(|r| r.log_type.is_some())
        .all(|r| r.status == 200 && r.access_key.as_deref() == Some(client.as_str())));
    // One instance, one token for the whole run (it lives 1799 s).
    assert_eq!(h.count("/oauth/token", 200), 1);
}

#[test]
fn api2_tokens_and_secrets_never_reach_logs_state_or_events() {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let cfg = h.write_config(&h.api2_tenant("page_size = 50"));
    let out = h
        .command(&["run", "--once", "--config", cfg.to_str().unwrap()])
        .env("RUST_LOG", "trace")
        .output_within();
    assert_success(&out);
    let tokens = h.server.issued_tokens();
    assert!(!tokens.is_empty());
    let mut places = vec![
        ("stdout", out.stdout.clone()),
        ("stderr", out.stderr.clone()),
        ("events", std::fs::read(h.sink()).unwrap()),
    ];
    for entry in std::fs::read_dir(h.dir.path().join("state")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            places.push(("state", std::fs::read(&path).unwrap()));
        }
    }
    let secret = OAuthClient::demo().client_secret;
    for (place, bytes) in &places {
        let text = String::from_utf8_lossy(bytes);
        for token in &tokens {
            assert!(
                !text.contains(token.as_str()),
                "a bearer token is in {place}"
            );
        }
        assert!(!text.contains(&secret), "the client secret is in {place}");
    }
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TRACE")
            || String::from_utf8_lossy(&out.stderr).contains("DEBUG"),
        "the run did not log at the most verbose level"
    );
}

#[test]
fn api2_token_outlives_the_instances_of_a_tenant() {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let cfg = h.write_config(&h.api2_tenant("page_size = 20"));
    assert_success(&h.run_once(&cfg));
    let events = h.events();
    assert_eq!(events.len(), 900);
    assert_exactly_once(&events, &h.server);
    // 45 pages and more, so the runner used at least three instances one after the other
    // (sessions of at most 20 polls); the token, valid 1799 s, came from the host's session
    // cache for all but the first.
    let log_requests = h
        .server
        .ledger()
        .requests()
        .iter()
        .filter(|r| r.log_type.is_some())
        .count();
    assert!(log_requests > 40, "{log_requests} log requests");
    assert_eq!(h.count("/oauth/token", 200), 1);
}

#[test]
fn api2_token_expiring_mid_window_loses_and_repeats_nothing() {
    let mut config = MockConfig::demo(Utc::now());
    config.token_max_uses = Some(7);
    let h = Harness::start(config);
    let cfg = h.write_config(&h.api2_tenant("page_size = 20"));
    assert_success(&h.run_once(&cfg));
    let events = h.events();
    assert_eq!(events.len(), 900);
    assert_exactly_once(&events, &h.server);
    let ledger = h.server.ledger();
    let expired = ledger
        .requests()
        .iter()
        .filter(|r| r.fail_code.as_deref() == Some("token_expired"))
        .count();
    let tokens = h.count("/oauth/token", 200);
    // 45 pages at 7 uses a token: tokens expired mid-window several times, and every rejected
    // token was replaced (also in the host's session cache) and its page repeated.
    assert!(expired >= 3, "{expired} token_expired answers");
    assert!(tokens > expired, "{tokens} tokens for {expired} expiries");
}

#[test]
fn api2_wrong_secret_and_both_credential_sets_are_explained() {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let cfg = h.write_config(&h.api2_tenant("log_types = [\"url\"]"));
    let out = h
        .command(&["run", "--once", "--config", cfg.to_str().unwrap()])
        .env("E2E_CLIENT_SECRET", "not-the-secret")
        .output_within();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("client_secret") && stderr.contains("invalid_client"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not-the-secret"),
        "secret leaked: {stderr}"
    );
    assert!(h.events().is_empty());

    let both = h.write_config(
        &h.api2_tenant("app_id = \"a\"\napp_key = \"b\"\naccess_key = \"c\"\nsecret_key = \"d\""),
    );
    let out = h
        .command(&["check", "--config", both.to_str().unwrap()])
        .output_within();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("both API 1.0 keys and API 2.0"), "{stderr}");
}

#[test]
fn an_oauth_error_echoing_the_posted_form_leaks_no_secret() {
    let mut config = MockConfig::demo(Utc::now());
    config.oauth_echo_form = true;
    let h = Harness::start(config);
    let cfg = h.write_config(&h.api2_tenant("log_types = [\"url\"]"));
    // A wrong secret with characters a form body escapes: the gateway echoes it encoded.
    let secret = "wr0ng s3cret/+=&\"x";
    let out = h
        .command(&["run", "--once", "--config", cfg.to_str().unwrap()])
        .env("E2E_CLIENT_SECRET", secret)
        .output_within();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    // The echo did reach the collector, and it named the problem.
    assert!(
        stderr.contains("invalid_client") && stderr.contains("the request was"),
        "{stderr}"
    );
    let status = h
        .command(&["status", "--config", cfg.to_str().unwrap()])
        .output_within();
    let status = String::from_utf8_lossy(&status.stdout).to_string()
        + &String::from_utf8_lossy(&status.stderr);
    assert!(status.contains("invalid_client"), "{status}");
    for (place, text) in [("stderr", &stderr), ("status", &status)] {
        for form in [
            secret,
            "wr0ng+s3cret%2F%2B%3D%26%22x",
            "wr0ng%20s3cret",
            "s3cret/+=&\\\"x",
            "s3cret",
        ] {
            assert!(!text.contains(form), "{form:?} is in {place}: {text}");
        }
        assert!(text.contains("[redacted]"), "{place}: {text}");
    }
}

#[test]
fn a_huge_oauth_token_is_refused_naming_the_bound_without_a_trap() {
    let mut config = MockConfig::demo(Utc::now());
    config.oauth_token_bytes = Some(300 * 1024);
    let h = Harness::start(config);
    let cfg = h.write_config(&h.api2_tenant("log_types = [\"url\"]"));
    let out = h.run_once(&cfg);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("access_token of 307200 bytes")
            && stderr.contains("at most 8192 bytes (8 KiB)"),
        "{stderr}"
    );
    assert!(!stderr.contains("trapped"), "{stderr}");
    assert!(h.events().is_empty());
}

#[test]
fn discover_prints_the_region_and_base_url_discover_collects() {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let c = Credential::demo();
    let url = h.server.base_url();
    let discover = |email: &str| {
        h.command(&[
            "discover",
            "--email",
            email,
            "--app-id",
            &c.app_id,
            "--discover-url",
            &url,
        ])
        .output_within()
    };
    let out = discover("svc@example.com");
    assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), url);
    let out = discover("nobody@example.com");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nobody@example.com") && stderr.contains("no region"),
        "{stderr}"
    );

    // `base_url = "discover"`: the host asks the discovery host, then collects from the region.
    let cfg = h.write_config(&format!(
        "[[tenant]]\nid = \"acme\"\nbase_url = \"discover\"\ndiscover_email = \"svc@example.com\"\n\
         discover_url = \"{url}\"\napp_id = \"{}\"\napp_key = \"{}\"\naccess_key = \"{}\"\n\
         secret_key = \"{}\"\nlookback = \"3h\"\nlog_types = [\"attachment\"]\n",
        c.app_id, c.app_key, c.access_key, c.secret_key
    ));
    assert_success(&h.run_once(&cfg));
    assert_eq!(h.events().len(), 300);
    // Two `discover` commands and one run.
    assert_eq!(h.count("/api/login/discover-authentication", 200), 3);
}

/// An API 1.0 tenant table with the demo application and the given binding.
fn api1_tenant(id: &str, base_url: &str, c: &Credential, log_types: &str) -> String {
    format!(
        "[[tenant]]\nid = \"{id}\"\nbase_url = \"{base_url}\"\napp_id = \"{}\"\napp_key = \"{}\"\n\
         access_key = \"{}\"\nsecret_key = \"{}\"\nlog_types = {log_types}\n\n",
        c.app_id, c.app_key, c.access_key, c.secret_key
    )
}

/// The RESULT column of `tenant`/`log_type` in the `check --online` table.
fn verdict<'a>(table: &'a str, tenant: &str, log_type: &str) -> &'a str {
    table
        .lines()
        .find(|l| {
            let mut cols = l.split_whitespace();
            cols.next() == Some(tenant) && cols.next() == Some(log_type)
        })
        .unwrap_or_else(|| panic!("no row {tenant}/{log_type} in\n{table}"))
}

#[test]
fn check_online_names_the_fix_for_each_setup_error() {
    let demo = Credential::demo();
    let binding = |key: &str| Credential {
        access_key: key.into(),
        ..Credential::demo()
    };
    let expired = Credential {
        expired: true,
        ..binding("expired-binding")
    };
    let url_only = Credential {
        permissions: vec![LogType::Url],
        ..binding("url-only-binding")
    };
    let elsewhere = Credential {
        other_region: true,
        ..binding("other-region-binding")
    };
    let fenced = Credential {
        ip_restricted: true,
        ..binding("ip-restricted-binding")
    };
    let mut config = MockConfig::demo(Utc::now());
    config.credentials = vec![
        demo.clone(),
        expired.clone(),
        url_only.clone(),
        elsewhere.clone(),
        fenced.clone(),
    ];
    let h = Harness::start(config);
    let url = h.server.base_url();
    let url_type = "[\"url\"]";
    let unknown_app = Credential {
        app_id: "not-a-registered-app".into(),
        ..demo.clone()
    };
    let wrong_secret = Credential {
        secret_key: "d3JvbmctYnV0LXZhbGlkLWJhc2U2NA==".into(),
        ..demo.clone()
    };
    let mut tenants = String::new();
    tenants += &api1_tenant(
        "ok",
        &url,
        &demo,
        "[\"url\", \"impersonation\", \"attachment\"]",
    );
    tenants += &api1_tenant("unknown-app", &url, &unknown_app, url_type);
    tenants += &api1_tenant("wrong-secret", &url, &wrong_secret, url_type);
    tenants += &api1_tenant("expired", &url, &expired, url_type);
    tenants += &api1_tenant("no-perm", &url, &url_only, "[\"url\", \"impersonation\"]");
    tenants += &api1_tenant("region", &url, &elsewhere, url_type);
    tenants += &api1_tenant("ip", &url, &fenced, url_type);
    tenants += &api1_tenant("dead-host", "http://127.0.0.1:9", &demo, url_type);
    tenants += &format!(
        "[[tenant]]\nid = \"api2-ok\"\nbase_url = \"{url}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n\n",
        OAuthClient::demo().client_id,
        OAuthClient::demo().client_secret
    );
    tenants += &format!(
        "[[tenant]]\nid = \"api2-bad\"\nbase_url = \"{url}\"\nclient_id = \"{}\"\nclient_secret = \"wrong\"\nlog_types = {url_type}\n",
        OAuthClient::demo().client_id
    );
    let cfg = h.write_config(&tenants);
    let out = h
        .command(&["check", "--online", "--config", cfg.to_str().unwrap()])
        .output_within();
    assert!(!out.status.success());
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("check(s) failed"), "{stderr}");
    for t in ALL {
        assert_eq!(
            verdict(&table, "ok", t).split_whitespace().last(),
            Some("OK")
        );
        assert_eq!(
            verdict(&table, "api2-ok", t).split_whitespace().last(),
            Some("OK")
        );
    }
    let expect = [
        ("unknown-app", "url", "check app_id and app_key"),
        ("wrong-secret", "url", "secret_key"),
        ("expired", "url", "\"Never Expire\""),
        (
            "no-perm",
            "impersonation",
            "Monitoring | Impersonation Protection | Read",
        ),
        ("region", "url", "another Mimecast region"),
        ("ip", "url", "IP range restriction"),
        ("dead-host", "url", "check base_url"),
        ("api2-bad", "url", "client_secret"),
    ];
    for (tenant, log_type, fix) in expect {
        let row = verdict(&table, tenant, log_type);
        assert!(
            row.contains("FIX:") && row.contains(fix),
            "{tenant}: want {fix:?} in {row}"
        );
    }
    assert!(verdict(&table, "no-perm", "url").ends_with("OK"));
    assert!(!table.contains("wrong\""), "a secret reached the table");
}

#[test]
fn check_online_reports_clock_skew() {
    let mut config = MockConfig::demo(Utc::now());
    // No tolerance: the signed whole-second date is always behind the mock's clock.
    config.max_skew = std::time::Duration::ZERO;
    let h = Harness::start(config);
    let cfg = h.write_config(&api1_tenant(
        "skewed",
        &h.server.base_url(),
        &Credential::demo(),
        "[\"url\"]",
    ));
    let out = h
        .command(&["check", "--online", "--config", cfg.to_str().unwrap()])
        .output_within();
    assert!(!out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let row = verdict(&table, "skewed", "url");
    assert!(row.contains("clock") && row.contains("NTP"), "{row}");
}
