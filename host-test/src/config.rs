//! The collector's TOML configuration: parsing, defaults, and validation that reports every
//! problem at once, each with its path (e.g. `tenant[1].base_url`). Mimecast-specific checks
//! (filter values, page size, key encoding) are the component's: `check` runs both.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::{Secret, SecretSource};

/// The three log types, as written in `log_types`.
pub const LOG_TYPES: [&str; 3] = ["url", "impersonation", "attachment"];

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Directory for checkpoints; created if missing. Relative paths are relative to the
    /// config file.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Where events go.
    #[serde(default)]
    pub sink: SinkConfig,
    /// The tenants to collect from.
    #[serde(default)]
    pub tenant: Vec<TenantConfig>,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("state")
}

/// Where events go.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// NDJSON on standard output.
    #[default]
    Stdout,
    /// NDJSON appended to a file (relative paths are relative to the config file).
    File {
        /// File path.
        path: PathBuf,
    },
}

/// One Mimecast tenant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Unique name; used in events, logs and state file names (letters, digits, `.`, `_`, `-`).
    pub id: String,
    /// Regional API base URL, e.g. `https://eu-api.mimecast.com`. Plain `http://` only for
    /// loopback hosts (tests, the demo).
    pub base_url: String,
    /// API 1.0 Application ID.
    pub app_id: SecretSource,
    /// API 1.0 Application Key.
    pub app_key: SecretSource,
    /// Access Key of the service user's binding.
    pub access_key: SecretSource,
    /// Secret Key of that binding.
    pub secret_key: SecretSource,
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
}

fn default_log_types() -> Vec<String> {
    LOG_TYPES.iter().map(|s| s.to_string()).collect()
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
#[derive(Debug, Clone, Default, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlFilter {
    /// `inbound`, `outbound`, `internal` or `all`.
    pub route: Option<String>,
    /// `clean`, `malicious` or `all`.
    pub scan_result: Option<String>,
}

/// Impersonation Protect filters.
#[derive(Debug, Clone, Default, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// Event sink.
    pub sink: SinkConfig,
    /// Tenants.
    pub tenants: Vec<Tenant>,
}

/// One validated tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Unique id.
    pub id: String,
    /// Base URL without trailing slash.
    pub base_url: String,
    /// The only host this tenant's component may call: `(scheme, host, port)`.
    pub allowed_origin: Origin,
    /// Credentials.
    pub keys: Keys,
    /// Log types to collect, in order, as `url`/`impersonation`/`attachment`.
    pub log_types: Vec<String>,
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
}

/// Resolved API 1.0 credentials.
#[derive(Debug, Clone)]
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

/// Parses `base_url` into the origin the sandbox allows; plain HTTP only for loopback.
pub fn parse_origin(base_url: &str) -> Result<Origin, String> {
    let url = url::Url::parse(base_url.trim()).map_err(|e| {
        format!("{base_url:?} is not a URL ({e}); use e.g. https://eu-api.mimecast.com")
    })?;
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(format!("{base_url:?} has no host")),
    };
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{base_url:?} must be a scheme and host only, without a path"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{base_url:?} must not contain credentials"));
    }
    let scheme = url.scheme().to_string();
    match scheme.as_str() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => {
            return Err(format!(
            "{base_url:?} uses plain http, which is allowed only for loopback hosts; use https://"
        ))
        }
        other => return Err(format!("{base_url:?} has scheme {other}; use https://")),
    }
    let port = url.port_or_known_default().unwrap_or(443);
    Ok(Origin { scheme, host, port })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_duration(at: &str, name: &str, d: Duration, min: Duration, out: &mut Vec<String>) {
    if d < min {
        out.push(format!(
            "{at}.{name}: {} is too short; use at least {}",
            humantime::format_duration(d),
            humantime::format_duration(min)
        ));
    }
}

