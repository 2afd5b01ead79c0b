//! The request journal: the last N requests mockrig answered from the spec, for tests that ask
//! the mock what an app sent (`/__mockrig/requests`, `/unmatched`, `/verify`).
//!
//! Recording sits on the request path, so it keeps cheap handles (the header map, the body's
//! reference-counted bytes) and builds JSON only when someone reads the journal.

mod head;
mod ring;
pub(crate) mod shared;

pub(crate) use head::Head;
pub(crate) use ring::RequestJournal;

use std::cell::OnceCell;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use indexmap::IndexMap;
use serde_json::{Value, json};

use super::upstream::forward::UpstreamCall;
use crate::error::Invalid;
use crate::model::matcher::{Failure, Matcher, Parts, body_json, cookie_in};
use crate::model::router::{Pattern, request_segments};

/// Bodies are kept up to this many bytes each, so a full journal stays bounded.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// One request as it was answered.
#[derive(Debug)]
pub(crate) struct Recorded {
    pub(crate) id: u64,
    pub(crate) at: SystemTime,
    pub(crate) method: Method,
    /// Path and query as received, and the headers in arrival order.
    pub(crate) head: Head,
    pub(crate) body: Bytes,
    /// The spec entry that answered (`routes[2]`, `resources.users`), or none.
    pub(crate) route: Option<Arc<str>>,
    pub(crate) status: u16,
    /// A `fault:` answered instead of the status.
    pub(crate) fault: Option<crate::spec::Fault>,
    pub(crate) duration: Duration,
    /// For a request nothing answered: the nearest route and why it missed. (This and the
    /// next two are boxed: most requests have none, and every byte of an entry is memory
    /// each request writes and a later one evicts.)
    pub(crate) nearest: Option<Box<Value>>,
    /// A proxied request: the backend's URL, status and time to answer.
    pub(crate) upstream: Option<Box<UpstreamCall>>,
    /// What was sent back besides the status: kept only while a dashboard watches (keeping
    /// it costs every request a few percent, which nobody should pay for nothing).
    pub(crate) response: Option<Box<SentResponse>>,
}

/// The headers and body of an answer, as the journal keeps them.
#[derive(Debug, Default)]
pub(crate) struct SentResponse {
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// `None` for a body that was streamed (a file, an event stream, a proxied answer).
    pub(crate) body: Option<Bytes>,
    /// The body was longer than [`BODY_LIMIT`]: this is its start.
    pub(crate) truncated: bool,
}

/// Header names and values as a JSON object (a repeated name keeps its last value).
fn headers_json<'a>(
    headers: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> IndexMap<String, String> {
    headers
        .map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into()))
        .collect()
}

/// The sent headers as [`headers_json`] takes them.
fn pairs(headers: &[(HeaderName, HeaderValue)]) -> impl Iterator<Item = (&str, &[u8])> {
    headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))
}

/// A body as JSON when it is JSON, else as text; `null` when empty.
fn body_json_or_text(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => v,
        Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
    }
}

impl Recorded {
    fn target(&self) -> &str {
        self.head.target()
    }

    pub(crate) fn path(&self) -> &str {
        let t = self.target();
        t.split_once('?').map_or(t, |(path, _)| path)
    }

    pub(crate) fn query(&self) -> &str {
        self.target().split_once('?').map_or("", |(_, query)| query)
    }

