//! `proxy:` on a route and `server.fallback.proxy`: a backend compiled once into where and how
//! requests are passed (`engine::upstream` passes them).

use std::time::Duration;

use actix_web::http::Uri;
use actix_web::http::header::{HeaderName, HeaderValue};

use crate::duration;
use crate::spec::locate::{KeyPath, at};
use crate::spec::{self};
use crate::suggest::did_you_mean;

use super::problems::Problems;
use super::router::{Pattern, Segment};

/// How long a backend has to start answering (and between two parts of its answer) when the
/// spec says nothing: long enough for a slow real service, short enough that a hung one
/// becomes a 504 before a browser gives up.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Request headers a proxy never passes on (RFC 9110 §7.6.1), besides those the `Connection`
/// header names. `Host` is set for the backend unless `keep_host`.
pub(crate) const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A backend requests are passed to, and how.
#[derive(Debug)]
pub(crate) struct ProxyTarget {
    /// The base URL as written: shown in errors, logs and the journal.
    pub(crate) url: String,
    pub(crate) https: bool,
    /// `host:port` of the backend (the port made explicit).
    pub(crate) authority: String,
    /// The `Host` header the backend expects: the base URL's host, with its port when given.
    pub(crate) host_header: HeaderValue,
    /// The base URL's path without its trailing `/` (empty for the root).
    pub(crate) base_path: String,
    /// `path:` rewritten from the route's captures.
    pub(crate) rewrite: Option<Pattern>,
    pub(crate) strip_prefix: Option<String>,
    pub(crate) set_headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) remove_headers: Vec<HeaderName>,
    pub(crate) keep_host: bool,
    pub(crate) timeout: Duration,
}

/// Compiles a `proxy:` at `here`. `captures` are the names the route's path captures, which a
/// `path:` rewrite may use (none for the fallback).
pub(crate) fn compile(
    p: &spec::Proxy,
    here: &KeyPath,
    captures: &[&str],
    problems: &mut Problems,
) -> Option<ProxyTarget> {
    let o = p.options();
    let url_key = match p {
        spec::Proxy::Url(_) => here.clone(),
        spec::Proxy::Detailed(_) => at(here, &["url"]),
    };
    let mark = problems.mark();
    let base = match parse_base(&o.url) {
        Ok(b) => Some(b),
        Err(e) => {
            problems.value(url_key, e);
            None
        }
    };
    let rewrite = o.path.as_ref().and_then(|text| match Pattern::parse(text) {
        Ok(pattern) => {
            for s in &pattern.segments {
                if let Segment::Param(name) | Segment::CatchAll(name) = s
                    && !captures.contains(&name.as_str())
                {
                    let hint = did_you_mean(name, captures)
                        .map(|s| format!("; did you mean '{s}'?"))
                        .unwrap_or_default();
                    let known = if captures.is_empty() {
                        "the route's path captures nothing".to_owned()
                    } else {
                        format!("the route's path captures {}", captures.join(", "))
                    };
                    problems.value(
                        at(here, &["path"]),
                        format!("'{{{name}}}' is not a capture of the route: {known}{hint}"),
                    );
                }
            }
            Some(pattern)
        }
        Err(e) => {
            problems.value(at(here, &["path"]), e.to_string());
            None
        }
    });
    if let Some(prefix) = &o.strip_prefix
        && (!prefix.starts_with('/') || prefix.len() < 2)
    {
        problems.value(
            at(here, &["strip_prefix"]),
            format!("'{prefix}' must be a path prefix such as /api"),
        );
    }
    if o.path.is_some() && o.strip_prefix.is_some() {
        problems.key(
            at(here, &["strip_prefix"]),
            "give path or strip_prefix, not both: path replaces the whole path",
        );
    }
    let mut set_headers = Vec::new();
    for (name, value) in &o.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => set_headers.push((n, v)),
            (Err(_), _) => problems.key(
                at(here, &["headers", name]),
                format!("'{name}' is not a valid header name"),
            ),
            (_, Err(_)) => problems.value(
                at(here, &["headers", name]),
                "not a valid header value (control characters or non-ASCII)",
            ),
        }
    }
    let mut remove_headers = Vec::new();
    for (i, name) in o.remove_headers.iter().enumerate() {
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(n) => remove_headers.push(n),
            Err(_) => problems.value(
                crate::spec::locate::index(&at(here, &["remove_headers"]), i),
                format!("'{name}' is not a valid header name"),
            ),
        }
    }
    let timeout = match &o.timeout {
        None => DEFAULT_TIMEOUT,
        Some(t) => match duration::parse(&t.0) {
            Ok(d) if d.is_zero() => {
                problems.value(at(here, &["timeout"]), "must be more than 0");
                DEFAULT_TIMEOUT
            }
            Ok(d) => d,
            Err(e) => {
                problems.value(at(here, &["timeout"]), e.to_string());
                DEFAULT_TIMEOUT
            }
        },
    };
    if problems.failed_since(mark) {
        return None;
    }
    let base = base?;
    Some(ProxyTarget {
        url: o.url.clone(),
        https: base.https,
        authority: base.authority,
        host_header: base.host_header,
        base_path: base.path,
        rewrite,
        strip_prefix: o.strip_prefix.clone(),
        set_headers,
        remove_headers,
        keep_host: o.keep_host,
        timeout,
    })
}

