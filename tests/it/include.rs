//! `include:`: a spec split over several files, served, reloaded and checked as one.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{self, Mock};

/// `mockrig check api.yaml` run in a folder holding `files` and the spec: exit code and
/// everything printed.
fn check(yaml: &str, files: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }
    std::fs::write(dir.path().join("api.yaml"), yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mockrig"))
        .arg("check")
        .arg("api.yaml")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

async fn text(m: &Mock, path: &str) -> (u16, String) {
    let r = m.get(path).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn routes_resources_channels_and_static_folders_of_included_files_all_serve() {
    let m = Mock::start(
        "include: [routes.yaml, resources.yaml, channels/*.yaml, static.yaml]\n\
         routes:\n  - { path: /main, response: { text: main } }\n",
        &[
            (
                "routes.yaml",
                b"routes:\n  - { path: /hello, response: { text: hi } }\n",
            ),
            (
                "resources.yaml",
                b"resources:\n  users: { seed: [ { id: 1, name: Ada } ] }\n",
            ),
            ("channels/ws.yaml", b"websockets:\n  - path: /ws/chat\n"),
            (
                "channels/sse.yaml",
                b"sse:\n  - path: /events\n    events: [ { data: one } ]\n",
            ),
            (
                "static.yaml",
                b"static:\n  - { path: /files, dir: public }\n",
            ),
            ("public/a.txt", b"static a"),
        ],
    );
    assert_eq!(text(&m, "/main").await, (200, "main".into()));
    assert_eq!(text(&m, "/hello").await, (200, "hi".into()));
    let user = common::json_of(m.get("/users/1").await).await;
    assert_eq!(user["name"], "Ada");
    assert_eq!(text(&m, "/files/a.txt").await, (200, "static a".into()));
    // The WebSocket channel takes its path: a plain GET is told to upgrade.
    assert_eq!(m.get("/ws/chat").await.status().as_u16(), 426);
    let r = m.get("/events").await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    drop(r);
    // The journal names the route by its file.
    let journal: Value = m.get("/__mockrig/requests").await.json().await.unwrap();
    let routes: Vec<&str> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["matched"].as_str())
        .collect();
    assert!(routes.contains(&"routes.yaml:routes[0]"), "{routes:?}");
    assert!(routes.contains(&"routes[0]"), "{routes:?}");
}

#[test]
fn a_globs_files_join_sorted_by_path_and_the_first_route_without_match_wins() {
    let files = [
        (
            "routes/b.yaml",
            "routes:\n  - path: /who\n    response: { text: b }\n",
        ),
        (
            "routes/a.yaml",
            "routes:\n  - path: /who\n    response: { text: a }\n",
        ),
    ];
    let (code, out) = check("include: [\"routes/*.yaml\"]\n", &files);
    assert_eq!(code, 0, "{out}");
    // b.yaml comes after a.yaml: its route never answers, and the warning names both files.
    assert!(
        out.contains(
            "routes/b.yaml:2:11: warning: routes[0].path: this route never answers: \
             routes[0] at routes/a.yaml:2 (GET /who) takes every request"
        ),
        "{out}"
    );
}

#[tokio::test]
async fn the_first_joined_route_answers() {
    let m = Mock::start(
        "include: [\"routes/*.yaml\"]\n",
        &[
            (
                "routes/b.yaml",
                b"routes:\n  - { path: /who, response: { text: b } }\n",
            ),
            (
                "routes/a.yaml",
                b"routes:\n  - { path: /who, response: { text: a } }\n",
            ),
        ],
    );
    assert_eq!(text(&m, "/who").await, (200, "a".into()));
}

#[tokio::test]
async fn saving_an_included_file_reloads_and_a_new_glob_match_is_picked_up() {
    let m = Mock::start(
        "include: [\"routes/*.yaml\"]\nresources:\n  notes: {}\n",
        &[(
            "routes/a.yaml",
            b"routes:\n  - { path: /a, response: { text: v1 } }\n",
        )],
    );
    assert_eq!(text(&m, "/a").await, (200, "v1".into()));
    // Resource data outlives the reload, as with any reload.
    let r = m
        .post_json("/notes", &serde_json::json!({"text": "keep"}))
        .await;
    assert_eq!(r.status().as_u16(), 201);
    std::fs::write(
        m.dir.path().join("routes/a.yaml"),
        "routes:\n  - { path: /a, response: { text: v2 } }\n",
    )
    .unwrap();
    common::eventually(
        "the saved include serves",
        Duration::from_secs(2),
        || async { (text(&m, "/a").await.1 == "v2").then_some(()) },
    )
    .await;
    let notes = common::json_of(m.get("/notes").await).await;
    assert_eq!(notes.as_array().map(Vec::len), Some(1), "{notes}");
    // A file added to the folder the glob searches is a new match.
    std::fs::write(
        m.dir.path().join("routes/b.yaml"),
        "routes:\n  - { path: /b, response: { text: new } }\n",
    )
    .unwrap();
    common::eventually("the new file serves", Duration::from_secs(2), || async {
        (text(&m, "/b").await == (200, "new".into())).then_some(())
    })
    .await;
    // A broken include keeps the last good spec serving, and the error names its file.
    std::fs::write(
        m.dir.path().join("routes/b.yaml"),
        "routes:\n  - { path: /b, response: { status: 700 } }\n",
    )
    .unwrap();
    let status = common::eventually("the broken save fails", Duration::from_secs(2), || async {
        let s: Value = m.get("/__mockrig/status").await.json().await.unwrap();
        (s["last_reload"]["result"] == "error").then_some(s)
    })
    .await;
    let error = status["last_reload"]["error"].as_str().unwrap();
    assert!(
        error.contains("b.yaml:2:37: routes[0].response.status"),
        "{error}"
    );
    assert_eq!(text(&m, "/b").await, (200, "new".into()));
}

#[test]
fn problems_of_the_main_spec_and_of_two_included_files_come_in_one_run() {
    let (code, out) = check(
        "include: [a.yaml, sub/b.yaml]\nroutes:\n  - path: main\n",
        &[
            (
                "a.yaml",
                "routes:\n  - path: /a\n    response: { stauts: 200 }\n",
            ),
            (
                "sub/b.yaml",
                "server: { delay: 1s }\nroutes:\n  - path: /b\n    response: { status: 700 }\n",
            ),
        ],
    );
    assert_eq!(code, 1, "{out}");
    for needle in [
        "api.yaml:3:11: routes[0].path:",
        "a.yaml:3:17: routes[0].response.stauts: unknown key 'stauts', did you mean 'status'?",
        "sub/b.yaml:1:1: server: only the main spec sets server:",
        "sub/b.yaml:4:25: routes[0].response.status:",
        "4 errors",
    ] {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }
}

#[test]
fn a_resource_or_channel_in_two_files_names_both_places() {
    let (code, out) = check(
        "include: [more.yaml]\nresources:\n  users: {}\nwebsockets:\n  - path: /ws\n",
        &[(
            "more.yaml",
            "websockets:\n  - path: /ws\nresources:\n  users: {}\n",
        )],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "more.yaml:4:3: resources.users: resource 'users' is already defined at api.yaml:3"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "more.yaml:2:11: websockets[0].path: '/ws' is already websockets[0] at api.yaml:5"
        ),
        "{out}"
    );
}

