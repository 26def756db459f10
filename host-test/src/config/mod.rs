//! The collector's TOML configuration: parsing, defaults, and validation that reports every
//! problem at once, each with its path (e.g. `tenant[1].base_url`). Mimecast-specific checks
//! (filter values, page size, key encoding) are the component's: `check` runs both.

pub mod limits;
pub mod secret;
pub mod sinks;
pub mod small_file;
pub mod units;

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::limits::{check_concurrent_polls, Limits, LimitsConfig};
use crate::config::secret::{Secret, SecretSource};
use crate::config::sinks::{SinkContext, SinkEntries, SinkSpec};
use crate::config::units::show_duration;
use crate::delivery::batch_check::Shape;
use crate::log_type::LogType;
use crate::net::{check_proxy_url, ProxySetting};
use rustls::pki_types::CertificateDer;

/// Default API 2.0 gateway (reference §2.3); `uk-api.` and `us-api.services.mimecast.com` are the
/// UK and US instances without failover.
pub const DEFAULT_API2_GATEWAY: &str = "https://api.services.mimecast.com";

/// Default region discovery host for API 1.0 (reference §2.2).
pub const DEFAULT_DISCOVER_URL: &str = "https://api.mimecast.com";

/// `base_url` value that asks for region discovery before the first poll.
pub const DISCOVER: &str = "discover";

/// The key that marks the config file a package installs as not edited yet (see
/// `packaging/mcsource.toml`): [`FileConfig::load`] refuses a file where it is `true`.
pub const NOT_CONFIGURED_YET: &str = "not_configured_yet";

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `true` in the example config the Debian package installs as
    /// `/etc/mcsource/mcsource.toml`, so that it collects nothing until someone fills it in
    /// and deletes the line; any command that loads such a file says so.
    #[serde(default)]
    pub not_configured_yet: bool,
    /// Directory for checkpoints; created if missing. Relative paths are relative to the
    /// config file.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Where checkpoints are kept: SQLite in `state_dir` (default) or PostgreSQL.
    #[serde(default)]
    pub state: StateEntry,
    /// Where events go: one `[sink]` table or `[[sink]]` tables (default: stdout).
    #[serde(default)]
    pub sink: SinkEntries,
    /// Default sandbox limits for every tenant (see `sandbox::limits`).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Polls run at once across all tenants (the worker pool; default 16).
    #[serde(default = "default_max_concurrent_polls")]
    pub max_concurrent_polls: u32,
    /// HTTP proxy for every outbound request: `"http://[user:password@]host:port"`, or
    /// `"none"` to connect directly whatever the environment says; like a credential, a
    /// literal, `{ env = "NAME" }` or `{ file = "PATH" }`. Unset: `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` decide, as for curl.
    pub proxy: Option<SecretSource>,
    /// With `proxy = "http://…"`: hosts reached directly (`NO_PROXY` syntax per entry: a name,
    /// a `.domain` suffix, an IP address or a CIDR range).
    #[serde(default)]
    pub no_proxy: Vec<String>,
    /// PEM file of more CA certificates to trust for outbound TLS (e.g. a TLS-inspecting
    /// proxy's CA), relative to the config file; the built-in and system roots stay trusted.
    pub ca_file: Option<PathBuf>,
    /// The shape of every tenant's events, unless the tenant says otherwise: `"raw"` (the
    /// default: Mimecast's record in an envelope), `"ecs"` or `"ocsf"`.
    #[serde(default)]
    pub schema: Shape,
    /// With `schema = "ecs"` or `"ocsf"`: also carry each record as received
    /// (`event.original`, `raw_data`), unless the tenant says otherwise.
    #[serde(default)]
    pub keep_original: bool,
    /// Serve Prometheus metrics (`/metrics`) and health endpoints (`/healthz`, `/readyz`) on
    /// this address, e.g. `"127.0.0.1:9464"`; off when unset.
    pub metrics_listen: Option<String>,
    /// Label per-tenant metrics with the tenant (default `true`); `false` sums them over
    /// tenants, for hosts with thousands.
    pub metrics_tenant_labels: Option<bool>,
    /// The tenants to collect from.
    #[serde(default)]
    pub tenant: Vec<TenantConfig>,
}

/// `[state]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StateEntry {
    /// SQLite in `state_dir` (the default).
    #[default]
    Sqlite,
    /// PostgreSQL.
    Postgres {
        /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (add `?sslmode=disable` for a
        /// server without TLS); a literal, `{ env = "…" }` or `{ file = "…" }`.
        url: SecretSource,
        /// Several hosts with this config share the tenants by leases (default: one host at a
        /// time).
        #[serde(default)]
        shared: bool,
        /// With `shared`: how long a lease lasts without renewal (default 30 s); a host that
        /// stops renewing loses its tenants to the others after this long.
        #[serde(default, with = "humantime_serde")]
        lease_ttl: Option<Duration>,
    },
}

/// Where checkpoints are kept, validated.
#[derive(Debug, Clone, Default)]
pub enum StateSpec {
    /// SQLite in `state_dir`.
    #[default]
    Sqlite,
    /// PostgreSQL at this URL.
    Postgres {
        /// The connection URL (a credential).
        url: Secret,
        /// With `shared = true`: the lease time; `None` for one host at a time.
        lease_ttl: Option<Duration>,
    },
}

impl StateEntry {
    /// The store as validated; a URL that cannot be read is a problem.
    ///
    /// # Errors
    /// Why the URL cannot be read.
    pub fn resolve(&self, base_dir: &Path) -> Result<StateSpec, String> {
        match self {
            StateEntry::Sqlite => Ok(StateSpec::Sqlite),
            StateEntry::Postgres {
                url,
                shared,
                lease_ttl,
            } => {
                let lease_ttl = match (shared, lease_ttl) {
                    (false, Some(_)) => {
                        return Err("state.lease_ttl: only with shared = true".into())
                    }
                    (false, None) => None,
                    (true, ttl) => {
                        let ttl = ttl.unwrap_or(Duration::from_secs(30));
                        if ttl < Duration::from_secs(3) || ttl > Duration::from_secs(600) {
                            return Err("state.lease_ttl: must be 3s to 10m".into());
                        }
                        Some(ttl)
                    }
                };
                let url = url
                    .resolve(base_dir)
                    .map_err(|e| format!("state.url: {e}"))?;
                let ok = url.expose().starts_with("postgres://")
                    || url.expose().starts_with("postgresql://")
                    || url.expose().contains('=');
                if !ok {
                    return Err("state.url: not a PostgreSQL connection URL; write it as \
                         postgres://USER:PASSWORD@HOST:PORT/DATABASE"
                        .into());
                }
                Ok(StateSpec::Postgres { url, lease_ttl })
            }
        }
    }
}

/// Where metrics are served, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSpec {
    /// The address to listen on.
    pub listen: std::net::SocketAddr,
    /// Whether per-tenant metrics carry the tenant label.
    pub tenant_labels: bool,
}

fn default_max_concurrent_polls() -> u32 {
    crate::config::limits::DEFAULT_MAX_CONCURRENT_POLLS
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("state")
}

