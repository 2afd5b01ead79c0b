//! What admin handlers take from a request besides their path and body: the session the call
//! is about ([`SessionScope`]), and a way to run blocking work (a snapshot written to disk, a
//! spec compiled) off the worker ([`blocking`]).

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::app::state::AppState;
use crate::engine::journal::RequestJournal;
use crate::engine::route_state::RouteState;
use crate::engine::sessions::{self, NAME_LIMIT, Session};
use crate::error::ApiError;

/// The session an admin call is about: `?session=NAME`, or the `X-Mockrig-Session` header.
/// `session` is `None` for the shared data and journal. Reading a session that does not exist
/// (a typo, or one not used yet) sees what a new one would, without taking a place among the
/// live sessions; a write starts it with [`SessionScope::open`], once the call is known to be
/// valid, so a refused call leaves no session behind.
pub(crate) struct SessionScope {
    name: Option<String>,
    pub(crate) session: Option<Arc<Session>>,
}

impl SessionScope {
    /// The session to write to, started if it was not live: `None` for the shared data.
    pub(crate) fn open(&self, app: &AppState) -> Option<Arc<Session>> {
        self.name.as_deref().map(|n| app.sessions.get(n))
    }

    /// The session's name, `None` for the shared data.
    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The journal the call reads: the session's, or the shared one.
    pub(crate) fn journal<'a>(&'a self, app: &'a AppState) -> &'a RequestJournal {
        self.session.as_ref().map_or(&app.journal, |s| &s.journal)
    }

    /// Every request the call reads, oldest first: the session's, the shared journal of all
    /// replicas (`--state redis://`), or this server's.
    pub(crate) async fn entries(
        &self,
        app: &AppState,
    ) -> Result<Vec<std::sync::Arc<crate::engine::journal::Recorded>>, ApiError> {
        match &app.shared_journal {
            Some(shared) => shared.all(self.name()).await,
            None => Ok(self.journal(app).all()),
        }
    }

    /// The answer counts and scenario states the call reads.
    pub(crate) fn route_state<'a>(&'a self, app: &'a AppState) -> &'a RouteState {
        self.session.as_ref().map_or(&app.route_state, |s| &s.state)
    }
}

impl FromRequest for SessionScope {
    type Error = ApiError;
    type Future = Ready<Result<SessionScope, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(scope_of(req))
    }
}

fn scope_of(req: &HttpRequest) -> Result<SessionScope, ApiError> {
    #[derive(serde::Deserialize)]
    struct Query {
        session: Option<String>,
    }
    let app = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("the server state is missing".into()))?;
    let from_query = serde_urlencoded::from_str::<Query>(req.query_string())
        .ok()
        .and_then(|q| q.session);
    let name = match &from_query {
        Some(n) => Some(sessions::check_name(n).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "session must be 1 to {NAME_LIMIT} visible ASCII characters"
            ))
        })?),
        None => sessions::name_of(req).map_err(|e| ApiError::BadRequest(e.to_string()))?,
    };
    Ok(SessionScope {
        session: name.map(|n| app.sessions.peek(n)),
        name: name.map(str::to_owned),
    })
}

/// Runs `work` on the blocking pool: writing a snapshot, compiling a spec.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(work)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// A request body as a message: JSON sent as compact JSON, anything else as its text.
pub(crate) fn message(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the body must be UTF-8 text or JSON".into()))?;
    Ok(serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned())))
}
