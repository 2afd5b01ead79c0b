//! `examples/todo/`, the backend README's "A todo backend" walks through: a spec split with
//! `include:`, a sign-in route matched by operators, a resource behind the sign-in cookie whose
//! records the server stamps. Served as it is in the repository, driven as a frontend would.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{self, Mock};

#[tokio::test]
async fn the_todo_example_signs_in_gates_and_stamps() {
    let spec = common::repo_path("examples/todo/api.yaml");
    mockrig::check_file(&spec).unwrap_or_else(|e| panic!("{e}"));
    let m = Mock::attach(common::serve(&spec).unwrap());

    // Not signed in: the todos and /me say so.
    let r = m.get("/todos").await;
    assert_eq!(r.status(), 401);
    assert_eq!(common::json_of(r).await["login"], "POST /login");
    assert_eq!(m.get("/me").await.status(), 401);

    // A wrong password, and a user name the regex refuses, are one 401.
    for body in [
        json!({"user": "ada", "password": "nope"}),
        json!({"user": "Ada!", "password": "secret"}),
    ] {
        assert_eq!(m.post_json("/login", &body).await.status(), 401, "{body}");
    }
    let r = m
        .post_json("/login", &json!({"user": "ada", "password": "secret"}))
        .await;
    assert_eq!(r.status(), 204);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("user=ada;"), "{cookie}");
    let signed_in = |req: reqwest::RequestBuilder| req.header("cookie", "user=ada");

    let me = common::json_of(signed_in(m.client.get(m.at("/me"))).send().await.unwrap()).await;
    assert_eq!(me, json!({"user": "ada"}));

    // Every change reaches the SSE stream.
    let mut events = m.client.get(m.at("/events")).send().await.unwrap();
    assert_eq!(events.status(), 200);

    // A created todo is stamped by the server: a UUID, its owner, its times; a forged owner
    // is replaced.
    let r = signed_in(m.client.post(m.at("/todos")))
        .json(&json!({"title": "Ship it", "done": false, "owner": "eve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let todo = common::json_of(r).await;
    let id = todo["id"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
    assert_eq!(todo["owner"], "ada");
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(time(&todo["updatedAt"]) >= time(&todo["createdAt"]));

    // The stream opens with a comment; the event follows.
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !text.contains("Ship it") {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .unwrap_or_else(|_| panic!("no event within 5 s: {text}"))
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: todo"), "{text}");

    // The user's open todos, with json-server's queries.
    let open = common::json_of(
        signed_in(m.client.get(m.at("/todos?owner=ada&done=false")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(open, json!([todo]));

    // Marked done: owner and createdAt kept, updatedAt moves on.
    let r = signed_in(m.client.patch(m.at(&format!("/todos/{id}"))))
        .json(&json!({"done": true, "createdAt": "1970-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let patched = common::json_of(r).await;
    assert_eq!(patched["done"], true);
    assert_eq!(patched["owner"], "ada");
    assert_eq!(patched["createdAt"], todo["createdAt"]);
    assert!(time(&patched["updatedAt"]) >= time(&todo["updatedAt"]));
    let all = common::json_of(
        signed_in(m.client.get(m.at("/todos?_sort=-createdAt")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(all[0]["id"], id.as_str());
    assert_eq!(all.as_array().unwrap().len(), 2);
}

/// README's "Growing it" shows the two files as they are in `examples/todo/` (past their
/// opening comments), so what a reader copies is what this test serves.
#[test]
fn the_readme_shows_the_todo_example_as_it_is() {
    let readme = std::fs::read_to_string(common::repo_path("README.md")).unwrap();
    let section = readme
        .split("## Growing it")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a 'Growing it' section");
    let blocks: Vec<&str> = section
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    for (block, file) in blocks.iter().zip(["api.yaml", "todos.yaml"]) {
        let text =
            std::fs::read_to_string(common::repo_path(&format!("examples/todo/{file}"))).unwrap();
        let body: String = text
            .lines()
            .skip_while(|l| l.starts_with('#') || l.is_empty())
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            *block, body,
            "README's {file} differs from examples/todo/{file}"
        );
    }
    assert_eq!(blocks.len(), 2);
}
