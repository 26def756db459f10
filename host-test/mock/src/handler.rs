//! Request handling without sockets: routing, authentication, replay and permission checks, quota,
//! faults, then the page itself. The caller supplies the clock, so unit tests drive it directly.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hyper::HeaderMap;
use serde_json::{Map, Value};

use crate::auth::{reject, verify_request, AuthHeaders, Rejection};
use crate::config::{Credential, MockConfig, PagingEnd};
use crate::dataset::Dataset;
use crate::fault::Fault;
use crate::filter::select;
use crate::ledger::{Ledger, RequestLog};
use crate::log_type::LogType;
use crate::paging::{cut, encode_token, resolve};
use crate::rate_limit::{Limiter, RateHeaders};
use crate::request::{page_size, parse_envelope, parse_query, BodyError, Invalid};
use crate::response::{error_body, page_body, Pagination};

/// How long an `x-mc-req-id` may not be reused.
const REPLAY_WINDOW: TimeDelta = TimeDelta::minutes(15);

/// An answer ready to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers besides `Content-Type`/`Content-Length`.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

/// What to do with a request.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send this.
    Done(Reply),
    /// Wait (injected delay), then call [`State::resume`].
    Delay(Duration, Pending),
}

/// A verified request whose page is still to be served.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    ctx: Ctx,
    rate: RateHeaders,
}

#[derive(Debug, Clone)]
struct Ctx {
    method: String,
    path: String,
    log_type: Option<LogType>,
    access_key: Option<String>,
    fault: Option<&'static str>,
    violation: bool,
}

/// What a reply tells the ledger.
struct Outcome {
    reply: Reply,
    fail_code: Option<String>,
    served: Option<(LogType, Vec<Value>)>,
    records: usize,
}

impl Outcome {
    fn error(
        status: u16,
        key: &Map<String, Value>,
        code: &str,
        message: &str,
        retryable: bool,
        rate: RateHeaders,
    ) -> Self {
        Outcome {
            reply: Reply {
                status,
                headers: rate_pairs(rate),
                body: error_body(status, key, code, message, retryable),
            },
            fail_code: Some(code.to_string()),
            served: None,
            records: 0,
        }
    }

    fn rejection(r: &Rejection, rate: RateHeaders) -> Self {
        Outcome::error(r.status, &Map::new(), r.code, &r.message, false, rate)
    }

    fn invalid(key: &Map<String, Value>, i: &Invalid, rate: RateHeaders) -> Self {
        Outcome::error(200, key, i.code, &i.message, false, rate)
    }
}

