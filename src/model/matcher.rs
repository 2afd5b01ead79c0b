//! Route conditions (`match:`) compiled for requests, and the account of why one failed.

use actix_web::http::header::HeaderName;
use serde_json::Value;

use crate::error::Invalid;
use crate::spec;
use crate::spec::locate::{KeyPath, at};

pub(crate) use super::condition::contains;
use super::condition::{self, Actual, BodyCond, Cond, CondProblem, Ctx};
use super::problems::Problems;

/// What conditions read of a request. Implemented by a live request (`engine::request_view`) and
/// by a journal entry, so that `match:` and `/__mockrig/verify` share one set of conditions.
pub(crate) trait Parts {
    fn query(&self) -> &[(String, String)];
    /// Every value of the header, in order (names are lower case).
    fn header_values(&self, name: &HeaderName) -> Vec<&str>;
    fn cookie(&self, name: &str) -> Option<String>;
    /// The body as JSON (a form reads as an object of strings).
    fn json(&self) -> Option<&Value>;
    fn body(&self) -> &[u8];
}

/// The body as JSON; a form-encoded body (by its content type) reads as an object of strings,
/// so login forms can be matched the same way.
pub(crate) fn body_json(content_type: Option<&str>, body: &[u8]) -> Option<Value> {
    if let Ok(v) = serde_json::from_slice(body) {
        return Some(v);
    }
    let is_form =
        content_type.is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return None;
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    Some(Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    ))
}

/// The value of cookie `name` in `Cookie` header values.
pub(crate) fn cookie_in<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> Option<String> {
    headers.into_iter().find_map(|h| {
        h.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.trim_matches('"').to_owned())
        })
    })
}

/// One condition that did not hold: what was expected and what the request had.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Failure {
    /// `method`, `path`, `query.page`, `headers.x-api-key`, `cookies.session`, `body.user.name`…
    pub(crate) criterion: String,
    pub(crate) expected: Value,
    pub(crate) actual: Value,
}

/// What one query parameter, header or cookie must be.
#[derive(Debug)]
enum Want {
    /// The common case, kept as cheap as it always was: a comparison, no allocation.
    Exact(String),
    Cond(Cond),
}

/// The compiled `match:` of a route (or of a resource's gate).
#[derive(Debug, Default)]
pub(crate) struct Matcher {
    query: Vec<(String, Want)>,
    headers: Vec<(HeaderName, Want)>,
    cookies: Vec<(String, Want)>,
    body: Option<BodyCond>,
}

