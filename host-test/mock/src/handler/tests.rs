//! Handler tests with an injected clock: auth outcomes, paging walks, filters, tokens, faults, quota.

use super::*;
use crate::config::RateLimit;
use crate::dataset::record_time;
use crate::signing::{format_mc_date, parse_api_time, sign};
use hyper::header::{HeaderName, HeaderValue};
use serde_json::json;

fn at(s: &str) -> DateTime<Utc> {
    parse_api_time(s).unwrap()
}

fn now() -> DateTime<Utc> {
    at("2026-11-24T12:00:00+0000")
}

fn dataset() -> Dataset {
    Dataset::generate(
        7,
        at("2026-11-24T09:00:00+0000"),
        at("2026-11-24T11:00:00+0000"),
        120,
    )
}

struct Harness {
    state: State,
    cred: Credential,
    now: DateTime<Utc>,
    counter: u64,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn fail_code(&self) -> Option<&str> {
        self.body
            .pointer("/fail/0/errors/0/code")
            .and_then(Value::as_str)
    }

    fn records(&self, lt: LogType) -> Vec<Value> {
        self.body["data"][0][lt.array_name()]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn next(&self) -> Option<String> {
        self.body["meta"]["pagination"]["next"]
            .as_str()
            .map(str::to_string)
    }
}

impl Harness {
    fn new(config: MockConfig) -> Self {
        let cred = config.credentials[0].clone();
        Harness {
            state: State::new(config),
            cred,
            now: now(),
            counter: 0,
        }
    }

    fn default() -> Self {
        Harness::new(MockConfig::new(
            vec![Credential::reference_vector()],
            dataset(),
        ))
    }

    fn signed_headers(&mut self, path: &str) -> HeaderMap {
        self.counter += 1;
        let req_id = format!("req-{}", self.counter);
        let date = format_mc_date(self.now);
        let sig = sign(
            &self.cred.secret_key,
            &date,
            &req_id,
            path,
            &self.cred.app_key,
        )
        .unwrap();
        let mut h = HeaderMap::new();
        let mut put = |k: &'static str, v: String| {
            h.insert(
                HeaderName::from_static(k),
                HeaderValue::from_str(&v).unwrap(),
            );
        };
        put(
            "authorization",
            format!("MC {}:{sig}", self.cred.access_key),
        );
        put("x-mc-app-id", self.cred.app_id.clone());
        put("x-mc-date", date);
        put("x-mc-req-id", req_id);
        put("content-type", "application/json".into());
        h
    }

