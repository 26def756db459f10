//! One poll of one log type: open or continue a window, fetch one page, deduplicate, build the
//! events and the next checkpoint. I/O goes through the `Transport` and `Clock` traits, so this
//! runs natively in tests against an in-memory Mimecast.

use chrono::{DateTime, Utc};

use crate::cursor::{Checkpoint, Verdict};
use crate::error::SourceError;
use crate::event;
use crate::log_type::LogType;
use crate::page::{self, HttpResponse};
use crate::request::{self, HttpRequest};
use crate::settings::Settings;
use crate::timefmt;

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

/// When to poll again (mirror of the WIT `next-poll`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextPoll {
    /// More pages are waiting.
    Now,
    /// Caught up.
    Interval,
}

/// Result of one successful poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Event lines, oldest first.
    pub events: Vec<String>,
    /// The checkpoint after these events.
    pub checkpoint: String,
    /// When to poll again.
    pub next_poll: NextPoll,
    /// Records served but dropped as already delivered (for logs and tests).
    pub duplicates: usize,
    /// One line describing the page, for debug logs (no secrets, no record content).
    pub summary: String,
    /// Unix seconds up to which every record has been read (the cursor).
    pub cursor: Option<i64>,
}

/// Polls `log_type` once, continuing from `checkpoint` (`None` on the first run).
///
/// # Errors
/// Any [`SourceError`]; the caller keeps its previous checkpoint, so a retry repeats the same page.
pub fn poll(
    settings: &Settings,
    log_type: LogType,
    checkpoint: Option<&str>,
    transport: &mut dyn Transport,
    clock: &mut dyn Clock,
) -> Result<Outcome, SourceError> {
    let mut cp = match checkpoint {
        Some(text) => Checkpoint::decode(log_type, text)?,
        None => Checkpoint::new(log_type),
    };
    let now = clock.now();
    let end = now.timestamp() - settings.lag_secs as i64;
    let first_from = end - settings.lookback_secs as i64;
    let overlap = settings.overlap_secs as i64;
    let opened = cp.open_window(end, first_from, overlap, |from, to| {
        match (timefmt::from_unix(from), timefmt::from_unix(to)) {
            (Some(from), Some(to)) => request::window_item(log_type, settings, from, to),
            _ => serde_json::Value::Null,
        }
    });
    let Some(window) = cp.window().filter(|_| opened) else {
        return Ok(Outcome {
            events: Vec::new(),
            checkpoint: cp.encode(),
            next_poll: NextPoll::Interval,
            duplicates: 0,
            cursor: cp.cursor(),
            summary: format!("{log_type}: caught up"),
        });
    };
    if window.item.is_null() {
        return Err(SourceError::InvalidConfig(format!(
            "{log_type} window {}..{} is outside the supported time range; check the host clock",
            window.from, window.to
        )));
    }
    let body = request::page_body(&window.item, settings.page_size, window.token.as_deref());
    let window_to = window.to;
    let mut summary = format!(
        "{log_type}: window {}..{} page {}",
        window.from,
        window.to,
        if window.token.is_some() {
            "next"
        } else {
            "first"
        }
    );
    let req = request::signed_post(settings, log_type, body, now, clock.random16());
    let response = transport.send(&req, settings.request_timeout_ms)?;
    let page = page::parse(log_type, &response)?;

    let mut infos = Vec::with_capacity(page.records.len());
    for raw in &page.records {
        let info = event::inspect(log_type, raw).map_err(|e| {
            SourceError::Protocol(format!("a {log_type} record is not valid JSON ({e})"))
        })?;
        infos.push(info);
    }
    let keys: Vec<_> = infos.iter().map(|i| (i.key(), i.time)).collect();
    let horizon = now.timestamp() - overlap - settings.lag_secs as i64;
    let verdicts = cp.accept(&keys, page.total, horizon);
    let mut events = Vec::with_capacity(page.records.len());
    let mut duplicates = 0;
    for ((raw, info), verdict) in page.records.iter().zip(&infos).zip(verdicts) {
        match verdict {
            Verdict::Deliver(occurrence) => {
                let id = event::event_id(&settings.tenant, log_type, &info.digest, occurrence);
                events.push(event::event_json(
                    &settings.tenant,
                    log_type,
                    info.time,
                    &id,
                    raw,
                ));
            }
            Verdict::Duplicate => duplicates += 1,
        }
    }
    summary.push_str(&format!(
        ": {} records (totalCount {:?}), {} new, {duplicates} already delivered",
        page.records.len(),
        page.total,
        events.len()
    ));
    let completed = cp.finish_page(page.next, page.records.is_empty(), overlap);
    if completed {
        summary.push_str(", window complete");
    }
    // After a completed window, poll again at once only if the backlog goes beyond it.
    let next_poll = if !completed || window_to < end {
        NextPoll::Now
    } else {
        NextPoll::Interval
    };
    Ok(Outcome {
        events,
        checkpoint: cp.encode(),
        next_poll,
        duplicates,
        cursor: cp.cursor(),
        summary,
    })
}
