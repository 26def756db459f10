//! The instance configuration as the host hands it over, and its validation into `Settings`.
//! Pure: every problem is reported at once, each naming the field and the fix.

use crate::api::signing::SecretKey;
use crate::schema::{self, Schema};

/// Longest look-back: TTP logs are kept for 30 days (reference §3.4). One hour is kept clear
/// of that edge so that records are not purged from under the pager while the oldest window
/// is read (an offset pager would then skip as many records as were purged).
pub const MAX_LOOKBACK_SECS: u64 = 30 * 24 * 3600 - 3600;
/// Largest page Mimecast serves; larger values are silently ignored by the API (§6.6 #12).
pub const MAX_PAGE_SIZE: u32 = 100;

/// API 1.0 credentials, as configured.
#[derive(Clone)]
pub struct Api1Keys {
    /// Application ID.
    pub app_id: String,
    /// Application Key.
    pub app_key: String,
    /// Access Key of the binding.
    pub access_key: String,
    /// Secret Key of the binding (Base64).
    pub secret_key: String,
}

impl std::fmt::Debug for Api1Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api1Keys")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// API 2.0 credentials, as configured (reference §5).
#[derive(Clone)]
pub struct Api2Credentials {
    /// Client ID of the API 2.0 application.
    pub client_id: String,
    /// Client Secret of that application.
    pub client_secret: String,
}

impl std::fmt::Debug for Api2Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api2Credentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Credentials as configured (mirror of the WIT `credentials` variant).
#[derive(Debug, Clone)]
pub enum Credentials {
    /// API 1.0: HMAC-signed requests.
    Api1(Api1Keys),
    /// API 2.0: OAuth 2.0 client credentials and bearer tokens.
    Api2(Api2Credentials),
}

/// Which Mimecast API a tenant uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// API 1.0 (HMAC signing, regional hosts).
    V1,
    /// API 2.0 (OAuth bearer tokens, one gateway).
    V2,
}

/// Checked API 1.0 keys, ready for signing.
#[derive(Debug, Clone)]
pub struct Api1Auth {
    /// Application ID.
    pub app_id: String,
    /// Application Key.
    pub app_key: String,
    /// Access Key.
    pub access_key: String,
    /// Decoded Secret Key.
    pub secret: SecretKey,
}

/// Checked credentials, ready to authenticate requests.
#[derive(Debug, Clone)]
pub enum Auth {
    /// API 1.0 keys.
    Api1(Api1Auth),
    /// API 2.0 client credentials.
    Api2(Api2Credentials),
}

impl Auth {
    /// The API version these credentials belong to.
    pub fn version(&self) -> ApiVersion {
        match self {
            Auth::Api1(_) => ApiVersion::V1,
            Auth::Api2(_) => ApiVersion::V2,
        }
    }
}

/// URL Protect filters; `None` means all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UrlFilter {
    /// `route`.
    pub route: Option<String>,
    /// `scanResult`.
    pub scan_result: Option<String>,
}

/// Impersonation Protect filters; `None`/empty means no filtering.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImpersonationFilter {
    /// `taggedMalicious`.
    pub tagged_malicious: Option<bool>,
    /// `searchField`.
    pub search_field: Option<String>,
    /// `query`.
    pub query: Option<String>,
    /// `identifiers`.
    pub identifiers: Vec<String>,
    /// `actions`.
    pub actions: Vec<String>,
}

/// Attachment Protect filters; `None` means all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttachmentFilter {
    /// `route`.
    pub route: Option<String>,
    /// `result`.
    pub result: Option<String>,
}

/// The configuration exactly as the host passed it (mirror of the WIT `config` record).
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Tenant name.
    pub tenant: String,
    /// API base URL.
    pub base_url: String,
    /// How to authenticate.
    pub credentials: Credentials,
    /// Records per page.
    pub page_size: u32,
    /// First-run look-back in seconds.
    pub lookback_secs: u64,
    /// Distance of a window's end from now, in seconds.
    pub lag_secs: u64,
    /// Re-read period before the cursor, in seconds.
    pub overlap_secs: u64,
    /// Per-request timeout in milliseconds.
    pub request_timeout_ms: u64,
    /// URL Protect filters.
    pub url_filter: UrlFilter,
    /// Impersonation Protect filters.
    pub impersonation_filter: ImpersonationFilter,
    /// Attachment Protect filters.
    pub attachment_filter: AttachmentFilter,
    /// The shape of the events.
    pub schema: Schema,
    /// Mapped schemas also carry the record as received.
    pub keep_original: bool,
}