    fn send(&mut self, method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Answer {
        let reply = match self.state.handle(method, path, headers, body, self.now) {
            Step::Done(r) => r,
            Step::Delay(_, pending) => self.state.resume(pending, body, self.now),
            // What the client gets before the reset: nothing, or the first `sent` bytes.
            Step::Reset => Reply {
                status: 0,
                headers: Vec::new(),
                body: Vec::new(),
            },
            Step::ResetMidBody(mut reply, sent) => {
                reply.body.truncate(sent);
                reply
            }
            // What the client gets by the time it gives up: the head and no complete body.
            Step::Trickle(mut reply, _) | Step::Stall(mut reply, _) | Step::Endless(mut reply) => {
                reply.body.clear();
                reply
            }
        };
        let body = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        Answer {
            status: reply.status,
            headers: reply.headers,
            body,
        }
    }

    fn post(&mut self, lt: LogType, body: Value) -> Answer {
        let h = self.signed_headers(lt.path());
        self.send("POST", lt.path(), &h, body.to_string().as_bytes())
    }

    /// Follows `next` until it is absent or a page is empty; returns the records and the page count.
    fn walk(&mut self, lt: LogType, item: Value, page_size: usize) -> (Vec<Value>, usize) {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for pages in 1..1000 {
            let mut pagination = json!({"pageSize": page_size});
            if let Some(t) = &token {
                pagination["pageToken"] = json!(t);
            }
            let a = self.post(
                lt,
                json!({"meta": {"pagination": pagination}, "data": [item.clone()]}),
            );
            assert_eq!((a.status, a.fail_code()), (200, None), "{}", a.body);
            let recs = a.records(lt);
            let empty = recs.is_empty();
            out.extend(recs);
            match a.next() {
                Some(n) if !empty => token = Some(n),
                _ => return (out, pages),
            }
        }
        panic!("paging did not end");
    }
}

fn expected(
    lt: LogType,
    recs: &[Value],
    from: &str,
    to: &str,
    oldest_first: bool,
    inclusive: bool,
) -> Vec<Value> {
    let (from, to) = (at(from), at(to));
    let mut v: Vec<(DateTime<Utc>, Value)> = recs
        .iter()
        .map(|r| (record_time(lt, r).unwrap(), r.clone()))
        .filter(|(t, _)| *t >= from && if inclusive { *t <= to } else { *t < to })
        .collect();
    if oldest_first {
        v.sort_by_key(|(t, _)| *t);
    } else {
        v.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    }
    v.into_iter().map(|(_, r)| r).collect()
}

#[test]
fn paging_walks_every_record_once_in_all_modes_and_orders() {
    for end in [PagingEnd::NextAbsent, PagingEnd::EmptyPageWithNext] {
        for oldest_first in [true, false] {
            for lt in LogType::ALL {
                let mut config = MockConfig::new(vec![Credential::reference_vector()], dataset());
                config.paging_end = end;
                let mut h = Harness::new(config);
                let item = json!({"from":"2026-11-24T09:30:00+0000","to":"2026-11-24T10:30:00+0000","oldestFirst":oldest_first});
                let (got, pages) = h.walk(lt, item, 7);
                let want = expected(
                    lt,
                    &h.state.records(lt),
                    "2026-11-24T09:30:00+0000",
                    "2026-11-24T10:30:00+0000",
                    oldest_first,
                    false,
                );
                assert!(want.len() > 20);
                assert_eq!(got, want, "{end:?} {oldest_first} {lt}");
                let full_pages = want.len().div_ceil(7);
                let extra = usize::from(end == PagingEnd::EmptyPageWithNext);
                assert_eq!(pages, full_pages + extra, "{end:?}");
                assert_eq!(h.state.ledger().served(lt), &want[..]);
            }
        }
    }
}

#[test]
fn last_page_marking_matches_paging_end() {
    let mut config = MockConfig::new(vec![Credential::reference_vector()], dataset());
    config.paging_end = PagingEnd::EmptyPageWithNext;
    let mut h = Harness::new(config);
    let item = json!({"from":"2026-11-24T09:00:00+0000","to":"2026-11-24T11:00:00+0000","oldestFirst":true});
    let a = h.post(
        LogType::Url,
        json!({"meta":{"pagination":{"pageSize":100}},"data":[item.clone()]}),
    );
    let total = a.body["meta"]["pagination"]["totalCount"].as_u64().unwrap();
    assert_eq!(total, 120);
    assert!(a.body["meta"]["pagination"].get("previous").is_none());
    let a = h.post(LogType::Url, json!({"meta":{"pagination":{"pageSize":100,"pageToken":a.next().unwrap()}},"data":[item.clone()]}));
    assert_eq!(a.records(LogType::Url).len(), 20);
    assert!(a.body["meta"]["pagination"]["previous"].is_string());
    let a = h.post(LogType::Url, json!({"meta":{"pagination":{"pageSize":100,"pageToken":a.next().unwrap()}},"data":[item.clone()]}));
    assert!(a.records(LogType::Url).is_empty());
    assert!(a.next().is_some(), "the empty page carries next too");

    let mut h = Harness::default();
    let a = h.post(
        LogType::Url,
        json!({"meta":{"pagination":{"pageSize":100}},"data":[item.clone()]}),
    );
    let a = h.post(
        LogType::Url,
        json!({"meta":{"pagination":{"pageSize":100,"pageToken":a.next().unwrap()}},"data":[item]}),
    );
    assert_eq!((a.records(LogType::Url).len(), a.next()), (20, None));
}

#[test]
fn to_inclusive_switches_the_upper_edge() {
    let recs = h_records();
    let edge = recs[60]["date"].as_str().unwrap().to_string();
    for inclusive in [false, true] {
        let mut config = MockConfig::new(vec![Credential::reference_vector()], dataset());
        config.to_inclusive = inclusive;
        let mut h = Harness::new(config);
        let item = json!({"from":"2026-11-24T09:00:00+0000","to":edge,"oldestFirst":true});
        let (got, _) = h.walk(LogType::Url, item, 100);
        let want = expected(
            LogType::Url,
            &recs,
            "2026-11-24T09:00:00+0000",
            &edge,
            true,
            inclusive,
        );
        assert_eq!(got, want);
        let last = got.last().unwrap()["date"].as_str().unwrap().to_string();
        assert_eq!(last == edge, inclusive);
    }
}

fn h_records() -> Vec<Value> {
    dataset().records(LogType::Url).to_vec()
}

#[test]
fn token_with_changed_data_or_endpoint_fails_on_200() {
    let mut h = Harness::default();
    let item = json!({"from":"2026-11-24T09:00:00+0000","to":"2026-11-24T11:00:00+0000"});
    let a = h.post(
        LogType::Url,
        json!({"meta":{"pagination":{"pageSize":10}},"data":[item]}),
    );
    let token = a.next().unwrap();
    let changed = json!({"from":"2026-11-24T09:00:01+0000","to":"2026-11-24T11:00:00+0000"});
    let a = h.post(
        LogType::Url,
        json!({"meta":{"pagination":{"pageSize":10,"pageToken":token}},"data":[changed]}),
    );
    assert_eq!(
        (a.status, a.fail_code()),
        (200, Some("err_invalid_page_token"))
    );
    assert_eq!(a.body["fail"][0]["errors"][0]["retryable"], false);
    assert_eq!(a.body["data"], json!([]));
    let a = h.post(
        LogType::Attachment,
        json!({"meta":{"pagination":{"pageToken":token}}}),
    );
    assert_eq!(a.fail_code(), Some("err_invalid_page_token"));
    let a = h.post(
        LogType::Url,
        json!({"meta":{"pagination":{"pageToken":"garbage"}}}),
    );
    assert_eq!(a.fail_code(), Some("err_invalid_page_token"));
    // Omitting data on follow-up pages reuses the token's query (Elastic httpjson does this, §6.1).
    let a = h.post(
        LogType::Url,
        json!({"meta":{"pagination":{"pageSize":10,"pageToken":token}}}),
    );
    assert_eq!((a.fail_code(), a.records(LogType::Url).len()), (None, 10));
}

#[test]
fn page_size_is_clamped_or_rejected() {
    let mut h = Harness::default();
    let item = json!({"from":"2026-11-24T09:00:00+0000","to":"2026-11-24T11:00:00+0000"});
    let a = h.post(
        LogType::Url,
        json!({"meta":{"pagination":{"pageSize":500}},"data":[item.clone()]}),
    );
    assert_eq!(a.records(LogType::Url).len(), 100);
    assert_eq!(a.body["meta"]["pagination"]["pageSize"], 100);
    let a = h.post(
        LogType::Url,
        json!({"meta":{"pagination":{"pageSize":0}},"data":[item]}),
    );
    assert_eq!(a.status, 200);
    assert!(a.fail_code().unwrap().starts_with("err_validation"));
}

#[test]
fn validation_failures_are_200_with_fail_and_key() {
    let mut h = Harness::default();
    let item = json!({"from":"not a date"});
    let a = h.post(LogType::Url, json!({"data":[item.clone()]}));
    assert_eq!(
        (a.status, a.fail_code()),
        (200, Some("err_validation_invalid_date"))
    );
    assert_eq!(a.body["fail"][0]["key"], item);
    let a = h.post(LogType::Attachment, json!({"data":[{"result":"cleanish"}]}));
    assert_eq!(a.fail_code(), Some("err_validation_invalid_value"));
    let headers = h.signed_headers(LogType::Url.path());
    let a = h.send(
        "POST",
        LogType::Url.path(),
        &headers,
        b"{'data': [{'oldestFirst': True}]}",
    );
    assert_eq!((a.status, a.fail_code()), (400, Some("err_invalid_json")));
}

#[test]
fn filters_are_applied() {
    let mut h = Harness::default();
    let base = |extra: Value| {
        let mut item = json!({"from":"2026-11-24T09:00:00+0000","to":"2026-11-24T11:00:00+0000"});
        for (k, v) in extra.as_object().unwrap() {
            item[k] = v.clone();
        }
        item
    };
    let (got, _) = h.walk(
        LogType::Url,
        base(json!({"scanResult":"malicious","route":"inbound"})),
        100,
    );
    assert!(!got.is_empty());
    assert!(got
        .iter()
        .all(|r| r["scanResult"] == "malicious" && r["route"] == "inbound"));
    let (got, _) = h.walk(LogType::Attachment, base(json!({"result":"safe"})), 100);
    assert!(!got.is_empty() && got.iter().all(|r| r["result"] == "safe"));
    let (all, _) = h.walk(LogType::Impersonation, base(json!({})), 100);
    let (mal, _) = h.walk(
        LogType::Impersonation,
        base(json!({"taggedMalicious":true})),
        100,
    );
    let (benign, _) = h.walk(
        LogType::Impersonation,
        base(json!({"taggedMalicious":false})),
        100,
    );
    assert_eq!(all.len(), 120);
    assert_eq!(mal.len() + benign.len(), 120);
    assert!(!mal.is_empty() && !benign.is_empty());
    let (hits, _) = h.walk(
        LogType::Impersonation,
        base(json!({"identifiers":["internal_user_name"],"actions":["hold","none","bounce"]})),
        100,
    );
    assert!(hits.iter().all(|r| r["identifiers"]
        .as_array()
        .unwrap()
        .contains(&json!("internal_user_name"))));
    let (found, _) = h.walk(
        LogType::Impersonation,
        base(json!({"searchField":"subject","query":"rechnung"})),
        100,
    );
    assert!(
        !found.is_empty()
            && found.iter().all(|r| r["subject"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("rechnung"))
    );
}

#[test]
fn auth_failures_map_to_status_and_code() {
    let path = LogType::Url.path();
    let mut h = Harness::default();
    let body = b"{}";

    let mut hd = h.signed_headers(path);
    hd.remove("x-mc-req-id");
    let a = h.send("POST", path, &hd, body);
    assert_eq!(
        (a.status, a.fail_code()),
        (400, Some("err_xdk_missing_header"))
    );
    assert!(a.body["fail"][0]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("x-mc-req-id"));

    let mut hd = h.signed_headers(path);
    hd.insert("x-mc-app-id", HeaderValue::from_static("nope"));
    assert_eq!(
        h.send("POST", path, &hd, body).fail_code(),
        Some("err_developer_key")
    );

    let hd = h.signed_headers(LogType::Attachment.path()); // signed for another path
    let a = h.send("POST", path, &hd, body);
    assert_eq!(
        (a.status, a.fail_code()),
        (401, Some("err_xdk_signature_invalid"))
    );
    assert!(a.body["fail"][0]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("the signature is invalid"));

    h.now = now() - TimeDelta::minutes(20);
    let hd = h.signed_headers(path);
    h.now = now();
    let a = h.send("POST", path, &hd, body);
    assert_eq!((a.status, a.fail_code()), (401, Some("err_xdk_date_skew")));
    assert!(a.body["fail"][0]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("clock skew"));

    let hd = h.signed_headers(path);
    assert_eq!(h.send("POST", path, &hd, body).status, 200);
    let a = h.send("POST", path, &hd, body);
    assert_eq!((a.status, a.fail_code()), (401, Some("err_xdk_replay")));
    h.now = now() + TimeDelta::minutes(16);
    let mut hd2 = hd.clone();
    let date = format_mc_date(h.now);
    let sig = sign(&h.cred.secret_key, &date, "req-5", path, &h.cred.app_key).unwrap();
    hd2.insert("x-mc-date", HeaderValue::from_str(&date).unwrap());
    hd2.insert(
        "authorization",
        HeaderValue::from_str(&format!("MC {}:{sig}", h.cred.access_key)).unwrap(),
    );
    assert_eq!(
        h.send("POST", path, &hd2, body).status,
        200,
        "req id reusable after 15 min"
    );
    h.now = now();

    let mut hd = h.signed_headers(path);
    hd.insert("content-type", HeaderValue::from_static("text/plain"));
    assert_eq!(h.send("POST", path, &hd, body).status, 400);

    let hd = h.signed_headers(path);
    assert_eq!(h.send("GET", path, &hd, body).status, 405);
    let hd = h.signed_headers("/api/audit/get-siem-logs");
    assert_eq!(
        h.send("POST", "/api/audit/get-siem-logs", &hd, body).status,
        404
    );

    let mut expired = Credential::reference_vector();
    expired.expired = true;
    let mut h = Harness::new(MockConfig::new(vec![expired], dataset()));
    let a = h.post(LogType::Url, json!({}));
    assert_eq!(
        (a.status, a.fail_code()),
        (418, Some("err_xdk_binding_expired"))
    );

    let mut limited = Credential::reference_vector();
    limited.permissions = vec![LogType::Url];
    let mut h = Harness::new(MockConfig::new(vec![limited], dataset()));
    assert_eq!(h.post(LogType::Url, json!({})).status, 200);
    let a = h.post(LogType::Impersonation, json!({}));
    assert_eq!(
        (a.status, a.fail_code()),
        (403, Some("err_xdk_access_denied"))
    );
    let msg = a.body["fail"][0]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("Monitoring | Impersonation Protection | Read"),
        "{msg}"
    );
    assert!(a.header("X-RateLimit-Reset").is_some());
}

#[test]
fn every_answer_has_rate_limit_headers() {
    let mut h = Harness::default();
    let hd = HeaderMap::new();
    for a in [
        h.send("POST", "/nowhere", &hd, b""),
        h.send("POST", LogType::Url.path(), &hd, b""),
        h.post(LogType::Url, json!({})),
    ] {
        for name in [
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ] {
            assert!(a.header(name).is_some(), "{name} missing on {}", a.status);
        }
    }
}

#[test]
fn faults_are_consumed_in_order() {
    let mut h = Harness::default();
    h.state.push_fault(Fault::Status {
        status: 503,
        headers: vec![("Retry-After".into(), "1".into())],
        body: "down".into(),
    });
    h.state.push_fault(Fault::RateLimited { reset_ms: 1500 });
    h.state.push_fault(Fault::FailOn200 {
        code: "err_audit_siem_invalid_token".into(),
        retryable: true,
    });
    h.state.push_fault(Fault::TruncatedBody);
    h.state.push_fault(Fault::Delay(Duration::from_millis(1)));
    let item =
        json!({"data":[{"from":"2026-11-24T09:00:00+0000","to":"2026-11-24T11:00:00+0000"}]});

    let a = h.post(LogType::Url, item.clone());
    assert_eq!((a.status, a.header("Retry-After")), (503, Some("1")));
    assert!(a.header("X-RateLimit-Limit").is_some());
    let a = h.post(LogType::Url, item.clone());
    assert_eq!(
        (
            a.status,
            a.header("X-RateLimit-Reset"),
            a.header("X-RateLimit-Remaining")
        ),
        (429, Some("1500"), Some("0"))
    );
    let a = h.post(LogType::Impersonation, item.clone());
    assert_eq!(
        (a.status, a.fail_code()),
        (200, Some("err_audit_siem_invalid_token"))
    );
    assert_eq!(a.body["fail"][0]["errors"][0]["retryable"], true);
    let a = h.post(LogType::Url, item.clone());
    assert_eq!(
        (a.status, a.body.clone()),
        (200, Value::Null),
        "truncated body is not JSON"
    );
    let a = h.post(LogType::Url, item.clone());
    assert_eq!(a.records(LogType::Url).len(), 100);
    let a = h.post(LogType::Url, item);
    assert_eq!(a.records(LogType::Url).len(), 100);

    let ledger = h.state.ledger();
    let faults: Vec<_> = ledger.requests().iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        vec![
            Some("status"),
            Some("rate_limited"),
            Some("fail_on_200"),
            Some("truncated_body"),
            Some("delay"),
            None
        ]
    );
    // Requests 3..6 came within 1.5 s of the announced reset (the clock is frozen).
    assert_eq!(ledger.violations(), 4);
    assert_eq!(
        ledger.served(LogType::Url).len(),
        200,
        "truncated page is not counted as served"
    );
}

