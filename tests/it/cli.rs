//! The `mockrig` binary: `check` on broken specs, `serve` readiness and shutdown, `schema`.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn mockrig() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mockrig"))
}

/// Writes `yaml` (and `files`) to a temp folder and runs `mockrig check` on it.
fn check(yaml: &str, files: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }
    let spec = dir.path().join("spec/api.yaml");
    std::fs::create_dir_all(spec.parent().unwrap()).unwrap();
    std::fs::write(&spec, yaml).unwrap();
    let out = mockrig()
        .arg("check")
        .arg("api.yaml")
        .current_dir(spec.parent().unwrap())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Asserts `check` fails and reports `needle` at `api.yaml:LINE:`.
#[track_caller]
fn assert_error(yaml: &str, files: &[(&str, &str)], line: usize, needle: &str) -> String {
    let (code, out) = check(yaml, files);
    assert_eq!(code, 1, "check must fail:\n{out}");
    let located = out
        .lines()
        .any(|l| l.starts_with(&format!("api.yaml:{line}:")) && l.contains(needle));
    assert!(located, "expected `{needle}` at line {line}:\n{out}");
    // Every report shows the source line and a caret under it.
    assert!(out.contains(" | ") && out.contains('^'), "no caret:\n{out}");
    out
}

#[test]
fn yaml_syntax_error() {
    assert_error(
        "routes:\n  - path: /a\n    response: { status: 200\n  - path: /b\n",
        &[],
        4,
        "invalid YAML",
    );
}

#[test]
fn unknown_key_with_did_you_mean() {
    assert_error(
        "routes:\n  - path: /a\n    response:\n      stauts: 200\n",
        &[],
        4,
        "routes[0].response.stauts: unknown key 'stauts', did you mean 'status'?",
    );
}

#[test]
fn wrong_type() {
    assert_error(
        "routes:\n  - path: /a\n    response:\n      status: \"abc\"\n",
        &[],
        4,
        "routes[0].response.status: expected an integer, found string \"abc\"",
    );
}

#[test]
fn bad_status() {
    let out = assert_error(
        "routes:\n  - path: /a\n  - path: /b\n  - path: /c\n    response:\n      status: 1200\n",
        &[],
        6,
        "routes[2].response.status: 1200 is not an HTTP status (100-599)",
    );
    assert!(
        out.contains("api.yaml:6:15:"),
        "column of the value:\n{out}"
    );
}

#[test]
fn missing_file() {
    assert_error(
        "routes:\n  - path: /logo\n    response: { file: img/logo.png }\n",
        &[],
        3,
        "routes[0].response.file: 'img/logo.png' does not exist",
    );
}

#[test]
fn file_outside_the_spec_folder() {
    assert_error(
        "routes:\n  - path: /x\n    response:\n      file: ../secret.txt\n",
        &[("secret.txt", "top secret")],
        4,
        "resolves outside the spec's folder",
    );
    assert_error(
        "static:\n  - path: /app\n    dir: ..\n",
        &[],
        3,
        "static[0].dir",
    );
}

#[test]
fn bad_path_pattern() {
    assert_error(
        "routes:\n  - path: /ok\n  - path: /users/{id\n",
        &[],
        3,
        "routes[1].path: '{id' mixes text and braces",
    );
    assert_error("routes:\n  - path: users\n", &[], 2, "must start with '/'");
    assert_error(
        "routes:\n  - path: \"/{*rest}/more\"\n",
        &[],
        2,
        "must be the last segment",
    );
    assert_error(
        "routes:\n  - path: /__mockrig/status\n",
        &[],
        2,
        "reserved for mockrig's own endpoints",
    );
}

#[test]
fn bad_duration() {
    assert_error(
        "server:\n  delay: soon\nroutes: []\n",
        &[],
        2,
        "server.delay: 'soon' is not a duration",
    );
    assert_error(
        "routes:\n  - path: /a\n    response: { text: hi, delay: 10h }\n",
        &[],
        3,
        "routes[0].response.delay",
    );
}

#[test]
fn unknown_method_and_missing_key() {
    assert_error(
        "routes:\n  - method: FETCH\n    path: /a\n",
        &[],
        2,
        "unknown value 'FETCH', expected one of GET, POST",
    );
    assert_error(
        "routes:\n  - method: GET\n    response: { text: hi }\n",
        &[],
        2,
        "routes[0]: missing required key 'path'",
    );
}

