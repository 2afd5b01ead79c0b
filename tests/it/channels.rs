//! WebSocket channels and SSE streams, over real sockets with tokio-tungstenite and reqwest.

use crate::common;

use std::time::Duration;

use crate::common::{Mock, eventually};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);

pub(crate) async fn connect(m: &Mock, path: &str) -> Ws {
    let url = m.url.replacen("http://", "ws://", 1) + path;
    let (ws, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket handshake");
    assert_eq!(response.status(), 101);
    ws
}

/// The next data or close frame; pings are answered by tungstenite and skipped.
async fn next(ws: &mut Ws) -> Message {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message within 5 s")
            .expect("the stream is open")
            .expect("a valid frame");
        if !matches!(msg, Message::Ping(_) | Message::Pong(_)) {
            return msg;
        }
    }
}

pub(crate) async fn text(ws: &mut Ws) -> String {
    match next(ws).await {
        Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

pub(crate) async fn json_msg(ws: &mut Ws) -> Value {
    serde_json::from_str(&text(ws).await).expect("JSON")
}

pub(crate) async fn send(ws: &mut Ws, t: &str) {
    ws.send(Message::text(t)).await.unwrap();
}

/// Nothing arrives within `d` (used only after a message that must come first).
async fn silent_for(ws: &mut Ws, d: Duration) {
    if let Ok(Some(Ok(m))) = tokio::time::timeout(d, ws.next()).await {
        assert!(matches!(m, Message::Ping(_)), "unexpected {m:?}");
    }
}

async fn close_code(ws: &mut Ws) -> CloseCode {
    match next(ws).await {
        Message::Close(Some(CloseFrame { code, .. })) => code,
        other => panic!("expected a close frame, got {other:?}"),
    }
}

async fn connections(m: &Mock) -> Value {
    m.get("/__mockrig/connections").await.json().await.unwrap()
}

/// Polls the connection list until `check` holds (bounded): a connection registers after its
/// handshake answered, with no signal of its own.
async fn until_connections(m: &Mock, check: impl Fn(&Value) -> bool) -> Value {
    eventually("the connection list", WAIT, || async {
        let c = connections(m).await;
        check(&c).then_some(c)
    })
    .await
}

const CHAT: &str = r#"
websockets:
  - path: /ws/echo
  - path: /ws/chat
    mode: broadcast
    on_connect:
      - { json: { text: welcome } }
  - path: /ws/quiet
    mode: broadcast
    include_sender: false
    on_connect: [ { text: hi } ]
  - path: /ws/rooms/{room}
    mode: broadcast
    on_connect: [ { text: "room {{ params.room }}" } ]
  - path: /ws/bot
    mode: silent
    subprotocols: [ chat.v2, chat.v1 ]
    replies:
      - match: ping
        send: [ { text: pong } ]
      - regex: "^add (\\d+)$"
        send: { text: "added #{{ counter }}" }
      - json: { type: subscribe }
        send:
          - { json: { type: subscribed, channel: "{{ message.channel }}", n: "{{ counter }}" } }
        delay: 100ms
  - path: /ws/ticks
    mode: silent
    every:
      interval: 50ms
      send: { json: { type: tick, n: "{{ counter }}" } }
  - path: /ws/small
    max_message_bytes: 1024
"#;

#[tokio::test]
async fn echo_keeps_text_and_binary_apart() {
    let m = Mock::start(CHAT, &[]);
    let mut ws = connect(&m, "/ws/echo").await;
    send(&mut ws, "hello").await;
    assert_eq!(text(&mut ws).await, "hello");
    ws.send(Message::binary(vec![0u8, 159, 146, 150]))
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await,
        Message::binary(vec![0u8, 159, 146, 150])
    );
}

#[tokio::test]
async fn broadcast_reaches_every_client_of_the_path() {
    let m = Mock::start(CHAT, &[]);
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut ws = connect(&m, "/ws/chat").await;
        // The welcome also says the client is registered for broadcasts.
        assert_eq!(json_msg(&mut ws).await, json!({"text": "welcome"}));
        clients.push(ws);
    }
    for (i, ws) in clients.iter_mut().enumerate() {
        send(ws, &format!("from {i}")).await;
    }
    for (i, ws) in clients.iter_mut().enumerate() {
        let mut got = vec![text(ws).await, text(ws).await, text(ws).await];
        got.sort();
        assert_eq!(
            got,
            ["from 0", "from 1", "from 2"],
            "client {i} sees every message"
        );
    }

    // include_sender: false
    let mut a = connect(&m, "/ws/quiet").await;
    let mut b = connect(&m, "/ws/quiet").await;
    assert_eq!(text(&mut a).await, "hi");
    assert_eq!(text(&mut b).await, "hi");
    send(&mut a, "only for b").await;
    assert_eq!(text(&mut b).await, "only for b");
    silent_for(&mut a, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn rooms_are_separate_channels() {
    let m = Mock::start(CHAT, &[]);
    let mut a1 = connect(&m, "/ws/rooms/a").await;
    let mut a2 = connect(&m, "/ws/rooms/a").await;
    let mut b1 = connect(&m, "/ws/rooms/b").await;
    assert_eq!(text(&mut a1).await, "room a");
    assert_eq!(text(&mut a2).await, "room a");
    assert_eq!(text(&mut b1).await, "room b");
    send(&mut a1, "in a").await;
    assert_eq!(text(&mut a2).await, "in a");
    // Room b's next message is the push below, not a's chatter.
    let r = m
        .client
        .post(m.at("/__mockrig/ws/send?path=/ws/rooms/b"))
        .json(&"pushed to b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["delivered"], 1);
    assert_eq!(text(&mut b1).await, "pushed to b");
    let c = connections(&m).await;
    assert_eq!(c["websockets"]["/ws/rooms/a"], 2);
    assert_eq!(c["websockets"]["/ws/rooms/b"], 1);
}

#[tokio::test]
async fn replies_match_text_regex_and_json_with_templates_and_delay() {
    let m = Mock::start(CHAT, &[]);
    let mut ws = connect(&m, "/ws/bot").await;
    send(&mut ws, "ping").await;
    assert_eq!(text(&mut ws).await, "pong");
    send(&mut ws, "add 42").await;
    assert_eq!(
        text(&mut ws).await,
        "added #2",
        "the counter counts messages received"
    );
    send(&mut ws, "nothing matches this").await;
    let started = std::time::Instant::now();
    send(&mut ws, r#"{"type": "subscribe", "channel": "news"}"#).await;
    assert_eq!(
        json_msg(&mut ws).await,
        json!({"type": "subscribed", "channel": "news", "n": 4})
    );
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "the reply waits its delay"
    );
}

#[tokio::test]
async fn every_pushes_on_an_interval_with_a_counter() {
    let m = Mock::start(CHAT, &[]);
    let mut ws = connect(&m, "/ws/ticks").await;
    assert_eq!(json_msg(&mut ws).await, json!({"type": "tick", "n": 1}));
    assert_eq!(json_msg(&mut ws).await, json!({"type": "tick", "n": 2}));
}

#[tokio::test]
async fn protocol_ping_close_size_and_subprotocols() {
    let m = Mock::start(CHAT, &[]);
    let mut ws = connect(&m, "/ws/echo").await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Message::Pong(p) => break p,
            Message::Ping(_) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    };
    assert_eq!(&pong[..], b"are you there");

    // The close handshake echoes the client's code.
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Library(4000),
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    assert_eq!(close_code(&mut ws).await, CloseCode::Library(4000));

    // Beyond max_message_bytes: 1009.
    let mut small = connect(&m, "/ws/small").await;
    send(&mut small, &"x".repeat(1000)).await;
    assert_eq!(text(&mut small).await.len(), 1000);
    send(&mut small, &"x".repeat(2000)).await;
    assert_eq!(close_code(&mut small).await, CloseCode::Size);

    // Subprotocols: the first the client asks for that the channel lists.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = (m.url.replacen("http://", "ws://", 1) + "/ws/bot")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "chat.v1, chat.v2".parse().unwrap(),
    );
    let (_ws, res) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(res.headers()["sec-websocket-protocol"], "chat.v1");
}

#[tokio::test]
async fn a_plain_get_on_a_websocket_path_is_426() {
    let m = Mock::start(CHAT, &[]);
    let r = m.get("/ws/echo").await;
    assert_eq!(r.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(r.headers()["upgrade"], "websocket");
    // Only GET upgrades: another method is 405, as for any GET-only path.
    let r = m.client.post(m.at("/ws/echo")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_dropped() {
    let m = Mock::start(
        "websockets:\n  - { path: /ws/live, ping_interval: 100ms }\n",
        &[],
    );
    // Connected but never read: tungstenite answers pings only while it is polled.
    let _ws = connect(&m, "/ws/live").await;
    until_connections(&m, |c| c["websockets"]["/ws/live"] == 1).await;
    until_connections(&m, |c| c["websockets"].get("/ws/live").is_none()).await;
}

/// Reads an SSE response until `done` holds for the text so far (bounded by WAIT).
pub(crate) async fn read_sse(r: &mut reqwest::Response, done: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(&out) {
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .unwrap_or_else(|_| panic!("timed out; got so far: {out:?}"))
            .unwrap()
            .expect("the stream stays open");
        out.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    out
}

const EVENTS: &str = r#"
sse:
  - path: /events
    retry: 2000
    events:
      - { event: tick, data: { n: 1 }, id: "1" }
      - { event: tick, data: { n: 2 }, id: "2" }
      - { data: "two\nlines", id: 3 }
  - path: /ticks
    every: 50ms
    repeat: true
    keep_alive: 40ms
    events:
      - { data: a, id: a }
      - { data: b, id: b }
"#;

#[tokio::test]
async fn sse_sends_its_fields_and_resumes_from_last_event_id() {
    let m = Mock::start(EVENTS, &[]);
    let mut r = m.get("/events").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let body = read_sse(&mut r, |s| s.contains("data: lines\n\n")).await;
    assert_eq!(
        body,
        ": mockrig\nretry: 2000\n\n\
         id: 1\nevent: tick\ndata: {\"n\":1}\n\n\
         id: 2\nevent: tick\ndata: {\"n\":2}\n\n\
         id: 3\ndata: two\ndata: lines\n\n"
    );

    let mut r = m
        .client
        .get(m.at("/events"))
        .header("Last-Event-ID", "2")
        .send()
        .await
        .unwrap();
    let body = read_sse(&mut r, |s| s.contains("data: lines\n\n")).await;
    assert!(
        !body.contains("id: 1\n") && !body.contains("id: 2\n"),
        "{body}"
    );
    assert!(body.contains("id: 3\n"));
}

#[tokio::test]
async fn sse_every_repeats_and_keeps_alive() {
    let m = Mock::start(EVENTS, &[]);
    let mut r = m.get("/ticks").await;
    let body = read_sse(&mut r, |s| {
        s.matches("data: a\n").count() >= 2 && s.contains(": keep-alive\n")
    })
    .await;
    let a = body.find("data: a\n").unwrap();
    let b = body.find("data: b\n").unwrap();
    assert!(
        a < b && body[b..].contains("data: a\n"),
        "a, b, then a again: {body}"
    );
}

#[tokio::test]
async fn admin_pushes_reach_websocket_and_sse_clients() {
    let spec = format!("{CHAT}{}", EVENTS.trim_start());
    let m = Mock::start(&spec, &[]);
    let mut ws = connect(&m, "/ws/chat").await;
    assert_eq!(json_msg(&mut ws).await, json!({"text": "welcome"}));
    let mut events = m.get("/events").await;
    read_sse(&mut events, |s| s.contains("id: 3\n")).await;
    let c = until_connections(&m, |c| c["sse"]["/events"] == 1).await;
    assert_eq!(c["websockets"]["/ws/chat"], 1);

    let r = m
        .post_json(
            "/__mockrig/ws/send?path=/ws/chat",
            &json!({"type": "news", "id": 7}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["delivered"], 1);
    assert_eq!(json_msg(&mut ws).await, json!({"type": "news", "id": 7}));

    let r = m
        .post_json(
            "/__mockrig/sse/send?path=/events&event=order.created&id=99",
            &json!({"id": 1}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["delivered"], 1);
    let body = read_sse(&mut events, |s| s.contains("\n\n")).await;
    assert_eq!(body, "id: 99\nevent: order.created\ndata: {\"id\":1}\n\n");

    let r = m
        .client
        .post(m.at("/__mockrig/ws/send"))
        .json(&"x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a push names its path");
}

#[tokio::test]
async fn http_routes_and_resources_emit_to_subscribers() {
    let spec = r#"
websockets:
  - { path: /ws/orders, mode: silent }
sse:
  - { path: /events }
routes:
  - method: POST
    path: /orders/{shop}
    response: { status: 201, body: { ok: true } }
    emit:
      - { websocket: /ws/orders, json: { type: order, shop: "{{ params.shop }}", total: "{{ request.body.total }}" } }
      - { sse: /events, event: order.created, data: "{{ request.body.total }}" }
resources:
  users:
    seed: []
    emit:
      - { websocket: /ws/orders }
      - { sse: /events, event: "user", data: { what: "{{ action }}", name: "{{ record.name }}" } }
"#;
    let m = Mock::start(spec, &[]);
    let mut ws = connect(&m, "/ws/orders").await;
    let mut events = m.get("/events").await;
    read_sse(&mut events, |s| s.contains(": mockrig\n\n")).await;
    until_connections(&m, |c| {
        c["websockets"]["/ws/orders"] == 1 && c["sse"]["/events"] == 1
    })
    .await;

    let r = m.post_json("/orders/berlin", &json!({"total": 12.5})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        json_msg(&mut ws).await,
        json!({"type": "order", "shop": "berlin", "total": 12.5})
    );
    let body = read_sse(&mut events, |s| s.ends_with("\n\n")).await;
    // An emitted event without an id gets one of mockrig's, for `Last-Event-ID`.
    assert_eq!(body, "id: e1\nevent: order.created\ndata: 12.5\n\n");

    let r = m.post_json("/users", &json!({"name": "Ada"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        json_msg(&mut ws).await,
        json!({"action": "created", "resource": "users", "record": {"name": "Ada", "id": 1}})
    );
    let body = read_sse(&mut events, |s| s.ends_with("\n\n")).await;
    assert_eq!(
        body,
        "id: e2\nevent: user\ndata: {\"what\":\"created\",\"name\":\"Ada\"}\n\n"
    );
    let r = m.client.delete(m.at("/users/1")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(json_msg(&mut ws).await["action"], "deleted");

    // A write that fails emits nothing: the next message is the one after it.
    let r = m.client.delete(m.at("/users/1")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    m.post_json("/users", &json!({"name": "Grace"})).await;
    assert_eq!(json_msg(&mut ws).await["record"]["name"], "Grace");
}

/// Under `--seed`, what a route's and a resource's emits draw is the same in every run, and
/// depends on the seed alone, not on what other requests drew meanwhile.
#[tokio::test]
async fn seeded_emits_repeat_from_run_to_run() {
    const SPEC: &str = r#"
websockets:
  - { path: /ws/feed, mode: silent }
routes:
  - method: POST
    path: /ping
    response: { status: 204 }
    emit:
      - { websocket: /ws/feed, json: { from: route, n: "{{ random_int(1, 1000000000) }}" } }
  - path: /noise
    response: { body: { n: "{{ random_int(1, 1000000000) }}" } }
resources:
  users:
    seed: []
    emit:
      - { websocket: /ws/feed, json: { from: resource, id: "{{ uuid() }}" } }
"#;
    async fn run(seed: u64, noise: bool) -> Vec<Value> {
        let m = Mock::with(SPEC, &[], |c| c.seed = Some(seed));
        let mut ws = connect(&m, "/ws/feed").await;
        until_connections(&m, |c| c["websockets"]["/ws/feed"] == 1).await;
        let mut out = Vec::new();
        for _ in 0..2 {
            if noise {
                m.get("/noise").await;
            }
            m.post_json("/ping", &json!({})).await;
            out.push(json_msg(&mut ws).await);
            m.post_json("/users", &json!({"name": "Ada"})).await;
            out.push(json_msg(&mut ws).await);
        }
        out
    }
    let a = run(42, false).await;
    assert_eq!(a, run(42, true).await, "the same seed, the same emits");
    assert_ne!(a[0], a[2], "each emit draws its own values");
    assert_ne!(a[1], a[3]);
    assert_ne!(a, run(7, false).await, "another seed, other values");
}

#[tokio::test]
async fn a_reload_keeps_connections_that_follow_it_and_closes_removed_channels() {
    let before =
        "websockets:\n  - { path: /ws/a }\n  - { path: /ws/b }\nsse:\n  - { path: /events }\n";
    let m = Mock::start(before, &[]);
    let mut a = connect(&m, "/ws/a").await;
    let mut b = connect(&m, "/ws/b").await;
    let mut events = m.get("/events").await;
    read_sse(&mut events, |s| s.contains(": mockrig\n\n")).await;
    send(&mut a, "echoed").await;
    assert_eq!(text(&mut a).await, "echoed");

    let after = "websockets:\n  - path: /ws/a\n    mode: silent\n    replies: [ { match: hi, send: { text: now scripted } } ]\n";
    std::fs::write(m.dir.path().join("api.yaml"), after).unwrap();
    let r = m
        .client
        .post(m.at("/__mockrig/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // /ws/b is gone: its client is told so with 1001.
    assert_eq!(close_code(&mut b).await, CloseCode::Away);
    // The SSE stream of the removed channel ends.
    let ended = tokio::time::timeout(WAIT, async {
        while let Ok(Some(_)) = events.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the SSE stream ended");
    // /ws/a stays open and follows the new definition.
    send(&mut a, "hi").await;
    assert_eq!(text(&mut a).await, "now scripted");
}

#[tokio::test]
async fn the_chat_example_serves_its_page_and_its_channels() {
    let server = common::serve(&common::repo_path("examples/chat.yaml")).unwrap();
    let m = Mock::attach(server);
    let page = m.get("/").await.text().await.unwrap();
    assert!(page.contains("new WebSocket") && page.contains("/ws/chat"));
    let mut a = connect(&m, "/ws/chat").await;
    let mut b = connect(&m, "/ws/chat").await;
    assert_eq!(json_msg(&mut a).await["text"], "welcome to the chat");
    assert_eq!(json_msg(&mut b).await["text"], "welcome to the chat");
    send(&mut a, r#"{"user": "alice", "text": "hello"}"#).await;
    assert_eq!(
        json_msg(&mut b).await,
        json!({"user": "alice", "text": "hello"})
    );
    assert_eq!(json_msg(&mut a).await["user"], "alice");
    let r = m.post_json("/announce", &json!({"text": "lunch!"})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        json_msg(&mut b).await,
        json!({"user": "announcer", "text": "lunch!"})
    );
    let mut room = connect(&m, "/ws/rooms/kitchen").await;
    assert_eq!(json_msg(&mut room).await["text"], "you are in room kitchen");
    let mut ticks = m.get("/events").await;
    let body = read_sse(&mut ticks, |s| s.contains("data: {\"n\":1}\n\n")).await;
    assert!(body.contains("retry: 2000\n") && body.contains("event: tick\n"));
}

#[tokio::test]
async fn binary_broadcast_and_an_idle_client_that_answers_pings_stays() {
    let m = Mock::start(
        "websockets:\n  - { path: /ws/b, mode: broadcast, ping_interval: 100ms }\n",
        &[],
    );
    let mut a = connect(&m, "/ws/b").await;
    let mut b = connect(&m, "/ws/b").await;
    until_connections(&m, |c| c["websockets"]["/ws/b"] == 2).await;
    a.send(Message::binary(vec![1u8, 2, 255])).await.unwrap();
    assert_eq!(next(&mut b).await, Message::binary(vec![1u8, 2, 255]));
    assert_eq!(next(&mut a).await, Message::binary(vec![1u8, 2, 255]));
    // Six ping intervals of idleness, with both clients reading (so answering pings): the
    // dead-peer check must not take a quiet client for a dead one.
    let idle = tokio::time::Instant::now() + Duration::from_millis(600);
    async fn only_pings(ws: &mut Ws, until: tokio::time::Instant) -> usize {
        let mut pings = 0;
        while let Ok(Some(frame)) = tokio::time::timeout_at(until, ws.next()).await {
            assert!(matches!(frame.unwrap(), Message::Ping(_)));
            pings += 1;
        }
        pings
    }
    let (pa, pb) = tokio::join!(only_pings(&mut a, idle), only_pings(&mut b, idle));
    assert!(
        pa >= 3 && pb >= 3,
        "mockrig pings on its interval ({pa}, {pb})"
    );
    send(&mut a, "still here").await;
    assert_eq!(text(&mut a).await, "still here");
    assert_eq!(connections(&m).await["websockets"]["/ws/b"], 2);
}

#[tokio::test]
async fn invalid_utf8_is_1007_and_a_fragmented_message_too_large_is_1009() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let m = Mock::start(CHAT, &[]);
    let mut ws = connect(&m, "/ws/echo").await;
    let bad = Frame::message(vec![b'a', 0xff, 0xfe], OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(bad)).await.unwrap();
    assert_eq!(close_code(&mut ws).await, CloseCode::Invalid);

    // /ws/small takes 1024 bytes: three fragments of 600 are each small, together too large.
    let mut small = connect(&m, "/ws/small").await;
    let part = || vec![b'x'; 600];
    small
        .send(Message::Frame(Frame::message(
            part(),
            OpCode::Data(Data::Text),
            false,
        )))
        .await
        .unwrap();
    for last in [false, true] {
        small
            .send(Message::Frame(Frame::message(
                part(),
                OpCode::Data(Data::Continue),
                last,
            )))
            .await
            .unwrap();
    }
    assert_eq!(close_code(&mut small).await, CloseCode::Size);

    // Two fragments within the limit are joined into one message.
    let mut ok = connect(&m, "/ws/small").await;
    ok.send(Message::Frame(Frame::message(
        b"hello, ".to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    ok.send(Message::Frame(Frame::message(
        b"world".to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .unwrap();
    assert_eq!(text(&mut ok).await, "hello, world");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_does_not_hold_up_the_others() {
    const STALLED: usize = 8;
    let m = Mock::start(
        "websockets:\n  - { path: /ws/chat, mode: broadcast }\n",
        &[],
    );
    let mut reader = connect(&m, "/ws/chat").await;
    // Connected, then never read again: their socket buffers and queues fill up.
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        stalled.push(connect(&m, "/ws/chat").await);
    }
    until_connections(&m, |c| c["websockets"]["/ws/chat"] == 1 + STALLED).await;
    let chunk = "x".repeat(200 * 1024);
    let started = std::time::Instant::now();
    let mut delivered = Vec::new();
    // 100 × 200 KiB is far more than loopback buffers and the 32-frame queue hold.
    for i in 0..100 {
        let r = m
            .client
            .post(m.at("/__mockrig/ws/send?path=/ws/chat"))
            .json(&format!("{i}:{chunk}"))
            .send()
            .await
            .unwrap();
        delivered.push(
            r.json::<Value>().await.unwrap()["delivered"]
                .as_u64()
                .unwrap(),
        );
        let got = text(&mut reader).await;
        assert!(got.starts_with(&format!("{i}:")), "in order");
    }
    assert_eq!(delivered[0], 1 + STALLED as u64);
    assert_eq!(
        *delivered.last().unwrap(),
        1,
        "the stalled clients were dropped"
    );
    let c = until_connections(&m, |c| c["websockets"]["/ws/chat"] == 1).await;
    assert_eq!(c["websockets"]["/ws/chat"], 1);
    // The stalled clients cost the pushes one wait of 0.5 s together, not one per message
    // (50 s) nor one per client (4 s).
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(stalled);
}

#[tokio::test]
async fn emits_take_templated_targets_ids_and_report_updates() {
    let spec = r#"
websockets:
  - { path: "/ws/rooms/{room}", mode: silent }
sse:
  - { path: /events }
routes:
  - method: POST
    path: /rooms/{room}/say
    response: { status: 202 }
    emit:
      - { websocket: "/ws/rooms/{{ params.room }}", text: "{{ request.body.text }}" }
      - { sse: /events, event: "said.{{ params.room }}", id: "{{ request.body.id }}", data: "{{ request.body.text }}" }
resources:
  notes:
    seed: [ { id: 1, text: draft } ]
    emit:
      - { websocket: /ws/rooms/notes }
"#;
    let m = Mock::start(spec, &[]);
    let mut a = connect(&m, "/ws/rooms/a").await;
    let mut b = connect(&m, "/ws/rooms/b").await;
    let mut notes = connect(&m, "/ws/rooms/notes").await;
    let mut events = m.get("/events").await;
    read_sse(&mut events, |s| s.contains(": mockrig\n\n")).await;
    until_connections(&m, |c| {
        c["websockets"].as_object().is_some_and(|w| w.len() == 3) && c["sse"]["/events"] == 1
    })
    .await;
    let r = m
        .post_json("/rooms/b/say", &json!({"text": "hi b", "id": 7}))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(text(&mut b).await, "hi b");
    let body = read_sse(&mut events, |s| s.ends_with("\n\n")).await;
    assert_eq!(body, "id: 7\nevent: said.b\ndata: hi b\n\n");
    // Room a heard nothing: its next message is this one.
    m.post_json("/rooms/a/say", &json!({"text": "hi a", "id": 8}))
        .await;
    assert_eq!(text(&mut a).await, "hi a");

    let r = m
        .client
        .patch(m.at("/notes/1"))
        .json(&json!({"text": "final"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        json_msg(&mut notes).await,
        json!({"action": "updated", "resource": "notes", "record": {"id": 1, "text": "final"}})
    );
}

#[tokio::test]
async fn websockets_work_over_tls() {
    use mockrig::TlsSource;
    use rustls::pki_types::pem::PemObject;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(&spec, "websockets:\n  - { path: /ws/echo }\n").unwrap();
    let cert = dir.path().join("cert.pem");
    let mut config = mockrig::ServeConfig::new(&spec);
    config.workers = Some(1);
    config.tls = Some(TlsSource::SelfSigned {
        write_cert: Some(cert.clone()),
    });
    let server = mockrig::MockServer::with_config(config).unwrap();
    assert!(server.url().starts_with("https://"));

    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let url = format!("wss://localhost:{}/ws/echo", server.addr().port());
    let (mut ws, response) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(response.status(), 101);
    ws.send(Message::text("over tls")).await.unwrap();
    let echoed = loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => break t.to_string(),
            Message::Ping(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(echoed, "over tls");
}

/// A wrong WebSocket URL is the commonest real-time mistake: it gets its 404, with the near
/// miss, at once rather than after the body timeout.
#[tokio::test]
async fn an_upgrade_to_a_path_without_a_channel_is_a_404_at_once() {
    let m = Mock::start(
        "websockets:\n  - path: /ws/todos\n    mode: echo\nroutes:\n  - path: /plain\n    response: { text: plain }\n",
        &[],
    );
    let url = m.url.replacen("http://", "ws://", 1);
    let started = std::time::Instant::now();
    let e = tokio_tungstenite::connect_async(format!("{url}/ws/todo"))
        .await
        .expect_err("no channel there");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    match e {
        tokio_tungstenite::tungstenite::Error::Http(r) => {
            assert_eq!(r.status(), 404);
            let body: Value = serde_json::from_slice(r.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["near_misses"][0]["path"], "/ws/todos", "{body}");
        }
        other => panic!("expected an HTTP answer, got {other}"),
    }
    // A route that is no channel answers an upgrade request as it answers any other.
    let started = std::time::Instant::now();
    let e = tokio_tungstenite::connect_async(format!("{url}/plain"))
        .await
        .expect_err("no channel there");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    match e {
        tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status(), 200),
        other => panic!("expected an HTTP answer, got {other}"),
    }
}

/// A client that loses its stream while events are pushed gets them all when it reconnects
/// with `Last-Event-ID`, and scripted ids are templates like emitted ones.
#[tokio::test]
async fn sse_replays_pushed_events_after_last_event_id_and_renders_scripted_ids() {
    let m = Mock::start(
        r#"
sse:
  - path: /feed
    events:
      - { data: first, id: "s{{ counter }}" }
      - { data: second, id: "s{{ counter }}" }
  - path: /quiet
    replay: 0
"#,
        &[],
    );
    let push = |path: &'static str, body: &'static str| {
        let c = m.client.clone();
        let url = m.at(&format!("/__mockrig/sse/send?path={path}"));
        async move {
            let r = c
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    };
    let mut r = m.get("/feed").await;
    let body = read_sse(&mut r, |s| s.contains("data: second\n\n")).await;
    assert!(body.contains("id: s1\ndata: first\n\n"), "{body}");
    assert!(body.contains("id: s2\ndata: second\n\n"), "{body}");
    // A pushed event without an id gets one of mockrig's.
    push("/feed", r#""live""#).await;
    let body = read_sse(&mut r, |s| s.contains("data: live\n\n")).await;
    assert!(body.ends_with("id: e1\ndata: live\n\n"), "{body}");
    // The connection is lost (whether mockrig has noticed yet or not changes nothing: the
    // path keeps what is pushed); three events are pushed meanwhile.
    drop(r);
    for body in [r#""a""#, r#""b""#, r#""c""#] {
        push("/feed", body).await;
    }
    // Reconnecting with the last id seen: the three, in order, and no script again.
    let mut r = m
        .client
        .get(m.at("/feed"))
        .header("Last-Event-ID", "e1")
        .send()
        .await
        .unwrap();
    let body = read_sse(&mut r, |s| s.contains("data: c\n\n")).await;
    assert!(
        body.contains("id: e2\ndata: a\n\nid: e3\ndata: b\n\nid: e4\ndata: c\n\n"),
        "{body}"
    );
    assert!(!body.contains("data: first"), "{body}");
    // And live events follow.
    push("/feed", r#""after""#).await;
    read_sse(&mut r, |s| s.contains("id: e5\ndata: after\n\n")).await;
    // Resuming from a scripted id renders the ids as the script did.
    let mut r = m
        .client
        .get(m.at("/feed"))
        .header("Last-Event-ID", "s1")
        .send()
        .await
        .unwrap();
    let body = read_sse(&mut r, |s| s.contains("data: second\n\n")).await;
    assert!(!body.contains("data: first"), "{body}");
    // With `replay: 0` nothing is kept, and pushed events carry no id of mockrig's.
    let mut q = m.get("/quiet").await;
    read_sse(&mut q, |s| s.contains(": mockrig")).await;
    push("/quiet", r#""x""#).await;
    let body = read_sse(&mut q, |s| s.contains("data: x\n\n")).await;
    assert!(!body.contains("id:"), "{body}");
}

/// A reserved bit set without an agreed extension is a protocol error (1002, not 1007), and
/// the valid message sent just before it is still answered.
#[tokio::test]
async fn a_reserved_bit_closes_with_1002_after_answering_what_came_first() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let m = Mock::start(CHAT, &[]);
    let mut ws = connect(&m, "/ws/echo").await;
    let mut bad = Frame::message(b"bad".to_vec(), OpCode::Data(Data::Text), true);
    bad.header_mut().rsv1 = true;
    // Queued together, so both may arrive in one read.
    ws.feed(Message::text("first")).await.unwrap();
    ws.feed(Message::Frame(bad)).await.unwrap();
    ws.flush().await.unwrap();
    assert_eq!(text(&mut ws).await, "first");
    assert_eq!(close_code(&mut ws).await, CloseCode::Protocol);
}

/// Frames RFC 6455 forbids — a reserved opcode, a continuation of nothing, a new message
/// inside a fragmented one, a control frame over 125 bytes (Autobahn 4.1.3, 5.15, 7.3.6) —
/// close with 1002, and the valid message before them is answered first, whether both came in
/// one read or the bad frame came on its own.
#[tokio::test]
async fn a_forbidden_frame_closes_with_1002_after_answering_what_came_first() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
    let m = Mock::start(CHAT, &[]);
    // tungstenite builds only valid data frames: one is made, then its header changed.
    let frame = |payload: Vec<u8>, opcode: OpCode, fin: bool| {
        let mut f = Frame::message(payload, OpCode::Data(Data::Text), fin);
        f.header_mut().opcode = opcode;
        f
    };
    let bad = || {
        vec![
            (
                "reserved opcode",
                vec![frame(b"x".to_vec(), OpCode::Data(Data::Reserved(5)), true)],
            ),
            (
                "continuation of nothing",
                vec![frame(b"x".to_vec(), OpCode::Data(Data::Continue), true)],
            ),
            (
                "message inside a fragmented one",
                vec![
                    frame(b"a".to_vec(), OpCode::Data(Data::Text), false),
                    frame(b"b".to_vec(), OpCode::Data(Data::Text), true),
                ],
            ),
            (
                "long close",
                vec![frame(
                    vec![b'x'; 126],
                    OpCode::Control(Control::Close),
                    true,
                )],
            ),
        ]
    };
    for together in [true, false] {
        for (what, frames) in bad() {
            let mut ws = connect(&m, "/ws/echo").await;
            ws.feed(Message::text("first")).await.unwrap();
            if !together {
                ws.flush().await.unwrap();
                assert_eq!(text(&mut ws).await, "first", "{what}");
            }
            for f in frames {
                ws.feed(Message::Frame(f)).await.unwrap();
            }
            ws.flush().await.unwrap();
            if together {
                assert_eq!(text(&mut ws).await, "first", "{what}");
            }
            assert_eq!(close_code(&mut ws).await, CloseCode::Protocol, "{what}");
        }
    }
}
