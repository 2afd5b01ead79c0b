//! What the dashboard watches live: every answered request, every reload, every change of the
//! routes. Nobody watching is the common case and must cost nothing: the request path reads one
//! atomic ([`Monitor::watching`]) and goes on. While someone watches, a request is one push
//! under a short lock; one task per server (the batcher) turns what gathered into one encoded
//! frame per [`BATCH`], and every watcher gets the same bytes. So the work per request does not
//! grow with the number of dashboards open, and a burst costs one frame per batch.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::channels::frame::SseFrame;
use super::journal::Recorded;
use crate::sync::lock;

/// How long requests gather before they go out as one frame.
pub(crate) const BATCH: Duration = Duration::from_millis(100);
/// Requests one batch shows at most (2,000 a second); the rest are counted as dropped.
pub(crate) const MAX_PER_BATCH: usize = 200;
/// Frames kept for a watcher that has not taken them yet (a batch is at most ~100 KB).
const FRAMES: usize = 64;

/// One encoded SSE event, the same bytes for every watcher, with the requests it accounts for.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub(crate) bytes: Bytes,
    /// Requests noted before the ones in this frame.
    pub(crate) before: u64,
    /// Requests this frame accounts for: shown, or counted as dropped in it.
    pub(crate) requests: u64,
}

/// Requests noted since the last batch.
#[derive(Default)]
struct Pending {
    entries: Vec<(Option<Arc<str>>, Arc<Recorded>)>,
    dropped: u64,
    /// Every request noted since the start.
    total: u64,
    /// The total when the last batch was taken.
    sent: u64,
}

pub(crate) struct Monitor {
    watchers: AtomicUsize,
    pending: Mutex<Pending>,
    /// Held from taking a batch to sending it, so frames go out in the order they were taken.
    flushing: Mutex<()>,
    out: broadcast::Sender<Frame>,
    /// Whether the batcher task runs.
    batching: AtomicBool,
    /// Ends every watcher's stream (the server is stopping).
    stop: tokio::sync::Notify,
    stopping: AtomicBool,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor {
            watchers: AtomicUsize::new(0),
            pending: Mutex::new(Pending::default()),
            flushing: Mutex::new(()),
            out: broadcast::channel(FRAMES).0,
            batching: AtomicBool::new(false),
            stop: tokio::sync::Notify::new(),
            stopping: AtomicBool::new(false),
        }
    }
}

/// A watcher: the frames, and its place among the watchers.
pub(crate) struct Watcher {
    pub(crate) place: Place,
    pub(crate) frames: broadcast::Receiver<Frame>,
}

/// A watcher's place: counted while it lives.
pub(crate) struct Place {
    monitor: Arc<Monitor>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.monitor.watchers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Place {
    /// Resolves when the server stops.
    pub(crate) async fn stopped(&self) {
        let notified = self.monitor.stop.notified();
        tokio::pin!(notified);
        // Registered before the flag is read: a stop between the two still wakes it.
        notified.as_mut().enable();
        if self.monitor.stopping.load(Ordering::SeqCst) {
            return;
        }
        notified.await;
    }
}

/// An SSE event named `event` carrying `data`.
pub(crate) fn sse(event: &str, data: Value) -> Bytes {
    SseFrame {
        event: Some(event.to_owned()),
        id: None,
        data: Some(data),
    }
    .encode()
}

impl Monitor {
    /// Whether anybody watches: read on every request, so one relaxed load.
    pub(crate) fn watching(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }

    /// A new watcher; starts the batcher if it is not running. Call within the runtime.
    pub(crate) fn watch(self: &Arc<Self>) -> Watcher {
        self.watchers.fetch_add(1, Ordering::SeqCst);
        let watcher = Watcher {
            place: Place {
                monitor: self.clone(),
            },
            frames: self.out.subscribe(),
        };
        if !self.batching.swap(true, Ordering::SeqCst) {
            actix_web::rt::spawn(self.clone().batch());
        }
        watcher
    }

    /// Notes an answered request for the next batch.
    pub(crate) fn request(&self, session: Option<Arc<str>>, entry: Arc<Recorded>) {
        let mut p = lock(&self.pending);
        p.total += 1;
        if p.entries.len() < MAX_PER_BATCH {
            p.entries.push((session, entry));
        } else {
            p.dropped += 1;
        }
    }

    /// Sends `event` to every watcher at once, after the requests noted before it.
    pub(crate) fn announce(&self, event: &str, data: Value) {
        if !self.watching() {
            return;
        }
        let _in_order = lock(&self.flushing);
        let before = self.take_and_send();
        let _ = self.out.send(Frame {
            bytes: sse(event, data),
            before,
            requests: 0,
        });
    }

    /// Sends the requests noted since the last batch, if any; the total noted so far.
    fn flush(&self) -> u64 {
        let _in_order = lock(&self.flushing);
        self.take_and_send()
    }

    /// [`Monitor::flush`] with `flushing` held.
    fn take_and_send(&self) -> u64 {
        let (entries, dropped, before, total) = {
            let mut p = lock(&self.pending);
            let before = p.sent;
            p.sent = p.total;
            (
                std::mem::take(&mut p.entries),
                std::mem::take(&mut p.dropped),
                before,
                p.total,
            )
        };
        if entries.is_empty() && dropped == 0 {
            return total;
        }
        let requests: Vec<Value> = entries
            .iter()
            .map(|(session, entry)| {
                let mut v = entry.summary();
                v["session"] = json!(session.as_deref());
                v
            })
            .collect();
        // Freed here, not under the pending lock the request path takes.
        drop(entries);
        let _ = self.out.send(Frame {
            bytes: sse(
                "requests",
                json!({"requests": requests, "dropped": dropped}),
            ),
            before,
            requests: total - before,
        });
        total
    }

    /// The batcher: one frame per [`BATCH`] while anybody watches.
    async fn batch(self: Arc<Self>) {
        let mut tick = tokio::time::interval(BATCH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.flush();
            if self.watchers.load(Ordering::SeqCst) == 0 {
                self.batching.store(false, Ordering::SeqCst);
                // A watcher that came between the two reads has seen `batching` true and
                // started none: go on for it.
                if self.watchers.load(Ordering::SeqCst) == 0
                    || self.batching.swap(true, Ordering::SeqCst)
                {
                    return;
                }
            }
        }
    }

    /// Ends every watcher's stream.
    pub(crate) fn close_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_reach_every_watcher_alike_and_nobody_watching_is_no_watcher() {
        // The batcher is spawned on actix's runtime, as in the server.
        actix_web::rt::System::new().block_on(async {
            let m = Arc::new(Monitor::default());
            assert!(!m.watching());
            let mut a = m.watch();
            let mut b = m.watch();
            assert!(m.watching());
            m.announce("reload", json!({"result": "ok"}));
            let (fa, fb) = (
                a.frames.recv().await.unwrap(),
                b.frames.recv().await.unwrap(),
            );
            assert_eq!(fa.bytes, fb.bytes);
            assert!(
                std::str::from_utf8(&fa.bytes)
                    .unwrap()
                    .starts_with("event: reload\n")
            );
            assert_eq!((fa.before, fa.requests), (0, 0));
            drop((a, b));
            assert!(!m.watching());
        });
    }
}
