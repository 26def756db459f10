//! Mock Splunk HTTP Event Collector: the JSON event endpoint, indexer acknowledgement per
//! channel, the health endpoint, token authentication and the HEC status codes.
//!
//! Sources: Splunk docs, "Format events for HTTP Event Collector" (concatenated event objects,
//! `event` with `time`, `host`, `source`, `sourcetype`, `index`, `fields`), "HTTP Event Collector
//! REST API endpoints" (`/services/collector`, `/event`, `/event/1.0`, `/ack`, `/health`),
//! "About HTTP Event Collector Indexer Acknowledgment" (channels are GUIDs sent as
//! `X-Splunk-Request-Channel` or `?channel=`; `ackId`s per channel from 0;
//! `{"acks":[..]}` → `{"acks":{"0":true}}`) and "Troubleshoot HTTP Event Collector" (status
//! codes: 0 Success 200, 1 Token disabled 403, 2 Token is required 401, 3 Invalid
//! authorization 401, 4 Invalid token 403, 5 No data 400, 6 Invalid data format 400, 7
//! Incorrect index 400, 8 Internal server error 500, 9 Server is busy 503, 10 Data channel is
//! missing 400, 11 Invalid data channel 400, 12 Event field is required 400, 13 Event field
//! cannot be blank 400, 14 ACK is disabled 400, 15 Error in handling indexed fields 400, 17
//! HEC is healthy 200, 18 HEC is unhealthy, queues are full 503).
//!
//! As Splunk does, the events before an invalid one in a request are indexed (stored, without
//! an `ackId`); the answer names the invalid one in `invalid-event-number`.
//!
//! Not modelled: the raw endpoint, basic or query-string token authentication, token default
//! indexes.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Map, Value};

use crate::receivers::exchange::{Reply, SinkRequest};
use crate::receivers::listener::{lock, sealed, Protocol, Receiver, DEFAULT_BODY_LIMIT_BYTES};

/// A running mock Splunk HEC.
pub type SplunkHecReceiver = Receiver<SplunkHec>;

/// One HEC token the mock accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HecToken {
    /// The token (`Authorization: Splunk <token>`).
    pub token: String,
    /// Indexer acknowledgement enabled: requests need a channel and get an `ackId`.
    pub ack: bool,
    /// The token is disabled: code 1, 403.
    pub disabled: bool,
}

impl HecToken {
    /// An enabled token without acknowledgement.
    pub fn new(token: &str) -> HecToken {
        HecToken {
            token: token.to_string(),
            ack: false,
            disabled: false,
        }
    }

    /// The same token with indexer acknowledgement.
    pub fn with_ack(mut self) -> HecToken {
        self.ack = true;
        self
    }

    /// The same token, disabled.
    pub fn disabled(mut self) -> HecToken {
        self.disabled = true;
        self
    }
}

/// How the mock HEC is set up.
#[derive(Debug, Clone)]
pub struct HecConfig {
    /// Accepted tokens.
    pub tokens: Vec<HecToken>,
    /// Indexes an event may name; empty: any.
    pub allowed_indexes: Vec<String>,
    /// Largest body (413 beyond; Splunk's `max_content_length`).
    pub body_limit_bytes: usize,
}

impl HecConfig {
    /// One token, any index, the default body limit.
    pub fn new(token: HecToken) -> HecConfig {
        HecConfig {
            tokens: vec![token],
            allowed_indexes: Vec::new(),
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
        }
    }
}

/// When a batch sent with a token with acknowledgement is indexed (its events stored and its
/// `ackId` true).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckMode {
    /// At once.
    #[default]
    Immediate,
    /// This long after it arrived.
    After(Duration),
    /// Never: the indexer lost it; the `ackId` stays false and its events are not stored.
    Never,
}

/// One stored event with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct HecEvent {
    /// The `event` field.
    pub event: Value,
    /// `time` in epoch seconds (a number or a numeric string in the request).
    pub time: Option<f64>,
    /// `host`.
    pub host: Option<String>,
    /// `source`.
    pub source: Option<String>,
    /// `sourcetype`.
    pub sourcetype: Option<String>,
    /// `index`.
    pub index: Option<String>,
    /// `fields` (indexed fields).
    pub fields: Option<Map<String, Value>>,
    /// The request's channel, if any.
    pub channel: Option<String>,
}

