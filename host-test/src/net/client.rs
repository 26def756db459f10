//! The shared HTTP client: connections kept open and reused per origin, through the configured
//! or environment proxy, trusting the system's and Mozilla's roots plus `ca_file`s, every
//! request bounded by one deadline from sending to the last byte of the answer. Components
//! reach it through the sandbox's WASI-HTTP hook (`net::wasi`); sinks call [`HttpClient::send`]
//! directly and get a [`NetError`] that says whether to retry.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::connect::{capture_connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use tokio::time::{Instant, Sleep};

use super::connect::{port_or_default, Connector, WithTimeout};
use super::error::NetError;
use super::proxy::{ProxySetting, Route};

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
/// TCP keep-alive probes on open connections.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

type HttpsConnector = WithTimeout<hyper_rustls::HttpsConnector<Connector>>;

/// The shared client; cheap to clone (clones share the connection pool).
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector, Full<Bytes>>,
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
        let tls = match super::tls::client_config(extra_roots, None) {
            Ok(tls) => tls,
            // `ring` supports the default protocol versions; this cannot fail in practice.
            Err(e) => {
                tracing::error!(error = %e, "TLS setup failed; using rustls defaults");
                rustls::ClientConfig::builder()
                    .with_root_certificates(super::connect::root_certificates(extra_roots))
                    .with_no_client_auth()
            }
        };
        HttpClient::with_tls(proxy, tls, reuse_connections)
    }

    /// A client that connects as `proxy` says with the TLS settings `tls` (a sink's own
    /// trust roots and client certificate; see [`super::tls::client_config`]).
    pub fn with_tls(
        proxy: &ProxySetting,
        tls: rustls::ClientConfig,
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
    /// request: connecting, sending it, the wait for the response head and reading the body
    /// all end by one deadline, so a server that trickles its answer cannot hold a request
    /// longer than that. A failure names the phase that ran out of time in the log.
    ///
    /// # Errors
    /// What failed: DNS, connect, TLS, proxy, a timeout (connecting: `ConnectTimeout`; the
    /// head: `ResponseTimeout`; the body, from the body stream: `BodyTimeout`), header size,
    /// protocol.
    pub async fn send(
        &self,
        request: http::Request<Bytes>,
        timeout: Duration,
    ) -> Result<http::Response<ResponseBody>, NetError> {
        self.send_until(request, Instant::now() + timeout, timeout)
            .await
    }

    /// [`HttpClient::send`] that ends by `deadline`; `timeout` is named in the log.
    pub(super) async fn send_until(
        &self,
        request: http::Request<Bytes>,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<http::Response<ResponseBody>, NetError> {
        let target = origin_of(request.uri());
        let mut request = request.map(Full::new);
        let connection = capture_connection(&mut request);
        let response = match tokio::time::timeout_at(deadline, self.client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(NetError::from_request(&e)),
            Err(_) if connection.connection_metadata().is_none() => {
                tracing::warn!(%target, timeout = %humantime::format_duration(timeout),
                    "request timed out while connecting (request_timeout)");
                return Err(NetError::ConnectTimeout);
            }
            Err(_) => {
                tracing::warn!(%target, timeout = %humantime::format_duration(timeout),
                    "request timed out waiting for the answer's status and headers (request_timeout)");
                return Err(NetError::ResponseTimeout);
            }
        };
        let expected = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        Ok(response.map(|body| ResponseBody::new(body, deadline, timeout, target, expected)))
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

/// An answer's body, to be read whole by the request's deadline; past it, the next read
/// fails with [`NetError::BodyTimeout`] and the log says how much of the body had arrived.
pub struct ResponseBody {
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

impl ResponseBody {
    fn new(
        inner: Incoming,
        deadline: Instant,
        timeout: Duration,
        target: String,
        expected: Option<u64>,
    ) -> ResponseBody {
        ResponseBody {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            timeout,
            target,
            received: 0,
            expected,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = NetError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, NetError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(NetError::BodyTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(NetError::Body(e)))),
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
                    Poll::Ready(Some(Err(NetError::BodyTimeout)))
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
    use http_body_util::BodyExt;

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

    fn post(addr: std::net::SocketAddr) -> http::Request<Bytes> {
        http::Request::post(format!("http://{addr}/api/ttp/url/get-logs"))
            .body(Bytes::from_static(b"{}"))
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
            matches!(read, Err(NetError::BodyTimeout)),
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
            matches!(sent, Err(NetError::HeadersTooLarge)),
            "{:?}",
            sent.map(|_| ())
        );
    }
}
