//! One resource's live data (`data`), behind a std `RwLock` held only for the synchronous work of one request
//! and never across an `.await`: reads of one resource run in parallel, and a write holds the
//! lock for a map update (plus one write-ahead log append when persisting).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};

use serde_json::{Map, Value};

use super::change::{Change, Deferred, Drawn, Ids, Mirror, Sink};
use super::data::{Data, merge_patch};
use super::index::Indexes;
use super::record::Record;
use super::wal::WriteAheadLog;
use crate::error::StoreError;
use crate::model::resource::{ResourceDef, id_key, kind};
use crate::sync::{read, write};

/// A resource's seed as data, built once and shared by every session that has not written
/// to the resource: a session that only reads costs nothing more.
#[derive(Debug)]
pub(crate) struct SharedSeed {
    pub(crate) data: Arc<Data>,
    /// The definition's fingerprint: a changed definition needs another.
    pub(crate) fingerprint: u64,
    /// What a session's own copy of it weighs, in bytes of JSON.
    pub(crate) bytes: usize,
}

impl SharedSeed {
    pub(crate) fn new(def: &ResourceDef) -> SharedSeed {
        let data = Data::from_seed(&def.seed, &def.id_field);
        let bytes = data.json_len();
        SharedSeed {
            data: Arc::new(data),
            fingerprint: def.fingerprint,
            bytes,
        }
    }
}

/// The bytes `v` serializes to.
fn json_bytes(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(0, |b| b.len())
}

/// What a write adds to the record it stores, decided under the write lock before anything
/// changes: the resource's `new_id` and `computed` (`super::computed`), or nothing ([`Plain`]).
/// An error refuses the write.
pub(crate) trait Writer {
    /// The id of a created `record` that came without one, from the collection's `ids`.
    fn new_id(&self, record: &Map<String, Value>, ids: &dyn Ids) -> Result<Value, StoreError>;
    /// Sets the computed fields of `record`: a create when `old` is none, else an update of
    /// `old`. `patch`: the client's fields when they were merged into `old` (PATCH); none
    /// when `record` holds just what the client sent (and the id).
    fn compute(
        &self,
        record: &mut Map<String, Value>,
        old: Option<&Map<String, Value>>,
        patch: Option<&Map<String, Value>>,
    ) -> Result<(), StoreError>;
}

/// A write as the client sent it: ids as the collection makes them, no computed fields.
#[cfg(test)]
pub(crate) struct Plain;

#[cfg(test)]
impl Writer for Plain {
    fn new_id(&self, _: &Map<String, Value>, ids: &dyn Ids) -> Result<Value, StoreError> {
        ids.generate_id()
    }

