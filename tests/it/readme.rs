//! The README as a test: every code block is run by a test or marked illustrative, the quick
//! start runs top to bottom (each command it shows, compared with what it shows), and the
//! `curl` sessions shown against an example spec answer what they show.
//!
//! Markers, an HTML comment on the line before a fence:
//! - `<!-- quickstart: run -->` a ```console block of `$ command` lines, each followed by what it
//!   prints: `mockrig init|serve …`, `cd DIR`, `curl …` (`-X`, `-H`, `-d`, `-N`, `-s`),
//!   `npx wscat -c URL` (then `< received` and `> sent` lines);
//! - `<!-- quickstart: file PATH -->` the file's whole text, as `init` wrote it;
//! - `<!-- quickstart: edit PATH -->` a ```diff hunk applied to the file (the next GETs are
//!   retried until the reload shows);
//! - `<!-- quickstart: log -->` lines the server logs to stderr, `…` standing for anything;
//! - `<!-- quickstart: stream -->` what the open `curl -N` stream prints next;
//! - `<!-- run: examples/FILE.yaml -->` a ```console block of `curl` lines against that example;
//! - `<!-- checked: MODULE::TEST -->` a block the named test in `tests/it/` compares;
//! - `<!-- illustrative -->` not run.
//!
//! A ```yaml block needs none (`every_readme_example_checks_clean` checks each), nor a ```rust
//! one (a doctest).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// How long any one step may take to show what the README says it shows.
const STEP: Duration = Duration::from_secs(10);

struct Block {
    lang: String,
    /// The marker's text, inside `<!--` and `-->`.
    marker: Option<String>,
    text: String,
    /// 1-based line of the opening fence.
    line: usize,
    /// The `## ` section it is in.
    section: String,
}

fn readme() -> String {
    std::fs::read_to_string(common::repo_path("README.md")).unwrap()
}

fn blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut section = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(h) = line.strip_prefix("## ") {
            section = h.to_owned();
        }
        if let Some(lang) = line.strip_prefix("```") {
            let marker = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .and_then(|l| l.trim().strip_prefix("<!--"))
                .and_then(|l| l.strip_suffix("-->"))
                .map(|m| m.trim().to_owned());
            let end = (i + 1..lines.len())
                .find(|&k| lines[k].starts_with("```"))
                .unwrap_or_else(|| panic!("README.md:{}: a fence that is never closed", i + 1));
            out.push(Block {
                lang: lang.trim().to_owned(),
                marker,
                text: lines[i + 1..end].iter().map(|l| format!("{l}\n")).collect(),
                line: i + 1,
                section: section.clone(),
            });
            i = end;
        }
        i += 1;
    }
    out
}

/// Whether `tests/it/MODULE.rs` (or a file under `tests/it/MODULE/`) has `fn TEST(`.
fn test_exists(module: &str, test: &str) -> bool {
    let root = common::repo_path("tests/it");
    let mut files = vec![root.join(format!("{module}.rs"))];
    if let Ok(dir) = std::fs::read_dir(root.join(module)) {
        files.extend(dir.map(|e| e.unwrap().path()));
    }
    files
        .iter()
        .any(|f| std::fs::read_to_string(f).is_ok_and(|text| text.contains(&format!("fn {test}("))))
}

