//! `type = "http"`: each batch as NDJSON POSTed to one URL (Vector `http_server`, Fluent Bit
//! `http`, Logstash `http`, Cribl), optionally gzip-compressed, with headers from secrets. A
//! batch counts once every request of it got a success status; 408, 429 and 5xx are retried
//! with backoff (honouring `Retry-After`), other answers stop the run with the receiver's
//! words. A retried request may repeat events the receiver already took (at least once; each
//! event carries its stable id). Requests go through the host's one HTTP client code
//! ([`crate::net::HttpClient`]: proxy, trust roots, deadline), here with the sink's own TLS.

use std::io::Write as _;

use bytes::Bytes;
use http_body_util::BodyExt as _;

use super::{chunks, classify, send_pieces, Answer, NetContext, Retrier};
use crate::config::sinks::HttpSpec;
use crate::delivery::sink::{all_events, lines, Batch, Sink, SinkError};
use crate::net::{client_config, HttpClient, NetError};

/// A network sink could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("sink {sink}: {why}")]
pub struct BuildError {
    /// The sink's name.
    pub sink: String,
    /// What is wrong.
    pub why: String,
}

/// The HTTP client of a network sink: the host's client with the sink's trust roots and
/// client certificate.
///
/// # Errors
/// The client certificate cannot be used.
pub fn sink_client(
    name: &str,
    network: &crate::config::sinks::NetworkSpec,
    cx: &NetContext,
) -> Result<HttpClient, BuildError> {
    let tls = client_config(&network.roots, network.identity.as_ref()).map_err(|e| BuildError {
        sink: name.to_string(),
        why: format!("TLS setup failed: {e}"),
    })?;
    Ok(HttpClient::with_tls(&cx.proxy, tls, true))
}

/// One request's answer: status, `Retry-After`, body.
pub struct Exchange {
    /// The status.
    pub status: http::StatusCode,
    /// `Retry-After`, if any.
    pub retry_after: Option<http::HeaderValue>,
    /// The whole body.
    pub body: Bytes,
}

/// Sends `request` and reads its whole answer within `timeout`.
///
/// # Errors
/// No answer, or its body could not be read.
pub async fn exchange(
    client: &HttpClient,
    request: http::Request<Bytes>,
    timeout: std::time::Duration,
) -> Result<Exchange, NetError> {
    let response = client.send(request, timeout).await?;
    let status = response.status();
    let retry_after = response.headers().get(http::header::RETRY_AFTER).cloned();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Exchange {
        status,
        retry_after,
        body,
    })
}

/// Sends `request` and reads its answer; when none came and retrying can help, waits the
/// retry backoff and returns `None` (the caller sends the request again).
///
/// # Errors
/// No answer, and retrying cannot help (TLS trust, protocol); or the retries are over.
pub async fn exchange_or_wait(
    client: &HttpClient,
    request: http::Request<Bytes>,
    timeout: std::time::Duration,
    sink: &str,
    retrier: &mut Retrier<'_>,
) -> Result<Option<Exchange>, SinkError> {
    match exchange(client, request, timeout).await {
        Ok(answer) => Ok(Some(answer)),
        Err(e) => {
            let why = unanswered(sink, &e)?;
            retrier.wait(&why, None).await?;
            Ok(None)
        }
    }
}

/// What a request that got no answer means: retry, or stop with the fix.
pub fn unanswered(sink: &str, e: &NetError) -> Result<String, SinkError> {
    if e.is_retryable() {
        Ok(e.to_string())
    } else {
        Err(SinkError::Permanent(format!(
            "sink {sink}: {e}; check the sink's url and its tls settings (ca_file, client_cert)"
        )))
    }
}

/// Compresses `body` with gzip.
fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

/// The generic HTTP sink.
pub struct HttpSink {
    name: String,
    spec: HttpSpec,
    client: HttpClient,
    cx: NetContext,
}

impl HttpSink {
    /// A sink named `name` with `spec`.
    ///
    /// # Errors
    /// Its TLS settings cannot be used.
    pub fn new(name: &str, spec: HttpSpec, cx: NetContext) -> Result<HttpSink, BuildError> {
        let client = sink_client(name, &spec.network, &cx)?;
        Ok(HttpSink {
            name: name.to_string(),
            spec,
            client,
            cx,
        })
    }

    /// Sends one request of events until it is taken.
    async fn send(&self, events: &[&str]) -> Result<(), SinkError> {
        let ndjson = lines(events);
        let body = Bytes::from(if self.spec.gzip {
            gzip(&ndjson).map_err(SinkError::Retryable)?
        } else {
            ndjson
        });
        let mut retrier = Retrier::new(&self.name, &self.spec.network, &self.cx);
        loop {
            let mut request = http::Request::post(self.spec.url.clone())
                .header(http::header::CONTENT_TYPE, "application/x-ndjson");
            if self.spec.gzip {
                request = request.header(http::header::CONTENT_ENCODING, "gzip");
            }
            for (name, value) in &self.spec.headers {
                request = request.header(name, value.expose());
            }
            let request = request
                .body(body.clone())
                .map_err(|e| SinkError::Permanent(format!("sink {}: {e}", self.name)))?;
            let timeout = self.spec.network.timeout;
            let Some(answer) =
                exchange_or_wait(&self.client, request, timeout, &self.name, &mut retrier).await?
            else {
                continue;
            };
            match classify(
                &self.name,
                answer.status,
                answer.retry_after.as_ref(),
                &answer.body,
                &self.spec.success_status,
            ) {
                Answer::Taken => return Ok(()),
                Answer::Refused(why) => return Err(SinkError::Permanent(why)),
                Answer::Retry { why, after } => retrier.wait(&why, after).await?,
            }
        }
    }
}

impl Sink for HttpSink {
    fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
        self.deliver_all(&[batch])
    }

    fn deliver_all(&mut self, batches: &[Batch<'_>]) -> Result<(), SinkError> {
        let events: Vec<&str> = all_events(batches).map(|(_, e)| e).collect();
        let n = &self.spec.network;
        let ranges = chunks(
            events.iter().map(|e| e.len() + 1),
            n.max_events,
            n.max_bytes,
        );
        send_pieces(&self.cx, ranges, n.max_in_flight, |r| self.send(&events[r]))?;
        Ok(())
    }
}