    fn compute(
        &self,
        _: &mut Map<String, Value>,
        _: Option<&Map<String, Value>>,
        _: Option<&Map<String, Value>>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// One resource's live data.
pub(crate) struct Store {
    pub(crate) def: ResourceDef,
    /// Shared with a [`SharedSeed`] until the first write copies it (a session's store); a
    /// store of the shared data owns it from the start.
    pub(crate) data: RwLock<Arc<Data>>,
    /// For a session's store: the seed it started sharing, and the bytes it holds of its own
    /// since (its copy, and what was written to it), for the sessions' byte budget.
    pub(super) seed: Option<(Arc<SharedSeed>, AtomicUsize)>,
    wal: Option<Arc<WriteAheadLog>>,
    /// Set when a reload replaced this store; a request still holding it must not write data
    /// that nobody will read again.
    retired: std::sync::atomic::AtomicBool,
    /// Where the copy stands, for a store of shared (Redis) data.
    pub(crate) mirror: Mirror,
    /// The session whose copy this is (its data in Redis is the session's too).
    pub(crate) session: Option<Arc<str>>,
    /// Indexes of the records for equality filters.
    pub(crate) indexes: Indexes,
}

impl Store {
    pub(crate) fn new(def: ResourceDef, data: Data, wal: Option<Arc<WriteAheadLog>>) -> Store {
        Store {
            def,
            data: RwLock::new(Arc::new(data)),
            seed: None,
            wal,
            retired: std::sync::atomic::AtomicBool::new(false),
            mirror: Mirror::default(),
            session: None,
            indexes: Indexes::default(),
        }
    }

    /// A store in memory only that shares `seed` until its first write: session `session`'s
    /// copy.
    pub(crate) fn sharing(def: ResourceDef, seed: Arc<SharedSeed>, session: Arc<str>) -> Store {
        Store {
            def,
            data: RwLock::new(seed.data.clone()),
            seed: Some((seed, AtomicUsize::new(0))),
            wal: None,
            retired: std::sync::atomic::AtomicBool::new(false),
            mirror: Mirror::default(),
            session: Some(session),
            indexes: Indexes::default(),
        }
    }

    /// Marks the store as replaced by a reload: writes still in flight to it are refused.
    pub(crate) fn retire(&self) {
        self.retired
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// The bytes a session's store holds of its own (0 while it shares its seed, and for the
    /// shared data, which no session budget counts).
    pub(crate) fn own_bytes(&self) -> usize {
        self.seed
            .as_ref()
            .map_or(0, |(_, bytes)| bytes.load(Ordering::Relaxed))
    }

    /// The data to change, under the write lock: copied first if it is still shared.
    pub(super) fn own<'g>(&self, guard: &'g mut RwLockWriteGuard<'_, Arc<Data>>) -> &'g mut Data {
        if let Some((seed, bytes)) = &self.seed
            && Arc::ptr_eq(guard, &seed.data)
        {
            bytes.fetch_add(seed.bytes, Ordering::Relaxed);
        }
        Arc::make_mut(guard)
    }

    /// Counts what a session's store now holds besides its copy.
    pub(super) fn grew_by(&self, v: &Value) {
        if let Some((_, bytes)) = &self.seed {
            bytes.fetch_add(json_bytes(v), Ordering::Relaxed);
        }
    }

    /// Runs `f` over the data under the read lock.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Data) -> R) -> R {
        f(&read(&self.data))
    }

    /// Replaces the data whole (an import).
    pub(crate) fn set(&self, data: Data) {
        if let Some((_, bytes)) = &self.seed {
            bytes.store(data.json_len(), Ordering::Relaxed);
        }
        *write(&self.data) = Arc::new(data);
    }

    pub(crate) fn snapshot(&self) -> Value {
        read(&self.data).to_json()
    }

    /// Queues the change for the write-ahead log before it is made, so a change the log
    /// refuses is not made. Called with the write lock held, which also orders log lines as
    /// the changes. The write is answered after [`Store::saved`].
    fn log(&self, entry: impl FnOnce() -> Value) -> Result<(), StoreError> {
        if self.retired.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StoreError::Retired);
        }
        match &self.wal {
            Some(j) => j
                .append(&self.def.name, self.def.fingerprint, entry())
                .map_err(StoreError::Persist),
            None => Ok(()),
        }
    }

    /// Waits until the writes made so far are on disk (with `--state-file`; at once without).
    /// Until then another request may read a write that is not saved yet; it is answered,
    /// and so acknowledged, only once it is.
    pub(crate) async fn saved(&self) -> Result<(), StoreError> {
        match &self.wal {
            Some(wal) => wal.synced().await.map_err(StoreError::Persist),
            None => Ok(()),
        }
    }

    /// Record `key` as stored (its text: a copy of that, not a parse).
    pub(crate) fn record(&self, key: &str) -> Option<Record> {
        match &**read(&self.data) {
            Data::Collection(c) => c.records().get(key).cloned(),
            Data::Singleton(_) => None,
        }
    }

    /// Whether the collection has record `key`.
    pub(crate) fn has(&self, key: &str) -> bool {
        has_record(&read(&self.data), key).is_ok()
    }

