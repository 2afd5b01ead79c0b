//! The pipeline's last step: one log line per request, and the request into the journal of
//! its session (or the shared one).

use std::time::{Instant, SystemTime};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{StatusCode, Uri};
use actix_web::web::BytesMut;
use actix_web::{HttpRequest, HttpResponse};

use super::outcome::Outcome;
use super::state::AppState;
use crate::engine::fault;
use crate::engine::journal::Recorded;
use crate::spec::Fault;

/// Logs and journals the request; returns the response to send.
pub(crate) fn finish(
    app: &AppState,
    req: &HttpRequest,
    outcome: Outcome,
    started: Instant,
) -> HttpResponse {
    log_request(
        req,
        outcome.response.status(),
        outcome.route.as_deref(),
        outcome.fault,
        started,
    );
    let journal = match &outcome.session {
        Some(s) => &s.journal,
        None => &app.journal,
    };
    if journal.enabled() {
        let (uri, headers) = detached_head(req);
        journal.record(Recorded {
            id: 0,
            at: SystemTime::now(),
            method: req.method().clone(),
            uri,
            headers,
            body: outcome.body,
            route: outcome.route,
            status: outcome.response.status().as_u16(),
            fault: outcome.fault,
            duration: started.elapsed(),
            nearest: outcome.nearest,
        });
    }
    // A session's request may have grown it (a copy, a write, its journal): all sessions
    // together stay within their byte budget.
    if let Some(s) = &outcome.session {
        app.sessions.enforce_byte_limit(&s.name);
    }
    outcome.response
}

/// The request's URI and headers in one allocation of their own. actix's URI and header
/// values are slices of the connection's read buffer: kept as they are, each journal entry
/// would keep that whole buffer alive (measured: 300 KB per 1 MiB POST, for 64 KiB of body).
fn detached_head(req: &HttpRequest) -> (Uri, Vec<(HeaderName, HeaderValue)>) {
    let uri_text = req.uri().to_string();
    let values: usize = req.headers().iter().map(|(_, v)| v.len()).sum();
    let mut buf = BytesMut::with_capacity(uri_text.len() + values);
    buf.extend_from_slice(uri_text.as_bytes());
    let mut spans = Vec::with_capacity(req.headers().len());
    for (_, v) in req.headers().iter() {
        let start = buf.len();
        buf.extend_from_slice(v.as_bytes());
        spans.push(start..buf.len());
    }
    let buf = buf.freeze();
    let uri =
        Uri::from_maybe_shared(buf.slice(..uri_text.len())).unwrap_or_else(|_| req.uri().clone());
    let headers = req
        .headers()
        .iter()
        .zip(spans)
        .map(|((n, v), span)| {
            // The bytes were a valid value already; the fallback is never taken.
            let copy =
                HeaderValue::from_maybe_shared(buf.slice(span)).unwrap_or_else(|_| v.clone());
            (n.clone(), copy)
        })
        .collect();
    (uri, headers)
}

/// The request's log line (target `mockrig::request`).
pub(crate) fn log_request(
    req: &HttpRequest,
    status: StatusCode,
    route: Option<&str>,
    fault: Option<Fault>,
    started: Instant,
) {
    tracing::info!(
        target: super::logs::REQUEST,
        method = %req.method(),
        path = %req.path(),
        status = status.as_u16(),
        route = route.unwrap_or("-"),
        micros = started.elapsed().as_micros() as u64,
        fault = fault.map(fault::name),
    );
}
