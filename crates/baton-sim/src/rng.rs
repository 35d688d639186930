//! The simulator's randomness: SplitMix64, written out here rather than taken from a crate, so
//! that a seed means the same conversation in every version of the simulator's dependencies
//! (a seed in a bug report must replay years later), and streams derived by name.
//!
//! Every decision draws from a stream of its own (`model/desk/3/0`, `tool/KEY/1`, `driver`, …),
//! so a fault injected in one place does not shift the draws anywhere else: a crash-and-resume
//! run sees the same model replies and tool results as the clean run with the same seed.

/// A SplitMix64 generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The stream called `name` of `seed`.
    pub fn stream(seed: u64, name: &str) -> Rng {
        // FNV-1a over the name, mixed with the seed through one SplitMix step.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut mixed = Rng(seed ^ hash.rotate_left(17));
        Rng(mixed.next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        match n {
            0 => 0,
            n => self.next_u64() % n,
        }
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }

    /// One of `items`, if there is any.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn streams_are_stable_and_distinct() {
        let mut a = Rng::stream(7, "driver");
        let mut again = Rng::stream(7, "driver");
        let mut other = Rng::stream(7, "model/desk/0/0");
        let drawn: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(drawn, (0..4).map(|_| again.next_u64()).collect::<Vec<_>>());
        assert_ne!(drawn[0], other.next_u64());
        // Pinned: a seed must mean the same conversation in every later version.
        assert_eq!(Rng::stream(0, "").next_u64(), 0xe0bd_de5c_aa07_d4d5);
    }

    #[test]
    fn draws_stay_in_range() {
        let mut rng = Rng::stream(1, "range");
        for _ in 0..1000 {
            assert!(rng.between(3, 5) >= 3 && rng.between(3, 5) <= 5);
            assert!(rng.below(4) < 4);
        }
        assert_eq!(rng.below(0), 0);
        assert!(rng.pick::<u8>(&[]).is_none());
    }
}
