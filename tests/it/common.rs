//! What the tests share: mockrig started in-process on 127.0.0.1:0 through the public
//! [`MockServer`], from spec text written to a temporary folder; clients; bounded polling.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mockrig::{MockServer, ServeConfig};

/// The bytes of a request body the journal keeps (64 KiB, as the README documents).
pub const JOURNAL_BODY_LIMIT: usize = 64 * 1024;

/// The bytes each session's journal keeps at most (256 KiB, as the README documents).
pub const SESSION_JOURNAL_BYTES: usize = 256 * 1024;

/// A mock serving a spec from a temporary folder, and a client for it.
pub struct Mock {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    _server: MockServer,
}

impl Mock {
    /// Serves `yaml` after writing `files` (path, contents) next to it.
    pub fn start(yaml: &str, files: &[(&str, &[u8])]) -> Mock {
        Mock::with(yaml, files, |_| {})
    }

    /// Serves `yaml` with `edit` applied to the test configuration.
    pub fn with(yaml: &str, files: &[(&str, &[u8])], edit: impl FnOnce(&mut ServeConfig)) -> Mock {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, contents) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, contents).unwrap();
        }
        let spec = dir.path().join("api.yaml");
        std::fs::write(&spec, yaml).unwrap();
        let mut config = config(&spec);
        edit(&mut config);
        let server = MockServer::with_config(config)
            .unwrap_or_else(|e| panic!("mockrig did not start: {e}"));
        Mock {
            url: server.url(),
            dir,
            client: client(),
            _server: server,
        }
    }

    /// Talks to a server the test started itself, with its own configuration.
    pub fn attach(server: MockServer) -> Mock {
        Mock {
            url: server.url(),
            dir: tempfile::tempdir().expect("temp dir"),
            client: client(),
            _server: server,
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.at(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.at(path))
            .send()
            .await
            .expect("request")
    }

    /// Sends a raw request line, so paths reach the server exactly as written (reqwest would
    /// normalise `..` away), and returns the status code.
    pub async fn raw_status(&self, path: &str) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.url.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out);
        text.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"))
    }
}

/// The tests' configuration for `spec`: one worker, a journal, watching for saves.
pub fn config(spec: &Path) -> ServeConfig {
    let mut config = ServeConfig::new(spec);
    config.workers = Some(1);
    config.journal = 1000;
    config
}

/// Serves the spec file with the tests' configuration.
pub fn serve(spec: &Path) -> Result<MockServer, mockrig::StartError> {
    MockServer::with_config(config(spec))
}

/// The response body as JSON; the status and the text when it is not.
pub async fn json_of(r: reqwest::Response) -> serde_json::Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"))
}

/// Polls `check` until it returns `Some`, for at most `limit`: for what has no readiness
/// signal of its own (a file watcher's reload, a connection registering). Panics with `what`
/// when the time runs out.
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The blocking form of [`eventually`], for tests without an async runtime.
pub fn eventually_blocking<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A port free on 127.0.0.1 now, for a server that cannot take port 0 itself
/// (chromedriver, redis-server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn client() -> reqwest::Client {
    // reqwest's rustls is built without a provider (the default one would compile aws-lc-rs
    // next to ring); name ring once per test process. Err means it is already set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A client that trusts exactly `cert_pem`, offering HTTP/2 and HTTP/1.1 by ALPN.
pub fn tls_client(cert_pem: &[u8], http1_only: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_backend_preconfigured(tls_config(cert_pem, http1_only));
    if http1_only {
        b = b.http1_only();
    }
    b.build().unwrap()
}

/// The TLS settings of [`tls_client`]: trusting `cert_pem`, offering HTTP/2 unless
/// `http1_only`.
pub fn tls_config(cert_pem: &[u8], http1_only: bool) -> rustls::ClientConfig {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = if http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    tls
}

/// A process of the `mockrig` binary; killed when dropped, so a failing test leaves none behind.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the first line the process printed (its readiness signal) and returns its URL.
pub fn listening_url(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("mockrig listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
}
