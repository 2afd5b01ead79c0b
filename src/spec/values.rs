//! The scalar values of the spec that have a syntax of their own (durations, delays, header
//! values) and the map reader that refuses a key given twice.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// serde's default for the switches that are on unless turned off.
pub(crate) fn yes() -> bool {
    true
}

/// Reads a map in which a key given twice is an error; serde_yaml would keep the last one and
/// say nothing. (The error is then located by the diagnostic pass, whose YAML parser refuses
/// duplicate keys with their position.)
pub(crate) fn unique_keys<'de, D, V>(d: D) -> Result<IndexMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Unique<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Unique<V> {
        type Value = IndexMap<String, V>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = IndexMap::new();
            while let Some((key, value)) = map.next_entry::<String, V>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!("duplicate key '{key}'")));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique(std::marker::PhantomData))
}

/// A delay: a duration (`250ms`) or a range of them (`100ms..500ms`); checked by the compiler.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct DelayText(
    #[schemars(regex(
        pattern = r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m)?\s*(\.\.\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m)?\s*)?$"
    ))]
    pub String,
);

/// A duration such as `250ms`, `2s`, `1.5s` or `1m`; checked by the compiler.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct DurationText(
    #[schemars(regex(pattern = r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m)?\s*$"))] pub String,
);

/// One header value or a list of them. Numbers and booleans are taken as their text, as YAML
/// users expect `X-Count: 3` to work.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderValues(pub Vec<String>);

impl<'de> Deserialize<'de> for HeaderValues {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HeaderVisitor { list: true })
    }
}

/// Accepts a scalar, and a list of scalars when `list` is set.
struct HeaderVisitor {
    list: bool,
}

impl<'de> serde::de::Visitor<'de> for HeaderVisitor {
    type Value = HeaderValues;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.list {
            "a header value or a list of header values"
        } else {
            "a header value (string, number or boolean)"
        })
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_owned()]))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<HeaderValues, E> {
        Ok(HeaderValues(vec![v.to_string()]))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<HeaderValues, A::Error> {
        if !self.list {
            return Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Seq,
                &self,
            ));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<ScalarText>()? {
            out.push(v.0);
        }
        Ok(HeaderValues(out))
    }
}

/// One item of a header list.
struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = d.deserialize_any(HeaderVisitor { list: false })?;
        Ok(ScalarText(v.0.pop().unwrap_or_default()))
    }
}

impl JsonSchema for HeaderValues {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HeaderValues".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A header value, or a list of values sent as repeated headers.",
            "anyOf": [
                { "type": ["string", "number", "boolean"] },
                { "type": "array", "items": { "type": ["string", "number", "boolean"] } }
            ]
        })
    }
}
