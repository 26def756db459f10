//! Request handling without sockets: routing, authentication, replay and permission checks, quota,
//! faults, then the page itself. The caller supplies the clock, so unit tests drive it directly.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hyper::HeaderMap;
use serde_json::{Map, Value};

use crate::auth::{reject, verify_request, AuthHeaders, Rejection};
use crate::config::{Credential, MockConfig, OAuthClient, PagingEnd};
use crate::dataset::Dataset;
use crate::fault::Fault;
use crate::filter::select;
use crate::ledger::{Ledger, RequestLog};
use crate::log_type::LogType;
use crate::oauth::{self, Issued, TokenProblem, DISCOVER_PATH, TOKEN_PATH};
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
    /// Send nothing and reset the connection (injected fault; already in the ledger).
    Reset,
    /// Send the status, the headers with the whole body's length and the first `usize` bytes of
    /// the body, then reset the connection (injected fault; already in the ledger).
    ResetMidBody(Reply, usize),
    /// Send the status and the headers with the whole body's length at once, then the body one
    /// byte per interval (injected fault; already in the ledger).
    Trickle(Reply, Duration),
    /// Send the status and the headers with the whole body's length, then the first `usize`
    /// bytes of the body, then nothing while the connection stays open (injected fault;
    /// already in the ledger).
    Stall(Reply, usize),
    /// Send the status and the headers, then a chunked body that never ends (injected fault;
    /// already in the ledger).
    Endless(Reply),
}

/// How much of a page reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// All of it; the records count as served.
    Whole,
    /// The first half of the body, with a matching `Content-Length`.
    Truncated,
    /// The whole body is prepared, but the connection is reset halfway through sending it.
    ResetMidBody,
    /// All of it, with `meta.pagination.next` replaced by a token of this many bytes.
    HugeNext(usize),
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
    tokens: HashMap<String, Issued>,
    tokens_issued: u64,
}

/// Shared server state: configuration plus everything that changes.
pub(crate) struct State {
    credentials: Vec<Credential>,
    paging_end: PagingEnd,
    to_inclusive: bool,
    max_skew: Duration,
    oauth_clients: Vec<OAuthClient>,
    token_ttl: Duration,
    token_max_uses: Option<u32>,
    discover_users: Vec<String>,
    ignore_oldest_first: bool,
    ignore_from: bool,
    total_count: bool,
    pretty_json: bool,
    invalid_utf8_marker: Option<String>,
    oauth_echo_form: bool,
    oauth_token_bytes: Option<usize>,
    bogus_next: bool,
    region_api: String,
    inner: Mutex<Inner>,
}

