//! Mock OTLP/HTTP logs receiver: `POST /v1/logs` with an `ExportLogsServiceRequest` in binary
//! protobuf or OTLP/JSON, answered in the request's encoding, with partial success and the
//! spec's failure semantics.
//!
//! Sources: OpenTelemetry Protocol specification, "OTLP/HTTP" (request and response encodings
//! `application/x-protobuf` and `application/json`; optional `Content-Encoding: gzip`; 415 for
//! an unsupported content type; `partial_success` with `rejected_log_records` and
//! `error_message`; failures carry a `google.rpc.Status`; 429, 502, 503 and 504 are retryable,
//! optionally with `Retry-After`; other 4xx are not) and "JSON Protobuf Encoding" (lowerCamelCase
//! field names, hex trace and span ids, enums as integers, 64-bit integers as strings). Messages
//! come from the `opentelemetry-proto` crate.

use std::fmt;
use std::sync::Mutex;

use hyper::Method;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message;
use serde_json::{Map, Value};

use crate::receivers::exchange::{Reply, SinkRequest};
use crate::receivers::header_auth::check_headers;
use crate::receivers::listener::{lock, sealed, Protocol, Receiver, DEFAULT_BODY_LIMIT_BYTES};

/// A running mock OTLP/HTTP logs receiver.
pub type OtlpLogsReceiver = Receiver<OtlpLogs>;

/// How the mock OTLP receiver is set up. `OtlpConfig::default()`: path `/v1/logs`, no required
/// header.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The logs path.
    pub path: String,
    /// Headers every request must carry with exactly this value (401 when missing, 403 when
    /// wrong), e.g. `("authorization", "Bearer x")`.
    pub required_headers: Vec<(String, String)>,
    /// Largest body (413 beyond).
    pub body_limit_bytes: usize,
}

impl Default for OtlpConfig {
    fn default() -> OtlpConfig {
        OtlpConfig {
            path: "/v1/logs".to_string(),
            required_headers: Vec::new(),
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
        }
    }
}

/// One stored log record, flattened with its resource and scope; `AnyValue`s are JSON
/// (strings, booleans, numbers, arrays, objects for key-value lists, base64 strings for bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpLogRecord {
    /// Resource attributes.
    pub resource: Map<String, Value>,
    /// Instrumentation scope name.
    pub scope_name: String,
    /// Instrumentation scope version.
    pub scope_version: String,
    /// Instrumentation scope attributes.
    pub scope_attributes: Map<String, Value>,
    /// `time_unix_nano` (0: unset).
    pub time_unix_nano: u64,
    /// `observed_time_unix_nano`.
    pub observed_time_unix_nano: u64,
    /// `severity_number` (the `SeverityNumber` enum's value).
    pub severity_number: i32,
    /// `severity_text`.
    pub severity_text: String,
    /// `body` (`Value::Null` when absent).
    pub body: Value,
    /// Record attributes.
    pub attributes: Map<String, Value>,
    /// `trace_id` in lowercase hex (empty when unset).
    pub trace_id: String,
    /// `span_id` in lowercase hex (empty when unset).
    pub span_id: String,
    /// `flags`.
    pub flags: u32,
    /// `event_name`.
    pub event_name: String,
}

/// `google.rpc.Status`, the body of an OTLP/HTTP failure (details left out).
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The request's encoding, which the answer uses too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn of(request: &SinkRequest) -> Option<Encoding> {
        match request.media_type().as_deref() {
            Some("application/x-protobuf") => Some(Encoding::Protobuf),
            Some("application/json") => Some(Encoding::Json),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// The state of the mock OTLP receiver.
pub struct OtlpLogs {
    config: OtlpConfig,
    state: Mutex<OtlpState>,
}

impl fmt::Debug for OtlpLogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpLogs").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct OtlpState {
    records: Vec<OtlpLogRecord>,
    reject_next: usize,
    reject_message: String,
}

impl Protocol for OtlpLogs {
    type Config = OtlpConfig;
    const NAME: &'static str = "otlp_logs";

    fn new(config: OtlpConfig) -> OtlpLogs {
        OtlpLogs {
            config,
            state: Mutex::new(OtlpState::default()),
        }
    }
}

impl sealed::Answer for OtlpLogs {
    fn body_limit(&self) -> usize {
        self.config.body_limit_bytes
    }

    fn is_ingest(&self, method: &Method, path: &str) -> bool {
        method == Method::POST && path == self.config.path
    }

