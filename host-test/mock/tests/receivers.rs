//! The sink receivers driven over raw HTTP/1.1: every success path and every failure path of
//! their contracts, so that a sink tested against them meets the real protocol.

#![allow(clippy::unwrap_used)]

mod sink_client;

use std::time::{Duration, Instant};

use mimecast_mock::{
    encode_api_key, AckMode, ElasticsearchReceiver, EsConfig, EsFlavor, HecConfig, HecToken,
    HttpIngestConfig, HttpIngestReceiver, OtlpConfig, OtlpLogsReceiver, SinkFault,
    SplunkHecReceiver, TestCa,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{json, Value};
use sink_client::{call, gzip, send, send_tls, Answer};

const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- Elasticsearch

const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");

fn bulk_body(lines: &[Value]) -> Vec<u8> {
    let mut body = String::new();
    for line in lines {
        body.push_str(&line.to_string());
        body.push('\n');
    }
    body.into_bytes()
}

fn item(answer: &Answer, n: usize) -> Value {
    let items = answer.json()["items"].clone();
    let entry = items[n].as_object().unwrap().clone();
    entry.into_iter().next().unwrap().1
}

async fn es_with_api_key() -> (ElasticsearchReceiver, String) {
    let key = encode_api_key("id1", "secret1");
    let es = ElasticsearchReceiver::start(EsConfig {
        api_keys: vec![key.clone()],
        data_stream_prefixes: vec!["logs-".into()],
        ..EsConfig::default()
    })
    .await
    .unwrap();
    (es, format!("ApiKey {key}"))
}

#[tokio::test]
async fn es_create_stores_once_and_conflicts_on_a_repeated_id() {
    let (es, auth) = es_with_api_key().await;
    let headers = [NDJSON, ("Authorization", auth.as_str())];
    let body = bulk_body(&[
        json!({"create": {"_index": "mimecast", "_id": "a"}}),
        json!({"n": 1}),
        json!({"create": {"_id": "b"}}),
        json!({"n": 2}),
    ]);
    let first = call(&es.url(), "POST", "/mimecast/_bulk", &headers, &body).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("X-elastic-product"), Some("Elasticsearch"));
    assert_eq!(first.json()["errors"], false);
    let created = item(&first, 0);
    assert_eq!(
        (
            created["status"].clone(),
            created["result"].clone(),
            created["_version"].clone()
        ),
        (json!(201), json!("created"), json!(1))
    );
    assert_eq!(
        item(&first, 1)["_index"],
        "mimecast",
        "path index is the default"
    );

    // The retry of the same batch with changed sources: 409 per item, nothing overwritten.
    let retry = bulk_body(&[
        json!({"create": {"_index": "mimecast", "_id": "a"}}),
        json!({"n": 100}),
    ]);
    let again = call(&es.url(), "POST", "/_bulk", &headers, &retry).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["errors"], true);
    let conflict = item(&again, 0);
    assert_eq!(conflict["status"], 409);
    assert_eq!(
        conflict["error"]["type"],
        "version_conflict_engine_exception"
    );
    assert_eq!(
        conflict["error"]["reason"],
        "[a]: version conflict, document already exists (current version [1])"
    );
    assert_eq!(
        es.documents("mimecast"),
        vec![
            ("a".to_string(), json!({"n": 1})),
            ("b".to_string(), json!({"n": 2}))
        ]
    );
    assert_eq!(es.create_attempts("mimecast", "a"), 2);
    assert_eq!(es.create_attempts("mimecast", "b"), 1);

    // `index` overwrites and bumps the version; an action without `_id` gets one.
    let overwrite = bulk_body(&[
        json!({"index": {"_index": "mimecast", "_id": "a"}}),
        json!({"n": 3}),
        json!({"create": {"_index": "other"}}),
        json!({"n": 4}),
    ]);
    let answer = call(&es.url(), "PUT", "/_bulk", &headers, &overwrite).await;
    assert_eq!(item(&answer, 0)["result"], "updated");
    assert_eq!(item(&answer, 0)["status"], 200);
    assert_eq!(es.version("mimecast", "a"), Some(2));
    assert_eq!(
        es.indices(),
        vec!["mimecast".to_string(), "other".to_string()]
    );
    assert_eq!(es.all_documents().len(), 3);
    assert_eq!(es.document_count(), 3);
    assert_eq!(es.bulk_requests(), 3);
    let ledger = es.requests();
    assert_eq!(
        ledger.iter().map(|r| r.stored).collect::<Vec<_>>(),
        vec![2, 0, 2]
    );
    assert_eq!(ledger[0].header("authorization"), Some("<redacted>"));
}

