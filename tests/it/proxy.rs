//! Proxy and record: requests passed to real local backends (a bare actix-web server, another
//! mockrig, a TLS backend with a self-signed certificate, one that drops the connection, one
//! that hangs), and recordings served back with the backend stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::{SinkExt, StreamExt};
use mockrig::{MockServer, RecordOptions, ServeConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{self, Mock, eventually, json_of};

/// A bare actix-web backend on its own thread; stopped when dropped.
struct Backend {
    url: String,
    handle: actix_web::dev::ServerHandle,
    /// Lets `/held` send the rest of its body.
    release: Arc<tokio::sync::Notify>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let stop = self.handle.stop(false);
        // The stop command is a message to the server's own thread; wait for it there.
        std::thread::spawn(move || futures_executor_block_on(stop))
            .join()
            .ok();
    }
}

fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// 300,000 bytes that are not text: a download that must arrive byte for byte.
fn binary_blob() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

async fn echo(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), json!(v.to_str().unwrap_or("?"))))
        .collect();
    HttpResponse::Ok()
        .insert_header(("x-backend", "bare"))
        .json(json!({
            "method": req.method().as_str(),
            "path": req.path(),
            "query": req.query_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
            "version": format!("{:?}", req.version()),
        }))
}

fn backend_app(
    counter: Arc<AtomicU64>,
    release: Arc<tokio::sync::Notify>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .route(
            "/users/{id}",
            web::get().to(|p: web::Path<u32>| async move {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(format!(r#"{{"id":{},"name":"user {}"}}"#, p, p))
            }),
        )
        .route(
            "/bytes",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/octet-stream")
                    .insert_header(("x-custom", "1"))
                    .body(binary_blob())
            }),
        )
        .route(
            "/counter",
            web::get().to(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(format!(r#"{{"n":{n}}}"#))
                }
            }),
        )
        .route(
            "/search",
            web::get().to(
                |q: web::Query<std::collections::HashMap<String, String>>| async move {
                    let hits: Vec<&str> = match q.get("q").map(String::as_str) {
                        Some("ann") => vec!["Ann"],
                        _ => vec![],
                    };
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(serde_json::to_vec(&hits).unwrap())
                },
            ),
        )
        .route(
            "/login",
            web::post().to(|| async {
                HttpResponse::Ok()
                    .insert_header(("set-cookie", "sid=secret123; Path=/; HttpOnly"))
                    .content_type("application/json")
                    .body(r#"{"ok":true}"#)
            }),
        )
        .route(
            "/page",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body("<h1>{{ not a template }}</h1>\n")
            }),
        )
        .route(
            "/missing",
            web::get().to(|| async {
                HttpResponse::NotFound()
                    .content_type("application/json")
                    .body(r#"{"error":"nope"}"#)
            }),
        )
        .route(
            "/held",
            web::get().to(move || {
                let release = release.clone();
                async move {
                    let body = futures_util::stream::unfold(0u8, move |step| {
                        let release = release.clone();
                        async move {
                            match step {
                                0 => {
                                    Some((Ok::<_, actix_web::Error>(web::Bytes::from("first;")), 1))
                                }
                                1 => {
                                    release.notified().await;
                                    Some((Ok(web::Bytes::from("second")), 2))
                                }
                                _ => None,
                            }
                        }
                    });
                    HttpResponse::Ok()
                        .content_type("text/plain")
                        .streaming(body)
                }
            }),
        )
        .default_service(web::to(echo))
}

