//! Hot reload over real sockets: every editor save style, broken saves, keep-alive connections
//! and requests in flight during many reloads.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::Mock;
use serde_json::Value;

fn spec(body: &str) -> String {
    format!("routes:\n  - path: /greeting\n    response: {{ text: \"{body}\" }}\n")
}

/// Polls until `/greeting` answers `want` (bounded), returning how long it took.
async fn wait_for_body(m: &Mock, want: &str) -> Duration {
    let started = Instant::now();
    common::eventually(
        &format!("/greeting answers {want:?} after the save"),
        Duration::from_secs(1),
        || async { (m.get("/greeting").await.text().await.unwrap() == want).then_some(()) },
    )
    .await;
    started.elapsed()
}

async fn status(m: &Mock) -> Value {
    m.get("/__mockrig/status").await.json().await.unwrap()
}

/// Waits until the status satisfies `done` (bounded).
async fn wait_for_status(m: &Mock, done: impl Fn(&Value) -> bool) -> Value {
    common::eventually("the status gets there", Duration::from_secs(2), || async {
        let s = status(m).await;
        done(&s).then_some(s)
    })
    .await
}

/// Asserts that exactly `n` reloads happened. Nothing signals "no further reload is coming",
/// so this waits out several quiet periods first.
async fn assert_reloads(m: &Mock, n: u64) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = status(m).await;
    assert_eq!(s["reload_count"], n, "one save, one reload: {s}");
}

fn spec_path(m: &Mock) -> std::path::PathBuf {
    m.dir.path().join("api.yaml")
}

#[tokio::test]
async fn save_in_place() {
    let m = Mock::start(&spec("v1"), &[]);
    wait_for_body(&m, "v1").await;
    std::fs::write(spec_path(&m), spec("v2")).unwrap();
    wait_for_body(&m, "v2").await;
    assert_reloads(&m, 1).await;
}

#[tokio::test]
async fn save_by_temp_file_and_rename() {
    let m = Mock::start(&spec("v1"), &[]);
    let tmp = m.dir.path().join(".api.yaml.tmp123");
    std::fs::write(&tmp, spec("v2")).unwrap();
    std::fs::rename(&tmp, spec_path(&m)).unwrap();
    wait_for_body(&m, "v2").await;
    assert_reloads(&m, 1).await;
}

#[tokio::test]
async fn save_by_delete_and_create() {
    let m = Mock::start(&spec("v1"), &[]);
    std::fs::remove_file(spec_path(&m)).unwrap();
    std::fs::write(spec_path(&m), spec("v2")).unwrap();
    wait_for_body(&m, "v2").await;
    assert_reloads(&m, 1).await;
}

#[tokio::test]
async fn save_like_vim_with_a_backup() {
    let m = Mock::start(&spec("v1"), &[]);
    let backup = m.dir.path().join("api.yaml~");
    std::fs::rename(spec_path(&m), &backup).unwrap();
    std::fs::write(spec_path(&m), spec("v2")).unwrap();
    std::fs::remove_file(&backup).unwrap();
    wait_for_body(&m, "v2").await;
    assert_reloads(&m, 1).await;
    // Moving the spec away is not a save: no reload of a missing file went wrong meanwhile.
    assert_eq!(status(&m).await["failed_reload_count"], 0);
    // A second save keeps working: the watch did not stay on the old inode.
    std::fs::write(spec_path(&m), spec("v3")).unwrap();
    wait_for_body(&m, "v3").await;
}

/// A save that shows its end (the file closed) loads at once, but not before: a writer that
/// pauses between its writes is not read half-way.
#[tokio::test]
async fn a_save_written_in_parts_loads_once_whole() {
    use std::io::Write;
    let m = Mock::start(&spec("v1"), &[]);
    let text = spec("written in two parts");
    let (first, rest) = text.split_at(text.len() / 2);
    let mut f = std::fs::File::create(spec_path(&m)).unwrap();
    f.write_all(first.as_bytes()).unwrap();
    f.flush().unwrap();
    // The pause is the scenario (a slow writer), shorter than the quiet period.
    std::thread::sleep(Duration::from_millis(5));
    f.write_all(rest.as_bytes()).unwrap();
    drop(f);
    wait_for_body(&m, "written in two parts").await;
    assert_reloads(&m, 1).await;
    assert_eq!(status(&m).await["failed_reload_count"], 0);
}

#[tokio::test]
async fn unrelated_files_and_touches_do_not_reload() {
    let m = Mock::start(&spec("v1"), &[]);
    std::fs::write(m.dir.path().join("notes.txt"), "hello").unwrap();
    std::fs::write(spec_path(&m), spec("v1")).unwrap();
    assert_reloads(&m, 0).await;
}

