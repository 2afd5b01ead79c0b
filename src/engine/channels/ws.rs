//! WebSocket connections: the handshake and each connection's task.
//!
//! actix-ws streams are `!Send`, so a connection runs as a task local to the worker that
//! accepted it. Its `Session` (`Send + Clone`) goes into the [`Hub`] so that broadcasts, admin
//! pushes and emits from any worker reach it. A connection looks its channel up again by the
//! declared path on every message and tick, so it follows a reload's new definition, and
//! closes with 1001 (going away) when a reload removes the channel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::error::PayloadError;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::frame_guard::FrameGuard;
use super::hub::{Hub, SEND_TIMEOUT};
use crate::engine::snapshot::LiveSnapshot;
use crate::hash::fnv1a;
use crate::model::channel::{ChannelMessage, ReplyCondition, WsChannel};
use crate::random::SeededRng;
use crate::spec::WsMode;
use crate::template::TemplateSet;

/// Everything a connection needs, independent of the request that opened it.
pub(crate) struct Connection {
    pub(crate) hub: Arc<Hub>,
    pub(crate) snapshot: Arc<LiveSnapshot>,
    /// The concrete path (`/ws/rooms/a`): the scope of a broadcast.
    pub(crate) path: String,
    /// The path as declared (`/ws/rooms/{room}`): the channel's identity across reloads.
    pub(crate) channel: String,
    pub(crate) params: Value,
    /// `--seed`: the messages' random values follow from it, the path and the counter.
    pub(crate) seed: Option<u64>,
}

impl Connection {
    fn rng(&self, salt: u64, n: u64) -> Option<Arc<SeededRng>> {
        rng(self.seed, &self.path, salt, n)
    }
}

/// Under `--seed`, the generator of one rendering: its values depend on the concrete path,
/// which kind of message (`salt`) and its counter.
fn rng(seed: Option<u64>, path: &str, salt: u64, n: u64) -> Option<Arc<SeededRng>> {
    SeededRng::for_answer(seed, fnv1a(path.as_bytes(), salt), n).map(Arc::new)
}

/// Completes the handshake (choosing a subprotocol the channel lists) and starts the
/// connection's task.
pub(crate) fn accept(
    req: &HttpRequest,
    payload: web::Payload,
    def: &WsChannel,
    conn: Connection,
) -> Result<HttpResponse, actix_web::Error> {
    let protocols: Vec<&str> = def.subprotocols.iter().map(String::as_str).collect();
    // Each frame's declared length is checked as its header arrives, before actix-ws buffers
    // the frame (which it would do whole, whatever it declares).
    let guarded = FrameGuard::new(payload.into_inner(), def.max_message);
    let payload = web::Payload::from_request(
        req,
        &mut actix_web::dev::Payload::Stream {
            payload: Box::pin(guarded),
        },
    )
    .into_inner()?;
    let (response, session, stream) = actix_ws::handle_with_protocols(req, payload, &protocols)?;
    let stream = stream
        .max_frame_size(def.max_message)
        .aggregate_continuations()
        .max_continuation_size(def.max_message);
    actix_web::rt::spawn(run(conn, session, stream));
    Ok(response)
}

fn current(snapshot: &LiveSnapshot, channel: &str) -> Option<(Arc<WsChannel>, TemplateSet)> {
    let now = snapshot.load();
    now.spec
        .ws_channel(channel)
        .map(|d| (d.clone(), now.spec.templates.clone()))
}

fn close(code: CloseCode, why: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code,
        description: Some(why.to_owned()),
    })
}

/// Whether `send` completed within `limit`. A client whose queue stays full that long has
/// stopped reading: its connection is given up rather than waited on.
async fn within(
    limit: Duration,
    send: impl std::future::Future<Output = Result<(), actix_ws::Closed>>,
) -> bool {
    matches!(tokio::time::timeout(limit, send).await, Ok(Ok(())))
}

/// Sends a close frame, waiting at most [`CLOSE_WAIT`] for room in the queue.
async fn close_with(session: &Session, code: CloseCode, why: &str) {
    let _ = tokio::time::timeout(CLOSE_WAIT, session.clone().close(close(code, why))).await;
}

const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Delayed replies waiting to be sent, per connection; a client that sends faster than the
/// delays elapse gets no more than this many queued (the rest are skipped).
const MAX_DELAYED: usize = 64;

