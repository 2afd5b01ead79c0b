//! Which of an operation's responses answers, with which media type and which body, by
//! Prism's conventions (so a team moving from Prism sees the same answers): the lowest 2xx
//! unless the request prefers another (`Prefer: code=404, example=name, dynamic=true`, or the
//! query's `__code`, `__example`, `__dynamic`), negotiated against `Accept`.

use serde_json::Value;

use crate::model::openapi::generate::{Fill, generate};
use crate::model::openapi::operation::Operation;
use crate::model::openapi::responses::{Content, OpResponse, StatusKey};

/// What the request asks of the answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Preferences {
    pub(crate) code: Option<u16>,
    pub(crate) example: Option<String>,
    pub(crate) dynamic: Option<bool>,
}

impl Preferences {
    /// From the `Prefer` header values, or, when there is none, the raw query string's
    /// `__code`, `__example` and `__dynamic` (Prism reads the query only without a header).
    pub(crate) fn read<'a>(prefer: impl Iterator<Item = &'a str>, query: &str) -> Preferences {
        let mut p = Preferences::default();
        let mut set = |key: &str, value: &str| {
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                // Only a status a response can have; another is no preference.
                "code" => {
                    p.code = value
                        .parse()
                        .ok()
                        .filter(|c| (100..=599).contains(c))
                        .or(p.code)
                }
                "example" => p.example = Some(value.to_owned()),
                "dynamic" => p.dynamic = value.parse().ok().or(p.dynamic),
                _ => {}
            }
        };
        let mut any_header = false;
        for header in prefer {
            any_header = true;
            for item in header.split([',', ';']) {
                if let Some((k, v)) = item.split_once('=') {
                    set(k, v);
                }
            }
        }
        if !any_header && query.contains("__") {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(query).unwrap_or_default();
            for (k, v) in pairs {
                if let Some(key) = k.strip_prefix("__") {
                    set(key, &v);
                }
            }
        }
        p
    }
}

/// The answer picked.
#[derive(Debug)]
pub(crate) enum Chosen<'o> {
    Answer {
        status: u16,
        response: &'o OpResponse,
        /// The media type and body; `None` for an answer without content.
        body: Option<(&'o str, Value)>,
    },
    /// No declared media type is one `Accept` takes: 406 with what there is.
    NotAcceptable(Vec<String>),
    /// The status asked for is not among the responses: 404.
    NoSuchStatus(u16),
    /// The example asked for is not among the media type's: 404.
    NoSuchExample(String),
}

/// What an operation without responses answers with.
static NO_RESPONSE: OpResponse = OpResponse {
    key: StatusKey::Default,
    headers: Vec::new(),
    contents: Vec::new(),
};

/// The status a response is sent with when its own key does not name one.
fn status_of(key: StatusKey) -> u16 {
    match key {
        StatusKey::Code(c) => c,
        StatusKey::Range(d) => d * 100,
        StatusKey::Default => 200,
    }
}

/// The response asked for by code: the exact code, else its range, else `default`, all sent
/// with that code.
pub(crate) fn for_code(op: &Operation, code: u16) -> Option<&OpResponse> {
    let find = |want: &dyn Fn(StatusKey) -> bool| op.responses.iter().find(|r| want(r.key));
    find(&|k| k == StatusKey::Code(code))
        .or_else(|| find(&|k| k == StatusKey::Range(code / 100)))
        .or_else(|| find(&|k| k == StatusKey::Default))
}

