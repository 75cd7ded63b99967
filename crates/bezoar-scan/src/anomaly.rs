//! Representation anomalies: rows that sit apart from their class, and tight sub-populations
//! of a class that look like one planted group.
//!
//! Every row becomes a unit vector: the user's embeddings when given (and allowed), otherwise a
//! sparse random projection of its hashed TF-IDF features to 128 dimensions, computed on the fly
//! per feature index (no dense projection matrix). Within each class (of at least 20 rows) the
//! detector fits, on a sample of at most 50,000 rows:
//!
//! 1. a spectral signature: the squared projection of the centred vector on the top eigenvector
//!    of the class covariance (poisoned sub-populations shift the mean along that direction);
//! 2. a whitened variant: the same after whitening with a trimmed (robust) covariance, which
//!    brings out directions that are unusual relative to the bulk of the class;
//! 3. a spherical 2-means split; the smaller cluster is suspicious when it is tighter than the
//!    rest and its members' nearest neighbours (among rows of every class) are almost all of
//!    this class — a planted group is label-exclusive in a way natural sub-topics are not;
//! 4. the mean cosine distance to the 10 nearest rows of the class (in a reference sample).
//!
//! Scores are mainly a ranking signal: ordinary rows get small graded scores, strong outliers
//! up to 0.4, members of a suspicious sub-cluster 0.35–0.65 (so the sub-cluster alone seldom
//! flags a row, but adds to what other detectors see).

use crate::context::{Context, DetectorOutput};
use crate::dense;
use crate::features::{SparseRows, HASH_DIM};
use crate::linear::{LinearModel, TrainParams};
use crate::result::{Detector, Evidence, Finding, Severity};
use crate::rng::SplitMix64;
use bezoar_data::{Embeddings, TextArena};
use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64_with_seed;

const SALT: u64 = 0x616e_6f6d_616c_7921;
/// Classes smaller than this are not modelled (their rows score 0).
const MIN_CLASS_ROWS: usize = 20;
/// Dimension of the random projection of the hashed text features.
const PROJ_DIM: usize = 128;
/// Output coordinates each input feature is added to (with a random sign).
const TAPS: usize = 4;
/// Embeddings wider than this are projected (like the text features) to `WIDE_DIM`.
const MAX_EMBED_DIM: usize = 512;
const WIDE_DIM: usize = 256;
/// Per-class fit sample: at most this many rows, and at most `FIT_WORK / D²` (covariance cost).
const FIT_ROWS: usize = 50_000;
const MIN_FIT_ROWS: usize = 5_000;
const FIT_WORK: f64 = 3e9;
/// Per-class reference sample for nearest-neighbour distances; shrunk on large inputs so that
/// scoring every row costs at most about `KNN_WORK` multiply-adds.
const REF_ROWS: usize = 4_000;
const MIN_REF_ROWS: usize = 128;
const KNN_WORK: f64 = 1.5e10;
/// Rows from all classes against which sub-cluster label exclusivity is measured.
const GLOBAL_ROWS: usize = 4_000;
/// Sub-cluster members (and, for the baseline, other class rows) probed for exclusivity.
const PROBES: usize = 500;
const K: usize = 10;
const POWER_ITERS: usize = 50;
const KMEANS_ITERS: usize = 20;
/// A sub-cluster holds between these shares of its class.
const MIN_SUB_SHARE: f64 = 0.002;
const MAX_SUB_SHARE: f64 = 0.45;
const MIN_SUB_ROWS: usize = 5;
/// The sub-cluster's mean distance to its centroid must be below this times the rest's.
const TIGHTNESS: f64 = 0.9;
/// A sub-cluster that is not tighter must be this much more label-exclusive than the rest of
/// its class (relative to what is left to 1, and in absolute terms).
const MIN_EXCESS: f64 = 0.4;
const MIN_EXCESS_ABS: f64 = 0.1;
/// Robust cutoff for outliers: median + this × MAD.
const MAD_CUTOFF: f64 = 6.0;
/// Share of the class (lowest spectral scores) used for the robust covariance.
const TRIM_QUANTILE: f64 = 0.7;
/// Score of ordinary rows: this × their outlier percentile within the class.
const BASE_SCALE: f32 = 0.05;
/// Outliers score between these (by how far beyond the cutoff they lie).
const OUTLIER_MIN: f32 = 0.1;
const OUTLIER_MAX: f32 = 0.4;
const SUB_MIN: f32 = 0.35;
/// The most an anomaly score may be, below the default flag threshold of 0.5.
const ALONE_MAX: f32 = 0.45;
const SUB_MAX: f32 = 0.65;
/// Part of the sub-cluster range that orders members by their margin toward the small cluster.
const SUB_SPREAD: f32 = 0.1;
const CHUNK: usize = 1024;
/// Surface n-gram hashing width, n-gram lengths and the characters of a row read.
const SURFACE_BITS: u32 = 18;
const SURFACE_DIM: usize = 1 << SURFACE_BITS;
const SURFACE_GRAMS: std::ops::RangeInclusive<usize> = 2..=4;
const SURFACE_MAX_CHARS: usize = 2_000;
/// Rows per class the surface label models train on.
const MODEL_ROWS: usize = 25_000;
/// Also analyse the shared text features weighted by the cross-validated label model.
const SHARED_VIEW: bool = false;

/// Where row vectors come from.
enum Source<'a> {
    Dense(&'a Embeddings),
    Wide(&'a Embeddings),
    /// Surface character n-grams of the raw text (see [`Surface`]).
    Surface(Box<Surface<'a>>),
    /// The shared text features scaled by the row's out-of-fold label model's reliance on each.
    Weighted {
        x: &'a SparseRows,
        weights: Vec<Vec<f32>>,
        fold_of: &'a [u8],
    },
}

struct Repr<'a> {
    src: Source<'a>,
    dim: usize,
    seed: u64,
}

/// Reusable buffers for building one row's vector.
#[derive(Default)]
struct Scratch {
    chars: Vec<char>,
    raw: Vec<u32>,
}

/// Surface text features: hashed, case-sensitive character 2–4-grams of the raw text between
/// start and end markers, sublinear TF × IDF. Unlike the shared features (which deliberately
/// normalise tokenisation so a trigger is found however it is spaced), these keep casing,
/// spacing, punctuation and how sentences open and close — what a paraphrased or restyled
/// sub-population changes. Each feature is then scaled by how much a label model trained on
/// these features relies on it (the L2 norm over classes of its weight; two models, each row
/// weighted by the one that did not train on it), so the view emphasises whatever the labels
/// depend on: for a dirty-label style or syntax backdoor, the planted style.
struct Surface<'a> {
    texts: &'a TextArena,
    idf: Vec<f32>,
    /// Per-feature importance of the two half-models (empty: unweighted).
    imp: Vec<Vec<f32>>,
    seed: u64,
}

