//! What every network sink shares: the runtime its requests run on and the signal that stops
//! its retries ([`NetContext`]), retrying with exponential backoff and jitter ([`Retrier`]),
//! cutting a batch into requests ([`chunks`]), and reading an HTTP receiver's answer
//! ([`classify`]). A network sink blocks the delivery thread until its receiver acknowledged
//! the batch, so a receiver that is slow or down holds every tenant's next batch: polling
//! pauses (backpressure) and memory stays bounded by one batch per tenant.

pub mod dead_letter;
pub mod elasticsearch;
pub mod http;
pub mod otlp;
pub mod splunk_hec;
pub mod syslog;

use std::io;
use std::ops::Range;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::sinks::NetworkSpec;
use crate::config::units::show_duration;
use crate::delivery::sink::SinkError;

/// Where a network sink runs its I/O, and when it must stop retrying.
#[derive(Clone)]
pub struct NetContext {
    /// The runtime the sink's futures run on (the delivery thread blocks on them).
    pub runtime: tokio::runtime::Handle,
    /// Becomes `true` when the run is stopping: a sink retrying gives its batch back at once.
    pub stop: watch::Receiver<bool>,
    /// The HTTP proxy setting.
    pub proxy: crate::net::ProxySetting,
    /// Where retries are counted, when metrics are on.
    pub metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

/// Retries one piece of work: waits that double from `initial` to `max` with jitter, until the
/// work succeeds, the run stops, or `give_up_after` has passed.
pub struct Retrier<'a> {
    sink: &'a str,
    spec: &'a NetworkSpec,
    stop: watch::Receiver<bool>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    started: Instant,
    failures: u32,
}

impl<'a> Retrier<'a> {
    /// Starts retrying for the sink named `sink`.
    pub fn new(sink: &'a str, spec: &'a NetworkSpec, cx: &NetContext) -> Retrier<'a> {
        Retrier {
            sink,
            spec,
            stop: cx.stop.clone(),
            metrics: cx.metrics.clone(),
            started: Instant::now(),
            failures: 0,
        }
    }

    /// The wait after `failures` failures, without jitter.
    fn base_wait(&self) -> Duration {
        let doubled = self
            .spec
            .retry_initial
            .saturating_mul(1u32 << self.failures.saturating_sub(1).min(20));
        doubled.min(self.spec.retry_max)
    }

    /// Records a retryable failure (`why`) and waits before the next try: the backoff with
    /// jitter, or `retry_after` when the receiver asked for it (at most `retry.max`).
    ///
    /// # Errors
    /// The run is stopping, or `give_up_after` has passed: the batch goes back undelivered.
    pub async fn wait(
        &mut self,
        why: &str,
        retry_after: Option<Duration>,
    ) -> Result<(), SinkError> {
        self.failures += 1;
        if let Some(m) = &self.metrics {
            m.sink_retry(self.sink);
        }
        let wait = match retry_after {
            // At least `retry.initial`: a receiver answering `Retry-After: 0` (or a date in
            // the past) to every request would otherwise get them back to back.
            Some(asked) => asked.max(self.spec.retry_initial).min(self.spec.retry_max),
            None => {
                let base = self.base_wait();
                base.mul_f64(rand::random_range(0.5..=1.0))
            }
        };
        if let Some(limit) = self.spec.give_up_after {
            if self.started.elapsed() + wait > limit {
                return Err(SinkError::Retryable(io::Error::other(format!(
                    "sink {}: {why}; gave up after trying for {} (retry.give_up_after); the \
                     batch is fetched again later",
                    self.sink,
                    show_duration(limit)
                ))));
            }
        }
        if self.failures == 1 || self.failures.is_power_of_two() {
            tracing::warn!(sink = self.sink, failures = self.failures, wait = %humantime::format_duration(Duration::from_millis(wait.as_millis() as u64)), error = %why, "sink failed; retrying");
        } else {
            tracing::debug!(sink = self.sink, failures = self.failures, error = %why, "sink failed; retrying");
        }
        if *self.stop.borrow() {
            return Err(self.stopped(why));
        }
        let mut stop = self.stop.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(()),
            _ = stop.wait_for(|stop| *stop) => Err(self.stopped(why)),
        }
    }

    /// The error when the run stops while the sink is retrying.
    fn stopped(&self, why: &str) -> SinkError {
        SinkError::Retryable(io::Error::other(format!(
            "sink {}: {why}; the run is stopping, so the batch goes back undelivered (its \
             checkpoint did not move)",
            self.sink
        )))
    }

    /// Failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// Sends `pieces` (the requests of a delivery) with `send`, `max_in_flight` at once, on the
