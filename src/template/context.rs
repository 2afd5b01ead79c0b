//! The `request` that templates see: `method`, `path`, `params`, `query`, `headers` (lower-case
//! names), `cookies` and `body` (parsed when JSON or a form, the text otherwise).
//!
//! Built only for a response that has templates, and with only the parts its templates read:
//! a static response never pays for any of this, and a template of the path parameters does
//! not pay for the headers.

use actix_web::HttpRequest;
use serde_json::{Map, Value, json};

use crate::matcher::body_json;

/// The fields of `request`.
pub const REQUEST_FIELDS: &[&str] = &[
    "method", "path", "params", "query", "headers", "cookies", "body",
];

/// The parts of the request a route's templates read; the others are left out of the
/// context (the cheap `method`, `path` and `params` are always in).
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub query: bool,
    pub headers: bool,
    pub cookies: bool,
    pub body: bool,
}

impl Needs {
    /// Everything: for emits, whose context may go out whole as a default payload.
    pub const ALL: Needs = Needs {
        query: true,
        headers: true,
        cookies: true,
        body: true,
    };
}

/// `{request: {...}, params: {...}}`: the context of response and emit templates. `params`
/// also stands alone, as channel templates know it.
pub fn request(req: &HttpRequest, body: &[u8], params: Map<String, Value>, needs: Needs) -> Value {
    let mut request = Map::new();
    request.insert("method".into(), json!(req.method().as_str()));
    request.insert("path".into(), json!(req.path()));
    request.insert("params".into(), Value::Object(params.clone()));
    if needs.query {
        let mut query = Map::new();
        for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .unwrap_or_default()
        {
            // The first of a repeated key, as `request.query.tag`; all of them are in the URL.
            query.entry(k).or_insert(Value::String(v));
        }
        request.insert("query".into(), Value::Object(query));
    }
    if needs.headers {
        let mut headers = Map::new();
        for (name, value) in req.headers() {
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            match headers.get_mut(name.as_str()) {
                // Repeated headers join as HTTP joins them.
                Some(Value::String(s)) => {
                    s.push_str(", ");
                    s.push_str(&v);
                }
                _ => {
                    headers.insert(name.as_str().to_owned(), Value::String(v));
                }
            }
        }
        request.insert("headers".into(), Value::Object(headers));
    }
    if needs.cookies {
        let mut cookies = Map::new();
        if let Ok(list) = req.cookies() {
            for c in list.iter() {
                cookies
                    .entry(c.name().to_owned())
                    .or_insert_with(|| Value::String(c.value().to_owned()));
            }
        }
        request.insert("cookies".into(), Value::Object(cookies));
    }
    if needs.body {
        let value = if body.is_empty() {
            Value::Null
        } else {
            let ct = req
                .headers()
                .get(actix_web::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            body_json(ct, body)
                .unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned()))
        };
        request.insert("body".into(), value);
    }
    json!({"request": request, "params": params})
}
