//! `type = "splunk_hec"`: Splunk's HTTP Event Collector, `POST /services/collector/event` with
//! `Authorization: Splunk <token>` and the events of a request as concatenated JSON objects,
//! each with `time` (the event's), `host`, `source`, `sourcetype` (`mimecast:ttp:url` …),
//! `index` and `fields` (tenant, log type, event id), and the event itself as `event`.
//! HEC's codes are read: a busy server (code 9, 503) or an internal error is retried; a token
//! that is wrong, missing or disabled, an index it may not write and a token without
//! acknowledgement where `ack = true` stop the run with the fix.
//!
//! With `ack = true` (indexer acknowledgement) the requests carry a channel
//! (`X-Splunk-Request-Channel`, a GUID made at start) and a request counts only once
//! `/services/collector/ack` says its `ackId` is indexed; an acknowledgement that does not come
//! within `ack_timeout` (an indexer lost the events) sends the events again. Without it, a
//! 200 means HEC took the events into its queue, not that they are indexed. No HEC crate is
//! used: the protocol is two JSON POSTs, sent by the host's HTTP client.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;

use super::http::{exchange, exchange_or_wait, sink_client, unanswered, BuildError, Exchange};
use super::{chunks, classify, credential_header, quote, send_pieces, Answer, NetContext, Retrier};
use crate::config::sinks::SplunkHecSpec;
use crate::delivery::event_meta;
use crate::delivery::sink::{all_events, Batch, Sink, SinkError};
use crate::net::HttpClient;

/// HEC's answer body.
#[derive(Deserialize, Default)]
struct HecAnswer {
    #[serde(default)]
    text: String,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, rename = "ackId")]
    ack_id: Option<u64>,
}

/// `/services/collector/ack`'s answer.
#[derive(Deserialize)]
struct AckAnswer {
    acks: std::collections::HashMap<String, bool>,
}

/// The Splunk HEC sink.
pub struct SplunkHecSink {
    name: String,
    spec: SplunkHecSpec,
    client: HttpClient,
    cx: NetContext,
    event_url: http::Uri,
    ack_url: http::Uri,
    channel: String,
    authorization: http::HeaderValue,
}

