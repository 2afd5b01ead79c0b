//! HTTPS: a rustls server configuration from PEM files, or from a certificate generated at start
//! for localhost. HTTP/2 is offered by ALPN (actix adds `h2` and `http/1.1`); plain HTTP stays
//! HTTP/1.1.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// A PEM certificate chain and its private key.
    Files {
        /// The certificate chain, PEM.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1), PEM.
        key: PathBuf,
    },
    /// Generated for localhost, 127.0.0.1 and ::1; optionally written out as PEM so a test or a
    /// browser can trust it.
    SelfSigned {
        /// Where to write the generated certificate (PEM), to trust it.
        write_cert: Option<PathBuf>,
    },
}

/// Why the certificate or key cannot be used; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TlsError(String);

/// A ready server configuration and the certificate's fingerprint, to print at start.
pub(crate) struct Tls {
    pub(crate) config: ServerConfig,
    /// SHA-256 of the leaf certificate, as colon-separated hex.
    pub(crate) fingerprint: String,
}

impl Tls {
    pub(crate) fn load(source: &TlsSource) -> Result<Tls, TlsError> {
        Self::load_source(source).map_err(TlsError)
    }

    fn load_source(source: &TlsSource) -> Result<Tls, String> {
        let (certs, key) = match source {
            TlsSource::Files { cert, key } => (read_certs(cert)?, read_key(key)?),
            TlsSource::SelfSigned { write_cert } => {
                let names = vec![
                    "localhost".to_owned(),
                    "127.0.0.1".to_owned(),
                    "::1".to_owned(),
                ];
                let generated = rcgen::generate_simple_self_signed(names)
                    .map_err(|e| format!("cannot generate a certificate: {e}"))?;
                if let Some(path) = write_cert {
                    std::fs::write(path, generated.cert.pem())
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                }
                let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
                (
                    vec![generated.cert.der().clone()],
                    PrivateKeyDer::Pkcs8(key),
                )
            }
        };
        let fingerprint = certs.first().map(fingerprint).unwrap_or_default();
        // The provider is named rather than left to the process default, which panics when
        // more than one provider is compiled in.
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
        Ok(Tls {
            config,
            fingerprint,
        })
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("cannot read a private key from {}: {e}", path.display()))
}

fn fingerprint(cert: &CertificateDer<'_>) -> String {
    ring::digest::digest(&ring::digest::SHA256, cert.as_ref())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
