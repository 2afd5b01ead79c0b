//! Resources' `new_id` and `computed`: ids made by the server, fields it sets on writes, what a
//! client can and cannot change of them, failures that store nothing, and `check`'s reports.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{self, Mock, json_of};

const TODOS: &str = r#"
resources:
  todos:
    new_id: uuid
    computed:
      createdAt: "{{ now() }}"
      updatedAt: { value: "{{ now() }}", on: [create, update] }
      owner: { value: "{{ request.cookies.user }}", on: create }
      slug: { value: "{{ record.title | lower }}", overridable: true }
      revision: { value: "{{ (previous.revision or 0) + 1 }}", on: [create, update] }
"#;

fn is_uuid_v4(s: &str) -> bool {
    let re =
        regex::Regex::new(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .unwrap();
    re.is_match(s)
}

fn rfc3339(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    let s = v.as_str().unwrap_or_else(|| panic!("not text: {v}"));
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

async fn send(
    m: &Mock,
    method: reqwest::Method,
    path: &str,
    cookie: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut req = m.client.request(method, m.at(path)).json(body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), json_of(r).await)
}

/// A POST of `body` without a cookie.
async fn post(m: &Mock, path: &str, body: &Value) -> (u16, Value) {
    send(m, reqwest::Method::POST, path, None, body).await
}

#[tokio::test]
async fn uuid_ids_are_distinct_v4_and_readable_at_their_location() {
    let m = Mock::start(TODOS, &[]);
    let mut ids = Vec::new();
    for title in ["a", "b"] {
        let r = m.post_json("/todos", &json!({"title": title})).await;
        assert_eq!(r.status(), 201);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let created = json_of(r).await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(is_uuid_v4(&id), "{id}");
        let back = json_of(m.get(&location).await).await;
        assert_eq!(back, created, "read back at {location}");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
    // A client's id is kept, and a taken one is the conflict it always was.
    let (status, body) = post(&m, "/todos", &json!({"id": "mine"})).await;
    assert_eq!((status, body["id"].clone()), (201, json!("mine")));
    let (status, _) = post(&m, "/todos", &json!({"id": "mine"})).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn seeded_uuid_ids_repeat_from_run_to_run() {
    let first_id = |seed: u64| async move {
        let m = Mock::with(TODOS, &[], |c| c.seed = Some(seed));
        json_of(m.post_json("/todos", &json!({"title": "a"})).await).await["id"].clone()
    };
    let a = first_id(7).await;
    assert!(is_uuid_v4(a.as_str().unwrap()), "{a}");
    assert_eq!(a, first_id(7).await);
    assert_ne!(a, first_id(8).await);
}

#[tokio::test]
async fn a_template_id_counts_past_ids_already_taken_and_a_fixed_one_conflicts() {
    let m = Mock::start(
        r#"
resources:
  orders:
    new_id: "ord-{{ counter }}"
    seed: [{ id: ord-2, item: seeded }]
  codes:
    new_id: "{{ record.sku | upper }}"
  numbered:
    new_id: "{{ counter * 10 }}"
"#,
        &[],
    );
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = m.post_json("/orders", &json!({"item": "x"})).await;
        assert_eq!(r.status(), 201);
        ids.push(json_of(r).await["id"].clone());
    }
    // One record held: the counter starts at 2, which the seed took.
    assert_eq!(ids, [json!("ord-3"), json!("ord-4"), json!("ord-5")]);
    let r = m.get("/orders/ord-4").await;
    assert_eq!(r.status(), 200);
    // A whole expression keeps its type, as in response bodies.
    let r = json_of(m.post_json("/numbered", &json!({})).await).await;
    assert_eq!(r["id"], json!(10));
    let (status, body) = post(&m, "/codes", &json!({"sku": "ab-1"})).await;
    assert_eq!((status, body["id"].clone()), (201, json!("AB-1")));
    let (status, body) = post(&m, "/codes", &json!({"sku": "AB-1"})).await;
    assert_eq!(status, 409, "{body}");
    let list = json_of(m.get("/codes").await).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "nothing overwritten: {list}"
    );
}

#[tokio::test]
async fn computed_fields_are_set_protected_carried_over_and_recomputed() {
    let m = Mock::start(TODOS, &[]);
    let (status, created) = send(
        &m,
        reqwest::Method::POST,
        "/todos",
        Some("user=ada"),
        &json!({"title": "Buy MILK", "owner": "eve", "createdAt": "1999-01-01T00:00:00Z", "revision": 99}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let created_at = rfc3339(&created["createdAt"]);
    assert!(
        created_at.timestamp() > 946_684_800,
        "the client's value was replaced: {created}"
    );
    assert_eq!(created["owner"], "ada", "from the cookie, not the body");
    assert_eq!(
        created["slug"], "buy milk",
        "computed when the client sends none"
    );
    assert_eq!(created["revision"], 1, "a whole expression keeps its type");
    rfc3339(&created["updatedAt"]);
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/todos/{id}");

    // An overridable field keeps what the client sends.
    let (_, own_slug) = send(
        &m,
        reqwest::Method::POST,
        "/todos",
        Some("user=ada"),
        &json!({"title": "X", "slug": "mine"}),
    )
    .await;
    assert_eq!(own_slug["slug"], "mine");

    // The clock must move for updatedAt to differ; there is no signal to wait for.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, put) = send(
        &m,
        reqwest::Method::PUT,
        &path,
        Some("user=mallory"),
        &json!({"title": "Other", "owner": "mallory", "createdAt": "2000-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(
        put["createdAt"], created["createdAt"],
        "a replace keeps createdAt"
    );
    assert_eq!(put["owner"], "ada", "and owner, whatever the client says");
    assert_eq!(
        put["slug"], "buy milk",
        "a create-only field is carried over"
    );
    assert_eq!(put["title"], "Other");
    assert_eq!(put["revision"], 2, "previous is the stored record");
    assert!(
        rfc3339(&put["updatedAt"]) > rfc3339(&created["updatedAt"]),
        "{put}"
    );

    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, patched) = send(
        &m,
        reqwest::Method::PATCH,
        &path,
        None,
        &json!({"done": true, "owner": null, "updatedAt": "never", "slug": "custom"}),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["done"], true);
    assert_eq!(patched["owner"], "ada", "a patch cannot remove it either");
    assert_eq!(patched["slug"], "custom", "overridable on a patch too");
    assert_eq!(patched["revision"], 3);
    assert_eq!(patched["createdAt"], created["createdAt"]);
    assert!(
        rfc3339(&patched["updatedAt"]) > rfc3339(&put["updatedAt"]),
        "{patched}"
    );
    assert_eq!(
        json_of(m.get(&path).await).await,
        patched,
        "what was answered is stored"
    );
}

#[tokio::test]
async fn nested_creation_and_singletons_take_their_own_computed_fields() {
    let m = Mock::start(
        r#"
resources:
  users:
    seed: [{ id: 1, name: Ada }]
  posts:
    new_id: "p{{ counter }}"
    computed:
      author: "{{ params.id }}"
      at: "{{ request.path }}"
  profile:
    singleton: true
    seed: { theme: light, createdAt: seeded }
    computed:
      createdAt: "{{ now() }}"
      changes: { value: "{{ (previous.changes or 0) + 1 }}", on: update }
"#,
        &[],
    );
    let (status, post) = post(&m, "/users/1/posts", &json!({"title": "hi"})).await;
    assert_eq!(status, 201, "{post}");
    assert_eq!(
        post,
        json!({"id": "p1", "title": "hi", "userId": 1, "author": "1", "at": "/users/1/posts"})
    );
    let (_, put) = send(
        &m,
        reqwest::Method::PUT,
        "/profile",
        None,
        &json!({"theme": "dark", "createdAt": "x"}),
    )
    .await;
    assert_eq!(
        put,
        json!({"theme": "dark", "createdAt": "seeded", "changes": 1})
    );
    let (_, patched) = send(
        &m,
        reqwest::Method::PATCH,
        "/profile",
        None,
        &json!({"changes": 40}),
    )
    .await;
    assert_eq!(patched["changes"], 2);
}

#[tokio::test]
async fn a_failing_template_answers_500_naming_the_field_and_stores_nothing() {
    let m = Mock::start(
        r#"
resources:
  items:
    seed: [{ id: 1, name: a }]
    computed:
      lucky: { value: "{{ random_int(record.low, record.high) }}", on: [create, update] }
  tickets:
    new_id: "{{ record.code }}"
"#,
        &[],
    );
    let before = json_of(m.get("/items").await).await;
    let (status, body) = post(&m, "/items", &json!({"low": 5, "high": 1})).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        (body["resource"].clone(), body["field"].clone()),
        (json!("items"), json!("lucky"))
    );
    assert!(body["error"].as_str().unwrap().contains("lucky"), "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("random_int"),
        "{body}"
    );
    let (status, _) = send(
        &m,
        reqwest::Method::PATCH,
        "/items/1",
        None,
        &json!({"low": 5, "high": 1}),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        json_of(m.get("/items").await).await,
        before,
        "nothing stored"
    );
    // An id template that makes no usable id.
    let (status, body) = post(&m, "/tickets", &json!({"code": {"a": 1}})).await;
    assert_eq!(
        (status, body["field"].clone()),
        (500, json!("new_id")),
        "{body}"
    );
    let (status, body) = send(&m, reqwest::Method::POST, "/tickets", None, &json!({})).await;
    assert_eq!(status, 500, "an empty id: {body}");
    assert_eq!(json_of(m.get("/tickets").await).await, json!([]));
}

#[test]
fn check_reports_every_bad_template_event_and_new_id_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        r#"resources:
  todos:
    new_id: guid
    computed:
      owner: { value: "{{ request.cookies.user ", on: create }
      updatedAt: { value: "{{ now() }}", on: [create, updat] }
      slug: "{{ reccord.title }}"
  orders:
    new_id: "ord-{{ counter"
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mockrig"))
        .arg("check")
        .arg(&spec)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for (line, key, needle) in [
        (3, "resources.todos.new_id", "did you mean 'uuid'"),
        (5, "resources.todos.computed.owner.value", "syntax error"),
        (
            6,
            "resources.todos.computed.updatedAt.on[1]",
            "did you mean 'update'",
        ),
        (7, "resources.todos.computed.slug", "did you mean 'record'"),
        (9, "resources.orders.new_id", "syntax error"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("api.yaml:{line}:"))
                    && l.contains(key)
                    && l.contains(needle)),
            "expected {key} at line {line} with `{needle}`:\n{text}"
        );
    }
    assert!(text.contains("5 errors"), "all in one run:\n{text}");
}

