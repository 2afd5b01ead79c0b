//! `proxy:` and `server.fallback`: the request passed to a real backend, its answer streamed
//! back; a WebSocket upgrade passed through. The route's scenario step and emits follow a
//! proxied answer as they follow a mocked one.

use std::sync::Arc;

use actix_web::{HttpRequest, ResponseError, web};
use serde_json::Map;

use super::respond::send_emits;
use crate::app::context::RequestContext;
use crate::app::outcome::Outcome;
use crate::app::state::AppState;
use crate::engine::upstream::forward::{Forward, forward};
use crate::engine::upstream::ws;
use crate::model::compiled::CompiledRoute;
use crate::model::proxy::ProxyTarget;

/// What `server.fallback` answers as, in the log and the journal.
pub(crate) const FALLBACK: &str = "server.fallback";

/// Passes the request to `target`; `route` is the route that proxies, none for the fallback.
pub(crate) async fn run(
    cx: &RequestContext<'_>,
    route: Option<&CompiledRoute>,
    target: &ProxyTarget,
) -> Outcome {
    let source: Arc<str> = route.map_or_else(|| FALLBACK.into(), |r| r.source.clone());
    let params = match route {
        Some(r) if target.rewrite.is_some() => r.pattern.params(&cx.segments),
        _ => Map::new(),
    };
    let (answer, call) = forward(
        &cx.app.upstream,
        Forward {
            req: cx.req,
            body: cx.body.clone(),
            target,
            params: &params,
            route: &source,
            secure: cx.app.admin.scheme() == Some("https"),
        },
        cx.app.recorder.as_ref(),
    )
    .await;
    if let Some(route) = route
        && answer.is_ok()
    {
        if let Some(step) = &route.scenario
            && let Some(then) = &step.then
        {
            cx.step(step, then).await;
        }
        send_emits(cx, route, None).await;
    }
    let response = answer.unwrap_or_else(|e| e.error_response());
    Outcome {
        upstream: Some(call),
        ..Outcome::answered(&source, response)
    }
}

/// A WebSocket upgrade on a proxied path (or one only the fallback takes).
pub(crate) async fn upgrade(
    req: &HttpRequest,
    payload: web::Payload,
    app: &AppState,
    route: Option<&CompiledRoute>,
    target: &ProxyTarget,
) -> Outcome {
    let source: Arc<str> = route.map_or_else(|| FALLBACK.into(), |r| r.source.clone());
    let params = match route {
        Some(r) if target.rewrite.is_some() => r
            .pattern
            .params(&crate::model::router::request_segments(req.path())),
        _ => Map::new(),
    };
    let secure = app.admin.scheme() == Some("https");
    let (answer, call) = ws::upgrade(
        &app.upstream,
        req,
        payload,
        target,
        &params,
        &source,
        secure,
    )
    .await;
    Outcome {
        upstream: Some(call),
        ..Outcome::answered(&source, answer.unwrap_or_else(|e| e.error_response()))
    }
}