impl Surface<'_> {
    /// Which half (0 or 1) row `i` belongs to for model training.
    fn half(&self, i: usize) -> usize {
        ((i as u64 ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 63) as usize
    }

    /// Sorted hashed n-grams of row `i` (repeated per occurrence) into `s.raw`.
    fn grams(&self, i: usize, s: &mut Scratch) {
        s.chars.clear();
        s.chars.push('\u{2}');
        s.chars
            .extend(self.texts.get(i).chars().take(SURFACE_MAX_CHARS));
        s.chars.push('\u{3}');
        s.raw.clear();
        for n in SURFACE_GRAMS {
            if s.chars.len() < n {
                break;
            }
            for w in s.chars.windows(n) {
                let mut h: u64 = 0x84222325_cbf29ce4 ^ n as u64;
                for &c in w {
                    h = (h ^ c as u64).wrapping_mul(0x0100_0000_01b3);
                }
                s.raw
                    .push((h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SURFACE_BITS)) as u32);
            }
        }
        s.raw.sort_unstable();
    }

    /// Visit (feature, sublinear TF × IDF) of row `i`.
    fn features(&self, i: usize, s: &mut Scratch, mut f: impl FnMut(u32, f32)) {
        self.grams(i, s);
        let raw = &s.raw;
        let mut a = 0;
        while a < raw.len() {
            let mut b = a + 1;
            while b < raw.len() && raw[b] == raw[a] {
                b += 1;
            }
            let j = raw[a];
            f(
                j,
                (1.0 + ((b - a) as f32).ln()) * self.idf.get(j as usize).copied().unwrap_or(1.0),
            );
            a = b;
        }
    }

    /// Learn IDF on a sample, then (with two or more classes) the two half-models.
    fn build<'c>(ctx: &Context<'c>, by_class: &[Vec<u32>], seed: u64) -> Surface<'c> {
        let mut rng = SplitMix64::new(seed ^ 0x5355_5246);
        let mut surf = Surface {
            texts: &ctx.ds.texts,
            idf: Vec::new(),
            imp: Vec::new(),
            seed,
        };
        // Training sample: at most MODEL_ROWS per class (also used for IDF).
        let mut rows: Vec<u32> = by_class
            .iter()
            .flat_map(|ids| sample(ids, MODEL_ROWS, &mut rng))
            .collect();
        rows.sort_unstable();
        let grams: Vec<(Vec<u32>, Vec<f32>)> = rows
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut s = Scratch::default();
                chunk
                    .iter()
                    .map(|&i| {
                        let (mut idx, mut tf) = (Vec::new(), Vec::new());
                        surf.features(i as usize, &mut s, |j, v| {
                            idx.push(j);
                            tf.push(v);
                        });
                        (idx, tf)
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .concat();
        let mut df = vec![0u32; SURFACE_DIM];
        for (idx, _) in &grams {
            for &j in idx {
                df[j as usize] += 1;
            }
        }
        let m = rows.len() as f32;
        surf.idf = df
            .iter()
            .map(|&d| ((1.0 + m) / (1.0 + d as f32)).ln() + 1.0)
            .collect();
        if ctx.classes < 2 || by_class.iter().filter(|ids| !ids.is_empty()).count() < 2 {
            return surf;
        }
        // Sparse rows (TF × IDF, unit length) of the sample, indexed locally.
        let mut x = SparseRows {
            indptr: vec![0],
            idx: Vec::new(),
            val: Vec::new(),
        };
        for (idx, tf) in &grams {
            let start = x.val.len();
            x.idx.extend_from_slice(idx);
            x.val
                .extend(idx.iter().zip(tf).map(|(&j, &t)| t * surf.idf[j as usize]));
            let v = &mut x.val[start..];
            dense::normalize(v);
            x.indptr.push(x.idx.len());
        }
        drop(grams);
        let labels: Vec<u32> = rows.iter().map(|&i| ctx.labels[i as usize]).collect();
        let halves: Vec<Vec<u32>> = (0..2)
            .map(|h| {
                (0..rows.len() as u32)
                    .filter(|&r| surf.half(rows[r as usize] as usize) == h)
                    .collect()
            })
            .collect();
        let params = TrainParams::default();
        surf.imp = halves
            .par_iter()
            .enumerate()
            .map(|(h, train)| {
                let model = LinearModel::train(
                    &x,
                    SURFACE_DIM,
                    train,
                    &labels,
                    ctx.classes,
                    params,
                    seed ^ h as u64,
                );
                importances(&model, ctx.classes, SURFACE_DIM)
            })
            .collect();
        surf
    }
}

/// Per-feature importance of a label model: the L2 norm over classes of each feature's weight
/// (read through `logits`, which is what the model exposes).
fn importances(m: &LinearModel, classes: usize, dim: usize) -> Vec<f32> {
    let mut bias = vec![0.0f32; classes];
    m.logits(&[], &[], &mut bias);
    let mut w = vec![0.0f32; dim];
    w.par_chunks_mut(4096).enumerate().for_each(|(c, block)| {
        let mut out = vec![0.0f32; classes];
        for (o, slot) in block.iter_mut().enumerate() {
            m.logits(&[(c * 4096 + o) as u32], &[1.0], &mut out);
            *slot = out
                .iter()
                .zip(&bias)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
                .sqrt();
        }
    });
    w
}

