//! Resource data shared by replicas through Redis (`--state redis://HOST:PORT/DB`).
//!
//! Each replica keeps a copy of every resource (the same `Store` the in-memory server uses) and
//! Redis keeps the truth: the records, their order, the id counters and a numbered log of the
//! latest changes. Before a request reads or writes, the copies it touches catch up with the
//! log (one script call each, answering "same" when nothing changed). A write is planned on the
//! copy by the unchanged synchronous code (ids, computed fields, merge rules), then committed by
//! one script that makes it only if what it was planned on still holds — the generation, and
//! the record free, present or unchanged — and otherwise plans again. Generated integer ids and
//! `counter` values are handed out by Redis before the plan, so replicas creating at once never
//! meet on an id. See docs/scale-out.md.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value as Reply};

use super::change::{Need, Reservation};
use super::data::Data;
use super::store::Store;
use crate::error::ApiError;
use crate::sync::lock;
use reply::{entries_after, int, items_of, read_whole, text, without_password};

mod batch;
pub(crate) mod gather;
mod reply;
mod serve;

/// How many changes the log keeps: a copy further behind reads the resource whole. Two
/// replicas creating at full speed on this 2-core machine make ~16,000 changes a second: a
/// log of 1,024 (64 ms of them) sent a replica whose catch-up was slow into a full read of
/// the whole collection, which made the next catch-up slower still (POST p99 132 ms).
const LOG_KEEP: usize = 16 * 1024;

/// The bytes of log lines kept at most, whatever their count: lines hold whole records.
const LOG_BYTES: usize = 16 * 1024 * 1024;

/// How many times a write is planned again after meeting another replica's write.
const TRIES: usize = 32;

/// How many creates after a lost claim reserve their id at once (see `Mirror::contended`).
const CONTENDED: u32 = 64;

/// How many integer ids a replica reserves at once while other replicas create in the same
/// collection (see `Mirror::ids`): a create then asks Redis for its id once in this many.
const ID_BLOCK: usize = 16;

/// How many locks the writes to existing records are spread over.
const STRIPES: u64 = 64;

/// After how many lost attempts a write takes its record's turn (see `commit.lua`).
const TURN_AFTER: usize = 3;

/// How long a write waits, in all, for other replicas' turns on its record before it gives up
/// (and answers 503); a turn lapses after 500 ms (`commit.lua`).
const TURN_WAIT: Duration = Duration::from_secs(3);

/// What Redis may take to answer before a request gives up on it (and answers 503).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the shared store did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SharedError {
    /// Redis did not answer (down, unreachable, too slow).
    #[error("{0}")]
    Unavailable(String),
    /// Redis holds something this replica cannot read as its resource: another spec, or keys
    /// written by something else.
    #[error("{0}")]
    Mismatch(String),
}

impl From<redis::RedisError> for SharedError {
    fn from(e: redis::RedisError) -> Self {
        SharedError::Unavailable(e.to_string())
    }
}

/// The Redis store of a server: the client, a connection per worker thread, the scripts.
pub(crate) struct Shared {
    client: redis::Client,
    /// The URL without its password, for messages.
    shown: String,
    connections: Mutex<HashMap<ThreadId, ConnectionManager>>,
    /// Writes to one record from one replica go one at a time (by a stripe of the record's
    /// name): they would only make each other plan again. Replicas still meet in Redis.
    stripes: Vec<tokio::sync::Mutex<()>>,
    /// This replica's name in the turns of records (see `commit.lua`), and the number of its
    /// last write to take one: a turn is one request's.
    replica: String,
    turns: std::sync::atomic::AtomicU64,
    load: Script,
    sync: Script,
    commit: Arc<Script>,
    reserve: Script,
}

/// A resource's keys (a session's copy has its own), and how long they outlive their last
/// write (0: for ever). The name in braces is a Redis Cluster hash tag: one resource's keys
/// stay on one node, as its scripts need.
struct Keys([String; 4], u64);

impl Keys {
    fn base(store: &Store) -> (String, u64) {
        match &store.session {
            None => (format!("mockrig:{{{}}}", store.def.name), 0),
            Some(session) => (
                format!("{}:{{{}}}", session_prefix(session), store.def.name),
                SESSION_TTL.as_secs(),
            ),
        }
    }

