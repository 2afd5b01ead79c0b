//! Stoplight Prism's own conformance cases for OpenAPI mocking, replayed against mockrig: each
//! case's document served as it is, its request sent byte for byte, its answer compared by the
//! rules of the fixture's README ("What is compared"). Prism itself passes all of them under
//! these rules, so they measure how closely `mockrig serve openapi.yaml` behaves like the tool
//! users migrate from; the test requires at least 90%.
//!
//! The data lives outside the repository (`../shared/fixtures/prism-harness/cases.json`, Prism's
//! cases converted to JSON, Apache-2.0); a clone without it skips the test with a message.

use std::collections::BTreeMap;
use std::time::Duration;

use mockrig::MockServer;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common;

const CASES: &str = "../shared/fixtures/prism-harness/cases.json";

/// Not a substring of any case's form value, so it cannot end a part early.
const BOUNDARY: &str = "------------------------mockrigprismc0ffee42";

/// How mockrig is told to generate every body dynamically, as Prism's `--dynamic` does.
const DYNAMIC_SPEC: &str = "openapi:\n  file: doc.yaml\n  dynamic: true\n";

/// A hung or never-closing answer fails its case instead of the whole run.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

/// Enough for any answer a case expects; more means something is wrong.
const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// curl follows at most 50 redirects; nothing here should need more than a few.
const MAX_REDIRECTS: usize = 5;

/// Failure reasons are cut to this many characters, so one case is one readable line.
const REASON_CHARS: usize = 200;

#[derive(Deserialize)]
struct Case {
    name: String,
    spec_text: String,
    mode: String,
    request: CaseRequest,
    expect: Expect,
}

#[derive(Deserialize)]
struct CaseRequest {
    method: String,
    /// Already percent-encoded, exactly as curl put it on the request line.
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    form: Option<Vec<(String, String)>>,
    follow_redirects: bool,
}

#[derive(Deserialize)]
struct Expect {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Option<String>,
    body_kind: Option<String>,
    loose: bool,
    keys_only: bool,
    prism_error: Option<String>,
    body_from: String,
}

#[tokio::test]
async fn prism_conformance_cases() {
    let path = common::repo_path(CASES);
    if !path.exists() {
        println!(
            "prism harness skipped: {} is absent (it lives next to the repository in the \
             development workspace, not in a clone)",
            path.display()
        );
        return;
    }
    let text = std::fs::read_to_string(&path).expect("cases.json readable");
    let cases: Vec<Case> =
        serde_json::from_str(&text).expect("cases.json in the documented format");
    assert!(!cases.is_empty(), "{} holds no cases", path.display());

    // One case at a time: each has its own server, and 135 quick starts stay well under the
    // time budget without making failures depend on scheduling.
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(why) = run_case(case).await {
            failures.push(format!(
                "FAIL {}: {}",
                case.name,
                truncate(&why, REASON_CHARS)
            ));
        }
    }

    let total = cases.len();
    let passed = total - failures.len();
    for line in &failures {
        println!("{line}");
    }
    println!("prism harness: passed {passed} of {total}");
    // The list again on stderr, where a developer's tooling (or `2>failures.txt`) can take it
    // apart from cargo's own output.
    for line in &failures {
        eprintln!("{line}");
    }
    assert!(
        passed * 10 >= total * 9,
        "prism harness: passed {passed} of {total}, below 90%"
    );
}

/// A case's server; the server stops before its folder is removed (fields drop in order).
struct Running {
    server: MockServer,
    _dir: tempfile::TempDir,
}

/// Serves the case's document. Not `common::Mock`: a document mockrig rejects must fail its
/// own case with the reason, not panic the whole run.
fn start(case: &Case) -> Result<Running, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let spec = dir.path().join("api.yaml");
    let write = |p: std::path::PathBuf, text: &str| {
        std::fs::write(&p, text).map_err(|e| format!("writing {}: {e}", p.display()))
    };
    match case.mode.as_str() {
        "static" => write(spec.clone(), &case.spec_text)?,
        "dynamic" => {
            write(dir.path().join("doc.yaml"), &case.spec_text)?;
            write(spec.clone(), DYNAMIC_SPEC)?;
        }
        other => return Err(format!("unknown mode {other:?} in the case data")),
    }
    let mut config = common::config(&spec);
    // The document never changes during a case; 135 file watchers would only cost time.
    config.watch = false;
    let server = MockServer::with_config(config)
        .map_err(|e| format!("mockrig did not start: {}", one_line(&e.to_string())))?;
    Ok(Running { server, _dir: dir })
}

