//! A certificate authority made on the spot for mutual-TLS tests: its certificate is what a
//! receiver started with [`crate::Receiver::start_mtls`] trusts, and it issues client
//! certificates for the sink under test.

use std::io;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

/// A throw-away CA for client certificates.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    certificate: CertificateDer<'static>,
    pem: String,
}

/// A client certificate and its private key, issued by a [`TestCa`].
pub struct ClientIdentity {
    /// The certificate in DER.
    pub certificate: CertificateDer<'static>,
    /// The certificate in PEM.
    pub certificate_pem: String,
    /// The private key (PKCS#8) in DER.
    pub key: PrivatePkcs8KeyDer<'static>,
    /// The private key (PKCS#8) in PEM.
    pub key_pem: String,
}

impl TestCa {
    /// A new CA whose subject common name is `name`.
    ///
    /// # Errors
    /// The key or certificate cannot be made.
    pub fn new(name: &str) -> io::Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        let key = KeyPair::generate().map_err(io::Error::other)?;
        let cert = params.self_signed(&key).map_err(io::Error::other)?;
        Ok(TestCa {
            certificate: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate in DER, for [`crate::Receiver::start_mtls`].
    pub fn certificate(&self) -> CertificateDer<'static> {
        self.certificate.clone()
    }

    /// The CA certificate in PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.pem
    }

    /// A client certificate (extended key usage `clientAuth`) for `common_name`.
    ///
    /// # Errors
    /// The key or certificate cannot be made.
    pub fn issue_client(&self, common_name: &str) -> io::Result<ClientIdentity> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().map_err(io::Error::other)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(io::Error::other)?;
        Ok(ClientIdentity {
            certificate: cert.der().clone(),
            certificate_pem: cert.pem(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            key_pem: key.serialize_pem(),
        })
    }
}
