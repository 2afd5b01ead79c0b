//! Indexes for equality filters (`?role=admin`) over large collections: where the records with
//! each value of a field are, so a list query tests those records instead of every one.
//!
//! An index is built for a field the second time a query filters on it in the same version of
//! the records (a collection that changes between every two reads is scanned, as without
//! indexes, rather than indexed for nothing), kept until the records change, and lossy on
//! purpose: positions are grouped by a hash of the value's text, and every candidate is tested
//! by the query's filters as any record would be. So an index can only narrow what is
//! tested, never change an answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;

use super::data::{Collection, Key};
use super::query::{ListQuery, lookup, text};
use super::record::{Fields, Record};
use crate::hash::fnv1a;
use crate::sync::lock;

/// Collections smaller than this are scanned: a scan of a few thousand records costs less
/// than keeping an index up to date.
const INDEXED_FROM: usize = 4096;

/// Indexes kept per collection at most: a bound on what URLs naming ever new fields can make
/// the server build and hold (each takes 12 bytes per record for a field of few values, up
/// to ~70 for one whose values all differ). Sessions' copies are never indexed.
const MAX_INDEXES: usize = 8;

/// Positions of the records by the hash of their value's text at one field.
struct FieldIndex {
    /// Whether any record has the field (`null` included): a filter on a field no record has
    /// is dropped (`ListQuery::apply`), so the index must not answer for it.
    present: bool,
    by_hash: HashMap<u64, Vec<u32>>,
}

fn hash(text: &str) -> u64 {
    fnv1a(text.as_bytes(), 0)
}

impl FieldIndex {
    fn build(records: &IndexMap<Key, Record>, path: &[String]) -> FieldIndex {
        let mut index = FieldIndex {
            present: false,
            by_hash: HashMap::new(),
        };
        let fields = Fields::of([path]);
        for (i, record) in records.values().enumerate() {
            let record = record.fields(&fields);
            let Some(v) = lookup(&record, path) else {
                continue;
            };
            index.present = true;
            // `null` passes no filter; not indexed.
            if !v.is_null() {
                index
                    .by_hash
                    .entry(hash(&text(v)))
                    .or_default()
                    .push(i as u32);
            }
        }
        index
    }

    /// The positions of the records that may hold one of `values`, in order; `None` when
    /// no record has the field.
    fn candidates(&self, values: &[String]) -> Option<Vec<u32>> {
        if !self.present {
            return None;
        }
        let mut found: Vec<u32> = values
            .iter()
            .filter_map(|v| self.by_hash.get(&hash(v)))
            .flatten()
            .copied()
            .collect();
        if values.len() > 1 {
            found.sort_unstable();
            found.dedup();
        }
        Some(found)
    }
}

/// A store's indexes, for the version of its records they were built on.
#[derive(Default)]
pub(crate) struct Indexes(Mutex<Built>);

#[derive(Default)]
struct Built {
    version: u64,
    /// Fields queried once in this version, not indexed yet.
    asked: Vec<Vec<String>>,
    indexes: Vec<(Vec<String>, Arc<FieldIndex>)>,
}

impl Indexes {
    /// The positions in `c` of the only records that can pass `query`'s equality filters (the
    /// fewest any one filter leaves), or `None` to test every record.
    pub(crate) fn candidates(&self, c: &Collection, query: &ListQuery) -> Option<Vec<u32>> {
        if c.records().len() < INDEXED_FROM {
            return None;
        }
        let mut built = lock(&self.0);
        if built.version != c.version() {
            *built = Built {
                version: c.version(),
                ..Built::default()
            };
        }
        let mut best: Option<Vec<u32>> = None;
        for (path, values) in query.equalities() {
            let index = match built.indexes.iter().find(|(p, _)| p == path) {
                Some((_, index)) => index.clone(),
                None if !built.asked.iter().any(|p| p == path) => {
                    if built.asked.len() < MAX_INDEXES {
                        built.asked.push(path.to_vec());
                    }
                    continue;
                }
                None => {
                    if built.indexes.len() >= MAX_INDEXES {
                        built.indexes.remove(0);
                    }
                    let index = Arc::new(FieldIndex::build(c.records(), path));
                    built.indexes.push((path.to_vec(), index.clone()));
                    index
                }
            };
            if let Some(found) = index.candidates(values)
                && best.as_ref().is_none_or(|b| found.len() < b.len())
            {
                best = Some(found);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn collection(n: usize) -> Collection {
        let records: IndexMap<Key, Record> = (1..=n)
            .map(|i| {
                let role = if i % 100 == 0 {
                    json!("admin")
                } else {
                    json!("user")
                };
                let mut r = json!({"id": i, "role": role, "age": 20 + i % 50});
                if i == 7 {
                    r["age"] = Value::Null;
                }
                (Key::from(i.to_string()), Record::new(&r))
            })
            .collect();
        Collection::restored(records, false, n as u64 + 1, n as u64)
    }

    fn query(text: &str) -> ListQuery {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(text).unwrap();
        ListQuery::parse(&pairs).unwrap()
    }

    #[test]
    fn a_field_asked_twice_is_indexed_and_narrows_to_the_matching_records() {
        let indexes = Indexes::default();
        let mut c = collection(10_000);
        let q = query("role=admin");
        assert_eq!(indexes.candidates(&c, &q), None, "the first time: a scan");
        let found = indexes
            .candidates(&c, &q)
            .expect("the second time: the index");
        assert_eq!(found.len(), 100);
        assert!(found.windows(2).all(|w| w[0] < w[1]), "in record order");
        assert!(
            found
                .iter()
                .all(|&i| c.records()[i as usize].value()["role"] == "admin")
        );
        // Either of two values; numbers by their JSON text; `null` is never a candidate.
        let found = indexes
            .candidates(&c, &query("age=20&age=21"))
            .unwrap_or_default();
        assert!(found.is_empty(), "asked once so far");
        let found = indexes.candidates(&c, &query("age=20&age=21")).unwrap();
        assert_eq!(found.len(), 400);
        // A change of the records drops the indexes.
        c.records_mut().shift_remove("100");
        assert_eq!(indexes.candidates(&c, &q), None);
    }

    #[test]
    fn small_collections_and_fields_nobody_has_are_scanned() {
        let indexes = Indexes::default();
        let small = collection(100);
        for _ in 0..3 {
            assert_eq!(indexes.candidates(&small, &query("role=admin")), None);
        }
        let c = collection(10_000);
        for _ in 0..3 {
            assert_eq!(indexes.candidates(&c, &query("colour=red")), None);
        }
    }
}
