//! A write decided before it is made. In memory the store makes it at once, under its write
//! lock; with `--state redis://` the store only plans it (a [`Deferred`] write) and the Redis
//! backend commits it, compare-and-set, before any replica's copy shows it (`super::redis`).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use super::data::Collection;
use crate::error::StoreError;

/// One write to a resource, with what it was decided on (the compare part of the
/// compare-and-set a shared store commits it with).
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// A new record under `key`, which was free.
    Create {
        key: String,
        id: Value,
        record: Value,
    },
    /// Record `key`, which was `old`, becomes `record`.
    Update {
        key: String,
        record: Value,
        old: Value,
    },
    /// Record `key`, which was `old`, goes.
    Delete { key: String, old: Value },
    /// A singleton, which was `old`, becomes `record`.
    Set {
        record: Map<String, Value>,
        old: Map<String, Value>,
    },
}

impl Change {
    /// The write-ahead log's line for it (see `wal`), which `Store::replay` applies.
    pub(crate) fn entry(&self) -> Value {
        match self {
            Change::Create { key, record, .. } | Change::Update { key, record, .. } => {
                json!({"op": "put", "key": key, "record": record})
            }
            Change::Delete { key, .. } => json!({"op": "delete", "key": key}),
            Change::Set { record, .. } => json!({"op": "set", "record": record}),
        }
    }

    /// [`Change::entry`] as text, given the record's own text (as `new` of a commit): the
    /// record is not copied and written out a second time.
    pub(crate) fn entry_text(&self, record: &str) -> String {
        let key = |k: &str| Value::from(k).to_string();
        match self {
            Change::Create { key: k, .. } | Change::Update { key: k, .. } => {
                format!(r#"{{"op":"put","key":{},"record":{record}}}"#, key(k))
            }
            Change::Delete { key: k, .. } => format!(r#"{{"op":"delete","key":{}}}"#, key(k)),
            Change::Set { .. } => format!(r#"{{"op":"set","record":{record}}}"#),
        }
    }

    /// What the client is answered with: the record written, or the one deleted.
    pub(crate) fn answer(&self) -> Value {
        match self {
            Change::Create { record, .. } | Change::Update { record, .. } => record.clone(),
            Change::Delete { old, .. } => old.clone(),
            Change::Set { record, .. } => Value::Object(record.clone()),
        }
    }
}

/// Where a store's write goes.
#[derive(Clone, Copy)]
pub(crate) enum Sink<'a> {
    /// Made now (and logged to the state file, when there is one).
    Apply,
    /// Planned into the request's [`Deferred`], for a shared store to commit.
    Defer(&'a Deferred),
}

/// Numbers a shared store handed out for one create, so that replicas creating at once never
/// plan the same generated id.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Reservation {
    /// The next integer id.
    pub(crate) next_int: Option<u64>,
    /// The collection's count of created records, this create included (`counter` of a
    /// `new_id` template is this).
    pub(crate) count: Option<u64>,
}

/// Which reserved numbers planning asked for and did not have.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Need {
    pub(crate) next_int: bool,
    pub(crate) count: bool,
}

impl Need {
    pub(crate) fn any(self) -> bool {
        self.next_int || self.count
    }
}

/// A write planned for one request, not made: at most one per request (the REST endpoints
/// write one record each).
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    pub(crate) reserved: Reservation,
    /// Whether a generated integer id may be the copy's next one, claimed here so that this
    /// replica's creates at once plan different ones: no reservation round trip, and the
    /// commit refuses it if another replica got there first (then the id is reserved).
    pub(crate) optimistic: bool,
    need: Cell<Need>,
    planned: RefCell<Option<Planned>>,
    claim: RefCell<Option<Claim>>,
    /// Whether the plan's id is one of the block this replica reserved (see [`Mirror::ids`]).
    pooled: Cell<bool>,
    /// Whether making the id passed over one the copy holds: the commit checks only the id
    /// made, so such a plan stands only on a caught-up copy (see `redis/serve.rs`).
    passed_over: Cell<bool>,
}

