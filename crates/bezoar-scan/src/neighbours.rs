//! Nearest neighbours of every row in the TF-IDF space, and the labels they carry.
//!
//! A row whose label disagrees with the rows most like it is suspect, independently of what a
//! linear model reads: the two signals err on different rows, so label consistency averages
//! them. Similarity is the cosine of the sparse TF-IDF rows, computed exactly (not through a
//! random projection: on short texts TF-IDF similarities are small, and a 256-dimensional
//! projection's noise swamped them, losing most of the signal when measured).
//!
//! Search is an inverted index over reference rows (all pool rows on small data, a seeded
//! sample on large). Features that occur in more than [`COMMON_SHARE`] of the references are
//! left out of the index: they carry little IDF weight, yet their posting lists are most of the
//! work (leaving out features in over 3% of rows did not change the ranking of flipped labels
//! on public sentiment data, and cut the work about 16-fold).

use crate::features::{RowFeatures, RowScratch, SparseRows};
use crate::rng::SplitMix64;
use rayon::prelude::*;

/// Neighbours per row.
pub const K: usize = 50;
const _: () = assert!(K <= u8::MAX as usize, "vote counts are kept as u8");
/// Features in more than this share of reference rows are not indexed.
const COMMON_SHARE: f64 = 0.03;
/// Reference rows: as many as keep `rows × references` within this budget (so up to about
/// 44,000 rows every pool row is a reference and neighbours are exact), but at least
/// `MIN_REFS`.
const PAIR_BUDGET: f64 = 2e9;
const MIN_REFS: usize = 2_000;
const CHUNK: usize = 1024;

/// How many of each row's nearest reference rows carry each label: per row, the labels its
/// neighbours carry with their counts (at most [`K`] pairs a row, whatever the classes).
pub struct NeighbourLabels {
    /// The votes of rows `b * CHUNK..`, block by block as they were found (never copied into
    /// one table).
    blocks: Vec<Votes>,
    classes: usize,
    /// Neighbours found per row (fewer than [`K`] on tiny data or rows sharing no feature).
    found: Vec<u16>,
}

/// A block's votes: its row `r`'s labels (ascending) and how many of its neighbours carry each
/// are `label[start[r]..start[r + 1]]` and `count[..]` (the scan's class limit keeps labels
/// within `u16`; [`K`] keeps counts within `u8`).
#[derive(Debug, PartialEq)]
struct Votes {
    start: Vec<u32>,
    label: Vec<u16>,
    count: Vec<u8>,
}

impl NeighbourLabels {
    /// Row `i`'s (label, count) pairs.
    fn votes(&self, i: usize) -> impl Iterator<Item = (usize, u8)> + '_ {
        let (b, r) = (&self.blocks[i / CHUNK], i % CHUNK);
        let at = b.start[r] as usize..b.start[r + 1] as usize;
        b.label[at.clone()]
            .iter()
            .zip(&b.count[at])
            .map(|(&c, &k)| (c as usize, k))
    }

    /// Share of row `i`'s neighbours labelled `c`, or `None` when it has none.
    #[cfg(test)]
    pub fn share(&self, i: usize, c: usize) -> Option<f32> {
        let found = self.found[i];
        let count = self.votes(i).find(|v| v.0 == c).map_or(0, |v| v.1);
        (found > 0).then(|| count as f32 / found as f32)
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        let votes: usize = self
            .blocks
            .iter()
            .map(|b| b.start.capacity() * 4 + b.label.capacity() * 2 + b.count.capacity())
            .sum();
        votes + self.found.len() * 2
    }

    /// Row `i`'s ln class probabilities by its neighbours' vote, Laplace-smoothed so that a
    /// label no neighbour carries is unlikely rather than impossible; `false` (and `out`
    /// untouched) when it has no neighbours.
    pub fn ln_vote(&self, i: usize, out: &mut [f32]) -> bool {
        let found = self.found[i];
        if found == 0 {
            return false;
        }
        let total = (found as usize + self.classes) as f32;
        out.fill(((0.0 + 1.0) / total).ln());
        for (c, count) in self.votes(i) {
            out[c] = ((count as f32 + 1.0) / total).ln();
        }
        true
    }
}

/// Inverted index of the reference rows' uncommon features.
struct Index {
    /// `start[f]..start[f + 1]` are the postings of feature slot `f`.
    start: Vec<u32>,
    postings: Vec<(u32, f32)>,
    /// Feature id → slot (`u32::MAX` for features not indexed).
    slot: Vec<u32>,
    refs: usize,
}

