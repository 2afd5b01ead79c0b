//! The HTTP client requests are proxied with: awc, one per worker thread (awc's client and its
//! connection pool are `!Send`, like the worker that uses them), all sharing one TLS setting.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How mockrig trusts the backends it proxies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTls {
    /// Accept any certificate (`--insecure-upstream`): for a backend with a self-signed one.
    pub insecure: bool,
    /// PEM files of certificate authorities to trust besides the system's (`--upstream-ca`).
    pub ca_files: Vec<PathBuf>,
}

/// The proxy's client settings, shared by every worker; each worker builds its own client
/// from them on its first proxied request.
pub(crate) struct Upstream {
    id: usize,
    /// This server's `Via` entry (`1.1 mockrig-1a2b3c4d`), random per server: a request that
    /// already carries it has come around a proxy loop.
    pub(crate) via: String,
    insecure: bool,
    extra_roots: Vec<CertificateDer<'static>>,
    /// Built on the first `https://` request: reading the system's certificates takes tens of
    /// milliseconds that a spec without a proxy should not pay at start.
    tls: OnceLock<Arc<ClientConfig>>,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This worker's clients, by `Upstream::id` (a process may run several servers).
    static CLIENTS: RefCell<Vec<(usize, awc::Client)>> = const { RefCell::new(Vec::new()) };
}

impl Upstream {
    /// Reads the extra certificate authorities now, so a bad file stops the start.
    pub(crate) fn new(settings: &UpstreamTls) -> Result<Upstream, String> {
        let mut extra_roots = Vec::new();
        for file in &settings.ca_files {
            let certs: Vec<_> = CertificateDer::pem_file_iter(file)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--upstream-ca {}: {e}", file.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "--upstream-ca {}: no PEM certificate in it",
                    file.display()
                ));
            }
            extra_roots.extend(certs);
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        Ok(Upstream {
            via: format!("1.1 mockrig-{}", &token[..8]),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            insecure: settings.insecure,
            extra_roots,
            tls: OnceLock::new(),
        })
    }

    /// Whether the request already went through this server: its `Via` names us.
    pub(crate) fn looped(&self, req: &actix_web::HttpRequest) -> bool {
        req.headers()
            .get_all(actix_web::http::header::VIA)
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains(self.via.as_str()))
    }

    /// This worker's client.
    pub(crate) fn client(&self) -> awc::Client {
        CLIENTS.with(|clients| {
            let mut clients = clients.borrow_mut();
            if let Some((_, c)) = clients.iter().find(|(id, _)| *id == self.id) {
                return c.clone();
            }
            // Connecting and the TLS handshake are bounded by the route's timeout, which covers
            // the whole exchange; awc's own 5 s would cut a longer one short.
            let connector = awc::Connector::new()
                .rustls_0_23(self.tls().clone())
                .timeout(Duration::from_secs(3600))
                .handshake_timeout(Duration::from_secs(3600))
                .limit(512);
            let client = awc::Client::builder()
                .connector(connector)
                // The client's own headers (User-Agent) and redirects would change what the
                // backend sees and what the client gets back.
                .no_default_headers()
                .disable_redirects()
                // Each request sets the route's timeout.
                .disable_timeout()
                .finish();
            clients.push((self.id, client.clone()));
            client
        })
    }

    /// Drops this worker's client and its pooled connections: one of them may hold the
    /// unread rest of an answer.
    pub(crate) fn forget_client(&self) {
        CLIENTS.with(|clients| clients.borrow_mut().retain(|(id, _)| *id != self.id));
    }

    fn tls(&self) -> &Arc<ClientConfig> {
        self.tls.get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions");
            let mut config = if self.insecure {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                    .with_no_client_auth()
            } else {
                let mut roots = RootCertStore::empty();
                let native = rustls_native_certs::load_native_certs();
                for e in &native.errors {
                    tracing::warn!("reading the system's root certificates: {e}");
                }
                roots.add_parsable_certificates(native.certs);
                roots.add_parsable_certificates(self.extra_roots.iter().cloned());
                builder.with_root_certificates(roots).with_no_client_auth()
            };
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Arc::new(config)
        })
    }
}

/// `--insecure-upstream`: any certificate is accepted, signatures are still checked so the
/// handshake itself stays sound.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
