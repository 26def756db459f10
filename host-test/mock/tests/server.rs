//! End-to-end tests: a real server on loopback, spoken to over raw HTTP/1.1.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{exchange, post, raw, signed_headers, walk};
use mimecast_mock::{
    format_api_time, generate_records, Credential, Dataset, Fault, LogType, MockConfig, MockServer,
    PagingEnd,
};
use serde_json::json;

fn window_item(oldest_first: bool) -> serde_json::Value {
    let now = Utc::now();
    json!({
        "from": format_api_time(now - TimeDelta::hours(3)),
        "to": format_api_time(now),
        "oldestFirst": oldest_first,
    })
}

#[tokio::test]
async fn demo_server_serves_every_record_exactly_once() {
    let config = MockConfig::demo(Utc::now());
    let cred = config.credentials[0].clone();
    let server = MockServer::start(config).await.unwrap();
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    for t in LogType::ALL {
        let got = walk(&server.base_url(), &cred, t, &window_item(true), 100).await;
        let all = server.records(t);
        assert_eq!(all.len(), 300);
        assert_eq!(
            got, all,
            "{t}: oldest-first walk must equal the (time-sorted) dataset"
        );
        assert_eq!(server.ledger().served(t), &all[..]);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn newest_first_with_empty_last_page() {
    let now = Utc::now();
    let mut config = MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            5,
            now - TimeDelta::hours(2),
            now - TimeDelta::minutes(2),
            60,
        ),
    );
    config.paging_end = PagingEnd::EmptyPageWithNext;
    let server = MockServer::start(config).await.unwrap();
    let got = walk(
        &server.base_url(),
        &Credential::demo(),
        LogType::Impersonation,
        &window_item(false),
        25,
    )
    .await;
    let mut want = server.records(LogType::Impersonation);
    want.reverse();
    // Reversal differs from a stable newest-first sort only inside same-second groups; compare as sorted sets.
    let key = |v: &serde_json::Value| v.to_string();
    let (mut a, mut b): (Vec<_>, Vec<_>) = (
        got.iter().map(key).collect(),
        want.iter().map(key).collect(),
    );
    assert_eq!(a.len(), 60);
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // 3 full pages, then the empty page that still carries next.
    let pages: Vec<_> = server
        .ledger()
        .requests()
        .iter()
        .map(|r| r.records)
        .collect();
    assert_eq!(pages, vec![25, 25, 10, 0]);
}

#[tokio::test]
async fn wire_level_errors_and_headers() {
    let server = MockServer::start(MockConfig::new(vec![Credential::demo()], Dataset::empty()))
        .await
        .unwrap();
    let base = server.base_url();
    let a = raw(&base, "POST", LogType::Url.path(), &[], b"{}").await;
    assert_eq!(
        (a.status, a.fail_code().as_deref()),
        (400, Some("err_xdk_missing_header"))
    );
    assert!(a.header("X-RateLimit-Limit").is_some() && a.header("X-RateLimit-Reset").is_some());
    let mut wrong = Credential::demo();
    wrong.secret_key = Credential::reference_vector().secret_key;
    let a = post(&base, &wrong, LogType::Url, &json!({})).await;
    assert_eq!(
        (a.status, a.fail_code().as_deref()),
        (401, Some("err_xdk_signature_invalid"))
    );
    let a = raw(
        &base,
        "GET",
        LogType::Url.path(),
        &signed_headers(&Credential::demo(), LogType::Url.path()),
        b"",
    )
    .await;
    assert_eq!(a.status, 405);
    let a = raw(&base, "POST", "/api/login/login", &[], b"{}").await;
    assert_eq!(a.status, 404);
    let a = post(&base, &Credential::demo(), LogType::Url, &json!({})).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    let v = a.json();
    assert_eq!(v["data"][0]["clickLogs"], json!([]));
    assert_eq!(v["meta"]["pagination"]["totalCount"], 0);
    assert!(v["meta"]["pagination"].get("next").is_none());
    let statuses: Vec<u16> = server
        .ledger()
        .requests()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![400, 401, 405, 404, 200]);
}

/// A mock with 30 records per log type in the last hour, from dataset `seed`.
async fn hour_of_records(seed: u64) -> MockServer {
    let now = Utc::now();
    let config = MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            seed,
            now - TimeDelta::hours(1),
            now - TimeDelta::minutes(1),
            30,
        ),
    );
    MockServer::start(config).await.unwrap()
}

