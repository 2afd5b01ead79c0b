//! Memory bounded in bytes, measured on a `mockrig` process of its own (its RSS from
//! `/proc`, so other tests running meanwhile do not count): sessions that only read share the
//! seeds, and the journal counts what it keeps of unmatched requests.

use std::process::{Command, Stdio};

use serde_json::json;

use crate::common::{self, Proc};

/// `mockrig serve SPEC` with `args`, on a free port, in its own process; its URL.
fn serve(spec: &std::path::Path, args: &[&str]) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mockrig"))
        .args([
            "serve",
            "--port",
            "0",
            "--quiet",
            "--no-watch",
            "--workers",
            "2",
        ])
        .args(args)
        .arg(spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = common::listening_url(&mut child);
    (Proc(child), url)
}

/// The resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

const MB: u64 = 1024 * 1024;

/// 100 sessions that read a resource seeded with 1 MB share the seed: under 20 MB more.
#[tokio::test]
async fn reading_sessions_share_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<_> = (0..5_000)
        .map(|i| json!({"id": i, "name": format!("user {i}"), "bio": "x".repeat(170)}))
        .collect();
    let seed = serde_json::to_vec(&records).unwrap();
    assert!(seed.len() >= 1_000_000, "{}", seed.len());
    std::fs::write(dir.path().join("users.json"), &seed).unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(&spec, "resources:\n  users: { seed_file: users.json }\n").unwrap();
    let (proc, url) = serve(&spec, &[]);
    let c = common::client();
    let get = |session: String| {
        c.get(format!("{url}/users/42"))
            .header("X-Mockrig-Session", session)
            .send()
    };
    // One reader first, so what every session shares is built before the baseline.
    assert_eq!(get("warm".into()).await.unwrap().status(), 200);
    let before = rss(proc.0.id());
    for i in 0..100 {
        let r = get(format!("reader-{i}")).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let grown = rss(proc.0.id()).saturating_sub(before);
    assert!(
        grown < 20 * MB,
        "100 reading sessions took {} MB",
        grown / MB
    );
    // And a session that writes has its own copy, the others unchanged.
    let r = c
        .delete(format!("{url}/users/42"))
        .header("X-Mockrig-Session", "writer")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(get("writer".into()).await.unwrap().status(), 404);
    assert_eq!(get("reader-0".into()).await.unwrap().status(), 200);
}

/// Records written by POST cost at most 2.5 times their JSON text in memory (it was ~13
/// times when they were kept as trees of values): 20,000 records of ~80 bytes, about 4 MB
/// more at most, and each reads back as written.
#[tokio::test]
async fn stored_records_cost_at_most_two_and_a_half_times_their_json() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(&spec, "resources:\n  users: { seed: [] }\n").unwrap();
    let (proc, url) = serve(&spec, &["--journal", "0"]);
    let c = common::client();
    let post = |i: usize| {
        let body = json!({"name": format!("user {i:05}"), "email": "user@example.com", "role": "user", "age": i % 90});
        c.post(format!("{url}/users")).json(&body).send()
    };
    let post_all = |range: std::ops::Range<usize>| {
        futures_util::stream::iter(range)
            .map(post)
            .buffer_unordered(16)
            .map(|r| r.unwrap().status())
            .collect::<Vec<_>>()
    };
    // The first thousand grow what every write uses (buffers, the allocator's arenas).
    assert!(post_all(0..1_000).await.iter().all(|s| *s == 201));
    let before = rss(proc.0.id());
    assert!(post_all(1_000..21_000).await.iter().all(|s| *s == 201));
    let grown = rss(proc.0.id()).saturating_sub(before);
    let one = c.get(format!("{url}/users/20000")).send().await.unwrap();
    let text = one.text().await.unwrap();
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(record["email"], "user@example.com");
    assert_eq!(record["id"], 20000);
    let json_bytes = (text.len() as u64 + 1) * 20_000;
    assert!(
        grown * 2 <= json_bytes * 5,
        "20,000 records of {} bytes of JSON took {} bytes each",
        text.len(),
        grown / 20_000
    );
}

