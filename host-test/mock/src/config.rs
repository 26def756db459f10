//! Mock configuration: credentials (bindings), paging behaviour, time-filter edge, clock skew and rate limit.
//! Plain data; the server reads it once at start.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::dataset::Dataset;
use crate::log_type::LogType;

/// One API 1.0 application + binding the mock accepts (§1.1: four credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Application ID, sent as `x-mc-app-id`.
    pub app_id: String,
    /// Application Key, the last field of the string-to-sign.
    pub app_key: String,
    /// Access Key, sent in `Authorization: MC {accessKey}:{sig}`.
    pub access_key: String,
    /// Secret Key, standard base64 as Mimecast issues it.
    pub secret_key: String,
    /// The binding has lapsed: every request gets HTTP 418 `err_xdk_binding_expired` (§1.5).
    pub expired: bool,
    /// Log types this binding may read; others get HTTP 403 `err_xdk_access_denied`.
    pub permissions: Vec<LogType>,
    /// The account lives in another region: every request gets HTTP 401
    /// `err_audit_log_incorrect_region` (reference §4.2).
    pub other_region: bool,
    /// The Authentication Profile's IP range excludes the caller: HTTP 403
    /// `err_ip_range_restricted` (code assumed; Mimecast's is not in the reference).
    pub ip_restricted: bool,
}

impl Credential {
    /// The fixed demo credentials used by `mcsource demo`; all permissions, not expired.
    pub fn demo() -> Self {
        Credential {
            app_id: "0d5c3d8a-6f1e-4b7a-9c21-5e8f7a6b4c3d".into(),
            app_key: "b7e4a1c9-2d58-4f63-8a0e-71c9d2f5e684".into(),
            access_key: "mYtOL3XZCOwG96BOiFTZRlmpCfGzHn3lXCt7QzWyjMrOAuzyEHu2l7_dJ-fJCd4tNfT5FBWzMCeMO1YQ3AOPJ-a8nq0-4wIL3G5g3FwqLdH9qQ-cNRPFl8Ba4_dVpHEXf5kkRXMqPMvLBgjN9SbMgA".into(),
            secret_key: "LVFr28U/SwZ9sr86uobAvziEF41KiNNLvjlwPgzp+FBAYDp/TIVBeH1liJBXFbWR".into(),
            expired: false,
            permissions: LogType::ALL.to_vec(),
            other_region: false,
            ip_restricted: false,
        }
    }