/// sink's runtime, blocking the delivery thread until all are acknowledged; the first error
/// ends the delivery.
///
/// # Errors
/// The first piece that failed for good (or was given back by its retries).
pub fn send_pieces<P, R, Fut>(
    cx: &NetContext,
    pieces: impl IntoIterator<Item = P>,
    max_in_flight: usize,
    send: impl FnMut(P) -> Fut,
) -> Result<Vec<R>, SinkError>
where
    Fut: std::future::Future<Output = Result<R, SinkError>>,
{
    use futures_util::{StreamExt as _, TryStreamExt as _};
    cx.runtime.block_on(
        futures_util::stream::iter(pieces)
            .map(send)
            .buffer_unordered(max_in_flight)
            .try_collect(),
    )
}

/// A credential as an `Authorization` header value, marked sensitive (never printed by the
/// HTTP stack's debug output).
///
/// # Errors
/// The value holds characters a header cannot carry.
pub fn credential_header(sink: &str, value: &str) -> Result<::http::HeaderValue, http::BuildError> {
    let mut v = ::http::HeaderValue::from_str(value).map_err(|_| http::BuildError {
        sink: sink.to_string(),
        why: "the credentials hold characters a header cannot carry".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Cuts `sizes` (the bytes each event takes in a request) into consecutive ranges of at most
/// `max_events` events and `max_bytes` bytes; an event larger than `max_bytes` goes alone.
pub fn chunks(
    sizes: impl IntoIterator<Item = usize>,
    max_events: usize,
    max_bytes: usize,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes, mut i) = (0, 0, 0);
    for size in sizes {
        if i > start && (i - start >= max_events || bytes + size > max_bytes) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
        i += 1;
    }
    if i > start {
        out.push(start..i);
    }
    out
}

/// What an HTTP receiver's answer means for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Taken.
    Taken,
    /// Worth retrying (after `after`, when the receiver said so).
    Retry {
        /// Why, for the log.
        why: String,
        /// The receiver's `Retry-After`.
        after: Option<Duration>,
    },
    /// Refused for good; the message names the fix.
    Refused(String),
}

/// Longest part of an answer's body quoted in an error.
const QUOTED_BODY: usize = 300;

/// Reads an answer's status: 2xx is taken (if in `success` when that is not empty); 408, 429
/// and 5xx other than 501 and 505 are worth retrying; the rest is refused, with a hint for the
/// common causes. `body` is quoted (cut short) in the message.
pub fn classify(
    sink: &str,
    status: ::http::StatusCode,
    retry_after: Option<&::http::HeaderValue>,
    body: &[u8],
    success: &[u16],
) -> Answer {
    let code = status.as_u16();
    let quoted = quote(body);
    if status.is_success() && (success.is_empty() || success.contains(&code)) {
        return Answer::Taken;
    }
    let after = retry_after
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after_wait(v, std::time::SystemTime::now()));
    match code {
        408 | 429 | 500 | 502 | 503 | 504 | 507 | 509 => Answer::Retry {
            why: format!("the receiver answered {status}: {quoted}"),
            after,
        },
        401 | 403 => Answer::Refused(format!(
            "sink {sink}: the receiver refused the credentials ({status}: {quoted}); check the \
             sink's credential keys or headers"
        )),
        404 | 405 => Answer::Refused(format!(
            "sink {sink}: the receiver has no such endpoint ({status}: {quoted}); check the \
             sink's url"
        )),
        413 => Answer::Refused(format!(
            "sink {sink}: the receiver refused a request as too large ({status}); lower the \
             sink's batch.max_bytes or raise the receiver's limit"
        )),
        _ if status.is_success() => Answer::Refused(format!(
            "sink {sink}: the receiver answered {status}, which is not in success_status"
        )),
        _ => Answer::Refused(format!(
            "sink {sink}: the receiver refused a request ({status}: {quoted})"
        )),
    }
}

/// A `Retry-After` value (seconds, or an HTTP date) as a wait from `now`.
pub fn retry_after_wait(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    match value.parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs)),
        Err(_) => httpdate::parse_http_date(value)
            .ok()
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO)),
    }
}

