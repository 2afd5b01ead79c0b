//! The dashboard's API (`/__mockrig/ui` and what its page calls): the live event stream, a
//! request's details with the answer sent, routes with where they were written, pushes to a
//! channel, a room or one connection, and the page's own safety (token, CSP, Host/Origin).
//! The page itself in Chromium: `browser::dashboard_*`.

use crate::common::{self, Mock};

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

/// An open `/__mockrig/events` stream, read event by event.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(m: &Mock) -> Events {
        let response = m.get("/__mockrig/events").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut events = Events {
            response,
            buffer: String::new(),
        };
        let (name, hello) = events.next().await;
        assert_eq!(name, "hello");
        assert_eq!(hello["batch_ms"], 100);
        events
    }

    /// The next event's name and data (comments skipped).
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if name.is_empty() {
                    continue;
                }
                return (name, serde_json::from_str(&data).expect("JSON data"));
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("an event within the wait")
                .expect("the stream reads")
                .expect("the stream is open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event called `name`, skipping others.
    async fn next_named(&mut self, name: &str) -> Value {
        for _ in 0..1000 {
            let (n, v) = self.next().await;
            if n == name {
                return v;
            }
        }
        panic!("no {name} event among the next 1000");
    }
}

const SPEC: &str = r#"
routes:
  - method: GET
    path: /users/{id}
    match:
      query: { v: "2" }
    response: { body: { id: "{{ params.id }}" } }
  - method: POST
    path: /orders
    scenario: checkout
    when: started
    then: paid
    response: { status: 201, body: { ok: true } }
resources:
  todos:
    seed: [ { id: 1, title: a } ]
"#;

#[tokio::test]
async fn the_stream_shows_requests_with_their_near_miss_and_each_reload() {
    let m = Mock::start(SPEC, &[]);
    let mut events = Events::open(&m).await;
    assert_eq!(m.get("/users/1?v=3").await.status(), 404);
    assert_eq!(m.get("/todos/1").await.status(), 200);
    let mut seen: Vec<Value> = Vec::new();
    while seen.len() < 2 {
        let batch = events.next_named("requests").await;
        seen.extend(batch["requests"].as_array().unwrap().iter().cloned());
    }
    let miss = &seen[0];
    assert_eq!(miss["path"], "/users/1");
    assert_eq!(miss["query"], "v=3");
    assert_eq!(miss["status"], 404);
    assert_eq!(miss["matched"], Value::Null);
    assert_eq!(miss["session"], Value::Null);
    assert_eq!(miss["nearest"]["route"], "routes[0]");
    assert_eq!(
        miss["nearest"]["failed"][0],
        json!({"criterion": "query.v", "expected": "2", "actual": "3"})
    );
    assert_eq!(seen[1]["matched"], "resources.todos");

    // A broken save: the located error with its caret, as `check` prints it.
    let spec = m.dir.path().join("api.yaml");
    std::fs::write(&spec, SPEC.replace("status: 201", "statuss: 201")).unwrap();
    let reload = events.next_named("reload").await;
    assert_eq!(reload["result"], "error");
    let error = reload["error"].as_str().unwrap();
    assert!(error.contains("api.yaml:13:"), "{error}");
    assert!(error.contains("unknown key 'statuss'"), "{error}");
    assert!(
        error.contains("^^^^^^^"),
        "the caret under the key: {error}"
    );
    assert_eq!(reload["reload_error"], reload["error"]);

    // Fixed, with a route more: what changed.
    let fixed = SPEC.replace(
        "resources:",
        "  - { method: DELETE, path: \"/orders/{id}\" }\nresources:",
    );
    std::fs::write(&spec, fixed).unwrap();
    let reload = events.next_named("reload").await;
    assert_eq!(reload["result"], "ok");
    assert_eq!(reload["reload_error"], Value::Null);
    assert_eq!(reload["changes"]["added"], json!(["DELETE /orders/{id}"]));
    let status = common::json_of(m.get("/__mockrig/status").await).await;
    assert_eq!(status["last_reload"]["changes"], reload["changes"]);
}

