//! The connector as a component sees it: a WASI-HTTP request in, a WASI-HTTP response or error
//! code out. The guest's request body is read whole first (bounded), then sent with
//! [`HttpClient`], all by one deadline.

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::time::Instant;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use super::client::HttpClient;
use super::error::NetError;

/// Largest request body a component may send (a request for a page is well under 1 KiB).
const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

/// Sends a component's `request` with `client`; `timeout` bounds the whole request, from
/// reading the guest's body to the last byte of the answer's.
///
/// # Errors
/// The WASI-HTTP error code for what failed (see [`to_error_code`]), or for a request body
/// that was too large or not written in time.
pub async fn send(
    client: &HttpClient,
    request: http::Request<WasiBody>,
    timeout: std::time::Duration,
) -> Result<http::Response<WasiBody>, HttpError> {
    let deadline = Instant::now() + timeout;
    // The body is read whole before connecting: a connection that fails at once (a refused
    // proxy, say) then reports its error through the response, where the guest reads it,
    // instead of as a closed body stream while the guest is still writing.
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
    let response = client
        .send_until(http::Request::from_parts(parts, body), deadline, timeout)
        .await
        .map_err(to_error_code)?;
    Ok(response.map(|body| body.map_err(to_error_code).boxed_unsync()))
}

/// A request body of `bytes`, all there at once.
pub fn full_body(bytes: Bytes) -> WasiBody {
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The WASI-HTTP error code for `e`. Failures without a code of their own travel in
/// `internal-error` with their words, which the component shows to the operator.
pub fn to_error_code(e: NetError) -> HttpError {
    match e {
        NetError::Dns(_) => HttpError::DnsError {
            rcode: Some("address not available".to_string()),
            info_code: None,
        },
        NetError::Refused => HttpError::ConnectionRefused,
        NetError::Unreachable => HttpError::DestinationUnavailable,
        NetError::Unroutable => HttpError::DestinationIpUnroutable,
        NetError::Terminated => HttpError::ConnectionTerminated,
        NetError::NoLocalAddress(_) | NetError::ConnectFailed(_) => {
            HttpError::InternalError(Some(e.to_string()))
        }
        NetError::Proxy(words) => HttpError::InternalError(Some(words)),
        NetError::TlsCertificate(_) => HttpError::TlsCertificateError,
        NetError::TlsAlert { id, message } => HttpError::TlsAlertReceived {
            alert_id: Some(id),
            alert_message: Some(message),
        },
        NetError::Tls(_) => HttpError::TlsProtocolError,
        NetError::ConnectTimeout => HttpError::ConnectionTimeout,
        NetError::ResponseTimeout => HttpError::HttpResponseTimeout,
        NetError::BodyTimeout => HttpError::ConnectionReadTimeout,
        NetError::HeadersTooLarge => HttpError::HttpResponseHeaderSectionSize(None),
        NetError::Protocol(words) => {
            tracing::debug!(error = %words, "request failed");
            HttpError::HttpProtocolError
        }
        NetError::Body(e) => HttpError::Hyper(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_gets_its_wasi_code() {
        let code = |e: NetError| format!("{:?}", to_error_code(e));
        assert_eq!(code(NetError::Refused), "ConnectionRefused");
        assert_eq!(code(NetError::Terminated), "ConnectionTerminated");
        assert!(code(NetError::Dns("x".into())).starts_with("DnsError"));
        assert_eq!(
            code(NetError::TlsCertificate("x".into())),
            "TlsCertificateError"
        );
        assert!(code(NetError::TlsAlert {
            id: 40,
            message: "HandshakeFailure".into()
        })
        .contains("alert_id: Some(40)"));
        assert_eq!(code(NetError::Tls("x".into())), "TlsProtocolError");
        assert_eq!(code(NetError::ConnectTimeout), "ConnectionTimeout");
        assert_eq!(code(NetError::ResponseTimeout), "HttpResponseTimeout");
        assert_eq!(code(NetError::BodyTimeout), "ConnectionReadTimeout");
        assert_eq!(
            code(NetError::HeadersTooLarge),
            "HttpResponseHeaderSectionSize(None)"
        );
        let proxy = code(NetError::Proxy(
            "through the proxy http://p:3128: refused".into(),
        ));
        assert!(proxy.contains("through the proxy http://p:3128"), "{proxy}");
        let connect = code(NetError::ConnectFailed("boom".into()));
        assert!(connect.contains("connecting failed: boom"), "{connect}");
    }
}
