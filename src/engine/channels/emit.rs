//! `emit`: a route or resource that answered sends a message to a channel's subscribers.

use std::sync::Arc;

use serde_json::Value;

use super::frame::SseFrame;
use super::hub::Hub;
use crate::model::channel::{CompiledEmit, EmitTarget};
use crate::random::SeededRng;
use crate::template::{Template, TemplateSet};

/// Sends one compiled emit with `ctx` as template context; `default` is the payload when the
/// emit has none; `rng` is the answer's generator under `--seed`.
pub(crate) async fn emit(
    hub: &Hub,
    templates: &TemplateSet,
    e: &CompiledEmit,
    ctx: &Value,
    rng: Option<&Arc<SeededRng>>,
    default: impl FnOnce() -> Value,
) -> usize {
    let payload = match &e.payload {
        Some(tpl) => templates.render(tpl, ctx, rng),
        None => default(),
    };
    let text = |t: &Template| match templates.render(t, ctx, rng) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    match &e.target {
        EmitTarget::WebSocket(path) => {
            let text_payload = match payload {
                Value::String(s) => s,
                other => other.to_string(),
            };
            hub.send_ws(&text(path), text_payload, None).await
        }
        EmitTarget::Topic(name) => hub.publish_topic(&text(name), payload).1,
        EmitTarget::Sse(path) => {
            // One line each: a rendered line break would end the field early.
            let line = |t: &Template| text(t).replace(['\r', '\n'], " ");
            hub.send_sse(
                &text(path),
                &SseFrame {
                    event: e.event.as_ref().map(line),
                    id: e.id.as_ref().map(line),
                    data: Some(payload),
                },
            )
        }
    }
}
