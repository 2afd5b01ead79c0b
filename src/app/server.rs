//! Starting and stopping: the spec compiled and the state restored ([`load`]), then actix
//! bound with the admin scope and one default service, the request pipeline, over the live
//! snapshot; signals close the real-time connections before the requests in flight finish.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, web};

use super::admin;
use super::admin::access::{AdminAccess, is_loopback};
use super::config::ServeConfig;
use super::head_watch::HeadLimits;
use super::live::{LiveSpec, SwapError};
use super::pipeline;
use super::reload::Reloader;
use super::state::AppState;
use super::tls::{Tls, TlsSource};
use super::transport::{self, Transport};
use super::watch::Watcher;
use crate::engine::channels::hub::Hub;
use crate::engine::channels::relay;
use crate::engine::fault;
use crate::engine::journal::RequestJournal;
use crate::engine::journal::shared::SharedJournal;
use crate::engine::monitor::Monitor;
use crate::engine::recording::{RecordOptions, Recorder};
use crate::engine::resources::stores::Stores;
use crate::engine::resources::wal::WriteAheadLog;
use crate::engine::route_state::RouteState;
use crate::engine::route_state::shared::SharedRouteState;
use crate::engine::sessions::Sessions;
use crate::engine::upstream::client::Upstream;
use crate::files::replace_atomically;
use crate::model::private::PrivateFiles;
use crate::spec::LoadError;
use crate::spec::load::SpecSource;

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The spec cannot be read or has errors.
    #[error("{0}")]
    Spec(#[from] LoadError),
    /// The state file cannot be read or written.
    #[error("{0}")]
    State(String),
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The spec's folder cannot be watched for saves.
    #[error("cannot watch the spec: {0}")]
    Watch(String),
    /// The admin API would be reachable from other machines without a token.
    #[error(
        "refusing to serve the admin API on the non-loopback address {0} without a token: \
         pass --admin-token TOKEN, or --admin off"
    )]
    UnsafeAdmin(String),
    /// The admin token is empty or has spaces around it.
    #[error("the admin token must not be empty or start or end with spaces")]
    BadToken,
    /// The ready file cannot be written (or a stale one removed).
    #[error("cannot write the ready file {0}: {1}")]
    ReadyFile(String, std::io::Error),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address as given.
        addr: String,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The settings for backends (`--upstream-ca`) or the recording cannot be used.
    #[error("{0}")]
    Proxy(String),
    /// The thread of a background server ended before it was listening.
    #[error("the server thread ended before it was listening")]
    ThreadDied,
}

impl From<SwapError> for StartError {
    fn from(e: SwapError) -> Self {
        match e {
            SwapError::Spec(report) => StartError::Spec(LoadError::Invalid(report)),
            SwapError::State(e) => StartError::State(e.to_string()),
            // No stubs exist before the server starts.
            SwapError::Stubs(lines) => StartError::State(lines.join("; ")),
        }
    }
}

/// Everything a server needs before it binds: the spec compiled, the state restored, the
/// watcher started.
pub(crate) struct Loaded {
    pub(crate) app: web::Data<AppState>,
    pub(crate) watcher: Option<Watcher>,
    /// `server.tls` of the spec, for when the command line names no certificate.
    pub(crate) spec_tls: Option<TlsSource>,
}