#[tokio::test]
async fn broken_save_keeps_serving_and_reports_then_fix_reloads() {
    let m = Mock::start(&spec("v1"), &[]);
    std::fs::write(
        spec_path(&m),
        "routes:\n  - path: /greeting\n    response:\n      stauts: 200\n",
    )
    .unwrap();
    let s = wait_for_status(&m, |s| s["last_reload"]["result"] == "error").await;
    let error = s["last_reload"]["error"].as_str().unwrap();
    assert!(
        error.contains("api.yaml:4:7: routes[0].response.stauts: unknown key 'stauts'"),
        "{error}"
    );
    assert_eq!(s["reload_count"], 0);
    assert_eq!(m.get("/greeting").await.text().await.unwrap(), "v1");

    std::fs::write(spec_path(&m), spec("fixed")).unwrap();
    wait_for_body(&m, "fixed").await;
    let s = status(&m).await;
    assert_eq!(s["last_reload"]["result"], "ok");
    assert_eq!(s["reload_count"], 1);
}

#[tokio::test]
async fn a_missing_file_fixed_by_creating_it() {
    let m = Mock::start(&spec("v1"), &[]);
    std::fs::write(
        spec_path(&m),
        "routes:\n  - path: /greeting\n    response: { file: data/hello.txt }\n",
    )
    .unwrap();
    let s = wait_for_status(&m, |s| s["last_reload"]["result"] == "error").await;
    assert!(
        s["last_reload"]["error"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    // Creating the file the spec names is a save too.
    std::fs::create_dir_all(m.dir.path().join("data")).unwrap();
    std::fs::write(m.dir.path().join("data/hello.txt"), "from a file").unwrap();
    // The data folder did not exist when the watch started, so nudge the spec as a user would.
    if m.get("/greeting").await.text().await.unwrap() != "from a file" {
        std::fs::write(
            spec_path(&m),
            "routes:\n  - path: /greeting\n    response: { file: data/hello.txt }\n# saved\n",
        )
        .unwrap();
    }
    wait_for_body(&m, "from a file").await;
}

#[tokio::test]
async fn referenced_file_appearing_reloads_without_touching_the_spec() {
    let m = Mock::start(&spec("v1"), &[("data/keep.txt", b"")]);
    std::fs::write(
        spec_path(&m),
        "routes:\n  - path: /greeting\n    response: { file: data/hello.txt }\n",
    )
    .unwrap();
    wait_for_status(&m, |s| s["last_reload"]["result"] == "error").await;
    std::fs::write(m.dir.path().join("data/hello.txt"), "created").unwrap();
    wait_for_body(&m, "created").await;
}

#[tokio::test]
async fn status_reports_the_spec() {
    let m = Mock::start(&spec("v1"), &[]);
    let s = status(&m).await;
    assert!(s["spec"].as_str().unwrap().ends_with("api.yaml"));
    assert_eq!(s["reload_count"], 0);
    assert_eq!(s["last_reload"], Value::Null);
    assert_eq!(s["watching"], true);
    assert_eq!(s["counts"]["routes"], 1);
    assert!(s["loaded_at"].as_str().unwrap().ends_with('Z'));
    let r = m.get("/__mockrig/nope").await;
    assert_eq!(r.status(), 404);
    let r = m.get("/__mockrig/reset").await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    let r = m
        .client
        .post(m.at("/__mockrig/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        status(&m).await["reload_count"],
        1,
        "a forced reload counts"
    );
}

/// Sends one request on an open connection and returns the body (Content-Length framing).
async fn request_on(stream: &mut tokio::net::TcpStream, host: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!("GET /greeting HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the keep-alive connection");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .expect("content-length")
                .parse()
                .unwrap();
            if body.len() >= len {
                return body[..len].to_owned();
            }
        }
    }
}

#[tokio::test]
async fn keep_alive_connection_survives_a_reload() {
    let m = Mock::start(&spec("v1"), &[]);
    let host = m.url.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    assert_eq!(request_on(&mut conn, &host).await, "v1");
    std::fs::write(spec_path(&m), spec("v2")).unwrap();
    wait_for_body(&m, "v2").await;
    assert_eq!(
        request_on(&mut conn, &host).await,
        "v2",
        "same socket, new spec"
    );
}

fn write_atomically(path: &Path, text: &str, n: usize) {
    let tmp = path.with_file_name(format!(".api.yaml.{n}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_in_flight_during_fifty_reloads_see_old_or_new_never_a_mix() {
    // Long bodies make a torn or mixed response easy to see.
    let a = "A".repeat(2000);
    let b = "B".repeat(3000);
    let m = Arc::new(Mock::start(&spec(&a), &[]));
    let done = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..100 {
        let (m, done, ok, a, b) = (m.clone(), done.clone(), ok.clone(), a.clone(), b.clone());
        clients.push(tokio::spawn(async move {
            // Bounded: each client stops after 500 requests even if the writer hangs.
            for _ in 0..500 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let r = m.get("/greeting").await;
                assert_eq!(r.status(), 200);
                let body = r.text().await.unwrap();
                assert!(
                    body == a || body == b,
                    "a mixed body of {} bytes",
                    body.len()
                );
                ok.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let path = spec_path(&m);
    for n in 1..=50u64 {
        write_atomically(&path, &spec(if n % 2 == 1 { &b } else { &a }), n as usize);
        wait_for_status(&m, |s| s["reload_count"] == n).await;
    }
    done.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("no client saw an error");
    }
    assert!(
        ok.load(Ordering::Relaxed) >= 100,
        "requests really ran alongside the reloads"
    );
    assert_eq!(status(&m).await["failed_reload_count"], 0);
}

#[tokio::test]
async fn no_watch_freezes_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.yaml");
    std::fs::write(&path, spec("v1")).unwrap();
    let mut config = mockrig::ServeConfig::new(&path);
    config.watch = false;
    let server = mockrig::MockServer::with_config(config).unwrap();
    std::fs::write(&path, spec("v2")).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = common::client();
    let body = client
        .get(format!("{}/greeting", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "v1");
    let s: Value = client
        .get(format!("{}/__mockrig/status", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["watching"], false);
}

#[tokio::test]
async fn routes_are_listed_most_specific_first() {
    let m = Mock::start(
        "routes:\n  - { path: \"/items/{*rest}\" }\n  - { path: \"/items/{id}\" }\n  - { path: /items/special }\n",
        &[],
    );
    let list: Value = m.get("/__mockrig/routes").await.json().await.unwrap();
    let paths: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/items/special", "/items/{id}", "/items/{*rest}"]);
    assert_eq!(list[0]["source"], "routes[2]");
    assert_eq!(list[0]["kind"], "route");
}

/// A spec swapped for something that is not a regular file — a FIFO nobody writes to, a
/// symlink to `/dev/zero` — is refused at once by a reload: nothing blocks on it, nothing
/// reads it without end, and the admin API keeps answering meanwhile.
#[tokio::test]
async fn a_spec_swapped_for_a_fifo_or_a_device_is_refused_at_once() {
    let m = Mock::with(&spec("first"), &[], |c| c.watch = false);
    let path = spec_path(&m);
    let reload = || {
        m.client
            .post(m.at("/__mockrig/reload"))
            .timeout(Duration::from_secs(5))
            .send()
    };
    std::fs::remove_file(&path).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let started = Instant::now();
    let r = reload().await.expect("the reload answers, not blocks");
    assert!(!r.status().is_success(), "{}", r.status());
    let v: Value = r.json().await.unwrap();
    assert!(v.to_string().contains("not a regular file"), "{v}");
    // Stubs and resets go on meanwhile, and the spec serving is the last good one.
    let r = m
        .client
        .post(m.at("/__mockrig/routes"))
        .json(&serde_json::json!({"path": "/stub", "response": {"text": "ok"}}))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(m.get("/greeting").await.text().await.unwrap(), "first");

    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    let r = reload().await.expect("the reload answers");
    assert!(!r.status().is_success());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(m.get("/greeting").await.text().await.unwrap(), "first");
}

/// A user who saved a broken spec and gets a 404 is told why: the route they just added is in
/// the save that did not load.
#[tokio::test]
async fn a_404_says_that_the_last_save_did_not_load() {
    let m = Mock::start(&spec("v1"), &[]);
    let broken = format!(
        "{}  - path: /new\n    response: {{ status: nope }}\n",
        spec("v1")
    );
    std::fs::write(spec_path(&m), broken).unwrap();
    wait_for_status(&m, |s| s["last_reload"]["result"] == "error").await;
    let r = m.get("/new").await;
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("x-mockrig-reload-error"));
    let body: Value = r.json().await.unwrap();
    let why = body["reload_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("api.yaml:5:25: routes[1].response.status"),
        "{body}"
    );
    // /__mockrig/status says the same.
    let r = m.get("/__mockrig/status").await;
    assert!(r.headers().contains_key("x-mockrig-reload-error"));
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["reload_error"].as_str(), Some(why));
    // Fixed: the 404 is an ordinary one again.
    std::fs::write(spec_path(&m), spec("v2")).unwrap();
    wait_for_body(&m, "v2").await;
    let r = m.get("/new").await;
    assert!(!r.headers().contains_key("x-mockrig-reload-error"));
    let body: Value = r.json().await.unwrap();
    assert!(body.get("reload_error").is_none(), "{body}");
    let status: Value = m.get("/__mockrig/status").await.json().await.unwrap();
    assert!(status["reload_error"].is_null(), "{status}");
}
