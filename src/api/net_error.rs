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
    (
        "ConnectionTimeout",
        "connecting timed out (request_timeout, at most 30s)",
    ),
    (
        "ConnectionReadTimeout",
        "the answer's status and headers did not arrive within request_timeout",
    ),
    ("ConnectionWriteTimeout", "sending the request timed out"),
    ("ConnectionLimitReached", "too many connections are open"),
    ("TlsProtocolError", "the TLS handshake failed"),
    (
        "TlsCertificateError",
        "the server's TLS certificate is not trusted",
    ),
    ("TlsAlertReceived", "the server ended the TLS session"),
    (
        "HttpResponseTimeout",
        "the answer's status and headers did not arrive within request_timeout",
    ),
    ("HttpResponseIncomplete", "the answer was cut off"),
    (
        "HttpResponseBodySize",
        "the answer is larger than this tenant's limits.max_response_mib allows",
    ),
    (
        "HttpResponseHeaderSectionSize",
        "the answer's headers are too large (over 400 KiB, or over 100 headers); not a Mimecast answer",
    ),
    (
        "HttpResponseHeaderSize",
        "the answer's headers are too large (over 400 KiB, or over 100 headers); not a Mimecast answer",
    ),
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

/// The error for a request to `host` whose answer's status and headers did not come within
/// `request_timeout` (`timeout_ms`) by the component's own clock: connecting, sending the
/// request or the server's first byte stalled (the host did not time it out itself).
pub fn no_answer(host: &str, timeout_ms: u64) -> SourceError {
    SourceError::Transient(format!(
        "no answer from {host} within request_timeout ({}): connecting, sending the request or          waiting for the answer's status and headers stalled (a slow or stuck server or proxy)",
        seconds(timeout_ms)
    ))
}

/// The error for an answer from `host` whose body had not all come within `request_timeout`
/// (`timeout_ms`) by the component's own clock, after `received` bytes (of `declared`).
pub fn body_stalled(
    host: &str,
    received: usize,
    declared: Option<u64>,
    timeout_ms: u64,
) -> SourceError {
    let of = declared.map_or_else(String::new, |n| format!(" of {n}"));
    SourceError::Transient(format!(
        "the answer from {host} stalled while its body was read: {received}{of} bytes received          within request_timeout ({}; a slow or stuck server or proxy)",
        seconds(timeout_ms)
    ))
}

/// `ms` as seconds for a message, e.g. `30s` or `2.5s`.
fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", ms as f64 / 1000.0)
    }
}

/// The error for an answer from `host` whose body broke off after `received` bytes (of
/// `declared`, its `Content-Length`, when it has one). `detail` is the host's text for the
/// stream's error: it tells a stall (the request's time is up), a body larger than the tenant's
/// limit and a broken connection apart.
pub fn body_failed(
    host: &str,
    received: usize,
    declared: Option<u64>,
    detail: &str,
) -> SourceError {
    let of = declared.map_or_else(String::new, |n| format!(" of {n}"));
    let lower = detail.to_ascii_lowercase();
    if detail.contains("ConnectionReadTimeout")
        || detail.contains("HttpResponseTimeout")
        || lower.contains("read timeout")
        || lower.contains("timed out")
    {
        SourceError::Transient(format!(
            "the answer from {host} stalled while its body was read: {received}{of} bytes \
             received within request_timeout (a slow or stuck server or proxy) ({detail})"
        ))
    } else if detail.contains("HttpResponseBodySize") || lower.contains("body size") {
        SourceError::Transient(format!(
            "the answer from {host} is larger than this tenant's limits.max_response_mib allows \
             (cut off after {received}{of} bytes of the body); raise limits.max_response_mib \
             (and limits.memory_mib, at least 4 times as large) if the server is right ({detail})"
        ))
    } else {
        SourceError::Transient(format!(
            "the connection to {host} broke while the answer was read (after {received}{of} \
             bytes of the body; reset by the server or a proxy?) ({detail})"
        ))
    }
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
    fn the_components_own_deadline_names_the_phase_that_stalled() {
        let e = no_answer("eu-api.mimecast.com", 30_000);
        assert!(
            matches!(&e, SourceError::Transient(m) if m.contains("status and headers") && m.contains("(30s)")),
            "{e:?}"
        );
        let e = body_stalled("eu-api.mimecast.com", 10, Some(20), 2_500);
        assert!(
            matches!(&e, SourceError::Transient(m) if m.contains("stalled while its body was read: 10 of 20 bytes") && m.contains("(2.5s;")),
            "{e:?}"
        );
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
        let e = body_failed("h", 123, None, "StreamError::LastOperationFailed");
        assert!(matches!(&e, SourceError::Transient(m) if m.contains("after 123 bytes")));
    }

    #[test]
    fn a_stalled_body_is_not_called_a_reset() {
        let e = body_failed("h", 12, Some(4096), "connection read timeout").to_string();
        assert!(
            e.contains("stalled") && e.contains("12 of 4096 bytes"),
            "{e}"
        );
        assert!(!e.contains("reset"), "{e}");
    }

    #[test]
    fn a_body_over_the_limit_names_max_response_mib() {
        let e = body_failed(
            "h",
            16 << 20,
            None,
            "HTTP response body size exceeds limit: 16777216 bytes",
        )
        .to_string();
        assert!(e.contains("limits.max_response_mib"), "{e}");
        assert!(!e.contains("reset"), "{e}");
        let e = request_failed("h", "ErrorCode::HttpResponseBodySize(Some(20971520))").to_string();
        assert!(e.contains("limits.max_response_mib"), "{e}");
    }

    #[test]
    fn oversized_headers_are_not_called_a_closed_connection() {
        let e = request_failed("h", "ErrorCode::HttpResponseHeaderSectionSize(None)").to_string();
        assert!(e.contains("headers are too large"), "{e}");
        assert!(!e.contains("closed"), "{e}");
    }
}
