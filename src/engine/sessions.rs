//! Isolated sessions: a request carrying `X-Mockrig-Session: NAME` reads and writes that
//! session's own copy of the resources and is recorded in that session's own journal, so tests
//! running in parallel against one mockrig do not see each other's writes.
//!
//! A session is created on first use from the spec's seeds, which every session shares until
//! it writes to a resource: only then does it copy that resource (copy on write), so a session
//! that only reads costs almost nothing. Its copies follow the spec: a resource whose
//! definition a reload changed is re-seeded in the session the next time the session uses it,
//! like the shared data is at the reload. Sessions live in memory only (the state file holds
//! the shared data) and are bounded in number and in bytes (their copies, what was written to
//! them, their journals): beyond either limit the sessions used least recently are dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::HttpRequest;
use serde_json::Value;

use super::journal::RequestJournal;
use super::resources::store::{SharedSeed, Store};
use super::resources::stores::{self, ImportError};
use super::route_state::RouteState;
use crate::error::Invalid;
use crate::sync::lock;

pub(crate) const HEADER: &str = "x-mockrig-session";

/// Longest session name accepted, in bytes.
pub(crate) const NAME_LIMIT: usize = 128;

pub(crate) const DEFAULT_LIMIT: usize = 1000;

/// The bytes all sessions together may hold by default: 256 MiB.
pub(crate) const DEFAULT_BYTE_LIMIT: usize = 256 * 1024 * 1024;

/// Each resource's seed as data, built once per definition and shared by the sessions.
#[derive(Default)]
struct SharedSeeds(Mutex<HashMap<String, Arc<SharedSeed>>>);

impl SharedSeeds {
    fn of(&self, store: &Store) -> Arc<SharedSeed> {
        let mut seeds = lock(&self.0);
        match seeds.get(&store.def.name) {
            Some(s) if s.fingerprint == store.def.fingerprint => s.clone(),
            _ => {
                let seed = Arc::new(SharedSeed::new(&store.def));
                seeds.insert(store.def.name.clone(), seed.clone());
                seed
            }
        }
    }
}

/// One session: its resource data and its journal.
pub(crate) struct Session {
    pub(crate) name: String,
    stores: Mutex<HashMap<String, Arc<Store>>>,
    seeds: Arc<SharedSeeds>,
    pub(crate) journal: RequestJournal,
    /// The session's own answer counts and scenario states.
    pub(crate) state: RouteState,
}

impl Session {
    /// The session's copies of `shared`, the serving spec's stores, in the same order: a resource
    /// new to the session, or whose definition changed since the session copied it, starts
    /// from its seed (shared until the session writes to it).
    pub(crate) fn stores_for(&self, shared: &[Arc<Store>]) -> Vec<Arc<Store>> {
        let mut mine = lock(&self.stores);
        let copies: Vec<Arc<Store>> = shared
            .iter()
            .map(|s| match mine.get(&s.def.name) {
                Some(copy) if copy.def.fingerprint == s.def.fingerprint => copy.clone(),
                _ => Arc::new(Store::sharing(
                    s.def.clone(),
                    self.seeds.of(s),
                    Arc::from(self.name.as_str()),
                )),
            })
            .collect();
        // Resources the spec no longer has are forgotten with their data, as shared ones are.
        *mine = copies
            .iter()
            .map(|s| (s.def.name.clone(), s.clone()))
            .collect();
        copies
    }

    fn synced(&self, shared: &[Arc<Store>]) -> HashMap<String, Arc<Store>> {
        self.stores_for(shared)
            .into_iter()
            .map(|s| (s.def.name.clone(), s))
            .collect()
    }

    pub(crate) fn dump(&self, shared: &[Arc<Store>]) -> Value {
        stores::dump_all(&self.synced(shared))
    }

    pub(crate) fn import(
        &self,
        shared: &[Arc<Store>],
        state: &Value,
    ) -> Result<Vec<String>, ImportError> {
        let entries = stores::state_entries(state)?;
        stores::import_all(&self.synced(shared), entries)
    }