/// The state of the mock HEC.
pub struct SplunkHec {
    config: HecConfig,
    state: Mutex<HecState>,
}

impl fmt::Debug for SplunkHec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplunkHec").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct HecState {
    events: Vec<HecEvent>,
    channels: HashMap<String, Channel>,
    ack_mode: AckMode,
    busy: bool,
}

#[derive(Default)]
struct Channel {
    next_ack_id: u64,
    batches: Vec<Batch>,
}

/// A batch waiting for (or done with) indexing.
struct Batch {
    ack_id: u64,
    /// When it is indexed; `None`: never.
    ready_at: Option<Instant>,
    /// Its events until indexed.
    events: Vec<HecEvent>,
    indexed: bool,
}

impl HecState {
    /// Indexes every batch whose time has come.
    fn settle(&mut self, now: Instant) {
        let HecState {
            events, channels, ..
        } = self;
        for channel in channels.values_mut() {
            for batch in &mut channel.batches {
                if !batch.indexed && batch.ready_at.is_some_and(|t| t <= now) {
                    batch.indexed = true;
                    events.append(&mut batch.events);
                }
            }
        }
    }
}

/// A HEC answer: `{"text", "code"}` with its HTTP status.
fn hec(status: u16, code: u32, text: &str) -> Reply {
    Reply::json(status, &json!({"text": text, "code": code}))
}

/// Like [`hec`] with `invalid-event-number`.
fn hec_invalid(code: u32, text: &str, event_number: usize) -> Reply {
    Reply::json(
        400,
        &json!({"text": text, "code": code, "invalid-event-number": event_number}),
    )
}

/// The HEC paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Event,
    Ack,
    Health,
}

fn endpoint(path: &str) -> Option<Endpoint> {
    match path.trim_end_matches('/') {
        "/services/collector" | "/services/collector/event" | "/services/collector/event/1.0" => {
            Some(Endpoint::Event)
        }
        "/services/collector/ack" => Some(Endpoint::Ack),
        "/services/collector/health" | "/services/collector/health/1.0" => Some(Endpoint::Health),
        _ => None,
    }
}

impl Protocol for SplunkHec {
    type Config = HecConfig;
    const NAME: &'static str = "splunk_hec";

    fn new(config: HecConfig) -> SplunkHec {
        SplunkHec {
            config,
            state: Mutex::new(HecState::default()),
        }
    }
}

impl sealed::Answer for SplunkHec {
    fn body_limit(&self) -> usize {
        self.config.body_limit_bytes
    }

    fn is_ingest(&self, method: &Method, path: &str) -> bool {
        method == Method::POST && endpoint(path) == Some(Endpoint::Event)
    }

    fn answer(&self, request: &SinkRequest) -> Reply {
        match (endpoint(&request.path), &request.method) {
            (Some(Endpoint::Health), &Method::GET) => {
                if lock(&self.state).busy {
                    hec(503, 18, "HEC is unhealthy, queues are full")
                } else {
                    hec(200, 17, "HEC is healthy")
                }
            }
            (Some(Endpoint::Event), &Method::POST) => self.event(request),
            (Some(Endpoint::Ack), &Method::POST) => self.ack(request),
            (Some(_), _) => hec(405, 404, "The requested URL was not found on this server."),
            (None, _) => hec(404, 404, "The requested URL was not found on this server."),
        }
    }

    fn failure(&self, status: u16, _reason: &str, _request: &SinkRequest) -> Reply {
        match status {
            503 | 429 => hec(status, 9, "Server is busy"),
            400 | 415 => hec(400, 6, "Invalid data format"),
            413 => Reply::bytes(413, "text/plain", b"Content-Length too large".to_vec()),
            _ => hec(status, 8, "Internal server error"),
        }
    }
}

impl SplunkHec {
    /// The token of `request`, or the HEC answer refusing it (codes 2, 3, 4, 1).
    fn token(&self, request: &SinkRequest) -> Result<&HecToken, Reply> {
        let Some(value) = request.header("authorization") else {
            return Err(hec(401, 2, "Token is required"));
        };
        let Some(token) = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Splunk"))
            .map(|(_, token)| token.trim())
        else {
            return Err(hec(401, 3, "Invalid authorization"));
        };
        match self.config.tokens.iter().find(|t| t.token == token) {
            None => Err(hec(403, 4, "Invalid token")),
            Some(t) if t.disabled => Err(hec(403, 1, "Token disabled")),
            Some(t) => Ok(t),
        }
    }

