//! The request pipeline: every request to the mock goes through [`handle`], and [`pipeline`]
//! reads top to bottom as the steps it takes (after [`handle`] checked the head limits), static-web-server style. Each step is a call
//! into its own module that either answers early or passes on:
//!
//! limits → session → body → route → action → decorate → record
//!
//! A new kind of answer is a new action (`actions`), not a new branch here.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::FutureExt;

use super::actions;
use super::context::RequestContext;
use super::limits;
use super::outcome::Outcome;
use super::record::{self, log_request};
use super::shared;
use super::state::AppState;
use crate::engine::near_miss;
use crate::engine::routing::{self, Upgrade};
use crate::engine::sessions;
use crate::error::ApiError;
use crate::model::cors::Cors;

/// actix's default service: every request that is not for `/__mockrig/`.
pub(crate) async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    // Limits: the URL and the headers, before anything reads them. A refused head is logged
    // but kept out of the journal: keeping it would hold the oversized headers it refused.
    if let Err(e) = limits::check_head(&req, &app.limits) {
        let response = e.error_response();
        log_request(&req, response.status(), None, None, None, started);
        return response;
    }
    // A panic is a bug in mockrig; it must cost one 500, not the worker and its connections.
    // (A middleware cannot do this: it would have to keep a clone of the request, and actix's
    // routing needs the only one.)
    let outcome = match AssertUnwindSafe(pipeline(&req, payload, &app))
        .catch_unwind()
        .await
    {
        Ok(outcome) => outcome,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            tracing::error!(method = %req.method(), path = %req.path(), "handler panicked: {reason}");
            Outcome::refused(ApiError::Panic { reason })
        }
    };
    let (response, shared) = record::finish(&app, &req, outcome, started);
    // Before the answer goes: a client that asks any replica next finds this request there.
    if let (Some(journal), Some((entry, session))) = (&app.shared_journal, shared) {
        // Boxed, as the other steps only some requests take: a held request keeps this
        // future whole, so its size is every request's memory.
        let boxed = Box::pin(journal.append(&entry, session.as_deref()));
        boxed.await;
    }
    response
}

async fn pipeline(req: &HttpRequest, payload: web::Payload, app: &AppState) -> Outcome {
    #[cfg(test)]
    tests::panic_on_request(req);
    // An owned snapshot: the request finishes with the spec it started with, even if a reload
    // swaps in another while it waits for its body or a delay.
    let mut snapshot = app.snapshot.load_full();
    // A WebSocket upgrade takes the connection before anything reads a body.
    match routing::websocket_upgrade(&snapshot.spec, req) {
        Some(Upgrade::Channel(id, params)) => {
            return actions::channel::upgrade(req, payload, app, &snapshot, (id, params));
        }
        Some(Upgrade::Proxy(route, target)) => {
            return {
                let boxed = Box::pin(actions::proxy::upgrade(req, payload, app, route, target));
                boxed.await
            };
        }
        None => {}
    }
    // Session: `X-Mockrig-Session` picks the data, counts and journal.
    let session = match sessions::name_of(req) {
        Ok(name) => name.map(|n| app.sessions.get(n)),
        Err(e) => return Outcome::refused(ApiError::BadRequest(e.to_string())),
    };
    // Shared state (`--state redis://`): the replicas' scenario states and stubs, then the
    // snapshot again, so a stub another replica added serves this request already.
    if app.shared_state.is_some() {
        {
            let boxed = Box::pin(shared::before_routing(app, session.as_deref()));
            boxed.await
        };
        snapshot = app.snapshot.load_full();
    }
    // Body: read whole, within the size and time limits. An upgrade request no channel or
    // proxy took has none to wait for: what follows its head is the rest of the connection,
    // so it is answered (a 404 with near misses, or the route's answer) at once.
    let body = if routing::asks_to_upgrade(req) {
        Ok(actix_web::web::Bytes::new())
    } else {
        limits::read_body(payload, req, &app.limits).await
    };
    let mut outcome = match body {
        Ok(body) => {
            let cx = RequestContext::new(req, &body, &snapshot, session.as_deref(), app);
            let outcome = {
                let boxed = Box::pin(route_and_act(&cx));
                boxed.await
            };
            drop(cx);
            Outcome { body, ..outcome }
        }
        Err(e) => Outcome::refused(e),
    };
    // Decorate: the spec's CORS policy applies to every answer from here on, errors included,
    // so a page on another origin can read why its request failed.
    if let Some(cors) = &snapshot.spec.cors {
        cors.decorate(req, &mut outcome.response);
    }
    outcome.in_session(session)
}

/// Route and action: the route that takes the request answers it; with none, a preflight
/// the CORS policy answers, the fallback proxy, or an automatic OPTIONS, a 405 or a 404 that
/// explains itself.
async fn route_and_act(cx: &RequestContext<'_>) -> Outcome {
    let (spec, req, state) = (cx.spec(), cx.req, cx.route_state());
    if let Some(cors) = &spec.cors
        && Cors::is_preflight(req)
        && !routing::has_options_route(spec, &cx.segments, &cx.view, state)
    {
        return Outcome::unrouted(cors.preflight(req).unwrap_or_else(|e| e.error_response()));
    }
    match routing::find(spec, req.method(), &cx.segments, &cx.view, state) {
        Some(found) => actions::run(cx, &found).await,
        None if spec.fallback.is_some() => {
            let target = spec.fallback.as_deref().expect("checked");
            {
                let boxed = Box::pin(actions::proxy::run(cx, None, target));
                boxed.await
            }
        }
        None => {
            // A save that failed to load is often why nothing matched: the 404 says so.
            let reload_error = match cx.app.reloader.status().last {
                Some((_, Err(e))) => Some(e),
                _ => None,
            };
            let pending = reload_error.is_some();
            let (answer, nearest) = near_miss::no_match(
                spec,
                req.method(),
                req.path(),
                &cx.segments,
                &cx.view,
                state,
                reload_error,
            );
            let mut response = answer.unwrap_or_else(|e| e.error_response());
            if pending {
                response.headers_mut().insert(
                    actix_web::http::header::HeaderName::from_static("x-mockrig-reload-error"),
                    actix_web::http::header::HeaderValue::from_static(
                        "the last save did not load; see reload_error or /__mockrig/status",
                    ),
                );
            }
            Outcome {
                nearest,
                ..Outcome::unrouted(response)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path that panics inside the pipeline: the panic guard's test, compiled into unit
    /// tests only.
    pub(super) const PANIC_PATH: &str = "/__test_panic__";

    pub(super) fn panic_on_request(req: &HttpRequest) {
        if req.path() == PANIC_PATH {
            panic!("test panic at {PANIC_PATH}");
        }
    }

    #[test]
    fn a_panic_is_a_500_and_the_server_goes_on() {
        use std::io::{Read, Write};
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("api.yaml");
        std::fs::write(
            &spec,
            "routes:\n  - { path: /ok, response: { text: fine } }\n",
        )
        .unwrap();
        let mut config = crate::ServeConfig::new(&spec);
        config.watch = false;
        config.workers = Some(1);
        let server = crate::app::background::BackgroundServer::start(config).unwrap();
        let get = |path: &str| {
            let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let answer = get(PANIC_PATH);
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(answer.contains("a bug: please report it"), "{answer}");
        assert!(
            answer.contains("test panic at"),
            "the reason is told: {answer}"
        );
        // The same single worker still answers.
        assert!(get("/ok").ends_with("fine"));
    }
}
