//! A tiny signed HTTP/1.1 client over a raw `TcpStream`, so the tests exercise the real wire format.

#![allow(clippy::unwrap_used, dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use mimecast_mock::{format_mc_date, sign, Credential, LogType};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed HTTP response.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub raw_body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.raw_body).unwrap_or(Value::Null)
    }

    pub fn fail_code(&self) -> Option<String> {
        self.json()
            .pointer("/fail/0/errors/0/code")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

/// Sends one request on a fresh connection and reads until the server closes it: the bytes
/// received, and the error that ended the read, if any (e.g. `ConnectionReset`).
pub async fn exchange(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (Vec<u8>, Option<std::io::Error>) {
    let addr = base_url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => return (buf, None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return (buf, Some(e)),
        }
    }
}

/// Sends one request on a fresh connection and reads the whole answer.
pub async fn raw(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    let (buf, err) = exchange(base_url, method, path, headers, body).await;
    assert!(err.is_none(), "{err:?}");
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(buf[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut raw_body = buf[split + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        raw_body.truncate(len.1.parse().unwrap());
    }
    Answer {
        status,
        headers,
        raw_body,
    }
}

static REQ: AtomicU64 = AtomicU64::new(1);

/// The signing headers for `path`, with a fresh request id and the current time.
pub fn signed_headers(c: &Credential, path: &str) -> Vec<(String, String)> {
    let req_id = format!("7d0c4a51-{:012x}", REQ.fetch_add(1, Ordering::Relaxed));
    let date = format_mc_date(Utc::now());
    let sig = sign(&c.secret_key, &date, &req_id, path, &c.app_key).unwrap();
    vec![
        ("Authorization".into(), format!("MC {}:{sig}", c.access_key)),
        ("x-mc-app-id".into(), c.app_id.clone()),
        ("x-mc-date".into(), date),
        ("x-mc-req-id".into(), req_id),
        ("Content-Type".into(), "application/json".into()),
        ("Accept".into(), "application/json".into()),
    ]
}

/// A signed POST of `body` to the endpoint of `t`.
pub async fn post(base_url: &str, c: &Credential, t: LogType, body: &Value) -> Answer {
    raw(
        base_url,
        "POST",
        t.path(),
        &signed_headers(c, t.path()),
        body.to_string().as_bytes(),
    )
    .await
}

/// Pages through the whole result set of `item`, stopping when `next` is absent or a page is empty.
pub async fn walk(
    base_url: &str,
    c: &Credential,
    t: LogType,
    item: &Value,
    page_size: u32,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10_000 {
        let mut pagination = json!({"pageSize": page_size});
        if let Some(tok) = &token {
            pagination["pageToken"] = json!(tok);
        }
        let a = post(
            base_url,
            c,
            t,
            &json!({"meta": {"pagination": pagination}, "data": [item]}),
        )
        .await;
        assert_eq!(a.status, 200);
        let v = a.json();
        assert_eq!(v["fail"], json!([]), "{v}");
        let recs = v["data"][0][t.array_name()].as_array().cloned().unwrap();
        let empty = recs.is_empty();
        out.extend(recs);
        match v["meta"]["pagination"]["next"].as_str() {
            Some(n) if !empty => token = Some(n.to_string()),
            _ => return out,
        }
    }
    panic!("paging never ended");
}
