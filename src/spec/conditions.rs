//! The values of `match:` conditions: an exact value, or a map of operators (`present`,
//! `regex`, `one_of`, `not`, `gt`, `gte`, `lt`, `lte`, `equals`).
//!
//! An unknown operator is not refused here: it is kept by name so that the compiler reports
//! it at its key with a did-you-mean, together with every other problem of the spec, instead
//! of making the whole route unreadable to the loader.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The operator names, in the order the documentation lists them.
pub const OPERATOR_NAMES: &[&str] = &[
    "present", "regex", "one_of", "not", "gt", "gte", "lt", "lte", "equals",
];

/// What a query parameter, header or cookie must be: its exact value (a number or boolean is
/// taken as its text: `page: 2` matches `?page=2`), or an operator map such as
/// `{present: true}`, `{regex: "^Bearer .+"}`, `{one_of: [a, b]}`, `{not: x}`,
/// `{gte: 1, lte: 10}` (several operators must all hold).
#[derive(Debug, Clone, PartialEq)]
pub enum MatchValue {
    /// Exactly this text.
    Exact(String),
    /// Every operator given must hold.
    Operators(Box<Operators>),
}

/// Conditions on one value; every one given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields, default)]
pub struct Operators {
    /// `true`: the value is there (any value); `false`: it is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub present: Option<bool>,
    /// A regular expression (Rust `regex` syntax) found somewhere in the value; anchor it with
    /// `^…$` to match the whole value.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub regex: Option<String>,
    /// One of these values, exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<MatchText>")]
    pub one_of: Option<Vec<MatchText>>,
    /// Holds exactly when the condition inside does not: a value, or an operator map. For a
    /// repeated query parameter: no value meets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "MatchValue")]
    pub not: Option<Box<MatchValue>>,
    /// A number greater than this (a value that is not a number fails).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "serde_json::Number")]
    pub gt: Option<serde_json::Number>,
    /// A number greater than or equal to this.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "serde_json::Number")]
    pub gte: Option<serde_json::Number>,
    /// A number less than this.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "serde_json::Number")]
    pub lt: Option<serde_json::Number>,
    /// A number less than or equal to this.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "serde_json::Number")]
    pub lte: Option<serde_json::Number>,
    /// Exactly this value (the long form of writing the value alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "MatchText")]
    pub equals: Option<MatchText>,
    /// Keys that are no operator, for the compiler to report where they are.
    #[serde(skip)]
    #[schemars(skip)]
    pub unknown: Vec<String>,
}

/// A value compared as text: a string, or a number or boolean taken as its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MatchText(pub String);

impl JsonSchema for MatchText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MatchText".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A value: text, or a number or boolean compared as its text.",
            "type": ["string", "number", "boolean"]
        })
    }
}

impl JsonSchema for MatchValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MatchValue".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let ops = g.subschema_for::<Operators>();
        schemars::json_schema!({
            "description": "The exact value (text, or a number or boolean compared as its text), or a map of operators that must all hold: present, regex, one_of, not, gt, gte, lt, lte, equals.",
            "anyOf": [ { "type": ["string", "number", "boolean"] }, ops ]
        })
    }
}

impl Serialize for MatchValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MatchValue::Exact(t) => s.serialize_str(t),
            MatchValue::Operators(o) => o.serialize(s),
        }
    }
}

/// Reads a scalar as its text; `operators` also takes an operator map.
struct TextVisitor {
    operators: bool,
}

impl<'de> Visitor<'de> for TextVisitor {
    type Value = MatchValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.operators {
            "a value (text, number or boolean) or a map of operators (present, regex, one_of, not, gt, gte, lt, lte, equals)"
        } else {
            "a value (text, number or boolean)"
        })
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<MatchValue, E> {
        Ok(MatchValue::Exact(v.to_owned()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<MatchValue, E> {
        Ok(MatchValue::Exact(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<MatchValue, E> {
        Ok(MatchValue::Exact(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<MatchValue, E> {
        Ok(MatchValue::Exact(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<MatchValue, E> {
        Ok(MatchValue::Exact(v.to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MatchValue, A::Error> {
        if !self.operators {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        let mut ops = Operators::default();
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("duplicate operator '{key}'")));
            }
            seen.push(key.clone());
            match key.as_str() {
                "present" => ops.present = Some(map.next_value()?),
                "regex" => ops.regex = Some(map.next_value::<MatchText>()?.0),
                "one_of" => ops.one_of = Some(map.next_value()?),
                "not" => ops.not = Some(Box::new(map.next_value()?)),
                "gt" => ops.gt = Some(map.next_value()?),
                "gte" => ops.gte = Some(map.next_value()?),
                "lt" => ops.lt = Some(map.next_value()?),
                "lte" => ops.lte = Some(map.next_value()?),
                "equals" => ops.equals = Some(map.next_value()?),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                    ops.unknown.push(key);
                }
            }
        }
        Ok(MatchValue::Operators(Box::new(ops)))
    }
}

impl<'de> Deserialize<'de> for MatchValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor { operators: true })
    }
}

impl<'de> Deserialize<'de> for MatchText {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(TextVisitor { operators: false })? {
            MatchValue::Exact(t) => Ok(MatchText(t)),
            MatchValue::Operators(_) => Err(de::Error::custom("expected a value")),
        }
    }
}

impl MatchValue {
    /// The condition as written, for the account of a request that failed it.
    pub fn as_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
