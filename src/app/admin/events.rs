//! `GET /__mockrig/events`: the dashboard's live view, as Server-Sent Events. Requests arrive
//! in batches (one `requests` event per [`BATCH`] at most, of at most [`MAX_PER_BATCH`]
//! requests; the rest are counted as `dropped`, so a watcher under load costs a bounded amount
//! of work whatever the rate); reloads and route changes go out at once.

use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::app::state::AppState;
use crate::engine::channels::frame::SseFrame;
use crate::engine::monitor::{Event, Watcher};

/// How long requests are gathered before they go out as one event.
pub(crate) const BATCH: Duration = Duration::from_millis(100);
/// Requests one batch shows at most: 2,000 a second. The dashboard says how many it missed.
pub(crate) const MAX_PER_BATCH: usize = 200;
/// A comment this often keeps proxies and the browser from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(crate) async fn events(app: web::Data<AppState>) -> HttpResponse {
    let watcher = app.monitor.watch();
    // A few batches may wait for a slow reader; then the broadcast behind it counts the loss.
    let (tx, rx) = mpsc::channel::<Bytes>(16);
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

fn frame(event: &str, data: Value) -> Bytes {
    SseFrame {
        event: Some(event.to_owned()),
        id: None,
        data: Some(data),
    }
    .encode()
}

/// Requests gathered since the last batch, and those left out.
#[derive(Default)]
struct Batch {
    requests: Vec<Value>,
    dropped: u64,
}

impl Batch {
    fn add(&mut self, session: Option<&str>, entry: &crate::engine::journal::Recorded) {
        if self.requests.len() >= MAX_PER_BATCH {
            self.dropped += 1;
            return;
        }
        let mut v = entry.summary();
        v["session"] = json!(session);
        self.requests.push(v);
    }

    /// The batch as an event, if there is anything to say.
    fn take(&mut self) -> Option<Bytes> {
        if self.requests.is_empty() && self.dropped == 0 {
            return None;
        }
        let Batch { requests, dropped } = std::mem::take(self);
        Some(frame(
            "requests",
            json!({"requests": requests, "dropped": dropped}),
        ))
    }
}

/// Turns the watcher's events into the stream's bytes until the client goes or the server
/// stops.
async fn forward(mut watcher: Watcher, tx: mpsc::Sender<Bytes>) {
    let hello = json!({"batch_ms": BATCH.as_millis() as u64, "max_per_batch": MAX_PER_BATCH});
    // An opening event flushes the headers at once.
    if tx.send(frame("hello", hello)).await.is_err() {
        return;
    }
    let mut batch = Batch::default();
    let mut tick = tokio::time::interval(BATCH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = tokio::time::Instant::now() + KEEP_ALIVE;
    let mut keep_alive = tokio::time::interval_at(start, KEEP_ALIVE);
    loop {
        let out = tokio::select! {
            _ = tx.closed() => break,
            _ = watcher.place.stopped() => break,
            _ = tick.tick() => batch.take(),
            _ = keep_alive.tick() => Some(Bytes::from_static(b": keep-alive\n\n")),
            event = watcher.events.recv() => match event {
                Ok(Event::Request { session, entry }) => {
                    batch.add(session.as_deref(), &entry);
                    None
                }
                Ok(Event::Reload(v)) => {
                    // The requests before it go first: the page shows them in order.
                    if let Some(b) = batch.take() && tx.send(b).await.is_err() {
                        break;
                    }
                    Some(frame("reload", v))
                }
                Ok(Event::Routes) => {
                    if let Some(b) = batch.take() && tx.send(b).await.is_err() {
                        break;
                    }
                    Some(frame("routes", json!({})))
                }
                Err(RecvError::Lagged(n)) => {
                    batch.dropped += n;
                    None
                }
                Err(RecvError::Closed) => break,
            },
        };
        if let Some(bytes) = out
            && tx.send(bytes).await.is_err()
        {
            break;
        }
    }
}
