//! A compiled response ([`ResponseTemplate`]) turned into the HTTP answer: fixed parts copied,
//! templates rendered with the request's context, files streamed, `If-None-Match` honoured,
//! faults and throttling applied.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use serde_json::Value;

use super::fault;
use crate::error::ApiError;
use crate::files::resolve_inside;
use crate::model::compiled::CompiledSpec;
use crate::model::private::PrivateFiles;
use crate::model::response::{BodyTemplate, HeaderTemplate, ResponseTemplate};

/// Builds the HTTP response from `spec`'s templates. `route` names the route in errors (a
/// vanished file, a template that failed); `ctx` is the template context, given when the
/// response reads the request.
pub(crate) async fn respond(
    t: &ResponseTemplate,
    req: &HttpRequest,
    route: &Arc<str>,
    spec: &CompiledSpec,
    ctx: Option<&minijinja::Value>,
) -> Result<HttpResponse, ApiError> {
    let templates = &spec.templates;
    let template_error = |reason: String| ApiError::Template {
        route: route.clone(),
        reason,
    };
    let unit = minijinja::Value::from(());
    let ctx = ctx.unwrap_or(&unit);
    let mut b = HttpResponse::build(t.status);
    for (name, value) in &t.headers {
        match value {
            HeaderTemplate::Fixed(v) => {
                b.append_header((name.clone(), v.clone()));
            }
            HeaderTemplate::Templated(tpl) => {
                let text = match templates.try_render(tpl, ctx) {
                    Ok(Value::String(s)) => s,
                    Ok(other) => other.to_string(),
                    Err(e) => return Err(template_error(format!("headers.{name}: {e}"))),
                };
                match HeaderValue::from_str(&text) {
                    Ok(v) => {
                        b.append_header((name.clone(), v));
                    }
                    Err(_) => {
                        return Err(template_error(format!(
                            "headers.{name}: {text:?} is not a valid header value"
                        )));
                    }
                }
            }
        }
    }
    let body = match &t.body {
        BodyTemplate::Empty => Bytes::new(),
        BodyTemplate::Bytes(bytes) => bytes.clone(),
        BodyTemplate::Json(tpl) => {
            let mut out = Vec::with_capacity(256);
            templates
                .try_render_json(tpl, ctx, &mut out)
                .map_err(|e| template_error(format!("body: {e}")))?;
            Bytes::from(out)
        }
        BodyTemplate::Text(tpl) => match templates.try_render(tpl, ctx) {
            Ok(Value::String(s)) => Bytes::from(s),
            Ok(other) => Bytes::from(other.to_string()),
            Err(e) => return Err(template_error(format!("text: {e}"))),
        },
        BodyTemplate::File { root, relative } => {
            return respond_file(t, req, route, (root, relative, &spec.private), b).await;
        }
    };
    if let Some(f) = t.fault {
        return Ok(fault::respond(req, b, f, body.len() as u64));
    }
    if let Some(tag) = &t.etag {
        b.insert_header((header::ETAG, tag.clone()));
        if not_modified(req, tag) {
            return Ok(b.status(StatusCode::NOT_MODIFIED).finish());
        }
    }
    Ok(match t.throttle {
        Some(rate) => b.body(fault::Throttled::new(BoxBody::new(body), rate)),
        None => b.body(body),
    })
}

/// A `file:` body: resolved again for every request, so a file swapped for a link after
/// load leads nowhere outside the folder, nor to a file mockrig writes.
async fn respond_file(
    t: &ResponseTemplate,
    req: &HttpRequest,
    route: &Arc<str>,
    (root, relative, private): (&Path, &str, &PrivateFiles),
    mut b: HttpResponseBuilder,
) -> Result<HttpResponse, ApiError> {
    if let Some(f) = t.fault {
        return Ok(fault::respond(req, b, f, 1));
    }
    let file = resolve_inside(root, relative, "the spec's folder")
        .map_err(|e| e.to_string())
        .and_then(|p| match private.which(&p) {
            Some(what) => Err(format!(
                "'{relative}' is {what}, which mockrig never serves"
            )),
            None => Ok(p),
        })
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e));
    let served = match file {
        Ok(path) => serve_file(req, path, t.status).await,
        Err(e) => Err(e),
    };
    let mut res = served.map_err(|e| ApiError::ResponseFile {
        route: route.clone(),
        file: relative.to_owned(),
        reason: e.to_string(),
    })?;
    // The spec's headers win over what the file service guessed.
    let spec_headers = b.finish();
    let h = res.headers_mut();
    for (name, _) in spec_headers.headers() {
        h.remove(name);
    }
    for (name, value) in spec_headers.headers() {
        h.append(name.clone(), value.clone());
    }
    Ok(match t.throttle {
        Some(rate) => res.map_body(|_, body| BoxBody::new(fault::Throttled::new(body, rate))),
        None => res,
    })
}

/// Whether a GET or HEAD carries an `If-None-Match` that names `tag` (or `*`); weak tags
/// compare as equal, as RFC 9110 §13.1.2 asks of this header.
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

/// Streams a file with its content type, `ETag` and range support. Opening happens on the
/// blocking pool so a slow disk never stalls a worker.
pub(crate) async fn serve_file(
    req: &HttpRequest,
    path: PathBuf,
    status: StatusCode,
) -> std::io::Result<HttpResponse> {
    let file = actix_web::web::block(move || {
        // A FIFO swapped in after load would hold a blocking thread until a writer came.
        if !std::fs::metadata(&path)?.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        actix_files::NamedFile::open(path)
    })
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