/// A random GUID, for the request channel.
fn guid() -> String {
    let b: [u8; 16] = rand::random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// A `source` or `sourcetype` template with `{tenant}` and `{log_type}` filled in.
fn fill(template: &str, tenant: &str, log_type: &str) -> String {
    template
        .replace("{tenant}", tenant)
        .replace("{log_type}", log_type)
}

/// One event as a HEC event object.
pub fn hec_event(spec: &SplunkHecSpec, tenant: &str, log_type: &str, event: &str) -> String {
    let meta = event_meta::read(event);
    let time = meta.time.unwrap_or_else(chrono::Utc::now);
    let mut head = serde_json::json!({
        "time": format!("{}.{:03}", time.timestamp(), time.timestamp_subsec_millis()).parse::<f64>().unwrap_or(0.0),
        "host": spec.host,
        "source": fill(&spec.source, tenant, log_type),
        "sourcetype": fill(&spec.sourcetype, tenant, log_type),
        "fields": {"tenant": tenant, "log_type": log_type},
    });
    // HEC refuses a null indexed field: an event without an id goes without one.
    if let (Some(id), Some(fields)) = (meta.id, head.get_mut("fields")) {
        fields["event_id"] = id.into();
    }
    if let (Some(index), Some(obj)) = (&spec.index, head.as_object_mut()) {
        obj.insert("index".into(), index.clone().into());
    }
    let head = head.to_string();
    format!("{},\"event\":{event}}}", &head[..head.len() - 1])
}

impl SplunkHecSink {
    /// A sink named `name` with `spec`.
    ///
    /// # Errors
    /// Its TLS settings, URL or token cannot be used.
    pub fn new(
        name: &str,
        spec: SplunkHecSpec,
        cx: NetContext,
    ) -> Result<SplunkHecSink, BuildError> {
        let client = sink_client(name, &spec.network, &cx)?;
        let built = |why: String| BuildError {
            sink: name.to_string(),
            why,
        };
        let uri = |path: &str| {
            format!("{}{path}", spec.url)
                .parse::<http::Uri>()
                .map_err(|e| built(format!("url {} cannot be used: {e}", spec.url)))
        };
        let event_url = uri("/services/collector/event")?;
        let ack_url = uri("/services/collector/ack")?;
        let authorization = credential_header(name, &format!("Splunk {}", spec.token.expose()))?;
        Ok(SplunkHecSink {
            name: name.to_string(),
            spec,
            client,
            cx,
            event_url,
            ack_url,
            channel: guid(),
            authorization,
        })
    }

    fn request(&self, uri: &http::Uri, body: Bytes) -> Result<http::Request<Bytes>, SinkError> {
        http::Request::post(uri.clone())
            .header(http::header::AUTHORIZATION, self.authorization.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-splunk-request-channel", &self.channel)
            .body(body)
            .map_err(|e| SinkError::Permanent(format!("sink {}: {e}", self.name)))
    }

    /// What an answer other than success means.
    fn refusal(&self, answer: &Exchange) -> Answer {
        let hec = serde_json::from_slice::<HecAnswer>(&answer.body).unwrap_or_default();
        let said = format!(
            "{} (HEC code {})",
            hec.text,
            hec.code.map_or("none".into(), |c| c.to_string())
        );
        let refuse = |fix: &str| {
            Answer::Refused(format!(
                "sink {}: HEC refused the events: {said}; {fix}",
                self.name
            ))
        };
        match hec.code {
            Some(1..=4) => refuse("check the sink's token, and that it is enabled"),
            Some(7) => refuse("the token may not write to the sink's index; set index to one it may, or leave it out"),
            Some(14) => refuse("indexer acknowledgement is off for this token: enable it on the token, or set ack = false"),
            Some(10 | 11) => refuse("the request channel was refused"),
            Some(9) | Some(8) => Answer::Retry {
                why: format!("HEC answered {}: {said}", answer.status),
                after: None,
            },
            _ => classify(&self.name, answer.status, answer.retry_after.as_ref(), &answer.body, &[]),
        }
    }

    /// Sends `events` (HEC event objects) until HEC took them, and, with `ack`, indexed them.
    async fn send(&self, events: &[String]) -> Result<(), SinkError> {
        let body = Bytes::from(events.join("\n"));
        let mut retrier = Retrier::new(&self.name, &self.spec.network, &self.cx);
        loop {
            let request = self.request(&self.event_url, body.clone())?;
            let timeout = self.spec.network.timeout;
            let Some(answer) =
                exchange_or_wait(&self.client, request, timeout, &self.name, &mut retrier).await?
            else {
                continue;
            };
            let hec = serde_json::from_slice::<HecAnswer>(&answer.body).unwrap_or_default();
            if !answer.status.is_success() || hec.code.is_some_and(|c| c != 0) {
                match self.refusal(&answer) {
                    Answer::Refused(why) => return Err(SinkError::Permanent(why)),
                    Answer::Retry { why, after } => retrier.wait(&why, after).await?,
                    Answer::Taken => return Ok(()),
                }
                continue;
            }
            let Some(timeout) = self.spec.ack_timeout else {
                return Ok(());
            };
            let Some(ack_id) = hec.ack_id else {
                return Err(SinkError::Permanent(format!(
                    "sink {}: HEC took the events but gave no ackId ({}); indexer acknowledgement is off for this token: enable it, or set ack = false",
                    self.name,
                    quote(&answer.body)
                )));
            };
            if self.indexed(ack_id, timeout).await? {
                return Ok(());
            }
            retrier
                .wait(
                    &format!("HEC did not acknowledge ackId {ack_id} within ack_timeout; sending the events again"),
                    Some(Duration::ZERO),
                )
                .await?;
        }
    }

    /// Polls `/services/collector/ack` until `ack_id` is indexed (`true`) or `timeout` passed
    /// (`false`).
    async fn indexed(&self, ack_id: u64, timeout: Duration) -> Result<bool, SinkError> {
        let deadline = Instant::now() + timeout;
        let mut wait = Duration::from_millis(100);
        let mut stop = self.cx.stop.clone();
        loop {
            let body = Bytes::from(format!("{{\"acks\":[{ack_id}]}}"));
            let request = self.request(&self.ack_url, body)?;
            match exchange(&self.client, request, self.spec.network.timeout).await {
                Ok(answer) if answer.status.is_success() => {
                    let acks = serde_json::from_slice::<AckAnswer>(&answer.body).map_err(|_| {
                        SinkError::Retryable(std::io::Error::other(format!(
                            "sink {}: the ack answer is not {{\"acks\":{{…}}}}: {}",
                            self.name,
                            quote(&answer.body)
                        )))
                    })?;
                    if acks.acks.get(&ack_id.to_string()) == Some(&true) {
                        return Ok(true);
                    }
                }
                Ok(answer) => {
                    if let Answer::Refused(why) = self.refusal(&answer) {
                        return Err(SinkError::Permanent(why));
                    }
                }
                Err(e) => {
                    unanswered(&self.name, &e)?;
                }
            }
            if Instant::now() + wait > deadline {
                return Ok(false);
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return Err(SinkError::Retryable(std::io::Error::other(format!(
                    "sink {}: the run is stopping while waiting for HEC's acknowledgement; the batch goes back undelivered", self.name)))),
            }
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }
}

impl Sink for SplunkHecSink {
    fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
        self.deliver_all(&[batch])
    }

    fn deliver_all(&mut self, batches: &[Batch<'_>]) -> Result<(), SinkError> {
        let events: Vec<String> = all_events(batches)
            .map(|(b, e)| hec_event(&self.spec, b.tenant, b.log_type, e))
            .collect();
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_guid_has_the_canonical_form() {
        let g = guid();
        assert_eq!(g.len(), 36);
        assert_eq!(g.matches('-').count(), 4);
        assert_ne!(g, guid());
    }
}