    /// Makes (or, for a shared store, plans) the write `plan` decides on the data as it is.
    /// Everything that can fail is decided before anything changes: a refused write costs a
    /// shared seed no copy.
    fn write(
        &self,
        to: Sink<'_>,
        plan: impl FnOnce(&Data, Option<&Deferred>) -> Result<Change, StoreError>,
    ) -> Result<Value, StoreError> {
        match to {
            Sink::Apply => {
                let mut guard = write(&self.data);
                let change = plan(&guard, None)?;
                self.log(|| change.entry())?;
                let answer = change.answer();
                let grows = !matches!(change, Change::Delete { .. });
                apply(self.own(&mut guard), change)?;
                if grows {
                    self.grew_by(&answer);
                }
                Ok(answer)
            }
            Sink::Defer(d) => {
                if self.retired.load(std::sync::atomic::Ordering::Acquire) {
                    return Err(StoreError::Retired);
                }
                let guard = read(&self.data);
                // Read under the data's lock: the position describes the data planned on.
                let generation = self.mirror.generation();
                let change = plan(&guard, Some(d))?;
                let answer = change.answer();
                d.plan(&self.def.name, generation, change);
                Ok(answer)
            }
        }
    }

    /// Adds a record, its id made by `w` when it has none, its computed fields set by `w`.
    pub(crate) fn create(
        &self,
        mut record: Map<String, Value>,
        w: &dyn Writer,
        to: Sink<'_>,
    ) -> Result<Value, StoreError> {
        let id_field = &self.def.id_field;
        self.write(to, |data, deferred| {
            let Data::Collection(c) = data else {
                return Err(StoreError::NotFound(String::new()));
            };
            let id = match (record.get(id_field), deferred) {
                (Some(id), _) => id.clone(),
                (None, None) => w.new_id(&record, c)?,
                (None, Some(d)) => {
                    let mirror = &self.mirror;
                    w.new_id(&record, &Drawn { c, d, mirror })?
                }
            };
            let key = id_key(&id).ok_or(StoreError::BadId(kind(&id)))?;
            if c.records().contains_key(key.as_str()) {
                return Err(StoreError::Conflict(key));
            }
            // A generated id goes first, where a reader of the JSON looks for it.
            if !record.contains_key(id_field) {
                let mut with_id = Map::with_capacity(record.len() + 1);
                with_id.insert(id_field.clone(), id.clone());
                with_id.extend(std::mem::take(&mut record));
                record = with_id;
            }
            w.compute(&mut record, None, None)?;
            Ok(Change::Create {
                key,
                id,
                record: Value::Object(std::mem::take(&mut record)),
            })
        })
    }

    /// Replaces a record whole; its id stays what it was.
    pub(crate) fn replace(
        &self,
        key: &str,
        record: Map<String, Value>,
        w: &dyn Writer,
        to: Sink<'_>,
    ) -> Result<Value, StoreError> {
        self.update(key, |_| Value::Object(record), None, w, to)
    }

    /// Applies a JSON merge patch (RFC 7396); the id stays what it was.
    pub(crate) fn patch(
        &self,
        key: &str,
        patch: &Map<String, Value>,
        w: &dyn Writer,
        to: Sink<'_>,
    ) -> Result<Value, StoreError> {
        self.update(
            key,
            |old| {
                let mut value = old.clone();
                merge_patch(&mut value, &Value::Object(patch.clone()));
                value
            },
            Some(patch),
            w,
            to,
        )
    }

    /// Replaces record `key` with what `change` makes of it, keeping its id; `patch` is the
    /// client's fields when they were merged into the record rather than replaced it.
    fn update(
        &self,
        key: &str,
        change: impl FnOnce(&Value) -> Value,
        patch: Option<&Map<String, Value>>,
        w: &dyn Writer,
        to: Sink<'_>,
    ) -> Result<Value, StoreError> {
        self.write(to, |data, _| {
            has_record(data, key)?;
            let Data::Collection(c) = data else {
                return Err(StoreError::NotFound(String::new()));
            };
            let old = c
                .records()
                .get(key)
                .ok_or_else(|| StoreError::NotFound(key.to_owned()))?
                .value();
            let mut value = change(&old);
            if let Value::Object(m) = &mut value {
                if let Some(id) = old.get(&self.def.id_field) {
                    m.insert(self.def.id_field.clone(), id.clone());
                }
                w.compute(m, Some(old.as_object().unwrap_or(&Map::new())), patch)?;
            }
            Ok(Change::Update {
                key: key.to_owned(),
                record: value,
                old,
            })
        })
    }