async fn run_case(case: &Case) -> Result<(), String> {
    let running = start(case)?;
    let addr = running.server.addr();
    let req = &case.request;
    let mut target = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let mut reply = None;
    for _ in 0..=MAX_REDIRECTS {
        let bytes = request_bytes(req, &target, &addr.to_string());
        let head = req.method.eq_ignore_ascii_case("HEAD");
        let r = tokio::time::timeout(EXCHANGE_LIMIT, exchange(addr, &bytes, head))
            .await
            .map_err(|_| format!("no complete response within {EXCHANGE_LIMIT:?}"))??;
        // curl --location with --request resends the same method and body to the new place.
        let next = match (req.follow_redirects, r.status) {
            (true, 301 | 302 | 303 | 307 | 308) => r.header("location").map(|l| {
                let local = format!("http://{addr}");
                l.strip_prefix(&local).unwrap_or(&l).to_owned()
            }),
            _ => None,
        };
        reply = Some(r);
        match next {
            Some(loc) if loc.starts_with('/') => target = loc,
            _ => break,
        }
    }
    let reply = reply.expect("the loop runs at least once");
    compare(&case.expect, &reply)
}

/// The request exactly as curl sent it: the listed headers in their order, nothing added but
/// Host, Content-Length (when there is a body) and Connection: close (so the answer ends at EOF
/// even when its framing is wrong).
fn request_bytes(req: &CaseRequest, target: &str, host: &str) -> Vec<u8> {
    let body: Option<Vec<u8>> = match (&req.body, &req.form) {
        (Some(text), _) => Some(text.as_bytes().to_vec()),
        (None, Some(form)) => Some(multipart(form)),
        (None, None) => None,
    };
    let mut head = format!("{} {} HTTP/1.1\r\nHost: {host}\r\n", req.method, target);
    let mut content_type_sent = false;
    for (name, value) in &req.headers {
        if req.form.is_some() && name.eq_ignore_ascii_case("content-type") {
            content_type_sent = true;
            // curl adds its boundary to a multipart type the user set; so does this runner.
            if value.to_ascii_lowercase().contains("boundary=") {
                head.push_str(&format!("{name}: {value}\r\n"));
            } else {
                head.push_str(&format!("{name}: {value}; boundary={BOUNDARY}\r\n"));
            }
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if req.form.is_some() && !content_type_sent {
        head.push_str(&format!(
            "Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        ));
    }
    if let Some(b) = &body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend(body.unwrap_or_default());
    bytes
}

/// `-F name=value` fields as curl encodes them.
fn multipart(form: &[(String, String)]) -> Vec<u8> {
    let mut out = String::new();
    for (name, value) in form {
        out.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    out.push_str(&format!("--{BOUNDARY}--\r\n"));
    out.into_bytes()
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    /// All values of a header, joined with "," as HTTP allows a repeated header to be read.
    fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }
}

/// Sends `bytes` and reads one response, stopping as soon as its framing says it is complete.
async fn exchange(addr: std::net::SocketAddr, bytes: &[u8], head: bool) -> Result<Reply, String> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    s.write_all(bytes)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
        buf.extend_from_slice(&chunk[..n]);
        let eof = n == 0;
        if let Some(reply) = parse_response(&buf, head, eof)? {
            return Ok(reply);
        }
        if eof {
            return Err(format!(
                "connection closed before a complete response: {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        if buf.len() > MAX_RESPONSE_BYTES {
            return Err(format!("response larger than {MAX_RESPONSE_BYTES} bytes"));
        }
    }
}

/// Ok(None): more bytes are needed. Interim 1xx answers are skipped.
fn parse_response(buf: &[u8], head: bool, eof: bool) -> Result<Option<Reply>, String> {
    let mut start = 0;
    while start < buf.len() {
        let Some(end) = find(&buf[start..], b"\r\n\r\n").map(|i| start + i + 4) else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&buf[start..end - 4]);
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let (version, code) = (parts.next().unwrap_or_default(), parts.next());
        let status: u16 = match (
            version.starts_with("HTTP/1."),
            code.and_then(|c| c.parse().ok()),
        ) {
            (true, Some(c)) => c,
            _ => return Err(format!("not an HTTP/1.x status line: {status_line:?}")),
        };
        let mut headers = Vec::new();
        for line in lines {
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| format!("malformed header line {line:?}"))?;
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        if (100..200).contains(&status) && status != 101 {
            start = end;
            continue;
        }
        let reply = |body: Vec<u8>| Reply {
            status,
            headers: headers.clone(),
            body,
        };
        let rest = &buf[end..];
        if head || status == 204 || status == 304 {
            return Ok(Some(reply(Vec::new())));
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        if get("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
            return Ok(dechunk(rest)?.map(reply));
        }
        if let Some(len) = get("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| format!("bad content-length {len:?}"))?;
            return Ok((rest.len() >= len).then(|| reply(rest[..len].to_vec())));
        }
        return Ok(eof.then(|| reply(rest.to_vec())));
    }
    Ok(None)
}

/// Ok(None): the terminating chunk has not arrived yet.
fn dechunk(b: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    // Every pass consumes at least a size line, so this ends within the buffer.
    loop {
        let Some(nl) = find(&b[i..], b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&b[i..i + nl]);
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size line {line:?}"))?;
        i += nl + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let Some(nl) = find(&b[i..], b"\r\n") else {
                    return Ok(None);
                };
                i += nl + 2;
                if nl == 0 {
                    return Ok(Some(out));
                }
            }
        }
        if b.len() < i + size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&b[i..i + size]);
        if &b[i + size..i + size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
        i += size + 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The README's comparison: status exact, the shown headers as a subset, the body by kind.
fn compare(expect: &Expect, reply: &Reply) -> Result<(), String> {
    let body_text = String::from_utf8_lossy(&reply.body).into_owned();
    if reply.status != expect.status {
        return Err(format!(
            "status: expected {}, got {} (content-type {:?}, body {:?})",
            expect.status,
            reply.status,
            reply.header("content-type").unwrap_or_default(),
            truncate(&body_text, 80)
        ));
    }
    for (name, want) in &expect.headers {
        let Some(got) = reply.header(name) else {
            return Err(format!("header {name}: expected {want:?}, absent"));
        };
        let same = if name == "content-type" {
            media_type(want) == media_type(&got)
        } else {
            want.trim() == got.trim()
        };
        if !same {
            return Err(format!("header {name}: expected {want:?}, got {got:?}"));
        }
    }
    // Prism's own error bodies and loose (generated) bodies are not mockrig's to match.
    if expect.prism_error.is_some() || expect.loose {
        return Ok(());
    }
    let (Some(kind), Some(want)) = (expect.body_kind.as_deref(), expect.body.as_deref()) else {
        return Ok(());
    };
    let got = body_text.trim();
    match kind {
        "empty" => {
            if !got.is_empty() {
                return Err(format!("body: expected empty, got {got:?}"));
            }
        }
        "text" => {
            // Prism's sample for a bare `type: string` is the word "string"; generated text is
            // compared by shape like generated JSON, so any text stands for it.
            let generic = expect.body_from == "schema" && want == "string";
            if !(got == want.trim() || generic && !got.is_empty()) {
                return Err(format!("body: expected {:?}, got {got:?}", want.trim()));
            }
        }
        "json" => {
            let want_v: Value = serde_json::from_str(want)
                .map_err(|e| format!("the case's own JSON body does not parse: {e}"))?;
            let got_v: Value = serde_json::from_str(got)
                .map_err(|_| format!("body: expected JSON {want}, got non-JSON {got:?}"))?;
            let shape_only = expect.body_from == "schema" || expect.keys_only;
            let verdict = if shape_only {
                same_shape(&want_v, &got_v, "$")
            } else if json_equal(&want_v, &got_v) {
                Ok(())
            } else {
                Err(String::new())
            };
            verdict.map_err(|at| {
                let how = if shape_only { "shape" } else { "value" };
                let at = if at.is_empty() {
                    String::new()
                } else {
                    format!(" ({at})")
                };
                format!("body {how}{at}: expected {want}, got {got}")
            })?;
        }
        "xml" => {
            let (want_tags, got_tags) = (xml_elements(want), xml_elements(got));
            if !got.starts_with('<') || want_tags != got_tags {
                return Err(format!(
                    "body: expected XML elements like {:?}, got {got:?}",
                    strip_between_tags(want)
                ));
            }
        }
        other => return Err(format!("unknown body_kind {other:?} in the case data")),
    }
    Ok(())
}

/// `application/json; charset=utf-8` → `application/json`.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// JSON equality where 1 and 1.0 are the same number (key order never matters).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || x.as_f64().is_some_and(|x| y.as_f64() == Some(x))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Same JSON type at every level; objects with the same keys, compared recursively; arrays
/// both empty, or their first elements of the same shape. Err: where and how they differ.
fn same_shape(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let missing: Vec<&String> = e.keys().filter(|k| !a.contains_key(*k)).collect();
            let extra: Vec<&String> = a.keys().filter(|k| !e.contains_key(*k)).collect();
            if !missing.is_empty() || !extra.is_empty() {
                return Err(format!(
                    "{at}: missing keys {missing:?}, extra keys {extra:?}"
                ));
            }
            e.iter()
                .try_for_each(|(k, v)| same_shape(v, &a[k], &format!("{at}.{k}")))
        }
        (Value::Array(e), Value::Array(a)) => match (e.first(), a.first()) {
            (None, None) => Ok(()),
            (Some(e), Some(a)) => same_shape(e, a, &format!("{at}[0]")),
            _ => Err(format!("{at}: expected {} items, got {}", e.len(), a.len())),
        },
        _ if json_type(expected) == json_type(actual) => Ok(()),
        _ => Err(format!(
            "{at}: expected {}, got {}",
            json_type(expected),
            json_type(actual)
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The element structure of an XML text: opening, closing and empty tags by name, in order,
/// without text, attributes, declarations or comments (Prism's harness compares XML without
/// element values).
fn xml_elements(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            out.push("unterminated tag".into());
            break;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default();
        if tag.starts_with('/') {
            out.push(format!("/{name}"));
        } else {
            out.push(name.to_owned());
            // `<b/>` is `<b></b>`.
            if tag.ends_with('/') {
                out.push(format!("/{name}"));
            }
        }
    }
    out
}

/// For messages: the XML with the whitespace between tags removed.
fn strip_between_tags(xml: &str) -> String {
    xml.split('>')
        .map(str::trim_start)
        .collect::<Vec<_>>()
        .join(">")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate(s: &str, max: usize) -> String {
    let s = one_line(s);
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

#[test]
fn same_shape_compares_types_keys_and_first_items() {
    use serde_json::json;
    assert!(
        same_shape(
            &json!({"a": [1], "b": "x"}),
            &json!({"b": "y", "a": [2.5, 3]}),
            "$"
        )
        .is_ok()
    );
    assert!(same_shape(&json!([]), &json!([]), "$").is_ok());
    assert!(same_shape(&json!({"a": 1}), &json!({"a": "1"}), "$").is_err());
    assert!(same_shape(&json!({"a": 1}), &json!({"a": 1, "b": 2}), "$").is_err());
    assert!(same_shape(&json!([{}]), &json!([]), "$").is_err());
    assert!(same_shape(&json!({"a": null}), &json!({"a": "string"}), "$").is_err());
}

#[test]
fn responses_are_framed_by_length_chunks_or_eof() {
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n";
    let r = parse_response(chunked, false, false).unwrap().unwrap();
    assert_eq!(r.body, b"abcde");
    assert!(
        parse_response(&chunked[..chunked.len() - 2], false, false)
            .unwrap()
            .is_none()
    );
    let interim =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno";
    let r = parse_response(interim, false, false).unwrap().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (404, &b"no"[..]));
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nNonce: abc\r\n\r\n";
    let r = parse_response(head, true, false).unwrap().unwrap();
    assert_eq!(
        (r.header("nonce").as_deref(), r.body.len()),
        (Some("abc"), 0)
    );
    assert!(
        parse_response(b"HTTP/1.1 200 OK\r\n\r\nrest", false, false)
            .unwrap()
            .is_none()
    );
    assert_eq!(
        parse_response(b"HTTP/1.1 200 OK\r\n\r\nrest", false, true)
            .unwrap()
            .unwrap()
            .body,
        b"rest"
    );
}

#[test]
fn xml_is_compared_by_element_names() {
    assert_eq!(
        xml_elements("<xml>\n  <id>1</id><b/>\n</xml>"),
        xml_elements("<?xml version=\"1.0\"?><xml><id>7</id><b></b></xml>")
    );
    assert_ne!(
        xml_elements("<xml><id>1</id></xml>"),
        xml_elements("<root><id>1</id></root>")
    );
}
