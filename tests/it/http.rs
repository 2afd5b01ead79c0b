//! Routes, responses, matching and fall-through, against a live server over real sockets.

use crate::common::Mock;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SPEC: &str = r#"
routes:
  - { method: GET, path: /json, response: { body: { ok: true, items: [1, 2] } } }
  - { method: GET, path: /text, response: { text: hello } }
  - method: GET
    path: /html
    response: { headers: { Content-Type: text/html }, text: "<h1>About</h1>" }
  - { method: GET, path: /empty, response: { status: 204 } }
  - { method: POST, path: /created, response: { status: 201, body: { id: 3 } } }
  - { method: GET, path: /moved, response: { status: 301, headers: { Location: /json } } }
  - { method: GET, path: /teapot, response: { status: 418, text: "I'm a teapot" } }
  - { method: GET, path: /down, response: { status: 503, body: { error: down } } }
  - { method: GET, path: /gone, response: { status: 404, body: { error: gone } } }
  - method: GET
    path: /cookies
    response:
      headers:
        Set-Cookie: ["a=1; Path=/", "b=2; Path=/"]
        X-Count: 3
        X-Flag: true
      text: two cookies
  - { method: GET, path: /logo, response: { file: fixtures/logo.png } }
  - { method: GET, path: "/files/{*rest}", response: { file: fixtures/data.json, status: 202 } }
"#;

