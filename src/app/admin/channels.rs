//! Pushing to real-time clients from a test or a script: `/ws/send` and `/sse/send` reach every
//! client on a concrete path; `/connections` counts them.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::extract::message;
use crate::app::state::AppState;
use crate::engine::channels::frame::SseFrame;
use crate::engine::channels::hub::Target;
use crate::error::ApiError;
use crate::model::router::{Pattern, request_segments};
use crate::suggest::did_you_mean;

#[derive(serde::Deserialize)]
pub(crate) struct PushQuery {
    /// The concrete path whose clients get the message, e.g. `/ws/rooms/a`.
    path: Option<String>,
    /// Or every path of a declared channel, e.g. `/ws/rooms/{room}`.
    channel: Option<String>,
    /// Or one connection, by the id `/connections` lists.
    connection: Option<u64>,
    event: Option<String>,
    id: Option<String>,
}

impl PushQuery {
    fn path(&self) -> Result<&str, ApiError> {
        self.path
            .as_deref()
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| ApiError::BadRequest("name the clients' path: ?path=/ws/chat".into()))
    }

    /// Whom the push is for: exactly one of `path`, `channel` and `connection`.
    fn target(&self) -> Result<Target<'_>, ApiError> {
        match (&self.path, &self.channel, self.connection) {
            (Some(_), None, None) => self.path().map(Target::Path),
            (None, Some(c), None) if c.starts_with('/') => Ok(Target::Channel(c)),
            (None, None, Some(id)) => Ok(Target::Connection(id)),
            _ => Err(ApiError::BadRequest(
                "name the clients with one of ?path=/ws/rooms/a (one path), \
                 ?channel=/ws/rooms/{room} (every path of a channel) or ?connection=ID"
                    .into(),
            )),
        }
    }
}

/// `{"path", "delivered"}`, and when nobody got it because the path is no channel's, the
/// declared channel path it is probably a typo of. (A path that is a channel's, with nobody
/// connected, has no better spelling.)
fn delivered(app: &AppState, target: Target<'_>, count: usize, websocket: bool) -> HttpResponse {
    let (mut body, path) = match target {
        Target::Path(p) => (json!({"path": p, "delivered": count}), p),
        Target::Channel(c) => (json!({"channel": c, "delivered": count}), c),
        Target::Connection(id) => {
            return HttpResponse::Ok().json(json!({"connection": id, "delivered": count}));
        }
    };
    if count == 0 {
        let now = app.snapshot.load();
        let declared: Vec<(&str, &Pattern)> = if websocket {
            now.spec
                .ws
                .iter()
                .map(|w| (w.path.as_str(), &w.pattern))
                .collect()
        } else {
            now.spec
                .sse
                .iter()
                .map(|s| (s.path.as_str(), &s.pattern))
                .collect()
        };
        let segments = request_segments(path);
        let a_channel = declared
            .iter()
            .any(|(_, p)| p.explain_mismatch(&segments).is_none());
        let paths: Vec<&str> = declared.iter().map(|(p, _)| *p).collect();
        if !a_channel && let Some(near) = did_you_mean(path, &paths) {
            body["did_you_mean"] = json!(near);
        }
    }
    HttpResponse::Ok().json(body)
}

/// Sends the body to every WebSocket client on `?path=`.
pub(crate) async fn ws_send(
    app: web::Data<AppState>,
    q: web::Query<PushQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let target = q.target()?;
    let text = match message(&body)? {
        serde_json::Value::String(s) => s,
        v => v.to_string(),
    };
    let count = app.hub.push_ws(target, text).await;
    Ok(delivered(&app, target, count, true))
}

/// Emits the body as an event (`?event=`, `?id=`) to every subscriber of `?path=`.
pub(crate) async fn sse_send(
    app: web::Data<AppState>,
    q: web::Query<PushQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let target = q.target()?;
    let bad_line = |v: &Option<String>| v.as_deref().is_some_and(|v| v.contains(['\n', '\r']));
    if bad_line(&q.event) || bad_line(&q.id) {
        return Err(ApiError::BadRequest(
            "event and id cannot contain line breaks".into(),
        ));
    }
    let event = SseFrame {
        event: q.event.clone(),
        id: q.id.clone(),
        data: Some(message(&body)?),
    };
    let count = app.hub.push_sse(target, &event);
    Ok(delivered(&app, target, count, false))
}

/// Ends the streams of every subscriber of `?path=`, as a dropped connection would: their
/// clients reconnect (after `retry`) with `Last-Event-ID`, and get what was pushed meanwhile.
pub(crate) async fn sse_close(
    app: web::Data<AppState>,
    q: web::Query<PushQuery>,
) -> Result<HttpResponse, ApiError> {
    let path = q.path()?;
    let closed = app.hub.close_sse(path);
    Ok(HttpResponse::Ok().json(json!({"path": path, "closed": closed})))
}

/// `?topic=`, for publishing on a long-polling topic.
#[derive(serde::Deserialize)]
pub(crate) struct TopicQuery {
    topic: Option<String>,
}

/// Publishes the body (JSON, or text) on `?topic=`: every request waiting on it is answered.
pub(crate) async fn topic_send(
    app: web::Data<AppState>,
    q: web::Query<TopicQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let topic = q
        .topic
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::BadRequest("name the topic: ?topic=orders".into()))?;
    let (id, woken) = app.hub.publish_topic(topic, message(&body)?);
    Ok(HttpResponse::Ok().json(json!({"topic": topic, "id": id, "woken": woken})))
}

/// Open WebSocket and SSE connections, by concrete path.
pub(crate) async fn connections(app: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(app.hub.connections())
}
