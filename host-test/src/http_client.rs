//! The host's one HTTP client for every tenant's outbound requests. Connections are kept open
//! and reused per origin (across the pages of a poll, the log types of a tenant, and tenants
//! on the same Mimecast host), so a page costs one round trip instead of a TCP connect, a TLS
//! handshake and a round trip. Requests go through an HTTP proxy (a CONNECT tunnel) when the
//! configuration names one or the environment sets `HTTPS_PROXY` and friends. Which request
//! may go out at all is the sandbox's decision (`sandbox.rs`); this module carries the allowed
//! ones and turns their failures into WASI-HTTP error codes.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{capture_connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tower_service::Service;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

/// How long an unused connection stays open for the next request: long enough to span the
/// pages of a poll and the log types of a tenant, short enough to be closed by us before
/// servers and load balancers drop idle connections (commonly after 60 s), so that a request
/// does not race a connection the server is closing.
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 64;
/// Longest time to open a connection (TCP, a proxy's CONNECT, TLS), whatever the request's
/// own timeout (which also bounds it, for the request that waits for it).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body a component may send (a request for a page is well under 1 KiB).
const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;
/// TCP keep-alive probes on open connections.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

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
struct Route {
    matcher: Matcher,
    /// Loopback destinations never use the proxy (set for proxies from the environment:
    /// a proxy cannot reach this machine's loopback).
    loopback_direct: bool,
}

impl Route {
    fn new(setting: &ProxySetting) -> Option<Route> {
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
    fn proxy_for(&self, dst: &Uri) -> Option<Intercept> {
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
struct ProxyFailed {
    proxy: String,
    what: String,
}

impl ProxyFailed {
    /// Puts hyper-util's tunnel error (whose type is not public: it is told apart by its text)
    /// into words that say what to fix.
    fn new(proxy: &Uri, dst: &Uri, e: &(dyn StdError + 'static)) -> ProxyFailed {
        let target = format!("{}:{}", dst.host().unwrap_or(""), port_or_default(dst));
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

/// An error and its causes on one line.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

type BoxError = Box<dyn StdError + Send + Sync>;
type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, BoxError>> + Send + 'static>>;

/// Opens TCP connections, directly or through a CONNECT tunnel; TLS is layered on top by
/// `hyper_rustls`, so it runs end to end with Mimecast even through a proxy.
#[derive(Clone)]
struct Connector {
    direct: HttpConnector,
    route: Option<Arc<Route>>,
}

impl Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.direct.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let proxy = self.route.as_ref().and_then(|r| r.proxy_for(&dst));
        match proxy {
            None => {
                let connecting = self.direct.call(dst);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), self.direct.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                // `Tunnel` takes a destination without a port for port 443 whatever the scheme.
                let dst = with_port(dst);
                Box::pin(async move {
                    std::future::poll_fn(|cx| tunnel.poll_ready(cx))
                        .await
                        .map_err(|e| {
                            Box::new(ProxyFailed::new(proxy.uri(), &dst, &e)) as BoxError
                        })?;
                    tunnel
                        .call(dst.clone())
                        .await
                        .map_err(|e| Box::new(ProxyFailed::new(proxy.uri(), &dst, &e)) as BoxError)
                })
            }
        }
    }
}

/// The port of `uri`: its own, or 80 for `http` and 443 otherwise.
pub fn port_or_default(uri: &Uri) -> u16 {
    uri.port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        })
}

/// `dst` with its port written out ([`port_or_default`]) when it has none.
fn with_port(dst: Uri) -> Uri {
    if dst.port_u16().is_some() {
        return dst;
    }
    let authority = format!("{}:{}", dst.host().unwrap_or(""), port_or_default(&dst));
    let mut parts = dst.clone().into_parts();
    match authority.parse() {
        Ok(a) => {
            parts.authority = Some(a);
            Uri::from_parts(parts).unwrap_or(dst)
        }
        Err(_) => dst,
    }
}

/// Bounds the whole of opening a connection (TCP, the proxy's CONNECT, TLS): the pool may
/// finish a connection in the background after the request that started it was served by
/// another one, out of reach of that request's timeout.
#[derive(Clone)]
struct WithTimeout<C> {
    inner: C,
    limit: Duration,
}

impl<C> Service<Uri> for WithTimeout<C>
where
    C: Service<Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
    C::Response: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(done) => done.map_err(Into::into),
                Err(_) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "connecting took longer than {}",
                        humantime::format_duration(limit)
                    ),
                )) as BoxError),
            }
        })
    }
}

