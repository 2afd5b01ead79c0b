//! Real-time channels as the compiler leaves them: WebSocket channels, SSE streams, and the
//! `emit`s of routes and resources that push to them. The open connections are the engine's
//! (`engine::channels`); these are the definitions they look up on every message.

use std::time::Duration;

use serde_json::Value;

use crate::duration;
use crate::spec::locate::{KeyPath, at, index};
use crate::spec::{self, WsMode};
use crate::template::{Template, TemplateSet};

use super::pass::{CompilePass, MESSAGE_NAMES, SSE_NAMES};
use super::problems::{Problems, reserved};
use super::router::Pattern;

/// The largest WebSocket message by default: 1 MiB.
pub(crate) const DEFAULT_MAX_MESSAGE: usize = 1024 * 1024;
const DEFAULT_PING: Duration = Duration::from_secs(10);
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One message to send, compiled.
#[derive(Debug, Clone)]
pub(crate) enum ChannelMessage {
    Text(Template),
    Json(Template),
}

impl ChannelMessage {
    /// The frame's text.
    pub(crate) fn render(
        &self,
        templates: &TemplateSet,
        ctx: &Value,
        rng: Option<&std::sync::Arc<crate::random::SeededRng>>,
    ) -> String {
        match self {
            ChannelMessage::Text(t) => match templates.render(t, ctx, rng) {
                Value::String(s) => s,
                other => other.to_string(),
            },
            ChannelMessage::Json(t) => templates.render(t, ctx, rng).to_string(),
        }
    }
}

/// When a scripted reply applies.
#[derive(Debug, Clone)]
pub(crate) enum ReplyCondition {
    Any,
    Text(String),
    Regex(regex::Regex),
    Json(Value),
}

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) condition: ReplyCondition,
    pub(crate) send: Vec<ChannelMessage>,
    pub(crate) delay: Duration,
}

/// A WebSocket channel, compiled.
#[derive(Debug)]
pub(crate) struct WsChannel {
    /// The path as declared: the channel's identity across reloads.
    pub(crate) path: String,
    pub(crate) pattern: Pattern,
    pub(crate) mode: WsMode,
    pub(crate) include_sender: bool,
    pub(crate) on_connect: Vec<ChannelMessage>,
    pub(crate) replies: Vec<Reply>,
    pub(crate) every: Option<(Duration, Vec<ChannelMessage>)>,
    pub(crate) subprotocols: Vec<String>,
    pub(crate) max_message: usize,
    pub(crate) ping_interval: Duration,
    /// The long-polling topic each client message is published on.
    pub(crate) publish: Option<Template>,
}

/// One event of a stream's script: `data` may hold templates.
#[derive(Debug, Clone)]
pub(crate) struct ScriptedEvent {
    pub(crate) event: Option<String>,
    /// A template like `data`; `Last-Event-ID` is matched against it as the script's first
    /// pass renders it.
    pub(crate) id: Option<Template>,
    pub(crate) data: Option<Template>,
}

/// An SSE stream, compiled.
#[derive(Debug)]
pub(crate) struct SseChannel {
    pub(crate) path: String,
    pub(crate) pattern: Pattern,
    pub(crate) retry: Option<u64>,
    pub(crate) events: Vec<ScriptedEvent>,
    pub(crate) every: Option<Duration>,
    pub(crate) repeat: bool,
    pub(crate) keep_alive: Duration,
    /// Pushed events kept per concrete path for `Last-Event-ID`.
    pub(crate) replay: usize,
}

/// Where an emit goes: a concrete path, possibly templated (`/ws/rooms/{{ params.room }}`).
#[derive(Debug, Clone)]
pub(crate) enum EmitTarget {
    WebSocket(Template),
    Sse(Template),
    /// A long-polling topic's name.
    Topic(Template),
}

/// A route's or resource's `emit`, compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledEmit {
    pub(crate) target: EmitTarget,
    pub(crate) event: Option<Template>,
    pub(crate) id: Option<Template>,
    /// The payload; none: the caller's default payload.
    pub(crate) payload: Option<Template>,
}

/// A channel's path: a pattern outside mockrig's own prefix.
fn channel_path(path: &str, key: KeyPath, problems: &mut Problems) -> Option<Pattern> {
    match Pattern::parse(path) {
        Ok(p) => {
            reserved(path, key, problems);
            Some(p)
        }
        Err(e) => {
            problems.value(key, e.to_string());
            None
        }
    }
}

/// An interval: a duration above 0, or `default` when not given.
fn interval(
    d: &Option<spec::DurationText>,
    default: Duration,
    key: KeyPath,
    problems: &mut Problems,
) -> Duration {
    match d.as_ref().map(|d| duration::parse(&d.0)) {
        None => default,
        Some(Ok(v)) if v.is_zero() => {
            problems.value(key, "an interval must be longer than 0");
            default
        }
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            problems.value(key, e.to_string());
            default
        }
    }
}

