//! Real-time channels: WebSocket channels ([`ws`]) and Server-Sent Events streams ([`sse`]).
//!
//! The definitions are compiled into the runtime like routes; the open connections live in the
//! [`Hub`], outside it, so a reload keeps them. A connection looks its channel up again by the
//! declared path on every message and tick, so it follows the new definition; connections on a
//! channel the new spec dropped are closed with 1001 (going away) right after the swap.

pub mod sse;
pub mod ws;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::web::Bytes;
use serde_json::{Map, Value, json};

use crate::spec::{self, WsMode, duration};
use crate::template::{Builder, Templates, Tpl};

/// One message to send, compiled.
#[derive(Debug, Clone)]
pub enum Msg {
    Text(Tpl),
    Json(Tpl),
}

impl Msg {
    fn compile(m: &spec::WsMessage, t: &mut Builder) -> Result<Msg, String> {
        match (&m.text, &m.json) {
            (Some(text), _) => Ok(Msg::Text(t.text(text)?)),
            (None, Some(j)) => Ok(Msg::Json(t.json(j)?)),
            (None, None) => Err("a message needs text or json".into()),
        }
    }

    /// The frame's text.
    pub fn render(&self, templates: &Templates, ctx: &Value) -> String {
        match self {
            Msg::Text(t) => match templates.render(t, ctx) {
                Value::String(s) => s,
                other => other.to_string(),
            },
            Msg::Json(t) => templates.render(t, ctx).to_string(),
        }
    }
}

/// When a scripted reply applies.
#[derive(Debug, Clone)]
pub enum Cond {
    Any,
    Text(String),
    Regex(regex::Regex),
    Json(Value),
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub cond: Cond,
    pub send: Vec<Msg>,
    pub delay: Duration,
}

/// A WebSocket channel, compiled.
#[derive(Debug)]
pub struct WsDef {
    /// The path as declared: the channel's identity across reloads.
    pub path: String,
    pub mode: WsMode,
    pub include_sender: bool,
    pub on_connect: Vec<Msg>,
    pub replies: Vec<Reply>,
    pub every: Option<(Duration, Vec<Msg>)>,
    pub subprotocols: Vec<String>,
    pub max_message: usize,
    pub ping_interval: Duration,
}

pub const DEFAULT_MAX_MESSAGE: usize = 1024 * 1024;
const DEFAULT_PING: Duration = Duration::from_secs(10);
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

fn dur(d: &Option<spec::DurationText>, default: Duration) -> Result<Duration, String> {
    d.as_ref()
        .map(|d| duration::parse(&d.0))
        .transpose()
        .map(|d| d.filter(|d| !d.is_zero()).unwrap_or(default))
}

fn msgs(list: &[spec::WsMessage], t: &mut Builder) -> Result<Vec<Msg>, String> {
    list.iter().map(|m| Msg::compile(m, t)).collect()
}

impl WsDef {
    pub fn compile(w: &spec::WebSocket, t: &mut Builder) -> Result<WsDef, String> {
        let replies = w
            .replies
            .iter()
            .map(|r| {
                let cond = match (&r.text, &r.regex, &r.json) {
                    (Some(text), _, _) => Cond::Text(text.clone()),
                    (_, Some(re), _) => {
                        Cond::Regex(regex::Regex::new(re).map_err(|e| e.to_string())?)
                    }
                    (_, _, Some(j)) => Cond::Json(j.clone()),
                    _ => Cond::Any,
                };
                Ok(Reply {
                    cond,
                    send: msgs(&r.send.0, t)?,
                    delay: dur(&r.delay, Duration::ZERO)?,
                })
            })
            .collect::<Result<_, String>>()?;
        let every = match &w.every {
            Some(e) => Some((duration::parse(&e.interval.0)?, msgs(&e.send.0, t)?)),
            None => None,
        };
        Ok(WsDef {
            path: w.path.clone(),
            mode: w.mode,
            include_sender: w.include_sender,
            on_connect: msgs(&w.on_connect, t)?,
            replies,
            every,
            subprotocols: w.subprotocols.clone(),
            max_message: w.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE),
            ping_interval: dur(&w.ping_interval, DEFAULT_PING)?,
        })
    }
}

