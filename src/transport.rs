//! WASI-HTTP transport for the component (through waki) and the WASI clock and randomness.
//! The only module that performs I/O; it reads at most `MAX_BODY_BYTES` of a response.

use chrono::{DateTime, Utc};

use crate::error::SourceError;
use crate::net_error;
use crate::page::HttpResponse;
use crate::poll::{Clock, Transport};
use crate::request::HttpRequest;

/// Largest response body read; a page of 100 records is far smaller. A larger answer is not a
/// Mimecast page and is refused rather than buffered.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Sends requests through `wasi:http/outgoing-handler`.
pub struct WasiTransport;

impl Transport for WasiTransport {
    fn send(
        &mut self,
        request: &HttpRequest,
        timeout_ms: u64,
    ) -> Result<HttpResponse, SourceError> {
        let host = request
            .url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_string();
        let response = waki::Client::new()
            .post(&request.url)
            .headers(request.headers.iter().map(|(k, v)| (*k, v.as_str())))
            .body(request.body.clone())
            .connect_timeout(std::time::Duration::from_millis(timeout_ms))
            .send()
            .map_err(|e| net_error::request_failed(&host, &format!("{e:#}")))?;
        let status = response.status_code();
        let header = |name: &str| response.header(name).and_then(|v| v.to_str().ok());
        let rate_limit_reset_ms = crate::rate_limit::wait_ms(
            header("x-ratelimit-reset"),
            header("retry-after"),
            Utc::now(),
        );
        let mut body = Vec::new();
        loop {
            match response.chunk(1024 * 1024) {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_BODY_BYTES {
                        return Err(SourceError::Protocol(format!(
                            "the response from {host} is larger than {MAX_BODY_BYTES} bytes; not a Mimecast page"
                        )));
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(net_error::body_failed(&host, body.len(), &format!("{e:#}"))),
            }
        }
        Ok(HttpResponse {
            status,
            rate_limit_reset_ms,
            body,
        })
    }
}

/// WASI wall clock and random source.
pub struct WasiClock;

impl Clock for WasiClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn random16(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        // wasi:random cannot fail; should it, a fixed id still signs correctly and only risks a
        // replay rejection, which is retried.
        let _ = getrandom::fill(&mut b);
        b
    }
}
