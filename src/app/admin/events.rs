//! `GET /__mockrig/events`: the dashboard's live view, as Server-Sent Events. The frames are
//! made once for every watcher (`engine::monitor`); this passes them on without ever waiting
//! for the client: a client that does not keep up misses frames, and is told how many requests
//! it missed (`dropped`), or to read again (`resync`) when it missed a reload.

use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::app::state::AppState;
use crate::engine::monitor::{BATCH, MAX_PER_BATCH, Watcher, sse};

/// A comment this often keeps proxies and the browser from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Frames waiting for a slow client; beyond them, it misses frames.
const QUEUE: usize = 32;

pub(crate) async fn events(app: web::Data<AppState>) -> HttpResponse {
    let watcher = app.monitor.watch();
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    actix_web::rt::spawn(forward(watcher, tx));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// What one client missed and has not been told yet.
#[derive(Default)]
struct Owed {
    /// Requests in frames it did not get.
    dropped: u64,
    /// It missed a frame other than requests (a reload, a change of the routes).
    resync: bool,
}

/// Passes the frames on until the client goes or the server stops.
async fn forward(mut watcher: Watcher, tx: mpsc::Sender<Bytes>) {
    let hello = json!({"batch_ms": BATCH.as_millis() as u64, "max_per_batch": MAX_PER_BATCH});
    // An opening event flushes the headers at once.
    if tx.send(sse("hello", hello)).await.is_err() {
        return;
    }
    let mut owed = Owed::default();
    // The requests accounted for so far: a gap before the next frame is what this client
    // missed while it lagged.
    let mut seen: Option<u64> = None;
    let start = tokio::time::Instant::now() + KEEP_ALIVE;
    let mut keep_alive = tokio::time::interval_at(start, KEEP_ALIVE);
    loop {
        let frame = tokio::select! {
            _ = tx.closed() => break,
            _ = watcher.place.stopped() => break,
            _ = keep_alive.tick() => {
                let _ = tx.try_send(Bytes::from_static(b": keep-alive\n\n"));
                continue;
            }
            frame = watcher.frames.recv() => match frame {
                Ok(frame) => frame,
                Err(RecvError::Lagged(_)) => {
                    // The requests of the lost frames show as the gap before the next one.
                    owed.resync = true;
                    continue;
                }
                Err(RecvError::Closed) => break,
            },
        };
        let from = *seen.get_or_insert(frame.before);
        owed.dropped += frame.before.saturating_sub(from);
        seen = Some(frame.before + frame.requests);
        if owed.dropped > 0 {
            let note = sse("requests", json!({"requests": [], "dropped": owed.dropped}));
            if tx.try_send(note).is_ok() {
                owed.dropped = 0;
            }
        }
        if owed.resync && tx.try_send(sse("resync", json!({}))).is_ok() {
            owed.resync = false;
        }
        if tx.try_send(frame.bytes).is_err() {
            if frame.requests > 0 {
                owed.dropped += frame.requests;
            } else {
                owed.resync = true;
            }
        }
    }
}