#[tokio::test]
async fn es_rejects_malformed_bulk_bodies_like_elasticsearch() {
    let es = ElasticsearchReceiver::start(EsConfig::default())
        .await
        .unwrap();
    let no_newline = b"{\"create\":{\"_index\":\"x\"}}\n{\"a\":1}";
    let answer = call(&es.url(), "POST", "/_bulk", &[NDJSON], no_newline).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json(),
        json!({"error": {"root_cause": [{"type": "illegal_argument_exception",
            "reason": "The bulk request must be terminated by a newline [\\n]"}],
            "type": "illegal_argument_exception",
            "reason": "The bulk request must be terminated by a newline [\\n]"}, "status": 400})
    );
    let ok_body = bulk_body(&[json!({"create": {"_index": "x"}}), json!({"a": 1})]);
    let json_type = call(
        &es.url(),
        "POST",
        "/_bulk",
        &[("Content-Type", "application/json")],
        &ok_body,
    )
    .await;
    assert_eq!(json_type.status, 200, "application/json is accepted too");
    let text = call(
        &es.url(),
        "POST",
        "/_bulk",
        &[("Content-Type", "text/plain")],
        &ok_body,
    )
    .await;
    assert_eq!(text.status, 406);
    let empty = call(&es.url(), "POST", "/_bulk", &[NDJSON], b"").await;
    assert_eq!(
        empty.json()["error"]["type"],
        "action_request_validation_exception"
    );
    let no_index = bulk_body(&[json!({"create": {}}), json!({"a": 1})]);
    let answer = call(&es.url(), "POST", "/_bulk", &[NDJSON], &no_index).await;
    assert_eq!(
        answer.json()["error"]["reason"],
        "Validation Failed: 1: index is missing;"
    );
    let unknown = bulk_body(&[json!({"upsert": {"_index": "x"}}), json!({"a": 1})]);
    let answer = call(&es.url(), "POST", "/_bulk", &[NDJSON], &unknown).await;
    assert_eq!(answer.status, 400);
    let not_json = b"{\"create\":{\"_index\":\"x\"}}\n{not json\n";
    let answer = call(&es.url(), "POST", "/_bulk", &[NDJSON], not_json).await;
    assert_eq!(answer.status, 200, "a bad source fails only its item");
    assert_eq!(
        item(&answer, 0)["error"]["type"],
        "document_parsing_exception"
    );
    assert_eq!(es.document_count(), 1);
    let info = call(&es.url(), "GET", "/", &[], b"").await;
    assert_eq!(info.json()["tagline"], "You Know, for Search");
}

#[tokio::test]
async fn es_authentication_answers_401_with_security_exception() {
    let es = ElasticsearchReceiver::start(EsConfig {
        api_keys: vec![encode_api_key("id", "key")],
        basic_users: vec![("elastic".into(), "changeme".into())],
        ..EsConfig::default()
    })
    .await
    .unwrap();
    let body = bulk_body(&[json!({"create": {"_index": "x", "_id": "1"}}), json!({})]);
    let missing = call(&es.url(), "POST", "/_bulk", &[NDJSON], &body).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["error"]["type"], "security_exception");
    assert_eq!(
        missing.json()["error"]["reason"],
        "missing authentication credentials for REST request [/_bulk]"
    );
    assert_eq!(
        missing.headers_named("WWW-Authenticate"),
        vec![r#"Basic realm="security", charset="UTF-8""#, "ApiKey"]
    );
    let wrong_key = format!("ApiKey {}", encode_api_key("id", "nope"));
    let answer = call(
        &es.url(),
        "POST",
        "/_bulk",
        &[NDJSON, ("Authorization", &wrong_key)],
        &body,
    )
    .await;
    assert_eq!(answer.status, 401);
    let good_basic = format!("Basic {}", base64_encode("elastic:changeme"));
    let answer = call(
        &es.url(),
        "POST",
        "/_bulk",
        &[NDJSON, ("Authorization", &good_basic)],
        &body,
    )
    .await;
    assert_eq!(answer.status, 200);
    let bad_basic = format!("Basic {}", base64_encode("elastic:wrong"));
    let answer = call(
        &es.url(),
        "POST",
        "/_bulk",
        &[NDJSON, ("Authorization", &bad_basic)],
        &body,
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json()["error"]["reason"],
        "unable to authenticate user [elastic] for REST request [/_bulk]"
    );
    assert_eq!(es.document_count(), 1);
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn es_item_faults_reject_without_storing() {
    let (es, auth) = es_with_api_key().await;
    let headers = [NDJSON, ("Authorization", auth.as_str())];
    es.reject_next_items(1);
    es.reject_documents_containing("POISON");
    let body = bulk_body(&[
        json!({"create": {"_index": "x", "_id": "1"}}),
        json!({"m": "first"}),
        json!({"create": {"_index": "x", "_id": "2"}}),
        json!({"m": "POISON pill"}),
        json!({"create": {"_index": "x", "_id": "3"}}),
        json!({"m": "third"}),
    ]);
    let answer = call(&es.url(), "POST", "/_bulk", &headers, &body).await;
    assert_eq!(answer.json()["errors"], true);
    assert_eq!(item(&answer, 0)["status"], 429);
    assert_eq!(
        item(&answer, 0)["error"]["type"],
        "es_rejected_execution_exception"
    );
    assert_eq!(item(&answer, 1)["status"], 400);
    assert_eq!(
        item(&answer, 1)["error"]["type"],
        "document_parsing_exception"
    );
    assert_eq!(item(&answer, 2)["status"], 201);
    // The retry: the throttled item now goes in, the poisoned one fails again.
    let answer = call(&es.url(), "POST", "/_bulk", &headers, &body).await;
    let statuses: Vec<Value> = (0..3).map(|n| item(&answer, n)["status"].clone()).collect();
    assert_eq!(statuses, vec![json!(201), json!(400), json!(409)]);
    let ids: Vec<String> = es.documents("x").into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, vec!["3".to_string(), "1".to_string()]);
    assert_eq!(es.create_attempts("x", "2"), 2);

    // Data streams take `create` only.
    let ds = bulk_body(&[
        json!({"index": {"_index": "logs-mimecast-default"}}),
        json!({"@timestamp": "2024-01-01T00:00:00Z"}),
        json!({"create": {"_index": "logs-mimecast-default"}}),
        json!({"@timestamp": "2024-01-01T00:00:00Z"}),
    ]);
    let answer = call(&es.url(), "POST", "/_bulk", &headers, &ds).await;
    assert_eq!(item(&answer, 0)["status"], 400);
    assert_eq!(
        item(&answer, 0)["error"]["type"],
        "illegal_argument_exception"
    );
    assert_eq!(item(&answer, 1)["status"], 201);
    assert!(item(&answer, 1)["_index"]
        .as_str()
        .unwrap()
        .starts_with(".ds-logs-mimecast-default-"));
    assert_eq!(es.documents("logs-mimecast-default").len(), 1);
}

