//! WebSocket and SSE channels: the upgrade that opens a WebSocket connection, the 426 for a
//! plain request to a WebSocket path, and an SSE subscription.

use std::sync::Arc;

use actix_web::{HttpRequest, ResponseError, web};
use serde_json::Value;

use crate::app::context::RequestContext;
use crate::app::outcome::Outcome;
use crate::app::state::AppState;
use crate::engine::channels::{sse, ws};
use crate::engine::snapshot::Snapshot;
use crate::engine::template_context;
use crate::error::ApiError;
use crate::model::compiled::{Action, CompiledRoute};
use crate::model::response::RequestParts;

/// Completes a WebSocket handshake on the channel of route `index`; the connection runs on
/// as a task of its own.
pub(crate) fn upgrade(
    req: &HttpRequest,
    payload: web::Payload,
    app: &AppState,
    snapshot: &Snapshot,
    (index, params): (usize, Value),
) -> Outcome {
    let route = &snapshot.spec.routes[index];
    let Action::WebSocket(i) = route.action else {
        unreachable!("websocket_upgrade finds WebSocket routes only")
    };
    let def = &snapshot.spec.ws[i];
    let conn = ws::Connection {
        hub: app.hub.clone(),
        snapshot: app.snapshot.clone(),
        path: req.path().to_owned(),
        channel: def.path.clone(),
        params,
        seed: app.seed,
    };
    let response = ws::accept(req, payload, def, conn).unwrap_or_else(|e| {
        ApiError::Handshake {
            reason: e.to_string(),
        }
        .error_response()
    });
    Outcome::answered(&route.source, response)
}

/// A request without `Upgrade: websocket` to a WebSocket channel: 426, saying how to connect.
pub(crate) fn upgrade_required(route: &CompiledRoute) -> Outcome {
    let error = ApiError::UpgradeRequired {
        route: route.source.clone(),
    };
    Outcome::answered(&route.source, error.error_response())
}

/// Subscribes to SSE stream `i`; the stream runs on as a task of its own.
pub(crate) fn subscribe(cx: &RequestContext<'_>, route: &CompiledRoute, i: usize) -> Outcome {
    let params = route.pattern.params(&cx.segments);
    // A subscription has no body to read.
    let parts = RequestParts {
        body: false,
        ..RequestParts::ALL
    };
    let response = sse::subscribe(
        cx.req,
        &cx.spec().sse[i],
        cx.app.hub.clone(),
        Arc::clone(&cx.app.snapshot),
        cx.req.path().to_owned(),
        template_context::request(cx.req, cx.body, params, parts),
        cx.app.seed,
    );
    Outcome::answered(
        &route.source,
        response.unwrap_or_else(|e| e.error_response()),
    )
}