#[tokio::test]
async fn under_load_the_stream_sends_bounded_batches_and_counts_what_it_left_out() {
    let m = Mock::start(SPEC, &[]);
    let mut events = Events::open(&m).await;
    const N: usize = 1500;
    // Concurrently, so that more than one batch's worth arrives within 100 ms.
    let c = m.client.clone();
    let url = m.at("/todos/1");
    let sends = (0..N).map(|_| {
        let (c, url) = (c.clone(), url.clone());
        async move { c.get(url).send().await.unwrap().status() }
    });
    let statuses = futures_util::stream::iter(sends)
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    // Every request is either shown or counted as left out; none twice.
    let (mut shown, mut dropped, mut ids) = (0, 0, std::collections::HashSet::new());
    while shown + dropped < N {
        let batch = events.next_named("requests").await;
        let list = batch["requests"].as_array().unwrap();
        assert!(list.len() <= 200, "a batch of {}", list.len());
        for r in list {
            assert!(ids.insert(r["id"].as_u64().unwrap()), "shown twice: {r}");
        }
        shown += list.len();
        dropped += batch["dropped"].as_u64().unwrap() as usize;
    }
    assert_eq!(shown + dropped, N);
}

#[tokio::test]
async fn a_request_opens_with_the_answer_it_got_while_a_dashboard_is_open() {
    let m = Mock::start(SPEC, &[]);
    // Before any dashboard: the request, not the answer (keeping it costs every request).
    assert_eq!(m.get("/todos").await.status(), 200);
    let before = common::json_of(m.get("/__mockrig/requests/1").await).await;
    assert_eq!(before["response"], Value::Null);
    assert_eq!(before["status"], 200);
    let _dashboard = Events::open(&m).await;
    let r = m.post_json("/orders", &json!({"item": "book"})).await;
    assert_eq!(r.status(), 201);
    let list = common::json_of(m.get("/__mockrig/requests").await).await;
    let id = list["requests"][1]["id"].as_u64().unwrap();
    let one = common::json_of(m.get(&format!("/__mockrig/requests/{id}")).await).await;
    assert_eq!(one["body"], json!({"item": "book"}));
    assert_eq!(one["response"]["status"], 201);
    assert_eq!(one["response"]["body"], json!({"ok": true}));
    assert_eq!(
        one["response"]["headers"]["content-type"],
        "application/json"
    );
    assert_eq!(one["response"]["truncated"], false);
    let gone = m.get("/__mockrig/requests/999").await;
    assert_eq!(gone.status(), 404);
    let body = common::json_of(gone).await;
    assert!(body["error"].as_str().unwrap().contains("journal"));
    let bad = m.get("/__mockrig/requests/x").await;
    assert_eq!(bad.status(), 404);
}

#[tokio::test]
async fn a_big_answer_is_kept_cut_at_the_journal_limit() {
    let big = "x".repeat(common::JOURNAL_BODY_LIMIT + 10);
    let spec = format!("routes:\n  - {{ path: /big, response: {{ text: \"{big}\" }} }}\n");
    let m = Mock::start(&spec, &[]);
    let _dashboard = Events::open(&m).await;
    assert_eq!(m.get("/big").await.text().await.unwrap().len(), big.len());
    let one = common::json_of(m.get("/__mockrig/requests/1").await).await;
    assert_eq!(one["response"]["truncated"], true);
    assert_eq!(
        one["response"]["body"].as_str().unwrap().len(),
        common::JOURNAL_BODY_LIMIT
    );
}

