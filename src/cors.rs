//! CORS for the mock's own routes (`server.cors`), so a page served from another origin can
//! call it from a browser: preflights answered, and every answer carrying the headers that let
//! the page read it. The admin endpoints under `/__mockrig/` take no part: a page on another
//! site must not read the journal or reset the mock through a visitor's browser.

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use crate::spec;

/// A compiled `server.cors`.
#[derive(Debug, Clone)]
pub struct Cors {
    /// None: any origin.
    origins: Option<Vec<String>>,
    methods: Option<HeaderValue>,
    headers: Option<HeaderValue>,
    /// None: every header of the response.
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    credentials: bool,
}

impl Cors {
    pub fn compile(c: &spec::Cors) -> Result<Option<Cors>, String> {
        let policy = match c {
            spec::Cors::Enabled(false) => return Ok(None),
            spec::Cors::Enabled(true) => spec::CorsPolicy {
                credentials: true,
                ..Default::default()
            },
            spec::Cors::Detailed(p) => p.clone(),
        };
        let list = |items: &[String], what: &str| -> Result<Option<HeaderValue>, String> {
            if items.is_empty() {
                return Ok(None);
            }
            HeaderValue::from_str(&items.join(", "))
                .map(Some)
                .map_err(|_| format!("cors.{what}: not valid in a header"))
        };
        let any = policy.origins.is_empty() || policy.origins.iter().any(|o| o == "*");
        Ok(Some(Cors {
            origins: (!any).then(|| {
                policy
                    .origins
                    .iter()
                    .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                    .collect()
            }),
            methods: list(&policy.methods, "methods")?,
            headers: list(&policy.headers, "headers")?,
            expose: list(&policy.expose, "expose")?,
            max_age: policy.max_age.map(HeaderValue::from),
            credentials: policy.credentials,
        }))
    }

    /// The request's `Origin` when this policy allows it.
    fn allowed<'r>(&self, req: &'r HttpRequest) -> Option<&'r HeaderValue> {
        let origin = req.headers().get(header::ORIGIN)?;
        match &self.origins {
            None => Some(origin),
            Some(list) => {
                let o = origin.to_str().ok()?.to_ascii_lowercase();
                list.contains(&o).then_some(origin)
            }
        }
    }

    /// Whether `req` is a preflight: OPTIONS from a browser asking before the real request.
    pub fn is_preflight(req: &HttpRequest) -> bool {
        req.method() == Method::OPTIONS
            && req.headers().contains_key(header::ORIGIN)
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The answer to a preflight: 204 with what the browser asked for (or what the policy
    /// lists), or 403 when the origin is not allowed.
    pub fn preflight(&self, req: &HttpRequest) -> HttpResponse {
        let Some(origin) = self.allowed(req) else {
            let mut r = crate::server::json_error(
                StatusCode::FORBIDDEN,
                json!({"error": "CORS: this origin is not allowed (server.cors.origins)",
                       "origin": req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok())}),
            );
            vary(r.headers_mut());
            return r;
        };
        let mut r = HttpResponse::NoContent().finish();
        let h = r.headers_mut();
        self.allow_origin(h, origin);
        let asked = |name: HeaderName| req.headers().get(name).cloned();
        if let Some(m) = self
            .methods
            .clone()
            .or_else(|| asked(header::ACCESS_CONTROL_REQUEST_METHOD))
        {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
        }
        if let Some(v) = self
            .headers
            .clone()
            .or_else(|| asked(header::ACCESS_CONTROL_REQUEST_HEADERS))
        {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(age) = &self.max_age {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        // Chrome asks before a public page may call a private address such as localhost.
        if req
            .headers()
            .get("access-control-request-private-network")
            .is_some_and(|v| v == "true")
        {
            h.insert(
                HeaderName::from_static("access-control-allow-private-network"),
                HeaderValue::from_static("true"),
            );
        }
        vary(h);
        r
    }

    /// Adds the CORS headers to an answer of the mock, when the request came from an allowed
    /// origin.
    pub fn decorate(&self, req: &HttpRequest, res: &mut HttpResponse) {
        let h = res.headers_mut();
        vary(h);
        let Some(origin) = self.allowed(req) else {
            return;
        };
        self.allow_origin(h, origin);
        let expose = match &self.expose {
            Some(list) => Some(list.clone()),
            None => {
                // Everything the response has beyond what browsers always let a page read.
                let names: Vec<&str> = h
                    .keys()
                    .map(|n| n.as_str())
                    .filter(|n| !is_safelisted(n) && !n.starts_with("access-control-"))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                (!names.is_empty())
                    .then(|| HeaderValue::from_str(&names.join(", ")).ok())
                    .flatten()
            }
        };
        if let Some(e) = expose {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, e);
        }
    }

    fn allow_origin(&self, h: &mut HeaderMap, origin: &HeaderValue) {
        // `*` cannot go with credentials, so with them the origin itself is named.
        if self.credentials || self.origins.is_some() {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        } else {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        if self.credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

/// The answer depends on `Origin`: caches must not give one origin's answer to another.
fn vary(h: &mut HeaderMap) {
    let has_origin = h
        .get_all(header::VARY)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin") || v.trim() == "*");
    if !has_origin {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// Response headers a page can always read (the CORS-safelisted response headers).
fn is_safelisted(name: &str) -> bool {
    matches!(
        name,
        "cache-control"
            | "content-language"
            | "content-length"
            | "content-type"
            | "expires"
            | "last-modified"
            | "pragma"
            | "vary"
    )
}
