//! The request ledger of a sink receiver: one entry per answered (or reset) request, for tests
//! that prove a retry was sent, or that a fault was met.

/// One request a receiver handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// HTTP method.
    pub method: String,
    /// Request path, without the query.
    pub path: String,
    /// Request headers in arrival order, names lowercase; the value of `authorization` is
    /// replaced by `<redacted>`.
    pub headers: Vec<(String, String)>,
    /// Body bytes as received (before `Content-Encoding` is undone).
    pub body_bytes: usize,
    /// HTTP status sent; 0 when the connection was reset instead ([`crate::SinkFault::ConnectionReset`]).
    pub status: u16,
    /// Items this request stored (documents, events, log records or lines).
    pub stored: usize,
    /// Kind of queued fault that shaped the answer ([`crate::SinkFault::kind`]), if any.
    pub fault: Option<&'static str>,
}

impl ReceivedRequest {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