/// Compiles the spec, restores the state and starts watching.
pub(crate) fn load(config: &ServeConfig) -> Result<Loaded, StartError> {
    let source = SpecSource::read(&config.spec)?;
    let state_log = config.state_file.as_deref().map(WriteAheadLog::path_for);
    let private = PrivateFiles::new(
        [
            ("the state file", config.state_file.as_deref()),
            ("the state file's log", state_log.as_deref()),
            ("the ready file", config.ready_file.as_deref()),
        ]
        .into_iter()
        .filter_map(|(what, path)| Some((what, path?))),
    );
    // The spec first: one that does not compile must not create (or truncate) state files.
    let first = LiveSpec::compile_first(source, private, config.limits.max_template_bytes)?;
    let stores = Arc::new(match (&config.state_file, &config.state) {
        (Some(path), _) => Stores::persistent(path, config.state_reset)
            .map_err(|e| StartError::State(e.to_string()))?,
        (None, Some(url)) => Stores::shared(url).map_err(StartError::State)?,
        (None, None) => Stores::in_memory(),
    });
    let hub = Arc::new(Hub::default());
    if let Some(shared) = stores.shared_store() {
        relay::start(hub.clone(), shared.client());
    }
    let monitor = Arc::new(Monitor::default());
    let (live, started) = LiveSpec::start(first, stores.clone(), hub.clone(), monitor.clone())?;
    tracing::info!(spec = %config.spec.display(), "loaded: {}", started.changes);
    if let Some(shared) = stores.shared_store() {
        // Before serving: a replica that cannot reach Redis must not answer from its seeds.
        let seeded = stores.start_shared().map_err(StartError::State)?;
        tracing::info!(
            "resource data shared through {}{}",
            shared.shown(),
            if seeded.is_empty() {
                String::new()
            } else {
                format!(" (seeded there now: {})", seeded.join(", "))
            }
        );
    }
    if started.warnings.warnings() > 0 {
        tracing::warn!("{}", started.warnings);
    }
    if !started.resources.restored.is_empty() {
        tracing::info!(
            "restored from the state file: {}",
            started.resources.restored.join(", ")
        );
    }
    let live = Arc::new(live);
    // Taken before `with_spec`, which holds the lock `included` takes.
    let included = live.included();
    let (reloader, spec_tls) = live.with_spec(|source, spec| {
        let tls = spec.server.tls.as_ref().map(|t| TlsSource::Files {
            cert: source.dir.join(&t.cert),
            key: source.dir.join(&t.key),
        });
        (Reloader::new(source, spec, included, live.clone()), tls)
    });
    let reloader = Arc::new(reloader);
    let upstream = Upstream::new(&config.upstream).map_err(StartError::Proxy)?;
    let recorder = match &config.record {
        Some(options) => Some(start_recording(config, options, &live)?),
        None => None,
    };
    let watcher = if config.watch {
        Some(Watcher::start(reloader.clone()).map_err(|e| StartError::Watch(e.to_string()))?)
    } else {
        None
    };
    let shared_journal = stores
        .shared_store()
        .map(|shared| SharedJournal::new(shared.clone(), config.journal));
    let shared_state = stores
        .shared_store()
        .map(|shared| SharedRouteState::new(shared.clone()));
    let app = web::Data::new(AppState {
        snapshot: live.snapshot().clone(),
        live_spec: live,
        reloader,
        stores,
        hub,
        monitor,
        journal: RequestJournal::new(config.journal),
        shared_journal,
        sessions: Sessions::new(
            config.max_sessions,
            config.max_session_bytes,
            config.journal,
        ),
        route_state: RouteState::default(),
        shared_state,
        stubs_seen: Default::default(),
        stubs_refresh: Default::default(),
        limits: config.limits.clone(),
        admin: AdminAccess::new(
            config.admin_token.clone(),
            &config.host,
            &config.allowed_hosts,
            &config.allowed_origins,
        ),
        watching: watcher.is_some(),
        seed: config.seed,
        trust_forwarded: config.trust_forwarded,
        upstream,
        recorder,
    });
    if app.shared_state.is_some() {
        app.hub
            .on_stubs_changed(crate::app::shared::on_stubs_changed(&app));
    }
    Ok(Loaded {
        app,
        watcher,
        spec_tls,
    })
}

/// `--record`: refuses to write over the spec itself, says when nothing in the spec proxies.
fn start_recording(
    config: &ServeConfig,
    options: &RecordOptions,
    live: &LiveSpec,
) -> Result<Arc<Recorder>, StartError> {
    let same = |a: &std::path::Path, b: &std::path::Path| match (a.canonicalize(), b.canonicalize())
    {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(&options.out, &config.spec) {
        return Err(StartError::Proxy(format!(
            "recording into {}: that is the spec being served; record into another file",
            options.out.display()
        )));
    }
    let (source, proxies) = live.with_spec(|_, spec| {
        let fallback = spec.server.fallback.as_ref().map(|f| f.proxy.options().url);
        let routes = spec.routes.iter().any(|r| r.proxy.is_some());
        (fallback, routes)
    });
    if source.is_none() && !proxies {
        tracing::warn!(
            "--record: the spec proxies nothing (no proxy: route, no server.fallback), so \
             nothing will be recorded"
        );
    }
    let source = source.unwrap_or_else(|| "the backends of the spec's proxy: routes".into());
    Recorder::start(options.clone(), &source).map_err(StartError::Proxy)
}

/// A bound, not yet running server.
pub struct Server {
    addr: SocketAddr,
    scheme: &'static str,
    server: actix_web::dev::Server,
    app: web::Data<AppState>,
    watcher: Option<Watcher>,
    handle_signals: bool,
    /// Removed when the server stops, so a later run's waiter cannot read this run's URL.
    ready_file: Option<PathBuf>,
}

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use actix_web::rt::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = actix_web::rt::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = actix_web::rt::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = actix_web::rt::signal::ctrl_c().await;
    }
}

