//! Whole-request faults of the sink receivers: each queued [`SinkFault`] shapes the answer to one
//! request to an ingest path. Per-item faults (an Elasticsearch item rejected, OTLP records
//! rejected in a partial success) belong to their protocol's module.

use std::time::Duration;

/// A fault consumed by the next request to a receiver's ingest path (`_bulk`, the HEC event
/// endpoints, `/v1/logs`, the NDJSON path), before authentication, as a load balancer or an
/// overloaded node answers. Health, ack and other paths never consume one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkFault {
    /// Answer with `status` and the protocol's own error body for it (Elasticsearch 429:
    /// `es_rejected_execution_exception`; Splunk HEC 503: code 9 "Server is busy"; OTLP: a
    /// `google.rpc.Status`), plus `Retry-After` in whole seconds when given. Nothing is stored.
    Status {
        /// HTTP status code (invalid codes become 500).
        status: u16,
        /// Sent as `Retry-After`, rounded up to whole seconds.
        retry_after: Option<Duration>,
    },
    /// Answer with exactly this status, these headers and this body (e.g. an HTML page from a
    /// proxy). Nothing is stored.
    Raw {
        /// HTTP status code (invalid codes become 500).
        status: u16,
        /// Response headers.
        headers: Vec<(String, String)>,
        /// Response body, sent as is.
        body: String,
    },
    /// Read the whole request, then reset the TCP connection (`SO_LINGER` 0: an RST) without a
    /// response byte. Nothing is stored; the ledger records status 0.
    ConnectionReset,
    /// Wait this long, then answer the request normally (a slow server, once).
    Delay(Duration),
}

impl SinkFault {
    /// [`SinkFault::Status`] without `Retry-After`.
    pub fn status(status: u16) -> SinkFault {
        SinkFault::Status {
            status,
            retry_after: None,
        }
    }

    /// [`SinkFault::Status`] with `Retry-After`, e.g. a 429 or 503 that asks the client to wait.
    pub fn retry_after(status: u16, wait: Duration) -> SinkFault {
        SinkFault::Status {
            status,
            retry_after: Some(wait),
        }
    }

    /// Short name for the ledger, e.g. `status`, `connection_reset`.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkFault::Status { .. } => "status",
            SinkFault::Raw { .. } => "raw",
            SinkFault::ConnectionReset => "connection_reset",
            SinkFault::Delay(_) => "delay",
        }
    }
}

/// `Retry-After` value for `wait`: whole seconds, rounded up (RFC 9110 §10.2.3).
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs();
    if wait.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