/// The ids this replica's creates have planned and not yet committed or given up.
pub(crate) type Claimed = std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<u64>>>;

/// An id claimed for one plan, released when the request is done with it.
#[derive(Debug)]
struct Claim {
    held: Claimed,
    id: u64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        crate::sync::lock(&self.held).remove(&self.id);
    }
}

/// A planned write and the copy of the data it was planned on.
#[derive(Debug)]
pub(crate) struct Planned {
    pub(crate) resource: String,
    /// The generation of the shared data the copy was at.
    pub(crate) generation: String,
    pub(crate) change: Change,
}

impl Deferred {
    pub(crate) fn with(reserved: Reservation, optimistic: bool) -> Deferred {
        Deferred {
            reserved,
            optimistic,
            ..Deferred::default()
        }
    }

    /// Whether the plan took the copy's next id (see [`Deferred::optimistic`]).
    pub(crate) fn claimed(&self) -> bool {
        self.claim.borrow().is_some()
    }

    /// Whether the plan's id was reserved in Redis: handed to this request, or taken from
    /// this replica's block.
    pub(crate) fn reserved_id(&self) -> bool {
        self.reserved.next_int.is_some() || self.pooled.get()
    }

    pub(crate) fn plan(&self, resource: &str, generation: String, change: Change) {
        *self.planned.borrow_mut() = Some(Planned {
            resource: resource.to_owned(),
            generation,
            change,
        });
    }

    /// Whether making the plan's id passed over one the copy holds.
    pub(crate) fn passed_over(&self) -> bool {
        self.passed_over.get()
    }

    /// The reserved numbers planning wanted and did not have: plan again once they are.
    pub(crate) fn need(&self) -> Need {
        self.need.get()
    }

    pub(crate) fn take(&self) -> Option<Planned> {
        self.planned.borrow_mut().take()
    }
}

/// Where a created record's generated id comes from: the collection itself in memory, or the
/// numbers a shared store reserved ([`Drawn`]).
pub(crate) trait Ids {
    /// A fresh id: a UUID for a collection of text ids, else the next integer.
    fn generate_id(&self) -> Result<Value, StoreError>;
    /// The next integer id.
    fn next_int(&self) -> Result<Value, StoreError>;
    /// How many records the collection has held since it was loaded.
    fn count(&self) -> u64;
    /// Whether a record has id `id`.
    fn taken(&self, id: &Value) -> bool;
}

impl Ids for Collection {
    fn generate_id(&self) -> Result<Value, StoreError> {
        Collection::generate_id(self)
    }
    fn next_int(&self) -> Result<Value, StoreError> {
        Collection::next_int(self)
    }
    fn count(&self) -> u64 {
        Collection::count(self)
    }
    fn taken(&self, id: &Value) -> bool {
        Collection::taken(self, id)
    }
}

/// A shared collection's ids: reserved numbers where planning has them; where it has not, the
/// copy's own, noting that a reservation is needed before the plan can stand.
pub(crate) struct Drawn<'a> {
    pub(crate) c: &'a Collection,
    pub(crate) d: &'a Deferred,
    /// The store's copy: its claimed ids, the largest id it created.
    pub(crate) mirror: &'a Mirror,
}

