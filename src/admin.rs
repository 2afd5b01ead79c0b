//! mockrig's own endpoints under `/__mockrig/`, a prefix spec routes may not use.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use std::sync::Arc;

use crate::journal::Journal;
use crate::reload::Outcome;
use crate::server::{Shared, json_error};
use crate::session::Session;
use crate::spec::validate::RESERVED_PREFIX;

/// The admin routes, registered ahead of the spec's default service.
pub fn scope() -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope(RESERVED_PREFIX)
        .wrap(actix_web::middleware::from_fn(require_token))
        .route("/health", web::get().to(health))
        .route("/status", web::get().to(status))
        .route("/routes", web::get().to(routes))
        .route("/routes", web::post().to(add_routes))
        .route("/routes/{id}", web::delete().to(remove_route))
        .route("/requests", web::get().to(requests))
        .route("/requests", web::delete().to(clear_requests))
        .route("/unmatched", web::get().to(unmatched))
        .route("/verify", web::post().to(verify))
        .route("/reload", web::post().to(reload))
        .route("/reset", web::post().to(reset))
        .route("/state", web::get().to(state))
        .route("/state", web::put().to(import_state))
        .route("/sessions", web::get().to(sessions))
        .route("/scenarios", web::get().to(scenarios))
        .route("/scenarios/{name}", web::put().to(set_scenario))
        .route("/ws/send", web::post().to(ws_send))
        .route("/sse/send", web::post().to(sse_send))
        .route("/connections", web::get().to(connections))
        .default_service(web::to(unknown))
}

/// With `--admin-token`, every admin call must carry `Authorization: Bearer TOKEN`.
async fn require_token<B: actix_web::body::MessageBody + 'static>(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::EitherBody<B>>, actix_web::Error> {
    let expected = req
        .app_data::<web::Data<Shared>>()
        .and_then(|s| s.admin_token.clone());
    if let Some(token) = expected {
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            // The scheme is case-insensitive (RFC 9110 §11.1).
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        if !given.is_some_and(|g| same_token(g.as_bytes(), token.as_bytes())) {
            let mut res = json_error(
                StatusCode::UNAUTHORIZED,
                json!({"error": "the admin API needs Authorization: Bearer <token> (--admin-token)"}),
            );
            res.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static("Bearer"),
            );
            return Ok(req.into_response(res).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(actix_web::dev::ServiceResponse::map_into_left_body)
}

/// Compares in time that depends on the length only, so response times do not reveal how much
/// of a guessed token was right.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The session an admin call is about: its `X-Mockrig-Session` header, or `?session=NAME`.
/// `None` means the shared data and journal.
fn session_of(req: &HttpRequest, shared: &Shared) -> Result<Option<Arc<Session>>, String> {
    #[derive(serde::Deserialize)]
    struct Q {
        session: Option<String>,
    }
    let from_query = serde_urlencoded::from_str::<Q>(req.query_string())
        .ok()
        .and_then(|q| q.session);
    let name = match &from_query {
        Some(n) => Some(crate::session::check_name(n).ok_or_else(|| {
            format!(
                "session must be 1 to {} visible ASCII characters",
                crate::session::NAME_LIMIT
            )
        })?),
        None => crate::session::name_of(req)?,
    };
    // Only a write starts a session; reading one that does not exist (a typo, or one not
    // used yet) sees what a new one would, without taking a place among the live sessions.
    let write = req.method() == actix_web::http::Method::PUT;
    Ok(name.map(|n| {
        if write {
            shared.sessions.get(n)
        } else {
            shared.sessions.peek(n)
        }
    }))
}

fn bad_request(error: String) -> HttpResponse {
    json_error(StatusCode::BAD_REQUEST, json!({"error": error}))
}

fn journal_of<'a>(shared: &'a Shared, session: &'a Option<Arc<Session>>) -> &'a Journal {
    session.as_ref().map_or(&shared.journal, |s| &s.journal)
}

#[derive(serde::Deserialize)]
struct PushQuery {
    /// The concrete path whose clients get the message, e.g. `/ws/rooms/a`.
    path: Option<String>,
    event: Option<String>,
    id: Option<String>,
}

/// The request body as a message: JSON sent as compact JSON, anything else as its text.
fn payload(body: &[u8]) -> Result<serde_json::Value, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body must be UTF-8 text or JSON")?;
    Ok(serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned())))
}