    /// Removes a record and returns it.
    pub(crate) fn delete(&self, key: &str, to: Sink<'_>) -> Result<Value, StoreError> {
        self.write(to, |data, _| {
            has_record(data, key)?;
            let Data::Collection(c) = data else {
                return Err(StoreError::NotFound(String::new()));
            };
            Ok(Change::Delete {
                key: key.to_owned(),
                old: c.records().get(key).map(Record::value).unwrap_or_default(),
            })
        })
    }

    /// Replaces (`patch: false`) or merge-patches a singleton.
    pub(crate) fn set_singleton(
        &self,
        body: Map<String, Value>,
        patch: bool,
        w: &dyn Writer,
        to: Sink<'_>,
    ) -> Result<Value, StoreError> {
        self.write(to, |data, _| {
            let Data::Singleton(old) = data else {
                return Err(StoreError::NotFound(String::new()));
            };
            let mut new = if patch {
                let mut value = Value::Object(old.clone());
                merge_patch(&mut value, &Value::Object(body.clone()));
                match value {
                    Value::Object(new) => new,
                    // An object patched with an object stays an object.
                    _ => Map::new(),
                }
            } else {
                body.clone()
            };
            w.compute(&mut new, Some(old), patch.then_some(&body))?;
            Ok(Change::Set {
                record: new,
                old: old.clone(),
            })
        })
    }

    /// Back to the seed. Not logged: the caller writes a snapshot.
    pub(crate) fn reset(&self) {
        let mut guard = write(&self.data);
        match &self.seed {
            // A session's store shares its seed again.
            Some((seed, bytes)) => {
                *guard = seed.data.clone();
                bytes.store(0, Ordering::Relaxed);
            }
            None => *guard = Arc::new(Data::from_seed(&self.def.seed, &self.def.id_field)),
        }
    }

    /// Applies one log entry while loading; entries are idempotent.
    /// Err: an entry that does not fit the resource's kind (a `put` for a singleton): the log
    /// is damaged, as the kind is part of the definition it was written for.
    pub(crate) fn replay(&self, entry: &Value) -> Result<(), String> {
        let mut guard = write(&self.data);
        self.replay_on(self.own(&mut guard), entry)
    }

    pub(super) fn replay_on(&self, data: &mut Data, entry: &Value) -> Result<(), String> {
        let key = entry["key"].as_str().unwrap_or_default();
        match (data, entry["op"].as_str()) {
            (Data::Collection(c), Some("put")) => {
                let record = &entry["record"];
                if !record.is_object() {
                    return Err(format!(
                        "{}: record '{key}' is {}, not an object",
                        self.def.name,
                        kind(record)
                    ));
                }
                let id = record.get(&self.def.id_field).cloned().unwrap_or_default();
                if c.records().contains_key(key) {
                    c.note_id(&id);
                    c.records_mut().insert(key.into(), Record::new(record));
                } else {
                    c.add(key.to_owned(), &id, record);
                }
            }
            (Data::Collection(c), Some("delete")) => {
                c.records_mut().shift_remove(key);
            }
            (Data::Singleton(m), Some("set")) => {
                if let Value::Object(new) = &entry["record"] {
                    *m = new.clone();
                }
            }
            (data, op) => {
                let kind = match data {
                    Data::Collection(_) => "a collection",
                    Data::Singleton(_) => "a singleton",
                };
                return Err(format!(
                    "{}: a '{}' entry does not fit {kind}",
                    self.def.name,
                    op.unwrap_or_default()
                ));
            }
        }
        Ok(())
    }
}

