//! Multinomial logistic regression on sparse rows, trained by SGD, and cross-validated
//! out-of-fold class probabilities.
//!
//! Hand-written because the model is a few dozen lines on our own sparse layout; the linear
//! algebra crates measured for this project add minutes of build time and work on dense data.

use crate::classrows::{ClassRows, Domain};
use crate::features::{RowFeatures, RowScratch, Rows, SparseRows, HASH_DIM};
use crate::rng::SplitMix64;
use rayon::prelude::*;

/// Classes up to which the label models are built as they always were. Past it their weights,
/// training steps and the tables read from them are capped at about what this many classes
/// cost, so that memory follows rows and features, not rows × classes (see [`FOLD_WEIGHTS`]).
pub const FEW_CLASSES: usize = 20;

/// `budget` (what [`FEW_CLASSES`] classes cost) shared out among `classes`: unchanged up to
/// [`FEW_CLASSES`], then falling as `1 / classes`.
pub fn class_share(budget: usize, classes: usize) -> usize {
    if classes <= FEW_CLASSES {
        budget
    } else {
        (budget as u128 * FEW_CLASSES as u128 / classes as u128) as usize
    }
}

/// Weights of the cross-validated fold models together, over the hashed features: what
/// [`FEW_CLASSES`] classes take over the whole hashed space at the default 10 folds (800 MiB of
/// `f32`). Models that would take more share hashed features (see [`LinearModel`]).
const FOLD_WEIGHTS: usize = 10 * FEW_CLASSES * HASH_DIM;
/// The narrowest a model's hashed feature space is folded to.
const MIN_FOLDED_BITS: u32 = 10;

/// How many features ahead of the one being read [`LinearModel::logits`] asks for the weight
/// row: enough loads in flight to cover a trip to memory, few enough to be read before they
/// are evicted.
const PREFETCH_AHEAD: usize = 8;

/// A hint that the cache line holding `x` will be read soon. Only a hint: it changes no result.
#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` reads nothing into the program and cannot fault (here on a valid
    // reference besides); SSE, which it needs, is part of the x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Weights for `classes` outputs over `dim` sparse inputs, stored as `scale * v`.
///
/// Features below `min(dim, HASH_DIM)` are hashed n-grams; those above (user embeddings) are
/// dense. When `classes` weights for every hashed feature would pass `TrainParams::max_weights`,
/// the hashed features are folded onto a space `2^shift` times narrower (feature `j` reads row
/// `j >> shift`, which keeps each half of the space, words and characters, apart), as a narrower
/// hash would: more features share a weight, and memory stays within the budget.
#[derive(Debug, Clone)]
pub struct LinearModel {
    classes: usize,
    v: Vec<f32>,
    scale: f32,
    bias: Vec<f32>,
    /// Hashed features (`min(dim, HASH_DIM)`) and how far they are folded.
    hashed: usize,
    shift: u32,
}

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct TrainParams {
    pub epochs: usize,
    pub l2: f32,
    pub eta0: f32,
    /// Weights over the hashed features at most (`classes` per feature); see [`LinearModel`].
    pub max_weights: usize,
    /// Training steps (row visits) at most, whatever `epochs` says.
    pub max_visits: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        // Measured on public sentiment data with random label flips: lighter regularisation
        // and more passes than a quick fit rank wrong labels better (and the epochs are capped
        // by `MAX_VISITS_PER_FOLD` on large pools).
        Self {
            epochs: 12,
            l2: 5e-5,
            eta0: 0.5,
            max_weights: usize::MAX,
            max_visits: usize::MAX,
        }
    }
}

