//! Responses compiled once at load: status, header pairs and body bytes ready to copy, so
//! answering with a fixed response clones a few reference-counted buffers and serializes
//! nothing. Templated parts are compiled templates, rendered per request by the engine
//! (`engine::respond`).
//!
//! A route's [`ResponseSet`] picks which response answers: its only one, the next of a
//! sequence, or the alternative the `Accept` header asks for (`negotiate`).

use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use rand::RngExt;

use crate::duration::{self, Delay};
use crate::error::ApiError;
use crate::files::resolve_inside;
use crate::random::{SeededRng, with_rng};
use crate::spec::locate::{KeyPath, at, index};
use crate::spec::{self, Fault, Sequence};
use crate::suggest::did_you_mean;
use crate::template::{Template, is_template};

use super::negotiate;
use super::pass::CompilePass;

/// A header value: fixed, or a template.
#[derive(Debug)]
pub(crate) enum HeaderTemplate {
    Fixed(HeaderValue),
    Templated(Template),
}

/// The parts of the request a response's templates read; the others are left out of their
/// context (the cheap `method`, `path` and `params` are always in).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestParts {
    pub(crate) query: bool,
    pub(crate) headers: bool,
    pub(crate) cookies: bool,
    pub(crate) body: bool,
}

impl RequestParts {
    /// Everything: for emits, whose context may go out whole as a default payload.
    pub(crate) const ALL: RequestParts = RequestParts {
        query: true,
        headers: true,
        cookies: true,
        body: true,
    };
}

/// A response ready to send.
#[derive(Debug)]
pub(crate) struct ResponseTemplate {
    pub(crate) status: StatusCode,
    /// In spec order; a repeated name is sent once per value.
    pub(crate) headers: Vec<(HeaderName, HeaderTemplate)>,
    pub(crate) body: BodyTemplate,
    /// For a fixed body: its entity tag, for `If-None-Match`.
    pub(crate) etag: Option<HeaderValue>,
    pub(crate) delay: Option<Delay>,
    pub(crate) fault: Option<Fault>,
    /// Bytes per second.
    pub(crate) throttle: Option<u64>,
    /// Set when something is templated: what of the request the templates read.
    pub(crate) reads: Option<RequestParts>,
    /// With `sequence: random`: relative weight.
    pub(crate) weight: f64,
}

#[derive(Debug)]
pub(crate) enum BodyTemplate {
    Empty,
    Bytes(Bytes),
    /// A file inside the spec's folder, streamed per request. Resolved again each time, so a
    /// symlink put in its place after load cannot lead outside the folder.
    File {
        root: PathBuf,
        relative: String,
    },
    /// JSON with templates inside.
    Json(Template),
    /// Text with templates inside.
    Text(Template),
}

/// Which of a route's responses answers a request.
#[derive(Debug)]
pub(crate) enum ResponseSet {
    One(ResponseTemplate),
    Sequence {
        mode: Sequence,
        list: Vec<ResponseTemplate>,
    },
    /// Alternatives by `Accept`: each with the media types it answers for.
    Negotiate(Vec<(Vec<String>, ResponseTemplate)>),
}

impl ResponseSet {
    /// Whether answering depends on how many times the route answered before: always for a
    /// sequence; with `seeded`, also for templates and random delays, whose values follow
    /// from the count. Anything else keeps no count, and takes no lock for one.
    pub(crate) fn counted(&self, seeded: bool) -> bool {
        let dynamic =
            |p: &ResponseTemplate| p.reads.is_some() || p.delay.is_some_and(|d| d.is_range());
        match self {
            ResponseSet::Sequence { .. } => true,
            _ if !seeded => false,
            ResponseSet::One(p) => dynamic(p),
            ResponseSet::Negotiate(list) => list.iter().any(|(_, p)| dynamic(p)),
        }
    }

