//! Leave-one-out multinomial naive Bayes over which words and word pairs a row contains.
//!
//! A third reading of each row's label, next to the cross-validated linear model and the
//! neighbours' vote. Naive Bayes errs differently from both (it weighs every word's evidence
//! independently, where the linear model shares weight among correlated words), so averaging
//! it in ranks flipped labels better than either (measured on public sentiment data with
//! random flips). It is also exactly leave-one-out at no extra cost: a row's own counts are
//! subtracted from its class's before it is scored, so no row is judged by a model that saw its
//! label.

use crate::classrows::{ClassRows, Domain};
use crate::features::{char_gram_set, word_set};
use crate::tokens::tokenize;
use bezoar_data::TextArena;
use rustc_hash::FxHashMap;

/// Additive (Laplace) smoothing of word counts.
const ALPHA: f64 = 1.0;
/// Count tables cost `classes` floats per distinct word or word pair of the pool; with more
/// classes than this the model is skipped.
pub const MAX_CLASSES: usize = 64;
/// The most count-table cells (distinct features × classes, 256 MiB of `f32`): a pool whose
/// vocabulary would pass it skips the model, so that its memory is bounded whatever the text.
const MAX_COUNT_CELLS: usize = 1 << 26;
const CHUNK: usize = 2048;
/// Words of a row looked up in the count table at once (see [`Counts::predict`]).
const LOOKUP_BATCH: usize = 16;
/// Counts below this have their smoothed logarithm looked up (see [`ln_smoothed`]).
const LN_TABLE: usize = 4096;

/// `ln(n + ALPHA)` for a count `n`, the same value either way: most words are rare, so most
/// counts are small integers whose logarithms are taken once here.
#[inline]
fn ln_smoothed(n: f64) -> f64 {
    static TABLE: std::sync::LazyLock<Vec<f64>> =
        std::sync::LazyLock::new(|| (0..LN_TABLE).map(|m| (m as f64 + ALPHA).ln()).collect());
    let m = n as usize;
    if m as f64 == n && m < LN_TABLE {
        TABLE[m]
    } else {
        (n + ALPHA).ln()
    }
}

/// Out-of-sample class probabilities from naive Bayes, kept as logarithms: naive Bayes is so
/// sure of itself that probabilities underflow, and label consistency rescales them.
pub struct NaiveBayes {
    /// ln class probabilities of every row (kept whole while rows × classes is small).
    ln_proba: ClassRows,
    vocabulary: Vocabulary,
}

impl NaiveBayes {
    pub fn vocabulary(&self) -> Vocabulary {
        self.vocabulary
    }

    /// Row `i`'s ln class probabilities, into `out` (`classes` long).
    pub fn read_ln_row(&self, i: usize, out: &mut [f32]) {
        self.ln_proba.read(i, out);
    }
}

/// What naive Bayes reads of a row: which distinct features it contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocabulary {
    /// Lower-cased words and adjacent word pairs.
    Words,
    /// Character 3- to 5-grams within words: reads misspellings, inflections and rare words
    /// through their parts, where the word model has seen too few of them.
    CharGrams,
}

/// Reusable buffers for one row's feature set.
struct Scratch<'t> {
    vocabulary: Vocabulary,
    tokens: Vec<&'t str>,
    lower: String,
    chars: Vec<char>,
    words: Vec<u64>,
}

impl<'t> Scratch<'t> {
    fn new(vocabulary: Vocabulary) -> Self {
        Self {
            vocabulary,
            tokens: Vec::new(),
            lower: String::new(),
            chars: Vec::new(),
            words: Vec::new(),
        }
    }

    fn words_of(&mut self, text: &'t str) -> &[u64] {
        tokenize(text, &mut self.tokens);
        match self.vocabulary {
            Vocabulary::Words => word_set(&self.tokens, &mut self.lower, &mut self.words),
            Vocabulary::CharGrams => char_gram_set(&self.tokens, &mut self.chars, &mut self.words),
        }
        &self.words
    }
}

