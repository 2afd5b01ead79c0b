//! Server-Sent Events: one streaming response per subscriber, fed by a bounded queue that the
//! stream's script, keep-alive comments, admin pushes and emits all write to.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::frame::SseFrame;
use super::hub::Hub;
use crate::engine::snapshot::LiveSnapshot;
use crate::error::ApiError;
use crate::hash::fnv1a;
use crate::model::channel::{ScriptedEvent, SseChannel};
use crate::random::SeededRng;
use crate::template::TemplateSet;

/// Events waiting for a slow subscriber; beyond this, pushed events are dropped for it.
const QUEUE: usize = 256;

/// Starts a stream for one subscriber at the concrete `path` of channel `channel`.
/// `ctx` is what the events' templates see (`request`, `params`); `counter` is added per event.
pub(crate) fn subscribe(
    req: &HttpRequest,
    def: &Arc<SseChannel>,
    hub: Arc<Hub>,
    live: Arc<LiveSnapshot>,
    path: String,
    ctx: Value,
    seed: Option<u64>,
) -> Result<HttpResponse, ApiError> {
    let last = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok());
    // Room for the events replayed to a resuming client besides the usual queue.
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE + def.replay);
    // Resumption from a pushed event: what the path kept after it is queued at once.
    let (id, stop, resumed) = hub.add_sse(&path, &def.path, tx.clone(), def.replay, last);
    // Registered first, looked up second (as WebSockets are): a reload that retired the
    // channel before the registration would otherwise never end this stream.
    let snapshot = live.load();
    let Some(def) = snapshot.spec.sse_channel(&def.path).cloned() else {
        hub.remove_sse(&path, id);
        return Err(ApiError::ChannelRemoved);
    };
    let def = &def;
    // A client that resumed from a pushed event has had the script; one that resumes from a
    // scripted event starts after it, its id rendered as the script's first pass renders it.
    let start = if resumed {
        def.events.len()
    } else {
        last.and_then(|last| {
            let templates = &snapshot.spec.templates;
            let mut ctx = ctx.clone();
            def.events.iter().enumerate().position(|(i, e)| {
                ctx["counter"] = json!(i + 1);
                let rng = SeededRng::for_answer(seed, fnv1a(path.as_bytes(), 4), i as u64 + 1)
                    .map(Arc::new);
                e.id.as_ref()
                    .is_some_and(|t| id_text(templates, t, &ctx, rng.as_ref()) == last)
            })
        })
        .map_or(0, |i| i + 1)
    };
    drop(snapshot);
    actix_web::rt::spawn(script(
        def.clone(),
        tx,
        start,
        (hub.clone(), path.clone(), id, stop),
        live,
        (ctx, seed),
    ));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tells nginx-style proxies not to buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// The event to send for one scripted event; `ctx` has `request`, `params` and `counter`.
fn render_event(
    e: &ScriptedEvent,
    templates: &TemplateSet,
    ctx: &Value,
    rng: Option<&Arc<SeededRng>>,
) -> SseFrame {
    SseFrame {
        event: e.event.clone(),
        id: e.id.as_ref().map(|t| id_text(templates, t, ctx, rng)),
        data: e.data.as_ref().map(|d| templates.render(d, ctx, rng)),
    }
}

/// An event id as sent: rendered, on one line (a line break would end the field early).
fn id_text(
    templates: &TemplateSet,
    id: &crate::template::Template,
    ctx: &Value,
    rng: Option<&Arc<SeededRng>>,
) -> String {
    match templates.render(id, ctx, rng) {
        Value::String(s) => s,
        other => other.to_string(),
    }
    .replace(['\r', '\n', '\0'], " ")
}

/// Sends the channel's events and keep-alive comments until the subscriber goes away (its
/// queue closes) or a reload removes the channel.
async fn script(
    def: Arc<SseChannel>,
    tx: mpsc::Sender<Bytes>,
    mut next: usize,
    (hub, path, id, stop): (Arc<Hub>, String, u64, Arc<tokio::sync::Notify>),
    live: Arc<LiveSnapshot>,
    (mut ctx, seed): (Value, Option<u64>),
) {
    let mut def = def;
    let mut sent: u64 = 0;
    let key = fnv1a(path.as_bytes(), 4);
    // The event ready to go: rendered with the serving templates and the count so far (and,
    // with a seed, random values that follow from the path and the count).
    let mut render = |e: &ScriptedEvent, templates: &TemplateSet| {
        sent += 1;
        ctx["counter"] = json!(sent);
        let rng = SeededRng::for_answer(seed, key, sent).map(Arc::new);
        render_event(e, templates, &ctx, rng.as_ref()).encode()
    };
    // An opening comment flushes the headers at once, before the first event is due.
    let mut head = String::from(": mockrig\n");
    if let Some(retry) = def.retry {
        head.push_str(&format!("retry: {retry}\n"));
    }
    head.push('\n');
    let mut alive = tx.send(Bytes::from(head)).await.is_ok();
    if alive && def.every.is_none() {
        let templates = live.load().spec.templates.clone();
        for e in def.events.iter().skip(next) {
            if tx.send(render(e, &templates)).await.is_err() {
                alive = false;
                break;
            }
        }
        next = def.events.len();
    }
    let mut keep_alive =
        tokio::time::interval_at(tokio::time::Instant::now() + def.keep_alive, def.keep_alive);
    let mut every = def.every.map(|d| tokio::time::interval(d));
    while alive {
        tokio::select! {
            _ = tx.closed() => break,
            _ = stop.notified() => break,
            _ = keep_alive.tick() => {
                alive = tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_ok();
            }
            _ = async { every.as_mut().expect("guarded").tick().await }, if every.is_some() => {
                let now = live.load();
                match now.spec.sse_channel(&def.path) {
                    Some(d) => def = d.clone(),
                    None => break,
                }
                if next >= def.events.len() {
                    if def.repeat && !def.events.is_empty() {
                        next = 0;
                    } else {
                        every = None;
                        continue;
                    }
                }
                let event = render(&def.events[next], &now.spec.templates);
                drop(now);
                alive = tx.send(event).await.is_ok();
                next += 1;
            }
        }
    }
    hub.remove_sse(&path, id);
}
