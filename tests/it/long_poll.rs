//! Long polling (`wait:`): requests held until an event on a topic or a timeout, over real
//! sockets.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{self, Mock, eventually, json_of};

const SPEC: &str = r#"
routes:
  - path: /orders/poll
    wait: { topic: orders, timeout: 10s }
    response:
      body: { id: "{{ event_id }}", order: "{{ event }}", count: "{{ events | length }}" }
  - path: /orders/quick
    wait:
      topic: orders
      timeout: 200ms
      on_timeout: { status: 200, body: { timeout: true } }
  - path: /orders/default
    wait: { topic: orders, timeout: 100ms }
  - path: /rooms/{room}/poll
    wait: { topic: "room-{{ params.room }}", timeout: 10s }
    response: { body: "{{ event }}" }
  - method: POST
    path: /orders
    response: { status: 201 }
    emit:
      - { topic: orders, json: "{{ request.body }}" }
websockets:
  - path: /ws/rooms/{room}
    mode: silent
    publish: "room-{{ params.room }}"
"#;

/// Waits until `n` requests wait on `topic`. Each look is a request on a connection of its
/// own: a CI run once saw a reused keep-alive connection fail here (hyper `UnexpectedMessage`)
/// while 300 others were being opened; the cause is not yet known (see the closing note).
async fn waiting(m: &Mock, topic: &str, n: u64) {
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    waiting_with(&fresh, m, topic, n).await;
}

/// [`waiting`], asking with `fresh` (a client that opens a connection per request).
async fn waiting_with(fresh: &reqwest::Client, m: &Mock, topic: &str, n: u64) {
    let url = m.at("/__mockrig/connections");
    eventually("the waiters", Duration::from_secs(20), || async {
        let c = json_of(fresh.get(&url).send().await.ok()?).await;
        (c["waiting"][topic].as_u64().unwrap_or(0) == n).then_some(())
    })
    .await;
}

#[tokio::test]
async fn one_emit_answers_every_waiter_at_once() {
    let m = Mock::start(SPEC, &[]);
    const N: usize = 300;
    // One client, built before anything connects: concurrent HTTP/1.1 requests each open a
    // connection of their own. (A client built per waiter kept the runtime busy building
    // clients between a connect and its request, long enough in a debug build for the
    // server's request timeout to answer 408 on a connection hyper had not written to yet.)
    let waiters_client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let waiters: Vec<_> = (0..N)
        .map(|_| {
            let url = m.at("/orders/poll");
            let client = waiters_client.clone();
            tokio::spawn(async move {
                let r = client.get(url).send().await.unwrap();
                let answered = Instant::now();
                (r.status(), json_of(r).await, answered)
            })
        })
        .collect();
    waiting(&m, "orders", N as u64).await;
    let sent = Instant::now();
    let r = m.post_json("/orders", &json!({"item": "tea"})).await;
    assert_eq!(r.status(), 201);
    let mut last = Duration::ZERO;
    for w in waiters {
        let (status, body, answered) = w.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body["order"], json!({"item": "tea"}));
        assert_eq!(body["id"], 1);
        assert_eq!(body["count"], 1);
        last = last.max(answered.saturating_duration_since(sent));
    }
    // Generous for a debug build on two shared cores; bench/longpoll.py measures release.
    assert!(
        last < Duration::from_secs(3),
        "the last answer came {last:?} after the emit"
    );
    waiting(&m, "orders", 0).await;
}

#[tokio::test]
async fn a_wait_times_out_into_its_own_answer_or_204() {
    let m = Mock::start(SPEC, &[]);
    let started = Instant::now();
    let r = m.get("/orders/quick").await;
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await, json!({"timeout": true}));
    assert!(started.elapsed() >= Duration::from_millis(200));
    let r = m.get("/orders/default").await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn since_answers_at_once_from_what_the_topic_kept() {
    let m = Mock::start(SPEC, &[]);
    for item in ["a", "b", "c"] {
        let r = m
            .client
            .post(m.at("/__mockrig/topics/send?topic=orders"))
            .header("content-type", "application/json")
            .body(format!("{item:?}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let started = Instant::now();
    let body = json_of(m.get("/orders/poll?since=1").await).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    // The newest as `event`, with its id as the next cursor; all newer ones in `events`.
    assert_eq!(body["id"], 3);
    assert_eq!(body["order"], "c");
    assert_eq!(body["count"], 2);
    // Nothing newer than the cursor: it waits for the next.
    let next = tokio::spawn({
        let url = m.at("/orders/poll?since=3");
        async move { json_of(common::client().get(url).send().await.unwrap()).await }
    });
    waiting(&m, "orders", 1).await;
    m.post_json("/orders", &json!("d")).await;
    assert_eq!(next.await.unwrap()["id"], 4);
}

#[tokio::test]
async fn a_waiter_that_goes_away_is_dropped_at_once() {
    let m = Mock::start(SPEC, &[]);
    let gone = tokio::spawn({
        let url = m.at("/orders/poll");
        async move { common::client().get(url).send().await }
    });
    waiting(&m, "orders", 1).await;
    let left = Instant::now();
    gone.abort();
    waiting(&m, "orders", 0).await;
    // Well before its 10 s wait would have ended it.
    assert!(
        left.elapsed() < Duration::from_secs(5),
        "{:?}",
        left.elapsed()
    );
}

/// Over HTTP/2 each request is a task of its own beside the connection's; a client that
/// closes the connection still takes its held requests with it at once.
#[tokio::test]
async fn a_waiter_over_http2_that_goes_away_is_dropped_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let cert = dir.path().join("cert.pem");
    let mut config = common::config(&spec);
    config.tls = Some(mockrig::TlsSource::SelfSigned {
        write_cert: Some(cert.clone()),
    });
    let m = Mock::attach(mockrig::MockServer::with_config(config).unwrap());
    let pem = std::fs::read(&cert).unwrap();
    let ask = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .tls_backend_preconfigured(common::tls_config(&pem, true))
        .http1_only()
        .build()
        .unwrap();
    let h2 = common::tls_client(&pem, false);
    let url = m.at("/orders/poll");
    // The client lives in the task: aborting it drops the only handle to the connection.
    let gone = tokio::spawn(async move { h2.get(url).send().await });
    waiting_with(&ask, &m, "orders", 1).await;
    let left = Instant::now();
    gone.abort();
    waiting_with(&ask, &m, "orders", 0).await;
    assert!(
        left.elapsed() < Duration::from_secs(5),
        "{:?}",
        left.elapsed()
    );
    // It was HTTP/2: a fresh HTTP/2 client's poll answers as such.
    let h2 = common::tls_client(&pem, false);
    let poll = tokio::spawn({
        let url = m.at("/orders/poll");
        async move { h2.get(url).send().await.unwrap().version() }
    });
    waiting_with(&ask, &m, "orders", 1).await;
    let r = ask
        .post(m.at("/orders"))
        .json(&json!({"n": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(poll.await.unwrap(), reqwest::Version::HTTP_2);
}

#[tokio::test]
async fn a_websocket_message_wakes_the_long_polls_of_its_topic() {
    let m = Mock::start(SPEC, &[]);
    let poll = tokio::spawn({
        let url = m.at("/rooms/blue/poll");
        async move { json_of(common::client().get(url).send().await.unwrap()).await }
    });
    waiting(&m, "room-blue", 1).await;
    let url = m.url.replacen("http://", "ws://", 1) + "/ws/rooms/blue";
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text(r#"{"text":"hi"}"#)).await.unwrap();
    let got: Value = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(got, json!({"text": "hi"}));
}
