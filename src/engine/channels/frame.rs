//! Server-Sent Events on the wire: `id:`, `event:`, `data:` lines and the blank line that ends
//! an event, encoded so that no text can smuggle in a field of its own.

use actix_web::web::Bytes;
use serde_json::Value;

/// One Server-Sent Event, ready to send but for its data's templates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SseFrame {
    pub(crate) event: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) data: Option<Value>,
}

impl SseFrame {
    /// The event as it goes on the wire: `id:`, `event:`, one `data:` line per line of text
    /// (JSON on one line), and the blank line that ends it.
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = String::new();
        if let Some(id) = &self.id {
            out.push_str(&format!("id: {id}\n"));
        }
        if let Some(e) = &self.event {
            out.push_str(&format!("event: {e}\n"));
        }
        let data = match &self.data {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        // SSE clients end a line at CRLF, LF or a lone CR: each becomes a line of its own, so
        // no text can smuggle in a field of its own (`\rid: x`).
        for line in data.split("\r\n").flat_map(|l| l.split(['\n', '\r'])) {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sse_events_put_json_on_one_line_and_split_text_lines() {
        let e = SseFrame {
            event: Some("tick".into()),
            id: Some("7".into()),
            data: Some(json!({"n": 1, "s": "a\nb"})),
        };
        assert_eq!(
            e.encode(),
            "id: 7\nevent: tick\ndata: {\"n\":1,\"s\":\"a\\nb\"}\n\n"
        );
        let text = SseFrame {
            event: None,
            id: None,
            data: Some(json!("line one\nline two")),
        };
        assert_eq!(text.encode(), "data: line one\ndata: line two\n\n");
        let sneaky = SseFrame {
            event: None,
            id: None,
            data: Some(json!("a\rid: x\r\nb")),
        };
        assert_eq!(sneaky.encode(), "data: a\ndata: id: x\ndata: b\n\n");
    }
}
