//! Where outbound connections go: directly, through the configured HTTP proxy, or through the
//! one the environment names (`HTTPS_PROXY` and friends, read the way curl reads them), and the
//! words for what is wrong with a proxy setting or a failed tunnel. Credentials in a proxy URL
//! never appear in a message or a log line.

use std::error::Error as StdError;

use http::Uri;
use hyper_util::client::proxy::matcher::{Intercept, Matcher};

use super::connect::host_port;
use crate::error_chain::one_line as chain;

/// Where outbound connections go. `Debug` leaves out a proxy URL's credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum ProxySetting {
    /// As the environment says, read the way curl reads it: `HTTPS_PROXY` for `https://`
    /// hosts, `HTTP_PROXY` for `http://` ones, `ALL_PROXY` for both, `NO_PROXY` for hosts to
    /// reach directly (upper or lower case names). Loopback hosts are always reached directly.
    #[default]
    Environment,
    /// Every host directly, whatever the environment says.
    Direct,
    /// Every host through the HTTP proxy `url` (`http://[user:password@]host:port`), except
    /// the hosts that `no_proxy` matches (`NO_PROXY` syntax: comma-separated names, `.domain`
    /// suffixes, IP addresses or CIDR ranges).
    Url {
        /// The proxy.
        url: String,
        /// Hosts reached directly.
        no_proxy: String,
    },
}

impl std::fmt::Debug for ProxySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxySetting::Environment => f.write_str("Environment"),
            ProxySetting::Direct => f.write_str("Direct"),
            ProxySetting::Url { url, no_proxy } => f
                .debug_struct("Url")
                .field("url", &redact(url))
                .field("no_proxy", no_proxy)
                .finish(),
        }
    }
}

impl std::fmt::Display for ProxySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxySetting::Environment => {
                f.write_str("as the environment says (HTTPS_PROXY, NO_PROXY, …)")
            }
            ProxySetting::Direct => f.write_str("none (direct)"),
            ProxySetting::Url { url, no_proxy } if no_proxy.is_empty() => f.write_str(&redact(url)),
            ProxySetting::Url { url, no_proxy } => {
                write!(f, "{} (not for {no_proxy})", redact(url))
            }
        }
    }
}

/// Why a proxy URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadProxy(String);

/// Checks a proxy URL from the configuration: `http://[user:password@]host:port`.
///
/// # Errors
/// It does not parse, is not `http://`, or has no host or port. The message never repeats the
/// URL's credentials.
pub fn check_proxy_url(url: &str) -> Result<(), BadProxy> {
    if !url.contains("://") {
        return Err(BadProxy(format!(
            "{} has no scheme; write it as http://host:port",
            redact(url)
        )));
    }
    let parsed = url::Url::parse(url).map_err(|e| {
        BadProxy(format!(
            "{} is not a URL ({e}); write it as http://host:port",
            redact(url)
        ))
    })?;
    if parsed.scheme() != "http" {
        return Err(BadProxy(format!(
            "{}: only http:// proxies are supported (the tunnel to Mimecast is HTTP CONNECT; \
             TLS runs inside it end to end), not {}://",
            redact(url),
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(BadProxy(format!(
            "{} names no host; write it as http://host:port",
            redact(url)
        )));
    }
    if parsed.port().is_none() {
        return Err(BadProxy(format!(
            "{} names no port; add it, e.g. {}:3128",
            redact(url),
            redact(url).trim_end_matches('/')
        )));
    }
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
        return Err(BadProxy(format!(
            "{}: a proxy URL has no path or query; write it as http://host:port",
            redact(url)
        )));
    }
    if !matcher_accepts(url) {
        return Err(BadProxy(format!(
            "{} cannot be used as a proxy URL; percent-encode unusual characters in the user \
             name and password",
            redact(url)
        )));
    }
    Ok(())
}

/// `url` without any `user:password@` part, for messages and logs.
/// A proxy URL has no path, so everything up to the last `@` is credentials, even where a
/// password holds `/`, `?` or `#`.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{host}")
        }
        None => url.rsplit_once('@').map_or(url, |(_, h)| h).to_string(),
    }
}

