//! The real-time parts of a spec: WebSocket channels, SSE streams, and the `emit`s that push
//! to them from routes and resources.

use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;

use super::values::{DurationText, HeaderValues, yes};

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
    /// Publish every message a client sends on this long-polling topic (JSON parsed, else
    /// text); may use `params`.
    #[serde(default)]
    pub publish: Option<String>,
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
    /// Pushed and emitted events kept per concrete path (default 100, at most 1000, 0 keeps
    /// none), so a client that reconnects with `Last-Event-ID` gets the ones it missed. An
    /// event without an id gets one from mockrig (`e1`, `e2`, …).
    #[serde(default)]
    pub replay: Option<usize>,
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
    /// Event id (`id:`), used for resumption with `Last-Event-ID`; a template like `data`
    /// (`{{ counter }}`).
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
    /// Publish on this long-polling topic (see a route's `wait:`).
    #[serde(default)]
    pub topic: Option<String>,
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
