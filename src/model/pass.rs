//! What every part of the compile pass shares: the spec's folder, the templates compiled so
//! far, the problems found so far, and the default delay. Templates are checked here as they
//! are compiled (syntax, unknown names, `fake.*` methods, `request.*` fields), so each is
//! parsed once and every mistake is reported at its own key.

use std::path::Path;

use serde_json::Value;

use crate::duration::Delay;
use crate::spec::locate::{KeyPath, Seg};
use crate::suggest::did_you_mean;
use crate::template::functions::FAKE_METHODS;
use crate::template::{Template, TemplateBuilder, contains_template};

use super::private::PrivateFiles;
use super::problems::Problems;

/// The fields of `request` in response and emit templates.
pub(crate) const REQUEST_FIELDS: &[&str] = &[
    "method", "path", "params", "query", "headers", "cookies", "body",
];

/// What the templates of each place see.
pub(crate) const RESPONSE_NAMES: &[&str] = &["request", "params"];
/// A long-polling route's answer also sees the event that ended the wait.
pub(crate) const WAIT_NAMES: &[&str] = &["request", "params", "event", "event_id", "events"];
pub(crate) const MESSAGE_NAMES: &[&str] = &["message", "params", "counter"];
pub(crate) const SSE_NAMES: &[&str] = &["request", "params", "counter"];
pub(crate) const ROUTE_EMIT_NAMES: &[&str] = &["request", "params"];
pub(crate) const RESOURCE_EMIT_NAMES: &[&str] =
    &["request", "params", "action", "resource", "record"];
/// A resource's computed fields see the record being written and the one stored before
/// (`previous`, none on create); its `new_id` template sees `counter`, one more than the
/// records the collection has held.
pub(crate) const COMPUTED_NAMES: &[&str] = &["request", "params", "record", "previous"];
pub(crate) const NEW_ID_NAMES: &[&str] = &["request", "params", "record", "counter"];

/// The state of one compile pass.
pub(crate) struct CompilePass<'a> {
    /// The spec's canonical folder: the root of every file it names.
    pub(crate) dir: &'a Path,
    /// The files mockrig writes, which no `file:` may name.
    pub(crate) private: &'a PrivateFiles,
    pub(crate) templates: TemplateBuilder,
    pub(crate) problems: Problems,
    /// `server.delay`: the wait of every response that sets none.
    pub(crate) default_delay: Option<Delay>,
    /// The names a response's templates may read: `RESPONSE_NAMES`, or `WAIT_NAMES` while a
    /// long-polling route's answer is compiled.
    pub(crate) response_names: &'static [&'static str],
}

impl<'a> CompilePass<'a> {
    pub(crate) fn new(
        dir: &'a Path,
        private: &'a PrivateFiles,
        template_budget: usize,
    ) -> CompilePass<'a> {
        CompilePass {
            dir,
            private,
            templates: TemplateBuilder::new(template_budget),
            problems: Problems::default(),
            default_delay: None,
            response_names: RESPONSE_NAMES,
        }
    }

    /// A text template at `key`, whose context has the names `known`.
    pub(crate) fn text(&mut self, s: &str, key: KeyPath, known: &[&str]) -> Option<Template> {
        let compiled = self.templates.text(s);
        self.checked(compiled, key, known)
    }

    /// A template as compiled: its names checked, or its syntax error reported at `key`.
    fn checked(
        &mut self,
        compiled: Result<Template, crate::error::Invalid>,
        key: KeyPath,
        known: &[&str],
    ) -> Option<Template> {
        match compiled {
            Ok(tpl) => {
                self.check_names(&tpl, &key, known);
                Some(tpl)
            }
            Err(e) => {
                self.problems.value(key, e.to_string());
                None
            }
        }
    }

    /// JSON whose strings may be templates; each templated string is compiled and checked at
    /// its own key, so every mistake in a body is reported where it is.
    pub(crate) fn json(&mut self, v: &Value, key: KeyPath, known: &[&str]) -> Option<Template> {
        // Most bodies have no template: no key paths are built for them.
        if !contains_template(v) {
            return Some(Template::Fixed(v.clone()));
        }
        match v {
            Value::String(s) => {
                let compiled = self.templates.json_string(s);
                self.checked(compiled, key, known)
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    let mut k = key.clone();
                    k.push(Seg::Index(i));
                    match self.json(item, k, known) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                ok.then_some(Template::Array(out))
            }
            Value::Object(m) => {
                let mut out = Vec::with_capacity(m.len());
                let mut ok = true;
                for (name, item) in m {
                    let mut k = key.clone();
                    k.push(Seg::Key(name.clone()));
                    match self.json(item, k, known) {
                        Some(t) => out.push((name.clone(), t)),
                        None => ok = false,
                    }
                }
                ok.then_some(Template::Object(out))
            }
            other => Some(Template::Fixed(other.clone())),
        }
    }

    /// The names a template reads that its context lacks: a typo that would otherwise render
    /// as nothing, found at load.
    fn check_names(&mut self, tpl: &Template, key: &KeyPath, known: &[&str]) {
        let b = &self.templates;
        let hint = |bad: &str, list: &[&str]| {
            did_you_mean(bad, list)
                .map(|k| format!(", did you mean '{k}'?"))
                .unwrap_or_default()
        };
        for method in b.unknown_fake_methods(tpl) {
            self.problems.value(
                key.clone(),
                format!(
                    "template: fake has no '{method}' (it has {}){}",
                    FAKE_METHODS.join(", "),
                    hint(&method, FAKE_METHODS)
                ),
            );
        }
        if known.contains(&"request") {
            for field in b.unknown_fields(tpl, "request", REQUEST_FIELDS) {
                self.problems.value(
                    key.clone(),
                    format!(
                        "template: request has no '{field}' (it has {}){}",
                        REQUEST_FIELDS.join(", "),
                        hint(&field, REQUEST_FIELDS)
                    ),
                );
            }
        }
        for name in b.unknown_names(tpl, known) {
            self.problems.value(
                key.clone(),
                format!(
                    "template: unknown name '{name}' (here: {}, and the functions){}",
                    known.join(", "),
                    hint(&name, known)
                ),
            );
        }
    }
}
