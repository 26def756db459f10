//! Outbound HTTP policy for one tenant's component: requests may go only to that tenant's
//! Mimecast origin, at most `max_concurrent_requests` at once, each with the tenant's timeouts
//! whatever the guest asked for, and no response body larger than `max_response_bytes`.
//! The origin check is pure (`check_outbound`); `OutboundPolicy` enforces all of it in the
//! WASI-HTTP hook.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiHttpHooks};

use crate::config::limits::Limits;
use crate::config::Origin;
use crate::net::{port_or_default, HttpClient};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbound request to {target} denied: only {allowed} is allowed for this tenant")]
pub struct Denied {
    /// Where the guest tried to go.
    pub target: String,
    /// What is allowed.
    pub allowed: String,
}

/// Checks a request URI against the tenant's one allowed origin. Denies by default.
///
/// # Errors
/// The scheme, host or port differ from the allowed origin, or the URI has no host.
pub fn check_outbound(allowed: &Origin, uri: &http::Uri) -> Result<(), Denied> {
    let scheme = uri.scheme_str().unwrap_or("");
    let host = uri
        .host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = port_or_default(uri);
    if scheme == allowed.scheme && host == allowed.host && port == allowed.port {
        Ok(())
    } else {
        Err(Denied {
            target: format!("{scheme}://{host}:{port}"),
            allowed: format!("{}://{}:{}", allowed.scheme, allowed.host, allowed.port),
        })
    }
}

/// The WASI-HTTP hooks of one tenant's store.
pub struct OutboundPolicy {
    tenant: String,
    allowed: Origin,
    timeout: Duration,
    max_in_flight: u32,
    max_response_bytes: u64,
    in_flight: Arc<AtomicU32>,
    client: HttpClient,
}

impl OutboundPolicy {
    /// The policy for tenant `tenant`: only `allowed`, with `timeout` and `limits`, sent by
    /// the host's shared `client`.
    pub fn new(
        tenant: &str,
        allowed: Origin,
        timeout: Duration,
        limits: &Limits,
        client: HttpClient,
    ) -> OutboundPolicy {
        OutboundPolicy {
            client,
            tenant: tenant.to_string(),
            allowed,
            timeout,
            max_in_flight: limits.max_concurrent_requests,
            max_response_bytes: limits.max_response_bytes,
            in_flight: Arc::new(AtomicU32::new(0)),
        }
    }
}