/// One Mimecast tenant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Unique name; used in events, logs and state file names (letters, digits, `.`, `_`, `-`).
    pub id: String,
    /// `"1.0"` or `"2.0"`; inferred from the credentials given when unset.
    pub api: Option<String>,
    /// API 1.0: the regional API host, e.g. `https://eu-api.mimecast.com`, or `"discover"` to
    /// look it up from `discover_email`. API 2.0: the gateway, default
    /// `https://api.services.mimecast.com` (UK: `https://uk-api.services.mimecast.com`, US:
    /// `https://us-api.services.mimecast.com`). Plain `http://` only for loopback hosts.
    pub base_url: Option<String>,
    /// With `base_url = "discover"`: the service user's e-mail address.
    pub discover_email: Option<String>,
    /// With `base_url = "discover"`: the discovery host, default `https://api.mimecast.com`.
    pub discover_url: Option<String>,
    /// API 1.0 Application ID.
    pub app_id: Option<SecretSource>,
    /// API 1.0 Application Key.
    pub app_key: Option<SecretSource>,
    /// API 1.0 Access Key of the service user's binding.
    pub access_key: Option<SecretSource>,
    /// API 1.0 Secret Key of that binding.
    pub secret_key: Option<SecretSource>,
    /// API 2.0 Client ID.
    pub client_id: Option<SecretSource>,
    /// API 2.0 Client Secret.
    pub client_secret: Option<SecretSource>,
    /// Which logs to collect; all three by default.
    #[serde(default = "default_log_types")]
    pub log_types: Vec<String>,
    /// Time between polls once caught up, e.g. `"60s"`.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// How far back the first run reaches, e.g. `"24h"` (at most 30 days).
    #[serde(default = "default_lookback", with = "humantime_serde")]
    pub lookback: Duration,
    /// Windows end this long before now, so records still being written are not missed.
    #[serde(default = "default_lag", with = "humantime_serde")]
    pub lag: Duration,
    /// Each window re-reads this period before the cursor to catch late-arriving records.
    #[serde(default = "default_overlap", with = "humantime_serde")]
    pub overlap: Duration,
    /// Records per page, 1 to 100.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Timeout of one Mimecast request.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Per-log-type filters.
    #[serde(default)]
    pub filters: Filters,
    /// This tenant's sandbox limits, overriding the top-level `[limits]`.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Run this tenant with another build of the component (relative to the config file);
    /// by default the one bundled into `mcsource` (or `--component`).
    #[serde(default)]
    pub component: Option<PathBuf>,
    /// The shape of this tenant's events; by default the top-level `schema`.
    pub schema: Option<Shape>,
    /// This tenant's `keep_original`; by default the top-level one.
    pub keep_original: Option<bool>,
}

fn default_log_types() -> Vec<String> {
    LogType::NAMES.iter().map(|s| s.to_string()).collect()
}
fn default_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_lookback() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_lag() -> Duration {
    Duration::from_secs(60)
}
fn default_overlap() -> Duration {
    Duration::from_secs(300)
}
fn default_page_size() -> u32 {
    100
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Filters per log type; anything unset means "all".
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// URL Protect.
    #[serde(default)]
    pub url: UrlFilter,
    /// Impersonation Protect.
    #[serde(default)]
    pub impersonation: ImpersonationFilter,
    /// Attachment Protect.
    #[serde(default)]
    pub attachment: AttachmentFilter,
}

/// URL Protect filters.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UrlFilter {
    /// `inbound`, `outbound`, `internal` or `all`.
    pub route: Option<String>,
    /// `clean`, `malicious` or `all`.
    pub scan_result: Option<String>,
}

/// Impersonation Protect filters.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ImpersonationFilter {
    /// Only records tagged malicious (`true`) or not (`false`); unset for all.
    pub tagged_malicious: Option<bool>,
    /// `senderAddress`, `recipientAddress`, `subject`, `policy` or `all`.
    pub search_field: Option<String>,
    /// Text to search for; needs `search_field`.
    pub query: Option<String>,
    /// Only records that triggered one of these identifiers.
    #[serde(default)]
    pub identifiers: Vec<String>,
    /// Only records with one of these actions.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// Attachment Protect filters.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AttachmentFilter {
    /// `inbound`, `outbound`, `internal` or `all`.
    pub route: Option<String>,
    /// `safe`, `malicious`, `timeout`, `error`, `unsafe` or `all`.
    pub result: Option<String>,
}

/// A validated configuration with secrets resolved and paths made absolute.
#[derive(Debug)]
pub struct ValidConfig {
    /// Checkpoint directory.
    pub state_dir: PathBuf,
    /// Where events go; a batch counts as delivered once every one of them took it.
    pub sinks: Vec<SinkSpec>,
    /// Tenants.
    pub tenants: Vec<Tenant>,
    /// Polls run at once across all tenants.
    pub max_concurrent_polls: u32,
    /// Where outbound connections go.
    pub proxy: ProxySetting,
    /// CA certificates from `ca_file`, trusted beside the built-in and system roots.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Metrics and health endpoints, when configured.
    pub metrics: Option<MetricsSpec>,
    /// Where checkpoints are kept.
    pub state: StateSpec,
}

/// What [`FileConfig::validate_each`] found.
pub struct Validated {
    /// The whole config, or every problem the host found in it.
    pub config: Result<ValidConfig, Vec<String>>,
    /// The tenants, with their index, that have no problem of their own.
    pub sound: Vec<(usize, Tenant)>,
}

/// One validated tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Unique id.
    pub id: String,
    /// Base URL without trailing slash (the API 2.0 gateway, or the API 1.0 regional host;
    /// empty until discovery ran when `discover` is set).
    pub base_url: String,
    /// The only host this tenant's component may call: `(scheme, host, port)`. Until
    /// discovery ran, the discovery host.
    pub allowed_origin: Origin,
    /// Credentials.
    pub credentials: Credentials,
    /// Region discovery still to run before this tenant can be polled.
    pub discover: Option<Discovery>,
    /// Log types to collect, in order.
    pub log_types: Vec<LogType>,
    /// Poll interval once caught up.
    pub interval: Duration,
    /// First-run look-back.
    pub lookback: Duration,
    /// Window lag.
    pub lag: Duration,
    /// Re-read overlap.
    pub overlap: Duration,
    /// Page size.
    pub page_size: u32,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Filters.
    pub filters: Filters,
    /// Sandbox limits of this tenant's instance.
    pub limits: Limits,
    /// Another component build for this tenant, if configured.
    pub component: Option<PathBuf>,
    /// The shape of this tenant's events.
    pub schema: Shape,
    /// Mapped events also carry the record as received.
    pub keep_original: bool,
}

/// Resolved credentials of either API version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// API 1.0 keys.
    Api1(Keys),
    /// API 2.0 client credentials.
    Api2 {
        /// Client ID.
        client_id: Secret,
        /// Client Secret.
        client_secret: Secret,
    },
}

/// A pending region discovery (API 1.0, `base_url = "discover"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The service user's e-mail address.
    pub email: String,
    /// Discovery host, e.g. `https://api.mimecast.com`.
    pub url: String,
}