impl LinearModel {
    pub fn train<X: Rows + ?Sized>(
        x: &X,
        dim: usize,
        rows: &[u32],
        labels: &[u32],
        classes: usize,
        p: TrainParams,
        seed: u64,
    ) -> Self {
        let hashed = dim.min(HASH_DIM);
        let mut shift = 0;
        while hashed >> shift > 1 << MIN_FOLDED_BITS
            && (hashed >> shift).saturating_mul(classes) > p.max_weights
        {
            shift += 1;
        }
        let width = (hashed >> shift) + (dim - hashed);
        let mut m = LinearModel {
            classes,
            v: vec![0.0; width * classes],
            scale: 1.0,
            bias: vec![0.0; classes],
            hashed,
            shift,
        };
        let mut order: Vec<u32> = rows.to_vec();
        let mut rng = SplitMix64::new(seed);
        let mut logits = vec![0.0f32; classes];
        let mut t = 0f32;
        // Balanced class weights keep a skewed prior from drowning the minority class.
        let mut counts = vec![0usize; classes];
        for &r in rows {
            counts[labels[r as usize] as usize] += 1;
        }
        let cw: Vec<f32> = counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    0.0
                } else {
                    (rows.len() as f32 / (classes as f32 * c as f32)).sqrt()
                }
            })
            .collect();
        let mut visits = 0usize;
        'epochs: for _ in 0..p.epochs {
            rng.shuffle(&mut order);
            for &r in &order {
                if visits == p.max_visits {
                    break 'epochs;
                }
                visits += 1;
                let (idx, val) = x.row(r as usize);
                let y = labels[r as usize] as usize;
                let eta = p.eta0 / (1.0 + p.eta0 * p.l2 * t);
                t += 1.0;
                m.logits(idx, val, &mut logits);
                softmax(&mut logits);
                m.scale *= 1.0 - eta * p.l2;
                if m.scale < 1e-4 {
                    m.rescale();
                }
                let step = eta * cw[y] / m.scale;
                // The gradient of each class's logit, in place; classes whose gradient is
                // negligible are left alone. Weights are updated feature by feature, each
                // feature's row of class weights in one contiguous pass (every weight gets the
                // same updates in the same order as class by class, only faster).
                let grad = &mut logits;
                for (c, g) in grad.iter_mut().enumerate() {
                    *g -= if c == y { 1.0 } else { 0.0 };
                }
                for (&j, &xv) in idx.iter().zip(val) {
                    let r = m.row(j);
                    let w = &mut m.v[r * classes..(r + 1) * classes];
                    for (wc, &g) in w.iter_mut().zip(grad.iter()) {
                        if g.abs() < 1e-7 {
                            continue;
                        }
                        *wc -= step * g * xv;
                    }
                }
                for (b, &g) in m.bias.iter_mut().zip(grad.iter()) {
                    if g.abs() < 1e-7 {
                        continue;
                    }
                    *b -= eta * cw[y] * g * 0.1;
                }
            }
        }
        m.rescale();
        m
    }

    /// The weight row feature `j` reads.
    #[inline]
    fn row(&self, j: u32) -> usize {
        let j = j as usize;
        if j < self.hashed {
            j >> self.shift
        } else {
            j - self.hashed + (self.hashed >> self.shift)
        }
    }

    /// Weights held (`f32`).
    #[cfg(test)]
    pub fn weights(&self) -> usize {
        self.v.len()
    }

    fn rescale(&mut self) {
        let s = self.scale;
        self.v.iter_mut().for_each(|w| *w *= s);
        self.scale = 1.0;
    }

    /// Raw scores for one sparse row.
    pub fn logits(&self, idx: &[u32], val: &[f32], out: &mut [f32]) {
        out.copy_from_slice(&self.bias);
        let k = self.classes;
        for (t, (&j, &xv)) in idx.iter().zip(val).enumerate() {
            self.prefetch_ahead(idx, t);
            let r = self.row(j);
            let w = &self.v[r * k..r * k + k];
            for c in 0..k {
                out[c] += self.scale * w[c] * xv;
            }
        }
    }

    /// Starts loading the weight row of the feature `PREFETCH_AHEAD` places after `t`.
    ///
    /// The weights (one row per hashed feature, megabytes per model) are far larger than the
    /// caches and a row's features land on unrelated weight rows, so without this each feature
    /// waits on memory in turn: that wait was half the scan time of an 11,000-row news set
    /// (`perf`: the load in [`LinearModel::logits`]).
    #[inline(always)]
    fn prefetch_ahead(&self, idx: &[u32], t: usize) {
        if let Some(&j) = idx.get(t + PREFETCH_AHEAD) {
            if let Some(w) = self.v.get(self.row(j) * self.classes) {
                prefetch(w);
            }
        }
    }

    /// Raw scores for one sparse row from its features below `split` (into `low`) and from the
    /// rest (into `high`), each with half the bias: what the model reads in each block.
    pub fn block_logits(
        &self,
        idx: &[u32],
        val: &[f32],
        split: u32,
        low: &mut [f32],
        high: &mut [f32],
    ) {
        let k = self.classes;
        for c in 0..k {
            low[c] = 0.5 * self.bias[c];
            high[c] = 0.5 * self.bias[c];
        }
        for (t, (&j, &xv)) in idx.iter().zip(val).enumerate() {
            self.prefetch_ahead(idx, t);
            let r = self.row(j);
            let w = &self.v[r * k..r * k + k];
            let out = if j < split { &mut *low } else { &mut *high };
            for c in 0..k {
                out[c] += self.scale * w[c] * xv;
            }
        }
    }

    /// Class probabilities for one sparse row.
    pub fn predict(&self, idx: &[u32], val: &[f32], out: &mut [f32]) {
        self.logits(idx, val, out);
        softmax(out);
    }
}