/// The response when nothing asks for a code: the lowest success (`2XX` after the exact
/// codes, sent as 200), else `default` (sent as 200), else the first declared.
pub(crate) fn default_response(op: &Operation) -> Option<(u16, &OpResponse)> {
    let success = op
        .responses
        .iter()
        .filter_map(|r| match r.key {
            StatusKey::Code(c) if (200..300).contains(&c) => Some((c.to_string(), r)),
            StatusKey::Range(2) => Some(("2XX".to_owned(), r)),
            _ => None,
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r);
    let r = success
        .or_else(|| op.responses.iter().find(|r| r.key == StatusKey::Default))
        .or_else(|| op.responses.first())?;
    Some((status_of(r.key), r))
}

/// The document's own answer to a refused request: the first of `codes` it declares,
/// exactly or by range. `default` is not taken for one: it describes the backend's errors in
/// general, and mockrig's own answer says what is wrong with this request.
pub(crate) fn for_refusal<'o>(op: &'o Operation, codes: &[u16]) -> Option<(u16, &'o OpResponse)> {
    codes.iter().find_map(|&code| {
        let exact = op.responses.iter().find(|r| r.key == StatusKey::Code(code));
        exact
            .or_else(|| {
                op.responses
                    .iter()
                    .find(|r| r.key == StatusKey::Range(code / 100))
            })
            .map(|r| (code, r))
    })
}

/// The answer to a valid request with `prefs` and `accept`. `rng` draws dynamic values.
pub(crate) fn choose<'o>(
    op: &'o Operation,
    prefs: &Preferences,
    accept: Option<&str>,
    rng: &mut rand::rngs::StdRng,
) -> Chosen<'o> {
    let (status, response) = match prefs.code {
        Some(code) => match for_code(op, code) {
            Some(r) => (code, r),
            None => return Chosen::NoSuchStatus(code),
        },
        // An operation that declares no response (3.1 allows it) says nothing about its
        // answer: an empty 200 is the least surprising.
        None => default_response(op).unwrap_or((200, &NO_RESPONSE)),
    };
    if response.contents.is_empty() {
        return Chosen::Answer {
            status,
            response,
            body: None,
        };
    }
    let Some(content) = negotiate(&response.contents, accept) else {
        // Nothing acceptable: a 204, or a client that takes anything, gets no body rather
        // than an error.
        if status == 204 || accept.is_some_and(|a| a.contains("*/*")) {
            return Chosen::Answer {
                status,
                response,
                body: None,
            };
        }
        return Chosen::NotAcceptable(
            response
                .contents
                .iter()
                .map(|c| c.media_type.clone())
                .collect(),
        );
    };
    let dynamic = prefs.dynamic.unwrap_or(op.dynamic);
    filled(
        status,
        response,
        content,
        prefs.example.as_deref(),
        dynamic,
        rng,
    )
}

/// The document's answer for a refused request (`for_refusal`), `Accept` aside: the first
/// media type with examples, else the first with a schema, else no body.
pub(crate) fn refusal<'o>(
    status: u16,
    response: &'o OpResponse,
    example: Option<&str>,
    rng: &mut rand::rngs::StdRng,
) -> Chosen<'o> {
    let content = response
        .contents
        .iter()
        .find(|c| !c.examples.is_empty())
        .or_else(|| response.contents.iter().find(|c| c.schema.is_some()));
    match content {
        Some(c) => filled(status, response, c, example, false, rng),
        None => Chosen::Answer {
            status,
            response,
            body: None,
        },
    }
}

fn filled<'o>(
    status: u16,
    response: &'o OpResponse,
    content: &'o Content,
    example: Option<&str>,
    dynamic: bool,
    rng: &mut rand::rngs::StdRng,
) -> Chosen<'o> {
    let value = if let Some(name) = example {
        match content.examples.iter().find(|(n, _)| n == name) {
            Some((_, v)) => Some(v.clone()),
            None => return Chosen::NoSuchExample(name.to_owned()),
        }
    } else if dynamic && let Some(schema) = &content.schema {
        Some(generate(schema, Fill::Random(rng)))
    } else {
        content.static_body().cloned()
    };
    Chosen::Answer {
        status,
        response,
        body: value.map(|v| (content.media_type.as_str(), v)),
    }
}

