//! What went wrong with an outbound request, in the connector's own terms: a guest gets it as a
//! WASI-HTTP error code (`net::wasi`), a sink as a retryable or permanent failure
//! ([`NetError::is_retryable`]). Failures are read out of the error chains of hyper, rustls and
//! the OS, which report them as nested boxed errors.

use std::error::Error as StdError;

use super::proxy::ProxyFailed;
use crate::error_chain::one_line as chain;

/// Why a request got no answer, or its answer's body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The name does not resolve.
    #[error("the host name does not resolve ({0})")]
    Dns(String),
    /// Nothing listens on the port (TCP RST).
    #[error("connection refused")]
    Refused,
    /// No route to the host.
    #[error("host unreachable")]
    Unreachable,
    /// No route to the network.
    #[error("network unreachable")]
    Unroutable,
    /// The connection was closed or reset while in use.
    #[error("the connection was closed or reset")]
    Terminated,
    /// No local address or port is left to connect from.
    #[error("no local address or port available: {0}")]
    NoLocalAddress(String),
    /// Opening the connection failed for another reason, in words.
    #[error("connecting failed: {0}")]
    ConnectFailed(String),
    /// The way through the proxy failed (the message names the proxy, without credentials, and
    /// the fix).
    #[error("{0}")]
    Proxy(String),
    /// The server's certificate is not trusted or not valid for its name.
    #[error("the server's TLS certificate is not accepted: {0}")]
    TlsCertificate(String),
    /// The server ended the TLS handshake with an alert.
    #[error("the server sent the TLS alert {message} ({id})")]
    TlsAlert {
        /// The alert's number.
        id: u8,
        /// The alert's name.
        message: String,
    },
    /// Another TLS failure.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// Opening the connection took longer than the timeout.
    #[error("connecting timed out")]
    ConnectTimeout,
    /// The answer's status and headers did not come in time.
    #[error("no answer (status and headers) within the timeout")]
    ResponseTimeout,
    /// The answer's body was not read whole in time.
    #[error("the answer's body did not arrive whole within the timeout")]
    BodyTimeout,
    /// The answer's header section is larger than the client accepts.
    #[error("the answer's headers are too large")]
    HeadersTooLarge,
    /// The server does not speak HTTP as expected.
    #[error("HTTP protocol error: {0}")]
    Protocol(String),
    /// Reading the answer's body failed.
    #[error("reading the answer's body failed: {0}")]
    Body(hyper::Error),
}

impl NetError {
    /// Whether trying again later may succeed without anyone changing anything: the network,
    /// the receiver or the proxy may be down, slow or restarting. TLS and protocol failures are
    /// not: they need a fix in a configuration (a trusted CA, a URL with the right scheme).
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            NetError::TlsCertificate(_)
                | NetError::TlsAlert { .. }
                | NetError::Tls(_)
                | NetError::HeadersTooLarge
                | NetError::Protocol(_)
        )
    }

    /// What a failed request reports, from hyper's client error.
    pub(super) fn from_request(err: &hyper_util::client::legacy::Error) -> NetError {
        if let Some(known) = in_chain(err) {
            known
        } else if err.is_connect() {
            NetError::ConnectFailed(chain(err))
        } else {
            NetError::Protocol(chain(err))
        }
    }
}

/// The first error in `err`'s chain that says what went wrong.
fn in_chain(err: &(dyn StdError + 'static)) -> Option<NetError> {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(p) = e.downcast_ref::<ProxyFailed>() {
            return Some(NetError::Proxy(p.to_string()));
        }
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(from_tls(tls));
        }
        // The server closed the connection before the whole answer came (it restarted, or
        // closed a kept-alive connection as the request went out): worth another try.
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return Some(NetError::Terminated);
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(known) = from_io(io) {
                return Some(known);
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
                return Some(NetError::ResponseTimeout);
            }
            if h.is_parse_too_large() {
                return Some(NetError::HeadersTooLarge);
            }
        }
        source = e.source();
    }
    None
}

fn from_tls(e: &rustls::Error) -> NetError {
    match e {
        rustls::Error::InvalidCertificate(why) => NetError::TlsCertificate(format!("{why:?}")),
        rustls::Error::AlertReceived(alert) => NetError::TlsAlert {
            id: u8::from(*alert),
            message: format!("{alert:?}"),
        },
        other => NetError::Tls(other.to_string()),
    }
}

fn from_io(e: &std::io::Error) -> Option<NetError> {
    use std::io::ErrorKind;
    let known = match e.kind() {
        ErrorKind::ConnectionRefused => NetError::Refused,
        ErrorKind::TimedOut => NetError::ConnectTimeout,
        ErrorKind::HostUnreachable => NetError::Unreachable,
        ErrorKind::NetworkUnreachable => NetError::Unroutable,
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => NetError::Terminated,
        // No local port or address left (EADDRNOTAVAIL), not a name that does not resolve.
        ErrorKind::AddrNotAvailable => NetError::NoLocalAddress(e.to_string()),
        _ if e.to_string().starts_with("failed to lookup address") => NetError::Dns(e.to_string()),
        _ => return None,
    };
    Some(known)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn io_failures_are_told_apart() {
        use std::io::{Error, ErrorKind};
        let known = |e: Error| format!("{:?}", from_io(&e));
        assert_eq!(
            known(Error::from(ErrorKind::ConnectionRefused)),
            "Some(Refused)"
        );
        assert_eq!(
            known(Error::from(ErrorKind::ConnectionReset)),
            "Some(Terminated)"
        );
        assert!(known(Error::other(
            "failed to lookup address information: Name or service not known"
        ))
        .starts_with("Some(Dns("));
        assert_eq!(known(Error::other("something else")), "None");
    }

    #[test]
    fn failures_are_found_inside_nested_io_errors() {
        use std::io::{Error, ErrorKind};
        // As hyper-rustls reports a certificate it does not trust.
        let untrusted = Error::other(Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        let found = in_chain(&untrusted).unwrap();
        assert!(matches!(found, NetError::TlsCertificate(_)), "{found:?}");
        assert!(found.to_string().contains("UnknownIssuer"), "{found}");
        let refused = Error::other(Error::from(ErrorKind::ConnectionRefused));
        assert!(matches!(in_chain(&refused), Some(NetError::Refused)));
        assert!(in_chain(&Error::other("no idea")).is_none());
    }

    #[test]
    fn tls_failures_are_told_apart() {
        let bad_cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert!(matches!(from_tls(&bad_cert), NetError::TlsCertificate(_)));
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert!(matches!(
            from_tls(&alert),
            NetError::TlsAlert { id: 40, .. }
        ));
        assert!(matches!(
            from_tls(&rustls::Error::DecryptError),
            NetError::Tls(_)
        ));
    }

    #[test]
    fn only_failures_that_may_pass_on_their_own_are_retryable() {
        assert!(NetError::Refused.is_retryable());
        assert!(NetError::ResponseTimeout.is_retryable());
        assert!(NetError::Proxy("down".into()).is_retryable());
        assert!(!NetError::TlsCertificate("UnknownIssuer".into()).is_retryable());
        assert!(!NetError::Protocol("not HTTP".into()).is_retryable());
    }
}
