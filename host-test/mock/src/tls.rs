//! A TLS server identity made on the spot: a self-signed certificate for the given names and a
//! rustls acceptor that presents it, for [`crate::MockServer::start_tls`] and for any other
//! loopback TLS server a test or benchmark needs.

use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// A made-up server identity.
pub struct SelfSignedTls {
    /// Accepts TLS connections with the certificate.
    pub acceptor: TlsAcceptor,
    /// The certificate, for a client to trust.
    pub certificate: CertificateDer<'static>,
    /// The same certificate in PEM.
    pub pem: String,
}

/// A self-signed certificate for `names` (host names or IP addresses) and its acceptor.
///
/// # Errors
/// The certificate cannot be made (e.g. a name that is neither a host name nor an address).
pub fn self_signed_tls(names: &[&str]) -> io::Result<SelfSignedTls> {
    self_signed_tls_with_client_auth(names, &[])
}

/// [`self_signed_tls`] whose acceptor, when `client_roots` is not empty, also requires a client
/// certificate issued by one of `client_roots` (mutual TLS); a client without one fails the
/// handshake.
///
/// # Errors
/// The certificate cannot be made, or a client root is not a usable CA certificate.
pub fn self_signed_tls_with_client_auth(
    names: &[&str],
    client_roots: &[CertificateDer<'static>],
) -> io::Result<SelfSignedTls> {
    let made = rcgen::generate_simple_self_signed(
        names.iter().map(|n| (*n).to_string()).collect::<Vec<_>>(),
    )
    .map_err(io::Error::other)?;
    let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    let certificate = made.cert.der().clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?;
    let builder = if client_roots.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for root in client_roots {
            roots.add(root.clone()).map_err(io::Error::other)?;
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(io::Error::other)?;
        builder.with_client_cert_verifier(verifier)
    };
    let config = builder
        .with_single_cert(vec![certificate.clone()], key.into())
        .map_err(io::Error::other)?;
    Ok(SelfSignedTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        certificate,
        pem: made.cert.pem(),
    })
}
