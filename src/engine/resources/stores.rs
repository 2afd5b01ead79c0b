//! Every resource's store, by name, for as long as the server runs: a reload swaps the
//! compiled spec and keeps the data of every resource whose definition did not change; a
//! changed one starts from its seed (or from the state file, when that matches it).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::data::Data;
use super::redis::Shared;
use super::store::Store;
use super::wal::{Restored, WalError, WriteAheadLog};
use crate::error::ApiError;
use crate::model::resource::ResourceDef;
use crate::sync::{lock, read};

/// What a sync did to the stores, for the reload log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SyncReport {
    pub(crate) kept: Vec<String>,
    pub(crate) seeded: Vec<String>,
    pub(crate) restored: Vec<String>,
}

impl SyncReport {
    /// Whether the spec has no resources at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.seeded.is_empty() && self.restored.is_empty()
    }

    pub(crate) fn describe(&self) -> String {
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
pub(crate) struct Stores {
    stores: Mutex<HashMap<String, Arc<Store>>>,
    wal: Option<Arc<WriteAheadLog>>,
    /// `--state redis://`: the data shared with other replicas through Redis.
    shared: Option<Arc<Shared>>,
    /// Data read from the state file at start, used by the first sync for unchanged resources.
    restored: Mutex<HashMap<String, Restored>>,
}

impl Stores {
    /// Data in memory only.
    pub(crate) fn in_memory() -> Stores {
        Stores {
            stores: Mutex::new(HashMap::new()),
            wal: None,
            shared: None,
            restored: Mutex::new(HashMap::new()),
        }
    }

    /// Data shared with other replicas through the Redis at `url`; nothing is connected
    /// until [`Stores::start_shared`].
    pub(crate) fn shared(url: &str) -> Result<Stores, String> {
        Ok(Stores {
            shared: Some(Arc::new(Shared::open(url)?)),
            ..Stores::in_memory()
        })
    }

    /// The Redis store, when the data is shared.
    pub(crate) fn shared_store(&self) -> Option<&Arc<Shared>> {
        self.shared.as_ref()
    }

    /// At start: Redis answers and holds every resource (seeding those new to it). The
    /// resources this replica seeded.
    pub(crate) fn start_shared(&self) -> Result<Vec<String>, String> {
        let Some(shared) = &self.shared else {
            return Ok(Vec::new());
        };
        let stores: Vec<Arc<Store>> = self.all();
        shared.start(&stores)
    }

    /// Every store, in name order.
    fn all(&self) -> Vec<Arc<Store>> {
        let stores = lock(&self.stores);
        let mut all: Vec<Arc<Store>> = stores.values().cloned().collect();
        all.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        all
    }

    /// [`Stores::reset`] of shared data: the seeds replace what Redis holds. Unknown name:
    /// `false`.
    pub(crate) async fn reset_shared(
        &self,
        shared: &Shared,
        only: Option<&str>,
    ) -> Result<bool, ApiError> {
        reset_shared(shared, self.all(), only).await
    }

    /// [`Stores::import`] into shared data: checked whole first, then written to Redis.
    pub(crate) async fn import_shared(
        &self,
        shared: &Shared,
        state: &Value,
    ) -> Result<Vec<String>, ApiError> {
        import_shared(shared, &self.all(), state).await
    }

    /// [`Stores::dump`] of shared data: every copy brought up to date first.
    pub(crate) async fn dump_shared(&self, shared: &Shared) -> Result<Value, ApiError> {
        dump_shared(shared, self.all()).await
    }

    /// Data kept in `state_file`, loaded now if it exists (`fresh`: set aside, to start from
    /// the seeds).
    pub(crate) fn persistent(state_file: &Path, fresh: bool) -> Result<Stores, WalError> {
        let (wal, restored) = WriteAheadLog::open(state_file, fresh)?;
        Ok(Stores {
            stores: Mutex::new(HashMap::new()),
            wal: Some(Arc::new(wal)),
            shared: None,
            restored: Mutex::new(restored),
        })
    }

    /// Makes the stores match `defs`: an unchanged resource keeps its store and data, a new or
    /// changed one gets a fresh store from the state file (if its definition matches what was
    /// saved) or from its seed, and a removed one is dropped.
    pub(crate) fn sync(
        &self,
        defs: &[ResourceDef],
    ) -> Result<(Vec<Arc<Store>>, SyncReport), WalError> {
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
                    let saved = match restored.remove(&def.name) {
                        Some(r) if r.fingerprint == def.fingerprint => {
                            let data =
                                Data::checked(r.data, def).map_err(|what| WalError::Damaged {
                                    file: self.state_file_name(),
                                    line: None,
                                    what: format!("resources.{}", what.0),
                                })?;
                            Some((data, r.entries))
                        }
                        Some(_) => {
                            tracing::warn!(
                                "the spec changed resource '{}' (its path, id or seed): its saved \
                                 data gives way to the new seed",
                                def.name
                            );
                            None
                        }
                        None => None,
                    };
                    match saved {
                        Some((data, entries)) => {
                            report.restored.push(def.name.clone());
                            let store = Store::new(def.clone(), data, self.wal.clone());
                            for e in &entries {
                                store.replay(e).map_err(|what| WalError::Damaged {
                                    file: format!("{}.journal", self.state_file_name()),
                                    line: None,
                                    what,
                                })?;
                            }
                            Arc::new(store)
                        }
                        None => {
                            report.seeded.push(def.name.clone());
                            let data = Data::from_seed(&def.seed, &def.id_field);
                            Arc::new(Store::new(def.clone(), data, self.wal.clone()))
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
        if let Some(w) = &self.wal
            && changed
        {
            compact(w, &next).map_err(WalError::Write)?;
        }
        for (name, old) in stores.iter() {
            if !next.get(name).is_some_and(|new| Arc::ptr_eq(new, old)) {
                old.retire();
            }
        }
        restored.clear();
        *stores = next;
        Ok((handles, report))
    }

    fn state_file_name(&self) -> String {
        self.wal
            .as_ref()
            .map(|w| w.state_file().display().to_string())
            .unwrap_or_default()
    }

    /// Restores every resource (or the one named) to its seed. Unknown name: `false`.
    pub(crate) fn reset(&self, only: Option<&str>) -> Result<bool, WalError> {
        let stores = lock(&self.stores);
        if !reset_all(&stores, only) {
            return Ok(false);
        }
        if let Some(w) = &self.wal {
            compact(w, &stores).map_err(WalError::Write)?;
        }
        Ok(true)
    }

    /// Replaces the data of the resources named in `state` (`{name: data}`, as [`Stores::dump`]
    /// gives it). Everything is checked before anything changes: an unknown name or data of
    /// the wrong shape is an error and imports nothing.
    pub(crate) fn import(&self, state: &Value) -> Result<Vec<String>, ImportError> {
        let entries = state_entries(state)?;
        let stores = lock(&self.stores);
        let names = import_all(&stores, entries)?;
        if let Some(w) = &self.wal {
            compact(w, &stores)
                .map_err(WalError::Write)
                .map_err(ImportError::Persist)?;
        }
        Ok(names)
    }

    /// Every resource's current data, by name.
    pub(crate) fn dump(&self) -> Value {
        dump_all(&lock(&self.stores))
    }
}

/// The seeds replace what Redis holds for `stores` (or the one named; unknown: `false`).
pub(crate) async fn reset_shared(
    shared: &Shared,
    stores: Vec<Arc<Store>>,
    only: Option<&str>,
) -> Result<bool, ApiError> {
    if only.is_some_and(|o| !stores.iter().any(|s| s.def.name == o)) {
        return Ok(false);
    }
    let seeds = stores
        .into_iter()
        .filter(|s| only.is_none_or(|o| o == s.def.name))
        .map(|s| {
            let seed = Data::from_seed(&s.def.seed, &s.def.id_field);
            (s, seed)
        })
        .collect();
    shared.replace(seeds).await?;
    Ok(true)
}

/// A snapshot (`{name: data}`) replaces what Redis holds for those of `stores` it names:
/// checked whole first.
pub(crate) async fn import_shared(
    shared: &Shared,
    stores: &[Arc<Store>],
    state: &Value,
) -> Result<Vec<String>, ApiError> {
    let entries = state_entries(state).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut ready = Vec::new();
    for (name, value) in entries {
        let store = stores
            .iter()
            .find(|s| &s.def.name == name)
            .ok_or_else(|| ApiError::BadRequest(format!("no resource named '{name}'")))?;
        let data =
            Data::checked(value.clone(), &store.def).map_err(|e| ApiError::BadRequest(e.0))?;
        ready.push((store.clone(), data));
    }
    let names = ready.iter().map(|(s, _)| s.def.name.clone()).collect();
    shared.replace(ready).await?;
    Ok(names)
}

/// The data of `stores` as Redis holds it now, by name.
pub(crate) async fn dump_shared(
    shared: &Shared,
    stores: Vec<Arc<Store>>,
) -> Result<Value, ApiError> {
    shared.refresh(&stores).await?;
    Ok(dump_all(
        &stores
            .into_iter()
            .map(|s| (s.def.name.clone(), s))
            .collect(),
    ))
}

/// Every store's data, by name in name order.
pub(crate) fn dump_all(stores: &HashMap<String, Arc<Store>>) -> Value {
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
pub(crate) fn reset_all(stores: &HashMap<String, Arc<Store>>, only: Option<&str>) -> bool {
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
pub(crate) fn state_entries(state: &Value) -> Result<&Map<String, Value>, ImportError> {
    match state {
        Value::Object(entries) => Ok(entries),
        _ => Err(ImportError::Invalid(
            "the state is an object of resource names to their data".into(),
        )),
    }
}

/// Why a state snapshot was not imported. Nothing changed in either case.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportError {
    /// Not a snapshot of these resources: the message says what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The imported data could not be saved to the state file.
    #[error("{0}")]
    Persist(WalError),
}

/// Replaces the data of the stores named in `entries`, after checking all of them.
pub(crate) fn import_all(
    stores: &HashMap<String, Arc<Store>>,
    entries: &Map<String, Value>,
) -> Result<Vec<String>, ImportError> {
    let mut ready = Vec::new();
    for (name, value) in entries {
        let store = stores
            .get(name)
            .ok_or_else(|| ImportError::Invalid(format!("no resource named '{name}'")))?;
        ready.push((
            store,
            Data::checked(value.clone(), &store.def).map_err(|e| ImportError::Invalid(e.0))?,
        ));
    }
    let mut names = Vec::new();
    for (store, data) in ready {
        store.set(data);
        names.push(store.def.name.clone());
    }
    Ok(names)
}

/// Writes a snapshot of `stores` and empties the write-ahead log, holding every store's read
/// lock (in name order) throughout: a write that lands between the snapshot and the truncation
/// would otherwise be in neither. Writers take one store's lock and then the log's, so this
/// order cannot deadlock with them.
fn compact(wal: &WriteAheadLog, stores: &HashMap<String, Arc<Store>>) -> std::io::Result<()> {
    let mut names: Vec<&String> = stores.keys().collect();
    names.sort();
    let guards: Vec<_> = names
        .iter()
        .map(|n| (*n, &stores[*n], read(&stores[*n].data)))
        .collect();
    let snapshot = guards
        .iter()
        // Text, not values: a snapshot of a large collection must not build every record
        // as a tree (~13 times its text) while every store's lock is held.
        .map(|(n, s, data)| ((*n).clone(), (s.def.fingerprint, data.json_text())))
        .collect();
    wal.compact(snapshot)
}