/// Resolved API 1.0 credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Application ID.
    pub app_id: Secret,
    /// Application Key.
    pub app_key: Secret,
    /// Access Key.
    pub access_key: Secret,
    /// Secret Key.
    pub secret_key: Secret,
}

/// A scheme, host and port an outbound request may go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-case host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port (default 443/80 filled in).
    pub port: u16,
}

/// Parses `base_url` into the origin the sandbox allows; plain HTTP only for loopback. Error
/// messages show the URL with any `user:password@` part replaced by `***@`.
pub fn parse_origin(base_url: &str) -> Result<Origin, BadBaseUrl> {
    origin_of(base_url).map_err(BadBaseUrl)
}

/// [`parse_origin`], its error in words.
fn origin_of(base_url: &str) -> Result<Origin, String> {
    let shown = without_userinfo(base_url.trim());
    let url = url::Url::parse(base_url.trim()).map_err(|e| {
        format!("{shown:?} is not a URL ({e}); use e.g. https://eu-api.mimecast.com")
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{shown:?} must not contain credentials (user:password@); give only the scheme and host"
        ));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(format!("{shown:?} has no host")),
    };
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{shown:?} must be a scheme and host only, without a path"
        ));
    }
    let scheme = url.scheme().to_string();
    // The component sends requests to `base_url` as written, and the sandbox allows only the
    // host as parsed here: they must be the same text, or every request would be refused. An
    // IP address in another form (`2130706433`, `0x7f.1`, `127.1`, `[0:0::1]`) or a name that
    // is not in its ASCII form is refused here, with the form to write instead.
    let written = written_host(base_url.trim());
    if written != host {
        let port = url.port().map_or_else(String::new, |p| format!(":{p}"));
        let canonical = match url.host() {
            Some(url::Host::Ipv6(_)) => format!("{scheme}://[{host}]{port}"),
            _ => format!("{scheme}://{host}{port}"),
        };
        return Err(format!(
            "{shown:?} writes the host {host} in another form ({written}); write it as {canonical}"
        ));
    }
    match scheme.as_str() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => {
            return Err(format!(
                "{shown:?} uses plain http, which is allowed only for loopback hosts; use https://"
            ))
        }
        other => return Err(format!("{shown:?} has scheme {other}; use https://")),
    }
    let port = url.port_or_known_default().unwrap_or(443);
    Ok(Origin { scheme, host, port })
}

/// `url` with the userinfo of its authority (`user:password@`) replaced by `***@`, read
/// textually so that it works for strings that do not parse as URLs too.
fn without_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &rest[at..]),
        None => url.to_string(),
    }
}

/// The host of `url` as written (lower-cased, an IPv6 address without its brackets): the text
/// between `://` (and any `user:password@`) and the port, path, query or fragment.
fn written_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host_port.split(':').next().unwrap_or(host_port),
    };
    host.to_ascii_lowercase()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Upper bounds of the tenant duration keys (see README, "Configuration"): beyond them a value
/// is surely a typo, and bounded values keep every sum of durations far from overflowing.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Longest `lookback` accepted (the component reads at most 30 days back anyway).
pub const MAX_LOOKBACK: Duration = Duration::from_secs(365 * 24 * 3600);
/// Longest `lag` accepted.
pub const MAX_LAG: Duration = Duration::from_secs(6 * 3600);
/// Longest `overlap` accepted.
pub const MAX_OVERLAP: Duration = Duration::from_secs(6 * 3600);
/// Longest `request_timeout` accepted.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// Reports `at.name` if `d` is outside `min..=max`, naming the bound.
fn check_duration(
    at: &str,
    name: &str,
    d: Duration,
    (min, max): (Duration, Duration),
    out: &mut Vec<String>,
) {
    if d < min {
        out.push(format!(
            "{at}.{name}: {} is too short; use at least {}",
            show_duration(d),
            show_duration(min)
        ));
    } else if d > max {
        out.push(format!(
            "{at}.{name}: {} is too long; use at most {}",
            show_duration(d),
            show_duration(max)
        ));
    }
}

/// What `resolve_access` found: where to connect and with which credentials.
struct Access {
    base_url: String,
    origin: Origin,
    credentials: Credentials,
    discover: Option<Discovery>,
}