fn push_path(q: &PushQuery) -> Result<&str, String> {
    q.path
        .as_deref()
        .filter(|p| p.starts_with('/'))
        .ok_or_else(|| "name the clients' path: ?path=/ws/chat".into())
}

/// Sends the body to every WebSocket client on `?path=`.
async fn ws_send(
    shared: web::Data<Shared>,
    q: web::Query<PushQuery>,
    body: web::Bytes,
) -> HttpResponse {
    let path = match push_path(&q) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let text = match payload(&body) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => v.to_string(),
        Err(e) => return bad_request(e),
    };
    let delivered = shared.hub.send_ws(path, text, None).await;
    HttpResponse::Ok().json(json!({"path": path, "delivered": delivered}))
}

/// Emits the body as an event (`?event=`, `?id=`) to every subscriber of `?path=`.
async fn sse_send(
    shared: web::Data<Shared>,
    q: web::Query<PushQuery>,
    body: web::Bytes,
) -> HttpResponse {
    let path = match push_path(&q) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let bad_line = |v: &Option<String>| v.as_deref().is_some_and(|v| v.contains(['\n', '\r']));
    if bad_line(&q.event) || bad_line(&q.id) {
        return bad_request("event and id cannot contain line breaks".into());
    }
    let data = match payload(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e),
    };
    let event = crate::channels::SseEvent {
        event: q.event.clone(),
        id: q.id.clone(),
        data: Some(data),
    };
    let delivered = shared.hub.send_sse(path, &event);
    HttpResponse::Ok().json(json!({"path": path, "delivered": delivered}))
}

/// Open WebSocket and SSE connections, by concrete path.
async fn connections(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(shared.hub.connections())
}

/// Live sessions, most recently used first.
async fn sessions(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "sessions": shared.sessions.names(),
        "limit": shared.sessions.limit(),
    }))
}

/// Every scenario the routes name: its current state (the session's, for a session) and the
/// states its routes mention.
async fn scenarios(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let session = match session_of(&req, &shared) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let progress = session.as_ref().map_or(&shared.progress, |s| &s.progress);
    let runtime = shared.live.load();
    let list: serde_json::Map<String, serde_json::Value> = runtime
        .scenarios
        .iter()
        .map(|(name, states)| {
            (
                name.clone(),
                json!({"state": progress.state(name), "states": states}),
            )
        })
        .collect();
    HttpResponse::Ok().json(json!({"scenarios": list}))
}

/// Puts a scenario in a state (`{"state": "paid"}`), to start a test half-way through.
async fn set_scenario(
    req: HttpRequest,
    shared: web::Data<Shared>,
    name: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        state: String,
    }
    let state = match serde_json::from_slice::<Body>(&body) {
        Ok(b) if !b.state.trim().is_empty() => b.state,
        Ok(_) => return bad_request("the state must not be empty".into()),
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                json!({"error": "the body is not {\"state\": \"...\"}", "reason": e.to_string()}),
            );
        }
    };
    let runtime = shared.live.load();
    if !runtime.scenarios.iter().any(|(n, _)| *n == *name) {
        let known: Vec<&str> = runtime.scenarios.iter().map(|(n, _)| n.as_str()).collect();
        return json_error(
            StatusCode::NOT_FOUND,
            json!({"error": "no route names this scenario", "scenario": *name, "scenarios": known}),
        );
    }
    let session = match session_of(&req, &shared) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let progress = session.as_ref().map_or(&shared.progress, |s| &s.progress);
    progress.set_state(&name, &state);
    HttpResponse::Ok().json(json!({"scenario": *name, "state": state}))
}

