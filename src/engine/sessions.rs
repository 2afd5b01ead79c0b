//! Isolated sessions: a request carrying `X-Mockrig-Session: NAME` reads and writes that
//! session's own copy of the resources and is recorded in that session's own journal, so tests
//! running in parallel against one mockrig do not see each other's writes.
//!
//! A session is created on first use from the spec's seeds. Its copies follow the spec: a
//! resource whose definition a reload changed is re-seeded in the session the next time the
//! session uses it, like the shared data is at the reload. Sessions live in memory only (the
//! state file holds the shared data) and are bounded in number: beyond the limit the session
//! used least recently is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::HttpRequest;
use serde_json::Value;

use super::journal::RequestJournal;
use super::resources::store::Store;
use super::resources::stores::{self, ImportError};
use super::route_state::RouteState;
use crate::error::Invalid;
use crate::sync::lock;

pub(crate) const HEADER: &str = "x-mockrig-session";

/// Longest session name accepted, in bytes.
pub(crate) const NAME_LIMIT: usize = 128;

pub(crate) const DEFAULT_LIMIT: usize = 1000;

/// One session: its resource data and its journal.
pub(crate) struct Session {
    pub(crate) name: String,
    stores: Mutex<HashMap<String, Arc<Store>>>,
    pub(crate) journal: RequestJournal,
    /// The session's own answer counts and scenario states.
    pub(crate) state: RouteState,
}

impl Session {
    /// The session's copies of `shared`, the serving spec's stores, in the same order: a resource
    /// new to the session, or whose definition changed since the session copied it, starts
    /// from its seed.
    pub(crate) fn stores_for(&self, shared: &[Arc<Store>]) -> Vec<Arc<Store>> {
        let mut mine = lock(&self.stores);
        let copies: Vec<Arc<Store>> = shared
            .iter()
            .map(|s| match mine.get(&s.def.name) {
                Some(copy) if copy.def.fingerprint == s.def.fingerprint => copy.clone(),
                _ => Arc::new(Store::seeded(s.def.clone())),
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
}

struct Entry {
    session: Arc<Session>,
    last_used: u64,
}

/// Every live session, by name, at most `limit` of them.
pub(crate) struct Sessions {
    limit: usize,
    journal_capacity: usize,
    inner: Mutex<(HashMap<String, Entry>, u64)>,
}

impl Sessions {
    /// `journal_capacity` is each session's journal size (the server's `--journal`).
    pub(crate) fn new(limit: usize, journal_capacity: usize) -> Sessions {
        Sessions {
            limit: limit.max(1),
            journal_capacity,
            inner: Mutex::new((HashMap::new(), 0)),
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
        let sessions = Sessions::new(2, 0);
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
}
