//! Logs on stderr: `pretty`, one short line per request for a person watching a terminal, or
//! `json`, one object per line for a machine.
//!
//! Requests are logged as events of the target `mockrig::request` with the fields `method`,
//! `path`, `status`, `route` and `micros`; the pretty format prints them as
//! `12:03:04.512 GET /users/7 200 routes[2] 0.3 ms`, the status colored by its class on a
//! terminal. Every other event keeps tracing's own format.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

/// The target of the one event logged per request.
pub(crate) const REQUEST: &str = "mockrig::request";

/// Installs the global subscriber on stderr. `filter` is a tracing filter (already checked).
pub(crate) fn init(json: bool, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("mockrig=info,warn"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // When stderr is a pipe nobody reads any more, tracing would report the failed write
        // with eprintln!, which panics on that same broken pipe, inside a request.
        .log_internal_errors(false)
        .with_env_filter(filter);
    if json {
        logs.json().flatten_event(true).init();
    } else {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        logs.with_ansi(ansi)
            .event_format(Pretty {
                other: format::Format::default().with_ansi(ansi),
                ansi,
            })
            .init();
    }
}

struct Pretty {
    other: format::Format,
    ansi: bool,
}

#[derive(Default)]
struct RequestFields {
    method: String,
    path: String,
    status: u64,
    route: String,
    micros: u64,
    fault: String,
    upstream: String,
    upstream_status: Option<u64>,
    upstream_micros: u64,
}

impl Visit for RequestFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "status" => self.status = value,
            "micros" => self.micros = value,
            "upstream_status" => self.upstream_status = Some(value),
            "upstream_micros" => self.upstream_micros = value,
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "method" => self.method = value.to_owned(),
            "path" => self.path = value.to_owned(),
            "route" => self.route = value.to_owned(),
            "fault" => self.fault = value.to_owned(),
            "upstream" => self.upstream = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here, as Display wrapped in Debug.
        let text = format!("{value:?}");
        self.record_str(field, &text);
    }
}

impl<S, N> FormatEvent<S, N> for Pretty
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().target() != REQUEST {
            return self.other.format_event(ctx, w, event);
        }
        let mut f = RequestFields::default();
        event.record(&mut f);
        let now = crate::duration::rfc3339(std::time::SystemTime::now());
        // 2026-12-01T12:03:04.512Z: the time of day is enough on a terminal.
        let time = now.get(11..23).unwrap_or(&now);
        let color = match f.status {
            500.. => "31",
            400..=499 => "33",
            300..=399 => "36",
            _ => "32",
        };
        // A fault sent no status: its name stands in the status's place.
        let (status, color) = if f.fault.is_empty() {
            (f.status.to_string(), color)
        } else {
            (f.fault.clone(), "35")
        };
        let mut line = String::new();
        let _ = write!(line, "{time} {} {} ", f.method, f.path);
        if self.ansi {
            let _ = write!(line, "\x1b[{color}m{status}\x1b[0m");
        } else {
            let _ = write!(line, "{status}");
        }
        let _ = write!(
            line,
            " {} {:.1} ms",
            if f.route.is_empty() { "-" } else { &f.route },
            f.micros as f64 / 1000.0
        );
        if !f.upstream.is_empty() {
            let status = f
                .upstream_status
                .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
            let _ = write!(
                line,
                " → {} {status} {:.1} ms",
                f.upstream,
                f.upstream_micros as f64 / 1000.0
            );
        }
        writeln!(w, "{line}")
    }
}