impl Ids for Drawn<'_> {
    fn generate_id(&self) -> Result<Value, StoreError> {
        if self.c.string_ids() {
            return Collection::generate_id(self.c);
        }
        self.next_int()
    }

    fn next_int(&self) -> Result<Value, StoreError> {
        if self.d.reserved.next_int.is_none()
            && let Some(n) = self.mirror.draw_id()
        {
            self.d.pooled.set(true);
            return Ok(json!(n));
        }
        match self.d.reserved.next_int {
            Some(n) => Ok(json!(n)),
            None if self.d.optimistic => {
                let mut held = crate::sync::lock(&self.mirror.claimed);
                let first = Collection::next_int(self.c)?
                    .as_u64()
                    .ok_or(StoreError::IdsExhausted)?;
                if first != self.c.counters().0 {
                    // Past keys the copy holds at the counter.
                    self.d.passed_over.set(true);
                }
                let mut n = first.max(
                    self.mirror
                        .highest
                        .load(Ordering::Relaxed)
                        .saturating_add(1),
                );
                while held.contains(&n) || self.taken(&json!(n)) {
                    n = n.checked_add(1).ok_or(StoreError::IdsExhausted)?;
                }
                held.insert(n);
                *self.d.claim.borrow_mut() = Some(Claim {
                    held: self.mirror.claimed.clone(),
                    id: n,
                });
                Ok(json!(n))
            }
            None => {
                let mut need = self.d.need.get();
                need.next_int = true;
                self.d.need.set(need);
                Collection::next_int(self.c)
            }
        }
    }

    fn count(&self) -> u64 {
        match self.d.reserved.count {
            Some(k) => k.saturating_sub(1),
            None => {
                let mut need = self.d.need.get();
                need.count = true;
                self.d.need.set(need);
                Collection::count(self.c)
            }
        }
    }

    fn taken(&self, id: &Value) -> bool {
        let taken = Collection::taken(self.c, id);
        if taken {
            self.d.passed_over.set(true);
        }
        taken
    }
}

/// Where a store's copy of shared data stands: the generation of the data (a new one at every
/// seeding, reset or import) and the last change applied.
#[derive(Debug, Default)]
pub(crate) struct Mirror {
    generation: std::sync::Mutex<String>,
    seq: AtomicU64,
    /// Set once this store (made at start or by a reload) has brought the shared data in
    /// line with its definition.
    pub(crate) ensured: tokio::sync::OnceCell<()>,
    /// One catch-up with Redis at a time, shared by the requests that wait for it.
    pub(crate) catching_up: tokio::sync::Mutex<Rounds>,
    /// How many catch-ups have started: a request's catch-up is any that starts after it came.
    pub(crate) rounds_started: AtomicU64,
    /// Whether the copy holds every change made before this replica's last call to the store
    /// was answered (a catch-up, or a commit that brought what the copy lacked): then a write
    /// is planned on it without a catch-up call first (see `redis/serve.rs`).
    pub(crate) current: std::sync::atomic::AtomicBool,
    /// Ids this replica's creates planned and have not committed yet.
    pub(crate) claimed: Claimed,
    /// Creates left to reserve their id at once, after a claim lost to another replica.
    pub(crate) contended: std::sync::atomic::AtomicU32,
    /// The largest integer id this replica created: the copy may not show it yet (commits
    /// that finish out of order reach it with the next catch-up), and a claim below it would
    /// only lose.
    pub(crate) highest: AtomicU64,
    /// This replica's writes that Redis made after changes the copy does not hold yet (another
    /// worker's, answered later), by number: made on the copy once those are, so the next
    /// catch-up finds it current instead of reading them back. Bounded by [`EARLY_KEEP`].
    pub(crate) early: std::sync::Mutex<std::collections::BTreeMap<u64, (String, Change)>>,
    /// Integer ids Redis reserved for this replica's creates, in a block, and the generation
    /// they belong to: while other replicas create too, a create draws one here instead of
    /// asking Redis for it. Drawn before the copy's next id is claimed, so none is left
    /// unused when the others stop.
    pub(crate) ids: std::sync::Mutex<(String, std::collections::VecDeque<u64>)>,
}

/// How many early writes a copy holds (see [`Mirror::early`]); past it a write is left to the
/// next catch-up.
pub(crate) const EARLY_KEEP: usize = 1024;

