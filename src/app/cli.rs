//! The command line: `init`, `serve`, `check`, `schema`, `record` and `import`. Doc comments here are the `--help` text.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::check::check_file;
use super::config::{Limits, ServeConfig};
use super::server::{Server, StartError};
use super::tls::TlsSource;
use crate::engine::recording::RecordOptions;
use crate::engine::upstream::client::UpstreamTls;
use crate::spec::{self, LoadError};

/// mockrig: a mock API server driven by one YAML file.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write a starter spec (api.yaml: routes, a resource, a WebSocket and an SSE channel,
    /// each commented) and the JSON Schema beside it (mockrig.schema.json), for editors.
    Init {
        /// The folder to write into; created if missing.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Replace api.yaml and mockrig.schema.json if they exist (otherwise an existing one
        /// stops init, and nothing is written).
        #[arg(long)]
        force: bool,
    },
    /// Serve a spec.
    Serve(Box<ServeArgs>),
    /// Check a spec and print every error it has.
    Check {
        /// The spec file.
        spec: PathBuf,
    },
    /// Print the JSON Schema of the spec format.
    Schema,
    /// Pass every request to a backend and write what it answers as a spec, one route per
    /// distinct request; `mockrig serve` that spec to answer the same without the backend.
    Record(Box<RecordArgs>),
    /// Write an OpenAPI 3.x document as an editable spec (to standard output): one route per
    /// operation answering what serving the document answers first.
    Import {
        /// The OpenAPI document (YAML or JSON).
        document: PathBuf,
        /// Write REST collections (GET/POST /things, GET/PUT/PATCH/DELETE /things/{id}) as
        /// resources seeded from the document's examples.
        #[arg(long)]
        resources: bool,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct RecordArgs {
    /// The backend to record: its base URL, e.g. http://localhost:8080.
    #[arg(long)]
    pub(crate) target: String,
    /// The spec to write (bodies that do not fit in it go to a folder beside it).
    #[arg(long, short, default_value = "recorded.yaml")]
    pub(crate) out: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "MOCKRIG_HOST", default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Port to listen on; 0 picks a free one (the chosen one is printed).
    #[arg(long, short, env = "MOCKRIG_PORT", default_value_t = 3000)]
    pub(crate) port: u16,
    #[command(flatten)]
    pub(crate) recording: RecordingArgs,
    #[command(flatten)]
    pub(crate) upstream: UpstreamArgs,
    /// Largest request body passed on, in bytes; larger ones get 413.
    #[arg(long, env = "MOCKRIG_MAX_BODY", default_value_t = 1024 * 1024)]
    pub(crate) max_body: usize,
    /// Write the server's URL to this file (atomically) once it is listening.
    #[arg(long, env = "MOCKRIG_READY_FILE")]
    pub(crate) ready_file: Option<PathBuf>,
    /// Log only warnings and errors (no line per request).
    #[arg(long)]
    pub(crate) quiet: bool,
}

/// How a recording is written (`record`, and `serve --record`).
#[derive(Debug, clap::Args)]
pub(crate) struct RecordingArgs {
    /// Write numeric and UUID path segments as {id}, so /users/1 and /users/2 are one route.
    #[arg(long, alias = "generalize-ids")]
    pub(crate) generalise_ids: bool,
    /// A response header whose value is written as REDACTED (besides Set-Cookie's values,
    /// Authorization and Cookie, always redacted). Repeat for more.
    #[arg(long, value_delimiter = ',')]
    pub(crate) redact: Vec<String>,
    /// Replace the recording's file if it exists (otherwise an existing file stops the start).
    #[arg(long)]
    pub(crate) overwrite: bool,
}

impl RecordingArgs {
    fn options(&self, out: PathBuf) -> RecordOptions {
        RecordOptions {
            out,
            generalise_ids: self.generalise_ids,
            redact: self.redact.clone(),
            overwrite: self.overwrite,
        }
    }
}

/// How backends are reached over https (`proxy:`, `server.fallback`, `record`).
#[derive(Debug, clap::Args)]
pub(crate) struct UpstreamArgs {
    /// Accept any certificate from https backends (a self-signed development backend).
    #[arg(long, env = "MOCKRIG_INSECURE_UPSTREAM")]
    pub(crate) insecure_upstream: bool,
    /// A PEM file of certificate authorities to trust for https backends, besides the
    /// system's. Repeat for more.
    #[arg(long, env = "MOCKRIG_UPSTREAM_CA", value_delimiter = ',')]
    pub(crate) upstream_ca: Vec<PathBuf>,
}

impl UpstreamArgs {
    fn tls(&self) -> UpstreamTls {
        UpstreamTls {
            insecure: self.insecure_upstream,
            ca_files: self.upstream_ca.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The spec file.
    pub(crate) spec: PathBuf,
    /// Address to listen on. Loopback unless you ask for more.
    #[arg(long, env = "MOCKRIG_HOST", default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Port to listen on; 0 picks a free one (the chosen one is printed).
    #[arg(long, short, env = "MOCKRIG_PORT", default_value_t = 3000)]
    pub(crate) port: u16,
    /// Worker threads [default: one per core].
    #[arg(long, env = "MOCKRIG_WORKERS", value_parser = positive)]
    pub(crate) workers: Option<usize>,
    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "MOCKRIG_MAX_BODY", default_value_t = 1024 * 1024)]
    pub(crate) max_body: usize,
    /// Longest URL (path and query), in bytes; longer ones get 414.
    #[arg(long, env = "MOCKRIG_MAX_URL_BYTES", default_value_t = 8 * 1024)]
    pub(crate) max_url_bytes: usize,
    /// Most request headers; more get 431.
    #[arg(long, env = "MOCKRIG_MAX_HEADERS", default_value_t = 64)]
    pub(crate) max_headers: usize,
    /// Most bytes of request header names and values together; more get 431.
    #[arg(long, env = "MOCKRIG_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    pub(crate) max_header_bytes: usize,
    /// Time a client has to send a request's head (e.g. 5s); slower ones get 408 and are cut off.
    #[arg(long, env = "MOCKRIG_REQUEST_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub(crate) request_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    #[arg(long, env = "MOCKRIG_KEEP_ALIVE", default_value = "5s", value_parser = duration)]
    pub(crate) keep_alive: Duration,
    /// Open connections per worker; more wait to be accepted.
    #[arg(long, env = "MOCKRIG_MAX_CONNECTIONS", default_value_t = 25_000, value_parser = positive)]
    pub(crate) max_connections: usize,
    /// Bytes one response's (or message's) templates may render together; more is a 500.
    #[arg(long, env = "MOCKRIG_MAX_TEMPLATE_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = positive)]
    pub(crate) max_template_bytes: usize,
    /// Serve HTTPS with this PEM certificate chain (and --tls-key). HTTP/2 is offered by ALPN.
    #[arg(long, env = "MOCKRIG_TLS_CERT", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, env = "MOCKRIG_TLS_KEY", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate generated at start for localhost, 127.0.0.1 and ::1; its
    /// SHA-256 fingerprint is printed to stderr.
    #[arg(long, conflicts_with = "tls_cert")]
    pub(crate) tls_self_signed: bool,
    /// With --tls-self-signed: write the generated certificate here (PEM), to trust it.
    #[arg(long, requires = "tls_self_signed")]
    pub(crate) tls_write_cert: Option<PathBuf>,
    /// Keep resource data in this JSON file (and a `.journal` beside it) across restarts.
    #[arg(long, env = "MOCKRIG_STATE_FILE")]
    pub(crate) state_file: Option<PathBuf>,
    /// With --state-file: start from the seeds, replacing what the file holds. (Without it, a
    /// state file that cannot be read stops the start and is left as it is.)
    #[arg(long, requires = "state_file")]
    pub(crate) state_reset: bool,
    /// Share resource data with other replicas through Redis (`redis://HOST:PORT/DB`):
    /// replicas started with the same spec and URL answer as one.
    #[arg(
        long,
        env = "MOCKRIG_STATE",
        value_name = "URL",
        conflicts_with = "state_file"
    )]
    pub(crate) state: Option<String>,
    /// Serve mockrig's own endpoints under /__mockrig/ (on or off).
    #[arg(long, env = "MOCKRIG_ADMIN", default_value = "on", value_parser = ["on", "off"])]
    pub(crate) admin: String,
    /// Require `Authorization: Bearer TOKEN` on every /__mockrig/ call. Needed to serve the
    /// admin API on a non-loopback --host.
    #[arg(long, env = "MOCKRIG_ADMIN_TOKEN")]
    pub(crate) admin_token: Option<String>,
    /// Without a token: a host name the admin API answers (`Host:`) besides localhost, the
    /// loopback addresses and --host. Repeat for more.
    #[arg(long = "allow-host", env = "MOCKRIG_ALLOW_HOST", value_delimiter = ',')]
    pub(crate) allow_host: Vec<String>,
    /// Without a token: a page origin that may call the admin API besides the server's own,
    /// e.g. http://localhost:5173. Repeat for more.
    #[arg(
        long = "allow-origin",
        env = "MOCKRIG_ALLOW_ORIGIN",
        value_delimiter = ','
    )]
    pub(crate) allow_origin: Vec<String>,
    /// How many requests the journal keeps for /__mockrig/requests, /unmatched and /verify;
    /// 0 keeps none.
    #[arg(long, env = "MOCKRIG_JOURNAL", default_value_t = 1000)]
    pub(crate) journal: usize,
    /// Most isolated sessions (X-Mockrig-Session) kept at once; the least recently used is
    /// dropped to make room.
    #[arg(long, env = "MOCKRIG_MAX_SESSIONS", default_value_t = 1000, value_parser = positive)]
    pub(crate) max_sessions: usize,
    /// Bytes all sessions together may hold (what they copied and wrote, their journals);
    /// beyond it the least recently used are dropped.
    #[arg(long, env = "MOCKRIG_MAX_SESSION_BYTES", default_value_t = 256 * 1024 * 1024, value_parser = positive)]
    pub(crate) max_session_bytes: usize,
    /// Make every random value reproducible: fake data, uuid(), random_int(), `sequence:
    /// random` and delay ranges come out the same in every run with the same seed.
    #[arg(long, env = "MOCKRIG_SEED")]
    pub(crate) seed: Option<u64>,
    /// Build absolute links from X-Forwarded-Host/-Proto and Forwarded, set by a proxy in
    /// front of mockrig; without it, from the request's own Host (any client can send those).
    #[arg(long, env = "MOCKRIG_TRUST_FORWARDED")]
    pub(crate) trust_forwarded: bool,
    /// Write the server's URL to this file (atomically) once it is listening.
    #[arg(long, env = "MOCKRIG_READY_FILE")]
    pub(crate) ready_file: Option<PathBuf>,
    /// Do not reload when the spec changes (for CI runs that want a frozen spec).
    #[arg(long)]
    pub(crate) no_watch: bool,
    /// Log format on stderr: `pretty` (one line per request; colored on a terminal) or `json`
    /// (one JSON object per line). Any other value is a tracing filter in the pretty format,
    /// e.g. `warn` to stop logging each request.
    #[arg(long, env = "MOCKRIG_LOG", default_value = "pretty", value_parser = log_value)]
    pub(crate) log: String,
    /// Log only warnings and errors (no line per request).
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Write what proxied requests (proxy: routes, server.fallback) get back into this spec,
    /// as `mockrig record` does.
    #[arg(long)]
    pub(crate) record: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) recording: RecordingArgs,
    #[command(flatten)]
    pub(crate) upstream: UpstreamArgs,
}