type HttpsConnector = WithTimeout<hyper_rustls::HttpsConnector<Connector>>;

/// The shared client; cheap to clone (clones share the connection pool).
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector, WasiBody>,
}

impl HttpClient {
    /// A client that connects as `proxy` says, trusting the Mozilla root certificates and the
    /// system's trust store (which `SSL_CERT_FILE` and `SSL_CERT_DIR` can point elsewhere, e.g.
    /// to a TLS-inspecting proxy's CA).
    pub fn new(proxy: &ProxySetting) -> HttpClient {
        HttpClient::build(proxy, &[], true)
    }

    /// [`HttpClient::new`] that also trusts `extra_roots`, and with `reuse_connections` off
    /// opens a new connection for every request (as a baseline for the benchmark harness, `mimecast-bench`).
    pub fn build(
        proxy: &ProxySetting,
        extra_roots: &[CertificateDer<'static>],
        reuse_connections: bool,
    ) -> HttpClient {
        let mut direct = HttpConnector::new();
        direct.enforce_http(false);
        direct.set_nodelay(true);
        direct.set_keepalive(Some(TCP_KEEPALIVE));
        let connector = Connector {
            direct,
            route: Route::new(proxy).map(Arc::new),
        };
        let roots = root_certificates(extra_roots);
        let tls = match rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        {
            Ok(builder) => builder.with_root_certificates(roots).with_no_client_auth(),
            // `ring` supports the default protocol versions; this cannot fail in practice.
            Err(e) => {
                tracing::error!(error = %e, "TLS setup failed; using rustls defaults");
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth()
            }
        };
        let https = WithTimeout {
            inner: hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .wrap_connector(connector),
            limit: CONNECT_TIMEOUT,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(if reuse_connections {
                MAX_IDLE_PER_ORIGIN
            } else {
                0
            })
            .pool_timer(TokioTimer::new())
            .build(https);
        HttpClient { client }
    }

    /// Sends `request` (an absolute URI) on a pooled connection. `timeout` bounds the whole
    /// request: sending it, connecting, the wait for the response head and reading the body
    /// all end by one deadline, so a server that trickles its answer cannot hold a request
    /// longer than that. A failure names the phase that ran out of time in the log.
    ///
    /// # Errors
    /// The WASI-HTTP error code for what failed: DNS, connect, TLS, proxy, timeout (connecting:
    /// `ConnectionTimeout`; the head: `HttpResponseTimeout`; the body, from the body stream:
    /// `ConnectionReadTimeout`), header size, protocol.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        timeout: Duration,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let target = origin_of(request.uri());
        // The body is read whole before connecting: a connection that fails at once (a
        // refused proxy, say) then reports its error through the response, where the guest
        // reads it, instead of as a closed body stream while the guest is still writing.
        let (parts, body) = request.into_parts();
        let body = tokio::time::timeout_at(
            deadline,
            http_body_util::Limited::new(body, MAX_REQUEST_BODY_BYTES).collect(),
        )
        .await
        .map_err(|_| HttpError::ConnectionWriteTimeout)?
        .map_err(|e| match e.downcast::<HttpError>() {
            Ok(inner) => *inner,
            Err(_) => HttpError::HttpRequestBodySize(Some(MAX_REQUEST_BODY_BYTES as u64)),
        })?
        .to_bytes();
        let mut request = http::Request::from_parts(parts, full_body(body));
        let connection = capture_connection(&mut request);
        let response = match tokio::time::timeout_at(deadline, self.client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(classify(&e)),
            Err(_) if connection.connection_metadata().is_none() => {
                tracing::warn!(%target, timeout = %humantime::format_duration(timeout),
                    "request timed out while connecting (request_timeout)");
                return Err(HttpError::ConnectionTimeout);
            }
            Err(_) => {
                tracing::warn!(%target, timeout = %humantime::format_duration(timeout),
                    "request timed out waiting for the answer's status and headers (request_timeout)");
                return Err(HttpError::HttpResponseTimeout);
            }
        };
        let expected = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        Ok(response
            .map(|body| TimedBody::new(body, deadline, timeout, target, expected).boxed_unsync()))
    }
}

/// `scheme://host:port` of `uri`, for log lines.
fn origin_of(uri: &Uri) -> String {
    format!(
        "{}://{}:{}",
        uri.scheme_str().unwrap_or("http"),
        uri.host().unwrap_or(""),
        port_or_default(uri)
    )
}

/// A request body of `bytes`, all there at once.
pub fn full_body(bytes: Bytes) -> WasiBody {
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Trusted roots: Mozilla's (built in, so a bare container works), the system's, and `extra`.
fn root_certificates(extra: &[CertificateDer<'static>]) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    roots.add_parsable_certificates(extra.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(
        added,
        ignored,
        errors = native.errors.len(),
        "system trust store read"
    );
    roots
}

/// The WASI-HTTP error code for a failed request.
fn classify(err: &hyper_util::client::legacy::Error) -> HttpError {
    if let Some(code) = code_in_chain(err) {
        code
    } else if err.is_connect() {
        HttpError::InternalError(Some(format!("connecting failed: {}", chain(err))))
    } else {
        tracing::debug!(error = %chain(err), "request failed");
        HttpError::HttpProtocolError
    }
}

/// The code of the first error in `err`'s chain that says what went wrong.
fn code_in_chain(err: &(dyn StdError + 'static)) -> Option<HttpError> {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(p) = e.downcast_ref::<ProxyFailed>() {
            return Some(HttpError::InternalError(Some(p.to_string())));
        }
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls_code(tls));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(code) = io_code(io) {
                return Some(code);
            }
            // `io::Error::source` skips the error it wraps (often another `io::Error` around
            // a `rustls::Error`); look inside instead.
            if let Some(inner) = io.get_ref() {
                source = Some(inner as &(dyn StdError + 'static));
                continue;
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return Some(HttpError::HttpResponseTimeout);
            }
            if h.is_parse_too_large() {
                return Some(HttpError::HttpResponseHeaderSectionSize(None));
            }
        }
        source = e.source();
    }
    None
}

fn tls_code(e: &rustls::Error) -> HttpError {
    match e {
        rustls::Error::InvalidCertificate(_) => HttpError::TlsCertificateError,
        rustls::Error::AlertReceived(alert) => HttpError::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => HttpError::TlsProtocolError,
    }
}

fn io_code(e: &std::io::Error) -> Option<HttpError> {
    use std::io::ErrorKind;
    let code = match e.kind() {
        ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
        ErrorKind::TimedOut => HttpError::ConnectionTimeout,
        ErrorKind::HostUnreachable => HttpError::DestinationUnavailable,
        ErrorKind::NetworkUnreachable => HttpError::DestinationIpUnroutable,
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => HttpError::ConnectionTerminated,
        // No local port or address left (EADDRNOTAVAIL), not a name that does not resolve.
        ErrorKind::AddrNotAvailable => {
            HttpError::InternalError(Some(format!("no local address or port available: {e}")))
        }
        _ if e.to_string().starts_with("failed to lookup address") => HttpError::DnsError {
            rcode: Some("address not available".to_string()),
            info_code: None,
        },
        _ => return None,
    };
    Some(code)
}

/// A response body that must be read whole by the request's deadline; past it, the next read
/// fails with `ConnectionReadTimeout` and the log says how much of the body had arrived.
struct TimedBody {
    inner: Incoming,
    sleep: Pin<Box<Sleep>>,
    /// The request's `timeout`, for the log line.
    timeout: Duration,
    /// Where the request went, for the log line.
    target: String,
    /// Bytes of the body received so far.
    received: u64,
    /// The body's `Content-Length`, when it has one.
    expected: Option<u64>,
}

impl TimedBody {
    fn new(
        inner: Incoming,
        deadline: tokio::time::Instant,
        timeout: Duration,
        target: String,
        expected: Option<u64>,
    ) -> TimedBody {
        TimedBody {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            timeout,
            target,
            received: 0,
            expected,
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::Hyper(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let of = self.expected.map_or_else(
                        || "of a body of unknown length".to_string(),
                        |n| format!("of {n}"),
                    );
                    tracing::warn!(target = %self.target, timeout = %humantime::format_duration(self.timeout),
                        "request timed out reading the answer's body (request_timeout): {} bytes received {of}",
                        self.received);
                    Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    /// A server on loopback that answers every connection with `head`, then writes `body`
    /// one byte every `every`; its address.
    async fn raw_server(head: Vec<u8>, body: Vec<u8>, every: Duration) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (head, body) = (head.clone(), body.clone());
                tokio::spawn(async move {
                    let mut request = vec![0u8; 64 * 1024];
                    let _ = socket.read(&mut request).await;
                    if socket.write_all(&head).await.is_err() {
                        return;
                    }
                    for byte in body {
                        tokio::time::sleep(every).await;
                        if socket.write_all(&[byte]).await.is_err() {
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(30)).await;
                });
            }
        });
        addr
    }

