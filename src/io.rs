//! What the pure modules exchange with the outside: an HTTP request and response, and the
//! transport and clock they are sent and timed through. Its own module so that signing,
//! request building, authentication and polling all depend on it and none on another for
//! these types (`guest::transport` implements them over WASI-HTTP; tests and the benchmark guest
//! with fakes).

use chrono::{DateTime, Utc};

use crate::error::SourceError;

/// An HTTP request ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Full URL.
    pub url: String,
    /// Header names and values (includes `Authorization`; never log them).
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: Vec<u8>,
}

/// A response as the transport received it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// The wait a `429` asks for, in milliseconds: `X-RateLimit-Reset`, else `Retry-After`
    /// (see [`crate::api::rate_limit`]); `None` when neither is usable.
    pub rate_limit_reset_ms: Option<u64>,
    /// Response body.
    pub body: Vec<u8>,
}

/// Sends one HTTP request.
pub trait Transport {
    /// Sends `request`, waiting at most `timeout_ms` for the answer.
    ///
    /// # Errors
    /// The request could not be sent or the answer not read (network, timeout, denied by host).
    fn send(&mut self, request: &HttpRequest, timeout_ms: u64)
        -> Result<HttpResponse, SourceError>;
}

/// The clock and randomness the poll needs.
pub trait Clock {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// 16 random bytes for a request id.
    fn random16(&mut self) -> [u8; 16];
}