    /// The request's channel: `Ok(None)` when absent and not required (code 10 when
    /// required), code 11 when not a GUID.
    fn channel(request: &SinkRequest, required: bool) -> Result<Option<String>, Reply> {
        let given = request
            .header("x-splunk-request-channel")
            .or_else(|| request.query_param("channel"));
        match given {
            None | Some("") if required => Err(hec(400, 10, "Data channel is missing")),
            None | Some("") => Ok(None),
            Some(channel) if is_guid(channel) => Ok(Some(channel.to_ascii_lowercase())),
            Some(_) => Err(hec(400, 11, "Invalid data channel")),
        }
    }

    fn event(&self, request: &SinkRequest) -> Reply {
        let token = match self.token(request) {
            Ok(token) => token,
            Err(reply) => return reply,
        };
        if lock(&self.state).busy {
            return hec(503, 9, "Server is busy");
        }
        let channel = match SplunkHec::channel(request, token.ack) {
            Ok(channel) => channel,
            Err(reply) => return reply,
        };
        if request.body.iter().all(u8::is_ascii_whitespace) {
            return hec(400, 5, "No data");
        }
        let (events, invalid) = parse_events(&request.body, &self.config.allowed_indexes, &channel);
        let mut state = lock(&self.state);
        if let Some(reply) = invalid {
            // Splunk indexes the events before the invalid one.
            let stored = events.len();
            state.events.extend(events);
            return reply.with_stored(stored);
        }
        let stored = events.len();
        match (token.ack, channel) {
            (true, Some(channel)) => {
                let now = Instant::now();
                let ready_at = match state.ack_mode {
                    AckMode::Immediate => Some(now),
                    AckMode::After(wait) => Some(now + wait),
                    AckMode::Never => None,
                };
                let entry = state.channels.entry(channel).or_default();
                let ack_id = entry.next_ack_id;
                entry.next_ack_id += 1;
                entry.batches.push(Batch {
                    ack_id,
                    ready_at,
                    events,
                    indexed: false,
                });
                state.settle(now);
                Reply::json(200, &json!({"text": "Success", "code": 0, "ackId": ack_id}))
                    .with_stored(stored)
            }
            _ => {
                state.events.extend(events);
                hec(200, 0, "Success").with_stored(stored)
            }
        }
    }

    fn ack(&self, request: &SinkRequest) -> Reply {
        let token = match self.token(request) {
            Ok(token) => token,
            Err(reply) => return reply,
        };
        if !token.ack {
            return hec(400, 14, "ACK is disabled");
        }
        let channel = match SplunkHec::channel(request, true) {
            Ok(Some(channel)) => channel,
            Ok(None) => return hec(400, 10, "Data channel is missing"),
            Err(reply) => return reply,
        };
        let ids: Option<Vec<u64>> = serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|v| {
                v.get("acks")?
                    .as_array()?
                    .iter()
                    .map(Value::as_u64)
                    .collect::<Option<Vec<u64>>>()
            });
        let Some(ids) = ids else {
            return hec(400, 6, "Invalid data format");
        };
        let mut state = lock(&self.state);
        state.settle(Instant::now());
        let batches = state.channels.get(&channel).map(|c| c.batches.as_slice());
        let acks: Map<String, Value> = ids
            .iter()
            .map(|id| {
                let indexed = batches
                    .and_then(|b| b.iter().find(|b| b.ack_id == *id))
                    .is_some_and(|b| b.indexed);
                (id.to_string(), Value::Bool(indexed))
            })
            .collect();
        Reply::json(200, &json!({ "acks": acks }))
    }
}