/// Starts the bare backend, over TLS with `tls` (certificate and key, DER).
fn backend(tls: Option<rustls::ServerConfig>) -> Backend {
    let (tx, rx) = std::sync::mpsc::channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let held = release.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let counter = Arc::new(AtomicU64::new(0));
            let server =
                HttpServer::new(move || backend_app(counter.clone(), held.clone())).workers(1);
            let server = match tls {
                Some(config) => server.bind_rustls_0_23("127.0.0.1:0", config),
                None => server.bind("127.0.0.1:0"),
            }
            .unwrap();
            let addr = server.addrs()[0];
            let running = server.disable_signals().run();
            tx.send((addr, running.handle())).unwrap();
            running.await
        })
    });
    let (addr, handle) = rx.recv().unwrap();
    Backend {
        url: format!("http://{addr}"),
        handle,
        release,
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn front(yaml: &str) -> Mock {
    Mock::start(yaml, &[])
}

/// The status, the headers the test compares and the body bytes of an answer.
async fn answer(r: reqwest::Response) -> (StatusCode, Option<String>, Vec<u8>) {
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, ct, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn three_routes_are_mocked_and_everything_else_comes_from_the_backend_byte_for_byte() {
    let b = backend(None);
    let m = front(&format!(
        r#"
server:
  fallback:
    proxy: {url}
routes:
  - path: /users/1
    response: {{ body: {{ id: 1, name: mocked }} }}
  - method: POST
    path: /orders
    response: {{ status: 201, body: {{ id: 9 }} }}
  - path: /health
    response: {{ text: mocked ok }}
"#,
        url = b.url
    ));
    let c = common::client();
    // The three mocked routes answer themselves.
    assert_eq!(json_of(m.get("/users/1").await).await["name"], "mocked");
    let r = c.post(m.at("/orders")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(m.get("/health").await.text().await.unwrap(), "mocked ok");
    // Everything else is the backend's, byte for byte.
    for path in ["/users/2", "/bytes", "/missing", "/search?q=ann", "/page"] {
        let direct = answer(c.get(format!("{}{path}", b.url)).send().await.unwrap()).await;
        let proxied = answer(m.get(path).await).await;
        assert_eq!(proxied, direct, "{path}");
    }
    let r = m.get("/bytes").await;
    assert_eq!(r.headers()["x-custom"], "1");
    assert_eq!(r.headers()["content-length"], "300000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), binary_blob().as_slice());
    // A POST with a body and a query, and a method no route has.
    let r = c
        .put(m.at("/things/7?x=1&y=%20"))
        .header("content-type", "text/plain")
        .header("x-mine", "kept")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "dropped")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-backend"], "bare");
    let seen = json_of(r).await;
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["path"], "/things/7");
    assert_eq!(seen["query"], "x=1&y=%20");
    assert_eq!(seen["body"], "payload");
    let h = &seen["headers"];
    assert_eq!(h["x-mine"], "kept");
    assert!(
        h.get("x-hop").is_none(),
        "a header Connection names is hop-by-hop: {h}"
    );
    assert_eq!(
        h["host"],
        b.url.trim_start_matches("http://"),
        "Host is the backend's"
    );
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], m.url.trim_start_matches("http://"));
    // A method the mocked path does not take goes to the backend too, not a 405.
    let seen = json_of(c.delete(m.at("/health")).send().await.unwrap()).await;
    assert_eq!(seen["method"], "DELETE");
}

#[tokio::test]
async fn a_route_rewrites_the_path_and_sets_and_removes_headers() {
    let b = backend(None);
    let m = front(&format!(
        r#"
routes:
  - path: /api/{{*rest}}
    method: ANY
    proxy:
      url: {url}/v2
      headers: {{ x-api-key: k3y }}
      remove_headers: [cookie]
      keep_host: true
  - path: /legacy/users/{{id}}
    proxy: {{ url: "{url}", path: "/people/{{id}}/profile" }}
  - path: /old/{{*rest}}
    proxy: {{ url: "{url}", strip_prefix: /old }}
"#,
        url = b.url
    ));
    let seen = json_of(
        m.client
            .get(m.at("/api/a/b?q=1"))
            .header("cookie", "sid=1")
            .header("x-api-key", "client's")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(seen["path"], "/v2/api/a/b");
    assert_eq!(seen["query"], "q=1");
    assert_eq!(seen["headers"]["x-api-key"], "k3y");
    assert!(seen["headers"].get("cookie").is_none());
    assert_eq!(seen["headers"]["host"], m.url.trim_start_matches("http://"));
    let seen = json_of(m.get("/legacy/users/a%20b").await).await;
    assert_eq!(seen["path"], "/people/a%20b/profile");
    let seen = json_of(m.get("/old/x/y").await).await;
    assert_eq!(seen["path"], "/x/y");
}

#[tokio::test]
async fn a_large_answer_streams_through_instead_of_being_buffered_whole() {
    let b = backend(None);
    let m = front(&format!(
        "server: {{ fallback: {{ proxy: \"{}\" }} }}\n",
        b.url
    ));
    let mut r = m.get("/held").await;
    assert_eq!(r.status(), 200);
    // The backend holds the rest of its body until released: the first part must already be
    // here, so the proxy does not wait for the whole.
    let first = tokio::time::timeout(Duration::from_secs(5), r.chunk())
        .await
        .expect("the first part arrives while the backend still holds the rest")
        .unwrap()
        .unwrap();
    assert_eq!(first.as_ref(), b"first;");
    b.release.notify_one();
    let mut rest = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"second");
}