/// A checked configuration, ready for polling.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Tenant name.
    pub tenant: String,
    /// Base URL without a trailing slash, e.g. `https://eu-api.mimecast.com`.
    pub base_url: String,
    /// Checked credentials.
    pub auth: Auth,
    /// Records per page, 1 to 100.
    pub page_size: u32,
    /// First-run look-back, seconds, at most 30 days.
    pub lookback_secs: u64,
    /// Window end distance from now, seconds.
    pub lag_secs: u64,
    /// Re-read period, seconds.
    pub overlap_secs: u64,
    /// Per-request timeout, milliseconds.
    pub request_timeout_ms: u64,
    /// URL Protect filters.
    pub url_filter: UrlFilter,
    /// Impersonation Protect filters.
    pub impersonation_filter: ImpersonationFilter,
    /// Attachment Protect filters.
    pub attachment_filter: AttachmentFilter,
    /// The shape of the events.
    pub schema: Schema,
    /// What a mapped schema carries besides the mapping.
    pub schema_options: schema::Options,
}

const ROUTES: &[&str] = &["inbound", "outbound", "internal", "all"];
const SCAN_RESULTS: &[&str] = &["clean", "malicious", "all"];
/// The values integrations send (reference §3.3), plus `clean` and `unknown`, which the API
/// documentation gives as record results.
const ATTACHMENT_RESULTS: &[&str] = &[
    "safe",
    "malicious",
    "timeout",
    "error",
    "unsafe",
    "clean",
    "unknown",
    "all",
];
const SEARCH_FIELDS: &[&str] = &[
    "senderAddress",
    "recipientAddress",
    "subject",
    "policy",
    "all",
];
/// Identifiers the API documents (1.0 docs plus the 2.0 schema, reference §3.2).
const IDENTIFIERS: &[&str] = &[
    "newly_observed_domain",
    "internal_user_name",
    "reply_address_mismatch",
    "targeted_threat_dictionary",
    "similar_internal_domain",
    "custom_external_domain",
    "mimecast_external_domain",
    "custom_name_list",
];
/// Actions the documentation gives as examples (§3.2); others are passed on with a warning.
const ACTIONS: &[&str] = &["hold", "bounce", "none"];

fn check_choice(field: &str, value: &Option<String>, allowed: &[&str], out: &mut Vec<String>) {
    if let Some(v) = value {
        if !allowed.contains(&v.as_str()) {
            out.push(format!(
                "{field}: {v:?} is not one of {}",
                allowed.join(", ")
            ));
        }
    }
}

fn check_nonempty(field: &str, value: &str, out: &mut Vec<String>) {
    if value.trim().is_empty() {
        out.push(format!(
            "{field} is empty; copy it from the Mimecast Administration Console"
        ));
    }
}

/// Checks `base_url` and returns it without a trailing slash.
fn check_base_url(url: &str, out: &mut Vec<String>) -> String {
    // A scheme and a host only, and both are case-insensitive: `HTTPS://EU-API…` is fine.
    let lowered = url.trim().trim_end_matches('/').to_ascii_lowercase();
    let trimmed = lowered.as_str();
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        None => out.push(format!(
            "base_url: {url:?} must start with https:// (e.g. https://eu-api.mimecast.com)"
        )),
        Some(authority)
            if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) =>
        {
            out.push(format!(
                "base_url: {url:?} must be a scheme and host only, e.g. https://eu-api.mimecast.com"
            ))
        }
        Some(_) => {}
    }
    trimmed.to_string()
}

/// Checks the credentials of either API version and returns them trimmed and decoded.
fn check_credentials(credentials: &Credentials, problems: &mut Vec<String>) -> Option<Auth> {
    match credentials {
        Credentials::Api1(keys) => {
            let before = problems.len();
            check_nonempty("app_id", &keys.app_id, problems);
            check_nonempty("app_key", &keys.app_key, problems);
            check_nonempty("access_key", &keys.access_key, problems);
            check_nonempty("secret_key", &keys.secret_key, problems);
            let secret = match SecretKey::from_base64(keys.secret_key.trim()) {
                Ok(s) => Some(s),
                Err(_) => {
                    problems.push(
                        "secret_key is not valid Base64; paste the Secret Key exactly as Mimecast showed it"
                            .to_string(),
                    );
                    None
                }
            };
            match secret {
                Some(secret) if problems.len() == before => Some(Auth::Api1(Api1Auth {
                    app_id: keys.app_id.trim().to_string(),
                    app_key: keys.app_key.trim().to_string(),
                    access_key: keys.access_key.trim().to_string(),
                    secret,
                })),
                _ => None,
            }
        }
        Credentials::Api2(c) => {
            let before = problems.len();
            check_nonempty("client_id", &c.client_id, problems);
            check_nonempty("client_secret", &c.client_secret, problems);
            (problems.len() == before).then(|| {
                Auth::Api2(Api2Credentials {
                    client_id: c.client_id.trim().to_string(),
                    client_secret: c.client_secret.trim().to_string(),
                })
            })
        }
    }
}

