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
        Action::Respond(set) => respond::run(cx, found.route, set).await,
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
        Action::Wait(w) => wait::run(cx, found.route, w).await,
        Action::OpenApi { op, resource } => {
            let boxed = Box::pin(openapi::run(cx, found, op, *resource));
            boxed.await
        }
    }
}
