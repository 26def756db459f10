//! The Elasticsearch sink against a mock `_bulk` that keeps Elasticsearch's contract: `create`
//! with `_id`, 409 for an id it holds, per-item 429s and mapping errors, whole-request
//! failures, API keys. Nothing is lost (what Elasticsearch refuses for good is in the
//! dead-letter file with its reason) and nothing is indexed twice, also after `kill -9`.

use std::time::{Duration, Instant};

use mimecast_mock::{encode_api_key, ElasticsearchReceiver, EsConfig, SinkFault};
use serde_json::Value;

use crate::common::{assert_success, stderr, OutputWithin};
use crate::{awkward_harness, config_with_sinks, file_lines, served};

const KEY_ID: &str = "mcsource";
const KEY: &str = "s3cret-api-key";

fn es_sink(es: &ElasticsearchReceiver, extra: &str) -> String {
    format!(
        "[[sink]]\ntype = \"elasticsearch\"\nurl = \"{}\"\napi_key = {{ env = \"E2E_ES_KEY\" }}\n\
         batch = {{ max_events = 100, max_in_flight = 2 }}\nretry = {{ initial = \"100ms\", max = \"500ms\" }}\n{extra}\n",
        es.url()
    )
}

fn es_config() -> EsConfig {
    EsConfig {
        api_keys: vec![encode_api_key(KEY_ID, KEY)],
        ..EsConfig::default()
    }
}

/// The documents Elasticsearch holds, by `_id`.
fn documents(es: &ElasticsearchReceiver) -> std::collections::BTreeMap<String, (String, Value)> {
    let mut out = std::collections::BTreeMap::new();
    for (index, id, doc) in es.all_documents() {
        assert!(
            out.insert(id.clone(), (index, doc)).is_none(),
            "{id} is indexed twice"
        );
    }
    out
}

