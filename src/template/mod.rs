//! Templated values: JSON (or text) in the spec whose strings may hold `{{ … }}`.
//!
//! Everything is compiled when the spec loads, into one minijinja environment per compiled
//! spec; a value without any template is kept as finished JSON and costs nothing to render. A string
//! that is exactly one `{{ expression }}` keeps the expression's type (`n: "{{ counter }}"`
//! renders the number 3, not the text "3"); any other templated string renders as text.
//!
//! [`functions`] has what templates can call (`now()`, `uuid()`, `random_int()`, `fake.*`);
//! the random values they draw come from the generator the caller passes with the context
//! (`--seed`, see `crate::random`). The `request` a response template sees is built by the
//! engine (`engine::template_context`), which knows HTTP.

pub(crate) mod bounds;
pub(crate) mod functions;

use std::collections::BTreeSet;
use std::sync::Arc;

use minijinja::Environment;
use serde_json::{Map, Value};

use crate::error::Invalid;
use crate::random::SeededRng;

/// The templates of one compiled spec. Cheap to clone.
#[derive(Clone)]
pub(crate) struct TemplateSet {
    env: Arc<Environment<'static>>,
    /// The bytes one response's (or message's) templates may render together.
    budget: usize,
}

impl Default for TemplateSet {
    fn default() -> Self {
        TemplateBuilder::default().finish()
    }
}

/// Collects templates while a spec compiles.
pub(crate) struct TemplateBuilder {
    env: Environment<'static>,
    next: usize,
    budget: usize,
}

/// Instructions one rendering may run: far more than any response needs, few enough that a
/// runaway loop (`range(10**9)`) fails in milliseconds instead of holding a worker.
const FUEL: u64 = 1_000_000;

impl Default for TemplateBuilder {
    fn default() -> Self {
        TemplateBuilder::new(bounds::DEFAULT_BUDGET)
    }
}

/// A value, compiled: JSON whose strings may be templates, or a text template.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    /// No template inside.
    Fixed(Value),
    /// Rendered as text.
    Text(String),
    /// One whole `{{ expression }}`: rendered through `tojson` and parsed back.
    Typed(String),
    Array(Vec<Template>),
    Object(Vec<(String, Template)>),
}

pub(crate) fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

impl TemplateBuilder {
    /// A builder whose templates render at most `budget` bytes per response or message.
    pub(crate) fn new(budget: usize) -> TemplateBuilder {
        let mut env = Environment::new();
        // Output is JSON or plain text, never HTML.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.set_fuel(Some(FUEL));
        functions::register(&mut env);
        bounds::register(&mut env, budget);
        TemplateBuilder {
            env,
            next: 0,
            budget,
        }
    }

    fn add(&mut self, source: String) -> Result<String, Invalid> {
        let name = format!("t{}", self.next);
        self.next += 1;
        self.env
            .add_template_owned(name.clone(), source)
            .map_err(|e| {
                Invalid(match e.detail() {
                    Some(detail) => format!("template: {}: {detail}", e.kind()),
                    None => format!("template: {}", e.kind()),
                })
            })?;
        Ok(name)
    }