/// The number of the last catch-up that completed (see [`Mirror::catching_up`]), and the
/// last that failed, with why: those who waited for it fail with it instead of each waiting
/// out Redis's timeout in turn.
#[derive(Debug, Default)]
pub(crate) struct Rounds {
    pub(crate) completed: u64,
    pub(crate) failed: Option<(u64, String)>,
}

impl Mirror {
    /// An id of this replica's block for the data the copy holds, if one is left.
    fn draw_id(&self) -> Option<u64> {
        let mut ids = crate::sync::lock(&self.ids);
        if ids.1.is_empty() {
            return None;
        }
        if ids.0 != *crate::sync::lock(&self.generation) {
            ids.1.clear();
            return None;
        }
        ids.1.pop_front()
    }

    /// Keeps `ids`, reserved for generation `generation`, for the next creates.
    pub(crate) fn keep_ids(&self, generation: &str, ids: impl IntoIterator<Item = u64>) {
        let mut kept = crate::sync::lock(&self.ids);
        if kept.0 != generation {
            generation.clone_into(&mut kept.0);
            kept.1.clear();
        }
        kept.1.extend(ids);
        // Two workers' blocks may be answered in either order: the lowest first.
        kept.1.make_contiguous().sort_unstable();
    }

    pub(crate) fn generation(&self) -> String {
        crate::sync::lock(&self.generation).clone()
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Moves the position; called with the store's write lock held, so a position always
    /// describes the data beside it.
    pub(crate) fn set(&self, generation: &str, seq: u64) {
        let mut g = crate::sync::lock(&self.generation);
        if *g != generation {
            generation.clone_into(&mut g);
            // Other data (a reset, an import, a new seed): what this replica created is gone.
            self.highest.store(0, Ordering::Relaxed);
        }
        self.seq.store(seq, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A commit logs `entry_text`; catch-ups and the state file read lines as `entry`: the two
    /// must say the same, keys that need escaping included.
    #[test]
    fn an_entry_written_from_the_record_text_is_the_entry() {
        let record = json!({"id": 7, "name": "Ann \"A\" \u{e9}", "tags": ["x"], "n": null});
        let Value::Object(map) = record.clone() else {
            unreachable!()
        };
        let key = "7 \"quoted\" \\ key".to_owned();
        let changes = [
            Change::Create {
                key: key.clone(),
                id: json!(7),
                record: record.clone(),
            },
            Change::Update {
                key: key.clone(),
                record: record.clone(),
                old: json!({}),
            },
            Change::Delete {
                key: key.clone(),
                old: record.clone(),
            },
            Change::Set {
                record: map.clone(),
                old: Map::new(),
            },
        ];
        for change in changes {
            let text = match &change {
                Change::Delete { .. } => String::new(),
                Change::Set { record, .. } => serde_json::to_string(record).unwrap(),
                Change::Create { record, .. } | Change::Update { record, .. } => record.to_string(),
            };
            let line = change.entry_text(&text);
            let read: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(read, change.entry(), "{line}");
        }
    }

    /// A block of reserved ids is drawn in order, and only for the data it was reserved in:
    /// after a reset or an import (a new generation) Redis may give those numbers again.
    #[test]
    fn reserved_ids_serve_only_their_generation() {
        let mirror = Mirror::default();
        mirror.set("g1", 1);
        mirror.keep_ids("g1", [11, 12, 13]);
        assert_eq!(mirror.draw_id(), Some(11));
        assert_eq!(mirror.draw_id(), Some(12));
        mirror.set("g2", 1);
        assert_eq!(mirror.draw_id(), None, "an old generation's id");
        mirror.keep_ids("g2", [20]);
        mirror.keep_ids("g3", [30, 31]);
        assert_eq!(
            mirror.draw_id(),
            None,
            "ids of a generation the copy is not at"
        );
        mirror.set("g3", 1);
        mirror.keep_ids("g3", [30, 31]);
        assert_eq!(mirror.draw_id(), Some(30));
    }
}
