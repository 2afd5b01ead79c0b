//! What requests on one worker thread hand to Redis together: items wait under a key until
//! the worker's sender for that key takes them for its next call. A script call costs Redis
//! several times what one item's commands do, and each call is a send, a wake-up and a read
//! on both sides; under load a worker's requests arrive together, so they share the call.
//! Used by the commits of a resource (`batch.rs`) and the journal's appends.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::thread::LocalKey;

/// Items waiting per key on one thread (kept in a `thread_local!`: actix runs one runtime
/// per worker thread), and whether a sender is taking them.
pub(crate) struct Gathering<K, T>(RefCell<HashMap<K, Vec<T>>>);

impl<K: Hash + Eq + Copy, T> Gathering<K, T> {
    pub(crate) fn new() -> Self {
        Gathering(RefCell::new(HashMap::new()))
    }

    /// Adds `item` under `key`; true when no sender is taking that key's items, and the caller
    /// must start one (which then calls [`Gathering::take`] until it gets nothing).
    pub(crate) fn add(&self, key: K, item: T) -> bool {
        let mut waiting = self.0.borrow_mut();
        let idle = !waiting.contains_key(&key);
        waiting.entry(key).or_default().push(item);
        idle
    }

    /// Up to `most` of `key`'s items, oldest first. Nothing means the sender is done: the
    /// next `add` starts another.
    pub(crate) fn take(&self, key: K, most: usize) -> Vec<T> {
        let mut waiting = self.0.borrow_mut();
        let Some(items) = waiting.get_mut(&key) else {
            return Vec::new();
        };
        let taken: Vec<T> = items.drain(..items.len().min(most)).collect();
        if taken.is_empty() {
            waiting.remove(&key);
        }
        taken
    }
}

/// Held by a sender while it runs: if it panics, what waits under its key is dropped (its
/// requests see their answer channel close and answer 503) instead of waiting for a sender
/// that is gone, and the next item starts a new one.
pub(crate) struct Sending<K: Hash + Eq + Copy + 'static, T: 'static> {
    pub(crate) on: &'static LocalKey<Gathering<K, T>>,
    pub(crate) key: K,
}

impl<K: Hash + Eq + Copy + 'static, T: 'static> Drop for Sending<K, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let dropped = self.on.with(|g| g.0.borrow_mut().remove(&self.key));
            drop(dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One sender per key at a time: it is started by the first item, keeps taking what
    /// arrives meanwhile, and the key is idle again only after a take found nothing.
    #[test]
    fn one_sender_per_key_takes_everything_in_order() {
        let g: Gathering<u8, u32> = Gathering::new();
        assert!(g.add(1, 10), "the first item starts a sender");
        assert!(!g.add(1, 11), "a sender is already taking key 1");
        assert!(g.add(2, 20), "another key has its own sender");
        assert_eq!(g.take(1, 1), vec![10]);
        assert!(!g.add(1, 12), "taking, not yet done");
        assert_eq!(g.take(1, 8), vec![11, 12]);
        assert_eq!(g.take(1, 8), Vec::<u32>::new());
        assert!(
            g.add(1, 13),
            "after an empty take the next item starts a sender again"
        );
        assert_eq!(g.take(2, 8), vec![20]);
    }

    thread_local! {
        static PANICKY: Gathering<u8, tokio::sync::oneshot::Sender<()>> = Gathering::new();
    }

    /// A sender that panics leaves no key busy for ever: the items waiting are dropped (so
    /// their waiters hear it) and the next item starts a sender again.
    #[test]
    fn a_sender_that_panics_frees_its_key() {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        assert!(PANICKY.with(|g| g.add(7, tx)));
        let run = std::panic::catch_unwind(|| {
            let _sending = Sending {
                on: &PANICKY,
                key: 7u8,
            };
            panic!("a bug in a sender");
        });
        assert!(run.is_err());
        assert!(
            rx.try_recv()
                .is_err_and(|e| e == tokio::sync::oneshot::error::TryRecvError::Closed)
        );
        let (tx, _rx) = tokio::sync::oneshot::channel();
        assert!(PANICKY.with(|g| g.add(7, tx)), "the key is free again");
    }
}