#[test]
fn connection_resets_are_in_the_ledger_and_serve_nothing() {
    let mut h = Harness::default();
    h.state.push_fault(Fault::ConnectionReset);
    h.state.push_fault(Fault::ResetMidBody);
    let item =
        json!({"data":[{"from":"2026-11-24T09:00:00+0000","to":"2026-11-24T11:00:00+0000"}]});
    let path = LogType::Url.path();
    let headers = h.signed_headers(path);
    let step = h
        .state
        .handle("POST", path, &headers, item.to_string().as_bytes(), h.now);
    assert!(matches!(step, Step::Reset), "{step:?}");
    let headers = h.signed_headers(path);
    let step = h
        .state
        .handle("POST", path, &headers, item.to_string().as_bytes(), h.now);
    let Step::ResetMidBody(reply, sent) = step else {
        panic!("{step:?}")
    };
    assert_eq!(reply.status, 200);
    assert!(sent > 0 && sent < reply.body.len());
    let whole: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(whole["data"][0]["clickLogs"].as_array().unwrap().len(), 100);
    assert!(serde_json::from_slice::<Value>(&reply.body[..sent]).is_err());
    let a = h.post(LogType::Url, item);
    assert_eq!(a.records(LogType::Url).len(), 100);

    let ledger = h.state.ledger();
    let seen: Vec<_> = ledger
        .requests()
        .iter()
        .map(|r| (r.status, r.fault, r.records))
        .collect();
    assert_eq!(
        seen,
        vec![
            (0, Some("connection_reset"), 0),
            (200, Some("reset_mid_body"), 0),
            (200, None, 100)
        ]
    );
    assert_eq!(ledger.count_status(0), 1);
    assert_eq!(
        ledger.served(LogType::Url).len(),
        100,
        "pages cut by a reset are not counted as served"
    );
}

