//! Isolated sessions: `X-Mockrig-Session` gives each test its own resource data and journal.

use crate::common::Mock;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SPEC: &str = r#"
resources:
  users:
    seed:
      - { id: 1, name: Ada }
  posts:
    seed: []
  settings:
    singleton: true
    seed: { theme: light }
routes:
  - { path: /hello, response: { text: hi } }
"#;

/// A client bound to one session (or none).
struct In<'a> {
    mock: &'a Mock,
    session: Option<&'a str>,
}

impl In<'_> {
    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.mock.client.request(method, self.mock.at(path));
        match self.session {
            Some(s) => r.header("X-Mockrig-Session", s),
            None => r,
        }
    }

    async fn json(&self, path: &str) -> Value {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.req(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn names(&self) -> Vec<String> {
        self.json("/users")
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn session<'a>(mock: &'a Mock, name: &'a str) -> In<'a> {
    In {
        mock,
        session: Some(name),
    }
}

fn shared(mock: &Mock) -> In<'_> {
    In {
        mock,
        session: None,
    }
}

#[tokio::test]
async fn each_session_has_its_own_data_from_the_seeds() {
    let mock = Mock::start(SPEC, &[]);
    let (a, b, none) = (session(&mock, "a"), session(&mock, "b"), shared(&mock));
    assert_eq!(
        a.post("/users", json!({"name": "Grace"})).await.status(),
        StatusCode::CREATED
    );
    let r = b.post("/users", json!({"name": "Linus"})).await;
    // Ids count per session, as they would in a fresh mock.
    assert_eq!(r.json::<Value>().await.unwrap()["id"], 2);
    assert_eq!(a.names().await, ["Ada", "Grace"]);
    assert_eq!(b.names().await, ["Ada", "Linus"]);
    assert_eq!(none.names().await, ["Ada"]);

    // Nested routes and singletons use the session's copies too.
    let r = a.post("/users/2/posts", json!({"title": "t"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(a.json("/users/2/posts").await.as_array().unwrap().len(), 1);
    assert_eq!(b.json("/posts").await, json!([]));
    let r = a
        .req(reqwest::Method::PATCH, "/settings")
        .json(&json!({"theme": "dark"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(a.json("/settings").await["theme"], "dark");
    assert_eq!(none.json("/settings").await["theme"], "light");

    // A shared write is not seen by sessions either.
    none.post("/users", json!({"name": "Shared"})).await;
    assert_eq!(a.names().await, ["Ada", "Grace"]);
}

#[tokio::test]
async fn parallel_tests_in_sessions_do_not_see_each_other() {
    let mock = std::sync::Arc::new(Mock::start(SPEC, &[]));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let mock = mock.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("test-{t}");
            let me = session(&mock, &name);
            for i in 0..10 {
                let r = me.post("/users", json!({"name": format!("{t}-{i}")})).await;
                assert_eq!(r.status(), StatusCode::CREATED);
            }
            let names = me.names().await;
            assert_eq!(names.len(), 11, "{name}: {names:?}");
            assert!(names[1..].iter().all(|n| n.starts_with(&format!("{t}-"))));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(shared(&mock).names().await, ["Ada"]);
    let listed = shared(&mock).json("/__mockrig/sessions").await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 16);
}

#[tokio::test]
async fn a_session_has_its_own_journal_and_verification() {
    let mock = Mock::start(SPEC, &[]);
    let (a, b, none) = (session(&mock, "a"), session(&mock, "b"), shared(&mock));
    a.req(reqwest::Method::GET, "/hello").send().await.unwrap();
    a.req(reqwest::Method::GET, "/nothing-here")
        .send()
        .await
        .unwrap();
    b.req(reqwest::Method::GET, "/hello").send().await.unwrap();
    none.req(reqwest::Method::GET, "/hello")
        .send()
        .await
        .unwrap();

    let mine = a.json("/__mockrig/requests").await;
    let paths: Vec<&str> = mine["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/hello", "/nothing-here"]);
    assert_eq!(
        a.json("/__mockrig/unmatched").await["requests"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        b.json("/__mockrig/unmatched").await["requests"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // `?session=` names the session as the header does.
    let by_query = none.json("/__mockrig/requests?session=b").await;
    assert_eq!(by_query["requests"].as_array().unwrap().len(), 1);
    // The shared journal has only the request without a session.
    let all = none.json("/__mockrig/requests").await;
    assert_eq!(all["requests"].as_array().unwrap().len(), 1);

    let verify = |who: &In<'_>, count: u64| {
        who.req(reqwest::Method::POST, "/__mockrig/verify")
            .json(&json!({"method": "GET", "path": "/hello", "count": count}))
            .send()
    };
    assert_eq!(verify(&a, 1).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        verify(&a, 2).await.unwrap().status(),
        StatusCode::EXPECTATION_FAILED
    );
    let r = b
        .req(reqwest::Method::DELETE, "/__mockrig/requests")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        verify(&b, 0).await.unwrap().status(),
        StatusCode::OK,
        "b's journal was cleared"
    );
    assert_eq!(verify(&a, 1).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn reset_of_one_session_leaves_the_others() {
    let mock = Mock::start(SPEC, &[]);
    let (a, b, none) = (session(&mock, "a"), session(&mock, "b"), shared(&mock));
    a.post("/users", json!({"name": "A"})).await;
    a.post("/posts", json!({"title": "A"})).await;
    b.post("/users", json!({"name": "B"})).await;
    none.post("/users", json!({"name": "S"})).await;

    // One resource of one session.
    let r = none
        .post("/__mockrig/reset?session=a&resource=posts", json!(null))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(a.json("/posts").await, json!([]));
    assert_eq!(a.names().await, ["Ada", "A"]);

    // The whole session: data and journal.
    let r = none.post("/__mockrig/reset?session=a", json!(null)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(a.names().await, ["Ada"]);
    assert_eq!(
        a.json("/__mockrig/requests").await["requests"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "only the GET just made"
    );
    assert_eq!(b.names().await, ["Ada", "B"]);
    assert_eq!(none.names().await, ["Ada", "S"]);

    let r = none
        .post("/__mockrig/reset?session=a&resource=nope", json!(null))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A reset without a session resets everything, sessions included.
    none.post("/__mockrig/reset", json!(null)).await;
    assert_eq!(b.names().await, ["Ada"]);
    assert_eq!(none.names().await, ["Ada"]);
}

#[tokio::test]
async fn state_is_exported_and_imported_per_session() {
    let mock = Mock::start(SPEC, &[]);
    let (a, b, none) = (session(&mock, "a"), session(&mock, "b"), shared(&mock));
    a.post("/users", json!({"name": "Grace"})).await;
    let snapshot = a.json("/__mockrig/state").await;
    assert_eq!(snapshot["users"].as_array().unwrap().len(), 2);
    assert_eq!(snapshot["settings"], json!({"theme": "light"}));

    let r = b
        .req(reqwest::Method::PUT, "/__mockrig/state")
        .json(&snapshot)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(b.names().await, ["Ada", "Grace"]);
    assert_eq!(none.names().await, ["Ada"]);

    // A bad snapshot imports nothing.
    let r = b
        .req(reqwest::Method::PUT, "/__mockrig/state")
        .json(&json!({"users": [], "ghosts": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(b.names().await, ["Ada", "Grace"]);
}

#[tokio::test]
async fn a_bad_session_name_is_refused_and_changes_nothing() {
    let mock = Mock::start(SPEC, &[]);
    let r = mock
        .client
        .post(mock.at("/users"))
        .header("X-Mockrig-Session", "x".repeat(200))
        .json(&json!({"name": "Nobody"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("X-Mockrig-Session")
    );
    let r = shared(&mock)
        .req(reqwest::Method::GET, "/__mockrig/state?session=a%20b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(shared(&mock).names().await, ["Ada"]);
    assert!(
        shared(&mock).json("/__mockrig/sessions").await["sessions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn sessions_beyond_the_limit_evict_the_least_recently_used() {
    let mock = Mock::with(SPEC, &[], |config| config.max_sessions = 2);
    let (a, b, c) = (
        session(&mock, "a"),
        session(&mock, "b"),
        session(&mock, "c"),
    );
    a.post("/users", json!({"name": "A"})).await;
    b.post("/users", json!({"name": "B"})).await;
    // `a` is used again, so `b` is now the least recently used.
    assert_eq!(a.names().await, ["Ada", "A"]);
    c.post("/users", json!({"name": "C"})).await;
    let listed = shared(&mock).json("/__mockrig/sessions").await;
    assert_eq!(listed, json!({"sessions": ["c", "a"], "limit": 2}));
    assert_eq!(a.names().await, ["Ada", "A"]);
    // `b` comes back fresh from the seeds.
    assert_eq!(b.names().await, ["Ada"]);
}

#[tokio::test]
async fn session_data_survives_a_reload_that_keeps_the_resource() {
    let mock = Mock::start(SPEC, &[]);
    let a = session(&mock, "a");
    a.post("/users", json!({"name": "Grace"})).await;
    a.post("/posts", json!({"title": "x"})).await;
    // Add a route and change the posts resource's seed.
    let changed = SPEC
        .replace(
            "posts:\n    seed: []",
            "posts:\n    seed: [{ id: 9, title: seeded }]",
        )
        .replace("/hello", "/hi");
    assert_ne!(changed, SPEC);
    std::fs::write(mock.dir.path().join("api.yaml"), changed).unwrap();
    let r = shared(&mock).post("/__mockrig/reload", json!(null)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        shared(&mock)
            .req(reqwest::Method::GET, "/hi")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(a.names().await, ["Ada", "Grace"]);
    assert_eq!(
        a.json("/posts").await,
        json!([{"id": 9, "title": "seeded"}])
    );
}

#[tokio::test]
async fn reading_a_session_that_does_not_exist_does_not_start_it() {
    let mock = Mock::start(SPEC, &[]);
    let none = In {
        mock: &mock,
        session: None,
    };
    let state = none.json("/__mockrig/state?session=typo").await;
    assert_eq!(
        state["users"],
        json!([{"id": 1, "name": "Ada"}]),
        "the seeds"
    );
    let journal = none.json("/__mockrig/requests?session=typo").await;
    assert_eq!(journal["requests"], json!([]));
    let listed = none.json("/__mockrig/sessions").await;
    assert_eq!(listed["sessions"], json!([]), "no session was started");
}

/// An admin write refused for what it says leaves no session behind; one that succeeds
/// starts the session it names.
#[tokio::test]
async fn a_refused_admin_write_starts_no_session() {
    let mock = Mock::start(
        "routes:\n  - { path: /pay, scenario: checkout, then: paid }\n",
        &[],
    );
    let s = session(&mock, "s1");
    let put = |path: &'static str, body: &'static str| {
        s.req(reqwest::Method::PUT, path)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = put("/__mockrig/scenarios/chekout", r#"{"state": "paid"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = put("/__mockrig/scenarios/checkout", "{").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = put("/__mockrig/state", "not json").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let listed = shared(&mock).json("/__mockrig/sessions").await;
    assert_eq!(listed["sessions"], json!([]), "{listed}");

    let r = put("/__mockrig/scenarios/checkout", r#"{"state": "paid"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let listed = shared(&mock).json("/__mockrig/sessions").await;
    assert_eq!(listed["sessions"], json!(["s1"]), "{listed}");
    let mine = s.json("/__mockrig/scenarios").await;
    assert_eq!(mine["scenarios"]["checkout"]["state"], "paid", "{mine}");
    let others = shared(&mock).json("/__mockrig/scenarios").await;
    assert_eq!(others["scenarios"]["checkout"]["state"], "started");
}