/// The valid events before the first invalid one, and the answer for that one (if any).
fn parse_events(
    body: &[u8],
    allowed_indexes: &[String],
    channel: &Option<String>,
) -> (Vec<HecEvent>, Option<Reply>) {
    let mut events = Vec::new();
    let stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    for (number, value) in stream.enumerate() {
        let object = match value {
            Ok(Value::Object(object)) => object,
            _ => return (events, Some(hec_invalid(6, "Invalid data format", number))),
        };
        match parse_event(object, allowed_indexes, channel) {
            Ok(event) => events.push(event),
            Err((code, text)) if code == 7 => return (events, Some(hec(400, code, text))),
            Err((code, text)) => return (events, Some(hec_invalid(code, text, number))),
        }
    }
    (events, None)
}

/// One event object, or its HEC code and text.
fn parse_event(
    mut object: Map<String, Value>,
    allowed_indexes: &[String],
    channel: &Option<String>,
) -> Result<HecEvent, (u32, &'static str)> {
    const INVALID: (u32, &str) = (6, "Invalid data format");
    let event = match object.remove("event") {
        None => return Err((12, "Event field is required")),
        Some(Value::Null) => return Err((13, "Event field cannot be blank")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err((13, "Event field cannot be blank"))
        }
        Some(event) => event,
    };
    let time = match object.remove("time") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_f64().ok_or(INVALID)?),
        Some(Value::String(s)) => Some(s.trim().parse::<f64>().map_err(|_| INVALID)?),
        Some(_) => return Err(INVALID),
    };
    let mut text = |key: &str| match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(INVALID),
    };
    let host = text("host")?;
    let source = text("source")?;
    let sourcetype = text("sourcetype")?;
    let index = text("index")?;
    if let Some(index) = &index {
        if !allowed_indexes.is_empty() && !allowed_indexes.contains(index) {
            return Err((7, "Incorrect index"));
        }
    }
    let fields = match object.remove("fields") {
        None | Some(Value::Null) => None,
        Some(Value::Object(fields)) => Some(fields),
        Some(_) => return Err((15, "Error in handling indexed fields")),
    };
    Ok(HecEvent {
        event,
        time,
        host,
        source,
        sourcetype,
        index,
        fields,
        channel: channel.clone(),
    })
}

/// Whether `s` is a GUID: 8-4-4-4-12 hexadecimal digits.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Inspection and steering of a mock HEC.
impl Receiver<SplunkHec> {
    /// Every indexed event, in arrival (or indexing) order.
    pub fn events(&self) -> Vec<HecEvent> {
        let mut state = lock(&self.protocol().state);
        state.settle(Instant::now());
        state.events.clone()
    }

    /// Number of indexed events.
    pub fn event_count(&self) -> usize {
        let mut state = lock(&self.protocol().state);
        state.settle(Instant::now());
        state.events.len()
    }

    /// How batches sent from now on with a token with acknowledgement are indexed.
    pub fn set_ack_mode(&self, mode: AckMode) {
        lock(&self.protocol().state).ack_mode = mode;
    }

    /// Busy: event requests get 503 code 9 "Server is busy" and the health endpoint 503 code
    /// 18, until set back to `false`.
    pub fn set_busy(&self, busy: bool) {
        lock(&self.protocol().state).busy = busy;
    }

    /// The `ackId`s issued on `channel` with whether each is indexed, in issue order.
    pub fn acks(&self, channel: &str) -> Vec<(u64, bool)> {
        let mut state = lock(&self.protocol().state);
        state.settle(Instant::now());
        state
            .channels
            .get(&channel.to_ascii_lowercase())
            .map_or_else(Vec::new, |c| {
                c.batches.iter().map(|b| (b.ack_id, b.indexed)).collect()
            })
    }

    /// Channels that were sent an event with a token with acknowledgement.
    pub fn channels(&self) -> Vec<String> {
        let mut channels: Vec<String> = lock(&self.protocol().state)
            .channels
            .keys()
            .cloned()
            .collect();
        channels.sort();
        channels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_recognised() {
        assert!(is_guid("0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"));
        assert!(!is_guid("0aeeac95ac744aa9b30d6c4c0ac581ba"));
        assert!(!is_guid("channel-1"));
    }

    #[test]
    fn events_before_an_invalid_one_are_kept() {
        let body = br#"{"event":"a","time":"1700000000.5"} {"event":""} {"event":"c"}"#;
        let (events, invalid) = parse_events(body, &[], &None);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].time, Some(1_700_000_000.5));
        let reply = invalid.unwrap();
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["code"], 13);
        assert_eq!(body["invalid-event-number"], 1);
    }
}
