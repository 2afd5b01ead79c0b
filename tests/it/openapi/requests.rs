//! Requests the test vouches for, built from the document, sent, and their answers.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use super::documents::{Doc, Files};
use super::values::valid_value;
use crate::common::Mock;

// ---------------------------------------------------------------------------------------------
// Requests

/// A request for an operation, built from the document.
#[derive(Clone)]
pub(super) struct Req {
    pub(super) method: String,
    pub(super) template: String,
    pub(super) path_values: BTreeMap<String, String>,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: Vec<(String, String)>,
    /// The body's media type and value (see [`build`] for when there is one).
    pub(super) body: Option<(String, Value)>,
    /// Why the test cannot vouch for the request; empty when every part was checked valid.
    pub(super) unsure: Vec<String>,
}

impl Req {
    fn url_path(&self) -> String {
        let mut p = self.template.clone();
        for (name, value) in &self.path_values {
            p = p.replace(&format!("{{{name}}}"), &encode_segment(value));
        }
        p
    }

    /// The path and query, encoded.
    fn target(&self) -> String {
        let query: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        if query.is_empty() {
            self.url_path()
        } else {
            format!("{}?{}", self.url_path(), query.join("&"))
        }
    }
}

fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The examples a parameter or media type gives (`example`, then each of `examples`).
pub(super) fn given_examples(files: &mut Files, file: &Path, holder: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = holder.get("example").cloned().into_iter().collect();
    for ex in holder["examples"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        let (_, ex) = files.deref(file, ex);
        if let Some(v) = ex.get("value") {
            out.push(v.clone());
        }
    }
    out
}