/// One Server-Sent Event, ready to send but for its data's templates.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: Option<Value>,
}

impl SseEvent {
    /// The event as it goes on the wire: `id:`, `event:`, one `data:` line per line of text
    /// (JSON on one line), and the blank line that ends it.
    pub fn encode(&self) -> Bytes {
        let mut out = String::new();
        if let Some(id) = &self.id {
            out.push_str(&format!("id: {id}\n"));
        }
        if let Some(e) = &self.event {
            out.push_str(&format!("event: {e}\n"));
        }
        let data = match &self.data {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        // SSE clients end a line at CRLF, LF or a lone CR: each becomes a line of its own, so
        // no text can smuggle in a field of its own (`\rid: x`).
        for line in data.split("\r\n").flat_map(|l| l.split(['\n', '\r'])) {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        Bytes::from(out)
    }
}

/// One event of a stream's script: `data` may hold templates.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub event: Option<String>,
    /// Fixed, as `Last-Event-ID` is matched against it.
    pub id: Option<String>,
    pub data: Option<Tpl>,
}

impl Scripted {
    /// The event to send; `ctx` has `request`, `params` and `counter`.
    pub fn render(&self, templates: &Templates, ctx: &Value) -> SseEvent {
        SseEvent {
            event: self.event.clone(),
            id: self.id.clone(),
            data: self.data.as_ref().map(|d| templates.render(d, ctx)),
        }
    }
}

/// An SSE stream, compiled.
#[derive(Debug)]
pub struct SseDef {
    pub path: String,
    pub retry: Option<u64>,
    pub events: Vec<Scripted>,
    pub every: Option<Duration>,
    pub repeat: bool,
    pub keep_alive: Duration,
}

fn scalar(v: &Option<spec::HeaderValues>) -> Option<String> {
    v.as_ref().and_then(|v| v.0.first().cloned())
}

impl SseDef {
    pub fn compile(s: &spec::SseStream, t: &mut Builder) -> Result<SseDef, String> {
        Ok(SseDef {
            path: s.path.clone(),
            retry: s.retry,
            events: s
                .events
                .iter()
                .map(|e| {
                    Ok(Scripted {
                        event: e.event.clone(),
                        id: scalar(&e.id),
                        data: e.data.as_ref().map(|d| t.json(d)).transpose()?,
                    })
                })
                .collect::<Result<_, String>>()?,
            every: s
                .every
                .as_ref()
                .map(|d| duration::parse(&d.0))
                .transpose()?,
            repeat: s.repeat,
            keep_alive: dur(&s.keep_alive, DEFAULT_KEEP_ALIVE)?,
        })
    }
}

/// Where an emit goes: a concrete path, possibly templated (`/ws/rooms/{{ params.room }}`).
#[derive(Debug, Clone)]
pub enum Target {
    Ws(Tpl),
    Sse(Tpl),
}

/// A route's or resource's `emit`, compiled.
#[derive(Debug, Clone)]
pub struct EmitDef {
    pub target: Target,
    pub event: Option<Tpl>,
    pub id: Option<Tpl>,
    /// The payload; none: the caller's default payload.
    pub payload: Option<Tpl>,
}

impl EmitDef {
    pub fn compile(e: &spec::Emit, t: &mut Builder) -> Result<EmitDef, String> {
        let target = match (&e.websocket, &e.sse) {
            (Some(p), _) => Target::Ws(t.text(p)?),
            (_, Some(p)) => Target::Sse(t.text(p)?),
            _ => return Err("an emit needs websocket: or sse:".into()),
        };
        let payload = match (&e.json, &e.text, &e.data) {
            (Some(j), _, _) => Some(t.json(j)?),
            (_, Some(s), _) => Some(t.text(s)?),
            (_, _, Some(Value::String(s))) => Some(t.text(s)?),
            (_, _, Some(d)) => Some(t.json(d)?),
            _ => None,
        };
        Ok(EmitDef {
            target,
            event: e.event.as_deref().map(|v| t.text(v)).transpose()?,
            id: scalar(&e.id).map(|v| t.text(&v)).transpose()?,
            payload,
        })
    }
}

/// An open WebSocket connection, as the hub knows it.
struct WsConn {
    id: u64,
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
    channel: String,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    /// Ends the stream (its channel was removed by a reload).
    stop: Arc<tokio::sync::Notify>,
}

/// How long a broadcast waits for a client whose outgoing queue is full. A client that stops
/// reading would otherwise hold up every message to every other client until the ping timeout
/// drops it; instead it is dropped after this wait, once.
pub const SEND_TIMEOUT: Duration = Duration::from_millis(500);

/// A frame for [`Hub::deliver`]: one shared copy for all recipients.
#[derive(Clone)]
enum Frame {
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
pub struct Hub {
    next: AtomicU64,
    ws: Mutex<HashMap<String, Vec<WsConn>>>,
    sse: Mutex<HashMap<String, Vec<SseSub>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    fn id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn add_ws(
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
                channel: channel.to_owned(),
                session,
                stop: stop.clone(),
            });
        (id, stop)
    }

