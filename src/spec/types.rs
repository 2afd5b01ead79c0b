//! The YAML spec as Rust types: the one source of truth for the loader, the compiler and the
//! JSON Schema that editors use.
//!
//! Every struct denies unknown keys so a typo is an error rather than a silently ignored line.
//! Values whose syntax has rules of its own (paths, durations, header names) are kept as text
//! here and parsed by the compiler (`model::compile`), which reports every bad one with its
//! key path; parsing them inside `Deserialize` would stop the loader at the first one.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::conditions::MatchValue;
use super::realtime::{Emit, SseStream, WebSocket};
use super::values::{DelayText, DurationText, HeaderValues, unique_keys, yes};

/// A mockrig spec: the routes, static folders and settings of one mock server.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "mockrig spec")]
pub struct Spec {
    /// Settings that apply to the whole server.
    #[serde(default)]
    pub server: ServerSettings,
    /// Folders served as static files under a URL prefix.
    #[serde(default, rename = "static")]
    pub statics: Vec<StaticMount>,
    /// Stateful REST resources, by name: full CRUD over in-memory records.
    #[serde(default, deserialize_with = "unique_keys")]
    pub resources: IndexMap<String, Resource>,
    /// HTTP routes. The most specific path wins (a fixed segment beats `{param}`, which beats
    /// `{*rest}`); among routes with the same path and method, the first whose `match` holds.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// WebSocket channels.
    #[serde(default)]
    pub websockets: Vec<WebSocket>,
    /// Server-Sent Events streams.
    #[serde(default)]
    pub sse: Vec<SseStream>,
    /// An OpenAPI 3.x document whose operations are served beneath everything above.
    #[serde(default)]
    pub openapi: Option<super::openapi::OpenApi>,
    /// Other files joined into this spec, in order: paths or globs relative to this file's
    /// folder (`resources.yaml`, `routes/*.yaml`, `channels/**/*.yaml`), a glob's files sorted
    /// by path. Each may hold `routes`, `resources`, `websockets`, `sse`, `static` and an
    /// `include` of its own (relative to it); only the main spec sets `server` and `openapi`.
    /// Every file stays inside the main spec's folder, and `file:`, `seed_file:` and `dir:`
    /// paths in any of them are relative to that folder.
    #[serde(default)]
    pub include: Vec<String>,
}

/// Settings that apply to the whole server.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Delay before every response that sets no `delay` of its own: `150ms`, `1s`, or a range
    /// `100ms..500ms` (a random time within it).
    #[serde(default)]
    pub delay: Option<DelayText>,
    /// Cross-origin requests from browsers: `true` allows any origin (reflected, with
    /// credentials) and answers preflights; or the detailed form.
    #[serde(default)]
    pub cors: Option<Cors>,
    /// Serve HTTPS with this certificate and key (PEM files relative to the spec). The
    /// `--tls-*` flags override it; it is read at start, not on reload.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// What answers a request no route, resource, channel or static folder takes (instead of
    /// the 404 or 405): `{ proxy: http://localhost:8080 }` passes it to a real backend, so the
    /// spec lists only what it mocks.
    #[serde(default)]
    pub fallback: Option<Fallback>,
}

/// The answer for requests nothing in the spec takes.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    /// Pass them to this backend: a base URL, or the detailed form.
    pub proxy: Proxy,
}

/// A backend requests are passed to: its base URL (`http://localhost:8080`,
/// `https://api.example.com/v1`), or the detailed form.
#[derive(Debug, Clone, PartialEq)]
pub enum Proxy {
    /// The base URL alone.
    Url(String),
    /// The base URL and how to pass requests to it.
    Detailed(ProxyOptions),
}

/// How requests are passed to a backend. The backend's path is the base URL's path followed by
/// the request's path (after `strip_prefix`), or `path` when given; the query is passed as it
/// came.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyOptions {
    /// Base URL of the backend: `http://` or `https://`, host, port and an optional path.
    pub url: String,
    /// The path to ask the backend for instead of the request's: the route's captures fill it
    /// (`/v2/users/{id}`, `/{*rest}`).
    #[serde(default)]
    pub path: Option<String>,
    /// Take this prefix off the request's path before passing it (`/api` makes `/api/users`
    /// `/users`).
    #[serde(default)]
    pub strip_prefix: Option<String>,
    /// Request headers to set (replacing what the client sent), e.g. a backend's API key.
    #[serde(default, deserialize_with = "unique_keys")]
    pub headers: IndexMap<String, String>,
    /// Request headers not to pass on (names, case-insensitive), e.g. `Cookie`.
    #[serde(default)]
    pub remove_headers: Vec<String>,
    /// Pass the client's `Host` header as it is, instead of the backend's host.
    #[serde(default)]
    pub keep_host: bool,
    /// How long the backend has to start answering, and at most between two parts of its
    /// answer: `30s` (the default), `500ms`. A slower backend gets 504.
    #[serde(default)]
    pub timeout: Option<DurationText>,
}

