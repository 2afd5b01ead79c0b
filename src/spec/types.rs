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
}

/// A WebSocket channel: what happens to the messages of clients connected at `path`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSocket {
    /// Path pattern; `{param}` segments give separate channels (`/ws/rooms/{room}`: each room
    /// has its own clients), readable as `params` in templates.
    pub path: String,
    /// `echo`: each message goes back to its sender; `broadcast`: to every client on the same
    /// concrete path; `silent`: nothing automatic, only `replies` and `every`.
    #[serde(default)]
    pub mode: WsMode,
    /// In `broadcast` mode, whether the sender gets its own message too.
    #[serde(default = "yes")]
    pub include_sender: bool,
    /// Messages sent to each client as it connects.
    #[serde(default)]
    pub on_connect: Vec<WsMessage>,
    /// Scripted answers: the first reply whose condition holds sends its messages (to the
    /// sender only), in every mode.
    #[serde(default)]
    pub replies: Vec<WsReply>,
    /// Messages pushed to each client at an interval while it is connected.
    #[serde(default)]
    pub every: Option<WsEvery>,
    /// Subprotocols offered; the first the client asks for is chosen.
    #[serde(default)]
    pub subprotocols: Vec<String>,
    /// Largest message accepted, in bytes (default 1 MiB); beyond it the connection is closed
    /// with code 1009.
    #[serde(default)]
    pub max_message_bytes: Option<usize>,
    /// Interval of pings to the client, e.g. `10s` (the default); a client silent for three
    /// intervals is dropped.
    #[serde(default)]
    pub ping_interval: Option<DurationText>,
}

fn yes() -> bool {
    true
}

/// What a WebSocket channel does with incoming messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WsMode {
    /// Each message goes back to its sender.
    #[default]
    Echo,
    /// Each message goes to every client on the same concrete path.
    Broadcast,
    /// Nothing automatic: only `replies` and `every`.
    Silent,
}

/// One message to send: `text`, or `json` (sent as a text frame holding JSON). Strings may
/// use templates: `{{ message }}` (the incoming message, parsed when JSON), `{{ params.x }}`,
/// `{{ counter }}`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WsMessage {
    /// The message as text.
    #[serde(default)]
    pub text: Option<String>,
    /// The message as JSON (sent as text).
    #[serde(default)]
    pub json: Option<serde_json::Value>,
}

/// A scripted reply: a condition on the incoming message and the messages to send back.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WsReply {
    /// The message's exact text.
    #[serde(default, rename = "match")]
    pub text: Option<String>,
    /// A regular expression the message's text must match.
    #[serde(default)]
    pub regex: Option<String>,
    /// A JSON subset the message must contain.
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// Messages to send back: one, or a list.
    pub send: WsMessages,
    /// Wait this long before sending, e.g. `100ms`.
    #[serde(default)]
    pub delay: Option<DurationText>,
}

/// Periodic pushes.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WsEvery {
    /// e.g. `1s`.
    pub interval: DurationText,
    /// One message or a list; `{{ counter }}` counts the pushes from 1.
    pub send: WsMessages,
}

/// One message or a list of them.
#[derive(Debug, Clone, PartialEq)]
pub struct WsMessages(pub Vec<WsMessage>);