/// Who made a log request, once authenticated.
struct Principal<'a> {
    /// Access key (API 1.0) or client id (API 2.0): the ledger key and quota key.
    key: String,
    /// Log types it may read.
    permissions: &'a [LogType],
    /// The API 1.0 binding, when it is one (API 2.0 has no bindings).
    binding: Option<&'a Credential>,
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
            oauth_clients: config.oauth_clients,
            token_ttl: config.token_ttl.max(Duration::from_secs(1)),
            token_max_uses: config.token_max_uses,
            discover_users: config.discover_users,
            ignore_oldest_first: config.ignore_oldest_first,
            ignore_from: config.ignore_from,
            total_count: config.total_count,
            pretty_json: config.pretty_json,
            invalid_utf8_marker: config.invalid_utf8_marker,
            oauth_echo_form: config.oauth_echo_form,
            oauth_token_bytes: config.oauth_token_bytes,
            bogus_next: config.bogus_next,
            region_api: String::new(),
            inner: Mutex::new(Inner {
                dataset: config.dataset,
                faults: VecDeque::new(),
                ledger: Ledger::default(),
                replay: HashMap::new(),
                limiter: Limiter::new(config.rate_limit),
                tokens: HashMap::new(),
                tokens_issued: 0,
            }),
        }
    }

    /// Sets the `region.api` that discovery returns for known addresses (the mock's own URL).
    pub(crate) fn set_region_api(&mut self, url: String) {
        self.region_api = url;
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

    /// Every API 2.0 bearer token issued so far.
    pub(crate) fn issued_tokens(&self) -> Vec<String> {
        self.lock().tokens.keys().cloned().collect()
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
        if path == TOKEN_PATH || path == DISCOVER_PATH {
            let outcome = if method != "POST" {
                let msg = format!("{method} {path} is not allowed; use POST");
                let rate = inner.limiter.peek(None, now);
                Outcome::error(
                    405,
                    &Map::new(),
                    "err_method_not_allowed",
                    &msg,
                    false,
                    rate,
                )
            } else if path == TOKEN_PATH {
                self.issue_token(&mut inner, &mut ctx, body, now)
            } else {
                self.discover(&mut inner, headers, body, now)
            };
            return Step::Done(finish(&mut inner, &ctx, outcome));
        }
        let outcome = match self.admit(&mut inner, &mut ctx, headers, now) {
            Err(outcome) => outcome,
            Ok((lt, rate)) => match inner.faults.pop_front() {
                None => self.serve(&inner, lt, body, now, rate, Delivery::Whole),
                Some(fault) => {
                    ctx.fault = Some(fault.kind());
                    match fault {
                        Fault::Delay(d) => return Step::Delay(d, Pending { ctx, rate }),
                        Fault::TruncatedBody => {
                            self.serve(&inner, lt, body, now, rate, Delivery::Truncated)
                        }
                        Fault::HugeNextToken { bytes } => {
                            self.serve(&inner, lt, body, now, rate, Delivery::HugeNext(bytes))
                        }
                        Fault::ConnectionReset => {
                            let nothing = Outcome {
                                reply: Reply {
                                    status: 0,
                                    headers: Vec::new(),
                                    body: Vec::new(),
                                },
                                fail_code: None,
                                served: None,
                                records: 0,
                            };
                            finish(&mut inner, &ctx, nothing);
                            return Step::Reset;
                        }
                        Fault::ResetMidBody => {
                            let outcome =
                                self.serve(&inner, lt, body, now, rate, Delivery::ResetMidBody);
                            let reply = finish(&mut inner, &ctx, outcome);
                            let sent = reply.body.len() / 2;
                            return Step::ResetMidBody(reply, sent);
                        }
                        Fault::TrickleBody(every) => {
                            let outcome =
                                self.serve(&inner, lt, body, now, rate, Delivery::ResetMidBody);
                            return Step::Trickle(finish(&mut inner, &ctx, outcome), every);
                        }
                        Fault::StallBody { after_bytes } => {
                            let outcome =
                                self.serve(&inner, lt, body, now, rate, Delivery::ResetMidBody);
                            return Step::Stall(finish(&mut inner, &ctx, outcome), after_bytes);
                        }
                        Fault::EndlessBody => {
                            let outcome =
                                self.serve(&inner, lt, body, now, rate, Delivery::ResetMidBody);
                            return Step::Endless(finish(&mut inner, &ctx, outcome));
                        }
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
            Some(lt) => self.serve(&inner, lt, body, now, pending.rate, Delivery::Whole),
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
        let bearer = header(headers, "authorization").and_then(|a| a.strip_prefix("Bearer "));
        let principal = match bearer {
            Some(token) => self.verify_bearer(inner, token.trim(), now, anonymous)?,
            None => self.verify_signed(inner, headers, &ctx.path, now, anonymous)?,
        };
        ctx.access_key = Some(principal.key.clone());
        let rate = inner.limiter.peek(Some(&principal.key), now);
        if let Some(cred) = principal.binding {
            if cred.expired {
                let r = reject(
                    418,
                    "err_xdk_binding_expired",
                    "the binding (access key) has expired; create a new access key and secret key",
                );
                return Err(Outcome::rejection(&r, rate));
            }
            if cred.other_region {
                let r = reject(
                    401,
                    "err_audit_log_incorrect_region",
                    "the account is hosted in another region; use its regional API host",
                );
                return Err(Outcome::rejection(&r, rate));
            }
            if cred.ip_restricted {
                let r = reject(
                    403,
                    "err_ip_range_restricted",
                    "the client IP address is outside the IP ranges allowed by the authentication profile",
                );
                return Err(Outcome::rejection(&r, rate));
            }
        }
        if !principal.permissions.contains(&lt) {
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
        let verdict = inner.limiter.check(&principal.key, now);
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

    /// API 1.0: signature, date skew and replay (§1).
    fn verify_signed<'s>(
        &'s self,
        inner: &mut Inner,
        headers: &'s HeaderMap,
        path: &str,
        now: DateTime<Utc>,
        anonymous: RateHeaders,
    ) -> Result<Principal<'s>, Outcome> {
        let auth = AuthHeaders {
            authorization: header(headers, "authorization"),
            app_id: header(headers, "x-mc-app-id"),
            date: header(headers, "x-mc-date"),
            req_id: header(headers, "x-mc-req-id"),
        };
        let verified = verify_request(&self.credentials, &auth, path, now, self.max_skew)
            .map_err(|r| Outcome::rejection(&r, anonymous))?;
        let cred = verified.credential;
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
        Ok(Principal {
            key: cred.access_key.clone(),
            permissions: &cred.permissions,
            binding: Some(cred),
        })
    }

    /// API 2.0: a token this mock issued, not expired (§5).
    fn verify_bearer<'s>(
        &'s self,
        inner: &mut Inner,
        token: &str,
        now: DateTime<Utc>,
        anonymous: RateHeaders,
    ) -> Result<Principal<'s>, Outcome> {
        let refuse = |code: &str, message: &str| Outcome {
            reply: Reply {
                status: 401,
                headers: rate_pairs(anonymous),
                body: oauth::token_failure_body(401, code, message),
            },
            fail_code: Some(code.to_string()),
            served: None,
            records: 0,
        };
        let checked = match inner.tokens.get_mut(token) {
            None => Err(TokenProblem::Unknown),
            Some(issued) => issued
                .use_once(now, self.token_ttl, self.token_max_uses)
                .map(|()| issued.client_id.clone()),
        };
        let client_id = match checked {
            Ok(id) => id,
            Err(TokenProblem::Expired) => {
                return Err(refuse(
                    "token_expired",
                    "the access token has expired; request a new one",
                ))
            }
            Err(TokenProblem::Unknown) => {
                return Err(refuse("token_invalid", "the access token is not valid"))
            }
        };
        let client = self
            .oauth_clients
            .iter()
            .find(|c| c.client_id == client_id)
            .ok_or_else(|| refuse("token_invalid", "the token's application no longer exists"))?;
        Ok(Principal {
            key: client.client_id.clone(),
            permissions: &client.permissions,
            binding: None,
        })
    }

    /// `POST /oauth/token` with form client credentials (§5).
    fn issue_token(
        &self,
        inner: &mut Inner,
        ctx: &mut Ctx,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Outcome {
        let rate = inner.limiter.peek(None, now);
        let reply = |status: u16, body: Vec<u8>, fail: Option<&str>| Outcome {
            reply: Reply {
                status,
                headers: rate_pairs(rate),
                body,
            },
            fail_code: fail.map(str::to_string),
            served: None,
            records: 0,
        };
        let Some(form) = oauth::parse_form(body) else {
            return reply(
                400,
                oauth::oauth_error(
                    "invalid_request",
                    "the body must be application/x-www-form-urlencoded",
                ),
                Some("invalid_request"),
            );
        };
        match oauth::check_token_request(&self.oauth_clients, &form) {
            Err((status, code, mut message)) => {
                if self.oauth_echo_form {
                    message.push_str("; the request was: ");
                    message.push_str(&String::from_utf8_lossy(body));
                }
                reply(status, oauth::oauth_error(code, &message), Some(code))
            }
            Ok(client) => {
                inner.tokens_issued += 1;
                let mut token = format!(
                    "mock-token-{:08}-{}",
                    inner.tokens_issued,
                    now.timestamp_micros()
                );
                if let Some(bytes) = self.oauth_token_bytes {
                    let pad = bytes.saturating_sub(token.len());
                    token.push_str(&"t".repeat(pad));
                }
                inner.tokens.insert(
                    token.clone(),
                    Issued {
                        client_id: client.client_id.clone(),
                        issued_at: now,
                        uses: 0,
                    },
                );
                ctx.access_key = Some(client.client_id.clone());
                reply(200, oauth::token_body(&token, self.token_ttl), None)
            }
        }
    }

    /// `POST /api/login/discover-authentication`: unsigned, needs the `x-mc-*` headers (§2.2).
    fn discover(
        &self,
        inner: &mut Inner,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Outcome {
        let rate = inner.limiter.peek(None, now);
        for name in ["x-mc-app-id", "x-mc-date", "x-mc-req-id"] {
            if header(headers, name).is_none() {
                let msg = format!("required header {name} is missing");
                return Outcome::error(
                    400,
                    &Map::new(),
                    "err_xdk_missing_header",
                    &msg,
                    false,
                    rate,
                );
            }
        }
        let app_id = header(headers, "x-mc-app-id").unwrap_or_default();
        if !self.credentials.iter().any(|c| c.app_id == app_id) {
            let msg = format!("the application id {app_id} in x-mc-app-id is not registered");
            return Outcome::error(401, &Map::new(), "err_developer_key", &msg, false, rate);
        }
        match oauth::discover_body(body, &self.discover_users, &self.region_api) {
            Ok(body) => Outcome {
                reply: Reply {
                    status: 200,
                    headers: rate_pairs(rate),
                    body,
                },
                fail_code: None,
                served: None,
                records: 0,
            },
            Err(msg) => Outcome::error(200, &Map::new(), "err_validation_null", &msg, false, rate),
        }
    }

    /// Parses the body and answers with a page (or a validation failure).
    fn serve(
        &self,
        inner: &Inner,
        lt: LogType,
        body: &[u8],
        now: DateTime<Utc>,
        rate: RateHeaders,
        delivery: Delivery,
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
        let mut query = match parse_query(lt, &item, now) {
            Ok(q) => q,
            Err(i) => return Outcome::invalid(&item, &i, rate),
        };
        query.oldest_first &= !self.ignore_oldest_first;
        if self.ignore_from {
            query.from = DateTime::<Utc>::MIN_UTC;
        }
        let all = select(lt, inner.dataset.records(lt), &query, self.to_inclusive);
        let page = cut(&all, offset, size, self.paging_end);
        let next = match delivery {
            Delivery::HugeNext(bytes) => Some("x".repeat(bytes)),
            _ if self.bogus_next => page.next.map(|o| format!("bogus-{o}")),
            _ => page.next.map(|o| encode_token(lt, &item, o)),
        };
        let pagination = Pagination {
            page_size: size,
            total_count: self.total_count.then_some(all.len()),
            next,
            previous: page.previous.map(|o| encode_token(lt, &item, o)),
        };
        let mut body = page_body(lt, &page.records, &pagination, self.pretty_json);
        if let Some(marker) = self.invalid_utf8_marker.as_deref() {
            body = replace_with_invalid_byte(&body, marker.as_bytes());
        }
        let records = page.records.len();
        if delivery == Delivery::Truncated {
            body.truncate(body.len() / 2);
        }
        let (records, served) = match delivery {
            Delivery::Whole | Delivery::HugeNext(_) => (records, Some((lt, page.records))),
            Delivery::Truncated | Delivery::ResetMidBody => (0, None),
        };
        Outcome {
            reply: Reply {
                status: 200,
                headers: rate_pairs(rate),
                body,
            },
            fail_code: None,
            records,
            served,
        }
    }
}

/// `body` with every occurrence of `marker` replaced by the byte 0xFF, which is never valid
/// UTF-8 (a server whose text encoding is broken).
fn replace_with_invalid_byte(body: &[u8], marker: &[u8]) -> Vec<u8> {
    if marker.is_empty() {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.windows(marker.len()).position(|w| w == marker) {
        out.extend_from_slice(&rest[..at]);
        out.push(0xFF);
        rest = &rest[at + marker.len()..];
    }
    out.extend_from_slice(rest);
    out
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
