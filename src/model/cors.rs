//! `server.cors` compiled: the origins, methods and headers a browser page on another origin
//! may use, as ready header values. The decisions per request are the engine's
//! (`engine::cors`).

use actix_web::http::header::{HeaderName, HeaderValue};

use crate::spec::locate::{at, index};
use crate::spec::{self};

use super::problems::Problems;

/// A compiled `server.cors`.
#[derive(Debug, Clone)]
pub(crate) struct Cors {
    /// None: any origin.
    pub(crate) origins: Option<Vec<String>>,
    pub(crate) methods: Option<HeaderValue>,
    pub(crate) headers: Option<HeaderValue>,
    /// None: every header of the response.
    pub(crate) expose: Option<HeaderValue>,
    pub(crate) max_age: Option<HeaderValue>,
    pub(crate) credentials: bool,
}

/// Compiles `server.cors`; `None` when it is off or has errors (reported).
pub(crate) fn compile(c: &spec::Cors, problems: &mut Problems) -> Option<Cors> {
    let policy = match c {
        spec::Cors::Enabled(false) => return None,
        spec::Cors::Enabled(true) => spec::CorsPolicy {
            credentials: true,
            ..Default::default()
        },
        spec::Cors::Detailed(p) => p.clone(),
    };
    let mark = problems.mark();
    let key = |k: &str, i: usize| index(&at(&[], &["server", "cors", k]), i);
    for (i, o) in policy.origins.iter().enumerate() {
        let origin_ok = o == "*"
            || o.split_once("://").is_some_and(|(scheme, host)| {
                matches!(scheme, "http" | "https")
                    && !host.trim_end_matches('/').is_empty()
                    && !host.trim_end_matches('/').contains(['/', ' ', '*'])
            });
        if !origin_ok {
            problems.value(
                key("origins", i),
                format!(
                    "'{o}' is not an origin (scheme://host[:port], e.g. http://localhost:5173) or *"
                ),
            );
        }
    }
    for (i, m) in policy.methods.iter().enumerate() {
        if actix_web::http::Method::from_bytes(m.as_bytes()).is_err() || m.is_empty() {
            problems.value(key("methods", i), format!("'{m}' is not an HTTP method"));
        }
    }
    for (what, list) in [("headers", &policy.headers), ("expose", &policy.expose)] {
        for (i, h) in list.iter().enumerate() {
            if HeaderName::from_bytes(h.as_bytes()).is_err() {
                problems.value(key(what, i), format!("'{h}' is not a header name"));
            }
        }
    }
    if problems.failed_since(mark) {
        return None;
    }
    // Checked above: every item is a token, so the joined lists are valid header values.
    let list = |items: &[String]| {
        (!items.is_empty())
            .then(|| HeaderValue::from_str(&items.join(", ")).ok())
            .flatten()
    };
    let any = policy.origins.is_empty() || policy.origins.iter().any(|o| o == "*");
    Some(Cors {
        origins: (!any).then(|| {
            policy
                .origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect()
        }),
        methods: list(&policy.methods),
        headers: list(&policy.headers),
        expose: list(&policy.expose),
        max_age: policy.max_age.map(HeaderValue::from),
        credentials: policy.credentials,
    })
}