impl FileConfig {
    /// Reads and parses a config file.
    ///
    /// # Errors
    /// Unreadable file or TOML that does not fit the schema (the message names the key).
    pub fn load(path: &Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Checks everything the host can check and resolves secrets; `base_dir` anchors relative
    /// paths (the config file's directory).
    ///
    /// # Errors
    /// Every problem found, each with its path.
    pub fn validate(self, base_dir: &Path) -> Result<ValidConfig, Vec<String>> {
        let mut problems = Vec::new();
        if self.tenant.is_empty() {
            problems.push("no [[tenant]] entries; add at least one (see examples/)".to_string());
        }
        let mut ids = HashSet::new();
        let mut tenants = Vec::new();
        for (i, t) in self.tenant.into_iter().enumerate() {
            let at = format!("tenant[{i}]");
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
            let origin = parse_origin(&t.base_url)
                .map_err(|e| problems.push(format!("{at}.base_url: {e}")))
                .ok();
            let mut resolve = |name: &str, src: &SecretSource| {
                src.resolve()
                    .map_err(|e| problems.push(format!("{at}.{name}: {e}")))
                    .ok()
            };
            let keys = (
                resolve("app_id", &t.app_id),
                resolve("app_key", &t.app_key),
                resolve("access_key", &t.access_key),
                resolve("secret_key", &t.secret_key),
            );
            if t.log_types.is_empty() {
                problems.push(format!(
                    "{at}.log_types is empty; list some of {LOG_TYPES:?}"
                ));
            }
            let mut seen_types = HashSet::new();
            for lt in &t.log_types {
                if !LOG_TYPES.contains(&lt.as_str()) {
                    problems.push(format!(
                        "{at}.log_types: {lt:?} is not one of {LOG_TYPES:?}"
                    ));
                } else if !seen_types.insert(lt) {
                    problems.push(format!("{at}.log_types: {lt:?} is listed twice"));
                }
            }
            check_duration(
                &at,
                "interval",
                t.interval,
                Duration::from_secs(1),
                &mut problems,
            );
            check_duration(
                &at,
                "lookback",
                t.lookback,
                Duration::from_secs(1),
                &mut problems,
            );
            check_duration(
                &at,
                "request_timeout",
                t.request_timeout,
                Duration::from_millis(100),
                &mut problems,
            );
            if let (
                Some(origin),
                (Some(app_id), Some(app_key), Some(access_key), Some(secret_key)),
            ) = (origin, keys)
            {
                tenants.push(Tenant {
                    id: t.id,
                    base_url: t.base_url.trim().trim_end_matches('/').to_string(),
                    allowed_origin: origin,
                    keys: Keys {
                        app_id,
                        app_key,
                        access_key,
                        secret_key,
                    },
                    log_types: t.log_types,
                    interval: t.interval,
                    lookback: t.lookback,
                    lag: t.lag,
                    overlap: t.overlap,
                    page_size: t.page_size,
                    request_timeout: t.request_timeout,
                    filters: t.filters,
                });
            }
        }
        let sink = match self.sink {
            SinkConfig::File { path } => {
                let path = base_dir.join(path);
                match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
                        problems.push(format!(
                            "sink.path: directory {} does not exist; create it first",
                            dir.display()
                        ))
                    }
                    _ => {}
                }
                SinkConfig::File { path }
            }
            SinkConfig::Stdout => SinkConfig::Stdout,
        };
        if problems.is_empty() {
            Ok(ValidConfig {
                state_dir: base_dir.join(self.state_dir),
                sink,
                tenants,
            })
        } else {
            Err(problems)
        }
    }
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
    fn parses_and_applies_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let c = parse(GOOD).validate(dir.path()).unwrap();
        let t = &c.tenants[0];
        assert_eq!(t.interval, Duration::from_secs(120));
        assert_eq!(t.lookback, Duration::from_secs(86400));
        assert_eq!(t.overlap, Duration::from_secs(300));
        assert_eq!(t.page_size, 100);
        assert_eq!(t.log_types, ["url", "attachment"]);
        assert_eq!(t.filters.url.scan_result.as_deref(), Some("malicious"));
        assert_eq!(c.state_dir, dir.path().join("st"));
        assert_eq!(
            c.sink,
            SinkConfig::File {
                path: dir.path().join("events.ndjson")
            }
        );
        assert_eq!(
            t.allowed_origin,
            Origin {
                scheme: "https".into(),
                host: "eu-api.mimecast.com".into(),
                port: 443
            }
        );
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
    fn debug_output_has_no_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let c = parse(&GOOD.replace("c2VjcmV0", "TOPSECRETVALUE"))
            .validate(dir.path())
            .unwrap();
        assert!(!format!("{c:?}").contains("TOPSECRETVALUE"));
    }
}
