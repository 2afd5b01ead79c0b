//! A stored record, kept as its compact JSON text rather than as a tree of values: an
//! 80-byte record costs ~100 bytes of text instead of ~1 KB of maps, keys and strings, a
//! read of it is a copy of bytes, and a page of a list is its records' texts joined. What
//! reads fields (filters, sort, search, relations, an update) parses the record when it
//! needs to, and only the top-level fields it needs ([`Record::fields`]): the other fields
//! are skipped over, not built.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// A record's JSON text, always the compact serialization of an object: it parses back to
/// the same value (records nest ≤ 64 deep, within the parser's limit).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Record(Box<str>);

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which top-level fields of a record a reader needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fields {
    /// The whole record (full-text search reads every string).
    All,
    /// Just these (those the record has).
    Only(Vec<String>),
}

impl Fields {
    /// The fields the first segments of `paths` name, each once.
    pub(crate) fn of<'p>(paths: impl IntoIterator<Item = &'p [String]>) -> Fields {
        let mut names: Vec<String> = Vec::new();
        for first in paths.into_iter().filter_map(|p| p.first()) {
            if !names.contains(first) {
                names.push(first.clone());
            }
        }
        Fields::Only(names)
    }
}

impl Record {
    pub(crate) fn new(v: &Value) -> Record {
        // A value with text keys always serializes.
        Record(
            serde_json::to_string(v)
                .unwrap_or_default()
                .into_boxed_str(),
        )
    }

    pub(crate) fn text(&self) -> &str {
        &self.0
    }

    /// The whole record as a value.
    pub(crate) fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    /// The record with only the top-level fields `fields` names: enough for
    /// `query::lookup` of any path starting with one of them.
    pub(crate) fn fields(&self, fields: &Fields) -> Value {
        match fields {
            Fields::All => self.value(),
            Fields::Only(names) if names.is_empty() => Value::Object(Map::new()),
            Fields::Only(names) => {
                let mut de = serde_json::Deserializer::from_str(&self.0);
                Only(names)
                    .deserialize(&mut de)
                    .unwrap_or_else(|_| Value::Object(Map::new()))
            }
        }
    }
}

/// Records as a JSON list: their texts joined, nothing parsed.
pub(crate) fn joined<'a>(records: impl Iterator<Item = &'a Record>) -> String {
    let mut out = String::new();
    out.push('[');
    for (i, r) in records.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r.text());
    }
    out.push(']');
    out
}

/// Reads an object keeping the values of the keys named, skipping the others unbuilt.
struct Only<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for Only<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Only<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(at) = map.next_key_seed(Key(self.0))? {
            match at {
                Some(i) => {
                    let v: Value = map.next_value()?;
                    out.insert(self.0[i].clone(), v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// A key, as its position among the names wanted: compared where it lies, not copied.
struct Key<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, s: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|n| n == s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_reads_back_as_it_was_written() {
        let v = json!({"id": 1, "name": "Ada \"the\" first", "f": 0.1, "big": 18446744073709551615u64,
                       "neg": -3, "tags": ["a", {"b": null}], "nested": {"x": {"y": [1.5e300]}}});
        let r = Record::new(&v);
        assert_eq!(r.value(), v);
        assert_eq!(r.text(), serde_json::to_string(&v).unwrap());
        // Key order is kept.
        let keys: Vec<String> = r.value().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["id", "name", "f", "big", "neg", "tags", "nested"]);
    }

    #[test]
    fn fields_are_exactly_the_named_ones_the_record_has() {
        let v = json!({"id": 1, "name": "Ada", "address": {"city": "London"}, "esc\"aped": 2});
        let r = Record::new(&v);
        let only =
            |names: &[&str]| r.fields(&Fields::Only(names.iter().map(|s| s.to_string()).collect()));
        assert_eq!(
            only(&["address", "missing"]),
            json!({"address": {"city": "London"}})
        );
        assert_eq!(only(&["esc\"aped", "id"]), json!({"esc\"aped": 2, "id": 1}));
        assert_eq!(only(&[]), json!({}));
        assert_eq!(r.fields(&Fields::All), v);
        let paths = [
            vec!["a".to_string(), "b".to_string()],
            vec!["a".to_string()],
            vec!["c".to_string()],
        ];
        assert_eq!(
            Fields::of(paths.iter().map(Vec::as_slice)),
            Fields::Only(vec!["a".into(), "c".into()])
        );
    }

    proptest::proptest! {
        /// Whatever the record, its fields are the full value's fields of those names.
        #[test]
        fn fields_agree_with_the_whole_value(
            m in proptest::collection::btree_map("[a-d\"\\\\é]{0,2}", proptest::prelude::any::<i32>(), 0..6),
            names in proptest::collection::vec("[a-d\"\\\\é]{0,2}", 0..4),
        ) {
            let v = Value::Object(m.into_iter().map(|(k, n)| (k, json!(n))).collect());
            let r = Record::new(&v);
            proptest::prop_assert_eq!(r.value(), v.clone());
            let got = r.fields(&Fields::Only(names.clone()));
            let want: Map<String, Value> = v.as_object().unwrap().iter()
                .filter(|(k, _)| names.contains(k))
                .map(|(k, x)| (k.clone(), x.clone()))
                .collect();
            let got_keys: std::collections::BTreeMap<_, _> = got.as_object().unwrap().clone().into_iter().collect();
            let want_keys: std::collections::BTreeMap<_, _> = want.into_iter().collect();
            proptest::prop_assert_eq!(got_keys, want_keys);
        }
    }
}