impl Index {
    fn build(x: &SparseRows, ref_rows: &[u32]) -> Self {
        let mut df: rustc_hash::FxHashMap<u32, u32> = Default::default();
        for &k in ref_rows {
            for &j in x.row(k as usize).0 {
                *df.entry(j).or_insert(0) += 1;
            }
        }
        let cap = ((COMMON_SHARE * ref_rows.len() as f64) as u32).max(2);
        let mut kept: Vec<(u32, u32)> = df.into_iter().filter(|&(_, d)| d <= cap).collect();
        kept.sort_unstable();
        let mut slot = vec![u32::MAX; kept.last().map_or(0, |&(j, _)| j as usize + 1)];
        for (s, &(j, _)) in kept.iter().enumerate() {
            slot[j as usize] = s as u32;
        }
        let mut start = Vec::with_capacity(kept.len() + 1);
        let mut acc = 0u32;
        start.push(0);
        for &(_, d) in &kept {
            acc += d;
            start.push(acc);
        }
        let mut fill = start.clone();
        let mut postings = vec![(0u32, 0f32); acc as usize];
        for (r, &k) in ref_rows.iter().enumerate() {
            let (idx, val) = x.row(k as usize);
            for (&j, &v) in idx.iter().zip(val) {
                if let Some(&s) = slot.get(j as usize).filter(|&&s| s != u32::MAX) {
                    let at = &mut fill[s as usize];
                    postings[*at as usize] = (r as u32, v);
                    *at += 1;
                }
            }
        }
        Index {
            start,
            postings,
            slot,
            refs: ref_rows.len(),
        }
    }

    /// The up to `k` references most similar to the row `(idx, val)`, skipping reference
    /// `own` (the row itself), into `out` as (similarity, reference) pairs.
    fn nearest(
        &self,
        idx: &[u32],
        val: &[f32],
        own: Option<u32>,
        k: usize,
        s: &mut Search,
        out: &mut Vec<(f32, u32)>,
    ) {
        if s.acc.len() != self.refs {
            s.acc = vec![0.0; self.refs];
        }
        for (&j, &v) in idx.iter().zip(val) {
            let Some(&f) = self.slot.get(j as usize).filter(|&&f| f != u32::MAX) else {
                continue;
            };
            let (a, b) = (self.start[f as usize], self.start[f as usize + 1]);
            for &(r, w) in &self.postings[a as usize..b as usize] {
                let cell = &mut s.acc[r as usize];
                if *cell == 0.0 {
                    s.touched.push(r);
                }
                *cell += v * w;
            }
        }
        out.clear();
        for &r in &s.touched {
            let sim = std::mem::take(&mut s.acc[r as usize]);
            if Some(r) != own && sim > 0.0 {
                out.push((sim, r));
            }
        }
        s.touched.clear();
        // Most similar first; ties by reference order, so results do not depend on threads.
        let by_sim = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if out.len() > k {
            out.select_nth_unstable_by(k - 1, by_sim);
            out.truncate(k);
        }
        out.sort_unstable_by(by_sim);
    }
}

#[derive(Default)]
struct Search {
    acc: Vec<f32>,
    touched: Vec<u32>,
}

/// The reference rows (indices into the pool): all of them on small data, else a seeded sample
/// sized to the pair budget.
fn references(pool_len: usize, n: usize, seed: u64) -> Vec<u32> {
    let budget = (PAIR_BUDGET / n.max(1) as f64) as usize;
    let m = budget.max(MIN_REFS).min(pool_len);
    let all: Vec<usize> = (0..pool_len).collect();
    if m == pool_len {
        return (0..pool_len as u32).collect();
    }
    SplitMix64::new(seed ^ 0x4e45_4947)
        .sample(&all, m)
        .into_iter()
        .map(|k| k as u32)
        .collect()
}