fn message(
    m: &spec::WsMessage,
    here: &KeyPath,
    cx: &mut CompilePass<'_>,
) -> Option<ChannelMessage> {
    match (&m.text, &m.json) {
        (Some(_), Some(_)) => {
            cx.problems.key(
                at(here, &["json"]),
                "a message is either text or json, not both",
            );
            None
        }
        (None, None) => {
            cx.problems
                .value(here.clone(), "a message needs text or json");
            None
        }
        (Some(t), None) => cx
            .text(t, at(here, &["text"]), MESSAGE_NAMES)
            .map(ChannelMessage::Text),
        (None, Some(j)) => cx
            .json(j, at(here, &["json"]), MESSAGE_NAMES)
            .map(ChannelMessage::Json),
    }
}

fn messages(
    list: &[spec::WsMessage],
    here: &KeyPath,
    cx: &mut CompilePass<'_>,
) -> Vec<ChannelMessage> {
    list.iter()
        .enumerate()
        .filter_map(|(i, m)| message(m, &index(here, i), cx))
        .collect()
}

/// Compiles `websockets[i]`.
pub(crate) fn websocket(
    w: &spec::WebSocket,
    here: &KeyPath,
    cx: &mut CompilePass<'_>,
) -> Option<WsChannel> {
    let mark = cx.problems.mark();
    let pattern = channel_path(&w.path, at(here, &["path"]), &mut cx.problems);
    let on_connect = messages(&w.on_connect, &at(here, &["on_connect"]), cx);
    let mut replies = Vec::new();
    for (j, r) in w.replies.iter().enumerate() {
        let rp = index(&at(here, &["replies"]), j);
        let conditions = [r.text.is_some(), r.regex.is_some(), r.json.is_some()];
        if conditions.iter().filter(|c| **c).count() > 1 {
            cx.problems.value(
                rp.clone(),
                "a reply has one condition: match, regex or json",
            );
        }
        let condition = match (&r.text, &r.regex, &r.json) {
            (Some(text), _, _) => ReplyCondition::Text(text.clone()),
            (_, Some(re), _) => match regex::Regex::new(re) {
                Ok(re) => ReplyCondition::Regex(re),
                Err(e) => {
                    // regex's own message draws a caret over several lines; ours already points.
                    let e = e.to_string();
                    let why = e
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim_start_matches("error: ");
                    cx.problems.value(
                        at(&rp, &["regex"]),
                        format!("not a regular expression: {why}"),
                    );
                    ReplyCondition::Any
                }
            },
            (_, _, Some(j)) => ReplyCondition::Json(j.clone()),
            _ => ReplyCondition::Any,
        };
        let send = messages(&r.send.0, &at(&rp, &["send"]), cx);
        let delay = match r.delay.as_ref().map(|d| duration::parse(&d.0)) {
            None => Duration::ZERO,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                cx.problems.value(at(&rp, &["delay"]), e.to_string());
                Duration::ZERO
            }
        };
        replies.push(Reply {
            condition,
            send,
            delay,
        });
    }
    let every = w.every.as_ref().map(|every| {
        let period = interval(
            &Some(every.interval.clone()),
            Duration::from_secs(1),
            at(here, &["every", "interval"]),
            &mut cx.problems,
        );
        (
            period,
            messages(&every.send.0, &at(here, &["every", "send"]), cx),
        )
    });
    if w.max_message_bytes == Some(0) {
        cx.problems
            .value(at(here, &["max_message_bytes"]), "must be at least 1");
    }
    let ping_interval = interval(
        &w.ping_interval,
        DEFAULT_PING,
        at(here, &["ping_interval"]),
        &mut cx.problems,
    );
    let publish = w
        .publish
        .as_deref()
        .and_then(|t| cx.text(t, at(here, &["publish"]), &["params"]));
    if cx.problems.failed_since(mark) {
        return None;
    }
    Some(WsChannel {
        path: w.path.clone(),
        pattern: pattern?,
        mode: w.mode,
        include_sender: w.include_sender,
        on_connect,
        replies,
        every,
        subprotocols: w.subprotocols.clone(),
        max_message: w.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE),
        ping_interval,
        publish,
    })
}

/// `event` and `id` go on one line each: no line breaks.
fn sse_fields(
    here: &KeyPath,
    event: Option<&str>,
    id: Option<&spec::HeaderValues>,
    problems: &mut Problems,
) {
    if event.is_some_and(|e| e.contains(['\n', '\r'])) {
        problems.value(
            at(here, &["event"]),
            "an event type cannot contain a line break",
        );
    }
    if let Some(id) = id {
        if id.0.len() != 1 {
            problems.value(at(here, &["id"]), "an id is one value");
        } else if id.0[0].contains(['\n', '\r', '\0']) {
            problems.value(at(here, &["id"]), "an id cannot contain line breaks or NUL");
        }
    }
}

fn scalar(v: &Option<spec::HeaderValues>) -> Option<String> {
    v.as_ref().and_then(|v| v.0.first().cloned())
}