fn rate_pairs(rate: RateHeaders) -> Vec<(String, String)> {
    rate.to_pairs()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

struct Inner {
    dataset: Dataset,
    faults: VecDeque<Fault>,
    ledger: Ledger,
    replay: HashMap<String, DateTime<Utc>>,
    limiter: Limiter,
}

/// Shared server state: configuration plus everything that changes.
pub(crate) struct State {
    credentials: Vec<Credential>,
    paging_end: PagingEnd,
    to_inclusive: bool,
    max_skew: Duration,
    inner: Mutex<Inner>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

impl State {
    /// State for `config`, with an empty ledger and fault queue.
    pub(crate) fn new(config: MockConfig) -> Self {
        State {
            credentials: config.credentials,
            paging_end: config.paging_end,
            to_inclusive: config.to_inclusive,
            max_skew: config.max_skew,
            inner: Mutex::new(Inner {
                dataset: config.dataset,
                faults: VecDeque::new(),
                ledger: Ledger::default(),
                replay: HashMap::new(),
                limiter: Limiter::new(config.rate_limit),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner half-updated in a way that matters to a mock.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every record of type `t`, in arrival order.
    pub(crate) fn records(&self, t: LogType) -> Vec<Value> {
        self.lock().dataset.records(t).to_vec()
    }

    /// Adds records of type `t`.
    pub(crate) fn append(&self, t: LogType, records: Vec<Value>) {
        self.lock().dataset.append(t, records);
    }

    /// Queues a fault.
    pub(crate) fn push_fault(&self, f: Fault) {
        self.lock().faults.push_back(f);
    }

    /// A copy of the ledger.
    pub(crate) fn ledger(&self) -> Ledger {
        self.lock().ledger.clone()
    }

    /// Handles one request received at `now`.
    pub(crate) fn handle(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Step {
        let mut inner = self.lock();
        let mut ctx = Ctx {
            method: method.to_string(),
            path: path.to_string(),
            log_type: LogType::from_path(path),
            access_key: None,
            fault: None,
            violation: false,
        };
        let outcome = match self.admit(&mut inner, &mut ctx, headers, now) {
            Err(outcome) => outcome,
            Ok((lt, rate)) => match inner.faults.pop_front() {
                None => self.serve(&inner, lt, body, now, rate, false),
                Some(fault) => {
                    ctx.fault = Some(fault.kind());
                    match fault {
                        Fault::Delay(d) => return Step::Delay(d, Pending { ctx, rate }),
                        Fault::TruncatedBody => self.serve(&inner, lt, body, now, rate, true),
                        Fault::Status {
                            status,
                            headers,
                            body,
                        } => fault_status(status, headers, body, rate),
                        Fault::RateLimited { reset_ms } => {
                            let key = ctx.access_key.clone().unwrap_or_default();
                            let rate = inner.limiter.announce(&key, now, reset_ms);
                            Outcome::error(
                                429,
                                &Map::new(),
                                "err_rate_limit_exceeded",
                                "quota exceeded; wait X-RateLimit-Reset milliseconds",
                                true,
                                rate,
                            )
                        }
                        Fault::FailOn200 { code, retryable } => Outcome::error(
                            200,
                            &Map::new(),
                            &code,
                            "injected failure",
                            retryable,
                            rate,
                        ),
                    }
                }
            },
        };
        Step::Done(finish(&mut inner, &ctx, outcome))
    }

    /// Serves a request whose injected delay has passed.
    pub(crate) fn resume(&self, pending: Pending, body: &[u8], now: DateTime<Utc>) -> Reply {
        let mut inner = self.lock();
        let outcome = match pending.ctx.log_type {
            Some(lt) => self.serve(&inner, lt, body, now, pending.rate, false),
            None => Outcome::error(
                404,
                &Map::new(),
                "err_url_not_found",
                "no such endpoint",
                false,
                pending.rate,
            ),
        };
        finish(&mut inner, &pending.ctx, outcome)
    }

    /// Routing, authentication, replay, binding, permission, content type and quota.
    fn admit(
        &self,
        inner: &mut Inner,
        ctx: &mut Ctx,
        headers: &HeaderMap,
        now: DateTime<Utc>,
    ) -> Result<(LogType, RateHeaders), Outcome> {
        let anonymous = inner.limiter.peek(None, now);
        let Some(lt) = ctx.log_type else {
            let msg = format!(
                "{} does not exist; use /api/ttp/{{url,impersonation,attachment}}/get-logs",
                ctx.path
            );
            return Err(Outcome::error(
                404,
                &Map::new(),
                "err_url_not_found",
                &msg,
                false,
                anonymous,
            ));
        };
        if ctx.method != "POST" {
            let msg = format!("{} {} is not allowed; use POST", ctx.method, ctx.path);
            return Err(Outcome::error(
                405,
                &Map::new(),
                "err_method_not_allowed",
                &msg,
                false,
                anonymous,
            ));
        }
        let auth = AuthHeaders {
            authorization: header(headers, "authorization"),
            app_id: header(headers, "x-mc-app-id"),
            date: header(headers, "x-mc-date"),
            req_id: header(headers, "x-mc-req-id"),
        };
        let verified = verify_request(&self.credentials, &auth, &ctx.path, now, self.max_skew)
            .map_err(|r| Outcome::rejection(&r, anonymous))?;
        let cred = verified.credential;
        ctx.access_key = Some(cred.access_key.clone());
        let rate = inner.limiter.peek(Some(&cred.access_key), now);
        inner.replay.retain(|_, seen| now - *seen < REPLAY_WINDOW);
        if inner.replay.contains_key(verified.req_id) {
            let r = reject(
                401,
                "err_xdk_replay",
                format!("x-mc-req-id {} was already used within 15 minutes; send a fresh id per request", verified.req_id),
            );
            return Err(Outcome::rejection(&r, rate));
        }
        inner.replay.insert(verified.req_id.to_string(), now);
        if cred.expired {
            let r = reject(
                418,
                "err_xdk_binding_expired",
                "the binding (access key) has expired; create a new access key and secret key",
            );
            return Err(Outcome::rejection(&r, rate));
        }
        if !cred.permissions.contains(&lt) {
            let msg = format!(
                "access denied: the user lacks the permission {}",
                lt.permission()
            );
            return Err(Outcome::rejection(
                &reject(403, "err_xdk_access_denied", msg),
                rate,
            ));
        }
        let json = header(headers, "content-type").is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json {
            let r = reject(
                400,
                "err_xdk_invalid_content_type",
                "Content-Type must be application/json",
            );
            return Err(Outcome::rejection(&r, rate));
        }
        let verdict = inner.limiter.check(&cred.access_key, now);
        ctx.violation = verdict.violation;
        if !verdict.allowed {
            return Err(Outcome::error(
                429,
                &Map::new(),
                "err_rate_limit_exceeded",
                "quota exceeded; wait X-RateLimit-Reset milliseconds",
                true,
                verdict.headers,
            ));
        }
        Ok((lt, verdict.headers))
    }

    /// Parses the body and answers with a page (or a validation failure).
    fn serve(
        &self,
        inner: &Inner,
        lt: LogType,
        body: &[u8],
        now: DateTime<Utc>,
        rate: RateHeaders,
        truncate: bool,
    ) -> Outcome {
        let env = match parse_envelope(body) {
            Ok(env) => env,
            Err(e) => {
                let code = match e {
                    BodyError::NotJson(_) => "err_invalid_json",
                    BodyError::Shape(_) => "err_validation_invalid_request",
                };
                return Outcome::error(400, &Map::new(), code, &e.to_string(), false, rate);
            }
        };
        let key = env.item.clone().unwrap_or_default();
        let (item, offset) = match resolve(lt, env.item, env.page_token.as_deref()) {
            Ok(r) => r,
            Err(problem) => {
                let msg = format!("the page token is invalid for this request ({problem:?}); keep data[0] identical on every page");
                return Outcome::error(200, &key, "err_invalid_page_token", &msg, false, rate);
            }
        };
        let size = match page_size(env.page_size.as_ref()) {
            Ok(n) => n,
            Err(i) => return Outcome::invalid(&item, &i, rate),
        };
        let query = match parse_query(lt, &item, now) {
            Ok(q) => q,
            Err(i) => return Outcome::invalid(&item, &i, rate),
        };
        let all = select(lt, inner.dataset.records(lt), &query, self.to_inclusive);
        let page = cut(&all, offset, size, self.paging_end);
        let pagination = Pagination {
            page_size: size,
            total_count: all.len(),
            next: page.next.map(|o| encode_token(lt, &item, o)),
            previous: page.previous.map(|o| encode_token(lt, &item, o)),
        };
        let mut body = page_body(lt, &page.records, &pagination);
        let records = page.records.len();
        let served = if truncate {
            body.truncate(body.len() / 2);
            None
        } else {
            Some((lt, page.records))
        };
        Outcome {
            reply: Reply {
                status: 200,
                headers: rate_pairs(rate),
                body,
            },
            fail_code: None,
            records: if truncate { 0 } else { records },
            served,
        }
    }
}

fn fault_status(
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    rate: RateHeaders,
) -> Outcome {
    let mut all = headers;
    for (name, value) in rate.to_pairs() {
        if !all.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            all.push((name.to_string(), value));
        }
    }
    let fail_code = serde_json::from_str::<Value>(&body).ok().and_then(|v| {
        v.pointer("/fail/0/errors/0/code")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    Outcome {
        reply: Reply {
            status,
            headers: all,
            body: body.into_bytes(),
        },
        fail_code,
        served: None,
        records: 0,
    }
}

fn finish(inner: &mut Inner, ctx: &Ctx, outcome: Outcome) -> Reply {
    tracing::debug!(path = %ctx.path, status = outcome.reply.status, records = outcome.records, "mock answered");
    let entry = RequestLog {
        method: ctx.method.clone(),
        path: ctx.path.clone(),
        log_type: ctx.log_type,
        access_key: ctx.access_key.clone(),
        status: outcome.reply.status,
        fail_code: outcome.fail_code,
        records: outcome.records,
        fault: ctx.fault,
        violation: ctx.violation,
    };
    inner.ledger.push(entry, outcome.served);
    outcome.reply
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
