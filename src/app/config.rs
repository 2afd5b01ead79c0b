//! How a server runs: what the command line (or a test) sets, as opposed to what the spec
//! says. [`ServeConfig::new`] gives the defaults the command line documents.

use std::path::PathBuf;
use std::time::Duration;

use super::tls::TlsSource;
use crate::engine::recording::RecordOptions;
use crate::engine::upstream::client::UpstreamTls;

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The spec file.
    pub spec: PathBuf,
    /// The address to listen on: loopback unless asked otherwise.
    pub host: String,
    /// 0 picks a free port; [`Server::addr`](crate::Server::addr) tells which.
    pub port: u16,
    /// Worker threads; `None` lets actix use one per core.
    pub workers: Option<usize>,
    /// What one request or connection may use.
    pub limits: Limits,
    /// HTTPS; `None` also takes `server.tls` from the spec, if it has one.
    pub tls: Option<TlsSource>,
    /// Stop gracefully on SIGINT/SIGTERM. Off when embedded in tests, where the host process
    /// owns its signals.
    pub handle_signals: bool,
    /// Reload when the spec or a file it names is saved.
    pub watch: bool,
    /// Keep resource data in this file across restarts.
    pub state_file: Option<PathBuf>,
    /// Start from the seeds: what the state file holds is replaced, on purpose.
    pub state_reset: bool,
    /// Resource data shared with other replicas in the Redis at this URL.
    pub state: Option<String>,
    /// Serve the `/__mockrig/` endpoints.
    pub admin: bool,
    /// Require `Authorization: Bearer TOKEN` on every `/__mockrig/` call.
    pub admin_token: Option<String>,
    /// Without a token: host names the admin API answers besides the loopback ones and the
    /// listening address (`Host:`), e.g. a name in `/etc/hosts` for this machine.
    pub allowed_hosts: Vec<String>,
    /// Without a token: page origins that may call the admin API besides the server's own,
    /// e.g. `http://localhost:5173` for a dev server's page.
    pub allowed_origins: Vec<String>,
    /// Write the server's URL here, atomically, once it is listening.
    pub ready_file: Option<PathBuf>,
    /// How many requests the journal keeps (default 1,000); 0 keeps none. Each session's
    /// journal keeps as many.
    pub journal: usize,
    /// Most sessions (`X-Mockrig-Session`) kept at once; the least recently used goes first.
    pub max_sessions: usize,
    /// The bytes all sessions together may hold (their copies of resources they wrote to,
    /// what they wrote, their journals); beyond it the least recently used go first.
    pub max_session_bytes: usize,
    /// Makes every random value (templates, `sequence: random`, delay ranges) reproducible.
    pub seed: Option<u64>,
    /// Build absolute links (the `Link` of a paginated list) from `X-Forwarded-Host`,
    /// `X-Forwarded-Proto` and `Forwarded`, as set by a proxy in front; otherwise from the
    /// request's own `Host`, since any client can send those headers.
    pub trust_forwarded: bool,
    /// How backends of `proxy:` are trusted over https.
    pub upstream: UpstreamTls,
    /// Write what proxied requests got back as a spec.
    pub record: Option<RecordOptions>,
}

/// What one request or connection may use. Exceeding a limit gets the proper status, never a
/// crash: 413 (body), 414 (URL), 431 (headers), 408 (a request that does not arrive in time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// Longest path and query, in bytes.
    pub max_url_bytes: usize,
    /// Most request headers (actix itself refuses more than 96, with 431).
    pub max_headers: usize,
    /// Most bytes of header names and values together.
    pub max_header_bytes: usize,
    /// Time for a client to send its first request's head (actix), and each request's body
    /// (mockrig); a slower client is answered 408 and cut off.
    pub request_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Duration,
    /// Open connections per worker; further ones wait to be accepted.
    pub max_connections: usize,
    /// The bytes one response's (or one message's) templates may render together; a template
    /// that would write more, or a filter asked to make more (`indent`, `format`, `tojson`,
    /// `replace`, `join`), answers 500 saying so.
    pub max_template_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1024 * 1024,
            max_url_bytes: 8 * 1024,
            max_headers: 64,
            max_header_bytes: 32 * 1024,
            request_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(5),
            max_connections: 25_000,
            max_template_bytes: 4 * 1024 * 1024,
        }
    }
}

impl ServeConfig {
    /// The defaults for serving `spec`: loopback, a free port, the admin API on without a
    /// token, watching for saves, a journal of 1,000 requests.
    pub fn new(spec: impl Into<PathBuf>) -> Self {
        ServeConfig {
            spec: spec.into(),
            host: "127.0.0.1".into(),
            port: 0,
            workers: None,
            limits: Limits::default(),
            tls: None,
            handle_signals: false,
            watch: true,
            state_file: None,
            state_reset: false,
            state: None,
            admin: true,
            admin_token: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            ready_file: None,
            journal: 1000,
            max_sessions: crate::engine::sessions::DEFAULT_LIMIT,
            max_session_bytes: crate::engine::sessions::DEFAULT_BYTE_LIMIT,
            seed: None,
            trust_forwarded: false,
            upstream: UpstreamTls::default(),
            record: None,
        }
    }
}
