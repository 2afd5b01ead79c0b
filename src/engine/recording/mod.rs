//! Recording: proxied exchanges written as a spec a person can edit and `mockrig serve`.
//!
//! Each distinct request (method, path, query) becomes a route; identical answers are written
//! once, differing ones as a `responses:` sequence in the order they came. JSON bodies become
//! YAML values when that serves the very same bytes back, short text stays inline, anything
//! else goes to a file beside the spec. The spec is rewritten whole (atomically) after every
//! exchange, on a thread of its own, so a server watching it reloads a complete file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::files::replace_atomically;
use crate::hash::fnv1a;

mod parts;

use parts::{extension, is_text, looks_templated, redact_cookie, slug, spec_path};

/// A body larger than this is not recorded (the exchange is still proxied): `file:` inputs
/// are refused from 64 MiB, and a recording is meant to be read.
pub(crate) const MAX_RECORDED_BODY: usize = 32 * 1024 * 1024;

/// The methods a spec's route can name.
const RECORDABLE: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Bodies up to this size may be written into the spec itself; larger ones go to files.
const INLINE_MAX: usize = 16 * 1024;

/// What a recording writes, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOptions {
    /// The spec to write.
    pub out: PathBuf,
    /// Write numeric (and UUID) path segments as `{id}`, so `/users/1` and `/users/2` are one
    /// route.
    pub generalise_ids: bool,
    /// Response headers whose values are written as `REDACTED`, besides `Set-Cookie`
    /// (only the cookie's value), `Authorization`, `Cookie` and `Proxy-Authorization`.
    pub redact: Vec<String>,
    /// Replace what `out` holds; without it an existing, non-empty file stops the start.
    pub overwrite: bool,
}

/// One proxied request and the backend's whole answer.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) method: Method,
    /// As the client sent it, percent-encoded.
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) status: u16,
    /// Without hop-by-hop headers and `Content-Length`.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
}

/// Takes exchanges from the workers and has them written by its own thread.
pub(crate) struct Recorder {
    tx: Mutex<mpsc::Sender<Exchange>>,
}

impl Recorder {
    /// Checks `out` can be written (and is not a file it would clobber), then starts the
    /// writer thread. `source` names the backend in the spec's first line.
    pub(crate) fn start(options: RecordOptions, source: &str) -> Result<Arc<Recorder>, String> {
        let out = options.out.clone();
        let shown = out.display();
        match std::fs::symlink_metadata(&out) {
            Ok(m) if !m.is_file() => {
                return Err(format!("recording into {shown}: not a regular file"));
            }
            Ok(m) if m.len() > 0 && !options.overwrite => {
                return Err(format!(
                    "recording into {shown}: the file exists; pass --overwrite to replace it"
                ));
            }
            _ => {}
        }
        let mut book = Book::new(options, source);
        book.write()
            .map_err(|e| format!("recording into {shown}: {e}"))?;
        let (tx, rx) = mpsc::channel::<Exchange>();
        std::thread::Builder::new()
            .name("mockrig-record".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    book.add(first);
                    // What arrived meanwhile goes into the same write.
                    while let Ok(more) = rx.try_recv() {
                        book.add(more);
                    }
                    if let Err(e) = book.write() {
                        tracing::error!("writing {}: {e}", book.options.out.display());
                    }
                }
            })
            .map_err(|e| format!("starting the recorder: {e}"))?;
        Ok(Arc::new(Recorder { tx: Mutex::new(tx) }))
    }

    /// The most body bytes an exchange may have to be recorded.
    pub(crate) fn max_body(&self) -> usize {
        MAX_RECORDED_BODY
    }

    pub(crate) fn submit(&self, exchange: Exchange) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        // The writer only stops with the process.
        let _ = tx.send(exchange);
    }
}

/// What has been recorded so far, in the order first seen.
struct Book {
    options: RecordOptions,
    header: String,
    routes: Vec<Recorded>,
    /// Body files already written, by content hash: a body seen twice is one file.
    files: HashMap<u64, String>,
    redact: Vec<HeaderName>,
}

/// One method and path: its query variants, each with the answers it got.
struct Recorded {
    method: Method,
    path: String,
    variants: Vec<(Query, Vec<Answer>)>,
}

/// A request's query parameters, sorted: the same query however its parameters were ordered.
type Query = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    headers: IndexMap<String, Vec<String>>,
    body: Body,
}

#[derive(Debug, Clone, PartialEq)]
enum Body {
    None,
    Json(Value),
    Text(String),
    File(String),
}

