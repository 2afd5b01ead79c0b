//! Commits gathered per worker: the planned writes to one resource that wait together on a
//! worker thread go to Redis in one `commit.lua` call (see `gather.rs`).

use std::sync::Arc;

use redis::aio::ConnectionManager;
use redis::{Script, Value as Reply};

use super::gather::{Gathering, Sending};
use super::reply::{int, items_of, text};
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
        let Keys(keys, ttl) = Keys::of(&first.copy.0);
        let mut call = script.prepare_invoke();
        for k in &keys {
            call.key(k);
        }
        call.arg(LOG_KEEP).arg(ttl).arg(LOG_BYTES);
        for w in &writes {
            call.key(&w.turn);
            for a in &w.args {
                call.arg(a);
            }
        }
        let answer: Result<Reply, _> = call.invoke_async(&mut con).await;
        match answer {
            Ok(reply) => {
                let items = items_of(reply);
                for (i, w) in writes.into_iter().enumerate() {
                    let committed = match int(items.get(2 * i)) {
                        0 if text(items.get(2 * i + 1)) == "turn" => Committed::Wait,
                        0 => Committed::Lost,
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
                let why = SharedError::from(e).to_string();
                for w in writes {
                    let _ = w.done.send(Err(why.clone()));
                }
            }
        }
    }
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
        claimed: bool,
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
            Change::Delete { key, .. } => ("delete", key.as_str(), none(), none(), None),
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
                flag(claimed),
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