#[tokio::test]
async fn es_opensearch_flavor_names_mapper_parsing_exception() {
    let es = ElasticsearchReceiver::start(EsConfig {
        flavor: EsFlavor::OpenSearch,
        ..EsConfig::default()
    })
    .await
    .unwrap();
    es.reject_documents(|doc| doc.get("bad").is_some());
    let body = bulk_body(&[json!({"create": {"_index": "x"}}), json!({"bad": 1})]);
    let answer = call(&es.url(), "POST", "/_bulk", &[NDJSON], &body).await;
    assert_eq!(
        item(&answer, 0)["error"]["type"],
        "mapper_parsing_exception"
    );
    es.accept_all_documents();
    let answer = call(&es.url(), "POST", "/_bulk", &[NDJSON], &body).await;
    assert_eq!(item(&answer, 0)["status"], 201);
}

#[tokio::test]
async fn es_whole_request_faults_delay_and_gzip() {
    let (es, auth) = es_with_api_key().await;
    let headers = [NDJSON, ("Authorization", auth.as_str())];
    let body = bulk_body(&[
        json!({"create": {"_index": "x", "_id": "1"}}),
        json!({"a": 1}),
    ]);
    es.push_faults([
        SinkFault::retry_after(429, Duration::from_millis(1500)),
        SinkFault::status(503),
        SinkFault::ConnectionReset,
        SinkFault::Delay(Duration::from_millis(200)),
    ]);
    let throttled = call(&es.url(), "POST", "/_bulk", &headers, &body).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(
        throttled.json()["error"]["type"],
        "es_rejected_execution_exception"
    );
    assert_eq!(throttled.header("Retry-After"), Some("2"));
    let unavailable = call(&es.url(), "POST", "/_bulk", &headers, &body).await;
    assert_eq!(unavailable.status, 503);
    assert!(send(&es.url(), "POST", "/_bulk", &headers, &body)
        .await
        .is_err());
    assert_eq!(es.document_count(), 0, "no fault stores anything");
    let started = Instant::now();
    let slow = call(&es.url(), "POST", "/_bulk", &headers, &body).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(slow.status, 200);
    let statuses: Vec<u16> = es.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 503, 0, 200]);
    let faults: Vec<Option<&str>> = es.requests().iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        vec![
            Some("status"),
            Some("status"),
            Some("connection_reset"),
            Some("delay")
        ]
    );

    // A steady delay, then gzip.
    es.set_delay(Duration::from_millis(100));
    let body2 = bulk_body(&[
        json!({"create": {"_index": "x", "_id": "2"}}),
        json!({"a": 2}),
    ]);
    let started = Instant::now();
    let zipped = call(
        &es.url(),
        "POST",
        "/_bulk",
        &[
            NDJSON,
            ("Authorization", &auth),
            ("Content-Encoding", "gzip"),
        ],
        &gzip(&body2),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(item(&zipped, 0)["status"], 201);
    es.set_delay(Duration::ZERO);
    assert_eq!(es.document_count(), 2);
}

#[tokio::test]
async fn es_goes_down_and_comes_back_on_the_same_port_with_its_documents() {
    let es = ElasticsearchReceiver::start(EsConfig::default())
        .await
        .unwrap();
    let url = es.url();
    let body = bulk_body(&[
        json!({"create": {"_index": "x", "_id": "1"}}),
        json!({"a": 1}),
    ]);
    assert_eq!(
        call(&url, "POST", "/_bulk", &[NDJSON], &body).await.status,
        200
    );
    es.stop().await;
    assert!(!es.is_running());
    let refused = send(&url, "POST", "/_bulk", &[NDJSON], &body)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    es.restart().await.unwrap();
    assert_eq!(es.url(), url);
    let again = call(&url, "POST", "/_bulk", &[NDJSON], &body).await;
    assert_eq!(
        item(&again, 0)["status"],
        409,
        "documents survive the restart"
    );
    assert_eq!(es.documents("x").len(), 1);
}

#[tokio::test]
async fn es_answers_413_above_the_body_limit() {
    let es = ElasticsearchReceiver::start(EsConfig {
        body_limit_bytes: 1024,
        ..EsConfig::default()
    })
    .await
    .unwrap();
    let big = format!(
        "{{\"create\":{{\"_index\":\"x\"}}}}\n{{\"a\":\"{}\"}}\n",
        "z".repeat(4096)
    );
    let answer = call(&es.url(), "POST", "/_bulk", &[NDJSON], big.as_bytes()).await;
    assert_eq!(answer.status, 413);
    // Also when only the decoded body is too large.
    let zipped = gzip(big.as_bytes());
    assert!(zipped.len() < 1024);
    let answer = call(
        &es.url(),
        "POST",
        "/_bulk",
        &[NDJSON, ("Content-Encoding", "gzip")],
        &zipped,
    )
    .await;
    assert_eq!(answer.status, 413);
    assert_eq!(es.document_count(), 0);
}

