//! What changes as requests arrive: how many times each route has answered (for sequences and
//! for reproducible random values) and the state of each scenario.
//!
//! Kept outside the compiled spec, so a reload keeps both: a route keeps its count as long as its
//! definition is unchanged (counts are keyed by a fingerprint of the route, so an edited route
//! starts over, and an edit undone finds its old count again), and a scenario keeps its state.
//! Entries of definitions a reload dropped stay until a reset: a few bytes per edit. The
//! shared requests have one `RouteState`; each session has its own. `POST /__mockrig/reset`
//! starts both over.

pub(crate) mod shared;

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::compile::STARTED;
use crate::sync::lock;

/// Answer counts and scenario states.
#[derive(Default)]
pub(crate) struct RouteState {
    hits: Mutex<HashMap<u64, u64>>,
    scenarios: Mutex<HashMap<String, String>>,
}

impl RouteState {
    /// How many times the route with fingerprint `key` answered before, counting this one.
    pub(crate) fn hit(&self, key: u64) -> u64 {
        let mut hits = lock(&self.hits);
        let n = hits.entry(key).or_insert(0);
        let before = *n;
        *n += 1;
        before
    }

    /// The scenario's current state.
    pub(crate) fn state(&self, scenario: &str) -> String {
        lock(&self.scenarios)
            .get(scenario)
            .cloned()
            .unwrap_or_else(|| STARTED.to_owned())
    }

    pub(crate) fn is_in(&self, scenario: &str, state: &str) -> bool {
        match lock(&self.scenarios).get(scenario) {
            Some(s) => s == state,
            None => state == STARTED,
        }
    }

    pub(crate) fn set_state(&self, scenario: &str, state: &str) {
        lock(&self.scenarios).insert(scenario.to_owned(), state.to_owned());
    }

    /// The scenario states the replicas share, as last read (`shared`).
    pub(crate) fn set_states(&self, states: HashMap<String, String>) {
        *lock(&self.scenarios) = states;
    }

    /// Counts and scenarios back to the start.
    pub(crate) fn reset(&self) {
        lock(&self.hits).clear();
        lock(&self.scenarios).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_states() {
        let p = RouteState::default();
        assert_eq!((p.hit(7), p.hit(7), p.hit(8)), (0, 1, 0));
        assert!(p.is_in("checkout", STARTED));
        p.set_state("checkout", "paid");
        assert!(p.is_in("checkout", "paid") && !p.is_in("checkout", STARTED));
        p.reset();
        assert_eq!((p.hit(7), p.state("checkout").as_str()), (0, STARTED));
    }
}
