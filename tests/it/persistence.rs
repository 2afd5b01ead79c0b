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