#[tokio::test]
async fn a_backend_that_is_down_is_a_quick_502_that_names_it() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let m = front(&format!("server: {{ fallback: {{ proxy: \"{url}\" }} }}\n"));
    let started = Instant::now();
    let r = m.get("/anything").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status(), 502);
    let body = json_of(r).await;
    assert_eq!(body["backend"], url);
    assert_eq!(body["route"], "server.fallback");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("connect"),
        "{body}"
    );
    // The journal says what happened upstream.
    let j = json_of(m.get("/__mockrig/requests").await).await;
    let last = j["requests"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["status"], 502);
    assert_eq!(last["upstream"]["url"], format!("{url}/anything"));
    assert_eq!(last["upstream"]["status"], Value::Null);
}

#[tokio::test]
async fn a_backend_that_hangs_is_a_504_after_the_routes_timeout() {
    // Accepts and reads, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            kept.push(s);
        }
    });
    let m = front(&format!(
        "routes:\n  - path: /slow\n    proxy: {{ url: \"http://{addr}\", timeout: 300ms }}\n"
    ));
    let started = Instant::now();
    let r = m.get("/slow").await;
    let took = started.elapsed();
    assert_eq!(r.status(), 504);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(json_of(r).await["timeout_ms"], 300);
    held.abort();
}

#[tokio::test]
async fn a_backend_that_drops_the_connection_is_a_502() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dropper = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            drop(s);
        }
    });
    let m = front(&format!(
        "server: {{ fallback: {{ proxy: \"http://{addr}\" }} }}\n"
    ));
    let r = m.get("/x").await;
    assert_eq!(r.status(), 502);
    assert_eq!(json_of(r).await["backend"], format!("http://{addr}"));
    dropper.abort();
}

/// A self-signed certificate for localhost: the rustls server config and the PEM to trust.
fn self_signed() -> (rustls::ServerConfig, String) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![generated.cert.der().clone()], key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (config, generated.cert.pem())
}

#[tokio::test]
async fn an_https_backend_is_reached_over_http2_when_its_certificate_is_trusted() {
    let (tls, pem) = self_signed();
    let b = backend(Some(tls));
    let port = b.url.rsplit(':').next().unwrap().to_owned();
    let spec = format!("server: {{ fallback: {{ proxy: \"https://localhost:{port}\" }} }}\n");
    // Not trusted: a 502 that says why.
    let untrusted = front(&spec);
    let r = untrusted.get("/who").await;
    assert_eq!(r.status(), 502);
    let reason = json_of(r).await["reason"].as_str().unwrap().to_owned();
    assert!(reason.to_lowercase().contains("certificate"), "{reason}");
    // Trusted by --upstream-ca: HTTP/2, negotiated by ALPN.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let trusted = Mock::with(&spec, &[], |c| c.upstream.ca_files = vec![ca.clone()]);
    let seen = json_of(trusted.get("/who").await).await;
    assert_eq!(seen["version"], "HTTP/2.0");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "http");
    // --insecure-upstream: any certificate.
    let insecure = Mock::with(&spec, &[], |c| c.upstream.insecure = true);
    assert_eq!(json_of(insecure.get("/who").await).await["path"], "/who");
}

