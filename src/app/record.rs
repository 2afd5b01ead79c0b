//! The pipeline's last step: one log line per request, and the request into the journal of
//! its session (or the shared one).

use std::time::{Instant, SystemTime};

use actix_web::http::StatusCode;
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
        journal.record(Recorded {
            id: 0,
            at: SystemTime::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers: {
                let mut list = Vec::with_capacity(req.headers().len());
                list.extend(req.headers().iter().map(|(n, v)| (n.clone(), v.clone())));
                list
            },
            body: outcome.body,
            route: outcome.route,
            status: outcome.response.status().as_u16(),
            fault: outcome.fault,
            duration: started.elapsed(),
            nearest: outcome.nearest,
        });
    }
    outcome.response
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
