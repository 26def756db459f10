//! Mock generic HTTP NDJSON ingest, like Vector's `http_server` source, Fluent Bit's `http`
//! input or Logstash's `http` input: `POST` newline-delimited JSON objects to one path, with
//! configurable required headers and success status.
//!
//! Sources: Vector docs, "HTTP Server source" (`decoding.codec = "json"` with
//! `framing.method = "newline_delimited"`, `auth`, `response_code`); Fluent Bit docs, "HTTP"
//! input (`successful_response_code` 201 by default, `Content-Encoding: gzip`); Logstash docs,
//! "Http input plugin" (`user`/`password`, `response_code`).

use std::fmt;
use std::sync::Mutex;

use hyper::Method;
use serde_json::{json, Value};

use crate::receivers::exchange::{Reply, SinkRequest};
use crate::receivers::header_auth::check_headers;
use crate::receivers::listener::{lock, sealed, Protocol, Receiver, DEFAULT_BODY_LIMIT_BYTES};

/// A running mock NDJSON ingest.
pub type HttpIngestReceiver = Receiver<HttpIngest>;

/// How the mock ingest is set up. `HttpIngestConfig::default()`: path `/`, no required header,
/// 200 on success.
#[derive(Debug, Clone)]
pub struct HttpIngestConfig {
    /// The one path that takes data (others are 404).
    pub path: String,
    /// Headers every request must carry with exactly this value (401 when missing, 403 when
    /// wrong), e.g. `("authorization", "Bearer x")` or `("x-api-key", "k")`.
    pub required_headers: Vec<(String, String)>,
    /// Status of a successful answer: 200, 201, 202 or 204 (204 has no body; the others
    /// `{"accepted":N}`).
    pub success_status: u16,
    /// Largest body (413 beyond).
    pub body_limit_bytes: usize,
}

impl Default for HttpIngestConfig {
    fn default() -> HttpIngestConfig {
        HttpIngestConfig {
            path: "/".to_string(),
            required_headers: Vec::new(),
            success_status: 200,
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
        }
    }
}

/// The state of the mock ingest.
pub struct HttpIngest {
    config: HttpIngestConfig,
    lines: Mutex<Vec<Value>>,
}

impl fmt::Debug for HttpIngest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpIngest").finish_non_exhaustive()
    }
}

impl Protocol for HttpIngest {
    type Config = HttpIngestConfig;
    const NAME: &'static str = "http_ingest";

    fn new(config: HttpIngestConfig) -> HttpIngest {
        HttpIngest {
            config,
            lines: Mutex::new(Vec::new()),
        }
    }
}

fn error(status: u16, reason: &str) -> Reply {
    Reply::json(status, &json!({"error": reason}))
}

impl sealed::Answer for HttpIngest {
    fn body_limit(&self) -> usize {
        self.config.body_limit_bytes
    }

    fn is_ingest(&self, method: &Method, path: &str) -> bool {
        method == Method::POST && path == self.config.path
    }

    fn answer(&self, request: &SinkRequest) -> Reply {
        if request.path != self.config.path {
            return error(404, "not found");
        }
        if request.method != Method::POST {
            return error(405, "method not allowed").with_header("Allow", "POST");
        }
        if let Err(refusal) = check_headers(&self.config.required_headers, request) {
            return error(refusal.status(), &refusal.reason());
        }
        let mut parsed = Vec::new();
        for (number, line) in request.body.split(|b| *b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Value>(line) {
                Ok(value @ Value::Object(_)) => parsed.push(value),
                _ => return error(400, &format!("line {} is not a JSON object", number + 1)),
            }
        }
        let stored = parsed.len();
        lock(&self.lines).extend(parsed);
        let status = self.config.success_status;
        let reply = if status == 204 {
            Reply::bytes(204, "", Vec::new())
        } else {
            Reply::json(status, &json!({"accepted": stored}))
        };
        reply.with_stored(stored)
    }

    fn failure(&self, status: u16, reason: &str, _request: &SinkRequest) -> Reply {
        error(status, reason)
    }
}

/// Inspection of a mock ingest.
impl Receiver<HttpIngest> {
    /// Every stored line (a JSON object), in arrival order.
    pub fn lines(&self) -> Vec<Value> {
        lock(&self.protocol().lines).clone()
    }

    /// Number of stored lines.
    pub fn line_count(&self) -> usize {
        lock(&self.protocol().lines).len()
    }
}
