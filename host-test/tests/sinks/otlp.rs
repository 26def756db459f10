//! The OTLP sink against a mock OTLP/HTTP logs receiver that decodes the official protobuf and
//! JSON encodings: one LogRecord per event with the event as body, its attributes, times and
//! severity; retryable answers retried; a partial success logged, not retried.

use std::time::Duration;

use mimecast_mock::{OtlpConfig, OtlpLogsReceiver, SinkFault};
use serde_json::Value;

use crate::common::{assert_success, stderr, OutputWithin};
use crate::{awkward_harness, config_with_sinks, file_lines, same_multiset, served};

fn otlp(h: &crate::common::Harness) -> OtlpLogsReceiver {
    h._rt
        .block_on(OtlpLogsReceiver::start(OtlpConfig::default()))
        .unwrap()
}

fn run(h: &crate::common::Harness, sinks: &str) -> std::process::Output {
    let config = config_with_sinks(h, sinks, "");
    h.command(&["run", "--once", "--config", config.to_str().unwrap()])
        .output_within()
}

#[test]
fn protobuf_records_carry_each_event_byte_for_byte_with_its_attributes() {
    let h = awkward_harness();
    let rx = otlp(&h);
    rx.push_faults([
        SinkFault::retry_after(503, Duration::from_secs(1)),
        SinkFault::status(429),
    ]);
    let sinks = format!(
        "[[sink]]\ntype = \"otlp\"\nurl = \"{}/v1/logs\"\ngzip = true\nretry = {{ initial = \"100ms\" }}\n",
        rx.url()
    );
    let out = run(&h, &sinks);
    assert_success(&out);
    let lines = file_lines(&h);
    assert_eq!(lines.len(), served(&h));
    let records = rx.log_records();
    let bodies: Vec<String> = records
        .iter()
        .map(|r| r.body.as_str().unwrap().to_string())
        .collect();
    same_multiset(&bodies, &lines, "OTLP bodies");
    for r in &records {
        let event: Value = serde_json::from_str(r.body.as_str().unwrap()).unwrap();
        assert_eq!(r.attributes["mimecast.tenant"], "acme");
        assert_eq!(r.attributes["mimecast.log_type"], event["log_type"]);
        assert_eq!(r.attributes["event.id"], event["event_id"]);
        let time =
            chrono::DateTime::parse_from_rfc3339(event["event_time"].as_str().unwrap()).unwrap();
        assert_eq!(r.time_unix_nano, time.timestamp_nanos_opt().unwrap() as u64);
        assert!(r.observed_time_unix_nano > r.time_unix_nano);
        assert!(matches!(
            (r.severity_number, r.severity_text.as_str()),
            (9, "INFO") | (13, "WARN")
        ));
        assert_eq!(r.resource["service.name"], "mcsource");
        assert_eq!(r.scope_name, "mcsource");
    }
}

#[test]
fn json_maps_and_a_partial_success_is_logged_not_retried() {
    let h = awkward_harness();
    let rx = otlp(&h);
    rx.reject_next_log_records(5, "5 records over the size limit");
    let sinks = format!(
        "[[sink]]\ntype = \"otlp\"\nurl = \"{}/v1/logs\"\nencoding = \"json\"\nbody = \"map\"\n",
        rx.url()
    );
    let out = run(&h, &sinks);
    assert_success(&out);
    let lines = file_lines(&h);
    let records = rx.log_records();
    assert_eq!(
        records.len() + 5,
        lines.len(),
        "the rejected records are not sent again"
    );
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for r in &records {
        assert!(r.body.is_object(), "{}", r.body);
        assert!(
            events.contains(&r.body),
            "a body that is no event: {:.200}",
            r.body.to_string()
        );
    }
    let log = stderr(&out);
    assert!(
        log.contains("rejected log records for good")
            && log.contains("5 records over the size limit"),
        "{log}"
    );
}
