//! The HTTP server: actix-web with a single default service that looks every request up in the
//! current [`Runtime`], held in an `ArcSwap` so that a reload can replace it while actix runs.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method as HttpMethod, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use arc_swap::ArcSwap;
use futures_util::{FutureExt, StreamExt};
use serde_json::{Value, json};

use crate::channels::Hub;
use crate::cors::Cors;
use crate::journal::{Journal, Recorded};
use crate::matcher::RequestView;
use crate::progress::Progress;
use crate::reload::{Reloader, Watcher};
use crate::resources::Stores;
use crate::router::request_segments;
use crate::runtime::{Action, Entry, Runtime, Step, static_file};
use crate::session::{Session, Sessions};
use crate::spec::{self, LoadError, Method};
use crate::template::context::{self, Needs};
use crate::template::functions;
use crate::tls::{Tls, TlsSource};

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub spec: PathBuf,
    pub host: String,
    /// 0 picks a free port; [`Server::addr`] tells which.
    pub port: u16,
    /// Worker threads; `None` lets actix use one per core.
    pub workers: Option<usize>,
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
    /// Requests to this path panic inside the handler. Only for testing that a panic is
    /// caught and answered with 500; the CLI never sets it.
    #[doc(hidden)]
    pub panic_path: Option<String>,
    /// Serve the `/__mockrig/` endpoints.
    pub admin: bool,
    /// Require `Authorization: Bearer TOKEN` on every `/__mockrig/` call.
    pub admin_token: Option<String>,
    /// Write the server's URL here, atomically, once it is listening.
    pub ready_file: Option<PathBuf>,
    /// How many requests the journal keeps (default 1,000); 0 keeps none. Each session's
    /// journal keeps as many.
    pub journal: usize,
    /// Most sessions (`X-Mockrig-Session`) kept at once; the least recently used goes first.
    pub max_sessions: usize,
    /// Makes every random value (templates, `sequence: random`, delay ranges) reproducible.
    pub seed: Option<u64>,
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
    pub request_timeout: std::time::Duration,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: std::time::Duration,
    /// Open connections per worker; further ones wait to be accepted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1024 * 1024,
            max_url_bytes: 8 * 1024,
            max_headers: 64,
            max_header_bytes: 32 * 1024,
            request_timeout: std::time::Duration::from_secs(5),
            keep_alive: std::time::Duration::from_secs(5),
            max_connections: 25_000,
        }
    }
}

