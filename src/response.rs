//! Responses compiled once at load: status, header pairs and body bytes are ready to copy, so
//! answering a request clones a few reference-counted buffers and serializes nothing.

use std::path::PathBuf;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use crate::files::resolve_inside;
use crate::spec::{self, duration};

/// A response ready to send.
#[derive(Debug)]
pub struct Prepared {
    pub status: StatusCode,
    /// In spec order; a repeated name is sent once per value.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Body,
    pub delay: Option<Duration>,
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
}

impl Prepared {
    /// Compiles a validated response; `root` is the spec's canonical folder.
    pub fn compile(
        r: &spec::Response,
        root: &std::path::Path,
        default_delay: Option<Duration>,
    ) -> Result<Prepared, String> {
        let status =
            StatusCode::from_u16(r.status).map_err(|_| format!("bad status {}", r.status))?;
        let mut headers = Vec::new();
        for (name, values) in &r.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("'{name}' is not a valid header name"))?;
            for v in &values.0 {
                let value = HeaderValue::from_str(v)
                    .map_err(|_| format!("{v:?} is not a valid header value"))?;
                headers.push((name.clone(), value));
            }
        }
        let has_content_type = headers.iter().any(|(n, _)| n == header::CONTENT_TYPE);
        let mut default_type = |ct: &'static str| {
            if !has_content_type {
                headers.push((header::CONTENT_TYPE, HeaderValue::from_static(ct)));
            }
        };
        let body = if let Some(v) = &r.body {
            default_type("application/json");
            Body::Bytes(Bytes::from(
                serde_json::to_vec(v).map_err(|e| format!("body: {e}"))?,
            ))
        } else if let Some(t) = &r.text {
            default_type("text/plain; charset=utf-8");
            Body::Bytes(Bytes::from(t.clone()))
        } else if let Some(relative) = &r.file {
            Body::File {
                root: root.to_path_buf(),
                relative: relative.clone(),
            }
        } else {
            Body::Empty
        };
        let delay = match &r.delay {
            Some(d) => Some(duration::parse(&d.0)?),
            None => default_delay,
        };
        Ok(Prepared {
            status,
            headers,
            body,
            delay,
        })
    }

    /// Builds the HTTP response; `route` names the route in an error about a vanished file.
    pub async fn respond(&self, req: &HttpRequest, route: &str) -> HttpResponse {
        match &self.body {
            Body::Empty => self.with_headers(HttpResponse::build(self.status)).finish(),
            Body::Bytes(b) => self
                .with_headers(HttpResponse::build(self.status))
                .body(b.clone()),
            Body::File { root, relative } => {
                let file = resolve_inside(root, relative, "the spec's folder")
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()));
                let served = match file {
                    Ok(path) => serve_file(req, path, self.status).await,
                    Err(e) => Err(e),
                };
                let mut res = match served {
                    Ok(res) => res,
                    Err(e) => {
                        return crate::server::json_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            serde_json::json!({
                                "error": "the response file cannot be read",
                                "route": route,
                                "file": relative,
                                "reason": e.to_string(),
                            }),
                        );
                    }
                };
                // The spec's headers win over what the file service guessed.
                let h = res.headers_mut();
                for (name, _) in &self.headers {
                    h.remove(name);
                }
                for (name, value) in &self.headers {
                    h.append(name.clone(), value.clone());
                }
                res
            }
        }
    }

    fn with_headers(
        &self,
        mut b: actix_web::HttpResponseBuilder,
    ) -> actix_web::HttpResponseBuilder {
        for (name, value) in &self.headers {
            b.append_header((name.clone(), value.clone()));
        }
        b
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
