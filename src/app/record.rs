//! The pipeline's last step: one log line per request, and the request into the journal of
//! its session (or the shared one).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::outcome::Outcome;
use super::state::AppState;
use crate::engine::fault;
use crate::engine::journal::{Head, Recorded, SentResponse};
use crate::engine::upstream::forward::UpstreamCall;
use crate::spec::Fault;

/// A recorded request and its session, for the journal every replica shares.
pub(crate) type ForSharedJournal = (Arc<Recorded>, Option<String>);

/// Logs and journals the request; returns the response to send, and the entry and its session
/// for the journal all replicas share when there is one (`--state redis://`; the caller
/// appends it).
pub(crate) fn finish(
    app: &AppState,
    req: &HttpRequest,
    outcome: Outcome,
    started: Instant,
) -> (HttpResponse, Option<ForSharedJournal>) {
    log_request(
        req,
        outcome.response.status(),
        outcome.route.as_deref(),
        outcome.fault,
        outcome.upstream.as_ref(),
        started,
    );
    app.reloader.remind_if_pending();
    let journal = match &outcome.session {
        Some(s) => &s.journal,
        None => &app.journal,
    };
    let watching = app.monitor.watching();
    let mut response = outcome.response;
    let mut shared = None;
    if journal.enabled() || watching {
        let head = detached_head(req);
        let kept = if watching {
            let (sent, kept) = sent_response(response);
            response = sent;
            Some(kept)
        } else {
            None
        };
        let entry = journal.record(Recorded {
            id: 0,
            at: SystemTime::now(),
            method: req.method().clone(),
            head,
            body: outcome.body,
            route: outcome.route,
            status: response.status().as_u16(),
            fault: outcome.fault,
            duration: started.elapsed(),
            nearest: outcome.nearest.map(Box::new),
            upstream: outcome.upstream.map(Box::new),
            response: kept.map(Box::new),
        });
        if app.shared_journal.is_some() {
            let session = outcome.session.as_ref().map(|s| s.name.clone());
            shared = Some((entry.clone(), session));
        }
        if watching {
            let session = outcome.session.as_ref().map(|s| Arc::from(s.name.as_str()));
            app.monitor.request(session, entry);
        }
    }
    // A session's request may have grown it (a copy, a write, its journal): all sessions
    // together stay within their byte budget.
    if let Some(s) = &outcome.session {
        app.sessions.enforce_byte_limit(&s.name);
    }
    (response, shared)
}

/// The response to send, and what the journal keeps of it: its headers, and its body when the
/// body is bytes already (a reference-counted handle, not a copy). A streamed body (a file,
/// an event stream) is sent as it is and not kept.
fn sent_response(response: HttpResponse) -> (HttpResponse, SentResponse) {
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let (head, body) = response.into_parts();
    let (body, kept) = match body.try_into_bytes() {
        Ok(bytes) => (BoxBody::new(bytes.clone()), Some(bytes)),
        Err(body) => (body, None),
    };
    (
        head.set_body(body),
        SentResponse {
            headers,
            body: kept,
            truncated: false,
        },
    )
}

/// The request's target (path and query) and headers, copied into one allocation of their
/// own. actix's URI and header values are slices of the connection's read buffer: kept as
/// they are, each journal entry would keep that whole buffer alive (measured: 300 KB per
/// 1 MiB POST, for 64 KiB of body).
fn detached_head(req: &HttpRequest) -> Head {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    Head::new(target, || {
        req.headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
    })
}

/// The request's log line (target `mockrig::request`); a proxied request's also names the
/// backend's URL, status and time.
pub(crate) fn log_request(
    req: &HttpRequest,
    status: StatusCode,
    route: Option<&str>,
    fault: Option<Fault>,
    upstream: Option<&UpstreamCall>,
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
        upstream = upstream.map(|u| u.url.as_str()),
        upstream_status = upstream.and_then(|u| u.status),
        upstream_micros = upstream.map(|u| u.elapsed.as_micros() as u64),
    );
}