#[test]
fn duplicate_keys() {
    assert_error(
        "resources:\n  users: {}\n  users: { singleton: true }\n",
        &[],
        3,
        "duplicated key",
    );
    assert_error(
        "routes:\n  - path: /a\n    match:\n      query: { page: \"1\", page: \"2\" }\n",
        &[],
        4,
        "duplicated key",
    );
}

#[test]
fn more_than_one_body() {
    assert_error(
        "routes:\n  - path: /a\n    response:\n      text: hi\n      body: { a: 1 }\n",
        &[],
        4,
        "a response has one of body, text or file",
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let yaml = "\
server:
  delay: fast
routes:
  - method: GET
    path: /users
    response:
      stauts: 200
  - method: POST
    path: /users
    response:
      status: \"abc\"
  - method: GET
    path: /health
    response:
      status: 1200
  - method: GET
    pth: /x
";
    let (code, out) = check(yaml, &[]);
    assert_eq!(code, 1);
    for located in [
        "api.yaml:2:10: server.delay:",
        "api.yaml:7:7: routes[0].response.stauts:",
        "api.yaml:11:15: routes[1].response.status:",
        "api.yaml:15:15: routes[2].response.status: 1200",
        "api.yaml:17:5: routes[3].pth: unknown key 'pth', did you mean 'path'?",
    ] {
        assert!(out.contains(located), "missing `{located}` in:\n{out}");
    }
    assert!(
        !out.contains("missing required key 'path'"),
        "a typo of a key is not also reported as missing:\n{out}"
    );
    assert!(out.trim_end().ends_with("5 errors"), "{out}");
}

/// Seven key typos, an emit to a channel nobody declared and two resources on one path:
/// before the compile pass was one, the last two came only after the first seven were fixed.
#[test]
fn typos_a_dangling_emit_and_a_duplicate_path_come_in_one_run() {
    let yaml = "\
server:
  dealy: 100ms
websockets:
  - path: /ws/todos
    mdoe: broadcast
sse:
  - path: /events
    evry: 1s
resources:
  todos:
    sed: []
  tasks:
    path: /todos
    singelton: false
routes:
  - path: /a
    respone: { status: 201 }
  - path: /b
    mtach: { query: { q: x } }
    emit:
      - { websocket: /ws/todo, text: hi }
  - path: /c
    response: { stauts: 404 }
";
    let (code, out) = check(yaml, &[]);
    assert_eq!(code, 1, "{out}");
    for located in [
        "api.yaml:2:3: server.dealy: unknown key 'dealy', did you mean 'delay'?",
        "api.yaml:5:5: websockets[0].mdoe: unknown key 'mdoe', did you mean 'mode'?",
        "api.yaml:8:5: sse[0].evry: unknown key 'evry', did you mean 'every'?",
        "api.yaml:11:5: resources.todos.sed: unknown key 'sed', did you mean 'seed'?",
        "api.yaml:13:11: resources.tasks.path: '/todos' is already the path of resource 'todos'",
        "api.yaml:14:5: resources.tasks.singelton: unknown key 'singelton', did you mean 'singleton'?",
        "api.yaml:17:5: routes[0].respone: unknown key 'respone', did you mean 'response'?",
        "api.yaml:19:5: routes[1].mtach: unknown key 'mtach', did you mean 'match'?",
        "api.yaml:21:22: routes[1].emit[0].websocket: no WebSocket channel is declared at '/ws/todo' (did you mean '/ws/todos'?)",
        "api.yaml:23:17: routes[2].response.stauts: unknown key 'stauts', did you mean 'status'?",
    ] {
        assert!(out.contains(located), "missing `{located}` in:\n{out}");
    }
    assert!(out.trim_end().ends_with("10 errors"), "{out}");
}

/// The README's warning example is what `check` prints for this spec, and warnings do not
/// fail a check.
#[test]
fn a_warning_is_printed_and_the_check_passes() {
    let yaml = "\
routes:
  - path: /users
    response: { body: [] }
  # the same method and path again
  - path: /users
    response: { status: 404 }
";
    let (code, out) = check(yaml, &[]);
    assert_eq!(code, 0, "{out}");
    let readme = std::fs::read_to_string(common::repo_path("README.md")).unwrap();
    let block = readme
        .split("```text\n")
        .find(|b| b.contains("warning: routes[1].path"))
        .and_then(|b| b.split("```").next())
        .expect("the README shows the warning");
    assert_eq!(out, block);
}

#[test]
fn channel_errors_are_located_too() {
    let yaml = "\
websockets:
  - path: /ws/chat
    mode: brodcast
  - path: /ws/bot
    replies:
      - regex: \"(\"
        send: { text: \"{{ oops\" }
    every: { interval: 0, send: { text: tick } }
sse:
  - path: /events
    evry: 1s
routes:
  - path: /orders
    emit:
      - { json: { a: 1 } }
";
    let (code, out) = check(yaml, &[]);
    assert_eq!(code, 1);
    for located in [
        "api.yaml:3:11: websockets[0].mode: unknown value 'brodcast', expected one of echo, broadcast, silent, did you mean 'broadcast'?",
        "api.yaml:6:16: websockets[1].replies[0].regex: not a regular expression: unclosed group\n",
        "api.yaml:7:15: websockets[1].replies[0].send[0].text: template: syntax error",
        "api.yaml:8:24: websockets[1].every.interval: an interval must be longer than 0",
        "api.yaml:11:5: sse[0].evry: unknown key 'evry', did you mean 'every'?",
        "api.yaml:15:9: routes[0].emit[0]: an emit needs a target",
    ] {
        assert!(out.contains(located), "missing `{located}` in:\n{out}");
    }
    assert!(out.trim_end().ends_with("6 errors"), "{out}");
}

#[test]
fn an_emit_to_no_declared_channel_is_an_error() {
    let yaml = "\
websockets:
  - path: /ws/rooms/{room}
sse:
  - path: /events
routes:
  - path: /say
    emit:
      - { websocket: /ws/nowhere, text: x }
      - { websocket: \"/ws/rooms/{room}\", text: x }
      - { sse: /event, data: x }
      - { websocket: /ws/rooms/a, text: fine }
      - { websocket: \"/ws/rooms/{{ request.query.room }}\", text: fine }
";
    let (code, out) = check(yaml, &[]);
    assert_eq!(code, 1);
    for located in [
        "api.yaml:8:22: routes[0].emit[0].websocket: no WebSocket channel is declared at '/ws/nowhere'",
        "api.yaml:9:22: routes[0].emit[1].websocket: '/ws/rooms/{room}' is a pattern",
        "api.yaml:10:16: routes[0].emit[2].sse: no SSE stream is declared at '/event'",
    ] {
        assert!(out.contains(located), "missing `{located}` in:\n{out}");
    }
    assert!(out.trim_end().ends_with("3 errors"), "{out}");
}

#[test]
fn a_valid_spec_passes_with_a_summary() {
    let (code, out) = check(
        "static:\n  - { path: /app, dir: www }\nroutes:\n  - path: /a\n  - path: /b\n",
        &[("spec/www/index.html", "hi")],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.trim(),
        "api.yaml: ok, 2 routes, 0 resources, 1 static folder"
    );
}

#[test]
fn serve_prints_its_address_answers_and_stops_on_sigterm() {
    let spec = common::repo_path("examples/basic.yaml");
    let mut child = common::Proc(
        mockrig()
            .args(["serve", "--port", "0", "--workers", "1"])
            .arg(&spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim_end()
        .strip_prefix("mockrig listening on http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(!url.ends_with(":0"), "the real port is printed");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let body: serde_json::Value = rt.block_on(async {
        common::client()
            .get(format!("{url}/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(body, serde_json::json!({"ok": true}));

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit =
        common::eventually_blocking("mockrig stops on SIGTERM", Duration::from_secs(10), || {
            child.0.try_wait().unwrap()
        });
    assert!(exit.success(), "graceful stop exits 0, got {exit:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.is_empty(), "exactly one line on stdout, then {rest:?}");
    let mut log = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains(" GET /health 200 routes[0] ") && l.ends_with(" ms")),
        "each request is logged to stderr:\n{log}"
    );
}

#[test]
fn serve_no_watch_keeps_the_spec_it_started_with() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        "routes:\n  - { path: /v, response: { text: one } }\n",
    )
    .unwrap();
    let mut child = common::Proc(
        mockrig()
            .args(["serve", "--port", "0", "--workers", "1", "--no-watch"])
            .arg(&spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = common::listening_url(&mut child.0);
    std::fs::write(
        &spec,
        "routes:\n  - { path: /v, response: { text: two } }\n",
    )
    .unwrap();
    // A watching server reloads within ~40 ms; wait well past that, as nothing signals
    // that a reload did not happen.
    std::thread::sleep(Duration::from_millis(300));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (body, status) = rt.block_on(async {
        let c = common::client();
        let body = c
            .get(format!("{url}/v"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let status: serde_json::Value = c
            .get(format!("{url}/__mockrig/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (body, status)
    });
    assert_eq!(body, "one");
    assert_eq!(status["watching"], false);
}

#[test]
fn serve_with_tls_flags_and_limit_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let mut child = common::Proc(
        mockrig()
            .args([
                "serve",
                "--port",
                "0",
                "--workers",
                "1",
                "--tls-self-signed",
            ])
            .args(["--max-url-bytes", "64", "--tls-write-cert"])
            .arg(&cert)
            .arg(common::repo_path("examples/basic.yaml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let url = common::listening_url(&mut child.0);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    // The fingerprint is printed before the listening line, so it is already there.
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let fingerprint = stderr
        .by_ref()
        .map_while(Result::ok)
        .take(20)
        .find(|l| l.starts_with("mockrig TLS certificate SHA-256 fingerprint: "))
        .expect("the fingerprint is printed");
    // Keep draining stderr: the server logs every request there.
    std::thread::spawn(move || stderr.for_each(drop));
    let hex = fingerprint.rsplit(' ').next().unwrap();
    assert_eq!(hex.split(':').count(), 32, "{hex}");

    let pem = std::fs::read(&cert).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = common::tls_client(&pem, false);
        let r = c.get(format!("{url}/health")).send().await.unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 200);
        let long = c
            .get(format!("{url}/health?{}", "a".repeat(70)))
            .send()
            .await
            .unwrap();
        assert_eq!(long.status(), 414, "--max-url-bytes is applied");
    });
}

#[test]
fn zero_workers_is_refused_by_the_command_line() {
    let out = mockrig()
        .args(["serve", "--workers", "0"])
        .arg(common::repo_path("examples/basic.yaml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be at least 1"));
}

#[test]
fn a_closed_stderr_pipe_does_not_break_serving() {
    let mut child = common::Proc(
        mockrig()
            .args(["serve", "--port", "0", "--workers", "1"])
            .arg(common::repo_path("examples/basic.yaml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let url = common::listening_url(&mut child.0);
    // The reader of the server's log goes away, as when a harness drops the pipe.
    drop(child.0.stderr.take());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = common::client();
        for _ in 0..3 {
            let r = c.get(format!("{url}/health")).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    });
}

/// Serves basic.yaml with `flags`, sends GET /health, stops, and returns what went to stderr.
fn stderr_of_one_request(flags: &[&str]) -> String {
    let mut child = common::Proc(
        mockrig()
            .args(["serve", "--port", "0", "--workers", "1"])
            .args(flags)
            .arg(common::repo_path("examples/basic.yaml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let url = common::listening_url(&mut child.0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = common::client()
            .get(format!("{url}/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    // The request is answered, so its log line is written; stop and read everything.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    err
}

#[test]
fn json_logs_one_object_per_line() {
    let err = stderr_of_one_request(&["--log", "json"]);
    let request = err
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("every line is JSON"))
        .find(|v| v["target"] == "mockrig::request")
        .unwrap_or_else(|| panic!("no request line in {err}"));
    assert_eq!(request["method"], "GET");
    assert_eq!(request["path"], "/health");
    assert_eq!(request["status"], 200);
    assert_eq!(request["route"], "routes[0]");
}

#[test]
fn quiet_logs_no_requests() {
    let err = stderr_of_one_request(&["--quiet"]);
    assert!(!err.contains("/health"), "{err}");
    let err = stderr_of_one_request(&["--log", "pretty"]);
    let line = err
        .lines()
        .find(|l| l.contains("/health"))
        .unwrap_or_else(|| panic!("{err}"));
    // `12:03:04.512 GET /health 200 routes[0] 0.3 ms`, without colors on a pipe.
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 7, "{line}");
    assert_eq!(&fields[1..5], ["GET", "/health", "200", "routes[0]"]);
    assert!(
        fields[0].len() == 12 && fields[0].as_bytes()[2] == b':',
        "{line}"
    );
    assert!(!line.contains('\x1b'), "no colors on a pipe: {line:?}");
    let typo = mockrig()
        .args(["serve", "--port", "0", "--log", "jsno"])
        .arg(common::repo_path("examples/basic.yaml"))
        .output()
        .unwrap();
    assert_eq!(typo.status.code(), Some(2));
    let err = String::from_utf8_lossy(&typo.stderr);
    assert!(err.contains("invalid value 'jsno'"), "{err}");
}

#[test]
fn serve_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "routes:\n  - path: /a\n    response: { status: 99 }\n",
    )
    .unwrap();
    let out = mockrig()
        .args(["serve", "--port", "0"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a bad spec exits 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:3:25: routes[0].response.status"),
        "{err}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let good = common::repo_path("examples/basic.yaml");
    let out = mockrig()
        .args(["serve", "--port", &port])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a taken port exits 2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on 127.0.0.1:"));
}

#[test]
fn schema_command_prints_the_checked_in_schema() {
    let out = mockrig().arg("schema").output().unwrap();
    assert!(out.status.success());
    let checked_in = std::fs::read_to_string(common::repo_path("schemas/mockrig.schema.json"))
        .expect("schemas/mockrig.schema.json is checked in");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), checked_in);
}

#[test]
fn sigterm_closes_websockets_with_1001_and_stops_at_once() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        "websockets:\n  - { path: /ws/echo }\nsse:\n  - { path: /events }\n",
    )
    .unwrap();
    let ready = dir.path().join("ready");
    let mut child = common::Proc(
        mockrig()
            .args(["serve", "--port", "0", "--workers", "1", "--quiet"])
            .arg("--ready-file")
            .arg(&ready)
            .arg(&spec)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let url = common::listening_url(&mut child.0);
    assert_eq!(std::fs::read_to_string(&ready).unwrap(), url);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ws_url = url.replacen("http://", "ws://", 1) + "/ws/echo";
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
        let mut events = common::client()
            .get(format!("{url}/events"))
            .send()
            .await
            .unwrap();
        events.chunk().await.unwrap().expect("the stream opens");
        let stopping = std::time::Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let close = loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("a close frame within 5 s")
            {
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        };
        assert_eq!(close.map(|f| f.code), Some(CloseCode::Away));
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(Some(_)) = events.chunk().await {}
        })
        .await;
        assert!(ended.is_ok(), "the SSE stream ends");
        // Well inside the 5 s that a stop waits for connections at most: nothing waited.
        let exit = common::eventually("mockrig stops promptly", Duration::from_secs(4), || {
            let exited = child.0.try_wait().unwrap();
            async move { exited }
        })
        .await;
        assert!(exit.success(), "{exit:?}");
        assert!(stopping.elapsed() < Duration::from_secs(4));
    });
    assert!(!ready.exists(), "the ready file goes with the server");
}

#[test]
fn dynamic_behaviour_errors_are_located() {
    let yaml = "\
server:
  delay: 500ms..100ms
  cors: { origins: [ \"localhost:3000\" ] }
routes:
  - path: /a
    response:
      body: { user: { name: \"{{ request.bdy.name }}\" }, ok: \"{{ oops \" }
      headers: { X-Id: \"{{ uuid( }}\" }
      throttle: fast
  - path: /b
    response: { text: one }
    responses: [ { text: two, weight: 2 } ]
  - path: /c
    when: paid
    content:
      jsn: { text: x }
";
    let (code, out) = check(yaml, &[]);
    assert_eq!(code, 1);
    for located in [
        "api.yaml:2:10: server.delay: '500ms..100ms': the range starts after it ends",
        "api.yaml:3:22: server.cors.origins[0]: 'localhost:3000' is not an origin",
        "api.yaml:7:29: routes[0].response.body.user.name: template: request has no 'bdy'",
        "did you mean 'body'?",
        "api.yaml:7:61: routes[0].response.body.ok: template: syntax error",
        "api.yaml:8:24: routes[0].response.headers.X-Id: template: syntax error",
        "api.yaml:9:17: routes[0].response.throttle: 'fast' is not a rate",
        "api.yaml:12:5: routes[1].responses: a route has one of response, responses and content; response is already given",
        "api.yaml:12:31: routes[1].responses[0].weight: weight picks among `responses:` with `sequence: random`",
        "api.yaml:14:5: routes[2].when: when needs a scenario: on the route",
        "api.yaml:16:7: routes[2].content.jsn: 'jsn' is not a media type",
        "did you mean 'json'?",
    ] {
        assert!(out.contains(located), "missing `{located}` in:\n{out}");
    }
    assert!(out.trim_end().ends_with("10 errors"), "{out}");
    let (code, out) = check(
        "routes:\n  - path: /a\n    response: { text: \"{{ reqest.path }} {{ fake.name() }} {{ fake.emial() }}\" }\n",
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("api.yaml:3:23: routes[0].response.text: template: unknown name 'reqest'")
            && out.contains("did you mean 'request'?"),
        "{out}"
    );
    assert!(
        out.contains("fake has no 'emial'") && out.contains("did you mean 'email'?"),
        "{out}"
    );
}

#[test]
fn the_seed_flag_gives_the_same_fake_data_in_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        "routes:\n  - path: /person\n    response: { body: { name: \"{{ fake.name() }}\", id: \"{{ uuid() }}\" } }\n",
    )
    .unwrap();
    let run = |seed: &str| -> Vec<String> {
        let mut child = common::Proc(
            mockrig()
                .args(["serve", "--port", "0", "--quiet", "--seed", seed])
                .arg(&spec)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let url = common::listening_url(&mut child.0);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let c = common::client();
            let mut bodies = Vec::new();
            for _ in 0..3 {
                let r = c.get(format!("{url}/person")).send().await.unwrap();
                bodies.push(r.text().await.unwrap());
            }
            bodies
        })
    };
    let first = run("42");
    assert_eq!(first, run("42"), "--seed 42 twice");
    assert_ne!(first[0], first[1], "each answer has its own values");
    assert_ne!(first, run("43"));
}

/// `check` is linear in the number of problems: 50,000 broken routes are all reported, in one
/// run, in about five times what 10,000 take (it was quadratic: 20,000 took 2.2 s).
#[test]
fn check_reports_fifty_thousand_broken_routes_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let run = |n: usize| {
        let spec = dir.path().join(format!("broken-{n}.yaml"));
        let mut text = String::from("routes:\n");
        for i in 0..n {
            text.push_str(&format!(
                "  - {{ path: /r{i}, response: {{ status: 700 }} }}\n"
            ));
        }
        std::fs::write(&spec, text).unwrap();
        // The faster of two runs: the machine's noise only ever slows a run down.
        let mut best = Duration::MAX;
        for _ in 0..2 {
            let started = std::time::Instant::now();
            let out = mockrig().arg("check").arg(&spec).output().unwrap();
            best = best.min(started.elapsed());
            assert_eq!(out.status.code(), Some(1));
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let all = format!("{stdout}{stderr}");
            assert!(
                all.contains(&format!("{n} errors")),
                "{}",
                &all[all.len().saturating_sub(300)..]
            );
        }
        best
    };
    let small = run(10_000);
    let large = run(50_000);
    assert!(
        large < small * 8,
        "5x the routes took {:.1}x the time ({small:?} → {large:?})",
        large.as_secs_f64() / small.as_secs_f64()
    );
}

#[test]
fn the_log_reminds_of_a_failed_save_once_per_burst_of_requests() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("api.yaml");
    std::fs::write(
        &spec,
        "routes:\n  - { path: /v, response: { text: one } }\n",
    )
    .unwrap();
    let mut child = common::Proc(
        mockrig()
            .args(["serve", "--port", "0", "--workers", "1", "--no-watch"])
            .arg(&spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let url = common::listening_url(&mut child.0);
    std::fs::write(&spec, "routes:\n  - { path: /v, respons: {} }\n").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = common::client();
        let r = c
            .post(format!("{url}/__mockrig/reload"))
            .send()
            .await
            .unwrap();
        assert!(!r.status().is_success(), "the broken save fails to load");
        let status: serde_json::Value = c
            .get(format!("{url}/__mockrig/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            status["reload_error"].as_str().unwrap().contains("respons"),
            "{status}"
        );
        // One burst of three requests, a pause, then one more.
        for _ in 0..3 {
            assert_eq!(
                c.get(format!("{url}/v")).send().await.unwrap().status(),
                200
            );
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            c.get(format!("{url}/v")).send().await.unwrap().status(),
            200
        );
    });
    let stopped = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    common::eventually_blocking("mockrig stops", Duration::from_secs(10), || {
        child.0.try_wait().unwrap()
    });
    let mut log = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut log).unwrap();
    let reminders = log
        .lines()
        .filter(|l| l.contains("the last save of") && l.contains("did not load"))
        .count();
    assert_eq!(reminders, 2, "one per burst:\n{log}");
}