/// Makes `change` on `data`.
pub(super) fn apply(data: &mut Data, change: Change) -> Result<(), StoreError> {
    match (data, change) {
        (Data::Collection(c), Change::Create { key, id, record }) => c.add(key, &id, &record),
        (Data::Collection(c), Change::Update { key, record, .. }) => {
            c.records_mut().insert(key.into(), Record::new(&record));
        }
        (Data::Collection(c), Change::Delete { key, .. }) => {
            c.records_mut().shift_remove(key.as_str());
        }
        (Data::Singleton(m), Change::Set { record, .. }) => *m = record,
        _ => return Err(StoreError::NotFound(String::new())),
    }
    Ok(())
}

/// Whether `data` is a collection with record `key`: checked before a write copies shared
/// data, so a refused write costs a shared seed nothing.
fn has_record(data: &Data, key: &str) -> Result<(), StoreError> {
    match data {
        Data::Collection(c) if c.records().contains_key(key) => Ok(()),
        Data::Collection(_) => Err(StoreError::NotFound(key.to_owned())),
        Data::Singleton(_) => Err(StoreError::NotFound(String::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::resource::Seed;
    use serde_json::json;

    fn users(seed: Value) -> ResourceDef {
        let (compiled, problems) = crate::model::testing::compile_yaml(&format!(
            "resources:\n  users: {{ seed: {seed} }}\n"
        ));
        assert!(problems.is_empty(), "{problems:?}");
        compiled.unwrap().resources.remove(0)
    }

    fn record(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// A `users` collection with no records.
    fn empty_users() -> Store {
        Store::new(
            users(json!([])),
            Data::from_seed(&Seed::Collection(vec![]), "id"),
            None,
        )
    }

    #[test]
    fn generated_ids_stop_at_the_largest_integer_instead_of_wrapping() {
        let store = empty_users();
        store
            .create(record(json!({"id": u64::MAX})), &Plain, Sink::Apply)
            .unwrap();
        let before = store.snapshot();
        assert!(matches!(
            store.create(record(json!({"name": "next"})), &Plain, Sink::Apply),
            Err(StoreError::IdsExhausted)
        ));
        assert_eq!(store.snapshot(), before, "nothing changed");
        // Ids given by the client still go in.
        store
            .create(record(json!({"id": 5})), &Plain, Sink::Apply)
            .unwrap();
    }

    #[test]
    fn a_log_entry_whose_record_is_no_object_is_refused() {
        let store = empty_users();
        let err = store
            .replay(&json!({"op": "put", "key": "1", "record": [1, 2]}))
            .unwrap_err();
        assert!(err.contains("not an object"), "{err}");
        assert_eq!(store.snapshot(), json!([]));
        store
            .replay(&json!({"op": "put", "key": "1", "record": {"id": 1}}))
            .unwrap();
        assert_eq!(store.snapshot(), json!([{"id": 1}]));
    }

    #[test]
    fn sessions_share_the_seed_until_they_write() {
        let def = users(json!([{"id": 1, "name": "Ada"}]));
        let seed = Arc::new(SharedSeed::new(&def));
        let (a, b) = (
            Store::sharing(def.clone(), seed.clone(), "a".into()),
            Store::sharing(def, seed.clone(), "b".into()),
        );
        assert!(Arc::ptr_eq(&read(&a.data), &seed.data));
        assert_eq!(
            (a.own_bytes(), b.own_bytes()),
            (0, 0),
            "reading costs nothing"
        );
        // A refused write copies nothing.
        assert!(a.delete("9", Sink::Apply).is_err());
        assert_eq!(a.own_bytes(), 0);
        a.create(record(json!({"name": "Grace"})), &Plain, Sink::Apply)
            .unwrap();
        assert!(!Arc::ptr_eq(&read(&a.data), &seed.data));
        assert!(a.own_bytes() > seed.bytes, "the copy and the record count");
        assert_eq!(
            b.snapshot(),
            json!([{"id": 1, "name": "Ada"}]),
            "b still shares"
        );
        assert_eq!(
            a.snapshot(),
            json!([{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}])
        );
        a.reset();
        assert!(Arc::ptr_eq(&read(&a.data), &seed.data));
        assert_eq!(a.own_bytes(), 0);
    }
}