/// Checks a backend's base URL as `proxy:` would, saying what is wrong.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    parse_base(url).map(|_| ())
}

struct Base {
    https: bool,
    authority: String,
    host_header: HeaderValue,
    path: String,
}

fn parse_base(url: &str) -> Result<Base, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => {
            return Err(format!(
                "'{url}': the scheme must be http or https, not {other}"
            ));
        }
        None => {
            return Err(format!(
                "'{url}' needs a scheme and a host, e.g. http://localhost:8080"
            ));
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("'{url}' needs a host"))?;
    if authority.as_str().contains('@') {
        return Err(format!(
            "'{url}': put credentials in proxy.headers (Authorization), not in the URL"
        ));
    }
    if uri.query().is_some() {
        return Err(format!(
            "'{url}': a base URL takes no query; the request's query is passed on"
        ));
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let host = authority.host();
    let path = uri.path().trim_end_matches('/').to_owned();
    Ok(Base {
        https,
        authority: format!("{host}:{port}"),
        host_header: HeaderValue::from_str(authority.as_str())
            .map_err(|_| format!("'{url}': the host is not a valid Host header"))?,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(p: spec::Proxy, captures: &[&str]) -> Result<ProxyTarget, Vec<String>> {
        let mut problems = Problems::default();
        let out = compile(&p, &Vec::new(), captures, &mut problems);
        out.ok_or_else(|| {
            problems
                .into_list()
                .into_iter()
                .map(|p| p.message)
                .collect()
        })
    }

    #[test]
    fn a_base_url_gives_scheme_authority_and_path() {
        let t = compiled(spec::Proxy::Url("https://api.example.com/v1/".into()), &[]).unwrap();
        assert!(t.https);
        assert_eq!(t.authority, "api.example.com:443");
        assert_eq!(t.host_header, "api.example.com");
        assert_eq!(t.base_path, "/v1");
        assert_eq!(t.timeout, DEFAULT_TIMEOUT);
        let t = compiled(spec::Proxy::Url("http://127.0.0.1:8080".into()), &[]).unwrap();
        assert_eq!((t.https, t.authority.as_str()), (false, "127.0.0.1:8080"));
        assert_eq!(t.base_path, "");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, says) in [
            ("localhost:8080", "scheme"),
            ("ftp://x", "http or https"),
            ("/relative", "needs a scheme"),
            ("http://u:p@x", "credentials"),
            ("http://x/?a=1", "no query"),
        ] {
            let e = compiled(spec::Proxy::Url(url.into()), &[]).unwrap_err();
            assert!(e.iter().any(|m| m.contains(says)), "{url}: {e:?}");
        }
    }

    #[test]
    fn a_rewrite_may_only_use_the_routes_captures() {
        let options = |path: &str| {
            spec::Proxy::Detailed(spec::ProxyOptions {
                path: Some(path.into()),
                ..spec::Proxy::Url("http://x".into()).options()
            })
        };
        assert!(compiled(options("/v2/{id}"), &["id"]).is_ok());
        let e = compiled(options("/v2/{idd}"), &["id"]).unwrap_err();
        assert!(e[0].contains("did you mean 'id'"), "{e:?}");
    }
}