impl Matcher {
    /// Compiles the conditions, or says every problem, each at its keys below `match`.
    pub(crate) fn compile(m: &spec::Match) -> Result<Matcher, Vec<CondProblem>> {
        let mut problems = Vec::new();
        let query = wants("query", &m.query, &mut problems);
        let cookies = wants("cookies", &m.cookies, &mut problems);
        let headers = wants("headers", &m.headers, &mut problems)
            .into_iter()
            .filter_map(|(k, want)| match HeaderName::from_bytes(k.as_bytes()) {
                Ok(name) => Some((name, want)),
                Err(_) => {
                    problems.push(CondProblem {
                        path: vec!["headers".into(), k.clone()],
                        message: format!("'{k}' is not a valid header name"),
                        at_key: true,
                    });
                    None
                }
            })
            .collect();
        let body = m
            .body
            .as_ref()
            .and_then(|b| condition::body(b, &["body".into()], &mut problems));
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Matcher {
            query,
            headers,
            cookies,
            body,
        })
    }

    /// [`Matcher::compile`] for the compile pass: each problem reported at its key under
    /// `here` (the `match:` key).
    pub(crate) fn compile_at(
        m: &spec::Match,
        here: &KeyPath,
        problems: &mut Problems,
    ) -> Option<Matcher> {
        Matcher::compile(m)
            .map_err(|found| {
                for p in found {
                    let keys: Vec<&str> = p.path.iter().map(String::as_str).collect();
                    let at = at(here, &keys);
                    if p.at_key {
                        problems.key(at, p.message);
                    } else {
                        problems.value(at, p.message);
                    }
                }
            })
            .ok()
    }

    /// [`Matcher::compile`] with every problem in one message (the admin API's verify).
    pub(crate) fn compile_one_error(m: &spec::Match) -> Result<Matcher, Invalid> {
        Matcher::compile(m).map_err(|found| {
            let all: Vec<String> = found
                .iter()
                .map(|p| format!("{}: {}", p.path.join("."), p.message))
                .collect();
            Invalid(all.join("; "))
        })
    }

    /// Whether every condition holds: what routing asks of each candidate, so it builds no
    /// account of a failure (that is [`Matcher::failures`], for the 404).
    pub(crate) fn matches(&self, view: &impl Parts) -> bool {
        let query = || {
            self.query.iter().all(|(key, want)| {
                let got = view.query().iter().filter(|(k, _)| k == key);
                holds(want, got.map(|(_, v)| v.as_str()))
            })
        };
        let headers = || {
            self.headers
                .iter()
                .all(|(name, want)| holds(want, view.header_values(name).iter().copied()))
        };
        let cookies = || {
            self.cookies.iter().all(|(name, want)| {
                let got = view.cookie(name);
                holds(want, got.as_deref().into_iter())
            })
        };
        let body = || {
            self.body
                .as_ref()
                .is_none_or(|b| b.difference(view.json(), "body").is_none())
        };
        query() && headers() && cookies() && body()
    }

    /// Up to `limit` conditions that do not hold, in the order query, headers, cookies, body.
    pub(crate) fn failures(&self, view: &impl Parts, limit: usize) -> Vec<Failure> {
        let mut out = Vec::new();
        for (key, want) in &self.query {
            if out.len() >= limit {
                return out;
            }
            let got = view
                .query()
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str());
            if !holds(want, got.clone()) {
                out.push(fail(format!("query.{key}"), want, got.clone().next()));
            }
        }
        for (name, want) in &self.headers {
            if out.len() >= limit {
                return out;
            }
            let got = view.header_values(name);
            if !holds(want, got.iter().copied()) {
                out.push(fail(format!("headers.{name}"), want, got.first().copied()));
            }
        }
        for (name, want) in &self.cookies {
            if out.len() >= limit {
                return out;
            }
            let got = view.cookie(name);
            if !holds(want, got.as_deref().into_iter()) {
                out.push(fail(format!("cookies.{name}"), want, got.as_deref()));
            }
        }
        if let Some(want) = &self.body
            && out.len() < limit
        {
            let got = view.json();
            if let Some((path, expected, actual)) = want.difference(got, "body") {
                let actual = match (got, actual) {
                    (_, Some(a)) => preview(a),
                    (Some(_), None) => Value::Null,
                    (None, None) => Value::String(if view.body().is_empty() {
                        "(empty body)".into()
                    } else {
                        "(not JSON)".into()
                    }),
                };
                out.push(Failure {
                    criterion: path,
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        out
    }
}

fn wants(
    part: &str,
    conditions: &indexmap::IndexMap<String, spec::MatchValue>,
    problems: &mut Vec<CondProblem>,
) -> Vec<(String, Want)> {
    conditions
        .iter()
        .filter_map(|(name, v)| {
            let want = match v {
                spec::MatchValue::Exact(text) => Want::Exact(text.clone()),
                spec::MatchValue::Operators(_) => {
                    let path = [part.to_owned(), name.clone()];
                    let before = problems.len();
                    condition::unknown_operators(v, &path, problems);
                    let Value::Object(map) = v.as_json() else {
                        return None;
                    };
                    let cond = condition::compile(&map, Ctx::Text, &path, problems);
                    if problems.len() > before {
                        return None;
                    }
                    Want::Cond(cond?)
                }
            };
            Some((name.clone(), want))
        })
        .collect()
}

/// Whether the values a request has for one name meet what is wanted of them.
fn holds<'a>(want: &Want, mut got: impl Iterator<Item = &'a str> + Clone) -> bool {
    match want {
        Want::Exact(text) => got.any(|v| v == text),
        Want::Cond(c) => c.holds(got.map(Actual::Text)),
    }
}

/// What a failure shows of a request's value: the value itself when short, else its first
/// [`PREVIEW_BYTES`] bytes of JSON as text, marked. The journal keeps failures, and a 1 MiB
/// body must not be kept again through them.
pub(crate) fn preview(v: &Value) -> Value {
    struct Capped(Vec<u8>);
    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = PREVIEW_BYTES + 1 - self.0.len().min(PREVIEW_BYTES + 1);
            if room == 0 {
                return Err(std::io::Error::other("preview full"));
            }
            let n = buf.len().min(room);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let cut = |text: &str| {
        let mut end = PREVIEW_BYTES.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Value::String(format!("{}… (truncated)", &text[..end]))
    };
    match v {
        Value::String(s) if s.len() > PREVIEW_BYTES => cut(s),
        Value::Array(_) | Value::Object(_) => {
            let mut out = Capped(Vec::new());
            if serde_json::to_writer(&mut out, v).is_ok() {
                return v.clone();
            }
            cut(&String::from_utf8_lossy(&out.0))
        }
        other => other.clone(),
    }
}

/// How much of a request's value a failure shows.
pub(crate) const PREVIEW_BYTES: usize = 256;

fn fail(criterion: String, want: &Want, got: Option<&str>) -> Failure {
    Failure {
        criterion,
        expected: match want {
            Want::Exact(text) => Value::String(text.clone()),
            Want::Cond(c) => c.written.clone(),
        },
        actual: got.map_or(Value::Null, |g| preview(&Value::String(g.to_owned()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::condition::difference;
    use serde_json::json;

    #[test]
    fn a_long_actual_value_is_kept_as_a_short_preview() {
        let long = "x".repeat(10_000);
        let p = preview(&Value::String(long.clone()));
        let text = p.as_str().unwrap();
        assert!(text.len() < PREVIEW_BYTES + 20 && text.ends_with("… (truncated)"));
        let big = serde_json::json!({"a": long, "b": [1, 2]});
        let p = preview(&big);
        assert!(p.as_str().unwrap().starts_with("{\"a\":\"xxx"), "{p}");
        assert!(p.as_str().unwrap().len() < PREVIEW_BYTES + 20);
        let small = serde_json::json!({"a": [1, 2, 3]});
        assert_eq!(preview(&small), small, "short values are kept as they are");
        assert_eq!(
            preview(&Value::String("é".repeat(200)))
                .as_str()
                .unwrap()
                .len(),
            256 + "… (truncated)".len()
        );
    }

    #[test]
    fn subset_semantics() {
        let actual = json!({"user": {"name": "ada", "age": 36}, "tags": ["a", "b"], "n": 1.0});
        assert!(contains(&actual, &json!({"user": {"name": "ada"}})));
        assert!(contains(&actual, &json!({"tags": ["b"], "n": 1})));
        assert!(!contains(&actual, &json!({"user": {"name": "bob"}})));
        assert!(!contains(&actual, &json!({"tags": ["c"]})));
        assert!(!contains(&actual, &json!({"missing": null})));
        let expected = json!({"user": {"name": "bob"}});
        let (path, want, got) = difference(&expected, &actual, "body").unwrap();
        assert_eq!(path, "body.user.name");
        assert_eq!((want, got), (&json!("bob"), Some(&json!("ada"))));
    }
}