#[tokio::test]
async fn routes_say_where_they_were_written_and_how_often_they_answered() {
    let spec = format!("include: [more.yaml]\n{SPEC}");
    let more = "routes:\n  - path: /more\n    response: { text: more }\n";
    let m = Mock::start(&spec, &[("more.yaml", more.as_bytes())]);
    assert_eq!(m.post_json("/orders", &json!({})).await.status(), 201);
    for path in ["/todos", "/todos", "/todos/1"] {
        assert_eq!(m.get(path).await.status(), 200);
    }
    let stub = m
        .post_json(
            "/__mockrig/routes",
            &json!({"path": "/stubbed", "response": {"text": "s"}}),
        )
        .await;
    assert_eq!(stub.status(), 201);
    let routes = common::json_of(m.get("/__mockrig/routes").await).await;
    let find = |source: &str| {
        routes
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["source"] == source)
            .unwrap_or_else(|| panic!("no {source} in {routes}"))
            .clone()
    };
    let orders = find("routes[1]");
    // The main spec's name as reports give it, and the line of the item.
    assert!(
        orders["at"].as_str().unwrap().ends_with("api.yaml:9"),
        "{orders}"
    );
    assert!(
        orders["yaml"]
            .as_str()
            .unwrap()
            .starts_with("  - method: POST\n    path: /orders")
    );
    assert_eq!(orders["answers"], 1);
    assert_eq!(
        orders["scenario"],
        json!({"name": "checkout", "when": "started", "then": "paid"})
    );
    assert_eq!(orders["stub"], false);
    let more = find("more.yaml:routes[0]");
    assert!(
        more["at"].as_str().unwrap().ends_with("more.yaml:2"),
        "{more}"
    );
    assert_eq!(
        more["yaml"],
        "  - path: /more\n    response: { text: more }"
    );
    let todos = find("resources.todos");
    assert!(
        todos["at"].as_str().unwrap().ends_with("api.yaml:16"),
        "{todos}"
    );
    let stubbed = find("stubs[1]");
    assert_eq!(stubbed["stub"], true);
    assert_eq!(stubbed["stub_id"], 1);
    assert_eq!(stubbed["at"], Value::Null);
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(m: &Mock, path: &str) -> Ws {
    let url = m.url.replacen("http://", "ws://", 1) + path;
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_millis(300), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn a_push_reaches_a_channel_a_room_or_one_connection() {
    let m = Mock::start(
        "websockets:\n  - { path: \"/ws/rooms/{room}\", mode: broadcast }\nsse:\n  - { path: /feed }\n",
        &[],
    );
    let mut a1 = ws(&m, "/ws/rooms/a").await;
    let mut a2 = ws(&m, "/ws/rooms/a").await;
    let mut b = ws(&m, "/ws/rooms/b").await;
    let clients = common::eventually("three clients listed", WAIT, || async {
        let c = common::json_of(m.get("/__mockrig/connections").await).await;
        let list = c["clients"].as_array().unwrap().clone();
        (list.len() == 3).then_some(list)
    })
    .await;
    for c in &clients {
        assert_eq!(c["kind"], "websocket");
        assert_eq!(c["channel"], "/ws/rooms/{room}");
    }
    let send = |query: &str, body: Value| {
        let (c, url) = (
            m.client.clone(),
            m.at(&format!("/__mockrig/ws/send?{query}")),
        );
        async move {
            let r = c.post(url).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 200);
            common::json_of(r).await["delivered"].as_u64().unwrap()
        }
    };
    // The channel: every room.
    assert_eq!(send("channel=/ws/rooms/{room}", json!("all")).await, 3);
    for w in [&mut a1, &mut a2, &mut b] {
        assert_eq!(next_text(w).await.as_deref(), Some("all"));
    }
    // A room.
    assert_eq!(send("path=/ws/rooms/b", json!("room b")).await, 1);
    assert_eq!(next_text(&mut b).await.as_deref(), Some("room b"));
    // One connection: the first client of room a, by the id the list gives.
    let first_a = clients.iter().find(|c| c["path"] == "/ws/rooms/a").unwrap()["id"]
        .as_u64()
        .unwrap();
    assert_eq!(
        send(&format!("connection={first_a}"), json!({"to": "one"})).await,
        1
    );
    let (t1, t2) = (next_text(&mut a1).await, next_text(&mut a2).await);
    assert_eq!(
        [t1, t2].iter().flatten().collect::<Vec<_>>(),
        vec![r#"{"to":"one"}"#],
        "exactly one client of room a got it"
    );
    assert_eq!(next_text(&mut b).await, None);
    // Two targets at once, or none, is a question back.
    let r = m
        .client
        .post(m.at("/__mockrig/ws/send?path=/ws/rooms/a&connection=1"))
        .json(&json!("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // An SSE subscriber by its id.
    let mut feed = m.get("/feed").await;
    let id = common::eventually("the subscriber listed", WAIT, || async {
        let c = common::json_of(m.get("/__mockrig/connections").await).await;
        c["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "sse")
            .map(|c| c["id"].as_u64().unwrap())
    })
    .await;
    let r = m
        .client
        .post(m.at(&format!("/__mockrig/sse/send?connection={id}&event=note")))
        .json(&json!({"n": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(common::json_of(r).await["delivered"], 1);
    let mut text = String::new();
    while !text.contains("event: note") {
        let chunk = tokio::time::timeout(WAIT, feed.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(text.contains("data: {\"n\":1}"), "{text}");
    a1.close(None).await.unwrap();
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_asks_for_the_token_itself() {
    let (dir, spec) = {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("api.yaml");
        std::fs::write(&spec, SPEC).unwrap();
        (dir, spec)
    };
    let mut config = common::config(&spec);
    config.admin_token = Some("s3cret".into());
    let m = Mock::attach(mockrig::MockServer::with_config(config).unwrap());
    for (path, kind) in [
        ("/__mockrig/ui", "text/html"),
        ("/__mockrig/ui/app.js", "text/javascript"),
        ("/__mockrig/ui/app.css", "text/css"),
    ] {
        let r = m.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with(kind));
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(!r.text().await.unwrap().is_empty());
    }
    // The data behind it is not: the token decides.
    assert_eq!(m.get("/__mockrig/events").await.status(), 401);
    assert_eq!(m.get("/__mockrig/requests/1").await.status(), 401);
    let r = m
        .client
        .get(m.at("/__mockrig/events"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Nothing else sneaks past the page's exemption.
    assert_eq!(m.get("/__mockrig/ui/../status").await.status(), 401);
    assert_eq!(m.raw_status("/__mockrig/ui/x").await, 401);
    drop(dir);
}

#[tokio::test]
async fn without_a_token_the_page_keeps_the_host_and_origin_rules() {
    let m = Mock::start(SPEC, &[]);
    let r = m
        .client
        .get(m.at("/__mockrig/ui"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = m
        .client
        .get(m.at("/__mockrig/events"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(m.get("/__mockrig/ui").await.status(), 200);
}

#[tokio::test]
async fn the_stream_is_told_when_runtime_stubs_change_the_routes() {
    let m = Mock::start(SPEC, &[]);
    let mut events = Events::open(&m).await;
    let r = m
        .post_json(
            "/__mockrig/routes",
            &json!({"path": "/s", "response": {"text": "s"}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(events.next_named("routes").await, json!({}));
}

#[tokio::test]
async fn lists_for_the_page_are_summaries_named_by_session_and_bounded() {
    let m = Mock::start(SPEC, &[]);
    for _ in 0..3 {
        assert_eq!(m.get("/todos").await.status(), 200);
    }
    for _ in 0..2 {
        let r = m
            .client
            .get(m.at("/todos/1"))
            .header("X-Mockrig-Session", "alice")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let alice = common::json_of(
        m.get("/__mockrig/requests?session=alice&summary=true&limit=1")
            .await,
    )
    .await;
    let list = alice["requests"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{alice}");
    // The latest, named by its session, without what a row does not show.
    assert_eq!(list[0]["id"], 2);
    assert_eq!(list[0]["session"], "alice");
    assert!(list[0].get("headers").is_none() && list[0].get("response").is_none());
    let one = common::json_of(m.get("/__mockrig/requests/2?session=alice").await).await;
    assert_eq!(one["session"], "alice");
    assert_eq!(one["path"], "/todos/1");
    let shared = common::json_of(m.get("/__mockrig/requests").await).await;
    assert_eq!(shared["requests"].as_array().unwrap().len(), 3);
    assert_eq!(shared["requests"][0]["session"], Value::Null);
    assert!(shared["requests"][0].get("response").is_some());
}

#[tokio::test]
async fn a_channel_push_reaches_only_that_channels_clients_on_a_shared_path() {
    let m = Mock::start(
        "websockets:\n  - { path: \"/ws/{*rest}\", mode: silent }\n",
        &[],
    );
    let mut rest = ws(&m, "/ws/a").await;
    std::fs::write(
        m.dir.path().join("api.yaml"),
        "websockets:\n  - { path: \"/ws/{room}\", mode: silent }\n  - { path: \"/ws/{*rest}\", mode: silent }\n",
    )
    .unwrap();
    common::eventually("the reload", WAIT, || async {
        let r = common::json_of(m.get("/__mockrig/routes").await).await;
        (r.as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    let mut room = ws(&m, "/ws/a").await;
    common::eventually("both clients listed", WAIT, || async {
        let c = common::json_of(m.get("/__mockrig/connections").await).await;
        (c["clients"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    let r = m
        .client
        .post(m.at("/__mockrig/ws/send?channel=/ws/{room}"))
        .json(&json!("to rooms"))
        .send()
        .await
        .unwrap();
    assert_eq!(common::json_of(r).await["delivered"], 1);
    assert_eq!(next_text(&mut room).await.as_deref(), Some("to rooms"));
    assert_eq!(next_text(&mut rest).await, None);
}

#[tokio::test]
async fn a_dashboard_that_never_reads_holds_up_nobody() {
    let m = Mock::start(SPEC, &[]);
    // Opened and never read again.
    let _stalled: Vec<reqwest::Response> = futures_util::future::join_all(
        (0..20).map(|_| m.client.get(m.at("/__mockrig/events")).send()),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let mut events = Events::open(&m).await;
    const N: usize = 600;
    for _ in 0..N {
        assert_eq!(m.get("/todos/1").await.status(), 200);
    }
    let (mut shown, mut dropped) = (0, 0);
    while shown + dropped < N {
        let batch = events.next_named("requests").await;
        shown += batch["requests"].as_array().unwrap().len();
        dropped += batch["dropped"].as_u64().unwrap() as usize;
    }
    assert_eq!(shown + dropped, N);
}