/// The compiled routes, most specific first: the order in which a request's candidates are
/// tried (a fixed segment before `{param}` before `{*rest}`, then the order in the spec).
async fn routes(shared: web::Data<Shared>) -> HttpResponse {
    let runtime = shared.live.load();
    let mut entries: Vec<(Vec<u8>, usize)> = runtime
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.pattern.specificity(), i))
        .collect();
    entries.sort();
    let list: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|(_, i)| {
            let e = &runtime.entries[i];
            let kind = match e.action {
                crate::runtime::Action::Respond(_) => "route",
                crate::runtime::Action::Resource { .. } => "resource",
                crate::runtime::Action::Static { .. } => "static",
                crate::runtime::Action::WebSocket(_) => "websocket",
                crate::runtime::Action::Sse(_) => "sse",
            };
            json!({
                "source": &*e.label,
                "kind": kind,
                "method": e.method.as_str(),
                "path": e.path,
                "conditions": e.matcher.is_some(),
            })
        })
        .collect();
    HttpResponse::Ok().json(list)
}

#[derive(serde::Deserialize)]
struct RequestFilter {
    method: Option<String>,
    /// A glob over the path: `/users/*`.
    path: Option<String>,
    matched: Option<bool>,
}

/// The journal, oldest first, filtered by `method`, `path` (a glob) and `matched`.
async fn requests(
    req: HttpRequest,
    shared: web::Data<Shared>,
    q: web::Query<RequestFilter>,
) -> HttpResponse {
    let session = match session_of(&req, &shared) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let journal = journal_of(&shared, &session);
    let glob = match q.path.as_deref().map(crate::journal::glob).transpose() {
        Ok(g) => g,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, json!({"error": e})),
    };
    let list: Vec<serde_json::Value> = journal
        .all()
        .iter()
        .filter(|r| {
            q.method
                .as_ref()
                .is_none_or(|m| m.eq_ignore_ascii_case(r.method.as_str()))
        })
        .filter(|r| glob.as_ref().is_none_or(|g| g.is_match(r.path())))
        .filter(|r| q.matched.is_none_or(|m| m == r.route.is_some()))
        .map(|r| r.to_json())
        .collect();
    HttpResponse::Ok().json(json!({"requests": list, "enabled": journal.enabled()}))
}

async fn clear_requests(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    match session_of(&req, &shared) {
        Ok(session) => {
            journal_of(&shared, &session).clear();
            HttpResponse::NoContent().finish()
        }
        Err(e) => bad_request(e),
    }
}

/// Requests nothing answered, each with the nearest route and why it missed.
async fn unmatched(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let session = match session_of(&req, &shared) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let list: Vec<serde_json::Value> = journal_of(&shared, &session)
        .all()
        .iter()
        .filter(|r| r.route.is_none() && (r.status == 404 || r.status == 405))
        .map(|r| r.to_json())
        .collect();
    HttpResponse::Ok().json(json!({"requests": list}))
}

/// Checks how many journal entries match a request pattern: 200 when the count holds, 417
/// with the closest entries when it does not.
async fn verify(req: HttpRequest, shared: web::Data<Shared>, body: web::Bytes) -> HttpResponse {
    let session = match session_of(&req, &shared) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let journal = journal_of(&shared, &session);
    let pattern: crate::journal::RequestPattern = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                json!({"error": "the body is not a request pattern", "reason": e.to_string()}),
            );
        }
    };
    match journal.verify(&pattern) {
        Ok(v) if v.holds => {
            HttpResponse::Ok().json(json!({"matched": v.matched, "expected": v.expected}))
        }
        Ok(v) => json_error(
            StatusCode::EXPECTATION_FAILED,
            json!({
                "error": "verification failed",
                "matched": v.matched,
                "expected": v.expected,
                "journal_enabled": journal.enabled(),
                "closest": v.closest,
            }),
        ),
        Err(e) => json_error(StatusCode::BAD_REQUEST, json!({"error": e})),
    }
}

