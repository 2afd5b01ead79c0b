//! The Rust test-harness API, used as a Rust project would use it in its own `cargo test`.

use crate::common;

use mockrig::MockServer;
use serde_json::json;

#[tokio::test]
async fn start_call_verify_in_five_lines() {
    let mock = MockServer::from_yaml(
        "routes:\n  - { method: POST, path: /orders, response: { status: 201, body: { id: 7 } } }\n",
    );
    let client = common::client();
    let r = client
        .post(format!("{}/orders", mock.url()))
        .json(&json!({"item": "book"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        mock.verify(json!({"method": "POST", "path": "/orders", "count": 1}))
            .unwrap(),
        1
    );
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(mock.requests()[0]["body"], json!({"item": "book"}));

    let err = mock
        .verify(json!({"method": "POST", "path": "/orders", "body": {"item": "pen"}}))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("0 matched") && err.contains("\"body\""),
        "{err}"
    );
    assert!(mock.verify(json!({"nonsense": 1})).is_err());

    mock.reset();
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn start_from_a_spec_file_and_reset_resources() {
    let mock = MockServer::start(common::repo_path("examples/crud.yaml"));
    let client = common::client();
    let r = client
        .post(format!("{}/users", mock.url()))
        .json(&json!({"name": "Grace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let count = |mock: &MockServer| {
        let url = format!("{}/users", mock.url());
        let client = client.clone();
        async move {
            let list: serde_json::Value =
                client.get(url).send().await.unwrap().json().await.unwrap();
            list.as_array().unwrap().len()
        }
    };
    assert_eq!(count(&mock).await, 3);
    mock.reset();
    assert_eq!(count(&mock).await, 2, "back to the seed");
}

#[test]
fn a_broken_spec_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        "routes:\n  - path: /a\n    response: { stauts: 200 }\n",
    )
    .unwrap();
    let err = MockServer::try_start(&spec).err().expect("must not start");
    assert!(err.to_string().contains("did you mean 'status'"), "{err}");
}

#[tokio::test]
async fn dropping_the_mock_stops_it() {
    let mock = MockServer::from_yaml("routes:\n  - { path: /up, response: { text: up } }\n");
    let url = mock.url();
    let addr = url.trim_start_matches("http://").to_owned();
    let client = common::client();
    assert_eq!(
        client
            .get(format!("{url}/up"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "up"
    );
    drop(mock);
    // Dropping joins the server's thread, so the port is closed by now.
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "{addr} still accepts"
    );
}