    /// The key of a record's turn (see `commit.lua`): it lapses by itself.
    fn turn(store: &Store, key: &str) -> String {
        format!("{}:turn:{key}", Keys::base(store).0)
    }

    fn of(store: &Store) -> Keys {
        let (base, ttl) = Keys::base(store);
        Keys(
            [
                format!("{base}:meta"),
                format!("{base}:records"),
                format!("{base}:order"),
                format!("{base}:log"),
            ],
            ttl,
        )
    }
}

/// How long a session's data, counts and journal stay in Redis after their last write: a
/// session is a test's, and nothing tells Redis when the test is over.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(3600);

/// Where a session's keys start.
pub(crate) fn session_prefix(session: &str) -> String {
    format!("mockrig:session:{session}")
}

/// The field a singleton's object is kept under.
const SINGLETON: &str = "@";

/// What a commit came to.
enum Committed {
    /// Made, as the change with this number.
    Done(u64),
    /// What the write was planned on changed: plan again (`moved`: the data is another
    /// generation's now).
    Lost { moved: bool },
    /// Another replica holds the record's turn: plan again after it has written.
    Wait,
}

/// What a reservation came to.
enum Reserved {
    Got(Reservation),
    /// The data was reseeded or replaced meanwhile: plan again on the new data.
    Moved,
    Exhausted,
}

impl Shared {
    /// A store at `url` (`redis://`; the crate's TLS is not built in, as it would bring a
    /// second rustls crypto provider); nothing is connected yet.
    pub(crate) fn open(url: &str) -> Result<Shared, String> {
        let shown = without_password(url);
        let client = redis::Client::open(url).map_err(|e| format!("--state {shown}: {e}"))?;
        Ok(Shared {
            client,
            shown,
            connections: Mutex::new(HashMap::new()),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            replica: uuid::Uuid::new_v4().simple().to_string(),
            turns: std::sync::atomic::AtomicU64::new(0),
            load: Script::new(include_str!("load.lua")),
            sync: Script::new(include_str!("sync.lua")),
            commit: Arc::new(Script::new(include_str!("commit.lua"))),
            reserve: Script::new(include_str!("reserve.lua")),
        })
    }

    /// The URL, without a password.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// The client, for the relay of channel messages.
    pub(crate) fn client(&self) -> redis::Client {
        self.client.clone()
    }