/// The media type `accept` prefers among `contents`: by quality, then by how specifically a
/// range names it, then the document's order. Without `Accept`: a `*/*` entry, else JSON,
/// else the first.
fn negotiate<'c>(contents: &'c [Content], accept: Option<&str>) -> Option<&'c Content> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return contents
            .iter()
            .find(|c| c.media_type == "*/*")
            .or_else(|| contents.iter().find(|c| c.media_type == "application/json"))
            .or(contents.first());
    };
    // Parameters other than q (`; version=1`) are not compared: the type decides.
    let ranges: Vec<(&str, f32)> = accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let range = parts.next().filter(|r| !r.is_empty())?;
            let q = parts
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(1.0);
            Some((range, q))
        })
        .collect();
    let mut best: Option<(f32, u8, usize, usize)> = None;
    for (ci, c) in contents.iter().enumerate() {
        let media = c.media_type.split(';').next().unwrap_or("").trim();
        let (kind, sub) = media.split_once('/').unwrap_or((media, ""));
        for (ri, (range, q)) in ranges.iter().enumerate() {
            if *q <= 0.0 {
                continue;
            }
            let (rk, rs) = range.split_once('/').unwrap_or((range, ""));
            let specificity = if rk.eq_ignore_ascii_case(kind) && rs.eq_ignore_ascii_case(sub) {
                2
            } else if rk.eq_ignore_ascii_case(kind) && rs == "*" {
                1
            } else if rk == "*" && rs == "*" || media == "*/*" {
                0
            } else {
                continue;
            };
            let key = (*q, specificity, ri, ci);
            let better = match best {
                None => true,
                Some((bq, bs, bri, bci)) => {
                    (*q > bq)
                        || (*q == bq && specificity > bs)
                        || (*q == bq && specificity == bs && (ri, ci) < (bri, bci))
                }
            };
            if better {
                best = Some(key);
            }
        }
    }
    best.map(|(_, _, _, ci)| &contents[ci])
}

/// The bytes of a value sent as `media_type`, or `None` when it cannot be written so (an
/// object as `text/plain`: Prism answers 500 there too).
pub(crate) fn body_bytes(media_type: &str, value: &Value) -> Option<Vec<u8>> {
    let media = media_type.split(';').next().unwrap_or("").trim();
    let json = media.ends_with("json") || media.contains("+json") || media == "*/*";
    let xml = media.ends_with("/xml") || media.ends_with("+xml");
    match value {
        _ if json => serde_json::to_vec(value).ok(),
        Value::String(s) => Some(s.clone().into_bytes()),
        v if xml => {
            let mut out = String::new();
            xml_element("xml", v, &mut out);
            Some(out.into_bytes())
        }
        Value::Number(_) | Value::Bool(_) if media.starts_with("text/") => {
            Some(value.to_string().into_bytes())
        }
        _ => None,
    }
}

/// `value` as XML under an element `name`: members become child elements, list items repeat
/// the element.
fn xml_element(name: &str, value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            for item in items {
                xml_element(name, item, out);
            }
        }
        Value::Object(map) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in map {
                xml_element(k, v, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", xml_escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_from_header_or_query() {
        let p = Preferences::read(["code=404, example=missing"].into_iter(), "");
        assert_eq!(p.code, Some(404));
        assert_eq!(p.example.as_deref(), Some("missing"));
        let p = Preferences::read([].into_iter(), "__code=201&__dynamic=true&x=1");
        assert_eq!(p.code, Some(201));
        assert_eq!(p.dynamic, Some(true));
        let p = Preferences::read(["code=404"].into_iter(), "__code=201");
        assert_eq!(p.code, Some(404), "a Prefer header wins over the query");
        assert_eq!(
            Preferences::read([].into_iter(), "code=1"),
            Preferences::default()
        );
    }

    #[test]
    fn bodies_by_media_type() {
        let b = |m: &str, v: Value| body_bytes(m, &v).map(|b| String::from_utf8(b).unwrap());
        assert_eq!(b("application/json", Value::from("hi")).unwrap(), "\"hi\"");
        assert_eq!(b("text/plain", Value::from("hi")).unwrap(), "hi");
        assert_eq!(b("text/plain", serde_json::json!({"a": 1})), None);
        assert_eq!(
            b(
                "application/xml",
                serde_json::json!({"id": 1, "tags": ["a", "b"]})
            )
            .unwrap(),
            "<xml><id>1</id><tags>a</tags><tags>b</tags></xml>"
        );
    }
}
