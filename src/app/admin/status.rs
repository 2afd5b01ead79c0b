//! What is serving and how it got there: `/health`, `/status`, `/reload`, the scenarios, and
//! the answer for an endpoint that does not exist.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::extract::{SessionScope, blocking};
use crate::app::reload::ReloadResult;
use crate::app::state::AppState;
use crate::duration::rfc3339;
use crate::error::ApiError;
use crate::model::problems::RESERVED_PREFIX;
use crate::suggest::did_you_mean;

/// 200 once mockrig is serving.
pub(crate) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// What is serving, since when, and how the last reload went.
pub(crate) async fn status(app: web::Data<AppState>) -> HttpResponse {
    let s = app.reloader.status();
    let counts = app.snapshot.load().spec.counts;
    let last = s.last_json();
    // The same field and header as a 404 carries while a failed save is pending.
    let pending = s.pending_error();
    let mut res = HttpResponse::Ok();
    if pending.is_some() {
        res.insert_header((
            "X-Mockrig-Reload-Error",
            "the last save did not load; see reload_error",
        ));
    }
    // With `--state redis://`: where the data is, and whether the other replicas' channel
    // messages are heard (a test waits for it before it broadcasts).
    let shared = app.stores.shared_store().map(|shared| {
        json!({
            "store": shared.shown(),
            "hearing_replicas": app.hub.hearing.load(std::sync::atomic::Ordering::Acquire),
        })
    });
    res.json(json!({
        "reload_error": pending,
        "shared_state": shared,
        "spec": app.reloader.spec_path().display().to_string(),
        "loaded_at": rfc3339(s.loaded_at),
        "reload_count": s.reloads,
        "failed_reload_count": s.failures,
        "last_reload": last,
        "watching": app.watching,
        "counts": {
            "routes": counts.routes,
            "static": counts.statics,
            "resources": counts.resources,
            "sessions": app.sessions.names().len(),
            "channels": counts.channels,
        },
    }))
}

/// Reloads now, whether or not the file changed; answers with what happened.
pub(crate) async fn reload(app: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let reloader = app.reloader.clone();
    // Parsing a large spec takes milliseconds; keep it off the worker that serves requests.
    match blocking(move || Ok(reloader.reload(true))).await? {
        ReloadResult::Reloaded(text) => {
            Ok(HttpResponse::Ok().json(json!({"result": "ok", "message": text})))
        }
        ReloadResult::Failed(e) => Err(ApiError::ReloadFailed(e)),
        ReloadResult::Unchanged | ReloadResult::Waiting => {
            Ok(HttpResponse::Ok().json(json!({"result": "unchanged"})))
        }
    }
}

/// Every scenario the routes name: its current state (the session's, for a session) and the
/// states its routes mention.
pub(crate) async fn scenarios(
    app: web::Data<AppState>,
    scope: SessionScope,
) -> Result<HttpResponse, ApiError> {
    let state = scope.route_state(&app);
    if let Some(shared) = &app.shared_state
        && (scope.name().is_none() || scope.session.is_some())
    {
        state.set_states(shared.states(scope.name()).await?);
    }
    let now = app.snapshot.load();
    let list: serde_json::Map<String, serde_json::Value> = now
        .spec
        .scenarios
        .iter()
        .map(|(name, states)| {
            (
                name.clone(),
                json!({"state": state.state(name), "states": states}),
            )
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"scenarios": list})))
}

/// Puts a scenario in a state (`{"state": "paid"}`), to start a test half-way through.
pub(crate) async fn set_scenario(
    app: web::Data<AppState>,
    scope: SessionScope,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        state: String,
    }
    let state = match serde_json::from_slice::<Body>(&body) {
        Ok(b) if !b.state.trim().is_empty() => b.state,
        Ok(_) => return Err(ApiError::BadRequest("the state must not be empty".into())),
        Err(e) => {
            return Err(ApiError::BadBody {
                error: "the body is not {\"state\": \"...\"}",
                reason: e.to_string(),
            });
        }
    };
    let now = app.snapshot.load();
    if !now.spec.scenarios.iter().any(|(n, _)| *n == *name) {
        let known: Vec<&str> = now.spec.scenarios.iter().map(|(n, _)| n.as_str()).collect();
        return Err(ApiError::NoScenario {
            scenario: name.to_string(),
            did_you_mean: did_you_mean(&name, &known).map(str::to_owned),
            scenarios: known.into_iter().map(str::to_owned).collect(),
        });
    }
    let session = scope.open(&app);
    if let Some(shared) = &app.shared_state {
        let in_session = session.as_ref().map(|s| s.name.as_str());
        shared.step(in_session, &name, None, &state).await?;
    }
    match session {
        Some(session) => session.state.set_state(&name, &state),
        None => app.route_state.set_state(&name, &state),
    }
    Ok(HttpResponse::Ok().json(json!({"scenario": *name, "state": state})))
}

/// mockrig's endpoints and their methods, for 404 and 405 answers.
const ENDPOINTS: [(&str, &[&str]); 14] = [
    ("health", &["GET"]),
    ("scenarios", &["GET"]),
    ("routes", &["GET", "POST"]),
    ("requests", &["GET", "DELETE"]),
    ("unmatched", &["GET"]),
    ("verify", &["POST"]),
    ("status", &["GET"]),
    ("reload", &["POST"]),
    ("reset", &["POST"]),
    ("state", &["GET", "PUT"]),
    ("sessions", &["GET"]),
    ("ws/send", &["POST"]),
    ("sse/send", &["POST"]),
    ("connections", &["GET"]),
];

/// 405 for a known endpoint with another method, else 404 listing the endpoints.
pub(crate) async fn unknown(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let name = req
        .path()
        .trim_start_matches(RESERVED_PREFIX)
        .trim_matches('/');
    if let Some((_, methods)) = ENDPOINTS.iter().find(|(n, _)| *n == name) {
        return Err(ApiError::MethodNotAllowed {
            method: req.method().as_str().to_owned(),
            path: None,
            allowed: methods.to_vec(),
        });
    }
    Err(ApiError::NoEndpoint {
        path: req.path().to_owned(),
        endpoints: ENDPOINTS
            .iter()
            .map(|(n, m)| format!("{} {RESERVED_PREFIX}/{n}", m.join(", ")))
            .collect(),
    })
}
