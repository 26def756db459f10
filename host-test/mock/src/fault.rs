//! Scripted and seeded-random faults: each one replaces the answer to one authenticated log
//! request.

use std::time::Duration;

use crate::dataset::rng::Rng;

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
    /// Send the status line and the headers (with the whole page's `Content-Length`) at once,
    /// then the real page one byte per interval: a server or proxy that trickles its answer.
    /// Not counted as served.
    TrickleBody(Duration),
    /// Send the status line and the headers (with the whole page's `Content-Length`), then the
    /// first `after_bytes` bytes of the real page, then nothing more while the connection stays
    /// open: a server that stops mid-answer (`after_bytes: 0`: right after the headers). Not
    /// counted as served.
    StallBody {
        /// Bytes of the body sent before the stall.
        after_bytes: usize,
    },
    /// HTTP 200 with a chunked body that never ends: the start of a page, then records of
    /// 64 KiB each, as fast as the client reads. Not counted as served.
    EndlessBody,
    /// Serve the real page, but with `meta.pagination.next` replaced by a token of `bytes`
    /// bytes (a broken pager); the records count as served.
    HugeNextToken {
        /// Length of the token.
        bytes: usize,
    },
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
            Fault::TrickleBody(_) => "trickle_body",
            Fault::StallBody { .. } => "stall_body",
            Fault::EndlessBody => "endless_body",
            Fault::HugeNextToken { .. } => "huge_next_token",
        }
    }
}

/// A repeatable stream of faults of every kind, fixed by its seed: server errors (503 with an
/// HTML body, 500 with none), a cut-off page, a retryable `fail[]` on HTTP 200, a 429 asking
/// for 0.3 to 1 s, a connection reset before or in the middle of the answer, and a delay of 50
/// to 250 ms. For crash and soak tests; queue them with `MockServer::push_fault`.
pub struct RandomFaults(Rng);

impl RandomFaults {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> RandomFaults {
        RandomFaults(Rng::new(seed))
    }
}

impl Iterator for RandomFaults {
    type Item = Fault;

    fn next(&mut self) -> Option<Fault> {
        let rng = &mut self.0;
        Some(match rng.below(8) {
            0 => Fault::Status {
                status: 503,
                headers: vec![],
                body: "<html>busy</html>".into(),
            },
            1 => Fault::Status {
                status: 500,
                headers: vec![],
                body: String::new(),
            },
            2 => Fault::TruncatedBody,
            3 => Fault::FailOn200 {
                code: "err_server_busy".into(),
                retryable: true,
            },
            4 => Fault::RateLimited {
                reset_ms: 300 + rng.below(700),
            },
            5 => Fault::ConnectionReset,
            6 => Fault::ResetMidBody,
            _ => Fault::Delay(Duration::from_millis(50 + rng.below(200))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_faults_of_every_kind() {
        let first: Vec<Fault> = RandomFaults::new(7).take(200).collect();
        let again: Vec<Fault> = RandomFaults::new(7).take(200).collect();
        assert_eq!(first, again);
        let kinds: std::collections::BTreeSet<&str> = first.iter().map(Fault::kind).collect();
        assert_eq!(kinds.len(), 7, "{kinds:?}");
        assert_ne!(first, RandomFaults::new(8).take(200).collect::<Vec<_>>());
    }
}