#[tokio::test]
async fn computed_values_survive_a_restart_and_editing_a_computed_field_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    let state = dir.path().join("state.json");
    std::fs::write(&spec, TODOS).unwrap();
    let start = || {
        let mut config = common::config(&spec);
        config.state_file = Some(state.clone());
        Mock::attach(mockrig::MockServer::with_config(config).unwrap())
    };
    let created = {
        let m = start();
        let (status, created) = send(
            &m,
            reqwest::Method::POST,
            "/todos",
            Some("user=ada"),
            &json!({"title": "Keep"}),
        )
        .await;
        assert_eq!(status, 201);
        created
    };
    let m = start();
    assert_eq!(
        json_of(m.get("/todos").await).await,
        json!([created.clone()])
    );
    drop(m);
    // Another template for a computed field: the resource's data is what it was.
    std::fs::write(
        &spec,
        TODOS.replace("{{ now() }}\"\n", "{{ now('%Y') }}\"\n"),
    )
    .unwrap();
    let m = start();
    assert_eq!(json_of(m.get("/todos").await).await, json!([created]));
    let (_, next) = post(&m, "/todos", &json!({"title": "New"})).await;
    assert_eq!(
        next["createdAt"].as_str().map(str::len),
        Some(4),
        "the edited template: {next}"
    );
}

#[tokio::test]
async fn computed_output_is_bounded_in_bytes_and_depth() {
    let m = Mock::start(
        r#"
resources:
  notes:
    seed: [{ id: 1 }]
    computed:
      history: { value: "{{ previous }}", on: update }
  blobs:
    computed:
      pad: "{{ 'x' * (record.n | int) }}"
"#,
        &[],
    );
    // Each update nests the record one level deeper, until it would be deeper than a
    // state file keeps.
    let mut refused = None;
    for i in 0..80 {
        let (status, body) = send(
            &m,
            reqwest::Method::PATCH,
            "/notes/1",
            None,
            &json!({"n": i}),
        )
        .await;
        if status != 200 {
            refused = Some((i, status, body));
            break;
        }
    }
    let (i, status, body) = refused.expect("refused before 80 levels");
    assert!(i > 50, "refused only near the limit: {i}");
    assert_eq!(
        (status, body["field"].clone()),
        (500, json!("history")),
        "{body}"
    );
    // A client's number cannot make the output pass the template budget.
    let (status, body) = post(&m, "/blobs", &json!({"n": 50_000_000})).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("budget"),
        "{body}"
    );
    assert_eq!(json_of(m.get("/blobs").await).await, json!([]));
}