impl<'a> Repr<'a> {
    /// The representations analysed: the surface view of the text, plus the user's embeddings
    /// when given and allowed.
    fn all(ctx: &'a Context, by_class: &[Vec<u32>]) -> Vec<Self> {
        let seed = ctx.cfg.seed ^ SALT;
        let mut out = vec![Repr {
            src: Source::Surface(Box::new(Surface::build(ctx, by_class, seed))),
            dim: PROJ_DIM,
            seed,
        }];
        if SHARED_VIEW {
            if let Some(cv) = ctx.cv.as_ref().filter(|cv| cv.fold_of.len() == ctx.n()) {
                let weights = cv
                    .models
                    .iter()
                    .map(|m| importances(m, cv.classes, HASH_DIM))
                    .collect();
                out.push(Repr {
                    src: Source::Weighted {
                        x: &ctx.x,
                        weights,
                        fold_of: &cv.fold_of,
                    },
                    dim: PROJ_DIM,
                    seed,
                });
            }
        }
        if let (Some(e), true) = (&ctx.ds.embeddings, ctx.cfg.use_embeddings) {
            if e.dim > 0 && e.values.len() >= e.dim * ctx.n() {
                if e.dim <= MAX_EMBED_DIM {
                    out.push(Repr {
                        src: Source::Dense(e),
                        dim: e.dim,
                        seed,
                    });
                } else {
                    out.push(Repr {
                        src: Source::Wide(e),
                        dim: WIDE_DIM,
                        seed,
                    });
                }
            }
        }
        out
    }

    fn describe(&self) -> &'static str {
        match self.src {
            Source::Dense(_) => "user embeddings",
            Source::Wide(_) => "user embeddings, randomly projected",
            Source::Surface(_) => "surface character n-grams weighted by a label model",
            Source::Weighted { .. } => "text features weighted by the label model",
        }
    }

    /// Add input feature `j` with weight `v` to its `TAPS` output coordinates.
    #[inline]
    fn scatter(&self, j: u32, v: f32, out: &mut [f32]) {
        let h = xxh3_64_with_seed(&j.to_le_bytes(), self.seed);
        for t in 0..TAPS {
            let bits = (h >> (16 * t)) as u32 & 0xFFFF;
            let d = (bits & 0x7FFF) as usize % self.dim;
            out[d] += if bits & 0x8000 != 0 { -v } else { v };
        }
    }

    /// Row `i` as a unit vector (all zeros for an empty row).
    fn fill(&self, i: usize, out: &mut [f32], s: &mut Scratch) {
        match &self.src {
            Source::Dense(e) => out.copy_from_slice(e.row(i)),
            Source::Wide(e) => {
                out.fill(0.0);
                for (j, &v) in e.row(i).iter().enumerate() {
                    self.scatter(j as u32, v, out);
                }
            }
            Source::Surface(surf) => {
                out.fill(0.0);
                let imp = surf.imp.get(1 - surf.half(i)).or(surf.imp.first());
                surf.features(i, s, |j, v| {
                    let w = imp.map_or(1.0, |imp| imp[j as usize]);
                    self.scatter(j, v * w, out);
                });
            }
            Source::Weighted {
                x,
                weights,
                fold_of,
            } => {
                out.fill(0.0);
                let w = &weights[fold_of[i] as usize % weights.len()];
                let (idx, val) = x.row(i);
                for (&j, &v) in idx.iter().zip(val) {
                    self.scatter(j, v * w[j as usize], out);
                }
            }
        }
        dense::normalize(out);
    }

    /// The rows `ids` stacked into a row-major matrix.
    fn matrix(&self, ids: &[u32]) -> Vec<f32> {
        let d = self.dim;
        let mut m = vec![0.0f32; ids.len() * d];
        m.par_chunks_mut(d * CHUNK)
            .zip(ids.par_chunks(CHUNK))
            .for_each(|(block, rows)| {
                let mut s = Scratch::default();
                for (out, &i) in block.chunks_exact_mut(d).zip(rows) {
                    self.fill(i as usize, out, &mut s);
                }
            });
        m
    }
}

/// `m` distinct elements of `ids` chosen at random, in ascending order (all of them if fewer).
fn sample(ids: &[u32], m: usize, rng: &mut SplitMix64) -> Vec<u32> {
    if m >= ids.len() {
        return ids.to_vec();
    }
    let mut v = ids.to_vec();
    for i in 0..m {
        let j = i + rng.below(v.len() - i);
        v.swap(i, j);
    }
    v.truncate(m);
    v.sort_unstable();
    v
}

/// Indices into `refs` (and whether `ids` are sorted) of the row with id `i`, if sampled.
fn position(ids: &[u32], i: u32) -> Option<usize> {
    ids.binary_search(&i).ok()
}

/// Median and median absolute deviation.
fn median_mad(v: &[f32]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let mut a: Vec<f32> = v.to_vec();
    let mid = a.len() / 2;
    a.select_nth_unstable_by(mid, |x, y| x.total_cmp(y));
    let med = a[mid] as f64;
    let mut dev: Vec<f32> = v.iter().map(|&x| (x as f64 - med).abs() as f32).collect();
    dev.select_nth_unstable_by(mid, |x, y| x.total_cmp(y));
    (med, dev[mid] as f64)
}

/// Rank percentiles in [0, 1] (ties share their average rank).
fn percentiles(v: &[f32]) -> Vec<f32> {
    let m = v.len();
    let mut out = vec![0.0f32; m];
    if m < 2 {
        return out;
    }
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]).then(a.cmp(&b)));
    let mut i = 0;
    while i < m {
        let mut j = i + 1;
        while j < m && v[order[j]] == v[order[i]] {
            j += 1;
        }
        let p = ((i + j - 1) as f64 / 2.0 / (m - 1) as f64) as f32;
        for &o in &order[i..j] {
            out[o] = p;
        }
        i = j;
    }
    out
}

/// A deterministic unit start vector for power iteration.
fn start_vector(d: usize, rng: &mut SplitMix64) -> Vec<f64> {
    (0..d).map(|_| rng.normal()).collect()
}