/// The request the test vouches for: every required parameter with a value valid for its
/// schema, the credentials of the first security requirement, a valid body. What the test
/// could not check is in `unsure`.
pub(super) fn build(doc: &mut Doc, i: usize) -> Req {
    let op = &doc.ops[i];
    let files = &mut doc.files;
    let mut req = Req {
        method: op.method.clone(),
        template: op.path.clone(),
        path_values: BTreeMap::new(),
        query: Vec::new(),
        headers: Vec::new(),
        body: None,
        unsure: Vec::new(),
    };
    let mut cookies = Vec::new();
    for p in &op.params {
        let (name, location) = (p.name().to_owned(), p.location().to_owned());
        // OpenAPI ignores these header parameters: they are the protocol's.
        if location == "header"
            && ["accept", "content-type", "authorization"]
                .contains(&name.to_ascii_lowercase().as_str())
        {
            continue;
        }
        if !p.required() {
            continue;
        }
        let Some(schema) = p.value.get("schema") else {
            req.unsure
                .push(format!("{location}/{name}: no schema (content)"));
            if location == "path" {
                req.path_values.insert(name, "abc".into());
            }
            continue;
        };
        let given = given_examples(files, &p.file, &p.value);
        let (value, valid) = valid_value(files, &p.file, schema, doc.v30, &given);
        if !valid {
            req.unsure
                .push(format!("{location}/{name}: no value the test could check"));
        }
        // Arrays in the default styles: `form` for query and cookie (repeated when exploded,
        // the default; else comma-joined), `simple` for path and header (comma-joined).
        let style = p.value["style"].as_str();
        let explode = p.value["explode"]
            .as_bool()
            .unwrap_or(style.is_none_or(|s| s == "form"));
        let default_style = match location.as_str() {
            "query" | "cookie" => style.is_none_or(|s| s == "form"),
            _ => style.is_none_or(|s| s == "simple"),
        };
        let texts: Vec<String> = match &value {
            Value::Array(items) => items.iter().filter_map(text_of).collect(),
            v => text_of(v).into_iter().collect(),
        };
        if value.is_object() || (value.is_array() && !default_style) {
            req.unsure
                .push(format!("{location}/{name}: structured value"));
        }
        match location.as_str() {
            "path" => {
                req.path_values.insert(name, texts.join(","));
            }
            "query" if explode => req
                .query
                .extend(texts.into_iter().map(|t| (name.clone(), t))),
            "query" => req.query.push((name, texts.join(","))),
            "header" => req.headers.push((name, texts.join(","))),
            "cookie" => cookies.push(format!("{name}={}", texts.join(","))),
            _ => {}
        }
    }
    // Path parameters the template names but no parameter declares still need a value.
    for seg in op.path.split('{').skip(1) {
        if let Some(name) = seg.split('}').next()
            && !req.path_values.contains_key(name)
        {
            req.unsure.push(format!("path/{name}: undeclared"));
            req.path_values.insert(name.to_owned(), "1".into());
        }
    }
    // Credentials: the first requirement (an empty one means none are needed).
    let requirement = if op
        .security
        .iter()
        .any(|r| r.as_object().is_some_and(Map::is_empty))
    {
        None
    } else {
        op.security.first().and_then(Value::as_object)
    };
    for scheme_name in requirement.into_iter().flat_map(|r| r.keys()) {
        let Some(s) = doc.schemes.get(scheme_name) else {
            req.unsure
                .push(format!("security scheme {scheme_name} is not declared"));
            continue;
        };
        let kind = s["type"].as_str().unwrap_or("");
        match kind {
            "apiKey" => {
                let name = s["name"].as_str().unwrap_or("").to_owned();
                match s["in"].as_str().unwrap_or("") {
                    "header" => req.headers.push((name, "key".into())),
                    "query" => req.query.push((name, "key".into())),
                    "cookie" => cookies.push(format!("{name}=key")),
                    other => req.unsure.push(format!("apiKey in {other}")),
                }
            }
            "http" => match s["scheme"]
                .as_str()
                .unwrap_or("")
                .to_ascii_lowercase()
                .as_str()
            {
                "basic" => req
                    .headers
                    .push(("Authorization".into(), "Basic dXNlcjpwYXNz".into())),
                "bearer" => req
                    .headers
                    .push(("Authorization".into(), "Bearer token".into())),
                other => req
                    .headers
                    .push(("Authorization".into(), format!("{other} abc"))),
            },
            "oauth2" | "openIdConnect" => req
                .headers
                .push(("Authorization".into(), "Bearer token".into())),
            other => req.unsure.push(format!("security scheme of type {other}")),
        }
    }
    if req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .count()
        > 1
    {
        req.unsure
            .push("two schemes both want Authorization".into());
    }
    if !cookies.is_empty() {
        req.headers.push(("Cookie".into(), cookies.join("; ")));
    }
    // A body: always when required; when optional, only one the test can vouch for (an
    // optional body is sent too, so that its fields are checked, as Twilio's form bodies
    // are all optional yet require fields).
    if let Some(rb) = op.op.get("requestBody") {
        let (rb_file, rb) = files.deref(&op.file, rb);
        let required = rb["required"] == json!(true);
        let content = rb["content"].as_object().cloned().unwrap_or_default();
        let rank = |m: &str| {
            let m = m.to_ascii_lowercase();
            if m == "application/json" {
                0
            } else if m.contains("json") {
                1
            } else if m == "application/x-www-form-urlencoded" {
                2
            } else if m == "multipart/form-data" {
                3
            } else if m.starts_with("text/plain") || m == "application/octet-stream" {
                4
            } else {
                5
            }
        };
        match content.iter().min_by_key(|(m, _)| rank(m)) {
            None if required => req.unsure.push("a required body without content".into()),
            None => {}
            Some((media, media_obj)) => {
                let given = given_examples(files, &rb_file, media_obj);
                let (value, mut valid) = match media_obj.get("schema") {
                    Some(schema) if rank(media) < 4 || media.starts_with("text/") => {
                        let (v, ok) = valid_value(files, &rb_file, schema, doc.v30, &given);
                        (v, ok)
                    }
                    // Bytes: any bytes are a binary body.
                    _ if rank(media) == 4 => (json!("abc"), true),
                    _ => (json!("abc"), false),
                };
                valid &= encode_body(media, &value).is_some();
                if valid || required {
                    if !valid {
                        req.unsure
                            .push(format!("body ({media}): no value the test could check"));
                    }
                    req.body = Some((media.clone(), value));
                }
            }
        }
    }
    req
}