    /// The §1.4 test-vector credentials (made-up), with all permissions.
    pub fn reference_vector() -> Self {
        Credential {
            app_id: "11111111-2222-3333-4444-555555555555".into(),
            app_key: "66666666-7777-8888-9999-000000000000".into(),
            access_key: "mc-test-access-key-0001".into(),
            secret_key: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==".into(),
            expired: false,
            permissions: LogType::ALL.to_vec(),
            other_region: false,
            ip_restricted: false,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("app_id", &self.app_id)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("expired", &self.expired)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

/// One API 2.0 application the mock accepts at `POST /oauth/token` (reference §5).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// Client ID.
    pub client_id: String,
    /// Client Secret.
    pub client_secret: String,
    /// Log types the application's role may read; others get HTTP 403 `err_xdk_access_denied`.
    pub permissions: Vec<LogType>,
}

impl OAuthClient {
    /// Fixed demo client credentials with all permissions.
    pub fn demo() -> Self {
        OAuthClient {
            client_id: "mock-client-7f3e9a12".into(),
            client_secret: "mock-secret-Qm9vbGVhbiBzZWNyZXQ".into(),
            permissions: LogType::ALL.to_vec(),
        }
    }
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// How the last page of a result set is marked; both occur in the wild (§6.6 #8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PagingEnd {
    /// The last page that holds records has no `next`.
    #[default]
    NextAbsent,
    /// The last page with records still has `next`; that page is empty and carries a `next` too.
    EmptyPageWithNext,
}

/// A fixed-window request quota per access key (§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length; the window starts with the first request after the previous one ended.
    pub window: Duration,
}

/// Everything the mock server needs to start.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Bindings the server accepts.
    pub credentials: Vec<Credential>,
    /// Records served, per log type.
    pub dataset: Dataset,
    /// How the end of paging is signalled.
    pub paging_end: PagingEnd,
    /// `true`: a record at exactly `to` is included (`from <= t <= to`); `false`: `from <= t < to`.
    pub to_inclusive: bool,
    /// Largest accepted difference between `x-mc-date` and the mock's clock.
    pub max_skew: Duration,
    /// Optional quota per access key; `None` never throttles (faults still can).
    pub rate_limit: Option<RateLimit>,
    /// API 2.0 applications accepted at `POST /oauth/token`.
    pub oauth_clients: Vec<OAuthClient>,
    /// Lifetime of an issued token, announced as `expires_in` (whole seconds, at least 1).
    pub token_ttl: Duration,
    /// A token is also expired after this many log requests (`None`: only by time). Makes
    /// mid-window expiry deterministic in tests.
    pub token_max_uses: Option<u32>,
    /// E-mail addresses `discover-authentication` knows; their `region.api` is the mock's own
    /// base URL. Other addresses get no `region`.
    pub discover_users: Vec<String>,
    /// Serve newest first whatever `oldestFirst` says (a server that ignores it).
    pub ignore_oldest_first: bool,
    /// Serve every record up to `to` whatever `from` says (a server that ignores it).
    pub ignore_from: bool,
    /// Report `meta.pagination.totalCount` (the API 1.0 field tables do not list it, §3.0).
    pub total_count: bool,
    /// Serve pages indented over many lines with CRLF line ends, as a pretty-printing server
    /// does, instead of compact JSON.
    pub pretty_json: bool,
    /// Every occurrence of this text in a page is sent as the single byte 0xFF, which is not
    /// UTF-8 (a server whose text encoding is broken); `None` sends pages as they are.
    pub invalid_utf8_marker: Option<String>,
    /// A refused token request's `error_description` ends with the form as posted, client
    /// secret included (a careless gateway); `false` describes the error only.
    pub oauth_echo_form: bool,
    /// Issued bearer tokens are padded to this many bytes (a gateway issuing huge tokens);
    /// `None` issues short ones.
    pub oauth_token_bytes: Option<usize>,
    /// Every page that has a next page names a token the mock never issued (a broken pager),
    /// which it then refuses as invalid; `false` pages normally.
    pub bogus_next: bool,
}

impl MockConfig {
    /// Demo credentials and ~300 records per type spread over the two hours before `now - 2 min`.
    pub fn demo(now: DateTime<Utc>) -> Self {
        let end = now - TimeDelta::minutes(2);
        let start = end - TimeDelta::hours(2);
        MockConfig::new(
            vec![Credential::demo()],
            Dataset::generate(0x4d43_4d4f_434b, start, end, 300),
        )
    }

    /// The given credentials and dataset with defaults: `NextAbsent`, exclusive `to`, 15 min skew,
    /// no quota, the demo API 2.0 client with 1799 s tokens, `svc@example.com` discoverable,
    /// `oldestFirst` and `from` honoured, `totalCount` reported and compact JSON, all of it UTF-8.
    pub fn new(credentials: Vec<Credential>, dataset: Dataset) -> Self {
        MockConfig {
            credentials,
            dataset,
            paging_end: PagingEnd::NextAbsent,
            to_inclusive: false,
            max_skew: Duration::from_secs(15 * 60),
            rate_limit: None,
            oauth_clients: vec![OAuthClient::demo()],
            token_ttl: Duration::from_secs(1799),
            token_max_uses: None,
            discover_users: vec!["svc@example.com".into()],
            ignore_oldest_first: false,
            ignore_from: false,
            total_count: true,
            pretty_json: false,
            invalid_utf8_marker: None,
            oauth_echo_form: false,
            oauth_token_bytes: None,
            bogus_next: false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn demo_secret_is_base64_of_at_least_32_bytes() {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(Credential::demo().secret_key)
            .unwrap();
        assert!(raw.len() >= 32);
    }

    #[test]
    fn debug_redacts_secret() {
        let c = Credential::demo();
        assert!(!format!("{c:?}").contains(&c.secret_key));
    }
}
