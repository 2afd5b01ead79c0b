//! Stateful resources: records that POST, PUT, PATCH and DELETE change.
//!
//! The data lives here, outside the compiled runtime, in [`Stores`] keyed by resource name, so
//! a reload swaps the runtime and keeps the data of every resource whose definition did not
//! change. Each [`Store`] guards its data with a std `RwLock`, held only for the synchronous
//! work of one request and never across an `.await`: reads of one resource run in parallel, and
//! a write holds the lock for a map update (plus one journal append when persisting).

pub mod http;
pub mod persist;
pub mod query;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::spec::Resource;
use crate::spec::seed::{self, Seed, id_key};
use crate::spec::validate::resource_path;
use persist::Journal;

/// A resource as the spec defines it, compiled.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub name: String,
    /// URL path without a trailing slash, e.g. `/users`.
    pub path: String,
    pub id_field: String,
    pub singleton: bool,
    pub seed: Seed,
    /// Changes exactly when the definition does; stable across builds, as it is persisted.
    pub fingerprint: u64,
}

impl ResourceDef {
    pub fn compile(name: &str, r: &Resource, dir: &Path) -> Result<ResourceDef, String> {
        let seed = seed::read(r, dir)?;
        let path = resource_path(name, r).trim_end_matches('/').to_owned();
        let seed_json = match &seed {
            Seed::Collection(items) => json!(items),
            Seed::Singleton(m) => json!(m),
        };
        let fingerprint = fnv1a(
            json!([path, r.id, r.singleton, seed_json])
                .to_string()
                .as_bytes(),
        );
        Ok(ResourceDef {
            name: name.to_owned(),
            path,
            id_field: r.id.clone(),
            singleton: r.singleton,
            seed,
            fingerprint,
        })
    }
}

/// FNV-1a: a hash that does not change between Rust releases, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Why a store operation did not happen. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no record with id {0}")]
    NotFound(String),
    #[error("a record with id {0} already exists")]
    Conflict(String),
    #[error("the id must be a number or a string, found {0}")]
    BadId(&'static str),
    #[error("the change could not be saved: {0}")]
    Persist(std::io::Error),
    /// A reload replaced this resource while the request was in flight.
    #[error("the resource was re-seeded by a reload while this request was in flight; retry")]
    Retired,
}

/// A collection's records by id, in insertion order, or a singleton's object.
#[derive(Debug, Clone)]
pub enum Data {
    Collection(Collection),
    Singleton(Map<String, Value>),
}

#[derive(Debug, Clone)]
pub struct Collection {
    pub records: IndexMap<String, Value>,
    /// The next generated integer id: one more than the largest integer id ever held.
    next_int: u64,
    /// Whether ids are text, so generated ones are UUIDs.
    string_ids: bool,
}

impl Collection {
    fn new(items: Vec<Map<String, Value>>, id_field: &str) -> Collection {
        let string_ids = items
            .iter()
            .any(|r| matches!(r.get(id_field), Some(Value::String(_))));
        let mut c = Collection {
            records: IndexMap::with_capacity(items.len()),
            next_int: 1,
            string_ids,
        };
        for mut record in items {
            let id = match record.get(id_field) {
                Some(id) => id.clone(),
                None => {
                    let id = c.generate_id();
                    record.insert(id_field.to_owned(), id.clone());
                    id
                }
            };
            c.note_id(&id);
            if let Some(key) = id_key(&id) {
                c.records.insert(key, Value::Object(record));
            }
        }
        c
    }

    /// A fresh id; it counts as used once [`Collection::note_id`] sees it stored. Integers skip
    /// any a client chose itself, as text (`"12"`) or above the counter.
    fn generate_id(&self) -> Value {
        if self.string_ids {
            return Value::String(uuid::Uuid::new_v4().to_string());
        }
        let mut n = self.next_int;
        while self.records.contains_key(&n.to_string()) {
            n += 1;
        }
        json!(n)
    }

    fn note_id(&mut self, id: &Value) {
        if let Some(n) = id.as_u64() {
            self.next_int = self.next_int.max(n.saturating_add(1));
        }
    }
}

