//! What one replica tells the others about its channels (`--state redis://`): a message for
//! the clients of a path, a push, an event, a topic's publication. On the wire: a JSON head,
//! a line break, then the body as it is (text, binary frames, or JSON data), so binary frames
//! cross without an encoding.

use actix_web::web::Bytes;
use serde_json::{Value, json};

use super::frame::SseFrame;

/// Reads the replicas' stubs again; with the version another replica announced, says so
/// once they are read.
pub(crate) type StubsChanged = Box<
    dyn Fn(Option<u64>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// A delivery another replica made to its own clients, to make to ours too.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Relayed {
    /// A broadcast or an emit to the WebSocket clients of a concrete path.
    Ws { path: String, frame: WsBody },
    /// An admin push to the WebSocket clients of a path or of a declared channel.
    PushWs { to: Reach, text: String },
    /// An event for the SSE subscribers of a concrete path (an emit, or a push to the path).
    Sse { path: String, frame: SseFrame },
    /// An admin push to the SSE subscribers of a declared channel.
    PushSse { channel: String, frame: SseFrame },
    /// A publication on a long-polling topic.
    Topic { name: String, data: Value },
    /// The runtime stubs changed (to this version): read them again, then say so.
    Stubs { version: u64 },
}

/// A WebSocket message as relayed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WsBody {
    Text(String),
    Binary(Bytes),
}

/// Whom a relayed push is for: connections are per replica, so only paths and channels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reach {
    Path(String),
    Channel(String),
}

impl Relayed {
    /// About what the message holds, in bytes: what the relay's queue counts.
    pub(crate) fn weight(&self) -> usize {
        let data = |v: &Option<Value>| v.as_ref().map_or(0, |v| v.to_string().len());
        64 + match self {
            Relayed::Ws { path, frame } => {
                path.len()
                    + match frame {
                        WsBody::Text(t) => t.len(),
                        WsBody::Binary(b) => b.len(),
                    }
            }
            Relayed::PushWs { text, .. } => text.len(),
            Relayed::Sse { path, frame } => path.len() + data(&frame.data),
            Relayed::PushSse { channel, frame } => channel.len() + data(&frame.data),
            Relayed::Topic { name, data } => name.len() + data.to_string().len(),
            Relayed::Stubs { .. } => 0,
        }
    }

    /// The message as published, marked with the replica it comes from.
    pub(crate) fn encode(&self, from: &str) -> Vec<u8> {
        let (head, body): (Value, Vec<u8>) = match self {
            Relayed::Ws { path, frame } => match frame {
                WsBody::Text(t) => (json!({"kind": "ws", "path": path}), t.as_bytes().to_vec()),
                WsBody::Binary(b) => (json!({"kind": "ws-binary", "path": path}), b.to_vec()),
            },
            Relayed::PushWs { to, text } => {
                let (key, value) = match to {
                    Reach::Path(p) => ("path", p),
                    Reach::Channel(c) => ("channel", c),
                };
                (
                    json!({"kind": "push-ws", key: value}),
                    text.as_bytes().to_vec(),
                )
            }
            Relayed::Sse { path, frame } => (
                json!({"kind": "sse", "path": path, "event": frame.event, "id": frame.id}),
                data_bytes(frame),
            ),
            Relayed::PushSse { channel, frame } => (
                json!({"kind": "push-sse", "channel": channel, "event": frame.event, "id": frame.id}),
                data_bytes(frame),
            ),
            Relayed::Topic { name, data } => (
                json!({"kind": "topic", "name": name}),
                data.to_string().into_bytes(),
            ),
            Relayed::Stubs { version } => {
                (json!({"kind": "stubs", "version": version}), Vec::new())
            }
        };
        let mut head = head;
        head["from"] = json!(from);
        let mut out = head.to_string().into_bytes();
        out.push(b'\n');
        out.extend_from_slice(&body);
        out
    }

    /// A published message and the replica it comes from; none for what mockrig did not
    /// publish.
    pub(crate) fn decode(bytes: &[u8]) -> Option<(String, Relayed)> {
        let at = bytes.iter().position(|b| *b == b'\n')?;
        let head: Value = serde_json::from_slice(&bytes[..at]).ok()?;
        let body = &bytes[at + 1..];
        let field = |k: &str| head[k].as_str().map(str::to_owned);
        let text = || String::from_utf8(body.to_vec()).ok();
        let frame = || -> Option<SseFrame> {
            Some(SseFrame {
                event: field("event"),
                id: field("id"),
                data: if body.is_empty() {
                    None
                } else {
                    Some(serde_json::from_slice(body).ok()?)
                },
            })
        };
        let message = match head["kind"].as_str()? {
            "ws" => Relayed::Ws {
                path: field("path")?,
                frame: WsBody::Text(text()?),
            },
            "ws-binary" => Relayed::Ws {
                path: field("path")?,
                frame: WsBody::Binary(Bytes::copy_from_slice(body)),
            },
            "push-ws" => Relayed::PushWs {
                to: match (field("path"), field("channel")) {
                    (Some(p), _) => Reach::Path(p),
                    (None, Some(c)) => Reach::Channel(c),
                    (None, None) => return None,
                },
                text: text()?,
            },
            "sse" => Relayed::Sse {
                path: field("path")?,
                frame: frame()?,
            },
            "push-sse" => Relayed::PushSse {
                channel: field("channel")?,
                frame: frame()?,
            },
            "topic" => Relayed::Topic {
                name: field("name")?,
                data: serde_json::from_slice(body).ok()?,
            },
            "stubs" => Relayed::Stubs {
                version: head["version"].as_u64()?,
            },
            _ => return None,
        };
        Some((field("from")?, message))
    }
}

fn data_bytes(frame: &SseFrame) -> Vec<u8> {
    frame
        .data
        .as_ref()
        .map(|d| d.to_string().into_bytes())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_it_was_sent() {
        let frame = SseFrame {
            event: Some("order".into()),
            id: Some("e7".into()),
            data: Some(json!({"id": 1, "text": "two\nlines"})),
        };
        let all = [
            Relayed::Ws {
                path: "/ws/chat".into(),
                frame: WsBody::Text("hé\nllo".into()),
            },
            Relayed::Ws {
                path: "/ws/bin".into(),
                frame: WsBody::Binary(Bytes::from_static(&[0, 10, 159, 255])),
            },
            Relayed::PushWs {
                to: Reach::Channel("/ws/rooms/{room}".into()),
                text: "hi".into(),
            },
            Relayed::PushWs {
                to: Reach::Path("/ws/rooms/a".into()),
                text: String::new(),
            },
            Relayed::Sse {
                path: "/events".into(),
                frame: frame.clone(),
            },
            Relayed::Sse {
                path: "/events".into(),
                frame: SseFrame {
                    event: None,
                    id: None,
                    data: None,
                },
            },
            Relayed::PushSse {
                channel: "/events/{user}".into(),
                frame,
            },
            Relayed::Topic {
                name: "orders".into(),
                data: json!([1, "x"]),
            },
            Relayed::Stubs { version: 7 },
        ];
        for m in all {
            let (from, back) = Relayed::decode(&m.encode("replica-1")).unwrap();
            assert_eq!((from.as_str(), &back), ("replica-1", &m));
        }
        assert_eq!(Relayed::decode(b"not mockrig's"), None);
        assert_eq!(Relayed::decode(b"{\"kind\":\"ws\"}\nno path"), None);
    }
}
