//! Responses compiled once at load: status, header pairs and body bytes are ready to copy, so
//! answering a request with a static response clones a few reference-counted buffers and
//! serializes nothing. Templated parts are compiled templates, rendered per request.
//!
//! A route's [`Responder`] picks which response answers: its only one, the next of a sequence,
//! or the alternative the `Accept` header asks for ([`negotiate`]). [`fault`] has the failures
//! on purpose and the throttled body.

pub mod fault;
pub mod negotiate;

use std::path::PathBuf;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use rand::RngExt;
use serde_json::{Value, json};

use crate::files::resolve_inside;
use crate::server::json_error;
use crate::spec::duration::{self, Delay};
use crate::spec::{self, Fault, Sequence};
use crate::template::context::Needs;
use crate::template::{Builder, Templates, Tpl};

/// A header value: fixed, or a template.
#[derive(Debug)]
pub enum HeaderTpl {
    Fixed(HeaderValue),
    Tpl(Tpl),
}

/// A response ready to send.
#[derive(Debug)]
pub struct Prepared {
    pub status: StatusCode,
    /// In spec order; a repeated name is sent once per value.
    pub headers: Vec<(HeaderName, HeaderTpl)>,
    pub body: Body,
    /// For a fixed body: its entity tag, for `If-None-Match`.
    pub etag: Option<HeaderValue>,
    pub delay: Option<Delay>,
    pub fault: Option<Fault>,
    /// Bytes per second.
    pub throttle: Option<u64>,
    /// Set when something is templated: what of the request the templates read.
    pub needs: Option<Needs>,
    /// With `sequence: random`: relative weight.
    pub weight: f64,
}

#[derive(Debug)]
pub enum Body {
    Empty,
    Bytes(Bytes),
    /// A file inside the spec's folder, streamed per request. Resolved again each time, so a
    /// symlink put in its place after load cannot lead outside the folder.
    File {
        root: PathBuf,
        relative: String,
    },
    /// JSON with templates inside.
    Json(Tpl),
    /// Text with templates inside.
    Text(Tpl),
}

/// The variables response templates may read: anything else is a typo, reported at load.
pub const TEMPLATE_NAMES: &[&str] = &["request", "params"];

