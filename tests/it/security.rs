//! The attacks a hostile web page can make on a mock running on the developer's machine, as
//! the hardening issue wrote them down, each answered: the admin API refuses other origins,
//! rebound host names, bodies a page can send without a preflight, and preflights; the files
//! mockrig writes are never served.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{self, Mock, json_of};

const SPEC: &str = "\
routes:
  - { path: /hello, response: { text: hi } }
resources:
  items:
    seed: [ { id: 1, name: kept } ]
";

/// The page's own request: a "simple" cross-site POST, which a browser sends without asking.
async fn from_page(m: &Mock, path: &str, origin: &str, content_type: &str, body: &str) -> u16 {
    m.client
        .post(m.at(path))
        .header("origin", origin)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_page_on_another_origin_cannot_add_a_route_that_serves_a_secret() {
    let m = Mock::start(SPEC, &[(".env", b"TOKEN=s3cret")]);
    let stub = "{path: /leak, response: {file: .env}}";
    let status = from_page(
        &m,
        "/__mockrig/routes",
        "http://evil.example",
        "text/plain",
        stub,
    )
    .await;
    assert_eq!(status, 403, "another origin is refused");
    assert_eq!(m.get("/leak").await.status(), StatusCode::NOT_FOUND);
    // Even from the server's own origin, a body a page can send without a preflight is not
    // taken: only JSON or YAML.
    let own = m.url.clone();
    let status = from_page(&m, "/__mockrig/routes", &own, "text/plain", stub).await;
    assert_eq!(status, 415);
    let status = from_page(
        &m,
        "/__mockrig/routes",
        &own,
        "application/x-www-form-urlencoded",
        stub,
    )
    .await;
    assert_eq!(status, 415, "nor a form");
    let r = m
        .client
        .post(m.at("/__mockrig/routes"))
        .header("content-type", "text/plain")
        .body(stub)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert!(
        json_of(r).await["error"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    assert_eq!(m.get("/leak").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_page_cannot_reset_the_data_nor_read_it_through_a_rebound_name() {
    let m = Mock::start(SPEC, &[]);
    m.post_json("/items", &json!({"name": "written"})).await;
    let status = from_page(
        &m,
        "/__mockrig/reset",
        "http://evil.example",
        "text/plain",
        "",
    )
    .await;
    assert_eq!(status, 403);
    // DNS rebinding: the page's own name now points at 127.0.0.1; the browser sends it as Host.
    for path in [
        "/__mockrig/requests",
        "/__mockrig/state",
        "/__mockrig/status",
    ] {
        let r = m
            .client
            .get(m.at(path))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        let body = json_of(r).await;
        assert!(
            body["error"].as_str().unwrap().contains("--allow-host"),
            "says how to allow it: {body}"
        );
    }
    let items = json_of(m.get("/items").await).await;
    assert_eq!(items.as_array().unwrap().len(), 2, "nothing was reset");
    // The mock's own routes answer any name: dev-server proxies keep working.
    let r = m
        .client
        .get(m.at("/hello"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "hi");
    // Local names and the server's own origin are fine.
    let r = m
        .client
        .post(m.at("/__mockrig/reset"))
        .header("host", "localhost")
        .header("origin", m.url.replace("127.0.0.1", "localhost"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_admin_api_answers_no_preflight() {
    let m = Mock::start(SPEC, &[]);
    let r = m
        .client
        .request(reqwest::Method::OPTIONS, m.at("/__mockrig/routes"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert!(r.headers().get("access-control-allow-methods").is_none());
}

#[tokio::test]
async fn allowed_origins_and_hosts_and_a_token_open_the_door() {
    let m = Mock::with(SPEC, &[], |c| {
        c.allowed_origins = vec!["http://localhost:5173".into()];
        c.allowed_hosts = vec!["mock.test".into()];
    });
    let status = from_page(
        &m,
        "/__mockrig/verify",
        "http://localhost:5173",
        "application/json",
        r#"{"path": "/hello", "count": 0}"#,
    )
    .await;
    assert_eq!(status, 200, "an allowed dev-server origin");
    let r = m
        .client
        .get(m.at("/__mockrig/status"))
        .header("host", "mock.test:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "an allowed host name");
    // With a token, the token decides: a page can neither know it nor send it unasked.
    let m = Mock::with(SPEC, &[], |c| c.admin_token = Some("t0ken".into()));
    let r = m
        .client
        .post(m.at("/__mockrig/ws/send?path=/ws/x"))
        .header("host", "mock.example.com")
        .header("origin", "https://ci.example.com")
        .bearer_auth("t0ken")
        .body("plain text")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = m
        .client
        .get(m.at("/__mockrig/status"))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "and it is needed");
}

#[tokio::test]
async fn the_files_mockrig_writes_are_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("api.yaml"),
        "static:\n  - { path: /, dir: . }\nresources:\n  items: {}\n",
    )
    .unwrap();
    let state = root.join("state.json");
    let ready = root.join("ready.txt");
    let mut config = common::config(&root.join("api.yaml"));
    config.state_file = Some(state.clone());
    config.ready_file = Some(ready.clone());
    let m = Mock::attach(mockrig::MockServer::with_config(config).unwrap());
    m.post_json("/items", &json!({"secret": "data"})).await;
    assert!(state.exists() && ready.exists());
    for path in ["/state.json", "/state.json.journal", "/ready.txt"] {
        assert_eq!(m.get(path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        m.get("/api.yaml").await.status(),
        StatusCode::OK,
        "the rest is served"
    );
    // A route cannot name them either.
    let out = mockrig::check_file(&write_spec(
        root,
        "routes:\n  - { path: /s, response: { file: state.json } }\n",
    ));
    assert!(out.is_ok(), "check knows no state file: {out:?}");
    let r = m
        .client
        .post(m.at("/__mockrig/routes"))
        .header("content-type", "application/yaml")
        .body("{ path: /s, response: { file: state.json } }")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("is the state file, which mockrig never serves"),
        "{e}"
    );
}

fn write_spec(dir: &std::path::Path, yaml: &str) -> std::path::PathBuf {
    let path = dir.join("other.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}