#[tokio::test]
async fn faults_over_the_wire() {
    let server = hour_of_records(1).await;
    let (base, c) = (server.base_url(), Credential::demo());
    let body = json!({"data": [window_item(true)]});
    server.push_fault(Fault::TruncatedBody);
    server.push_fault(Fault::Delay(Duration::from_millis(50)));
    server.push_fault(Fault::RateLimited { reset_ms: 60_000 });
    let a = post(&base, &c, LogType::Attachment, &body).await;
    assert_eq!(a.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&a.raw_body).is_err());
    assert_eq!(
        a.header("Content-Length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        a.raw_body.len()
    );
    let started = std::time::Instant::now();
    let a = post(&base, &c, LogType::Attachment, &body).await;
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(
        a.json()["data"][0]["attachmentLogs"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
    let a = post(&base, &c, LogType::Url, &body).await;
    assert_eq!(
        (a.status, a.header("X-RateLimit-Reset")),
        (429, Some("60000"))
    );
    let a = post(&base, &c, LogType::Url, &body).await;
    assert_eq!(a.status, 200);
    assert_eq!(server.ledger().violations(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn connection_resets_over_the_wire() {
    let server = hour_of_records(2).await;
    let (base, c) = (server.base_url(), Credential::demo());
    let body = json!({"data": [window_item(true)]}).to_string();
    let path = LogType::Url.path();
    server.push_fault(Fault::ConnectionReset);
    server.push_fault(Fault::ResetMidBody);

    // Reset before any answer: not one response byte, and an RST rather than a clean close.
    let (got, err) = exchange(
        &base,
        "POST",
        path,
        &signed_headers(&c, path),
        body.as_bytes(),
    )
    .await;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert_eq!(
        err.map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionReset)
    );

    // Reset mid-body: status and headers arrive, then part of the announced body, then the RST.
    let (got, err) = exchange(
        &base,
        "POST",
        path,
        &signed_headers(&c, path),
        body.as_bytes(),
    )
    .await;
    assert_eq!(
        err.map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionReset)
    );
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    let split = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let announced: usize = text[..split]
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    let received = got.len() - split - 4;
    assert!(
        received > 0 && received < announced,
        "{received} of {announced} body bytes"
    );

    // The connection after is served normally; the ledger names both resets.
    let a = post(
        &base,
        &c,
        LogType::Url,
        &json!({"data": [window_item(true)]}),
    )
    .await;
    assert_eq!(
        a.json()["data"][0]["clickLogs"].as_array().unwrap().len(),
        30
    );
    let ledger = server.ledger();
    let seen: Vec<_> = ledger
        .requests()
        .iter()
        .map(|r| (r.status, r.fault))
        .collect();
    assert_eq!(
        seen,
        vec![
            (0, Some("connection_reset")),
            (200, Some("reset_mid_body")),
            (200, None)
        ]
    );
    assert_eq!(ledger.served(LogType::Url).len(), 30);
    server.shutdown().await;
}

#[tokio::test]
async fn live_appends_and_late_arrivals_are_served() {
    let now = Utc::now();
    let start = now - TimeDelta::hours(1);
    let config = MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(3, start, now - TimeDelta::minutes(5), 40),
    );
    let server = MockServer::start(config).await.unwrap();
    let (base, c) = (server.base_url(), Credential::demo());
    let first = walk(&base, &c, LogType::Url, &window_item(true), 100).await;
    assert_eq!(first.len(), 40);
    let late = generate_records(LogType::Url, 77, start, start + TimeDelta::minutes(1), 5);
    server.append(LogType::Url, late.clone());
    let second = walk(&base, &c, LogType::Url, &window_item(true), 100).await;
    assert_eq!(second.len(), 45);
    for r in &late {
        assert!(second.contains(r));
    }
    assert_eq!(server.records(LogType::Url).len(), 45);
}

#[tokio::test]
async fn oauth_token_bearer_expiry_and_discovery_over_the_wire() {
    let mut config = MockConfig::demo(Utc::now());
    config.token_max_uses = Some(1);
    let server = MockServer::start(config).await.unwrap();
    let url = server.base_url();
    let client = mimecast_mock::OAuthClient::demo();
    let form = |secret: &str| {
        format!(
            "client_id={}&client_secret={secret}&grant_type=client_credentials",
            client.client_id
        )
    };
    let form_headers = vec![(
        "Content-Type".to_string(),
        "application/x-www-form-urlencoded".to_string(),
    )];
    let bad = common::raw(
        &url,
        "POST",
        "/oauth/token",
        &form_headers,
        form("nope").as_bytes(),
    )
    .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["error"], "invalid_client");
    let ok = common::raw(
        &url,
        "POST",
        "/oauth/token",
        &form_headers,
        form(&client.client_secret).as_bytes(),
    )
    .await;
    assert_eq!(ok.status, 200);
    let token = ok.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(ok.json()["token_type"], "Bearer");
    assert_eq!(ok.json()["expires_in"], 1799);
    let bearer = vec![
        ("Authorization".to_string(), format!("Bearer {token}")),
        ("Content-Type".to_string(), "application/json".to_string()),
    ];
    let body = serde_json::json!({"data": [window_item(true)]}).to_string();
    let path = LogType::Url.path();
    let first = common::raw(&url, "POST", path, &bearer, body.as_bytes()).await;
    assert_eq!(first.status, 200);
    let second = common::raw(&url, "POST", path, &bearer, body.as_bytes()).await;
    assert_eq!(second.status, 401);
    assert_eq!(second.json()["fail"][0]["code"], "token_expired");
    let discover = |email: &str| {
        let mut h = common::signed_headers(&Credential::demo(), "/unused");
        h.retain(|(k, _)| k != "Authorization");
        let body = format!(r#"{{"data":[{{"emailAddress":"{email}"}}]}}"#);
        let url = url.clone();
        async move {
            common::raw(
                &url,
                "POST",
                "/api/login/discover-authentication",
                &h,
                body.as_bytes(),
            )
            .await
        }
    };
    let known = discover("svc@example.com").await;
    assert_eq!(known.json()["data"][0]["region"]["api"], url.as_str());
    let unknown = discover("who@example.com").await;
    assert!(unknown.json()["data"][0].get("region").is_none());
}