    /// The response for a request with this `Accept`: `n` is how many times the route
    /// answered before. Err: the 406 of a negotiation nothing in `Accept` fits.
    pub(crate) fn choose(
        &self,
        accept: Option<&str>,
        n: u64,
        rng: Option<&SeededRng>,
    ) -> Result<&ResponseTemplate, ApiError> {
        match self {
            ResponseSet::One(p) => Ok(p),
            ResponseSet::Sequence { mode, list } => {
                let len = list.len() as u64;
                let i = match mode {
                    Sequence::Last => n.min(len - 1),
                    Sequence::Cycle => n % len,
                    Sequence::Random => {
                        let total: f64 = list.iter().map(|p| p.weight).sum();
                        let mut x = with_rng(rng, |r| r.random_range(0.0..total));
                        let mut pick = len - 1;
                        for (i, p) in list.iter().enumerate() {
                            if x < p.weight {
                                pick = i as u64;
                                break;
                            }
                            x -= p.weight;
                        }
                        pick
                    }
                };
                Ok(&list[i as usize])
            }
            ResponseSet::Negotiate(list) => {
                match negotiate::choose(accept, list.iter().map(|(t, _)| t.as_slice())) {
                    Some(i) => Ok(&list[i].1),
                    None => Err(ApiError::NotAcceptable {
                        accept: accept.map(str::to_owned),
                        available: list.iter().map(|(t, _)| t[0].clone()).collect(),
                    }),
                }
            }
        }
    }

    /// Whether alternatives by `Accept` exist, so caches must keep them apart (`Vary`).
    pub(crate) fn negotiates(&self) -> bool {
        matches!(self, ResponseSet::Negotiate(_))
    }
}

/// Compiles a route's responses: one, a sequence, or alternatives by `Accept`.
pub(crate) fn compile_set(
    r: &spec::Route,
    here: &KeyPath,
    cx: &mut CompilePass<'_>,
) -> Option<ResponseSet> {
    let mark = cx.problems.mark();
    let given: Vec<&str> = [
        ("response", r.response.is_some()),
        ("responses", !r.responses.is_empty()),
        ("content", !r.content.is_empty()),
    ]
    .iter()
    .filter(|k| k.1)
    .map(|k| k.0)
    .collect();
    for extra in given.iter().skip(1) {
        cx.problems.key(
            at(here, &[extra]),
            format!(
                "a route has one of response, responses and content; {} is already given",
                given[0]
            ),
        );
    }
    if r.sequence != Sequence::Last && r.responses.is_empty() {
        cx.problems.key(
            at(here, &["sequence"]),
            "sequence orders `responses:`; this route has none",
        );
    }
    let set = if !r.responses.is_empty() {
        let base = at(here, &["responses"]);
        let mut list = Vec::with_capacity(r.responses.len());
        for (i, resp) in r.responses.iter().enumerate() {
            let p = index(&base, i);
            if r.sequence != Sequence::Random {
                weight_only_in_random(&p, resp, cx);
            } else if let Some(w) = resp.weight
                && !(w.is_finite() && w > 0.0)
            {
                cx.problems
                    .value(at(&p, &["weight"]), "a weight must be a number above 0");
            }
            list.extend(compile(resp, &p, None, cx));
        }
        let total: f64 = r.responses.iter().filter_map(|r| r.weight).sum();
        if r.sequence == Sequence::Random && !total.is_finite() {
            cx.problems
                .value(base, "the weights add up to more than a number can hold");
        }
        ResponseSet::Sequence {
            mode: r.sequence,
            list,
        }
    } else if !r.content.is_empty() {
        let mut list = Vec::with_capacity(r.content.len());
        for (key, resp) in &r.content {
            let p = at(here, &["content", key]);
            if !negotiate::is_valid_key(key) {
                let names = ["json", "xml", "html", "text", "csv", "yaml"];
                let hint = did_you_mean(key, &names)
                    .map(|k| format!(", did you mean '{k}'?"))
                    .unwrap_or_default();
                cx.problems.key(
                    p.clone(),
                    format!(
                        "'{key}' is not a media type (type/subtype) or one of json, xml, html, text, csv, yaml{hint}"
                    ),
                );
                continue;
            }
            weight_only_in_random(&p, resp, cx);
            let types = negotiate::media_types(key);
            if let Some(t) = compile(resp, &p, Some(&types[0]), cx) {
                list.push((types, t));
            }
        }
        ResponseSet::Negotiate(list)
    } else {
        let p = at(here, &["response"]);
        let default = spec::Response::default();
        let resp = r.response.as_ref().unwrap_or(&default);
        weight_only_in_random(&p, resp, cx);
        ResponseSet::One(compile(resp, &p, None, cx)?)
    };
    (!cx.problems.failed_since(mark)).then_some(set)
}