    /// Compiles every templated string inside `v` (the compiler walks bodies itself, to
    /// report each string at its own key).
    #[cfg(test)]
    pub(crate) fn json(&mut self, v: &Value) -> Result<Template, Invalid> {
        if !contains_template(v) {
            return Ok(Template::Fixed(v.clone()));
        }
        Ok(match v {
            Value::String(s) => self.json_string(s)?,
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .map(|i| self.json(i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Template::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.json(v)?)))
                    .collect::<Result<_, Invalid>>()?,
            ),
            other => Template::Fixed(other.clone()),
        })
    }

    /// Compiles one string of a JSON value: a string that is exactly one `{{ expression }}`
    /// keeps the expression's type, any other renders as text.
    pub(crate) fn json_string(&mut self, s: &str) -> Result<Template, Invalid> {
        if !is_template(s) {
            return Ok(Template::Fixed(Value::String(s.to_owned())));
        }
        let t = s.trim();
        let whole = t
            .strip_prefix("{{")
            .and_then(|r| r.strip_suffix("}}"))
            .filter(|inner| !inner.contains("{{") && !inner.contains("}}"));
        Ok(match whole {
            Some(expr) => Template::Typed(self.add(format!("{{{{ ({expr}) | tojson }}}}"))?),
            None => Template::Text(self.add(s.to_owned())?),
        })
    }

    /// Compiles a text template (always rendered as text).
    pub(crate) fn text(&mut self, s: &str) -> Result<Template, Invalid> {
        if is_template(s) {
            Ok(Template::Text(self.add(s.to_owned())?))
        } else {
            Ok(Template::Fixed(Value::String(s.to_owned())))
        }
    }

    /// The variables `tpl` reads that are neither in `known` nor a function: a typo that
    /// would otherwise render as nothing, found at load.
    pub(crate) fn unknown_names(&self, tpl: &Template, known: &[&str]) -> Vec<String> {
        let globals: BTreeSet<&str> = self.env.globals().map(|(name, _)| name).collect();
        let mut out = BTreeSet::new();
        tpl.for_each_name(&mut |name| {
            if let Ok(t) = self.env.get_template(name) {
                for var in t.undeclared_variables(false) {
                    if !known.contains(&var.as_str()) && !globals.contains(var.as_str()) {
                        out.insert(var);
                    }
                }
            }
        });
        out.into_iter().collect()
    }

    /// The `fake.*` methods `tpl` calls that do not exist (`fake.nmae()`).
    pub(crate) fn unknown_fake_methods(&self, tpl: &Template) -> Vec<String> {
        static CALL: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let call = CALL.get_or_init(|| {
            regex::Regex::new(r"\bfake\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)").expect("a valid pattern")
        });
        let mut out = BTreeSet::new();
        tpl.for_each_name(&mut |name| {
            if let Ok(t) = self.env.get_template(name) {
                for c in call.captures_iter(t.source()) {
                    if !functions::FAKE_METHODS.contains(&&c[1]) {
                        out.insert(c[1].to_owned());
                    }
                }
            }
        });
        out.into_iter().collect()
    }

    /// The fields of `root` that `tpl` reads and `root` does not have (`request.bdy`).
    pub(crate) fn unknown_fields(
        &self,
        tpl: &Template,
        root: &str,
        fields: &[&str],
    ) -> Vec<String> {
        let prefix = format!("{root}.");
        let mut out = BTreeSet::new();
        tpl.for_each_name(&mut |name| {
            if let Ok(t) = self.env.get_template(name) {
                for var in t.undeclared_variables(true) {
                    if let Some(field) = var
                        .strip_prefix(&prefix)
                        .map(|f| f.split('.').next().unwrap_or(f))
                        && !fields.contains(&field)
                    {
                        out.insert(field.to_owned());
                    }
                }
            }
        });
        out.into_iter().collect()
    }

    /// Whether any template of `tpl` reads `root.field` (or `root` whole).
    pub(crate) fn reads(&self, tpl: &Template, root: &str, field: &str) -> bool {
        let nested = format!("{root}.{field}");
        let mut found = false;
        tpl.for_each_name(&mut |name| {
            if let Ok(t) = self.env.get_template(name) {
                found |= t
                    .undeclared_variables(true)
                    .iter()
                    .any(|v| v == root || v == &nested || v.starts_with(&format!("{nested}.")));
            }
        });
        found
    }

    pub(crate) fn finish(self) -> TemplateSet {
        TemplateSet {
            env: Arc::new(self.env),
            budget: self.budget,
        }
    }
}

/// Whether any string inside `v` holds a template.
pub(crate) fn contains_template(v: &Value) -> bool {
    match v {
        Value::String(s) => is_template(s),
        Value::Array(a) => a.iter().any(contains_template),
        Value::Object(m) => m.values().any(contains_template),
        _ => false,
    }
}