impl Settings {
    /// Checks `config`; returns the settings and warnings (e.g. a clamped look-back).
    ///
    /// # Errors
    /// Every problem found, one per line, each naming its field.
    pub fn validate(config: SourceConfig) -> Result<(Settings, Vec<String>), String> {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        if config.tenant.trim().is_empty() {
            problems.push("tenant is empty; give every tenant an id".to_string());
        }
        let base_url = check_base_url(&config.base_url, &mut problems);
        let auth = check_credentials(&config.credentials, &mut problems);
        if config.page_size == 0 || config.page_size > MAX_PAGE_SIZE {
            problems.push(format!(
                "page_size: {} is outside 1..=100 (Mimecast serves at most 100 records a page)",
                config.page_size
            ));
        }
        let mut lookback_secs = config.lookback_secs;
        if lookback_secs == 0 {
            problems.push("lookback must be longer than 0s".to_string());
        } else if lookback_secs > MAX_LOOKBACK_SECS {
            warnings.push(format!(
                "lookback of {} reaches Mimecast's 30-day retention edge; using 30 days less one \
                 hour, so that no record is purged while it is read",
                if lookback_secs.is_multiple_of(86_400) {
                    format!("{}d", lookback_secs / 86_400)
                } else {
                    format!("{lookback_secs}s")
                }
            ));
            lookback_secs = MAX_LOOKBACK_SECS;
        }
        if config.lag_secs > 24 * 3600 {
            problems.push(format!("lag: {}s is longer than 24h", config.lag_secs));
        }
        if config.overlap_secs > 24 * 3600 {
            problems.push(format!(
                "overlap: {}s is longer than 24h",
                config.overlap_secs
            ));
        }
        if config.request_timeout_ms == 0 {
            problems.push("request_timeout must be longer than 0s".to_string());
        }
        check_choice(
            "filters.url.route",
            &config.url_filter.route,
            ROUTES,
            &mut problems,
        );
        check_choice(
            "filters.url.scan_result",
            &config.url_filter.scan_result,
            SCAN_RESULTS,
            &mut problems,
        );
        check_choice(
            "filters.attachment.route",
            &config.attachment_filter.route,
            ROUTES,
            &mut problems,
        );
        check_choice(
            "filters.attachment.result",
            &config.attachment_filter.result,
            ATTACHMENT_RESULTS,
            &mut problems,
        );
        let imp = &config.impersonation_filter;
        check_choice(
            "filters.impersonation.search_field",
            &imp.search_field,
            SEARCH_FIELDS,
            &mut problems,
        );
        match (&imp.search_field, &imp.query) {
            (Some(_), None) => problems.push(
                "filters.impersonation.search_field is set, so query is required".to_string(),
            ),
            (None, Some(_)) => problems.push(
                "filters.impersonation.query needs search_field to say where to search".to_string(),
            ),
            (Some(_), Some(query)) if query.trim().is_empty() => problems.push(
                "filters.impersonation.query is blank; Mimecast refuses a blank query \
                 (err_validation_blank): give the text to search for, or remove search_field and query"
                    .to_string(),
            ),
            _ => {}
        }
        for id in &imp.identifiers {
            if !IDENTIFIERS.contains(&id.as_str()) && !id.starts_with("advanced_") {
                problems.push(format!(
                    "filters.impersonation.identifiers: {id:?} is not one of {} or advanced_*",
                    IDENTIFIERS.join(", ")
                ));
            }
        }
        for action in &imp.actions {
            if action.trim().is_empty() {
                problems.push(
                    "filters.impersonation.actions holds a blank action; remove it".to_string(),
                );
            } else if !ACTIONS.contains(&action.as_str()) {
                warnings.push(format!(
                    "filters.impersonation.actions: {action:?} is not one of the documented \
                     actions ({}); sent as given, Mimecast will refuse it if it is unknown",
                    ACTIONS.join(", ")
                ));
            }
        }
        match auth {
            Some(auth) if problems.is_empty() => Ok((
                Settings {
                    tenant: config.tenant,
                    base_url,
                    auth,
                    page_size: config.page_size,
                    lookback_secs,
                    lag_secs: config.lag_secs,
                    overlap_secs: config.overlap_secs,
                    request_timeout_ms: config.request_timeout_ms,
                    url_filter: config.url_filter,
                    impersonation_filter: config.impersonation_filter,
                    attachment_filter: config.attachment_filter,
                    schema: config.schema,
                    schema_options: schema::Options {
                        original: config.keep_original,
                    },
                },
                warnings,
            )),
            _ => Err(problems.join("\n")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// A valid configuration for tests.
    pub(crate) fn sample() -> SourceConfig {
        SourceConfig {
            tenant: "acme".into(),
            base_url: "https://eu-api.mimecast.com/".into(),
            credentials: Credentials::Api1(Api1Keys {
                app_id: "app".into(),
                app_key: "key".into(),
                access_key: "access".into(),
                secret_key: "c2VjcmV0LXNlY3JldA==".into(),
            }),
            page_size: 100,
            lookback_secs: 86400,
            lag_secs: 60,
            overlap_secs: 300,
            request_timeout_ms: 30_000,
            url_filter: UrlFilter::default(),
            impersonation_filter: ImpersonationFilter::default(),
            attachment_filter: AttachmentFilter::default(),
            schema: Schema::Raw,
            keep_original: false,
        }
    }

    #[test]
    fn accepts_sample_and_trims_base_url() {
        let (s, warnings) = Settings::validate(sample()).unwrap();
        assert_eq!(s.base_url, "https://eu-api.mimecast.com");
        assert!(warnings.is_empty());
    }

    #[test]
    fn reports_every_problem_at_once() {
        let mut c = sample();
        c.base_url = "eu-api.mimecast.com".into();
        c.page_size = 500;
        c.credentials = Credentials::Api1(Api1Keys {
            app_id: " ".into(),
            app_key: "key".into(),
            access_key: "access".into(),
            secret_key: "%%%".into(),
        });
        c.url_filter.route = Some("sideways".into());
        c.attachment_filter.result = Some("cleanish".into());
        c.impersonation_filter.search_field = Some("subject".into());
        let err = Settings::validate(c).unwrap_err();
        for needle in [
            "base_url",
            "page_size",
            "secret_key",
            "app_id",
            "filters.url.route",
            "filters.attachment.result",
            "query is required",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
        assert_eq!(err.lines().count(), 7);
    }

    #[test]
    fn an_undocumented_impersonation_action_is_sent_with_a_warning() {
        let mut c = sample();
        c.impersonation_filter.actions = vec!["hold".into(), "quarantine".into()];
        let (s, warnings) = Settings::validate(c).unwrap();
        assert_eq!(s.impersonation_filter.actions, ["hold", "quarantine"]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("\"quarantine\""), "{warnings:?}");
    }

    #[test]
    fn blank_impersonation_query_is_refused() {
        let mut c = sample();
        c.impersonation_filter.search_field = Some("subject".into());
        c.impersonation_filter.query = Some("  ".into());
        let err = Settings::validate(c).unwrap_err();
        assert!(
            err.contains("filters.impersonation.query is blank"),
            "{err}"
        );
    }

    #[test]
    fn clamps_lookback_to_retention_with_warning() {
        let mut c = sample();
        c.lookback_secs = 90 * 86400;
        let (s, warnings) = Settings::validate(c).unwrap();
        assert_eq!(s.lookback_secs, MAX_LOOKBACK_SECS);
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn base_url_scheme_and_host_are_case_insensitive() {
        let mut c = sample();
        c.base_url = " HTTPS://EU-API.Mimecast.com/ ".into();
        let (s, _) = Settings::validate(c).unwrap();
        assert_eq!(s.base_url, "https://eu-api.mimecast.com");
    }

    #[test]
    fn rejects_base_url_with_path() {
        let mut c = sample();
        c.base_url = "https://eu-api.mimecast.com/api".into();
        assert!(Settings::validate(c)
            .unwrap_err()
            .contains("scheme and host only"));
    }

    /// A valid API 2.0 configuration for tests.
    pub(crate) fn sample_api2() -> SourceConfig {
        SourceConfig {
            base_url: "https://api.services.mimecast.com".into(),
            credentials: Credentials::Api2(Api2Credentials {
                client_id: "client".into(),
                client_secret: "cl13nt-s3cr3t".into(),
            }),
            ..sample()
        }
    }

    #[test]
    fn accepts_api2_and_reports_empty_client_fields() {
        let (s, _) = Settings::validate(sample_api2()).unwrap();
        assert_eq!(s.auth.version(), ApiVersion::V2);
        assert!(!format!("{s:?}").contains("cl13nt-s3cr3t"));
        let mut c = sample_api2();
        c.credentials = Credentials::Api2(Api2Credentials {
            client_id: "".into(),
            client_secret: " ".into(),
        });
        let err = Settings::validate(c).unwrap_err();
        assert!(
            err.contains("client_id") && err.contains("client_secret"),
            "{err}"
        );
    }

    #[test]
    fn debug_hides_keys() {
        let c = sample();
        let shown = format!("{c:?}");
        assert!(!shown.contains("c2VjcmV0"));
        assert!(!shown.contains("access\""));
    }
}
