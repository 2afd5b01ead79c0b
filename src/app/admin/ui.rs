//! The dashboard's page (`/__mockrig/ui`): three files embedded in the binary, so it works
//! offline and needs no build step. They carry no data (that comes from the admin API, behind
//! its token), so they are served without one; the Host and Origin rules still apply. The
//! Content-Security-Policy allows nothing but this server: no inline script a hostile request
//! path could smuggle in would run, and nothing is fetched from anywhere else.

use actix_web::HttpResponse;
use actix_web::http::header;

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");

pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // The files change with the binary: always ask, never keep a stale page.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

pub(crate) async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

pub(crate) async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub(crate) async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// Whether `path` is one of the page's files: served without the token.
pub(crate) fn is_page(path: &str) -> bool {
    matches!(
        path.strip_prefix(crate::model::problems::RESERVED_PREFIX),
        Some("/ui" | "/ui/" | "/ui/app.js" | "/ui/app.css")
    )
}