impl TemplateSet {
    /// Renders `tpl` with `ctx` (a JSON object of variables) and, under `--seed`, the answer's
    /// generator. A template that fails renders as the error's text, so a mistake shows up in
    /// a message rather than dropping it; responses use [`TemplateSet::try_render`] and answer
    /// 500 instead.
    pub(crate) fn render(
        &self,
        tpl: &Template,
        ctx: &Value,
        rng: Option<&Arc<SeededRng>>,
    ) -> Value {
        if let Template::Fixed(v) = tpl {
            return v.clone();
        }
        let ctx = functions::with_rng(minijinja::Value::from(minijinja::value::Serde(ctx)), rng);
        let mut left = self.budget;
        self.render_with(tpl, &ctx, &mut left, &mut |e| {
            Ok(format!("template error: {e}"))
        })
        .unwrap_or_else(Value::String)
    }

    /// Renders `tpl` with a context already converted (once per request, for all of a
    /// response's templates, its generator included); the first failure is the error.
    pub(crate) fn try_render(
        &self,
        tpl: &Template,
        ctx: &minijinja::Value,
    ) -> Result<Value, RenderError> {
        let mut left = self.budget;
        self.render_with(tpl, ctx, &mut left, &mut |e| Err(describe(&e)))
            .map_err(RenderError)
    }

    /// Renders each of `tpls` with `ctx`, all of them within one budget (a record's computed
    /// fields); the error comes with the index of the one that failed.
    pub(crate) fn try_render_each(
        &self,
        tpls: &[&Template],
        ctx: &minijinja::Value,
    ) -> Result<Vec<Value>, (usize, RenderError)> {
        let mut left = self.budget;
        tpls.iter()
            .enumerate()
            .map(|(i, tpl)| {
                self.render_with(tpl, ctx, &mut left, &mut |e| Err(describe(&e)))
                    .map_err(|e| (i, RenderError(e)))
            })
            .collect()
    }

    /// Renders `tpl` straight to JSON text, without building the value first: the body of a
    /// templated response.
    pub(crate) fn try_render_json(
        &self,
        tpl: &Template,
        ctx: &minijinja::Value,
        out: &mut Vec<u8>,
    ) -> Result<(), RenderError> {
        let limit = out.len().saturating_add(self.budget);
        self.render_json(tpl, ctx, out, limit).map_err(RenderError)
    }

    /// Writes `tpl` into `out` as JSON, `out` growing to `limit` bytes at most.
    fn render_json(
        &self,
        tpl: &Template,
        ctx: &minijinja::Value,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), String> {
        fn write<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> Result<(), String> {
            serde_json::to_writer(out, v).map_err(|e| e.to_string())
        }
        match tpl {
            Template::Fixed(v) => write(out, v),
            Template::Text(name) => {
                let mut left = limit.saturating_sub(out.len());
                write(
                    out,
                    &self.run(name, ctx, &mut left).map_err(|e| describe(&e))?,
                )
            }
            Template::Typed(name) => {
                let mut left = limit.saturating_sub(out.len());
                let text = self.run(name, ctx, &mut left).map_err(|e| describe(&e))?;
                match serde_json::from_str::<Value>(&text) {
                    Ok(v) => write(out, &v),
                    Err(_) => write(out, &text),
                }
            }
            Template::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.render_json(item, ctx, out, limit)?;
                }
                out.push(b']');
                Ok(())
            }
            Template::Object(fields) => {
                out.push(b'{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(out, k)?;
                    out.push(b':');
                    self.render_json(v, ctx, out, limit)?;
                }
                out.push(b'}');
                Ok(())
            }
        }
    }

    /// Renders `tpl` to a value; its templates write `left` bytes at most, together.
    fn render_with(
        &self,
        tpl: &Template,
        ctx: &minijinja::Value,
        left: &mut usize,
        on_error: &mut dyn FnMut(minijinja::Error) -> Result<String, String>,
    ) -> Result<Value, String> {
        Ok(match tpl {
            Template::Fixed(v) => v.clone(),
            Template::Text(name) => {
                Value::String(self.run(name, ctx, left).or_else(&mut *on_error)?)
            }
            Template::Typed(name) => {
                let out = self.run(name, ctx, left).or_else(&mut *on_error)?;
                serde_json::from_str(&out).unwrap_or(Value::String(out))
            }
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.render_with(i, ctx, left, on_error))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_with(v, ctx, left, on_error)?)))
                    .collect::<Result<Map<String, Value>, String>>()?,
            ),
        })
    }

    /// Renders template `name`, writing at most `left` bytes (and taking them off it): a
    /// template that would write more fails, having held no more than that.
    fn run(
        &self,
        name: &str,
        ctx: &minijinja::Value,
        left: &mut usize,
    ) -> Result<String, minijinja::Error> {
        let mut out = Vec::new();
        let mut capped = bounds::Capped {
            out: &mut out,
            left: *left,
            exceeded: false,
        };
        let rendered = self
            .env
            .get_template(name)?
            .render_captured_to(ctx, &mut capped);
        if capped.exceeded {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!(
                    "the rendered output passed the template budget of {} bytes \
                     (--max-template-bytes)",
                    self.budget
                ),
            ));
        }
        rendered?;
        *left = capped.left;
        // minijinja writes whole UTF-8 strings.
        String::from_utf8(out).map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })
    }
}