/// Pushed events an SSE path keeps for `Last-Event-ID` unless `replay` says otherwise.
pub(crate) const DEFAULT_REPLAY: usize = 100;
/// The most `replay` may ask for.
pub(crate) const MAX_REPLAY: usize = 1000;

/// Compiles `sse[i]`.
pub(crate) fn sse(
    s: &spec::SseStream,
    here: &KeyPath,
    cx: &mut CompilePass<'_>,
) -> Option<SseChannel> {
    let mark = cx.problems.mark();
    let pattern = channel_path(&s.path, at(here, &["path"]), &mut cx.problems);
    let every = s.every.is_some().then(|| {
        interval(
            &s.every,
            Duration::from_secs(1),
            at(here, &["every"]),
            &mut cx.problems,
        )
    });
    let keep_alive = interval(
        &s.keep_alive,
        DEFAULT_KEEP_ALIVE,
        at(here, &["keep_alive"]),
        &mut cx.problems,
    );
    let mut events = Vec::with_capacity(s.events.len());
    for (j, e) in s.events.iter().enumerate() {
        let p = index(&at(here, &["events"]), j);
        sse_fields(&p, e.event.as_deref(), e.id.as_ref(), &mut cx.problems);
        let data = match &e.data {
            Some(d) => cx.json(d, at(&p, &["data"]), SSE_NAMES),
            None => None,
        };
        let id = scalar(&e.id).and_then(|t| cx.text(&t, at(&p, &["id"]), SSE_NAMES));
        events.push(ScriptedEvent {
            event: e.event.clone(),
            id,
            data,
        });
    }
    let replay = s.replay.unwrap_or(DEFAULT_REPLAY);
    if replay > MAX_REPLAY {
        cx.problems.value(
            at(here, &["replay"]),
            format!("at most {MAX_REPLAY} events are kept per path"),
        );
    }
    if cx.problems.failed_since(mark) {
        return None;
    }
    Some(SseChannel {
        path: s.path.clone(),
        pattern: pattern?,
        retry: s.retry,
        events,
        every,
        repeat: s.repeat,
        keep_alive,
        replay,
    })
}

/// Compiles the `emit` list at `here`, whose templates see the names `known`.
pub(crate) fn emits(
    list: &[spec::Emit],
    here: &KeyPath,
    known: &[&str],
    cx: &mut CompilePass<'_>,
) -> Vec<CompiledEmit> {
    let mut out = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let mark = cx.problems.mark();
        let here = index(here, i);
        let target = match (&e.websocket, &e.sse, &e.topic) {
            (None, None, None) => {
                cx.problems.value(
                    here.clone(),
                    "an emit needs a target: websocket: PATH, sse: PATH or topic: NAME",
                );
                None
            }
            (Some(p), None, None) => cx
                .text(p, at(&here, &["websocket"]), known)
                .map(EmitTarget::WebSocket),
            (None, Some(p), None) => cx.text(p, at(&here, &["sse"]), known).map(EmitTarget::Sse),
            (None, None, Some(t)) => cx
                .text(t, at(&here, &["topic"]), known)
                .map(EmitTarget::Topic),
            _ => {
                cx.problems.value(
                    here.clone(),
                    "an emit goes to one target: a websocket path, an sse path or a topic",
                );
                None
            }
        };
        let given: Vec<&str> = [
            ("json", e.json.is_some()),
            ("text", e.text.is_some()),
            ("data", e.data.is_some()),
        ]
        .iter()
        .filter(|k| k.1)
        .map(|k| k.0)
        .collect();
        if given.len() > 1 {
            cx.problems.key(
                at(&here, &[given[1]]),
                format!("an emit has one payload; {} is already given", given[0]),
            );
        }
        let payload = match (&e.json, &e.text, &e.data) {
            (Some(j), _, _) => cx.json(j, at(&here, &["json"]), known),
            (_, Some(s), _) => cx.text(s, at(&here, &["text"]), known),
            // Text data is sent as it renders, never parsed as a typed value.
            (_, _, Some(Value::String(s))) => cx.text(s, at(&here, &["data"]), known),
            (_, _, Some(d)) => cx.json(d, at(&here, &["data"]), known),
            _ => None,
        };
        let event = e
            .event
            .as_deref()
            .and_then(|v| cx.text(v, at(&here, &["event"]), known));
        let id = scalar(&e.id).and_then(|v| cx.text(&v, at(&here, &["id"]), known));
        if (e.websocket.is_some() || e.topic.is_some()) && (e.event.is_some() || e.id.is_some()) {
            cx.problems
                .value(here.clone(), "event and id belong to sse emits");
        }
        sse_fields(&here, e.event.as_deref(), e.id.as_ref(), &mut cx.problems);
        if let (Some(target), false) = (target, cx.problems.failed_since(mark)) {
            out.push(CompiledEmit {
                target,
                event,
                id,
                payload,
            });
        }
    }
    out
}
