//! Every answer mockrig gives on its own account, as one type: the limits, a request no route
//! takes, a route that could not answer as written, resources, channels and the admin API.
//!
//! miniserve's shape: one enum, one `status_code` match and one body builder, so the status
//! and the JSON of every error are decided here and nowhere else. The domain errors that turn
//! into HTTP answers ([`StoreError`], [`BodyError`]) live here too, so their statuses join the
//! same match. [`Invalid`] is the error of the small text parsers (paths, durations, rates):
//! a message that says what was expected.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use serde_json::{Value, json};

/// Text that is not valid for what it should be; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Invalid(pub String);

impl From<String> for Invalid {
    fn from(s: String) -> Self {
        Invalid(s)
    }
}

impl From<&str> for Invalid {
    fn from(s: &str) -> Self {
        Invalid(s.to_owned())
    }
}

/// Why a resource operation did not happen. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("no record with id {0}")]
    NotFound(String),
    #[error("a record with id {0} already exists")]
    Conflict(String),
    #[error("the id must be a number or a string, found {0}")]
    BadId(&'static str),
    #[error("the change could not be saved: {0}")]
    Persist(std::io::Error),
    /// Every integer id up to the largest is taken or passed.
    #[error(
        "no integer id is left to give: the largest, 18446744073709551615, is taken; send the id yourself"
    )]
    IdsExhausted,
    /// The resource's `new_id` template could not make an id.
    #[error("new_id could not make an id: {0}")]
    NewId(String),
    /// A computed field's template failed.
    #[error("the computed field '{field}' failed: {reason}")]
    Computed { field: String, reason: String },
    /// A reload replaced this resource while the request was in flight.
    #[error("the resource was re-seeded by a reload while this request was in flight; retry")]
    Retired,
}

/// Why a request body is not the JSON object a resource write needs.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("unsupported content type '{0}'")]
    Unsupported(String),
    #[error("the request body is empty; send a JSON object")]
    Empty,
    #[error("the request body must be a JSON object, found {0}")]
    NotObject(&'static str),
    #[error("the request body is not valid JSON")]
    Invalid(String),
    #[error(
        "the request body nests deeper than {0} levels: a record is kept only as deep as it \
         can be read back"
    )]
    TooDeep(usize),
}