impl<'de> Deserialize<'de> for Proxy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Proxy;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a backend URL, or {url, path, strip_prefix, headers, remove_headers, keep_host, timeout}",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Proxy, E> {
                Ok(Proxy::Url(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Proxy, A::Error> {
                ProxyOptions::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Proxy::Detailed)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Proxy {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Proxy".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let detailed = g.subschema_for::<ProxyOptions>();
        schemars::json_schema!({
            "description": "The backend's base URL (http:// or https://), or the detailed form.",
            "anyOf": [ { "type": "string", "pattern": "^https?://" }, detailed ]
        })
    }
}

impl Proxy {
    /// The options, with the defaults filled in for the short form.
    pub fn options(&self) -> ProxyOptions {
        match self {
            Proxy::Url(url) => ProxyOptions {
                url: url.clone(),
                path: None,
                strip_prefix: None,
                headers: IndexMap::new(),
                remove_headers: Vec::new(),
                keep_host: false,
                timeout: None,
            },
            Proxy::Detailed(o) => o.clone(),
        }
    }
}

/// CORS: `true`/`false`, or the detailed form.
#[derive(Debug, Clone, PartialEq)]
pub enum Cors {
    /// `true`: any origin, reflected, with credentials; `false`: off.
    Enabled(bool),
    /// Origins, methods and headers named.
    Detailed(CorsPolicy),
}

/// Which browser origins may call the mock, and what they may send and read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsPolicy {
    /// Allowed origins (`https://app.example.com`); `*` or none: any origin.
    #[serde(default)]
    pub origins: Vec<String>,
    /// Methods allowed in preflights; none: the method the browser asks for.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Request headers allowed in preflights; none: the headers the browser asks for.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Response headers the page may read; none: every header of the response.
    #[serde(default)]
    pub expose: Vec<String>,
    /// How long a browser may cache a preflight, in seconds (`Access-Control-Max-Age`).
    #[serde(default)]
    pub max_age: Option<u64>,
    /// Allow cookies and `Authorization` (`fetch(..., {credentials: 'include'})`); default true.
    #[serde(default = "yes")]
    pub credentials: bool,
}

impl<'de> Deserialize<'de> for Cors {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Cors;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "true, false, or {origins, methods, headers, expose, max_age, credentials}",
                )
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Cors, E> {
                Ok(Cors::Enabled(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Cors, A::Error> {
                CorsPolicy::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Cors::Detailed)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Cors {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Cors".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let detailed = g.subschema_for::<CorsPolicy>();
        schemars::json_schema!({
            "description": "true (any origin, reflected, with credentials), false, or the detailed form.",
            "anyOf": [ { "type": "boolean" }, detailed ]
        })
    }
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate chain, PEM.
    pub cert: String,
    /// Private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key: String,
}

/// A stateful REST resource: a collection served with list, get, create, replace, patch and
/// delete, or a single object (`singleton: true`) served with get, replace and patch.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// URL path, e.g. `/api/users`; default `/` followed by the resource's name.
    #[serde(default)]
    pub path: Option<String>,
    /// The field that holds each record's id.
    #[serde(default = "default_id_field")]
    pub id: String,
    /// Initial data: a list of objects (an object for a singleton).
    #[serde(default)]
    pub seed: Option<serde_json::Value>,
    /// Initial data from a JSON or YAML file, relative to the spec, inside its folder.
    #[serde(default)]
    pub seed_file: Option<String>,
    /// One object instead of a collection.
    #[serde(default)]
    pub singleton: bool,
    /// Messages sent to WebSocket or SSE subscribers after each successful write; without a
    /// payload, `{action, resource, record}`.
    #[serde(default)]
    pub emit: Vec<Emit>,
    /// How a created record that comes without an id gets one: `int` (one more than the
    /// largest integer id), `uuid` (a random v4 UUID), or a template (`"ord-{{ counter }}"`,
    /// seeing `request`, `params`, `record` and `counter`). Default: `int`, or `uuid` when the
    /// seed's ids are text. An id the client sends is kept.
    #[serde(default)]
    pub new_id: Option<String>,
    /// Fields the server sets on writes, by name: `createdAt: "{{ now() }}"` (on create), or
    /// `{ value: "{{ now() }}", on: [create, update], overridable: false }`. Templates see
    /// `request`, `params`, `record` (the record as written, before computed fields) and
    /// `previous` (the stored record an update changes; none on create). A
    /// value the client sends for a computed field is replaced, unless it is `overridable`.
    #[serde(default, deserialize_with = "unique_keys")]
    pub computed: IndexMap<String, super::computed::Computed>,
    /// Conditions every request to the resource must meet (all its operations, nested
    /// endpoints included), e.g. `{cookies: {session: {present: true}}}`. A request that
    /// fails them gets `otherwise` (default: 401 with the failed conditions); it is not
    /// passed on to other routes.
    #[serde(default, rename = "match")]
    pub matcher: Option<Match>,
    /// The answer to a request that fails `match` (default: 401, JSON
    /// `{error, resource, failed}`).
    #[serde(default)]
    pub otherwise: Option<Response>,
}

fn default_id_field() -> String {
    "id".into()
}

/// A folder served as static files.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaticMount {
    /// URL prefix, e.g. `/app`. Only fixed segments.
    pub path: String,
    /// Folder, relative to the spec file; it must lie inside the spec's folder.
    pub dir: String,
}

