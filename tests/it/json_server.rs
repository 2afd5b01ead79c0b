//! json-server compatibility: the list-query examples of json-server's README, answered by
//! json-server 0.17.4 itself (recorded in tests/fixtures/json-server/cases.json by record.mjs
//! beside it), replayed against mockrig serving the same data.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use crate::common::Mock;
use serde_json::Value;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(common::repo_path(&format!(
        "tests/fixtures/json-server/{name}"
    )))
    .unwrap()
}

/// `<url>; rel="x", …` as rel → the set of query pairs of its URL (order and host aside).
fn links(header: &str) -> BTreeMap<String, BTreeSet<(String, String)>> {
    header
        .split(", <")
        .map(|part| {
            let (url, rel) = part.trim_start_matches('<').split_once(">; rel=").unwrap();
            let query = url.split_once('?').map_or("", |q| q.1);
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
            (
                rel.trim_matches('"').to_owned(),
                pairs.into_iter().collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn list_queries_answer_like_json_server() {
    let db: Value = serde_json::from_str(&fixture("db.json")).unwrap();
    // JSON is YAML, so the data goes into the spec as it is.
    let spec = format!(
        "resources:\n  posts:\n    seed: {}\n  comments:\n    seed: {}\n  profile:\n    singleton: true\n    seed: {}\n",
        db["posts"], db["comments"], db["profile"]
    );
    let m = Mock::start(&spec, &[]);
    let cases: Vec<Value> = serde_json::from_str(&fixture("cases.json")).unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let path = case["path"].as_str().unwrap();
        let r = m.get(path).await;
        assert_eq!(r.status().as_u16() as u64, case["status"], "{path}");
        if let Some(total) = case["total_count"].as_str() {
            assert_eq!(r.headers()["x-total-count"], total, "{path}: X-Total-Count");
        }
        // json-server sends an empty Link past the last page; mockrig still links first/last.
        if let Some(want) = case["link"].as_str().filter(|l| !l.is_empty()) {
            let got = r.headers()["link"].to_str().unwrap();
            assert_eq!(links(got), links(want), "{path}: Link");
        }
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, case["body"], "{path}: body");
    }
}

/// What an axios or jQuery client sends beyond the basics: array parameters, relations on
/// lists, records and nested routes, cache-busters and delays; and a mistaken `_` parameter
/// answered, not ignored.
#[tokio::test]
async fn axios_params_relations_and_unknown_parameters() {
    let m = Mock::start(
        r#"
resources:
  users:
    seed: [{id: 1, name: Ada}, {id: 2, name: Linus}]
  posts:
    seed:
      - {id: 1, title: one, userId: 1, at: "2024-05-01T10:00:00+02:00"}
      - {id: 2, title: two, userId: 2, at: "2024-05-02"}
      - {id: 3, title: three, userId: 1}
  comments:
    seed: [{id: 1, postId: 1, text: a}, {id: 2, postId: 1, text: b}, {id: 3, postId: 2, text: c}]
  settings:
    singleton: true
    seed: {theme: dark}
"#,
        &[],
    );
    let ids = |v: &Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect()
    };
    // axios `params: {id: [1, 3]}` and a repeated key mean the same.
    let got = common::json_of(m.get("/posts?id[]=1&id[]=3").await).await;
    assert_eq!(ids(&got), [1, 3]);
    // A field no post has is dropped, `_` is jQuery's cache-buster.
    let got = common::json_of(m.get("/posts?colour=red&_=1712345").await).await;
    assert_eq!(ids(&got), [1, 2, 3]);
    // `_ne` keeps only posts that have the field; dates compare as instants.
    let got = common::json_of(m.get("/posts?at_ne=x").await).await;
    assert_eq!(ids(&got), [1, 2]);
    let got = common::json_of(m.get("/posts?at_gte=2024-05-01T09:00:00Z").await).await;
    assert_eq!(ids(&got), [2], "10:00+02:00 is 08:00Z, before 09:00Z");
    // Relations on a list, a record and a nested route.
    let got = common::json_of(m.get("/posts?_embed=comments&_expand=user&id=1").await).await;
    assert_eq!(got[0]["user"], serde_json::json!({"id": 1, "name": "Ada"}));
    assert_eq!(got[0]["comments"].as_array().unwrap().len(), 2);
    let got = common::json_of(m.get("/users/1?_embed=posts").await).await;
    assert_eq!(ids(&got["posts"]), [1, 3]);
    let got = common::json_of(m.get("/users/1/posts?_embed=comments").await).await;
    assert_eq!(ids(&got), [1, 3]);
    assert_eq!(ids(&got[0]["comments"]), [1, 2]);
    assert_eq!(got[1]["comments"], serde_json::json!([]));
    // A mistaken parameter or relation is a 400 that says what there is.
    let r = m.get("/posts?_sortt=title").await;
    assert_eq!(r.status(), 400);
    let body = common::json_of(r).await;
    let reason = body["error"].as_str().unwrap();
    assert!(reason.contains("did you mean _sort?"), "{reason}");
    assert!(reason.contains("_embed"), "{reason}");
    let r = m.get("/posts?_embed=coments").await;
    assert_eq!(r.status(), 400);
    let reason = common::json_of(r).await["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("did you mean comments?"), "{reason}");
    let r = m.get("/comments?_expand=usr").await;
    assert_eq!(r.status(), 400);
    // `_delay` holds the answer that long.
    let started = std::time::Instant::now();
    assert_eq!(m.get("/posts/1?_delay=300").await.status(), 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(m.get("/posts?_delay=soon").await.status(), 400);
    // POST to a singleton replaces it, as json-server does.
    let r = m
        .post_json("/settings", &serde_json::json!({"lang": "fr"}))
        .await;
    assert_eq!(r.status(), 201);
    let got = common::json_of(m.get("/settings").await).await;
    assert_eq!(got, serde_json::json!({"lang": "fr"}));
}

/// A real axios (tests/js, installed by `.ci/deps`) with its default array parameters,
/// `_embed` and `_expand`, getting what json-server 0.17 gives it.
#[tokio::test]
async fn axios_gets_what_json_server_gives() {
    let js = common::repo_path("tests/js");
    if !js.join("node_modules/axios").exists() {
        println!("axios test skipped: run .ci/deps (npm ci in tests/js) first");
        return;
    }
    let m = Mock::start(
        r#"
resources:
  users:
    seed: [{id: 1, name: Ada}, {id: 2, name: Linus}]
  posts:
    seed: [{id: 1, title: one, userId: 1}, {id: 2, title: two, userId: 2}, {id: 3, title: three, userId: 1}]
  comments:
    seed: [{id: 1, postId: 1, text: a}, {id: 2, postId: 2, text: b}]
"#,
        &[],
    );
    // The mock serves from threads of its own, so waiting here blocks only the test.
    let out = std::process::Command::new("node")
        .arg(js.join("axios_json_server.mjs"))
        .arg(&m.url)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = serde_json::json!({
        "url": format!("{}/posts?id%5B%5D=1&id%5B%5D=3", m.url),
        "ids": [1, 3],
        "embedded": {"id": 1, "title": "one", "userId": 1,
                     "comments": [{"id": 1, "postId": 1, "text": "a"}]},
        "expanded": [{"id": 2, "postId": 2, "text": "b",
                      "post": {"id": 2, "title": "two", "userId": 2}}],
        "both": [{"id": 2, "title": "two", "userId": 2,
                  "comments": [{"id": 2, "postId": 2, "text": "b"}],
                  "user": {"id": 2, "name": "Linus"}}],
    });
    for key in ["url", "ids", "embedded", "expanded", "both"] {
        assert_eq!(got[key], want[key], "{key}");
    }
    assert_eq!(got["mistake"]["status"], 400);
    assert!(
        got["mistake"]["error"]
            .as_str()
            .unwrap()
            .contains("did you mean _sort?")
    );
}

/// Relations read other collections: their `match:` holds for those reads too, and what one
/// answer copies is bounded in bytes. A field whose name starts with `_` filters like any.
#[tokio::test]
async fn relations_respect_gates_and_a_byte_budget() {
    let big = "x".repeat(900 * 1024);
    let comments: Vec<String> = (1..=40)
        .map(|i| format!("{{id: {i}, postId: 1}}"))
        .collect();
    let m = Mock::start(
        &format!(
            r#"
resources:
  users:
    match: {{ cookies: {{ session: {{ present: true }} }} }}
    seed: [{{id: 1, name: Ada}}]
  posts:
    seed: [{{id: 1, userId: 1, body: "{big}"}}, {{id: 2, userId: 1, body: short}}]
  comments:
    seed: [{}]
  items:
    id: _id
    seed: [{{_id: 1, _tag: a}}, {{_id: 2, _tag: b}}]
"#,
            comments.join(", ")
        ),
        &[],
    );
    // The gated users cannot be read through the open posts.
    assert_eq!(m.get("/posts?_expand=user").await.status(), 401);
    assert_eq!(m.get("/posts/2?_expand=user").await.status(), 401);
    let r = m
        .client
        .get(m.at("/posts/2?_expand=user"))
        .header("cookie", "session=s")
        .send()
        .await
        .unwrap();
    assert_eq!(common::json_of(r).await["user"]["name"], "Ada");
    // 40 copies of a 900 KiB post: over the 32 MiB an answer's relations may add.
    let r = m.get("/comments?_expand=post").await;
    assert_eq!(r.status(), 400);
    let reason = common::json_of(r).await["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("_limit"), "{reason}");
    // A page of them is fine.
    let r = m.get("/comments?_expand=post&_limit=2").await;
    assert_eq!(r.status(), 200);
    assert_eq!(common::json_of(r).await[1]["post"]["id"], 1);
    // `_id` and `_tag` are fields here, not mistakes.
    let got = common::json_of(m.get("/items?_tag=b").await).await;
    assert_eq!(got, serde_json::json!([{"_id": 2, "_tag": "b"}]));
    let got = common::json_of(m.get("/items?_id[]=1&_id[]=2").await).await;
    assert_eq!(got.as_array().unwrap().len(), 2);
    assert_eq!(m.get("/items?_tagg=b").await.status(), 400);
}
