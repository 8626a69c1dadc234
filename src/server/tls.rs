//! TLS for `rediss://` URLs, with rustls: the server's certificate verified against
//! `--tls-ca` (or the webpki roots), a client certificate when the server requires one, and
//! no verification only when `--tls-insecure` asks for it, never as a silent fallback.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};

/// TLS files and flags from the command line (`--tls-ca`, `--tls-cert`, `--tls-key`,
/// `--tls-insecure`); they apply to `rediss://` URLs only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file of the CA that signed the server's certificate (instead of the webpki roots).
    pub ca: Option<PathBuf>,
    /// PEM client certificate, for servers that require one.
    pub cert: Option<PathBuf>,
    /// PEM key of the client certificate.
    pub key: Option<PathBuf>,
    /// Accept any server certificate: only when asked for, with a warning.
    pub insecure: bool,
}

impl TlsFiles {
    /// Whether any TLS flag was given.
    pub fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some() || self.insecure
    }

    /// The client configuration these files and flags make; a file that cannot be read or
    /// holds no certificate (or key) is a usage error naming its flag.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>> {
        // ring, the crypto backend rustls is built with here (its default, aws-lc-rs, needs
        // cmake and a C toolchain on every machine that builds monsoon).
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Usage(format!("cannot set up TLS: {e}")))?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        } else {
            let mut roots = RootCertStore::empty();
            match &self.ca {
                Some(ca) => {
                    for cert in certificates("--tls-ca", ca)? {
                        roots
                            .add(cert)
                            .map_err(|e| usage("--tls-ca", ca, &e.to_string()))?;
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots)
        };
        let config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let chain = certificates("--tls-cert", cert)?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| usage("--tls-key", key, &e.to_string()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| Error::Usage(format!("cannot use --tls-cert/--tls-key: {e}")))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(Error::Usage(String::from(
                    "--tls-cert and --tls-key go together",
                )));
            }
        };
        Ok(Arc::new(config))
    }
}

/// The certificates of a PEM file; none is an error naming `flag`.
fn certificates(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| usage(flag, path, &e.to_string()))?;
    match certs.is_empty() {
        true => Err(usage(flag, path, "it holds no PEM certificate")),
        false => Ok(certs),
    }
}

/// A usage error for a TLS file.
fn usage(flag: &str, path: &Path, reason: &str) -> Error {
    let reason = match reason.contains("No such file") || reason.contains("os error 2") {
        true => "No such file or directory (os error 2)",
        false => reason,
    };
    Error::Usage(format!("cannot read {flag} {}: {reason}", path.display()))
}

/// The server name a certificate must be for: the URL's host (a DNS name or an IP).
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|_| {
        Error::Usage(format!(
            "invalid --redis-url: {host} is not a host name for TLS"
        ))
    })
}

/// `--tls-insecure`: every certificate is accepted (signatures still checked as well-formed).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl AcceptAny {
    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.0.signature_verification_algorithms
    }
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A missing file is a usage error naming the flag and the path; cert without key too.
    #[test]
    fn files_that_cannot_be_read() {
        let missing = TlsFiles {
            ca: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..TlsFiles::default()
        };
        let err = missing.client_config().unwrap_err().to_string();
        assert!(err.contains("--tls-ca /nonexistent/ca.pem"), "{err}");
        let half = TlsFiles {
            cert: Some(PathBuf::from("/nonexistent/c.pem")),
            ..TlsFiles::default()
        };
        assert!(half.client_config().is_err());
        assert!(TlsFiles::default().client_config().is_ok());
        assert!(server_name("127.0.0.1").is_ok() && server_name("redis.example").is_ok());
    }
}