async fn send_all(
    session: &mut Session,
    msgs: &[ChannelMessage],
    templates: &TemplateSet,
    ctx: &Value,
    rng: Option<&Arc<SeededRng>>,
    limit: Duration,
) -> bool {
    for m in msgs {
        if !within(limit, session.text(m.render(templates, ctx, rng))).await {
            return false;
        }
    }
    true
}

/// How long the connection's own sends may wait for the client to read: a ping interval (a
/// client that reads nothing for that long is as good as gone), and never less than a
/// broadcast's patience.
fn send_limit(def: &WsChannel) -> Duration {
    def.ping_interval.max(SEND_TIMEOUT)
}

/// An interval whose first tick is one period from now.
fn interval(period: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

async fn run(
    conn: Connection,
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
) {
    let (id, stop) = conn.hub.add_ws(&conn.path, &conn.channel, session.clone());
    // Registered first, looked up second: a reload that retires the channel in between has
    // either seen this connection (and will stop it) or swapped in a spec without it.
    let Some((mut def, mut templates)) = current(&conn.snapshot, &conn.channel) else {
        close_with(&session, CloseCode::Away, "channel removed").await;
        conn.hub.remove_ws(&conn.path, id);
        return;
    };
    let ctx = json!({"params": conn.params, "counter": 0});
    let mut open = send_all(
        &mut session,
        &def.on_connect,
        &templates,
        &ctx,
        conn.rng(1, 0).as_ref(),
        send_limit(&def),
    )
    .await;
    let mut state = State {
        received: 0,
        delayed: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    };
    let mut ticks: u64 = 0;
    let mut last_heard = Instant::now();
    let mut ping = interval(def.ping_interval);
    let mut every = def.every.as_ref().map(|(d, _)| interval(*d));
    // Follows a reload: the channel's new definition, or the end when it was removed.
    macro_rules! follow {
        () => {
            match current(&conn.snapshot, &conn.channel) {
                Some((d, t)) => {
                    if !Arc::ptr_eq(&d, &def) {
                        // The interval or `every` may have changed.
                        every = d.every.as_ref().map(|(p, _)| interval(*p));
                        ping = interval(d.ping_interval);
                    }
                    def = d;
                    templates = t;
                }
                None => {
                    close_with(&session, CloseCode::Away, "channel removed").await;
                    break;
                }
            }
        };
    }
    while open {
        tokio::select! {
            _ = stop.notified() => {
                // A reload removed the channel, or a broadcast found the client not reading.
                close_with(&session, CloseCode::Away, "going away").await;
                break;
            }
            msg = stream.next() => {
                let Some(msg) = msg else { break };
                last_heard = Instant::now();
                follow!();
                let limit = send_limit(&def);
                match msg {
                    Ok(AggregatedMessage::Text(text)) => {
                        open = incoming(&conn, id, &def, &templates, &mut session, Incoming::Text(text), &mut state).await;
                    }
                    Ok(AggregatedMessage::Binary(bytes)) => {
                        open = incoming(&conn, id, &def, &templates, &mut session, Incoming::Binary(bytes), &mut state).await;
                    }
                    Ok(AggregatedMessage::Ping(b)) => open = within(limit, session.pong(&b)).await,
                    Ok(AggregatedMessage::Pong(_)) => {}
                    Ok(AggregatedMessage::Close(reason)) => {
                        // Completing the handshake: the client's own code goes back.
                        let _ = tokio::time::timeout(CLOSE_WAIT, session.clone().close(reason)).await;
                        break;
                    }
                    Err(e) => {
                        let (code, why) = close_for(&e);
                        // actix's codec logs these as errors (filtered out): said once here,
                        // at mockrig's level, so `--quiet` silences it.
                        tracing::info!(path = %conn.path, code = u16::from(code), "closing WebSocket: {why}");
                        close_with(&session, code, &why).await;
                        break;
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > def.ping_interval * 3 {
                    tracing::debug!(path = %conn.path, "dropping a WebSocket client that stopped answering pings");
                    close_with(&session, CloseCode::Away, "no pong").await;
                    break;
                }
                open = within(send_limit(&def), session.ping(b"mockrig")).await;
            }
            _ = async { every.as_mut().expect("guarded").tick().await }, if every.is_some() => {
                ticks += 1;
                follow!();
                if let Some((_, msgs)) = &def.every {
                    let ctx = json!({"params": conn.params, "counter": ticks});
                    let rng = conn.rng(2, ticks);
                    open = send_all(&mut session, msgs, &templates, &ctx, rng.as_ref(), send_limit(&def)).await;
                }
            }
        }
    }
    conn.hub.remove_ws(&conn.path, id);
}

/// What a connection counts across its messages.
struct State {
    /// Messages received so far: `counter` in replies.
    received: u64,
    /// Delayed replies not sent yet.
    delayed: Arc<std::sync::atomic::AtomicUsize>,
}

enum Incoming {
    Text(bytestring::ByteString),
    Binary(Bytes),
}

/// Handles one message: the first matching reply, then the mode's own behaviour.
async fn incoming(
    conn: &Connection,
    id: u64,
    def: &WsChannel,
    templates: &TemplateSet,
    session: &mut Session,
    msg: Incoming,
    state: &mut State,
) -> bool {
    use std::sync::atomic::Ordering;
    state.received += 1;
    let limit = send_limit(def);
    // `publish:`: the message, as JSON when it is, wakes the long polls on the topic.
    if let (Some(topic), Incoming::Text(text)) = (&def.publish, &msg) {
        let name = match templates.render(topic, &json!({"params": conn.params}), None) {
            Value::String(s) => s,
            other => other.to_string(),
        };
        let data = serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!(&**text));
        conn.hub.publish_topic(&name, data);
    }
    if let Incoming::Text(text) = &msg
        && !def.replies.is_empty()
    {
        let text: &str = text;
        let parsed = serde_json::from_str::<Value>(text).ok();
        let reply = def.replies.iter().find(|r| match &r.condition {
            ReplyCondition::Any => true,
            ReplyCondition::Text(t) => t == text,
            ReplyCondition::Regex(re) => re.is_match(text),
            ReplyCondition::Json(want) => parsed
                .as_ref()
                .is_some_and(|v| crate::model::matcher::contains(v, want)),
        });
        if let Some(reply) = reply {
            let ctx = json!({
                "message": parsed.clone().unwrap_or_else(|| Value::String(text.to_owned())),
                "params": conn.params,
                "counter": state.received,
            });
            if reply.delay.is_zero() {
                let rng = conn.rng(3, state.received);
                if !send_all(session, &reply.send, templates, &ctx, rng.as_ref(), limit).await {
                    return false;
                }
            } else if state.delayed.fetch_add(1, Ordering::Relaxed) < MAX_DELAYED {
                let (mut s, send, t, delay, delayed) = (
                    session.clone(),
                    reply.send.clone(),
                    templates.clone(),
                    reply.delay,
                    state.delayed.clone(),
                );
                // The generator is made now: the reply's values are the same whenever it goes.
                let rng = conn.rng(3, state.received);
                // On the worker's local set, like the connection: the reply may outlive a
                // message loop that is busy, but not the connection (sends fail once closed).
                actix_web::rt::spawn(async move {
                    actix_web::rt::time::sleep(delay).await;
                    send_all(&mut s, &send, &t, &ctx, rng.as_ref(), limit).await;
                    delayed.fetch_sub(1, Ordering::Relaxed);
                });
            } else {
                state.delayed.fetch_sub(1, Ordering::Relaxed);
                tracing::debug!(path = %conn.path, "skipping a delayed reply: {MAX_DELAYED} already wait");
            }
        }
    }
    match (def.mode, msg) {
        (WsMode::Silent, _) => true,
        (WsMode::Echo, Incoming::Text(t)) => within(limit, session.text(t)).await,
        (WsMode::Echo, Incoming::Binary(b)) => within(limit, session.binary(b)).await,
        (WsMode::Broadcast, msg) => {
            let except = (!def.include_sender).then_some(id);
            match msg {
                Incoming::Text(t) => conn.hub.send_ws(&conn.path, t, except).await,
                Incoming::Binary(b) => conn.hub.send_ws_binary(&conn.path, b, except).await,
            };
            true
        }
    }
}

/// The close code and reason for a client's frame that broke the protocol (RFC 6455 §7.4.1).
pub(crate) fn close_for(e: &ProtocolError) -> (CloseCode, String) {
    match e {
        ProtocolError::Overflow => (CloseCode::Size, "message too large".to_owned()),
        // The frame guard's refusal, through actix-ws's payload error.
        ProtocolError::Io(io) if io.to_string() == PayloadError::Overflow.to_string() => {
            (CloseCode::Size, "message too large".to_owned())
        }
        ProtocolError::Io(io) if io.to_string().contains("continuation size") => {
            (CloseCode::Size, "message too large".to_owned())
        }
        ProtocolError::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            (CloseCode::Invalid, "text is not UTF-8".to_owned())
        }
        other => (CloseCode::Protocol, other.to_string()),
    }
}