    fn config() -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500))
    }

    /// This worker's connection: it reconnects by itself after Redis comes back, and a
    /// request meanwhile fails at once instead of waiting.
    pub(crate) fn connection(&self) -> Result<ConnectionManager, SharedError> {
        let thread = std::thread::current().id();
        let mut connections = lock(&self.connections);
        if let Some(c) = connections.get(&thread) {
            return Ok(c.clone());
        }
        let c = ConnectionManager::new_lazy_with_config(self.client.clone(), Self::config())
            .map_err(|e| SharedError::Unavailable(e.to_string()))?;
        connections.insert(thread, c.clone());
        Ok(c)
    }

    /// A Redis error as the answer for a request the store could not serve.
    pub(crate) fn refused(&self) -> impl Fn(redis::RedisError) -> ApiError + '_ {
        |e| self.refusal(SharedError::from(e))
    }

    /// The answer for a request the store could not serve.
    pub(crate) fn refusal(&self, e: SharedError) -> ApiError {
        ApiError::StateStore {
            store: self.shown.clone(),
            cause: e.to_string(),
        }
    }

    /// At start, before serving: Redis answers, and every resource is in it (seeded now if
    /// its definition is new to it). Runs on a thread of its own, as the caller is not async.
    /// The names of the resources this replica seeded.
    pub(crate) fn start(self: &Arc<Self>, stores: &[Arc<Store>]) -> Result<Vec<String>, String> {
        let (me, stores) = (self.clone(), stores.to_vec());
        let run = move || -> Result<Vec<String>, String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let fail = |e: &dyn std::fmt::Display| {
                    format!("cannot connect to Redis at {}: {e}", me.shown)
                };
                let mut con = ConnectionManager::new_with_config(me.client.clone(), Self::config())
                    .await
                    .map_err(|e| fail(&e))?;
                let _: String = redis::cmd("PING")
                    .query_async(&mut con)
                    .await
                    .map_err(|e| fail(&e))?;
                let mut seeded = Vec::new();
                for store in &stores {
                    if me.ensure(&mut con, store).await.map_err(|e| fail(&e))? {
                        seeded.push(store.def.name.clone());
                    }
                }
                Ok(seeded)
            })
        };
        std::thread::spawn(run)
            .join()
            .map_err(|_| "the Redis check at start failed unexpectedly".to_owned())?
    }

    /// Brings Redis in line with this store's definition once per store (a store is made at
    /// start and by a reload that changed the definition): seeded when Redis holds another
    /// definition's data or none, kept when it holds this one's — so replicas seed a changed
    /// resource once between them. Whether this call seeded.
    async fn ensure(
        &self,
        con: &mut ConnectionManager,
        store: &Store,
    ) -> Result<bool, SharedError> {
        let mut seeded = false;
        store
            .mirror
            .ensured
            .get_or_try_init(|| async {
                let seed = Data::from_seed(&store.def.seed, &store.def.id_field);
                seeded = self.put(con, store, seed, "ensure").await?;
                if seeded {
                    tracing::info!(resource = %store.def.name, "seeded in Redis");
                }
                Ok::<(), SharedError>(())
            })
            .await?;
        Ok(seeded)
    }

    /// Writes `data` as the resource's whole data under a new generation (`mode` "force"), or
    /// only if Redis holds another definition's (`mode` "ensure"). Whether it wrote; when it
    /// did, the copy becomes `data` at that generation, instead of reading back what it
    /// wrote.
    async fn put(
        &self,
        con: &mut ConnectionManager,
        store: &Store,
        data: Data,
        mode: &str,
    ) -> Result<bool, SharedError> {
        let Keys(keys, ttl) = Keys::of(store);
        let mut call = self.load.prepare_invoke();
        for k in &keys {
            call.key(k);
        }
        let generation = uuid::Uuid::new_v4().to_string();
        let (kind, (next, count)) = match &data {
            Data::Collection(c) => ("collection", c.counters()),
            Data::Singleton(_) => ("singleton", (1, 0)),
        };
        call.arg(mode)
            .arg(store.def.fingerprint.to_string())
            .arg(kind)
            .arg(next.to_string())
            .arg(count.to_string())
            .arg(&generation)
            .arg(ttl);
        match &data {
            Data::Collection(c) => {
                for (key, record) in c.records() {
                    call.arg(key.as_str()).arg(record.text());
                }
            }
            Data::Singleton(m) => {
                call.arg(SINGLETON)
                    .arg(serde_json::to_string(m).unwrap_or_default());
            }
        }
        // The change number the data stands at, 0 when it was kept.
        let seq: u64 = call.invoke_async(con).await.map_err(SharedError::from)?;
        if seq == 0 {
            return Ok(false);
        }
        store.restore_shared(&generation, seq, data, false);
        store.mirror.current.store(true, Ordering::Release);
        Ok(true)
    }

    /// Brings the store's copy up to date with Redis as it is now or later. Requests that
    /// arrive while a catch-up is under way wait and share the next one: under load a
    /// replica asks Redis once per round trip and store, not once per request.
    async fn sync(&self, con: &mut ConnectionManager, store: &Store) -> Result<(), SharedError> {
        self.ensure(con, store).await?;
        let mirror = &store.mirror;
        let arrived = mirror.rounds_started.load(Ordering::Acquire);
        let mut rounds = mirror.catching_up.lock().await;
        if rounds.completed > arrived {
            // One that started after this request came has completed.
            return Ok(());
        }
        if let Some((round, why)) = &rounds.failed
            && *round > arrived
        {
            return Err(SharedError::Unavailable(why.clone()));
        }
        let round = mirror.rounds_started.fetch_add(1, Ordering::AcqRel) + 1;
        match self.catch_up(con, store).await {
            Ok(()) => {
                mirror.current.store(true, Ordering::Release);
                rounds.completed = round;
                Ok(())
            }
            Err(e) => {
                rounds.failed = Some((round, e.to_string()));
                Err(e)
            }
        }
    }

    /// One catch-up of the store's copy with Redis.
    async fn catch_up(
        &self,
        con: &mut ConnectionManager,
        store: &Store,
    ) -> Result<(), SharedError> {
        let Keys(keys, _) = Keys::of(store);
        // Twice at most: Redis that lost its data is seeded again, then read.
        for _ in 0..2 {
            let mut call = self.sync.prepare_invoke();
            for k in &keys {
                call.key(k);
            }
            let reply: Reply = call
                .arg(store.mirror.generation())
                .arg(store.mirror.seq())
                .invoke_async(con)
                .await
                .map_err(SharedError::from)?;
            let items = items_of(reply);
            let bad = |what: &str| {
                SharedError::Mismatch(format!("resource '{}' in Redis: {what}", store.def.name))
            };
            match text(items.first()).as_str() {
                "missing" => {
                    let seed = Data::from_seed(&store.def.seed, &store.def.id_field);
                    self.put(con, store, seed, "ensure").await?;
                }
                "same" => return Ok(()),
                "entries" => {
                    let generation = text(items.get(1));
                    let lines = items.into_iter().nth(3).map(items_of).unwrap_or_default();
                    let entries = entries_after(lines, store.mirror.seq()).map_err(|e| bad(&e))?;
                    return store.catch_up(&generation, &entries).map_err(|e| bad(&e));
                }
                kind @ ("full" | "rewound") => {
                    let data = read_whole(store, &items).map_err(|e| bad(&e))?;
                    let (generation, seq) = (text(items.get(1)), int(items.get(2)));
                    store.restore_shared(&generation, seq, data, kind == "rewound");
                    return Ok(());
                }
                other => return Err(bad(&format!("the sync script answered '{other}'"))),
            }
        }
        Err(SharedError::Unavailable(format!(
            "resource '{}' vanished from Redis as it was seeded",
            store.def.name
        )))
    }

    /// Numbers for a create (see `reserve.lua`).
    async fn reserve(
        &self,
        con: &mut ConnectionManager,
        store: &Store,
        generation: &str,
        need: Need,
    ) -> Result<Reserved, SharedError> {
        let Keys(keys, _) = Keys::of(store);
        let flag = |b: bool| if b { "1" } else { "0" };
        let mut call = self.reserve.prepare_invoke();
        for k in &keys {
            call.key(k);
        }
        let reply: Reply = call
            .arg(generation)
            .arg(flag(need.next_int))
            .arg(flag(need.count))
            .arg(ID_BLOCK)
            .invoke_async(con)
            .await
            .map_err(SharedError::from)?;
        let items = items_of(reply);
        if int(items.first()) != 1 {
            return Ok(if text(items.get(1)) == "exhausted" {
                Reserved::Exhausted
            } else {
                Reserved::Moved
            });
        }
        let mut ids = items
            .get(1)
            .cloned()
            .map(items_of)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|id| text(Some(&id)).parse::<u64>().ok());
        let next_int = ids.next();
        // The rest of the block, for this replica's next creates.
        store.mirror.keep_ids(generation, ids);
        Ok(Reserved::Got(Reservation {
            next_int,
            count: text(items.get(2)).parse::<u64>().ok(),
        }))
    }

    /// Removes every session's keys (data, counts, scenarios, journal), for every replica: a
    /// reset of everything drops the sessions. Replicas that still hold a session find its
    /// data gone at their next request to it and start it from the seeds.
    pub(crate) async fn forget_sessions(&self) -> Result<(), ApiError> {
        let mut con = self.connection().map_err(|e| self.refusal(e))?;
        let pattern = format!("{}:*", session_prefix("").trim_end_matches(':'));
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await
                .map_err(self.refused())?;
            if !keys.is_empty() {
                redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<i64>(&mut con)
                    .await
                    .map_err(self.refused())?;
            }
            // SCAN's cursor comes back to 0 once it has been through every key.
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Brings every store's copy up to date (for a snapshot of the state).
    pub(crate) async fn refresh(&self, stores: &[Arc<Store>]) -> Result<(), ApiError> {
        let mut con = self.connection().map_err(|e| self.refusal(e))?;
        for store in stores {
            self.sync(&mut con, store)
                .await
                .map_err(|e| self.refusal(e))?;
        }
        Ok(())
    }

    /// Replaces the shared data of each store with the data beside it (a reset, an import):
    /// every other replica's copy reads it whole on its next request.
    pub(crate) async fn replace(&self, data: Vec<(Arc<Store>, Data)>) -> Result<(), ApiError> {
        let mut con = self.connection().map_err(|e| self.refusal(e))?;
        for (store, data) in data {
            self.ensure(&mut con, &store)
                .await
                .map_err(|e| self.refusal(e))?;
            self.put(&mut con, &store, data, "force")
                .await
                .map_err(|e| self.refusal(e))?;
        }
        Ok(())
    }
}