/// Resolves the API version, credentials and base URL of one tenant, reporting every problem.
fn resolve_access(
    at: &str,
    t: &TenantConfig,
    base_dir: &Path,
    problems: &mut Vec<String>,
) -> Option<Access> {
    let v1_fields = [
        ("app_id", &t.app_id),
        ("app_key", &t.app_key),
        ("access_key", &t.access_key),
        ("secret_key", &t.secret_key),
    ];
    let v2_fields = [
        ("client_id", &t.client_id),
        ("client_secret", &t.client_secret),
    ];
    let given = |fields: &[(&str, &Option<SecretSource>)]| {
        fields.iter().filter(|(_, f)| f.is_some()).count()
    };
    let (v1_given, v2_given) = (given(&v1_fields), given(&v2_fields));
    let version = match t.api.as_deref() {
        Some("1.0") | Some("1") => "1.0",
        Some("2.0") | Some("2") => "2.0",
        Some(other) => {
            problems.push(format!("{at}.api: {other:?} is not \"1.0\" or \"2.0\""));
            return None;
        }
        None => match (v1_given, v2_given) {
            (4, 0) => "1.0",
            (0, 2) => "2.0",
            (0, 0) => {
                problems.push(format!(
                    "{at}: no credentials; give client_id and client_secret (API 2.0) or app_id, \
                     app_key, access_key and secret_key (API 1.0)"
                ));
                return None;
            }
            (a, b) if a > 0 && b > 0 => {
                problems.push(format!(
                    "{at}: both API 1.0 keys and API 2.0 client credentials are given; set \
                     api = \"1.0\" or api = \"2.0\", or remove one set"
                ));
                return None;
            }
            (a, 0) => {
                problems.push(format!(
                    "{at}: incomplete API 1.0 credentials ({a} of 4); missing {}",
                    missing(&v1_fields)
                ));
                return None;
            }
            _ => {
                problems.push(format!(
                    "{at}: incomplete API 2.0 credentials; missing {}",
                    missing(&v2_fields)
                ));
                return None;
            }
        },
    };
    let (needed, unused) = if version == "1.0" {
        (&v1_fields[..], &v2_fields[..])
    } else {
        (&v2_fields[..], &v1_fields[..])
    };
    for (name, field) in unused {
        if field.is_some() {
            problems.push(format!(
                "{at}.{name} is an API {} setting but this tenant uses API {version}; remove it",
                if version == "1.0" { "2.0" } else { "1.0" }
            ));
        }
    }
    let mut values = Vec::new();
    for (name, field) in needed {
        match field {
            None => problems.push(format!(
                "{at}.{name} is missing; API {version} needs {}",
                needed
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(src) => match src.resolve(base_dir) {
                Ok(v) => values.push(v),
                Err(e) => problems.push(format!("{at}.{name}: {e}")),
            },
        }
    }
    let base_url = match (&t.base_url, version) {
        // Scheme and host are case-insensitive (a path is refused below).
        (Some(u), _) => u.trim().trim_end_matches('/').to_ascii_lowercase(),
        (None, "2.0") => DEFAULT_API2_GATEWAY.to_string(),
        (None, _) => {
            problems.push(format!(
                "{at}.base_url is missing; API 1.0 needs the regional host (e.g. \
                 https://eu-api.mimecast.com) or \"discover\" with discover_email"
            ));
            return None;
        }
    };
    let mut discover = None;
    let origin = if base_url == DISCOVER {
        let url = t
            .discover_url
            .as_deref()
            .unwrap_or(DEFAULT_DISCOVER_URL)
            .trim()
            .trim_end_matches('/')
            .to_string();
        if version != "1.0" {
            problems.push(format!(
                "{at}.base_url: \"discover\" is for API 1.0 only; API 2.0 uses one gateway \
                 ({DEFAULT_API2_GATEWAY}, or the uk-api/us-api instance)"
            ));
        }
        match &t.discover_email {
            Some(email) if email.contains('@') => {
                discover = Some(Discovery {
                    email: email.trim().to_string(),
                    url: url.clone(),
                })
            }
            Some(email) => problems.push(format!(
                "{at}.discover_email: {email:?} is not an e-mail address"
            )),
            None => problems.push(format!(
                "{at}.discover_email is missing; base_url = \"discover\" needs the service user's address"
            )),
        }
        parse_origin(&url)
            .map_err(|e| problems.push(format!("{at}.discover_url: {e}")))
            .ok()
    } else {
        if t.discover_email.is_some() || t.discover_url.is_some() {
            problems.push(format!(
                "{at}: discover_email and discover_url are used only with base_url = \"discover\""
            ));
        }
        parse_origin(&base_url)
            .map_err(|e| problems.push(format!("{at}.base_url: {e}")))
            .ok()
    };
    let origin = origin?;
    if values.len() != needed.len() {
        return None;
    }
    let mut values = values.into_iter();
    let credentials = if version == "1.0" {
        Credentials::Api1(Keys {
            app_id: values.next()?,
            app_key: values.next()?,
            access_key: values.next()?,
            secret_key: values.next()?,
        })
    } else {
        Credentials::Api2 {
            client_id: values.next()?,
            client_secret: values.next()?,
        }
    };
    Some(Access {
        base_url: if discover.is_some() {
            String::new()
        } else {
            base_url
        },
        origin,
        credentials,
        discover,
    })
}

/// Names the unset fields of `fields`.
fn missing(fields: &[(&str, &Option<SecretSource>)]) -> String {
    fields
        .iter()
        .filter(|(_, f)| f.is_none())
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Tenant {
    /// Sets the regional base URL found by discovery and allows only that origin from now on.
    ///
    /// # Errors
    /// The discovered URL is not a usable origin.
    pub fn set_discovered(&mut self, base_url: &str) -> Result<(), BadBaseUrl> {
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        self.allowed_origin = parse_origin(&base_url)?;
        self.base_url = base_url;
        self.discover = None;
        Ok(())
    }
}

/// A TOML error as one line: the parser's message and the line and column, but never the
/// offending source text, which may hold a secret (e.g. a misspelt `clientsecret = "…"`). Values
/// serde quotes in "invalid type/value" messages are hidden too.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = hide_serde_values(&e.message().split_whitespace().collect::<Vec<_>>().join(" "));
    match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Replaces the value serde quotes in `invalid type: string "…", expected …` (and `invalid
/// value:`) by its kind only: `invalid type: string (value hidden), expected …`.
fn hide_serde_values(message: &str) -> String {
    let mut out = message.to_string();
    for marker in ["invalid type: ", "invalid value: "] {
        let Some(at) = out.find(marker) else {
            continue;
        };
        let from = at + marker.len();
        let to = out[from..]
            .find(", expected")
            .map_or(out.len(), |i| from + i);
        let unexpected = &out[from..to];
        if let Some(quote) = unexpected.find(['"', '`']) {
            let kind = unexpected[..quote].trim_end();
            out = format!("{}{kind} (value hidden){}", &out[..from], &out[to..]);
        }
    }
    // humantime's own words; say what a duration looks like.
    if out.trim_end().ends_with("expected a duration") {
        out = format!(
            "{} such as \"90s\", \"5m\", \"2h\" or \"1d\"",
            out.trim_end()
        );
    }
    out
}

/// Why a configuration file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read, or is not a small regular file.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: small_file::SmallFileError,
    },
    /// The TOML does not parse or does not fit the schema.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's words with line and column (never the offending text).
        message: String,
    },
    /// The file still says `not_configured_yet = true`: it is the installed example.
    #[error(
        "{path} is not configured yet: fill in its [[tenant]] (id, base_url, credentials) and \
         [sink] as its comments say, then delete the line `{NOT_CONFIGURED_YET} = true`"
    )]
    NotConfiguredYet {
        /// The file.
        path: String,
    },
}

/// A base URL that cannot be a tenant's origin; the message shows the URL without credentials
/// and says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadBaseUrl(String);