#[test]
fn quota_returns_429_with_reset_and_counts_violations() {
    let mut config = MockConfig::new(vec![Credential::reference_vector()], dataset());
    config.rate_limit = Some(RateLimit {
        limit: 2,
        window: Duration::from_secs(10),
    });
    let mut h = Harness::new(config);
    assert_eq!(
        h.post(LogType::Url, json!({}))
            .header("X-RateLimit-Remaining"),
        Some("1")
    );
    h.now += TimeDelta::seconds(1);
    assert_eq!(h.post(LogType::Url, json!({})).status, 200);
    let a = h.post(LogType::Url, json!({}));
    assert_eq!(
        (a.status, a.header("X-RateLimit-Reset")),
        (429, Some("9000"))
    );
    assert_eq!(a.fail_code(), Some("err_rate_limit_exceeded"));
    h.now += TimeDelta::seconds(5);
    assert_eq!(h.post(LogType::Url, json!({})).status, 429);
    h.now += TimeDelta::seconds(4);
    assert_eq!(h.post(LogType::Url, json!({})).status, 200);
    let l = h.state.ledger();
    assert_eq!((l.violations(), l.count_status(429)), (1, 2));
}

#[test]
fn appended_records_shift_offsets_and_appear() {
    let mut h = Harness::default();
    let item = json!({"from":"2026-11-24T09:00:00+0000","to":"2026-11-24T11:00:00+0000","oldestFirst":true});
    let a = h.post(
        LogType::Attachment,
        json!({"meta":{"pagination":{"pageSize":50}},"data":[item.clone()]}),
    );
    assert_eq!(a.body["meta"]["pagination"]["totalCount"], 120);
    let late = crate::dataset::generate_records(
        LogType::Attachment,
        99,
        at("2026-11-24T09:10:00+0000"),
        at("2026-11-24T09:11:00+0000"),
        3,
    );
    h.state.append(LogType::Attachment, late.clone());
    let a = h.post(
        LogType::Attachment,
        json!({"meta":{"pagination":{"pageSize":50,"pageToken":a.next().unwrap()}},"data":[item]}),
    );
    assert_eq!(a.body["meta"]["pagination"]["totalCount"], 123);
    assert_eq!(h.state.records(LogType::Attachment).len(), 123);
    assert_eq!(&h.state.records(LogType::Attachment)[120..], &late[..]);
}

