//! `type = "otlp"`: OTLP/HTTP logs (`POST …/v1/logs`) to an OpenTelemetry Collector, Vector
//! or Fluent Bit, in protobuf (default) or OTLP's JSON mapping, optionally gzip-compressed.
//! One LogRecord per event: the body is the event (its JSON text byte for byte, or with
//! `body = "map"` the event as an OTLP map), attributes `mimecast.tenant`,
//! `mimecast.log_type` and `event.id`, `time_unix_nano` the event's time,
//! `observed_time_unix_nano` the delivery's, severity WARN for events Mimecast judged
//! malicious and INFO for the others; resource `service.name = "mcsource"` and `host.name`.
//! The messages are the `opentelemetry-proto` crate's (generated from the official protos,
//! encoded by `prost`), so the wire format is the specification's. Answers follow the OTLP/HTTP
//! specification: 429, 502, 503 and 504 are retried (honouring `Retry-After`), other failures
//! stop the run; a partial success (`rejected_log_records`) must not be retried, so the
//! rejected count and the receiver's message are logged as an error.

use std::io::Write as _;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use super::http::{exchange_or_wait, sink_client, BuildError};
use super::{chunks, classify, send_pieces, Answer, NetContext, Retrier};
use crate::config::sinks::{OtlpBody, OtlpEncoding, OtlpSpec};
use crate::delivery::event_meta;
use crate::delivery::sink::{all_events, Batch, Sink, SinkError};
use crate::net::HttpClient;

/// A string attribute.
fn attribute(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(string_value(value.into())),
        ..KeyValue::default()
    }
}

fn string_value(s: String) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    }
}

/// A JSON value as an OTLP value (a number beyond i64 becomes a double; null is empty).
pub fn any_value(v: serde_json::Value) -> AnyValue {
    use serde_json::Value;
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s)),
        Value::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.into_iter().map(any_value).collect(),
        })),
        Value::Object(map) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: map
                .into_iter()
                .map(|(key, v)| KeyValue {
                    key,
                    value: Some(any_value(v)),
                    ..KeyValue::default()
                })
                .collect(),
        })),
    };
    AnyValue { value }
}

/// The OTLP sink.
pub struct OtlpSink {
    name: String,
    spec: OtlpSpec,
    client: HttpClient,
    cx: NetContext,
    host: String,
}

impl OtlpSink {
    /// A sink named `name` with `spec`.
    ///
    /// # Errors
    /// Its TLS settings cannot be used.
    pub fn new(name: &str, spec: OtlpSpec, cx: NetContext) -> Result<OtlpSink, BuildError> {
        let client = sink_client(name, &spec.network, &cx)?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Ok(OtlpSink {
            name: name.to_string(),
            spec,
            client,
            cx,
            host,
        })
    }

    /// One event as a LogRecord.
    fn record(&self, tenant: &str, log_type: &str, event: &str, observed: u64) -> LogRecord {
        let meta = event_meta::read(event);
        let time = meta
            .time
            .and_then(|t| t.timestamp_nanos_opt())
            .map_or(0, |n| u64::try_from(n).unwrap_or(0));
        let (severity, text) = if meta.malicious {
            (SeverityNumber::Warn, "WARN")
        } else {
            (SeverityNumber::Info, "INFO")
        };
        let body = match self.spec.body {
            OtlpBody::String => string_value(event.to_string()),
            OtlpBody::Map => serde_json::from_str(event)
                .map_or_else(|_| string_value(event.to_string()), any_value),
        };
        let mut attributes = vec![
            attribute("mimecast.tenant", tenant),
            attribute("mimecast.log_type", log_type),
        ];
        if let Some(id) = meta.id {
            attributes.push(attribute("event.id", id));
        }
        LogRecord {
            time_unix_nano: time,
            observed_time_unix_nano: observed,
            severity_number: severity as i32,
            severity_text: text.to_string(),
            body: Some(body),
            attributes,
            ..LogRecord::default()
        }
    }