// ---------------------------------------------------------------- Splunk HEC

const CHANNEL: &str = "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba";

async fn hec() -> SplunkHecReceiver {
    SplunkHecReceiver::start(HecConfig {
        tokens: vec![
            HecToken::new("plain-token"),
            HecToken::new("ack-token").with_ack(),
            HecToken::new("old-token").disabled(),
        ],
        allowed_indexes: vec!["main".into(), "mimecast".into()],
        body_limit_bytes: mimecast_mock::DEFAULT_BODY_LIMIT_BYTES,
    })
    .await
    .unwrap()
}

const PLAIN: (&str, &str) = ("Authorization", "Splunk plain-token");
const ACK: (&str, &str) = ("Authorization", "Splunk ack-token");

#[tokio::test]
async fn hec_stores_concatenated_events_with_their_metadata() {
    let hec = hec().await;
    let body = br#"{"event":{"id":1},"time":1700000000.25,"host":"h","source":"mimecast","sourcetype":"_json","index":"mimecast","fields":{"tenant":"t1"}}
   {"event":"two","time":"1700000001"}"#;
    let answer = call(
        &hec.url(),
        "POST",
        "/services/collector/event",
        &[PLAIN],
        body,
    )
    .await;
    assert_eq!(
        (answer.status, answer.json()),
        (200, json!({"text": "Success", "code": 0}))
    );
    let events = hec.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event, json!({"id": 1}));
    assert_eq!(events[0].time, Some(1_700_000_000.25));
    assert_eq!(events[0].host.as_deref(), Some("h"));
    assert_eq!(events[0].sourcetype.as_deref(), Some("_json"));
    assert_eq!(events[0].index.as_deref(), Some("mimecast"));
    assert_eq!(events[0].fields.as_ref().unwrap()["tenant"], "t1");
    assert_eq!(events[1].time, Some(1_700_000_001.0));
    let v1 = call(
        &hec.url(),
        "POST",
        "/services/collector/event/1.0",
        &[PLAIN],
        br#"{"event":"x"}"#,
    )
    .await;
    assert_eq!(v1.status, 200);
    let zipped = call(
        &hec.url(),
        "POST",
        "/services/collector",
        &[PLAIN, ("Content-Encoding", "gzip")],
        &gzip(br#"{"event":"y"}"#),
    )
    .await;
    assert_eq!(zipped.status, 200);
    assert_eq!(hec.event_count(), 4);
}

#[tokio::test]
async fn hec_token_errors_carry_their_codes() {
    let hec = hec().await;
    let body = br#"{"event":"x"}"#;
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, u64, &'a str);
    let cases: [Case; 4] = [
        (&[], 401, 2, "Token is required"),
        (
            &[("Authorization", "Bearer plain-token")],
            401,
            3,
            "Invalid authorization",
        ),
        (&[("Authorization", "Splunk nope")], 403, 4, "Invalid token"),
        (
            &[("Authorization", "Splunk old-token")],
            403,
            1,
            "Token disabled",
        ),
    ];
    for (headers, status, code, text) in cases {
        let answer = call(
            &hec.url(),
            "POST",
            "/services/collector/event",
            headers,
            body,
        )
        .await;
        assert_eq!(
            (answer.status, answer.json()),
            (status, json!({"text": text, "code": code}))
        );
    }
    assert_eq!(hec.event_count(), 0);
}

