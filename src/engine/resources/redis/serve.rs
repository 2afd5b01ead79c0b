//! The request loop of a shared resource: catch the copies up, plan on them, reserve ids if
//! the plan needs them, commit — and plan again when another replica's write got there first.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::batch::IdFrom;
use super::{
    CONTENDED, Committed, Reserved, STRIPES, Shared, SharedError, TRIES, TURN_AFTER, TURN_WAIT,
};
use crate::engine::resources::change::{Change, Deferred, Reservation, Sink};
use crate::engine::resources::store::Store;
use crate::error::{ApiError, StoreError};

impl Shared {
    /// Answers one resource request on shared data: the copies of the `involved` stores
    /// brought up to date, the request run on them (`run`, given where its write goes), and a
    /// write it planned committed — or planned again, when another replica's write got there
    /// first.
    /// `record`: the resource and record an update or delete writes to (the singleton's
    /// name alone), for its writes from this replica to go one at a time. `writes`: whether
    /// the request is a write (see "Writes planned on a current copy" below).
    ///
    /// Writes planned on a current copy: a read must catch up before it answers, or it could
    /// miss a write another replica acknowledged before the read came. A write to one resource
    /// need not: what its plan read is checked by the commit (the generation, the record free,
    /// or as the plan saw it, a claimed id not below the collection's `next`; counts and
    /// reserved ids come from Redis), so a plan on a copy that missed another replica's write
    /// either still holds when it is made or loses and is planned again. A commit's answer
    /// brings what the copy lacked (`commit.lua`), so under writes the copy stays current
    /// without catch-up calls. What such a plan refuses (a 404, a 409), or an id it made by
    /// passing over keys the copy holds, is not answered: it is planned again on a caught-up
    /// copy, as is a write involving another resource (a nested create reads its parent,
    /// which no commit of the child checks).
    pub(crate) async fn serve<T>(
        &self,
        stores: &[Arc<Store>],
        involved: &[usize],
        record: Option<(&str, &str)>,
        writes: bool,
        run: impl Fn(Sink<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let (_one_at_a_time, token) = match record {
            Some((resource, key)) => {
                let stripe =
                    crate::hash::fnv1a(key.as_bytes(), crate::hash::fnv1a(resource.as_bytes(), 0));
                let n = self.turns.fetch_add(1, Ordering::Relaxed);
                (
                    Some(self.stripes[(stripe % STRIPES) as usize].lock().await),
                    format!("{}-{n}", self.replica),
                )
            }
            None => (None, String::new()),
        };
        let waiting = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(1);
        let mut con = self.connection().map_err(|e| self.refusal(e))?;
        let mut reserved = Reservation::default();
        // A plan made again with reserved numbers runs on the copy as it was: the commit
        // checks what it depends on anyway.
        let mut stale = true;
        // While other replicas create in the same collections, claims of the copy's next id
        // mostly lose: reserve from the start for a while.
        let contended = |i: &usize| {
            stores
                .get(*i)
                .is_some_and(|s| s.mirror.contended.load(Ordering::Relaxed) > 0)
        };
        let mut optimistic = !involved.iter().any(contended);
        // Whether this request has caught its copies up (and does so before each plan from
        // then on): until then it may plan a write on a current copy (see above), but answers
        // nothing else from it.
        let mut synced = !(writes && involved.len() == 1);
        // A wait for another replica's turn gives its attempt back.
        let mut attempts = 0..TRIES;
        while let Some(attempt) = attempts.next() {
            let current = |&i: &usize| {
                stores
                    .get(i)
                    .is_some_and(|s| s.mirror.current.load(Ordering::Acquire))
            };
            if stale && (synced || !involved.iter().all(current)) {
                for &i in involved {
                    if let Some(store) = stores.get(i) {
                        self.sync(&mut con, store)
                            .await
                            .map_err(|e| self.refusal(e))?;
                    }
                }
                synced = true;
            }
            stale = true;
            let deferred = Deferred::with(reserved, optimistic);
            // Refused (a 404, a 409, a bad body): nothing to commit — unless the id this
            // replica drew is one the copy has since (another's create got there first).
            let out = match run(Sink::Defer(&deferred)) {
                Err(ApiError::Store {
                    error: StoreError::Conflict(_),
                    ..
                }) if deferred.claimed() || deferred.reserved_id() => {
                    // The count stays this create's.
                    reserved.next_int = None;
                    optimistic = false;
                    continue;
                }
                // Refused without a catch-up: answered only once caught up.
                Err(_) if !synced => {
                    synced = true;
                    continue;
                }
                out => out?,
            };
            // Planned without a catch-up, a write stands on what its commit checks: not on ids
            // passed over because the copy holds them (another replica may have deleted
            // them), nor on nothing to commit.
            let planned = match deferred.take() {
                Some(planned) if synced || !deferred.passed_over() => planned,
                None if synced => return Ok(out),
                _ => {
                    synced = true;
                    continue;
                }
            };
            let Some(store) = stores.iter().find(|s| s.def.name == planned.resource) else {
                return Ok(out);
            };
            let need = deferred.need();
            if need.any() {
                // An id of the replica's block stays this request's while it asks for the
                // rest.
                if deferred.reserved_id()
                    && let Change::Create { id, .. } = &planned.change
                {
                    reserved.next_int = reserved.next_int.or(id.as_u64());
                }
                reserved = match self
                    .reserve(&mut con, store, &planned.generation, need)
                    .await
                    .map_err(|e| self.refusal(e))?
                {
                    Reserved::Got(r) => {
                        stale = false;
                        Reservation {
                            next_int: r.next_int.or(reserved.next_int),
                            count: r.count.or(reserved.count),
                        }
                    }
                    // Another generation: the copy catches up before the next plan.
                    Reserved::Moved => {
                        store.mirror.current.store(false, Ordering::Release);
                        Reservation::default()
                    }
                    Reserved::Exhausted => {
                        return Err(ApiError::from((
                            store.def.name.clone(),
                            StoreError::IdsExhausted,
                        )));
                    }
                };
                continue;
            }
            let counts_itself = reserved.count.is_none();
            let created = match &planned.change {
                Change::Create { id, .. } => id.as_u64(),
                _ => None,
            };
            match self
                .commit(
                    &con,
                    store,
                    planned,
                    counts_itself,
                    if deferred.claimed() {
                        IdFrom::Claimed
                    } else if deferred.reserved_id() {
                        IdFrom::Reserved
                    } else {
                        IdFrom::Elsewhere
                    },
                    // Only a write that has lost a few times takes the record's turn: waiting
                    // for turns costs more than the few losses it saves.
                    if attempt >= TURN_AFTER { &token } else { "" },
                )
                .await
                .map_err(|e| self.refusal(e))?
            {
                // The copy has the write already (see `batch.rs`).
                Committed::Done(_) => {
                    if let Some(n) = created {
                        store.mirror.highest.fetch_max(n, Ordering::Relaxed);
                    }
                    if deferred.reserved_id() {
                        let _ = store.mirror.contended.fetch_update(
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                            |n| n.checked_sub(1),
                        );
                    }
                    return Ok(out);
                }
                // An id reserved for a plan that lost is not reused: it may be taken. The
                // count reserved stays this create's, as one in memory counts a create once,
                // unless the data is another generation's now. The copy's next id is tried
                // once more, caught up (by the commit's answer): after that another replica
                // is creating too, and reserving guarantees the next try. A claim lost on
                // the copy as the request found it says only that the copy was behind
                // (requests taking turns between replicas), not that the replicas create at
                // once.
                Committed::Lost { moved } => {
                    if deferred.claimed() && (synced || attempt > 0) {
                        store.mirror.contended.store(CONTENDED, Ordering::Relaxed);
                    }
                    reserved = Reservation {
                        next_int: None,
                        count: reserved.count.filter(|_| !moved),
                    };
                    optimistic = attempt == 0;
                }
                // The replica holding the turn writes within a round trip or two: waits
                // double from 1 ms, up to 16.
                Committed::Wait => {
                    if waiting.elapsed() > TURN_WAIT {
                        return Err(self.refusal(SharedError::Unavailable(format!(
                            "other replicas kept writing to the same record for {}s",
                            TURN_WAIT.as_secs()
                        ))));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(16));
                    attempts = attempt..TRIES;
                }
            }
        }
        Err(self.refusal(SharedError::Unavailable(format!(
            "the write met other replicas' writes to the same record {TRIES} times in a row"
        ))))
    }
}
