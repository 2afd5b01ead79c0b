//! The action step: what the route that took a request does with it, one module per kind of
//! answer. A new kind (a proxy, an OpenAPI operation, a long poll) is a new variant of
//! `model::compiled::Action` and a new module here.

pub(crate) mod channel;
mod delay;
mod openapi;
pub(crate) mod proxy;
pub(crate) mod resource;
pub(crate) mod respond;
pub(crate) mod static_files;
mod wait;

use crate::engine::routing::RouteMatch;
use crate::model::compiled::Action;

use super::context::RequestContext;
use super::outcome::Outcome;

/// Runs the action of the route that took the request.
pub(crate) async fn run(cx: &RequestContext<'_>, found: &RouteMatch<'_>) -> Outcome {
    match &found.route.action {
        // Boxed like every action that awaits: this future is as large as its largest
        // variant, and a held request (a long poll) keeps it whole. A static answer's box
        // (under 1 KiB) comes from the allocator's per-thread cache.
        Action::Respond(set) => {
            let boxed = Box::pin(respond::run(cx, found.route, set));
            boxed.await
        }
        Action::Resource {
            resource,
            op,
            delay,
        } => {
            let boxed = Box::pin(resource::run(cx, found, *resource, *op, *delay));
            boxed.await
        }
        Action::Static { delay, .. } => {
            let boxed = Box::pin(static_files::run(cx, found, *delay));
            boxed.await
        }
        Action::WebSocket(_) => channel::upgrade_required(found.route),
        Action::Sse(i) => channel::subscribe(cx, found.route, *i),
        Action::Proxy(target) => {
            let boxed = Box::pin(proxy::run(cx, Some(found.route), target));
            boxed.await
        }
        Action::Wait(w) => {
            let boxed = Box::pin(wait::run(cx, found.route, w));
            boxed.await
        }
        Action::OpenApi { op, resource } => {
            let boxed = Box::pin(openapi::run(cx, found, op, *resource));
            boxed.await
        }
    }
}