#[test]
fn includes_outside_the_folder_missing_or_matching_nothing_are_located_errors() {
    let (code, out) = check(
        "include:\n  - ../outside.yaml\n  - nope.yaml\n  - \"none/*.yaml\"\n  - /etc/passwd\n",
        &[],
    );
    assert_eq!(code, 1, "{out}");
    for needle in [
        "api.yaml:2:5: include[0]: '../outside.yaml' is outside the spec's folder",
        "api.yaml:3:5: include[1]: 'nope.yaml' does not exist",
        "api.yaml:4:5: include[2]: 'none/*.yaml' matches no file",
        "api.yaml:5:5: include[3]: '/etc/passwd' is outside the spec's folder",
    ] {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }
}

#[cfg(unix)]
#[test]
fn a_link_leading_outside_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.yaml"), "routes: []\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path().join("x.yaml"), dir.path().join("x.yaml")).unwrap();
    std::fs::write(dir.path().join("api.yaml"), "include: [x.yaml]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mockrig"))
        .args(["check", "api.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("include[0]: 'x.yaml' is outside the spec's folder"),
        "{text}"
    );
}

#[test]
fn a_cycle_is_an_error_and_a_glob_over_the_spec_itself_skips_it() {
    let (code, out) = check(
        "include: [a.yaml]\n",
        &[
            ("a.yaml", "include: [b.yaml]\n"),
            ("b.yaml", "include: [a.yaml]\n"),
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("b.yaml:1:11: include[0]: 'a.yaml' makes a cycle: a.yaml → b.yaml → a.yaml"),
        "{out}"
    );
    // `*.yaml` beside the spec matches the spec itself: joined once, not twice.
    let (code, out) = check(
        "include: [\"*.yaml\"]\nroutes:\n  - { path: /x, response: { text: x } }\n",
        &[(
            "more.yaml",
            "include: [\"*.yaml\"]\nroutes:\n  - { path: /y }\n",
        )],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 routes"), "{out}");
}

#[test]
fn nested_includes_are_relative_to_their_file() {
    let (code, out) = check(
        "include: [routes/index.yaml]\n",
        &[
            (
                "routes/index.yaml",
                "include: [users.yaml, ../shared.yaml]\n",
            ),
            ("routes/users.yaml", "routes:\n  - { path: /users }\n"),
            ("shared.yaml", "routes:\n  - { path: /shared }\n"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 routes"), "{out}");
}