#[test]
fn odd_bodies_never_panic() {
    let mut h = Harness::default();
    let bodies: [&[u8]; 10] = [
        b"",
        b"\xff\xfe\x00",
        b"null",
        b"{\"meta\":{\"pagination\":{\"pageSize\":1e308}}}",
        b"{\"meta\":{\"pagination\":{\"pageSize\":18446744073709551615}}}",
        b"{\"meta\":{\"pagination\":{\"pageToken\":\"eyJ0IjoidXJsIiwicSI6IiIsIm8iOjE4NDQ2NzQ0MDczNzA5NTUxNjE1LCJkIjp7fX0\"}}}",
        b"{\"data\":[{\"from\":\"9999-12-31T23:59:59+0000\",\"to\":\"0000-01-01T00:00:00+0000\"}]}",
        b"{\"data\":[{\"identifiers\":[1,2]}]}",
        b"{\"data\":\"x\"}",
        b"{\"data\":[{\"from\":\"2026-11-24T09:00:00+9999\"}]}",
    ];
    for body in bodies {
        for lt in LogType::ALL {
            let hd = h.signed_headers(lt.path());
            let a = h.send("POST", lt.path(), &hd, body);
            assert!(
                a.status == 200 || a.status == 400,
                "{} for {:?}",
                a.status,
                String::from_utf8_lossy(body)
            );
        }
    }
}

#[test]
fn the_invalid_byte_marker_becomes_byte_0xff() {
    assert_eq!(
        super::replace_with_invalid_byte(b"a~X~b~X~", b"~X~"),
        b"a\xFFb\xFF".to_vec()
    );
    assert_eq!(super::replace_with_invalid_byte(b"ab", b""), b"ab".to_vec());
}