/// Spherical 2-means from `init`: (assignment, unit centroids, total cosine distance).
fn two_means(m: &[f32], d: usize, init: [Vec<f32>; 2]) -> (Vec<u8>, [Vec<f32>; 2], f64) {
    let rows = m.len() / d;
    let mut cent = init;
    let mut assign = vec![u8::MAX; rows];
    let mut total = 0.0;
    for it in 0..=KMEANS_ITERS {
        type Part = (Vec<u8>, [Vec<f64>; 2], [usize; 2], f64);
        let parts: Vec<Part> = (0..rows.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut a = Vec::with_capacity(CHUNK);
                let mut sums = [vec![0.0f64; d], vec![0.0f64; d]];
                let mut counts = [0usize; 2];
                let mut dist = 0.0f64;
                for r in c * CHUNK..((c + 1) * CHUNK).min(rows) {
                    let x = &m[r * d..(r + 1) * d];
                    let (s0, s1) = (dense::dot(x, &cent[0]), dense::dot(x, &cent[1]));
                    let k = usize::from(s1 > s0);
                    a.push(k as u8);
                    counts[k] += 1;
                    dist += 1.0 - s0.max(s1) as f64;
                    for (s, &v) in sums[k].iter_mut().zip(x) {
                        *s += v as f64;
                    }
                }
                (a, sums, counts, dist)
            })
            .collect();
        let mut sums = [vec![0.0f64; d], vec![0.0f64; d]];
        let mut counts = [0usize; 2];
        let mut changed = false;
        total = 0.0;
        let mut r = 0;
        for (a, s, cnt, dist) in parts {
            for k in 0..2 {
                counts[k] += cnt[k];
                for (x, y) in sums[k].iter_mut().zip(&s[k]) {
                    *x += y;
                }
            }
            total += dist;
            for v in a {
                changed |= assign[r] != v;
                assign[r] = v;
                r += 1;
            }
        }
        if it == KMEANS_ITERS || !changed || counts[0] == 0 || counts[1] == 0 {
            break;
        }
        for k in 0..2 {
            let mut c: Vec<f32> = sums[k].iter().map(|&v| v as f32).collect();
            dense::normalize(&mut c);
            cent[k] = c;
        }
    }
    (assign, cent, total)
}

/// Rows of the global (all-class) sample, for label exclusivity.
struct Global {
    ids: Vec<u32>,
    m: Vec<f32>,
    labels: Vec<u32>,
}

impl Global {
    /// Share of the `K` nearest global rows of each probe (a row id and its vector) that carry
    /// label `c`.
    fn label_share(&self, probes: &[(u32, &[f32])], d: usize, c: u32) -> f64 {
        let k = K.min(self.ids.len().saturating_sub(1));
        if k == 0 || probes.is_empty() {
            return 0.0;
        }
        let counts: Vec<(usize, usize)> = probes
            .par_iter()
            .map(|&(id, x)| {
                // Neighbour labels: keep (similarity, label) pairs for the top k.
                let mut top: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
                let skip = position(&self.ids, id);
                for (j, r) in self.m.chunks_exact(d).enumerate() {
                    if Some(j) == skip {
                        continue;
                    }
                    let s = dense::dot(x, r);
                    if top.len() < k || s > top[top.len() - 1].0 {
                        let pos = top.iter().position(|t| t.0 < s).unwrap_or(top.len());
                        top.insert(pos, (s, self.labels[j]));
                        top.truncate(k);
                    }
                }
                (top.iter().filter(|t| t.1 == c).count(), top.len())
            })
            .collect();
        let (hit, all) = counts.iter().fold((0, 0), |(a, b), &(h, t)| (a + h, b + t));
        hit as f64 / all.max(1) as f64
    }
}

/// A suspicious sub-cluster of one class.
struct SubCluster {
    share_fit: f64,
    tight_ratio: f64,
    exclusive: f64,
    baseline: f64,
    strength: f32,
}

/// Everything fitted on one class's sample.
struct ClassFit {
    mean: Vec<f32>,
    dir: Vec<f32>,
    rmean: Vec<f32>,
    wdir: Vec<f32>,
    /// Unit centroids (small cluster first), when the class split in two.
    cent: Option<[Vec<f32>; 2]>,
    sub: Option<SubCluster>,
    ref_ids: Vec<u32>,
    refs: Vec<f32>,
}

/// Per-row statistics (for classes that were modelled).
#[derive(Default)]
struct RowStats {
    spectral: Vec<f32>,
    whitened: Vec<f32>,
    margin: Vec<f32>,
    knn: Vec<f32>,
}

fn fit_class(
    repr: &Repr,
    ctx: &Context,
    c: usize,
    ids: &[u32],
    global: &Global,
    rng: &mut SplitMix64,
) -> ClassFit {
    let d = repr.dim;
    let n = ctx.n();
    let fit_cap = ((FIT_WORK / (d * d) as f64) as usize).clamp(MIN_FIT_ROWS, FIT_ROWS);
    let knn_cap = ((KNN_WORK / (n as f64 * d as f64)) as usize).clamp(MIN_REF_ROWS, REF_ROWS);
    let fit_ids = sample(ids, fit_cap, rng);
    let m = repr.matrix(&fit_ids);

    // 1. Spectral signature.
    let mu = dense::mean(&m, d, &|_| true);
    let cov = dense::scatter(&m, d, &mu, &|_| true);
    let (v, _) = dense::power_iteration(d, POWER_ITERS, &start_vector(d, rng), &mut |x, y| {
        dense::matvec(&cov, d, x, y)
    });
    let mean: Vec<f32> = mu.iter().map(|&x| x as f32).collect();
    let dir: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let proj: Vec<f32> = m
        .par_chunks(d)
        .map(|x| dense::dot(x, &dir) - dense::dot(&mean, &dir))
        .collect();
    let sp: Vec<f32> = proj.iter().map(|p| p * p).collect();

    // 2. Whitened by a covariance of the class's least spectral rows.
    let (rmean, wdir) =
        whitened_direction(&m, d, &sp, rng).unwrap_or_else(|| (mean.clone(), dir.clone()));

    // 3. Two-means split and its exclusivity.
    let (cent, sub) = split(&m, d, &fit_ids, &proj, ctx, c, global, rng);

    // 4. Reference rows for nearest-neighbour distances (a subset of the fit sample).
    let ref_ids = sample(&fit_ids, knn_cap, rng);
    let mut refs = Vec::with_capacity(ref_ids.len() * d);
    for &id in &ref_ids {
        let r = position(&fit_ids, id).unwrap_or(0);
        refs.extend_from_slice(&m[r * d..(r + 1) * d]);
    }
    ClassFit {
        mean,
        dir,
        rmean,
        wdir,
        cent,
        sub,
        ref_ids,
        refs,
    }
}

