//! Seeded random streams: one master seed, one ChaCha stream per named entity.
//!
//! A stream's seed is a SplitMix64 mix of the master seed and a stable hash (FNV-1a) of the
//! entity's name, so adding a client does not change another client's draws, and the L2 and
//! BGP variants of one scenario see the same arrivals (common random numbers).
//! (quinn-proto's child seeds; madsim.)

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random stream type of every entity.
pub type Stream = ChaCha8Rng;

/// The factory of per-entity streams for one run.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    master: u64,
}

impl Streams {
    /// Streams derived from `master_seed`.
    pub fn new(master_seed: u64) -> Self {
        Streams {
            master: master_seed,
        }
    }

    /// The master seed.
    pub fn master_seed(&self) -> u64 {
        self.master
    }

    /// The stream of the entity called `name` (e.g. `"client/web-3"`, `"node-2/kube-proxy"`).
    pub fn stream(&self, name: &str) -> Stream {
        let mut state = self.master ^ fnv1a(name.as_bytes());
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        ChaCha8Rng::from_seed(seed)
    }
}

/// FNV-1a, 64 bits: a stable hash of a name (std's hashers are not stable across releases).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One step of SplitMix64 (Steele, Lea, Flood 2014): advances `state`, returns a mixed value.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn same_name_same_stream_other_name_other_stream() {
        let s = Streams::new(7);
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(s.stream("client/a"), |r, _| Some(r.next_u64()))
            .collect();
        let a2: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(s.stream("client/a"), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(s.stream("client/b"), |r, _| Some(r.next_u64()))
            .collect();
        let other_seed: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(Streams::new(8).stream("client/a"), |r, _| {
                Some(r.next_u64())
            })
            .collect();
        assert_eq!(a, a2);
        assert_ne!(a, b);
        assert_ne!(a, other_seed);
    }

    #[test]
    fn fnv1a_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }
}
