//! Who may call the admin API. A mock runs on a developer's laptop while the same person
//! browses the web, so the admin API must not be drivable by a web page:
//!
//! - with `--admin-token`, every call carries `Authorization: Bearer TOKEN`, which a page
//!   cannot know; the token decides;
//! - without one, a call must name this server in `Host` (a DNS-rebinding page names its own
//!   host), come from no other origin than the server's own or one allowed with
//!   `--allow-origin` (a cross-site page always sends `Origin`), and send a body only as
//!   JSON or YAML (a page can send `text/plain` or a form without asking first, but not
//!   those).
//!
//! The admin API never answers a CORS preflight, so a page cannot get permission to send
//! anything else.

use std::sync::OnceLock;

use actix_web::dev::ServiceRequest;
use actix_web::http::{Method, header};

use crate::error::ApiError;

/// The admin API's access rules, from the command line.
#[derive(Debug, Default)]
pub(crate) struct AdminAccess {
    token: Option<String>,
    /// Names and addresses `Host` may carry besides the loopback ones (lower case).
    hosts: Vec<String>,
    /// Origins allowed besides the server's own (lower case, no trailing slash).
    origins: Vec<String>,
    /// The server's scheme and port, once it is bound: its own origin.
    own: OnceLock<(&'static str, u16)>,
}

impl AdminAccess {
    /// `host` is the address the server listens on; `hosts` and `origins` what the command
    /// line allows besides.
    pub(crate) fn new(
        token: Option<String>,
        host: &str,
        hosts: &[String],
        origins: &[String],
    ) -> AdminAccess {
        let mut allowed: Vec<String> = hosts.iter().map(|h| normal_host(h)).collect();
        allowed.push(normal_host(host));
        AdminAccess {
            token,
            hosts: allowed,
            origins: origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            own: OnceLock::new(),
        }
    }

    /// Records the server's own origin once it is bound.
    pub(crate) fn bound(&self, scheme: &'static str, port: u16) {
        let _ = self.own.set((scheme, port));
    }

    /// `http` or `https`, once the server is listening.
    pub(crate) fn scheme(&self) -> Option<&'static str> {
        self.own.get().map(|(scheme, _)| *scheme)
    }

    /// Whether `host` (a `Host` header: a name or address, maybe with a port) names this
    /// server: loopback names and addresses, `*.localhost`, the listening address, or one
    /// allowed with `--allow-host`.
    fn host_allowed(&self, host: &str) -> bool {
        let name = normal_host(strip_port(host));
        name == "localhost"
            || name.ends_with(".localhost")
            || is_loopback(&name)
            || self.hosts.contains(&name)
    }

    /// Whether a request with this `Origin` may call the admin API: the server's own origin,
    /// or one allowed with `--allow-origin`.
    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.origins.contains(&origin) {
            return true;
        }
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        let Some(&(own_scheme, own_port)) = self.own.get() else {
            return false;
        };
        let port = match authority.rsplit_once(':') {
            Some((_, p)) if !authority.ends_with(']') => p.parse().ok(),
            _ if scheme == "https" => Some(443),
            _ => Some(80),
        };
        scheme == own_scheme && port == Some(own_port) && self.host_allowed(authority)
    }

    /// Why a call is refused, if it is.
    pub(crate) fn refusal(&self, req: &ServiceRequest) -> Option<ApiError> {
        let headers = req.headers();
        if req.method() == Method::OPTIONS && headers.contains_key(header::ORIGIN) {
            return Some(ApiError::AdminRefused(
                "the admin API answers no preflight: pages on other origins cannot call it".into(),
            ));
        }
        if let Some(token) = &self.token {
            // The dashboard's page holds no data, and asks for the token itself.
            if req.method() == Method::GET && super::ui::is_page(req.path()) {
                return None;
            }
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                // The scheme is case-insensitive (RFC 9110 §11.1).
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim());
            let ok = given.is_some_and(|g| same_token(g.as_bytes(), token.as_bytes()));
            return (!ok).then_some(ApiError::Unauthorized);
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        if let Some(host) = host
            && !self.host_allowed(host)
        {
            return Some(ApiError::AdminRefused(format!(
                "the admin API answers only requests to this server by a local name, not Host: \
                 {host} (a page can rebind its own name to 127.0.0.1); allow it with \
                 --allow-host, or use --admin-token"
            )));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let text = origin.to_str().unwrap_or_default();
            if !self.origin_allowed(text) {
                return Some(ApiError::AdminRefused(format!(
                    "the admin API refuses calls from pages on other origins ({text}); allow \
                     one with --allow-origin, or use --admin-token"
                )));
            }
        }
        let writes = matches!(
            *req.method(),
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if writes && has_body(req) && !json_or_yaml(req) {
            return Some(ApiError::AdminContentType {
                content_type: headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            });
        }
        None
    }
}