/// 300 unmatched POSTs of 1 MiB each: the journal keeps their first 64 KiB and a short
/// preview of what missed, all within its byte budget: under 80 MB more.
#[tokio::test]
async fn unmatched_large_posts_stay_within_the_journal_budget() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        "routes:\n  - { method: POST, path: /orders, match: { body: { kind: gift } }, response: { status: 201 } }\n",
    )
    .unwrap();
    let (proc, url) = serve(&spec, &[]);
    let c = common::client();
    let big = serde_json::to_vec(&json!({"kind": "x".repeat(1024 * 1024 - 20)})).unwrap();
    assert!(big.len() <= 1024 * 1024);
    let post = || {
        c.post(format!("{url}/orders"))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 404);
    let before = rss(proc.0.id());
    for _ in 0..300 {
        assert_eq!(post().await.unwrap().status(), 404);
    }
    let grown = rss(proc.0.id()).saturating_sub(before);
    assert!(
        grown < 80 * MB,
        "300 unmatched 1 MiB POSTs took {} MB",
        grown / MB
    );
    let unmatched: serde_json::Value = c
        .get(format!("{url}/__mockrig/unmatched"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = unmatched["requests"].as_array().unwrap();
    let actual = list[0]["nearest"]["failed"][0]["actual"].as_str().unwrap();
    assert!(
        actual.ends_with("… (truncated)") && actual.len() < 400,
        "{actual:.80}"
    );

    // The same from 20 sessions, 3 each: each session's journal keeps 256 KiB at most.
    let before = rss(proc.0.id());
    for i in 0..20 {
        for _ in 0..3 {
            let r = c
                .post(format!("{url}/orders"))
                .header("content-type", "application/json")
                .header("X-Mockrig-Session", format!("s{i}"))
                .body(big.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404);
        }
    }
    let grown = rss(proc.0.id()).saturating_sub(before);
    assert!(
        grown < 20 * MB,
        "20 sessions x 3 unmatched 1 MiB POSTs took {} MB",
        grown / MB
    );
}

/// A WebSocket frame header declaring 2^62 bytes, followed by a fast stream of data, on a
/// channel of 1 MiB messages: closed with 1009 at once, without buffering what follows.
#[tokio::test]
async fn a_huge_frame_header_is_closed_at_once_without_buffering() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        "websockets:\n  - { path: /ws/small, mode: silent, max_message_bytes: 1048576 }\n",
    )
    .unwrap();
    let (proc, url) = serve(&spec, &[]);
    let addr = url.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(
        format!(
            "GET /ws/small HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        rd.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let before = rss(proc.0.id());
    let started = std::time::Instant::now();
    // Binary, FIN, masked, a 64-bit length of 2^62, a mask; then data as fast as it goes.
    let mut frame = vec![0x82, 0xff];
    frame.extend_from_slice(&(1u64 << 62).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    wr.write_all(&frame).await.unwrap();
    let flood = tokio::spawn(async move {
        let chunk = vec![0x55u8; 64 * 1024];
        let mut sent = 0usize;
        // Until the server closes (at most 300 MB).
        while sent < 300 * 1024 * 1024 {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut close = [0u8; 4];
    tokio::time::timeout(std::time::Duration::from_secs(5), rd.read_exact(&mut close))
        .await
        .expect("a close frame")
        .unwrap();
    let took = started.elapsed();
    assert_eq!(close[0], 0x88, "a close frame: {close:?}");
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1009);
    assert!(
        took < std::time::Duration::from_millis(100),
        "closed after {took:?}"
    );
    let sent = tokio::time::timeout(std::time::Duration::from_secs(10), flood)
        .await
        .expect("the flood ends when the server closes")
        .unwrap();
    let grown = rss(proc.0.id()).saturating_sub(before);
    assert!(
        grown < 2 * MB,
        "RSS grew {} KiB after {sent} bytes were sent",
        grown / 1024
    );
}