impl Prepared {
    /// Compiles a validated response; `root` is the spec's canonical folder. `content_type`
    /// is the default for a body (a `content:` alternative's media type), instead of JSON or
    /// text.
    pub fn compile(
        r: &spec::Response,
        root: &std::path::Path,
        default_delay: Option<Delay>,
        t: &mut Builder,
        content_type: Option<&str>,
    ) -> Result<Prepared, String> {
        let status =
            StatusCode::from_u16(r.status).map_err(|_| format!("bad status {}", r.status))?;
        let mut headers = Vec::new();
        let mut templated = Vec::new();
        for (name, values) in &r.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("'{name}' is not a valid header name"))?;
            for v in &values.0 {
                let value = if crate::template::is_template(v) {
                    let tpl = t.text(v).map_err(|e| format!("headers.{name}: {e}"))?;
                    templated.push(tpl.clone());
                    HeaderTpl::Tpl(tpl)
                } else {
                    HeaderTpl::Fixed(
                        HeaderValue::from_str(v)
                            .map_err(|_| format!("{v:?} is not a valid header value"))?,
                    )
                };
                headers.push((name.clone(), value));
            }
        }
        let has_content_type = headers.iter().any(|(n, _)| n == header::CONTENT_TYPE);
        let mut default_type = |ct: &str| -> Result<(), String> {
            if !has_content_type {
                // Text sent as text/* says its encoding, as a plain `text:` response does.
                let chosen = match content_type {
                    Some(t) if t.starts_with("text/") && r.text.is_some() => {
                        format!("{t}; charset=utf-8")
                    }
                    Some(t) => t.to_owned(),
                    None => ct.to_owned(),
                };
                let v = HeaderValue::from_str(&chosen)
                    .map_err(|_| format!("'{chosen}' is not a media type"))?;
                headers.push((header::CONTENT_TYPE, HeaderTpl::Fixed(v)));
            }
            Ok(())
        };
        let body = if let Some(v) = &r.body {
            default_type("application/json")?;
            match t.json(v).map_err(|e| format!("body: {e}"))? {
                Tpl::Fixed(v) => Body::Bytes(Bytes::from(
                    serde_json::to_vec(&v).map_err(|e| format!("body: {e}"))?,
                )),
                tpl => {
                    templated.push(tpl.clone());
                    Body::Json(tpl)
                }
            }
        } else if let Some(text) = &r.text {
            default_type("text/plain; charset=utf-8")?;
            match t.text(text).map_err(|e| format!("text: {e}"))? {
                Tpl::Fixed(_) => Body::Bytes(Bytes::from(text.clone())),
                tpl => {
                    templated.push(tpl.clone());
                    Body::Text(tpl)
                }
            }
        } else if let Some(relative) = &r.file {
            if let Some(ct) = content_type {
                default_type(ct)?;
            }
            Body::File {
                root: root.to_path_buf(),
                relative: relative.clone(),
            }
        } else {
            Body::Empty
        };
        let etag = match &body {
            // A tag of the spec's own wins; only a fixed body has one to compute.
            _ if headers.iter().any(|(n, _)| n == header::ETAG) => None,
            Body::Bytes(b) if status == StatusCode::OK => Some(entity_tag(b)),
            _ => None,
        };
        let delay = match &r.delay {
            Some(d) => Some(duration::parse_delay(&d.0)?),
            None => default_delay,
        };
        let reads = |field: &str| templated.iter().any(|tpl| t.reads(tpl, "request", field));
        let needs = (!templated.is_empty()).then(|| Needs {
            query: reads("query"),
            headers: reads("headers"),
            cookies: reads("cookies"),
            body: reads("body"),
        });
        Ok(Prepared {
            status,
            headers,
            body,
            etag,
            delay,
            fault: r.fault,
            throttle: r
                .throttle
                .as_deref()
                .map(duration::parse_rate)
                .transpose()?,
            needs,
            weight: r.weight.unwrap_or(1.0),
        })
    }

    /// How long to wait before answering.
    pub fn delay(&self) -> Option<Duration> {
        draw(self.delay)
    }

    /// Builds the HTTP response. `route` names the route in errors (a vanished file, a
    /// template that failed); `ctx` is the template context, given when `needs` is set.
    pub async fn respond(
        &self,
        req: &HttpRequest,
        route: &str,
        templates: &Templates,
        ctx: Option<&minijinja::Value>,
    ) -> HttpResponse {
        let template_error = |reason: String| {
            mockrig_error(json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "a template of the response failed", "route": route, "reason": reason}),
            ))
        };
        let unit = minijinja::Value::from(());
        let ctx = ctx.unwrap_or(&unit);
        let mut b = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            match value {
                HeaderTpl::Fixed(v) => {
                    b.append_header((name.clone(), v.clone()));
                }
                HeaderTpl::Tpl(tpl) => {
                    let text = match templates.try_render(tpl, ctx) {
                        Ok(Value::String(s)) => s,
                        Ok(other) => other.to_string(),
                        Err(e) => return template_error(format!("headers.{name}: {e}")),
                    };
                    match HeaderValue::from_str(&text) {
                        Ok(v) => {
                            b.append_header((name.clone(), v));
                        }
                        Err(_) => {
                            return template_error(format!(
                                "headers.{name}: {text:?} is not a valid header value"
                            ));
                        }
                    }
                }
            }
        }
        let body = match &self.body {
            Body::Empty => Bytes::new(),
            Body::Bytes(bytes) => bytes.clone(),
            Body::Json(tpl) => {
                let mut out = Vec::with_capacity(256);
                match templates.try_render_json(tpl, ctx, &mut out) {
                    Ok(()) => Bytes::from(out),
                    Err(e) => return template_error(format!("body: {e}")),
                }
            }
            Body::Text(tpl) => match templates.try_render(tpl, ctx) {
                Ok(Value::String(s)) => Bytes::from(s),
                Ok(other) => Bytes::from(other.to_string()),
                Err(e) => return template_error(format!("text: {e}")),
            },
            Body::File { root, relative } => {
                return self.respond_file(req, route, root, relative, b).await;
            }
        };
        if let Some(fault) = self.fault {
            return fault::respond(req, b, fault, body.len() as u64);
        }
        if let Some(tag) = &self.etag {
            b.insert_header((header::ETAG, tag.clone()));
            if not_modified(req, tag) {
                return b.status(StatusCode::NOT_MODIFIED).finish();
            }
        }
        match self.throttle {
            Some(rate) => b.body(fault::Throttled::new(BoxBody::new(body), rate)),
            None => b.body(body),
        }
    }

    async fn respond_file(
        &self,
        req: &HttpRequest,
        route: &str,
        root: &std::path::Path,
        relative: &str,
        mut b: actix_web::HttpResponseBuilder,
    ) -> HttpResponse {
        if let Some(fault) = self.fault {
            return fault::respond(req, b, fault, 1);
        }
        let file = resolve_inside(root, relative, "the spec's folder")
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()));
        let served = match file {
            Ok(path) => serve_file(req, path, self.status).await,
            Err(e) => Err(e),
        };
        let mut res = match served {
            Ok(res) => res,
            Err(e) => {
                return json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({
                        "error": "the response file cannot be read",
                        "route": route,
                        "file": relative,
                        "reason": e.to_string(),
                    }),
                );
            }
        };
        // The spec's headers win over what the file service guessed.
        let spec_headers = b.finish();
        let h = res.headers_mut();
        for (name, _) in spec_headers.headers() {
            h.remove(name);
        }
        for (name, value) in spec_headers.headers() {
            h.append(name.clone(), value.clone());
        }
        match self.throttle {
            Some(rate) => res.map_body(|_, body| BoxBody::new(fault::Throttled::new(body, rate))),
            None => res,
        }
    }
}