/// The start of `body`, as text, on one line.
pub fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(QUOTED_BODY)]);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > QUOTED_BODY {
        format!("{one_line}…")
    } else if one_line.is_empty() {
        "(no body)".into()
    } else {
        one_line
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_both_limits_and_keep_order() {
        assert_eq!(chunks([10, 10, 10, 10, 10], 2, 1000), [0..2, 2..4, 4..5]);
        assert_eq!(chunks([10, 10, 10, 10], 10, 25), [0..2, 2..4]);
        // An event larger than max_bytes goes alone.
        assert_eq!(chunks([5, 100, 5], 10, 20), [0..1, 1..2, 2..3]);
        assert!(chunks([], 10, 10).is_empty());
    }

    #[test]
    fn answers_are_read_by_status() {
        let c = |code: u16| {
            classify(
                "s",
                ::http::StatusCode::from_u16(code).unwrap(),
                None,
                b"x",
                &[],
            )
        };
        assert_eq!(c(200), Answer::Taken);
        assert_eq!(c(204), Answer::Taken);
        assert!(matches!(c(429), Answer::Retry { .. }));
        assert!(matches!(c(503), Answer::Retry { .. }));
        assert!(matches!(&c(401), Answer::Refused(m) if m.contains("credentials")));
        assert!(matches!(&c(413), Answer::Refused(m) if m.contains("batch.max_bytes")));
        assert!(matches!(c(400), Answer::Refused(_)));
        assert!(matches!(c(501), Answer::Refused(_)));
        let only_202 = classify("s", ::http::StatusCode::OK, None, b"", &[202]);
        assert!(matches!(only_202, Answer::Refused(_)));
        let after = ::http::HeaderValue::from_static("7");
        assert_eq!(
            classify(
                "s",
                ::http::StatusCode::TOO_MANY_REQUESTS,
                Some(&after),
                b"busy",
                &[]
            ),
            Answer::Retry {
                why: "the receiver answered 429 Too Many Requests: busy".into(),
                after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(retry_after_wait(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after_wait("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after_wait("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after_wait("soon", now), None);
    }

    fn context(stop: watch::Receiver<bool>) -> NetContext {
        NetContext {
            runtime: tokio::runtime::Handle::current(),
            stop,
            proxy: crate::net::ProxySetting::Direct,
            metrics: None,
        }
    }

    fn spec(initial_ms: u64, max_ms: u64, give_up: Option<u64>) -> NetworkSpec {
        NetworkSpec {
            timeout: Duration::from_secs(1),
            max_events: 10,
            max_bytes: 1000,
            max_in_flight: 1,
            linger: Duration::ZERO,
            retry_initial: Duration::from_millis(initial_ms),
            retry_max: Duration::from_millis(max_ms),
            give_up_after: give_up.map(Duration::from_millis),
            roots: Vec::new(),
            identity: None,
        }
    }

    #[tokio::test]
    async fn waits_double_up_to_the_cap_and_stop_ends_them() {
        let spec = spec(10, 40, None);
        let (tx, rx) = watch::channel(false);
        let cx = context(rx);
        let mut r = Retrier::new("s", &spec, &cx);
        for expected in [10, 20, 40, 40] {
            r.failures += 1;
            assert_eq!(r.base_wait(), Duration::from_millis(expected));
        }
        r.failures = 0;
        let started = Instant::now();
        r.wait("down", None).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(5));
        tx.send(true).unwrap();
        let stopped = r.wait("down", None).await.unwrap_err();
        assert!(
            stopped.to_string().contains("the run is stopping"),
            "{stopped}"
        );
    }

    #[tokio::test]
    async fn give_up_after_returns_the_batch() {
        let spec = spec(20, 20, Some(30));
        let (_tx, rx) = watch::channel(false);
        let cx = context(rx);
        let mut r = Retrier::new("s", &spec, &cx);
        let asked = Some(Duration::from_millis(20));
        r.wait("down", asked).await.unwrap();
        let gave_up = r.wait("down", asked).await.unwrap_err();
        assert!(
            gave_up.to_string().contains("retry.give_up_after"),
            "{gave_up}"
        );
        assert!(matches!(gave_up, SinkError::Retryable(_)));
    }
}