impl ServeConfig {
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
            panic_path: None,
            admin: true,
            admin_token: None,
            ready_file: None,
            journal: 1000,
            max_sessions: crate::session::DEFAULT_LIMIT,
            seed: None,
        }
    }
}

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Spec(#[from] LoadError),
    #[error("{0}")]
    Compile(String),
    #[error("{0}")]
    State(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot watch the spec: {0}")]
    Watch(String),
    #[error(
        "refusing to serve the admin API on the non-loopback address {0} without a token: \
         pass --admin-token TOKEN, or --admin off"
    )]
    UnsafeAdmin(String),
    #[error("the admin token must not be empty or start or end with spaces")]
    BadToken,
    #[error("cannot write the ready file {0}: {1}")]
    ReadyFile(String, std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// State shared by all workers. It is created once, outside the per-worker app factory, so
/// every worker sees the same runtime.
pub struct Shared {
    /// The runtime requests are served from; reloads replace it whole.
    pub live: Arc<ArcSwap<Runtime>>,
    pub reloader: Arc<Reloader>,
    /// Resource data, outside the runtime so it outlives reloads.
    pub stores: Arc<Stores>,
    pub watching: bool,
    pub limits: Limits,
    panic_path: Option<String>,
    pub admin_token: Option<String>,
    pub journal: Journal,
    pub sessions: Sessions,
    /// Open WebSocket and SSE connections, across reloads.
    pub hub: Arc<Hub>,
    /// Answer counts and scenario states of requests outside sessions.
    pub progress: Progress,
    /// `--seed`: random template values and choices reproducible from run to run.
    pub seed: Option<u64>,
}

impl Shared {
    /// Everything back to how the spec starts it: resource data to the seeds, the journal
    /// emptied, sequences and scenarios at their start, runtime stubs removed, every session
    /// dropped. (`POST /__mockrig/reset`.)
    pub fn reset_all(&self) -> Result<(), String> {
        self.stores.reset(None)?;
        self.journal.clear();
        self.progress.reset();
        self.sessions.clear();
        self.reloader.clear_stubs()
    }
}

/// A bound, not yet running server.
pub struct Server {
    addr: SocketAddr,
    scheme: &'static str,
    server: actix_web::dev::Server,
    shared: web::Data<Shared>,
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
        let loaded = spec::load_file(&config.spec)?;
        let stores = Arc::new(match &config.state_file {
            Some(path) => Stores::persistent(path).map_err(StartError::State)?,
            None => Stores::in_memory(),
        });
        let (runtime, report) =
            Runtime::compile(&loaded, &stores, &[]).map_err(StartError::Compile)?;
        tracing::info!(spec = %config.spec.display(), "loaded: {}", runtime.spec.summary());
        if !report.restored.is_empty() {
            tracing::info!(
                "restored from the state file: {}",
                report.restored.join(", ")
            );
        }
        let live = Arc::new(ArcSwap::from_pointee(runtime));
        let hub = Arc::new(Hub::default());
        let reloader = Arc::new(Reloader::new(
            &loaded,
            live.clone(),
            stores.clone(),
            hub.clone(),
        ));
        let watcher = if config.watch {
            Some(Watcher::start(reloader.clone()).map_err(|e| StartError::Watch(e.to_string()))?)
        } else {
            None
        };
        let shared = web::Data::new(Shared {
            live,
            reloader,
            stores,
            watching: watcher.is_some(),
            limits: config.limits.clone(),
            panic_path: config.panic_path.clone(),
            admin_token: config.admin_token.clone(),
            journal: Journal::new(config.journal),
            sessions: Sessions::new(config.max_sessions, config.journal),
            hub,
            progress: Progress::default(),
            seed: config.seed,
        });
        let tls_source = config.tls.clone().or_else(|| {
            loaded.spec.server.tls.as_ref().map(|t| TlsSource::Files {
                cert: loaded.dir.join(&t.cert),
                key: loaded.dir.join(&t.key),
            })
        });
        let tls = match &tls_source {
            Some(source) => Some(Tls::load(source).map_err(StartError::Tls)?),
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
        let app_data = shared.clone();
        let limits = &config.limits;
        let admin = config.admin;
        let max_body = limits.max_body;
        let http = HttpServer::new(move || {
            App::new()
                .app_data(app_data.clone())
                // The admin endpoints' bodies (pushes, stubs, state) take the same limit as
                // the mock's own, not actix's 256 KiB default.
                .app_data(web::PayloadConfig::new(max_body))
                .wrap(actix_web::middleware::from_fn(guard))
                .configure(|cfg| {
                    if admin {
                        cfg.service(crate::admin::scope());
                    }
                })
                .default_service(web::to(dispatch))
        })
        .on_connect(crate::response::fault::on_connect)
        .client_request_timeout(limits.request_timeout)
        .keep_alive(limits.keep_alive)
        .max_connections(limits.max_connections);
        let (mut http, scheme) = match tls {
            Some(tls) => {
                // On stderr, as stdout carries only the "listening" line.
                eprintln!(
                    "mockrig TLS certificate SHA-256 fingerprint: {}",
                    tls.fingerprint
                );
                let http = http
                    .listen_rustls_0_23(listener, tls.config)
                    .map_err(bind_error)?;
                (http, "https")
            }
            None => (http.listen(listener).map_err(bind_error)?, "http"),
        };
        if let Some(n) = config.workers {
            http = http.workers(n);
        }
        // mockrig takes the signals itself (see `Server::run`): actix's graceful stop would wait
        // for WebSocket and SSE connections, which never end on their own.
        http = http.disable_signals().shutdown_timeout(5);
        let url = format!("{scheme}://{addr}");
        if let Some(path) = &config.ready_file {
            write_atomically(path, &url)
                .map_err(|e| StartError::ReadyFile(path.display().to_string(), e))?;
        }
        Ok(Server {
            addr,
            scheme,
            server: http.run(),
            shared,
            watcher,
            handle_signals: config.handle_signals,
            ready_file: config.ready_file.clone(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` or `https://` and the address.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped. With `handle_signals`, SIGINT or SIGTERM closes the WebSocket
    /// connections with 1001 and ends the SSE streams, then waits for requests in flight.
    pub async fn run(self) -> std::io::Result<()> {
        if self.handle_signals {
            let (handle, hub) = (self.server.handle(), self.shared.hub.clone());
            actix_web::rt::spawn(async move {
                shutdown_signal().await;
                tracing::info!("stopping: closing real-time connections, finishing requests");
                hub.close_all();
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

/// A server on its own thread, for tests and for embedding mockrig in another program's test
/// suite. Dropping it stops the server.
pub struct Background {
    addr: SocketAddr,
    url: String,
    shared: web::Data<Shared>,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts a server and returns once it is listening.
    pub fn start(config: ServeConfig) -> Result<Background, StartError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match Server::start(&config) {
                    Ok(server) => {
                        let ready = (server.addr(), server.url(), server.shared.clone());
                        let _ = tx.send(Ok((ready, server.handle())));
                        if let Err(e) = server.run().await {
                            tracing::error!("server stopped with an error: {e}");
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
        });
        match rx.recv() {
            Ok(Ok(((addr, url, shared), handle))) => Ok(Background {
                addr,
                url,
                shared,
                handle,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(StartError::Compile(
                "the server thread died while starting".into(),
            )),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The running server's state: its runtime, resource data and journal.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // `stop` sends its command at once; the returned future only waits for completion,
        // which joining the thread does too.
        drop(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether `host` names this machine only, so the admin API is not reachable from outside.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Writes through a temporary file and a rename, so a reader never sees half the text.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// A JSON error body with the given status.
pub fn json_error(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body.to_string())
}

/// Runs before every service, the admin endpoints included, and refuses requests over the
/// limits.
async fn guard<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let refused = req
        .app_data::<web::Data<Shared>>()
        .and_then(|s| over_limits(req.request(), &s.limits));
    if let Some(refused) = refused {
        log_request(req.request(), &refused, None, Instant::now());
        return Ok(req.into_response(refused).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let started = Instant::now();
    // A panic is a bug in mockrig; it must cost one 500, not the worker and its connections.
    // (A middleware cannot do this: it would have to keep a clone of the request, and actix's
    // routing needs the only one.)
    let handled = std::panic::AssertUnwindSafe(handle(&req, payload, &shared))
        .catch_unwind()
        .await;
    let answered = match handled {
        Ok(answered) => answered,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            tracing::error!(method = %req.method(), path = %req.path(), "handler panicked: {reason}");
            let body = json!({"error": "internal error in mockrig (a bug: please report it)", "reason": reason});
            Answered {
                response: json_error(StatusCode::INTERNAL_SERVER_ERROR, body),
                route: None,
                nearest: None,
                body: Bytes::new(),
                session: None,
            }
        }
    };
    let route = answered.route.as_ref().map(|(rt, i)| &rt.entries[*i].label);
    log_request(&req, &answered.response, route.map(|r| &**r), started);
    let journal = match &answered.session {
        Some(s) => &s.journal,
        None => &shared.journal,
    };
    if journal.enabled() {
        journal.record(Recorded {
            id: 0,
            at: std::time::SystemTime::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers: {
                let mut list = Vec::with_capacity(req.headers().len());
                list.extend(req.headers().iter().map(|(n, v)| (n.clone(), v.clone())));
                list
            },
            body: answered.body,
            route: route.cloned(),
            status: answered.response.status().as_u16(),
            fault: crate::response::fault::of(&answered.response),
            duration: started.elapsed(),
            nearest: answered.nearest,
        });
    }
    answered.response
}

fn log_request(req: &HttpRequest, response: &HttpResponse, route: Option<&str>, started: Instant) {
    let fault = crate::response::fault::of(response);
    tracing::info!(
        target: crate::logs::REQUEST,
        method = %req.method(),
        path = %req.path(),
        status = response.status().as_u16(),
        route = route.unwrap_or("-"),
        micros = started.elapsed().as_micros() as u64,
        fault = fault.map(crate::response::fault::name),
    );
}

/// What [`handle`] did, for the response, the log and the journal.
struct Answered {
    response: HttpResponse,
    /// The runtime and entry of the route that answered.
    route: Option<(Arc<Runtime>, usize)>,
    /// When nothing answered: the nearest route and why it missed.
    nearest: Option<Value>,
    body: Bytes,
    /// The session the request named, whose journal records it.
    session: Option<Arc<Session>>,
}

async fn handle(req: &HttpRequest, payload: web::Payload, shared: &Shared) -> Answered {
    if shared.panic_path.as_deref() == Some(req.path()) {
        panic!("test panic at {}", req.path());
    }
    // An owned snapshot: the request finishes with the spec it started with, even if a reload
    // swaps in another while it waits for its body or a delay.
    let runtime: Arc<Runtime> = shared.live.load_full();
    let limits = &shared.limits;
    if let Some((index, params)) = websocket_upgrade(&runtime, req) {
        let Action::WebSocket(ws) = runtime.entries[index].action else {
            unreachable!("websocket_upgrade finds WebSocket entries only")
        };
        let def = &runtime.ws[ws];
        let conn = crate::channels::ws::Connection {
            hub: shared.hub.clone(),
            live: shared.live.clone(),
            path: req.path().to_owned(),
            channel: def.path.clone(),
            params,
            seed: shared.seed,
        };
        let response = crate::channels::ws::accept(req, payload, def, conn).unwrap_or_else(|e| {
            json_error(
                StatusCode::BAD_REQUEST,
                json!({"error": "WebSocket handshake failed", "reason": e.to_string()}),
            )
        });
        return Answered {
            response,
            route: Some((runtime, index)),
            nearest: None,
            body: Bytes::new(),
            session: None,
        };
    }
    let session = match crate::session::name_of(req) {
        Ok(name) => name.map(|n| shared.sessions.get(n)),
        Err(e) => {
            return Answered {
                response: json_error(StatusCode::BAD_REQUEST, json!({"error": e})),
                route: None,
                nearest: None,
                body: Bytes::new(),
                session: None,
            };
        }
    };
    // actix times only the head of a connection's first request; the body of every request
    // gets the same allowance here, so a client dripping a body holds nothing for long.
    let body = actix_web::rt::time::timeout(
        limits.request_timeout,
        read_body(payload, req, limits.max_body),
    )
    .await;
    let failed = |response| Answered {
        response,
        route: None,
        nearest: None,
        body: Bytes::new(),
        session: session.clone(),
    };
    // The runtime's CORS policy applies to every answer below, errors included, so a page on
    // another origin can read why its request failed (a preflight's answer has its headers
    // already; decorating it again changes nothing). Kept only when there is a policy: the
    // clone is an atomic increment, which static routes should not pay.
    let cors = runtime.cors.is_some().then(|| runtime.clone());
    let mut answered = match body {
        Ok(Ok(body)) => {
            let (response, outcome) =
                answer(shared, &runtime, req, &body, session.as_deref()).await;
            let (route, nearest) = match outcome {
                Ok(i) => (Some((runtime, i)), None),
                Err(nearest) => (None, nearest),
            };
            Answered {
                response,
                route,
                nearest,
                body,
                session,
            }
        }
        Ok(Err(response)) => failed(response),
        Err(_elapsed) => {
            let mut response = json_error(
                StatusCode::REQUEST_TIMEOUT,
                json!({"error": "the request body did not arrive in time",
                       "timeout_ms": limits.request_timeout.as_millis() as u64}),
            );
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
            failed(response)
        }
    };
    if let Some(cors) = cors.as_ref().and_then(|rt| rt.cors.as_ref()) {
        cors.decorate(req, &mut answered.response);
    }
    answered
}

/// 414 for a long URL, 431 for too many or too large headers.
fn over_limits(req: &HttpRequest, limits: &Limits) -> Option<HttpResponse> {
    let url_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if url_len > limits.max_url_bytes {
        return Some(json_error(
            StatusCode::URI_TOO_LONG,
            json!({"error": "URL too long", "limit_bytes": limits.max_url_bytes}),
        ));
    }
    let headers = req.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    if headers.len() > limits.max_headers || header_bytes > limits.max_header_bytes {
        return Some(json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            json!({
                "error": "request headers too large",
                "limit_count": limits.max_headers,
                "limit_bytes": limits.max_header_bytes,
            }),
        ));
    }
    None
}

/// Reads the whole body, refusing more than `limit` bytes with a 413 that says so.
async fn read_body(
    mut payload: web::Payload,
    req: &HttpRequest,
    limit: usize,
) -> Result<Bytes, HttpResponse> {
    let too_large = || {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": "request body too large", "limit_bytes": limit}),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            json_error(
                StatusCode::BAD_REQUEST,
                json!({"error": "cannot read the request body", "reason": e.to_string()}),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A GET asking to upgrade to a WebSocket on a path with a WebSocket channel: the channel's
/// entry and the path's parameters.
fn websocket_upgrade(runtime: &Runtime, req: &HttpRequest) -> Option<(usize, Value)> {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade || runtime.ws.is_empty() || req.method() != actix_web::http::Method::GET {
        return None;
    }
    let segments = request_segments(req.path());
    runtime.router.find(&segments, |ids, captures| {
        ids.iter().find_map(|&id| {
            let entry = &runtime.entries[id];
            matches!(entry.action, Action::WebSocket(_)).then(|| {
                let _ = captures;
                (id, Value::Object(entry.pattern.params(&segments)))
            })
        })
    })
}

/// The response, and the index of the entry that answered; when none did, the nearest miss.
async fn answer(
    shared: &Shared,
    runtime: &Runtime,
    req: &HttpRequest,
    body: &Bytes,
    session: Option<&Session>,
) -> (HttpResponse, Result<usize, Option<Value>>) {
    let progress = session.map_or(&shared.progress, |s| &s.progress);
    let segments = request_segments(req.path());
    let view = RequestView::new(req, body);
    let method = req.method();
    if let Some(cors) = &runtime.cors
        && Cors::is_preflight(req)
        && !has_options_route(runtime, &segments, &view, progress)
    {
        return (cors.preflight(req), Err(None));
    }
    let found = runtime.router.find(&segments, |ids, captures| {
        ids.iter().find_map(|&id| {
            let entry = &runtime.entries[id];
            if !entry.accepts(method)
                || !entry.matcher.as_ref().is_none_or(|m| m.matches(&view))
                || !in_state(entry, progress)
            {
                return None;
            }
            match &entry.action {
                Action::Respond(_)
                | Action::Resource { .. }
                | Action::WebSocket(_)
                | Action::Sse(_) => Some((id, None, captures.first().cloned())),
                // A missing file falls through to less specific routes, like an unmet match.
                Action::Static { root, .. } => {
                    let rest = captures
                        .last()
                        .map(|r| segments[r.clone()].join("/"))
                        .unwrap_or_default();
                    static_file(root, &rest).map(|f| (id, Some(f), None))
                }
            }
        })
    });
    let Some((index, file, id)) = found else {
        let (response, nearest) = no_match(runtime, req, &segments, &view, progress);
        return (response, Err(nearest));
    };
    let entry = &runtime.entries[index];
    if let Action::Resource { delay, .. } | Action::Static { delay, .. } = &entry.action {
        if shared.seed.is_some() && delay.is_some_and(|d| d.min != d.max) {
            let key = functions::fnv1a(entry.label.as_bytes(), 0);
            functions::reseed(shared.seed, key, progress.hit(key));
        }
        if let Some(d) = crate::response::draw(*delay) {
            actix_web::rt::time::sleep(d).await;
        }
    }
    let response = match &entry.action {
        Action::Respond(responder) => {
            // Only routes whose answer can vary count their answers; a static one costs
            // nothing here.
            let n = if responder.counted(shared.seed.is_some()) {
                let n = progress.hit(entry.key);
                functions::reseed(shared.seed, entry.key, n);
                n
            } else {
                0
            };
            let mut response = match responder.choose(req, n) {
                Ok(prepared) => {
                    if let Some(d) = prepared.delay() {
                        // Other requests on this worker draw random values while this one
                        // waits: with a seed, its own generator waits with it.
                        let saved = shared.seed.map(|_| functions::save());
                        actix_web::rt::time::sleep(d).await;
                        if let Some(rng) = saved {
                            functions::restore(rng);
                        }
                    }
                    let ctx = prepared.needs.map(|needs| {
                        let params = entry.pattern.params(&segments);
                        context::for_response(req, body, &params, needs)
                    });
                    prepared
                        .respond(req, &entry.label, &runtime.templates, ctx.as_ref())
                        .await
                }
                Err(not_acceptable) => *not_acceptable,
            };
            if responder.negotiates() {
                response
                    .headers_mut()
                    .append(header::VARY, HeaderValue::from_static("Accept"));
            }
            // A step is taken when the route answered as written; not when mockrig could
            // not (a 406, a template that failed).
            if let Some(step) = &entry.scenario
                && let Some(then) = &step.then
                && !crate::response::is_mockrig_error(&response)
            {
                progress.set_state(&step.scenario, then);
            }
            if !entry.emit.is_empty() {
                let params = entry.pattern.params(&segments);
                let ctx = context::request(req, body, params, Needs::ALL);
                for e in entry.emit.iter() {
                    crate::channels::emit(&shared.hub, &runtime.templates, e, &ctx, || {
                        ctx["request"]["body"].clone()
                    })
                    .await;
                }
            }
            response
        }
        Action::WebSocket(_) => {
            let mut r = json_error(
                StatusCode::UPGRADE_REQUIRED,
                json!({"error": "this is a WebSocket endpoint: connect with Upgrade: websocket", "route": &*entry.label}),
            );
            r.headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            r
        }
        Action::Sse(i) => {
            let path = req.path().to_owned();
            let params = entry.pattern.params(&segments);
            crate::channels::sse::subscribe(
                req,
                &runtime.sse[*i],
                shared.hub.clone(),
                shared.live.clone(),
                path,
                // A subscription has no body to read.
                context::request(
                    req,
                    body,
                    params,
                    Needs {
                        body: false,
                        ..Needs::ALL
                    },
                ),
                shared.seed,
            )
        }
        Action::Resource { store, op, .. } => {
            let id = id.map(|r| segments[r].join("/"));
            let own;
            let stores = match session {
                Some(s) => {
                    own = s.stores_for(&runtime.stores);
                    &own
                }
                None => &runtime.stores,
            };
            let (response, written) =
                crate::resources::http::handle(stores, *store, *op, req, body, id.as_deref());
            if let Some(w) = written
                && let Some(i) = runtime.stores.iter().position(|s| s.def.name == w.resource)
                && !runtime.resource_emit[i].is_empty()
            {
                let params = entry.pattern.params(&segments);
                let mut ctx = context::request(req, body, params, Needs::ALL);
                ctx["action"] = json!(w.action);
                ctx["resource"] = json!(w.resource);
                ctx["record"] = w.record.clone();
                for e in runtime.resource_emit[i].iter() {
                    crate::channels::emit(
                        &shared.hub,
                        &runtime.templates,
                        e,
                        &ctx,
                        || json!({"action": w.action, "resource": w.resource, "record": w.record}),
                    )
                    .await;
                }
            }
            response
        }
        Action::Static { .. } => {
            let served = match file {
                Some(file) => crate::response::serve_file(req, file, StatusCode::OK).await,
                None => Err(std::io::Error::other("no file was resolved")),
            };
            served.unwrap_or_else(|e| {
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "the file cannot be read", "route": &*entry.label, "reason": e.to_string()}),
                )
            })
        }
    };
    (response, Ok(index))
}

/// Whether the entry's scenario (if any) is in the state it waits for.
fn in_state(entry: &Entry, progress: &Progress) -> bool {
    match &entry.scenario {
        Some(Step {
            scenario,
            when: Some(when),
            ..
        }) => progress.is_in(scenario, when),
        _ => true,
    }
}

/// Whether a route declared for OPTIONS answers this request itself (its `match` and scenario
/// state hold): then a CORS preflight is its to answer.
fn has_options_route(
    runtime: &Runtime,
    segments: &[std::borrow::Cow<'_, str>],
    view: &RequestView<'_>,
    progress: &Progress,
) -> bool {
    runtime
        .router
        .find(segments, |ids, _| {
            ids.iter()
                .any(|&id| {
                    let e = &runtime.entries[id];
                    e.method == Method::Options
                        && e.matcher.as_ref().is_none_or(|m| m.matches(view))
                        && in_state(e, progress)
                })
                .then_some(())
        })
        .is_some()
}

const METHOD_ORDER: [Method; 7] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
    Method::Options,
];

/// 405 when the path exists for other methods, automatic OPTIONS, else 404 with the routes
/// that came closest and why each missed.
fn no_match(
    runtime: &Runtime,
    req: &HttpRequest,
    segments: &[std::borrow::Cow<'_, str>],
    view: &RequestView<'_>,
    progress: &Progress,
) -> (HttpResponse, Option<Value>) {
    let mut allowed: BTreeSet<usize> = BTreeSet::new();
    let mut path_known = false;
    let mut method_known = false;
    runtime.router.find::<()>(segments, |ids, _| {
        for &id in ids {
            let entry = &runtime.entries[id];
            path_known = true;
            method_known |= entry.accepts(req.method());
            for (i, m) in METHOD_ORDER.iter().enumerate() {
                let implied = entry.method == Method::Any
                    || entry.method == *m
                    || (entry.method == Method::Get && *m == Method::Head);
                if implied {
                    allowed.insert(i);
                }
            }
        }
        None
    });
    allowed.insert(METHOD_ORDER.len() - 1);
    let allow = allowed
        .iter()
        .map(|&i| METHOD_ORDER[i].as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if path_known && req.method() == HttpMethod::OPTIONS {
        let res = HttpResponse::NoContent()
            .insert_header((header::ALLOW, allow))
            .finish();
        return (res, None);
    }
    if path_known && !method_known {
        let mut res = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({
                "error": "method not allowed",
                "method": req.method().as_str(),
                "path": req.path(),
                "allowed": allowed.iter().map(|&i| METHOD_ORDER[i].as_str()).collect::<Vec<_>>(),
            }),
        );
        if let Ok(v) = HeaderValue::from_str(&allow) {
            res.headers_mut().insert(header::ALLOW, v);
        }
        // For the journal's `/unmatched`: the route the request was nearest to.
        let nearest = near_misses(runtime, req, segments, view, progress)
            .into_iter()
            .next();
        return (res, nearest);
    }
    let misses = near_misses(runtime, req, segments, view, progress);
    let nearest = misses.first().cloned();
    let res = json_error(
        StatusCode::NOT_FOUND,
        json!({
            "error": "no route matched",
            "method": req.method().as_str(),
            "path": req.path(),
            "near_misses": misses,
        }),
    );
    (res, nearest)
}

/// How many near misses a 404 lists.
const NEAR_MISSES: usize = 3;

/// The routes closest to the request, each with every criterion it failed. This scans every
/// route, which is fine: it only runs for requests that are already going to get a 404.
fn near_misses(
    runtime: &Runtime,
    req: &HttpRequest,
    segments: &[std::borrow::Cow<'_, str>],
    view: &RequestView<'_>,
    progress: &Progress,
) -> Vec<Value> {
    let mut scored: Vec<(usize, usize, &str, Value)> = Vec::new();
    for (order, entry) in runtime.entries.iter().enumerate() {
        let mut failed = Vec::new();
        let mut score = 0;
        if !entry.accepts(req.method()) {
            score += 5;
            failed.push(json!({
                "criterion": "method",
                "expected": entry.method.as_str(),
                "actual": req.method().as_str(),
            }));
        }
        match path_miss(entry, segments) {
            Some(miss) => {
                // A path that differs weighs more than any condition on the right path.
                score += 100 + entry.pattern.distance(segments);
                failed.push(miss);
            }
            None => {
                if let Some(m) = &entry.matcher {
                    let fails = m.failures(view, usize::MAX);
                    score += fails.len();
                    failed.extend(fails.into_iter().map(|f| json!(f)));
                }
                if !in_state(entry, progress)
                    && let Some(step) = &entry.scenario
                {
                    score += 1;
                    failed.push(json!({
                        "criterion": format!("scenario.{}", step.scenario),
                        "expected": step.when,
                        "actual": progress.state(&step.scenario),
                    }));
                }
                if let Action::Static { .. } = entry.action {
                    score += 1;
                    failed.push(json!({
                        "criterion": "file",
                        "expected": "a file in the static folder",
                        "actual": req.path(),
                    }));
                }
            }
        }
        scored.push((
            score,
            order,
            &entry.label,
            json!({
                "route": &*entry.label,
                "method": entry.method.as_str(),
                "path": entry.path,
                "failed": failed,
            }),
        ));
    }
    scored.sort_by_key(|(score, order, ..)| (*score, *order));
    // A static folder has two entries (the folder and below it); report its closer one.
    let mut labels = BTreeSet::new();
    scored
        .into_iter()
        .filter(|s| labels.insert(s.2))
        .take(NEAR_MISSES)
        .map(|s| s.3)
        .collect()
}

/// The first path segment where the route and the request differ.
fn path_miss(entry: &Entry, segments: &[std::borrow::Cow<'_, str>]) -> Option<Value> {
    let miss = entry.pattern.explain_mismatch(segments)?;
    Some(json!({
        "criterion": "path",
        "segment": miss.segment,
        "expected": miss.expected,
        "actual": miss.actual,
    }))
}
