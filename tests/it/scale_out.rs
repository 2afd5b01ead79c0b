//! `--state redis://`: replicas sharing resource data through a real Redis (Debian's
//! `redis-server`, started here on a free port in a temporary folder), driven through a
//! round-robin client, and compared with one in-memory mockrig.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{self, Mock, free_port};

/// A `redis-server` of its own: appendonly with an fsync per write, so a restart keeps every
/// write it acknowledged. Stopped on drop.
pub struct Redis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Redis {
        // A few tries: the free port found can be taken before redis binds it.
        for _ in 0..5 {
            let mut redis = Redis {
                port: free_port(),
                dir: tempfile::tempdir().unwrap(),
                child: None,
            };
            if redis.spawn() {
                return redis;
            }
        }
        panic!("redis-server did not start (is Debian's redis-server installed? .ci/deps does)");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the server and waits for its "Ready to accept connections" line; false when it
    /// exits first (its port taken).
    fn spawn(&mut self) -> bool {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--dir"])
            .arg(self.dir.path())
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--logfile", ""])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (.ci/deps installs Debian's redis-server)");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Ends when the log ends: redis exited (EOF), or it said it is ready.
        let ready = lines
            .map_while(Result::ok)
            .any(|line| line.contains("Ready to accept connections"));
        if ready {
            self.child = Some(child);
        } else {
            let _ = child.wait();
        }
        ready
    }

    /// Kills the server (SIGKILL: no chance to flush anything more).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and folder: it reads back its append-only file.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        // The port may linger a moment after the kill.
        while !self.spawn() {
            assert!(Instant::now() < deadline, "redis-server did not come back");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The spec of these tests: a collection with integer ids, one whose ids come from a counter
/// template, a nested child, a singleton, and a static route.
const SPEC: &str = r#"
routes:
  - path: /health
    response: { body: { ok: true } }
resources:
  users:
    seed:
      - { id: 1, name: Ada, role: admin }
      - { id: 2, name: Grace, role: user }
    computed:
      revision: { value: "{{ (previous.revision or 0) + 1 }}", on: [create, update] }
  posts:
    seed:
      - { id: 1, userId: 1, title: Hello }
  orders:
    new_id: "ord-{{ counter }}"
    seed:
      - { id: ord-1, item: tea }
  settings:
    singleton: true
    seed: { theme: dark }
"#;

fn replica(redis: &Redis) -> Mock {
    let url = redis.url();
    Mock::with(SPEC, &[], |c| c.state = Some(url))
}

/// A client that sends each request to the next replica in turn.
struct RoundRobin {
    replicas: Vec<Mock>,
    next: AtomicUsize,
}

impl RoundRobin {
    fn new(replicas: Vec<Mock>) -> RoundRobin {
        RoundRobin {
            replicas,
            next: AtomicUsize::new(0),
        }
    }

    fn pick(&self) -> &Mock {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.replicas.len();
        &self.replicas[i]
    }
}

/// Sends one request; the status, `X-Total-Count` and the body as JSON (null when empty).
async fn send(
    m: &Mock,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut req = m
        .client
        .request(Method::from_bytes(method.as_bytes()).unwrap(), m.at(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let total = res
        .headers()
        .get("x-total-count")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, total, body)
}

/// A mixed CRUD workload, one request after another: every kind of write, refusals, lists
/// with filters, sorting and pages, a nested create, the singleton.
fn workload() -> Vec<(&'static str, String, Option<Value>)> {
    let mut w: Vec<(&'static str, String, Option<Value>)> = Vec::new();
    for i in 0..12 {
        w.push(("POST", "/users".into(), Some(json!({"name": format!("user{i}"), "role": if i % 3 == 0 { "admin" } else { "user" }}))));
        w.push((
            "POST",
            "/orders".into(),
            Some(json!({"item": format!("item{i}")})),
        ));
    }
    w.extend([
        (
            "POST",
            "/users".into(),
            Some(json!({"id": 40, "name": "chosen"})),
        ),
        (
            "POST",
            "/users".into(),
            Some(json!({"name": "after the chosen one"})),
        ),
        (
            "POST",
            "/users".into(),
            Some(json!({"id": 40, "name": "taken"})),
        ),
        (
            "POST",
            "/orders".into(),
            Some(json!({"id": "ord-16", "item": "chosen"})),
        ),
        (
            "POST",
            "/orders".into(),
            Some(json!({"item": "skips ord-16"})),
        ),
        ("PATCH", "/users/3".into(), Some(json!({"role": "admin"}))),
        ("PUT", "/users/4".into(), Some(json!({"name": "replaced"}))),
        ("PATCH", "/users/99".into(), Some(json!({"role": "ghost"}))),
        ("DELETE", "/users/5".into(), None),
        ("DELETE", "/users/5".into(), None),
        ("DELETE", "/orders/ord-3".into(), None),
        // The newest record deleted: its id is not given again.
        ("DELETE", "/users/41".into(), None),
        (
            "POST",
            "/users".into(),
            Some(json!({"name": "after a delete"})),
        ),
        (
            "POST",
            "/users/1/posts".into(),
            Some(json!({"title": "nested"})),
        ),
        (
            "POST",
            "/posts".into(),
            Some(json!({"userId": 2, "title": "flat"})),
        ),
        ("PATCH", "/settings".into(), Some(json!({"lang": "en"}))),
        ("PUT", "/settings".into(), Some(json!({"theme": "light"}))),
        ("GET", "/settings".into(), None),
        ("GET", "/users?role=admin&_sort=-id".into(), None),
        ("GET", "/users?_page=2&_per_page=4".into(), None),
        ("GET", "/users/1?_embed=posts".into(), None),
        ("GET", "/users/1/posts".into(), None),
        ("GET", "/users/4".into(), None),
        ("GET", "/orders?_sort=item".into(), None),
        ("GET", "/posts?_expand=user".into(), None),
    ]);
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_answer_a_crud_workload_as_one_in_memory_mockrig_would() {
    let redis = Redis::start();
    let shared = RoundRobin::new(vec![replica(&redis), replica(&redis), replica(&redis)]);
    let alone = Mock::start(SPEC, &[]);
    for (i, (method, path, body)) in workload().into_iter().enumerate() {
        let want = send(&alone, method, &path, body.clone()).await;
        let got = send(shared.pick(), method, &path, body).await;
        assert_eq!(got, want, "request {i}: {method} {path}");
    }
    // Record by record, on every replica.
    let want = common::json_of(alone.get("/__mockrig/state").await).await;
    assert_eq!(want["users"].as_array().unwrap().len(), 2 + 12 + 2 - 1);
    for m in &shared.replicas {
        let got = common::json_of(m.get("/__mockrig/state").await).await;
        assert_eq!(got, want, "replica {}", m.url);
    }
}

/// A replica plans a write on its copy without catching up first when that copy is current as
/// of its last call to Redis; here every copy has just written, then misses the other
/// replicas' writes. Each write still answers as one in-memory mockrig would: what the stale
/// copy would refuse (a 404, a 409) is planned again caught up, a claim of an id another
/// replica passed loses, and what the copy saw of a record it updates or deletes is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_a_replica_that_missed_the_others_writes_answer_as_one_mockrig_would() {
    let redis = Redis::start();
    let (a, b, c) = (replica(&redis), replica(&redis), replica(&redis));
    let alone = Mock::start(SPEC, &[]);
    // Each copy current after a write of its own, then the others write past it.
    for (i, m) in [&a, &b, &c].into_iter().enumerate() {
        for m in [m, &alone] {
            let got = send(m, "PATCH", "/users/1", Some(json!({"seen": i}))).await;
            assert_eq!(got.0, 200);
        }
    }
    let steps: Vec<(&Mock, &str, &str, Option<Value>)> = vec![
        (
            &a,
            "POST",
            "/users",
            Some(json!({"id": 50, "name": "chosen"})),
        ),
        // b's copy has no 50 and stands at next id 3.
        (&b, "PATCH", "/users/50", Some(json!({"role": "admin"}))),
        (&c, "POST", "/users", Some(json!({"name": "after 50"}))),
        (&a, "PUT", "/users/51", Some(json!({"name": "replaced"}))),
        (&b, "DELETE", "/users/51", None),
        (&c, "GET", "/users/51", None),
        (
            &a,
            "POST",
            "/users",
            Some(json!({"name": "after a delete"})),
        ),
        (
            &b,
            "POST",
            "/users",
            Some(json!({"id": 52, "name": "taken"})),
        ),
        (&c, "DELETE", "/users/50", None),
        (&a, "PATCH", "/users/50", Some(json!({"role": "gone"}))),
        (
            &b,
            "POST",
            "/users",
            Some(json!({"id": 50, "name": "again"})),
        ),
        (
            &c,
            "PATCH",
            "/users/50",
            Some(json!({"name": "again, patched"})),
        ),
        // A text key holds "53" but not the next id, 53: a's copy passes over it, Redis does
        // not hold it any more.
        (
            &a,
            "POST",
            "/users",
            Some(json!({"id": "53", "name": "text id"})),
        ),
        (&b, "DELETE", "/users/53", None),
        (
            &a,
            "POST",
            "/users",
            Some(json!({"name": "after a text id"})),
        ),
        // The same for ids a template makes from `counter`.
        (
            &a,
            "POST",
            "/orders",
            Some(json!({"id": "ord-3", "item": "chosen"})),
        ),
        (&b, "DELETE", "/orders/ord-3", None),
        (
            &a,
            "POST",
            "/orders",
            Some(json!({"item": "after a delete"})),
        ),
        // A create that loses keeps the count it reserved: one in memory counts it once.
        (
            &c,
            "POST",
            "/orders",
            Some(json!({"id": "ord-5", "item": "ahead"})),
        ),
        (&a, "POST", "/orders", Some(json!({"item": "passes ord-5"}))),
        (&b, "DELETE", "/orders/ord-6", None),
        (&a, "POST", "/orders", Some(json!({"item": "ord-6 again"}))),
    ];
    for (i, (m, method, path, body)) in steps.into_iter().enumerate() {
        let want = send(&alone, method, path, body.clone()).await;
        let got = send(m, method, path, body).await;
        assert_eq!(got, want, "step {i}: {method} {path}");
    }
    let want = common::json_of(alone.get("/__mockrig/state").await).await;
    for m in [&a, &b, &c] {
        let got = common::json_of(m.get("/__mockrig/state").await).await;
        assert_eq!(got, want, "replica {}", m.url);
    }
}

/// Under `--seed`, a write planned again after losing to another replica's answers with what
/// its first plan drew, as one in-memory mockrig draws once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_write_planned_again_draws_what_one_plan_draws() {
    const SEEDED: &str = r#"
resources:
  users:
    seed:
      - { id: 1, name: Ada }
    computed:
      token: { value: "{{ uuid() }}", on: [create, update] }
"#;
    let redis = Redis::start();
    let url = redis.url();
    let start = || {
        let url = url.clone();
        Mock::with(SEEDED, &[], |c| {
            c.state = Some(url);
            c.seed = Some(7);
        })
    };
    let (a, b) = (start(), start());
    let alone = Mock::with(SEEDED, &[], |c| c.seed = Some(7));
    // a writes first, so its copy is current; then b's write passes it, and a's next write
    // loses once and is planned again.
    for (i, m) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let body = Some(json!({"n": i}));
        let want = send(&alone, "PATCH", "/users/1", body.clone()).await;
        let got = send(m, "PATCH", "/users/1", body).await;
        assert_eq!(got, want, "write {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_over_three_replicas_get_distinct_ids() {
    let redis = Redis::start();
    let shared = RoundRobin::new(vec![replica(&redis), replica(&redis), replica(&redis)]);
    const N: usize = 2_000;
    let posts = (0..N).map(|i| {
        let m = shared.pick();
        async move {
            let (status, _, body) = send(m, "POST", "/users", Some(json!({"name": i}))).await;
            assert_eq!(status, 201, "{body}");
            body["id"].as_u64().expect("an integer id")
        }
    });
    let mut ids = join_all(posts).await;
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), N, "every create got an id of its own");
    // The seed holds 1 and 2: generated ids come after them. Creates that race may leave a
    // number out (one planned, then refused because another went past it), never reuse one.
    assert!(ids[0] >= 3, "{ids:?}");
    for m in &shared.replicas {
        let (status, total, _) = send(m, "GET", "/users?_limit=1", None).await;
        assert_eq!(
            (status, total.as_deref()),
            (200, Some("2002")),
            "replica {}",
            m.url
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_of_one_record_are_all_applied() {
    // Read-modify-write on one record from three replicas at once: every PATCH's field
    // lands, and the computed revision counts each update once.
    let redis = Redis::start();
    let shared = RoundRobin::new(vec![replica(&redis), replica(&redis), replica(&redis)]);
    const N: usize = 450;
    let patches = (0..N).map(|i| {
        let m = shared.pick();
        async move {
            let (status, _, body) =
                send(m, "PATCH", "/users/1", Some(json!({format!("f{i}"): i}))).await;
            assert_eq!(status, 200, "{body}");
        }
    });
    join_all(patches).await;
    let (_, _, user) = send(&shared.replicas[0], "GET", "/users/1", None).await;
    for i in 0..N {
        assert_eq!(
            user[format!("f{i}")],
            json!(i),
            "PATCH {i} was lost: {user}"
        );
    }
    assert_eq!(user["revision"], json!(N), "{user}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarting_under_load_loses_no_acknowledged_write() {
    let mut redis = Redis::start();
    let shared = Arc::new(RoundRobin::new(vec![
        replica(&redis),
        replica(&redis),
        replica(&redis),
    ]));
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (shared, acknowledged, refused) =
                (shared.clone(), acknowledged.clone(), refused.clone());
            tokio::spawn(async move {
                for i in 0..120 {
                    let m = shared.pick();
                    let record = json!({"name": format!("w{w}-{i}")});
                    let (status, _, body) = send(m, "POST", "/users", Some(record)).await;
                    match status {
                        201 => acknowledged.lock().unwrap().push(body),
                        503 => {
                            assert_eq!(body["error"], "state store unavailable", "{body}");
                            assert!(body["cause"].as_str().is_some_and(|c| !c.is_empty()));
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("{other}: {body}"),
                    }
                }
            })
        })
        .collect();
    // Under load: some writes acknowledged, then Redis dies and comes back.
    common::eventually("writes acknowledged", Duration::from_secs(10), || async {
        (acknowledged.lock().unwrap().len() >= 100).then_some(())
    })
    .await;
    redis.kill();
    // While it is down: stateful routes answer 503 naming the cause, static ones still serve.
    let m = &shared.replicas[1];
    let (status, _, body) = send(m, "GET", "/users/1", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["store"], json!(redis.url()));
    let (status, _, _) = send(m, "GET", "/health", None).await;
    assert_eq!(status, 200);
    redis.restart();
    for w in writers {
        w.await.unwrap();
    }
    // Every replica reconnected by itself and holds every acknowledged write.
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 100);
    for m in &shared.replicas {
        let (_, _, users) = common::eventually(
            "the replica reconnects",
            Duration::from_secs(10),
            || async {
                let got = send(m, "GET", "/users", None).await;
                (got.0 == 200).then_some(got)
            },
        )
        .await;
        let users = users.as_array().unwrap();
        for record in &acknowledged {
            assert!(
                users.contains(record),
                "{record} was acknowledged, then lost"
            );
        }
        // A write whose answer was lost with Redis (a 503) may have been made, or not.
        let refused = refused.load(Ordering::Relaxed);
        assert!(
            users.len() <= 2 + acknowledged.len() + refused,
            "no write beyond those sent"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_cannot_reach_redis_does_not_start() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let mut config = common::config(&spec);
    config.state = Some(format!("redis://127.0.0.1:{port}/0"));
    let e = mockrig::MockServer::with_config(config)
        .err()
        .expect("no start");
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "cannot connect to Redis at redis://127.0.0.1:{port}/0"
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_resource_is_seeded_once_and_an_unchanged_one_keeps_its_data() {
    let redis = Redis::start();
    let (a, b) = (replica(&redis), replica(&redis));
    send(&a, "POST", "/users", Some(json!({"name": "kept"}))).await;
    // Each replica reads its own copy of the spec: the change reaches A first.
    let changed = SPEC.replace(
        "{ id: 1, userId: 1, title: Hello }",
        "{ id: 7, title: New }",
    );
    std::fs::write(a.dir.path().join("api.yaml"), &changed).unwrap();
    common::eventually("A reloads", Duration::from_secs(5), || async {
        let (_, _, posts) = send(&a, "GET", "/posts", None).await;
        (posts == json!([{"id": 7, "title": "New"}])).then_some(())
    })
    .await;
    // Written after A seeded the new definition, before B loads it.
    send(
        &a,
        "POST",
        "/posts",
        Some(json!({"title": "after the change"})),
    )
    .await;
    std::fs::write(b.dir.path().join("api.yaml"), &changed).unwrap();
    common::eventually("B reloads", Duration::from_secs(5), || async {
        let (_, _, status) = send(&b, "GET", "/__mockrig/status", None).await;
        (status["reload_count"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    let (_, _, posts) = send(&b, "GET", "/posts", None).await;
    assert_eq!(
        posts,
        json!([{"id": 7, "title": "New"}, {"id": 8, "title": "after the change"}]),
        "B's reload must not seed the resource A already seeded"
    );
    let (_, _, users) = send(&b, "GET", "/users?name=kept", None).await;
    assert_eq!(users.as_array().map(Vec::len), Some(1), "unchanged: kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_and_import_on_one_replica_reach_the_others() {
    let redis = Redis::start();
    let (a, b) = (replica(&redis), replica(&redis));
    send(&a, "POST", "/users", Some(json!({"name": "temp"}))).await;
    let (status, _, _) = send(&b, "POST", "/__mockrig/reset", None).await;
    assert_eq!(status, 200);
    let (_, total, _) = send(&a, "GET", "/users", None).await;
    assert_eq!(total.as_deref(), Some("2"), "back to the seed on A too");
    let state = json!({"users": [{"id": 9, "name": "imported"}]});
    let (status, _, _) = send(&a, "PUT", "/__mockrig/state", Some(state)).await;
    assert_eq!(status, 200);
    let (_, _, users) = send(&b, "GET", "/users", None).await;
    assert_eq!(users, json!([{"id": 9, "name": "imported"}]));
    let (_, _, created) = send(&b, "POST", "/users", Some(json!({"name": "next"}))).await;
    assert_eq!(created["id"], 10, "ids continue after the imported ones");
}

const REALTIME: &str = r#"
websockets:
  - path: /ws/chat
    mode: broadcast
    on_connect: [ { text: hi } ]
sse:
  - { path: /events }
resources:
  users:
    seed: []
    emit:
      - { websocket: /ws/chat, text: "created {{ record.name }}" }
      - { sse: /events, event: user, data: { name: "{{ record.name }}" } }
"#;

/// Waits until each replica hears the others (its subscription is up): a readiness signal in
/// `/__mockrig/status`.
async fn until_hearing(replicas: &[Mock]) {
    for m in replicas {
        common::eventually(
            "the replica hears the others",
            Duration::from_secs(5),
            || async {
                let status = common::json_of(m.get("/__mockrig/status").await).await;
                (status["shared_state"]["hearing_replicas"] == json!(true)).then_some(())
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_emits_and_pushes_reach_clients_on_every_replica() {
    use crate::channels::{connect, read_sse, send as say, text};
    let redis = Redis::start();
    let replicas: Vec<Mock> = (0..3)
        .map(|_| {
            let url = redis.url();
            Mock::with(REALTIME, &[], |c| c.state = Some(url))
        })
        .collect();
    until_hearing(&replicas).await;
    let mut clients = Vec::new();
    for m in &replicas {
        let mut ws = connect(m, "/ws/chat").await;
        assert_eq!(text(&mut ws).await, "hi");
        clients.push(ws);
    }
    let mut events = replicas[2]
        .client
        .get(replicas[2].at("/events"))
        .send()
        .await
        .unwrap();
    // A client's message on replica 0 reaches the clients of the path on every replica.
    say(&mut clients[0], "from 0").await;
    for (i, ws) in clients.iter_mut().enumerate() {
        assert_eq!(text(ws).await, "from 0", "client on replica {i}");
    }
    // A write on replica 1: its emits reach WebSocket clients and SSE subscribers anywhere.
    let (status, _, _) = send(&replicas[1], "POST", "/users", Some(json!({"name": "Ada"}))).await;
    assert_eq!(status, 201);
    for (i, ws) in clients.iter_mut().enumerate() {
        assert_eq!(text(ws).await, "created Ada", "client on replica {i}");
    }
    let got = read_sse(&mut events, |s| s.contains("Ada")).await;
    assert!(got.contains("event: user"), "{got}");
    // An admin push on replica 2 reaches the clients of replicas 0 and 1.
    let pushed = replicas[2]
        .client
        .post(replicas[2].at("/__mockrig/ws/send?path=/ws/chat"))
        .json(&json!("pushed"))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 200);
    for (i, ws) in clients.iter_mut().enumerate() {
        assert_eq!(text(ws).await, "pushed", "client on replica {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_on_any_replica_counts_the_requests_every_replica_answered() {
    let redis = Redis::start();
    let shared = RoundRobin::new(vec![replica(&redis), replica(&redis), replica(&redis)]);
    for i in 0..9 {
        let path = format!("/users/{}", 1 + i % 2);
        let m = shared.pick();
        let headers = [("x-trace", format!("t{i}"))];
        let res = m
            .client
            .get(m.at(&path))
            .header(headers[0].0, &headers[0].1)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let (status, _, _) = send(
        shared.pick(),
        "POST",
        "/nothing/here",
        Some(json!({"a": 1})),
    )
    .await;
    assert_eq!(status, 404);
    for m in &shared.replicas {
        // Asked right after the requests, of any replica: all of them are there.
        let pattern = json!({"method": "GET", "path": "/users/{id}", "count": 9});
        let (status, _, body) = send(m, "POST", "/__mockrig/verify", Some(pattern)).await;
        assert_eq!((status, &body["matched"]), (200, &json!(9)), "{body}");
        let pattern = json!({"path": "/users/2", "headers": {"x-trace": "t3"}, "count": 1});
        let (status, _, body) = send(m, "POST", "/__mockrig/verify", Some(pattern)).await;
        assert_eq!(status, 200, "headers are kept: {body}");
        let (_, _, unmatched) = send(m, "GET", "/__mockrig/unmatched", None).await;
        let unmatched = unmatched["requests"].as_array().unwrap().clone();
        assert_eq!(unmatched.len(), 1, "{unmatched:?}");
        assert_eq!(unmatched[0]["path"], "/nothing/here");
        assert_eq!(unmatched[0]["body"], json!({"a": 1}));
        let (_, _, list) = send(m, "GET", "/__mockrig/requests?summary=true", None).await;
        let ids: Vec<u64> = list["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ids,
            (1..=10).collect::<Vec<u64>>(),
            "one numbering for all replicas"
        );
        let (status, _, one) = send(m, "GET", "/__mockrig/requests/10", None).await;
        assert_eq!((status, &one["path"]), (200, &json!("/nothing/here")));
    }
    let (status, _, _) = send(&shared.replicas[0], "DELETE", "/__mockrig/requests", None).await;
    assert_eq!(status, 204);
    let (_, _, list) = send(&shared.replicas[2], "GET", "/__mockrig/requests", None).await;
    assert_eq!(list["requests"], json!([]), "cleared for every replica");
}

const STATEFUL: &str = r#"
routes:
  - path: /cart
    scenario: cart
    when: started
    response: { body: { items: [] } }
  - method: POST
    path: /cart/items
    scenario: cart
    then: filled
    response: { status: 201 }
  - path: /cart
    scenario: cart
    when: filled
    response: { body: { items: [ pen ] } }
  - method: POST
    path: /checkout
    scenario: cart
    when: filled
    then: paid
    response: { body: { paid: true } }
  - method: POST
    path: /checkout
    response: { status: 409, body: { paid: false } }
  - path: /pay
    responses:
      - { status: 503 }
      - { status: 503 }
      - { status: 201 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequences_and_scenarios_are_shared_and_advance_once() {
    let redis = Redis::start();
    let shared = RoundRobin::new(
        (0..3)
            .map(|_| {
                let url = redis.url();
                Mock::with(STATEFUL, &[], |c| c.state = Some(url))
            })
            .collect(),
    );
    // A sequence counts the answers of every replica: fails twice in all, then succeeds.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(send(shared.pick(), "GET", "/pay", None).await.0);
    }
    assert_eq!(statuses, [503, 503, 201, 201]);
    // A scenario moved on one replica is where it went on the next.
    assert_eq!(
        send(shared.pick(), "GET", "/cart", None).await.2,
        json!({"items": []})
    );
    assert_eq!(
        send(shared.pick(), "POST", "/cart/items", None).await.0,
        201
    );
    assert_eq!(
        send(shared.pick(), "GET", "/cart", None).await.2,
        json!({"items": ["pen"]})
    );
    // Checkouts at once on every replica: the scenario moves from filled to paid once; the
    // state every replica reports afterwards is the same.
    let checkouts = (0..30).map(|_| {
        let m = shared.pick();
        async move { send(m, "POST", "/checkout", None).await.0 }
    });
    let results = join_all(checkouts).await;
    assert!(results.contains(&200), "{results:?}");
    for m in &shared.replicas {
        let (_, _, s) = send(m, "GET", "/__mockrig/scenarios", None).await;
        assert_eq!(s["scenarios"]["cart"]["state"], "paid", "{s}");
        assert_eq!(send(m, "POST", "/checkout", None).await.0, 409);
    }
    // Set on one replica by the admin API, seen by the others; a reset starts all over.
    let (status, _, _) = send(
        &shared.replicas[0],
        "PUT",
        "/__mockrig/scenarios/cart",
        Some(json!({"state": "filled"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        send(&shared.replicas[1], "GET", "/cart", None).await.2,
        json!({"items": ["pen"]})
    );
    send(&shared.replicas[2], "POST", "/__mockrig/reset", None).await;
    assert_eq!(
        send(&shared.replicas[0], "GET", "/cart", None).await.2,
        json!({"items": []})
    );
    assert_eq!(send(&shared.replicas[1], "GET", "/pay", None).await.0, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stub_added_through_one_replica_answers_on_every_one() {
    let redis = Redis::start();
    let (a, b, c) = (replica(&redis), replica(&redis), replica(&redis));
    // A change of the stubs is answered once every replica that hears the others serves it.
    let replicas = [a, b, c];
    until_hearing(&replicas).await;
    let [a, b, c] = replicas;
    let stub = json!([
        {"path": "/flags", "response": {"body": {"beta": true}}},
        {"path": "/users/1", "response": {"status": 410}}
    ]);
    let (status, _, added) = send(&a, "POST", "/__mockrig/routes", Some(stub)).await;
    assert_eq!(status, 201, "{added}");
    let ids: Vec<u64> = added["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap())
        .collect();
    // The very next request, on another replica, is answered by it.
    assert_eq!(
        send(&b, "GET", "/flags", None).await.2,
        json!({"beta": true})
    );
    assert_eq!(
        send(&c, "GET", "/users/1", None).await.0,
        410,
        "in front of the resource"
    );
    // Another replica's stubs get ids of their own.
    let (_, _, more) = send(
        &c,
        "POST",
        "/__mockrig/routes",
        Some(json!({"path": "/more", "response": {"status": 204}})),
    )
    .await;
    assert!(!ids.contains(&more["ids"][0].as_u64().unwrap()), "{more}");
    assert_eq!(send(&a, "GET", "/more", None).await.0, 204);
    // Removed through a third, gone everywhere: the resource answers again.
    let (status, _, _) = send(&c, "DELETE", &format!("/__mockrig/routes/{}", ids[1]), None).await;
    assert_eq!(status, 204);
    assert_eq!(send(&a, "GET", "/users/1", None).await.0, 200);
    let (status, _, _) = send(&b, "DELETE", &format!("/__mockrig/routes/{}", ids[1]), None).await;
    assert_eq!(status, 404, "already gone");
    // A reset through any replica removes the stubs for all.
    send(&b, "POST", "/__mockrig/reset", None).await;
    assert_eq!(send(&c, "GET", "/flags", None).await.0, 404);
}

/// Sends a request in session `session`.
async fn in_session(
    m: &Mock,
    session: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = m
        .client
        .request(Method::from_bytes(method.as_bytes()).unwrap(), m.at(path))
        .header("x-mockrig-session", session);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_the_same_on_every_replica_and_its_own() {
    let redis = Redis::start();
    // The scenarios' and the sequence's routes beside the resources.
    let stateful_routes = STATEFUL.trim_start().trim_start_matches("routes:\n");
    let spec = SPEC.replacen("routes:\n", &format!("routes:\n{stateful_routes}"), 1);
    let (a, b) = {
        let url = redis.url();
        let url2 = url.clone();
        (
            Mock::with(&spec, &[], |c| c.state = Some(url)),
            Mock::with(&spec, &[], |c| c.state = Some(url2)),
        )
    };
    // Data: written on A in session t1, read on B in t1; not in t2, not outside sessions.
    let (status, created) =
        in_session(&a, "t1", "POST", "/users", Some(json!({"name": "Tess"}))).await;
    assert_eq!(status, 201);
    let id = created["id"].clone();
    assert_eq!(
        in_session(&b, "t1", "GET", &format!("/users/{id}"), None)
            .await
            .1["name"],
        "Tess"
    );
    assert_eq!(
        in_session(&b, "t2", "GET", &format!("/users/{id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(send(&b, "GET", &format!("/users/{id}"), None).await.0, 404);
    // Counts and scenarios: the session's own, on every replica.
    assert_eq!(in_session(&a, "t1", "GET", "/pay", None).await.0, 503);
    assert_eq!(in_session(&b, "t1", "GET", "/pay", None).await.0, 503);
    assert_eq!(in_session(&a, "t1", "GET", "/pay", None).await.0, 201);
    assert_eq!(
        in_session(&b, "t2", "GET", "/pay", None).await.0,
        503,
        "t2 counts on its own"
    );
    assert_eq!(
        in_session(&a, "t1", "POST", "/cart/items", None).await.0,
        201
    );
    assert_eq!(
        in_session(&b, "t1", "GET", "/cart", None).await.1,
        json!({"items": ["pen"]})
    );
    assert_eq!(
        in_session(&b, "t2", "GET", "/cart", None).await.1,
        json!({"items": []})
    );
    // Its journal, read through the other replica.
    let (_, _, journal) = send(
        &b,
        "GET",
        "/__mockrig/requests?session=t1&summary=true",
        None,
    )
    .await;
    let paths: Vec<&str> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths.iter().filter(|p| **p == "/pay").count(),
        3,
        "{paths:?}"
    );
    assert!(paths.contains(&"/users"), "{paths:?}");
    // State: exported and reset through B, for A too.
    let (_, _, state) = send(&b, "GET", "/__mockrig/state?session=t1", None).await;
    assert!(
        state["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "Tess")
    );
    let (status, _, _) = send(&b, "POST", "/__mockrig/reset?session=t1", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        in_session(&a, "t1", "GET", &format!("/users/{id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        in_session(&a, "t1", "GET", "/pay", None).await.0,
        503,
        "counts start over"
    );
    assert_eq!(
        in_session(&a, "t1", "GET", "/cart", None).await.1,
        json!({"items": []})
    );
}

impl Redis {
    /// Runs one command with Debian's redis-cli (installed with redis-server).
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_went_back_in_time_is_what_the_replicas_serve() {
    // Redis restored from an older snapshot (or a failover to a replica that lagged): the
    // replicas' copies hold changes Redis lost, and must not keep serving them.
    let redis = Redis::start();
    let (a, b) = (replica(&redis), replica(&redis));
    let (_, _, created) = send(&a, "POST", "/users", Some(json!({"name": "lost"}))).await;
    assert_eq!(send(&b, "GET", "/users/3", None).await.0, 200);
    // What the older snapshot lacks: the record, and the change that made it.
    redis.cli(&["HDEL", "mockrig:{users}:records", "3"]);
    redis.cli(&["ZREM", "mockrig:{users}:order", "3"]);
    redis.cli(&["HINCRBY", "mockrig:{users}:meta", "seq", "-1"]);
    redis.cli(&["HSET", "mockrig:{users}:meta", "next", "3"]);
    assert_eq!(created["id"], 3);
    for m in [&a, &b] {
        assert_eq!(send(m, "GET", "/users/3", None).await.0, 404, "{}", m.url);
    }
    // And they go on from what Redis holds: the next create is readable everywhere.
    let (status, _, next) = send(&b, "POST", "/users", Some(json!({"name": "after"}))).await;
    assert_eq!(status, 201);
    let path = format!("/users/{}", next["id"]);
    assert_eq!(send(&a, "GET", &path, None).await.2, next);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_of_everything_drops_every_session_on_every_replica() {
    let redis = Redis::start();
    let (a, b) = (replica(&redis), replica(&redis));
    let (status, created) =
        in_session(&a, "s1", "POST", "/users", Some(json!({"name": "mine"}))).await;
    assert_eq!(status, 201);
    let path = format!("/users/{}", created["id"]);
    assert_eq!(in_session(&b, "s1", "GET", &path, None).await.0, 200);
    assert_eq!(send(&b, "POST", "/__mockrig/reset", None).await.0, 200);
    assert_eq!(
        redis.cli(&["KEYS", "mockrig:session:*"]),
        "",
        "no session key left"
    );
    // A replica that still holds the session starts it from the seeds.
    for m in [&a, &b] {
        assert_eq!(
            in_session(m, "s1", "GET", &path, None).await.0,
            404,
            "{}",
            m.url
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reset_ids_start_again_from_the_seed_on_every_replica() {
    let redis = Redis::start();
    let (a, b) = (replica(&redis), replica(&redis));
    for _ in 0..5 {
        send(&a, "POST", "/users", Some(json!({"name": "before"}))).await;
    }
    assert_eq!(send(&b, "POST", "/__mockrig/reset", None).await.0, 200);
    // As one in-memory mockrig: the seed holds 1 and 2, so the next create is 3.
    let (_, _, created) = send(&a, "POST", "/users", Some(json!({"name": "after"}))).await;
    assert_eq!(created["id"], 3, "{created}");
}

#[tokio::test]
async fn the_change_log_is_bounded_in_bytes_and_a_copy_past_it_reads_the_data_whole() {
    let redis = Redis::start();
    let (a, b) = (replica(&redis), replica(&redis));
    // b's copy stands here; then a writes more than the log's 16 MiB in 20 records.
    assert_eq!(
        send(&b, "GET", "/users", None).await.1.as_deref(),
        Some("2")
    );
    let bio = "x".repeat(1_000_000);
    for i in 0..20 {
        let (status, _, _) = send(
            &a,
            "POST",
            "/users",
            Some(json!({"name": format!("big{i}"), "bio": bio})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let lines: usize = redis.cli(&["LLEN", "mockrig:{users}:log"]).parse().unwrap();
    assert!((1..20).contains(&lines), "{lines} lines kept of 20");
    // The count the commit script keeps is the bytes of the lines it kept.
    let counted: usize = redis
        .cli(&["HGET", "mockrig:{users}:meta", "logbytes"])
        .parse()
        .unwrap();
    let held: usize = (0..lines)
        .map(|i| {
            redis
                .cli(&["LINDEX", "mockrig:{users}:log", &i.to_string()])
                .len()
        })
        .sum();
    assert_eq!(counted, held);
    assert!(counted <= 16 * 1024 * 1024, "{counted}");
    // b is 20 changes behind a log that holds fewer: it reads the collection whole.
    let (_, total, list) = send(&b, "GET", "/users?_sort=id", None).await;
    assert_eq!(total.as_deref(), Some("22"));
    let list = list.as_array().unwrap();
    assert_eq!(list[21]["name"], "big19");
    assert_eq!(list[21]["bio"].as_str().map(str::len), Some(1_000_000));
}

/// A replica does not read back what it wrote whole itself: the seed it put in Redis at start,
/// or the data of a reset it made, is its copy as of that change. (`ZRANGE` of the order is
/// how a copy reads a resource whole; `sync.lua` is its only caller.) Another replica reads
/// the reset whole, as it must.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_reads_back_none_of_the_data_it_wrote_whole_itself() {
    let redis = Redis::start();
    let whole_reads = || {
        let stats = redis.cli(&["INFO", "commandstats"]);
        stats
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_zrange:calls="))
            .and_then(|l| l.split(',').next())
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    let a = replica(&redis);
    assert_eq!(send(&a, "GET", "/users/1", None).await.0, 200);
    send(&a, "POST", "/users", Some(json!({"name": "written"}))).await;
    assert_eq!(whole_reads(), 0, "the seed a wrote was read back");
    assert_eq!(send(&a, "POST", "/__mockrig/reset", None).await.0, 200);
    let (status, _, after) = send(&a, "POST", "/users", Some(json!({"name": "after"}))).await;
    assert_eq!((status, &after["id"]), (201, &json!(3)));
    assert_eq!(send(&a, "GET", "/users/3", None).await.2, after);
    assert_eq!(whole_reads(), 0, "the reset a made was read back");
    // b started after the seeding, so its copy reads users whole once (posts, orders and the
    // settings too: it seeded none of them).
    let b = replica(&redis);
    assert_eq!(send(&b, "GET", "/users/3", None).await.2, after);
    assert!(whole_reads() >= 1, "b read users whole");
}
