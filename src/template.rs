//! Templated values: JSON (or text) in the spec whose strings may hold `{{ … }}`.
//!
//! Everything is compiled when the spec loads, into one minijinja environment per runtime; a
//! value without any template is kept as finished JSON and costs nothing to render. A string
//! that is exactly one `{{ expression }}` keeps the expression's type (`n: "{{ counter }}"`
//! renders the number 3, not the text "3"); any other templated string renders as text.

use std::sync::Arc;

use minijinja::Environment;
use serde_json::{Map, Value};

/// The templates of one runtime. Cheap to clone.
#[derive(Clone, Default)]
pub struct Templates {
    env: Arc<Environment<'static>>,
}

/// Collects templates while a runtime compiles.
pub struct Builder {
    env: Environment<'static>,
    next: usize,
}

impl Default for Builder {
    fn default() -> Self {
        let mut env = Environment::new();
        // Output is JSON or plain text, never HTML.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        Builder { env, next: 0 }
    }
}

/// A value, compiled.
#[derive(Debug, Clone)]
pub enum Tpl {
    /// No template inside.
    Fixed(Value),
    /// Rendered as text.
    Text(String),
    /// One whole `{{ expression }}`: rendered through `tojson` and parsed back.
    Typed(String),
    Array(Vec<Tpl>),
    Object(Vec<(String, Tpl)>),
}

pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

impl Builder {
    fn add(&mut self, source: String) -> Result<String, String> {
        let name = format!("t{}", self.next);
        self.next += 1;
        self.env
            .add_template_owned(name.clone(), source)
            .map_err(|e| match e.detail() {
                Some(detail) => format!("template: {}: {detail}", e.kind()),
                None => format!("template: {}", e.kind()),
            })?;
        Ok(name)
    }

    /// Compiles every templated string inside `v`.
    pub fn json(&mut self, v: &Value) -> Result<Tpl, String> {
        if !contains_template(v) {
            return Ok(Tpl::Fixed(v.clone()));
        }
        Ok(match v {
            Value::String(s) => {
                let t = s.trim();
                let whole = t
                    .strip_prefix("{{")
                    .and_then(|r| r.strip_suffix("}}"))
                    .filter(|inner| !inner.contains("{{") && !inner.contains("}}"));
                match whole {
                    Some(expr) => Tpl::Typed(self.add(format!("{{{{ ({expr}) | tojson }}}}"))?),
                    None => Tpl::Text(self.add(s.clone())?),
                }
            }
            Value::Array(items) => Tpl::Array(
                items
                    .iter()
                    .map(|i| self.json(i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Tpl::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.json(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => Tpl::Fixed(other.clone()),
        })
    }

    /// Compiles a text template (always rendered as text).
    pub fn text(&mut self, s: &str) -> Result<Tpl, String> {
        if is_template(s) {
            Ok(Tpl::Text(self.add(s.to_owned())?))
        } else {
            Ok(Tpl::Fixed(Value::String(s.to_owned())))
        }
    }

    pub fn finish(self) -> Templates {
        Templates {
            env: Arc::new(self.env),
        }
    }
}

fn contains_template(v: &Value) -> bool {
    match v {
        Value::String(s) => is_template(s),
        Value::Array(a) => a.iter().any(contains_template),
        Value::Object(m) => m.values().any(contains_template),
        _ => false,
    }
}

impl Templates {
    /// Renders `tpl` with `ctx` (a JSON object of variables). A template that fails renders as
    /// the error's text, so a mistake shows up in the message rather than dropping it.
    pub fn render(&self, tpl: &Tpl, ctx: &Value) -> Value {
        match tpl {
            Tpl::Fixed(v) => v.clone(),
            Tpl::Text(name) => Value::String(self.run(name, ctx)),
            Tpl::Typed(name) => {
                let out = self.run(name, ctx);
                serde_json::from_str(&out).unwrap_or(Value::String(out))
            }
            Tpl::Array(items) => Value::Array(items.iter().map(|i| self.render(i, ctx)).collect()),
            Tpl::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), self.render(v, ctx)))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }

    fn run(&self, name: &str, ctx: &Value) -> String {
        let result = self
            .env
            .get_template(name)
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(ctx))));
        result.unwrap_or_else(|e| format!("template error: {e}"))
    }
}

impl Tpl {
    /// Whether rendering needs a context at all.
    pub fn is_fixed(&self) -> bool {
        matches!(self, Tpl::Fixed(_))
    }
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_expressions_keep_their_type_and_text_stays_text() {
        let mut b = Builder::default();
        let tpl = b
            .json(&json!({"n": "{{ counter }}", "s": "n={{ counter }}", "m": "{{ message.channel }}", "fixed": [1, "x"]}))
            .unwrap();
        let t = b.finish();
        let out = t.render(&tpl, &json!({"counter": 3, "message": {"channel": "news"}}));
        assert_eq!(
            out,
            json!({"n": 3, "s": "n=3", "m": "news", "fixed": [1, "x"]})
        );
    }

    #[test]
    fn a_syntax_error_is_reported_at_load() {
        let mut b = Builder::default();
        assert!(b.json(&json!("{{ oops ")).is_err());
    }
}
