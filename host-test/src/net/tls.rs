//! Client TLS settings for every outbound connection: the Mozilla roots, the system's trust
//! store and any `ca_file`s, plus a client certificate where a sink's receiver asks for one
//! (mutual TLS). Components' requests and HTTP sinks get it through [`super::HttpClient`];
//! the syslog sink uses it directly with `tokio-rustls`.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::connect::root_certificates;

/// A client certificate chain and its private key, for receivers that require mutual TLS.
#[derive(Debug)]
pub struct ClientIdentity {
    /// The certificate first, then its intermediates.
    pub chain: Vec<CertificateDer<'static>>,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> ClientIdentity {
        ClientIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// A rustls client configuration (ring) trusting the built-in and system roots and
/// `extra_roots`, presenting `identity` when the server asks for a client certificate.
///
/// # Errors
/// The key does not match the certificate, or is of a kind rustls cannot use.
pub fn client_config(
    extra_roots: &[CertificateDer<'static>],
    identity: Option<&ClientIdentity>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = root_certificates(extra_roots);
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some(id) => builder.with_client_auth_cert(id.chain.clone(), id.key.clone_key()),
    }
}
