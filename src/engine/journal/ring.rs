//! The journal's rings: where recorded requests are kept, bounded in count and bytes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;

use super::{BODY_LIMIT, Recorded};
use crate::sync::lock;

/// The recorded requests, at most `capacity` shown and `byte_limit` bytes of bodies, headers
/// and URLs kept, the oldest going first.
///
/// The server's journal is split into one ring per core: each worker thread records into its
/// own, so recording takes no lock another core holds, but the id counter and the byte count.
/// Each ring keeps up to `capacity` entries (so the newest `capacity` overall are always among
/// them, however the requests fell on the workers); beyond the byte budget the oldest entries
/// of all rings go first. Reading merges the rings by id and shows the newest `capacity`.
pub(crate) struct RequestJournal {
    capacity: usize,
    byte_limit: usize,
    shards: Box<[Shard]>,
    last_id: AtomicU64,
    /// What all rings hold, as the byte budget counts it.
    bytes: AtomicUsize,
}

/// One ring, on cache lines of its own.
#[repr(align(128))]
struct Shard(Mutex<Ring>);

#[derive(Default)]
struct Ring {
    /// Each entry with its weight, counted once; ids grow from front to back.
    entries: VecDeque<(usize, Arc<Recorded>)>,
}

/// The bytes the server's journal keeps at most (beside its entry count).
pub(crate) const BYTE_LIMIT: usize = 64 * 1024 * 1024;

/// The bytes each session's journal keeps at most: sessions are many (up to
/// `--max-sessions`), and anyone can start one, so each gets a small share.
pub(crate) const SESSION_BYTE_LIMIT: usize = 256 * 1024;