/// One route or a list, in the spec's shape (JSON or YAML), in front of the spec's routes.
async fn add_routes(shared: web::Data<Shared>, body: web::Bytes) -> HttpResponse {
    // YAML is a superset of JSON, so one parser takes both.
    let parsed = serde_yaml::from_slice::<serde_yaml::Value>(&body).and_then(|v| {
        if v.is_sequence() {
            serde_yaml::from_value::<Vec<crate::spec::Route>>(v)
        } else {
            serde_yaml::from_value::<crate::spec::Route>(v).map(|r| vec![r])
        }
    });
    let routes = match parsed {
        Ok(routes) => routes,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                json!({"error": "the body is not a route or a list of routes", "reason": e.to_string()}),
            );
        }
    };
    let reloader = shared.reloader.clone();
    match web::block(move || reloader.add_stubs(routes)).await {
        Ok(Ok(ids)) => HttpResponse::Created().json(json!({"ids": ids})),
        Ok(Err(e)) => json_error(StatusCode::BAD_REQUEST, json!({"error": e})),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": e.to_string()}),
        ),
    }
}

/// Removes a route added at run time.
async fn remove_route(shared: web::Data<Shared>, id: web::Path<String>) -> HttpResponse {
    let Ok(id) = id.parse::<u64>() else {
        return json_error(
            StatusCode::NOT_FOUND,
            json!({"error": "no runtime route with that id"}),
        );
    };
    let reloader = shared.reloader.clone();
    match web::block(move || reloader.remove_stub(id)).await {
        Ok(Ok(true)) => HttpResponse::NoContent().finish(),
        Ok(Ok(false)) => json_error(
            StatusCode::NOT_FOUND,
            json!({"error": "no runtime route with that id", "id": id}),
        ),
        Ok(Err(e)) => json_error(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": e})),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": e.to_string()}),
        ),
    }
}

/// 200 once mockrig is serving.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// What is serving, since when, and how the last reload went.
async fn status(shared: web::Data<Shared>) -> HttpResponse {
    let s = shared.reloader.status();
    let runtime = shared.live.load();
    let last = match &s.last {
        None => json!(null),
        Some((at, Ok(()))) => json!({"result": "ok", "at": rfc3339(*at)}),
        Some((at, Err(e))) => json!({"result": "error", "at": rfc3339(*at), "error": e}),
    };
    HttpResponse::Ok().json(json!({
        "spec": shared.reloader.spec_path().display().to_string(),
        "loaded_at": rfc3339(s.loaded_at),
        "reload_count": s.reloads,
        "failed_reload_count": s.failures,
        "last_reload": last,
        "watching": shared.watching,
        "counts": {
            "routes": runtime.spec.routes.len(),
            "static": runtime.spec.statics.len(),
            "resources": runtime.spec.resources.len(),
            "sessions": shared.sessions.names().len(),
            "channels": runtime.ws.len() + runtime.sse.len(),
        },
    }))
}

/// Reloads now, whether or not the file changed; answers with what happened.
async fn reload(shared: web::Data<Shared>) -> HttpResponse {
    let reloader = shared.reloader.clone();
    // Parsing a large spec takes milliseconds; keep it off the worker that serves requests.
    let outcome = match web::block(move || reloader.reload(true)).await {
        Ok(o) => o,
        Err(e) => Outcome::Failed(e.to_string()),
    };
    match outcome {
        Outcome::Reloaded(text) => {
            HttpResponse::Ok().json(json!({"result": "ok", "message": text}))
        }
        Outcome::Failed(e) => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"result": "error", "error": e}),
        ),
        Outcome::Unchanged | Outcome::Waiting => {
            HttpResponse::Ok().json(json!({"result": "unchanged"}))
        }
    }
}

#[derive(serde::Deserialize)]
struct ResetQuery {
    resource: Option<String>,
}