impl Data {
    fn from_seed(seed: &Seed, id_field: &str) -> Data {
        match seed {
            Seed::Collection(items) => Data::Collection(Collection::new(items.clone(), id_field)),
            Seed::Singleton(m) => Data::Singleton(m.clone()),
        }
    }

    /// The data as JSON: a list of records, or the singleton's object.
    pub fn to_json(&self) -> Value {
        match self {
            Data::Collection(c) => Value::Array(c.records.values().cloned().collect()),
            Data::Singleton(m) => Value::Object(m.clone()),
        }
    }

    fn from_json(value: Value, def: &ResourceDef) -> Option<Data> {
        match (value, def.singleton) {
            (Value::Object(m), true) => Some(Data::Singleton(m)),
            (Value::Array(items), false) => Some(Data::Collection(Collection::new(
                items
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::Object(m) => Some(m),
                        _ => None,
                    })
                    .collect(),
                &def.id_field,
            ))),
            _ => None,
        }
    }
}

/// One resource's live data.
pub struct Store {
    pub def: ResourceDef,
    data: RwLock<Data>,
    journal: Option<Arc<Journal>>,
    /// Set when a reload replaced this store; a request still holding it must not write data
    /// that nobody will read again.
    retired: std::sync::atomic::AtomicBool,
}

