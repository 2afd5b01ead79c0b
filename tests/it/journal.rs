//! The request journal and verification: what did the app send, and did it send this?

use crate::common;

use crate::common::Mock;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SPEC: &str = r#"
routes:
  - { method: POST, path: /orders, response: { status: 201, body: { id: 1 } } }
  - { path: "/users/{id}", response: { body: { id: 1 } } }
"#;

async fn requests(m: &Mock, query: &str) -> Vec<Value> {
    let v: Value = m
        .get(&format!("/__mockrig/requests{query}"))
        .await
        .json()
        .await
        .unwrap();
    v["requests"].as_array().unwrap().clone()
}

async fn verify(m: &Mock, pattern: Value) -> (StatusCode, Value) {
    let r = m
        .client
        .post(m.at("/__mockrig/verify"))
        .json(&pattern)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test]
async fn records_requests_and_filters_them() {
    let m = Mock::start(SPEC, &[]);
    m.client
        .post(m.at("/orders?src=web"))
        .header("x-trace", "t-1")
        .json(&json!({"item": "book", "qty": 2}))
        .send()
        .await
        .unwrap();
    m.get("/users/7").await;
    m.get("/nope").await;
    let all = requests(&m, "").await;
    assert_eq!(all.len(), 3, "admin calls are not recorded");
    let first = &all[0];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/orders");
    assert_eq!(first["query"], "src=web");
    assert_eq!(first["headers"]["x-trace"], "t-1");
    assert_eq!(first["body"], json!({"item": "book", "qty": 2}));
    assert_eq!(first["matched"], "routes[0]");
    assert_eq!(first["status"], 201);
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    let took = first["duration_ms"].as_f64().unwrap();
    assert!(took > 0.0 && took < 10_000.0, "{took}");

    assert_eq!(requests(&m, "?method=get").await.len(), 2);
    assert_eq!(requests(&m, "?path=/users/*").await.len(), 1);
    let unmatched = requests(&m, "?matched=false").await;
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0]["matched"], Value::Null);

    let r = m
        .client
        .delete(m.at("/__mockrig/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(requests(&m, "").await.is_empty());
}

#[tokio::test]
async fn unmatched_requests_name_the_nearest_route() {
    let m = Mock::start(SPEC, &[]);
    m.get("/user/7").await;
    m.get("/users/7").await;
    let v: Value = m.get("/__mockrig/unmatched").await.json().await.unwrap();
    let list = v["requests"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["path"], "/user/7");
    assert_eq!(list[0]["nearest"]["path"], "/users/{id}");
    assert_eq!(list[0]["nearest"]["failed"][0]["criterion"], "path");

    // A 405 is unmatched too, and its nearest route is the one with another method.
    m.client.delete(m.at("/users/7")).send().await.unwrap();
    let v: Value = m.get("/__mockrig/unmatched").await.json().await.unwrap();
    let last = v["requests"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["status"], 405);
    assert_eq!(last["nearest"]["path"], "/users/{id}");
    assert_eq!(last["nearest"]["failed"][0]["criterion"], "method");
}

#[tokio::test]
async fn verify_counts_and_explains() {
    let m = Mock::start(SPEC, &[]);
    for qty in [1, 2] {
        m.client
            .post(m.at("/orders"))
            .header("x-tenant", "acme")
            .json(&json!({"item": "book", "qty": qty}))
            .send()
            .await
            .unwrap();
    }
    let (status, v) = verify(&m, json!({"method": "POST", "path": "/orders", "count": 2})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["matched"], 2);
    let (status, _) = verify(
        &m,
        json!({"path": "/orders", "headers": {"X-Tenant": "acme"}, "body": {"qty": 2}, "count": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = verify(&m, json!({"path": "/orders", "at_least": 1, "at_most": 2})).await;
    assert_eq!(status, StatusCode::OK);

    let (status, v) = verify(
        &m,
        json!({"method": "POST", "path": "/orders", "body": {"qty": 3}}),
    )
    .await;
    assert_eq!(status, StatusCode::EXPECTATION_FAILED);
    assert_eq!(v["matched"], 0);
    assert_eq!(
        v["closest"][0]["failed"],
        json!([{"criterion": "body.qty", "expected": 3, "actual": 2}]),
        "each failed condition with what was expected and what came"
    );
    assert_eq!(
        v["closest"][0]["request"]["body"]["qty"], 2,
        "the most recent comes first"
    );

    // Too many: the requests shown are the ones that matched, latest first.
    let (status, v) = verify(&m, json!({"path": "/orders", "at_most": 1})).await;
    assert_eq!(status, StatusCode::EXPECTATION_FAILED, "{v}");
    assert_eq!(v["matched"], 2);
    assert_eq!(v["closest"].as_array().unwrap().len(), 2);
    assert_eq!(v["closest"][0]["failed"], json!([]));
    assert_eq!(v["closest"][0]["request"]["body"]["qty"], 2);

    // Cookies, as in a route's match; a text body is not read as a form.
    m.client
        .post(m.at("/orders"))
        .header("cookie", "session=s-1; theme=dark")
        .body("hello")
        .send()
        .await
        .unwrap();
    let (status, v) = verify(&m, json!({"cookies": {"session": "s-1"}, "count": 1})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = verify(&m, json!({"body": {"hello": ""}, "count": 0})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = verify(&m, json!({"cookies": {"theme": "light"}})).await;
    assert_eq!(status, StatusCode::EXPECTATION_FAILED);
    assert_eq!(
        v["closest"][0]["failed"],
        json!([{"criterion": "cookies.theme", "expected": "light", "actual": "dark"}])
    );
    let r = m
        .client
        .post(m.at("/__mockrig/verify"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A reset of everything clears the journal too.
    m.client
        .post(m.at("/__mockrig/reset"))
        .send()
        .await
        .unwrap();
    assert!(requests(&m, "").await.is_empty());
}

#[tokio::test]
async fn the_journal_is_bounded_and_can_be_off() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let client = common::client();
    for (capacity, kept) in [(3usize, 3usize), (0, 0)] {
        let mut config = mockrig::ServeConfig::new(&spec);
        config.journal = capacity;
        let server = mockrig::MockServer::with_config(config).unwrap();
        for i in 0..5 {
            client
                .get(format!("{}/users/{i}", server.url()))
                .send()
                .await
                .unwrap();
        }
        let v: Value = client
            .get(format!("{}/__mockrig/requests", server.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = v["requests"].as_array().unwrap();
        assert_eq!(list.len(), kept, "capacity {capacity}");
        if kept == 3 {
            assert_eq!(list[0]["path"], "/users/2", "the oldest are dropped first");
        }
        assert_eq!(v["enabled"], capacity > 0);
    }
}

#[tokio::test]
async fn large_bodies_are_kept_only_in_part() {
    let m = Mock::start(SPEC, &[]);
    let big = "x".repeat(common::JOURNAL_BODY_LIMIT + 100);
    m.client
        .post(m.at("/orders"))
        .body(big)
        .send()
        .await
        .unwrap();
    let all = requests(&m, "").await;
    assert_eq!(
        all[0]["body"].as_str().unwrap().len(),
        common::JOURNAL_BODY_LIMIT
    );
}

#[tokio::test]
async fn a_session_journal_keeps_a_small_byte_budget() {
    let m = Mock::start(SPEC, &[]);
    // 20 bodies of 32 KiB: 640 KiB, beyond a session's 256 KiB.
    for i in 0..20 {
        m.client
            .post(m.at("/orders"))
            .header("x-mockrig-session", "big")
            .body(format!("{i:02}{}", "x".repeat(32 * 1024)))
            .send()
            .await
            .unwrap();
    }
    let v: Value = m
        .client
        .get(m.at("/__mockrig/requests"))
        .header("x-mockrig-session", "big")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = v["requests"].as_array().unwrap();
    let kept: usize = list.iter().map(|r| r["body"].as_str().unwrap().len()).sum();
    assert!(
        kept <= common::SESSION_JOURNAL_BYTES && list.len() >= 5,
        "{} entries, {kept} bytes",
        list.len()
    );
    assert!(
        list.last().unwrap()["body"]
            .as_str()
            .unwrap()
            .starts_with("19"),
        "the newest stay"
    );
}
