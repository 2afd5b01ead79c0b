//! `wait:`: long polling. The request is held (a future, no thread) until an event is
//! published on the route's topic or the timeout passes; then the route answers, its
//! templates seeing the event. `?since=ID` answers at once with what the topic kept after ID.

use minijinja::Value as Jinja;
use serde_json::json;

use super::respond;
use crate::app::context::RequestContext;
use crate::app::outcome::Outcome;
use crate::model::compiled::{CompiledRoute, WaitAction};

pub(crate) async fn run(cx: &RequestContext<'_>, route: &CompiledRoute, w: &WaitAction) -> Outcome {
    let params = route.pattern.params(&cx.segments);
    let topic = match cx.spec().templates.render(
        &w.topic,
        &json!({"params": params, "request": {"path": cx.req.path(), "params": params}}),
        None,
    ) {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    let since = serde_urlencoded::from_str::<Vec<(String, String)>>(cx.req.query_string())
        .ok()
        .and_then(|q| q.into_iter().find(|(k, _)| k == "since"))
        .and_then(|(_, v)| v.parse::<u64>().ok());
    let events = tokio::select! {
        events = cx.app.hub.topics.wait(&topic, since, w.timeout) => events,
        // Gone: the subscription goes with this future, and nobody reads an answer.
        () = crate::engine::fault::hangup(cx.req) => {
            return Outcome::unrouted(actix_web::HttpResponse::NoContent().finish());
        }
    };
    let Some(last) = events.last() else {
        return {
            let boxed = Box::pin(respond::run(cx, route, &w.on_timeout));
            boxed.await
        };
    };
    let list: Vec<serde_json::Value> = events
        .iter()
        .map(|e| json!({"id": e.0, "data": e.1}))
        .collect();
    let extra = [
        ("event", Jinja::from(minijinja::value::Serde(&last.1))),
        ("event_id", Jinja::from(last.0)),
        ("events", Jinja::from(minijinja::value::Serde(&list))),
    ];
    // The answers are boxed: the future held while waiting is then only the wait's.
    {
        let boxed = Box::pin(respond::run_with(cx, route, &w.answer, &extra));
        boxed.await
    }
}
