//! Setup mistakes and API refusals (wrong secret, missing permission, non-retryable errors): a
//! clear message naming the fix, from `run`, `check` and `status`.

use super::*;

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
        .output_within();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tenant[0].interval"), "{stderr}");
    // Host problems are reported first; fix them and the component's checks run.
    let cfg = h.config("page_size = 500\n[tenant.filters.attachment]\nresult = \"cleanish\"");
    let out = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .output_within();
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
        .output_within();
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
        .output_within();
    assert_success(&out);
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
        .output_within();
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
fn a_file_that_cannot_be_read_is_named_once_with_its_cause_once() {
    let h = Harness::demo();
    for args in [
        ["run", "--config", "missing.toml"],
        ["demo", "--component", "missing.wasm"],
    ] {
        let out = h.command(&args).output_within();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.contains(&format!(
                "cannot read {} ",
                if args[0] == "run" {
                    "config"
                } else {
                    "component"
                }
            )),
            "{stderr}"
        );
        // The typed error's cause is in its words and its source: said once, not per layer.
        assert_eq!(
            last.matches("No such file or directory").count(),
            1,
            "{stderr}"
        );
    }
}

/// `--version` names the host, the bundled component and its WIT package, as the sources
/// say, so a bug report tells which guest ran.
#[test]
fn version_names_the_host_the_component_and_the_wit_package() {
    let out = std::process::Command::new(crate::common::BIN)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let wit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/source.wit")).unwrap();
    let package = wit
        .lines()
        .find_map(|l| l.strip_prefix("package "))
        .unwrap()
        .trim_end_matches(';');
    assert!(
        text.starts_with(&format!("mcsource {} ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains(&format!("WIT {package}")), "{text}");
    assert!(text.contains("component mimecast-source 0."), "{text}");
}
