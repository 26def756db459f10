//! Outbound HTTP policy for one tenant's component: requests may go only to that tenant's
//! Mimecast origin, and every request gets the tenant's timeouts whatever the guest asked for.
//! The check is pure (`check_outbound`); `OutboundPolicy` enforces it in the WASI-HTTP hook.

use std::future::Future;
use std::time::Duration;

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiHttpHooks};

use crate::config::Origin;

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
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "http" { 80 } else { 443 });
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
    /// Tenant id, for logs.
    pub tenant: String,
    /// The one origin allowed.
    pub allowed: Origin,
    /// Connect, first-byte and between-bytes timeout for every request.
    pub timeout: Duration,
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
        let options = RequestOptions {
            connect_timeout: Some(self.timeout),
            first_byte_timeout: Some(self.timeout),
            between_bytes_timeout: Some(self.timeout),
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