    /// Back to the seeds: every resource, or the one named (`false` when there is none).
    pub(crate) fn reset(&self, shared: &[Arc<Store>], only: Option<&str>) -> bool {
        stores::reset_all(&self.synced(shared), only)
    }

    /// The bytes the session holds of its own: its copies, what was written to them, its
    /// journal.
    pub(crate) fn bytes(&self) -> usize {
        let data: usize = lock(&self.stores).values().map(|s| s.own_bytes()).sum();
        data + self.journal.bytes()
    }
}

struct Entry {
    session: Arc<Session>,
    last_used: u64,
}

/// Every live session, by name, at most `limit` of them and `byte_limit` bytes together.
pub(crate) struct Sessions {
    limit: usize,
    byte_limit: usize,
    journal_capacity: usize,
    seeds: Arc<SharedSeeds>,
    inner: Mutex<(HashMap<String, Entry>, u64)>,
}

impl Sessions {
    /// `journal_capacity` is each session's journal size (the server's `--journal`).
    pub(crate) fn new(limit: usize, byte_limit: usize, journal_capacity: usize) -> Sessions {
        Sessions {
            limit: limit.max(1),
            byte_limit,
            journal_capacity,
            seeds: Arc::default(),
            inner: Mutex::new((HashMap::new(), 0)),
        }
    }

    /// Drops the sessions used least recently, `current` aside, while all of them together
    /// hold more than the byte budget. Called after each request of a session; a scan of the
    /// live sessions (at most `--max-sessions`).
    pub(crate) fn enforce_byte_limit(&self, current: &str) {
        let mut guard = lock(&self.inner);
        let map = &mut guard.0;
        let mut sizes: Vec<(u64, usize, String)> = map
            .iter()
            .map(|(name, e)| (e.last_used, e.session.bytes(), name.clone()))
            .collect();
        let mut total: usize = sizes.iter().map(|(_, b, _)| b).sum();
        if total <= self.byte_limit {
            return;
        }
        sizes.sort_by_key(|(used, _, _)| *used);
        for (_, bytes, name) in sizes {
            if total <= self.byte_limit {
                break;
            }
            // Dropping a session that holds nothing would free nothing.
            if name == current || bytes == 0 {
                continue;
            }
            map.remove(&name);
            total -= bytes;
            tracing::info!(session = %name, limit = self.byte_limit, "session evicted (sessions over their byte budget)");
        }
    }

    /// The session named, created when new; the least recently used one makes room.
    pub(crate) fn get(&self, name: &str) -> Arc<Session> {
        let mut guard = lock(&self.inner);
        let (map, clock) = &mut *guard;
        *clock += 1;
        if let Some(e) = map.get_mut(name) {
            e.last_used = *clock;
            return e.session.clone();
        }
        if map.len() >= self.limit {
            // A scan, only when a new session arrives at a full table: O(limit) then, nothing
            // on the requests of existing sessions.
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(n, _)| n.clone())
            {
                map.remove(&oldest);
                tracing::info!(session = %oldest, limit = self.limit, "session evicted (least recently used)");
            }
        }
        let session = Arc::new(self.new_session(name));
        map.insert(
            name.to_owned(),
            Entry {
                session: session.clone(),
                last_used: *clock,
            },
        );
        session
    }

    /// The session named if it lives, or else a new one that is not kept (what the session
    /// would be on its first request).
    pub(crate) fn peek(&self, name: &str) -> Arc<Session> {
        let guard = lock(&self.inner);
        match guard.0.get(name) {
            Some(e) => e.session.clone(),
            None => Arc::new(self.new_session(name)),
        }
    }

    fn new_session(&self, name: &str) -> Session {
        Session {
            name: name.to_owned(),
            stores: Mutex::new(HashMap::new()),
            seeds: self.seeds.clone(),
            journal: RequestJournal::for_session(self.journal_capacity),
            state: RouteState::default(),
        }
    }

    /// Drops a session; its next request starts from the seeds. `false` if there was none.
    pub(crate) fn remove(&self, name: &str) -> bool {
        lock(&self.inner).0.remove(name).is_some()
    }

    pub(crate) fn clear(&self) {
        lock(&self.inner).0.clear();
    }

    /// Session names, most recently used first.
    pub(crate) fn names(&self) -> Vec<String> {
        let guard = lock(&self.inner);
        let mut list: Vec<(&String, u64)> = guard.0.iter().map(|(n, e)| (n, e.last_used)).collect();
        list.sort_by_key(|(_, used)| std::cmp::Reverse(*used));
        list.into_iter().map(|(n, _)| n.clone()).collect()
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

/// The session a request names in its `X-Mockrig-Session` header, if any. A name that is
/// empty, longer than [`NAME_LIMIT`] or not visible ASCII is an error, so that a typo'd or
/// garbled header is not silently another session.
pub(crate) fn name_of(req: &HttpRequest) -> Result<Option<&str>, Invalid> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let bad = || {
        Invalid(format!(
            "X-Mockrig-Session must be 1 to {NAME_LIMIT} visible ASCII characters"
        ))
    };
    let name = value.to_str().map_err(|_| bad())?;
    check_name(name.trim()).map(Some).ok_or_else(bad)
}