impl Book {
    fn new(options: RecordOptions, source: &str) -> Book {
        let mut redact: Vec<HeaderName> = ["authorization", "cookie", "proxy-authorization"]
            .into_iter()
            .map(HeaderName::from_static)
            .collect();
        for name in &options.redact {
            if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                redact.push(n);
            }
        }
        Book {
            header: format!(
                "# Recorded by mockrig from {source}. Edit freely: `mockrig serve` this file.\n"
            ),
            options,
            routes: Vec::new(),
            files: HashMap::new(),
            redact,
        }
    }

    fn add(&mut self, e: Exchange) {
        // A GET route answers HEAD too, with its own length: a HEAD's empty body recorded
        // would answer HEAD with a length of 0.
        if e.method == Method::HEAD {
            return;
        }
        if !RECORDABLE.contains(&e.method.as_str()) {
            tracing::warn!(
                "not recording {} {}: a spec's routes take {} only",
                e.method,
                e.path,
                RECORDABLE.join(", ")
            );
            return;
        }
        let Some(path) = spec_path(&e.path, self.options.generalise_ids) else {
            tracing::warn!(
                "not recording {} {}: the path cannot be written as a route",
                e.method,
                e.path
            );
            return;
        };
        let mut query: Query = serde_urlencoded::from_str(&e.query).unwrap_or_default();
        query.sort();
        let answer = match self.answer(&e, &path) {
            Ok(a) => a,
            Err(err) => {
                tracing::warn!("not recording {} {}: {err}", e.method, e.path);
                return;
            }
        };
        let route = match self
            .routes
            .iter_mut()
            .position(|r| r.method == e.method && r.path == path)
        {
            Some(i) => &mut self.routes[i],
            None => {
                self.routes.push(Recorded {
                    method: e.method.clone(),
                    path,
                    variants: Vec::new(),
                });
                self.routes.last_mut().expect("just pushed")
            }
        };
        match route.variants.iter_mut().find(|(q, _)| *q == query) {
            Some((_, answers)) => answers.push(answer),
            None => route.variants.push((query, vec![answer])),
        }
    }

    fn answer(&mut self, e: &Exchange, path: &str) -> std::io::Result<Answer> {
        let mut headers: IndexMap<String, Vec<String>> = IndexMap::new();
        let mut content_type = String::new();
        for (name, value) in &e.headers {
            if *name == actix_web::http::header::DATE {
                continue;
            }
            let Ok(text) = value.to_str().map(str::to_owned) else {
                tracing::warn!(
                    "recording {} {}: header {name} left out, its value is not text",
                    e.method,
                    e.path
                );
                continue;
            };
            if *name == actix_web::http::header::CONTENT_TYPE {
                content_type = text.to_ascii_lowercase();
            }
            let text = if *name == actix_web::http::header::SET_COOKIE {
                redact_cookie(&text)
            } else if self.redact.contains(name) {
                "REDACTED".to_owned()
            } else if looks_templated(&text) && !text.contains("endraw") {
                // Header values are templates in a spec: this one is kept as it was sent.
                format!("{{% raw %}}{text}{{% endraw %}}")
            } else if looks_templated(&text) {
                tracing::warn!(
                    "recording {} {}: header {name} left out, it reads as a template",
                    e.method,
                    e.path
                );
                continue;
            } else {
                text
            };
            headers
                .entry(name.as_str().to_owned())
                .or_default()
                .push(text);
        }
        let body = self.body(e, path, &content_type)?;
        Ok(Answer {
            status: e.status,
            headers,
            body,
        })
    }

    fn body(&mut self, e: &Exchange, path: &str, content_type: &str) -> std::io::Result<Body> {
        let bytes = &e.body;
        if bytes.is_empty() {
            return Ok(Body::None);
        }
        if bytes.len() <= INLINE_MAX
            && let Ok(text) = std::str::from_utf8(bytes)
            && !looks_templated(text)
        {
            if content_type.contains("json")
                && let Ok(v) = serde_json::from_str::<Value>(text)
                // Only when serving the value gives the backend's very bytes back.
                && serde_json::to_vec(&v).is_ok_and(|again| again == bytes.as_ref())
            {
                // `body: null` is no body at all in a spec: `null` is kept as text.
                return Ok(if v.is_null() {
                    Body::Text(text.to_owned())
                } else {
                    Body::Json(v)
                });
            }
            if is_text(content_type) {
                return Ok(Body::Text(text.to_owned()));
            }
        }
        let hash = fnv1a(bytes, 0);
        if let Some(name) = self.files.get(&hash) {
            return Ok(Body::File(name.clone()));
        }
        let out = &self.options.out;
        let stem = out
            .file_stem()
            .map_or_else(|| "recorded".into(), |s| s.to_string_lossy().into_owned());
        let folder = format!("{stem}.files");
        let dir = out.parent().unwrap_or(Path::new(".")).join(&folder);
        std::fs::create_dir_all(&dir)?;
        let name = format!(
            "{:03}-{}.{}",
            self.files.len() + 1,
            slug(e.method.as_str(), path),
            extension(content_type)
        );
        replace_atomically(&dir.join(&name), bytes)?;
        let relative = format!("{folder}/{name}");
        self.files.insert(hash, relative.clone());
        Ok(Body::File(relative))
    }

    /// The spec as YAML.
    fn render(&self) -> String {
        let mut routes = Vec::new();
        for r in &self.routes {
            // More query conditions first: among routes of one path, the first that holds
            // answers, and a request without a query matches none of the conditions.
            let mut variants: Vec<_> = r.variants.iter().collect();
            variants.sort_by_key(|(q, _)| std::cmp::Reverse(q.len()));
            let tell_apart = r.variants.len() > 1;
            let mut written: Vec<serde_json::Map<String, Value>> = Vec::new();
            for (query, answers) in variants {
                // `match.query` holds one value per key (any of a repeated key's values
                // matches): `?a=1&a=2` reads as `a: '1'`, and a second variant that reads the
                // same could never answer.
                let mut conditions = serde_json::Map::new();
                for (k, v) in query {
                    conditions.entry(k.clone()).or_insert_with(|| json!(v));
                }
                if tell_apart && written.contains(&conditions) {
                    continue;
                }
                written.push(conditions.clone());
                let mut route = serde_json::Map::new();
                route.insert("method".into(), json!(r.method.as_str()));
                route.insert("path".into(), json!(r.path));
                if tell_apart && !query.is_empty() {
                    route.insert("match".into(), json!({ "query": conditions }));
                }
                let mut answers: Vec<&Answer> = answers.iter().collect();
                // The last answer repeats once the sequence is through: a run of it at the
                // end is written once.
                while answers.len() > 1 && answers[answers.len() - 1] == answers[answers.len() - 2]
                {
                    answers.pop();
                }
                if answers.len() == 1 {
                    route.insert("response".into(), response(answers[0]));
                } else {
                    route.insert(
                        "responses".into(),
                        Value::Array(answers.into_iter().map(response).collect()),
                    );
                }
                routes.push(Value::Object(route));
            }
        }
        let yaml = serde_yaml::to_string(&json!({ "routes": routes }))
            .unwrap_or_else(|e| format!("# could not write the routes: {e}\n"));
        format!("{}{yaml}", self.header)
    }

    fn write(&self) -> std::io::Result<()> {
        replace_atomically(&self.options.out, self.render().as_bytes())
    }
}

