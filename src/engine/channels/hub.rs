//! Every open real-time connection, by concrete path: WebSocket sessions and SSE subscribers.
//! The hub lives beside the compiled spec, not in it, so a reload keeps the connections; those
//! of a channel the new spec dropped are closed right after the swap (`retire`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use actix_web::web::Bytes;
use serde_json::{Map, Value, json};

use super::frame::SseFrame;
use super::relayed::{Reach, Relayed, StubsChanged, WsBody};
use crate::sync::lock;

/// An open WebSocket connection, as the hub knows it.
struct WsConn {
    id: u64,
    since: SystemTime,
    /// The declared path of its channel.
    channel: String,
    session: actix_ws::Session,
    /// Tells the connection's task to close with 1001 (its channel was removed by a reload).
    /// The task closes itself: a reload runs on the watcher thread, outside any runtime.
    stop: Arc<tokio::sync::Notify>,
}

/// An SSE subscriber.
struct SseSub {
    id: u64,
    since: SystemTime,
    channel: String,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    /// Ends the stream (its channel was removed by a reload).
    stop: Arc<tokio::sync::Notify>,
}

/// How long a broadcast waits for a client whose outgoing queue is full. A client that stops
/// reading would otherwise hold up every message to every other client until the ping timeout
/// drops it; instead it is dropped after this wait, once.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_millis(500);

/// Which connections of a path a frame is for.
#[derive(Clone, Copy)]
pub(super) enum Who<'a> {
    All,
    Except(u64),
    Only(u64),
    /// Those of this declared channel: two channels can match one path.
    Of(&'a str),
}

impl Who<'_> {
    fn takes(self, id: u64, channel: &str) -> bool {
        match self {
            Who::All => true,
            Who::Except(x) => id != x,
            Who::Only(x) => id == x,
            Who::Of(c) => channel == c,
        }
    }
}

