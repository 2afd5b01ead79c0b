//! A resource's data: a collection's records (as JSON text, `record`) by id in insertion order, or
//! a singleton's object; how data given from outside (an import, a snapshot) is checked; the
//! generated ids; RFC 7396 merge patch. `store` keeps it behind a lock.

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::record::Record;
use crate::error::StoreError;
use crate::model::resource::{MAX_DEPTH, ResourceDef, Seed, depth, id_key, kind};

/// A record's id key: its id as text (`id_key`), the id `1` and `"1"` alike. Short keys
/// (all integer ids, UUIDs) are kept inline, without a heap block of their own.
pub(crate) type Key = compact_str::CompactString;

/// A number for a new state of a collection's records, never given before.
fn new_version() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A collection's records by id, in insertion order, or a singleton's object.
#[derive(Debug, Clone)]
pub(crate) enum Data {
    Collection(Collection),
    Singleton(Map<String, Value>),
}

#[derive(Debug, Clone)]
pub(crate) struct Collection {
    /// Changed only through [`Collection::records_mut`], which notes a new version.
    records: IndexMap<Key, Record>,
    /// Which state of the records this is: a number no other state of any collection had
    /// (a copy shares it while it stays the same). What was derived from the records (the
    /// filter indexes of `query`) holds while the version does.
    version: u64,
    /// The next generated integer id: one more than the largest integer id ever held.
    next_int: u64,
    /// Whether ids are text, so generated ones are UUIDs.
    string_ids: bool,
    /// The records it has held since it was loaded (its seed or restored data, then every one
    /// created): `counter` in a `new_id` template is one more.
    count: u64,
}

impl Collection {
    fn new(items: Vec<Map<String, Value>>, id_field: &str) -> Collection {
        let string_ids = items
            .iter()
            .any(|r| matches!(r.get(id_field), Some(Value::String(_))));
        let mut c = Collection {
            records: IndexMap::with_capacity(items.len()),
            version: new_version(),
            next_int: 1,
            string_ids,
            count: 0,
        };
        for mut record in items {
            let id = match record.get(id_field) {
                Some(id) => id.clone(),
                // A seed has far fewer records than integers.
                None => {
                    let id = c.generate_id().unwrap_or(Value::Null);
                    record.insert(id_field.to_owned(), id.clone());
                    id
                }
            };
            c.note_id(&id);
            if let Some(key) = id_key(&id) {
                c.records
                    .insert(key.into(), Record::new(&Value::Object(record)));
                c.count += 1;
            }
        }
        c
    }

    /// A fresh id; it counts as used once [`Collection::note_id`] sees it stored. Integers skip
    /// any a client chose itself, as text (`"12"`) or above the counter; past the largest
    /// integer there is none to give.
    pub(crate) fn generate_id(&self) -> Result<Value, StoreError> {
        if self.string_ids {
            return Ok(Value::String(uuid::Uuid::new_v4().to_string()));
        }
        self.next_int()
    }

    /// The next integer id, text ids in the seed or not (`new_id: int`).
    pub(crate) fn next_int(&self) -> Result<Value, StoreError> {
        let mut n = self.next_int;
        while self.records.contains_key(n.to_string().as_str()) {
            n = n.checked_add(1).ok_or(StoreError::IdsExhausted)?;
        }
        Ok(json!(n))
    }

    /// Whether a record has id `id` (`1` and `"1"` are the same id).
    pub(crate) fn taken(&self, id: &Value) -> bool {
        id_key(id).is_some_and(|k| self.records.contains_key(k.as_str()))
    }

    /// How many records the collection has held since it was loaded.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Whether its generated ids are UUIDs.
    pub(crate) fn string_ids(&self) -> bool {
        self.string_ids
    }

    /// The counters a shared store keeps beside its records: the next integer id and the
    /// count of records held.
    pub(crate) fn counters(&self) -> (u64, u64) {
        (self.next_int, self.count)
    }

    /// A collection of `records` (in order, by key) read back from a shared store, with the
    /// counters it keeps beside them; `string_ids` as its seed decides.
    pub(crate) fn restored(
        records: IndexMap<Key, Record>,
        string_ids: bool,
        next_int: u64,
        count: u64,
    ) -> Collection {
        Collection {
            records,
            version: new_version(),
            next_int,
            string_ids,
            count,
        }
    }

    /// The records by id key, in insertion order.
    pub(crate) fn records(&self) -> &IndexMap<Key, Record> {
        &self.records
    }

    /// The records to change: the collection becomes a new version.
    pub(crate) fn records_mut(&mut self) -> &mut IndexMap<Key, Record> {
        self.version = new_version();
        &mut self.records
    }

    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Stores a new record with id `id` under `key`, the id's text.
    pub(crate) fn add(&mut self, key: String, id: &Value, record: &Value) {
        self.note_id(id);
        self.records_mut().insert(key.into(), Record::new(record));
        self.count = self.count.saturating_add(1);
    }

    pub(crate) fn note_id(&mut self, id: &Value) {
        if let Some(n) = id.as_u64() {
            // At the largest integer the counter stays there; `generate_id` then finds it
            // taken and refuses.
            self.next_int = self.next_int.max(n.saturating_add(1));
        }
    }
}

/// What is wrong with data given for a resource (an import, a restored snapshot), naming the
/// resource and the record.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InvalidData(pub(crate) String);

impl Data {
    pub(crate) fn from_seed(seed: &Seed, id_field: &str) -> Data {
        match seed {
            Seed::Collection(items) => Data::Collection(Collection::new(items.clone(), id_field)),
            Seed::Singleton(m) => Data::Singleton(m.clone()),
        }
    }

