//! FNV-1a: a hash that gives the same value in every build and run, unlike std's hasher. What
//! it hashes is persisted (resource fingerprints in the state file) or must repeat from run to
//! run (the keys `--seed` mixes into random values).

/// FNV-1a of `bytes`, with `start` mixed into the offset basis (0 for plain FNV-1a).
pub(crate) fn fnv1a(bytes: &[u8], start: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ start;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_published_test_vectors() {
        assert_eq!(super::fnv1a(b"", 0), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a", 0), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::fnv1a(b"foobar", 0), 0x8594_4171_f739_67e8);
    }
}
