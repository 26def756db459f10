//! Scripted faults: each one replaces the answer to one authenticated log request.

use std::time::Duration;

/// A fault consumed by the next authenticated request to any log endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with exactly this status, extra headers and body (rate-limit headers are added unless given).
    Status {
        /// HTTP status code (invalid codes become 500).
        status: u16,
        /// Extra response headers.
        headers: Vec<(String, String)>,
        /// Response body, sent as is.
        body: String,
    },
    /// HTTP 429 with `X-RateLimit-Reset: reset_ms`; requests before then count as violations.
    RateLimited {
        /// Milliseconds the client must wait.
        reset_ms: u64,
    },
    /// HTTP 200 with an empty `data` and one `fail[]` error.
    FailOn200 {
        /// Error code, e.g. `err_audit_siem_invalid_token`.
        code: String,
        /// The error's `retryable` flag.
        retryable: bool,
    },
    /// Wait this long, then serve the request normally.
    Delay(Duration),
    /// Serve the real page, but only its first half (invalid JSON; `Content-Length` matches the half).
    TruncatedBody,
    /// Read the whole request, then reset the TCP connection (`SO_LINGER` 0, so an RST, not a
    /// FIN) without sending a single response byte. The ledger records status 0.
    ConnectionReset,
    /// Send the status line, the headers (with the whole page's `Content-Length`) and the first
    /// half of the real page, then reset the TCP connection. Not counted as served.
    ResetMidBody,
}

impl Fault {
    /// Lets one request through untouched (a zero delay): places the faults queued after it
    /// further into the paging.
    pub fn pass() -> Fault {
        Fault::Delay(std::time::Duration::ZERO)
    }

    /// Short name for the ledger, e.g. `status`, `rate_limited`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Status { .. } => "status",
            Fault::RateLimited { .. } => "rate_limited",
            Fault::FailOn200 { .. } => "fail_on_200",
            Fault::Delay(_) => "delay",
            Fault::TruncatedBody => "truncated_body",
            Fault::ConnectionReset => "connection_reset",
            Fault::ResetMidBody => "reset_mid_body",
        }
    }
}
