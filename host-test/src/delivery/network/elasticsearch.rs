//! `type = "elasticsearch"` (also OpenSearch): the `_bulk` API with a `create` action per
//! event and `_id` = tenant, log type and the event's stable id. A retried request therefore
//! never indexes an event twice: Elasticsearch answers 409 for an id it holds, which counts as
//! delivered. Each item's result is read: 429 and 5xx items are sent again alone (with
//! backoff), items refused for good (mapping errors, other 4xx) go to the dead-letter file
//! with Elasticsearch's reason; the batch counts as delivered once every item is indexed or
//! dead-lettered. The index (or data stream) is named per event from a template with
//! `{tenant}`, `{log_type}` and `{date}` (the event's UTC date, so a retry lands in the same
//! index). No Elasticsearch client crate is used: the official one is alpha and pulls its own
//! HTTP stack, while `_bulk` is one NDJSON POST that the host's client sends with its proxy,
//! trust roots and deadline.

use std::sync::Mutex;

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;

use super::dead_letter::{DeadLetter, Refused};
use super::http::{exchange_or_wait, sink_client, BuildError};
use super::{chunks, classify, credential_header, send_pieces, Answer, NetContext, Retrier};
use crate::config::sinks::{ElasticsearchSpec, EsAuth};
use crate::delivery::event_meta;
use crate::delivery::sink::{all_events, Batch, Sink, SinkError};
use crate::net::HttpClient;

/// One event as a `_bulk` item.
struct Item<'a> {
    /// The batch it came in.
    batch: Batch<'a>,
    /// The `create` action line.
    action: String,
    /// The document.
    event: &'a str,
}

/// What Elasticsearch answers to `_bulk`.
#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, ItemAnswer>>,
}

/// One item's result.
#[derive(Deserialize)]
struct ItemAnswer {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Where an item stands after an answer.
enum Fate {
    /// Indexed, or already there (409).
    Done,
    /// Worth sending again (429, 5xx).
    Again,
    /// Refused for good: to the dead-letter file.
    Refused(u16, serde_json::Value),
}

impl ItemAnswer {
    fn fate(self) -> Fate {
        match self.status {
            200..=299 | 409 => Fate::Done,
            429 | 500..=599 => Fate::Again,
            status => Fate::Refused(status, self.error.unwrap_or(serde_json::Value::Null)),
        }
    }
}

/// Fills in the index template for one event.
pub fn index_name(
    template: &str,
    tenant: &str,
    log_type: &str,
    time: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    let date = time.map_or_else(
        || "undated".to_string(),
        |t| t.format("%Y.%m.%d").to_string(),
    );
    template
        .replace("{tenant}", &tenant.to_lowercase())
        .replace("{log_type}", log_type)
        .replace("{date}", &date)
}

/// The `_id` of an event: its tenant, log type and stable id, so that no tenant's component
/// can make another tenant's events look indexed already. An event without an id gets one
/// from a hash of its text (the same on a retry, and in every build).
pub fn document_id(tenant: &str, log_type: &str, event_id: Option<&str>, event: &str) -> String {
    match event_id {
        Some(id) => format!("{tenant}:{log_type}:{id}"),
        None => {
            // FNV-1a: the same for the same text in every build (std's hasher may change).
            let hash = event.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            });
            format!("{tenant}:{log_type}:h{hash:016x}")
        }
    }
}

/// The Elasticsearch sink.
pub struct ElasticsearchSink {
    name: String,
    spec: ElasticsearchSpec,
    client: HttpClient,
    cx: NetContext,
    bulk_url: http::Uri,
    authorization: Option<http::HeaderValue>,
    dead_letter: Mutex<DeadLetter>,
}

