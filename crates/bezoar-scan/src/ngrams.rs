//! Token and n-gram hashing with sentence anchors, and mergeable per-class document counts.
//!
//! Each row becomes `[BOS, t0, …, tn-1, EOS]` as 64-bit hashes; n-grams (n ≤ 4) over that
//! sequence, minus the bare anchors, are the candidate trigger features, so a trigger that
//! always opens or closes a text is tested with its position.

// Keys are already 64-bit hashes: a cheap hasher instead of SipHash makes the counting passes
// over millions of rows several times faster.
use rustc_hash::FxHashMap as HashMap;
use xxhash_rust::xxh3::xxh3_64_with_seed;

pub const BOS: u64 = 0x0b05_0b05_0b05_0b05;
pub const EOS: u64 = 0x0e05_0e05_0e05_0e05;
pub const MAX_N: usize = 4;

pub fn token_hash(tok: &str) -> u64 {
    let h = xxh3_64_with_seed(tok.as_bytes(), 0x7431);
    // Keep real tokens off the anchor values.
    if h == BOS || h == EOS {
        h ^ 1
    } else {
        h
    }
}

/// Hash of a gram given its token hashes.
pub fn gram_hash(toks: &[u64]) -> u64 {
    let mut h = 0x51_7cc1_b727_220a_u64 ^ toks.len() as u64;
    for &t in toks {
        h = (h.rotate_left(29) ^ t).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h ^ (h >> 31)
}

/// Fill `seq` with `[BOS, hashes…, EOS]`.
pub fn anchored(tokens: &[&str], seq: &mut Vec<u64>) {
    seq.clear();
    seq.push(BOS);
    seq.extend(tokens.iter().map(|t| token_hash(t)));
    seq.push(EOS);
}

/// Whether the gram `seq[i..i+n]` is a feature (not a bare anchor).
pub fn is_feature(seq: &[u64], i: usize, n: usize) -> bool {
    !(n == 1 && (seq[i] == BOS || seq[i] == EOS))
}

/// Per-class document counts of hashed features; chunks merge by addition.
#[derive(Debug, Clone)]
pub struct ClassCounts {
    pub classes: usize,
    pub index: HashMap<u64, u32>,
    /// `counts[slot * classes + c]`.
    pub counts: Vec<u32>,
}

impl ClassCounts {
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            index: HashMap::default(),
            counts: Vec::new(),
        }
    }

    pub fn add(&mut self, h: u64, class: usize, by: u32) {
        let next = self.index.len() as u32;
        let slot = *self.index.entry(h).or_insert(next) as usize;
        if slot * self.classes >= self.counts.len() {
            self.counts.resize((slot + 1) * self.classes, 0);
        }
        self.counts[slot * self.classes + class] += by;
    }

    pub fn merge(mut self, other: ClassCounts) -> ClassCounts {
        if other.index.len() > self.index.len() {
            return other.merge(self);
        }
        for (h, s) in other.index {
            let s = s as usize * other.classes;
            for c in 0..other.classes {
                let v = other.counts[s + c];
                if v > 0 {
                    self.add(h, c, v);
                }
            }
        }
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u32])> + '_ {
        self.index.iter().map(move |(&h, &s)| {
            let s = s as usize * self.classes;
            (h, &self.counts[s..s + self.classes])
        })
    }
}