impl Server {
    /// Loads the spec, binds the address and prepares the server. Call inside an actix or
    /// tokio runtime, then await [`Server::run`].
    pub fn start(config: &ServeConfig) -> Result<Server, StartError> {
        if config.admin && config.admin_token.is_none() && !is_loopback(&config.host) {
            return Err(StartError::UnsafeAdmin(config.host.clone()));
        }
        if config
            .admin_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty() || t.trim() != t)
        {
            return Err(StartError::BadToken);
        }
        // A ready file left by a run that did not stop cleanly would announce its dead URL.
        if let Some(path) = &config.ready_file {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StartError::ReadyFile(path.display().to_string(), e)),
            }
        }
        let loaded = load(config)?;
        let tls = match config.tls.as_ref().or(loaded.spec_tls.as_ref()) {
            Some(source) => Some(Tls::load(source).map_err(|e| StartError::Tls(e.to_string()))?),
            None => None,
        };
        let addr_text = if config.host.contains(':') {
            format!("[{}]:{}", config.host, config.port)
        } else {
            format!("{}:{}", config.host, config.port)
        };
        let bind_error = |source| StartError::Bind {
            addr: addr_text.clone(),
            source,
        };
        let listener =
            TcpListener::bind((config.host.as_str(), config.port)).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let app_data = loaded.app.clone();
        let limits = &config.limits;
        let with_admin = config.admin;
        let max_body = limits.max_body;
        let app = move || {
            App::new()
                .app_data(app_data.clone())
                // The admin endpoints' bodies (pushes, stubs, state) take the same limit as
                // the mock's own, not actix's 256 KiB default.
                .app_data(web::PayloadConfig::new(max_body))
                .configure(|cfg| {
                    if with_admin {
                        cfg.service(admin::scope());
                    }
                })
                .default_service(web::to(pipeline::handle))
        };
        let transport = Transport {
            head: HeadLimits::new(limits.max_url_bytes, limits.request_timeout),
            keep_alive: limits.keep_alive,
            request_timeout: limits.request_timeout,
            on_connect: fault::on_connect,
        };
        let mut builder =
            actix_server::Server::build().max_concurrent_connections(limits.max_connections);
        if let Some(n) = config.workers {
            builder = builder.workers(n);
        }
        let scheme = match tls {
            Some(tls) => {
                // On stderr, as stdout carries only the "listening" line.
                eprintln!(
                    "mockrig TLS certificate SHA-256 fingerprint: {}",
                    tls.fingerprint
                );
                builder = transport::listen(builder, listener, Some(tls.config), transport, app)
                    .map_err(bind_error)?;
                "https"
            }
            None => {
                builder = transport::listen(builder, listener, None, transport, app)
                    .map_err(bind_error)?;
                "http"
            }
        };
        // mockrig takes the signals itself (see `Server::run`): actix's graceful stop would wait
        // for WebSocket and SSE connections, which never end on their own.
        let http = builder.disable_signals().shutdown_timeout(5);
        loaded.app.admin.bound(scheme, addr.port());
        let url = format!("{scheme}://{addr}");
        if config.admin {
            tracing::info!("dashboard: {url}/__mockrig/ui");
        }
        if let Some(path) = &config.ready_file {
            replace_atomically(path, url.as_bytes())
                .map_err(|e| StartError::ReadyFile(path.display().to_string(), e))?;
        }
        Ok(Server {
            addr,
            scheme,
            server: http.run(),
            app: loaded.app,
            watcher: loaded.watcher,
            handle_signals: config.handle_signals,
            ready_file: config.ready_file.clone(),
        })
    }

    /// The address it listens on (the port chosen, for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` or `https://` and the address.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub(crate) fn app(&self) -> &web::Data<AppState> {
        &self.app
    }

    /// Serves until stopped. With `handle_signals`, SIGINT or SIGTERM closes the WebSocket
    /// connections with 1001 and ends the SSE streams, then waits for requests in flight.
    pub async fn run(self) -> std::io::Result<()> {
        if self.handle_signals {
            let (handle, hub) = (self.server.handle(), self.app.hub.clone());
            let monitor = self.app.monitor.clone();
            actix_web::rt::spawn(async move {
                shutdown_signal().await;
                tracing::info!("stopping: closing real-time connections, finishing requests");
                hub.close_all();
                monitor.close_all();
                handle.stop(true).await;
            });
        }
        let result = self.server.await;
        drop(self.watcher);
        if let Some(path) = &self.ready_file {
            let _ = std::fs::remove_file(path);
        }
        result
    }
}