#[test]
fn every_code_block_is_run_by_a_test_or_marked_illustrative() {
    let text = readme();
    let mut wrong = Vec::new();
    for b in blocks(&text) {
        let at = format!("README.md:{} (```{})", b.line, b.lang);
        let marker = b.marker.as_deref().unwrap_or("");
        let quick = b.section == "Quick start";
        if let Some(kind) = marker.strip_prefix("quickstart:") {
            let kind = kind.split_whitespace().next().unwrap_or("");
            if !quick {
                wrong.push(format!("{at}: a quickstart marker outside the quick start"));
            } else if !["run", "file", "edit", "log", "stream"].contains(&kind) {
                wrong.push(format!("{at}: unknown quickstart step '{kind}'"));
            }
            continue;
        }
        if quick && b.lang != "yaml" && marker != "illustrative" {
            wrong.push(format!(
                "{at}: a block of the quick start without its step marker"
            ));
            continue;
        }
        match (b.lang.as_str(), marker) {
            // every_readme_example_checks_clean checks every one; the doctests compile these.
            ("yaml", _) | ("rust", "") => {}
            (_, "illustrative") => {}
            (_, m) if m.starts_with("run:") => {
                let file = m["run:".len()..].trim();
                if b.lang != "console" || !common::repo_path(file).is_file() {
                    wrong.push(format!(
                        "{at}: `{m}` needs a console block and an existing file"
                    ));
                }
            }
            (_, m) if m.starts_with("checked:") => {
                let name = m["checked:".len()..].trim();
                let found = name
                    .split_once("::")
                    .is_some_and(|(module, test)| test_exists(module, test));
                if !found {
                    wrong.push(format!("{at}: no test `{name}` in tests/it/"));
                }
            }
            _ => wrong.push(format!(
                "{at}: neither run by a test nor marked `<!-- illustrative -->`"
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Splits a shell command line into words: whitespace apart, '…' and "…" quoting.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => out.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    assert!(quote.is_none(), "unbalanced quote in `{line}`");
    out.extend(word);
    out
}

/// Whether `line` is `pattern`, each `…` in the pattern standing for any text.
fn matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return line == pattern;
    }
    if !line.starts_with(first) || !line.ends_with(last) || line.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One reader following the README: where it is, what it started, what is open.
struct Reader {
    /// The folder the quick start starts in.
    root: PathBuf,
    cwd: PathBuf,
    /// `127.0.0.1:PORT` of the server started, put where the README says `localhost:3000`.
    address: Option<String>,
    server: Option<common::Proc>,
    /// What the server logged to stderr so far.
    log: Arc<Mutex<String>>,
    stream: Option<(reqwest::Response, String)>,
    ws: Option<Ws>,
    /// A file was edited: GETs are retried until the reload shows.
    edited: bool,
    client: reqwest::Client,
    /// The steps taken, by kind, so the quick start cannot lose one silently.
    done: Vec<&'static str>,
}

impl Reader {
    fn new(root: PathBuf) -> Reader {
        Reader {
            cwd: root.clone(),
            root,
            address: None,
            server: None,
            log: Arc::default(),
            stream: None,
            ws: None,
            edited: false,
            client: common::client(),
            done: Vec::new(),
        }
    }

    fn local(&self, text: &str) -> String {
        let address = self.address.as_deref().expect("a server is running");
        text.replace("localhost:3000", address)
            .replace("127.0.0.1:3000", address)
    }

    /// Runs the `$ command` lines of a console block, each compared with what follows it.
    async fn console(&mut self, block: &Block) {
        let mut steps: Vec<(String, Vec<String>)> = Vec::new();
        for line in block.text.lines() {
            match line.strip_prefix("$ ") {
                Some(cmd) => steps.push((cmd.to_owned(), Vec::new())),
                None => steps
                    .last_mut()
                    .unwrap_or_else(|| panic!("README.md:{}: output before a command", block.line))
                    .1
                    .push(line.to_owned()),
            }
        }
        for (cmd, shown) in steps {
            let argv = words(&cmd);
            let what = format!("README.md:{}: `{cmd}`", block.line);
            match argv.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["cd", dir] => self.cwd = self.cwd.join(dir),
                ["mockrig", "init", ..] => self.init(&argv[1..], &shown, &what),
                ["mockrig", "serve", ..] => self.serve(&argv[1..], &shown, &what),
                ["curl", ..] => self.curl(&argv[1..], &shown, &what).await,
                ["npx", "wscat", "-c", url] => self.wscat(url, &shown, &what).await,
                _ => panic!("{what}: a command this test does not know how to run"),
            }
        }
    }

    fn init(&mut self, args: &[String], shown: &[String], what: &str) {
        let out = Command::new(env!("CARGO_BIN_EXE_mockrig"))
            .args(args)
            .current_dir(&self.cwd)
            .output()
            .unwrap();
        assert!(out.status.success(), "{what}: {out:?}");
        let printed = String::from_utf8(out.stdout).unwrap();
        assert_eq!(printed.lines().collect::<Vec<_>>(), shown, "{what}");
        self.done.push("init");
    }

    fn serve(&mut self, args: &[String], shown: &[String], what: &str) {
        assert!(self.server.is_none(), "{what}: a second server");
        let mut child = common::Proc(
            Command::new(env!("CARGO_BIN_EXE_mockrig"))
                .args(args)
                .args(["--port", "0"])
                .current_dir(&self.cwd)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stderr = child.0.stderr.take().unwrap();
        let log = self.log.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let url = common::listening_url(&mut child.0);
        self.address = Some(url.trim_start_matches("http://").to_owned());
        self.server = Some(child);
        assert_eq!(
            shown.iter().map(|l| self.local(l)).collect::<Vec<_>>(),
            [format!("mockrig listening on {url}")],
            "{what}"
        );
        self.done.push("serve");
    }

    async fn curl(&mut self, args: &[String], shown: &[String], what: &str) {
        let (mut method, mut url, mut body, mut stream) = (None, None, None, false);
        let mut headers = Vec::new();
        let mut args = args.iter();
        while let Some(a) = args.next() {
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| panic!("{what}: {a} needs a value"))
            };
            match a.as_str() {
                "-X" => method = Some(value().clone()),
                "-H" => {
                    let (k, v) = value().split_once(':').expect("-H 'name: value'");
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                }
                "-d" => body = Some(value().clone()),
                "-N" => stream = true,
                "-s" => {}
                flag if flag.starts_with('-') => panic!("{what}: curl {flag} is not run here"),
                u => url = Some(format!("http://{}", self.local(u))),
            }
        }
        let url = url.unwrap_or_else(|| panic!("{what}: no URL"));
        let method = method.unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into());
        // curl's own default for -d.
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        }
        let expected = shown.join("\n");
        let send = || {
            let mut req = self.client.request(method.parse().unwrap(), &url);
            for (k, v) in &headers {
                req = req.header(k, v);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            req.send()
        };
        if stream {
            let r = send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
            self.stream = Some((r, String::new()));
            self.read_stream(&expected, what).await;
            self.done.push("curl -N");
            return;
        }
        let retry = self.edited && method == "GET";
        let deadline = Instant::now() + STEP;
        loop {
            let r = send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
            let text = r.text().await.unwrap();
            if text.trim_end() == expected.trim_end() {
                break;
            }
            assert!(
                retry && Instant::now() < deadline,
                "{what}\nREADME shows:\n{expected}\ngot:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.done.push("curl");
    }

    /// Reads the open `curl -N` stream until it has printed `expected`, and nothing else.
    async fn read_stream(&mut self, expected: &str, what: &str) {
        let (response, buffer) = self.stream.as_mut().expect("a `curl -N` is open");
        let deadline = Instant::now() + STEP;
        while buffer.trim_end() != expected.trim_end() {
            assert!(
                expected.starts_with(buffer.as_str()) || buffer.trim_end().len() < expected.len(),
                "{what}\nREADME shows:\n{expected}\nthe stream printed:\n{buffer}"
            );
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, response.chunk())
                .await
                .unwrap_or_else(|_| {
                    panic!("{what}\nREADME shows:\n{expected}\nthe stream printed:\n{buffer}")
                })
                .unwrap()
                .unwrap_or_else(|| panic!("{what}: the stream ended"));
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        buffer.clear();
    }

    async fn wscat(&mut self, url: &str, shown: &[String], what: &str) {
        let (ws, _) = tokio_tungstenite::connect_async(self.local(url))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut ws = ws;
        let mut lines = shown.iter();
        assert_eq!(
            lines.next().map(String::as_str),
            Some("Connected (press CTRL+C to quit)"),
            "{what}"
        );
        for line in lines {
            if let Some(sent) = line.strip_prefix("> ") {
                ws.send(Message::text(sent)).await.unwrap();
            } else if let Some(received) = line.strip_prefix("< ") {
                let got = tokio::time::timeout(STEP, next_text(&mut ws))
                    .await
                    .unwrap_or_else(|_| panic!("{what}: nothing received, `{line}` shown"));
                assert_eq!(got, received, "{what}");
            } else {
                panic!("{what}: `{line}` is neither `< received` nor `> sent`");
            }
        }
        self.ws = Some(ws);
        self.done.push("wscat");
    }

    fn edit(&mut self, path: &str, diff: &str) {
        let file = self.root.join(path);
        let (mut old, mut new) = (String::new(), String::new());
        for line in diff.lines() {
            let (sign, rest) = line.split_at(1);
            match sign {
                "-" => old.push_str(&format!("{rest}\n")),
                "+" => new.push_str(&format!("{rest}\n")),
                " " => {
                    old.push_str(&format!("{rest}\n"));
                    new.push_str(&format!("{rest}\n"));
                }
                _ => panic!("diff line `{line}`"),
            }
        }
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text.matches(&old).count(),
            1,
            "{path} holds the lines the diff removes once:\n{old}"
        );
        std::fs::write(&file, text.replacen(&old, &new, 1)).unwrap();
        self.edited = true;
        self.done.push("edit");
    }

    async fn log(&mut self, shown: &str) {
        for pattern in shown.lines() {
            let log = self.log.clone();
            common::eventually(&format!("the server logs `{pattern}`"), STEP, || {
                let found = log.lock().unwrap().lines().any(|l| matches(pattern, l));
                async move { found.then_some(()) }
            })
            .await;
        }
        self.done.push("log");
    }
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.next().await.expect("the connection is open").unwrap() {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_quick_start_runs_top_to_bottom() {
    let text = readme();
    let tmp = tempfile::tempdir().unwrap();
    let mut reader = Reader::new(tmp.path().to_owned());
    let steps: Vec<Block> = blocks(&text)
        .into_iter()
        .filter(|b| b.section == "Quick start")
        .collect();
    for b in &steps {
        let marker = b.marker.as_deref().unwrap_or("");
        let Some(step) = marker.strip_prefix("quickstart:") else {
            continue;
        };
        let (kind, arg) = step.trim().split_once(' ').unwrap_or((step.trim(), ""));
        match kind {
            "run" => reader.console(b).await,
            "file" => {
                let written = std::fs::read_to_string(reader.root.join(arg)).unwrap();
                assert_eq!(written, b.text, "README.md:{}: {arg} as written", b.line);
                reader.done.push("file");
            }
            "edit" => reader.edit(arg, &b.text),
            "log" => reader.log(&b.text).await,
            "stream" => {
                let what = format!("README.md:{}: the stream", b.line);
                reader.read_stream(&b.text, &what).await;
                reader.done.push("stream");
            }
            other => panic!("README.md:{}: unknown step {other}", b.line),
        }
    }
    for kind in [
        "init", "file", "serve", "curl", "curl -N", "stream", "wscat", "edit", "log",
    ] {
        assert!(
            reader.done.contains(&kind),
            "the quick start has no `{kind}` step (taken: {:?})",
            reader.done
        );
    }
    // What the last step's prose says: the WebSocket and the stream outlived the reload.
    let ws = reader.ws.as_mut().unwrap();
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(next_text(ws).await, "still here");
    let url = format!("http://{}/todos/3", reader.address.as_deref().unwrap());
    let r = reader
        .client
        .patch(url)
        .header("content-type", "application/json")
        .body(r#"{"done":false}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (stream, buffer) = reader.stream.as_mut().unwrap();
    let deadline = Instant::now() + STEP;
    while !buffer.contains("\"done\":false") {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .unwrap()
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk.expect("the stream is open")).unwrap());
    }
}

/// The `curl` sessions shown against an example spec answer what the README shows.
#[tokio::test]
async fn the_sessions_shown_against_examples_answer_as_shown() {
    let text = readme();
    let mut ran = 0;
    for b in blocks(&text) {
        let Some(file) = b.marker.as_deref().and_then(|m| m.strip_prefix("run:")) else {
            continue;
        };
        let server = common::serve(&common::repo_path(file.trim())).unwrap();
        let mut reader = Reader::new(Path::new(".").to_owned());
        reader.address = Some(server.url().trim_start_matches("http://").to_owned());
        reader.console(&b).await;
        assert!(
            reader.done.iter().all(|d| *d == "curl"),
            "{:?}",
            reader.done
        );
        ran += 1;
    }
    assert!(ran >= 1, "the README shows no session against an example");
}