    /// The request body for `records`.
    fn body(&self, records: Vec<LogRecord>) -> Result<Bytes, SinkError> {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        attribute("service.name", "mcsource"),
                        attribute("host.name", self.host.clone()),
                    ],
                    ..Resource::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "mcsource".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..InstrumentationScope::default()
                    }),
                    log_records: records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let encoded = match self.spec.encoding {
            OtlpEncoding::Protobuf => request.encode_to_vec(),
            OtlpEncoding::Json => serde_json::to_vec(&request).map_err(|e| {
                SinkError::Permanent(format!("sink {}: cannot encode OTLP JSON: {e}", self.name))
            })?,
        };
        if !self.spec.gzip {
            return Ok(Bytes::from(encoded));
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&encoded)
            .and_then(|()| gz.finish())
            .map(Bytes::from)
            .map_err(SinkError::Retryable)
    }

    /// Sends one request until the receiver took it.
    async fn send(&self, body: Bytes) -> Result<(), SinkError> {
        let content_type = match self.spec.encoding {
            OtlpEncoding::Protobuf => "application/x-protobuf",
            OtlpEncoding::Json => "application/json",
        };
        let mut retrier = Retrier::new(&self.name, &self.spec.network, &self.cx);
        loop {
            let mut request = http::Request::post(self.spec.url.clone())
                .header(http::header::CONTENT_TYPE, content_type);
            if self.spec.gzip {
                request = request.header(http::header::CONTENT_ENCODING, "gzip");
            }
            for (name, value) in &self.spec.headers {
                request = request.header(name, value.expose());
            }
            let request = request
                .body(body.clone())
                .map_err(|e| SinkError::Permanent(format!("sink {}: {e}", self.name)))?;
            let timeout = self.spec.network.timeout;
            let Some(answer) =
                exchange_or_wait(&self.client, request, timeout, &self.name, &mut retrier).await?
            else {
                continue;
            };
            match classify(
                &self.name,
                answer.status,
                answer.retry_after.as_ref(),
                &answer.body,
                &[],
            ) {
                Answer::Taken => {
                    self.partial_success(&answer.body);
                    return Ok(());
                }
                Answer::Refused(why) => return Err(SinkError::Permanent(why)),
                // OTLP/HTTP: only these are retryable; any other failure is not.
                Answer::Retry { why, after }
                    if matches!(answer.status.as_u16(), 429 | 502 | 503 | 504) =>
                {
                    retrier.wait(&why, after).await?;
                }
                Answer::Retry { why, .. } => {
                    return Err(SinkError::Permanent(format!(
                        "sink {}: {why}; OTLP/HTTP retries only 429, 502, 503 and 504",
                        self.name
                    )))
                }
            }
        }
    }

    /// Logs a partial success: records the receiver rejected for good (not to be retried).
    fn partial_success(&self, body: &[u8]) {
        let (rejected, message) = match self.spec.encoding {
            OtlpEncoding::Protobuf => ExportLogsServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map_or((0, String::new()), |p| {
                    (p.rejected_log_records, p.error_message)
                }),
            OtlpEncoding::Json => json_partial_success(body),
        };
        if rejected > 0 {
            tracing::error!(
                sink = self.name,
                rejected,
                message,
                "the OTLP receiver rejected log records for good (partial success; OTLP forbids sending them again)"
            );
        } else if !message.is_empty() {
            tracing::warn!(
                sink = self.name,
                message,
                "the OTLP receiver took the records with a warning"
            );
        }
    }
}

/// `partialSuccess` of a JSON answer: the rejected count (OTLP's JSON mapping writes int64 as
/// a string; a number is taken too) and the message.
fn json_partial_success(body: &[u8]) -> (i64, String) {
    let answer: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let partial = &answer["partialSuccess"];
    let rejected = match &partial["rejectedLogRecords"] {
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        n => n.as_i64().unwrap_or(0),
    };
    let message = partial["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (rejected, message)
}

impl Sink for OtlpSink {
    fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
        self.deliver_all(&[batch])
    }

    fn deliver_all(&mut self, batches: &[Batch<'_>]) -> Result<(), SinkError> {
        let observed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0));
        let events: Vec<(Batch<'_>, &str)> = all_events(batches).collect();
        let n = &self.spec.network;
        // What a record takes in a request: its event, more in OTLP JSON or as a map (keys and
        // value wrappers), plus its attributes and times.
        let factor = match (self.spec.encoding, self.spec.body) {
            (OtlpEncoding::Protobuf, OtlpBody::String) => 1,
            _ => 3,
        };
        let ranges = chunks(
            events.iter().map(|(_, e)| e.len() * factor + 200),
            n.max_events,
            n.max_bytes,
        );
        let bodies = ranges
            .into_iter()
            .map(|r| {
                let records = events[r]
                    .iter()
                    .map(|(b, e)| self.record(b.tenant, b.log_type, e, observed))
                    .collect();
                self.body(records)
            })
            .collect::<Result<Vec<_>, _>>()?;
        send_pieces(&self.cx, bodies, n.max_in_flight, |b| self.send(b))?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_values_become_otlp_values() {
        let v = any_value(
            serde_json::json!({"a": [1, 2.5, "x", true, null], "big": 18446744073709551615u64}),
        );
        let Some(any_value::Value::KvlistValue(kv)) = v.value else {
            panic!("not a map");
        };
        assert_eq!(kv.values[0].key, "a");
        let Some(any_value::Value::ArrayValue(items)) = &kv.values[0].value.as_ref().unwrap().value
        else {
            panic!("not an array");
        };
        assert_eq!(items.values[0].value, Some(any_value::Value::IntValue(1)));
        assert_eq!(
            items.values[1].value,
            Some(any_value::Value::DoubleValue(2.5))
        );
        assert_eq!(items.values[4].value, None);
        assert!(matches!(
            kv.values[1].value.as_ref().unwrap().value,
            Some(any_value::Value::DoubleValue(_))
        ));
    }

    #[test]
    fn a_json_partial_success_is_read_with_its_count_as_string_or_number() {
        let s = br#"{"partialSuccess":{"rejectedLogRecords":"5","errorMessage":"too big"}}"#;
        assert_eq!(json_partial_success(s), (5, "too big".into()));
        let n = br#"{"partialSuccess":{"rejectedLogRecords":2}}"#;
        assert_eq!(json_partial_success(n), (2, String::new()));
        assert_eq!(json_partial_success(b"{}"), (0, String::new()));
    }
}
