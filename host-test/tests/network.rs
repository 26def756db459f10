//! Outbound network end to end: the real `mcsource` binary reaches the mock Mimecast over TLS
//! (trusting its certificate through `ca_file` or `SSL_CERT_FILE`, refusing it otherwise),
//! through an HTTP CONNECT proxy written here (which logs every tunnel and can demand
//! credentials), and ignores proxies from the environment for loopback hosts.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::Utc;
use common::{
    assert_connections_reused, assert_exactly_once, assert_success, Harness, OutputWithin,
};
use mimecast_mock::{Fault, LogType, MockConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A CONNECT proxy on loopback that tunnels only to `allowed` (by address or as `localhost`).
struct TestProxy {
    addr: SocketAddr,
    /// Targets of the tunnels opened, in order.
    tunnels: Arc<Mutex<Vec<String>>>,
}

impl TestProxy {
    /// Starts on `h`'s runtime; with `credentials` (`user:password`), a CONNECT without them
    /// is answered 407.
    fn start(h: &Harness, allowed: SocketAddr, credentials: Option<&str>) -> TestProxy {
        let expected = credentials.map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(c)
            )
        });
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let listener = h._rt.block_on(TcpListener::bind(("127.0.0.1", 0))).unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::clone(&tunnels);
        h._rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(tunnel(client, allowed, expected.clone(), Arc::clone(&log)));
            }
        });
        TestProxy { addr, tunnels }
    }

    fn tunnels(&self) -> Vec<String> {
        self.tunnels.lock().unwrap().clone()
    }
}

/// Reads one CONNECT request and, if it is allowed and authorised, relays bytes both ways.
async fn tunnel(
    mut client: TcpStream,
    allowed: SocketAddr,
    expected_auth: Option<String>,
    log: Arc<Mutex<Vec<String>>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await.unwrap_or(0) == 0 || head.len() > 8192 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("")
        .to_string();
    let auth = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_string())
    });
    let answer: &[u8] = if expected_auth.is_some() && auth != expected_auth {
        b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 0\r\n\r\n"
    } else if target != allowed.to_string() && target != format!("localhost:{}", allowed.port()) {
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
    } else {
        b"HTTP/1.1 200 Connection established\r\n\r\n"
    };
    if client.write_all(answer).await.is_err() || !answer.starts_with(b"HTTP/1.1 200") {
        return;
    }
    log.lock().unwrap().push(target);
    let Ok(mut upstream) = TcpStream::connect(allowed).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// Puts top-level `keys` in front of the config written by the harness.
fn with_top_level(config: &Path, keys: &str) -> PathBuf {
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(config, format!("{keys}\n{text}")).unwrap();
    config.to_path_buf()
}

/// `check --online` on `config`, which must fail, with no `SSL_CERT_FILE` or `SSL_CERT_DIR`
/// from the environment; its stdout and stderr together.
fn failing_online_check(h: &Harness, config: &Path) -> String {
    let out = h
        .command(&["check", "--online", "--config", config.to_str().unwrap()])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .output_within();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    text
}

/// The mock over HTTPS, its certificate written to `ca.pem` beside the config.
fn tls_harness() -> Harness {
    let h = Harness::start_tls(MockConfig::demo(Utc::now()));
    std::fs::write(
        h.dir.path().join("ca.pem"),
        h.server.certificate_pem().unwrap(),
    )
    .unwrap();
    h
}

#[test]
fn tls_to_a_server_whose_ca_is_in_ca_file_delivers_exactly_once() {
    let h = tls_harness();
    assert!(h.server.base_url().starts_with("https://localhost:"));
    let config = with_top_level(&h.config(""), "ca_file = \"ca.pem\"");
    assert_success(&h.run_once(&config));
    assert_exactly_once(
        &h.events(),
        &h.server,
        &["url", "impersonation", "attachment"],
    );
    assert_connections_reused(&h.server);
}

#[test]
fn ssl_cert_file_in_the_environment_is_trusted_too() {
    let h = tls_harness();
    let config = h.config("log_types = [\"impersonation\"]");
    let out = h
        .command(&["run", "--once", "--config", config.to_str().unwrap()])
        .env("SSL_CERT_FILE", h.dir.path().join("ca.pem"))
        .output_within();
    assert_success(&out);
    assert_exactly_once(&h.events(), &h.server, &["impersonation"]);
}