pub fn softmax(z: &mut [f32]) {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    z.iter_mut().for_each(|v| *v /= s);
}

/// Out-of-fold class probabilities from `folds` models, each trained on the other folds.
pub struct CrossVal {
    pub fold_of: Vec<u8>,
    pub models: Vec<LinearModel>,
    /// Out-of-fold probabilities (kept whole while rows × classes is small, see `classrows`).
    pub proba: ClassRows,
    /// When asked for: row-major `n × 2 × classes` out-of-fold logits of the two feature blocks
    /// (see [`LinearModel::block_logits`]).
    pub block_logits: Option<Vec<f32>>,
    pub classes: usize,
}

impl CrossVal {
    /// Row `i`'s out-of-fold probabilities, into `out` (`classes` long).
    pub fn read_row(&self, i: usize, out: &mut [f32]) {
        self.proba.read(i, out);
    }

    /// Row `i`'s out-of-fold logits from its first (`block` 0) or second (`block` 1) block of
    /// features, when they were kept.
    pub fn block_row(&self, i: usize, block: usize) -> Option<&[f32]> {
        let k = self.classes;
        let start = (2 * i + block) * k;
        self.block_logits.as_ref().map(|b| &b[start..start + k])
    }
    pub fn model_for(&self, i: usize) -> &LinearModel {
        &self.models[self.fold_of[i] as usize]
    }
}

/// At most this many rows are featurised and held in memory to train the fold models; on a
/// larger dataset a seeded random sample is the training pool and the remaining rows are scored
/// by a fold model that never saw them (still out-of-sample), featurised on the fly. This bounds
/// memory and training time by the pool, not the row count.
pub const MAX_POOL: usize = 100_000;
/// Row visits per fold model at most: past a few hundred thousand SGD steps the model has
/// converged, so large pools take fewer epochs. Each visit costs `classes` weight updates per
/// feature, so past [`FEW_CLASSES`] classes the visits are shared out (see [`class_share`]),
/// down to [`MIN_VISITS_PER_FOLD`].
const MAX_VISITS_PER_FOLD: usize = 400_000;
const MIN_VISITS_PER_FOLD: usize = 20_000;

/// The rows label models train on: all rows when the dataset is small enough, else a seeded
/// random sample of [`MAX_POOL`] rows, ascending.
pub fn training_pool(n: usize, seed: u64) -> Vec<u32> {
    let mut rows: Vec<u32> = (0..n as u32).collect();
    if n > MAX_POOL {
        SplitMix64::new(seed ^ 0x9001).shuffle(&mut rows);
        rows.truncate(MAX_POOL);
        rows.sort_unstable();
    }
    rows
}

