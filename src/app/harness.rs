//! mockrig inside `cargo test`, the way wiremock-rs or httpmock are used: start a mock from a
//! spec file or YAML text, point the code under test at [`MockServer::url`], then ask what it
//! sent with [`MockServer::requests`] and [`MockServer::verify`].
//!
//! ```no_run
//! let mock = mockrig::MockServer::from_yaml(
//!     "routes:\n  - { method: POST, path: /orders, response: { status: 201 } }\n",
//! );
//! // ... the code under test sends POST {mock.url()}/orders ...
//! mock.verify(serde_json::json!({"method": "POST", "path": "/orders", "count": 1})).unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::background::BackgroundServer;
use super::config::ServeConfig;
use super::server::StartError;
use crate::engine::journal::RequestPattern;

/// Why [`MockServer::verify`] failed: the expected count and what matched, with the closest
/// requests and what each got wrong; or a pattern that is not one. Its `Debug` is the message
/// itself, so an `unwrap()` in a test prints it readably.
#[derive(thiserror::Error)]
#[error("{0}")]
pub struct VerifyError(String);

impl std::fmt::Debug for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A running mock; stops when dropped.
pub struct MockServer {
    server: BackgroundServer,
    /// The folder written for [`MockServer::from_yaml`], removed on drop.
    temp: Option<PathBuf>,
}

impl MockServer {
    /// Serves the spec file on a free loopback port; panics with the spec's errors if it has any.
    pub fn start(spec: impl AsRef<Path>) -> MockServer {
        Self::try_start(spec).unwrap_or_else(|e| panic!("mockrig did not start:\n{e}"))
    }

    /// Serves the spec file on a free loopback port; Err: why it did not start.
    pub fn try_start(spec: impl AsRef<Path>) -> Result<MockServer, StartError> {
        let mut config = ServeConfig::new(spec.as_ref());
        // A test wants a fixed spec, a journal to verify against, and few threads.
        config.watch = false;
        config.journal = 1000;
        config.workers = Some(1);
        MockServer::with_config(config)
    }

    /// Serves with a configuration of your own: a state file, a seed, a token, TLS, limits,
    /// watching for saves.
    pub fn with_config(config: ServeConfig) -> Result<MockServer, StartError> {
        Ok(MockServer {
            server: BackgroundServer::start(config)?,
            temp: None,
        })
    }

    /// Serves YAML text. Relative `file:`/`seed_file:` paths would resolve in a temporary
    /// folder, so a spec that names files belongs in a file given to [`MockServer::start`].
    pub fn from_yaml(yaml: &str) -> MockServer {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mockrig-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary folder for the spec");
        let spec = dir.join("api.yaml");
        std::fs::write(&spec, yaml).expect("the spec written to a temporary folder");
        let mut mock = Self::start(&spec);
        mock.temp = Some(dir);
        mock
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The address the mock listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// The requests the mock answered, oldest first, as `/__mockrig/requests` shows them.
    pub fn requests(&self) -> Vec<Value> {
        self.server
            .app()
            .journal
            .all()
            .iter()
            .map(|r| r.to_json())
            .collect()
    }

    /// Checks a request pattern (`method`, `path`, `query`, `headers`, `body`, with `count`,
    /// `at_least` or `at_most`; at least one by default). Ok: how many matched. Err: what was
    /// expected, what matched, and the closest requests with what each got wrong.
    pub fn verify(&self, pattern: Value) -> Result<usize, VerifyError> {
        let pattern: RequestPattern = serde_json::from_value(pattern)
            .map_err(|e| VerifyError(format!("not a request pattern: {e}")))?;
        let v = self
            .server
            .app()
            .journal
            .verify(&pattern)
            .map_err(|e| VerifyError(e.to_string()))?;
        if v.holds {
            return Ok(v.matched);
        }
        let closest = serde_json::to_string_pretty(&v.closest).unwrap_or_default();
        Err(VerifyError(format!(
            "verification failed: expected {}, {} matched; closest requests:\n{closest}",
            v.expected, v.matched
        )))
    }

    /// Everything back to how the spec starts it, as `POST /__mockrig/reset` does: resource
    /// data to the seeds, the journal emptied, runtime stubs removed, sessions dropped.
    pub fn reset(&self) {
        if let Err(e) = self.server.app().reset_all() {
            panic!("mockrig reset failed: {e}");
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(dir) = &self.temp {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
