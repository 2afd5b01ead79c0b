//! A WebSocket upgrade on a proxied path: the backend's WebSocket is opened first (so a
//! refusal is the client's answer too), then frames are passed both ways until either side
//! closes.

use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderName};
use actix_web::web::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use awc::ws::{Frame, Message};
use bytestring::ByteString;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};

use super::client::Upstream;
use super::forward::{UpstreamCall, begin, request_headers};
use crate::engine::channels::frame_guard::FrameGuard;
use crate::engine::channels::ws::close_for;
use crate::error::ApiError;
use crate::model::proxy::ProxyTarget;

/// The largest message passed either way: a proxy should not be the reason a real
/// application's messages fail, but one message must not take unbounded memory either.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Opens the backend's WebSocket, then completes the client's handshake and passes frames
/// both ways on a task of its own.
pub(crate) async fn upgrade(
    upstream: &Upstream,
    req: &HttpRequest,
    payload: Payload,
    target: &ProxyTarget,
    params: &Map<String, Value>,
    route: &std::sync::Arc<str>,
    secure: bool,
) -> (Result<HttpResponse, ApiError>, UpstreamCall) {
    let started = Instant::now();
    let (mut call, url) = begin(target, req, params, true);
    let url = match url {
        Ok(url) => url,
        Err(e) => return (Err(e), call),
    };
    if upstream.looped(req) {
        return (Err(super::forward::loop_detected(target, route)), call);
    }
    // awc writes its own handshake headers; the client's would clash with them.
    let own: Vec<HeaderName> = [
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
    ]
    .into_iter()
    .map(HeaderName::from_static)
    .collect();
    let mut ws = upstream
        .client()
        .ws(url.as_str())
        .max_frame_size(MAX_MESSAGE);
    for (name, value) in request_headers(req, target, &own, &upstream.via, secure) {
        ws = ws.set_header(name, value);
    }
    let protocols: Vec<String> = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if !protocols.is_empty() {
        ws = ws.protocols(&protocols);
    }
    let connected = tokio::time::timeout(target.timeout, ws.connect()).await;
    call.elapsed = started.elapsed();
    let (response, framed) = match connected {
        Ok(Ok(pair)) => pair,
        Ok(Err(awc::error::WsClientError::InvalidResponseStatus(status))) => {
            call.status = Some(status.as_u16());
            return (
                Err(ApiError::Upstream {
                    backend: target.url.clone(),
                    route: route.clone(),
                    reason: format!("the backend refused the WebSocket upgrade with {status}"),
                }),
                call,
            );
        }
        Ok(Err(e)) => {
            return (
                Err(ApiError::Upstream {
                    backend: target.url.clone(),
                    route: route.clone(),
                    reason: e.to_string(),
                }),
                call,
            );
        }
        Err(_) => {
            return (
                Err(ApiError::UpstreamTimeout {
                    backend: target.url.clone(),
                    route: route.clone(),
                    timeout_ms: target.timeout.as_millis() as u64,
                }),
                call,
            );
        }
    };
    call.status = Some(response.status().as_u16());
    let chosen = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .cloned();
    // The client's frames are checked by their declared length as they arrive, as on a
    // channel, before actix-ws would buffer one whole.
    let guarded = FrameGuard::new(payload.into_inner(), MAX_MESSAGE);
    let payload = match Payload::from_request(
        req,
        &mut actix_web::dev::Payload::Stream {
            payload: Box::pin(guarded),
        },
    )
    .into_inner()
    {
        Ok(p) => p,
        Err(e) => {
            return (
                Err(ApiError::Handshake {
                    reason: e.to_string(),
                }),
                call,
            );
        }
    };
    let (mut answer, session, stream) = match actix_ws::handle(req, payload) {
        Ok(parts) => parts,
        Err(e) => {
            return (
                Err(ApiError::Handshake {
                    reason: e.to_string(),
                }),
                call,
            );
        }
    };
    if let Some(p) = chosen {
        answer
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    let stream = stream.max_frame_size(MAX_MESSAGE);
    actix_web::rt::spawn(pump(session, stream, framed));
    (Ok(answer), call)
}

/// Passes frames both ways until one side closes or fails; the other side is then closed too.
async fn pump<B>(mut session: actix_ws::Session, mut client: actix_ws::MessageStream, backend: B)
where
    B: futures_util::Stream<Item = Result<Frame, awc::error::WsProtocolError>>
        + futures_util::Sink<Message>
        + 'static,
{
    let (mut to_backend, mut from_backend) = backend.split();
    loop {
        tokio::select! {
            msg = client.next() => match msg {
                Some(Ok(actix_ws::Message::Close(reason))) => {
                    let _ = to_backend.send(Message::Close(reason)).await;
                    // Wait (briefly) for the backend's close, to pass it back.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while let Some(Ok(frame)) = from_backend.next().await {
                            if let Frame::Close(reason) = frame {
                                let _ = session.clone().close(reason).await;
                                return;
                            }
                        }
                    })
                    .await;
                    return;
                }
                Some(Ok(m)) => {
                    if to_backend.send(m).await.is_err() {
                        let _ = session.close(None).await;
                        return;
                    }
                }
                Some(Err(e)) => {
                    let (code, why) = close_for(&e);
                    tracing::debug!("proxied WebSocket: the client broke the protocol: {why}");
                    let reason = Some(awc::ws::CloseReason { code, description: Some(why) });
                    let _ = to_backend.send(Message::Close(reason.clone())).await;
                    let _ = session.close(reason).await;
                    return;
                }
                None => {
                    let _ = to_backend.send(Message::Close(None)).await;
                    return;
                }
            },
            frame = from_backend.next() => {
                let sent = match frame {
                    Some(Ok(Frame::Text(bytes))) => match ByteString::try_from(bytes) {
                        Ok(text) => session.text(text).await,
                        Err(_) => {
                            let _ = session.close(None).await;
                            return;
                        }
                    },
                    Some(Ok(Frame::Binary(bytes))) => session.binary(bytes).await,
                    Some(Ok(Frame::Continuation(item))) => session.continuation(item).await,
                    Some(Ok(Frame::Ping(bytes))) => session.ping(&bytes).await,
                    Some(Ok(Frame::Pong(bytes))) => session.pong(&bytes).await,
                    Some(Ok(Frame::Close(reason))) => {
                        let _ = session.close(reason).await;
                        return;
                    }
                    Some(Err(e)) => {
                        tracing::debug!("proxied WebSocket: the backend's frame is invalid: {e}");
                        let _ = session.close(None).await;
                        return;
                    }
                    None => {
                        let _ = session.close(None).await;
                        return;
                    }
                };
                if sent.is_err() {
                    let _ = to_backend.send(Message::Close(None)).await;
                    return;
                }
            }
        }
    }
}
