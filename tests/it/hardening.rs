//! Transport and hardening: HTTPS and HTTP/2, every limit exceeded by a real client, a
//! slowloris client cut off while others are served, and a handler panic that costs one 500.

use crate::common;

use std::time::{Duration, Instant};

use mockrig::TlsSource;
use mockrig::{MockServer, ServeConfig};
use reqwest::{StatusCode, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SPEC: &str = "routes:\n  - { path: /hello, response: { text: hi } }\n";

fn spec_dir(files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let spec = dir.path().join("api.yaml");
    if !files.iter().any(|(n, _)| *n == "api.yaml") {
        std::fs::write(&spec, SPEC).unwrap();
    }
    (dir, spec)
}

fn start(spec: &std::path::Path, edit: impl FnOnce(&mut ServeConfig)) -> MockServer {
    let mut config = common::config(spec);
    edit(&mut config);
    MockServer::with_config(config).unwrap()
}

/// Over TLS, page links say `https://`, over HTTP/2 and HTTP/1.1 alike.
#[tokio::test]
async fn page_links_over_tls_say_https() {
    let (dir, spec) = spec_dir(&[(
        "api.yaml",
        "resources:\n  users: { seed: [ { id: 1 }, { id: 2 } ] }\n",
    )]);
    let cert = dir.path().join("cert.pem");
    let server = start(&spec, |c| {
        c.tls = Some(TlsSource::SelfSigned {
            write_cert: Some(cert.clone()),
        })
    });
    let pem = std::fs::read(&cert).unwrap();
    let url = server.url().replace("127.0.0.1", "localhost");
    for http1 in [false, true] {
        let r = common::tls_client(&pem, http1)
            .get(format!("{url}/users?_page=1&_limit=1"))
            .send()
            .await
            .unwrap();
        let link = r.headers()["link"].to_str().unwrap().to_owned();
        assert!(link.starts_with(&format!("<{url}/users?")), "{link}");
    }
}

#[tokio::test]
async fn self_signed_https_negotiates_http2() {
    let (dir, spec) = spec_dir(&[]);
    let cert = dir.path().join("cert.pem");
    let server = start(&spec, |c| {
        c.tls = Some(TlsSource::SelfSigned {
            write_cert: Some(cert.clone()),
        })
    });
    assert!(
        server.url().starts_with("https://127.0.0.1:"),
        "{}",
        server.url()
    );
    let pem = std::fs::read(&cert).unwrap();
    // The certificate names localhost and the loopback addresses.
    let url = server.url().replace("127.0.0.1", "localhost");
    let r = common::tls_client(&pem, false)
        .get(format!("{url}/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(r.text().await.unwrap(), "hi");
    let r = common::tls_client(&pem, true)
        .get(format!("{}/hello", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), Version::HTTP_11);
    assert_eq!(r.text().await.unwrap(), "hi");
}

#[tokio::test]
async fn https_from_pem_files_in_the_spec() {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = generated.cert.pem();
    let key = generated.signing_key.serialize_pem();
    let (_dir, spec) = spec_dir(&[
        ("cert.pem", &cert),
        ("key.pem", &key),
        (
            "api.yaml",
            &format!("server:\n  tls: {{ cert: cert.pem, key: key.pem }}\n{SPEC}"),
        ),
    ]);
    let server = start(&spec, |_| {});
    let r = common::tls_client(cert.as_bytes(), false)
        .get(format!("{}/hello", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn plain_http_stays_http1() {
    let (_dir, spec) = spec_dir(&[]);
    let server = start(&spec, |_| {});
    let r = common::client()
        .get(format!("{}/hello", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), Version::HTTP_11);
}

#[test]
fn a_bad_certificate_is_a_clear_start_error() {
    let (_dir, spec) = spec_dir(&[
        ("cert.pem", "not a certificate"),
        ("key.pem", "not a key"),
        (
            "api.yaml",
            &format!("server:\n  tls: {{ cert: cert.pem, key: key.pem }}\n{SPEC}"),
        ),
    ]);
    let err = MockServer::with_config(ServeConfig::new(&spec))
        .err()
        .expect("must not start");
    assert!(err.to_string().starts_with("TLS: "), "{err}");
}

#[tokio::test]
async fn each_limit_gets_its_status() {
    let (_dir, spec) = spec_dir(&[]);
    let server = start(&spec, |c| {
        c.limits.max_body = 1000;
        c.limits.max_url_bytes = 100;
        c.limits.max_headers = 10;
        c.limits.max_header_bytes = 2000;
    });
    let c = common::client();
    let url = |p: &str| format!("{}{p}", server.url());
    let r = c
        .post(url("/hello"))
        .body(vec![b'x'; 1001])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = c
        .get(url(&format!("/hello?q={}", "a".repeat(100))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::URI_TOO_LONG);
    let mut many = c.get(url("/hello"));
    for i in 0..12 {
        many = many.header(format!("x-h{i}"), "v");
    }
    assert_eq!(
        many.send().await.unwrap().status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let big = c
        .get(url("/hello"))
        .header("x-big", "v".repeat(2500))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(big.headers()["content-type"], "application/json");
    // And the server is still fine.
    assert_eq!(
        c.get(url("/hello"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "hi"
    );
    // A refused head is not journaled (it would keep what it refused); a refused body is.
    let journal: serde_json::Value = c
        .get(url("/__mockrig/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<_> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.len(), 2, "{journal}");
    assert!(
        statuses.contains(&413) && statuses.contains(&200),
        "{journal}"
    );
}

/// Reads what the server sends until it closes the connection, at most `limit` long.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open past {limit:?}"),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_while_others_are_served() {
    let (_dir, spec) = spec_dir(&[]);
    let server = start(&spec, |c| {
        c.limits.request_timeout = Duration::from_millis(500)
    });
    let addr = server.addr();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    // Half a request head, then silence, as a slowloris client does.
    slow.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let client = common::client();
    let url = format!("{}/hello", server.url());
    // The one worker keeps answering others meanwhile.
    for _ in 0..5 {
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "hi");
    }
    let (answer, waited) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "got {answer:?}");
    assert!(waited < Duration::from_secs(3), "cut off after {waited:?}");
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_dripped_body_is_cut_off_too() {
    let (_dir, spec) = spec_dir(&[]);
    let server = start(&spec, |c| {
        c.limits.request_timeout = Duration::from_millis(500)
    });
    let mut slow = TcpStream::connect(server.addr()).await.unwrap();
    // A whole head promising 100 bytes of body, then 10 of them and silence.
    slow.write_all(b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let (answer, waited) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "got {answer:?}");
    assert!(answer.contains("did not arrive in time"), "{answer:?}");
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

/// A slow head on the *second* request of a keep-alive connection is cut off like the first
/// one's (actix times only a connection's first head).
#[tokio::test]
async fn a_slow_head_on_a_kept_alive_connection_is_cut_off() {
    let (_dir, spec) = spec_dir(&[]);
    let server = start(&spec, |c| {
        c.limits.request_timeout = Duration::from_millis(500);
        c.limits.keep_alive = Duration::from_secs(30);
    });
    let mut conn = TcpStream::connect(server.addr()).await.unwrap();
    conn.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0u8; 1024];
    let n = conn.read(&mut first).await.unwrap();
    let first = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(
        first.starts_with("HTTP/1.1 200") && first.ends_with("hi"),
        "{first:?}"
    );
    // The next head starts, then stops: kept alive for 30 s, cut off after 0.5 s.
    conn.write_all(b"GET /hello HTTP/1.1\r\nHo").await.unwrap();
    let (answer, waited) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "got {answer:?}");
    assert!(
        answer.contains("the request head did not arrive in time"),
        "{answer:?}"
    );
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

/// A head pipelined behind a request, then left unfinished, is timed too: the connection is
/// closed after the first answer (no 408 is written into it, as it could land in the middle
/// of another answer).
#[tokio::test]
async fn a_slow_pipelined_head_is_cut_off() {
    let (_dir, spec) = spec_dir(&[]);
    let server = start(&spec, |c| {
        c.limits.request_timeout = Duration::from_millis(500);
        c.limits.keep_alive = Duration::from_secs(30);
    });
    for first in [
        "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ] {
        let mut conn = TcpStream::connect(server.addr()).await.unwrap();
        conn.write_all(format!("{first}GET /hello").as_bytes())
            .await
            .unwrap();
        let (answer, waited) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 "), "{first:?}: {answer:?}");
        assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer:?}");
        assert!(
            waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
            "{first:?}: closed after {waited:?}"
        );
    }
}

/// A URL over `--max-url-bytes` gets the 414 JSON at any length, also past what actix itself
/// parses (64 KiB of URL, 128 KiB of head), where it answered a bare 400 or 431.
#[tokio::test]
async fn a_url_of_any_length_over_the_limit_is_a_414_json() {
    let (_dir, spec) = spec_dir(&[]);
    let server = start(&spec, |_| {});
    for len in [9_000usize, 70_000, 100_000, 300_000] {
        let mut conn = TcpStream::connect(server.addr()).await.unwrap();
        let head = format!(
            "GET /hello?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(len)
        );
        // The server may answer and close before it has read all of it.
        let _ = conn.write_all(head.as_bytes()).await;
        let (answer, _) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 414"), "{len}: {answer:.200}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|_| panic!("{len}: not JSON: {body:.200}"));
        assert_eq!(v["limit_bytes"], 8192, "{v}");
    }
    // And the server answers on.
    let r = common::client()
        .get(format!("{}/hello", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn limits_cover_the_admin_endpoints_too() {
    let (_dir, spec) = spec_dir(&[]);
    let server = start(&spec, |c| c.limits.max_url_bytes = 50);
    let c = common::client();
    let long = format!("{}/__mockrig/status?x={}", server.url(), "a".repeat(60));
    assert_eq!(
        c.get(long).send().await.unwrap().status(),
        StatusCode::URI_TOO_LONG
    );
    let ok = c
        .get(format!("{}/__mockrig/status", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_swapped_for_an_outside_symlink_is_not_served() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    let (dir, spec) = spec_dir(&[
        ("logo.txt", "logo"),
        ("gone.txt", "gone"),
        (
            "api.yaml",
            "routes:
  - { path: /logo, response: { file: logo.txt } }
  - { path: /gone, response: { file: gone.txt }, scenario: s, then: shown }
",
        ),
    ]);
    let server = start(&spec, |c| c.watch = false);
    let c = common::client();
    let url = format!("{}/logo", server.url());
    assert_eq!(
        c.get(&url).send().await.unwrap().text().await.unwrap(),
        "logo"
    );
    std::fs::remove_file(dir.path().join("logo.txt")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dir.path().join("logo.txt"),
    )
    .unwrap();
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!r.text().await.unwrap().contains("top secret"));
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let (_dir, spec) = spec_dir(&[]);
    let server = start(&spec, |c| c.limits.keep_alive = Duration::from_millis(300));
    let mut conn = TcpStream::connect(server.addr()).await.unwrap();
    conn.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, waited) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.ends_with("hi"));
    // Open for the keep-alive time, not closed straight after the answer.
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "idle connection kept {waited:?}"
    );
}

#[tokio::test]
async fn connections_over_the_limit_wait_for_a_free_slot() {
    let (_dir, spec) = spec_dir(&[]);
    let server = start(&spec, |c| c.limits.max_connections = 1);
    let addr = server.addr();
    let mut first = TcpStream::connect(addr).await.unwrap();
    first
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // `first` stays open (keep-alive), so a second connection is not served yet.
    let mut second = TcpStream::connect(addr).await.unwrap();
    second
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the second connection was served past the limit"
    );
    drop(first);
    let (answer, _) = read_until_closed(&mut second, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

#[tokio::test]
async fn a_file_deleted_after_load_is_a_clear_error() {
    let (dir, spec) = spec_dir(&[
        ("logo.txt", "logo"),
        ("gone.txt", "gone"),
        (
            "api.yaml",
            "routes:
  - { path: /logo, response: { file: logo.txt } }
  - { path: /gone, response: { file: gone.txt }, scenario: s, then: shown }
",
        ),
    ]);
    let server = start(&spec, |c| c.watch = false);
    let c = common::client();
    assert_eq!(
        c.get(format!("{}/logo", server.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "logo"
    );
    std::fs::remove_file(dir.path().join("logo.txt")).unwrap();
    let r = c
        .get(format!("{}/logo", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "the response file cannot be read");
    assert_eq!(body["route"], "routes[0]");
    // The route answered (badly) all the same: its scenario step is taken.
    std::fs::remove_file(dir.path().join("gone.txt")).unwrap();
    let r = c
        .get(format!("{}/gone", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let scenarios: serde_json::Value = c
        .get(format!("{}/__mockrig/scenarios", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(scenarios["scenarios"]["s"]["state"], "shown", "{scenarios}");
}
