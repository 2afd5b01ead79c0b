//! Dynamic behaviour over real sockets: templates and their functions, `--seed`, sequences,
//! scenarios, delays, faults seen from the client side, throttled bodies, CORS header by
//! header, content negotiation and conditional GET.

use std::time::{Duration, Instant};

use crate::common::{Mock, json_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server with `--seed` (or none), from YAML written to a temporary folder.
fn seeded(yaml: &str, seed: Option<u64>) -> Mock {
    Mock::with(yaml, &[], |config| config.seed = seed)
}

const TEMPLATES: &str = r#"
routes:
  - path: /hello
    response: { text: "Hello {{ request.query.name }}" }
  - method: POST
    path: /users/{id}
    response:
      status: 201
      headers:
        Location: "/users/{{ request.params.id }}"
        X-Echo: "{{ request.headers['x-trace'] }}"
      body:
        id: "{{ request.params.id | int }}"
        name: "{{ request.body.name }}"
        tags: "{{ request.body.tags }}"
        method: "{{ request.method }}"
        path: "{{ request.path }}"
        session: "{{ request.cookies.session }}"
        greeting: "hi {{ request.body.name | upper }}"
        fixed: [1, "two"]
  - method: POST
    path: /form
    response: { body: { user: "{{ request.body.user }}" } }
  - method: POST
    path: /raw
    response: { text: "got {{ request.body }}" }
  - path: /fake
    response:
      body:
        id: "{{ uuid() }}"
        n: "{{ random_int(1, 6) }}"
        name: "{{ fake.name() }}"
        email: "{{ fake.email() }}"
        sentence: "{{ fake.sentence() }}"
        today: "{{ now('%Y-%m-%d') }}"
        at: "{{ now() }}"
        pick: "{{ choice(['a', 'b']) }}"
  - path: /broken
    response: { text: "{{ random_int(9, 1) }}" }
"#;

#[tokio::test]
async fn templates_read_the_request_and_keep_json_types() {
    let m = Mock::start(TEMPLATES, &[]);
    let r = m.get("/hello?name=Ada").await;
    assert_eq!(r.text().await.unwrap(), "Hello Ada");
    // What the request lacks is empty, not an error.
    let r = m.get("/hello").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "Hello ");

    let r = m
        .client
        .post(m.at("/users/42"))
        .header("x-trace", "t-1")
        .header("cookie", "session=s-9")
        .json(&json!({"name": "Grace", "tags": ["a", "b"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["location"], "/users/42");
    assert_eq!(r.headers()["x-echo"], "t-1");
    assert_eq!(
        json_of(r).await,
        json!({
            "id": 42, "name": "Grace", "tags": ["a", "b"], "method": "POST",
            "path": "/users/42", "session": "s-9", "greeting": "hi GRACE", "fixed": [1, "two"]
        })
    );

    let r = m
        .client
        .post(m.at("/form"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=ada&x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await, json!({"user": "ada"}));
    let r = m
        .client
        .post(m.at("/raw"))
        .body("plain words")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "got plain words");
}

#[tokio::test]
async fn functions_and_fake_data() {
    let m = Mock::start(TEMPLATES, &[]);
    let v = json_of(m.get("/fake").await).await;
    let id = uuid::Uuid::parse_str(v["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 4);
    let n = v["n"].as_i64().expect("a number, not text");
    assert!((1..=6).contains(&n));
    assert!(v["name"].as_str().unwrap().contains(' '), "{v}");
    assert!(v["email"].as_str().unwrap().contains('@'), "{v}");
    assert!(v["sentence"].as_str().unwrap().len() > 5, "{v}");
    let today = v["today"].as_str().unwrap();
    assert_eq!(today.len(), 10);
    assert!(v["at"].as_str().unwrap().starts_with(today));
    assert!(["a", "b"].contains(&v["pick"].as_str().unwrap()));
    let again = json_of(m.get("/fake").await).await;
    assert_ne!(v["id"], again["id"], "a new uuid per response");
}

#[tokio::test]
async fn a_template_that_fails_answers_500_naming_the_route() {
    let m = Mock::start(TEMPLATES, &[]);
    let r = m.get("/broken").await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let v = json_of(r).await;
    assert_eq!(v["route"], "routes[5]");
    assert!(v["reason"].as_str().unwrap().contains("random_int"), "{v}");
}

/// Client-sent numbers that would make a template allocate without bound (an `indent` or a
/// `format` width, a repeated string written again and again) answer 500 with the reason; the
/// process serves on. The budget is `--max-template-bytes`.
#[tokio::test]
async fn a_template_cannot_allocate_without_bound() {
    let spec = r#"
routes:
  - path: /indent
    response: { text: "{{ 'a' | indent(request.query.w | int) }}" }
  - path: /format
    response: { text: "{{ ('%.' ~ request.query.w ~ 'f') | format(1.5) }}" }
  - path: /width
    response: { body: { v: "{{ ('%' ~ request.query.w ~ 's') | format('x') }}" } }
  - path: /repeat
    response: { text: "{% for i in range(50) %}{{ 'x' * 10000000 }}{% endfor %}" }
  - path: /json
    response: { text: "{{ range(1000) | list | tojson(indent=request.query.w | int) }}" }
  - path: /small
    response: { text: "{{ 'x' * (request.query.n | int) }}" }
"#;
    let m = Mock::with(spec, &[], |c| c.limits.max_template_bytes = 1024 * 1024);
    for path in [
        "/indent?w=100000000000",
        "/format?w=100000000000",
        "/width?w=100000000000",
        "/repeat",
        "/json?w=100000000",
    ] {
        let started = Instant::now();
        let r = m.get(path).await;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        let v = json_of(r).await;
        let reason = v["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("template budget of 1048576 bytes"),
            "{path}: {v}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path} took long"
        );
    }
    // Within the budget, the same templates answer.
    assert_eq!(m.get("/indent?w=2").await.text().await.unwrap(), "a");
    assert_eq!(m.get("/format?w=2").await.text().await.unwrap(), "1.50");
    assert_eq!(
        json_of(m.get("/width?w=3").await).await,
        serde_json::json!({"v": "  x"})
    );
    let r = m.get("/small?n=1000000").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap().len(), 1_000_000);
    let r = m.get("/small?n=1048577").await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_seed_gives_the_same_values_in_every_run() {
    let spec = r#"
routes:
  - path: /person
    response: { body: { name: "{{ fake.name() }}", id: "{{ uuid() }}", n: "{{ random_int(1, 1000000) }}" } }
  - path: /other
    response: { body: { n: "{{ random_int(1, 1000000) }}" } }
  - path: /coin
    responses: [ { text: heads }, { text: tails } ]
    sequence: random
"#;
    async fn run(m: &Mock, touch_other: bool) -> Vec<Value> {
        let mut out = Vec::new();
        for i in 0..3 {
            if touch_other && i == 1 {
                // Another route answering in between changes nothing for this one.
                m.get("/other").await;
            }
            out.push(json_of(m.get("/person").await).await);
            out.push(json!(m.get("/coin").await.text().await.unwrap()));
        }
        out
    }
    let a = run(&seeded(spec, Some(42)), false).await;
    let b = run(&seeded(spec, Some(42)), true).await;
    assert_eq!(a, b, "the same seed, the same data");
    assert_ne!(a[0], a[2], "each answer has its own values");
    let c = run(&seeded(spec, Some(7)), false).await;
    assert_ne!(a, c, "another seed, other data");
    let unseeded = seeded(spec, None);
    assert_ne!(
        run(&unseeded, false).await,
        run(&seeded(spec, None), false).await
    );
}

const SEQUENCES: &str = r#"
routes:
  - method: POST
    path: /pay
    responses:
      - { status: 503, body: { error: busy } }
      - { status: 503, body: { error: busy } }
      - { status: 200, body: { paid: true } }
  - path: /light
    sequence: cycle
    responses: [ { text: red }, { text: green } ]
  - path: /flaky
    sequence: random
    responses:
      - { text: ok, weight: 3 }
      - { status: 500, text: boom, weight: 1 }
"#;

async fn statuses(m: &Mock, session: Option<&str>, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut r = m.client.post(m.at("/pay"));
        if let Some(s) = session {
            r = r.header("x-mockrig-session", s);
        }
        out.push(r.send().await.unwrap().status().as_u16());
    }
    out
}

#[tokio::test]
async fn sequences_last_cycle_and_random() {
    let m = seeded(SEQUENCES, Some(1));
    assert_eq!(statuses(&m, None, 5).await, [503, 503, 200, 200, 200]);
    let mut lights = Vec::new();
    for _ in 0..5 {
        lights.push(m.get("/light").await.text().await.unwrap());
    }
    assert_eq!(lights, ["red", "green", "red", "green", "red"]);
    let mut ok = 0;
    for _ in 0..200 {
        if m.get("/flaky").await.status() == StatusCode::OK {
            ok += 1;
        }
    }
    // Weights 3:1, so about 150 of 200; far from both 100 and 200.
    assert!((120..=180).contains(&ok), "{ok} of 200 answered ok");

    // A session counts on its own; a reset starts the shared counts over.
    assert_eq!(statuses(&m, Some("t1"), 3).await, [503, 503, 200]);
    let r = m
        .client
        .post(m.at("/__mockrig/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(statuses(&m, None, 3).await, [503, 503, 200]);
    assert_eq!(m.get("/light").await.text().await.unwrap(), "red");
}

#[tokio::test]
async fn a_reload_keeps_the_count_of_an_unchanged_route() {
    let m = Mock::start(SEQUENCES, &[]);
    assert_eq!(statuses(&m, None, 1).await, [503]);
    let spec = format!("{SEQUENCES}  - {{ path: /new, response: {{ text: new }} }}\n");
    std::fs::write(m.dir.path().join("api.yaml"), spec).unwrap();
    let r = m
        .client
        .post(m.at("/__mockrig/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(m.get("/new").await.text().await.unwrap(), "new");
    assert_eq!(
        statuses(&m, None, 2).await,
        [503, 200],
        "the second 503 was already given"
    );
}

const CART: &str = r#"
routes:
  - path: /cart
    scenario: checkout
    when: started
    response: { body: { items: [] } }
  - path: /cart
    scenario: checkout
    when: has_items
    response: { body: { items: [book] } }
  - method: POST
    path: /cart/items
    scenario: checkout
    then: has_items
    response: { status: 201 }
  - method: POST
    path: /checkout
    scenario: checkout
    when: has_items
    then: paid
    response: { body: { order: "o-1" } }
  - path: /cart
    scenario: checkout
    when: paid
    response: { body: { items: [], paid: true } }
"#;

#[tokio::test]
async fn scenarios_move_between_states() {
    let m = Mock::start(CART, &[]);
    let scenarios = || async { json_of(m.get("/__mockrig/scenarios").await).await };
    assert_eq!(
        scenarios().await,
        json!({"scenarios": {"checkout": {"state": "started", "states": ["started", "has_items", "paid"]}}})
    );
    assert_eq!(json_of(m.get("/cart").await).await, json!({"items": []}));
    // Checkout waits for has_items: a 404 that says why.
    let r = m.client.post(m.at("/checkout")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let miss = json_of(r).await;
    assert_eq!(
        miss["near_misses"][0]["failed"][0],
        json!({"criterion": "scenario.checkout", "expected": "has_items", "actual": "started"})
    );
    let r = m.client.post(m.at("/cart/items")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        json_of(m.get("/cart").await).await,
        json!({"items": ["book"]})
    );
    let r = m.client.post(m.at("/checkout")).send().await.unwrap();
    assert_eq!(json_of(r).await, json!({"order": "o-1"}));
    assert_eq!(
        json_of(m.get("/cart").await).await,
        json!({"items": [], "paid": true})
    );
    assert_eq!(scenarios().await["scenarios"]["checkout"]["state"], "paid");

    // A session has its own state.
    let r = m
        .client
        .get(m.at("/cart"))
        .header("x-mockrig-session", "other")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await, json!({"items": []}));

    // Set by hand, to start a test half-way; reset restores.
    let r = m
        .client
        .put(m.at("/__mockrig/scenarios/checkout"))
        .json(&json!({"state": "has_items"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        json_of(m.get("/cart").await).await,
        json!({"items": ["book"]})
    );
    let r = m
        .client
        .put(m.at("/__mockrig/scenarios/nope"))
        .json(&json!({"state": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    m.client
        .post(m.at("/__mockrig/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        scenarios().await["scenarios"]["checkout"]["state"],
        "started"
    );
}

#[tokio::test]
async fn delay_ranges_wait_within_them_without_blocking_others() {
    let m = seeded(
        r#"
server:
  delay: 20ms
routes:
  - path: /slow
    response: { text: slow, delay: 300ms..500ms }
  - path: /default
    response: { text: default }
"#,
        Some(3),
    );
    let slow = async {
        let started = Instant::now();
        let r = m.get("/slow").await;
        assert_eq!(r.text().await.unwrap(), "slow");
        started.elapsed()
    };
    // On a single worker: the fast request finishes while the slow one waits.
    let fast = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        m.get("/default").await;
        started.elapsed()
    };
    let (slow, fast) = tokio::join!(slow, fast);
    assert!(slow >= Duration::from_millis(300), "{slow:?}");
    assert!(slow < Duration::from_millis(1500), "{slow:?}");
    assert!(
        fast >= Duration::from_millis(20),
        "the server's default delay: {fast:?}"
    );
    assert!(
        fast < Duration::from_millis(250),
        "not blocked by the slow one: {fast:?}"
    );
}

const FAULTS: &str = r#"
routes:
  - path: /reset
    response: { fault: reset }
  - path: /empty
    response: { fault: empty, headers: { X-Partial: "yes" }, body: { will: "never arrive" } }
  - path: /malformed
    response: { fault: malformed }
  - path: /slow
    response: { text: "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz", throttle: 200B/s }
  - path: /ok
    response: { text: fine }
"#;

/// Sends a GET on a fresh connection and reads until the server is done with it.
async fn raw_get(m: &Mock, path: &str) -> (Vec<u8>, Option<std::io::ErrorKind>) {
    let addr = m.url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the server ends the connection")
        {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(e.kind())),
        }
    }
}

#[tokio::test]
async fn faults_are_seen_by_the_client() {
    let m = Mock::start(FAULTS, &[]);
    let (got, err) = raw_get(&m, "/reset").await;
    assert!(got.is_empty(), "no response at all: {got:?}");
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));

    let (got, err) = raw_get(&m, "/empty").await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(err, None);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("x-partial: yes\r\n"), "{text}");
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("a length");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(body.len() < length, "the body never comes: {text:?}");

    let (got, _) = raw_get(&m, "/malformed").await;
    assert!(!got.is_empty() && !got.starts_with(b"HTTP/"), "{got:?}");

    // The same, through an HTTP client: an error, never a response.
    assert!(m.client.get(m.at("/reset")).send().await.is_err());
    let r = m.client.get(m.at("/empty")).send().await.unwrap();
    assert_eq!(r.headers()["x-partial"], "yes");
    assert!(r.bytes().await.is_err(), "the body is cut off");
    assert!(m.client.get(m.at("/malformed")).send().await.is_err());
    // The server is fine afterwards.
    assert_eq!(m.get("/ok").await.text().await.unwrap(), "fine");
    // The journal says which fault each got.
    let v = json_of(m.get("/__mockrig/requests?path=/reset").await).await;
    assert_eq!(v["requests"][0]["fault"], "reset");
}

#[tokio::test]
async fn a_throttled_body_arrives_slowly_in_chunks() {
    let m = Mock::start(FAULTS, &[]);
    let started = Instant::now();
    let mut r = m.get("/slow").await;
    assert_eq!(
        r.headers()["content-length"],
        "72",
        "the length is known up front"
    );
    let mut chunks = 0;
    let mut body = Vec::new();
    while let Some(c) = r.chunk().await.unwrap() {
        chunks += 1;
        body.extend_from_slice(&c);
    }
    let took = started.elapsed();
    assert_eq!(body.len(), 72);
    assert!(chunks >= 4, "{chunks} chunks");
    // 72 bytes at 200 B/s: 20 bytes every 100 ms, about 0.3 s.
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

const CORS: &str = r#"
server:
  cors: true
routes:
  - method: POST
    path: /orders
    response:
      status: 201
      headers: { X-Order: o-1, Set-Cookie: "sid=1; Path=/" }
      body: { ok: true }
  - method: OPTIONS
    path: /custom
    response: { status: 200, text: mine }
  - method: OPTIONS
    path: /guarded
    match: { headers: { X-Probe: "yes" } }
    response: { status: 200, text: probe }
"#;

#[tokio::test]
async fn cors_preflight_and_actual_request_header_by_header() {
    let m = Mock::start(CORS, &[]);
    let origin = "http://app.localhost:5173";
    let r = m
        .client
        .request(reqwest::Method::OPTIONS, m.at("/orders"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, x-api-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-methods"], "POST");
    assert_eq!(h["access-control-allow-headers"], "content-type, x-api-key");
    assert_eq!(h["vary"], "Origin");
    assert!(h.get("access-control-max-age").is_none());

    let r = m
        .client
        .post(m.at("/orders"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["vary"], "Origin");
    let exposed = h["access-control-expose-headers"].to_str().unwrap();
    assert!(
        exposed.contains("x-order") && exposed.contains("etag") == h.contains_key("etag"),
        "{exposed}"
    );
    assert!(
        !exposed.contains("content-type"),
        "safelisted headers need no exposing: {exposed}"
    );

    // No Origin, no CORS headers (but the answer still varies by Origin).
    let r = m.client.post(m.at("/orders")).send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert_eq!(r.headers()["vary"], "Origin");
    // Even a 404 carries them, so the page can read the error.
    let r = m
        .client
        .get(m.at("/nope"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["access-control-allow-origin"], origin);
    // A route that declares OPTIONS answers its own preflights.
    let r = m
        .client
        .request(reqwest::Method::OPTIONS, m.at("/custom"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "mine");
    // One whose `match` does not hold leaves the preflight to CORS.
    let r = m
        .client
        .request(reqwest::Method::OPTIONS, m.at("/guarded"))
        .header("origin", origin)
        .header("access-control-request-method", "PUT")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["access-control-allow-methods"], "PUT");
    // mockrig's own endpoints are not for other origins.
    let r = m
        .client
        .get(m.at("/__mockrig/requests"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_detailed_policy() {
    let m = Mock::start(
        r#"
server:
  cors:
    origins: [ "http://allowed.test" ]
    methods: [ GET, POST ]
    headers: [ X-Api-Key ]
    expose: [ X-Total ]
    max_age: 600
    credentials: false
routes:
  - { path: /items, response: { headers: { X-Total: "3", X-Hidden: h }, body: [] } }
"#,
        &[],
    );
    let preflight = |origin: &'static str| {
        m.client
            .request(reqwest::Method::OPTIONS, m.at("/items"))
            .header("origin", origin)
            .header("access-control-request-method", "DELETE")
            .header("access-control-request-private-network", "true")
            .send()
    };
    let r = preflight("http://allowed.test").await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "http://allowed.test");
    assert_eq!(h["access-control-allow-methods"], "GET, POST");
    assert_eq!(h["access-control-allow-headers"], "X-Api-Key");
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(h["access-control-allow-private-network"], "true");
    assert!(h.get("access-control-allow-credentials").is_none());
    let r = preflight("http://evil.test").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let r = m
        .client
        .get(m.at("/items"))
        .header("origin", "http://allowed.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-expose-headers"], "X-Total");
    let r = m
        .client
        .get(m.at("/items"))
        .header("origin", "http://evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the answer itself is given; the browser withholds it"
    );
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

const NEGOTIATION: &str = r#"
routes:
  - path: /report
    content:
      json: { body: { total: 3 } }
      xml: { text: "<report><total>3</total></report>" }
      text/csv: { text: "total\n3\n" }
  - path: /static
    response: { body: { v: 1 } }
"#;

#[tokio::test]
async fn content_is_negotiated_by_accept() {
    let m = Mock::start(NEGOTIATION, &[]);
    let get = |accept: Option<&'static str>| {
        let mut r = m.client.get(m.at("/report"));
        if let Some(a) = accept {
            r = r.header("accept", a);
        }
        r.send()
    };
    let r = get(None).await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["vary"], "Accept");
    assert_eq!(json_of(r).await, json!({"total": 3}));
    let r = get(Some("application/xml")).await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/xml");
    assert!(r.text().await.unwrap().starts_with("<report>"));
    let r = get(Some("text/csv;q=0.9, application/json;q=0.5"))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let r = get(Some("image/png")).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        json_of(r).await["available"],
        json!(["application/json", "application/xml", "text/csv"])
    );
}

#[tokio::test]
async fn fixed_bodies_have_an_etag_and_answer_304() {
    let m = Mock::start(NEGOTIATION, &[]);
    let r = m.get("/static").await;
    let tag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
    let again = Mock::start(NEGOTIATION, &[]);
    assert_eq!(
        again.get("/static").await.headers()["etag"],
        tag.as_str(),
        "the same in every run"
    );
    for value in [
        tag.clone(),
        format!("W/{tag}"),
        "\"other\", ".to_owned() + &tag,
        "*".into(),
    ] {
        let r = m
            .client
            .get(m.at("/static"))
            .header("if-none-match", value.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{value}");
        assert_eq!(r.headers()["etag"], tag.as_str());
        assert!(r.bytes().await.unwrap().is_empty());
    }
    let r = m
        .client
        .get(m.at("/static"))
        .header("if-none-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn sse_and_websocket_messages_use_templates_too() {
    use futures_util::StreamExt;
    let m = seeded(
        r#"
sse:
  - path: /feed/{topic}
    events:
      - { data: { topic: "{{ params.topic }}", n: "{{ counter }}", who: "{{ request.query.user }}" } }
      - { data: "event {{ counter }} for {{ request.query.user }}" }
websockets:
  - path: /ws/bot
    mode: silent
    replies:
      - { match: name, send: { json: { name: "{{ fake.first_name() }}", n: "{{ counter }}" } } }
"#,
        Some(5),
    );
    let mut r = m.get("/feed/news?user=ada").await;
    let mut text = String::new();
    while !text.contains("event 2 for ada") {
        let c = tokio::time::timeout(Duration::from_secs(5), r.chunk())
            .await
            .unwrap()
            .unwrap()
            .expect("open");
        text.push_str(std::str::from_utf8(&c).unwrap());
    }
    assert!(
        text.contains("data: {\"topic\":\"news\",\"n\":1,\"who\":\"ada\"}\n"),
        "{text}"
    );

    let url = m.url.replacen("http://", "ws://", 1) + "/ws/bot";
    let mut names = Vec::new();
    for _ in 0..2 {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        futures_util::SinkExt::send(
            &mut ws,
            tokio_tungstenite::tungstenite::Message::text("name"),
        )
        .await
        .unwrap();
        let msg = loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .unwrap()
            {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => break t.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("{other:?}"),
            }
        };
        names.push(serde_json::from_str::<Value>(&msg).unwrap());
    }
    assert_eq!(names[0]["n"], 1);
    assert_eq!(
        names[0], names[1],
        "seeded: the same first reply on the same path"
    );
}

#[tokio::test]
async fn a_seeded_answer_that_waits_is_not_disturbed_by_others_meanwhile() {
    let spec = r#"
routes:
  - path: /slow
    response: { delay: 300ms, body: { name: "{{ fake.name() }}", n: "{{ random_int(1, 1000000) }}" } }
  - path: /busy
    response: { body: { n: "{{ random_int(1, 1000000) }}" } }
"#;
    let alone = {
        let m = seeded(spec, Some(9));
        json_of(m.get("/slow").await).await
    };
    let m = seeded(spec, Some(9));
    let slow = async {
        let v = json_of(m.get("/slow").await).await;
        (v, Instant::now())
    };
    // The same worker answers these while /slow waits.
    let busy = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        for _ in 0..5 {
            m.get("/busy").await;
        }
        Instant::now()
    };
    let ((with_others, slow_done), busy_done) = tokio::join!(slow, busy);
    assert!(busy_done < slow_done, "the others drew while /slow waited");
    assert_eq!(alone, with_others);
}