/// Robust mean and the direction `w` such that `(w·(x - mean))²` is the squared projection on
/// the top eigenvector of the class covariance whitened by a trimmed covariance.
fn whitened_direction(
    m: &[f32],
    d: usize,
    sp: &[f32],
    rng: &mut SplitMix64,
) -> Option<(Vec<f32>, Vec<f32>)> {
    let rows = sp.len();
    if rows < 2 {
        return None;
    }
    let mut sorted = sp.to_vec();
    let q = ((rows - 1) as f64 * TRIM_QUANTILE) as usize;
    sorted.select_nth_unstable_by(q, |a, b| a.total_cmp(b));
    let cut = sorted[q];
    let keep = |r: usize| sp[r] <= cut;
    let rmu = dense::mean(m, d, &keep);
    let robust = dense::scatter(m, d, &rmu, &keep);
    let second = dense::scatter(m, d, &rmu, &|_| true);
    let trace: f64 = (0..d).map(|i| robust[i * d + i]).sum();
    let mut lambda = (1e-3 * trace / d as f64).max(1e-9);
    let mut l = Vec::new();
    let mut ok = false;
    for _ in 0..5 {
        l = robust.clone();
        for i in 0..d {
            l[i * d + i] += lambda;
        }
        if dense::cholesky(&mut l, d) {
            ok = true;
            break;
        }
        lambda *= 10.0;
    }
    if !ok {
        return None;
    }
    // Cz = L⁻¹ M L⁻ᵀ, applied implicitly.
    let mut tmp = vec![0.0f64; d];
    let (u, _) = dense::power_iteration(d, POWER_ITERS, &start_vector(d, rng), &mut |x, y| {
        tmp.copy_from_slice(x);
        dense::solve_lower_t(&l, d, &mut tmp);
        dense::matvec(&second, d, &tmp, y);
        dense::solve_lower(&l, d, y);
    });
    let mut w = u;
    dense::solve_lower_t(&l, d, &mut w);
    // Scale so scores are comparable in size to the plain spectral ones (ranking is unaffected).
    dense::normalize64(&mut w);
    Some((
        rmu.iter().map(|&x| x as f32).collect(),
        w.iter().map(|&x| x as f32).collect(),
    ))
}

/// Spherical 2-means of the class sample; returns the centroids (small first) and, when the small
/// cluster is tight and label-exclusive, its description.
#[allow(clippy::too_many_arguments)]
fn split(
    m: &[f32],
    d: usize,
    fit_ids: &[u32],
    proj: &[f32],
    ctx: &Context,
    c: usize,
    global: &Global,
    rng: &mut SplitMix64,
) -> (Option<[Vec<f32>; 2]>, Option<SubCluster>) {
    let rows = fit_ids.len();
    let mut inits: Vec<[Vec<f32>; 2]> = Vec::new();
    // k-means++: a random first centre, the second drawn in proportion to squared distance.
    let first = rng.below(rows);
    let c0 = m[first * d..(first + 1) * d].to_vec();
    let dist: Vec<f64> = m
        .par_chunks(d)
        .map(|x| ((1.0 - dense::dot(x, &c0)) as f64).max(0.0).powi(2))
        .collect();
    let total: f64 = dist.iter().sum();
    if total > 1e-12 {
        let mut u = rng.unit() * total;
        let mut second = rows - 1;
        for (r, &w) in dist.iter().enumerate() {
            if u < w {
                second = r;
                break;
            }
            u -= w;
        }
        inits.push([c0, m[second * d..(second + 1) * d].to_vec()]);
    }
    // The split along the spectral direction.
    let mut halves = [vec![0.0f32; d], vec![0.0f32; d]];
    let mut counts = [0usize; 2];
    for (r, &p) in proj.iter().enumerate() {
        let k = usize::from(p > 0.0);
        counts[k] += 1;
        for (a, &x) in halves[k].iter_mut().zip(&m[r * d..(r + 1) * d]) {
            *a += x;
        }
    }
    if counts[0] > 0 && counts[1] > 0 {
        for h in halves.iter_mut() {
            dense::normalize(h);
        }
        inits.push(halves);
    }
    let best = inits
        .into_iter()
        .map(|init| two_means(m, d, init))
        .min_by(|a, b| a.2.total_cmp(&b.2));
    let Some((assign, cent, _)) = best else {
        return (None, None);
    };
    let n1 = assign.iter().filter(|&&a| a == 1).count();
    let small = u8::from(n1 < rows - n1);
    let cent = if small == 0 {
        cent
    } else {
        [cent[1].clone(), cent[0].clone()]
    };
    let members: Vec<usize> = (0..rows).filter(|&r| assign[r] == small).collect();
    let others: Vec<usize> = (0..rows).filter(|&r| assign[r] != small).collect();
    let mean_dist = |rs: &[usize], ce: &[f32]| -> f64 {
        rs.iter()
            .map(|&r| (1.0 - dense::dot(&m[r * d..(r + 1) * d], ce)) as f64)
            .sum::<f64>()
            / rs.len().max(1) as f64
    };
    let (d_small, d_big) = (mean_dist(&members, &cent[0]), mean_dist(&others, &cent[1]));
    let share = members.len() as f64 / rows as f64;
    let prior = ctx.prior[c];
    if members.len() < MIN_SUB_ROWS
        || !(MIN_SUB_SHARE..=MAX_SUB_SHARE).contains(&share)
        || prior >= 0.99
    {
        return (Some(cent), None);
    }
    let probes = |rs: &[usize]| -> Vec<(u32, &[f32])> {
        let step = rs.len().div_ceil(PROBES).max(1);
        rs.iter()
            .step_by(step)
            .map(|&r| (fit_ids[r], &m[r * d..(r + 1) * d]))
            .collect()
    };
    let exclusive = global.label_share(&probes(&members), d, c as u32);
    let baseline = global.label_share(&probes(&others), d, c as u32);
    let tight_ratio = d_small / d_big.max(1e-12);
    // How far beyond the class's ordinary exclusivity, and how much tighter, in [0, 1].
    let excess = ((exclusive - baseline) / (1.0 - baseline).max(1e-9)).clamp(0.0, 1.0);
    let tight = ((TIGHTNESS - tight_ratio) / 0.4).clamp(0.0, 1.0);
    if std::env::var_os("BEZOAR_ANOMALY_DEBUG").is_some() {
        eprintln!(
            "anomaly: class {c}: sub-cluster {} rows ({share:.3}), tightness {tight_ratio:.3}, exclusive {exclusive:.3} vs {baseline:.3} (prior {prior:.3})",
            members.len()
        );
    }
    // Label-exclusive well beyond the class prior, and either tighter than the rest of the class
    // or clearly more exclusive than the class's ordinary rows (a restyled group need not be
    // tighter, but its neighbours are its own kind).
    let exclusive_enough = exclusive >= prior + 0.5 * (1.0 - prior);
    let distinct =
        tight_ratio < TIGHTNESS || (excess >= MIN_EXCESS && exclusive - baseline >= MIN_EXCESS_ABS);
    if !(exclusive_enough && distinct) {
        return (Some(cent), None);
    }
    let strength = (0.6 * excess + 0.4 * tight) as f32;
    let sub = SubCluster {
        share_fit: share,
        tight_ratio,
        exclusive,
        baseline,
        strength,
    };
    (Some(cent), Some(sub))
}