/// Whom a push from the admin API reaches.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// The clients on one concrete path (`/ws/rooms/a`): a room.
    Path(&'a str),
    /// The clients of every path of a declared channel (`/ws/rooms/{room}`).
    Channel(&'a str),
    /// One connection, by the id `connections` lists.
    Connection(u64),
}

/// A frame for [`Hub::deliver`]: one shared copy for all recipients.
#[derive(Clone)]
pub(super) enum Frame {
    Text(bytestring::ByteString),
    Binary(Bytes),
}

async fn send_frame(s: &mut actix_ws::Session, f: Frame) -> Result<(), actix_ws::Closed> {
    match f {
        Frame::Text(t) => s.text(t).await,
        Frame::Binary(b) => s.binary(b).await,
    }
}

/// Every open real-time connection, by concrete path. Lives as long as the server.
#[derive(Default)]
pub(crate) struct Hub {
    next: AtomicU64,
    ws: Mutex<HashMap<String, Vec<WsConn>>>,
    /// Subscribers and the events kept for `Last-Event-ID`, by concrete path, under one lock:
    /// a subscriber that resumes gets what it missed and then every later event, none twice.
    sse: Mutex<SseState>,
    /// Long-polling topics: what `wait:` routes hold their requests on.
    pub(crate) topics: super::topics::Topics,
    /// `--state redis://`: where deliveries go for the other replicas to make too.
    pub(super) relay: std::sync::OnceLock<tokio::sync::mpsc::Sender<Relayed>>,
    /// The bytes waiting in that queue.
    pub(super) relay_bytes: std::sync::atomic::AtomicUsize,
    /// Whether this replica hears the others' deliveries (its Redis subscription is up).
    pub(crate) hearing: std::sync::atomic::AtomicBool,
    /// What to do when the replicas' runtime stubs changed (`app::shared` reads them again).
    pub(super) stubs_changed: std::sync::OnceLock<StubsChanged>,
}

#[derive(Default)]
struct SseState {
    subs: HashMap<String, Vec<SseSub>>,
    history: HashMap<String, History>,
}

/// Pushed events kept for one concrete SSE path, oldest first, bounded in count and bytes.
struct History {
    capacity: usize,
    next: u64,
    bytes: usize,
    /// Each event: its id, its number on the path (`next` when it was pushed), its bytes.
    events: std::collections::VecDeque<(String, u64, Bytes)>,
}

/// The bytes of pushed events one SSE path keeps at most, whatever `replay` says.
const HISTORY_BYTES: usize = 256 * 1024;
/// Concrete SSE paths with a history at most (paths with parameters make one each); beyond
/// it, the history of a path nobody is subscribed to goes.
const HISTORIES: usize = 1024;

impl History {
    fn keep(&mut self, id: String, bytes: Bytes) {
        self.bytes += bytes.len();
        self.events.push_back((id, self.next, bytes));
        while self.events.len() > self.capacity || self.bytes > HISTORY_BYTES {
            match self.events.pop_front() {
                Some((_, _, b)) => self.bytes -= b.len(),
                None => break,
            }
        }
    }

    /// The events after the one with `id`; or, for an id of mockrig's (`e7`) that is no
    /// longer kept, every kept event after it (the oldest missed ones are gone); none for
    /// another id it does not know.
    fn after(&self, id: &str) -> Option<Vec<Bytes>> {
        let rest = |from: usize| -> Vec<Bytes> {
            self.events
                .iter()
                .skip(from)
                .map(|(_, _, b)| b.clone())
                .collect()
        };
        if let Some(i) = self.events.iter().position(|(e, _, _)| e == id) {
            return Some(rest(i + 1));
        }
        let n: u64 = id.strip_prefix('e')?.parse().ok()?;
        let seen = self
            .events
            .iter()
            .take_while(|(_, seq, _)| *seq <= n)
            .count();
        (n <= self.next).then(|| rest(seen))
    }
}

impl Hub {
    fn id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn add_ws(
        &self,
        path: &str,
        channel: &str,
        session: actix_ws::Session,
    ) -> (u64, Arc<tokio::sync::Notify>) {
        let id = self.id();
        let stop = Arc::new(tokio::sync::Notify::new());
        lock(&self.ws)
            .entry(path.to_owned())
            .or_default()
            .push(WsConn {
                id,
                since: SystemTime::now(),
                channel: channel.to_owned(),
                session,
                stop: stop.clone(),
            });
        (id, stop)
    }

    pub(crate) fn remove_ws(&self, path: &str, id: u64) {
        let mut ws = lock(&self.ws);
        if let Some(list) = ws.get_mut(path) {
            list.retain(|c| c.id != id);
            if list.is_empty() {
                ws.remove(path);
            }
        }
    }

    /// Registers an SSE subscriber. With `replay` > 0 the path keeps pushed events from now
    /// on; when `last_event` names one it kept, the events after it are queued first and the
    /// last value is true (the subscriber resumed from pushed events).
    pub(crate) fn add_sse(
        &self,
        path: &str,
        channel: &str,
        tx: tokio::sync::mpsc::Sender<Bytes>,
        replay: usize,
        last_event: Option<&str>,
    ) -> (u64, Arc<tokio::sync::Notify>, bool) {
        let id = self.id();
        let stop = Arc::new(tokio::sync::Notify::new());
        let mut sse = lock(&self.sse);
        let mut resumed = false;
        if replay > 0 {
            if !sse.history.contains_key(path) && sse.history.len() >= HISTORIES {
                let idle = sse
                    .history
                    .keys()
                    .find(|p| !sse.subs.contains_key(*p))
                    .cloned();
                if let Some(p) = idle {
                    sse.history.remove(&p);
                }
            }
            let history = sse.history.entry(path.to_owned()).or_insert(History {
                capacity: replay,
                next: 0,
                bytes: 0,
                events: Default::default(),
            });
            history.capacity = replay;
            if let Some(missed) = last_event.and_then(|last| history.after(last)) {
                for event in missed {
                    // The queue holds more than `replay` events: these fit.
                    let _ = tx.try_send(event);
                }
                resumed = true;
            }
        }
        sse.subs.entry(path.to_owned()).or_default().push(SseSub {
            id,
            since: SystemTime::now(),
            channel: channel.to_owned(),
            tx,
            stop: stop.clone(),
        });
        (id, stop, resumed)
    }

    /// Ends the streams of `path`'s subscribers; how many there were.
    pub(crate) fn close_sse(&self, path: &str) -> usize {
        let subs = lock(&self.sse).subs.remove(path).unwrap_or_default();
        for s in &subs {
            // notify_one stores a permit, so a stream not yet waiting still ends.
            s.stop.notify_one();
        }
        subs.len()
    }

    pub(crate) fn remove_sse(&self, path: &str, id: u64) {
        let mut sse = lock(&self.sse);
        if let Some(list) = sse.subs.get_mut(path) {
            list.retain(|c| c.id != id);
            if list.is_empty() {
                sse.subs.remove(path);
            }
        }
    }

    /// Sends `text` to every WebSocket client on `path` (but `except`); how many it reached.
    pub(crate) async fn send_ws(
        &self,
        path: &str,
        text: impl Into<bytestring::ByteString>,
        except: Option<u64>,
    ) -> usize {
        let text = text.into();
        self.relay(|| Relayed::Ws {
            path: path.to_owned(),
            frame: WsBody::Text(text.to_string()),
        });
        let who = except.map_or(Who::All, Who::Except);
        self.deliver(path, Frame::Text(text), who).await
    }

    /// Binary frames for broadcast mode.
    pub(crate) async fn send_ws_binary(
        &self,
        path: &str,
        bytes: Bytes,
        except: Option<u64>,
    ) -> usize {
        self.relay(|| Relayed::Ws {
            path: path.to_owned(),
            frame: WsBody::Binary(bytes.clone()),
        });
        let who = except.map_or(Who::All, Who::Except);
        self.deliver(path, Frame::Binary(bytes), who).await
    }

    /// Each recipient's send is polled once: a queue with room takes the frame at once, which
    /// is the common case and costs no timer or allocation. The clients whose queue was full
    /// then get the frame one after another under one deadline, so several stalled clients
    /// cost a broadcast [`SEND_TIMEOUT`] once, not once each; those still full then are
    /// dropped. One after another, not all at once: while the first of them waits, every
    /// connection's task runs and empties its queue, so the rest take the frame without
    /// waiting (measured: awaiting all of them together, each a waiter on its queue and a
    /// timer, was a tenth of the server's time in a fan-out to 1,000 clients).
    pub(super) async fn deliver(&self, path: &str, frame: Frame, who: Who<'_>) -> usize {
        use futures_util::FutureExt;
        let mut sent = 0;
        let mut full = Vec::new();
        for (id, mut s) in self.recipients(path, who) {
            // A send that is pending has not queued its frame (the queue's slot is reserved
            // first), so dropping it and sending again below cannot deliver twice.
            match send_frame(&mut s, frame.clone()).now_or_never() {
                Some(Ok(())) => sent += 1,
                Some(Err(_)) => {}
                None => full.push((id, s)),
            }
        }
        if full.is_empty() {
            return sent;
        }
        let deadline = tokio::time::Instant::now() + SEND_TIMEOUT;
        let mut slow = Vec::new();
        for (id, mut s) in full {
            // A send that is ready is taken even past the deadline: the timeout polls it first.
            match tokio::time::timeout_at(deadline, send_frame(&mut s, frame.clone())).await {
                Ok(Ok(())) => sent += 1,
                Ok(Err(_)) => {}
                Err(_) => slow.push(id),
            }
        }
        self.drop_slow(path, &slow);
        sent
    }

    fn recipients(&self, path: &str, who: Who<'_>) -> Vec<(u64, actix_ws::Session)> {
        lock(&self.ws)
            .get(path)
            .map(|l| {
                l.iter()
                    .filter(|c| who.takes(c.id, &c.channel))
                    .map(|c| (c.id, c.session.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Takes clients that did not keep up off the path, so later messages do not wait for
    /// them, and tells their tasks to close.
    fn drop_slow(&self, path: &str, slow: &[u64]) {
        if slow.is_empty() {
            return;
        }
        tracing::info!(
            path,
            count = slow.len(),
            "dropping WebSocket clients that do not read their messages"
        );
        let mut ws = lock(&self.ws);
        if let Some(list) = ws.get_mut(path) {
            list.retain(|c| {
                let keep = !slow.contains(&c.id);
                if !keep {
                    c.stop.notify_one();
                }
                keep
            });
        }
    }

    /// Queues an encoded event for every subscriber of `path`, here and on the other
    /// replicas; one whose queue is full misses it rather than holding up the others. A path
    /// that keeps events keeps this one too, with an id of mockrig's (`e1`, `e2`, …) when it
    /// has none — the id the other replicas keep it under too.
    pub(crate) fn send_sse(&self, path: &str, event: &SseFrame) -> usize {
        let (sent, id) = self.send_sse_here(path, event);
        self.relay(|| {
            let mut frame = event.clone();
            frame.id = frame.id.or(id);
            Relayed::Sse {
                path: path.to_owned(),
                frame,
            }
        });
        sent
    }

    /// [`Hub::send_sse`] to the subscribers here: how many it reached, and the id it gave the
    /// event.
    pub(super) fn send_sse_here(&self, path: &str, event: &SseFrame) -> (usize, Option<String>) {
        let mut sse = lock(&self.sse);
        let mut given = None;
        let bytes = match sse.history.get_mut(path) {
            Some(history) => {
                history.next += 1;
                let mut event = event.clone();
                let id = event
                    .id
                    .get_or_insert_with(|| format!("e{}", history.next))
                    .clone();
                given = Some(id.clone());
                let bytes = event.encode();
                history.keep(id, bytes.clone());
                bytes
            }
            None => event.encode(),
        };
        let sent = sse
            .subs
            .get(path)
            .map(|l| {
                l.iter()
                    .filter(|s| s.tx.try_send(bytes.clone()).is_ok())
                    .count()
            })
            .unwrap_or(0);
        (sent, given)
    }

    /// Sends `text` to the WebSocket clients `target` names, here and (for a path or a
    /// channel) on the other replicas; how many it reached here.
    pub(crate) async fn push_ws(&self, target: Target<'_>, text: String) -> usize {
        let to = match target {
            Target::Path(p) => Some(Reach::Path(p.to_owned())),
            Target::Channel(c) => Some(Reach::Channel(c.to_owned())),
            Target::Connection(_) => None,
        };
        if let Some(to) = to {
            self.relay(|| Relayed::PushWs {
                to,
                text: text.clone(),
            });
        }
        self.push_ws_here(target, text).await
    }

    pub(super) async fn push_ws_here(&self, target: Target<'_>, text: String) -> usize {
        let frame = Frame::Text(text.into());
        // Bound first: the lock must be released before `deliver` takes it again.
        let paths = self.targets(&lock(&self.ws), target, |c| (c.id, &c.channel));
        let mut sent = 0;
        for (path, who) in paths {
            sent += self.deliver(&path, frame.clone(), who).await;
        }
        sent
    }

    /// Sends `event` to the SSE subscribers `target` names; how many it reached. Only a push
    /// to a path or a channel is kept for clients that resume: one to a single connection is
    /// not the path's.
    pub(crate) fn push_sse(&self, target: Target<'_>, event: &SseFrame) -> usize {
        match target {
            // As an emit to the path: kept for resuming, under the same id everywhere.
            Target::Path(p) => return self.send_sse(p, event),
            Target::Channel(c) => self.relay(|| Relayed::PushSse {
                channel: c.to_owned(),
                frame: event.clone(),
            }),
            Target::Connection(_) => {}
        }
        self.push_sse_here(target, event)
    }

    pub(super) fn push_sse_here(&self, target: Target<'_>, event: &SseFrame) -> usize {
        let paths = self.targets(&lock(&self.sse).subs, target, |s| (s.id, &s.channel));
        let mut sent = 0;
        for (path, who) in paths {
            sent += match who {
                Who::All => self.send_sse_here(&path, event).0,
                // Not the path's event: not kept for replay.
                who => {
                    let bytes = event.encode();
                    let sse = lock(&self.sse);
                    sse.subs.get(&path).map_or(0, |l| {
                        l.iter()
                            .filter(|s| who.takes(s.id, &s.channel))
                            .filter(|s| s.tx.try_send(bytes.clone()).is_ok())
                            .count()
                    })
                }
            };
        }
        sent
    }

    /// The concrete paths `target` covers in `conns`, and whom on each.
    fn targets<'t, T>(
        &self,
        conns: &HashMap<String, Vec<T>>,
        target: Target<'t>,
        id_channel: impl Fn(&T) -> (u64, &String),
    ) -> Vec<(String, Who<'t>)> {
        match target {
            Target::Path(p) => vec![(p.to_owned(), Who::All)],
            Target::Channel(channel) => conns
                .iter()
                .filter(|(_, l)| l.iter().any(|c| id_channel(c).1 == channel))
                .map(|(p, _)| (p.clone(), Who::Of(channel)))
                .collect(),
            Target::Connection(id) => conns
                .iter()
                .find(|(_, l)| l.iter().any(|c| id_channel(c).0 == id))
                .map(|(p, _)| (p.clone(), Who::Only(id)))
                .into_iter()
                .collect(),
        }
    }

    /// Every open connection: its id, kind, channel, concrete path and start, oldest first.
    fn clients(&self) -> Vec<Value> {
        let at = |t: &SystemTime| crate::duration::rfc3339(*t);
        let mut list: Vec<(u64, Value)> = Vec::new();
        for (path, conns) in lock(&self.ws).iter() {
            list.extend(conns.iter().map(|c| {
                let v = json!({"id": c.id, "kind": "websocket", "channel": c.channel,
                               "path": path, "since": at(&c.since)});
                (c.id, v)
            }));
        }
        for (path, subs) in lock(&self.sse).subs.iter() {
            list.extend(subs.iter().map(|s| {
                let v = json!({"id": s.id, "kind": "sse", "channel": s.channel,
                               "path": path, "since": at(&s.since)});
                (s.id, v)
            }));
        }
        list.sort_by_key(|(id, _)| *id);
        list.into_iter().map(|(_, v)| v).collect()
    }

    /// Open connections per concrete path.
    pub(crate) fn connections(&self) -> Value {
        fn count<T>(m: &HashMap<String, Vec<T>>) -> Map<String, Value> {
            let mut paths: Vec<_> = m.iter().map(|(p, l)| (p.clone(), json!(l.len()))).collect();
            paths.sort_by(|a, b| a.0.cmp(&b.0));
            paths.into_iter().collect()
        }
        json!({
            "websockets": count(&lock(&self.ws)),
            "sse": count(&lock(&self.sse).subs),
            "waiting": self.topics.waiting(),
            "clients": self.clients(),
        })
    }

    /// At shutdown: every WebSocket closes with 1001, every SSE stream ends.
    pub(crate) fn close_all(&self) {
        self.retire(&[], &[]);
    }

    /// After a reload: closes the connections whose channel the new spec no longer declares,
    /// WebSockets with 1001 (going away), SSE streams by ending them.
    pub(crate) fn retire(&self, ws_channels: &[&str], sse_channels: &[&str]) {
        let mut closing = 0;
        for c in lock(&self.ws).values().flatten() {
            if !ws_channels.contains(&c.channel.as_str()) {
                // notify_one stores a permit, so a task not yet waiting still sees it.
                c.stop.notify_one();
                closing += 1;
            }
        }
        if closing > 0 {
            tracing::info!(
                count = closing,
                "closing WebSocket connections of removed channels"
            );
        }
        let mut guard = lock(&self.sse);
        let sse = &mut guard.subs;
        for list in sse.values_mut() {
            list.retain(|s| {
                let keep = sse_channels.contains(&s.channel.as_str());
                if !keep {
                    // notify_one stores a permit, so a stream not yet waiting still ends.
                    s.stop.notify_one();
                }
                keep
            });
        }
        sse.retain(|_, l| !l.is_empty());
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    #[test]
    fn a_kept_id_replays_what_followed_and_an_evicted_one_of_ours_what_is_left() {
        let mut h = History {
            capacity: 3,
            next: 0,
            bytes: 0,
            events: Default::default(),
        };
        for i in 1..=5u64 {
            h.next += 1;
            h.keep(format!("e{i}"), Bytes::from(format!("event {i}")));
        }
        // e3, e4, e5 are kept.
        assert_eq!(h.after("e4").unwrap(), [Bytes::from("event 5")]);
        assert_eq!(h.after("e5").unwrap(), Vec::<Bytes>::new());
        // e1 was dropped: everything kept is newer than it.
        assert_eq!(h.after("e1").unwrap().len(), 3);
        assert_eq!(h.after("e2").unwrap().len(), 3);
        // Not one of ours, or from the future: unknown.
        assert!(h.after("custom").is_none());
        assert!(h.after("e9").is_none());
    }
}
