//! The examples in a real browser: headless Chromium, driven over WebDriver (chromedriver)
//! with fantoccini. The chat page in two tabs: what one tab sends, the other shows. The
//! storefront page on one origin calls the shop API on another, with cookies and a custom
//! header, through CORS.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Only loopback.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub(crate) const WAIT: Duration = Duration::from_secs(15);

use common::free_port;

/// Starts chromedriver and waits until it answers `/status`.
async fn chromedriver() -> (common::Proc, String) {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "the browser test needs Debian's chromium and chromium-driver: \
         apt-get install -y chromium chromium-driver (.ci/run does)"
    );
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let proc = common::Proc(child);
    let url = format!("http://127.0.0.1:{port}");
    let client = common::client();
    common::eventually("chromedriver answering /status", WAIT, || async {
        let r = client.get(format!("{url}/status")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    (proc, url)
}

/// Waits until the page says its WebSocket is open.
async fn connected(b: &fantoccini::Client) {
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//span[@id='status' and text()='connected']",
        ))
        .await
        .expect("the page connects to /ws/chat");
}

/// A headless Chromium session with a fresh profile; keep the returned guards alive.
pub(crate) async fn browser() -> (fantoccini::Client, common::Proc, tempfile::TempDir) {
    let (driver, driver_url) = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        },
    });
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&driver_url)
        .await
        .expect("a Chromium session");
    (browser, driver, profile)
}

#[tokio::test]
async fn two_tabs_of_the_chat_example_talk_to_each_other() {
    let server = common::serve(&common::repo_path("examples/chat.yaml")).unwrap();
    let page = server.url() + "/";
    let (browser, _driver, _profile) = browser().await;

    browser.goto(&page).await.unwrap();
    connected(&browser).await;
    let tab_a = browser.window().await.unwrap();
    let tab_b = browser.new_window(true).await.unwrap().handle;
    browser.switch_to_window(tab_b.clone()).await.unwrap();
    browser.goto(&page).await.unwrap();
    connected(&browser).await;

    // Tab A sends.
    browser.switch_to_window(tab_a.clone()).await.unwrap();
    browser
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("alice")
        .await
        .unwrap();
    browser
        .find(Locator::Id("text"))
        .await
        .unwrap()
        .send_keys("hello from tab A")
        .await
        .unwrap();
    browser
        .find(Locator::Id("send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Tab B shows it.
    browser.switch_to_window(tab_b).await.unwrap();
    let shown = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//li[@class='msg'][contains(., 'hello from tab A')]",
        ))
        .await
        .expect("tab B shows tab A's message");
    assert_eq!(shown.text().await.unwrap(), "alice:hello from tab A");

    // And B answers A.
    browser
        .find(Locator::Id("text"))
        .await
        .unwrap()
        .send_keys("hi alice")
        .await
        .unwrap();
    browser
        .find(Locator::Id("send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.switch_to_window(tab_a).await.unwrap();
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//li[@class='msg'][contains(., 'anonymous:hi alice')]",
        ))
        .await
        .expect("tab A shows tab B's answer");
    browser.close().await.unwrap();
}

/// Clicks the button `id` and waits until `#out` shows text containing `expected`.
async fn click_and_read(b: &fantoccini::Client, id: &str, out: &str, expected: &str) -> String {
    b.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let el = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&format!(
            "//pre[@id='{out}'][contains(., '{expected}')]"
        )))
        .await
        .unwrap_or_else(|_| panic!("#{out} never showed {expected:?}"));
    el.text().await.unwrap()
}