#[test]
fn an_untrusted_certificate_is_named_and_nothing_is_delivered() {
    let h = tls_harness();
    let config = h.config("log_types = [\"url\"]");
    let text = failing_online_check(&h, &config);
    assert!(text.contains("TLS certificate is not trusted"), "{text}");
    assert_eq!(h.server.ledger().requests().len(), 0, "{text}");
}

#[test]
fn requests_go_through_the_configured_proxy_with_its_credentials() {
    // TLS to the mock inside the CONNECT tunnel, as to Mimecast through a corporate proxy.
    let h = tls_harness();
    let proxy = TestProxy::start(&h, h.server.addr(), Some("collector:s3cret"));
    let config = with_top_level(
        &h.config(""),
        &format!(
            "proxy = \"http://collector:s3cret@{}\"\nca_file = \"ca.pem\"",
            proxy.addr
        ),
    );
    let out = h.run_once(&config);
    assert_success(&out);
    assert_exactly_once(
        &h.events(),
        &h.server,
        &["url", "impersonation", "attachment"],
    );
    let tunnels = proxy.tunnels();
    assert!(!tunnels.is_empty(), "nothing went through the proxy");
    // Every connection the mock saw came through a tunnel, and tunnels are reused.
    assert_eq!(tunnels.len() as u64, h.server.connections_accepted());
    assert_connections_reused(&h.server);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[test]
fn a_proxy_that_wants_credentials_is_named_with_the_fix() {
    let h = Harness::demo();
    let proxy = TestProxy::start(&h, h.server.addr(), Some("collector:s3cret"));
    let config = with_top_level(
        &h.config("log_types = [\"url\"]"),
        &format!("proxy = \"http://{}\"", proxy.addr),
    );
    let text = failing_online_check(&h, &config);
    assert!(
        text.contains(&format!("proxy http://{}", proxy.addr)),
        "{text}"
    );
    assert!(text.contains("407"), "{text}");
    assert!(text.contains("http://user:password@host:port"), "{text}");
    assert_eq!(h.server.connections_accepted(), 0);
}

#[test]
fn a_proxy_from_the_environment_is_not_used_for_loopback_hosts() {
    let h = Harness::demo();
    // Nothing listens on port 9 of loopback: a request sent to this proxy would fail.
    let out = h
        .command(&[
            "run",
            "--once",
            "--config",
            h.config("log_types = [\"attachment\"]").to_str().unwrap(),
        ])
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .output_within();
    assert_success(&out);
    assert_exactly_once(&h.events(), &h.server, &["attachment"]);
}

/// `run --once` on `config`, which must succeed; its stderr and how long it took.
fn successful_run(h: &Harness, config: &Path) -> (String, Duration) {
    let started = Instant::now();
    let out = h.run_once(config);
    let took = started.elapsed();
    assert_success(&out);
    (String::from_utf8_lossy(&out.stderr).to_string(), took)
}

#[test]
fn a_trickling_answer_is_cut_at_request_timeout_naming_the_body_and_read_again() {
    let h = Harness::demo();
    // The head at once, then the page one byte every 200 ms: no single wait is long, but the
    // whole answer would take hours.
    h.server
        .push_fault(Fault::TrickleBody(Duration::from_millis(200)));
    let config = h.config(
        "log_types = [\"url\"]\nrequest_timeout = \"2s\"\n[tenant.limits]\npoll_timeout = \"30s\"",
    );
    let (stderr, took) = successful_run(&h, &config);
    assert!(
        stderr.contains("stalled while its body was read"),
        "{stderr}"
    );
    assert!(
        stderr.contains("timed out reading the answer's body (request_timeout)"),
        "{stderr}"
    );
    assert!(!stderr.contains("poll deadline"), "{stderr}");
    assert!(!stderr.contains("reset by the server"), "{stderr}");
    // Cut after about 2 s, retried after about 1 s, not after the 30 s poll deadline.
    assert!(took < Duration::from_secs(20), "took {took:?}\n{stderr}");
    assert_exactly_once(&h.events(), &h.server, &["url"]);
}

#[test]
fn an_endless_body_is_cut_at_max_response_mib_and_read_again() {
    let h = Harness::demo();
    h.server.push_fault(Fault::EndlessBody);
    let (stderr, _) = successful_run(&h, &h.config("log_types = [\"url\"]"));
    assert!(
        stderr.contains("larger than this tenant's limits.max_response_mib"),
        "{stderr}"
    );
    assert!(!stderr.contains("MiB of memory"), "{stderr}");
    assert_exactly_once(&h.events(), &h.server, &["url"]);
}

/// One URL Protect record whose `url` is `bytes` long, ten minutes old.
fn huge_record(bytes: usize) -> serde_json::Value {
    let now = Utc::now();
    let mut record = mimecast_mock::generate_records(
        LogType::Url,
        99,
        now - chrono::TimeDelta::minutes(11),
        now - chrono::TimeDelta::minutes(10),
        1,
    )
    .remove(0);
    record["url"] =
        serde_json::Value::String(format!("https://example.com/{}", "a".repeat(bytes - 20)));
    record
}

/// Runs `mcsource run` on `config` until its log contains `wanted` (at most 60 s); the log.
fn log_until(h: &Harness, config: &Path, wanted: &str) -> String {
    let log = h.dir.path().join("run.log");
    let mut child = h.spawn_run(config, std::fs::File::create(&log).unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut text = String::new();
    while Instant::now() < deadline {
        text.clear();
        std::fs::File::open(&log)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        if text.contains(wanted) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    text
}

#[test]
fn a_record_larger_than_max_response_mib_is_named_as_such_not_as_memory() {
    let h = Harness::demo();
    h.server
        .append(LogType::Url, vec![huge_record(20 * 1024 * 1024)]);
    let config = h.config("log_types = [\"url\"]");
    let log = log_until(&h, &config, "limits.max_response_mib");
    assert!(
        log.contains("larger than this tenant's limits.max_response_mib"),
        "{log}"
    );
    assert!(!log.contains("MiB of memory"), "{log}");
}

#[test]
fn a_record_just_under_max_response_mib_is_delivered_with_the_default_memory() {
    // The default max_response_mib (8) fits in the default memory_mib (64): a page of one
    // record just under it is delivered, not stopped as running out of memory.
    let h = Harness::demo();
    let huge = huge_record(8 * 1024 * 1024 - 8 * 1024);
    h.server.append(LogType::Url, vec![huge.clone()]);
    let config = h.config("log_types = [\"url\"]\npage_size = 1");
    let (stderr, _) = successful_run(&h, &config);
    assert!(!stderr.contains("MiB of memory"), "{stderr}");
    assert!(
        h.events().iter().any(|e| e["record"]["url"] == huge["url"]),
        "the huge record was not delivered"
    );
}

#[test]
fn an_unusable_https_proxy_in_the_environment_is_named_at_start_without_its_password() {
    let h = Harness::demo();
    let out = h
        .command(&[
            "run",
            "--once",
            "--config",
            h.config("log_types = [\"attachment\"]").to_str().unwrap(),
        ])
        .env("HTTPS_PROXY", "http://collector:s3cret@proxy corp:3128")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .output_within();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HTTPS_PROXY=http://proxy corp:3128 is not a valid URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(
        !stderr.contains("(no proxy in the environment)"),
        "{stderr}"
    );
}

#[test]
fn oversized_headers_are_named_as_such_and_the_page_is_read_again() {
    let h = Harness::demo();
    h.server.push_fault(Fault::Status {
        status: 200,
        headers: vec![("X-Padding".into(), "a".repeat(600 * 1024))],
        body: "{}".into(),
    });
    let (stderr, _) = successful_run(&h, &h.config("log_types = [\"url\"]"));
    assert!(stderr.contains("headers are too large"), "{stderr}");
    assert!(!stderr.contains("closed before a complete"), "{stderr}");
    assert_exactly_once(&h.events(), &h.server, &["url"]);
}

#[test]
fn check_and_run_agree_on_a_base_url_with_an_ip_address_in_decimal() {
    let h = Harness::demo();
    let port = h.server.addr().port();
    let config = h.config("log_types = [\"url\"]");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&h.server.base_url(), &format!("http://2130706433:{port}"));
    std::fs::write(&config, text).unwrap();
    let fix = format!("write it as http://127.0.0.1:{port}");
    for args in [&["check"][..], &["run", "--once"][..]] {
        let mut argv = args.to_vec();
        argv.extend(["--config", config.to_str().unwrap()]);
        let out = h.command(&argv).output_within();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{args:?}: {text}");
        assert!(
            text.contains("tenant[0].base_url") && text.contains(&fix),
            "{args:?}: {text}"
        );
    }
    assert_eq!(h.server.ledger().requests().len(), 0);
}