thread_local! {
    /// Which ring this thread records into: threads are numbered as they first record, so
    /// the workers spread over the rings.
    static THREAD_NUMBER: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

impl RequestJournal {
    /// `capacity` 0 records nothing.
    pub(crate) fn new(capacity: usize) -> RequestJournal {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(64));
        RequestJournal::with_shards(capacity, BYTE_LIMIT, cores, capacity.min(1024))
    }

    /// A session's journal: allocated only as requests arrive, with a small byte budget, in
    /// one ring (a session's requests are few).
    pub(crate) fn for_session(capacity: usize) -> RequestJournal {
        RequestJournal::with_shards(capacity, SESSION_BYTE_LIMIT, 1, 0)
    }

    fn with_shards(
        capacity: usize,
        byte_limit: usize,
        shards: usize,
        reserve: usize,
    ) -> RequestJournal {
        RequestJournal {
            capacity,
            byte_limit,
            shards: (0..shards.max(1))
                .map(|_| {
                    Shard(Mutex::new(Ring {
                        entries: VecDeque::with_capacity(reserve),
                    }))
                })
                .collect(),
            last_id: AtomicU64::new(0),
            bytes: AtomicUsize::new(0),
        }
    }

    fn own_shard(&self) -> &Mutex<Ring> {
        let n = THREAD_NUMBER.with(|n| *n);
        &self.shards[n % self.shards.len()].0
    }

    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The bytes the journal holds now, as its budget counts them.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Adds a request, dropping the oldest beyond the count or the bytes; assigns its id.
    /// Returns the entry as kept (with a journal of capacity 0, as it would have been).
    pub(crate) fn record(&self, mut r: Recorded) -> Arc<Recorded> {
        if r.body.len() > BODY_LIMIT {
            // A copy, not a slice: a slice would keep the whole body alive.
            r.body = Bytes::copy_from_slice(&r.body[..BODY_LIMIT]);
        }
        if let Some(sent) = &mut r.response
            && let Some(body) = &mut sent.body
            && body.len() > BODY_LIMIT
        {
            *body = Bytes::copy_from_slice(&body[..BODY_LIMIT]);
            sent.truncated = true;
        }
        if self.capacity == 0 {
            return Arc::new(r);
        }
        let weight = r.weight();
        let (evicted, entry);
        {
            let mut ring = lock(self.own_shard());
            // Taken under the ring's lock: its entries stay in the order of their ids.
            r.id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
            entry = Arc::new(r);
            // Beyond the count, this ring's oldest goes: it is not among the newest N overall.
            evicted = match ring.entries.len() >= self.capacity {
                true => ring.entries.pop_front(),
                false => None,
            };
            ring.entries.push_back((weight, entry.clone()));
        }
        self.bytes.fetch_add(weight, Ordering::Relaxed);
        if let Some((old_weight, old)) = evicted {
            self.bytes.fetch_sub(old_weight, Ordering::Relaxed);
            // Freed after the lock is released.
            drop(old);
        }
        // Beyond the bytes, the oldest of all go, whichever ring holds them.
        while self.bytes.load(Ordering::Relaxed) > self.byte_limit && self.evict_oldest(entry.id) {}
        entry
    }

    /// Drops the oldest entry of all rings (never `keep`, the one just recorded); `false` when
    /// there is none to drop. Rings are locked one at a time.
    fn evict_oldest(&self, keep: u64) -> bool {
        let oldest = self
            .shards
            .iter()
            .enumerate()
            .filter_map(|(i, s)| lock(&s.0).entries.front().map(|(_, r)| (r.id, i)))
            .min();
        let Some((id, i)) = oldest else {
            return false;
        };
        if id == keep {
            return false;
        }
        let popped = {
            let mut ring = lock(&self.shards[i].0);
            match ring.entries.front() {
                Some((_, r)) if r.id == id => ring.entries.pop_front(),
                // Another thread took it meanwhile: look again.
                _ => return true,
            }
        };
        if let Some((weight, old)) = popped {
            self.bytes.fetch_sub(weight, Ordering::Relaxed);
            drop(old);
        }
        true
    }

    /// The entry with `id`, if the journal still holds it (and shows it: it is among the
    /// newest `capacity`).
    pub(crate) fn get(&self, id: u64) -> Option<Arc<Recorded>> {
        let newest = self.last_id.load(Ordering::Relaxed);
        if newest.saturating_sub(id) >= self.capacity as u64 {
            return None;
        }
        self.shards.iter().find_map(|s| {
            let ring = lock(&s.0);
            let i = ring.entries.binary_search_by_key(&id, |(_, r)| r.id).ok()?;
            Some(ring.entries[i].1.clone())
        })
    }

    /// The newest `capacity` recorded requests, oldest first.
    pub(crate) fn all(&self) -> Vec<Arc<Recorded>> {
        let mut all: Vec<Arc<Recorded>> = Vec::new();
        for s in self.shards.iter() {
            all.extend(lock(&s.0).entries.iter().map(|(_, r)| r.clone()));
        }
        if self.shards.len() > 1 {
            all.sort_unstable_by_key(|r| r.id);
        }
        let shown = all.len().saturating_sub(self.capacity);
        all.drain(..shown);
        all
    }

    /// [`verify`] over this journal.
    pub(crate) fn verify(
        &self,
        pattern: &super::RequestPattern,
    ) -> Result<super::Verification, crate::error::Invalid> {
        super::verify(&self.all(), pattern)
    }

    pub(crate) fn clear(&self) {
        for s in self.shards.iter() {
            let mut ring = lock(&s.0);
            let held: usize = ring.entries.iter().map(|(w, _)| w).sum();
            ring.entries.clear();
            self.bytes.fetch_sub(held, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::request;
    use super::*;

    fn paths(j: &RequestJournal) -> Vec<String> {
        j.all().iter().map(|r| r.path().to_owned()).collect()
    }

    #[test]
    fn the_oldest_go_first_beyond_the_count() {
        let j = RequestJournal::new(2);
        for p in ["/a", "/b", "/c"] {
            j.record(request(p, 0));
        }
        assert_eq!(paths(&j), ["/b", "/c"]);
        assert_eq!(j.all()[1].id, 3, "ids count every request, kept or not");
        let off = RequestJournal::new(0);
        off.record(request("/a", 0));
        assert!(!off.enabled() && off.all().is_empty());
    }

    #[test]
    fn the_oldest_go_first_beyond_the_bytes_and_bodies_are_cut() {
        let j = RequestJournal::for_session(1000);
        let each = BODY_LIMIT + 100;
        let fit = SESSION_BYTE_LIMIT / BODY_LIMIT;
        for i in 0..fit + 3 {
            j.record(request(&format!("/r{i}"), each));
        }
        let kept = j.all();
        assert!(
            kept.iter().all(|r| r.body.len() == BODY_LIMIT),
            "bodies cut"
        );
        let bytes: usize = kept.iter().map(|r| r.weight()).sum();
        assert!(bytes <= SESSION_BYTE_LIMIT, "{bytes} within the budget");
        assert!(
            kept.len() >= fit - 1 && kept.len() < fit + 3,
            "{} kept",
            kept.len()
        );
        assert_eq!(
            kept.last().unwrap().path(),
            format!("/r{}", fit + 2),
            "the newest stays"
        );
        j.clear();
        assert!(j.all().is_empty());
        j.record(request("/again", 10));
        assert_eq!(
            paths(&j),
            ["/again"],
            "a cleared journal keeps its budget free"
        );
    }

    #[test]
    fn rings_of_several_workers_show_the_newest_in_order() {
        let j = Arc::new(RequestJournal::with_shards(50, BYTE_LIMIT, 4, 0));
        // Four threads record in turn (a barrier each round), so ids interleave across rings.
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (j, barrier) = (j.clone(), barrier.clone());
                std::thread::spawn(move || {
                    for i in 0..40 {
                        barrier.wait();
                        j.record(request(&format!("/t{t}/{i}"), 10));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let all = j.all();
        assert_eq!(all.len(), 50, "the newest 50 of 160 shown");
        let ids: Vec<u64> = all.iter().map(|r| r.id).collect();
        assert_eq!(
            ids,
            (111..=160).collect::<Vec<_>>(),
            "oldest first, none missing"
        );
        assert!(j.get(160).is_some() && j.get(111).is_some());
        assert!(
            j.get(110).is_none(),
            "an entry not shown is not found either"
        );
        assert_eq!(
            j.bytes(),
            (0..4)
                .map(|i| lock(&j.shards[i].0)
                    .entries
                    .iter()
                    .map(|e| e.0)
                    .sum::<usize>())
                .sum::<usize>()
        );
        j.clear();
        assert!(j.all().is_empty() && j.bytes() == 0);
    }

    #[test]
    fn beyond_the_bytes_the_oldest_of_all_rings_go_first() {
        // Two rings; one thread records large bodies, the other small ones, in turn.
        let limit = 8 * BODY_LIMIT;
        let j = Arc::new(RequestJournal::with_shards(1000, limit, 2, 0));
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let threads: Vec<_> = [BODY_LIMIT, 10]
            .into_iter()
            .map(|size| {
                let (j, barrier) = (j.clone(), barrier.clone());
                std::thread::spawn(move || {
                    for i in 0..40 {
                        barrier.wait();
                        j.record(request(&format!("/{size}/{i}"), size));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let ids: Vec<u64> = j.all().iter().map(|r| r.id).collect();
        assert!(j.bytes() <= limit, "{} within {limit}", j.bytes());
        assert!(ids.len() < 80, "the budget dropped some");
        let first = ids[0];
        assert_eq!(
            ids,
            (first..=80).collect::<Vec<_>>(),
            "what is kept is the newest, with no gaps, whichever ring held them"
        );
    }
}