/// Every event is indexed once under `_id` tenant:log_type:event_id in its log type's daily
/// index, or, if Elasticsearch refuses it for good, in the dead-letter file with the reason;
/// 429 items, 503s, a reset and a `Retry-After` on the way change nothing of that.
#[test]
fn every_event_is_indexed_once_or_dead_lettered_through_item_and_request_failures() {
    let h = awkward_harness();
    let es = h
        ._rt
        .block_on(ElasticsearchReceiver::start(es_config()))
        .unwrap();
    es.reject_next_items(150);
    es.reject_documents_containing("second line");
    es.push_faults([
        SinkFault::status(503),
        SinkFault::ConnectionReset,
        SinkFault::retry_after(429, Duration::from_secs(1)),
    ]);
    let config = config_with_sinks(&h, &es_sink(&es, ""), "");
    let out = h
        .command(&["run", "--once", "--config", config.to_str().unwrap()])
        .env("E2E_ES_KEY", encode_api_key(KEY_ID, KEY))
        .output_within();
    assert_success(&out);
    let lines = file_lines(&h);
    assert_eq!(lines.len(), served(&h));
    let docs = documents(&es);
    let dead: Vec<Value> =
        std::fs::read_to_string(h.dir.path().join("state/dead-letter-elasticsearch.ndjson"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(dead.len(), 3, "one CR LF record per log type is refused");
    for d in &dead {
        assert_eq!(d["status"], 400);
        assert!(d["error"]["type"].as_str().unwrap().contains("pars"), "{d}");
        assert!(
            d["event"]["record"].to_string().contains("second line"),
            "{d}"
        );
    }
    assert_eq!(docs.len() + dead.len(), lines.len());
    for line in &lines {
        let event: Value = serde_json::from_str(line).unwrap();
        let log_type = event["log_type"].as_str().unwrap();
        let id = format!("acme:{log_type}:{}", event["event_id"].as_str().unwrap());
        match docs.get(&id) {
            Some((index, doc)) => {
                assert_eq!(doc, &event);
                let date = event["event_time"].as_str().unwrap()[..10].replace('-', ".");
                assert_eq!(index, &format!("mimecast-{log_type}-{date}"));
                assert_eq!(es.version(index, &id), Some(1));
            }
            None => assert!(dead.iter().any(|d| d["event"] == event), "{id} is lost"),
        }
    }
    let log = stderr(&out);
    assert!(log.contains("were not indexed yet (429 or 5xx)"), "{log}");
    assert!(log.contains("dead-letter"), "{log}");
    assert!(es.count_status(503) >= 1 && es.count_status(429) >= 1);
}

/// `kill -9` of mcsource in the middle of deliveries to a slow cluster: the batches sent but
/// not committed are sent again after the restart, and Elasticsearch's `_id` keeps each event
/// once in the index.
#[test]
fn kill_9_mid_delivery_leaves_no_duplicate_in_the_index() {
    let h = awkward_harness();
    let es = h
        ._rt
        .block_on(ElasticsearchReceiver::start(es_config()))
        .unwrap();
    es.set_delay(Duration::from_millis(150));
    let config = config_with_sinks(&h, &es_sink(&es, ""), "");
    let mut run = h
        .command(&["run", "--config", config.to_str().unwrap()])
        .env("E2E_ES_KEY", encode_api_key(KEY_ID, KEY))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let total = served(&h);
    let deadline = Instant::now() + Duration::from_secs(120);
    while es.document_count() < total / 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    run.kill().unwrap();
    run.wait().unwrap();
    let at_kill = es.document_count();
    assert!(at_kill < total, "the kill came too late to test anything");
    es.set_delay(Duration::ZERO);
    let out = h
        .command(&["run", "--once", "--config", config.to_str().unwrap()])
        .env("E2E_ES_KEY", encode_api_key(KEY_ID, KEY))
        .output_within();
    assert_success(&out);
    let docs = documents(&es);
    assert_eq!(docs.len(), total, "every event indexed once");
    assert_eq!(file_lines(&h).len(), total);
    let attempts: usize = es
        .all_documents()
        .iter()
        .map(|(index, id, _)| es.create_attempts(index, id))
        .sum();
    eprintln!("{at_kill} of {total} indexed at the kill; {attempts} create attempts in all");
}

/// A key the cluster refuses stops the run with the sink's name and the fix; nothing is
/// committed, so nothing is in the file sink either.
#[test]
fn refused_credentials_stop_the_run_and_commit_nothing() {
    let h = awkward_harness();
    let es = h
        ._rt
        .block_on(ElasticsearchReceiver::start(es_config()))
        .unwrap();
    let config = config_with_sinks(&h, &es_sink(&es, ""), "");
    let out = h
        .command(&["run", "--once", "--config", config.to_str().unwrap()])
        .env("E2E_ES_KEY", encode_api_key(KEY_ID, "wrong"))
        .output_within();
    assert!(!out.status.success());
    let log = stderr(&out);
    assert!(
        log.contains("sink elasticsearch: the receiver refused the credentials (401"),
        "{log}"
    );
    assert!(
        !log.contains("wrong") && !log.contains(KEY),
        "a key in the log: {log}"
    );
    assert!(file_lines(&h).is_empty());
    assert_eq!(es.document_count(), 0);
}

/// A cluster behind mutual TLS with basic authentication (as OpenSearch is often run): the
/// sink trusts the cluster's certificate from `tls.ca_file`, presents its client certificate,
/// and every event is indexed once. Without the client certificate the handshake fails and
/// the run stops with the sink's name, committing nothing.
#[test]
fn mutual_tls_and_basic_auth() {
    let h = awkward_harness();
    let ca = mimecast_mock::TestCa::new("mcsource test CA").unwrap();
    let client = ca.issue_client("mcsource").unwrap();
    let config = EsConfig {
        basic_users: vec![("mcsource".into(), "pa55".into())],
        ..EsConfig::default()
    };
    let es = h
        ._rt
        .block_on(ElasticsearchReceiver::start_mtls(
            config,
            &[ca.certificate()],
        ))
        .unwrap();
    let dir = h.dir.path();
    std::fs::write(dir.join("es.pem"), es.certificate_pem().unwrap()).unwrap();
    std::fs::write(dir.join("client.pem"), &client.certificate_pem).unwrap();
    std::fs::write(dir.join("client.key"), &client.key_pem).unwrap();
    std::fs::write(dir.join("password"), "pa55\n").unwrap();
    let sink = |tls: &str| {
        format!(
            "[[sink]]\ntype = \"elasticsearch\"\nurl = \"{}\"\nusername = \"mcsource\"\n\
             password = {{ file = \"password\" }}\nretry = {{ initial = \"100ms\", give_up_after = \"2s\" }}\n{tls}\n",
            es.url()
        )
    };
    let without = config_with_sinks(&h, &sink("tls = { ca_file = \"es.pem\" }"), "");
    let out = h
        .command(&["run", "--once", "--config", without.to_str().unwrap()])
        .output_within();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("sink elasticsearch"),
        "{}",
        stderr(&out)
    );
    assert!(file_lines(&h).is_empty());
    let with = config_with_sinks(
        &h,
        &sink("tls = { ca_file = \"es.pem\", client_cert = \"client.pem\", client_key = \"client.key\" }"),
        "",
    );
    let out = h
        .command(&["run", "--once", "--config", with.to_str().unwrap()])
        .output_within();
    assert_success(&out);
    assert_eq!(documents(&es).len(), served(&h));
    assert_eq!(file_lines(&h).len(), served(&h));
}