/// Score every row of a class against its fit: (spectral projection, whitened projection,
/// margin toward the small cluster, mean distance to the nearest reference rows).
/// Rows are taken in blocks that are compared with each reference row in turn, so the
/// reference sample streams through the cache once per block rather than once per row.
fn score_class(repr: &Repr, ids: &[u32], fit: &ClassFit) -> Vec<[f32; 4]> {
    const BLOCK: usize = 32;
    let d = repr.dim;
    let k = K.min(fit.ref_ids.len().saturating_sub(1)).max(1);
    let mdir = dense::dot(&fit.mean, &fit.dir);
    let mw = dense::dot(&fit.rmean, &fit.wdir);
    ids.par_chunks(BLOCK)
        .map(|chunk| {
            let mut xs = vec![0.0f32; chunk.len() * d];
            let mut s = Scratch::default();
            for (x, &i) in xs.chunks_exact_mut(d).zip(chunk) {
                repr.fill(i as usize, x, &mut s);
            }
            let skip: Vec<Option<usize>> =
                chunk.iter().map(|&i| position(&fit.ref_ids, i)).collect();
            let mut best: Vec<Vec<f32>> = vec![Vec::with_capacity(k + 1); chunk.len()];
            for (j, r) in fit.refs.chunks_exact(d).enumerate() {
                for (b, x) in xs.chunks_exact(d).enumerate() {
                    if skip[b] == Some(j) {
                        continue;
                    }
                    push_top(&mut best[b], dense::dot(x, r), k);
                }
            }
            xs.chunks_exact(d)
                .zip(&best)
                .map(|(x, best)| {
                    let sp = dense::dot(x, &fit.dir) - mdir;
                    let wh = dense::dot(x, &fit.wdir) - mw;
                    let margin = match &fit.cent {
                        Some(c) => dense::dot(x, &c[0]) - dense::dot(x, &c[1]),
                        None => 0.0,
                    };
                    let knn = if best.is_empty() {
                        0.0
                    } else {
                        1.0 - best.iter().sum::<f32>() / best.len() as f32
                    };
                    [sp, wh, margin, knn]
                })
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .concat()
}

/// Keep the `k` largest values seen, in descending order.
#[inline]
fn push_top(best: &mut Vec<f32>, s: f32, k: usize) {
    if best.len() == k {
        if s <= best[k - 1] {
            return;
        }
        best.pop();
    }
    let pos = best.iter().position(|&b| b < s).unwrap_or(best.len());
    best.insert(pos, s);
}

pub(crate) fn detect(ctx: &Context) -> DetectorOutput {
    analyse(ctx).0
}

fn analyse(ctx: &Context) -> (DetectorOutput, Vec<RowStats>) {
    let n = ctx.n();
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); ctx.classes];
    for (i, &y) in ctx.labels.iter().enumerate() {
        if let Some(v) = by_class.get_mut(y as usize) {
            v.push(i as u32);
        }
    }
    if by_class.iter().all(|ids| ids.len() < MIN_CLASS_ROWS) {
        let why = format!("no class has at least {MIN_CLASS_ROWS} rows");
        return (
            DetectorOutput::skipped(Detector::Anomaly, n, &why),
            Vec::new(),
        );
    }
    let mut scores = vec![0.0f32; n];
    let mut findings = Vec::new();
    let mut all_stats = Vec::new();
    for (k, repr) in Repr::all(ctx, &by_class).iter().enumerate() {
        let mut rng =
            SplitMix64::new(ctx.cfg.seed ^ SALT ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (s, f, st) = analyse_repr(ctx, repr, &by_class, &mut rng);
        // Representation anomalies rank rows; on their own they never flag one.
        for (a, b) in scores.iter_mut().zip(&s) {
            *a = a.max(b.min(ALONE_MAX));
        }
        findings.extend(f);
        all_stats.push(st);
    }
    (
        DetectorOutput {
            detector: Detector::Anomaly,
            scores,
            findings,
            skipped: None,
        },
        all_stats,
    )
}

/// `(v - median) / MAD` for each value (MAD floored so constant data gives finite values).
fn robust_z(v: &[f32]) -> Vec<f32> {
    let (med, mad) = median_mad(v);
    let mad = mad.max(1e-9 * med.abs()).max(1e-12);
    v.iter().map(|&x| ((x as f64 - med) / mad) as f32).collect()
}

/// Scores, findings and per-row statistics of one representation.
fn analyse_repr(
    ctx: &Context,
    repr: &Repr,
    by_class: &[Vec<u32>],
    rng: &mut SplitMix64,
) -> (Vec<f32>, Vec<Finding>, RowStats) {
    let n = ctx.n();
    let d = repr.dim;
    let mut stats = RowStats {
        spectral: vec![0.0; n],
        whitened: vec![0.0; n],
        margin: vec![0.0; n],
        knn: vec![0.0; n],
    };
    let all: Vec<u32> = (0..n as u32).collect();
    let gids = sample(&all, GLOBAL_ROWS, rng);
    drop(all);
    let global = Global {
        m: repr.matrix(&gids),
        labels: gids.iter().map(|&i| ctx.labels[i as usize]).collect(),
        ids: gids,
    };

    let mut scores = vec![0.0f32; n];
    let mut findings = Vec::new();
    for (c, ids) in by_class.iter().enumerate() {
        if ids.len() < MIN_CLASS_ROWS {
            continue;
        }
        let fit = fit_class(repr, ctx, c, ids, &global, rng);
        let raw = score_class(repr, ids, &fit);
        let col = |k: usize| raw.iter().map(|s| s[k]).collect::<Vec<f32>>();
        let (sp, wh, margin, knn) = (col(0), col(1), col(2), col(3));
        let sp2: Vec<f32> = sp.iter().map(|v| v * v).collect();
        let wh2: Vec<f32> = wh.iter().map(|v| v * v).collect();
        for (r, &i) in ids.iter().enumerate() {
            let i = i as usize;
            stats.spectral[i] = sp2[r];
            stats.whitened[i] = wh2[r];
            stats.margin[i] = margin[r];
            stats.knn[i] = knn[r];
        }

        // Outliers: the spectral projection or the neighbour distance beyond median + 6·MAD.
        let (z_sp, z_kn) = (robust_z(&sp), robust_z(&knn));
        let mut spectral_outliers = 0usize;
        let mut distance_outliers = 0usize;
        let mut outliers = Vec::new();
        let mut outlier_score = vec![0.0f32; ids.len()];
        for r in 0..ids.len() {
            let (a, b) = (z_sp[r].abs(), z_kn[r]);
            let z = a.max(b);
            if z > MAD_CUTOFF as f32 {
                spectral_outliers += usize::from(a > MAD_CUTOFF as f32);
                distance_outliers += usize::from(b > MAD_CUTOFF as f32);
                outliers.push(ids[r]);
                let e = ((z - MAD_CUTOFF as f32) / MAD_CUTOFF as f32).min(1.0);
                outlier_score[r] = OUTLIER_MIN + (OUTLIER_MAX - OUTLIER_MIN) * e;
            }
        }

        // Ordinary rows: a small graded score. With a suspicious sub-cluster, closeness to it
        // ranks the rest of the class; otherwise the mean percentile of the three statistics.
        let rank: Vec<f32> = if fit.sub.is_some() {
            percentiles(&margin)
        } else {
            let (a, b, k) = (percentiles(&sp2), percentiles(&wh2), percentiles(&knn));
            (0..ids.len()).map(|r| (a[r] + b[r] + k[r]) / 3.0).collect()
        };
        for r in 0..ids.len() {
            scores[ids[r] as usize] = (BASE_SCALE * rank[r]).max(outlier_score[r]);
        }

        let label = ctx.label_name(c).to_string();
        if let Some(sub) = &fit.sub {
            let members: Vec<usize> = (0..ids.len()).filter(|&r| margin[r] > 0.0).collect();
            let within = percentiles(&members.iter().map(|&r| margin[r]).collect::<Vec<f32>>());
            for (j, &r) in members.iter().enumerate() {
                let s = SUB_MIN
                    + (SUB_MAX - SUB_MIN - SUB_SPREAD) * sub.strength
                    + SUB_SPREAD * within[j];
                let i = ids[r] as usize;
                scores[i] = scores[i].max(s.min(SUB_MAX));
            }
            let rows: Vec<u32> = members.iter().map(|&r| ids[r]).collect();
            let class_share = rows.len() as f64 / ids.len() as f64;
            let severity = if rows.len() as f64 >= 0.01 * n as f64 && sub.exclusive >= 0.95 {
                Severity::High
            } else {
                Severity::Medium
            };
            findings.push(Finding {
                detector: Detector::Anomaly,
                severity,
                title: format!(
                    "tight sub-cluster of {} rows inside label {label} ({:.0}% of the class), {:.0}% of their neighbours labelled {label} (prior {:.0}%)",
                    rows.len(),
                    100.0 * class_share,
                    100.0 * sub.exclusive,
                    100.0 * ctx.prior[c]
                ),
                subject: format!("label {label} sub-cluster ({})", repr.describe()),
                target_label: Some(label.clone()),
                rows,
                evidence: vec![
                    Evidence { name: "share_of_class", value: class_share },
                    Evidence { name: "share_of_class_sample", value: sub.share_fit },
                    Evidence { name: "neighbour_label_share", value: sub.exclusive },
                    Evidence { name: "class_neighbour_label_share", value: sub.baseline },
                    Evidence { name: "label_prior", value: ctx.prior[c] },
                    Evidence { name: "tightness_ratio", value: sub.tight_ratio },
                    Evidence { name: "strength", value: sub.strength as f64 },
                ],
            });
        }
        if !outliers.is_empty() {
            findings.push(Finding {
                detector: Detector::Anomaly,
                severity: Severity::Low,
                title: format!(
                    "{} outlying rows in label {label} ({:.1}% of the class): {spectral_outliers} far along the class's top direction, {distance_outliers} far from their nearest neighbours (beyond median + {MAD_CUTOFF}·MAD)",
                    outliers.len(),
                    100.0 * outliers.len() as f64 / ids.len() as f64
                ),
                subject: format!("label {label} outliers ({})", repr.describe()),
                target_label: Some(label),
                rows: outliers,
                evidence: vec![
                    Evidence { name: "class_rows", value: ids.len() as f64 },
                    Evidence { name: "spectral_outliers", value: spectral_outliers as f64 },
                    Evidence { name: "distance_outliers", value: distance_outliers as f64 },
                    Evidence { name: "dimensions", value: d as f64 },
                ],
            });
        }
    }
    (scores, findings, stats)
}

#[cfg(test)]
mod probe {
    use super::*;
    use crate::context::Context;
    use crate::features;
    use crate::ScanConfig;

    fn auroc(scores: &[f32], truth: &[bool]) -> f64 {
        let p = percentiles(scores);
        let pos: Vec<f64> = p
            .iter()
            .zip(truth)
            .filter(|(_, t)| **t)
            .map(|(s, _)| *s as f64)
            .collect();
        let np = pos.len() as f64;
        let nn = truth.len() as f64 - np;
        let m = truth.len() as f64;
        let rank_sum: f64 = pos.iter().map(|s| s * (m - 1.0) + 1.0).sum();
        (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
    }

    #[test]
    #[ignore]
    fn bench_probe() {
        use bezoar_data::{read_dataset, ColumnSpec, ReadOptions};
        let sets = std::env::var("SETS").unwrap_or("sst2-stylebkd-20pct,sst2-synbkd-20pct".into());
        for set in sets.split(',') {
            for parquet in [false, true] {
                let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../../shared/bench")
                    .join(set);
                let truth_text = std::fs::read_to_string(dir.join("truth.csv")).unwrap();
                let tm: std::collections::HashMap<String, bool> = truth_text
                    .lines()
                    .skip(1)
                    .map(|l| {
                        let mut f = l.split(',');
                        (f.next().unwrap().to_string(), f.next().unwrap() == "1")
                    })
                    .collect();
                let file = if parquet {
                    "train.parquet"
                } else {
                    "train.jsonl"
                };
                let opts = ReadOptions {
                    columns: ColumnSpec {
                        id: Some("id".into()),
                        embedding: parquet.then(|| "embedding".to_string()),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let ds = read_dataset(&dir.join(file), &opts).unwrap();
                let truth: Vec<bool> = (0..ds.len()).map(|i| tm[ds.ids.get(i).as_ref()]).collect();
                let cfg = ScanConfig::default();
                let (tfidf, x) = features::build(&ds.texts);
                let n = ds.len();
                let counts = ds.labels.counts();
                let cv = crate::linear::cross_validate(
                    &x,
                    HASH_DIM,
                    &ds.labels.codes,
                    ds.num_classes(),
                    5,
                    Default::default(),
                    cfg.seed,
                );
                let ctx = Context {
                    ds: &ds,
                    cfg: &cfg,
                    labels: &ds.labels.codes,
                    classes: ds.num_classes(),
                    prior: counts.iter().map(|&c| c as f64 / n as f64).collect(),
                    tfidf,
                    x,
                    cv: Some(cv),
                    cv_label: None,
                };
                if let Ok(dir) = std::env::var("DUMP") {
                    use std::io::Write;
                    let cvr = ctx.cv.as_ref().unwrap();
                    let imp: Vec<Vec<f32>> = cvr
                        .models
                        .iter()
                        .map(|m| importances(m, 2, HASH_DIM))
                        .collect();
                    let mut f = std::fs::File::create(format!("{dir}/{set}.bin")).unwrap();
                    let w = |f: &mut std::fs::File, b: &[u8]| f.write_all(b).unwrap();
                    w(&mut f, &(n as u64).to_le_bytes());
                    w(&mut f, &(ctx.x.idx.len() as u64).to_le_bytes());
                    for &p in &ctx.x.indptr {
                        w(&mut f, &(p as u64).to_le_bytes());
                    }
                    for &p in &ctx.x.idx {
                        w(&mut f, &p.to_le_bytes());
                    }
                    for &p in &ctx.x.val {
                        w(&mut f, &p.to_le_bytes());
                    }
                    w(&mut f, &cvr.fold_of);
                    for m in &imp {
                        for &v in m {
                            w(&mut f, &v.to_le_bytes());
                        }
                    }
                    for &l in &ds.labels.codes {
                        w(&mut f, &l.to_le_bytes());
                    }
                    for &t in &truth {
                        w(&mut f, &[t as u8]);
                    }
                }
                let t = std::time::Instant::now();
                let (out, sts) = analyse(&ctx);
                let st = &sts[0];
                let secs = t.elapsed().as_secs_f64();
                let c1: Vec<usize> = (0..n).filter(|&i| ds.labels.codes[i] == 1).collect();
                let sub = |v: &[f32]| c1.iter().map(|&i| v[i]).collect::<Vec<f32>>();
                let t1: Vec<bool> = c1.iter().map(|&i| truth[i]).collect();
                let neg = |v: &[f32]| v.iter().map(|x| -x).collect::<Vec<f32>>();
                eprintln!(
                    "{set} {file} {secs:.2}s auroc all={:.3} class1={:.3} | sp={:.3} wh={:.3} margin={:.3} knn={:.3} -knn={:.3} | flagged={}",
                    auroc(&out.scores, &truth),
                    auroc(&sub(&out.scores), &t1),
                    auroc(&sub(&st.spectral), &t1),
                    auroc(&sub(&st.whitened), &t1),
                    auroc(&sub(&st.margin), &t1),
                    auroc(&sub(&st.knn), &t1),
                    auroc(&neg(&sub(&st.knn)), &t1),
                    out.scores.iter().filter(|&&s| s >= 0.5).count()
                );
                for st in &sts[1..] {
                    eprintln!(
                        "    emb: sp={:.3} wh={:.3} margin={:.3} knn={:.3}",
                        auroc(&sub(&st.spectral), &t1),
                        auroc(&sub(&st.whitened), &t1),
                        auroc(&sub(&st.margin), &t1),
                        auroc(&sub(&st.knn), &t1)
                    );
                }
                for f in &out.findings {
                    let tp = f.rows.iter().filter(|&&r| truth[r as usize]).count();
                    eprintln!(
                        "   [{}] {} | poisoned {tp}/{} | {:?}",
                        f.severity.name(),
                        f.title,
                        f.rows.len(),
                        f.evidence
                            .iter()
                            .map(|e| format!("{}={:.3}", e.name, e.value))
                            .collect::<Vec<_>>()
                    );
                }
            }
        }
    }
}
