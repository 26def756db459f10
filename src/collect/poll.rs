//! One poll of one log type: open or continue a window, fetch one page, deduplicate, build the
//! events and the next checkpoint. I/O goes through the `Transport` and `Clock` traits, so this
//! runs natively in tests against an in-memory Mimecast.

use crate::api::auth::TokenCache;
use crate::api::page;
use crate::api::request;
use crate::api::timefmt;
use crate::api::utf8_repair;
use crate::collect::cursor::{self, Checkpoint, Verdict};
use crate::collect::event;
use crate::error::SourceError;
use crate::io::{Clock, HttpResponse, Transport};
use crate::log_type::LogType;
use crate::schema::{self, Schema};
use crate::settings::{self, Auth, Settings};

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
    /// Things an operator should know about this page, for warning logs (no record content).
    pub warnings: Vec<String>,
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
    tokens: &mut TokenCache,
) -> Result<Outcome, SourceError> {
    let mut cp = match checkpoint {
        Some(text) => Checkpoint::decode(log_type, text)?,
        None => Checkpoint::new(log_type),
    };
    let now = clock.now();
    let end = now.timestamp() - settings.lag_secs as i64;
    let first_from = end - settings.lookback_secs as i64;
    let overlap = settings.overlap_secs as i64;
    let make_item = |from, to| match (timefmt::from_unix(from), timefmt::from_unix(to)) {
        (Some(from), Some(to)) => request::window_item(log_type, settings, from, to),
        _ => serde_json::Value::Null,
    };
    // Mimecast keeps 30 days; a cursor older than that (a collector stopped for a month)
    // resumes at the retention edge, and says what could not be collected.
    let oldest = end - settings::MAX_LOOKBACK_SECS as i64;
    let mut warnings = Vec::new();
    if let Some(future) = cp.clamp_future(end) {
        warnings.push(format!(
            "{log_type}: the checkpoint says records were read up to {}, which lies in the \
             future (the host clock was set back, or the checkpoint comes from elsewhere); \
             collecting resumes from {} (less the overlap); records already delivered are not \
             delivered again",
            unix_text(future),
            unix_text(end)
        ));
    }
    if let Some(cursor) = cp.cursor().filter(|&c| c < oldest && cp.window().is_none()) {
        warnings.push(format!(
            "{log_type}: the checkpoint's cursor is at {}, further back than Mimecast keeps \
             records (30 days); records from then until {} are purged or too close to the purge \
             edge to read safely, and are not collected; collecting resumes from there",
            unix_text(cursor),
            unix_text(oldest)
        ));
    }
    if cp.clear_edge(oldest, make_item) {
        warnings.push(format!(
            "{log_type}: the window left open in the checkpoint reaches further back than \
             Mimecast keeps records (30 days); reading it again from {} (what was delivered is \
             not delivered again; older records are purged or too close to the purge edge to read \
             safely)",
            unix_text(oldest)
        ));
    }
    if let Some(len) = cp.drop_oversized_token(make_item) {
        warnings.push(format!(
            "{log_type}: the checkpoint holds a page token of {len} bytes, more than the \
             {} bytes accepted; it is dropped and the window read again from its first page \
             (records already delivered are not delivered again)",
            cursor::MAX_TOKEN_BYTES
        ));
    }
    let opened = cp.open_window(end, first_from, oldest, overlap, make_item);
    let Some(window) = cp.window().filter(|_| opened) else {
        return Ok(Outcome {
            events: Vec::new(),
            checkpoint: cp.encode(),
            next_poll: NextPoll::Interval,
            duplicates: 0,
            cursor: cp.cursor(),
            summary: format!("{log_type}: caught up"),
            warnings: Vec::new(),
        });
    };
    if window.item.is_null() {
        return Err(SourceError::InvalidConfig(format!(
            "{log_type} window {}..{} is outside the supported time range; check the host clock",
            window.from, window.to
        )));
    }
    let body = request::page_body(&window.item, settings.page_size, window.token.as_deref());
    let (window_from, window_to, window_present) = (window.from, window.to, window.present);
    let followed_token = window.token.is_some();
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
    let response = send_log_request(settings, log_type, body, transport, clock, tokens)?;
    let (response, repairs) = repair_body(response);
    let page = match page::parse(settings.auth.version(), log_type, &response) {
        Ok(page) => page,
        // A refused follow-up page: most likely its token (expired during a long outage, or
        // issued to the other API version; an API 2.0 gateway may answer 401 for it). Read the
        // window again from its first page; if the refusal was not about the token, the first
        // page says so with the same error.
        Err(
            e @ (SourceError::Protocol(_)
            | SourceError::InvalidConfig(_)
            | SourceError::Unauthorized(_)),
        ) if followed_token => {
            return restart_or_fail(
                &mut cp,
                now.timestamp(),
                make_item,
                Stuck {
                    log_type,
                    what: format!("Mimecast refused a follow-up page ({e})"),
                    summary: format!("{summary}: refused"),
                    warnings,
                },
            );
        }
        Err(e) => return Err(e),
    };
    if let Some(token) = &page.next {
        cursor::check_token(log_type, token)?;
    }

    let mut infos = Vec::with_capacity(page.records.len());
    let mut scratch = Vec::new();
    for raw in &page.records {
        infos.push(event::inspect(log_type, raw, &mut scratch));
    }
    let verbatim = infos.iter().filter(|i| i.verbatim).count();
    if verbatim > 0 {
        warnings.push(format!(
            "{log_type}: {verbatim} record(s) of this page are not fully readable JSON (e.g. a lone \
             UTF-16 surrogate escape); delivered exactly as received, identified by their bytes"
        ));
    }
    let repaired: Vec<bool> = page
        .records
        .iter()
        .map(|raw| utf8_repair::touches(&response.body, raw.get(), &repairs))
        .collect();
    if !repairs.is_empty() {
        let records = repaired.iter().filter(|r| **r).count();
        warnings.push(format!(
            "{log_type}: the page is not valid UTF-8 ({} invalid byte sequence(s), in {records} \
             record(s)); each sequence was replaced by U+FFFD and the page delivered, the events \
             of those records marked \"repaired\": \"{}\"",
            repairs.len(),
            utf8_repair::REPAIRED_NOTE
        ));
    }
    let keys: Vec<_> = infos.iter().map(|i| (i.key(), i.time)).collect();
    let horizon = now.timestamp() - overlap - settings.lag_secs as i64;
    let digests: Vec<u64> = keys.iter().map(|k| k.0).collect();
    if cp.is_repeated_page(&digests, page.next.as_deref()) {
        // Its records were delivered when the page was first served.
        return restart_or_fail(
            &mut cp,
            now.timestamp(),
            make_item,
            Stuck {
                log_type,
                what: "Mimecast answered a page token with the page it had just served and the \
                       same token again"
                    .to_string(),
                summary: format!("{summary}: the same page again"),
                warnings,
            },
        );
    }
    let verdicts = cp.accept(&keys, page.total, horizon);
    let mut events = Vec::with_capacity(page.records.len());
    let tenant_json = event::tenant_json(&settings.tenant);
    let (mut duplicates, mut before_window) = (0, 0);
    for (((raw, info), verdict), repaired) in
        page.records.iter().zip(&infos).zip(verdicts).zip(repaired)
    {
        match verdict {
            Verdict::Deliver(occurrence) => {
                let id = event::event_id(&settings.tenant, log_type, &info.digest, occurrence);
                let record = || schema::Record {
                    tenant: &settings.tenant,
                    log_type,
                    event_id: &id,
                    time: info.time,
                    raw,
                    repaired,
                };
                events.push(match settings.schema {
                    Schema::Raw => {
                        event::event_json(&tenant_json, log_type, info.time, &id, raw, repaired)
                    }
                    Schema::Ecs => schema::ecs::document(&record(), settings.schema_options),
                    Schema::Ocsf => schema::ocsf::document(&record(), settings.schema_options),
                });
            }
            Verdict::Duplicate => duplicates += 1,
            Verdict::BeforeWindow => before_window += 1,
        }
    }
    if before_window > 0 {
        warnings.push(format!(
            "{log_type}: {before_window} record(s) older than the window's start ({}) were served, \
             so the server does not apply `from`; they are not delivered again (an earlier window \
             covered their time, or it lies before the look-back)",
            unix_text(window_from)
        ));
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
    // After a completed window, poll again at once only if it stopped short of a longer
    // backlog. What arrived while a window reaching the present was read waits for the next
    // interval: reading it at once would chase the present for as long as a window takes more
    // than a second to read (a busy overlap, a server ignoring `from`, rate limits).
    let next_poll = if !completed || (!window_present && window_to < end) {
        NextPoll::Now
    } else {
        NextPoll::Interval
    };
    Ok(Outcome {
        events,
        checkpoint: cp.encode_bounded()?,
        next_poll,
        duplicates,
        cursor: cp.cursor(),
        summary,
        warnings,
    })
}

/// A window whose pager does not move past a page, for [`restart_or_fail`].
struct Stuck {
    log_type: LogType,
    /// What the pager did.
    what: String,
    /// The poll's debug summary so far.
    summary: String,
    /// Warnings of this poll so far.
    warnings: Vec<String>,
}

/// The open window's pager does not move past a page (it refused the page token, or served the
/// same page under the same token again). Reads the window again from its first page, at once
/// the first times and then after a pause (see [`Checkpoint::may_restart`]); records already
/// delivered are not delivered again. Within the pause the poll fails: the window cannot be
/// read to its end, and taking it as complete would skip its unread records without a word.
///
/// # Errors
/// A protocol error naming the problem when the window may not be restarted yet.
fn restart_or_fail(
    cp: &mut Checkpoint,
    now: i64,
    make_item: impl FnOnce(i64, i64) -> serde_json::Value,
    stuck: Stuck,
) -> Result<Outcome, SourceError> {
    let Stuck {
        log_type,
        what,
        summary,
        mut warnings,
    } = stuck;
    let (from, to, restarts) = cp
        .window()
        .map_or((0, 0, 0), |w| (w.from, w.to, w.restarts));
    if !cp.may_restart(now) {
        return Err(SourceError::Protocol(format!(
            "{what}, after the {log_type} window {}..{} was read again from its first page {restarts} \
             times; the records after that page cannot be read, so the window is not taken as \
             complete. It is read again from its first page {} minutes after the last attempt; \
             if this goes on, Mimecast's paging is broken for this query",
            unix_text(from),
            unix_text(to),
            cursor::RESTART_PAUSE_SECS / 60
        )));
    }
    let restarts = cp.restart_window_at(now, make_item).unwrap_or(0);
    warnings.push(format!(
        "{log_type}: {what}; reading the window again from its first page (records already \
         delivered are not delivered again)"
    ));
    Ok(Outcome {
        events: Vec::new(),
        checkpoint: cp.encode_bounded()?,
        next_poll: NextPoll::Now,
        duplicates: 0,
        cursor: cp.cursor(),
        summary: format!("{summary}, window restarted ({restarts})"),
        warnings,
    })
}

/// `response` with any invalid UTF-8 in its body replaced by U+FFFD (see [`utf8_repair`]), and
/// the offsets of those replacements (none for a UTF-8 body, which is left as it is).
fn repair_body(mut response: HttpResponse) -> (HttpResponse, Vec<usize>) {
    match utf8_repair::repair(&response.body) {
        Some(repaired) => {
            response.body = repaired.body;
            (response, repaired.spots)
        }
        None => (response, Vec::new()),
    }
}

/// Unix seconds as RFC 3339 text, for messages.
fn unix_text(secs: i64) -> String {
    timefmt::from_unix(secs).map_or_else(|| secs.to_string(), timefmt::format_rfc3339)
}

/// Sends one log request with the tenant's credentials. API 1.0 signs it; API 2.0 uses the
/// cached token (getting one first if needed) and, when Mimecast rejects the token (401,
/// `token_expired`, or an HTTP 200 whose `meta.status` is 401), gets a new one and sends the
/// same body once more (§4.1, §5).
///
/// # Errors
/// The request or a token request failed; an answer Mimecast sent comes back as `Ok`.
fn send_log_request(
    settings: &Settings,
    log_type: LogType,
    body: Vec<u8>,
    transport: &mut dyn Transport,
    clock: &mut dyn Clock,
    tokens: &mut TokenCache,
) -> Result<HttpResponse, SourceError> {
    let timeout = settings.request_timeout_ms;
    let path = log_type.path();
    match &settings.auth {
        Auth::Api1(keys) => {
            let req = request::signed_post(
                &settings.base_url,
                keys,
                path,
                body,
                clock.now(),
                clock.random16(),
            );
            transport.send(&req, timeout)
        }
        Auth::Api2(credentials) => {
            let mut send = |tokens: &mut TokenCache, body: Vec<u8>| {
                let now = clock.now();
                let token = tokens.get(&settings.base_url, credentials, transport, timeout, now)?;
                let req = request::bearer_post(&settings.base_url, token.bearer(), path, body);
                transport.send(&req, timeout)
            };
            let response = send(tokens, body.clone())?;
            if !page::is_token_rejection(&response) {
                return Ok(response);
            }
            tokens.invalidate();
            send(tokens, body)
        }
    }
}

/// Length of the window a probe asks for.
pub const PROBE_WINDOW_SECS: i64 = 60;

/// Setup check for `log_type`: one real request for one record of the last minute (after a
/// token request for API 2.0). Touches no checkpoint and delivers nothing.
///
/// # Errors
/// Whatever Mimecast or the network answered, with the fix in the text.
pub fn probe(
    settings: &Settings,
    log_type: LogType,
    transport: &mut dyn Transport,
    clock: &mut dyn Clock,
    tokens: &mut TokenCache,
) -> Result<(), SourceError> {
    let to = clock.now();
    let from = to - chrono::TimeDelta::seconds(PROBE_WINDOW_SECS);
    let item = request::window_item(log_type, settings, from, to);
    let body = request::page_body(&item, 1, None);
    let (response, _) = repair_body(send_log_request(
        settings, log_type, body, transport, clock, tokens,
    )?);
    page::parse(settings.auth.version(), log_type, &response).map(|_| ())
}

/// Region discovery (§2.2): asks `discover_url` which regional API host serves `email`.
///
/// # Errors
/// The request failed, the application id is unknown, or Mimecast knows no such address.
pub fn discover(
    discover_url: &str,
    app_id: &str,
    email: &str,
    timeout_ms: u64,
    transport: &mut dyn Transport,
    clock: &mut dyn Clock,
) -> Result<String, SourceError> {
    if email.trim().is_empty() || !email.contains('@') {
        return Err(SourceError::InvalidConfig(format!(
            "{email:?} is not an e-mail address; give the service user's address"
        )));
    }
    if app_id.trim().is_empty() {
        return Err(SourceError::InvalidConfig(
            "app_id is empty; discovery needs the API 1.0 Application ID".into(),
        ));
    }
    let req = request::discover_post(discover_url, app_id, email, clock.now(), clock.random16());
    let response = transport.send(&req, timeout_ms)?;
    page::parse_discover(&response, email.trim())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::io::HttpRequest;
    use crate::settings::tests::sample_api2;
    use chrono::TimeZone;
    use chrono::{DateTime, Utc};
    use serde_json::{json, Value};

    /// An in-memory API 2.0 gateway: tokens die after `uses` requests with `token_expired`.
    /// Page tokens are offsets; `refuse_token` is refused once with a 400, and `stuck` answers
    /// every follow-up page with the first page and the same token.
    struct FakeGateway {
        records: Vec<Value>,
        uses: u32,
        current: Option<(String, u32)>,
        issued: u32,
        log_requests: u32,
        refuse_token: Option<String>,
        stuck: bool,
        /// The next page with a `next` gets instead a token of this many bytes, once.
        huge_next_once: Option<usize>,
        /// Every page token is refused.
        refuse_all_tokens: bool,
    }

    impl FakeGateway {
        fn new(records: Vec<Value>, uses: u32) -> FakeGateway {
            FakeGateway {
                records,
                uses,
                current: None,
                issued: 0,
                log_requests: 0,
                refuse_token: None,
                stuck: false,
                huge_next_once: None,
                refuse_all_tokens: false,
            }
        }
    }

    fn reply(status: u16, body: Value) -> HttpResponse {
        HttpResponse {
            status,
            rate_limit_reset_ms: None,
            body: body.to_string().into_bytes(),
        }
    }

    impl Transport for FakeGateway {
        fn send(&mut self, r: &HttpRequest, _: u64) -> Result<HttpResponse, SourceError> {
            if r.url.ends_with("/oauth/token") {
                assert!(String::from_utf8_lossy(&r.body).contains("grant_type=client_credentials"));
                self.issued += 1;
                let token = format!("tok{}", self.issued);
                self.current = Some((token.clone(), 0));
                return Ok(reply(
                    200,
                    json!({"access_token": token, "token_type": "Bearer", "expires_in": 1799}),
                ));
            }
            self.log_requests += 1;
            let auth = r
                .headers
                .iter()
                .find(|(n, _)| *n == "authorization")
                .unwrap();
            let (token, used) = self.current.as_mut().unwrap();
            assert_eq!(auth.1, format!("Bearer {token}"));
            *used += 1;
            if *used > self.uses {
                return Ok(reply(
                    401,
                    json!({"fail": [{"code": "token_expired", "message": "expired"}]}),
                ));
            }
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert!(body["data"][0]["from"].as_str().unwrap().ends_with('Z'));
            let size = body["meta"]["pagination"]["pageSize"].as_u64().unwrap() as usize;
            let token = body["meta"]["pagination"]["pageToken"].as_str();
            if token.is_some() && (self.refuse_all_tokens || token == self.refuse_token.as_deref())
            {
                self.refuse_token = None;
                return Ok(reply(
                    400,
                    json!({"meta": {"status": 400}, "data": [], "fail": [{"errors": [
                        {"code": "err_validation_invalid_page_token", "message": "invalid token",
                         "retryable": false}]}]}),
                ));
            }
            let offset: usize = match token {
                Some(_) if self.stuck => 0,
                token => token.map_or(0, |t| t.parse().unwrap()),
            };
            // Records in the window.
            let bound =
                |name: &str| timefmt::parse(body["data"][0][name].as_str().unwrap()).unwrap();
            let (from, to) = (bound("from"), bound("to"));
            let in_window: Vec<&Value> = self
                .records
                .iter()
                .filter(|r| {
                    (from..=to).contains(&timefmt::parse(r["date"].as_str().unwrap()).unwrap())
                })
                .collect();
            let end = (offset + size).min(in_window.len());
            let mut pagination = json!({"pageSize": size});
            if end < in_window.len() {
                pagination["next"] = json!(if self.stuck { size } else { end }.to_string());
                if let Some(bytes) = self.huge_next_once.take() {
                    pagination["next"] = json!("x".repeat(bytes));
                }
            }
            Ok(reply(
                200,
                json!({"meta": {"status": 200, "pagination": pagination},
                       "data": [{"clickLogs": in_window[offset..end]}], "fail": []}),
            ))
        }
    }

    struct FixedClock(DateTime<Utc>);

    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
        fn random16(&mut self) -> [u8; 16] {
            [7; 16]
        }
    }

    #[test]
    fn api2_token_expiring_mid_window_loses_and_repeats_nothing() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let records = hour_of_records(now, 23);
        let mut gw = FakeGateway::new(records.clone(), 3);
        let mut tokens = TokenCache::new();
        let (delivered, _) = poll_until_caught_up(&mut gw, &mut tokens, now);
        assert_eq!(delivered, records);
        assert_eq!(gw.issued, 4, "12 pages at 3 per token");
        assert_eq!(tokens.issued(), 4);
    }

    /// Records one minute apart in the hour before `now`.
    fn hour_of_records(now: DateTime<Utc>, count: i64) -> Vec<Value> {
        (0..count)
            .map(|i| {
                let t = now - chrono::TimeDelta::seconds(3600 - i * 60);
                json!({"date": timefmt::format_mimecast(t), "url": format!("https://{i}.example")})
            })
            .collect()
    }

    /// Polls URL logs with 2-record pages as the host would, from no checkpoint until caught
    /// up; returns the records delivered and the warnings.
    fn poll_until_caught_up(
        gw: &mut FakeGateway,
        tokens: &mut TokenCache,
        now: DateTime<Utc>,
    ) -> (Vec<Value>, Vec<String>) {
        let (delivered, warnings, _) = poll_on_from(gw, tokens, now, None);
        (delivered, warnings)
    }

    /// Like `poll_until_caught_up`, from `checkpoint`; also returns the last checkpoint.
    fn poll_on_from(
        gw: &mut FakeGateway,
        tokens: &mut TokenCache,
        now: DateTime<Utc>,
        mut checkpoint: Option<String>,
    ) -> (Vec<Value>, Vec<String>, Option<String>) {
        let mut config = sample_api2();
        config.page_size = 2;
        let settings = Settings::validate(config).unwrap().0;
        let mut clock = FixedClock(now);
        let (mut delivered, mut warnings) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            let out = match poll(
                &settings,
                LogType::UrlProtect,
                checkpoint.as_deref(),
                gw,
                &mut clock,
                tokens,
            ) {
                Ok(out) => out,
                // As the host does: the checkpoint stays, the poll is retried.
                Err(SourceError::Transient(m)) => {
                    warnings.push(format!("transient error: {m}"));
                    continue;
                }
                Err(e) => panic!("{e}"),
            };
            for e in &out.events {
                let v: Value = serde_json::from_str(e).unwrap();
                delivered.push(v["record"].clone());
            }
            warnings.extend(out.warnings);
            checkpoint = Some(out.checkpoint);
            if out.next_poll == NextPoll::Interval {
                return (delivered, warnings, checkpoint);
            }
        }
        panic!("not caught up after 100 polls");
    }

    /// A clock that moves `step` further on each reading: a slow server, or one read under
    /// rate limits.
    struct TickingClock {
        now: std::cell::Cell<DateTime<Utc>>,
        step: chrono::TimeDelta,
    }

    impl Clock for TickingClock {
        fn now(&self) -> DateTime<Utc> {
            let now = self.now.get();
            self.now.set(now + self.step);
            now
        }
        fn random16(&mut self) -> [u8; 16] {
            [7; 16]
        }
    }

    /// Polls URL logs with 2-record pages from no checkpoint, `lookback_secs` back, each poll
    /// `step` later than the last, until a poll says caught up; returns the records delivered
    /// and the number of polls, or `None` after 500 polls.
    fn polls_to_catch_up(
        gw: &mut FakeGateway,
        start: DateTime<Utc>,
        step: chrono::TimeDelta,
        lookback_secs: u64,
    ) -> Option<(Vec<Value>, usize)> {
        let mut config = sample_api2();
        config.page_size = 2;
        config.lookback_secs = lookback_secs;
        let settings = Settings::validate(config).unwrap().0;
        let mut clock = TickingClock {
            now: std::cell::Cell::new(start),
            step,
        };
        let (mut tokens, mut checkpoint, mut delivered) = (TokenCache::new(), None, Vec::new());
        for polls in 1..=500 {
            let out = poll(
                &settings,
                LogType::UrlProtect,
                checkpoint.as_deref(),
                gw,
                &mut clock,
                &mut tokens,
            )
            .unwrap();
            for e in &out.events {
                let v: Value = serde_json::from_str(e).unwrap();
                delivered.push(v["record"].clone());
            }
            checkpoint = Some(out.checkpoint);
            if out.next_poll == NextPoll::Interval {
                return Some((delivered, polls));
            }
        }
        None
    }

    #[test]
    fn a_slow_pager_does_not_chase_the_present_forever() {
        // Every page takes 20 s and the overlap always holds records: before, each finished
        // window had 20 s more to read, and the chain of polls never said caught up.
        let start = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let records = hour_of_records(start, 60);
        let mut gw = FakeGateway::new(records.clone(), u32::MAX);
        let (delivered, polls) =
            polls_to_catch_up(&mut gw, start, chrono::TimeDelta::seconds(20), 3600)
                .expect("caught up");
        assert!(polls <= 31, "{polls} polls for one window of 30 pages");
        // Every record in the look-back, each once.
        let want: Vec<Value> = records
            .iter()
            .filter(|r| {
                timefmt::parse(r["date"].as_str().unwrap()).unwrap()
                    >= start - chrono::TimeDelta::seconds(3660)
            })
            .cloned()
            .collect();
        assert_eq!(delivered, want);
    }

    #[test]
    fn a_backlog_longer_than_a_window_is_read_in_one_chain_of_polls() {
        let start = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        // Three days back, one record a day: three day-long windows and a short one, read
        // without waiting for an interval in between.
        let records: Vec<Value> = (1..=3)
            .map(|d| {
                let t = start - chrono::TimeDelta::days(d) + chrono::TimeDelta::hours(1);
                json!({"date": timefmt::format_mimecast(t), "url": format!("https://{d}.example")})
            })
            .rev()
            .collect();
        let mut gw = FakeGateway::new(records.clone(), u32::MAX);
        let (delivered, polls) =
            polls_to_catch_up(&mut gw, start, chrono::TimeDelta::seconds(1), 3 * 24 * 3600)
                .expect("caught up");
        assert_eq!(delivered, records);
        assert!(polls >= 4, "{polls} polls for four windows");
    }

    #[test]
    fn a_cursor_older_than_retention_resumes_at_the_edge_and_says_what_is_lost() {
        let then = Utc.with_ymd_and_hms(2026, 10, 1, 12, 0, 0).unwrap();
        let mut gw = FakeGateway::new(hour_of_records(then, 3), 1000);
        let mut tokens = TokenCache::new();
        let (_, warnings, checkpoint) = poll_on_from(&mut gw, &mut tokens, then, None);
        assert!(warnings.is_empty(), "{warnings:?}");
        // Stopped for 40 days: the records still kept are collected, the gap is named.
        let now = then + chrono::TimeDelta::days(40);
        gw.records = hour_of_records(now, 5);
        let (delivered, warnings, _) = poll_on_from(&mut gw, &mut tokens, now, checkpoint);
        assert_eq!(delivered, gw.records);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("are not collected"), "{warnings:?}");
        assert!(warnings[0].contains("2026-10-01T11:59:00Z"), "{warnings:?}");
    }

    #[test]
    fn a_refused_page_token_restarts_the_window_without_repeats() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let records = hour_of_records(now, 9);
        let mut gw = FakeGateway::new(records.clone(), 1000);
        gw.refuse_token = Some("6".into());
        let (delivered, warnings) = poll_until_caught_up(&mut gw, &mut TokenCache::new(), now);
        assert_eq!(delivered, records);
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("refused a follow-up page")),
            "{warnings:?}"
        );
        // Pages at offsets 0, 2, 4, then 6 refused; the restarted window begins at the records
        // whose digests are still known (11:04, so 2 pages: 11:04-05, 11:06-07), then 11:08.
        assert_eq!(gw.log_requests, 7);
    }

    #[test]
    fn a_huge_page_token_is_never_committed_and_paging_goes_on_when_the_server_recovers() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let records = hour_of_records(now, 9);
        let mut gw = FakeGateway::new(records.clone(), 1000);
        gw.huge_next_once = Some(1 << 20);
        let (delivered, warnings) = poll_until_caught_up(&mut gw, &mut TokenCache::new(), now);
        assert_eq!(delivered, records);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("page token of 1048576 bytes")
                && warnings[0].contains("at most 65536 bytes"),
            "{warnings:?}"
        );
        // The first page twice (refused, then taken), then the 4 others.
        assert_eq!(gw.log_requests, 6);
    }

    #[test]
    fn a_checkpoint_written_by_a_clock_ahead_collects_again_once_the_clock_is_right() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        // Collected with a clock two hours ahead: the cursor lies two hours in the future.
        let early = hour_of_records(now - chrono::TimeDelta::minutes(10), 30);
        let mut gw = FakeGateway::new(early.clone(), 1000);
        let mut tokens = TokenCache::new();
        let ahead = now + chrono::TimeDelta::hours(2);
        let (delivered, _, checkpoint) = poll_on_from(&mut gw, &mut tokens, ahead, None);
        assert_eq!(delivered, early);
        // The clock is right again, and new records arrive: they are collected, not skipped
        // until the clock reaches the old cursor.
        let new: Vec<Value> = (2..5)
            .rev()
            .map(|m| {
                let t = now - chrono::TimeDelta::minutes(m);
                json!({"date": timefmt::format_mimecast(t), "url": format!("https://new{m}.example")})
            })
            .collect();
        gw.records.extend(new.clone());
        let (delivered, warnings, _) = poll_on_from(&mut gw, &mut tokens, now, checkpoint);
        assert_eq!(delivered, new);
        assert!(
            warnings.iter().any(|w| w.contains("lies in the future")),
            "{warnings:?}"
        );
    }

    /// Polls URL logs with 2-record pages at `now` from `checkpoint` until caught up or an
    /// error; returns the records delivered, the last checkpoint and the error.
    fn poll_until_error(
        gw: &mut FakeGateway,
        now: DateTime<Utc>,
        mut checkpoint: Option<String>,
    ) -> (Vec<Value>, Option<String>, Option<SourceError>) {
        let mut config = sample_api2();
        config.page_size = 2;
        let settings = Settings::validate(config).unwrap().0;
        let mut delivered = Vec::new();
        for _ in 0..100 {
            let polled = poll(
                &settings,
                LogType::UrlProtect,
                checkpoint.as_deref(),
                gw,
                &mut FixedClock(now),
                &mut TokenCache::new(),
            );
            let out = match polled {
                Ok(out) => out,
                Err(e) => return (delivered, checkpoint, Some(e)),
            };
            for e in &out.events {
                let v: Value = serde_json::from_str(e).unwrap();
                delivered.push(v["record"].clone());
            }
            checkpoint = Some(out.checkpoint);
            if out.next_poll == NextPoll::Interval {
                return (delivered, checkpoint, None);
            }
        }
        panic!("neither caught up nor failed after 100 polls");
    }

    #[test]
    fn a_pager_that_does_not_move_is_an_error_and_collecting_resumes_when_it_moves() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let records = hour_of_records(now, 9);
        let mut gw = FakeGateway::new(records.clone(), 1000);
        gw.stuck = true;
        let (delivered, checkpoint, error) = poll_until_error(&mut gw, now, None);
        // What the pager served (its first page, once), and then an error, not a window taken
        // as complete.
        assert_eq!(delivered, records[..2].to_vec());
        assert!(
            matches!(&error, Some(SourceError::Protocol(m)) if m.contains("same token again")
                && m.contains("not taken as complete")),
            "{error:?}"
        );
        // Retried within the pause: the same error, nothing delivered.
        let (again, _, error) = poll_until_error(&mut gw, now, checkpoint.clone());
        assert!(again.is_empty() && error.is_some());
        // The pager works again: after the pause the window is read to its end, and every
        // record has been delivered exactly once.
        gw.stuck = false;
        let later = now + chrono::TimeDelta::seconds(cursor::RESTART_PAUSE_SECS);
        let (rest, _, error) = poll_until_error(&mut gw, later, checkpoint);
        assert!(error.is_none(), "{error:?}");
        assert_eq!([delivered, rest].concat(), records);
    }

    #[test]
    fn a_page_token_refused_again_and_again_is_an_error() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let records = hour_of_records(now, 9);
        let mut gw = FakeGateway::new(records.clone(), 1000);
        gw.refuse_all_tokens = true;
        let (delivered, _, error) = poll_until_error(&mut gw, now, None);
        assert_eq!(delivered, records[..2].to_vec());
        assert!(
            matches!(&error, Some(SourceError::Protocol(m)) if m.contains("refused a follow-up page")
                && m.contains("2 times")),
            "{error:?}"
        );
    }

    #[test]
    fn api2_fails_clearly_when_a_fresh_token_is_rejected_too() {
        let mut gw = FakeGateway::new(Vec::new(), 0);
        let settings = Settings::validate(sample_api2()).unwrap().0;
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let err = probe(
            &settings,
            LogType::UrlProtect,
            &mut gw,
            &mut FixedClock(now),
            &mut TokenCache::new(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, SourceError::Unauthorized(m) if m.contains("even after a fresh one")),
            "{err}"
        );
        assert_eq!((gw.issued, gw.log_requests), (2, 2));
    }

    /// Serves one fixed body to every log request.
    struct FixedPage(&'static str);

    /// Serves one fixed body, not necessarily UTF-8, to every log request.
    struct FixedBytes(&'static [u8]);

    impl Transport for FixedBytes {
        fn send(&mut self, r: &HttpRequest, t: u64) -> Result<HttpResponse, SourceError> {
            let mut response = FixedPage("").send(r, t)?;
            if !r.url.ends_with("/oauth/token") {
                response.body = self.0.to_vec();
            }
            Ok(response)
        }
    }

    #[test]
    fn invalid_utf8_in_one_record_is_repaired_and_marked_and_the_page_delivered() {
        let mut page = FixedBytes(
            b"{\"meta\":{\"pagination\":{}},\"fail\":[],\"data\":[{\"clickLogs\":[
                {\"date\":\"2026-11-24T11:57:00+0000\",\"url\":\"a\"},
                {\"date\":\"2026-11-24T11:57:01+0000\",\"url\":\"b\xFF\xFEc\"},
                {\"date\":\"2026-11-24T11:57:02+0000\",\"url\":\"\xEF\xBF\xBD\"}]}]}",
        );
        let settings = Settings::validate(sample_api2()).unwrap().0;
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let first = || {
            poll(
                &settings,
                LogType::UrlProtect,
                None,
                &mut FixedBytes(page.0),
                &mut FixedClock(now),
                &mut TokenCache::new(),
            )
            .unwrap()
        };
        let out = first();
        let events: Vec<Value> = out
            .events
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        assert_eq!(events.len(), 3, "{:?}", out.events);
        // Like String::from_utf8_lossy: each of the two invalid bytes is one U+FFFD.
        assert_eq!(events[1]["record"]["url"], "b\u{FFFD}\u{FFFD}c");
        assert_eq!(events[1]["repaired"], "invalid UTF-8 replaced by U+FFFD");
        // Only the record that held the invalid bytes is marked; a U+FFFD the server sent as
        // UTF-8 is no repair.
        assert!(events[0].get("repaired").is_none());
        assert!(events[2].get("repaired").is_none());
        assert_eq!(events[2]["record"]["url"], "\u{FFFD}");
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains("2 invalid byte sequence(s), in 1 record(s)")),
            "{:?}",
            out.warnings
        );
        // The same bytes give the same event ids on a re-read.
        assert_eq!(first().events, out.events);
        // Served again in the next window's overlap, nothing is delivered twice.
        let again = poll(
            &settings,
            LogType::UrlProtect,
            Some(&out.checkpoint),
            &mut page,
            &mut FixedClock(now + chrono::TimeDelta::seconds(120)),
            &mut TokenCache::new(),
        )
        .unwrap();
        assert!(again.events.is_empty(), "{:?}", again.events);
    }

    impl Transport for FixedPage {
        fn send(&mut self, r: &HttpRequest, _: u64) -> Result<HttpResponse, SourceError> {
            if r.url.ends_with("/oauth/token") {
                return Ok(reply(
                    200,
                    json!({"access_token": "t", "token_type": "Bearer", "expires_in": 1799}),
                ));
            }
            Ok(HttpResponse {
                status: 200,
                rate_limit_reset_ms: None,
                body: self.0.as_bytes().to_vec(),
            })
        }
    }

    #[test]
    fn a_record_serde_json_cannot_read_does_not_stop_the_log_type() {
        // A lone surrogate (as a Java service may write for a broken subject) and a number
        // beyond f64, between two ordinary records.
        let mut page = FixedPage(
            r#"{"meta":{"pagination":{}},"fail":[],"data":[{"clickLogs":[
                {"date":"2026-11-24T11:57:00+0000","url":"a"},
                {"date":"2026-11-24T11:57:01+0000","subject":"\ud800"},
                {"date":"2026-11-24T11:57:02+0000","size":1e400},
                {"date":"2026-11-24T11:57:03+0000","url":"b"}]}]}"#,
        );
        let settings = Settings::validate(sample_api2()).unwrap().0;
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let out = poll(
            &settings,
            LogType::UrlProtect,
            None,
            &mut page,
            &mut FixedClock(now),
            &mut TokenCache::new(),
        )
        .unwrap();
        assert_eq!(out.events.len(), 4);
        assert!(out.events[1]
            .contains(r#""record":{"date":"2026-11-24T11:57:01+0000","subject":"\ud800"}"#));
        assert!(out.events[2].contains(r#""event_time":"2026-11-24T11:57:02Z""#));
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(
            out.warnings[0].contains("2 record(s)"),
            "{:?}",
            out.warnings
        );
        // Served again (the next window's overlap), they are recognised as delivered.
        let again = poll(
            &settings,
            LogType::UrlProtect,
            Some(&out.checkpoint),
            &mut page,
            &mut FixedClock(now + chrono::TimeDelta::seconds(120)),
            &mut TokenCache::new(),
        )
        .unwrap();
        assert!(again.events.is_empty(), "{:?}", again.events);
    }
}
