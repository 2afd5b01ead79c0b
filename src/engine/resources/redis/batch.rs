//! Commits gathered per worker: the planned writes to one resource that wait together on a
//! worker thread go to Redis in one `commit.lua` call (see `gather.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use redis::aio::ConnectionManager;
use redis::{Script, Value as Reply};

use super::gather::{Gathering, Sending};
use super::reply::{entries_after, int, items_of, text};
use super::{Committed, Keys, LOG_BYTES, LOG_KEEP, SINGLETON, Shared, SharedError};
use crate::engine::resources::change::{Change, Planned};
use crate::engine::resources::store::Store;

/// The most writes one call makes: the script unpacks their log lines at once, and Lua's
/// stack is bounded.
const MOST: usize = 256;

/// One planned write waiting for the call that makes it: its record's turn key, the
/// script's arguments for it (see `commit.lua`), the change to make on the copy once it is
/// made, and who waits for the answer.
pub(super) struct Write {
    pub(super) turn: String,
    pub(super) args: [String; 10],
    pub(super) copy: (Arc<Store>, String, Change),
    pub(super) done: tokio::sync::oneshot::Sender<Result<Committed, String>>,
}

thread_local! {
    /// Per worker thread (actix runs one runtime per thread), per store of shared data
    /// (`Shared`'s address) and resource store (its address: a session's copy is a store of
    /// its own). Each waiting write holds its store, so an address names one store while
    /// writes wait under it.
    static WAITING: Gathering<(usize, usize), Write> = Gathering::new();
}

/// Queues `write` for its store (of `owner`'s shared data); starts the worker's sender for
/// it when none is running. The
/// caller awaits the answer on the write's `done`.
pub(super) fn enqueue(owner: usize, write: Write, con: &ConnectionManager, script: Arc<Script>) {
    let id = (owner, Arc::as_ptr(&write.copy.0) as usize);
    if WAITING.with(|w| w.add(id, write)) {
        // A task of its own: a request that goes away must not take the others' call with it.
        actix_web::rt::spawn(send(id, con.clone(), script));
    }
}

/// Sends what has gathered for one resource on this worker, one call at a time, until
/// nothing is left.
async fn send(id: (usize, usize), mut con: ConnectionManager, script: Arc<Script>) {
    let _sending = Sending {
        on: &WAITING,
        key: id,
    };
    // Those planned in the same turn of the worker join the first call.
    tokio::task::yield_now().await;
    loop {
        let writes = WAITING.with(|w| w.take(id, MOST));
        let Some(first) = writes.first() else {
            return;
        };
        let store = first.copy.0.clone();
        let Keys(keys, ttl) = Keys::of(&store);
        let mut call = script.prepare_invoke();
        for k in &keys {
            call.key(k);
        }
        // Where the copy stands: the answer brings what it lacks from before this call.
        let from = store.mirror.seq();
        call.arg(LOG_KEEP).arg(ttl).arg(LOG_BYTES).arg(from);
        for w in &writes {
            call.key(&w.turn);
            for a in &w.args {
                call.arg(a);
            }
        }
        let answer: Result<Reply, _> = call.invoke_async(&mut con).await;
        match answer {
            Ok(reply) => {
                let mut items = items_of(reply);
                let generation = text(items.first());
                let lacked = items.get_mut(1).map(std::mem::take);
                catch_up(&store, &generation, from, lacked);
                let results = items.get(2..).unwrap_or_default();
                for (i, w) in writes.into_iter().enumerate() {
                    let committed = match int(results.get(2 * i)) {
                        0 if text(results.get(2 * i + 1)) == "turn" => Committed::Wait,
                        0 => Committed::Lost {
                            moved: text(results.get(2 * i + 1)) == "generation",
                        },
                        seq => Committed::Done(seq),
                    };
                    // Made on the copy here, in the call's order and before any task woken
                    // by a later answer on this connection runs: a catch-up answered just
                    // after this call finds these writes made, instead of reading them back.
                    if let Committed::Done(seq) = committed {
                        let (store, generation, change) = w.copy;
                        store.committed(&generation, seq, change);
                    }
                    let _ = w.done.send(Ok(committed));
                }
            }
            Err(e) => {
                // Redis may come back with other data: the next plan catches up first.
                store.mirror.current.store(false, Ordering::Release);
                let why = SharedError::from(e).to_string();
                for w in writes {
                    let _ = w.done.send(Err(why.clone()));
                }
            }
        }
    }
}