/// Marks an answer mockrig gave instead of the route's (a template that failed, a 406).
struct MockrigError;

fn mockrig_error(mut res: HttpResponse) -> HttpResponse {
    res.extensions_mut().insert(MockrigError);
    res
}

/// Whether the answer is mockrig's own error rather than what the route says.
pub fn is_mockrig_error(res: &HttpResponse) -> bool {
    res.extensions().get::<MockrigError>().is_some()
}

/// A delay's wait; a range draws from the template generator, so `--seed` fixes it too.
pub fn draw(delay: Option<Delay>) -> Option<Duration> {
    let d = delay?;
    let wait = if d.min == d.max {
        d.min
    } else {
        crate::template::functions::with_rng(|r| r.random_range(d.min..=d.max))
    };
    (!wait.is_zero()).then_some(wait)
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

/// Whether a GET or HEAD carries an `If-None-Match` that names `tag` (or `*`); weak tags compare
/// as equal, as RFC 9110 §13.1.2 asks of this header.
fn not_modified(req: &HttpRequest, tag: &HeaderValue) -> bool {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return false;
    }
    let tag = tag.as_bytes();
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/").as_bytes() == tag)
}

/// Which of a route's responses answers a request.
#[derive(Debug)]
pub enum Responder {
    One(Prepared),
    Sequence {
        mode: Sequence,
        list: Vec<Prepared>,
    },
    /// Alternatives by `Accept`: each with the media types it answers for.
    Negotiate(Vec<(Vec<String>, Prepared)>),
}

impl Responder {
    /// Whether answering depends on how many times the route answered before: always for a
    /// sequence; with `seeded`, also for templates and random delays, whose values follow
    /// from the count. Anything else keeps no count, and takes no lock for one.
    pub fn counted(&self, seeded: bool) -> bool {
        let dynamic = |p: &Prepared| p.needs.is_some() || p.delay.is_some_and(|d| d.min != d.max);
        match self {
            Responder::Sequence { .. } => true,
            _ if !seeded => false,
            Responder::One(p) => dynamic(p),
            Responder::Negotiate(list) => list.iter().any(|(_, p)| dynamic(p)),
        }
    }

    /// The response for this request: `n` is how many times the route answered before.
    /// Err: the 406 of a negotiation nothing in `Accept` fits.
    pub fn choose(&self, req: &HttpRequest, n: u64) -> Result<&Prepared, Box<HttpResponse>> {
        match self {
            Responder::One(p) => Ok(p),
            Responder::Sequence { mode, list } => {
                let len = list.len() as u64;
                let i = match mode {
                    Sequence::Last => n.min(len - 1),
                    Sequence::Cycle => n % len,
                    Sequence::Random => {
                        let total: f64 = list.iter().map(|p| p.weight).sum();
                        let mut x =
                            crate::template::functions::with_rng(|r| r.random_range(0.0..total));
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
            Responder::Negotiate(list) => {
                let accept = req
                    .headers()
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok());
                match negotiate::choose(accept, list.iter().map(|(t, _)| t.as_slice())) {
                    Some(i) => Ok(&list[i].1),
                    None => Err(Box::new(mockrig_error(json_error(
                        StatusCode::NOT_ACCEPTABLE,
                        json!({
                            "error": "none of the available media types is acceptable",
                            "accept": accept,
                            "available": list.iter().map(|(t, _)| &t[0]).collect::<Vec<_>>(),
                        }),
                    )))),
                }
            }
        }
    }

    /// Every response it may give.
    pub fn all(&self) -> Vec<&Prepared> {
        match self {
            Responder::One(p) => vec![p],
            Responder::Sequence { list, .. } => list.iter().collect(),
            Responder::Negotiate(list) => list.iter().map(|(_, p)| p).collect(),
        }
    }

    /// Whether alternatives by `Accept` exist, so caches must keep them apart (`Vary`).
    pub fn negotiates(&self) -> bool {
        matches!(self, Responder::Negotiate(_))
    }
}

/// Streams a file with its content type, `ETag` and range support. Opening happens on the
/// blocking pool so a slow disk never stalls a worker.
pub async fn serve_file(
    req: &HttpRequest,
    path: PathBuf,
    status: StatusCode,
) -> std::io::Result<HttpResponse> {
    let file = actix_web::web::block(move || actix_files::NamedFile::open(path))
        .await
        .map_err(std::io::Error::other)??;
    let mut res = file
        .disable_content_disposition()
        .prefer_utf8(true)
        .into_response(req);
    // A 304 or 206 from the file service is the right answer to a conditional or range
    // request; only a plain 200 takes the route's status.
    if res.status() == StatusCode::OK {
        *res.status_mut() = status;
    }
    Ok(res)
}
