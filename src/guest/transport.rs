//! WASI-HTTP transport for the component (`wasi:http/outgoing-handler`, through the bindings
//! that waki generates) and the WASI clocks and randomness, called directly: std has neither on
//! wasm32-unknown-unknown, so the component imports only the interfaces its code names. The only
//! module that performs I/O (but for `panic_message`); it reads at most `MAX_BODY_BYTES` of a
//! response. It speaks the WASI-HTTP interfaces directly (rather than through waki's client) so
//! that a body that fails is reported with the host's reason (a stall, a size limit, a reset)
//! instead of an opaque stream error.

use chrono::{DateTime, Utc};
use waki::bindings::wasi::clocks::{monotonic_clock, wall_clock};
use waki::bindings::wasi::http::outgoing_handler;
use waki::bindings::wasi::http::types::{
    Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use waki::bindings::wasi::io::poll::{poll, Pollable};
use waki::bindings::wasi::io::streams::StreamError;
use waki::bindings::wasi::random::random;

use crate::api::net_error;
use crate::error::SourceError;
use crate::io::{Clock, HttpRequest, HttpResponse, Transport};

/// Largest response body read; a page of 100 records is far smaller. A larger answer is not a
/// Mimecast page and is refused rather than buffered. (The host's `limits.max_response_mib`
/// normally cuts such an answer first.)
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Most bytes read from the body at once.
const READ_CHUNK: u64 = 1024 * 1024;

/// Most bytes `blocking-write-and-flush` takes at once.
const WRITE_CHUNK: usize = 4096;

/// How much longer than `request_timeout` the component's own deadline waits, so that a host
/// which enforces the timeout itself (as `mcsource` does) reports first, with its finer reason.
const OWN_DEADLINE_GRACE_NS: u64 = 1_000_000_000;

/// Sends requests through `wasi:http/outgoing-handler`.
pub struct WasiTransport;

/// The point on the monotonic clock by which a request must be done, whatever the host does
/// with the request options: waits are polled against it, never blocking past it.
struct Deadline(monotonic_clock::Instant);

impl Deadline {
    /// `timeout_ms` (plus the grace) from now.
    fn after_ms(timeout_ms: u64) -> Deadline {
        let span = timeout_ms
            .saturating_mul(1_000_000)
            .saturating_add(OWN_DEADLINE_GRACE_NS);
        Deadline(monotonic_clock::now().saturating_add(span))
    }

    /// Whether the deadline has come.
    fn passed(&self) -> bool {
        monotonic_clock::now() >= self.0
    }

    /// Waits until `ready` is ready; `false` when the deadline came first.
    fn wait(&self, ready: &Pollable) -> bool {
        if ready.ready() {
            return true;
        }
        let timer = monotonic_clock::subscribe_instant(self.0);
        poll(&[ready, &timer]).contains(&0)
    }
}

/// `request_timeout` for each phase the host times (connecting, the first byte of the answer,
/// each wait between bytes), for hosts that honour `wasi:http` request options. A host that
/// does not support one leaves it unset; the component's own [`Deadline`] still holds.
fn request_options(timeout_ms: u64) -> RequestOptions {
    let ns = timeout_ms.saturating_mul(1_000_000);
    let options = RequestOptions::new();
    let _ = options.set_connect_timeout(Some(ns));
    let _ = options.set_first_byte_timeout(Some(ns));
    let _ = options.set_between_bytes_timeout(Some(ns));
    options
}

/// `url` split into scheme, authority and path with query.
fn split_url(url: &str) -> (Scheme, &str, &str) {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some((_, rest)) => (Scheme::Https, rest),
        None => (Scheme::Https, url),
    };
    match rest.find('/') {
        Some(i) => (scheme, &rest[..i], &rest[i..]),
        None => (scheme, rest, "/"),
    }
}

/// Builds the outgoing request; `Err` with a reason when WASI refuses a part of it.
fn outgoing(request: &HttpRequest) -> Result<OutgoingRequest, String> {
    let (scheme, authority, path) = split_url(&request.url);
    let headers: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&headers).map_err(|e| format!("invalid header ({e:?})"))?;
    let out = OutgoingRequest::new(fields);
    out.set_method(&Method::Post)
        .and_then(|()| out.set_scheme(Some(&scheme)))
        .and_then(|()| out.set_authority(Some(authority)))
        .and_then(|()| out.set_path_with_query(Some(path)))
        .map_err(|()| format!("invalid URL {}", request.url))?;
    Ok(out)
}

/// Writes `body` and finishes it. A failure is ignored here: the host then fails the
/// request, and the response's error says why (a denial, a refused connection, …).
fn write_body(body: OutgoingBody, bytes: &[u8]) {
    if let Ok(stream) = body.write() {
        for chunk in bytes.chunks(WRITE_CHUNK) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
        drop(stream);
    }
    let _ = OutgoingBody::finish(body, None);
}