/// Per-class counts of pool rows containing each word or word pair. The vocabulary is keyed by
/// full 64-bit hashes rather than the hashed feature space: a word unique to one row must count
/// zero once that row is left out, and a shared slot would make it look seen (measured: the
/// exact vocabulary ranks flipped labels better).
struct Counts {
    slot: FxHashMap<u64, u32>,
    /// `slots × classes`, slot-major.
    feature: Vec<f32>,
    /// Sum of `feature` per class.
    total: Vec<f64>,
    /// Pool rows per class.
    rows: Vec<f64>,
    classes: usize,
}

impl Counts {
    /// `None` when the table would pass [`MAX_COUNT_CELLS`].
    fn learn(
        texts: &TextArena,
        pool: &[u32],
        labels: &[u32],
        classes: usize,
        vocabulary: Vocabulary,
    ) -> Option<Self> {
        let mut c = Counts {
            slot: FxHashMap::default(),
            feature: Vec::new(),
            total: vec![0.0; classes],
            rows: vec![0.0; classes],
            classes,
        };
        let mut s = Scratch::new(vocabulary);
        for &i in pool {
            let y = labels[i as usize] as usize;
            let words = s.words_of(texts.get(i as usize));
            for &w in words {
                let next = c.slot.len() as u32;
                let slot = *c.slot.entry(w).or_insert(next);
                if slot == next {
                    if c.feature.len() + classes > MAX_COUNT_CELLS {
                        return None;
                    }
                    c.feature.resize(c.feature.len() + classes, 0.0);
                }
                c.feature[slot as usize * classes + y] += 1.0;
            }
            c.total[y] += words.len() as f64;
            c.rows[y] += 1.0;
        }
        Some(c)
    }

    /// Class probabilities of a row with word set `words`; `own` is its label when the row is
    /// in the pool, whose counts are then taken out first.
    fn predict(&self, words: &[u64], own: Option<usize>, out: &mut [f32]) {
        let classes = self.classes;
        let vocabulary = self.slot.len() as f64;
        let pool_rows: f64 = self.rows.iter().sum::<f64>() - own.map_or(0.0, |_| 1.0);
        let mine = |c: usize| if own == Some(c) { 1.0 } else { 0.0 };
        let mut logp = [0f64; MAX_CLASSES];
        let logp = &mut logp[..classes];
        for (c, lp) in logp.iter_mut().enumerate() {
            let denom = self.total[c] - mine(c) * words.len() as f64 + ALPHA * vocabulary;
            *lp = ((self.rows[c] - mine(c) + 1.0) / (pool_rows + classes as f64)).ln()
                - words.len() as f64 * denom.ln();
        }
        // A batch of words is looked up before any is summed: the count table is far larger
        // than the caches, and lookups with no work between them wait on memory together
        // instead of in turn. The sum runs in word order all the same.
        let mut slots = [None; LOOKUP_BATCH];
        for batch in words.chunks(LOOKUP_BATCH) {
            for (slot, w) in slots.iter_mut().zip(batch) {
                *slot = self.slot.get(w).copied();
            }
            for slot in &slots[..batch.len()] {
                // Words the pool never saw count zero in every class.
                let counts =
                    slot.map(|s| &self.feature[s as usize * classes..(s as usize + 1) * classes]);
                for (c, lp) in logp.iter_mut().enumerate() {
                    let n = counts.map_or(0.0, |k| k[c] as f64) - mine(c);
                    *lp += ln_smoothed(n);
                }
            }
        }
        let max = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let ln_sum = logp.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        for (o, v) in out.iter_mut().zip(logp.iter()) {
            *o = (v - max - ln_sum) as f32;
        }
    }
}