/// `pretty`, `json`, a level, or a tracing filter (`mockrig=debug,warn`). A lone word that is
/// none of these is refused: as a filter it would name a target that does not exist and
/// silently turn every log line off (`--log jsno`).
fn log_value(s: &str) -> Result<String, String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let word = !s.contains(['=', ',', ':', '[']);
    if word && !matches!(s, "pretty" | "json") && !LEVELS.contains(&s.to_ascii_lowercase().as_str())
    {
        return Err(format!(
            "expected pretty, json, a level ({}) or a filter such as mockrig=debug",
            LEVELS.join(", ")
        ));
    }
    tracing_subscriber::EnvFilter::try_new(if word && !LEVELS.contains(&s) {
        "info"
    } else {
        s
    })
    .map(|_| s.to_owned())
    .map_err(|e| e.to_string())
}

/// Exit codes, as documented in the README.
pub(crate) mod exit {
    /// The spec has errors.
    pub(crate) const BAD_SPEC: u8 = 1;
    /// `init`: a file it would write exists, or cannot be written.
    pub(crate) const REFUSED: u8 = 1;
    /// The address cannot be bound, or the server failed while running.
    pub(crate) const CANNOT_SERVE: u8 = 2;
    /// Refused: the admin API would be reachable from other machines without a token.
    pub(crate) const UNSAFE: u8 = 3;
}