/// `name` if it is a valid session name.
pub(crate) fn check_name(name: &str) -> Option<&str> {
    (!name.is_empty() && name.len() <= NAME_LIMIT && name.bytes().all(|b| b.is_ascii_graphic()))
        .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_session_is_evicted() {
        let sessions = Sessions::new(2, DEFAULT_BYTE_LIMIT, 0);
        let a = sessions.get("a");
        sessions.get("b");
        // Using `a` again makes `b` the oldest.
        assert!(Arc::ptr_eq(&a, &sessions.get("a")));
        sessions.get("c");
        assert_eq!(sessions.names(), ["c", "a"]);
        assert!(!sessions.remove("b"));
        assert!(sessions.remove("a"));
        assert_eq!(sessions.names(), ["c"]);
    }

    #[test]
    fn sessions_over_their_byte_budget_lose_the_least_recently_used() {
        let (compiled, _) = crate::model::testing::compile_yaml(
            "resources:\n  users: { seed: [ { id: 1, name: Ada } ] }\n",
        );
        let spec = compiled.unwrap();
        let shared = vec![Arc::new(Store::new(
            spec.resources[0].clone(),
            crate::engine::resources::data::Data::from_seed(&spec.resources[0].seed, "id"),
            None,
        ))];
        let sessions = Sessions::new(100, 2_000, 0);
        let write = |name: &str, text: &str| {
            let s = sessions.get(name);
            s.stores_for(&shared)[0]
                .create(
                    serde_json::json!({"text": text})
                        .as_object()
                        .unwrap()
                        .clone(),
                    &crate::engine::resources::store::Plain,
                    crate::engine::resources::change::Sink::Apply,
                )
                .unwrap();
            sessions.enforce_byte_limit(name);
        };
        // Readers cost nothing, however many.
        for i in 0..50 {
            let s = sessions.get(&format!("reader-{i}"));
            s.stores_for(&shared);
            assert_eq!(s.bytes(), 0);
        }
        write("a", &"x".repeat(800));
        write("b", &"y".repeat(800));
        assert!(sessions.names().contains(&"a".to_owned()));
        // A third writer passes the budget: the readers weigh nothing, so `a`, the least
        // recently used of those that do, goes.
        write("c", &"z".repeat(800));
        let names = sessions.names();
        assert!(!names.contains(&"a".to_owned()), "{names:?}");
        assert!(names.contains(&"b".to_owned()) && names.contains(&"c".to_owned()));
        assert!(names.contains(&"reader-0".to_owned()));
    }
}