#[tokio::test]
async fn websocket_upgrades_on_a_proxied_path_pass_frames_both_ways() {
    let backend = Mock::start(
        "websockets:\n  - path: /ws/echo\n    mode: echo\n    subprotocols: [chat]\n",
        &[],
    );
    let m = front(&format!(
        "server: {{ fallback: {{ proxy: \"{}\" }} }}\n",
        backend.url
    ));
    let url = m.url.replacen("http://", "ws://", 1) + "/ws/echo";
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "chat".parse().unwrap());
    let (mut ws, response) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .unwrap()
    .expect("handshake through the proxy");
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
    ws.send(Message::text("hello")).await.unwrap();
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an echo within 5 s")
            .unwrap()
            .unwrap();
        if matches!(msg, Message::Text(_) | Message::Binary(_)) {
            got.push(msg);
        }
    }
    assert_eq!(got[0], Message::text("hello"));
    assert_eq!(got[1], Message::binary(vec![0u8, 1, 2, 255]));
    ws.close(None).await.unwrap();
    // A client's text that is not UTF-8 is closed with 1007, as on a channel of mockrig's own.
    {
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
        let url = m.url.replacen("http://", "ws://", 1) + "/ws/echo";
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let bad = Frame::message(vec![b'a', 0xff, 0xfe], OpCode::Data(Data::Text), true);
        ws.send(Message::Frame(bad)).await.unwrap();
        let code = loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| f.code),
                Ok(Some(Ok(_))) => continue,
                other => panic!("expected a close, got {other:?}"),
            }
        };
        assert_eq!(code, Some(CloseCode::Invalid));
    }
    // An upgrade the backend refuses is the client's refusal too, at once.
    let url = m.url.replacen("http://", "ws://", 1) + "/ws/none";
    let e = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(
        e.to_string().contains("502") || e.to_string().contains("404"),
        "{e}"
    );
}

fn record_config(out: &std::path::Path, generalise: bool) -> impl FnOnce(&mut ServeConfig) {
    let out = out.to_owned();
    move |c: &mut ServeConfig| {
        c.record = Some(RecordOptions {
            out,
            generalise_ids: generalise,
            redact: vec!["x-custom".into()],
            overwrite: false,
        })
    }
}

/// Waits until the recording holds `routes` routes, and returns it.
async fn recorded(out: &std::path::Path, routes: usize) -> Value {
    eventually("the recording", Duration::from_secs(10), || async {
        let text = std::fs::read_to_string(out).ok()?;
        let spec: Value = serde_yaml::from_str(&text).ok()?;
        (spec["routes"].as_array()?.len() == routes).then_some(spec)
    })
    .await
}