impl ElasticsearchSink {
    /// A sink named `name` with `spec`.
    ///
    /// # Errors
    /// Its TLS settings or its URL cannot be used.
    pub fn new(
        name: &str,
        spec: ElasticsearchSpec,
        cx: NetContext,
    ) -> Result<ElasticsearchSink, BuildError> {
        let client = sink_client(name, &spec.network, &cx)?;
        let built = |why: String| BuildError {
            sink: name.to_string(),
            why,
        };
        let mut url = format!("{}/_bulk", spec.url);
        if let Some(pipeline) = &spec.pipeline {
            url.push_str(&format!("?pipeline={pipeline}"));
        }
        let bulk_url = url
            .parse::<http::Uri>()
            .map_err(|e| built(format!("url {url} cannot be used: {e}")))?;
        let authorization = match &spec.auth {
            EsAuth::None => None,
            EsAuth::ApiKey(key) => Some(format!("ApiKey {}", key.expose())),
            EsAuth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    username.expose(),
                    password.expose()
                ))
            )),
        }
        .map(|v| credential_header(name, &v))
        .transpose()?;
        let dead_letter = Mutex::new(DeadLetter::new(name, &spec.dead_letter));
        Ok(ElasticsearchSink {
            name: name.to_string(),
            spec,
            client,
            cx,
            bulk_url,
            authorization,
            dead_letter,
        })
    }

    /// Sends `items` until each is indexed, already there, or refused for good; returns the
    /// refused ones (their place in `items`, status and reason).
    async fn send(
        &self,
        items: &[Item<'_>],
    ) -> Result<Vec<(usize, u16, serde_json::Value)>, SinkError> {
        let mut pending: Vec<usize> = (0..items.len()).collect();
        let mut refused = Vec::new();
        let mut retrier = Retrier::new(&self.name, &self.spec.network, &self.cx);
        loop {
            let mut body = Vec::new();
            for &i in &pending {
                body.extend_from_slice(items[i].action.as_bytes());
                body.push(b'\n');
                body.extend_from_slice(items[i].event.as_bytes());
                body.push(b'\n');
            }
            let mut request = http::Request::post(self.bulk_url.clone())
                .header(http::header::CONTENT_TYPE, "application/x-ndjson");
            if let Some(auth) = &self.authorization {
                request = request.header(http::header::AUTHORIZATION, auth.clone());
            }
            let request = request
                .body(Bytes::from(body))
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
                &[],
            ) {
                Answer::Taken => {}
                Answer::Refused(why) => return Err(SinkError::Permanent(why)),
                Answer::Retry { why, after } => {
                    retrier.wait(&why, after).await?;
                    continue;
                }
            }
            let parsed = serde_json::from_slice::<BulkAnswer>(&answer.body)
                .ok()
                .filter(|a| a.items.len() == pending.len());
            let Some(parsed) = parsed else {
                // `create` is idempotent: sending the same items again is safe.
                let why = format!(
                    "the _bulk answer ({}) is not a result per item: {}",
                    answer.status,
                    super::quote(&answer.body)
                );
                retrier.wait(&why, None).await?;
                continue;
            };
            if !parsed.errors {
                return Ok(refused);
            }
            let mut again = Vec::new();
            let mut first_again = None;
            for (&i, mut item) in pending.iter().zip(parsed.items) {
                let Some((_, answer)) = item.drain().next() else {
                    again.push(i);
                    continue;
                };
                match answer.fate() {
                    Fate::Done => {}
                    Fate::Again => {
                        first_again.get_or_insert(answer_text(i, &items[i]));
                        again.push(i);
                    }
                    Fate::Refused(status, error) => refused.push((i, status, error)),
                }
            }
            if again.is_empty() {
                return Ok(refused);
            }
            let why = format!(
                "{} of {} items were not indexed yet (429 or 5xx), first {}",
                again.len(),
                pending.len(),
                first_again.unwrap_or_default()
            );
            pending = again;
            retrier.wait(&why, None).await?;
        }
    }
}

/// An item, named for a log line (never its content).
fn answer_text(i: usize, item: &Item<'_>) -> String {
    format!("#{i} ({})", item.action)
}

impl Sink for ElasticsearchSink {
    fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
        self.deliver_all(&[batch])
    }

    fn deliver_all(&mut self, batches: &[Batch<'_>]) -> Result<(), SinkError> {
        let items: Vec<Item<'_>> = all_events(batches)
            .map(|(batch, event)| {
                let meta = event_meta::read(event);
                let index = index_name(&self.spec.index, batch.tenant, batch.log_type, meta.time);
                let id = document_id(batch.tenant, batch.log_type, meta.id.as_deref(), event);
                let action =
                    serde_json::json!({"create": {"_index": index, "_id": id}}).to_string();
                Item {
                    batch,
                    action,
                    event,
                }
            })
            .collect();
        let n = &self.spec.network;
        let ranges = chunks(
            items.iter().map(|i| i.action.len() + i.event.len() + 2),
            n.max_events,
            n.max_bytes,
        );
        let this = &*self;
        let refused: Vec<(usize, u16, serde_json::Value)> =
            send_pieces(&this.cx, ranges, n.max_in_flight, |r| {
                let items = &items;
                async move {
                    let start = r.start;
                    let refused = this.send(&items[r]).await?;
                    Ok::<_, SinkError>(
                        refused
                            .into_iter()
                            .map(|(i, s, e)| (start + i, s, e))
                            .collect::<Vec<_>>(),
                    )
                }
            })?
            .into_iter()
            .flatten()
            .collect();
        if refused.is_empty() {
            return Ok(());
        }
        let letters: Vec<Refused<'_>> = refused
            .into_iter()
            .map(|(i, status, error)| Refused {
                tenant: items[i].batch.tenant,
                log_type: items[i].batch.log_type,
                status,
                error,
                event: items[i].event,
            })
            .collect();
        let mut dead_letter = self.dead_letter.lock().map_err(|_| {
            SinkError::Retryable(std::io::Error::other("dead-letter lock poisoned"))
        })?;
        dead_letter.write(&letters).map_err(SinkError::Retryable)?;
        tracing::error!(
            sink = self.name,
            refused = letters.len(),
            dead_letter = %dead_letter.path().display(),
            "Elasticsearch refused events for good; they are in the dead-letter file with the reason"
        );
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn index_names_and_ids_come_from_the_event() {
        let time = chrono::DateTime::parse_from_rfc3339("2026-11-24T23:59:59-01:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            index_name(
                "mimecast-{tenant}-{log_type}-{date}",
                "Acme",
                "url",
                Some(time)
            ),
            "mimecast-acme-url-2026.11.25"
        );
        assert_eq!(index_name("m-{date}", "a", "url", None), "m-undated");
        assert_eq!(document_id("acme", "url", Some("e1"), "{}"), "acme:url:e1");
        let hashed = document_id("acme", "url", None, "{\"a\":1}");
        assert_eq!(hashed, document_id("acme", "url", None, "{\"a\":1}"));
        assert_ne!(hashed, document_id("acme", "url", None, "{\"a\":2}"));
    }
}