/// Runs a parsed command line and returns the process exit code.
pub(crate) fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Init { dir, force } => match super::init::init(&dir, force) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(exit::REFUSED)
            }
        },
        Command::Serve(args) => serve(*args),
        Command::Check { spec } => check(&spec),
        Command::Schema => {
            print!("{}", spec::json_schema_text());
            ExitCode::SUCCESS
        }
        Command::Record(args) => record(*args),
        Command::Import {
            document,
            resources,
        } => match super::import::import(&document, resources) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(exit::BAD_SPEC)
            }
        },
    }
}

/// `record`: `serve` of a spec that only has a fallback proxy to the target, recording.
fn record(args: RecordArgs) -> ExitCode {
    // The target as a proxy takes it, so a mistake is reported against --target rather than
    // the spec written for it below.
    if let Err(e) = crate::model::proxy::check_url(&args.target) {
        eprintln!("--target: {e}");
        return ExitCode::from(exit::BAD_SPEC);
    }
    let dir = std::env::temp_dir().join(format!(
        "mockrig-record-{}-{:x}",
        std::process::id(),
        crate::hash::fnv1a(args.target.as_bytes(), std::process::id() as u64)
    ));
    let spec = dir.join("record.yaml");
    // JSON quoting is YAML quoting: the URL stays one string whatever it holds.
    let text = format!(
        "server:\n  fallback:\n    proxy: {}\n",
        serde_json::Value::from(args.target.as_str())
    );
    if let Err(e) = std::fs::create_dir(&dir).and_then(|()| std::fs::write(&spec, text)) {
        eprintln!(
            "cannot write the recording's spec in {}: {e}",
            dir.display()
        );
        return ExitCode::from(exit::CANNOT_SERVE);
    }
    let mut config = ServeConfig::new(&spec);
    config.host = args.host;
    config.port = args.port;
    config.limits.max_body = args.max_body;
    config.ready_file = args.ready_file;
    config.handle_signals = true;
    config.watch = false;
    config.upstream = args.upstream.tls();
    config.record = Some(args.recording.options(args.out));
    let log = if args.quiet { "warn" } else { "pretty" };
    // The spec is read once at start (it is not watched): its folder goes as soon as the
    // server is up, so no signal can leave it behind.
    let cleanup = move || {
        let _ = std::fs::remove_dir_all(&dir);
    };
    run_server(config, log, args.quiet, Box::new(cleanup))
}