/// `value` as the bytes of a `media` body, and the Content-Type to send; `None` when the test
/// cannot write it so (nested values in a form, XML).
fn encode_body(media: &str, value: &Value) -> Option<(String, Vec<u8>)> {
    let m = media.to_ascii_lowercase();
    if m.contains("json") {
        return Some((media.to_owned(), serde_json::to_vec(value).unwrap()));
    }
    let fields = |v: &Value| -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (k, v) in v.as_object()? {
            match v {
                Value::Array(items) => {
                    for item in items {
                        out.push((k.clone(), text_of(item)?));
                    }
                }
                v => out.push((k.clone(), text_of(v)?)),
            }
        }
        Some(out)
    };
    if m == "application/x-www-form-urlencoded" {
        let pairs = fields(value)?;
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        return Some((media.to_owned(), body.join("&").into_bytes()));
    }
    if m == "multipart/form-data" {
        let boundary = "mockrig-test-boundary";
        let mut body = String::new();
        for (k, v) in fields(value)? {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        return Some((
            format!("multipart/form-data; boundary={boundary}"),
            body.into_bytes(),
        ));
    }
    if m.starts_with("text/") || m == "application/octet-stream" {
        return Some((media.to_owned(), text_of(value)?.into_bytes()));
    }
    None
}

fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"-._*".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An answer, read whole.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Answer {
    pub(super) fn content_type(&self) -> String {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    pub(super) fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let cut: String = text.chars().take(300).collect();
        if cut.len() < text.len() {
            format!("{cut}…")
        } else {
            cut
        }
    }

    /// The `location`s the refusal names: from mockrig's problem body, or, when the document's
    /// own refusal answered, from `X-Mockrig-Violations` (`location: message; …`).
    pub(super) fn violation_locations(&self) -> Vec<String> {
        let mut out: Vec<String> = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|b| b["violations"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v["location"].as_str().map(str::to_owned))
            .collect();
        if let Some(h) = self
            .headers
            .get("x-mockrig-violations")
            .and_then(|v| v.to_str().ok())
        {
            out.extend(
                h.split("; ")
                    .filter_map(|part| part.split_once(": ").map(|(l, _)| l.to_owned())),
            );
        }
        out
    }
}

pub(super) async fn send(m: &Mock, req: &Req, prefer: Option<&str>) -> Answer {
    let method = reqwest::Method::from_bytes(req.method.to_uppercase().as_bytes()).unwrap();
    let mut r = m.client.request(method, m.at(&req.target()));
    for (k, v) in &req.headers {
        r = r.header(k.as_str(), v.as_str());
    }
    if let Some(p) = prefer {
        r = r.header("Prefer", p);
    }
    if let Some((media, value)) = &req.body
        && let Some((content_type, bytes)) = encode_body(media, value)
    {
        r = r.header("Content-Type", content_type).body(bytes);
    }
    let resp = r
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.url_path()));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// The source mockrig gives each operation's route (`GET /pets (listPets)`), by method and
/// path, from `/__mockrig/routes`.
pub(super) async fn route_sources(m: &Mock) -> HashMap<(String, String), String> {
    let routes: Value = m.get("/__mockrig/routes").await.json().await.unwrap();
    routes
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "openapi")
        .map(|r| {
            (
                (
                    r["method"].as_str().unwrap_or("").to_ascii_uppercase(),
                    r["path"].as_str().unwrap_or("").to_owned(),
                ),
                r["source"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}