#[tokio::test]
async fn hec_data_errors_name_the_invalid_event() {
    let hec = hec().await;
    let url = hec.url();
    let path = "/services/collector/event";
    let no_data = call(&url, "POST", path, &[PLAIN], b"  \n").await;
    assert_eq!(
        (no_data.status, no_data.json()),
        (400, json!({"text": "No data", "code": 5}))
    );
    let garbage = call(&url, "POST", path, &[PLAIN], b"not json").await;
    assert_eq!(
        garbage.json(),
        json!({"text": "Invalid data format", "code": 6, "invalid-event-number": 0})
    );
    let missing = call(&url, "POST", path, &[PLAIN], br#"{"time":1}"#).await;
    assert_eq!(missing.json()["code"], 12);
    let bad_time = call(
        &url,
        "POST",
        path,
        &[PLAIN],
        br#"{"event":"a","time":"soon"}"#,
    )
    .await;
    assert_eq!(bad_time.json()["code"], 6);
    let blank_second = call(
        &url,
        "POST",
        path,
        &[PLAIN],
        br#"{"event":"kept"}{"event":""}{"event":"lost"}"#,
    )
    .await;
    assert_eq!(blank_second.status, 400);
    assert_eq!(
        blank_second.json(),
        json!({"text": "Event field cannot be blank", "code": 13, "invalid-event-number": 1})
    );
    let index = call(
        &url,
        "POST",
        path,
        &[PLAIN],
        br#"{"event":"a","index":"secret"}"#,
    )
    .await;
    assert_eq!(
        (index.status, index.json()),
        (400, json!({"text": "Incorrect index", "code": 7}))
    );
    // Like Splunk, the event before the invalid one was indexed.
    let events: Vec<Value> = hec.events().into_iter().map(|e| e.event).collect();
    assert_eq!(events, vec![json!("kept")]);
}

#[tokio::test]
async fn hec_acknowledgement_per_channel_including_a_lost_batch() {
    let hec = hec().await;
    let url = hec.url();
    let path = "/services/collector/event";
    let body = br#"{"event":"a"}"#;
    let missing = call(&url, "POST", path, &[ACK], body).await;
    assert_eq!(
        (missing.status, missing.json()["code"].clone()),
        (400, json!(10))
    );
    let invalid = call(
        &url,
        "POST",
        path,
        &[ACK, ("X-Splunk-Request-Channel", "not-a-guid")],
        body,
    )
    .await;
    assert_eq!(
        (invalid.status, invalid.json()["code"].clone()),
        (400, json!(11))
    );
    let channel = ("X-Splunk-Request-Channel", CHANNEL);
    let first = call(&url, "POST", path, &[ACK, channel], body).await;
    assert_eq!(
        first.json(),
        json!({"text": "Success", "code": 0, "ackId": 0})
    );
    let by_query = call(
        &url,
        "POST",
        &format!("{path}?channel={CHANNEL}"),
        &[ACK],
        body,
    )
    .await;
    assert_eq!(by_query.json()["ackId"], 1);
    hec.set_ack_mode(AckMode::Never);
    let lost = call(&url, "POST", path, &[ACK, channel], br#"{"event":"lost"}"#).await;
    assert_eq!(lost.json()["ackId"], 2);
    hec.set_ack_mode(AckMode::After(Duration::from_millis(150)));
    let later = call(&url, "POST", path, &[ACK, channel], br#"{"event":"later"}"#).await;
    assert_eq!(later.json()["ackId"], 3);

    let query = br#"{"acks":[0,1,2,3,9]}"#;
    let acks = call(
        &url,
        "POST",
        "/services/collector/ack",
        &[ACK, channel],
        query,
    )
    .await;
    assert_eq!(
        acks.json(),
        json!({"acks": {"0": true, "1": true, "2": false, "3": false, "9": false}})
    );
    assert!(
        hec.wait_until(WAIT, |h| h.acks(CHANNEL).get(3) == Some(&(3, true)))
            .await
    );
    let acks = call(
        &url,
        "POST",
        "/services/collector/ack",
        &[ACK, channel],
        query,
    )
    .await;
    assert_eq!(acks.json()["acks"]["3"], true);
    assert_eq!(acks.json()["acks"]["2"], false, "a lost batch never acks");
    let events: Vec<Value> = hec.events().into_iter().map(|e| e.event).collect();
    assert_eq!(events, vec![json!("a"), json!("a"), json!("later")]);
    assert_eq!(hec.events()[0].channel.as_deref(), Some(CHANNEL));
    assert_eq!(hec.channels(), vec![CHANNEL.to_string()]);

    let disabled = call(
        &url,
        "POST",
        "/services/collector/ack",
        &[PLAIN, channel],
        query,
    )
    .await;
    assert_eq!(
        (disabled.status, disabled.json()),
        (400, json!({"text": "ACK is disabled", "code": 14}))
    );
    let no_channel = call(&url, "POST", "/services/collector/ack", &[ACK], query).await;
    assert_eq!(no_channel.json()["code"], 10);
}

#[tokio::test]
async fn hec_health_busy_faults_and_restart() {
    let hec = hec().await;
    let url = hec.url();
    let health = call(&url, "GET", "/services/collector/health", &[], b"").await;
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"text": "HEC is healthy", "code": 17}))
    );
    hec.set_busy(true);
    let health = call(&url, "GET", "/services/collector/health", &[], b"").await;
    assert_eq!(
        (health.status, health.json()["code"].clone()),
        (503, json!(18))
    );
    let busy = call(
        &url,
        "POST",
        "/services/collector/event",
        &[PLAIN],
        br#"{"event":"a"}"#,
    )
    .await;
    assert_eq!(
        (busy.status, busy.json()),
        (503, json!({"text": "Server is busy", "code": 9}))
    );
    hec.set_busy(false);
    hec.push_faults([
        SinkFault::retry_after(503, Duration::from_secs(1)),
        SinkFault::status(500),
        SinkFault::ConnectionReset,
    ]);
    // The health endpoint does not take a queued fault.
    assert_eq!(
        call(&url, "GET", "/services/collector/health", &[], b"")
            .await
            .status,
        200
    );
    let fault = call(
        &url,
        "POST",
        "/services/collector/event",
        &[PLAIN],
        br#"{"event":"a"}"#,
    )
    .await;
    assert_eq!(
        (fault.status, fault.json()["code"].clone()),
        (503, json!(9))
    );
    assert_eq!(fault.header("Retry-After"), Some("1"));
    let internal = call(
        &url,
        "POST",
        "/services/collector/event",
        &[PLAIN],
        br#"{"event":"a"}"#,
    )
    .await;
    assert_eq!(
        (internal.status, internal.json()["code"].clone()),
        (500, json!(8))
    );
    assert!(send(
        &url,
        "POST",
        "/services/collector/event",
        &[PLAIN],
        br#"{"event":"a"}"#
    )
    .await
    .is_err());
    assert_eq!(hec.event_count(), 0);
    hec.stop().await;
    assert!(send(&url, "GET", "/services/collector/health", &[], b"")
        .await
        .is_err());
    hec.restart().await.unwrap();
    let ok = call(
        &url,
        "POST",
        "/services/collector/event",
        &[PLAIN],
        br#"{"event":"a"}"#,
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(hec.event_count(), 1);
}