    /// The entry as `/__mockrig/requests` shows it: the request, the answer, and why it missed.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = self.summary();
        v["headers"] = json!(headers_json(self.head.headers()));
        v["body"] = body_json_or_text(&self.body);
        v["response"] = self.response.as_ref().map_or(Value::Null, |r| {
            json!({
                "status": self.status,
                "headers": headers_json(pairs(&r.headers)),
                "body": r.body.as_deref().map_or(Value::Null, body_json_or_text),
                "truncated": r.truncated,
            })
        });
        v
    }

    /// What a list of requests shows of one: no headers or bodies.
    pub(crate) fn summary(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "time": crate::duration::rfc3339(self.at),
            "method": self.method.as_str(),
            "path": self.path(),
            "query": self.query(),
            "matched": self.route.as_deref(),
            "status": self.status,
            "duration_ms": self.duration.as_secs_f64() * 1000.0,
        });
        if let Some(n) = &self.nearest {
            v["nearest"] = (**n).clone();
        }
        if let Some(f) = self.fault {
            v["fault"] = json!(crate::engine::fault::name(f));
        }
        if let Some(u) = &self.upstream {
            v["upstream"] = json!({
                "url": u.url,
                "status": u.status,
                "duration_ms": u.elapsed.as_secs_f64() * 1000.0,
            });
        }
        v
    }

    /// Bytes this entry holds beyond its fixed size: what the journal's byte budget counts.
    fn weight(&self) -> usize {
        // The near miss of an unmatched request: its values are previews, but a route with
        // many conditions lists many.
        let nearest = self
            .nearest
            .as_ref()
            .map_or(0, |n| serde_json::to_vec(n).map_or(0, |b| b.len()));
        let upstream = self
            .upstream
            .as_ref()
            .map_or(0, |u| std::mem::size_of::<UpstreamCall>() + u.url.len());
        let response: usize = self.response.as_ref().map_or(0, |r| {
            std::mem::size_of::<SentResponse>()
                + r.headers
                    .iter()
                    .map(|(n, v)| n.as_str().len() + v.len())
                    .sum::<usize>()
                + r.body.as_ref().map_or(0, Bytes::len)
                + r.headers.len() * std::mem::size_of::<(HeaderName, HeaderValue)>()
        });
        // And the entry itself.
        let fixed = std::mem::size_of::<Recorded>();
        self.body.len() + self.head.len() + nearest + upstream + response + fixed
    }
}

/// A recorded request seen through the conditions of `model::matcher`, parsed as needed.
struct View<'a> {
    r: &'a Recorded,
    query: OnceCell<Vec<(String, String)>>,
    json: OnceCell<Option<Value>>,
}

impl<'a> View<'a> {
    fn new(r: &'a Recorded) -> Self {
        View {
            r,
            query: OnceCell::new(),
            json: OnceCell::new(),
        }
    }
}

impl Parts for View<'_> {
    fn query(&self) -> &[(String, String)] {
        self.query
            .get_or_init(|| serde_urlencoded::from_str(self.r.query()).unwrap_or_default())
    }

    fn header_values(&self, name: &HeaderName) -> Vec<&str> {
        // As `HeaderValue::to_str` reads the live request's: visible ASCII only.
        let visible = |v: &[u8]| v.iter().all(|&b| b == b'\t' || (32..127).contains(&b));
        self.r
            .head
            .headers()
            .filter(|(n, v)| *n == name.as_str() && visible(v))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .collect()
    }

    fn cookie(&self, name: &str) -> Option<String> {
        cookie_in(self.header_values(&header::COOKIE), name)
    }

    fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| {
                let ct = self.header_values(&header::CONTENT_TYPE).first().copied();
                body_json(ct, &self.r.body)
            })
            .as_ref()
    }

    fn body(&self) -> &[u8] {
        &self.r.body
    }
}

/// How many recorded requests match `pattern`, whether the expected count holds, and when
/// it does not, the requests that explain why: when too many matched, the latest of them;
/// otherwise the closest misses, each with the conditions it failed. Err: a bad pattern.
pub(crate) fn verify(
    journal: &[Arc<Recorded>],
    pattern: &RequestPattern,
) -> Result<Verification, Invalid> {
    let compiled = pattern.compile()?;
    let mut scored: Vec<(Vec<Failure>, &Arc<Recorded>)> =
        journal.iter().map(|r| (compiled.failures(r), r)).collect();
    let matched = scored.iter().filter(|(f, _)| f.is_empty()).count();
    let (holds, too_many, expected) = match (pattern.count, pattern.at_least, pattern.at_most) {
        (Some(n), _, _) => (matched == n, matched > n, json!({"count": n})),
        (None, least, most) => {
            let least = least.unwrap_or(if most.is_some() { 0 } else { 1 });
            let over = most.is_some_and(|m| matched > m);
            let ok = matched >= least && !over;
            (ok, over, json!({"at_least": least, "at_most": most}))
        }
    };
    // Closest first: the fewest failed conditions, then the most recent.
    scored.sort_by_key(|(f, r)| (f.len(), std::cmp::Reverse(r.id)));
    let closest = if holds {
        Vec::new()
    } else {
        scored
            .iter()
            .filter(|(f, _)| f.is_empty() == too_many)
            .take(3)
            .map(|(f, r)| json!({"request": r.to_json(), "failed": f}))
            .collect()
    };
    Ok(Verification {
        holds,
        matched,
        expected,
        closest,
    })
}

/// The outcome of [`verify`].
#[derive(Debug, Clone)]
pub(crate) struct Verification {
    pub(crate) holds: bool,
    pub(crate) matched: usize,
    /// The expected count, as given (`{"count": 2}` or `{"at_least": 1, "at_most": null}`).
    pub(crate) expected: Value,
    /// When it does not hold: up to 3 closest requests, each with the criteria it failed.
    pub(crate) closest: Vec<Value>,
}