/// Counts one request in flight until dropped.
struct InFlight(Arc<AtomicU32>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        drop(fut);
        if let Err(denied) = check_outbound(&self.allowed, request.uri()) {
            tracing::error!(tenant = %self.tenant, target = %denied.target, allowed = %denied.allowed,
                "outbound request denied by the tenant's allowlist");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            tracing::error!(tenant = %self.tenant, limit = self.max_in_flight,
                "outbound request denied: too many requests in flight (limits.max_concurrent_requests)");
            return Box::new(async { Err(HttpError::ConnectionLimitReached) });
        }
        let guard = InFlight(self.in_flight.clone());
        let max = self.max_response_bytes;
        let tenant = self.tenant.clone();
        let (client, timeout) = (self.client.clone(), self.timeout);
        Box::new(async move {
            let response = crate::net::wasi::send(&client, request, timeout).await?;
            let declared = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > max) {
                tracing::warn!(%tenant, limit_bytes = max, declared_bytes = declared,
                    "response refused: larger than limits.max_response_mib (its Content-Length)");
                return Err(HttpError::HttpResponseBodySize(declared));
            }
            // The request counts as in flight until its body is read or dropped.
            // The guard lives in the body's error mapper, so it is dropped with the body.
            let response = response.map(move |body| {
                http_body_util::Limited::new(body, max as usize)
                    .map_err(move |e| {
                        let _in_flight = &guard;
                        match e.downcast::<HttpError>() {
                            Ok(inner) => *inner,
                            Err(_) => {
                                tracing::warn!(%tenant, limit_bytes = max,
                                    "response cut off: its body is larger than limits.max_response_mib");
                                HttpError::HttpResponseBodySize(Some(max))
                            }
                        }
                    })
                    .boxed_unsync()
            });
            // The pool drives the connection; nothing is left for the caller to await.
            let done = async { Ok::<(), HttpError>(()) };
            Ok((
                response,
                Box::new(done) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn policy_counts_requests_in_flight() {
        let limits = Limits {
            max_concurrent_requests: 1,
            ..Limits::default()
        };
        let policy = OutboundPolicy::new(
            "t",
            origin("http", "127.0.0.1", 1),
            Duration::from_secs(1),
            &limits,
            HttpClient::new(&crate::net::ProxySetting::Direct),
        );
        let first = InFlight(policy.in_flight.clone());
        policy.in_flight.fetch_add(1, Ordering::AcqRel);
        assert_eq!(policy.in_flight.load(Ordering::Acquire), 1);
        drop(first);
        assert_eq!(policy.in_flight.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn requests_beyond_the_limit_are_refused_until_one_finishes() {
        let limits = Limits {
            max_concurrent_requests: 1,
            ..Limits::default()
        };
        let mut policy = OutboundPolicy::new(
            "t",
            origin("http", "127.0.0.1", 1),
            Duration::from_secs(1),
            &limits,
            HttpClient::new(&crate::net::ProxySetting::Direct),
        );
        let send = |policy: &mut OutboundPolicy| {
            let body = http_body_util::Empty::<bytes::Bytes>::new()
                .map_err(|never| match never {})
                .boxed_unsync();
            let request = http::Request::post("http://127.0.0.1:1/api/ttp/url/get-logs")
                .body(body)
                .unwrap();
            Box::into_pin(policy.send_request(request, None, Box::new(async { Ok(()) })))
        };
        // One request in flight: a second is refused with the limit's error.
        policy.in_flight.fetch_add(1, Ordering::AcqRel);
        let held = InFlight(policy.in_flight.clone());
        let refused = send(&mut policy).await;
        assert!(matches!(refused, Err(HttpError::ConnectionLimitReached)));
        assert_eq!(
            policy.in_flight.load(Ordering::Acquire),
            1,
            "a refusal holds no slot"
        );
        // Once it finished, the next one is sent (and fails only because nothing listens).
        drop(held);
        let sent = send(&mut policy).await;
        assert!(
            sent.is_err() && !matches!(sent, Err(HttpError::ConnectionLimitReached)),
            "the request was not sent"
        );
        assert_eq!(
            policy.in_flight.load(Ordering::Acquire),
            0,
            "a failed send frees its slot"
        );
    }

    fn origin(scheme: &str, host: &str, port: u16) -> Origin {
        Origin {
            scheme: scheme.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn allows_only_the_exact_origin() {
        let eu = origin("https", "eu-api.mimecast.com", 443);
        assert!(check_outbound(
            &eu,
            &"https://eu-api.mimecast.com/api/ttp/url/get-logs"
                .parse()
                .unwrap()
        )
        .is_ok());
        assert!(check_outbound(&eu, &"https://EU-API.mimecast.com:443/x".parse().unwrap()).is_ok());
        for bad in [
            "http://eu-api.mimecast.com/x",
            "https://us-api.mimecast.com/x",
            "https://eu-api.mimecast.com:8443/x",
            "https://eu-api.mimecast.com.evil.example/x",
            "/relative",
        ] {
            let err = check_outbound(&eu, &bad.parse().unwrap()).unwrap_err();
            assert!(err.to_string().contains("denied"), "{bad}");
        }
    }

    #[test]
    fn loopback_http_with_port() {
        let mock = origin("http", "127.0.0.1", 8080);
        assert!(check_outbound(&mock, &"http://127.0.0.1:8080/a".parse().unwrap()).is_ok());
        assert!(check_outbound(&mock, &"http://127.0.0.1:8081/a".parse().unwrap()).is_err());
        let v6 = origin("http", "::1", 9);
        assert!(check_outbound(&v6, &"http://[::1]:9/a".parse().unwrap()).is_ok());
    }
}