// ---------------------------------------------------------------- OTLP/HTTP logs

fn text(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..KeyValue::default()
    }
}

fn export(records: usize) -> ExportLogsServiceRequest {
    let log_records = (0..records)
        .map(|n| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + n as u64,
            observed_time_unix_nano: 1_700_000_000_500_000_000,
            severity_number: 13,
            severity_text: "WARN".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv(
                        "n",
                        AnyValue {
                            value: Some(any_value::Value::IntValue(n as i64)),
                        },
                    )],
                })),
            }),
            attributes: vec![kv("log.type", text("url"))],
            trace_id: vec![0xab; 16],
            span_id: vec![0x01; 8],
            ..LogRecord::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", text("mcsource"))],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "mimecast".into(),
                    version: "0.1.0".into(),
                    ..InstrumentationScope::default()
                }),
                log_records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

const PROTOBUF: (&str, &str) = ("Content-Type", "application/x-protobuf");

#[tokio::test]
async fn otlp_protobuf_and_gzip_are_decoded_and_stored() {
    let otlp = OtlpLogsReceiver::start(OtlpConfig::default())
        .await
        .unwrap();
    let body = export(2).encode_to_vec();
    let answer = call(&otlp.url(), "POST", "/v1/logs", &[PROTOBUF], &body).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("Content-Type"),
        Some("application/x-protobuf")
    );
    let response = ExportLogsServiceResponse::decode(answer.body.as_slice()).unwrap();
    assert_eq!(response.partial_success, None);
    let zipped = call(
        &otlp.url(),
        "POST",
        "/v1/logs",
        &[PROTOBUF, ("Content-Encoding", "gzip")],
        &gzip(&body),
    )
    .await;
    assert_eq!(zipped.status, 200);
    let records = otlp.log_records();
    assert_eq!(records.len(), 4);
    let first = &records[0];
    assert_eq!(first.resource["service.name"], "mcsource");
    assert_eq!(
        (first.scope_name.as_str(), first.scope_version.as_str()),
        ("mimecast", "0.1.0")
    );
    assert_eq!(first.body, json!({"n": 0}));
    assert_eq!(first.attributes["log.type"], "url");
    assert_eq!(first.time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(first.observed_time_unix_nano, 1_700_000_000_500_000_000);
    assert_eq!(
        (first.severity_number, first.severity_text.as_str()),
        (13, "WARN")
    );
    assert_eq!(first.trace_id, "ab".repeat(16));
    assert_eq!(first.span_id, "01".repeat(8));
}

#[tokio::test]
async fn otlp_json_encoding_follows_the_json_mapping() {
    let otlp = OtlpLogsReceiver::start(OtlpConfig::default())
        .await
        .unwrap();
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "mcsource"}}]},
        "scopeLogs": [{"scope": {"name": "mimecast"}, "logRecords": [{
            "timeUnixNano": "1700000000000000001",
            "severityNumber": 17,
            "severityText": "ERROR",
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "body": {"stringValue": "hello"},
            "attributes": [{"key": "count", "value": {"intValue": "3"}},
                           {"key": "ok", "value": {"boolValue": true}}]
        }]}]
    }]});
    let answer = call(
        &otlp.url(),
        "POST",
        "/v1/logs",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("Content-Type"), Some("application/json"));
    assert_eq!(answer.json(), json!({}));
    let record = &otlp.log_records()[0];
    assert_eq!(record.time_unix_nano, 1_700_000_000_000_000_001);
    assert_eq!(
        (record.severity_number, record.body.clone()),
        (17, json!("hello"))
    );
    assert_eq!(record.trace_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(record.span_id, "eee19b7ec3c1b174");
    assert_eq!(record.attributes["count"], 3);
    assert_eq!(record.attributes["ok"], true);
}

#[tokio::test]
async fn otlp_partial_success_rejects_the_next_records() {
    let otlp = OtlpLogsReceiver::start(OtlpConfig::default())
        .await
        .unwrap();
    otlp.reject_next_log_records(2, "quota exceeded");
    let answer = call(
        &otlp.url(),
        "POST",
        "/v1/logs",
        &[PROTOBUF],
        &export(3).encode_to_vec(),
    )
    .await;
    assert_eq!(answer.status, 200);
    let partial = ExportLogsServiceResponse::decode(answer.body.as_slice())
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(
        (partial.rejected_log_records, partial.error_message.as_str()),
        (2, "quota exceeded")
    );
    let bodies: Vec<Value> = otlp.log_records().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, vec![json!({"n": 2})]);
    otlp.reject_next_log_records(1, "again");
    let json_body = serde_json::to_vec(&export(1)).unwrap();
    let answer = call(
        &otlp.url(),
        "POST",
        "/v1/logs",
        &[("Content-Type", "application/json")],
        &json_body,
    )
    .await;
    assert_eq!(
        answer.json(),
        json!({"partialSuccess": {"rejectedLogRecords": "1", "errorMessage": "again"}})
    );
    assert_eq!(otlp.log_record_count(), 1);
}

