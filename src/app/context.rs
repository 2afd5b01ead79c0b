//! One request on its way through the pipeline: the request and its body, the snapshot it is
//! served from (owned, so a reload meanwhile changes nothing for it), its session, and its
//! path split once for the router, the actions and the 404.

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::web::Bytes;

use crate::engine::request_view::RequestView;
use crate::engine::route_state::RouteState;
use crate::engine::route_state::shared::SharedRouteState;
use crate::engine::sessions::Session;
use crate::engine::snapshot::Snapshot;
use crate::error::ApiError;
use crate::model::compiled::CompiledSpec;
use crate::model::compiled::ScenarioStep;
use crate::model::router::request_segments;

use super::state::AppState;

/// What every action reads of the request it answers, prepared once by the pipeline: the
/// request and its whole body, the snapshot it is answered from (held to the end, whatever a
/// reload swaps in), its session, and the path already split for routing and conditions.
pub(crate) struct RequestContext<'a> {
    pub(crate) req: &'a HttpRequest,
    pub(crate) body: &'a Bytes,
    pub(crate) snapshot: &'a Arc<Snapshot>,
    pub(crate) session: Option<&'a Session>,
    pub(crate) app: &'a AppState,
    /// The path as percent-decoded segments.
    pub(crate) segments: Vec<Cow<'a, str>>,
    /// What route conditions read of the request, parsed as they ask.
    pub(crate) view: RequestView<'a>,
}

impl<'a> RequestContext<'a> {
    pub(crate) fn new(
        req: &'a HttpRequest,
        body: &'a Bytes,
        snapshot: &'a Arc<Snapshot>,
        session: Option<&'a Session>,
        app: &'a AppState,
    ) -> RequestContext<'a> {
        RequestContext {
            req,
            body,
            snapshot,
            session,
            app,
            segments: request_segments(req.path()),
            view: RequestView::new(req, body),
        }
    }

    /// The compiled spec this request is answered from.
    pub(crate) fn spec(&self) -> &'a CompiledSpec {
        &self.snapshot.spec
    }

    /// The answer counts and scenario states this request sees: its session's, or the
    /// shared ones.
    pub(crate) fn route_state(&self) -> &'a RouteState {
        self.session.map_or(&self.app.route_state, |s| &s.state)
    }

    /// The replicas' shared counts and scenarios, and the session whose they are.
    fn shared_state(&self) -> Option<(&'a SharedRouteState, Option<&'a str>)> {
        let shared = self.app.shared_state.as_ref()?;
        Some((shared, self.session.map(|s| s.name.as_str())))
    }

    /// How many times the route with fingerprint `key` answered before, counting this one:
    /// on every replica when they share state (a 503 when Redis does not answer).
    pub(crate) async fn hit(&self, key: u64) -> Result<u64, ApiError> {
        match self.shared_state() {
            Some((shared, session)) => shared.hit(session, key).await,
            None => Ok(self.route_state().hit(key)),
        }
    }

    /// Takes the scenario step of a route that answered. Shared, it moves only if the
    /// scenario is still where the route matched it; a step lost to Redis going away is
    /// logged, the answer sent.
    pub(crate) async fn step(&self, step: &ScenarioStep, then: &str) {
        let Some((shared, session)) = self.shared_state() else {
            self.route_state().set_state(&step.scenario, then);
            return;
        };
        match shared
            .step(session, &step.scenario, step.when.as_deref(), then)
            .await
        {
            Ok(true) => self.route_state().set_state(&step.scenario, then),
            Ok(false) => {}
            Err(e) => tracing::warn!(scenario = %step.scenario, "scenario step not taken: {e}"),
        }
    }
}