    /// The bytes of [`Data::to_json`]'s text, without building it.
    pub(crate) fn json_len(&self) -> usize {
        match self {
            Data::Collection(c) => {
                let records = c.records();
                let texts: usize = records.values().map(|r| r.text().len()).sum();
                // Brackets and the commas between records.
                texts + 2 + records.len().saturating_sub(1)
            }
            Data::Singleton(m) => serde_json::to_vec(m).map_or(0, |b| b.len()),
        }
    }

    /// [`Data::to_json`] as text, made from the records' texts without parsing them.
    pub(crate) fn json_text(&self) -> String {
        match self {
            Data::Collection(c) => super::record::joined(c.records().values()),
            Data::Singleton(m) => serde_json::to_string(m).unwrap_or_default(),
        }
    }

    /// The data as JSON: a list of records, or the singleton's object.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Data::Collection(c) => Value::Array(c.records().values().map(Record::value).collect()),
            Data::Singleton(m) => Value::Object(m.clone()),
        }
    }

    /// Data for `def` from JSON (an import, a snapshot), checked like a seed: a singleton's
    /// object, or a list of objects whose ids are numbers or strings, none twice, none nested
    /// deeper than a state file keeps. Err: what is wrong, naming the resource.
    pub(crate) fn checked(value: Value, def: &ResourceDef) -> Result<Data, InvalidData> {
        Data::check(value, def).map_err(InvalidData)
    }

    fn check(value: Value, def: &ResourceDef) -> Result<Data, String> {
        let name = &def.name;
        if depth(&value) > MAX_DEPTH + 1 {
            return Err(format!(
                "{name}: a record nests deeper than {MAX_DEPTH} levels"
            ));
        }
        let items = match (value, def.singleton) {
            (Value::Object(m), true) => return Ok(Data::Singleton(m)),
            (other, true) => {
                return Err(format!(
                    "{name}: a singleton's data is an object, found {}",
                    kind(&other)
                ));
            }
            (Value::Array(items), false) => items,
            (other, false) => {
                return Err(format!(
                    "{name}: a collection's data is a list, found {}",
                    kind(&other)
                ));
            }
        };
        let mut seen = std::collections::HashSet::new();
        let mut records = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let Value::Object(record) = item else {
                return Err(format!("{name}[{i}] is {}, not an object", kind(&item)));
            };
            if let Some(id) = record.get(&def.id_field) {
                let key = id_key(id)
                    .ok_or_else(|| format!("{name}[{i}]: the id must be a number or a string"))?;
                if !seen.insert(key.clone()) {
                    return Err(format!("{name}[{i}]: id {key} appears twice"));
                }
            }
            records.push(record);
        }
        Ok(Data::Collection(Collection::new(records, &def.id_field)))
    }
}

/// RFC 7396 JSON merge patch: objects merge key by key, `null` removes, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The examples of RFC 7396, appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, want) in cases {
            let mut got = target.clone();
            merge_patch(&mut got, &patch);
            assert_eq!(got, want, "{target} + {patch}");
        }
    }

    #[test]
    fn ids_are_generated_after_the_largest() {
        let c = Collection::new(
            vec![
                json!({"id": 7}).as_object().unwrap().clone(),
                json!({"name": "no id"}).as_object().unwrap().clone(),
            ],
            "id",
        );
        let ids: Vec<&str> = c.records().keys().map(Key::as_str).collect();
        assert_eq!(ids, ["7", "8"]);
        let strings = Collection::new(vec![json!({"id": "a"}).as_object().unwrap().clone()], "id");
        assert!(strings.string_ids);
    }

    #[test]
    fn json_text_and_len_are_the_json_of_the_data() {
        let items = |n: usize| {
            (0..n)
                .map(|i| {
                    json!({"id": i, "name": format!("é {i}")})
                        .as_object()
                        .unwrap()
                        .clone()
                })
                .collect::<Vec<_>>()
        };
        for n in [0, 1, 3] {
            let data = Data::Collection(Collection::new(items(n), "id"));
            assert_eq!(
                data.json_len(),
                data.to_json().to_string().len(),
                "{n} records"
            );
            assert_eq!(data.json_text(), data.to_json().to_string(), "{n} records");
        }
        let single = Data::Singleton(items(1).remove(0));
        assert_eq!(single.json_len(), single.to_json().to_string().len());
        assert_eq!(single.json_text(), single.to_json().to_string());
    }

    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                proptest::collection::btree_map("[abc]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Patching twice is patching once, and what a patch sets is what reads back: each
        /// key of an object patch is gone (null) or is the target's value merged with it.
        #[test]
        fn a_merge_patch_reads_back_and_is_idempotent(target in json(), patch in json()) {
            let mut once = target.clone();
            merge_patch(&mut once, &patch);
            let mut twice = once.clone();
            merge_patch(&mut twice, &patch);
            proptest::prop_assert_eq!(&once, &twice);
            match &patch {
                Value::Object(p) => {
                    for (k, v) in p {
                        let got = once.get(k);
                        if v.is_null() {
                            proptest::prop_assert!(got.is_none(), "{} removed", k);
                        } else {
                            let mut want = target.get(k).cloned().unwrap_or(Value::Null);
                            merge_patch(&mut want, v);
                            proptest::prop_assert_eq!(got, Some(&want));
                        }
                    }
                }
                other => proptest::prop_assert_eq!(&once, other),
            }
        }
    }
}