/// A glob over a whole path: `*` any run of characters, `?` one character.
pub(crate) fn glob(pattern: &str) -> Result<regex::Regex, Invalid> {
    let mut re = String::from("^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| Invalid(e.to_string()))
}

/// A request pattern for verification, in the vocabulary of a route's `method`, `path` and
/// `match` (`query`, `headers`, `cookies`, `body`).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestPattern {
    pub(crate) method: Option<String>,
    /// A route path: `/users/{id}`, `/files/{*rest}`.
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) query: IndexMap<String, crate::spec::MatchValue>,
    #[serde(default)]
    pub(crate) headers: IndexMap<String, crate::spec::MatchValue>,
    #[serde(default)]
    pub(crate) cookies: IndexMap<String, crate::spec::MatchValue>,
    pub(crate) body: Option<Value>,
    pub(crate) count: Option<usize>,
    pub(crate) at_least: Option<usize>,
    pub(crate) at_most: Option<usize>,
}

/// A [`RequestPattern`] ready to test journal entries.
struct Compiled<'a> {
    method: Option<&'a str>,
    path: Option<Pattern>,
    conditions: Matcher,
}

impl RequestPattern {
    fn compile(&self) -> Result<Compiled<'_>, Invalid> {
        let conditions = Matcher::compile_one_error(&crate::spec::Match {
            query: self.query.clone(),
            headers: self.headers.clone(),
            cookies: self.cookies.clone(),
            body: self.body.clone(),
        })?;
        Ok(Compiled {
            method: self
                .method
                .as_deref()
                .filter(|m| !m.eq_ignore_ascii_case("ANY")),
            path: self.path.as_deref().map(Pattern::parse).transpose()?,
            conditions,
        })
    }
}

impl Compiled<'_> {
    /// The conditions `r` fails, with what was expected and what it had; empty when it
    /// matches.
    fn failures(&self, r: &Recorded) -> Vec<Failure> {
        let mut out = Vec::new();
        if let Some(m) = self.method
            && !m.eq_ignore_ascii_case(r.method.as_str())
        {
            out.push(Failure {
                criterion: "method".into(),
                expected: json!(m.to_ascii_uppercase()),
                actual: json!(r.method.as_str()),
            });
        }
        if let Some(p) = &self.path
            && let Some(miss) = p.explain_mismatch(&request_segments(r.path()))
        {
            out.push(Failure {
                criterion: "path".into(),
                expected: json!(miss.expected),
                actual: json!(miss.actual),
            });
        }
        out.extend(self.conditions.failures(&View::new(r), usize::MAX));
        out
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) fn request(path: &str, body: usize) -> Recorded {
        Recorded {
            id: 0,
            at: SystemTime::now(),
            method: Method::POST,
            head: Head::new(path, || [("content-type", &b"text/plain"[..])].into_iter()),
            body: Bytes::from(vec![b'x'; body]),
            route: None,
            status: 404,
            fault: None,
            duration: Duration::ZERO,
            nearest: None,
            upstream: None,
            response: None,
        }
    }

    /// Each request writes an entry and a later one evicts it: its size is the memory every
    /// request touches twice (360 bytes before the head was packed and the rare parts boxed).
    #[test]
    fn an_entry_is_small() {
        assert!(std::mem::size_of::<Recorded>() <= 168);
        let r = request("/users/1", 0);
        // What the byte budget counts: the entry, the target and the header as kept.
        let head = "/users/1".len() + "content-type:text/plain\n".len();
        assert_eq!(r.weight(), std::mem::size_of::<Recorded>() + head);
    }

    #[test]
    fn verify_counts_and_explains() {
        let j = RequestJournal::new(10);
        j.record(request("/users/1", 0));
        j.record(request("/users/2", 0));
        let pattern = |text: &str| serde_json::from_str::<RequestPattern>(text).unwrap();
        let v = j
            .verify(&pattern(
                r#"{"method": "POST", "path": "/users/{id}", "count": 2}"#,
            ))
            .unwrap();
        assert!(v.holds && v.matched == 2);
        let v = j
            .verify(&pattern(r#"{"method": "GET", "path": "/users/{id}"}"#))
            .unwrap();
        assert!(!v.holds && v.matched == 0);
        assert_eq!(v.closest[0]["failed"][0]["criterion"], "method");
        assert!(j.verify(&pattern(r#"{"path": "/a/{"}"#)).is_err());
    }
}