/// An answer of mockrig's own. `Display` is the `error` field of the JSON body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    // The limits and the request itself.
    #[error("URL too long")]
    UriTooLong { limit: usize },
    #[error("request headers too large")]
    HeadersTooLarge { count: usize, bytes: usize },
    #[error("request body too large")]
    BodyTooLarge { limit: usize },
    #[error("the request body did not arrive in time")]
    BodyTimeout { timeout_ms: u64 },
    #[error("the request head did not arrive in time")]
    HeadTimeout { timeout_ms: u64 },
    #[error("cannot read the request body")]
    BodyUnreadable { reason: String },
    /// A request mockrig cannot take as sent; the message says why.
    #[error("{0}")]
    BadRequest(String),
    /// A body that is not what an admin call takes, with the parser's reason.
    #[error("{error}")]
    BadBody { error: &'static str, reason: String },

    // Finding a route.
    #[error("no route matched")]
    NoRoute {
        method: String,
        path: String,
        near_misses: Vec<Value>,
        /// The last reload's error while it is pending: the spec serving is the one before
        /// that save, which is often why nothing matched.
        reload_error: Option<String>,
    },
    #[error("method not allowed")]
    MethodNotAllowed {
        method: String,
        /// `None` for the admin API, whose answer names no path.
        path: Option<String>,
        allowed: Vec<&'static str>,
    },
    #[error("this is a WebSocket endpoint: connect with Upgrade: websocket")]
    UpgradeRequired { route: Arc<str> },
    #[error("none of the available media types is acceptable")]
    NotAcceptable {
        accept: Option<String>,
        available: Vec<String>,
    },
    #[error("CORS: this origin is not allowed (server.cors.origins)")]
    CorsForbidden { origin: Option<String> },
    #[error("WebSocket handshake failed")]
    Handshake { reason: String },

    // A proxied request the backend did not answer.
    #[error("the backend did not give an answer that can be passed on")]
    Upstream {
        backend: String,
        route: Arc<str>,
        reason: String,
    },
    #[error("this request has come back to mockrig: the proxy's backend is mockrig itself")]
    ProxyLoop { backend: String, route: Arc<str> },
    #[error("the backend did not answer in time")]
    UpstreamTimeout {
        backend: String,
        route: Arc<str>,
        timeout_ms: u64,
    },

    // A route that could not answer as written.
    #[error("a template of the response failed")]
    Template { route: Arc<str>, reason: String },
    #[error("the response file cannot be read")]
    ResponseFile {
        route: Arc<str>,
        file: String,
        reason: String,
    },
    #[error("the file cannot be read")]
    StaticFile { route: Arc<str>, reason: String },
    #[error("this SSE stream was just removed from the spec")]
    ChannelRemoved,

    // Resources.
    #[error("{error}")]
    Store { resource: String, error: StoreError },
    #[error("{reason}")]
    ListQuery { resource: String, reason: String },
    #[error("{0}")]
    Body(#[from] BodyError),
    /// A request that fails a resource's `match:` (and the resource has no `otherwise:`).
    #[error("the request does not meet the conditions of this resource (its match:)")]
    Gate {
        resource: String,
        failed: Vec<Value>,
    },

    // The admin API.
    #[error("the admin API needs Authorization: Bearer <token> (--admin-token)")]
    Unauthorized,
    /// A call that could come from a web page: the message says which rule it broke.
    #[error("{0}")]
    AdminRefused(String),
    #[error(
        "admin calls take a JSON or YAML body (Content-Type: application/json or \
         application/yaml): a page on another site could send this one without asking"
    )]
    AdminContentType { content_type: Option<String> },
    #[error("no such mockrig endpoint")]
    NoEndpoint {
        path: String,
        endpoints: Vec<String>,
    },
    #[error("no route names this scenario")]
    NoScenario {
        scenario: String,
        scenarios: Vec<String>,
        did_you_mean: Option<String>,
    },
    #[error("no runtime route with that id")]
    NoStub { id: Option<u64> },
    #[error("the journal holds no request with that id (it keeps the latest ones only)")]
    NoRequest { id: String },
    #[error("no such resource")]
    NoResource {
        resource: Option<String>,
        did_you_mean: Option<String>,
    },
    #[error("verification failed")]
    VerificationFailed {
        matched: usize,
        expected: Value,
        journal_enabled: bool,
        closest: Vec<Value>,
    },
    #[error("{0}")]
    ReloadFailed(String),
    #[error("{0}")]
    Internal(String),
    /// The shared state store (`--state redis://`) did not answer, or kept refusing.
    #[error("state store unavailable")]
    StateStore { store: String, cause: String },
    #[error("internal error in mockrig (a bug: please report it)")]
    Panic { reason: String },
}

impl From<(String, StoreError)> for ApiError {
    fn from((resource, error): (String, StoreError)) -> Self {
        ApiError::Store { resource, error }
    }
}

