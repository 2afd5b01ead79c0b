//! What the request pipeline did with a request, as a typed value: the response and what the
//! log and the journal say about it (which route answered, why none did, a fault).

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, ResponseError};
use serde_json::Value;

use crate::engine::sessions::Session;
use crate::engine::upstream::forward::UpstreamCall;
use crate::error::ApiError;
use crate::spec::Fault;

/// What the pipeline made of one request: the response to send, and what the last step
/// (`record`) logs and journals about it. Typed, so nothing travels in response extensions.
pub(crate) struct Outcome {
    pub(crate) response: HttpResponse,
    /// The route that answered (`routes[2]`, `resources.users`).
    pub(crate) route: Option<Arc<str>>,
    /// When no route answered: the nearest one and why it missed.
    pub(crate) nearest: Option<Value>,
    /// A `fault:` answered instead of a response.
    pub(crate) fault: Option<Fault>,
    /// The request body, for the journal.
    pub(crate) body: Bytes,
    /// The session the request named, whose journal records it.
    pub(crate) session: Option<Arc<Session>>,
    /// A proxied request: what the backend was asked and answered.
    pub(crate) upstream: Option<UpstreamCall>,
}

impl Outcome {
    /// An answer of the route `route`.
    pub(crate) fn answered(route: &Arc<str>, response: HttpResponse) -> Outcome {
        Outcome {
            route: Some(route.clone()),
            ..Outcome::unrouted(response)
        }
    }

    /// An answer no route gave: a refusal, a preflight, an automatic OPTIONS.
    pub(crate) fn unrouted(response: HttpResponse) -> Outcome {
        Outcome {
            response,
            route: None,
            nearest: None,
            fault: None,
            body: Bytes::new(),
            session: None,
            upstream: None,
        }
    }

    /// A request refused before any route was looked for.
    pub(crate) fn refused(error: ApiError) -> Outcome {
        Outcome::unrouted(error.error_response())
    }

    /// Records the request's session, whose journal the request goes into.
    pub(crate) fn in_session(mut self, session: Option<Arc<Session>>) -> Outcome {
        self.session = session;
        self
    }
}