/// Sends `request` and waits for the response's head, until `deadline`.
fn exchange(
    request: &HttpRequest,
    host: &str,
    timeout_ms: u64,
    deadline: &Deadline,
) -> Result<IncomingResponse, SourceError> {
    let out = outgoing(request).map_err(|e| net_error::request_failed(host, &e))?;
    let body = out
        .body()
        .map_err(|()| net_error::request_failed(host, "the request body was taken"))?;
    let future = outgoing_handler::handle(out, Some(request_options(timeout_ms)))
        .map_err(|code| net_error::request_failed(host, &format!("{code:?}")))?;
    write_body(body, &request.body);
    let result = match future.get() {
        Some(result) => result,
        None => {
            let ready = future.subscribe();
            let arrived = deadline.wait(&ready);
            drop(ready);
            if !arrived {
                // Dropping the future cancels the request.
                return Err(net_error::no_answer(host, timeout_ms));
            }
            future.get().unwrap_or(Err(()))
        }
    };
    match result {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => Err(net_error::request_failed(host, &format!("{code:?}"))),
        Err(()) => Err(net_error::request_failed(host, "the response was taken")),
    }
}

/// The first value of header `name`, as text.
fn header(response: &IncomingResponse, name: &str) -> Option<String> {
    let values = response.headers().get(&name.to_string());
    values
        .first()
        .and_then(|v| String::from_utf8(v.clone()).ok())
}

impl Transport for WasiTransport {
    fn send(
        &mut self,
        request: &HttpRequest,
        timeout_ms: u64,
    ) -> Result<HttpResponse, SourceError> {
        let (_, host, _) = split_url(&request.url);
        let host = host.to_string();
        let deadline = Deadline::after_ms(timeout_ms);
        let response = exchange(request, &host, timeout_ms, &deadline)?;
        let status = response.status();
        let rate_limit_reset_ms = crate::api::rate_limit::wait_ms(
            header(&response, "x-ratelimit-reset").as_deref(),
            header(&response, "retry-after").as_deref(),
            wall_now(),
        );
        let declared = header(&response, "content-length").and_then(|v| v.trim().parse().ok());
        let incoming = response
            .consume()
            .map_err(|()| net_error::request_failed(&host, "the response body was taken"))?;
        let stream = incoming
            .stream()
            .map_err(|()| net_error::request_failed(&host, "the response body was taken"))?;
        // A declared length within the bound is allocated at once (no doubling while reading).
        let mut body = Vec::with_capacity(declared.map_or(0, |n: u64| {
            usize::try_from(n)
                .unwrap_or(MAX_BODY_BYTES)
                .min(MAX_BODY_BYTES)
        }));
        let readable = stream.subscribe();
        loop {
            match stream.read(READ_CHUNK) {
                Ok(chunk) if chunk.is_empty() => {
                    if !deadline.wait(&readable) {
                        return Err(net_error::body_stalled(
                            &host,
                            body.len(),
                            declared,
                            timeout_ms,
                        ));
                    }
                }
                Ok(chunk) => {
                    // A host whose reads block until data comes (jco's preview2-shim) never
                    // returns an empty read: a trickle is caught here.
                    if deadline.passed() {
                        return Err(net_error::body_stalled(
                            &host,
                            body.len() + chunk.len(),
                            declared,
                            timeout_ms,
                        ));
                    }
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(SourceError::Protocol(format!(
                            "the response from {host} is larger than {MAX_BODY_BYTES} bytes; not a Mimecast page"
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    let detail = e.to_debug_string();
                    return Err(net_error::body_failed(&host, body.len(), declared, &detail));
                }
            }
        }
        drop(readable);
        drop(stream);
        drop(incoming);
        Ok(HttpResponse {
            status,
            rate_limit_reset_ms,
            body,
        })
    }
}

/// WASI wall clock (`wasi:clocks/wall-clock`) and random source (`wasi:random/random`).
pub struct WasiClock;

impl Clock for WasiClock {
    fn now(&self) -> DateTime<Utc> {
        wall_now()
    }

    fn random16(&mut self) -> [u8; 16] {
        // wasi:random/random, the secure source, cannot fail.
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&random::get_random_u64().to_le_bytes());
        b[8..].copy_from_slice(&random::get_random_u64().to_le_bytes());
        b
    }
}

/// Now, from `wasi:clocks/wall-clock`; the epoch should the host's clock be out of chrono's range.
fn wall_now() -> DateTime<Utc> {
    let t = wall_clock::now();
    i64::try_from(t.seconds)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, t.nanoseconds))
        .unwrap_or(DateTime::UNIX_EPOCH)
}