#[tokio::test]
async fn otlp_failures_follow_the_spec() {
    let otlp = OtlpLogsReceiver::start(OtlpConfig {
        required_headers: vec![("authorization".into(), "Bearer t".into())],
        ..OtlpConfig::default()
    })
    .await
    .unwrap();
    let url = otlp.url();
    let auth = ("Authorization", "Bearer t");
    let body = export(1).encode_to_vec();
    let unsupported = call(
        &url,
        "POST",
        "/v1/logs",
        &[auth, ("Content-Type", "text/plain")],
        &body,
    )
    .await;
    assert_eq!(unsupported.status, 415);
    let bad = call(&url, "POST", "/v1/logs", &[auth, PROTOBUF], b"\xff\xff\xff").await;
    assert_eq!(bad.status, 400);
    let status = rpc_status(&bad);
    assert_eq!(status.0, 3, "INVALID_ARGUMENT");
    let missing = call(&url, "POST", "/v1/logs", &[PROTOBUF], &body).await;
    assert_eq!(missing.status, 401);
    let wrong = call(
        &url,
        "POST",
        "/v1/logs",
        &[PROTOBUF, ("Authorization", "Bearer x")],
        &body,
    )
    .await;
    assert_eq!(wrong.status, 403);
    otlp.push_faults([
        SinkFault::retry_after(503, Duration::from_secs(3)),
        SinkFault::status(429),
        SinkFault::status(502),
        SinkFault::status(504),
        SinkFault::ConnectionReset,
    ]);
    let unavailable = call(&url, "POST", "/v1/logs", &[auth, PROTOBUF], &body).await;
    assert_eq!(
        (unavailable.status, unavailable.header("Retry-After")),
        (503, Some("3"))
    );
    assert_eq!(rpc_status(&unavailable).0, 14, "UNAVAILABLE");
    for (status, code) in [(429, 8), (502, 14), (504, 4)] {
        let answer = call(
            &url,
            "POST",
            "/v1/logs",
            &[auth, ("Content-Type", "application/json")],
            b"{}",
        )
        .await;
        assert_eq!(
            (answer.status, answer.json()["code"].clone()),
            (status, json!(code))
        );
    }
    assert!(send(&url, "POST", "/v1/logs", &[auth, PROTOBUF], &body)
        .await
        .is_err());
    assert_eq!(otlp.log_record_count(), 0);
    let ok = call(&url, "POST", "/v1/logs", &[auth, PROTOBUF], &body).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        call(&url, "POST", "/v1/traces", &[auth, PROTOBUF], &body)
            .await
            .status,
        404
    );
}

