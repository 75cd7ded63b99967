//! A tiny seeded generator (SplitMix64): every random choice in a scan (and in `bezoar-redteam`'s
//! injections) goes through it so the same seed gives byte-identical output. Why not `rand`: a
//! crate's stream may change between its releases, and "same seed, same output" must hold across
//! bezoar versions; SplitMix64 is a few lines, fixed forever. Not cryptographic; nothing here
//! needs that.

#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

/// SplitMix64's output function: a well-mixed 64-bit hash of `x`, for seeded orderings that
/// must not depend on iteration order.
pub fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

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

    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// `k` distinct items of `pool`, returned in ascending order (partial Fisher–Yates), so the
    /// rows picked are processed in file order whatever the draw.
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

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
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