/// Whether `host` names this machine only, so the admin API is not reachable from outside.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The name or address of a `Host` value without its port.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(addr, _)| addr);
    }
    match host.rsplit_once(':') {
        // One colon: a name and a port. More: an IPv6 address without brackets.
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

fn normal_host(host: &str) -> String {
    host.trim_matches(['[', ']'])
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Whether the request sends a body: a length above 0, or chunks.
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        // HTTP/1 announces a body by one of the two headers; HTTP/2 may send one with
        // neither, so there only `Content-Length: 0` says there is none.
        None => {
            headers.contains_key(header::TRANSFER_ENCODING)
                || req.version() >= actix_web::http::Version::HTTP_2
        }
    }
}

/// Whether the body is labelled JSON or YAML: types a page cannot send without a preflight.
fn json_or_yaml(req: &ServiceRequest) -> bool {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/json" | "application/yaml" | "application/x-yaml" | "text/yaml"
    ) || essence.ends_with("+json")
        || essence.ends_with("+yaml")
}

/// Compares in time that depends on the length only, so response times do not reveal how much
/// of a guessed token was right.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> AdminAccess {
        let a = AdminAccess::new(
            None,
            "127.0.0.1",
            &["mock.internal".into()],
            &["http://localhost:5173/".into()],
        );
        a.bound("http", 3000);
        a
    }

    #[test]
    fn loopback_names_and_addresses() {
        for host in [
            "127.0.0.1",
            "localhost",
            "LOCALHOST",
            "::1",
            "[::1]",
            "127.1.2.3",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "::", "192.168.1.10", "example.com", "10.0.0.1"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"secret", b"secret"));
        assert!(!same_token(b"secreT", b"secret"));
        assert!(!same_token(b"secret", b"secret2"));
        assert!(!same_token(b"", b"secret"));
    }

    #[test]
    fn local_names_and_allowed_hosts_pass_and_a_rebound_name_does_not() {
        let a = access();
        for host in [
            "127.0.0.1:3000",
            "localhost:3000",
            "LOCALHOST",
            "app.localhost:3000",
            "[::1]:3000",
            "::1",
            "mock.internal:3000",
            "127.0.0.1",
        ] {
            assert!(a.host_allowed(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:3000",
            "192.168.1.5:3000",
            "localhost.evil.example",
        ] {
            assert!(!a.host_allowed(host), "{host}");
        }
    }

    #[test]
    fn only_the_servers_own_origin_and_allowed_ones_pass() {
        let a = access();
        for origin in [
            "http://127.0.0.1:3000",
            "http://localhost:3000",
            "http://LOCALHOST:3000/",
            "http://localhost:5173",
        ] {
            assert!(a.origin_allowed(origin), "{origin}");
        }
        for origin in [
            "http://evil.example",
            "http://localhost:3001",
            "https://localhost:3000",
            "http://localhost",
            "null",
            "http://evil.example:3000",
        ] {
            assert!(!a.origin_allowed(origin), "{origin}");
        }
    }
}