/// Puts every resource (or `?resource=NAME`) back to its seed. For a session (`?session=` or
/// the header) only that session's data and journal; otherwise the shared data, the journal,
/// runtime stubs and every session.
async fn reset(
    req: HttpRequest,
    shared: web::Data<Shared>,
    q: web::Query<ResetQuery>,
) -> HttpResponse {
    let only = q.into_inner().resource;
    match session_of(&req, &shared) {
        Err(e) => return bad_request(e),
        Ok(Some(session)) => {
            // Dropped whole, so whatever else a session holds starts over with it.
            if only.is_none() {
                shared.sessions.remove(&session.name);
                return HttpResponse::Ok().json(json!({"reset": "all", "session": session.name}));
            }
            let runtime = shared.live.load();
            return if session.reset(&runtime.stores, only.as_deref()) {
                HttpResponse::Ok()
                    .json(json!({"reset": only.unwrap_or("all".into()), "session": session.name}))
            } else {
                json_error(
                    StatusCode::NOT_FOUND,
                    json!({"error": "no such resource", "resource": only}),
                )
            };
        }
        Ok(None) => {}
    }
    let name = only.clone();
    let everything = shared.clone();
    // With a state file this writes and flushes a snapshot: keep it off the worker.
    let done = web::block(move || match name {
        Some(name) => everything.stores.reset(Some(&name)),
        None => everything.reset_all().map(|()| true),
    })
    .await;
    match done {
        Ok(Ok(true)) => HttpResponse::Ok().json(json!({"reset": only.unwrap_or("all".into())})),
        Ok(Ok(false)) => json_error(
            StatusCode::NOT_FOUND,
            json!({"error": "no such resource", "resource": only}),
        ),
        Ok(Err(e)) => json_error(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": e})),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": e.to_string()}),
        ),
    }
}

/// Replaces resource data with a snapshot taken by `GET /__mockrig/state`.
async fn import_state(
    req: HttpRequest,
    shared: web::Data<Shared>,
    body: web::Bytes,
) -> HttpResponse {
    let session = match session_of(&req, &shared) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let state: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                json!({"error": "the body is not JSON", "reason": e.to_string()}),
            );
        }
    };
    if let Some(session) = session {
        return match session.import(&shared.live.load().stores, &state) {
            Ok(names) => {
                HttpResponse::Ok().json(json!({"imported": names, "session": session.name}))
            }
            Err(e) => json_error(StatusCode::BAD_REQUEST, json!({"error": e})),
        };
    }
    let stores = shared.stores.clone();
    // With a state file this writes and flushes a snapshot: keep it off the worker.
    match web::block(move || stores.import(&state)).await {
        Ok(Ok(names)) => HttpResponse::Ok().json(json!({"imported": names})),
        Ok(Err(e)) => json_error(StatusCode::BAD_REQUEST, json!({"error": e})),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": e.to_string()}),
        ),
    }
}

/// Every resource's current data, by name (the session's, for a session).
async fn state(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    match session_of(&req, &shared) {
        Ok(Some(session)) => HttpResponse::Ok().json(session.dump(&shared.live.load().stores)),
        Ok(None) => HttpResponse::Ok().json(shared.stores.dump()),
        Err(e) => bad_request(e),
    }
}

/// mockrig's endpoints and their methods, for 404 and 405 answers.
const ENDPOINTS: [(&str, &str); 14] = [
    ("health", "GET"),
    ("scenarios", "GET"),
    ("routes", "GET, POST"),
    ("requests", "GET, DELETE"),
    ("unmatched", "GET"),
    ("verify", "POST"),
    ("status", "GET"),
    ("reload", "POST"),
    ("reset", "POST"),
    ("state", "GET, PUT"),
    ("sessions", "GET"),
    ("ws/send", "POST"),
    ("sse/send", "POST"),
    ("connections", "GET"),
];

async fn unknown(req: HttpRequest) -> HttpResponse {
    let name = req
        .path()
        .trim_start_matches(RESERVED_PREFIX)
        .trim_matches('/');
    if let Some((_, method)) = ENDPOINTS.iter().find(|(n, _)| *n == name) {
        let mut res = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "method not allowed", "method": req.method().as_str(), "allowed": [method]}),
        );
        res.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(method),
        );
        return res;
    }
    json_error(
        StatusCode::NOT_FOUND,
        json!({
            "error": "no such mockrig endpoint",
            "path": req.path(),
            "endpoints": ENDPOINTS
                .iter()
                .map(|(n, m)| format!("{m} {RESERVED_PREFIX}/{n}"))
                .collect::<Vec<_>>(),
        }),
    )
}