/// A panic while holding the lock leaves the data as the last completed write left it: every
/// write builds its new record first and then stores it in one step.
fn read(lock: &RwLock<Data>) -> std::sync::RwLockReadGuard<'_, Data> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(lock: &RwLock<Data>) -> std::sync::RwLockWriteGuard<'_, Data> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    fn new(def: ResourceDef, data: Data, journal: Option<Arc<Journal>>) -> Store {
        Store {
            def,
            data: RwLock::new(data),
            journal,
            retired: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A store in memory only, with the seed's data: a session's copy of a resource.
    pub fn seeded(def: ResourceDef) -> Store {
        let data = Data::from_seed(&def.seed, &def.id_field);
        Store::new(def, data, None)
    }

    /// Runs `f` over the data under the read lock.
    pub fn read<R>(&self, f: impl FnOnce(&Data) -> R) -> R {
        f(&read(&self.data))
    }

    pub fn snapshot(&self) -> Value {
        read(&self.data).to_json()
    }

    /// Writes the change to the journal first, so a change that cannot be saved is not made.
    /// Called with the write lock held, which also orders journal lines as the changes.
    fn log(&self, entry: impl FnOnce() -> Value) -> Result<(), StoreError> {
        if self.retired.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StoreError::Retired);
        }
        match &self.journal {
            Some(j) => j
                .append(&self.def.name, self.def.fingerprint, entry())
                .map_err(StoreError::Persist),
            None => Ok(()),
        }
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        match &*read(&self.data) {
            Data::Collection(c) => c.records.get(key).cloned(),
            Data::Singleton(m) => Some(Value::Object(m.clone())),
        }
    }

    /// Adds a record, generating its id when it has none.
    pub fn create(&self, mut record: Map<String, Value>) -> Result<Value, StoreError> {
        let mut guard = write(&self.data);
        let Data::Collection(c) = &mut *guard else {
            return Err(StoreError::NotFound(String::new()));
        };
        let id_field = &self.def.id_field;
        let id = match record.get(id_field) {
            Some(id) => id.clone(),
            None => c.generate_id(),
        };
        let key = id_key(&id).ok_or(StoreError::BadId(seed::kind(&id)))?;
        if c.records.contains_key(&key) {
            return Err(StoreError::Conflict(key));
        }
        // A generated id goes first, where a reader of the JSON looks for it.
        if !record.contains_key(id_field) {
            let mut with_id = Map::with_capacity(record.len() + 1);
            with_id.insert(id_field.clone(), id.clone());
            with_id.extend(record);
            record = with_id;
        }
        let value = Value::Object(record);
        self.log(|| json!({"op": "put", "key": key, "record": value}))?;
        c.note_id(&id);
        c.records.insert(key, value.clone());
        Ok(value)
    }

    /// Replaces a record whole; its id stays what it was.
    pub fn replace(&self, key: &str, record: Map<String, Value>) -> Result<Value, StoreError> {
        self.update(key, |_| Value::Object(record))
    }

    /// Applies a JSON merge patch (RFC 7396); the id stays what it was.
    pub fn patch(&self, key: &str, patch: &Value) -> Result<Value, StoreError> {
        self.update(key, |old| {
            let mut value = old.clone();
            merge_patch(&mut value, patch);
            value
        })
    }

    /// Replaces record `key` with what `change` makes of it, keeping its id.
    fn update(&self, key: &str, change: impl FnOnce(&Value) -> Value) -> Result<Value, StoreError> {
        let mut guard = write(&self.data);
        let c = collection(&mut guard)?;
        let old = c
            .records
            .get(key)
            .ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
        let mut value = change(old);
        if let (Some(id), Value::Object(m)) = (old.get(&self.def.id_field), &mut value) {
            m.insert(self.def.id_field.clone(), id.clone());
        }
        self.log(|| json!({"op": "put", "key": key, "record": value}))?;
        c.records.insert(key.to_owned(), value.clone());
        Ok(value)
    }

    /// Removes a record and returns it.
    pub fn delete(&self, key: &str) -> Result<Value, StoreError> {
        let mut guard = write(&self.data);
        let c = collection(&mut guard)?;
        if !c.records.contains_key(key) {
            return Err(StoreError::NotFound(key.to_owned()));
        }
        self.log(|| json!({"op": "delete", "key": key}))?;
        Ok(c.records.shift_remove(key).unwrap_or_default())
    }

    /// Replaces (`patch: false`) or merge-patches a singleton.
    pub fn set_singleton(
        &self,
        body: Map<String, Value>,
        patch: bool,
    ) -> Result<Value, StoreError> {
        let mut guard = write(&self.data);
        let Data::Singleton(m) = &mut *guard else {
            return Err(StoreError::NotFound(String::new()));
        };
        let new = if patch {
            let mut value = Value::Object(m.clone());
            merge_patch(&mut value, &Value::Object(body));
            match value {
                Value::Object(new) => new,
                // An object patched with an object stays an object.
                _ => Map::new(),
            }
        } else {
            body
        };
        let value = Value::Object(new.clone());
        self.log(|| json!({"op": "set", "record": value}))?;
        *m = new;
        Ok(value)
    }

    /// Back to the seed. Not journaled: the caller writes a snapshot.
    fn reset(&self) {
        *write(&self.data) = Data::from_seed(&self.def.seed, &self.def.id_field);
    }

    /// Applies one journal entry while loading; entries are idempotent.
    fn replay(&self, entry: &Value) {
        let mut guard = write(&self.data);
        let key = entry["key"].as_str().unwrap_or_default();
        match (&mut *guard, entry["op"].as_str()) {
            (Data::Collection(c), Some("put")) => {
                if let Some(id) = entry["record"].get(&self.def.id_field) {
                    c.note_id(id);
                }
                c.records.insert(key.to_owned(), entry["record"].clone());
            }
            (Data::Collection(c), Some("delete")) => {
                c.records.shift_remove(key);
            }
            (Data::Singleton(m), Some("set")) => {
                if let Value::Object(new) = &entry["record"] {
                    *m = new.clone();
                }
            }
            _ => {}
        }
    }
}

fn collection(data: &mut Data) -> Result<&mut Collection, StoreError> {
    match data {
        Data::Collection(c) => Ok(c),
        Data::Singleton(_) => Err(StoreError::NotFound(String::new())),
    }
}

/// RFC 7396 JSON merge patch: objects merge key by key, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
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

/// What a sync did to the stores, for the reload log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub kept: Vec<String>,
    pub seeded: Vec<String>,
    pub restored: Vec<String>,
}

impl SyncReport {
    pub fn describe(&self) -> String {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        format!(
            "resources kept: {}; re-seeded: {}",
            list(&self.kept),
            list(&self.seeded)
        )
    }
}