/// `url` as the proxy matcher reads it: parsed and re-written by the `url` crate, so that
/// characters `http::Uri` refuses (in a password, say) are percent-encoded instead of making
/// the matcher drop the proxy without a word.
fn normalized(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| url.to_string(), |u| u.to_string())
}

/// A destination like Mimecast's, to ask a proxy matcher what it does with `https://` hosts.
const HTTPS_PROBE: &str = "https://api.services.mimecast.com/";

/// Whether `url` (normalized) is taken by the proxy matcher for an `https://` destination.
fn matcher_accepts(url: &str) -> bool {
    Matcher::builder()
        .all(normalized(url))
        .build()
        .intercept(&Uri::from_static(HTTPS_PROBE))
        .is_some()
}

/// Which proxy, if any, a request to a destination goes through.
pub(super) struct Route {
    matcher: Matcher,
    /// Loopback destinations never use the proxy (set for proxies from the environment:
    /// a proxy cannot reach this machine's loopback).
    loopback_direct: bool,
}

impl Route {
    pub(super) fn new(setting: &ProxySetting) -> Option<Route> {
        match setting {
            ProxySetting::Direct => None,
            ProxySetting::Environment => Some(Route {
                matcher: Matcher::from_env(),
                loopback_direct: true,
            }),
            ProxySetting::Url { url, no_proxy } => Some(Route {
                matcher: Matcher::builder()
                    .all(normalized(url))
                    .no(no_proxy.clone())
                    .build(),
                loopback_direct: false,
            }),
        }
    }

    /// The proxy for `dst`, or `None` to connect directly. A proxy from the environment
    /// that is not `http://` (say `socks5://` set for other software) is not used; the start
    /// of `mcsource` says so (see [`environment_proxy`]).
    pub(super) fn proxy_for(&self, dst: &Uri) -> Option<Intercept> {
        if self.loopback_direct && dst.host().is_some_and(is_loopback) {
            return None;
        }
        let proxy = self.matcher.intercept(dst)?;
        (!self.loopback_direct || proxy.uri().scheme_str() == Some("http")).then_some(proxy)
    }
}

/// What the environment's proxy variables mean for requests to `https://` hosts, for the log
/// at start: `Ok(None)` when they name no proxy, `Ok(Some(url))` for the proxy used (without
/// credentials), `Err(url)` for one that is ignored because it is not `http://`.
pub fn environment_proxy() -> Result<Option<String>, String> {
    match Matcher::from_env().intercept(&Uri::from_static(HTTPS_PROBE)) {
        None => Ok(None),
        Some(p) if p.uri().scheme_str() == Some("http") => Ok(Some(redact(&p.uri().to_string()))),
        Some(p) => Err(redact(&p.uri().to_string())),
    }
}

/// The environment's proxy variables that matter for `https://` destinations, in the order
/// they are read (for each, the upper-case name wins over the lower-case one, as in curl):
/// `HTTPS_PROXY`, then `ALL_PROXY`.
const ENVIRONMENT_PROXY_VARIABLES: [[&str; 2]; 2] =
    [["HTTPS_PROXY", "https_proxy"], ["ALL_PROXY", "all_proxy"]];

