//! The `request` that templates see: `method`, `path`, `params`, `query`, `headers` (lower-case
//! names), `cookies` and `body` (parsed when JSON or a form, the text otherwise).
//!
//! Built only for a response that has templates, and with only the parts its templates read
//! (`RequestParts`): a static response never pays for any of this, and a template of the path
//! parameters does not pay for the headers. Responses get it as a minijinja value built
//! directly ([`for_response`]); emits and SSE streams as JSON ([`request`]), which they extend.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::HttpRequest;
use minijinja::Value as Jinja;
use serde_json::{Map, Value, json};

use crate::model::matcher::body_json;
use crate::model::response::RequestParts;
use crate::random::SeededRng;

/// Query parameters; for a repeated key, its first value (all of them are in the URL).
fn query(req: &HttpRequest) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in
        serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string()).unwrap_or_default()
    {
        out.entry(k).or_insert(v);
    }
    out
}

/// Header names (lower case) and values; a repeated header joined as HTTP joins it.
fn headers(req: &HttpRequest) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers() {
        let v = String::from_utf8_lossy(value.as_bytes());
        match out.get_mut(name.as_str()) {
            Some(s) => {
                s.push_str(", ");
                s.push_str(&v);
            }
            None => {
                out.insert(name.as_str().to_owned(), v.into_owned());
            }
        }
    }
    out
}

fn cookies(req: &HttpRequest) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Ok(list) = req.cookies() {
        for c in list.iter() {
            out.entry(c.name().to_owned())
                .or_insert_with(|| c.value().to_owned());
        }
    }
    out
}

/// The body as JSON, a form as an object, the raw text otherwise, null when empty.
fn body_value(req: &HttpRequest, body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    let ct = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    body_json(ct, body).unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// `{request: {...}, params: {...}}` as JSON: the context of emit and SSE templates. `params`
/// also stands alone, as channel templates know it.
pub(crate) fn request(
    req: &HttpRequest,
    body: &[u8],
    params: Map<String, Value>,
    needs: RequestParts,
) -> Value {
    let strings = |m: BTreeMap<String, String>| {
        Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
    };
    let mut request = Map::new();
    request.insert("method".into(), json!(req.method().as_str()));
    request.insert("path".into(), json!(req.path()));
    request.insert("params".into(), Value::Object(params.clone()));
    if needs.query {
        request.insert("query".into(), strings(query(req)));
    }
    if needs.headers {
        request.insert("headers".into(), strings(headers(req)));
    }
    if needs.cookies {
        request.insert("cookies".into(), strings(cookies(req)));
    }
    if needs.body {
        request.insert("body".into(), body_value(req, body));
    }
    json!({"request": request, "params": params})
}

/// The same context as a minijinja value, built without a detour through JSON: what a
/// templated response renders with, once per request, with the answer's generator in it under
/// `--seed`.
pub(crate) fn for_response(
    req: &HttpRequest,
    body: &[u8],
    params: &Map<String, Value>,
    needs: RequestParts,
    rng: Option<&Arc<SeededRng>>,
    extra: &[(&'static str, Jinja)],
) -> Jinja {
    let strings = |m: BTreeMap<String, String>| {
        Jinja::from_object(
            m.into_iter()
                .map(|(k, v)| (k, Jinja::from(v)))
                .collect::<BTreeMap<String, Jinja>>(),
        )
    };
    let params = Jinja::from_object(
        params
            .iter()
            .map(|(k, v)| (k.clone(), Jinja::from(v.as_str().unwrap_or_default())))
            .collect::<BTreeMap<String, Jinja>>(),
    );
    let mut request: BTreeMap<&'static str, Jinja> = BTreeMap::new();
    request.insert("method", Jinja::from(req.method().as_str()));
    request.insert("path", Jinja::from(req.path()));
    request.insert("params", params.clone());
    if needs.query {
        request.insert("query", strings(query(req)));
    }
    if needs.headers {
        request.insert("headers", strings(headers(req)));
    }
    if needs.cookies {
        request.insert("cookies", strings(cookies(req)));
    }
    if needs.body {
        request.insert(
            "body",
            Jinja::from(minijinja::value::Serde(&body_value(req, body))),
        );
    }
    let mut ctx: BTreeMap<&'static str, Jinja> = BTreeMap::new();
    ctx.insert("request", Jinja::from_object(request));
    ctx.insert("params", params);
    if let Some(rng) = rng {
        let (name, value) = crate::template::functions::rng_entry(rng);
        ctx.insert(name, value);
    }
    for (name, value) in extra {
        ctx.insert(name, value.clone());
    }
    Jinja::from_object(ctx)
}