/// Out-of-fold class probabilities for every row: `folds` models, each trained on the pool rows
/// outside its fold; a row is scored by the model of its own fold. `x` holds the pool rows as
/// `feats` featurises them (row k is dataset row `pool[k]`); other rows are featurised on the fly.
/// With `keep_blocks: Some(split)`, the logits of the features below `split` and of the rest are
/// kept too (see [`LinearModel::block_logits`]).
#[allow(clippy::too_many_arguments)]
pub fn cross_validate(
    x: &SparseRows,
    feats: &RowFeatures,
    pool: &[u32],
    labels: &[u32],
    classes: usize,
    folds: usize,
    p: TrainParams,
    seed: u64,
    keep_blocks: Option<u32>,
) -> CrossVal {
    let n = labels.len();
    let mut perm: Vec<u32> = (0..n as u32).collect();
    SplitMix64::new(seed ^ 0xF01D).shuffle(&mut perm);
    let mut fold_of = vec![0u8; n];
    for (k, &r) in perm.iter().enumerate() {
        fold_of[r as usize] = (k % folds) as u8;
    }
    let pool_labels: Vec<u32> = pool.iter().map(|&r| labels[r as usize]).collect();
    let models: Vec<LinearModel> = (0..folds)
        .into_par_iter()
        .map(|f| {
            let train: Vec<u32> = (0..pool.len() as u32)
                .filter(|&k| fold_of[pool[k as usize] as usize] as usize != f)
                .collect();
            let epochs = p
                .epochs
                .min(MAX_VISITS_PER_FOLD / train.len().max(1))
                .max(1);
            let max_visits = class_share(MAX_VISITS_PER_FOLD, classes).max(MIN_VISITS_PER_FOLD);
            LinearModel::train(
                x,
                feats.dim(),
                &train,
                &pool_labels,
                classes,
                TrainParams {
                    epochs,
                    max_weights: FOLD_WEIGHTS / folds,
                    max_visits,
                    ..p
                },
                seed.wrapping_add(f as u64 * 7919),
            )
        })
        .collect();
    let in_pool = crate::features::pool_positions(n, pool);
    let blocks = if keep_blocks.is_some() {
        2 * classes
    } else {
        0
    };
    const CHUNK: usize = 2048;
    // Each chunk fills its probabilities and returns its block logits (empty unless kept),
    // concatenated in chunk order below.
    let (proba, kept) = ClassRows::build(
        n,
        classes,
        Domain::Proba,
        Some(labels),
        CHUNK,
        |first, block| {
            let mut s = RowScratch::default();
            let (mut idx, mut val) = (Vec::new(), Vec::new());
            let mut kept = vec![0.0f32; block.len() / classes * blocks];
            for (o, out) in block.chunks_mut(classes).enumerate() {
                let i = first + o;
                let (idx, val) = feats.pool_row(x, in_pool[i], i, &mut s, &mut idx, &mut val);
                let model = &models[fold_of[i] as usize];
                if let Some(split) = keep_blocks {
                    // One pass over the features gives both blocks, and their sum the logits.
                    let (low, high) = kept[o * blocks..(o + 1) * blocks].split_at_mut(classes);
                    model.block_logits(idx, val, split, low, high);
                    for (z, (l, h)) in out.iter_mut().zip(low.iter().zip(high.iter())) {
                        *z = l + h;
                    }
                    softmax(out);
                } else {
                    model.predict(idx, val, out);
                }
            }
            kept
        },
    );
    CrossVal {
        fold_of,
        models,
        proba,
        block_logits: keep_blocks.map(|_| kept.concat()),
        classes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::learn;
    use bezoar_data::TextArena;

    /// Two classes told apart by one word each, over varied filler.
    fn corpus(n: usize) -> (TextArena, Vec<u32>) {
        let mut texts = TextArena::default();
        let mut labels = Vec::new();
        for i in 0..n {
            let y = (i % 2) as u32;
            let word = if y == 0 { "dreadful" } else { "wonderful" };
            texts.push(&format!(
                "row {} filler {} {word} text {}",
                i % 17,
                i % 5,
                i % 11
            ));
            labels.push(y);
        }
        (texts, labels)
    }

    #[test]
    fn training_pool_is_all_rows_or_a_seeded_sorted_sample() {
        assert_eq!(training_pool(5, 1), vec![0, 1, 2, 3, 4]);
        let n = MAX_POOL + 5_000;
        let a = training_pool(n, 7);
        assert_eq!(a.len(), MAX_POOL);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert!(*a.last().unwrap() < n as u32);
        assert_eq!(a, training_pool(n, 7));
        assert_ne!(a, training_pool(n, 8));
    }

    #[test]
    fn rows_outside_the_pool_are_scored_by_an_unseen_fold_model() {
        let (texts, labels) = corpus(600);
        let pool: Vec<u32> = (0..600).filter(|i| i % 3 == 0).collect();
        let (tfidf, x) = learn(&texts, &pool);
        let feats = RowFeatures {
            tfidf: &tfidf,
            texts: &texts,
            embeddings: None,
        };
        let cv = cross_validate(
            &x,
            &feats,
            &pool,
            &labels,
            2,
            5,
            TrainParams::default(),
            3,
            None,
        );
        assert!(cv.proba.is_dense());
        let mut right = 0;
        let mut p = [0.0f32; 2];
        for (i, &y) in labels.iter().enumerate() {
            cv.read_row(i, &mut p);
            assert!((p[0] + p[1] - 1.0).abs() < 1e-4, "row {i}: {p:?}");
            if (p[1] > p[0]) == (y == 1) {
                right += 1;
            }
        }
        // Out-of-pool rows were never trained on, yet the label word decides them.
        assert!(right >= 590, "{right} of 600 right");
        // Same inputs, same probabilities.
        let run = |blocks| {
            cross_validate(
                &x,
                &feats,
                &pool,
                &labels,
                2,
                5,
                TrainParams::default(),
                3,
                blocks,
            )
        };
        assert_eq!(cv.proba, run(None).proba);
        let again = run(Some(crate::features::WORD_DIM as u32));
        assert_eq!(
            again.proba,
            run(Some(crate::features::WORD_DIM as u32)).proba
        );
        // Keeping the blocks sums the logits in another order: the same up to rounding.
        let mut q = [0.0f32; 2];
        for i in 0..600 {
            cv.read_row(i, &mut p);
            again.read_row(i, &mut q);
            for (a, b) in p.iter().zip(&q) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
        // The word and character blocks' logits add up to the model's.
        assert!(cv.block_row(0, 0).is_none());
        for i in [0, 1, 299] {
            let (words, chars) = (
                again.block_row(i, 0).unwrap(),
                again.block_row(i, 1).unwrap(),
            );
            let mut p = [words[0] + chars[0], words[1] + chars[1]];
            softmax(&mut p);
            again.read_row(i, &mut q);
            assert!(
                (p[0] - q[0]).abs() < 1e-4 && (p[1] - q[1]).abs() < 1e-4,
                "row {i}"
            );
        }
    }

    #[test]
    fn many_classes_fold_the_hashed_features_within_the_weight_budget() {
        // 60 classes, each told by its own word, over varied filler.
        let classes = 60;
        let mut texts = TextArena::default();
        let mut labels = Vec::new();
        for i in 0..1800 {
            let y = i % classes;
            texts.push(&format!(
                "filler {} row {} cue{y}word more {}",
                i % 13,
                i % 7,
                i % 5
            ));
            labels.push(y as u32);
        }
        let rows: Vec<u32> = (0..texts.len() as u32).collect();
        let (tfidf, x) = learn(&texts, &rows);
        let feats = RowFeatures {
            tfidf: &tfidf,
            texts: &texts,
            embeddings: None,
        };
        let budget = FOLD_WEIGHTS / 10;
        let p = TrainParams {
            max_weights: budget,
            ..TrainParams::default()
        };
        let m = LinearModel::train(&x, feats.dim(), &rows, &labels, classes, p, 1);
        // Past FEW_CLASSES classes the weights stay within the budget (instead of
        // HASH_DIM × classes), by folding the hashed space by powers of two.
        assert!(m.weights() <= budget, "{} weights", m.weights());
        assert!(m.weights() > budget / 2, "folded no further than needed");
        assert!(m.weights() < HASH_DIM * classes);
        // The folded model still reads each row's class.
        let mut out = vec![0.0f32; classes];
        let right = (0..texts.len())
            .filter(|&i| {
                let (idx, val) = x.row(i);
                m.predict(idx, val, &mut out);
                argmax(&out) == labels[i] as usize
            })
            .count();
        assert!(
            right * 10 >= texts.len() * 9,
            "{right} of {} right",
            texts.len()
        );
        // Up to FEW_CLASSES classes, the full hashed space.
        let few: Vec<u32> = labels.iter().map(|&y| y % FEW_CLASSES as u32).collect();
        let m = LinearModel::train(&x, feats.dim(), &rows, &few, FEW_CLASSES, p, 1);
        assert_eq!(m.weights(), HASH_DIM * FEW_CLASSES);
        // Visits and weights shared out past FEW_CLASSES classes, unchanged below.
        assert_eq!(class_share(400_000, FEW_CLASSES), 400_000);
        assert_eq!(class_share(400_000, 1_000), 8_000);
    }

    fn argmax(v: &[f32]) -> usize {
        (0..v.len())
            .max_by(|&a, &b| v[a].total_cmp(&v[b]).then(b.cmp(&a)))
            .unwrap_or(0)
    }
}
