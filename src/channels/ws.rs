//! WebSocket connections: the handshake and each connection's task.
//!
//! actix-ws streams are `!Send`, so a connection runs as a task local to the worker that
//! accepted it. Its `Session` (`Send + Clone`) goes into the [`Hub`] so that broadcasts, admin
//! pushes and emits from any worker reach it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use arc_swap::ArcSwap;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{Cond, Hub, Msg, WsDef};
use crate::runtime::Runtime;
use crate::spec::WsMode;
use crate::template::Templates;

/// Everything a connection needs, independent of the request that opened it.
pub struct Connection {
    pub hub: Arc<Hub>,
    pub live: Arc<ArcSwap<Runtime>>,
    /// The concrete path (`/ws/rooms/a`): the scope of a broadcast.
    pub path: String,
    /// The path as declared (`/ws/rooms/{room}`): the channel's identity across reloads.
    pub channel: String,
    pub params: Value,
}

/// Completes the handshake (choosing a subprotocol the channel lists) and starts the
/// connection's task.
pub fn accept(
    req: &HttpRequest,
    payload: web::Payload,
    def: &WsDef,
    conn: Connection,
) -> Result<HttpResponse, actix_web::Error> {
    let protocols: Vec<&str> = def.subprotocols.iter().map(String::as_str).collect();
    let (response, session, stream) = actix_ws::handle_with_protocols(req, payload, &protocols)?;
    let stream = stream
        .max_frame_size(def.max_message)
        .aggregate_continuations()
        .max_continuation_size(def.max_message);
    actix_web::rt::spawn(run(conn, session, stream));
    Ok(response)
}

fn current(live: &ArcSwap<Runtime>, channel: &str) -> Option<(Arc<WsDef>, Templates)> {
    let rt = live.load();
    rt.ws_channel(channel)
        .map(|d| (d.clone(), rt.templates.clone()))
}

fn close(code: CloseCode, why: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code,
        description: Some(why.to_owned()),
    })
}