/// What is wrong with each proxy variable of the environment (as `var` reads them) that is set
/// but cannot be used, one line each: the variable's name and the value's problem, the value
/// shown without credentials. Such a variable is silently skipped by the proxy matcher (the
/// next one, or no proxy, is used), so the start of `mcsource` warns about it.
pub fn environment_proxy_problems(var: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for names in ENVIRONMENT_PROXY_VARIABLES {
        let Some((name, value)) = names.iter().find_map(|n| var(n).map(|v| (*n, v))) else {
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        let used = Matcher::builder()
            .https(value.clone())
            .build()
            .intercept(&Uri::from_static(HTTPS_PROBE))
            .is_some();
        if used {
            continue;
        }
        let why = match value.parse::<Uri>() {
            Err(_) => "is not a valid URL (write it as http://host:port, and percent-encode \
                       unusual characters in a user name or password)"
                .to_string(),
            Ok(uri)
                if uri.scheme_str().is_some_and(|s| {
                    !matches!(
                        s,
                        "http" | "https" | "socks4" | "socks4a" | "socks5" | "socks5h"
                    )
                }) =>
            {
                format!(
                    "has the scheme {}://, which is no proxy scheme (use http://host:port)",
                    uri.scheme_str().unwrap_or("")
                )
            }
            Ok(_) => "names no host (write it as http://host:port)".to_string(),
        };
        problems.push(format!("{name}={} {why}; it is ignored", redact(&value)));
    }
    problems
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A failure on the way through the proxy, naming it (without credentials).
#[derive(Debug, thiserror::Error)]
#[error("through the proxy {proxy}: {what}")]
pub(super) struct ProxyFailed {
    proxy: String,
    what: String,
}

impl ProxyFailed {
    /// Puts hyper-util's tunnel error (whose type is not public: it is told apart by its text)
    /// into words that say what to fix.
    pub(super) fn new(proxy: &Uri, dst: &Uri, e: &(dyn StdError + 'static)) -> ProxyFailed {
        let target = host_port(dst);
        let text = e.to_string();
        let what = if text.contains("proxy authorization required") {
            "the proxy asks for credentials (407 Proxy Authentication Required); give them in \
             the proxy URL, http://user:password@host:port"
                .to_string()
        } else if text.ends_with("unsuccessful") {
            format!(
                "the proxy refused to open a tunnel (CONNECT) to {target}; allow that host and \
                 port on the proxy"
            )
        } else if text.contains("failed to create underlying connection") {
            let cause = e.source().map_or_else(|| text.clone(), chain);
            format!("cannot connect to the proxy: {cause}")
        } else {
            format!("the tunnel to {target} failed: {}", chain(e))
        };
        ProxyFailed {
            proxy: redact(&proxy.to_string()).trim_end_matches('/').to_string(),
            what,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn an_unusable_proxy_variable_is_named_without_its_password() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_string())
            }
        };
        let problems = environment_proxy_problems(env(&[(
            "HTTPS_PROXY",
            "http://collector:s3cret@proxy corp:3128",
        )]));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("HTTPS_PROXY=http://proxy corp:3128 is not a valid URL"),
            "{problems:?}"
        );
        assert!(!problems[0].contains("s3cret"), "{problems:?}");
        let problems = environment_proxy_problems(env(&[("all_proxy", "ftp://proxy:21")]));
        assert!(
            problems.len() == 1
                && problems[0].starts_with("all_proxy=")
                && problems[0].contains("ftp://"),
            "{problems:?}"
        );
        // Usable, unset or empty values are no problem.
        assert!(environment_proxy_problems(env(&[
            ("HTTPS_PROXY", "http://u:p@proxy.corp:3128"),
            ("ALL_PROXY", "proxy.corp:3128"),
            ("https_proxy", "garbage that is shadowed by HTTPS_PROXY"),
        ]))
        .is_empty());
        assert!(environment_proxy_problems(env(&[("HTTPS_PROXY", "")])).is_empty());
        assert!(environment_proxy_problems(env(&[])).is_empty());
    }

    #[test]
    fn a_configured_proxy_takes_every_host_but_the_no_proxy_ones() {
        let route = Route::new(&ProxySetting::Url {
            url: "http://proxy.corp:3128".into(),
            no_proxy: "internal.corp, .lan".into(),
        })
        .unwrap();
        let via = route
            .proxy_for(&uri("https://eu-api.mimecast.com/api/ttp/url/get-logs"))
            .unwrap();
        assert_eq!(via.uri(), &uri("http://proxy.corp:3128"));
        assert!(route.proxy_for(&uri("http://127.0.0.1:8080/x")).is_some());
        assert!(route.proxy_for(&uri("https://internal.corp/x")).is_none());
        assert!(route.proxy_for(&uri("https://mc.office.lan/x")).is_none());
    }

    #[test]
    fn direct_means_no_route_at_all() {
        assert!(Route::new(&ProxySetting::Direct).is_none());
    }

    #[test]
    fn environment_proxies_never_take_loopback_hosts() {
        let route = Route {
            matcher: Matcher::builder().all("http://proxy.corp:3128").build(),
            loopback_direct: true,
        };
        for local in [
            "http://127.0.0.1:9000/a",
            "http://localhost:9000/a",
            "http://[::1]:9000/a",
        ] {
            assert!(route.proxy_for(&uri(local)).is_none(), "{local}");
        }
        assert!(route
            .proxy_for(&uri("https://api.services.mimecast.com/oauth/token"))
            .is_some());
    }

    #[test]
    fn proxy_credentials_travel_as_basic_auth_and_never_in_text() {
        let route = Route::new(&ProxySetting::Url {
            url: "http://collector:s3cret@proxy.corp:3128".into(),
            no_proxy: String::new(),
        })
        .unwrap();
        let via = route
            .proxy_for(&uri("https://eu-api.mimecast.com/"))
            .unwrap();
        assert!(via.basic_auth().is_some());
        let dst = uri("https://eu-api.mimecast.com/");
        let failed = ProxyFailed::new(
            via.uri(),
            &dst,
            &std::io::Error::other("tunnel error: proxy authorization required"),
        );
        let text = failed.to_string();
        assert!(
            !text.contains("s3cret") && text.contains("proxy.corp:3128"),
            "{text}"
        );
        assert!(text.contains("407"), "{text}");
        let refused = ProxyFailed::new(
            via.uri(),
            &dst,
            &std::io::Error::other("tunnel error: unsuccessful"),
        );
        assert!(
            refused.to_string().contains("eu-api.mimecast.com:443"),
            "{refused}"
        );
    }

    #[test]
    fn debug_and_display_leave_out_proxy_credentials() {
        let s = ProxySetting::Url {
            url: "http://u:hunter2@proxy:3128".into(),
            no_proxy: ".corp".into(),
        };
        for text in [format!("{s:?}"), s.to_string()] {
            assert!(
                !text.contains("hunter2") && text.contains("proxy:3128"),
                "{text}"
            );
        }
    }

    #[test]
    fn redact_drops_user_and_password_only() {
        assert_eq!(
            redact("http://u:p@proxy:3128/"),
            "http://proxy:3128/".to_string()
        );
        assert_eq!(redact("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(redact("u:p@proxy:3128"), "proxy:3128");
        assert_eq!(redact("http://a@b:c@proxy:1"), "http://proxy:1");
        assert_eq!(redact("http://u:pa/ss@proxy:3128"), "http://proxy:3128");
        assert_eq!(redact("http://u:p?a#s@proxy:3128/"), "http://proxy:3128/");
    }

    #[test]
    fn passwords_with_unusual_characters_still_reach_the_matcher() {
        for url in [
            "http://u:p{ss@proxy:3128",
            "http://u:p ss@proxy:3128",
            "http://ü:pass@proxy:3128",
        ] {
            assert!(check_proxy_url(url).is_ok(), "{url}");
            let route = Route::new(&ProxySetting::Url {
                url: url.into(),
                no_proxy: String::new(),
            })
            .unwrap();
            let via = route
                .proxy_for(&uri("https://eu-api.mimecast.com/"))
                .unwrap();
            assert!(via.basic_auth().is_some(), "{url}");
        }
    }

    #[test]
    fn environment_proxies_that_are_not_http_are_not_used() {
        let route = Route {
            matcher: Matcher::builder().all("socks5://proxy.corp:1080").build(),
            loopback_direct: true,
        };
        assert!(route
            .proxy_for(&uri("https://eu-api.mimecast.com/"))
            .is_none());
    }

    #[test]
    fn proxy_urls_are_checked_with_the_fix_in_the_message() {
        assert!(check_proxy_url("http://proxy.corp:3128").is_ok());
        assert!(check_proxy_url("http://user:pw@10.0.0.1:8080/").is_ok());
        let cases = [
            ("proxy.corp:3128", "http://"),
            ("https://proxy.corp:3128", "only http://"),
            ("socks5://proxy.corp:1080", "only http://"),
            ("http://proxy.corp", "no port"),
            ("http://proxy.corp:3128/path", "no path"),
        ];
        for (url, expected) in cases {
            let e = check_proxy_url(url).unwrap_err().to_string();
            assert!(e.contains(expected), "{url}: {e}");
        }
        let e = check_proxy_url("https://u:hunter2@proxy:1")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
