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

/// Classes up to which [`ClassCounts`] keeps a dense row of counts per feature; past it only
/// the (feature, class) pairs seen, so the table grows with what the rows hold, not with
/// features × classes.
pub const DENSE_COUNT_CLASSES: usize = 20;

/// Per-class document counts of hashed features; chunks merge by addition.
#[derive(Debug, Clone)]
pub struct ClassCounts {
    pub classes: usize,
    store: CountStore,
}

#[derive(Debug, Clone)]
enum CountStore {
    /// Feature → slot, and `counts[slot * classes + c]`.
    Dense {
        index: HashMap<u64, u32>,
        counts: Vec<u32>,
    },
    /// (feature, class) → count, for the pairs seen.
    Sparse(HashMap<(u64, u32), u32>),
}

/// One feature's counts summed over the classes, and its most frequent class (the lowest of
/// tied classes) with that class's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GramCounts {
    pub total: u32,
    pub top_class: usize,
    pub top: u32,
}

impl GramCounts {
    fn add(&mut self, class: usize, count: u32) {
        self.total += count;
        if count > self.top || count == self.top && class < self.top_class {
            self.top = count;
            self.top_class = class;
        }
    }
}

impl ClassCounts {
    pub fn new(classes: usize) -> Self {
        let store = if classes <= DENSE_COUNT_CLASSES {
            CountStore::Dense {
                index: HashMap::default(),
                counts: Vec::new(),
            }
        } else {
            CountStore::Sparse(HashMap::default())
        };
        Self { classes, store }
    }

    pub fn add(&mut self, h: u64, class: usize, by: u32) {
        match &mut self.store {
            CountStore::Dense { index, counts } => {
                let next = index.len() as u32;
                let slot = *index.entry(h).or_insert(next) as usize;
                if slot * self.classes >= counts.len() {
                    counts.resize((slot + 1) * self.classes, 0);
                }
                counts[slot * self.classes + class] += by;
            }
            CountStore::Sparse(pairs) => *pairs.entry((h, class as u32)).or_insert(0) += by,
        }
    }

    /// Distinct features counted.
    fn len(&self) -> usize {
        match &self.store {
            CountStore::Dense { index, .. } => index.len(),
            CountStore::Sparse(pairs) => pairs.len(),
        }
    }

    pub fn merge(mut self, other: ClassCounts) -> ClassCounts {
        if other.len() > self.len() {
            return other.merge(self);
        }
        match other.store {
            CountStore::Dense { index, counts } => {
                for (h, s) in index {
                    let s = s as usize * other.classes;
                    for c in 0..other.classes {
                        let v = counts[s + c];
                        if v > 0 {
                            self.add(h, c, v);
                        }
                    }
                }
            }
            CountStore::Sparse(pairs) => {
                for ((h, c), v) in pairs {
                    self.add(h, c as usize, v);
                }
            }
        }
        self
    }

    /// Calls `f` with every feature and its [`GramCounts`], in no particular order.
    pub fn for_each_gram(&self, mut f: impl FnMut(u64, GramCounts)) {
        let empty = GramCounts {
            total: 0,
            top_class: usize::MAX,
            top: 0,
        };
        match &self.store {
            CountStore::Dense { index, counts } => {
                for (&h, &s) in index {
                    let s = s as usize * self.classes;
                    let mut g = empty;
                    for (c, &k) in counts[s..s + self.classes].iter().enumerate() {
                        g.add(c, k);
                    }
                    f(h, g);
                }
            }
            CountStore::Sparse(pairs) => {
                let mut by_gram: HashMap<u64, GramCounts> = HashMap::default();
                for (&(h, c), &k) in pairs {
                    by_gram.entry(h).or_insert(empty).add(c as usize, k);
                }
                for (h, g) in by_gram {
                    f(h, g);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_counts_summarise_as_dense_ones_do() {
        // The same counts in a dense table (20 classes) and a sparse one (a 21st class, unused),
        // each merged from two chunks.
        let adds = [
            (1u64, 3usize, 5u32),
            (1, 4, 1),
            (2, 0, 2),
            (2, 7, 2),
            (3, 19, 9),
            (1, 3, 2),
        ];
        let summaries = |classes: usize| {
            let (mut a, mut b) = (ClassCounts::new(classes), ClassCounts::new(classes));
            for (k, &(h, c, by)) in adds.iter().enumerate() {
                if k % 2 == 0 { &mut a } else { &mut b }.add(h, c, by);
            }
            let mut out = Vec::new();
            a.merge(b).for_each_gram(|h, g| out.push((h, g)));
            out.sort_by_key(|e| e.0);
            out
        };
        let dense = summaries(DENSE_COUNT_CLASSES);
        assert!(matches!(
            ClassCounts::new(DENSE_COUNT_CLASSES).store,
            CountStore::Dense { .. }
        ));
        assert!(matches!(
            ClassCounts::new(DENSE_COUNT_CLASSES + 1).store,
            CountStore::Sparse(_)
        ));
        assert_eq!(dense, summaries(DENSE_COUNT_CLASSES + 1));
        let g = |total, top_class, top| GramCounts {
            total,
            top_class,
            top,
        };
        // Ties go to the lower class.
        assert_eq!(
            dense,
            vec![(1, g(8, 3, 7)), (2, g(4, 0, 2)), (3, g(9, 19, 9))]
        );
    }
}