    fn post(addr: std::net::SocketAddr) -> http::Request<WasiBody> {
        http::Request::post(format!("http://{addr}/api/ttp/url/get-logs"))
            .body(full_body(Bytes::from_static(b"{}")))
            .unwrap()
    }

    #[tokio::test]
    async fn a_trickling_body_is_cut_at_the_request_deadline() {
        // Ten bytes a second: every wait is short, but the whole body would take 100 s.
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec();
        let addr = raw_server(head, vec![b' '; 1000], Duration::from_millis(100)).await;
        let client = HttpClient::new(&ProxySetting::Direct);
        let started = std::time::Instant::now();
        let timeout = Duration::from_millis(1500);
        let response = client.send(post(addr), timeout).await.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
            .await
            .expect("the body was not cut at the request's deadline");
        let elapsed = started.elapsed();
        assert!(
            matches!(read, Err(HttpError::ConnectionReadTimeout)),
            "{:?}",
            read.map(|_| ())
        );
        assert!(
            elapsed >= timeout && elapsed < timeout + Duration::from_secs(1),
            "{elapsed:?}"
        );
    }

    #[tokio::test]
    async fn oversized_headers_are_named_as_such() {
        let mut head = b"HTTP/1.1 200 OK\r\nX-Padding: ".to_vec();
        head.extend(std::iter::repeat_n(b'a', 600 * 1024));
        head.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        let addr = raw_server(head, Vec::new(), Duration::ZERO).await;
        let client = HttpClient::new(&ProxySetting::Direct);
        let sent = client.send(post(addr), Duration::from_secs(5)).await;
        assert!(
            matches!(sent, Err(HttpError::HttpResponseHeaderSectionSize(_))),
            "{:?}",
            sent.map(|_| ())
        );
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
    fn tunnel_destinations_get_their_scheme_default_port() {
        assert_eq!(
            with_port(uri("http://mock.test/x")),
            uri("http://mock.test:80/x")
        );
        assert_eq!(
            with_port(uri("https://eu-api.mimecast.com/a?b")),
            uri("https://eu-api.mimecast.com:443/a?b")
        );
        assert_eq!(with_port(uri("https://h:8443/")), uri("https://h:8443/"));
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

    #[test]
    fn io_failures_get_the_matching_codes() {
        use std::io::{Error, ErrorKind};
        let code = |e: Error| format!("{:?}", io_code(&e));
        assert!(code(Error::from(ErrorKind::ConnectionRefused)).contains("ConnectionRefused"));
        assert!(code(Error::from(ErrorKind::ConnectionReset)).contains("ConnectionTerminated"));
        assert!(code(Error::other(
            "failed to lookup address information: Name or service not known"
        ))
        .contains("DnsError"));
        assert_eq!(code(Error::other("something else")), "None");
    }

    #[test]
    fn codes_are_found_inside_nested_io_errors() {
        use std::io::{Error, ErrorKind};
        // As hyper-rustls reports a certificate it does not trust.
        let untrusted = Error::other(Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        assert!(matches!(
            code_in_chain(&untrusted),
            Some(HttpError::TlsCertificateError)
        ));
        let refused = Error::other(Error::from(ErrorKind::ConnectionRefused));
        assert!(matches!(
            code_in_chain(&refused),
            Some(HttpError::ConnectionRefused)
        ));
        assert!(code_in_chain(&Error::other("no idea")).is_none());
    }

    #[test]
    fn tls_failures_get_the_matching_codes() {
        let bad_cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert!(matches!(
            tls_code(&bad_cert),
            HttpError::TlsCertificateError
        ));
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert!(matches!(
            tls_code(&alert),
            HttpError::TlsAlertReceived {
                alert_id: Some(40),
                ..
            }
        ));
        assert!(matches!(
            tls_code(&rustls::Error::DecryptError),
            HttpError::TlsProtocolError
        ));
    }
}