impl ApiError {
    /// The JSON body: `error` (this error's text) and the fields that explain it.
    fn body(&self) -> Value {
        let error = self.to_string();
        match self {
            ApiError::UriTooLong { limit } | ApiError::BodyTooLarge { limit } => {
                json!({"error": error, "limit_bytes": limit})
            }
            ApiError::HeadersTooLarge { count, bytes } => {
                json!({"error": error, "limit_count": count, "limit_bytes": bytes})
            }
            ApiError::BodyTimeout { timeout_ms } | ApiError::HeadTimeout { timeout_ms } => {
                json!({"error": error, "timeout_ms": timeout_ms})
            }
            ApiError::BodyUnreadable { reason }
            | ApiError::BadBody { reason, .. }
            | ApiError::Handshake { reason }
            | ApiError::Panic { reason } => json!({"error": error, "reason": reason}),
            ApiError::StateStore { store, cause } => {
                json!({"error": error, "store": store, "cause": cause})
            }
            ApiError::NoRoute {
                method,
                path,
                near_misses,
                reload_error,
            } => {
                let mut body = json!({"error": error, "method": method, "path": path, "near_misses": near_misses});
                if let Some(e) = reload_error {
                    body["reload_error"] = json!(e);
                }
                body
            }
            ApiError::MethodNotAllowed {
                method,
                path,
                allowed,
            } => match path {
                Some(path) => {
                    json!({"error": error, "method": method, "path": path, "allowed": allowed})
                }
                None => json!({"error": error, "method": method, "allowed": allowed}),
            },
            ApiError::UpgradeRequired { route } => json!({"error": error, "route": &**route}),
            ApiError::Upstream {
                backend,
                route,
                reason,
            } => json!({"error": error, "backend": backend, "route": &**route, "reason": reason}),
            ApiError::ProxyLoop { backend, route } => {
                json!({"error": error, "backend": backend, "route": &**route})
            }
            ApiError::UpstreamTimeout {
                backend,
                route,
                timeout_ms,
            } => json!({
                "error": error, "backend": backend, "route": &**route, "timeout_ms": timeout_ms
            }),
            ApiError::NotAcceptable { accept, available } => {
                json!({"error": error, "accept": accept, "available": available})
            }
            ApiError::CorsForbidden { origin } => json!({"error": error, "origin": origin}),
            ApiError::Template { route, reason } | ApiError::StaticFile { route, reason } => {
                json!({"error": error, "route": &**route, "reason": reason})
            }
            ApiError::ResponseFile {
                route,
                file,
                reason,
            } => json!({"error": error, "route": &**route, "file": file, "reason": reason}),
            ApiError::Store {
                resource,
                error: StoreError::Computed { field, reason },
            } => json!({"error": error, "resource": resource, "field": field, "reason": reason}),
            ApiError::Store {
                resource,
                error: StoreError::NewId(reason),
            } => json!({"error": error, "resource": resource, "field": "new_id", "reason": reason}),
            ApiError::Store { resource, .. } | ApiError::ListQuery { resource, .. } => {
                json!({"error": error, "resource": resource})
            }
            ApiError::Gate { resource, failed } => {
                json!({"error": error, "resource": resource, "failed": failed})
            }
            ApiError::Body(BodyError::Unsupported(_)) => json!({
                "error": error,
                "supported": ["application/json", "application/x-www-form-urlencoded"],
            }),
            ApiError::Body(BodyError::Invalid(reason)) => json!({"error": error, "reason": reason}),
            ApiError::NoEndpoint { path, endpoints } => {
                json!({"error": error, "path": path, "endpoints": endpoints})
            }
            ApiError::NoScenario {
                scenario,
                scenarios,
                did_you_mean,
            } => with_hint(
                json!({"error": error, "scenario": scenario, "scenarios": scenarios}),
                did_you_mean,
            ),
            ApiError::NoStub { id: Some(id) } => json!({"error": error, "id": id}),
            ApiError::NoRequest { id } => json!({"error": error, "id": id}),
            ApiError::AdminContentType { content_type } => {
                json!({"error": error, "content_type": content_type})
            }
            ApiError::NoResource {
                resource,
                did_you_mean,
            } => with_hint(json!({"error": error, "resource": resource}), did_you_mean),
            ApiError::VerificationFailed {
                matched,
                expected,
                journal_enabled,
                closest,
            } => json!({
                "error": error,
                "matched": matched,
                "expected": expected,
                "journal_enabled": journal_enabled,
                "closest": closest,
            }),
            ApiError::ReloadFailed(e) => json!({"result": "error", "error": e}),
            _ => json!({"error": error}),
        }
    }
}