/// One HTTP route: a method and path, optional extra conditions, and the response.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// HTTP method; `ANY` matches every method. GET routes also answer HEAD.
    #[serde(default)]
    pub method: Method,
    /// Path pattern: `/users/{id}` captures one segment, a final `{*rest}` captures the rest.
    pub path: String,
    /// Conditions the request must meet as well; when they fail, the next route is tried.
    #[serde(default, rename = "match")]
    pub matcher: Option<Match>,
    /// What to answer (default: an empty 200). A route has one of `response`, `responses` and
    /// `content`.
    #[serde(default)]
    pub response: Option<Response>,
    /// Answers given one after another, as set by `sequence`.
    #[serde(default)]
    pub responses: Vec<Response>,
    /// How `responses` follow each other: `last` (the default: the last one repeats), `cycle`
    /// (start over), `random` (by `weight`).
    #[serde(default)]
    pub sequence: Sequence,
    /// Alternative responses by the request's `Accept` header, keyed by a media type
    /// (`application/xml`) or a short name (`json`, `xml`, `html`, `text`, `csv`, `yaml`); the
    /// first is the default.
    #[serde(default, deserialize_with = "unique_keys")]
    pub content: IndexMap<String, Response>,
    /// A state machine this route belongs to; every scenario starts in `started`.
    #[serde(default)]
    pub scenario: Option<String>,
    /// Only match while the scenario is in this state.
    #[serde(default)]
    pub when: Option<String>,
    /// Move the scenario to this state after answering.
    #[serde(default)]
    pub then: Option<String>,
    /// Messages sent to WebSocket or SSE subscribers when this route answers.
    #[serde(default)]
    pub emit: Vec<Emit>,
    /// Pass the request to a real backend instead of answering it: its base URL, or the
    /// detailed form. Instead of `response`, `responses` and `content`.
    #[serde(default)]
    pub proxy: Option<Proxy>,
    /// Long polling: hold the request until an event is published on a topic (then answer
    /// with `response`, which sees `event`), or until the timeout (then `on_timeout`).
    #[serde(default)]
    pub wait: Option<Wait>,
}

/// How a long-polling route waits.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    /// The topic: events come from an `emit` with `topic:`, `POST
    /// /__mockrig/topics/send?topic=NAME`, or a WebSocket channel's `publish:`. May use
    /// `params` (`orders-{{ params.id }}`).
    pub topic: String,
    /// How long to hold the request: `30s` (the default), `500ms`.
    #[serde(default)]
    pub timeout: Option<DurationText>,
    /// The answer when nothing came in time (default: an empty 204).
    #[serde(default)]
    pub on_timeout: Option<Response>,
}

impl Route {
    /// The responses this route may give, in the order written.
    pub fn all_responses(&self) -> impl Iterator<Item = &Response> {
        self.response
            .iter()
            .chain(&self.responses)
            .chain(self.content.values())
    }
}