/// Every resource's store, by name; lives as long as the server, across reloads.
pub struct Stores {
    stores: Mutex<HashMap<String, Arc<Store>>>,
    journal: Option<Arc<Journal>>,
    /// Data read from the state file at start, used by the first sync for unchanged resources.
    restored: Mutex<HashMap<String, persist::Restored>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Stores {
    /// Data in memory only.
    pub fn in_memory() -> Stores {
        Stores {
            stores: Mutex::new(HashMap::new()),
            journal: None,
            restored: Mutex::new(HashMap::new()),
        }
    }

    /// Data kept in `state_file`, loaded now if it exists.
    pub fn persistent(state_file: &Path) -> Result<Stores, String> {
        let (journal, restored) = Journal::open(state_file)?;
        Ok(Stores {
            stores: Mutex::new(HashMap::new()),
            journal: Some(Arc::new(journal)),
            restored: Mutex::new(restored),
        })
    }

    /// Makes the stores match `defs`: an unchanged resource keeps its store and data, a new or
    /// changed one gets a fresh store from the state file (if its definition matches what was
    /// saved) or from its seed, and a removed one is dropped.
    pub fn sync(&self, defs: &[ResourceDef]) -> Result<(Vec<Arc<Store>>, SyncReport), String> {
        let mut stores = lock(&self.stores);
        let mut restored = lock(&self.restored);
        let mut report = SyncReport::default();
        let mut next = HashMap::new();
        let mut handles = Vec::new();
        for def in defs {
            let store = match stores.get(&def.name) {
                Some(s) if s.def.fingerprint == def.fingerprint => {
                    report.kept.push(def.name.clone());
                    s.clone()
                }
                _ => {
                    let saved = restored
                        .remove(&def.name)
                        .filter(|r| r.fingerprint == def.fingerprint)
                        .and_then(|r| Some((Data::from_json(r.data, def)?, r.entries)));
                    match saved {
                        Some((data, entries)) => {
                            report.restored.push(def.name.clone());
                            let store = Store::new(def.clone(), data, self.journal.clone());
                            for e in &entries {
                                store.replay(e);
                            }
                            Arc::new(store)
                        }
                        None => {
                            report.seeded.push(def.name.clone());
                            let data = Data::from_seed(&def.seed, &def.id_field);
                            Arc::new(Store::new(def.clone(), data, self.journal.clone()))
                        }
                    }
                }
            };
            next.insert(def.name.clone(), store.clone());
            handles.push(store);
        }
        let changed =
            next.len() != stores.len() || !report.seeded.is_empty() || !report.restored.is_empty();
        // Saved before the switch: if the snapshot cannot be written, nothing switches.
        if let Some(j) = &self.journal
            && changed
        {
            compact(j, &next).map_err(|e| e.to_string())?;
        }
        for (name, old) in stores.iter() {
            if !next.get(name).is_some_and(|new| Arc::ptr_eq(new, old)) {
                old.retired
                    .store(true, std::sync::atomic::Ordering::Release);
            }
        }
        restored.clear();
        *stores = next;
        Ok((handles, report))
    }

    /// Restores every resource (or the one named) to its seed. Unknown name: `false`.
    pub fn reset(&self, only: Option<&str>) -> Result<bool, String> {
        let stores = lock(&self.stores);
        if !reset_all(&stores, only) {
            return Ok(false);
        }
        if let Some(j) = &self.journal {
            compact(j, &stores).map_err(|e| e.to_string())?;
        }
        Ok(true)
    }

    /// Replaces the data of the resources named in `state` (`{name: data}`, as [`Stores::dump`]
    /// gives it). Everything is checked before anything changes: an unknown name or data of
    /// the wrong shape is an error and imports nothing.
    pub fn import(&self, state: &Value) -> Result<Vec<String>, String> {
        let entries = state_entries(state)?;
        let stores = lock(&self.stores);
        let names = import_all(&stores, entries)?;
        if let Some(j) = &self.journal {
            compact(j, &stores).map_err(|e| e.to_string())?;
        }
        Ok(names)
    }

    /// Every resource's current data, by name.
    pub fn dump(&self) -> Value {
        dump_all(&lock(&self.stores))
    }
}

/// Every store's data, by name in name order.
pub fn dump_all(stores: &HashMap<String, Arc<Store>>) -> Value {
    let mut names: Vec<&String> = stores.keys().collect();
    names.sort();
    Value::Object(
        names
            .into_iter()
            .map(|n| (n.clone(), stores[n].snapshot()))
            .collect(),
    )
}

/// Restores every store (or the one named) to its seed; `false` for an unknown name.
pub fn reset_all(stores: &HashMap<String, Arc<Store>>, only: Option<&str>) -> bool {
    if let Some(name) = only
        && !stores.contains_key(name)
    {
        return false;
    }
    for (name, store) in stores {
        if only.is_none_or(|o| o == name) {
            store.reset();
        }
    }
    true
}

/// The `{name: data}` object of a state snapshot.
pub fn state_entries(state: &Value) -> Result<&Map<String, Value>, String> {
    match state {
        Value::Object(entries) => Ok(entries),
        _ => Err("the state is an object of resource names to their data".into()),
    }
}

/// Replaces the data of the stores named in `entries`, after checking all of them.
pub fn import_all(
    stores: &HashMap<String, Arc<Store>>,
    entries: &Map<String, Value>,
) -> Result<Vec<String>, String> {
    let mut ready = Vec::new();
    for (name, value) in entries {
        let store = stores
            .get(name)
            .ok_or_else(|| format!("no resource named '{name}'"))?;
        ready.push((store, checked_import(&store.def, value)?));
    }
    let mut names = Vec::new();
    for (store, data) in ready {
        *write(&store.data) = data;
        names.push(store.def.name.clone());
    }
    Ok(names)
}

/// Data to import for `def`, checked like a seed: a singleton's object, or a list of objects
/// whose ids are numbers or strings, none twice.
fn checked_import(def: &ResourceDef, value: &Value) -> Result<Data, String> {
    let name = &def.name;
    match (value, def.singleton) {
        (Value::Object(m), true) => return Ok(Data::Singleton(m.clone())),
        (other, true) => {
            return Err(format!(
                "{name}: a singleton's data is an object, found {}",
                seed::kind(other)
            ));
        }
        (Value::Array(_), false) => {}
        (other, false) => {
            return Err(format!(
                "{name}: a collection's data is a list, found {}",
                seed::kind(other)
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, item) in value.as_array().into_iter().flatten().enumerate() {
        let Value::Object(record) = item else {
            return Err(format!(
                "{name}[{i}] is {}, not an object",
                seed::kind(item)
            ));
        };
        if let Some(id) = record.get(&def.id_field) {
            let key = id_key(id)
                .ok_or_else(|| format!("{name}[{i}]: the id must be a number or a string"))?;
            if !seen.insert(key.clone()) {
                return Err(format!("{name}[{i}]: id {key} appears twice"));
            }
        }
    }
    Data::from_json(value.clone(), def).ok_or_else(|| format!("{name}: data of the wrong shape"))
}

/// Writes a snapshot of `stores` and empties the journal, holding every store's read lock
/// (in name order) throughout: a write that lands between the snapshot and the truncation
/// would otherwise be in neither. Writers take one store's lock and then the journal's, so
/// this order cannot deadlock with them.
fn compact(journal: &Journal, stores: &HashMap<String, Arc<Store>>) -> std::io::Result<()> {
    let mut names: Vec<&String> = stores.keys().collect();
    names.sort();
    let guards: Vec<_> = names
        .iter()
        .map(|n| (*n, &stores[*n], read(&stores[*n].data)))
        .collect();
    let snapshot = guards
        .iter()
        .map(|(n, s, data)| ((*n).clone(), (s.def.fingerprint, data.to_json())))
        .collect();
    journal.compact(&snapshot)
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
        let ids: Vec<&String> = c.records.keys().collect();
        assert_eq!(ids, ["7", "8"]);
        let strings = Collection::new(vec![json!({"id": "a"}).as_object().unwrap().clone()], "id");
        assert!(strings.string_ids);
    }
}
