//! [`TestCa`]: a throwaway certificate authority with a server and a client certificate.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::ReceiverError;

/// A certificate authority made for one test run, with a server certificate for `localhost` and
/// `127.0.0.1` and a client certificate (for mutual TLS), all written as PEM files into a
/// directory.
///
/// Keys are ECDSA P-256 (PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`), which GnuTLS (rsyslog's
/// `gtls` driver), OpenSSL (syslog-ng) and rustls all accept.
pub struct TestCa {
    // Kept alive so the files stay; `None` when the caller chose the directory.
    _dir: Option<tempfile::TempDir>,
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// Makes the CA and both certificates in a new temporary directory, removed when the
    /// `TestCa` is dropped.
    pub fn new() -> Result<Self, ReceiverError> {
        let dir = tempfile::Builder::new()
            .prefix("mcsource-test-ca-")
            .tempdir()
            .map_err(|e| ReceiverError::io("creating a temporary directory for the test CA", e))?;
        let path = dir.path().to_path_buf();
        let mut ca = Self::in_dir(&path)?;
        ca._dir = Some(dir);
        Ok(ca)
    }

    /// Makes the CA and both certificates in `dir` (created if missing; files are overwritten):
    /// `ca.pem`, `server.pem`, `server.key`, `client.pem`, `client.key`.
    pub fn in_dir(dir: &Path) -> Result<Self, ReceiverError> {
        fs::create_dir_all(dir)
            .map_err(|e| ReceiverError::io(format!("creating {}", dir.display()), e))?;
        let ca_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "mcsource test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = params.self_signed(&ca_key)?;
        let issuer = Issuer::new(params, ca_key);

        let ca = Self {
            _dir: None,
            dir: dir.to_path_buf(),
            issuer,
            ca_pem: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        };
        write(&ca.ca_pem, &ca_cert.pem())?;
        ca.issue(
            "localhost",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &ca.server_cert,
            &ca.server_key,
        )?;
        ca.issue(
            "mcsource test client",
            &["mcsource-test-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &ca.client_cert,
            &ca.client_key,
        )?;
        Ok(ca)
    }

    /// Issues one more client certificate signed by this CA (common name `common_name`), written
    /// to `<dir>/<file_stem>.pem` and `<dir>/<file_stem>.key`; returns (certificate, key) paths.
    pub fn issue_client_cert(
        &self,
        common_name: &str,
        file_stem: &str,
    ) -> Result<(PathBuf, PathBuf), ReceiverError> {
        let cert = self.dir.join(format!("{file_stem}.pem"));
        let key = self.dir.join(format!("{file_stem}.key"));
        self.issue(
            common_name,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            &cert,
            &key,
        )?;
        Ok((cert, key))
    }

    fn issue(
        &self,
        common_name: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<(), ReceiverError> {
        let key = KeyPair::generate()?;
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        // `127.0.0.1` becomes an IP address SAN.
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer)?;
        write(cert_path, &cert.pem())?;
        write(key_path, &key.serialize_pem())?;
        Ok(())
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The CA certificate (PEM): the trust anchor for clients, and for the daemons when they
    /// verify client certificates.
    pub fn ca_pem(&self) -> &Path {
        &self.ca_pem
    }
    /// The server certificate (PEM), for `localhost` and `127.0.0.1`.
    pub fn server_cert(&self) -> &Path {
        &self.server_cert
    }
    /// The server's private key (PKCS#8 PEM).
    pub fn server_key(&self) -> &Path {
        &self.server_key
    }
    /// A client certificate signed by the CA (PEM), for mutual TLS.
    pub fn client_cert(&self) -> &Path {
        &self.client_cert
    }
    /// The client's private key (PKCS#8 PEM).
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }
}

fn write(path: &Path, text: &str) -> Result<(), ReceiverError> {
    fs::write(path, text).map_err(|e| ReceiverError::io(format!("writing {}", path.display()), e))
}