async fn send_all(session: &mut Session, msgs: &[Msg], templates: &Templates, ctx: &Value) -> bool {
    for m in msgs {
        if session.text(m.render(templates, ctx)).await.is_err() {
            return false;
        }
    }
    true
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
    let Some((mut def, mut templates)) = current(&conn.live, &conn.channel) else {
        let _ = session
            .close(close(CloseCode::Away, "channel removed"))
            .await;
        conn.hub.remove_ws(&conn.path, id);
        return;
    };
    let ctx = json!({"params": conn.params, "counter": 0});
    let mut open = send_all(&mut session, &def.on_connect, &templates, &ctx).await;
    let mut received: u64 = 0;
    let mut ticks: u64 = 0;
    let mut last_heard = Instant::now();
    let mut ping = interval(def.ping_interval);
    let mut every = def.every.as_ref().map(|(d, _)| interval(*d));
    while open {
        tokio::select! {
            _ = stop.notified() => {
                let _ = session.clone().close(close(CloseCode::Away, "channel removed from the spec")).await;
                break;
            }
            msg = stream.next() => {
                let Some(msg) = msg else { break };
                last_heard = Instant::now();
                // The spec may have been reloaded since the last message: follow it.
                match current(&conn.live, &conn.channel) {
                    Some((d, t)) => {
                        if !Arc::ptr_eq(&d, &def) {
                            every = d.every.as_ref().map(|(p, _)| interval(*p));
                            ping = interval(d.ping_interval);
                        }
                        def = d;
                        templates = t;
                    }
                    None => {
                        let _ = session.clone().close(close(CloseCode::Away, "channel removed")).await;
                        break;
                    }
                }
                match msg {
                    Ok(AggregatedMessage::Text(text)) => {
                        received += 1;
                        open = incoming(&conn, id, &def, &templates, &mut session, Incoming::Text(text), received).await;
                    }
                    Ok(AggregatedMessage::Binary(bytes)) => {
                        received += 1;
                        open = incoming(&conn, id, &def, &templates, &mut session, Incoming::Binary(bytes), received).await;
                    }
                    Ok(AggregatedMessage::Ping(b)) => open = session.pong(&b).await.is_ok(),
                    Ok(AggregatedMessage::Pong(_)) => {}
                    Ok(AggregatedMessage::Close(reason)) => {
                        // Completing the handshake: the client's own code goes back.
                        let _ = session.clone().close(reason).await;
                        break;
                    }
                    Err(e) => {
                        let (code, why) = match &e {
                            ProtocolError::Overflow => (CloseCode::Size, "message too large".to_owned()),
                            ProtocolError::Io(io) if io.to_string().contains("continuation size") => {
                                (CloseCode::Size, "message too large".to_owned())
                            }
                            ProtocolError::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
                                (CloseCode::Invalid, "text is not UTF-8".to_owned())
                            }
                            other => (CloseCode::Protocol, other.to_string()),
                        };
                        tracing::debug!(path = %conn.path, "closing WebSocket: {why}");
                        let _ = session.clone().close(close(code, &why)).await;
                        break;
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > def.ping_interval * 3 {
                    tracing::debug!(path = %conn.path, "dropping a WebSocket client that stopped answering pings");
                    let _ = session.clone().close(close(CloseCode::Away, "no pong")).await;
                    break;
                }
                open = session.ping(b"mockrig").await.is_ok();
            }
            _ = async { every.as_mut().expect("guarded").tick().await }, if every.is_some() => {
                ticks += 1;
                let Some((d, t)) = current(&conn.live, &conn.channel) else {
                    let _ = session.clone().close(close(CloseCode::Away, "channel removed")).await;
                    break;
                };
                if let Some((_, msgs)) = &d.every {
                    let ctx = json!({"params": conn.params, "counter": ticks});
                    open = send_all(&mut session, msgs, &t, &ctx).await;
                }
                // A reload may have changed the interval, or dropped `every`.
                if !Arc::ptr_eq(&d, &def) {
                    every = d.every.as_ref().map(|(p, _)| interval(*p));
                    ping = interval(d.ping_interval);
                }
                def = d;
            }
        }
    }
    conn.hub.remove_ws(&conn.path, id);
}

enum Incoming {
    Text(bytestring::ByteString),
    Binary(Bytes),
}

/// Handles one message: the first matching reply, then the mode's own behaviour.
async fn incoming(
    conn: &Connection,
    id: u64,
    def: &WsDef,
    templates: &Templates,
    session: &mut Session,
    msg: Incoming,
    received: u64,
) -> bool {
    if let Incoming::Text(text) = &msg
        && !def.replies.is_empty()
    {
        let text: &str = text;
        let parsed = serde_json::from_str::<Value>(text).ok();
        let reply = def.replies.iter().find(|r| match &r.cond {
            Cond::Any => true,
            Cond::Text(t) => t == text,
            Cond::Regex(re) => re.is_match(text),
            Cond::Json(want) => parsed
                .as_ref()
                .is_some_and(|v| crate::matcher::contains(v, want)),
        });
        if let Some(reply) = reply {
            let ctx = json!({
                "message": parsed.clone().unwrap_or_else(|| Value::String(text.to_owned())),
                "params": conn.params,
                "counter": received,
            });
            if reply.delay.is_zero() {
                if !send_all(session, &reply.send, templates, &ctx).await {
                    return false;
                }
            } else {
                let (mut s, send, t, delay) = (
                    session.clone(),
                    reply.send.clone(),
                    templates.clone(),
                    reply.delay,
                );
                actix_web::rt::spawn(async move {
                    actix_web::rt::time::sleep(delay).await;
                    send_all(&mut s, &send, &t, &ctx).await;
                });
            }
        }
    }
    match (def.mode, msg) {
        (WsMode::Silent, _) => true,
        (WsMode::Echo, Incoming::Text(t)) => session.text(t).await.is_ok(),
        (WsMode::Echo, Incoming::Binary(b)) => session.binary(b).await.is_ok(),
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
