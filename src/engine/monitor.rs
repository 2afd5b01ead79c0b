//! What the dashboard watches live: every answered request, every reload, every change of the
//! routes, as events on one broadcast channel. Nobody watching is the common case and must cost
//! nothing: the request path reads one atomic ([`Monitor::watching`]) and goes on. A watcher's
//! stream batches what arrives (`app::admin::events`), so a burst of requests costs one message
//! per batch, not one per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;
use tokio::sync::broadcast;

use super::journal::Recorded;

/// One thing a watcher is told.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    /// A request was answered: its journal entry and the session it belonged to.
    Request {
        session: Option<Arc<str>>,
        entry: Arc<Recorded>,
    },
    /// A reload ran: the same object `/__mockrig/status` shows as `last_reload`.
    Reload(Value),
    /// The routes changed (a reload, or runtime stubs added or removed).
    Routes,
}

/// Events queued for a watcher that has not read them yet; beyond this, the oldest are lost
/// for it (and counted as dropped).
const QUEUE: usize = 4096;

/// The broadcast channel of [`Event`]s and the number of watchers.
pub(crate) struct Monitor {
    tx: broadcast::Sender<Event>,
    watchers: AtomicUsize,
    /// Ends every watcher's stream (the server is stopping).
    stop: tokio::sync::Notify,
    stopping: AtomicBool,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor {
            tx: broadcast::channel(QUEUE).0,
            watchers: AtomicUsize::new(0),
            stop: tokio::sync::Notify::new(),
            stopping: AtomicBool::new(false),
        }
    }
}

/// A watcher: its events, and its place among the watchers.
pub(crate) struct Watcher {
    pub(crate) place: Place,
    pub(crate) events: broadcast::Receiver<Event>,
}

/// A watcher's place: counted while it lives.
pub(crate) struct Place {
    monitor: Arc<Monitor>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.monitor.watchers.fetch_sub(1, Ordering::Relaxed);
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

impl Monitor {
    /// Whether anybody watches: read on every request, so one relaxed load.
    pub(crate) fn watching(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn watch(self: &Arc<Self>) -> Watcher {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Watcher {
            place: Place {
                monitor: self.clone(),
            },
            events: self.tx.subscribe(),
        }
    }

    /// Tells every watcher, if there is one.
    pub(crate) fn send(&self, event: Event) {
        if self.watching() {
            // No receiver (the last one just left) is not an error worth a word.
            let _ = self.tx.send(event);
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

    #[tokio::test]
    async fn events_reach_watchers_and_nobody_watching_costs_no_queue() {
        let m = Arc::new(Monitor::default());
        assert!(!m.watching());
        // Sent while nobody watches: not queued for a later watcher.
        m.send(Event::Routes);
        let mut w = m.watch();
        assert!(m.watching());
        m.send(Event::Reload(serde_json::json!({"result": "ok"})));
        match w.events.recv().await.unwrap() {
            Event::Reload(v) => assert_eq!(v["result"], "ok"),
            other => panic!("expected the reload, got {other:?}"),
        }
        drop(w);
        assert!(!m.watching());
    }
}