/// For every row, the labels of its [`K`] nearest reference rows. `x` holds the pool rows as
/// `feats` featurises them (row k is dataset row `pool[k]`); other rows are featurised on the
/// fly.
pub fn label_neighbours(
    x: &SparseRows,
    feats: &RowFeatures,
    pool: &[u32],
    labels: &[u32],
    classes: usize,
    seed: u64,
) -> NeighbourLabels {
    let n = labels.len();
    let refs = references(pool.len(), n, seed);
    let index = Index::build(x, &refs);
    // Dataset row → reference index (to skip a row's own entry) and → pool row.
    let mut ref_of = vec![u32::MAX; n];
    for (r, &k) in refs.iter().enumerate() {
        ref_of[pool[k as usize] as usize] = r as u32;
    }
    let in_pool = crate::features::pool_positions(n, pool);
    let ref_labels: Vec<u32> = refs
        .iter()
        .map(|&k| labels[pool[k as usize] as usize])
        .collect();
    let mut found = vec![0u16; n];
    // Per chunk: each row's vote count and the (label, count) pairs, concatenated below.
    assert!(
        classes <= 1 << 16,
        "{classes} classes: past the scan's class limit"
    );
    let blocks: Vec<Votes> = found
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(c, found)| {
            let mut s = Search::default();
            let mut rs = RowScratch::default();
            let (mut idx, mut val, mut near) = (Vec::new(), Vec::new(), Vec::new());
            let mut start = Vec::with_capacity(found.len() + 1);
            start.push(0u32);
            let (mut label, mut count) = (Vec::new(), Vec::new());
            let mut labels = Vec::with_capacity(K);
            for (o, row_found) in found.iter_mut().enumerate() {
                let i = c * CHUNK + o;
                let own = (ref_of[i] != u32::MAX).then_some(ref_of[i]);
                let (idx, val) = feats.pool_row(x, in_pool[i], i, &mut rs, &mut idx, &mut val);
                index.nearest(idx, val, own, K, &mut s, &mut near);
                labels.clear();
                labels.extend(near.iter().map(|&(_, r)| ref_labels[r as usize]));
                labels.sort_unstable();
                for run in labels.chunk_by(|a, b| a == b) {
                    label.push(run[0] as u16);
                    count.push(run.len() as u8);
                }
                start.push(label.len() as u32);
                *row_found = near.len() as u16;
            }
            label.shrink_to_fit();
            count.shrink_to_fit();
            Votes {
                start,
                label,
                count,
            }
        })
        .collect();
    NeighbourLabels {
        blocks,
        classes,
        found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::learn;
    use bezoar_data::TextArena;

    #[test]
    fn neighbours_share_topic_words_and_skip_the_row_itself() {
        // Two topics with disjoint vocabularies (and alphabets, so no character n-gram is shared
        // either); each row's label follows its topic except for row 0.
        let mut rng = SplitMix64::new(5);
        let vocab: Vec<Vec<String>> = [b'a', b'n']
            .iter()
            .map(|&first| {
                (0..200)
                    .map(|_| {
                        (0..6)
                            .map(|_| (first + rng.below(13) as u8) as char)
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let mut texts = TextArena::default();
        let mut labels = Vec::new();
        for i in 0..400u32 {
            let topic = (i % 2) as usize;
            let words: Vec<&str> = (0..4)
                .map(|_| vocab[topic][rng.below(200)].as_str())
                .collect();
            texts.push(&words.join(" "));
            labels.push(if i == 0 { 1 } else { topic as u32 });
        }
        let pool: Vec<u32> = (0..400).collect();
        let (tfidf, x) = learn(&texts, &pool);
        let feats = RowFeatures {
            tfidf: &tfidf,
            texts: &texts,
            embeddings: None,
        };
        let nl = label_neighbours(&x, &feats, &pool, &labels, 2, 1);
        // Row 0 (topic 0, labelled 1): its neighbours are topic-0 rows labelled 0, not itself
        // (a hashed feature shared across topics by collision may add a stray neighbour).
        assert!(nl.share(0, 1).unwrap() <= 0.1, "{:?}", nl.share(0, 1));
        // Topic-0 rows labelled 0 neighbour rows labelled 0.
        let mut sum = 0.0;
        for i in (2..400).step_by(2) {
            assert!(nl.found[i] >= 5, "row {i} found {}", nl.found[i]);
            sum += nl.share(i, 0).unwrap();
        }
        assert!(sum / 199.0 >= 0.95, "mean share {}", sum / 199.0);
        let again = label_neighbours(&x, &feats, &pool, &labels, 2, 1);
        assert_eq!(nl.blocks, again.blocks);
    }

    #[test]
    fn votes_take_memory_per_neighbour_not_per_class() {
        // Every row its own label: a dense rows × classes table would hold 4M counts.
        let n = 2000;
        let mut texts = TextArena::default();
        for i in 0..n {
            texts.push(&format!("w{} w{} w{} common", i % 37, i % 41, i % 43));
        }
        let labels: Vec<u32> = (0..n as u32).collect();
        let pool: Vec<u32> = (0..n as u32).collect();
        let (tfidf, x) = learn(&texts, &pool);
        let feats = RowFeatures {
            tfidf: &tfidf,
            texts: &texts,
            embeddings: None,
        };
        let nl = label_neighbours(&x, &feats, &pool, &labels, n, 1);
        assert!(
            nl.heap_bytes() <= n * (4 + 2 + 3 * K) + 4 * n.div_ceil(CHUNK),
            "{} bytes",
            nl.heap_bytes()
        );
        // The vote reads as a dense table would: Laplace-smoothed counts over every class.
        let mut out = vec![0.0f32; n];
        for i in [0, 1, 999] {
            assert!(nl.ln_vote(i, &mut out));
            let total = (nl.found[i] as usize + n) as f32;
            for (c, &v) in out.iter().enumerate() {
                let count = nl.share(i, c).unwrap() * nl.found[i] as f32;
                assert_eq!(v, ((count.round() + 1.0) / total).ln(), "row {i} class {c}");
            }
            assert_eq!(nl.share(i, i), Some(0.0), "a row is not its own neighbour");
        }
    }

    #[test]
    fn large_inputs_search_a_seeded_sample_of_references() {
        let r = references(100_000, 1_000_000, 3);
        assert_eq!(r.len(), (PAIR_BUDGET / 1e6) as usize);
        assert!(r.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(r, references(100_000, 1_000_000, 3));
        assert_eq!(references(500, 500, 3).len(), 500);
        assert_eq!(references(30_000, 30_000, 3).len(), 30_000);
        assert_eq!(references(100_000, 100_000, 3).len(), 20_000);
    }
}
