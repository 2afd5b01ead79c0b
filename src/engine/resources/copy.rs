//! A store's copy of shared data (`--state redis://`, see `redis/`): where it stands in
//! Redis's numbered changes, and the changes made on it as they come — read back by a
//! catch-up, read whole, or made as this replica's own commits are answered.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLockWriteGuard};

use serde_json::Value;

use super::change::{Change, EARLY_KEEP};
use super::data::Data;
use super::store::{Store, apply};
use crate::sync::{lock, write};

impl Store {
    /// Brings the copy of shared data up to change `seq` of `generation` with the changes
    /// after where it stands (numbered), skipping those another request applied first.
    pub(crate) fn catch_up(
        &self,
        generation: &str,
        entries: &[(u64, Value)],
    ) -> Result<(), String> {
        let mut guard = write(&self.data);
        if self.mirror.generation() != generation {
            // A full read of the new generation got here first, or is about to.
            return Ok(());
        }
        for (seq, entry) in entries {
            if *seq == self.mirror.seq() + 1 {
                self.replay_on(self.own(&mut guard), entry)?;
                self.grew_by(&entry["record"]);
                self.mirror.set(generation, *seq);
            }
        }
        self.make_early(&mut guard);
        Ok(())
    }

    /// Replaces the copy of shared data with `data`, as of change `seq` of `generation`,
    /// unless the copy is already past it — or whatever it holds, when Redis went back
    /// (`rewound`: the copy holds changes Redis lost).
    pub(crate) fn restore_shared(&self, generation: &str, seq: u64, data: Data, rewound: bool) {
        let mut guard = write(&self.data);
        if !rewound && self.mirror.generation() == generation && self.mirror.seq() >= seq {
            return;
        }
        // A session's copy is its own from here on: its bytes count.
        if let Some((_, bytes)) = &self.seed {
            bytes.store(data.json_len(), Ordering::Relaxed);
        }
        *guard = Arc::new(data);
        self.mirror.set(generation, seq);
        if rewound {
            // Numbers past where Redis went back may name other changes now, and ids it
            // reserved for this replica may have been handed out again.
            lock(&self.mirror.early).clear();
            lock(&self.mirror.ids).1.clear();
        }
        self.make_early(&mut guard);
    }

    /// Makes a change the shared store committed as number `seq`, when the copy stands just
    /// before it (then the early ones it was waiting for, too); a change ahead of the copy
    /// waits for those before it (see `Mirror::early`); otherwise the next catch-up brings it.
    pub(crate) fn committed(&self, generation: &str, seq: u64, change: Change) {
        let mut guard = write(&self.data);
        if self.mirror.generation() != generation || seq <= self.mirror.seq() {
            return;
        }
        if self.mirror.seq() + 1 != seq {
            let mut early = lock(&self.mirror.early);
            if early.len() < EARLY_KEEP {
                early.insert(seq, (generation.to_owned(), change));
            }
            return;
        }
        self.make(&mut guard, generation, seq, change);
        self.make_early(&mut guard);
    }

    /// Makes committed change `seq` on the copy, which stands just before it.
    fn make(
        &self,
        guard: &mut RwLockWriteGuard<'_, Arc<Data>>,
        generation: &str,
        seq: u64,
        change: Change,
    ) {
        // Only a session's copy counts its bytes.
        let grown = match &change {
            Change::Create { .. } | Change::Update { .. } | Change::Set { .. }
                if self.seed.is_some() =>
            {
                change.answer()
            }
            _ => Value::Null,
        };
        if apply(self.own(guard), change).is_ok() {
            self.grew_by(&grown);
            self.mirror.set(generation, seq);
        }
    }

    /// Makes the early writes that now follow where the copy stands; drops those it has passed
    /// or that belong to another generation.
    fn make_early(&self, guard: &mut RwLockWriteGuard<'_, Arc<Data>>) {
        let mut early = lock(&self.mirror.early);
        let generation = self.mirror.generation();
        while let Some(entry) = early.first_entry() {
            let (seq, (g, _)) = (*entry.key(), entry.get());
            if seq > self.mirror.seq() + 1 && *g == generation {
                return;
            }
            let (g, change) = entry.remove();
            if seq == self.mirror.seq() + 1 && g == generation {
                self.make(guard, &g, seq, change);
            }
        }
    }
}
