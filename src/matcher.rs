//! Route conditions (`match:`) compiled for requests, and the account of why one failed.

use std::cell::OnceCell;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderName};
use actix_web::web::Bytes;
use serde_json::Value;

use crate::spec;

/// What conditions read of a request. Implemented by a live request ([`RequestView`]) and by a
/// journal entry, so that `match:` and `/__mockrig/verify` share one set of conditions.
pub trait Parts {
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
pub fn body_json(content_type: Option<&str>, body: &[u8]) -> Option<Value> {
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
pub fn cookie_in<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<String> {
    headers.into_iter().find_map(|h| {
        h.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.trim_matches('"').to_owned())
        })
    })
}

/// The parts of a request that conditions look at, each parsed at most once and only if a
/// route asks for it.
pub struct RequestView<'a> {
    pub req: &'a HttpRequest,
    pub body: &'a Bytes,
    query: OnceCell<Vec<(String, String)>>,
    json: OnceCell<Option<Value>>,
}

impl<'a> RequestView<'a> {
    pub fn new(req: &'a HttpRequest, body: &'a Bytes) -> Self {
        RequestView {
            req,
            body,
            query: OnceCell::new(),
            json: OnceCell::new(),
        }
    }
}

impl Parts for RequestView<'_> {
    fn query(&self) -> &[(String, String)] {
        self.query
            .get_or_init(|| serde_urlencoded::from_str(self.req.query_string()).unwrap_or_default())
    }

    fn header_values(&self, name: &HeaderName) -> Vec<&str> {
        self.req
            .headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.req.cookie(name).map(|c| c.value().to_owned())
    }

    fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| {
                let ct = self
                    .req
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                body_json(ct, self.body)
            })
            .as_ref()
    }

    fn body(&self) -> &[u8] {
        self.body
    }
}

/// One condition that did not hold: what was expected and what the request had.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    /// `method`, `path`, `query.page`, `headers.x-api-key`, `cookies.session`, `body.user.name`…
    pub criterion: String,
    pub expected: Value,
    pub actual: Value,
}

/// The compiled `match:` of a route.
#[derive(Debug, Default)]
pub struct Matcher {
    query: Vec<(String, String)>,
    headers: Vec<(HeaderName, String)>,
    cookies: Vec<(String, String)>,
    body: Option<Value>,
}

impl Matcher {
    /// Compiles the spec's conditions; header names were checked by the validator.
    pub fn compile(m: &spec::Match) -> Result<Matcher, String> {
        let headers = m
            .headers
            .iter()
            .map(|(k, v)| {
                HeaderName::from_bytes(k.as_bytes())
                    .map(|name| (name, v.clone()))
                    .map_err(|_| format!("'{k}' is not a valid header name"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Matcher {
            query: m.query.clone().into_iter().collect(),
            headers,
            cookies: m.cookies.clone().into_iter().collect(),
            body: m.body.clone(),
        })
    }

    pub fn matches(&self, view: &impl Parts) -> bool {
        self.failures(view, 1).is_empty()
    }

    /// Up to `limit` conditions that do not hold, in the order query, headers, cookies, body.
    pub fn failures(&self, view: &impl Parts, limit: usize) -> Vec<Failure> {
        let mut out = Vec::new();
        for (key, want) in &self.query {
            if out.len() >= limit {
                return out;
            }
            let mut got = view
                .query()
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str());
            if !got.clone().any(|v| v == want) {
                out.push(fail(format!("query.{key}"), want, got.next()));
            }
        }
        for (name, want) in &self.headers {
            if out.len() >= limit {
                return out;
            }
            let got = view.header_values(name);
            if !got.iter().any(|v| v == want) {
                out.push(fail(format!("headers.{name}"), want, got.first().copied()));
            }
        }
        for (name, want) in &self.cookies {
            if out.len() >= limit {
                return out;
            }
            let got = view.cookie(name);
            if got.as_deref() != Some(want.as_str()) {
                out.push(fail(format!("cookies.{name}"), want, got.as_deref()));
            }
        }
        if let Some(want) = &self.body
            && out.len() < limit
        {
            match view.json() {
                Some(got) => {
                    if let Some((path, expected, actual)) = difference(want, got, "body") {
                        out.push(Failure {
                            criterion: path,
                            expected: expected.clone(),
                            actual: actual.cloned().unwrap_or(Value::Null),
                        });
                    }
                }
                None => out.push(Failure {
                    criterion: "body".into(),
                    expected: want.clone(),
                    actual: Value::String(if view.body().is_empty() {
                        "(empty body)".into()
                    } else {
                        "(not JSON)".into()
                    }),
                }),
            }
        }
        out
    }
}

fn fail(criterion: String, want: &str, got: Option<&str>) -> Failure {
    Failure {
        criterion,
        expected: Value::String(want.to_owned()),
        actual: got.map_or(Value::Null, |g| Value::String(g.to_owned())),
    }
}

/// Whether `actual` contains `expected`: objects by their listed keys, arrays by each listed
/// element appearing somewhere, numbers by value (`1` equals `1.0`), the rest by equality.
pub fn contains(actual: &Value, expected: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, ev)| a.get(k).is_some_and(|av| contains(av, ev))),
        (Value::Array(e), Value::Array(a)) => {
            e.iter().all(|ev| a.iter().any(|av| contains(av, ev)))
        }
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        _ => expected == actual,
    }
}

/// The first place where `actual` does not contain `expected`, as a dotted path with the
/// expected and actual values there.
fn difference<'v>(
    expected: &'v Value,
    actual: &'v Value,
    path: &str,
) -> Option<(String, &'v Value, Option<&'v Value>)> {
    if contains(actual, expected) {
        return None;
    }
    if let (Value::Object(e), Value::Object(a)) = (expected, actual) {
        return e.iter().find_map(|(k, ev)| {
            let here = format!("{path}.{k}");
            match a.get(k) {
                Some(av) => difference(ev, av, &here),
                None => Some((here, ev, None)),
            }
        });
    }
    Some((path.to_owned(), expected, Some(actual)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
