//! Starts mockrig in-process on 127.0.0.1:0 from a spec written to a temporary folder.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};

use mockrig::{Background, ServeConfig};

pub struct Mock {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    _server: Background,
}

impl Mock {
    /// Serves `yaml` after writing `files` (path, contents) next to it.
    pub fn start(yaml: &str, files: &[(&str, &[u8])]) -> Mock {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, contents) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, contents).unwrap();
        }
        let spec = dir.path().join("api.yaml");
        std::fs::write(&spec, yaml).unwrap();
        let server = serve(&spec).unwrap_or_else(|e| panic!("mockrig did not start: {e}"));
        Mock {
            url: server.url(),
            dir,
            client: client(),
            _server: server,
        }
    }

    /// Talks to a server the test started itself, with its own configuration.
    pub fn attach(server: Background) -> Mock {
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

pub fn serve(spec: &Path) -> Result<Background, mockrig::StartError> {
    let mut config = ServeConfig::new(spec);
    config.workers = Some(1);
    config.journal = 1000;
    Background::start(config)
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
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_backend_preconfigured(tls);
    if http1_only {
        b = b.http1_only();
    }
    b.build().unwrap()
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