/// `google.rpc.Status` fields 1 (code) and 2 (message) of a protobuf failure body.
fn rpc_status(answer: &Answer) -> (i32, String) {
    #[derive(Clone, PartialEq, Message)]
    struct Status {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    assert_eq!(
        answer.header("Content-Type"),
        Some("application/x-protobuf")
    );
    let status = Status::decode(answer.body.as_slice()).unwrap();
    (status.code, status.message)
}

// ---------------------------------------------------------------- NDJSON ingest

async fn ingest(success_status: u16) -> HttpIngestReceiver {
    HttpIngestReceiver::start(HttpIngestConfig {
        path: "/ingest".into(),
        required_headers: vec![
            ("authorization".into(), "Bearer x".into()),
            ("x-tenant".into(), "t1".into()),
        ],
        success_status,
        body_limit_bytes: 4096,
    })
    .await
    .unwrap()
}

const BEARER: (&str, &str) = ("Authorization", "Bearer x");
const TENANT: (&str, &str) = ("X-Tenant", "t1");

#[tokio::test]
async fn ingest_stores_ndjson_objects_with_the_configured_status() {
    let ingest = ingest(202).await;
    let body = b"{\"a\":1}\r\n{\"b\":2}\n\n{\"c\":3}";
    let answer = call(&ingest.url(), "POST", "/ingest", &[BEARER, TENANT], body).await;
    assert_eq!(
        (answer.status, answer.json()),
        (202, json!({"accepted": 3}))
    );
    let zipped = call(
        &ingest.url(),
        "POST",
        "/ingest",
        &[BEARER, TENANT, ("Content-Encoding", "gzip")],
        &gzip(b"{\"d\":4}\n"),
    )
    .await;
    assert_eq!(zipped.status, 202);
    assert_eq!(
        ingest.lines(),
        vec![
            json!({"a":1}),
            json!({"b":2}),
            json!({"c":3}),
            json!({"d":4})
        ]
    );
    let no_content = self::ingest(204).await;
    let answer = call(
        &no_content.url(),
        "POST",
        "/ingest",
        &[BEARER, TENANT],
        b"{}\n",
    )
    .await;
    assert_eq!((answer.status, answer.body.len()), (204, 0));
}

#[tokio::test]
async fn ingest_refuses_bad_requests_and_injects_faults() {
    let ingest = ingest(200).await;
    let url = ingest.url();
    let line = b"{\"a\":1}\n";
    assert_eq!(
        call(&url, "POST", "/ingest", &[TENANT], line).await.status,
        401
    );
    assert_eq!(
        call(
            &url,
            "POST",
            "/ingest",
            &[("Authorization", "Bearer y"), TENANT],
            line
        )
        .await
        .status,
        403
    );
    assert_eq!(
        call(&url, "POST", "/ingest", &[BEARER], line).await.status,
        401
    );
    let not_object = call(
        &url,
        "POST",
        "/ingest",
        &[BEARER, TENANT],
        b"{\"a\":1}\n[1,2]\n",
    )
    .await;
    assert_eq!(
        (not_object.status, not_object.json()["error"].clone()),
        (400, json!("line 2 is not a JSON object"))
    );
    let not_json = call(&url, "POST", "/ingest", &[BEARER, TENANT], b"hello\n").await;
    assert_eq!(not_json.status, 400);
    let too_big = vec![b' '; 8192];
    assert_eq!(
        call(&url, "POST", "/ingest", &[BEARER, TENANT], &too_big)
            .await
            .status,
        413
    );
    assert_eq!(
        call(&url, "POST", "/other", &[BEARER, TENANT], line)
            .await
            .status,
        404
    );
    assert_eq!(
        call(&url, "GET", "/ingest", &[BEARER, TENANT], b"")
            .await
            .status,
        405
    );
    ingest.push_faults([
        SinkFault::status(500),
        SinkFault::status(503),
        SinkFault::retry_after(429, Duration::from_secs(7)),
        SinkFault::Raw {
            status: 502,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: "<html>bad gateway</html>".into(),
        },
        SinkFault::ConnectionReset,
    ]);
    assert_eq!(
        call(&url, "POST", "/ingest", &[BEARER, TENANT], line)
            .await
            .status,
        500
    );
    assert_eq!(
        call(&url, "POST", "/ingest", &[BEARER, TENANT], line)
            .await
            .status,
        503
    );
    let throttled = call(&url, "POST", "/ingest", &[BEARER, TENANT], line).await;
    assert_eq!(
        (throttled.status, throttled.header("Retry-After")),
        (429, Some("7"))
    );
    let raw = call(&url, "POST", "/ingest", &[BEARER, TENANT], line).await;
    assert_eq!(
        (raw.status, raw.body.as_slice()),
        (502, &b"<html>bad gateway</html>"[..])
    );
    assert!(send(&url, "POST", "/ingest", &[BEARER, TENANT], line)
        .await
        .is_err());
    assert_eq!(ingest.pending_faults(), 0);
    assert_eq!(ingest.line_count(), 0);
    assert_eq!(ingest.count_status(0), 1);
    ingest.stop().await;
    assert!(send(&url, "POST", "/ingest", &[BEARER, TENANT], line)
        .await
        .is_err());
    ingest.restart().await.unwrap();
    assert_eq!(
        call(&url, "POST", "/ingest", &[BEARER, TENANT], line)
            .await
            .status,
        200
    );
    assert_eq!(ingest.line_count(), 1);
}

// ---------------------------------------------------------------- TLS

#[tokio::test]
async fn tls_receiver_serves_https_and_restarts_with_the_same_certificate() {
    let ingest = HttpIngestReceiver::start_tls(HttpIngestConfig::default())
        .await
        .unwrap();
    assert!(ingest.url().starts_with("https://localhost:"));
    assert!(ingest
        .certificate_pem()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    let cert = ingest.certificate().unwrap();
    let answer = send_tls(
        ingest.port(),
        cert.clone(),
        None,
        "POST",
        "/",
        &[],
        b"{\"a\":1}\n",
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200);
    ingest.stop().await;
    ingest.restart().await.unwrap();
    let answer = send_tls(ingest.port(), cert, None, "POST", "/", &[], b"{\"b\":2}\n")
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(ingest.line_count(), 2);
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let ca = TestCa::new("mock client CA").unwrap();
    assert!(ca.certificate_pem().contains("BEGIN CERTIFICATE"));
    let otlp = OtlpLogsReceiver::start_mtls(OtlpConfig::default(), &[ca.certificate()])
        .await
        .unwrap();
    let server_cert = otlp.certificate().unwrap();
    let body = export(1).encode_to_vec();
    let client = ca.issue_client("mcsource").unwrap();
    assert!(client.key_pem.contains("PRIVATE KEY"));
    let answer = send_tls(
        otlp.port(),
        server_cert.clone(),
        Some((client.certificate, client.key)),
        "POST",
        "/v1/logs",
        &[PROTOBUF],
        &body,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200);
    let without = send_tls(
        otlp.port(),
        server_cert.clone(),
        None,
        "POST",
        "/v1/logs",
        &[PROTOBUF],
        &body,
    )
    .await;
    assert!(without.is_err(), "{without:?}");
    let stranger = TestCa::new("other CA")
        .unwrap()
        .issue_client("intruder")
        .unwrap();
    let foreign = send_tls(
        otlp.port(),
        server_cert,
        Some((stranger.certificate, stranger.key)),
        "POST",
        "/v1/logs",
        &[PROTOBUF],
        &body,
    )
    .await;
    assert!(foreign.is_err(), "{foreign:?}");
    assert_eq!(otlp.log_record_count(), 1);
    assert_eq!(
        otlp.requests().len(),
        1,
        "refused handshakes never reach the protocol"
    );
}

#[tokio::test]
async fn default_limit_takes_bodies_of_several_mebibytes() {
    let ingest = HttpIngestReceiver::start(HttpIngestConfig::default())
        .await
        .unwrap();
    let line = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(1000));
    let body = line.repeat(3 * 1024);
    assert!(body.len() > 3_000_000);
    let answer = call(&ingest.url(), "POST", "/", &[], body.as_bytes()).await;
    assert_eq!((answer.status, ingest.line_count()), (200, 3 * 1024));
    assert_eq!(ingest.requests()[0].body_bytes, body.len());
}