fn with_hint(mut body: Value, hint: &Option<String>) -> Value {
    if let Some(h) = hint {
        body["did_you_mean"] = json!(h);
    }
    body
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout { .. } | ApiError::HeadTimeout { .. } => {
                StatusCode::REQUEST_TIMEOUT
            }
            ApiError::BodyUnreadable { .. }
            | ApiError::BadRequest(_)
            | ApiError::BadBody { .. }
            | ApiError::Handshake { .. }
            | ApiError::ListQuery { .. } => StatusCode::BAD_REQUEST,
            ApiError::NoRoute { .. }
            | ApiError::ChannelRemoved
            | ApiError::NoEndpoint { .. }
            | ApiError::NoScenario { .. }
            | ApiError::NoStub { .. }
            | ApiError::NoRequest { .. }
            | ApiError::NoResource { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UpgradeRequired { .. } => StatusCode::UPGRADE_REQUIRED,
            ApiError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            ApiError::StateStore { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::ProxyLoop { .. } => StatusCode::LOOP_DETECTED,
            ApiError::NotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
            ApiError::CorsForbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::Template { .. }
            | ApiError::ResponseFile { .. }
            | ApiError::StaticFile { .. }
            | ApiError::Internal(_)
            | ApiError::Panic { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Store { error, .. } => match error {
                StoreError::NotFound(_) => StatusCode::NOT_FOUND,
                StoreError::Conflict(_) => StatusCode::CONFLICT,
                StoreError::BadId(_) => StatusCode::BAD_REQUEST,
                StoreError::Persist(_) | StoreError::NewId(_) | StoreError::Computed { .. } => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                StoreError::Retired => StatusCode::SERVICE_UNAVAILABLE,
                StoreError::IdsExhausted => StatusCode::INSUFFICIENT_STORAGE,
            },
            ApiError::Body(BodyError::Unsupported(_)) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Body(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::Gate { .. } => StatusCode::UNAUTHORIZED,
            ApiError::AdminRefused(_) => StatusCode::FORBIDDEN,
            ApiError::AdminContentType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::VerificationFailed { .. } => StatusCode::EXPECTATION_FAILED,
            ApiError::ReloadFailed(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponseBuilder::new(self.status_code());
        b.content_type("application/json");
        match self {
            ApiError::MethodNotAllowed { allowed, .. } => {
                if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                    b.insert_header((header::ALLOW, v));
                }
            }
            ApiError::UpgradeRequired { .. } => {
                b.insert_header((header::UPGRADE, "websocket"));
            }
            ApiError::Unauthorized => {
                b.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            // The answer depends on `Origin`: caches must not give it to another origin.
            ApiError::CorsForbidden { .. } => {
                b.insert_header((header::VARY, "Origin"));
            }
            // The replica reconnects by itself: a client may try again shortly.
            ApiError::StateStore { .. } => {
                b.insert_header((header::RETRY_AFTER, "1"));
            }
            // A client dripping its body is cut off, not kept for another request.
            ApiError::BodyTimeout { .. } => {
                b.force_close();
            }
            _ => {}
        }
        b.body(self.body().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn answer(e: ApiError) -> (StatusCode, Value, header::HeaderMap) {
        let res = e.error_response();
        let (status, headers) = (res.status(), res.headers().clone());
        let bytes = res.into_body().try_into_bytes().unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap(), headers)
    }

    #[test]
    fn status_and_body_come_from_one_place() {
        let (status, body, _) = answer(ApiError::BodyTooLarge { limit: 10 });
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            body,
            json!({"error": "request body too large", "limit_bytes": 10})
        );
        let (status, body, res) = answer(ApiError::MethodNotAllowed {
            method: "PUT".into(),
            path: Some("/a".into()),
            allowed: vec!["GET", "HEAD", "OPTIONS"],
        });
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["allowed"], json!(["GET", "HEAD", "OPTIONS"]));
        assert_eq!(res.get(header::ALLOW).unwrap(), "GET, HEAD, OPTIONS");
        let (status, body, _) = answer(ApiError::Store {
            resource: "users".into(),
            error: StoreError::Conflict("7".into()),
        });
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            body,
            json!({"error": "a record with id 7 already exists", "resource": "users"})
        );
        let (status, body, _) = answer(BodyError::Unsupported("text/plain".into()).into());
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["supported"][0], "application/json");
        let (_, body, res) = answer(ApiError::Unauthorized);
        assert!(body["error"].as_str().unwrap().contains("Bearer"));
        assert_eq!(res.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    }
}