impl FileConfig {
    /// Reads and parses a config file.
    ///
    /// # Errors
    /// Unreadable file, TOML that does not fit the schema (the message names the key), or a
    /// file that still says `not_configured_yet = true`.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigFileError> {
        let text =
            small_file::read_to_string(path, small_file::MAX_CONFIG_BYTES).map_err(|source| {
                ConfigFileError::Read {
                    path: path.display().to_string(),
                    source,
                }
            })?;
        let config: FileConfig = toml::from_str(&text).map_err(|e| ConfigFileError::Syntax {
            path: path.display().to_string(),
            message: describe_toml_error(&text, &e),
        })?;
        if config.not_configured_yet {
            return Err(ConfigFileError::NotConfiguredYet {
                path: path.display().to_string(),
            });
        }
        Ok(config)
    }

    /// Checks everything the host can check and resolves secrets; `base_dir` anchors relative
    /// paths (the config file's directory).
    ///
    /// # Errors
    /// Every problem found, each with its path.
    pub fn validate(self, base_dir: &Path) -> Result<ValidConfig, Vec<String>> {
        self.validate_each(base_dir).config
    }

    /// Like [`FileConfig::validate`], and also the tenants (with their index) that have no
    /// problem of their own, whatever is wrong elsewhere: `check` has the component check
    /// those, so that one run reports the problems of every tenant.
    pub fn validate_each(self, base_dir: &Path) -> Validated {
        let mut problems = Vec::new();
        let mut sound = Vec::new();
        if self.tenant.is_empty() {
            problems.push("no [[tenant]] entries; add at least one (see examples/)".to_string());
        }
        let mut ids = HashSet::new();
        let mut tenants = Vec::new();
        check_concurrent_polls(self.max_concurrent_polls, &mut problems);
        for (i, t) in self.tenant.into_iter().enumerate() {
            let at = format!("tenant[{i}]");
            let found_before = problems.len();
            if t.id.is_empty()
                || !t
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                || t.id.starts_with('.')
            {
                problems.push(format!(
                    "{at}.id: {:?} must be non-empty letters, digits, '.', '_' or '-' (not starting with '.')",
                    t.id
                ));
            } else if !ids.insert(t.id.clone()) {
                problems.push(format!("{at}.id: {:?} is used by another tenant", t.id));
            }
            let resolved = resolve_access(&at, &t, base_dir, &mut problems);
            if t.log_types.is_empty() {
                problems.push(format!(
                    "{at}.log_types is empty; list some of {:?}",
                    LogType::NAMES
                ));
            }
            let mut log_types = Vec::new();
            for lt in &t.log_types {
                match LogType::parse(lt) {
                    None => problems.push(format!(
                        "{at}.log_types: {lt:?} is not one of {:?}",
                        LogType::NAMES
                    )),
                    Some(parsed) if log_types.contains(&parsed) => {
                        problems.push(format!("{at}.log_types: {lt:?} is listed twice"));
                    }
                    Some(parsed) => log_types.push(parsed),
                }
            }
            let second = Duration::from_secs(1);
            for (name, value, bounds) in [
                ("interval", t.interval, (second, MAX_INTERVAL)),
                ("lookback", t.lookback, (second, MAX_LOOKBACK)),
                ("lag", t.lag, (Duration::ZERO, MAX_LAG)),
                ("overlap", t.overlap, (Duration::ZERO, MAX_OVERLAP)),
                (
                    "request_timeout",
                    t.request_timeout,
                    (Duration::from_millis(100), MAX_REQUEST_TIMEOUT),
                ),
            ] {
                check_duration(&at, name, value, bounds, &mut problems);
            }
            let limits = t.limits.resolve(
                &self.limits,
                t.request_timeout,
                &format!("{at}.limits"),
                &mut problems,
            );
            if let Some(access) = resolved {
                tenants.push(Tenant {
                    id: t.id,
                    base_url: access.base_url,
                    allowed_origin: access.origin,
                    credentials: access.credentials,
                    discover: access.discover,
                    log_types,
                    interval: t.interval,
                    lookback: t.lookback,
                    lag: t.lag,
                    overlap: t.overlap,
                    page_size: t.page_size,
                    request_timeout: t.request_timeout,
                    filters: t.filters,
                    limits,
                    component: t.component.map(|c| base_dir.join(c)),
                    schema: t.schema.unwrap_or(self.schema),
                    keep_original: t.keep_original.unwrap_or(self.keep_original),
                });
                if problems.len() == found_before {
                    sound.push((i, tenants.len() - 1));
                }
            }
        }
        let state_dir = base_dir.join(&self.state_dir);
        if let Some(problem) = state_dir_problem(&state_dir) {
            problems.push(problem);
        }
        let proxy = match self.proxy.map(|p| p.resolve(base_dir)) {
            None => None,
            Some(Ok(url)) => Some(url),
            Some(Err(e)) => {
                problems.push(format!("proxy: {e}"));
                Some(Secret::new("none"))
            }
        };
        let proxy = proxy_setting(proxy.as_ref(), self.no_proxy, &mut problems);
        let extra_roots = self
            .ca_file
            .map(|file| read_ca_file(&base_dir.join(file), &mut problems))
            .unwrap_or_default();
        let state = self.state.resolve(base_dir).unwrap_or_else(|problem| {
            problems.push(problem);
            StateSpec::Sqlite
        });
        let metrics = match (&self.metrics_listen, self.metrics_tenant_labels) {
            (None, None) => None,
            (None, Some(_)) => {
                problems.push(
                    "metrics_tenant_labels: only with metrics_listen; set metrics_listen = \
                     \"127.0.0.1:9464\" (or another address) to serve metrics"
                        .into(),
                );
                None
            }
            (Some(listen), labels) => match listen.parse::<std::net::SocketAddr>() {
                Ok(listen) => Some(MetricsSpec {
                    listen,
                    tenant_labels: labels.unwrap_or(true),
                }),
                Err(_) => {
                    problems.push(format!(
                        "metrics_listen: {listen:?} is not an IP address and port such as \
                         \"127.0.0.1:9464\" or \"[::]:9464\""
                    ));
                    None
                }
            },
        };
        let sinks = sinks::validate(
            self.sink,
            &SinkContext {
                base_dir,
                state_dir: &state_dir,
                extra_roots: &extra_roots,
            },
            &mut problems,
        );
        let sound = sound
            .into_iter()
            .map(|(i, at)| (i, tenants[at].clone()))
            .collect();
        let validated = if problems.is_empty() {
            Ok(ValidConfig {
                state_dir,
                sinks,
                tenants,
                max_concurrent_polls: self.max_concurrent_polls,
                proxy,
                extra_roots,
                metrics,
                state,
            })
        } else {
            Err(problems)
        };
        Validated {
            config: validated,
            sound,
        }
    }
}

/// Why `state_dir` cannot be used as one, if it cannot: it, or the nearest of its ancestors
/// that exists, is not a directory (`run` creates what is missing).
fn state_dir_problem(state_dir: &Path) -> Option<String> {
    let existing = state_dir
        .ancestors()
        .find(|a| !a.as_os_str().is_empty() && std::fs::symlink_metadata(a).is_ok())?;
    if existing.is_dir() {
        return None;
    }
    Some(if existing == state_dir {
        format!(
            "state_dir: {} is not a directory; name a directory (it is created if missing)",
            state_dir.display()
        )
    } else {
        format!(
            "state_dir: {} cannot be created: {} is not a directory",
            state_dir.display(),
            existing.display()
        )
    })
}

/// The certificates of `ca_file` at `path`, each one checked to be usable as a trust anchor.
fn read_ca_file(path: &Path, problems: &mut Vec<String>) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let bytes =
        match crate::config::small_file::read(path, crate::config::small_file::MAX_CA_FILE_BYTES) {
            Ok(bytes) => bytes,
            Err(e) => {
                problems.push(format!("ca_file: cannot read {shown}: {e}"));
                return Vec::new();
            }
        };
    let certs = match CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => certs,
        Ok(_) => {
            problems.push(format!(
                "ca_file: {shown} holds no certificate; it must hold PEM blocks \
                 (-----BEGIN CERTIFICATE----- …)"
            ));
            return Vec::new();
        }
        Err(e) => {
            problems.push(format!("ca_file: {shown} is not valid PEM: {e}"));
            return Vec::new();
        }
    };
    let mut store = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        if let Err(e) = store.add(cert.clone()) {
            problems.push(format!(
                "ca_file: certificate {} of {shown} cannot be trusted as a CA: {e}",
                i + 1
            ));
        }
    }
    certs
}