#[tokio::test]
async fn a_recording_serves_the_same_answers_with_the_backend_stopped() {
    let b = backend(None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("recorded.yaml");
    let spec = format!("server: {{ fallback: {{ proxy: \"{}\" }} }}\n", b.url);
    let rec = Mock::with(&spec, &[], record_config(&out, false));
    let c = common::client();
    let requests: Vec<(&str, &str)> = vec![
        ("GET", "/users/1"),
        ("GET", "/users/1"),
        ("GET", "/counter"),
        ("GET", "/counter"),
        ("GET", "/search?q=ann"),
        ("GET", "/search?q=bob"),
        ("GET", "/bytes"),
        ("GET", "/page"),
        ("GET", "/missing"),
        ("POST", "/login"),
    ];
    let mut live = Vec::new();
    for (method, path) in &requests {
        let r = c
            .request(method.parse().unwrap(), rec.at(path))
            .send()
            .await
            .unwrap();
        live.push(answer(r).await);
    }
    // users/1, counter, search ×2, bytes, page, missing, login.
    let spec_now = recorded(&out, 8).await;
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains("secret123"),
        "the cookie's value is redacted:\n{text}"
    );
    assert!(text.contains("sid=REDACTED; Path=/; HttpOnly"), "{text}");
    let routes = spec_now["routes"].as_array().unwrap();
    let counter = routes.iter().find(|r| r["path"] == "/counter").unwrap();
    assert_eq!(
        counter["responses"].as_array().unwrap().len(),
        2,
        "{counter}"
    );
    let users = routes.iter().find(|r| r["path"] == "/users/1").unwrap();
    assert_eq!(
        users["response"]["body"],
        json!({"id": 1, "name": "user 1"})
    );
    let searches: Vec<_> = routes.iter().filter(|r| r["path"] == "/search").collect();
    assert_eq!(searches.len(), 2);
    assert!(
        searches
            .iter()
            .all(|r| r["match"]["query"]["q"].is_string())
    );
    let bytes = routes.iter().find(|r| r["path"] == "/bytes").unwrap();
    assert!(bytes["response"]["file"].is_string(), "{bytes}");
    assert_eq!(bytes["response"]["headers"]["x-custom"], "REDACTED");
    // The recording passes `check`.
    mockrig::check_file(&out).unwrap_or_else(|e| panic!("{e}"));
    drop(rec);
    drop(b);
    // Served with the backend gone: the same answers, in the same order.
    let replay = Mock::attach(MockServer::with_config(common::config(&out)).unwrap());
    for ((method, path), before) in requests.iter().zip(&live) {
        let r = c
            .request(method.parse().unwrap(), replay.at(path))
            .send()
            .await
            .unwrap();
        let again = answer(r).await;
        if *path == "/bytes" {
            // Its x-custom header was redacted; status, type and bytes are the backend's.
            assert_eq!((again.0, &again.2), (before.0, &before.2), "{path}");
        } else {
            assert_eq!(&again, before, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn recording_can_generalise_ids_and_never_overwrites_a_file_unasked() {
    let b = backend(None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ids.yaml");
    let spec = format!("server: {{ fallback: {{ proxy: \"{}\" }} }}\n", b.url);
    let rec = Mock::with(&spec, &[], record_config(&out, true));
    for id in [1, 2] {
        assert_eq!(rec.get(&format!("/users/{id}")).await.status(), 200);
    }
    // Both answers land in one route, once the second has been written.
    let spec_now = eventually("the second answer", Duration::from_secs(10), || async {
        let spec: Value = serde_yaml::from_str(&std::fs::read_to_string(&out).ok()?).ok()?;
        spec["routes"][0]["responses"].is_array().then_some(spec)
    })
    .await;
    assert_eq!(spec_now["routes"].as_array().unwrap().len(), 1);
    assert_eq!(spec_now["routes"][0]["path"], "/users/{id}");
    assert_eq!(
        spec_now["routes"][0]["responses"].as_array().unwrap().len(),
        2
    );
    drop(rec);
    // The file exists now: a second recording into it is refused.
    let spec_file = dir.path().join("front.yaml");
    std::fs::write(&spec_file, &spec).unwrap();
    let mut config = common::config(&spec_file);
    record_config(&out, false)(&mut config);
    let e = MockServer::with_config(config).err().expect("refused");
    assert!(e.to_string().contains("--overwrite"), "{e}");
}

#[tokio::test]
async fn mockrig_record_writes_a_spec_that_serve_answers_from() {
    let b = backend(None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec.yaml");
    let mut child = common::Proc(
        std::process::Command::new(env!("CARGO_BIN_EXE_mockrig"))
            .args([
                "record", "--port", "0", "--quiet", "--target", &b.url, "--out",
            ])
            .arg(&out)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let url = common::listening_url(&mut child.0);
    let c = common::client();
    let got = c.get(format!("{url}/users/5")).send().await.unwrap();
    let got = got.text().await.unwrap();
    assert_eq!(got, r#"{"id":5,"name":"user 5"}"#);
    let text = eventually("the recording", Duration::from_secs(10), || async {
        std::fs::read_to_string(&out)
            .ok()
            .filter(|t| t.contains("/users/5"))
    })
    .await;
    assert!(text.starts_with("# Recorded by mockrig from"), "{text}");
    drop(child);
    drop(b);
    let served = Mock::attach(common::serve(&out).unwrap());
    assert_eq!(served.get("/users/5").await.text().await.unwrap(), got);
}

#[test]
fn proxy_mistakes_are_reported_with_their_place() {
    let e = mockrig::check_text(
        r#"
server:
  fallback:
    proxy: localhost:8080
routes:
  - path: /a/{id}
    proxy: { url: "http://x", path: "/b/{idd}", timeout: 0s }
    response: { text: both }
"#,
        std::path::Path::new("api.yaml"),
    )
    .expect_err("errors")
    .to_string();
    for says in [
        "api.yaml:4:12",
        "needs a scheme",
        "did you mean 'id'",
        "must be more than 0",
        "proxy or with response",
    ] {
        assert!(e.contains(says), "{says} in:\n{e}");
    }
}

#[tokio::test]
async fn a_backend_that_stalls_mid_answer_is_cut_off_after_the_timeout() {
    let b = backend(None);
    let m = front(&format!(
        "routes:\n  - path: /held\n    proxy: {{ url: \"{}\", timeout: 300ms }}\n",
        b.url
    ));
    let mut r = m.get("/held").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.chunk().await.unwrap().unwrap().as_ref(), b"first;");
    // The backend never sends the rest: the answer breaks off instead of hanging.
    let started = Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match r.chunk().await {
                Ok(Some(_)) => {}
                other => return other.map(|_| ()),
            }
        }
    })
    .await
    .expect("the answer ends within 5 s");
    assert!(
        rest.is_err(),
        "a cut-off answer is an error, not a short success"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn head_requests_keep_the_backends_length_and_journal_the_upstream() {
    let text = "x".repeat(5000);
    let b = Mock::start(
        &format!(
            "routes:\n  - path: /big\n    response: {{ text: {text}, headers: {{ x-custom: '1' }} }}\n"
        ),
        &[],
    );
    let m = front(&format!(
        "server: {{ fallback: {{ proxy: \"{}\" }} }}\n",
        b.url
    ));
    let r = m.client.head(m.at("/big")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "5000");
    assert_eq!(r.headers()["x-custom"], "1");
    assert!(r.bytes().await.unwrap().is_empty());
    let j = json_of(m.get("/__mockrig/requests").await).await;
    let last = j["requests"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["method"], "HEAD");
    assert_eq!(last["matched"], "server.fallback");
    assert_eq!(last["upstream"]["status"], 200);
    assert_eq!(last["upstream"]["url"], format!("{}/big", b.url));
    assert!(last["upstream"]["duration_ms"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn a_server_serving_the_recording_reloads_it_as_traffic_arrives() {
    let b = backend(None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.yaml");
    let spec = format!("server: {{ fallback: {{ proxy: \"{}\" }} }}\n", b.url);
    let rec = Mock::with(&spec, &[], record_config(&out, false));
    // The recorder writes an empty spec at once; serve it and watch it grow.
    let replay = Mock::attach(MockServer::with_config(common::config(&out)).unwrap());
    assert_eq!(replay.get("/users/3").await.status(), 404);
    assert_eq!(rec.get("/users/3").await.status(), 200);
    let body = eventually("the reload", Duration::from_secs(10), || async {
        let r = replay.get("/users/3").await;
        (r.status() == 200).then_some(())?;
        Some(r.text().await.unwrap())
    })
    .await;
    assert_eq!(body, r#"{"id":3,"name":"user 3"}"#);
}

#[tokio::test]
async fn a_proxy_that_points_at_itself_answers_508_at_once() {
    let port = closed_port();
    let spec = format!("server: {{ fallback: {{ proxy: \"http://127.0.0.1:{port}\" }} }}\n");
    let m = Mock::with(&spec, &[], |c| c.port = port);
    let started = Instant::now();
    let r = m.get("/anything").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status(), 508);
    let via = r.headers().get("via").cloned();
    let body = json_of(r).await;
    assert_eq!(body["backend"], format!("http://127.0.0.1:{port}"));
    assert!(via.is_none(), "Via is a request header here: {via:?}");
    // A backend sees one Via entry per proxy in front of it.
    let b = backend(None);
    let m = front(&format!(
        "server: {{ fallback: {{ proxy: \"{}\" }} }}\n",
        b.url
    ));
    let seen = json_of(
        m.client
            .get(m.at("/echo"))
            .header("via", "1.1 corporate-proxy")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let via = seen["headers"]["via"].as_str().unwrap();
    assert!(
        via.starts_with("1.1 corporate-proxy, 1.1 mockrig-"),
        "{via}"
    );
}

/// A backend that answers each request head with the bytes `answer` gives for its path, on
/// one keep-alive connection after another: for answers a real server would not send.
async fn raw_backend(answer: fn(&str) -> Vec<u8>) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            // So that a split answer arrives split, not held back by this side's Nagle.
            s.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                        let bytes = answer(&path);
                        // `/split`: the head, then the body in a write of its own a moment
                        // later, as many servers send them.
                        let (head, body) = match path.as_str() {
                            "/split" => bytes.split_at(bytes.len() - 2),
                            _ => (bytes.as_slice(), &[][..]),
                        };
                        if s.write_all(head).await.is_err() {
                            return;
                        }
                        if !body.is_empty() {
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            if s.write_all(body).await.is_err() {
                                return;
                            }
                        }
                        if path.starts_with("/close") {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, task)
}

fn odd_answers(path: &str) -> Vec<u8> {
    match path {
        "/304" => b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nETag: \"x\"\r\n\r\n".to_vec(),
        "/103" => b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal".to_vec(),
        "/close" => b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close".to_vec(),
        _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    }
}

#[tokio::test]
async fn answers_awc_cannot_pass_on_faithfully_are_502s_and_the_next_request_is_clean() {
    let (url, task) = raw_backend(odd_answers).await;
    let m = front(&format!("server: {{ fallback: {{ proxy: \"{url}\" }} }}\n"));
    // A 304 that states a length has no body: it arrives whole, not as a dropped connection.
    let r = m.get("/304").await;
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], "\"x\"");
    // An interim answer is refused, saying why, and the pooled connection that may hold the
    // rest of it is not used again.
    let r = m.get("/103").await;
    assert_eq!(r.status(), 502);
    assert!(json_of(r).await["reason"].as_str().unwrap().contains("103"));
    for _ in 0..3 {
        let r = m.get("/ok").await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "ok");
    }
    // A body that ends only with the connection cannot be read by the client: a 502, not an
    // empty 200.
    let r = m.get("/close").await;
    assert_eq!(r.status(), 502);
    assert!(
        json_of(r).await["reason"]
            .as_str()
            .unwrap()
            .contains("Content-Length")
    );
    task.abort();
}

#[tokio::test]
async fn a_path_cannot_climb_out_of_the_backends_base_path() {
    let b = backend(None);
    let m = front(&format!(
        r#"
routes:
  - path: /weather/{{city}}
    proxy: {{ url: "{url}/v1", path: "/current/{{city}}" }}
  - path: /legacy/{{*rest}}
    proxy: {{ url: "{url}/base", strip_prefix: /legacy }}
"#,
        url = b.url
    ));
    for path in ["/weather/%2e%2e", "/legacy/%2E%2E/admin", "/legacy/./x"] {
        assert_eq!(m.raw_status(path).await, 400, "{path}");
    }
    // A prefix written percent-encoded is still the prefix.
    let seen = json_of(m.get("/%6cegacy/admin").await).await;
    assert_eq!(seen["path"], "/base/admin");
    // A backslash in a capture is sent encoded.
    let seen = json_of(m.get("/weather/a%5Cb").await).await;
    assert_eq!(seen["path"], "/v1/current/a%5Cb");
}

#[tokio::test]
async fn behind_tls_the_backend_hears_https_and_a_clients_forwarded_chain_is_extended() {
    let b = backend(None);
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let spec = format!("server: {{ fallback: {{ proxy: \"{}\" }} }}\n", b.url);
    let m = Mock::with(&spec, &[], |c| {
        c.tls = Some(mockrig::TlsSource::SelfSigned {
            write_cert: Some(cert.clone()),
        })
    });
    let c = common::tls_client(&std::fs::read(&cert).unwrap(), false);
    let seen = json_of(
        c.get(m.url.replacen("127.0.0.1", "localhost", 1) + "/echo")
            .header("forwarded", "for=9.9.9.9")
            .header("x-forwarded-for", "1.1.1.1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let h = &seen["headers"];
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-for"], "1.1.1.1, 127.0.0.1");
    assert_eq!(h["forwarded"], "for=9.9.9.9, proto=https;for=127.0.0.1");
}

#[tokio::test]
async fn a_body_that_arrives_after_its_head_is_not_held_back_by_nagle() {
    let (url, task) = raw_backend(odd_answers).await;
    let m = front(&format!("server: {{ fallback: {{ proxy: \"{url}\" }} }}\n"));
    let mut direct = Vec::new();
    for _ in 0..9 {
        let started = Instant::now();
        let r = m.client.get(format!("{url}/split")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "ok");
        direct.push(started.elapsed());
    }
    direct.sort();
    assert!(
        direct[4] < Duration::from_millis(30),
        "direct median {:?}",
        direct[4]
    );
    let mut times = Vec::new();
    for _ in 0..9 {
        let started = Instant::now();
        let r = m.get("/split").await;
        assert_eq!(r.text().await.unwrap(), "ok");
        times.push(started.elapsed());
    }
    times.sort();
    // Without TCP_NODELAY the body's write waits for the client's delayed ACK (40 ms).
    assert!(
        times[4] < Duration::from_millis(30),
        "median {:?}",
        times[4]
    );
    task.abort();
}