    fn remove_ws(&self, path: &str, id: u64) {
        let mut ws = lock(&self.ws);
        if let Some(list) = ws.get_mut(path) {
            list.retain(|c| c.id != id);
            if list.is_empty() {
                ws.remove(path);
            }
        }
    }

    fn add_sse(
        &self,
        path: &str,
        channel: &str,
        tx: tokio::sync::mpsc::Sender<Bytes>,
    ) -> (u64, Arc<tokio::sync::Notify>) {
        let id = self.id();
        let stop = Arc::new(tokio::sync::Notify::new());
        lock(&self.sse)
            .entry(path.to_owned())
            .or_default()
            .push(SseSub {
                id,
                channel: channel.to_owned(),
                tx,
                stop: stop.clone(),
            });
        (id, stop)
    }

    fn remove_sse(&self, path: &str, id: u64) {
        let mut sse = lock(&self.sse);
        if let Some(list) = sse.get_mut(path) {
            list.retain(|c| c.id != id);
            if list.is_empty() {
                sse.remove(path);
            }
        }
    }

    /// Sends `text` to every WebSocket client on `path` (but `except`); how many it reached.
    pub async fn send_ws(
        &self,
        path: &str,
        text: impl Into<bytestring::ByteString>,
        except: Option<u64>,
    ) -> usize {
        self.deliver(path, Frame::Text(text.into()), except).await
    }

    /// Binary frames for broadcast mode.
    async fn send_ws_binary(&self, path: &str, bytes: Bytes, except: Option<u64>) -> usize {
        self.deliver(path, Frame::Binary(bytes), except).await
    }