/// Compiles one response at `here` (a long-polling route's `on_timeout`).
pub(crate) fn compile_one(
    r: &spec::Response,
    here: &KeyPath,
    cx: &mut CompilePass<'_>,
) -> Option<ResponseTemplate> {
    compile(r, here, None, cx)
}

fn weight_only_in_random(here: &[spec::locate::Seg], r: &spec::Response, cx: &mut CompilePass<'_>) {
    if r.weight.is_some() {
        cx.problems.key(
            at(here, &["weight"]),
            "weight picks among `responses:` with `sequence: random`",
        );
    }
}

/// Compiles one response at `here`. `content_type` is the default for a body (a `content:`
/// alternative's media type), instead of JSON or text.
fn compile(
    r: &spec::Response,
    here: &KeyPath,
    content_type: Option<&str>,
    cx: &mut CompilePass<'_>,
) -> Option<ResponseTemplate> {
    let mark = cx.problems.mark();
    let status = StatusCode::from_u16(r.status)
        .ok()
        .filter(|_| (100..=599).contains(&r.status));
    if status.is_none() {
        cx.problems.value(
            at(here, &["status"]),
            format!("{} is not an HTTP status (100-599)", r.status),
        );
    }
    let mut headers = Vec::new();
    let mut templated = Vec::new();
    for (name, values) in &r.headers {
        let key = at(here, &["headers", name]);
        let Ok(header_name) = HeaderName::from_bytes(name.as_bytes()) else {
            cx.problems
                .key(key, format!("'{name}' is not a valid header name"));
            continue;
        };
        for v in &values.0 {
            if is_template(v) {
                if let Some(tpl) = cx.text(v, key.clone(), cx.response_names) {
                    templated.push(tpl.clone());
                    headers.push((header_name.clone(), HeaderTemplate::Templated(tpl)));
                }
            } else {
                match HeaderValue::from_str(v) {
                    Ok(value) => headers.push((header_name.clone(), HeaderTemplate::Fixed(value))),
                    Err(_) => cx.problems.value(
                        key.clone(),
                        format!(
                            "{v:?} is not a valid header value (no control characters or newlines)"
                        ),
                    ),
                }
            }
        }
    }
    let kinds = [
        ("body", r.body.is_some()),
        ("text", r.text.is_some()),
        ("file", r.file.is_some()),
    ];
    let given: Vec<&str> = kinds.iter().filter(|k| k.1).map(|k| k.0).collect();
    for extra in given.iter().skip(1) {
        cx.problems.key(
            at(here, &[extra]),
            format!(
                "a response has one of body, text or file; {} is already given",
                given[0]
            ),
        );
    }
    let has_content_type = r
        .headers
        .keys()
        .any(|n| n.eq_ignore_ascii_case(header::CONTENT_TYPE.as_str()));
    let default_type = |ct: &str, headers: &mut Vec<(HeaderName, HeaderTemplate)>| {
        if has_content_type {
            return;
        }
        // Text sent as text/* says its encoding, as a plain `text:` response does.
        let chosen = match content_type {
            Some(t) if t.starts_with("text/") && r.text.is_some() => {
                format!("{t}; charset=utf-8")
            }
            Some(t) => t.to_owned(),
            None => ct.to_owned(),
        };
        // Media types come from `negotiate`, which only lets valid ones through.
        if let Ok(v) = HeaderValue::from_str(&chosen) {
            headers.push((header::CONTENT_TYPE, HeaderTemplate::Fixed(v)));
        }
    };
    let body = if let Some(v) = &r.body {
        default_type("application/json", &mut headers);
        match cx.json(v, at(here, &["body"]), cx.response_names) {
            Some(Template::Fixed(v)) => BodyTemplate::Bytes(Bytes::from(v.to_string())),
            Some(tpl) => {
                templated.push(tpl.clone());
                BodyTemplate::Json(tpl)
            }
            None => BodyTemplate::Empty,
        }
    } else if let Some(text) = &r.text {
        default_type("text/plain; charset=utf-8", &mut headers);
        match cx.text(text, at(here, &["text"]), cx.response_names) {
            Some(Template::Fixed(_)) => BodyTemplate::Bytes(Bytes::from(text.clone())),
            Some(tpl) => {
                templated.push(tpl.clone());
                BodyTemplate::Text(tpl)
            }
            None => BodyTemplate::Empty,
        }
    } else if let Some(relative) = &r.file {
        match resolve_inside(cx.dir, relative, "the spec's folder") {
            Ok(p) if !p.is_file() => cx
                .problems
                .value(at(here, &["file"]), format!("'{relative}' is not a file")),
            Ok(p) => {
                if let Some(what) = cx.private.which(&p) {
                    cx.problems.value(
                        at(here, &["file"]),
                        format!("'{relative}' is {what}, which mockrig never serves"),
                    );
                }
            }
            Err(e) => cx.problems.value(at(here, &["file"]), e.to_string()),
        }
        if let Some(ct) = content_type {
            default_type(ct, &mut headers);
        }
        BodyTemplate::File {
            root: cx.dir.to_path_buf(),
            relative: relative.clone(),
        }
    } else {
        BodyTemplate::Empty
    };
    let delay = match &r.delay {
        Some(d) => match duration::parse_delay(&d.0) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.problems.value(at(here, &["delay"]), e.to_string());
                None
            }
        },
        None => cx.default_delay,
    };
    let throttle = match r.throttle.as_deref().map(duration::parse_rate) {
        Some(Ok(rate)) => Some(rate),
        Some(Err(e)) => {
            cx.problems.value(at(here, &["throttle"]), e.to_string());
            None
        }
        None => None,
    };
    if r.fault.is_some() && r.throttle.is_some() {
        cx.problems.key(
            at(here, &["throttle"]),
            "a response with a fault sends no body to throttle",
        );
    }
    if cx.problems.failed_since(mark) {
        return None;
    }
    let status = status?;
    let etag = match &body {
        // A tag of the spec's own wins; only a fixed body has one to compute.
        _ if headers.iter().any(|(n, _)| n == header::ETAG) => None,
        BodyTemplate::Bytes(b) if status == StatusCode::OK => Some(entity_tag(b)),
        _ => None,
    };
    let t = &cx.templates;
    let reads = |field: &str| templated.iter().any(|tpl| t.reads(tpl, "request", field));
    let reads = (!templated.is_empty()).then(|| RequestParts {
        query: reads("query"),
        headers: reads("headers"),
        cookies: reads("cookies"),
        body: reads("body"),
    });
    Some(ResponseTemplate {
        status,
        headers,
        body,
        etag,
        delay,
        fault: r.fault,
        throttle,
        reads,
        weight: r.weight.unwrap_or(1.0),
    })
}

/// A strong entity tag from the bytes' SHA-256: the same body has the same tag in every run.
fn entity_tag(bytes: &[u8]) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut tag = Vec::with_capacity(26);
    tag.push(b'"');
    for b in &digest.as_ref()[..12] {
        tag.extend([HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
    }
    tag.push(b'"');
    HeaderValue::from_bytes(&tag).expect("hex in quotes is a valid header value")
}