/// A render error in one line: the kind, the detail, and the template's own line when it has
/// several.
fn describe(e: &minijinja::Error) -> String {
    let mut text = e.kind().to_string();
    if let Some(d) = e.detail() {
        text.push_str(": ");
        text.push_str(d);
    }
    text
}

impl Template {
    fn for_each_name(&self, f: &mut dyn FnMut(&str)) {
        match self {
            Template::Fixed(_) => {}
            Template::Text(n) | Template::Typed(n) => f(n),
            Template::Array(items) => items.iter().for_each(|i| i.for_each_name(f)),
            Template::Object(fields) => fields.iter().for_each(|(_, v)| v.for_each_name(f)),
        }
    }
}

/// Why a template could not be rendered: the error's kind and detail, on one line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct RenderError(pub(crate) String);

impl std::fmt::Debug for TemplateSet {
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
        let mut b = TemplateBuilder::default();
        let tpl = b
            .json(&json!({"n": "{{ counter }}", "s": "n={{ counter }}", "m": "{{ message.channel }}", "fixed": [1, "x"]}))
            .unwrap();
        let t = b.finish();
        let out = t.render(
            &tpl,
            &json!({"counter": 3, "message": {"channel": "news"}}),
            None,
        );
        assert_eq!(
            out,
            json!({"n": 3, "s": "n=3", "m": "news", "fixed": [1, "x"]})
        );
    }

    #[test]
    fn a_syntax_error_is_reported_at_load() {
        let mut b = TemplateBuilder::default();
        assert!(b.json(&json!("{{ oops ")).is_err());
    }

    #[test]
    fn unknown_names_and_what_is_read_are_found_at_load() {
        let mut b = TemplateBuilder::default();
        let tpl = b
            .json(&json!({"a": "{{ reqest.path }}", "b": "{{ fake.name() }} {{ uuid() }}", "c": "{{ request.body.id }}"}))
            .unwrap();
        assert_eq!(b.unknown_names(&tpl, &["request", "params"]), ["reqest"]);
        assert!(b.reads(&tpl, "request", "body"));
        assert!(!b.reads(&tpl, "request", "headers"));
    }

    #[test]
    fn a_runtime_error_is_an_error_for_responses() {
        let mut b = TemplateBuilder::default();
        let tpl = b.text("{{ random_int(5, 1) }}").unwrap();
        let t = b.finish();
        let err = t.try_render(&tpl, &minijinja::Value::from(())).unwrap_err();
        assert!(err.0.contains("random_int"), "{err}");
        let runaway = {
            let mut b = TemplateBuilder::default();
            let tpl = b
                .text("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}")
                .unwrap();
            b.finish().try_render(&tpl, &minijinja::Value::from(()))
        };
        assert!(runaway.is_err(), "fuel stops a runaway loop");
    }
}