    /// Each recipient's send is polled once: a queue with room takes the frame at once, which
    /// is the common case and costs no timer or allocation. The clients whose queue was full
    /// get the frame concurrently, under one deadline, so several stalled clients cost a
    /// broadcast [`SEND_TIMEOUT`] once, not once each; those still full then are dropped.
    async fn deliver(&self, path: &str, frame: Frame, except: Option<u64>) -> usize {
        use futures_util::FutureExt;
        let mut sent = 0;
        let mut full = Vec::new();
        for (id, mut s) in self.recipients(path, except) {
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
        let waits = full.into_iter().map(|(id, mut s)| {
            let frame = frame.clone();
            async move {
                let r = tokio::time::timeout(SEND_TIMEOUT, send_frame(&mut s, frame)).await;
                (id, r)
            }
        });
        let mut slow = Vec::new();
        for (id, r) in futures_util::future::join_all(waits).await {
            match r {
                Ok(Ok(())) => sent += 1,
                Ok(Err(_)) => {}
                Err(_) => slow.push(id),
            }
        }
        self.drop_slow(path, &slow);
        sent
    }

    fn recipients(&self, path: &str, except: Option<u64>) -> Vec<(u64, actix_ws::Session)> {
        lock(&self.ws)
            .get(path)
            .map(|l| {
                l.iter()
                    .filter(|c| Some(c.id) != except)
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

    /// Queues an encoded event for every subscriber of `path`; one whose queue is full misses
    /// it rather than holding up the others.
    pub fn send_sse(&self, path: &str, event: &SseEvent) -> usize {
        let bytes = event.encode();
        lock(&self.sse)
            .get(path)
            .map(|l| {
                l.iter()
                    .filter(|s| s.tx.try_send(bytes.clone()).is_ok())
                    .count()
            })
            .unwrap_or(0)
    }

    /// Open connections per concrete path.
    pub fn connections(&self) -> Value {
        fn count<T>(m: &HashMap<String, Vec<T>>) -> Map<String, Value> {
            let mut paths: Vec<_> = m.iter().map(|(p, l)| (p.clone(), json!(l.len()))).collect();
            paths.sort_by(|a, b| a.0.cmp(&b.0));
            paths.into_iter().collect()
        }
        json!({
            "websockets": count(&lock(&self.ws)),
            "sse": count(&lock(&self.sse)),
        })
    }

    /// At shutdown: every WebSocket closes with 1001, every SSE stream ends.
    pub fn close_all(&self) {
        self.retire(&[], &[]);
    }

    /// After a reload: closes the connections whose channel the new spec no longer declares,
    /// WebSockets with 1001 (going away), SSE streams by ending them.
    pub fn retire(&self, ws_channels: &[&str], sse_channels: &[&str]) {
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
        let mut sse = lock(&self.sse);
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

/// Sends one compiled emit with `ctx` as template context; `default` is the payload when the
/// emit has none.
pub async fn emit(
    hub: &Hub,
    templates: &Templates,
    e: &EmitDef,
    ctx: &Value,
    default: impl FnOnce() -> Value,
) -> usize {
    let payload = match &e.payload {
        Some(tpl) => templates.render(tpl, ctx),
        None => default(),
    };
    let text = |t: &Tpl| match templates.render(t, ctx) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    match &e.target {
        Target::Ws(path) => {
            let text_payload = match payload {
                Value::String(s) => s,
                other => other.to_string(),
            };
            hub.send_ws(&text(path), text_payload, None).await
        }
        Target::Sse(path) => {
            // One line each: a rendered line break would end the field early.
            let line = |t: &Tpl| text(t).replace(['\r', '\n'], " ");
            hub.send_sse(
                &text(path),
                &SseEvent {
                    event: e.event.as_ref().map(line),
                    id: e.id.as_ref().map(line),
                    data: Some(payload),
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_put_json_on_one_line_and_split_text_lines() {
        let e = SseEvent {
            event: Some("tick".into()),
            id: Some("7".into()),
            data: Some(json!({"n": 1, "s": "a\nb"})),
        };
        assert_eq!(
            e.encode(),
            "id: 7\nevent: tick\ndata: {\"n\":1,\"s\":\"a\\nb\"}\n\n"
        );
        let text = SseEvent {
            event: None,
            id: None,
            data: Some(json!("line one\nline two")),
        };
        assert_eq!(text.encode(), "data: line one\ndata: line two\n\n");
        let sneaky = SseEvent {
            event: None,
            id: None,
            data: Some(json!("a\rid: x\r\nb")),
        };
        assert_eq!(sneaky.encode(), "data: a\ndata: id: x\ndata: b\n\n");
    }
}
