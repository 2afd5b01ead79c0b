//! Route conditions (`match:`) compiled for requests, and the account of why one failed.

use actix_web::http::header::HeaderName;
use serde_json::Value;

use crate::error::Invalid;
use crate::spec;

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

/// The compiled `match:` of a route.
#[derive(Debug, Default)]
pub(crate) struct Matcher {
    query: Vec<(String, String)>,
    headers: Vec<(HeaderName, String)>,
    cookies: Vec<(String, String)>,
    body: Option<Value>,
}

impl Matcher {
    /// Compiles the conditions; an invalid header name is the error (the compile pass
    /// reports it at its key first).
    pub(crate) fn compile(m: &spec::Match) -> Result<Matcher, Invalid> {
        let headers = m
            .headers
            .iter()
            .map(|(k, v)| {
                HeaderName::from_bytes(k.as_bytes())
                    .map(|name| (name, v.clone()))
                    .map_err(|_| Invalid(format!("'{k}' is not a valid header name")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Matcher {
            query: m.query.clone().into_iter().collect(),
            headers,
            cookies: m.cookies.clone().into_iter().collect(),
            body: m.body.clone(),
        })
    }

    pub(crate) fn matches(&self, view: &impl Parts) -> bool {
        self.failures(view, 1).is_empty()
    }

    /// Up to `limit` conditions that do not hold, in the order query, headers, cookies, body.
    pub(crate) fn failures(&self, view: &impl Parts, limit: usize) -> Vec<Failure> {
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
                            actual: actual.map_or(Value::Null, preview),
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

fn fail(criterion: String, want: &str, got: Option<&str>) -> Failure {
    Failure {
        criterion,
        expected: Value::String(want.to_owned()),
        actual: got.map_or(Value::Null, |g| preview(&Value::String(g.to_owned()))),
    }
}

/// Whether `actual` contains `expected`: objects by their listed keys, arrays by each listed
/// element appearing somewhere, numbers by value (`1` equals `1.0`), the rest by equality.
pub(crate) fn contains(actual: &Value, expected: &Value) -> bool {
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
