//! A small seeded generator (SplitMix64) through which every random choice of an injection goes.
//!
//! Why not `rand`: the stream of a generator from a crate may change between its releases, and
//! "same seed → same poisoned file" must hold across bezoar versions; SplitMix64 is a few lines,
//! fixed forever, and statistically ample for choosing rows and positions. (It is the same
//! algorithm as the scanner's private generator; not cryptographic, which nothing here needs.)

#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// `k` distinct items of `pool`, returned in ascending order (partial Fisher–Yates), so the
    /// rows an attack edits are processed in file order whatever the draw.
    pub fn sample(&mut self, pool: &[usize], k: usize) -> Vec<usize> {
        let mut v = pool.to_vec();
        let k = k.min(v.len());
        for i in 0..k {
            let j = i + self.below(v.len() - i);
            v.swap(i, j);
        }
        v.truncate(k);
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_distinct_sorted_and_seeded() {
        let pool: Vec<usize> = (0..100).collect();
        let a = SplitMix64::new(7).sample(&pool, 10);
        let b = SplitMix64::new(7).sample(&pool, 10);
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(a, SplitMix64::new(8).sample(&pool, 10));
        assert_eq!(SplitMix64::new(1).sample(&pool, 500).len(), 100);
    }
}