fn check(path: &std::path::Path) -> ExitCode {
    match check_file(path) {
        Ok(checked) => {
            if checked.warnings.warnings() > 0 {
                println!("{}", checked.warnings);
            }
            println!("{}: ok, {}", path.display(), checked.summary);
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{e}");
            ExitCode::from(exit::BAD_SPEC)
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let config = ServeConfig {
        spec: args.spec,
        host: args.host,
        port: args.port,
        workers: args.workers,
        limits: Limits {
            max_body: args.max_body,
            max_url_bytes: args.max_url_bytes,
            max_headers: args.max_headers,
            max_header_bytes: args.max_header_bytes,
            request_timeout: args.request_timeout,
            keep_alive: args.keep_alive,
            max_connections: args.max_connections,
            max_template_bytes: args.max_template_bytes,
        },
        tls: match (args.tls_cert, args.tls_key, args.tls_self_signed) {
            (Some(cert), Some(key), _) => Some(TlsSource::Files { cert, key }),
            (_, _, true) => Some(TlsSource::SelfSigned {
                write_cert: args.tls_write_cert,
            }),
            _ => None,
        },
        admin: args.admin == "on",
        admin_token: args.admin_token,
        allowed_hosts: args.allow_host,
        allowed_origins: args.allow_origin,
        ready_file: args.ready_file,
        journal: args.journal,
        max_sessions: args.max_sessions,
        max_session_bytes: args.max_session_bytes,
        seed: args.seed,
        trust_forwarded: args.trust_forwarded,
        handle_signals: true,
        watch: !args.no_watch,
        state_file: args.state_file,
        state_reset: args.state_reset,
        state: args.state,
        upstream: args.upstream.tls(),
        record: args.record.map(|out| args.recording.options(out)),
    };
    run_server(config, &args.log, args.quiet, Box::new(|| {}))
}

/// Starts the server `config` describes, with logging as `--log` and `--quiet` say, and runs
/// it until it is stopped.
fn run_server(config: ServeConfig, log: &str, quiet: bool, started: Box<dyn FnOnce()>) -> ExitCode {
    // actix logs a body that fails as an error; in mockrig only a `fault:` does that, on
    // purpose, and the request line says so already. A client's bad WebSocket frame is logged
    // by mockrig itself when it closes the connection.
    const DEFAULT_FILTER: &str =
        "mockrig=info,warn,actix_http::h1::dispatcher=off,actix_http::ws::codec=off";
    let (json, filter) = match log {
        _ if quiet => (
            log == "json",
            "warn,actix_http::h1::dispatcher=off,actix_http::ws::codec=off",
        ),
        "json" => (true, DEFAULT_FILTER),
        "pretty" => (false, DEFAULT_FILTER),
        filter => (false, filter),
    };
    super::logs::init(json, filter);
    actix_web::rt::System::new().block_on(async move {
        let server = Server::start(&config);
        started();
        let server = match server {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(match e {
                    StartError::Spec(LoadError::Invalid(_) | LoadError::Read(..))
                    | StartError::State(_)
                    | StartError::Tls(_) => exit::BAD_SPEC,
                    StartError::Bind { .. }
                    | StartError::Proxy(_)
                    | StartError::Watch(_)
                    | StartError::ReadyFile(..)
                    | StartError::ThreadDied => exit::CANNOT_SERVE,
                    StartError::UnsafeAdmin(_) | StartError::BadToken => exit::UNSAFE,
                });
            }
        };
        // Tools wait for this exact line to learn the port; flush so a pipe sees it now.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "mockrig listening on {}", server.url());
        let _ = out.flush();
        match server.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("server error: {e}");
                ExitCode::from(exit::CANNOT_SERVE)
            }
        }
    })
}

fn duration(text: &str) -> Result<Duration, String> {
    crate::duration::parse(text).map_err(|e| e.to_string())
}

/// A count that must be at least 1: zero workers or connections would serve nothing.
fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}
