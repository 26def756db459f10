//! Opening connections: TCP directly or through a proxy's CONNECT tunnel, bounded by a connect
//! timeout, and the roots TLS is checked against. TLS itself is layered on top by
//! `hyper_rustls` (in `net::client`), so it runs end to end with the server even through a
//! proxy.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tower_service::Service;

use super::proxy::{ProxyFailed, Route};

type BoxError = Box<dyn StdError + Send + Sync>;
type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, BoxError>> + Send + 'static>>;

/// Opens TCP connections, directly or through a CONNECT tunnel; TLS is layered on top by
/// `hyper_rustls`, so it runs end to end with Mimecast even through a proxy.
#[derive(Clone)]
pub(super) struct Connector {
    pub(super) direct: HttpConnector,
    pub(super) route: Option<Arc<Route>>,
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

/// `host:port` of `uri`, the port written out ([`port_or_default`]).
pub(super) fn host_port(uri: &Uri) -> String {
    format!("{}:{}", uri.host().unwrap_or(""), port_or_default(uri))
}

/// `dst` with its port written out ([`port_or_default`]) when it has none.
fn with_port(dst: Uri) -> Uri {
    if dst.port_u16().is_some() {
        return dst;
    }
    let authority = host_port(&dst);
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
pub(super) struct WithTimeout<C> {
    pub(super) inner: C,
    pub(super) limit: Duration,
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
/// Trusted roots: Mozilla's (built in, so a bare container works), the system's, and `extra`.
pub(super) fn root_certificates(extra: &[CertificateDer<'static>]) -> rustls::RootCertStore {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
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
}
