//! `--state-file`: acknowledged writes survive `kill -9`, and the state file is never torn.

use crate::common;

use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// A server process and its URL.
struct Server {
    child: common::Proc,
    url: String,
}

fn start(spec: &std::path::Path, state: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mockrig"))
        .args([
            "serve",
            "--port",
            "0",
            "--workers",
            "2",
            "--log",
            "warn",
            "--state-file",
        ])
        .arg(state)
        .arg(spec)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let url = common::listening_url(&mut child);
    Server {
        child: common::Proc(child),
        url,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        "resources:\n  users:\n    seed: [{ id: 1, name: Ada }]\n  profile:\n    singleton: true\n",
    )
    .unwrap();
    let state = dir.path().join("state.json");
    let client = common::client();

    let mut server = start(&spec, &state);
    let url = server.url.clone();
    // 200 creates from 8 concurrent clients, plus an update and a delete.
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                for i in 0..25 {
                    let r = client
                        .post(format!("{url}/users"))
                        .json(&json!({"name": format!("user {t}-{i}")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let r = client
        .patch(format!("{url}/users/1"))
        .json(&json!({"name": "Ada L."}))
        .send();
    assert_eq!(r.await.unwrap().status(), 200);
    let r = client
        .put(format!("{url}/profile"))
        .json(&json!({"theme": "dark"}))
        .send();
    assert_eq!(r.await.unwrap().status(), 200);
    let r = client.delete(format!("{url}/users/2")).send();
    assert_eq!(r.await.unwrap().status(), 204);

    // SIGKILL: no chance to flush anything that was not already on disk.
    server.child.0.kill().unwrap();
    server.child.0.wait().unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap())
        .expect("the state file is whole JSON");
    assert_eq!(saved["version"], 1);

    let restarted = start(&spec, &state);
    let users: Value = client
        .get(format!("{}/users", restarted.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 200, "1 seed + 200 created - 1 deleted");
    assert_eq!(users[0], json!({"id": 1, "name": "Ada L."}));
    assert!(users.iter().all(|u| u["id"] != 2));
    let profile: Value = client
        .get(format!("{}/profile", restarted.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile, json!({"theme": "dark"}));
    let next: Value = client
        .post(format!("{}/users", restarted.url))
        .json(&json!({"name": "after restart"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(next["id"], 202, "ids continue after the largest one saved");
}

#[tokio::test]
async fn a_changed_seed_replaces_saved_data() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    let state = dir.path().join("state.json");
    std::fs::write(
        &spec,
        "resources:\n  users:\n    seed: [{ id: 1, name: Ada }]\n",
    )
    .unwrap();
    let client = common::client();
    {
        let s = start(&spec, &state);
        let r = client
            .post(format!("{}/users", s.url))
            .json(&json!({"name": "x"}))
            .send();
        assert_eq!(r.await.unwrap().status(), 201);
    }
    std::fs::write(
        &spec,
        "resources:\n  users:\n    seed: [{ id: 7, name: Seven }]\n",
    )
    .unwrap();
    let s = start(&spec, &state);
    let users: Value = client
        .get(format!("{}/users", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users, json!([{"id": 7, "name": "Seven"}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resets_during_writes_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    let state = dir.path().join("state.json");
    std::fs::write(
        &spec,
        "resources:\n  items:\n    seed: [{ id: 1 }]\n  other: {}\n",
    )
    .unwrap();
    let client = common::client();
    let mut server = start(&spec, &state);
    let url = server.url.clone();
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                for i in 0..50 {
                    let r = client
                        .post(format!("{url}/other"))
                        .json(&json!({"t": t, "i": i}))
                        .send();
                    assert_eq!(r.await.unwrap().status(), 201);
                }
            })
        })
        .collect();
    // Snapshots written while the writers run must not drop their journal lines.
    for _ in 0..10 {
        let r = client
            .post(format!("{url}/__mockrig/reset?resource=items"))
            .send();
        assert_eq!(r.await.unwrap().status(), 200);
    }
    for w in writers {
        w.await.unwrap();
    }
    let before: Value = client
        .get(format!("{url}/__mockrig/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(before["other"].as_array().unwrap().len(), 200);
    server.child.0.kill().unwrap();
    server.child.0.wait().unwrap();
    let restarted = start(&spec, &state);
    let after: Value = client
        .get(format!("{}/__mockrig/state", restarted.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after, before);
}

/// `mockrig serve --state-file STATE SPEC` run to its start: the exit code and stderr of a
/// start that fails, or `None` when it listens (then it is stopped).
fn start_result(
    spec: &std::path::Path,
    state: &std::path::Path,
    extra: &[&str],
) -> Option<(i32, String)> {
    use std::io::{BufRead, Read};
    let mut child = Command::new(env!("CARGO_BIN_EXE_mockrig"))
        .args([
            "serve",
            "--port",
            "0",
            "--log",
            "warn",
            "--no-watch",
            "--state-file",
        ])
        .arg(state)
        .args(extra)
        .arg(spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.starts_with("mockrig listening on ") {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    Some((status.code().unwrap_or(-1), err))
}

const USERS: &str = "resources:\n  users:\n    seed: [{ id: 1, name: Ada }]\n";

/// A state file of `users` holding `records`, as mockrig writes it, and its fingerprint.
fn saved_users(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Value) {
    let spec = dir.join("api.yaml");
    std::fs::write(&spec, USERS).unwrap();
    let state = dir.join("state.json");
    assert_eq!(
        start_result(&spec, &state, &[]),
        None,
        "a first start writes the state"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    (spec, state, doc)
}

/// A spec that does not compile stops the start before the state is opened: no state file
/// or log is created, and `--state-reset` resets nothing.
#[test]
fn a_broken_spec_creates_and_resets_no_state() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, state, doc) = saved_users(dir.path());
    let saved = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&spec, "resources:\n  users:\n    sed: []\n").unwrap();
    let (code, err) = start_result(&spec, &state, &["--state-reset"]).expect("refused");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("did you mean 'seed'"), "{err}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), saved);
    assert_eq!(doc["resources"]["users"]["data"][0]["name"], "Ada");

    let fresh = dir.path().join("fresh.json");
    let (code, _) = start_result(&spec, &fresh, &[]).expect("refused");
    assert_eq!(code, 1);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fresh"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_damaged_state_file_stops_the_start_and_is_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, state, doc) = saved_users(dir.path());
    let print = doc["resources"]["users"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let damaged = [
        ("{}".to_owned(), "not a mockrig state file"),
        (
            json!({"version": 1, "resources": {"users": {"fingerprint": print, "data": {"id": 1}}}})
                .to_string(),
            "users: a collection's data is a list",
        ),
        (
            json!({"version": 1, "resources": {"users": {"fingerprint": "zz", "data": []}}})
                .to_string(),
            "is not a fingerprint",
        ),
        ("{\"version\": 1, \"resources\": {".to_owned(), "state.json:1: not JSON"),
        ("\u{0}\u{ff}".to_owned(), "not JSON"),
    ];
    for (text, needle) in damaged {
        std::fs::write(&state, &text).unwrap();
        let (code, err) = start_result(&spec, &state, &[]).expect("the start is refused");
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(needle) && err.contains("state.json"),
            "`{needle}` in {err}"
        );
        assert!(
            err.contains("--state-reset"),
            "says how to start afresh: {err}"
        );
        assert_eq!(
            std::fs::read_to_string(&state).unwrap(),
            text,
            "left as it was"
        );
    }
    // Starting afresh is a choice.
    assert_eq!(start_result(&spec, &state, &["--state-reset"]), None);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        doc["resources"]["users"]["data"],
        json!([{"id": 1, "name": "Ada"}])
    );
}

#[tokio::test]
async fn a_damaged_log_line_stops_the_start_but_a_torn_last_line_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, state, doc) = saved_users(dir.path());
    let print = doc["resources"]["users"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = dir.path().join("state.json.journal");
    let entry = |id: u32| {
        json!({"op": "put", "key": id.to_string(), "record": {"id": id, "name": "é"},
               "resource": "users", "fingerprint": print})
        .to_string()
    };
    // A damaged line in the middle: refused, naming the line.
    let text = format!("{}\n{{\"op\": \"pu\n{}\n", entry(2), entry(3));
    std::fs::write(&log, &text).unwrap();
    let (code, err) = start_result(&spec, &state, &[]).expect("refused");
    assert_eq!(code, 1);
    assert!(err.contains("state.json.journal:2:"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        text,
        "left as it was"
    );
    // A last line cut short by a crash, even inside a UTF-8 character, was never
    // acknowledged: dropped, and said so.
    let full = format!("{}\n{}\n", entry(2), entry(3));
    let cut = full.rfind('é').unwrap() + 1;
    let mut bytes = full.as_bytes().to_vec();
    bytes.truncate(cut);
    assert!(std::str::from_utf8(&bytes).is_err(), "cut inside the é");
    std::fs::write(&log, &bytes).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mockrig"))
        .args([
            "serve",
            "--port",
            "0",
            "--log",
            "warn",
            "--no-watch",
            "--state-file",
        ])
        .arg(&state)
        .arg(&spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = common::listening_url(&mut child);
    let mut child = common::Proc(child);
    let users = common::json_of(
        common::client()
            .get(format!("{url}/users"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        users,
        json!([{"id": 1, "name": "Ada"}, {"id": 2, "name": "é"}])
    );
    let _ = child.0.kill();
    let _ = child.0.wait();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("dropped a torn last line of"), "{err}");
}

/// `{"a": {"a": … 1 …}}`, `levels` objects deep.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }))
}

#[tokio::test]
async fn a_record_too_deep_to_read_back_is_refused_and_every_accepted_one_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        "resources:\n  items: {}\n  profile: { singleton: true }\n",
    )
    .unwrap();
    let state = dir.path().join("state.json");
    let client = common::client();
    let server = start(&spec, &state);
    // 126 levels: acknowledged before, unreadable after the second restart. Now refused.
    let r = client
        .post(format!("{}/items", server.url))
        .json(&json!({"deep": nested(125)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        common::json_of(r).await["error"]
            .as_str()
            .unwrap()
            .contains("deeper than 64")
    );
    for (path, method) in [
        ("/items", reqwest::Method::POST),
        ("/profile", reqwest::Method::PUT),
    ] {
        let r = client
            .request(method, format!("{}{path}", server.url))
            .json(&json!({"deep": nested(63)}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    drop(server);
    for _ in 0..2 {
        let server = start(&spec, &state);
        let items = common::json_of(
            client
                .get(format!("{}/items", server.url))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(items, json!([{"id": 1, "deep": nested(63)}]));
        let profile = common::json_of(
            client
                .get(format!("{}/profile", server.url))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(profile, json!({"deep": nested(63)}));
    }
}

fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::from),
    ];
    let tree = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("\\PC{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    // Some records sit near the nesting limit, on either side of it.
    (tree, prop_oneof![Just(0usize), 60usize..70]).prop_map(|(v, deep)| {
        if deep == 0 {
            v
        } else {
            json!({"deep": nested(deep), "v": v})
        }
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    /// Whatever a client writes, what was acknowledged is exactly what a restart reads back.
    #[test]
    fn what_was_acknowledged_is_what_a_restart_reads_back(
        bodies in proptest::collection::vec(any_json(), 1..12),
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let spec = dir.path().join("api.yaml");
            std::fs::write(&spec, "resources:\n  items: {}\n").unwrap();
            let state = dir.path().join("state.json");
            let client = common::client();
            let mut acknowledged = Vec::new();
            {
                let mut config = common::config(&spec);
                config.state_file = Some(state.clone());
                let server = mockrig::MockServer::with_config(config).unwrap();
                for body in &bodies {
                    let r = client.post(format!("{}/items", server.url())).json(body).send().await.unwrap();
                    if r.status().is_success() {
                        acknowledged.push(common::json_of(r).await);
                    } else {
                        assert_eq!(r.status(), 400, "refused, not failed: {body}");
                    }
                }
            }
            let mut config = common::config(&spec);
            config.state_file = Some(state.clone());
            let server = mockrig::MockServer::with_config(config).unwrap();
            let read = common::json_of(client.get(format!("{}/items", server.url())).send().await.unwrap()).await;
            assert_eq!(read, Value::Array(acknowledged));
        });
    }
}

/// The README's example of a damaged journal is what `serve` prints for it, and the file is
/// left as it was.
#[test]
fn the_readme_shows_what_a_damaged_journal_prints() {
    let readme = std::fs::read_to_string(crate::common::repo_path("README.md")).unwrap();
    let shown = readme
        .split("```text\n")
        .find(|b| b.starts_with("state.json.journal:1:"))
        .and_then(|b| b.split("```").next())
        .expect("the README shows the error");
    let dir = tempfile::tempdir().unwrap();
    let (spec, state, _) = saved_users(dir.path());
    let journal = dir.path().join("state.json.journal");
    let mut text = std::fs::read_to_string(&journal).unwrap_or_default();
    text.push_str("{\"resource\":\"users\"}\n");
    std::fs::write(&journal, &text).unwrap();
    let (code, err) = start_result(&spec, &state, &[]).expect("refused");
    assert_eq!(code, 1);
    assert!(err.ends_with(shown), "README:\n{shown}\nprinted:\n{err}");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), text);
}

/// A journal entry that does not fit its resource (a singleton's `set` for a collection) is
/// damage too: the start is refused, the file left as it is.
#[test]
fn a_journal_entry_of_the_wrong_kind_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, state, doc) = saved_users(dir.path());
    let print = doc["resources"]["users"]["fingerprint"].clone();
    let journal = dir.path().join("state.json.journal");
    let mut text = std::fs::read_to_string(&journal).unwrap_or_default();
    text.push_str(
        &json!({"op": "set", "resource": "users", "fingerprint": print, "record": {"a": 1}})
            .to_string(),
    );
    text.push('\n');
    std::fs::write(&journal, &text).unwrap();
    let (code, err) = start_result(&spec, &state, &[]).expect("refused");
    assert_eq!(code, 1);
    assert!(
        err.contains("state.json.journal")
            && err.contains("users: a 'set' entry does not fit a collection"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), text);
}

/// Bytes that are not UTF-8 in a line the journal goes on after are damage, not a torn end.
#[test]
fn bad_utf8_in_a_middle_journal_line_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, state, _) = saved_users(dir.path());
    let journal = dir.path().join("state.json.journal");
    let mut bytes = std::fs::read(&journal).unwrap_or_default();
    bytes.extend_from_slice(b"{\"op\": \"\xff\xfe\"}\n{}\n");
    std::fs::write(&journal, &bytes).unwrap();
    let (code, err) = start_result(&spec, &state, &[]).expect("refused");
    assert_eq!(code, 1);
    assert!(err.contains("state.json.journal:1: not UTF-8"), "{err}");
    assert_eq!(std::fs::read(&journal).unwrap(), bytes);
}
