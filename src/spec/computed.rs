//! A resource's server-set values: how a created record gets its id (`new_id`) and the fields
//! the server computes on each write (`computed`). Checked by the compiler
//! (`model::computed`), which reports every bad template or event at its key.

use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;

/// A field the server sets on a write: a value whose strings may be templates (the short
/// form, computed when a record is created), or the detailed form.
#[derive(Debug, Clone, PartialEq)]
pub enum Computed {
    /// The value alone, computed on create.
    Value(serde_json::Value),
    /// The value, when it is computed, and whether the client may set it instead.
    Detailed(ComputedField),
}

/// The detailed form of a computed field.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputedField {
    /// The value: JSON whose strings may be templates. A string that is exactly one
    /// `{{ expression }}` keeps the expression's type (`"{{ record.price * 2 }}"` is a
    /// number); any other templated string is text.
    pub value: serde_json::Value,
    /// When it is computed: `create` (the default), `update` (PUT and PATCH), or a list of
    /// both.
    #[serde(default)]
    pub on: Option<Events>,
    /// Keep the value the client sends, when it sends one; compute it only when it does not.
    #[serde(default)]
    pub overridable: bool,
}

impl Computed {
    /// The value, `on` and `overridable`, with the short form's defaults.
    pub fn parts(&self) -> (&serde_json::Value, Option<&Events>, bool) {
        match self {
            Computed::Value(v) => (v, None, false),
            Computed::Detailed(d) => (&d.value, d.on.as_ref(), d.overridable),
        }
    }
}

impl<'de> Deserialize<'de> for Computed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Computed;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a value (a template such as \"{{ now() }}\"), or {value, on, overridable}",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Computed, E> {
                Ok(Computed::Value(v.into()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Computed, E> {
                Ok(Computed::Value(v.into()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Computed, E> {
                Ok(Computed::Value(v.into()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Computed, E> {
                Ok(Computed::Value(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Computed, E> {
                Ok(Computed::Value(v.into()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Computed, A::Error> {
                serde_json::Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Computed::Value)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Computed, A::Error> {
                ComputedField::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Computed::Detailed)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Computed {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Computed".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let detailed = g.subschema_for::<ComputedField>();
        schemars::json_schema!({
            "description": "A value whose strings may be templates (computed on create), or the detailed form.",
            "anyOf": [ { "type": ["string", "number", "boolean", "array"] }, detailed ]
        })
    }
}

/// The writes a computed field is set on: one event, or a list of them. The words are checked
/// by the compiler, so every unknown one is reported where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Events(pub Vec<String>);

impl<'de> Deserialize<'de> for Events {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Events;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("create, update, or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Events, E> {
                Ok(Events(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Events, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<String>()? {
                    out.push(v);
                }
                Ok(Events(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Events {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Events".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "create, update (PUT and PATCH), or a list of them.",
            "anyOf": [
                { "enum": ["create", "update"] },
                { "type": "array", "items": { "enum": ["create", "update"] } }
            ]
        })
    }
}
