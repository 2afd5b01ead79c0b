//! Where random values come from: template functions, `sequence: random` and delay ranges.
//!
//! Without `--seed`, from a generator per thread, seeded by the OS once. With `--seed N`, each
//! answer gets a generator of its own ([`SeededRng`]), made from N, what is answering (a
//! route's fingerprint, a channel's path) and how many times it answered before: the same
//! requests get the same values in every run, whatever else runs in parallel. The request
//! carries its generator explicitly, through delays and awaits, so no other request's draws
//! can move it.

use std::cell::RefCell;
use std::sync::Mutex;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::hash::fnv1a;
use crate::sync::lock;

thread_local! {
    static UNSEEDED: RefCell<StdRng> = RefCell::new(rand::make_rng());
}

/// One answer's generator under `--seed`. A mutex because template functions reach it through
/// a shared reference (minijinja objects are `Send + Sync`); nothing else ever waits on it.
#[derive(Debug)]
pub(crate) struct SeededRng(Mutex<StdRng>);

impl SeededRng {
    /// The generator for answer `n` (counting from 0) of `what`, under `seed`.
    pub(crate) fn new(seed: u64, what: u64, n: u64) -> SeededRng {
        let mixed = fnv1a(&what.to_le_bytes(), seed) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        SeededRng(Mutex::new(StdRng::seed_from_u64(mixed)))
    }

    /// With a seed, the generator for answer `n` of `what`; without, none (the thread's).
    pub(crate) fn for_answer(seed: Option<u64>, what: u64, n: u64) -> Option<SeededRng> {
        seed.map(|s| SeededRng::new(s, what, n))
    }
}

/// Runs `f` with the answer's generator, or the thread's when there is no seed.
pub(crate) fn with_rng<T>(seeded: Option<&SeededRng>, f: impl FnOnce(&mut StdRng) -> T) -> T {
    match seeded {
        Some(s) => f(&mut lock(&s.0)),
        None => UNSEEDED.with(|r| f(&mut r.borrow_mut())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn a_seeded_generator_repeats_and_depends_on_all_three_inputs() {
        let draw = |g: &SeededRng| with_rng(Some(g), |r| r.random::<u64>());
        let a = draw(&SeededRng::new(42, 7, 3));
        assert_eq!(a, draw(&SeededRng::new(42, 7, 3)));
        assert_ne!(a, draw(&SeededRng::new(43, 7, 3)));
        assert_ne!(a, draw(&SeededRng::new(42, 8, 3)));
        assert_ne!(a, draw(&SeededRng::new(42, 7, 4)));
    }
}
