//! Runtime stubs: routes added over HTTP in front of the spec's, removed by id, cleared by
//! reset, and kept across reloads.

use crate::common;

use std::time::Duration;

use crate::common::Mock;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SPEC: &str = "routes:\n  - { path: /greeting, response: { text: from the spec } }\n";

async fn add(m: &Mock, body: &str) -> reqwest::Response {
    m.client
        .post(m.at("/__mockrig/routes"))
        .header("content-type", "application/yaml")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn stubs_go_in_front_and_come_out_by_id() {
    let m = Mock::start(SPEC, &[]);
    let r = add(&m, "{ path: /greeting, response: { text: from a stub } }").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["ids"][0].as_u64().unwrap();
    assert_eq!(
        m.get("/greeting").await.text().await.unwrap(),
        "from a stub"
    );

    // A list, in JSON this time, and a new path.
    let list = json!([{"method": "POST", "path": "/pay", "response": {"status": 402}}]);
    let r = m
        .client
        .post(m.at("/__mockrig/routes"))
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        m.client.post(m.at("/pay")).send().await.unwrap().status(),
        402
    );

    let routes: Value = m.get("/__mockrig/routes").await.json().await.unwrap();
    assert_eq!(
        routes[0]["source"],
        format!("stubs[{id}]"),
        "stubs come first: {routes}"
    );

    let r = m
        .client
        .delete(m.at(&format!("/__mockrig/routes/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        m.get("/greeting").await.text().await.unwrap(),
        "from the spec"
    );
    let r = m
        .client
        .delete(m.at(&format!("/__mockrig/routes/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Reset clears them.
    m.client
        .post(m.at("/__mockrig/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        m.client.post(m.at("/pay")).send().await.unwrap().status(),
        404
    );
}

#[tokio::test]
async fn a_bad_stub_is_refused_and_changes_nothing() {
    let m = Mock::start(SPEC, &[]);
    let r = add(&m, "{ path: /x, response: { status: 1200 } }").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e = r.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        e.contains("response.status: 1200 is not an HTTP status"),
        "{e}"
    );
    let r = add(&m, "{ path: /x, respons: {} }").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = add(&m, "{ path: /x, response: { file: ../../etc/passwd } }").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(m.get("/x").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stubs_survive_a_reload() {
    let m = Mock::start(SPEC, &[]);
    add(&m, "{ path: /stubbed, response: { text: still here } }").await;
    std::fs::write(
        m.dir.path().join("api.yaml"),
        "routes:\n  - { path: /greeting, response: { text: reloaded } }\n",
    )
    .unwrap();
    common::eventually("the reload comes", Duration::from_secs(2), || async {
        (m.get("/greeting").await.text().await.unwrap() == "reloaded").then_some(())
    })
    .await;
    assert_eq!(m.get("/stubbed").await.text().await.unwrap(), "still here");
}

/// Adding a stub compiles the serving spec again with it, but reads no file of the spec's
/// again: a seed file edited on disk (and not reloaded) leaves the data as the writes left it.
#[tokio::test]
async fn a_stub_added_does_not_read_a_seed_file_again() {
    let spec = "resources:\n  users: { seed_file: users.json }\n";
    let m = Mock::with(
        spec,
        &[("users.json", br#"[{"id": 1, "name": "Ada"}]"#)],
        |c| c.watch = false,
    );
    let r = m.post_json("/users", &json!({"name": "Grace"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    std::fs::write(
        m.dir.path().join("users.json"),
        r#"[{"id": 1, "name": "Edited on disk"}]"#,
    )
    .unwrap();
    let r = add(&m, "{ path: /ping, response: { text: pong } }").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let names: Vec<Value> = common::json_of(m.get("/users").await)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(names, [json!("Ada"), json!("Grace")]);
}