/// How a route's `responses` follow each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sequence {
    /// One after another; the last repeats.
    #[default]
    Last,
    /// One after another, then from the first again.
    Cycle,
    /// A random one each time, by `weight`.
    Random,
}

/// HTTP methods a route can answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET (and HEAD).
    #[default]
    #[serde(alias = "get")]
    Get,
    /// POST.
    #[serde(alias = "post")]
    Post,
    /// PUT.
    #[serde(alias = "put")]
    Put,
    /// PATCH.
    #[serde(alias = "patch")]
    Patch,
    /// DELETE.
    #[serde(alias = "delete")]
    Delete,
    /// HEAD.
    #[serde(alias = "head")]
    Head,
    /// OPTIONS.
    #[serde(alias = "options")]
    Options,
    /// Any method.
    #[serde(alias = "any")]
    Any,
}

impl Method {
    /// The method's name, upper case (`ANY` for any).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Any => "ANY",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Conditions on the request beyond method and path. All given conditions must hold.
///
/// Each value is the exact value, or a map of operators that must all hold:
/// `{present: true}`, `{present: false}`, `{regex: "^Bearer .+"}`, `{one_of: [a, b]}`,
/// `{not: …}`, `{gt: 1}`, `{gte: 1, lte: 10}`, `{equals: …}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Query parameters, by name: `page: 2` or `page: {gte: 1}`. A repeated parameter meets
    /// a condition when any of its values does (`present: false`: it has none; `not`: none of
    /// its values meets what is inside).
    #[serde(default, deserialize_with = "unique_keys")]
    pub query: IndexMap<String, MatchValue>,
    /// Request headers, by name (case-insensitive): `authorization: {regex: "^Bearer .+"}`.
    #[serde(default, deserialize_with = "unique_keys")]
    pub headers: IndexMap<String, MatchValue>,
    /// Cookies, by name: `session: {present: true}`.
    #[serde(default, deserialize_with = "unique_keys")]
    pub cookies: IndexMap<String, MatchValue>,
    /// A JSON subset: the request body must contain these keys with these values (nested
    /// objects compare the same way; each listed array element must appear in the array). An
    /// object whose keys are all operator names is a condition on the value there:
    /// `{user: {role: {one_of: [admin, owner]}}}`; `{equals: …}` matches such an object
    /// literally.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// The response of a route. At most one of `body`, `text` and `file`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// HTTP status code, 100-599.
    #[serde(default = "default_status")]
    #[schemars(range(min = 100, max = 599))]
    pub status: u16,
    /// Response headers. A list gives the header once per item (e.g. several `Set-Cookie`).
    #[serde(default, deserialize_with = "unique_keys")]
    pub headers: IndexMap<String, HeaderValues>,
    /// Any YAML value, served as JSON (`Content-Type: application/json` unless set in headers).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Plain text (`Content-Type: text/plain; charset=utf-8` unless set in headers).
    #[serde(default)]
    pub text: Option<String>,
    /// A file relative to the spec, inside its folder; content type from the extension.
    #[serde(default)]
    pub file: Option<String>,
    /// Wait this long before answering: `200ms`, `1.5s`, or a range `100ms..500ms`.
    #[serde(default)]
    pub delay: Option<DelayText>,
    /// Fail the way networks fail: `reset` (the connection is reset, no response), `empty`
    /// (the headers, then the connection closes), `malformed` (bytes that are not HTTP).
    #[serde(default)]
    pub fault: Option<Fault>,
    /// Send the body slowly, in chunks at this rate: `1KiB/s`, `500B/s`, `2MB/s`.
    #[serde(default)]
    pub throttle: Option<String>,
    /// With `sequence: random`: how often this response is picked, relative to the others
    /// (default 1).
    #[serde(default)]
    pub weight: Option<f64>,
}

/// A network failure instead of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// The connection is reset (TCP RST) before any response.
    Reset,
    /// The status line and headers, then the connection closes before the body.
    Empty,
    /// Garbage that is not HTTP, then the connection closes.
    Malformed,
}

fn default_status() -> u16 {
    200
}

impl Default for Response {
    fn default() -> Self {
        Response {
            status: default_status(),
            headers: IndexMap::new(),
            body: None,
            text: None,
            file: None,
            delay: None,
            fault: None,
            throttle: None,
            weight: None,
        }
    }
}
