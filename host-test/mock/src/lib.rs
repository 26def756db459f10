//! Mock Mimecast API 1.0 and 2.0 server for the TTP log endpoints: verifies signatures and bearer
//! tokens like the API,
//! serves a deterministic dataset with real paging, injects faults and keeps a ledger for assertions.
//! Spec: shared/reference/mimecast-api.md (§1 signing, §3 endpoints, §4 errors and rate limits).
//!
//! # Public API
//!
//! ```text
//! enum LogType { Url, Impersonation, Attachment }      path(), array_name(), time_field(), as_str(), permission()
//! struct Credential { app_id, app_key, access_key, secret_key /*base64*/, expired, permissions,
//!                     other_region, ip_restricted }
//! struct OAuthClient { client_id, client_secret, permissions }   OAuthClient::demo()
//!     Credential::demo(), Credential::reference_vector()
//! enum PagingEnd { NextAbsent, EmptyPageWithNext }
//! struct RateLimit { limit: u32, window: Duration }
//! struct MockConfig { credentials, dataset, paging_end, to_inclusive, max_skew, rate_limit,
//!                     oauth_clients, token_ttl, token_max_uses, discover_users,
//!                     ignore_oldest_first, ignore_from, total_count, pretty_json,
//!                     invalid_utf8_marker, oauth_echo_form, oauth_token_bytes, bogus_next }
//!     MockConfig::demo(now), MockConfig::new(credentials, dataset)
//! struct Dataset   generate(seed, start, end, per_type), empty(), records(t), append(t, records)
//! fn generate_records(t, seed, start, end, n) -> Vec<Value>    // more records, e.g. late arrivals
//! enum Fault { Status{..}, RateLimited{reset_ms}, FailOn200{code, retryable}, Delay(Duration), TruncatedBody,
//!              ConnectionReset, ResetMidBody, TrickleBody(Duration), EndlessBody,
//!              HugeNextToken{bytes} }
//! struct RandomFaults   new(seed): an endless, repeatable iterator of faults of every kind
//! struct MockServer  start(config).await, start_tls(config).await, base_url(), addr(),
//!                    certificate_pem(), connections_accepted(), records(t), append(t, v), push_fault(f),
//!                    issued_tokens(),
//!                    ledger(), shutdown().await
//! struct Ledger      requests(), served(t), violations(), count_status(s), requests_for(t)
//! fn self_signed_tls(names) -> SelfSignedTls { acceptor, certificate, pem }
//! fn sign(secret_b64, date, req_id, path, app_key) -> Result<String, SignError>
//! fn format_mc_date(t), parse_mc_date(s), format_api_time(t), parse_api_time(s)
//! ```
//!
//! # Behaviour
//!
//! * `POST /api/ttp/{url,impersonation,attachment}/get-logs`; other paths 404, other methods 405.
//! * `POST /oauth/token` (API 2.0): form `client_id`, `client_secret`,
//!   `grant_type=client_credentials` → `{"access_token","token_type":"Bearer","expires_in"}`; a
//!   wrong client is 401 `{"error":"invalid_client"}`. A log request with `Authorization: Bearer`
//!   needs a token the mock issued that is younger than `token_ttl` and used fewer than
//!   `token_max_uses` times, else 401 `fail[{"code":"token_expired"|"token_invalid"}]`; then the
//!   client's permissions, content type, quota and faults as for API 1.0.
//! * `POST /api/login/discover-authentication` (unsigned; `x-mc-app-id` of a registered binding,
//!   `x-mc-date`, `x-mc-req-id`): `data[0].region.api` = the mock's own base URL for
//!   `discover_users`, no `region` for other addresses.
//! * API 1.0 bindings marked `other_region` get 401 `err_audit_log_incorrect_region`, those
//!   marked `ip_restricted` 403 `err_ip_range_restricted` (after the expiry check).
//! * Checks, in order: signing headers present and `Authorization: MC key:sig` (400
//!   `err_xdk_missing_header`), app id known (401 `err_developer_key`), access key + signature (401
//!   `err_xdk_signature_invalid`), `x-mc-date` parseable and within `max_skew` (401 `err_xdk_date_skew`),
//!   `x-mc-req-id` unused for 15 min (401 `err_xdk_replay`), binding not expired (418
//!   `err_xdk_binding_expired`), permission (403 `err_xdk_access_denied`), `Content-Type:
//!   application/json` (400 `err_xdk_invalid_content_type`), quota (429 `err_rate_limit_exceeded`),
//!   then one queued [`Fault`], then the body: invalid JSON is 400 `err_invalid_json`; bad dates, filter
//!   values, `pageSize < 1` and foreign page tokens are HTTP 200 with `fail[]`
//!   (`err_validation_*`, `err_invalid_page_token`). `pageSize > 100` is clamped to 100.
//! * Faults: `ConnectionReset` reads the request, then closes the TCP connection with
//!   `SO_LINGER` 0 (an RST) before any response byte; its ledger entry has status 0.
//!   `ResetMidBody` sends the status, the headers with the whole page's `Content-Length` and the
//!   first half of the page, pauses 50 ms, then resets the same way. `TruncatedBody` instead ends
//!   cleanly after half the page with a matching `Content-Length`. None of the three counts the
//!   page as served. Other connections are not affected. `TrickleBody(every)` sends the head
//!   (with the page's `Content-Length`) at once, then the page one byte per `every`;
//!   `EndlessBody` sends a chunked page whose records (64 KiB each) never end. Neither counts
//!   the page as served.
//! * Every response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (ms),
//!   and `meta.status` equals the HTTP status.
//! * Records in `[from, to)` (or `[from, to]` with `to_inclusive`), sorted stably by time, oldest or
//!   newest first; the result set is recomputed from the current dataset on every page.

mod auth;
mod config;
mod dataset;
mod fault;
mod filter;
mod handler;
mod ledger;
mod log_type;
mod oauth;
mod paging;
mod rate_limit;
mod receivers;
mod request;
mod response;
mod server;
mod signing;
mod tls;

pub use config::{Credential, MockConfig, OAuthClient, PagingEnd, RateLimit};
pub use dataset::{generate_records, record_time, seconds_before, Dataset};
pub use fault::{Fault, RandomFaults};
pub use ledger::{Ledger, RequestLog};
pub use log_type::LogType;
pub use receivers::{
    encode_api_key, AckMode, ClientIdentity, Elasticsearch, ElasticsearchReceiver, EsConfig,
    EsFlavor, HecConfig, HecEvent, HecToken, HttpIngest, HttpIngestConfig, HttpIngestReceiver,
    OtlpConfig, OtlpLogRecord, OtlpLogs, OtlpLogsReceiver, Protocol, ReceivedRequest, Receiver,
    SinkFault, SplunkHec, SplunkHecReceiver, TestCa, DEFAULT_BODY_LIMIT_BYTES,
};
pub use server::MockServer;
pub use signing::{
    format_api_time, format_mc_date, parse_api_time, parse_mc_date, sign, SignError,
};
pub use tls::{self_signed_tls, self_signed_tls_with_client_auth, SelfSignedTls};
