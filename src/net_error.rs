//! Plain words for WASI-HTTP failures. The transport only sees the debug text of a
//! `wasi:http/types.error-code` (e.g. `ErrorCode::HttpProtocolError`) or of a stream error; an
//! operator needs to read "the connection was reset" instead. Pure, so it is tested natively.

use crate::error::SourceError;

/// `wasi:http` error-code names and what they mean for a request to Mimecast.
const EXPLAINED: &[(&str, &str)] = &[
    (
        "HttpRequestDenied",
        "denied by this host's outbound allowlist",
    ),
    ("DnsTimeout", "the DNS lookup timed out"),
    ("DnsError", "the host name does not resolve"),
    ("DestinationNotFound", "the host name does not resolve"),
    ("DestinationUnavailable", "the host is unreachable"),
    (
        "DestinationIpProhibited",
        "the network refuses this destination address",
    ),
    ("DestinationIpUnroutable", "there is no route to the host"),
    ("ConnectionRefused", "the connection was refused"),
    (
        "ConnectionTerminated",
        "the connection was reset or closed before the answer",
    ),
    ("ConnectionTimeout", "connecting timed out"),
    ("ConnectionReadTimeout", "the answer did not arrive in time"),
    ("ConnectionWriteTimeout", "sending the request timed out"),
    ("ConnectionLimitReached", "too many connections are open"),
    ("TlsProtocolError", "the TLS handshake failed"),
    (
        "TlsCertificateError",
        "the server's TLS certificate is not trusted",
    ),
    ("TlsAlertReceived", "the server ended the TLS session"),
    ("HttpResponseTimeout", "the answer did not arrive in time"),
    ("HttpResponseIncomplete", "the answer was cut off"),
    (
        "HttpProtocolError",
        "the connection was reset or closed before a complete HTTP answer",
    ),
    ("InternalError", "the host's HTTP client failed"),
];

/// The error for a request to `host` that failed with `detail` (a WASI-HTTP error's text):
/// a denial by the host's allowlist is a setup problem, everything else is transient.
pub fn request_failed(host: &str, detail: &str) -> SourceError {
    let meaning = EXPLAINED
        .iter()
        .find(|(name, _)| detail.contains(name))
        .map(|(_, meaning)| *meaning);
    match meaning {
        Some(m) if detail.contains("HttpRequestDenied") => SourceError::InvalidConfig(format!(
            "the request to {host} was {m}; base_url must be this tenant's Mimecast host"
        )),
        Some(m) => SourceError::Transient(format!("request to {host} failed: {m} ({detail})")),
        None => SourceError::Transient(format!("request to {host} failed: {detail}")),
    }
}

/// The error for an answer from `host` whose body broke off after `received` bytes.
pub fn body_failed(host: &str, received: usize, detail: &str) -> SourceError {
    SourceError::Transient(format!(
        "the connection to {host} broke while the answer was read (after {received} bytes of \
         the body; reset by the server or a proxy?) ({detail})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_get_plain_words_and_keep_the_detail() {
        let e = request_failed("eu-api.mimecast.com", "ErrorCode::HttpProtocolError");
        let SourceError::Transient(m) = e else {
            panic!("not transient: {e:?}")
        };
        assert!(m.contains("reset or closed"), "{m}");
        assert!(m.contains("ErrorCode::HttpProtocolError"), "{m}");
        let e = request_failed("x", "ErrorCode::DnsError(DnsErrorPayload { .. })");
        assert!(e.to_string().contains("does not resolve"), "{e}");
    }

    #[test]
    fn a_denial_is_a_setup_problem() {
        let e = request_failed("evil.example", "ErrorCode::HttpRequestDenied");
        assert!(
            matches!(&e, SourceError::InvalidConfig(m) if m.contains("allowlist") && m.contains("evil.example")),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_failures_stay_transient_with_their_text() {
        let e = request_failed("h", "something new");
        assert!(matches!(&e, SourceError::Transient(m) if m.contains("something new")));
        let e = body_failed("h", 123, "StreamError::LastOperationFailed");
        assert!(matches!(&e, SourceError::Transient(m) if m.contains("after 123 bytes")));
    }
}
