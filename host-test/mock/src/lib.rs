//! Mock Mimecast API 1.0 and 2.0 server for the TTP log endpoints: verifies signatures and bearer
//! tokens like the API,
//! serves a deterministic dataset with real paging, injects faults and keeps a ledger for assertions.
//! Spec: shared/reference/mimecast-api.md (§1 signing, §3 endpoints, §4 errors and rate limits).
//!
//! Also mock receivers for the sinks `mcsource` delivers to (module `receivers`): Elasticsearch /
//! OpenSearch `_bulk`, Splunk HEC, OTLP/HTTP logs and a generic NDJSON HTTP ingest, each
//! enforcing its protocol's contract (sources named in each module's doc).
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
//!              ConnectionReset, ResetMidBody, TrickleBody(Duration), StallBody, EndlessBody,
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
//!
//! // Sink receivers: one generic server, four protocols.
//! struct Receiver<P: Protocol>          // aliases: ElasticsearchReceiver, SplunkHecReceiver,
//!                                       //          OtlpLogsReceiver, HttpIngestReceiver
//!     start(config).await, start_tls(config).await, start_mtls(config, &[ca_der]).await
//!     url(), port(), addr(), certificate_pem(), certificate()
//!     stop().await, restart().await, is_running()
//!     push_fault(f), push_faults(fs), clear_faults(), pending_faults(), set_delay(d)
//!     requests() -> Vec<ReceivedRequest>, count_status(s), connections_accepted(),
//!     wait_until(timeout, |r| ..).await -> bool
//! enum SinkFault { Status{status, retry_after}, Raw{status, headers, body}, ConnectionReset,
//!                  Delay(Duration) }   SinkFault::status(s), SinkFault::retry_after(s, d)
//! struct ReceivedRequest { method, path, headers, body_bytes, status, stored, fault }
//! struct TestCa   new(name), certificate(), certificate_pem(), issue_client(cn) -> ClientIdentity
//! fn self_signed_tls_with_client_auth(names, client_roots) -> SelfSignedTls
//! const DEFAULT_BODY_LIMIT_BYTES = 64 MiB
//!
//! struct EsConfig { api_keys, basic_users, data_stream_prefixes, flavor: EsFlavor,
//!                   body_limit_bytes }        fn encode_api_key(id, key)
//!     ElasticsearchReceiver: documents(index), all_documents(), indices(), document_count(),
//!     version(index, id), create_attempts(index, id), bulk_requests(), reject_next_items(n),
//!     reject_documents(pred), reject_documents_containing(marker), accept_all_documents()
//! struct HecConfig { tokens: Vec<HecToken>, allowed_indexes, body_limit_bytes }
//! struct HecToken { token, ack, disabled }    HecToken::new(t).with_ack() / .disabled()
//! enum AckMode { Immediate, After(Duration), Never }
//!     SplunkHecReceiver: events() -> Vec<HecEvent>, event_count(), set_ack_mode(m),
//!     set_busy(b), acks(channel) -> Vec<(ack_id, indexed)>, channels()
//! struct OtlpConfig { path, required_headers, body_limit_bytes }
//!     OtlpLogsReceiver: log_records() -> Vec<OtlpLogRecord>, log_record_count(),
//!     reject_next_log_records(n, message)
//! struct HttpIngestConfig { path, required_headers, success_status, body_limit_bytes }
//!     HttpIngestReceiver: lines() -> Vec<Value>, line_count()
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
//!   `StallBody { after_bytes }` sends the head and the page's first `after_bytes` bytes, then
//!   nothing while the connection stays open; `EndlessBody` sends a chunked page whose records
//!   (64 KiB each) never end. None of these counts the page as served.
//! * Every response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (ms),
//!   and `meta.status` equals the HTTP status.
//! * Records in `[from, to)` (or `[from, to]` with `to_inclusive`), sorted stably by time, oldest or
//!   newest first; the result set is recomputed from the current dataset on every page.
//!
//! # Behaviour of the sink receivers
//!
//! * All: HTTP/1.1 on `127.0.0.1:0` (keep-alive), optionally HTTPS with a self-signed
//!   certificate for `localhost`/`127.0.0.1`, or mutual TLS (a client without a certificate
//!   from the given CA fails the handshake and is never in the ledger). `stop()` closes the
//!   listener and every connection (requests in flight are cut; new connections are refused);
//!   `restart()` listens on the same port with all data kept. A body over the limit (64 MiB
//!   unless configured) is 413, also when only its gzip-decoded size is; `Content-Encoding:
//!   gzip` is undone, other encodings are 415. A queued [`SinkFault`] and the `set_delay` delay
//!   apply only to the ingest path (`_bulk`, HEC event endpoints, the OTLP path, the NDJSON
//!   path), before authentication; a `Status` fault answers with the protocol's own error
//!   body. Nothing is stored by a faulted request; a reset is ledgered with status 0.
//! * Elasticsearch: `POST|PUT /_bulk` and `/{index}/_bulk`, `Content-Type`
//!   `application/x-ndjson` or `application/json` (else 406). Body without a final newline:
//!   400 `illegal_argument_exception`; malformed action lines, unknown actions and unknown
//!   metadata keys: 400 for the whole request; `update`/`delete` are not supported (400).
//!   `create` of an existing id: item 409 `version_conflict_engine_exception`, not
//!   overwritten; `index` overwrites (200 `updated`, version + 1). Data streams (configured
//!   prefixes) refuse `index` per item (400) and name a `.ds-` backing index. Per-item 429
//!   `es_rejected_execution_exception` for the next N items; a predicate's documents get 400
//!   `document_parsing_exception` (`mapper_parsing_exception` for `EsFlavor::OpenSearch`) every
//!   time. With credentials configured, a missing or wrong `ApiKey`/`Basic` is 401
//!   `security_exception` with `WWW-Authenticate: Basic …` and `ApiKey`. `GET /` answers
//!   cluster info; every answer has `X-elastic-product: Elasticsearch`.
//! * Splunk HEC: `/services/collector`, `/event`, `/event/1.0` (POST), `/ack` (POST),
//!   `/health` (GET, no token). Codes: 0, 1, 2, 3, 4, 5, 6 (with `invalid-event-number`), 7, 8,
//!   9, 10, 11, 12/13 (missing/blank `event`), 14, 15, 17, 18 (health while busy). Events
//!   before an invalid one are stored, as in Splunk. Tokens with ack need a GUID channel
//!   (header or `?channel=`) and get `ackId`s from 0 per channel; a batch is indexed per
//!   `AckMode` (immediately, after a delay, never: its events are never stored).
//! * OTLP/HTTP logs: `POST /v1/logs` (configurable), protobuf or JSON (else 415), answered in
//!   the request's encoding; undecodable body 400 with a `google.rpc.Status` (code 3);
//!   `Status` faults map 429→8, 502/503→14, 504→4; partial success for the next N records.
//!   Optional required headers: 401 missing, 403 wrong.
//! * NDJSON ingest: `POST` on the configured path (others 404, other methods 405), required
//!   headers (401/403), every non-blank line a JSON object (else 400, nothing stored), the
//!   configured success status (204 without a body, others `{"accepted":N}`).

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
