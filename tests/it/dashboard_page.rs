//! The dashboard in a real browser (headless Chromium over WebDriver): a request with a typo
//! shows the route that came closest and why; a broken save shows its error with the caret;
//! a scenario switched on the page is switched; a record edited on the page is what `GET`
//! returns; a push from the page reaches a WebSocket client; with a token, the page asks for
//! it. With `MOCKRIG_SCREENSHOTS=DIR`, it saves the screenshots the README shows
//! (`MOCKRIG_SCREENSHOTS=docs/ui cargo test --test it dashboard_page`).

use crate::browser::{WAIT, browser};
use crate::common::{self, Mock};

use fantoccini::{Client, Locator};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const SPEC: &str = r#"routes:
  - method: GET
    path: /users/{id}
    match:
      query: { v: "2" }
    response: { body: { id: "{{ params.id }}", name: Ada } }
  - method: POST
    path: /orders
    scenario: checkout
    when: started
    then: paid
    response: { status: 201, body: { ok: true } }
resources:
  todos:
    seed: [ { id: 1, title: Try mockrig, done: false } ]
websockets:
  - path: "/ws/rooms/{room}"
    mode: broadcast
"#;

/// Waits for the element at `css`, then for its text to satisfy `ok`; returns the text.
async fn text_of(b: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Ok(e) = b.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && ok(&t)
        {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css}: not as expected within {WAIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn click(b: &Client, css: &str) {
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} appears"))
        .click()
        .await
        .unwrap();
}

/// Saves a screenshot as `DIR/name.png` when `MOCKRIG_SCREENSHOTS=DIR` is set.
async fn screenshot(b: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("MOCKRIG_SCREENSHOTS") {
        let png = b.screenshot().await.unwrap();
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

#[tokio::test]
async fn the_dashboard_shows_misses_errors_routes_data_and_connections() {
    let m = Mock::start(SPEC, &[]);
    let (b, _driver, _profile) = browser().await;
    b.set_window_size(1360, 820).await.unwrap();
    b.goto(&m.at("/__mockrig/ui")).await.unwrap();
    text_of(&b, "#live", |t| t == "live").await;

    // Some traffic, with a typo in one request.
    assert_eq!(
        m.post_json("/orders", &json!({"item": "book"}))
            .await
            .status(),
        201
    );
    assert_eq!(m.get("/todos").await.status(), 200);
    assert_eq!(m.get("/users/7?v=2").await.status(), 200);
    assert_eq!(m.get("/users/7?v=3").await.status(), 404);
    let miss = "tr.request[data-matched='false']";
    click(&b, miss).await;
    let row = "#near-miss-table tr.failure";
    text_of(&b, &format!("{row} td.criterion"), |t| t == "query.v").await;
    text_of(&b, &format!("{row} td.expected"), |t| t == "2").await;
    text_of(&b, &format!("{row} td.actual"), |t| t == "3").await;
    text_of(&b, "#near-miss-route", |t| {
        t.contains("routes[0]") && t.contains("api.yaml:2")
    })
    .await;
    screenshot(&b, "requests").await;

    // A broken save: the error exactly as the API (and `check`) gives it, caret included.
    let spec = m.dir.path().join("api.yaml");
    std::fs::write(&spec, SPEC.replace("status: 201", "statuss: 201")).unwrap();
    click(&b, "#tab-health").await;
    text_of(&b, "#health-status", |t| t == "error").await;
    let shown = text_of(&b, "#reload-error", |t| t.contains('^')).await;
    let status = common::json_of(m.get("/__mockrig/status").await).await;
    assert_eq!(
        shown.trim_end(),
        status["reload_error"].as_str().unwrap().trim_end()
    );
    assert!(shown.contains("unknown key 'statuss'"), "{shown}");
    text_of(&b, "#health-badge", |t| t == "last save failed").await;
    screenshot(&b, "health").await;
    std::fs::write(&spec, SPEC).unwrap();
    text_of(&b, "#health-status", |t| t == "ok").await;

    // Routes: where each was written; a scenario switched from the page.
    click(&b, "#tab-routes").await;
    text_of(&b, "tr.route[data-source='routes[1]'] td.at", |t| {
        t.ends_with("api.yaml:7")
    })
    .await;
    text_of(&b, "tr.route[data-source='routes[1]'] td.answers", |t| {
        t == "1"
    })
    .await;
    // One GET /todos: the list endpoint answered it, not the one by id.
    let todos = "tr.route[data-source='resources.todos']";
    let counts = b
        .find_all(Locator::Css(&format!("{todos} td.answers")))
        .await
        .unwrap();
    let mut texts = Vec::new();
    for c in counts {
        texts.push(c.text().await.unwrap());
    }
    assert_eq!(texts.iter().filter(|t| *t == "1").count(), 1, "{texts:?}");
    let select = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(
            "select.scenario-state[data-scenario='checkout']",
        ))
        .await
        .unwrap();
    select.select_by_value("paid").await.unwrap();
    // A route opens on its lines as written: its conditions.
    click(&b, "tr.route[data-source='routes[0]']").await;
    let yaml = "tr.route[data-source='routes[0]'] + tr.route-yaml pre.yaml";
    text_of(&b, yaml, |t| t.contains("match:") && t.contains("v: \"2\"")).await;
    common::eventually("the scenario switched", WAIT, || async {
        let s = common::json_of(m.get("/__mockrig/scenarios").await).await;
        (s["scenarios"]["checkout"]["state"] == "paid").then_some(())
    })
    .await;
    screenshot(&b, "routes").await;

    // Data: a record edited on the page is what GET returns.
    click(&b, "#tab-data").await;
    let area = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("textarea.records[data-resource='todos']"))
        .await
        .unwrap();
    text_of(&b, "section.resource[data-resource='todos'] .count", |t| {
        t.contains('1')
    })
    .await;
    area.clear().await.unwrap();
    area.send_keys(r#"[{"id": 1, "title": "Edited on the page", "done": true}]"#)
        .await
        .unwrap();
    click(&b, "button.save[data-resource='todos']").await;
    let todo = common::eventually("the edit saved", WAIT, || async {
        let t = common::json_of(m.get("/todos/1").await).await;
        (t["title"] == "Edited on the page").then_some(t)
    })
    .await;
    assert_eq!(
        todo,
        json!({"id": 1, "title": "Edited on the page", "done": true})
    );
    screenshot(&b, "data").await;

    // Connections: a push from the page reaches a WebSocket client in the room it names.
    let url = m.url.replacen("http://", "ws://", 1) + "/ws/rooms/lobby";
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    click(&b, "#tab-connections").await;
    text_of(&b, "tr.client[data-path='/ws/rooms/lobby']", |_| true).await;
    b.find(Locator::Css("#push-kind"))
        .await
        .unwrap()
        .select_by_value("websocket")
        .await
        .unwrap();
    b.find(Locator::Css("#push-target-type"))
        .await
        .unwrap()
        .select_by_value("path")
        .await
        .unwrap();
    let target = b.find(Locator::Css("#push-target")).await.unwrap();
    target.clear().await.unwrap();
    target.send_keys("/ws/rooms/lobby").await.unwrap();
    let message = b.find(Locator::Css("#push-message")).await.unwrap();
    message.clear().await.unwrap();
    message
        .send_keys(r#"{"from": "the dashboard"}"#)
        .await
        .unwrap();
    click(&b, "#push-send").await;
    let got = loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message within the wait")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = frame {
            break serde_json::from_str::<Value>(&t).unwrap();
        }
    };
    assert_eq!(got, json!({"from": "the dashboard"}));
    text_of(&b, "#push-result", |t| t.contains("delivered to 1")).await;
    screenshot(&b, "connections").await;
    b.close().await.unwrap();
}

#[tokio::test]
async fn with_a_token_the_page_asks_for_it_and_then_shows_requests() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let mut config = common::config(&spec);
    config.admin_token = Some("s3cret".into());
    let m = Mock::attach(mockrig::MockServer::with_config(config).unwrap());
    let (b, _driver, _profile) = browser().await;
    b.goto(&m.at("/__mockrig/ui")).await.unwrap();
    let input = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#token-input"))
        .await
        .unwrap();
    // A wrong token is refused, and the form stays.
    input.send_keys("wrong").await.unwrap();
    click(&b, "#token-save").await;
    text_of(&b, "#token-error", |t| !t.trim().is_empty()).await;
    let input = b.find(Locator::Css("#token-input")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys("s3cret").await.unwrap();
    click(&b, "#token-save").await;
    text_of(&b, "#live", |t| t == "live").await;
    assert_eq!(m.get("/todos").await.status(), 200);
    text_of(&b, "tr.request td.path", |t| t.contains("/todos")).await;
    // Kept for this tab only: in sessionStorage, not in a cookie or localStorage.
    let kept = b
        .execute(
            "return [sessionStorage.getItem('mockrig.token'), localStorage.length, document.cookie]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, json!(["s3cret", 0, ""]));
    b.close().await.unwrap();
}