/// Leave-one-out class probabilities for every row: pool rows are scored with their own counts
/// taken out; other rows by the whole pool. `None` with fewer than two or more than
/// [`MAX_CLASSES`] classes, or a vocabulary too large for the count table.
pub fn leave_one_out(
    texts: &TextArena,
    pool: &[u32],
    labels: &[u32],
    classes: usize,
    vocabulary: Vocabulary,
) -> Option<NaiveBayes> {
    if !(2..=MAX_CLASSES).contains(&classes) {
        return None;
    }
    let n = labels.len();
    let counts = Counts::learn(texts, pool, labels, classes, vocabulary)?;
    let mut in_pool = vec![false; n];
    for &r in pool {
        in_pool[r as usize] = true;
    }
    let (ln_proba, _) = ClassRows::build(
        n,
        classes,
        Domain::LnProba,
        Some(labels),
        CHUNK,
        |first, block| {
            let mut s = Scratch::new(vocabulary);
            for (o, out) in block.chunks_mut(classes).enumerate() {
                let i = first + o;
                let own = in_pool[i].then_some(labels[i] as usize);
                counts.predict(s.words_of(texts.get(i)), own, out);
            }
        },
    );
    Some(NaiveBayes {
        ln_proba,
        vocabulary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looked_up_logarithms_are_the_computed_ones() {
        let counts = (0..LN_TABLE + 3).map(|m| m as f64);
        let odd = [-1.0, 0.5, 2.25, 1e9];
        for n in counts.chain(odd) {
            assert_eq!(
                ln_smoothed(n).to_bits(),
                (n + ALPHA).ln().to_bits(),
                "n = {n}"
            );
        }
    }

    fn arena(texts: &[&str]) -> TextArena {
        let mut arena = TextArena::default();
        for t in texts {
            arena.push(t);
        }
        arena
    }

    #[test]
    fn a_row_is_judged_without_its_own_label() {
        // "zebra" appears once, in row 0 (class 1): with its own count removed, it says nothing
        // about class 1, so row 0 is read by its other word, which class 0 owns.
        let texts = [
            "zebra calm",
            "calm day",
            "calm night",
            "calm sea",
            "storm wild",
            "storm loud",
        ];
        let labels = [1, 0, 0, 0, 1, 1];
        let pool: Vec<u32> = (0..6).collect();
        let nb = leave_one_out(&arena(&texts), &pool, &labels, 2, Vocabulary::Words).unwrap();
        let p = |i: usize| {
            let mut row = [0.0f32; 2];
            nb.read_ln_row(i, &mut row);
            row.iter().map(|v| v.exp()).collect::<Vec<f32>>()
        };
        let p0 = p(0);
        assert!((p0[0] + p0[1] - 1.0).abs() < 1e-5);
        assert!(
            p0[0] > 0.6,
            "row 0 reads as class 0 once its own counts are out: {p0:?}"
        );
        // Rows of class 1 that share "storm" read as class 1.
        assert!(p(4)[1] > 0.6, "{:?}", p(4));
        assert!(p(1)[0] > 0.6, "{:?}", p(1));
    }

    #[test]
    fn character_grams_read_a_word_never_seen_whole() {
        // Row 4's "gloomiest" appears nowhere else, but its parts ("gloom") do, in class 0;
        // the word model has nothing to go on, the character model does.
        let texts = [
            "a gloomy film",
            "gloom everywhere",
            "a sunny film",
            "sunny everywhere",
            "gloomiest",
        ];
        let labels = [0, 0, 1, 1, 1];
        let pool: Vec<u32> = (0..5).collect();
        let p = |v| {
            let nb = leave_one_out(&arena(&texts), &pool, &labels, 2, v).unwrap();
            let mut row = [0.0f32; 2];
            nb.read_ln_row(4, &mut row);
            row[0].exp()
        };
        assert!(
            p(Vocabulary::CharGrams) > 0.8,
            "{}",
            p(Vocabulary::CharGrams)
        );
        assert!(
            (p(Vocabulary::Words) - 0.5).abs() < 0.1,
            "{}",
            p(Vocabulary::Words)
        );
    }

    #[test]
    fn too_many_classes_skip_the_model() {
        let texts = arena(&["a b", "c d"]);
        for v in [Vocabulary::Words, Vocabulary::CharGrams] {
            assert!(leave_one_out(&texts, &[0, 1], &[0, 1], MAX_CLASSES + 1, v).is_none());
            assert!(leave_one_out(&texts, &[0, 1], &[0, 0], 1, v).is_none());
        }
    }
}