#[tokio::test]
async fn a_page_on_another_origin_calls_the_shop_with_cookies_and_a_custom_header() {
    let api = common::serve(&common::repo_path("examples/shop.yaml")).unwrap();
    let front = common::serve(&common::repo_path("examples/storefront.yaml")).unwrap();
    assert_ne!(api.url(), front.url(), "two origins: the ports differ");
    let (browser, _driver, _profile) = browser().await;
    browser
        .goto(&format!("{}/?api={}", front.url(), api.url()))
        .await
        .unwrap();

    let login = click_and_read(&browser, "login", "login-out", "200").await;
    assert!(login.contains("\"user\":\"ada\""), "{login}");
    // The custom header needs a preflight; the cookie the login set goes along.
    let me = click_and_read(&browser, "me", "me-out", "200").await;
    let body: serde_json::Value =
        serde_json::from_str(me.trim_start_matches("200 ")).expect("JSON from /me");
    let session = body["session"].as_str().unwrap();
    assert_ne!(
        session, "none",
        "the session cookie was sent cross-origin: {me}"
    );
    assert_eq!(session.len(), 36, "the uuid the login set: {me}");
    let cart = click_and_read(&browser, "cart", "cart-out", "total").await;
    assert!(cart.contains("\"sku\":\"pen\""), "{cart}");

    // The API saw the preflight and the real calls, from the page's origin.
    let journal: serde_json::Value = common::client()
        .get(format!("{}/__mockrig/requests?path=/me", api.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let methods: Vec<&str> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["OPTIONS", "GET"], "a preflight, then the call");
    assert_eq!(journal["requests"][1]["headers"]["origin"], front.url());
    browser.close().await.unwrap();
}

/// A real `EventSource` whose stream is dropped while three events are pushed: it reconnects
/// by itself with `Last-Event-ID` and shows all three, in order.
#[tokio::test]
async fn an_event_source_gets_the_events_pushed_while_it_was_disconnected() {
    let page = r#"<!doctype html>
<p>opened <span id="opens">0</span> times</p>
<ul id="got"></ul>
<script>
  let opens = 0;
  const es = new EventSource('/feed');
  es.onopen = () => { document.getElementById('opens').textContent = String(++opens); };
  es.onmessage = (e) => {
    const li = document.createElement('li');
    li.className = 'ev';
    li.textContent = e.lastEventId + ':' + e.data;
    document.getElementById('got').appendChild(li);
  };
</script>
"#;
    let m = common::Mock::start(
        "sse:\n  - path: /feed\n    retry: 1500\nstatic:\n  - path: /page\n    dir: public\n",
        &[("public/index.html", page.as_bytes())],
    );
    let push = |body: &'static str| {
        let c = m.client.clone();
        let url = m.at("/__mockrig/sse/send?path=/feed");
        async move {
            let r = c
                .post(url)
                .header("content-type", "application/json")
                .body(format!("{body:?}"))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    };
    let (browser, _driver, _profile) = browser().await;
    browser.goto(&m.at("/page/")).await.unwrap();
    let opened = |n: &str| format!("//span[@id='opens' and text()='{n}']");
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&opened("1")))
        .await
        .expect("the EventSource opens");
    push("one").await;
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//li[@class='ev' and text()='e1:one']"))
        .await
        .expect("a live event arrives");
    // The server drops the stream; the page reconnects after `retry` (1.5 s), and three
    // events are pushed before it does.
    let r = m
        .client
        .post(m.at("/__mockrig/sse/close?path=/feed"))
        .send()
        .await
        .unwrap();
    assert_eq!(common::json_of(r).await["closed"], 1);
    for body in ["a", "b", "c"] {
        push(body).await;
    }
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&opened("2")))
        .await
        .expect("the EventSource reconnects by itself");
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath("//li[@class='ev' and text()='e4:c']"))
        .await
        .expect("the events pushed while it was away arrive");
    let mut shown = Vec::new();
    for li in browser.find_all(Locator::Css("li.ev")).await.unwrap() {
        shown.push(li.text().await.unwrap());
    }
    assert_eq!(shown, ["e1:one", "e2:a", "e3:b", "e4:c"]);
    browser.close().await.unwrap();
}

/// The realtime example: one order's status shown by polling, long polling, SSE and a
/// WebSocket; each press of "Advance" reaches all four.
#[tokio::test]
async fn the_realtime_page_updates_all_four_ways() {
    let server = common::serve(&common::repo_path("examples/realtime.yaml")).unwrap();
    let (browser, _driver, _profile) = browser().await;
    browser.goto(&(server.url() + "/")).await.unwrap();
    let all_show = |status: &'static str| {
        let browser = browser.clone();
        async move {
            for id in ["poll", "long", "sse", "ws"] {
                browser
                    .wait()
                    .at_most(WAIT)
                    .for_element(Locator::XPath(&format!(
                        "//span[@id='{id}' and text()='{status}']"
                    )))
                    .await
                    .unwrap_or_else(|_| panic!("#{id} never showed {status}"));
            }
        }
    };
    all_show("placed").await;
    // The live channels must be connected before the first write, or they would miss it
    // (the stream and the socket show the state read at load until then).
    let client = common::client();
    common::eventually("the page's channels", WAIT, || async {
        let c = common::json_of(
            client
                .get(server.url() + "/__mockrig/connections")
                .send()
                .await
                .ok()?,
        )
        .await;
        let ready = c["websockets"]["/ws/order"] == 1
            && c["sse"]["/events/order"] == 1
            && c["waiting"]["order"] == 1;
        ready.then_some(())
    })
    .await;
    for status in ["paid", "packed"] {
        browser
            .find(Locator::Id("advance"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        all_show(status).await;
    }
    browser.close().await.unwrap();
}
