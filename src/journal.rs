//! The request journal: the last N requests mockrig answered from the spec, for tests that ask
//! the mock what an app sent (`/__mockrig/requests`, `/unmatched`, `/verify`).
//!
//! Recording sits on the request path, so it keeps cheap handles (the header map, the body's
//! reference-counted bytes) and builds JSON only when someone reads the journal.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, Uri};
use actix_web::web::Bytes;
use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::matcher::contains;
use crate::router::{Pattern, request_segments};

/// Bodies are kept up to this many bytes each, so a full journal stays bounded.
pub const BODY_LIMIT: usize = 64 * 1024;

/// One request as it was answered.
#[derive(Debug)]
pub struct Recorded {
    pub id: u64,
    pub at: SystemTime,
    pub method: Method,
    /// Path and query as received: one reference-counted copy, split when read.
    pub uri: Uri,
    /// In arrival order. A plain list: cloning actix's header map (a hash table of small
    /// vectors) and freeing it again cost more than the rest of the recording together.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// The spec entry that answered (`routes[2]`, `resources.users`), or none.
    pub route: Option<Arc<str>>,
    pub status: u16,
    pub duration: Duration,
    /// For a request nothing answered: the nearest route and why it missed.
    pub nearest: Option<Value>,
}

impl Recorded {
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    pub fn query(&self) -> &str {
        self.uri.query().unwrap_or_default()
    }

    pub fn to_json(&self) -> Value {
        let headers: IndexMap<String, String> = self
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into(),
                )
            })
            .collect();
        let body = match serde_json::from_slice::<Value>(&self.body) {
            Ok(v) => v,
            Err(_) => Value::String(String::from_utf8_lossy(&self.body).into_owned()),
        };
        let mut v = json!({
            "id": self.id,
            "time": humantime::format_rfc3339_millis(self.at).to_string(),
            "method": self.method.as_str(),
            "path": self.path(),
            "query": self.query(),
            "headers": headers,
            "body": if self.body.is_empty() { Value::Null } else { body },
            "matched": self.route.as_deref(),
            "status": self.status,
            "duration_ms": self.duration.as_secs_f64() * 1000.0,
        });
        if let Some(n) = &self.nearest {
            v["nearest"] = n.clone();
        }
        v
    }

    fn query_pairs(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(self.query()).unwrap_or_default()
    }

    fn json_body(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok().or_else(|| {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&self.body).ok()?;
            (!pairs.is_empty()).then(|| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect(),
                )
            })
        })
    }
}

/// A bounded ring of recorded requests, shared by all workers.
pub struct Journal {
    capacity: usize,
    inner: Mutex<(VecDeque<Arc<Recorded>>, u64)>,
}

impl Journal {
    /// `capacity` 0 records nothing.
    pub fn new(capacity: usize) -> Journal {
        Journal {
            capacity,
            inner: Mutex::new((VecDeque::with_capacity(capacity.min(1024)), 0)),
        }
    }

    /// Like [`Journal::new`], allocating only as requests arrive: for the many small journals
    /// of sessions.
    pub fn lazy(capacity: usize) -> Journal {
        Journal {
            capacity,
            inner: Mutex::new((VecDeque::new(), 0)),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Adds a request, dropping the oldest when full; assigns its id.
    pub fn record(&self, mut r: Recorded) {
        if self.capacity == 0 {
            return;
        }
        if r.body.len() > BODY_LIMIT {
            // A copy, not a slice: a slice would keep the whole body alive.
            r.body = Bytes::copy_from_slice(&r.body[..BODY_LIMIT]);
        }
        let evicted = {
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            inner.1 += 1;
            r.id = inner.1;
            let r = Arc::new(r);
            let evicted = (inner.0.len() == self.capacity)
                .then(|| inner.0.pop_front())
                .flatten();
            inner.0.push_back(r);
            evicted
        };
        // Freed after the lock is released: the other workers need not wait for it.
        drop(evicted);
    }

    /// Every recorded request, oldest first.
    pub fn all(&self) -> Vec<Arc<Recorded>> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.0.iter().cloned().collect()
    }

    /// How many recorded requests match `pattern`, whether the expected count holds, and when
    /// it does not, the closest requests with the criteria each failed. Err: a bad path.
    pub fn verify(&self, pattern: &RequestPattern) -> Result<Verification, String> {
        let path = pattern.path.as_deref().map(Pattern::parse).transpose()?;
        let journal = self.all();
        let mut scored: Vec<(Vec<&'static str>, &Arc<Recorded>)> = journal
            .iter()
            .map(|r| (pattern.failures(path.as_ref(), r), r))
            .collect();
        let matched = scored.iter().filter(|(f, _)| f.is_empty()).count();
        let (holds, expected) = match (pattern.count, pattern.at_least, pattern.at_most) {
            (Some(n), _, _) => (matched == n, json!({"count": n})),
            (None, least, most) => {
                let least = least.unwrap_or(if most.is_some() { 0 } else { 1 });
                let ok = matched >= least && most.is_none_or(|m| matched <= m);
                (ok, json!({"at_least": least, "at_most": most}))
            }
        };
        // Closest first: the fewest failed criteria, then the most recent.
        scored.sort_by_key(|(f, r)| (f.len(), std::cmp::Reverse(r.id)));
        let closest = if holds {
            Vec::new()
        } else {
            scored
                .iter()
                .filter(|(f, _)| !f.is_empty())
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

    pub fn clear(&self) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clear();
    }
}

/// The outcome of [`Journal::verify`].
#[derive(Debug, Clone)]
pub struct Verification {
    pub holds: bool,
    pub matched: usize,
    /// The expected count, as given (`{"count": 2}` or `{"at_least": 1, "at_most": null}`).
    pub expected: Value,
    /// When it does not hold: up to 3 closest requests, each with the criteria it failed.
    pub closest: Vec<Value>,
}

/// A glob over a whole path: `*` any run of characters, `?` one character.
pub fn glob(pattern: &str) -> Result<regex::Regex, String> {
    let mut re = String::from("^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| e.to_string())
}

/// A request pattern for verification, in the vocabulary of a route's `method`, `path` and
/// `match`.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestPattern {
    pub method: Option<String>,
    /// A route path: `/users/{id}`, `/files/{*rest}`.
    pub path: Option<String>,
    #[serde(default)]
    pub query: IndexMap<String, String>,
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    pub body: Option<Value>,
    pub count: Option<usize>,
    pub at_least: Option<usize>,
    pub at_most: Option<usize>,
}

impl RequestPattern {
    /// The criteria `r` fails, by name; empty when it matches.
    pub fn failures(&self, pattern: Option<&Pattern>, r: &Recorded) -> Vec<&'static str> {
        let mut out = Vec::new();
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case("ANY")
            && !m.eq_ignore_ascii_case(r.method.as_str())
        {
            out.push("method");
        }
        if let Some(p) = pattern
            && p.explain_mismatch(&request_segments(r.path())).is_some()
        {
            out.push("path");
        }
        if !self.query.is_empty() {
            let pairs = r.query_pairs();
            let ok = self
                .query
                .iter()
                .all(|(k, v)| pairs.iter().any(|(pk, pv)| pk == k && pv == v));
            if !ok {
                out.push("query");
            }
        }
        let headers_ok = self.headers.iter().all(|(name, want)| {
            r.headers
                .iter()
                .filter(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
                .any(|(_, v)| v.to_str().ok() == Some(want.as_str()))
        });
        if !headers_ok {
            out.push("headers");
        }
        if let Some(want) = &self.body
            && !r.json_body().is_some_and(|got| contains(&got, want))
        {
            out.push("body");
        }
        out
    }
}