fn response(a: &Answer) -> Value {
    let mut r = serde_json::Map::new();
    if a.status != 200 {
        r.insert("status".into(), json!(a.status));
    }
    if !a.headers.is_empty() {
        let h: serde_json::Map<String, Value> = a
            .headers
            .iter()
            .map(|(k, v)| {
                let value = match v.as_slice() {
                    [one] => json!(one),
                    many => json!(many),
                };
                (k.clone(), value)
            })
            .collect();
        r.insert("headers".into(), Value::Object(h));
    }
    match &a.body {
        Body::None => {}
        Body::Json(v) => {
            r.insert("body".into(), v.clone());
        }
        Body::Text(t) => {
            r.insert("text".into(), json!(t));
        }
        Body::File(f) => {
            r.insert("file".into(), json!(f));
        }
    }
    Value::Object(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(method: Method, target: &str, status: u16, ct: &str, body: &str) -> Exchange {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Exchange {
            method,
            path: path.into(),
            query: query.into(),
            status,
            headers: vec![(
                actix_web::http::header::CONTENT_TYPE,
                HeaderValue::from_str(ct).unwrap(),
            )],
            body: Bytes::from(body.to_owned()),
        }
    }

    fn book(dir: &Path, generalise: bool) -> Book {
        Book::new(
            RecordOptions {
                out: dir.join("rec.yaml"),
                generalise_ids: generalise,
                redact: vec!["x-secret".into()],
                overwrite: false,
            },
            "http://backend",
        )
    }

    #[test]
    fn same_answers_once_differing_ones_in_order_and_queries_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = book(dir.path(), false);
        let json = "application/json";
        b.add(exchange(Method::GET, "/a", 200, json, r#"{"n":1}"#));
        b.add(exchange(Method::GET, "/a", 200, json, r#"{"n":1}"#));
        b.add(exchange(Method::GET, "/c", 200, json, "1"));
        b.add(exchange(Method::GET, "/c", 200, json, "2"));
        b.add(exchange(Method::GET, "/c", 200, json, "2"));
        b.add(exchange(Method::GET, "/s?q=x", 200, json, "[1]"));
        b.add(exchange(Method::GET, "/s?q=y", 404, json, "[]"));
        let spec: Value = serde_yaml::from_str(&b.render()).unwrap();
        let routes = spec["routes"].as_array().unwrap();
        assert_eq!(routes.len(), 4, "{routes:#?}");
        assert_eq!(routes[0]["response"]["body"], json!({"n": 1}));
        assert_eq!(
            routes[1]["responses"],
            json!([{"headers": {"content-type": json}, "body": 1}, {"headers": {"content-type": json}, "body": 2}])
        );
        assert_eq!(routes[2]["match"]["query"], json!({"q": "x"}));
        assert_eq!(routes[3]["response"]["status"], 404);
    }

    #[test]
    fn bodies_that_would_not_come_back_the_same_go_to_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = book(dir.path(), false);
        b.add(exchange(
            Method::GET,
            "/pretty",
            200,
            "application/json",
            "{ \"a\": 1 }",
        ));
        b.add(exchange(
            Method::GET,
            "/tpl",
            200,
            "text/plain",
            "hi {{ name }}",
        ));
        b.add(exchange(Method::GET, "/txt", 200, "text/plain", "plain\n"));
        let spec: Value = serde_yaml::from_str(&b.render()).unwrap();
        let file = spec["routes"][0]["response"]["file"].as_str().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(file)).unwrap(),
            "{ \"a\": 1 }"
        );
        assert!(spec["routes"][1]["response"]["file"].is_string());
        assert_eq!(spec["routes"][2]["response"]["text"], "plain\n");
    }

    #[test]
    fn what_a_spec_cannot_say_is_left_out_or_kept_as_sent() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = book(dir.path(), false);
        let json = "application/json";
        b.add(exchange(Method::GET, "/null", 200, json, "null"));
        b.add(exchange(Method::GET, "/p//double", 200, json, "1"));
        b.add(exchange(Method::HEAD, "/head", 200, json, ""));
        b.add(exchange(
            Method::from_bytes(b"PROPFIND").unwrap(),
            "/dav",
            207,
            json,
            "1",
        ));
        b.add(exchange(Method::GET, "/t/", 200, json, "1"));
        b.add(exchange(Method::GET, "/t", 200, json, "2"));
        b.add(exchange(Method::GET, "/q?a=1&a=2", 200, json, "3"));
        b.add(exchange(Method::GET, "/q?a=1", 200, json, "4"));
        b.add(exchange(Method::GET, "/q?b=1", 200, json, "5"));
        let mut e = exchange(Method::GET, "/h", 200, "text/plain", "x");
        e.headers.push((
            HeaderName::from_static("x-t"),
            HeaderValue::from_static("{{ request.path }}"),
        ));
        b.add(e);
        let text = b.render();
        let spec: Value = serde_yaml::from_str(&text).unwrap();
        let routes = spec["routes"].as_array().unwrap();
        let paths: Vec<&str> = routes.iter().map(|r| r["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["/null", "/t", "/q", "/q", "/h"], "{text}");
        assert_eq!(routes[0]["response"]["text"], "null");
        assert_eq!(routes[1]["responses"].as_array().unwrap().len(), 2);
        // `a=1&a=2` and `a=1` read the same as conditions: the first recorded is kept.
        assert_eq!(routes[2]["match"]["query"], json!({"a": "1"}));
        assert_eq!(routes[2]["response"]["body"], 3);
        assert_eq!(routes[3]["match"]["query"], json!({"b": "1"}));
        assert_eq!(
            routes[4]["response"]["headers"]["x-t"],
            "{% raw %}{{ request.path }}{% endraw %}"
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = book(dir.path(), false);
        let mut e = exchange(Method::GET, "/login", 200, "text/plain", "ok");
        for (n, v) in [
            ("set-cookie", "sid=abc123; Path=/; HttpOnly"),
            ("x-secret", "hunter2"),
            ("authorization", "Bearer t0ken"),
        ] {
            e.headers
                .push((HeaderName::from_static(n), HeaderValue::from_static(v)));
        }
        b.add(e);
        let text = b.render();
        for secret in ["abc123", "hunter2", "t0ken"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("sid=REDACTED; Path=/; HttpOnly"), "{text}");
    }
}