/// The validated `proxy` and `no_proxy` keys.
fn proxy_setting(
    proxy: Option<&Secret>,
    no_proxy: Vec<String>,
    problems: &mut Vec<String>,
) -> ProxySetting {
    let setting = match proxy.map(|p| p.expose().trim()) {
        None => ProxySetting::Environment,
        Some("none") => ProxySetting::Direct,
        Some(url) => {
            if let Err(e) = check_proxy_url(url) {
                problems.push(format!("proxy: {e}"));
            }
            if let Some(bad) = no_proxy
                .iter()
                .find(|h| h.trim().is_empty() || h.trim().contains([',', ' ']))
            {
                problems.push(format!(
                    "no_proxy: {bad:?} is not a host, .domain, IP address or CIDR range; list \
                     one per entry, e.g. no_proxy = [\"internal.example.com\", \".corp\"]"
                ));
            }
            return ProxySetting::Url {
                url: url.to_string(),
                no_proxy: no_proxy
                    .iter()
                    .map(|h| h.trim())
                    .collect::<Vec<_>>()
                    .join(","),
            };
        }
    };
    if !no_proxy.is_empty() {
        problems.push(
            "no_proxy is only used with proxy = \"http://host:port\"; without it, set NO_PROXY \
             in the environment (or remove no_proxy)"
                .to_string(),
        );
    }
    setting
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
state_dir = "st"
[sink]
type = "file"
path = "events.ndjson"

[[tenant]]
id = "acme"
base_url = "https://eu-api.mimecast.com"
app_id = "app"
app_key = "key"
access_key = "access"
secret_key = "c2VjcmV0"
log_types = ["url", "attachment"]
interval = "2m"
[tenant.filters.url]
scan_result = "malicious"
"#;

    fn parse(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_state_dir_that_is_a_file_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("st"), "not a directory").unwrap();
        let problems = parse(GOOD).validate(dir.path()).err().unwrap();
        assert_eq!(
            problems,
            [format!(
                "state_dir: {} is not a directory; name a directory (it is created if missing)",
                dir.path().join("st").display()
            )]
        );
        let below = GOOD.replace("state_dir = \"st\"", "state_dir = \"st/inner\"");
        let problems = parse(&below).validate(dir.path()).err().unwrap();
        assert!(
            problems[0].ends_with(&format!(
                "{} is not a directory",
                dir.path().join("st").display()
            )),
            "{problems:?}"
        );
        // Missing directories are fine: run creates them.
        let missing = GOOD.replace("state_dir = \"st\"", "state_dir = \"a/b/c\"");
        assert!(parse(&missing).validate(dir.path()).is_ok());
    }

    #[test]
    fn the_schema_is_raw_unless_the_top_level_or_the_tenant_says_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = |c: ValidConfig| (c.tenants[0].schema, c.tenants[0].keep_original);
        let c = parse(GOOD).validate(dir.path()).unwrap();
        assert_eq!(tenant(c), (Shape::Raw, false));
        let top = format!("schema = \"ecs\"\nkeep_original = true\n{GOOD}");
        let c = parse(&top).validate(dir.path()).unwrap();
        assert_eq!(tenant(c), (Shape::Ecs, true));
        let own = format!("{top}schema = \"ocsf\"\nkeep_original = false\n")
            .replace("[tenant.filters.url]\nscan_result = \"malicious\"\n", "");
        let c = parse(&own).validate(dir.path()).unwrap();
        assert_eq!(tenant(c), (Shape::Ocsf, false));
        let err = toml::from_str::<FileConfig>(&format!("schema = \"elastic\"\n{GOOD}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`raw`, `ecs`"), "{err}");
    }

    #[test]
    fn parses_and_applies_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let c = parse(GOOD).validate(dir.path()).unwrap();
        let t = &c.tenants[0];
        assert_eq!(t.interval, Duration::from_secs(120));
        assert_eq!(t.lookback, Duration::from_secs(86400));
        assert_eq!(t.overlap, Duration::from_secs(300));
        assert_eq!(t.page_size, 100);
        assert_eq!(t.log_types, [LogType::Url, LogType::Attachment]);
        assert_eq!(t.filters.url.scan_result.as_deref(), Some("malicious"));
        assert_eq!(c.state_dir, dir.path().join("st"));
        assert_eq!(c.sinks.len(), 1);
        assert!(
            matches!(&c.sinks[0].kind, crate::config::sinks::SinkKind::File { path } if *path == dir.path().join("events.ndjson"))
        );
        assert_eq!(
            t.allowed_origin,
            Origin {
                scheme: "https".into(),
                host: "eu-api.mimecast.com".into(),
                port: 443
            }
        );
        assert_eq!(c.proxy, ProxySetting::Environment);
        assert_eq!(t.lag, Duration::from_secs(60));
        assert_eq!(t.request_timeout, Duration::from_secs(30));
        // Without `interval` (and the other keys left out): the documented defaults.
        let c = parse(&GOOD.replace("interval = \"2m\"\n", ""))
            .validate(dir.path())
            .unwrap();
        assert_eq!(c.tenants[0].interval, Duration::from_secs(60));
        assert_eq!(c.max_concurrent_polls, 16);
    }

    #[test]
    fn ca_file_certificates_are_read_or_the_problem_named() {
        let dir = tempfile::tempdir().unwrap();
        let made = mimecast_mock::self_signed_tls(&["proxy.corp"]).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &made.pem).unwrap();
        std::fs::write(dir.path().join("empty.pem"), "no certificates here\n").unwrap();
        let with = |keys: &str| parse(&format!("{keys}\n{GOOD}")).validate(dir.path());
        let c = with("ca_file = \"ca.pem\"").unwrap();
        assert_eq!(c.extra_roots, vec![made.certificate.clone()]);
        assert!(with("").unwrap().extra_roots.is_empty());
        let problems = with("ca_file = \"empty.pem\"").unwrap_err();
        assert!(problems[0].contains("holds no certificate"), "{problems:?}");
        let problems = with("ca_file = \"missing.pem\"").unwrap_err();
        assert!(
            problems[0].starts_with("ca_file: cannot read") && problems[0].contains("missing.pem"),
            "{problems:?}"
        );
    }

    #[test]
    fn proxy_keys_choose_the_route_or_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let with = |keys: &str| parse(&format!("{keys}\n{GOOD}")).validate(dir.path());
        let c = with("proxy = \"none\"").unwrap();
        assert_eq!(c.proxy, ProxySetting::Direct);
        let c = with("proxy = \"http://proxy.corp:3128\"\nno_proxy = [\".corp\", \"10.0.0.0/8\"]")
            .unwrap();
        assert_eq!(
            c.proxy,
            ProxySetting::Url {
                url: "http://proxy.corp:3128".into(),
                no_proxy: ".corp,10.0.0.0/8".into()
            }
        );
        let problems =
            with("proxy = \"https://u:hunter2@proxy.corp\"\nno_proxy = [\"a.corp, b.corp\"]")
                .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("proxy: ") && problems[0].contains("only http://"));
        assert!(problems[1].starts_with("no_proxy: "), "{problems:?}");
        assert!(!problems.concat().contains("hunter2"), "{problems:?}");
        let problems = with("no_proxy = [\".corp\"]").unwrap_err();
        assert!(problems[0].contains("only used with proxy"), "{problems:?}");
        // Like a credential, from a file (or the environment), never repeated in messages.
        std::fs::write(
            dir.path().join("proxy.txt"),
            "http://u:hunter2@proxy.corp:3128\n",
        )
        .unwrap();
        let c = with("proxy = { file = \"proxy.txt\" }").unwrap();
        assert_eq!(
            c.proxy,
            ProxySetting::Url {
                url: "http://u:hunter2@proxy.corp:3128".into(),
                no_proxy: String::new()
            }
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        let problems = with("proxy = { file = \"missing.txt\" }").unwrap_err();
        assert!(problems[0].starts_with("proxy: "), "{problems:?}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = toml::from_str::<FileConfig>(&GOOD.replace("interval", "intervall")).unwrap_err();
        assert!(err.to_string().contains("intervall"), "{err}");
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let text = r#"
[[tenant]]
id = "a b"
base_url = "http://eu-api.mimecast.com"
app_id = { env = "MCSOURCE_TEST_DEFINITELY_UNSET" }
app_key = ""
access_key = { file = "/nonexistent/access" }
secret_key = "x"
log_types = ["url", "url", "clicks"]
interval = "0s"

[[tenant]]
id = "b"
base_url = "https://eu-api.mimecast.com/api/ttp"
app_id = "a"
app_key = "b"
access_key = "c"
secret_key = "d"
"#;
        let problems = parse(text).validate(Path::new("/tmp")).unwrap_err();
        let all = problems.join("\n");
        for needle in [
            "tenant[0].id",
            "tenant[0].base_url",
            "only for loopback",
            "MCSOURCE_TEST_DEFINITELY_UNSET",
            "tenant[0].app_key",
            "/nonexistent/access",
            "listed twice",
            "\"clicks\"",
            "tenant[0].interval",
            "tenant[1].base_url",
        ] {
            assert!(all.contains(needle), "{needle} missing from:\n{all}");
        }
        assert_eq!(problems.len(), 9, "{all}");
    }

    #[test]
    fn duplicate_ids_and_no_tenants() {
        let two = format!("{GOOD}\n{}", &GOOD[GOOD.find("[[tenant]]").unwrap()..]);
        let problems = parse(&two).validate(Path::new("/tmp")).unwrap_err();
        assert!(problems
            .iter()
            .any(|p| p.contains("used by another tenant")));
        let problems = parse("").validate(Path::new("/tmp")).unwrap_err();
        assert!(problems[0].contains("no [[tenant]]"));
    }

    fn one_tenant(body: &str) -> Result<ValidConfig, Vec<String>> {
        parse(&format!("[[tenant]]\nid = \"t\"\n{body}")).validate(Path::new("/tmp"))
    }

    #[test]
    fn api2_is_inferred_and_defaults_to_the_global_gateway() {
        let c = one_tenant("client_id = \"cid\"\nclient_secret = \"TOPSECRET2\"").unwrap();
        let t = &c.tenants[0];
        assert_eq!(t.base_url, DEFAULT_API2_GATEWAY);
        assert_eq!(t.allowed_origin.host, "api.services.mimecast.com");
        assert!(matches!(t.credentials, Credentials::Api2 { .. }));
        assert!(!format!("{c:?}").contains("TOPSECRET2"));
        let c = one_tenant(
            "api = \"2.0\"\nbase_url = \"https://uk-api.services.mimecast.com\"\nclient_id = \"a\"\nclient_secret = \"b\"",
        )
        .unwrap();
        assert_eq!(
            c.tenants[0].base_url,
            "https://uk-api.services.mimecast.com"
        );
    }

    #[test]
    fn credentials_both_neither_or_incomplete_are_explained() {
        let v1 = "app_id = \"a\"\napp_key = \"b\"\naccess_key = \"c\"\nsecret_key = \"d\"\nbase_url = \"https://eu-api.mimecast.com\"";
        let v2 = "client_id = \"a\"\nclient_secret = \"b\"";
        let err = one_tenant(&format!("{v1}\n{v2}")).unwrap_err().join("\n");
        assert!(err.contains("both API 1.0 keys and API 2.0"), "{err}");
        let err = one_tenant("").unwrap_err().join("\n");
        assert!(err.contains("no credentials"), "{err}");
        let err = one_tenant("app_id = \"a\"\nsecret_key = \"d\"")
            .unwrap_err()
            .join("\n");
        assert!(err.contains("missing app_key, access_key"), "{err}");
        let err = one_tenant("client_id = \"a\"").unwrap_err().join("\n");
        assert!(err.contains("missing client_secret"), "{err}");
        let err = one_tenant(&format!("api = \"2.0\"\n{v1}\nclient_id = \"x\""))
            .unwrap_err()
            .join("\n");
        assert!(err.contains("tenant[0].client_secret is missing"), "{err}");
        assert!(
            err.contains("tenant[0].app_id is an API 1.0 setting"),
            "{err}"
        );
        let err = one_tenant("api = \"3\"").unwrap_err().join("\n");
        assert!(err.contains("tenant[0].api"), "{err}");
        let err =
            one_tenant("app_id = \"a\"\napp_key = \"b\"\naccess_key = \"c\"\nsecret_key = \"d\"")
                .unwrap_err()
                .join("\n");
        assert!(err.contains("tenant[0].base_url is missing"), "{err}");
    }

    #[test]
    fn discover_base_url_needs_an_email_and_allows_the_discovery_host() {
        let v1 = "app_id = \"a\"\napp_key = \"b\"\naccess_key = \"c\"\nsecret_key = \"d\"";
        let c = one_tenant(&format!(
            "{v1}\nbase_url = \"discover\"\ndiscover_email = \"svc@example.com\""
        ))
        .unwrap();
        let t = &c.tenants[0];
        assert_eq!(t.allowed_origin.host, "api.mimecast.com");
        assert_eq!(t.discover.as_ref().unwrap().email, "svc@example.com");
        let mut t = t.clone();
        t.set_discovered("https://eu-api.mimecast.com/").unwrap();
        assert_eq!(t.base_url, "https://eu-api.mimecast.com");
        assert_eq!(t.allowed_origin.host, "eu-api.mimecast.com");
        assert!(t.discover.is_none());
        let err = one_tenant(&format!("{v1}\nbase_url = \"discover\""))
            .unwrap_err()
            .join("\n");
        assert!(err.contains("discover_email is missing"), "{err}");
    }

    #[test]
    fn plain_http_only_for_loopback() {
        assert!(parse_origin("http://127.0.0.1:8080").is_ok());
        assert!(parse_origin("http://localhost:1").is_ok());
        assert!(parse_origin("http://[::1]:1").is_ok());
        assert!(parse_origin("http://10.0.0.1").is_err());
        assert!(parse_origin("ftp://eu-api.mimecast.com").is_err());
        assert!(parse_origin("https://user:pw@eu-api.mimecast.com").is_err());
        assert_eq!(
            parse_origin("https://EU-API.mimecast.com/").unwrap().host,
            "eu-api.mimecast.com"
        );
    }

    #[test]
    fn an_ip_address_or_name_in_another_form_is_refused_with_the_form_to_write() {
        for (url, fix) in [
            (
                "http://2130706433:8080",
                "write it as http://127.0.0.1:8080",
            ),
            ("http://0x7f.1:8080", "write it as http://127.0.0.1:8080"),
            ("http://127.1", "write it as http://127.0.0.1"),
            ("http://[0:0::1]:9", "write it as http://[::1]:9"),
            (
                "https://bücher.example",
                "write it as https://xn--bcher-kva.example",
            ),
        ] {
            let e = parse_origin(url).unwrap_err().to_string();
            assert!(e.contains(fix), "{url}: {e}");
        }
        // A form the component sends as written is accepted.
        for url in [
            "http://127.0.0.1:8080",
            "http://[::1]:9",
            "https://EU-API.mimecast.com",
            "https://eu-api.mimecast.com:443/",
        ] {
            assert!(parse_origin(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn toml_errors_give_line_and_column_but_no_source_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        for (text, needle) in [
            (
                "[[tenant]]\nid = \"t\"\nclientsecret = \"s3cr3t\"\n",
                "clientsecret",
            ),
            (
                "[[tenant]]\nid = \"t\"\nclient_secret = s3cr3t\n",
                "line 3, column 17",
            ),
            (
                "[[tenant]]\nid = \"t\"\nclient_secret = [\"s3cr3t\"]\n",
                "line 3",
            ),
            (
                "[[tenant]]\nid = \"t\"\npage_size = \"s3cr3t\"\n",
                "string (value hidden)",
            ),
            ("[[tenant]]\nid = \"t\"\napp_id = 1234567\n", "line 3"),
            (
                "[[tenant]]\nid = \"t\"\ninterval = \"90\"\n",
                "expected a duration such as \"90s\"",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = FileConfig::load(&path).unwrap_err().to_string();
            assert!(!err.contains("s3cr3t") && !err.contains("1234567"), "{err}");
            assert!(err.contains(needle), "{needle} not in {err}");
            assert!(err.contains("line 3, column"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
        assert_eq!(line_column("ab\ncé\nd", 6), (2, 3));
    }

    #[test]
    fn urls_with_credentials_are_refused_without_showing_them() {
        for url in [
            "https://alice:hunter2@eu-api.mimecast.com",
            "https://alice:hunter2@eu-api.mimecast.com/path",
            "http://alice:hunter2@10.0.0.1",
            "alice:hunter2@eu-api.mimecast.com",
            "https://alice:hunter2@exa mple.com",
        ] {
            let err = parse_origin(url).unwrap_err().to_string();
            assert!(!err.contains("alice") && !err.contains("hunter2"), "{err}");
        }
        let err = parse_origin("https://alice:hunter2@eu-api.mimecast.com")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"https://***@eu-api.mimecast.com\" must not contain credentials"),
            "{err}"
        );
        let err = one_tenant("client_id = \"a\"\nclient_secret = \"b\"\nbase_url = \"https://u:hunter2@api.services.mimecast.com\"")
            .unwrap_err()
            .join("\n");
        assert!(
            err.contains("tenant[0].base_url") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn huge_durations_are_refused_with_the_key_and_the_bound() {
        let creds = "client_id = \"a\"\nclient_secret = \"b\"";
        let max = "\"18446744073709551615s\"";
        let text = format!(
            "{creds}\ninterval = {max}\nlookback = {max}\nlag = {max}\noverlap = {max}\n\
             request_timeout = {max}\n[tenant.limits]\npoll_timeout = {max}"
        );
        let err = one_tenant(&text).unwrap_err().join("\n");
        for needle in [
            "tenant[0].interval: 18446744073709551615s is too long; use at most 1d",
            "use at most 365d",
            "tenant[0].lookback",
            "tenant[0].lag",
            "tenant[0].overlap",
            "tenant[0].request_timeout",
            "use at most 10m",
            "tenant[0].limits.poll_timeout",
            "use at most 1h",
        ] {
            assert!(err.contains(needle), "{needle} missing from:\n{err}");
        }
        let ok = format!(
            "{creds}\ninterval = \"24h\"\nlag = \"6h\"\noverlap = \"6h\"\n\
             request_timeout = \"10m\"\n[tenant.limits]\npoll_timeout = \"1h\""
        );
        assert!(one_tenant(&ok).is_ok());
    }

    #[test]
    fn secret_files_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("client_secret.txt"), "from-file\n").unwrap();
        let text = "[[tenant]]\nid = \"t\"\nclient_id = \"a\"\n\
                    client_secret = { file = \"client_secret.txt\" }";
        let c = parse(text).validate(dir.path()).unwrap();
        let Credentials::Api2 { client_secret, .. } = &c.tenants[0].credentials else {
            panic!("not API 2.0");
        };
        assert_eq!(client_secret.expose(), "from-file");
    }

    #[test]
    fn the_packaged_config_collects_nothing_until_edited() {
        let packaged = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/mcsource.toml");
        let err = FileConfig::load(&packaged).unwrap_err();
        assert!(
            matches!(err, ConfigFileError::NotConfiguredYet { .. }),
            "{err}"
        );
        let err = err.to_string();
        assert!(
            err.starts_with(&format!("{} is not configured yet: ", packaged.display())),
            "{err}"
        );
        assert!(
            err.contains("[[tenant]]") && err.contains("[sink]"),
            "{err}"
        );
        assert!(
            err.ends_with("then delete the line `not_configured_yet = true`"),
            "{err}"
        );

        // Edited as its comments say (the line deleted, the credentials passed by systemd),
        // it is a working configuration for the unit's directories.
        let text = std::fs::read_to_string(&packaged).unwrap();
        let marker = "\nnot_configured_yet = true\n";
        assert_eq!(text.matches(marker).count(), 1, "one marker line");
        let dir = tempfile::tempdir().unwrap();
        let edited = dir.path().join("mcsource.toml");
        std::fs::write(&edited, text.replace(marker, "\n")).unwrap();
        let credentials = dir.path().join("credentials");
        std::fs::create_dir(&credentials).unwrap();
        std::fs::write(credentials.join("mimecast-client-id"), "the-id\n").unwrap();
        std::fs::write(credentials.join("mimecast-client-secret"), "the-secret").unwrap();
        // The only test that sets CREDENTIALS_DIRECTORY (the others give the directory).
        std::env::set_var(secret::CREDENTIALS_DIRECTORY, &credentials);
        let file = FileConfig::load(&edited).unwrap();
        let problems = file.validate(dir.path()).err().unwrap_or_default();
        // The file sink's directory is the unit's LogsDirectory=, made by systemd at start.
        let log_dir_missing = !Path::new("/var/log/mcsource").is_dir();
        let expected: &[&str] = if log_dir_missing {
            &["sink.path: directory /var/log/mcsource does not exist; create it first"]
        } else {
            &[]
        };
        assert_eq!(problems, expected);
        let mut text = text.replace(marker, "\n");
        text = text.replace("/var/log/mcsource/events.ndjson", "events.ndjson");
        let c = parse(&text).validate(dir.path()).unwrap();
        assert_eq!(c.state_dir, Path::new("/var/lib/mcsource"));
        let Credentials::Api2 {
            client_id,
            client_secret,
        } = &c.tenants[0].credentials
        else {
            panic!("not API 2.0");
        };
        assert_eq!(
            (client_id.expose(), client_secret.expose()),
            ("the-id", "the-secret")
        );
        std::env::remove_var(secret::CREDENTIALS_DIRECTORY);
    }

    #[test]
    fn bundled_examples_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                FileConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
        assert!(seen >= 2);
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let c = parse(&GOOD.replace("c2VjcmV0", "TOPSECRETVALUE"))
            .validate(dir.path())
            .unwrap();
        assert!(!format!("{c:?}").contains("TOPSECRETVALUE"));
    }
}
