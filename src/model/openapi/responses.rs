//! An operation's responses, compiled: status keys, headers, and per media type the named
//! examples, the bundled schema, and the value generated from it in static mode (once, on the
//! first answer that needs it: a document of hundreds of operations loads without generating
//! a value for each).

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::document::{Place, Version};
use super::generate::{Fill, generate};
use super::pass::DocPass;
use super::schema::{Direction, bundle};

/// How a response is keyed in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKey {
    Code(u16),
    /// `2XX`: the hundreds digit.
    Range(u16),
    Default,
}

impl StatusKey {
    fn parse(key: &str) -> Option<StatusKey> {
        if key == "default" {
            return Some(StatusKey::Default);
        }
        let upper = key.to_ascii_uppercase();
        if let Some(d) = upper.strip_suffix("XX")
            && let Ok(d) = d.parse::<u16>()
            && (1..=5).contains(&d)
        {
            return Some(StatusKey::Range(d));
        }
        key.parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
            .map(StatusKey::Code)
    }
}

/// A response of the operation.
#[derive(Debug)]
pub(crate) struct OpResponse {
    pub(crate) key: StatusKey,
    /// Header values, generated once from their schema or example.
    pub(crate) headers: Vec<(String, String)>,
    /// One per media type, in the document's order; empty for a response without a body.
    pub(crate) contents: Vec<Content>,
}

/// One media type of a response.
#[derive(Debug)]
pub(crate) struct Content {
    pub(crate) media_type: String,
    /// Named examples, in order (`example:` is one named `default`).
    pub(crate) examples: Vec<(String, Value)>,
    /// The schema, bundled, for dynamic generation.
    pub(crate) schema: Option<Arc<Value>>,
    /// The static value generated from the schema, on first use: a large document loads
    /// without generating a value for every response, and each one is generated once.
    pub(crate) generated: OnceLock<Value>,
}

impl Content {
    /// The body of the static answer: the first example, else the generated value.
    pub(crate) fn static_body(&self) -> Option<&Value> {
        if let Some((_, v)) = self.examples.first() {
            return Some(v);
        }
        let schema = self.schema.as_ref()?;
        Some(
            self.generated
                .get_or_init(|| generate(schema, Fill::Static)),
        )
    }
}

impl DocPass<'_> {
    /// The responses of the operation at `op`, in the document's order (which decides when
    /// neither a success nor `default` is declared).
    pub(crate) fn responses(&mut self, op: &Place) -> Vec<OpResponse> {
        let at = op.child("responses");
        let map = match self.docs.get(&at).cloned() {
            Some(Value::Object(map)) => map,
            // 3.1 made `responses` optional; such an operation answers that it has none.
            None if self.docs.version == Version::V31 => return Vec::new(),
            _ => {
                self.error(op, "an operation needs `responses`");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for key in map.keys() {
            let here = at.child(key);
            let Some(status) = StatusKey::parse(key) else {
                if !key.starts_with("x-") {
                    self.error(
                        &here,
                        format!("'{key}' is no status code: 200, 4XX or default"),
                    );
                }
                continue;
            };
            if let Some(r) = self.response(&here, status) {
                out.push(r);
            }
        }
        out
    }

    fn response(&mut self, place: &Place, key: StatusKey) -> Option<OpResponse> {
        let (at, r) = self.deref(place)?;
        let mut headers = Vec::new();
        if let Some(Value::Object(hs)) = r.get("headers") {
            for name in hs.keys() {
                // Content-Type is the media type's; a document listing it would send two.
                if name.eq_ignore_ascii_case("content-type") {
                    continue;
                }
                if let Some(value) = self.header_value(&at.child("headers").child(name)) {
                    headers.push((name.clone(), value));
                }
            }
        }
        let mut contents = Vec::new();
        if let Some(Value::Object(content)) = r.get("content") {
            // A stray non-mapping entry (`description: ok` inside `content`) is no media type.
            for (media, m) in content.iter().filter(|(_, m)| m.is_object()) {
                contents.push(self.content(&at.child("content").child(media), media, m));
            }
        }
        Some(OpResponse {
            key,
            headers,
            contents,
        })
    }

    fn content(&mut self, at: &Place, media: &str, m: &Value) -> Content {
        let mut examples = Vec::new();
        if let Some(Value::Object(named)) = m.get("examples") {
            for name in named.keys() {
                if let Some(v) = self.example(&at.child("examples").child(name)) {
                    examples.push((name.clone(), v));
                }
            }
        }
        if examples.is_empty()
            && let Some(v) = m.get("example")
        {
            examples.push(("default".into(), v.clone()));
        }
        let (schema, generated) = match m.get("schema") {
            Some(_) => {
                let (schema, broken) = bundle(self.docs, &at.child("schema"), Direction::Response);
                for (p, why) in broken {
                    self.error(&p, why);
                }
                (Some(Arc::new(schema)), OnceLock::new())
            }
            None => (None, OnceLock::new()),
        };
        Content {
            media_type: media.to_ascii_lowercase(),
            examples,
            schema,
            generated,
        }
    }

    /// A named example's value: inline `value`; `externalValue` is not fetched.
    fn example(&mut self, place: &Place) -> Option<Value> {
        let (at, e) = self.deref(place)?;
        if let Some(v) = e.get("value") {
            return Some(v.clone());
        }
        if e.get("externalValue").is_some() {
            self.warn(
                &at.child("externalValue"),
                "externalValue is not fetched: the example is left out",
            );
        }
        None
    }

    /// A response header's value: its example, else one generated from its schema, written
    /// in the simple style (arrays joined by commas).
    fn header_value(&mut self, place: &Place) -> Option<String> {
        let (at, h) = self.deref(place)?;
        let value = if let Some(v) = h.get("example") {
            v.clone()
        } else if let Some(Value::Object(ex)) = h.get("examples") {
            let first = ex.keys().next()?.clone();
            self.example(&at.child("examples").child(&first))?
        } else if h.get("schema").is_some() {
            let (schema, broken) = bundle(self.docs, &at.child("schema"), Direction::Response);
            for (p, why) in broken {
                self.error(&p, why);
            }
            generate(&schema, Fill::Static)
        } else {
            return None;
        };
        Some(simple_text(&value))
    }
}

/// A value in the simple style: text as it is, arrays and objects comma-joined.
pub(crate) fn simple_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(simple_text).collect::<Vec<_>>().join(","),
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| [k.clone(), simple_text(v)])
            .collect::<Vec<_>>()
            .join(","),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_keys() {
        assert_eq!(StatusKey::parse("200"), Some(StatusKey::Code(200)));
        assert_eq!(StatusKey::parse("2XX"), Some(StatusKey::Range(2)));
        assert_eq!(StatusKey::parse("4xx"), Some(StatusKey::Range(4)));
        assert_eq!(StatusKey::parse("default"), Some(StatusKey::Default));
        assert_eq!(StatusKey::parse("600"), None);
    }
}