    fn answer(&self, request: &SinkRequest) -> Reply {
        if request.path != self.config.path {
            return Reply::bytes(404, "text/plain", b"404 page not found".to_vec());
        }
        if request.method != Method::POST {
            return Reply::bytes(405, "text/plain", b"405 method not allowed".to_vec());
        }
        if let Err(refusal) = check_headers(&self.config.required_headers, request) {
            return self.failure(refusal.status(), &refusal.reason(), request);
        }
        let Some(encoding) = Encoding::of(request) else {
            let shown = request.header("content-type").unwrap_or("");
            return Reply::bytes(
                415,
                "text/plain",
                format!("415 unsupported media type {shown:?}: use application/x-protobuf or application/json").into_bytes(),
            );
        };
        let decoded = match encoding {
            Encoding::Protobuf => {
                ExportLogsServiceRequest::decode(request.body.as_ref()).map_err(|e| e.to_string())
            }
            Encoding::Json => serde_json::from_slice::<ExportLogsServiceRequest>(&request.body)
                .map_err(|e| e.to_string()),
        };
        let export = match decoded {
            Ok(export) => export,
            Err(err) => {
                return self.failure(
                    400,
                    &format!("request body is not an ExportLogsServiceRequest: {err}"),
                    request,
                )
            }
        };
        let records = flatten(export);
        let mut state = lock(&self.state);
        let rejected = state.reject_next.min(records.len());
        state.reject_next -= rejected;
        let stored = records.len() - rejected;
        state.records.extend(records.into_iter().skip(rejected));
        let partial_success = (rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: rejected as i64,
            error_message: state.reject_message.clone(),
        });
        drop(state);
        encode(
            encoding,
            200,
            &ExportLogsServiceResponse { partial_success },
        )
        .with_stored(stored)
    }

    fn failure(&self, status: u16, reason: &str, request: &SinkRequest) -> Reply {
        // gRPC codes as the OTLP/gRPC mapping pairs them with these HTTP statuses.
        let code = match status {
            400 | 415 => 3,  // INVALID_ARGUMENT
            401 => 16,       // UNAUTHENTICATED
            403 => 7,        // PERMISSION_DENIED
            413 | 429 => 8,  // RESOURCE_EXHAUSTED
            502..=503 => 14, // UNAVAILABLE
            504 => 4,        // DEADLINE_EXCEEDED
            _ => 13,         // INTERNAL
        };
        let status_message = RpcStatus {
            code,
            message: reason.to_string(),
        };
        match Encoding::of(request).unwrap_or(Encoding::Json) {
            Encoding::Protobuf => Reply::bytes(
                status,
                Encoding::Protobuf.content_type(),
                status_message.encode_to_vec(),
            ),
            Encoding::Json => Reply::json(
                status,
                &serde_json::json!({"code": code, "message": reason}),
            ),
        }
    }
}

/// `response` in `encoding`.
fn encode(encoding: Encoding, status: u16, response: &ExportLogsServiceResponse) -> Reply {
    let body = match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        // Written out rather than derived: the JSON mapping omits an unset message and writes
        // int64 as a string.
        Encoding::Json => match &response.partial_success {
            None => b"{}".to_vec(),
            Some(partial) => serde_json::json!({"partialSuccess": {
                "rejectedLogRecords": partial.rejected_log_records.to_string(),
                "errorMessage": partial.error_message,
            }})
            .to_string()
            .into_bytes(),
        },
    };
    Reply::bytes(status, encoding.content_type(), body)
}

/// Every log record of `export`, in order, with its resource and scope.
fn flatten(export: ExportLogsServiceRequest) -> Vec<OtlpLogRecord> {
    let mut out = Vec::new();
    for resource_logs in export.resource_logs {
        let resource = attributes(
            resource_logs
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default(),
        );
        for scope_logs in resource_logs.scope_logs {
            let scope = scope_logs.scope.unwrap_or_default();
            let scope_attributes = attributes(scope.attributes);
            for record in scope_logs.log_records {
                out.push(OtlpLogRecord {
                    resource: resource.clone(),
                    scope_name: scope.name.clone(),
                    scope_version: scope.version.clone(),
                    scope_attributes: scope_attributes.clone(),
                    time_unix_nano: record.time_unix_nano,
                    observed_time_unix_nano: record.observed_time_unix_nano,
                    severity_number: record.severity_number,
                    severity_text: record.severity_text,
                    body: record.body.map_or(Value::Null, any_value_to_json),
                    attributes: attributes(record.attributes),
                    trace_id: hex(&record.trace_id),
                    span_id: hex(&record.span_id),
                    flags: record.flags,
                    event_name: record.event_name,
                });
            }
        }
    }
    out
}

/// Key-value pairs as a JSON object (a repeated key keeps its last value).
fn attributes(pairs: Vec<KeyValue>) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|kv| (kv.key, kv.value.map_or(Value::Null, any_value_to_json)))
        .collect()
}

/// An `AnyValue` as JSON; an empty one (or a profiling string index) is `null`.
fn any_value_to_json(value: AnyValue) -> Value {
    use base64::Engine;
    match value.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(b),
        Some(any_value::Value::IntValue(i)) => Value::from(i),
        Some(any_value::Value::DoubleValue(d)) => {
            serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number)
        }
        Some(any_value::Value::ArrayValue(array)) => {
            Value::Array(array.values.into_iter().map(any_value_to_json).collect())
        }
        Some(any_value::Value::KvlistValue(list)) => Value::Object(attributes(list.values)),
        Some(any_value::Value::BytesValue(bytes)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Inspection and steering of a mock OTLP receiver.
impl Receiver<OtlpLogs> {
    /// Every stored log record, in arrival order.
    pub fn log_records(&self) -> Vec<OtlpLogRecord> {
        lock(&self.protocol().state).records.clone()
    }

    /// Number of stored log records.
    pub fn log_record_count(&self) -> usize {
        lock(&self.protocol().state).records.len()
    }

    /// The next `n` log records (over all requests, first records of a request first) are
    /// rejected in a partial success (`rejected_log_records`, `error_message` = `message`) and
    /// not stored.
    pub fn reject_next_log_records(&self, n: usize, message: &str) {
        let mut state = lock(&self.protocol().state);
        state.reject_next = n;
        state.reject_message = message.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn text(s: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        }
    }

    #[test]
    fn any_values_become_plain_json() {
        let nested = AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "list".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::ArrayValue(ArrayValue {
                            values: vec![
                                text("a"),
                                AnyValue {
                                    value: Some(any_value::Value::IntValue(-3)),
                                },
                                AnyValue {
                                    value: Some(any_value::Value::BytesValue(vec![1, 2])),
                                },
                            ],
                        })),
                    }),
                    ..KeyValue::default()
                }],
            })),
        };
        assert_eq!(
            any_value_to_json(nested),
            serde_json::json!({"list": ["a", -3, "AQI="]})
        );
        assert_eq!(hex(&[0xab, 0x01]), "ab01");
    }
}
