//! A resource's server-set values, compiled: how a created record without an id gets one
//! (`new_id`) and the fields computed on each write (`computed`).
//!
//! They live in the compiled spec beside the resource's emits, not in its [`ResourceDef`]: the
//! templates belong to one compiled spec's environment, and the definition's fingerprint
//! decides whether a reload keeps the data, which editing a computed field should not wipe.
//!
//! [`ResourceDef`]: super::resource::ResourceDef

use crate::spec::Resource;
use crate::spec::locate::{KeyPath, at};
use crate::suggest::did_you_mean;
use crate::template::{Template, is_template};

use super::pass::{COMPUTED_NAMES, CompilePass, NEW_ID_NAMES};
use super::response::RequestParts;

/// How a created record without an id gets one.
#[derive(Debug, Clone, Default)]
pub(crate) enum NewId {
    /// One more than the largest integer id, or a UUID when the seed's ids are text.
    #[default]
    Auto,
    /// One more than the largest integer id, whatever the seed holds.
    Int,
    /// A random v4 UUID, from the write's generator (`--seed` fixes it).
    Uuid,
    /// A template; `counts` when it reads `counter`, which then moves past ids already taken.
    Template { tpl: Template, counts: bool },
}

/// One computed field.
#[derive(Debug, Clone)]
pub(crate) struct ComputedField {
    pub(crate) name: String,
    pub(crate) value: Template,
    pub(crate) on_create: bool,
    pub(crate) on_update: bool,
    pub(crate) overridable: bool,
}

/// What the server adds to a resource's writes. The default adds nothing (an OpenAPI
/// collection's).
#[derive(Debug, Clone, Default)]
pub(crate) struct Writes {
    pub(crate) new_id: NewId,
    pub(crate) fields: Vec<ComputedField>,
    /// What of the request the templates read.
    pub(crate) reads: RequestParts,
}

impl Writes {
    /// Whether a write needs a template context or a generator: not for the plain defaults.
    pub(crate) fn renders(&self) -> bool {
        !self.fields.is_empty() || !matches!(self.new_id, NewId::Auto | NewId::Int)
    }
}

const EVENTS: &[&str] = &["create", "update"];

/// Compiles `new_id` and `computed` of resource `r`, reporting each problem at its key under
/// `here`. `id_field` is the resource's id field, which no computed field may name.
pub(crate) fn compile(r: &Resource, here: &KeyPath, cx: &mut CompilePass<'_>) -> Writes {
    let mut templated: Vec<Template> = Vec::new();
    let new_id = match r.new_id.as_deref().map(str::trim) {
        None => NewId::Auto,
        Some(_) if r.singleton => {
            cx.problems.value(
                at(here, &["new_id"]),
                "a singleton has no ids to make: remove new_id",
            );
            NewId::Auto
        }
        Some("int") => NewId::Int,
        Some("uuid") => NewId::Uuid,
        Some(s) if is_template(s) => {
            let key = at(here, &["new_id"]);
            match cx.json(&serde_json::Value::String(s.to_owned()), key, NEW_ID_NAMES) {
                Some(tpl) => {
                    // `reads` matches the root itself too: whether `counter` is read at all.
                    let counts = cx.templates.reads(&tpl, "counter", "");
                    templated.push(tpl.clone());
                    NewId::Template { tpl, counts }
                }
                None => NewId::Auto,
            }
        }
        Some(other) => {
            let hint = did_you_mean(other, &["int", "uuid"])
                .map(|k| format!(", did you mean '{k}'?"))
                .unwrap_or_default();
            cx.problems.value(
                at(here, &["new_id"]),
                format!(
                    "'{other}' is not a way to make ids: use int, uuid, or a template such as \
                     \"ord-{{{{ counter }}}}\"{hint}"
                ),
            );
            NewId::Auto
        }
    };
    let mut fields = Vec::with_capacity(r.computed.len());
    for (name, c) in &r.computed {
        let field_here = at(here, &["computed", name]);
        if name.is_empty() {
            cx.problems
                .key(field_here.clone(), "a computed field needs a name");
        } else if *name == r.id {
            cx.problems.key(
                field_here.clone(),
                format!("'{name}' is the id field: new_id says how ids are made"),
            );
        }
        let (value, on, overridable) = c.parts();
        let value_here = match c {
            crate::spec::Computed::Value(_) => field_here.clone(),
            crate::spec::Computed::Detailed(_) => at(&field_here, &["value"]),
        };
        let value = cx.json(value, value_here, COMPUTED_NAMES);
        let (mut on_create, mut on_update) = (on.is_none(), false);
        for (i, event) in on
            .map(|e| e.0.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            match event.trim() {
                "create" => on_create = true,
                "update" => on_update = true,
                other => {
                    let key = match on.map(|e| e.0.len()) {
                        Some(1) => at(&field_here, &["on"]),
                        _ => crate::spec::locate::index(&at(&field_here, &["on"]), i),
                    };
                    let hint = did_you_mean(other, EVENTS)
                        .map(|k| format!(", did you mean '{k}'?"))
                        .unwrap_or_default();
                    cx.problems.value(
                        key,
                        format!("'{other}' is not a write: use create, update, or both{hint}"),
                    );
                }
            }
        }
        if on.is_some_and(|e| e.0.is_empty()) {
            cx.problems.value(
                at(&field_here, &["on"]),
                "an empty list computes the field never: use create, update, or both",
            );
        }
        if r.singleton && on_create && !on_update {
            cx.problems.warn(
                field_here.clone(),
                format!(
                    "a singleton is never created, so '{name}' is never computed: add \
                     on: update"
                ),
            );
        }
        if let Some(value) = value {
            templated.push(value.clone());
            fields.push(ComputedField {
                name: name.clone(),
                value,
                on_create,
                on_update,
                overridable,
            });
        }
    }
    let t = &cx.templates;
    let reads = |part: &str| templated.iter().any(|tpl| t.reads(tpl, "request", part));
    let reads = RequestParts {
        query: reads("query"),
        headers: reads("headers"),
        cookies: reads("cookies"),
        body: reads("body"),
    };
    Writes {
        new_id,
        fields,
        reads,
    }
}