impl<'de> Deserialize<'de> for WsMessages {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = WsMessages;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message ({text: ...} or {json: ...}) or a list of them")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<WsMessages, A::Error> {
                let one =
                    WsMessage::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(WsMessages(vec![one]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<WsMessages, A::Error> {
                let mut out = Vec::new();
                while let Some(m) = seq.next_element::<WsMessage>()? {
                    out.push(m);
                }
                Ok(WsMessages(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for WsMessages {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "WsMessages".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let one = g.subschema_for::<WsMessage>();
        schemars::json_schema!({
            "description": "One message, or a list of messages.",
            "anyOf": [ one, { "type": "array", "items": one } ]
        })
    }
}

/// A Server-Sent Events stream.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SseStream {
    /// Path pattern, e.g. `/events`.
    pub path: String,
    /// Reconnection time for clients, in milliseconds (sent as `retry:`).
    #[serde(default)]
    pub retry: Option<u64>,
    /// Events sent in order: all at once, or one per `every`.
    #[serde(default)]
    pub events: Vec<SseEvent>,
    /// One event per interval, e.g. `1s`, the first at once.
    #[serde(default)]
    pub every: Option<DurationText>,
    /// Start over after the last event.
    #[serde(default)]
    pub repeat: bool,
    /// Interval of `:` comment lines that keep proxies from closing an idle stream (default
    /// `15s`).
    #[serde(default)]
    pub keep_alive: Option<DurationText>,
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SseEvent {
    /// Event type (`event:`); none means `message`.
    #[serde(default)]
    pub event: Option<String>,
    /// Payload: text is sent as is (one `data:` line per line), anything else as JSON on one line.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    /// Event id (`id:`), used for resumption with `Last-Event-ID`.
    #[serde(default)]
    pub id: Option<HeaderValues>,
}

/// A message a route or resource sends to real-time subscribers when it answers.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Emit {
    /// Send to every WebSocket client on this concrete path.
    #[serde(default)]
    pub websocket: Option<String>,
    /// Send as an event to every subscriber of this SSE path.
    #[serde(default)]
    pub sse: Option<String>,
    /// SSE event type.
    #[serde(default)]
    pub event: Option<String>,
    /// SSE event id.
    #[serde(default)]
    pub id: Option<HeaderValues>,
    /// Payload as JSON. Templates see `request` (method, path, query, body), `params`, and for
    /// resources `action` (created, updated, deleted) and `record`.
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// Payload as text.
    #[serde(default)]
    pub text: Option<String>,
    /// Payload: text as is, anything else as JSON (the SSE spelling).
    #[serde(default)]
    pub data: Option<serde_json::Value>,
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Query parameters that must have exactly these values (any of a repeated key's values).
    #[serde(default, deserialize_with = "unique_keys")]
    pub query: IndexMap<String, String>,
    /// Request headers that must have exactly these values; names are case-insensitive.
    #[serde(default, deserialize_with = "unique_keys")]
    pub headers: IndexMap<String, String>,
    /// Cookies that must have exactly these values.
    #[serde(default, deserialize_with = "unique_keys")]
    pub cookies: IndexMap<String, String>,
    /// A JSON subset: the request body must contain these keys with these values (nested
    /// objects compare the same way; each listed array element must appear in the array).
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

/// Reads a map in which a key given twice is an error; serde_yaml would keep the last one and
/// say nothing. (The error is then located by the diagnostic pass, whose YAML parser refuses
/// duplicate keys with their position.)
fn unique_keys<'de, D, V>(d: D) -> Result<IndexMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Unique<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Unique<V> {
        type Value = IndexMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = IndexMap::new();
            while let Some((key, value)) = map.next_entry::<String, V>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!("duplicate key '{key}'")));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique(std::marker::PhantomData))
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

/// A delay: a duration (`250ms`) or a range of them (`100ms..500ms`); checked by the validator.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct DelayText(
    #[schemars(regex(
        pattern = r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m)?\s*(\.\.\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m)?\s*)?$"
    ))]
    pub String,
);

/// A duration such as `250ms`, `2s`, `1.5s` or `1m`; checked by the validator.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct DurationText(
    #[schemars(regex(pattern = r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m)?\s*$"))] pub String,
);

/// One header value or a list of them. Numbers and booleans are taken as their text, as YAML
/// users expect `X-Count: 3` to work.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderValues(pub Vec<String>);

impl<'de> Deserialize<'de> for HeaderValues {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HeaderVisitor { list: true })
    }
}

/// Accepts a scalar, and a list of scalars when `list` is set.
struct HeaderVisitor {
    list: bool,
}

impl<'de> serde::de::Visitor<'de> for HeaderVisitor {
    type Value = HeaderValues;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.list {
            "a header value or a list of header values"
        } else {
            "a header value (string, number or boolean)"
        })
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_owned()]))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<HeaderValues, A::Error> {
        if !self.list {
            return Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Seq,
                &self,
            ));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<ScalarText>()? {
            out.push(v.0);
        }
        Ok(HeaderValues(out))
    }
}

/// One item of a header list.
struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = d.deserialize_any(HeaderVisitor { list: false })?;
        Ok(ScalarText(v.0.pop().unwrap_or_default()))
    }
}

impl JsonSchema for HeaderValues {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HeaderValues".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A header value, or a list of values sent as repeated headers.",
            "anyOf": [
                { "type": ["string", "number", "boolean"] },
                { "type": "array", "items": { "type": ["string", "number", "boolean"] } }
            ]
        })
    }
}