/// Makes on the copy the changes a commit call answered that it lacked from before the call
/// (`lacked`: their log lines, or 'far'), so the next write can be planned on it without a
/// catch-up call; when the answer does not bring the copy up to date, the next plan catches
/// up first (see `serve.rs`).
fn catch_up(store: &Store, generation: &str, from: u64, lacked: Option<Reply>) {
    let made = match lacked {
        Some(Reply::Array(lines)) if store.mirror.generation() == generation => {
            let before = from + lines.len() as u64;
            entries_after(lines, store.mirror.seq())
                .and_then(|entries| store.catch_up(generation, &entries))
                .is_ok_and(|()| store.mirror.seq() >= before)
        }
        _ => false,
    };
    if !made {
        store.mirror.current.store(false, Ordering::Release);
    }
}

/// Where a create's id came from, for what its commit checks (see `commit.lua`).
#[derive(Clone, Copy)]
pub(super) enum IdFrom {
    /// The copy's next integer id, claimed by this replica.
    Claimed,
    /// An integer id Redis reserved for this replica.
    Reserved,
    /// The client, a template, a UUID — or not a create.
    Elsewhere,
}

impl Shared {
    /// Commits a planned write (see `commit.lua`), in the call this worker makes next for
    /// the resource (see `batch.rs`); `token` names this request in the record's turn.
    pub(super) async fn commit(
        &self,
        con: &ConnectionManager,
        store: &Arc<Store>,
        planned: Planned,
        counts_itself: bool,
        id_from: IdFrom,
        token: &str,
    ) -> Result<Committed, SharedError> {
        let none = String::new;
        let (op, key, old, new, after) = match &planned.change {
            Change::Create { key, id, record } => (
                "create",
                key.as_str(),
                none(),
                record.to_string(),
                id.as_u64().map(|n| n.saturating_add(1).to_string()),
            ),
            Change::Update { key, record, old } => (
                "update",
                key.as_str(),
                old.to_string(),
                record.to_string(),
                None,
            ),
            Change::Delete { key, old } => ("delete", key.as_str(), old.to_string(), none(), None),
            Change::Set { record, old } => (
                "set",
                SINGLETON,
                serde_json::to_string(old).unwrap_or_default(),
                serde_json::to_string(record).unwrap_or_default(),
                None,
            ),
        };
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        let line = planned.change.entry_text(&new);
        let (done, answer) = tokio::sync::oneshot::channel();
        let write = Write {
            turn: Keys::turn(store, key),
            args: [
                planned.generation.clone(),
                op.to_owned(),
                key.to_owned(),
                old,
                new,
                after.unwrap_or_default(),
                flag(counts_itself),
                line,
                match id_from {
                    IdFrom::Claimed => "1",
                    IdFrom::Reserved => "2",
                    IdFrom::Elsewhere => "0",
                }
                .to_owned(),
                token.to_owned(),
            ],
            copy: (store.clone(), planned.generation, planned.change),
            done,
        };
        enqueue(
            self as *const Shared as usize,
            write,
            con,
            self.commit.clone(),
        );
        match answer.await {
            Ok(Ok(committed)) => Ok(committed),
            Ok(Err(why)) => Err(SharedError::Unavailable(why)),
            Err(_) => Err(SharedError::Unavailable(
                "the write's call to Redis ended without an answer".into(),
            )),
        }
    }
}