fn mock() -> Mock {
    Mock::start(
        SPEC,
        &[
            ("fixtures/logo.png", b"\x89PNG\r\n\x1a\nnot really"),
            ("fixtures/data.json", br#"{"from":"file"}"#),
        ],
    )
}

fn content_type(r: &reqwest::Response) -> String {
    r.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_response_kind() {
    let m = mock();
    let r = m.get("/json").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(content_type(&r), "application/json");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"ok": true, "items": [1, 2]})
    );

    let r = m.get("/text").await;
    assert_eq!(content_type(&r), "text/plain; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), "hello");

    let r = m.get("/html").await;
    assert_eq!(
        content_type(&r),
        "text/html",
        "the spec's Content-Type wins"
    );
    assert_eq!(r.text().await.unwrap(), "<h1>About</h1>");

    let r = m.get("/logo").await;
    assert_eq!(content_type(&r), "image/png");
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        b"\x89PNG\r\n\x1a\nnot really"
    );

    let r = m.get("/files/any/depth.txt").await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "a file body keeps the route's status"
    );
    assert_eq!(content_type(&r), "application/json");
    assert_eq!(r.text().await.unwrap(), r#"{"from":"file"}"#);

    let r = m.get("/empty").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn status_codes() {
    let m = mock();
    for (method, path, status) in [
        ("GET", "/json", 200),
        ("POST", "/created", 201),
        ("GET", "/empty", 204),
        ("GET", "/moved", 301),
        ("GET", "/gone", 404),
        ("GET", "/teapot", 418),
        ("GET", "/down", 503),
    ] {
        let r = m
            .client
            .request(method.parse().unwrap(), m.at(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
    }
    let r = m.get("/moved").await;
    assert_eq!(r.headers()["location"], "/json");
}

#[tokio::test]
async fn headers_including_repeated_ones() {
    let m = mock();
    let r = m.get("/cookies").await;
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, vec!["a=1; Path=/", "b=2; Path=/"]);
    assert_eq!(r.headers()["x-count"], "3");
    assert_eq!(r.headers()["x-flag"], "true");
}

#[tokio::test]
async fn head_options_404_405() {
    let m = mock();
    let r = m.client.head(m.at("/json")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-length"],
        "25",
        "HEAD announces the GET body's length"
    );
    assert!(r.bytes().await.unwrap().is_empty(), "HEAD has no body");

    let r = m
        .client
        .request(reqwest::Method::OPTIONS, m.at("/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["allow"], "GET, HEAD, OPTIONS");

    let r = m.client.delete(m.at("/json")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET, HEAD, OPTIONS");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["allowed"], json!(["GET", "HEAD", "OPTIONS"]));

    let r = m.get("/nothing/here").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(content_type(&r), "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "no route matched");
    assert_eq!(body["method"], "GET");
    assert_eq!(body["path"], "/nothing/here");
    assert!(!body["near_misses"].as_array().unwrap().is_empty());
}

const MATCHING: &str = r#"
routes:
  - method: GET
    path: /items/special
    match: { query: { mode: vip } }
    response: { body: { item: special } }
  - { method: GET, path: "/items/{*rest}", response: { body: { item: rest } } }
  - { method: GET, path: "/items/{id}", response: { body: { item: by-id } } }
  - method: GET
    path: /search
    match: { query: { q: ada, page: 2 } }
    response: { body: { hit: page-2 } }
  - method: GET
    path: /search
    match: { query: { q: ada } }
    response: { body: { hit: first } }
  - method: GET
    path: /search
    match: { query: { q: ada } }
    response: { body: { hit: shadowed } }
  - method: GET
    path: /secure
    match: { headers: { X-Api-Key: secret } }
    response: { body: { access: granted } }
  - { method: GET, path: /secure, response: { status: 401, body: { access: denied } } }
  - method: GET
    path: /me
    match: { cookies: { session: s-1 } }
    response: { body: { name: admin } }
  - method: POST
    path: /login
    match: { body: { user: { name: admin }, roles: [ops] } }
    response: { body: { token: abc } }
  - { method: POST, path: /login, response: { status: 401, body: { error: invalid } } }
  - { method: ANY, path: /any, response: { text: any } }
"#;

#[tokio::test]
async fn specificity_then_order_then_fall_through() {
    let m = Mock::start(MATCHING, &[]);
    let item = |v: Value| v["item"].as_str().unwrap().to_owned();
    // The static segment wins although it is declared first here and later paths are broader.
    let r = m.get("/items/special?mode=vip").await;
    assert_eq!(item(r.json().await.unwrap()), "special");
    // Its match fails: the next less specific path, the parameter, answers.
    let r = m.get("/items/special").await;
    assert_eq!(item(r.json().await.unwrap()), "by-id");
    // A parameter beats the catch-all that is declared before it.
    let r = m.get("/items/7").await;
    assert_eq!(item(r.json().await.unwrap()), "by-id");
    let r = m.get("/items/7/parts").await;
    assert_eq!(item(r.json().await.unwrap()), "rest");
}

#[tokio::test]
async fn first_match_wins_among_equal_paths() {
    let m = Mock::start(MATCHING, &[]);
    let hit = |v: Value| v["hit"].as_str().unwrap().to_owned();
    assert_eq!(
        hit(m.get("/search?q=ada&page=2").await.json().await.unwrap()),
        "page-2"
    );
    assert_eq!(
        hit(m.get("/search?page=3&q=ada").await.json().await.unwrap()),
        "first"
    );
    assert_eq!(
        hit(m.get("/search?q=ada").await.json().await.unwrap()),
        "first"
    );
    // Every query condition failed and no other path fits: a 404 that says why.
    let r = m.get("/search?q=bob").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    let first = &body["near_misses"][0];
    assert_eq!(first["path"], "/search");
    assert_eq!(first["failed"][0]["criterion"], "query.q");
    assert_eq!(first["failed"][0]["expected"], "ada");
    assert_eq!(first["failed"][0]["actual"], "bob");
}

#[tokio::test]
async fn header_cookie_and_body_matching() {
    let m = Mock::start(MATCHING, &[]);
    let r = m
        .client
        .get(m.at("/secure"))
        .header("x-api-key", "secret")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "header names are case-insensitive"
    );
    let r = m
        .client
        .get(m.at("/secure"))
        .header("X-API-KEY", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = m
        .client
        .get(m.at("/me"))
        .header("cookie", "theme=dark; session=s-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = m
        .client
        .get(m.at("/me"))
        .header("cookie", "session=s-2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["near_misses"][0]["failed"][0]["criterion"],
        "cookies.session"
    );
    assert_eq!(body["near_misses"][0]["failed"][0]["actual"], "s-2");

    let login = |body: Value| m.client.post(m.at("/login")).json(&body).send();
    let ok = json!({"user": {"name": "admin", "id": 1}, "roles": ["dev", "ops"], "extra": 1});
    assert_eq!(login(ok).await.unwrap().status(), StatusCode::OK);
    let wrong = json!({"user": {"name": "bob"}, "roles": ["ops"]});
    assert_eq!(
        login(wrong).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let not_json = m.client.post(m.at("/login")).body("user=admin").send();
    assert_eq!(not_json.await.unwrap().status(), StatusCode::UNAUTHORIZED);

    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        let r = m
            .client
            .request(method.parse().unwrap(), m.at("/any"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "any", "{method} /any");
    }
}

#[tokio::test]
async fn near_misses_name_the_failed_criterion() {
    let m = Mock::start(MATCHING, &[]);
    let r = m
        .client
        .post(m.at("/login"))
        .json(&json!({"user": {"name": "root"}}))
        .send()
        .await
        .unwrap();
    // The catch-all POST /login answers 401, so ask a path with no fallback instead.
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = m.get("/secur").await;
    let body: Value = r.json().await.unwrap();
    let first = &body["near_misses"][0];
    assert_eq!(
        first["path"], "/secure",
        "a typo ranks its intended route first: {body}"
    );
    assert_eq!(first["failed"][0]["criterion"], "path");
    assert_eq!(first["failed"][0]["expected"], "secure");
    assert_eq!(first["failed"][0]["actual"], "secur");
}

#[tokio::test]
async fn percent_encoding_and_trailing_slash() {
    let m = Mock::start(
        r#"
routes:
  - { path: "/a b/{id}", response: { text: spaced } }
  - { path: /users, response: { text: users } }
"#,
        &[],
    );
    assert_eq!(m.get("/a%20b/1").await.text().await.unwrap(), "spaced");
    assert_eq!(m.get("/users/").await.text().await.unwrap(), "users");
}

#[tokio::test]
async fn oversized_body_gets_413_json() {
    let m = Mock::start(
        "routes: [{ method: POST, path: /up, response: { text: ok } }]",
        &[],
    );
    let r = m
        .client
        .post(m.at("/up"))
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "request body too large");
}

#[tokio::test]
async fn delays_wait_without_blocking_others() {
    let m = Mock::start(
        r#"
routes:
  - { path: /slow, response: { text: slow, delay: 300ms } }
  - { path: /fast, response: { text: fast } }
"#,
        &[],
    );
    let started = std::time::Instant::now();
    let slow = m.get("/slow");
    let fast = async {
        let r = m.get("/fast").await;
        (r.text().await.unwrap(), started.elapsed())
    };
    let (slow, (fast_text, fast_elapsed)) = tokio::join!(slow, fast);
    assert_eq!(slow.text().await.unwrap(), "slow");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(fast_text, "fast");
    assert!(
        fast_elapsed < std::time::Duration::from_millis(300),
        "one worker still answered during the delay ({fast_elapsed:?})"
    );
}
