//! CORS decisions for the mock's own routes (`server.cors`, compiled in `model::cors`), so a
//! page served from another origin can call it from a browser: preflights answered, and every
//! answer carrying the headers that let the page read it. The admin endpoints under
//! `/__mockrig/` take no part: a page on another site must not read the journal or reset the
//! mock through a visitor's browser.

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::model::cors::Cors;

impl Cors {
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
    pub(crate) fn is_preflight(req: &HttpRequest) -> bool {
        req.method() == Method::OPTIONS
            && req.headers().contains_key(header::ORIGIN)
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The answer to a preflight: 204 with what the browser asked for (or what the policy
    /// lists); Err: the 403 for an origin the policy does not allow.
    pub(crate) fn preflight(&self, req: &HttpRequest) -> Result<HttpResponse, ApiError> {
        let Some(origin) = self.allowed(req) else {
            return Err(ApiError::CorsForbidden {
                origin: req
                    .headers()
                    .get(header::ORIGIN)
                    .and_then(|o| o.to_str().ok())
                    .map(str::to_owned),
            });
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
        Ok(r)
    }

    /// Adds the CORS headers to an answer of the mock, when the request came from an allowed
    /// origin.
    pub(crate) fn decorate(&self, req: &HttpRequest, res: &mut HttpResponse) {
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

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;
    use crate::model::testing::compile_yaml;

    fn get(h: &HeaderMap, name: impl header::AsHeaderName) -> &str {
        h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn policy(yaml: &str) -> Cors {
        compile_yaml(&format!("server:\n  cors: {yaml}\n"))
            .0
            .expect("a valid policy")
            .cors
            .expect("CORS on")
    }

    fn preflight(origin: &str) -> TestRequest {
        TestRequest::default()
            .method(Method::OPTIONS)
            .insert_header((header::ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_REQUEST_METHOD, "PUT"))
            .insert_header((header::ACCESS_CONTROL_REQUEST_HEADERS, "x-token"))
    }

    #[test]
    fn any_origin_is_reflected_with_credentials_and_gets_what_it_asked() {
        let cors = policy("true");
        let req = preflight("http://localhost:5173").to_http_request();
        assert!(Cors::is_preflight(&req));
        let res = cors.preflight(&req).unwrap();
        let h = res.headers();
        assert_eq!(res.status(), 204);
        assert_eq!(
            get(h, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "http://localhost:5173"
        );
        assert_eq!(get(h, header::ACCESS_CONTROL_ALLOW_CREDENTIALS), "true");
        assert_eq!(get(h, header::ACCESS_CONTROL_ALLOW_METHODS), "PUT");
        assert_eq!(get(h, header::ACCESS_CONTROL_ALLOW_HEADERS), "x-token");
        assert_eq!(get(h, header::VARY), "Origin");
    }

    #[test]
    fn a_listed_policy_refuses_other_origins_and_names_its_own_lists() {
        let cors = policy(
            "{ origins: ['https://app.example.com/'], methods: [GET, POST], headers: [x-a], max_age: 60, credentials: false }",
        );
        let refused = cors.preflight(&preflight("https://evil.example").to_http_request());
        assert!(
            matches!(refused, Err(ApiError::CorsForbidden { origin: Some(o) }) if o == "https://evil.example")
        );
        let res = cors
            .preflight(&preflight("https://APP.example.com").to_http_request())
            .unwrap();
        let h = res.headers();
        assert_eq!(
            get(h, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "https://APP.example.com"
        );
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        assert_eq!(get(h, header::ACCESS_CONTROL_ALLOW_METHODS), "GET, POST");
        assert_eq!(get(h, header::ACCESS_CONTROL_ALLOW_HEADERS), "x-a");
        assert_eq!(get(h, header::ACCESS_CONTROL_MAX_AGE), "60");
    }

    #[test]
    fn an_answer_exposes_its_own_headers_to_an_allowed_origin_only() {
        let cors = policy("{ credentials: false }");
        let answer = || {
            HttpResponse::Ok()
                .insert_header(("x-total-count", "3"))
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .finish()
        };
        let req = TestRequest::default()
            .insert_header((header::ORIGIN, "http://localhost:3000"))
            .to_http_request();
        let mut res = answer();
        cors.decorate(&req, &mut res);
        let h = res.headers();
        assert_eq!(
            get(h, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "*",
            "no credentials: any origin"
        );
        assert_eq!(
            get(h, header::ACCESS_CONTROL_EXPOSE_HEADERS),
            "x-total-count",
            "safelisted headers need no exposing"
        );
        let mut res = answer();
        cors.decorate(&TestRequest::default().to_http_request(), &mut res);
        assert!(
            res.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
        assert_eq!(
            get(res.headers(), header::VARY),
            "Origin",
            "caches keep origins apart"
        );
    }

    #[test]
    fn chrome_private_network_preflights_are_allowed() {
        let cors = policy("true");
        let req = preflight("https://public.example")
            .insert_header(("access-control-request-private-network", "true"))
            .to_http_request();
        let res = cors.preflight(&req).unwrap();
        assert_eq!(
            get(res.headers(), "access-control-allow-private-network"),
            "true"
        );
    }
}
