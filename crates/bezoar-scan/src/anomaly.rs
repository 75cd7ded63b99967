//! Representation anomalies: rows that sit apart from their class, and tight sub-populations
//! of a class that look like one planted group.
//!
//! Every row becomes a unit vector in one or two representations:
//!
//! - the text, as hashed case-sensitive byte 2–4-grams of the raw string (casing, spacing,
//!   punctuation, how sentences open and close), each scaled by how much a label model trained
//!   on them relies on it, then randomly projected to 128 dimensions. Looking through what a
//!   label model uses is what makes spectral signatures work: a dirty-label style or syntax
//!   backdoor is, to the model, one strong feature of its target label. (With a single label
//!   there is nothing to weight by, and the shared TF-IDF features are projected instead.)
//! - the user's embeddings, when given and allowed.
//!
//! The projections are sparse (each feature adds to a few coordinates with random signs, derived
//! from a hash of the feature — no dense projection matrix). Within each class of at least 20
//! rows the detector fits, on a sample of at most 50,000 rows:
//!
//! 1. a spectral signature: the projection on the top eigenvector of the class covariance
//!    (power iteration), whose square grows with a sub-population's shift of the class mean;
//! 2. a whitened variant: the top direction after whitening by a trimmed covariance (Cholesky),
//!    which brings out directions unusual relative to the bulk of the class;
//! 3. a spherical 2-means split; the smaller cluster (0.2%–45% of the class) is suspicious when
//!    its members' nearest neighbours among rows of every class are far more often of this
//!    class than the prior (and than the rest of the class's), and it is tighter than the rest
//!    or clearly more label-exclusive than it — planted groups are label-exclusive in a way
//!    natural sub-topics are not;
//! 4. the mean cosine distance to the 10 nearest rows of the class (in a reference sample).
//!
//! Scores are a ranking signal and never flag a row alone (at most 0.45): ordinary rows get
//! small graded scores, robust outliers 0.1–0.4; in a class with a suspicious sub-cluster every
//! row is scored by its likeness to the sub-cluster (margin toward its centroid, neighbour
//! label share), members at least 0.35.
//!
//! Dense algebra (covariance, Cholesky, power iteration) is hand-written in `dense`: the sizes
//! are tiny, and faer or nalgebra would dominate the build time.

use crate::context::{Context, DetectorOutput};
use crate::dense;
use crate::features::{ChunkedRows, SparseRows};
use crate::linear::{class_share, LinearModel, TrainParams, FEW_CLASSES};
use crate::result::{Detector, Evidence, Finding, Severity};
use crate::rng::SplitMix64;
use bezoar_data::{Embeddings, TextArena};
use rayon::prelude::*;

const SALT: u64 = 0x616e_6f6d_616c_7921;
/// Classes smaller than this are not modelled (their rows score 0).
const MIN_CLASS_ROWS: usize = 20;
/// Dimension of the random projections of text features.
const PROJ_DIM: usize = 128;
const _: () = assert!(
    PROJ_DIM == 128,
    "surface taps take seven bits per coordinate"
);
/// Output coordinates each projected feature (TF-IDF or wide-embedding dimension) is added to,
/// with random signs.
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
const MIN_REF_ROWS: usize = 64;
const KNN_WORK: f64 = 8e9;
/// Rows from all classes against which sub-cluster label exclusivity is measured.
const GLOBAL_ROWS: usize = 4_000;
/// Rows probed per label-exclusivity estimate (a candidate's members, or the whole class).
const PROBES: usize = 300;
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
/// its class (relative to what is left to 1); any sub-cluster, by the absolute margin.
const MIN_EXCESS: f64 = 0.4;
/// A sub-cluster's rows must have neighbours of their own label at least this far from the
/// class prior towards 1: a backdoor's restyled rows neighbour almost only each other, while an
/// ordinary topical group of a class is merely leaning towards its label.
const MIN_EXCLUSIVE: f64 = 0.6;
const MIN_EXCESS_ABS: f64 = 0.1;
/// Robust cutoff for outliers: median + this × MAD.
const MAD_CUTOFF: f64 = 6.0;
/// Share of the class (lowest spectral scores) used for the robust covariance.
const TRIM_QUANTILE: f64 = 0.7;
/// Score of ordinary rows: this × their outlier percentile within the class. A tie-breaker, an
/// order of magnitude below what the label readers give ordinary rows (median about 0.01): on
/// label-flip data this rank runs against the flips (AUROC 0.2–0.3 alone), since a flipped row
/// sits among neighbours of its true label and looks less like a member of its new class's
/// clusters, so at 0.05 it cost the pooled ranking up to 0.035 AUROC.
const BASE_SCALE: f32 = 0.005;
/// Outliers score between these (by how far beyond the cutoff they lie).
const OUTLIER_MIN: f32 = 0.1;
const OUTLIER_MAX: f32 = 0.4;
/// The most an anomaly score may be, below the default flag threshold of 0.5: representation
/// anomalies rank rows and add to other evidence, but never flag a row on their own.
const ALONE_MAX: f32 = 0.45;
/// Members of a suspicious sub-cluster score between these: the sub-cluster's strength sets
/// the level, each member's margin toward the small cluster orders members within it.
const SUB_MIN: f32 = 0.35;
const SUB_MAX: f32 = ALONE_MAX;
const SUB_STRENGTH_SHARE: f32 = 0.5;
/// Members of a high (confirmed) sub-cluster score between these, above the default flag
/// threshold: a confirmed group finding is flagged as a group, its members ordered by how much
/// they look like members.
const GROUP_MIN: f32 = 0.55;
const GROUP_MAX: f32 = 0.8;
/// Scores of a medium-severity sub-cluster's class are scaled by this: as often a natural topic as
/// a planted group, it ranks its rows about as ordinary rows are ranked by the label readers.
const MEDIUM_SUB_WEIGHT: f32 = 0.02;
/// A sub-cluster whose defining words have at least this share of their rows inside it owns
/// them: a topic of its class, reported at most medium. Planted patterns are made of words the
/// corpus uses everywhere (their share inside is near the cluster's share of those words' use).
/// Measured on the bench's sub-clusters: planted patterns 0.49 (ag, syntactic paraphrase) and
/// 0.65 (sst2, syntactic paraphrase); topics 0.74–0.98 (birds in hsol, Iraq and space news and
/// stock-quote links in ag, swearing in offenseval). Any threshold chosen between the two
/// groups of four corpora puts the fifth corpus's clusters on the same side.
const OWNED_BY_TOPIC: f64 = 0.7;
/// A planted dirty-label group is written from other classes' rows, so the label readers doubt
/// its rows' label at least about as much as the rest of the class's; a topic of the class reads
/// as the class more surely than the class's other rows do. A sub-cluster whose members carry
/// less than this share of the rest's mean doubt is a topic, at most medium. Measured with the
/// pooled readers: planted syntactic paraphrases 0.84 (sst2) and 1.03 (ag); natural topics
/// 0.11–0.59 on the six clean corpora and on long documents joined from them (the stock-quote
/// cluster of AG business news, whose defining words spread over many joined rows, 0.12). Every
/// cut between the two groups, chosen on all corpora but one, keeps the one left out on its
/// side; 0.5 is the round value between them.
const MIN_MEMBER_DOUBT: f64 = 0.5;
const CHUNK: usize = 1024;
/// Surface n-grams: hashing width, n-gram lengths (bytes) and the bytes of a row read.
const SURFACE_BITS: u32 = 18;
const SURFACE_DIM: usize = 1 << SURFACE_BITS;
/// Projection taps per surface n-gram (rows have hundreds of n-grams, so two suffice).
const SURFACE_TAPS: usize = 2;
const SURFACE_MIN_GRAM: usize = 2;
const SURFACE_MAX_GRAM: usize = 4;
const SURFACE_MAX_BYTES: usize = 4_000;
/// Rows per class the surface label models train on, and in all: the sample's sparse rows take
/// about 2 KB each, so past four classes of 25,000 the classes share [`MODEL_TOTAL`] (memory
/// bounded by rows, not rows × classes).
const MODEL_ROWS: usize = 25_000;
const MODEL_TOTAL: usize = 100_000;
/// Row visits of each half-model when there are more than `FEW_CLASSES` classes, shared out
/// among them (each visit updates `classes` weights per feature): what `FEW_CLASSES` classes
/// take on a full sample (12 epochs over half of it).
const MODEL_VISITS: usize = 12 * MODEL_TOTAL / 2;

/// Where row vectors come from.
enum Source<'a> {
    Dense(&'a Embeddings),
    Wide(&'a Embeddings),
    /// Surface n-grams of the raw text weighted by a label model (see [`Surface`]).
    Surface(Box<Surface<'a>>),
}

struct Repr<'a> {
    src: Source<'a>,
    dim: usize,
    seed: u64,
}

/// Reusable buffers for building one row's vector.
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    raw: Vec<u64>,
    /// Distinct n-gram hashes of `raw` with their counts.
    distinct: Vec<(u64, u32)>,
    /// Open-addressing slots into `distinct` (`u32::MAX` = empty).
    slots: Vec<u32>,
    /// Occurrence counters by 12 hash bits, for sublinear TF while projecting (all zero
    /// between rows).
    seen: Vec<u8>,
}

impl Scratch {
    /// Count the distinct hashes in `raw` into `distinct` (first-occurrence order) with a small
    /// open-addressing table: linear in the row, unlike sorting.
    fn count(&mut self) {
        self.distinct.clear();
        let size = (2 * self.raw.len()).next_power_of_two().max(16);
        self.slots.clear();
        self.slots.resize(size, u32::MAX);
        let mask = size - 1;
        for &h in &self.raw {
            let mut p = (h >> 20) as usize & mask;
            loop {
                let slot = self.slots[p];
                if slot == u32::MAX {
                    self.slots[p] = self.distinct.len() as u32;
                    self.distinct.push((h, 1));
                    break;
                }
                let e = &mut self.distinct[slot as usize];
                if e.0 == h {
                    e.1 += 1;
                    break;
                }
                p = (p + 1) & mask;
            }
        }
    }
}

/// Occurrence counters per row for sublinear TF while projecting (12 hash bits).
const SEEN_SLOTS: usize = 4096;

/// `INCREMENT[k]` = ln(k) − ln(k − 1) (1 for k = 1): what the k-th occurrence of an n-gram adds
/// to its sublinear term frequency.
static INCREMENT: [f32; 256] = {
    // ln has no const form; a short series does: ln(k / (k - 1)) = 2·atanh(1 / (2k - 1)).
    let mut t = [0.0f32; 256];
    t[1] = 1.0;
    let mut k = 2;
    while k < 256 {
        let x = 1.0 / (2 * k - 1) as f64;
        let (mut term, mut sum, mut p) = (x, 0.0, 1);
        while p < 40 {
            sum += term / p as f64;
            term *= x * x;
            p += 2;
        }
        t[k] = (2.0 * sum) as f32;
        k += 1;
    }
    t
};

/// Sublinear term frequency, 1 + ln(count).
#[inline]
fn sublinear(count: u32) -> f32 {
    if count <= 1 {
        1.0
    } else {
        1.0 + (count as f32).ln()
    }
}

/// Surface text features: hashed, case-sensitive byte 2–4-grams of the raw text between
/// start and end markers, sublinear TF × IDF. Unlike the shared features (which deliberately normalise
/// tokenisation so a trigger is found however it is spaced), these keep casing, spacing,
/// punctuation and how sentences open and close — what a paraphrased or restyled
/// sub-population changes. Each feature is then scaled by how much a label model trained on
/// these features relies on it (the L2 norm over classes of its weight; two models, each row
/// weighted by the one that did not train on it), so the view emphasises whatever the labels
/// depend on — for a dirty-label style or syntax backdoor, the planted style. This is the
/// spectral-signature idea (look at the data through what a trained model uses) with a model
/// cheap enough to train here.
struct Surface<'a> {
    texts: &'a TextArena,
    /// IDF × importance for each half-model (one table, IDF alone, without a model).
    weight: Vec<Vec<f32>>,
    seed: u64,
}

impl Surface<'_> {
    /// Which half (0 or 1) row `i` belongs to for model training.
    fn half(&self, i: usize) -> usize {
        (mix(i as u64 ^ self.seed) >> 63) as usize
    }

    /// Hashed n-grams of row `i`, one per occurrence, into `s.raw` (unsorted). The n-grams are
    /// of UTF-8 bytes (a multi-byte character simply spans more grams), hashed incrementally;
    /// the top bits of a hash give its feature (see [`bucket`]), other bits its projection taps.
    fn grams(&self, i: usize, s: &mut Scratch) {
        let text = self.texts.get(i).as_bytes();
        s.bytes.clear();
        s.bytes.push(2);
        s.bytes
            .extend_from_slice(&text[..text.len().min(SURFACE_MAX_BYTES)]);
        s.bytes.push(3);
        s.raw.clear();
        let b = &s.bytes;
        for p in 0..b.len().saturating_sub(1) {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for (n, &c) in b[p..(p + SURFACE_MAX_GRAM).min(b.len())].iter().enumerate() {
                h = (h ^ c as u64).wrapping_mul(0x0100_0000_01b3);
                if n + 1 >= SURFACE_MIN_GRAM {
                    s.raw.push(h.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                }
            }
        }
    }

    /// The weight table row `i` is read with: the half-model that did not train on it.
    fn table(&self, i: usize) -> &[f32] {
        match self.weight.len() {
            0 => &[],
            1 => &self.weight[0],
            _ => &self.weight[1 - self.half(i)],
        }
    }

    /// Learn IDF on a sample, then (with two or more classes) the two half-models.
    fn build<'c>(ctx: &Context<'c>, by_class: &[Vec<u32>], seed: u64) -> Surface<'c> {
        let mut rng = SplitMix64::new(seed ^ 0x5355_5246);
        let mut surf = Surface {
            texts: &ctx.ds.texts,
            weight: Vec::new(),
            seed,
        };
        // Training sample: at most MODEL_ROWS per class and MODEL_TOTAL in all (also used for
        // IDF); term counts.
        let per_class = MODEL_ROWS.min(MODEL_TOTAL / by_class.len().max(1));
        let mut rows: Vec<u32> = by_class
            .iter()
            .flat_map(|ids| sample(ids, per_class, &mut rng))
            .collect();
        rows.sort_unstable();
        // Each block of rows becomes its own sparse matrix, holding term counts until IDF is
        // known and TF × IDF (unit length) after: the sample's rows are most of this stage's
        // memory, so they are sized exactly and never copied into one matrix.
        let mut blocks: Vec<SparseRows> = rows
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut s = Scratch::default();
                let mut block = SparseRows {
                    indptr: vec![0],
                    idx: Vec::new(),
                    val: Vec::new(),
                };
                let mut js: Vec<(u32, f32)> = Vec::new();
                for &i in chunk {
                    surf.grams(i as usize, &mut s);
                    s.count();
                    js.clear();
                    js.extend(s.distinct.iter().map(|&(h, c)| (bucket(h), sublinear(c))));
                    js.sort_unstable_by_key(|e| e.0);
                    for g in js.chunk_by(|a, b| a.0 == b.0) {
                        block.idx.push(g[0].0);
                        block.val.push(g.iter().map(|e| e.1).sum::<f32>());
                    }
                    block.indptr.push(block.idx.len());
                }
                block.idx.shrink_to_fit();
                block.val.shrink_to_fit();
                block
            })
            .collect();
        let mut df = vec![0u32; SURFACE_DIM];
        for block in &blocks {
            for &j in &block.idx {
                df[j as usize] += 1;
            }
        }
        let m = rows.len() as f32;
        let idf: Vec<f32> = df
            .iter()
            .map(|&d| ((1.0 + m) / (1.0 + d as f32)).ln() + 1.0)
            .collect();
        if ctx.classes < 2 || by_class.iter().filter(|ids| !ids.is_empty()).count() < 2 {
            surf.weight = vec![idf];
            return surf;
        }
        // Sparse rows (TF × IDF, unit length) of the sample, indexed locally.
        blocks.par_iter_mut().for_each(|block| {
            for r in 0..block.indptr.len() - 1 {
                let (a, b) = (block.indptr[r], block.indptr[r + 1]);
                for (v, &j) in block.val[a..b].iter_mut().zip(&block.idx[a..b]) {
                    *v *= idf[j as usize];
                }
                dense::normalize(&mut block.val[a..b]);
            }
        });
        let x = ChunkedRows {
            blocks,
            chunk: CHUNK,
        };
        let labels: Vec<u32> = rows.iter().map(|&i| ctx.labels[i as usize]).collect();
        let halves: Vec<Vec<u32>> = (0..2)
            .map(|h| {
                (0..rows.len() as u32)
                    .filter(|&r| surf.half(rows[r as usize] as usize) == h)
                    .collect()
            })
            .collect();
        let params = TrainParams {
            max_weights: SURFACE_DIM * FEW_CLASSES,
            max_visits: if ctx.classes > FEW_CLASSES {
                class_share(MODEL_VISITS, ctx.classes)
            } else {
                usize::MAX
            },
            ..TrainParams::default()
        };
        surf.weight = halves
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
                let mut w = importances(&model, ctx.classes, SURFACE_DIM);
                w.iter_mut().zip(&idf).for_each(|(w, f)| *w *= f);
                w
            })
            .collect();
        surf
    }
}

/// The feature (hash bucket) of a surface n-gram hash.
#[inline]
fn bucket(h: u64) -> u32 {
    (h >> (64 - SURFACE_BITS)) as u32
}

use crate::rng::mix64 as mix;

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
    /// The representations analysed: the label-weighted surface view of the text (the shared
    /// TF-IDF features when there is a single label), plus the user's embeddings when given
    /// and allowed.
    fn all(ctx: &'a Context, by_class: &[Vec<u32>]) -> Vec<Self> {
        let seed = ctx.cfg.seed ^ SALT;
        // With a single label there is nothing to weight by, and the surface view falls back
        // to plain IDF weights.
        let text = Source::Surface(Box::new(Surface::build(ctx, by_class, seed)));
        let mut out = vec![Repr {
            src: text,
            dim: PROJ_DIM,
            seed,
        }];
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
        }
    }

    /// Add input feature `j` with weight `v` to its `TAPS` output coordinates.
    #[inline]
    fn scatter(&self, j: u32, v: f32, out: &mut [f32]) {
        let h = mix(j as u64 ^ self.seed);
        for t in 0..TAPS {
            let bits = (h >> (16 * t)) as u32 & 0xFFFF;
            let d = if self.dim.is_power_of_two() {
                bits as usize & (self.dim - 1)
            } else {
                (bits & 0x7FFF) as usize % self.dim
            };
            out[d] += f32::from_bits(v.to_bits() ^ ((bits & 0x8000) << 16));
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
                let w = surf.table(i);
                surf.grams(i, s);
                if s.seen.len() != SEEN_SLOTS {
                    s.seen = vec![0; SEEN_SLOTS];
                }
                for &h in &s.raw {
                    // The k-th occurrence of an n-gram adds ln(k) - ln(k - 1), so the row's
                    // total is the sublinear 1 + ln(count) without sorting or a hash map
                    // (counters are shared by n-grams whose 12 bits collide — rarely, slightly).
                    let slot = &mut s.seen[(h >> 40) as usize & (SEEN_SLOTS - 1)];
                    *slot = slot.saturating_add(1);
                    let v = w.get(bucket(h) as usize).copied().unwrap_or(1.0)
                        * INCREMENT[*slot as usize];
                    // Taps from middle bits of the n-gram's own hash (cheaper than re-hashing
                    // the bucket; colliding n-grams simply get different taps).
                    let bits = (h >> 8) as u32;
                    for t in 0..SURFACE_TAPS {
                        let b = bits >> (8 * t);
                        // PROJ_DIM is 128: seven bits pick the coordinate.
                        let d = (b & 0x7F) as usize;
                        // Bit 7 of `b` becomes the sign bit (branch-free: the sign is random).
                        out[d] += f32::from_bits(v.to_bits() ^ ((b & 0x80) << 24));
                    }
                }
                for &h in &s.raw {
                    s.seen[(h >> 40) as usize & (SEEN_SLOTS - 1)] = 0;
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

/// Reference rows for nearest-neighbour statistics: as many as keep scoring every row within
/// `KNN_WORK` multiply-adds, between `MIN_REF_ROWS` and `REF_ROWS`.
fn knn_cap(n: usize, d: usize) -> usize {
    ((KNN_WORK / (n.max(1) as f64 * d.max(1) as f64)) as usize).clamp(MIN_REF_ROWS, REF_ROWS)
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
    /// The rows left once those `exclude` picks (by label and vector) are set aside.
    fn without(&self, d: usize, exclude: impl Fn(u32, &[f32]) -> bool) -> Global {
        let keep: Vec<usize> = (0..self.ids.len())
            .filter(|&g| !exclude(self.labels[g], &self.m[g * d..(g + 1) * d]))
            .collect();
        Global {
            ids: keep.iter().map(|&g| self.ids[g]).collect(),
            m: keep
                .iter()
                .flat_map(|&g| self.m[g * d..(g + 1) * d].iter().copied())
                .collect(),
            labels: keep.iter().map(|&g| self.labels[g]).collect(),
        }
    }

    /// Share of the `K` nearest global rows of each probe (a row id and its vector) that carry
    /// label `c`.
    fn label_share(&self, probes: &[(u32, &[f32])], d: usize, c: u32) -> f64 {
        let k = K.min(self.ids.len().saturating_sub(1));
        if k == 0 || probes.is_empty() {
            return 0.0;
        }
        let counts: Vec<(usize, usize)> = probes
            .par_chunks(32)
            .map(|block| {
                let ids: Vec<u32> = block.iter().map(|p| p.0).collect();
                let xs: Vec<f32> = block.iter().flat_map(|p| p.1.iter().copied()).collect();
                nearest(&xs, d, &ids, &self.ids, &self.m, Some(&self.labels), k)
                    .iter()
                    .fold((0, 0), |(h, t), top| {
                        (h + top.iter().filter(|e| e.1 == c).count(), t + top.len())
                    })
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
    /// Share of the nearest rows outside the sub-cluster that carry the class's label, for its
    /// members and for the rest of the class (see [`SubCluster::outside_reads_as_topic`]).
    outside_members: f64,
    outside_rest: f64,
}

impl SubCluster {
    /// Set aside, the sub-cluster reads as a topic of its class: the rows most like its members
    /// carry the class's label at least as often as the rows most like the rest of the class,
    /// and those do carry it beyond the class's prior.
    ///
    /// Members neighbour each other whatever they are, so exclusivity cannot tell a planted
    /// group from a topic. Set the group aside and a planted dirty-label group's rows, written
    /// from other classes' rows (or relabelled), are most like rows of those other classes;
    /// a topic's rows are most like more rows of their own class. Measured on the sub-clusters
    /// found: planted syntactic paraphrases 0.13 against the rest's 0.55 (ag) and 0.63 against
    /// 0.74 (sst2); the topics that every other rule let through as high on AG News documents
    /// joined four or six shuffled rows each (Iraq, Microsoft, stock-quote links) 0.74–0.93
    /// against 0.66–0.80. The comparison is the class's own, and it says nothing where the
    /// class's ordinary rows are not like rows of their own label beyond the prior (content
    /// that does not tell the labels apart): no share is assumed.
    fn outside_reads_as_topic(&self, prior: f64) -> bool {
        self.outside_rest > prior && self.outside_members >= self.outside_rest
    }
}

/// Everything fitted on one class's sample.
struct ClassFit {
    mean: Vec<f32>,
    dir: Vec<f32>,
    rmean: Vec<f32>,
    wdir: Vec<f32>,
    /// Membership rule and margin of the (candidate) sub-cluster.
    rule: Option<Rule>,
    sub: Option<SubCluster>,
    ref_ids: Vec<u32>,
    refs: Vec<f32>,
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
    let knn_cap = knn_cap(n, d);
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

    // 3. Candidate splits (2-means, natural breaks of the projections) and their exclusivity.
    let (off, woff) = (dense::dot(&mean, &dir), dense::dot(&rmean, &wdir));
    let wproj: Vec<f32> = m
        .par_chunks(d)
        .map(|x| dense::dot(x, &wdir) - woff)
        .collect();
    let (rule, sub) = split(
        &m,
        d,
        &fit_ids,
        (&dir, off, &proj),
        (&wdir, woff, &wproj),
        ctx,
        c,
        global,
        rng,
    );

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
        rule,
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

/// How a row is judged a member of the small side, and how far it is on that side (its
/// margin; members have margin > 0).
#[derive(Clone)]
enum Rule {
    /// Nearer the first unit centroid than the second (cosine).
    Centroids([Vec<f32>; 2]),
    /// Beyond `cut` along a direction: margin `sign · (x·dir − offset − cut)`.
    Cut {
        dir: Vec<f32>,
        offset: f32,
        cut: f32,
        sign: f32,
    },
}

impl Rule {
    fn margin(&self, x: &[f32]) -> f32 {
        match self {
            Rule::Centroids(c) => dense::dot(x, &c[0]) - dense::dot(x, &c[1]),
            Rule::Cut {
                dir,
                offset,
                cut,
                sign,
            } => sign * (dense::dot(x, dir) - offset - cut),
        }
    }
}

/// A partition of the class sample: which rows form the small side, the unit centroids of both
/// sides (small first) and the rule that extends the partition to every row.
struct Partition {
    member: Vec<bool>,
    cent: [Vec<f32>; 2],
    rule: Rule,
}

impl Partition {
    /// From a 0/1 assignment; the smaller side becomes the members. `cut` (direction, offset,
    /// projections) when the partition is a threshold on a projection, else nearest centroid.
    fn new(
        m: &[f32],
        d: usize,
        side: Vec<bool>,
        cut: Option<(&[f32], f32, &[f32])>,
    ) -> Option<Self> {
        let k = side.iter().filter(|&&b| b).count();
        if k == 0 || k == side.len() {
            return None;
        }
        let member: Vec<bool> = if 2 * k > side.len() {
            side.iter().map(|b| !b).collect()
        } else {
            side
        };
        let mut cent = [vec![0.0f32; d], vec![0.0f32; d]];
        for (r, &b) in member.iter().enumerate() {
            for (a, &x) in cent[usize::from(!b)].iter_mut().zip(&m[r * d..(r + 1) * d]) {
                *a += x;
            }
        }
        for c in cent.iter_mut() {
            dense::normalize(c);
        }
        let rule = match cut {
            None => Rule::Centroids(cent.clone()),
            Some((dir, offset, proj)) => {
                // The threshold halfway between the two sides' nearest projections.
                let (mut lo_in, mut hi_in, mut lo_out, mut hi_out) =
                    (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
                for (&p, &b) in proj.iter().zip(&member) {
                    if b {
                        lo_in = lo_in.min(p);
                        hi_in = hi_in.max(p);
                    } else {
                        lo_out = lo_out.min(p);
                        hi_out = hi_out.max(p);
                    }
                }
                let (sign, cut) = if lo_in >= hi_out {
                    (1.0, 0.5 * (lo_in + hi_out))
                } else {
                    (-1.0, 0.5 * (hi_in + lo_out))
                };
                Rule::Cut {
                    dir: dir.to_vec(),
                    offset,
                    cut,
                    sign,
                }
            }
        };
        Some(Partition { member, cent, rule })
    }
}

/// The split of a 1-D projection that maximises the between-group variance (Otsu's method).
fn otsu(proj: &[f32]) -> Vec<bool> {
    let n = proj.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| proj[a].total_cmp(&proj[b]).then(a.cmp(&b)));
    let total: f64 = proj.iter().map(|&p| p as f64).sum();
    let (mut best, mut cut, mut left) = (f64::NEG_INFINITY, 0, 0.0f64);
    for (k, &o) in order.iter().enumerate().take(n.saturating_sub(1)) {
        left += proj[o] as f64;
        let (n0, n1) = ((k + 1) as f64, (n - k - 1) as f64);
        let diff = left / n0 - (total - left) / n1;
        let between = n0 * n1 * diff * diff;
        if between > best {
            best = between;
            cut = k + 1;
        }
    }
    let mut member = vec![false; n];
    for &o in &order[..cut] {
        member[o] = true;
    }
    member
}

/// Candidate partitions of the class sample, evaluated for a suspicious sub-cluster: spherical
/// 2-means (from a k-means++ start and from the spectral sign split) and the natural breaks of
/// the spectral and whitened projections (each given as direction, offset and the sample's
/// projections). Returns the rule that gives every row its margin — of the most suspicious
/// candidate, else of the better 2-means — and the sub-cluster if any.
#[allow(clippy::too_many_arguments)]
fn split(
    m: &[f32],
    d: usize,
    fit_ids: &[u32],
    proj: (&[f32], f32, &[f32]),
    wproj: (&[f32], f32, &[f32]),
    ctx: &Context,
    c: usize,
    global: &Global,
    rng: &mut SplitMix64,
) -> (Option<Rule>, Option<SubCluster>) {
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
    if let Some(p) = Partition::new(m, d, proj.2.iter().map(|&p| p > 0.0).collect(), None) {
        inits.push(p.cent);
    }
    let mut kmeans: Vec<(Vec<u8>, f64)> = inits
        .into_iter()
        .map(|init| two_means(m, d, init))
        .map(|(a, _, total)| (a, total))
        .collect();
    // The better 2-means first (lower total distance).
    kmeans.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut candidates: Vec<Partition> = kmeans
        .into_iter()
        .filter_map(|(a, _)| Partition::new(m, d, a.iter().map(|&k| k == 1).collect(), None))
        .collect();
    candidates.extend(Partition::new(m, d, otsu(proj.2), Some(proj)));
    candidates.extend(Partition::new(m, d, otsu(wproj.2), Some(wproj)));
    let Some(fallback) = candidates.first().map(|p| p.rule.clone()) else {
        return (None, None);
    };
    let prior = ctx.prior[c];
    if prior >= 0.99 {
        return (Some(fallback), None);
    }
    let probes = |keep: &dyn Fn(usize) -> bool| -> Vec<(u32, &[f32])> {
        let rs: Vec<usize> = (0..rows).filter(|&r| keep(r)).collect();
        let step = rs.len().div_ceil(PROBES).max(1);
        rs.iter()
            .step_by(step)
            .map(|&r| (fit_ids[r], &m[r * d..(r + 1) * d]))
            .collect()
    };
    // The class's ordinary exclusivity, measured once.
    let class_share = global.label_share(&probes(&|_| true), d, c as u32);
    let mut best: Option<(usize, SubCluster)> = None;
    for (k, p) in candidates.iter().enumerate() {
        let size = p.member.iter().filter(|&&b| b).count();
        let share = size as f64 / rows as f64;
        if size < MIN_SUB_ROWS || !(MIN_SUB_SHARE..=MAX_SUB_SHARE).contains(&share) {
            continue;
        }
        let mean_dist = |side: bool, ce: &[f32]| -> f64 {
            let (mut s, mut cnt) = (0.0f64, 0usize);
            for r in (0..rows).filter(|&r| p.member[r] == side) {
                s += (1.0 - dense::dot(&m[r * d..(r + 1) * d], ce)) as f64;
                cnt += 1;
            }
            s / cnt.max(1) as f64
        };
        let tight_ratio = mean_dist(true, &p.cent[0]) / mean_dist(false, &p.cent[1]).max(1e-12);
        let exclusive = global.label_share(&probes(&|r| p.member[r]), d, c as u32);
        // Exclusivity of the rest of the class, from the class-wide figure.
        let baseline = ((class_share - share * exclusive) / (1.0 - share)).clamp(0.0, 1.0);
        // How far beyond the class's ordinary exclusivity, and how much tighter, in [0, 1].
        let excess = ((exclusive - baseline) / (1.0 - baseline).max(1e-9)).clamp(0.0, 1.0);
        let tight = ((TIGHTNESS - tight_ratio) / 0.4).clamp(0.0, 1.0);
        // Label-exclusive well beyond the class prior, and either tighter than the rest of the
        // class or clearly more exclusive than its ordinary rows (a restyled group need not be
        // tighter, but its neighbours are its own kind).
        let exclusive_enough = exclusive >= prior + MIN_EXCLUSIVE * (1.0 - prior);
        // Either way it must be clearly more exclusive than the rest of its class: in a class
        // whose rows already neighbour only their own label, a tight group is just a topic.
        let distinct = (tight_ratio < TIGHTNESS || excess >= MIN_EXCESS)
            && exclusive - baseline >= MIN_EXCESS_ABS;
        if !(exclusive_enough && distinct) {
            continue;
        }
        let strength = (0.6 * excess + 0.4 * tight) as f32;
        if best.as_ref().is_none_or(|(_, b)| strength > b.strength) {
            best = Some((
                k,
                SubCluster {
                    share_fit: share,
                    tight_ratio,
                    exclusive,
                    baseline,
                    strength,
                    outside_members: 0.0,
                    outside_rest: 0.0,
                },
            ));
        }
    }
    match best {
        Some((k, mut sub)) => {
            let p = &candidates[k];
            let outside = global.without(d, |label, x| label == c as u32 && p.rule.margin(x) > 0.0);
            sub.outside_members = outside.label_share(&probes(&|r| p.member[r]), d, c as u32);
            sub.outside_rest = outside.label_share(&probes(&|r| !p.member[r]), d, c as u32);
            (Some(candidates.swap_remove(k).rule), Some(sub))
        }
        None => (Some(fallback), None),
    }
}

/// Reference rows from every class, for each row's neighbour label share.
struct LabelRefs {
    ids: Vec<u32>,
    m: Vec<f32>,
    labels: Vec<u32>,
}

/// Per-row statistics against a class fit.
#[derive(Clone, Copy)]
struct Raw {
    /// Signed projection on the class's top direction (centred).
    spectral: f32,
    /// Signed projection on the whitened top direction (robustly centred).
    whitened: f32,
    /// Similarity to the small cluster's centroid minus similarity to the other's.
    margin: f32,
    /// Mean cosine distance to the nearest reference rows of the class.
    knn: f32,
    /// Share of the nearest reference rows of any class that carry the row's label.
    purity: f32,
}

/// Score every row of class `c` against its fit. Rows are taken in blocks that are compared
/// with each reference row in turn, so the references stream through the cache once per block
/// rather than once per row.
fn score_class(
    repr: &Repr,
    c: u32,
    ids: &[u32],
    fit: &ClassFit,
    lrefs: Option<&LabelRefs>,
) -> Vec<Raw> {
    const BLOCK: usize = 32;
    let d = repr.dim;
    let k = K.min(fit.ref_ids.len().saturating_sub(1)).max(1);
    let empty = LabelRefs {
        ids: Vec::new(),
        m: Vec::new(),
        labels: Vec::new(),
    };
    let lrefs = lrefs.unwrap_or(&empty);
    let kl = K.min(lrefs.ids.len().saturating_sub(1)).max(1);
    let mdir = dense::dot(&fit.mean, &fit.dir);
    let mw = dense::dot(&fit.rmean, &fit.wdir);
    ids.par_chunks(BLOCK)
        .map(|chunk| {
            let mut xs = vec![0.0f32; chunk.len() * d];
            let mut s = Scratch::default();
            for (x, &i) in xs.chunks_exact_mut(d).zip(chunk) {
                repr.fill(i as usize, x, &mut s);
            }
            let near = nearest(&xs, d, chunk, &fit.ref_ids, &fit.refs, None, k);
            let labelled = nearest(&xs, d, chunk, &lrefs.ids, &lrefs.m, Some(&lrefs.labels), kl);
            xs.chunks_exact(d)
                .zip(near.iter().zip(&labelled))
                .map(|(x, (near, labelled))| {
                    let margin = fit.rule.as_ref().map_or(0.0, |rule| rule.margin(x));
                    let knn = if near.is_empty() {
                        0.0
                    } else {
                        1.0 - near.iter().map(|t| t.0).sum::<f32>() / near.len() as f32
                    };
                    let purity = labelled.iter().filter(|t| t.1 == c).count() as f32
                        / labelled.len().max(1) as f32;
                    Raw {
                        spectral: dense::dot(x, &fit.dir) - mdir,
                        whitened: dense::dot(x, &fit.wdir) - mw,
                        margin,
                        knn,
                        purity,
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .concat()
}

/// For each row vector in `xs` (ids `rows`), the `k` most similar reference rows (ids `ref_ids`,
/// vectors `refs`) other than itself, as (similarity, label) pairs, most similar first.
fn nearest(
    xs: &[f32],
    d: usize,
    rows: &[u32],
    ref_ids: &[u32],
    refs: &[f32],
    labels: Option<&[u32]>,
    k: usize,
) -> Vec<Vec<(f32, u32)>> {
    let b = rows.len();
    let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(k + 1); b];
    if refs.is_empty() || d == 0 {
        return best;
    }
    let skip: Vec<Option<usize>> = rows.iter().map(|&i| position(ref_ids, i)).collect();
    let x: Vec<&[f32]> = xs.chunks_exact(d).collect();
    for (j, r) in refs.chunks_exact(d).enumerate() {
        let label = labels.map_or(0, |l| l[j]);
        let mut q = 0;
        while q + 4 <= b {
            let s = dense::dot4([x[q], x[q + 1], x[q + 2], x[q + 3]], r);
            for (o, &v) in s.iter().enumerate() {
                if skip[q + o] != Some(j) {
                    push_top(&mut best[q + o], (v, label), k);
                }
            }
            q += 4;
        }
        for o in q..b {
            if skip[o] != Some(j) {
                push_top(&mut best[o], (dense::dot(x[o], r), label), k);
            }
        }
    }
    best
}

/// Keep the `k` most similar (similarity, label) pairs seen, most similar first.
#[inline]
fn push_top(best: &mut Vec<(f32, u32)>, s: (f32, u32), k: usize) {
    if best.len() == k {
        if s.0 <= best[k - 1].0 {
            return;
        }
        best.pop();
    }
    let pos = best.iter().position(|b| b.0 < s.0).unwrap_or(best.len());
    best.insert(pos, s);
}

pub(crate) fn detect(ctx: &Context) -> DetectorOutput {
    let n = ctx.n();
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); ctx.classes];
    for (i, &y) in ctx.labels.iter().enumerate() {
        if let Some(v) = by_class.get_mut(y as usize) {
            v.push(i as u32);
        }
    }
    if by_class.iter().all(|ids| ids.len() < MIN_CLASS_ROWS) {
        let why = format!("no class has at least {MIN_CLASS_ROWS} rows");
        return DetectorOutput::skipped(Detector::Anomaly, n, &why);
    }
    let mut scores = vec![0.0f32; n];
    let mut findings = Vec::new();
    for (k, repr) in Repr::all(ctx, &by_class).iter().enumerate() {
        let mut rng =
            SplitMix64::new(ctx.cfg.seed ^ SALT ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (s, f) = analyse_repr(ctx, repr, &by_class, &mut rng);
        // Representation anomalies rank rows; on their own they never flag one, except the
        // members of a confirmed (high) sub-cluster, which are flagged as a group.
        for (a, b) in scores.iter_mut().zip(&s.ranking) {
            *a = a.max(b.min(ALONE_MAX));
        }
        for (a, b) in scores.iter_mut().zip(&s.group) {
            *a = a.max(*b);
        }
        findings.extend(f);
    }
    let (junk, finding) = crate::vocab::detect(ctx);
    for (a, b) in scores.iter_mut().zip(&junk) {
        *a = a.max(*b);
    }
    findings.extend(finding);
    DetectorOutput {
        detector: Detector::Anomaly,
        scores,
        findings,
        skipped: None,
    }
}

/// The label readers' mean doubt in the label (1 − pooled belief) of a sub-cluster's members
/// and of the rest of their class.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LabelDoubt {
    members: f64,
    rest: f64,
}

impl LabelDoubt {
    /// Over the class's rows `ids`; `is_member(r)` says whether `ids[r]` is in the sub-cluster.
    fn of(belief: &[f32], ids: &[u32], is_member: impl Fn(usize) -> bool) -> Self {
        let (mut sums, mut counts) = ([0.0f64; 2], [0usize; 2]);
        for (r, &id) in ids.iter().enumerate() {
            let side = usize::from(is_member(r));
            sums[side] += 1.0 - belief[id as usize] as f64;
            counts[side] += 1;
        }
        let mean = |s: usize| sums[s] / counts[s].max(1) as f64;
        Self {
            members: mean(1),
            rest: mean(0),
        }
    }

    /// The members read as their label more surely than the rest of the class: a topic of it,
    /// not rows written from other classes (see [`MIN_MEMBER_DOUBT`]).
    fn reads_as_topic(&self) -> bool {
        self.members < MIN_MEMBER_DOUBT * self.rest
    }
}

/// `(v - median) / MAD` for each value. The MAD is floored at half the standard deviation, so
/// a class that is mostly one repeated vector (MAD 0) does not make every other row an outlier.
fn robust_z(v: &[f32]) -> Vec<f32> {
    let (med, mad) = median_mad(v);
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64;
    let sd =
        (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len().max(1) as f64).sqrt();
    let mad = mad.max(0.5 * sd).max(1e-12);
    v.iter().map(|&x| ((x as f64 - med) / mad) as f32).collect()
}

/// Per-row scores of one representation.
struct ReprScores {
    /// Every row's anomaly score; capped at `ALONE_MAX` when combined.
    ranking: Vec<f32>,
    /// Members of a high sub-cluster: at least `GROUP_MIN`, so the group is flagged whole.
    group: Vec<f32>,
}

/// Scores and findings of one representation.
fn analyse_repr(
    ctx: &Context,
    repr: &Repr,
    by_class: &[Vec<u32>],
    rng: &mut SplitMix64,
) -> (ReprScores, Vec<Finding>) {
    let n = ctx.n();
    let d = repr.dim;
    let all: Vec<u32> = (0..n as u32).collect();
    let gids = sample(&all, GLOBAL_ROWS, rng);
    drop(all);
    let global = Global {
        m: repr.matrix(&gids),
        labels: gids.iter().map(|&i| ctx.labels[i as usize]).collect(),
        ids: gids,
    };
    // Neighbour label shares of every row are read against a subset of the global sample.
    let lids = sample(&global.ids, knn_cap(n, d), rng);
    let lrefs = {
        let mut m = Vec::with_capacity(lids.len() * d);
        let mut labels = Vec::with_capacity(lids.len());
        for &id in &lids {
            let r = position(&global.ids, id).unwrap_or(0);
            m.extend_from_slice(&global.m[r * d..(r + 1) * d]);
            labels.push(global.labels[r]);
        }
        LabelRefs {
            ids: lids,
            m,
            labels,
        }
    };

    let mut scores = vec![0.0f32; n];
    let mut group = vec![0.0f32; n];
    let mut findings = Vec::new();
    // Word counts of the whole corpus, read once, when a class holds a sub-cluster.
    let mut corpus_words: Option<crate::topic::CorpusWords> = None;
    for (c, ids) in by_class.iter().enumerate() {
        if ids.len() < MIN_CLASS_ROWS {
            continue;
        }
        let fit = fit_class(repr, ctx, c, ids, &global, rng);
        // Neighbour label shares only matter (and are only paid for) with a suspicious sub-cluster.
        let raw = score_class(repr, c as u32, ids, &fit, fit.sub.as_ref().map(|_| &lrefs));
        let sp2: Vec<f32> = raw.iter().map(|r| r.spectral * r.spectral).collect();
        let wh2: Vec<f32> = raw.iter().map(|r| r.whitened * r.whitened).collect();
        let margin: Vec<f32> = raw.iter().map(|r| r.margin).collect();
        let knn: Vec<f32> = raw.iter().map(|r| r.knn).collect();
        let purity: Vec<f32> = raw.iter().map(|r| r.purity).collect();

        // Outliers: the spectral projection or the neighbour distance beyond median + 6·MAD.
        let sp: Vec<f32> = raw.iter().map(|r| r.spectral).collect();
        let (z_sp, z_kn) = (robust_z(&sp), robust_z(&knn));
        let (mut spectral_outliers, mut distance_outliers) = (0usize, 0usize);
        let mut outliers = Vec::new();
        let mut outlier_score = vec![0.0f32; ids.len()];
        // Members of a suspicious sub-cluster are reported (and scored) as that instead.
        let member = |r: usize| fit.sub.is_some() && margin[r] > 0.0;
        for r in 0..ids.len() {
            let (a, b) = (z_sp[r].abs(), z_kn[r]);
            let z = a.max(b);
            if z > MAD_CUTOFF as f32 && !member(r) {
                spectral_outliers += usize::from(a > MAD_CUTOFF as f32);
                distance_outliers += usize::from(b > MAD_CUTOFF as f32);
                outliers.push(ids[r]);
                let e = ((z - MAD_CUTOFF as f32) / MAD_CUTOFF as f32).min(1.0);
                outlier_score[r] = OUTLIER_MIN + (OUTLIER_MAX - OUTLIER_MIN) * e;
            }
        }

        let label = ctx.label_name(c).to_string();
        match &fit.sub {
            None => {
                // Ordinary rows: a small graded score, the mean percentile of the statistics.
                let (a, b, k) = (percentiles(&sp2), percentiles(&wh2), percentiles(&knn));
                for r in 0..ids.len() {
                    let rank = (a[r] + b[r] + k[r]) / 3.0;
                    scores[ids[r] as usize] = (BASE_SCALE * rank).max(outlier_score[r]);
                }
            }
            Some(sub) => {
                // The class holds a planted-looking group: every row of the class is scored (up
                // to ALONE_MAX) by how much it looks like a member — close to the small centroid
                // and among neighbours of its own label — and members get at least SUB_MIN.
                let (pm, pp) = (percentiles(&margin), percentiles(&purity));
                let q = percentiles(&(0..ids.len()).map(|r| pm[r] + pp[r]).collect::<Vec<f32>>());
                let member_rows: Vec<u32> = (0..ids.len())
                    .filter(|&r| margin[r] > 0.0)
                    .map(|r| ids[r])
                    .collect();
                let members = member_rows.len();
                // A topic of the class owns the words that define it; planted rows written to
                // one pattern share words the whole corpus uses (see `topic`).
                let corpus = corpus_words
                    .get_or_insert_with(|| crate::topic::CorpusWords::of(&ctx.ds.texts));
                let defining = crate::topic::defining_words(&ctx.ds.texts, corpus, &member_rows);
                let doubt = ctx
                    .label_belief
                    .get()
                    .map(|belief| LabelDoubt::of(belief, ids, |r| margin[r] > 0.0));
                let read_as_topic = doubt.as_ref().is_some_and(LabelDoubt::reads_as_topic);
                let outside_topic = sub.outside_reads_as_topic(ctx.prior[c]);
                let severity = if members as f64 >= 0.01 * n as f64
                    && sub.exclusive >= 0.95
                    && defining.ownership < OWNED_BY_TOPIC
                    && !read_as_topic
                    && !outside_topic
                {
                    Severity::High
                } else {
                    Severity::Medium
                };
                // A medium sub-cluster is as often a natural topic of the class as a planted
                // group: its members rank below rows with a label read the other way.
                let weight = if severity == Severity::High {
                    1.0
                } else {
                    MEDIUM_SUB_WEIGHT
                };
                let mut rows = Vec::with_capacity(members);
                for r in 0..ids.len() {
                    let mut s = (ALONE_MAX * weight * q[r]).max(outlier_score[r]);
                    if margin[r] > 0.0 {
                        rows.push(ids[r]);
                        let level =
                            SUB_STRENGTH_SHARE * sub.strength + (1.0 - SUB_STRENGTH_SHARE) * q[r];
                        s = s.max(weight * (SUB_MIN + (SUB_MAX - SUB_MIN) * level.clamp(0.0, 1.0)));
                        if severity == Severity::High {
                            group[ids[r] as usize] =
                                GROUP_MIN + (GROUP_MAX - GROUP_MIN) * q[r].clamp(0.0, 1.0);
                        }
                    }
                    scores[ids[r] as usize] = s;
                }
                let class_share = rows.len() as f64 / ids.len() as f64;
                findings.push(Finding {
                    detector: Detector::Anomaly,
                    severity,
                    title: format!(
                        "{} sub-cluster of {} rows inside label {label} ({:.0}% of the class), {:.0}% of their neighbours labelled {label} (prior {:.0}%); set apart by \"{}\", {:.0}% of whose rows are in it{}",
                        if sub.tight_ratio < TIGHTNESS { "tight" } else { "label-exclusive" },
                        rows.len(),
                        100.0 * class_share,
                        100.0 * sub.exclusive,
                        100.0 * ctx.prior[c],
                        defining.words.iter().take(3).cloned().collect::<Vec<_>>().join("\", \""),
                        100.0 * defining.ownership,
                        if defining.ownership >= OWNED_BY_TOPIC {
                            " (words found mostly in it: a topic of the class, or a phrase put into its rows, which the trigger detector judges)"
                        } else if read_as_topic {
                            " (its rows read as their label more surely than the rest of the class: a topic of it)"
                        } else if outside_topic {
                            " (the rows most like its rows outside it carry its label at least as often as those like the rest of the class: a topic of it)"
                        } else {
                            ""
                        }
                    ),
                    subject: format!("label {label} sub-cluster ({})", repr.describe()),
                    target_label: Some(label.clone()),
                    rows,
                    evidence: vec![
                        Evidence { name: "share_of_class", value: class_share },
                        Evidence { name: "share_of_class_sample", value: sub.share_fit },
                        Evidence { name: "neighbour_label_share", value: sub.exclusive },
                        Evidence { name: "class_neighbour_label_share", value: sub.baseline },
                        Evidence { name: "outside_neighbour_label_share", value: sub.outside_members },
                        Evidence { name: "class_outside_neighbour_label_share", value: sub.outside_rest },
                        Evidence { name: "label_prior", value: ctx.prior[c] },
                        Evidence { name: "tightness_ratio", value: sub.tight_ratio },
                        Evidence { name: "strength", value: sub.strength as f64 },
                        Evidence { name: "defining_words_ownership", value: defining.ownership },
                    ]
                    .into_iter()
                    .chain(doubt.iter().flat_map(|d| {
                        [
                            Evidence { name: "member_label_doubt", value: d.members },
                            Evidence { name: "class_label_doubt", value: d.rest },
                        ]
                    }))
                    .collect(),
                });
            }
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
    (
        ReprScores {
            ranking: scores,
            group,
        },
        findings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScanConfig;

    #[test]
    fn a_sub_cluster_read_more_surely_than_its_class_is_a_topic() {
        // Rows 0..4 of the class are the sub-cluster; ids name rows of a larger dataset.
        let ids = [3u32, 5, 8, 9, 12, 13, 20, 21];
        let member = |r: usize| r < 4;
        let mut belief = vec![0.5f32; 22];
        // The rest of the class: doubt 0.2 on average.
        for &i in &ids[4..] {
            belief[i as usize] = 0.8;
        }
        // Members written from another class's rows: doubted as much as the rest.
        for &i in &ids[..4] {
            belief[i as usize] = 0.78;
        }
        let planted = LabelDoubt::of(&belief, &ids, member);
        assert!((planted.members - 0.22).abs() < 1e-6, "{planted:?}");
        assert!((planted.rest - 0.2).abs() < 1e-6, "{planted:?}");
        assert!(!planted.reads_as_topic());
        // Members the readers are all but sure of: a topic of the class.
        for &i in &ids[..4] {
            belief[i as usize] = 0.98;
        }
        assert!(LabelDoubt::of(&belief, &ids, member).reads_as_topic());
    }
    use bezoar_data::{Categorical, Dataset, ResolvedColumns, RowIds, SkipReport};

    fn dataset(
        texts: &[String],
        labels: &[u32],
        classes: usize,
        embeddings: Option<Embeddings>,
    ) -> Dataset {
        let mut arena = TextArena::new();
        for t in texts {
            arena.push(t);
        }
        Dataset {
            ids: RowIds::RowNumbers(texts.len()),
            texts: arena,
            labels: Categorical {
                codes: labels.to_vec(),
                names: (0..classes).map(|c| c.to_string()).collect(),
            },
            sources: None,
            embeddings,
            columns: ResolvedColumns::default(),
            skipped: SkipReport::default(),
            lines: Vec::new(),
        }
    }

    fn run(ds: &Dataset) -> DetectorOutput {
        let cfg = ScanConfig::default();
        let ctx = Context::without_models(ds, &cfg, &ds.texts);
        detect(&ctx)
    }

    fn words(rng: &mut SplitMix64, n: usize) -> String {
        (0..n)
            .map(|_| format!("w{}", rng.below(500)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn increments_add_up_to_sublinear_tf() {
        let mut total = 0.0f64;
        for (k, inc) in INCREMENT.iter().enumerate().skip(1) {
            total += *inc as f64;
            assert!((total - sublinear(k as u32) as f64).abs() < 1e-4, "k = {k}");
        }
    }

    #[test]
    fn percentiles_share_ties() {
        assert_eq!(percentiles(&[3.0, 1.0, 2.0]), vec![1.0, 0.0, 0.5]);
        assert_eq!(percentiles(&[1.0, 1.0, 2.0]), vec![0.25, 0.25, 1.0]);
        assert_eq!(percentiles(&[5.0]), vec![0.0]);
    }

    #[test]
    fn robust_z_survives_a_mostly_constant_column() {
        assert!(robust_z(&[2.0; 50]).iter().all(|&z| z == 0.0));
        // 90 identical values (MAD 0) and 10 that differ: finite, and only those can stand out.
        let mut v = vec![1.0f32; 90];
        v.extend((1..=10).map(|i| 1.0 + 0.01 * i as f32));
        let z = robust_z(&v);
        assert!(z.iter().all(|z| z.is_finite()));
        assert!(z[..90].iter().all(|&z| z == 0.0));
        assert!(z.iter().filter(|&&z| z > MAD_CUTOFF as f32).count() <= 10);
        let (med, mad) = median_mad(&[1.0, 2.0, 3.0, 4.0, 100.0]);
        assert_eq!((med, mad), (3.0, 1.0));
    }

    #[test]
    fn samples_are_sorted_distinct_and_deterministic() {
        let ids: Vec<u32> = (0..1000).map(|i| i * 3).collect();
        let a = sample(&ids, 100, &mut SplitMix64::new(5));
        let b = sample(&ids, 100, &mut SplitMix64::new(5));
        assert_eq!(a, b);
        assert_eq!(a.len(), 100);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            sample(&ids[..10], 100, &mut SplitMix64::new(5)),
            ids[..10].to_vec()
        );
    }

    #[test]
    fn counting_distinct_grams() {
        let mut s = Scratch {
            raw: vec![7, 3, 7, 7, 9, 3],
            ..Default::default()
        };
        s.count();
        assert_eq!(s.distinct, vec![(7, 3), (3, 2), (9, 1)]);
    }

    #[test]
    fn otsu_finds_the_gap() {
        let proj = [0.1, 0.0, 5.0, 0.2, 5.1, -0.1];
        let member = otsu(&proj);
        assert_eq!(member.iter().filter(|&&b| b).count() + 2, proj.len());
        assert!(!member[2] && !member[4]);
    }

    #[test]
    fn two_means_separates_two_groups() {
        let d = 4;
        let mut m = Vec::new();
        for i in 0..40 {
            let mut v = if i < 10 {
                vec![1.0, 0.1, 0.0, 0.0]
            } else {
                vec![0.0, 0.1, 1.0, 0.0]
            };
            v[3] = (i % 3) as f32 * 0.05;
            dense::normalize(&mut v);
            m.extend(v);
        }
        let init = [m[0..d].to_vec(), m[39 * d..40 * d].to_vec()];
        let (assign, _, total) = two_means(&m, d, init);
        assert!(assign[..10].iter().all(|&a| a == assign[0]));
        assert!(assign[10..].iter().all(|&a| a != assign[0]));
        assert!(total < 0.1);
    }

    #[test]
    fn tiny_classes_are_skipped_without_panicking() {
        let texts: Vec<String> = (0..15).map(|i| format!("row {i}")).collect();
        let labels: Vec<u32> = (0..15).map(|i| u32::from(i > 12)).collect();
        let out = run(&dataset(&texts, &labels, 3, None));
        assert!(out.skipped.is_some());
        assert_eq!(out.scores, vec![0.0; 15]);
    }

    #[test]
    fn degenerate_rows_do_not_panic() {
        // Identical and empty rows, a single-row class, and a class of one repeated text.
        let mut texts: Vec<String> = vec![String::new(); 10];
        texts.extend((0..30).map(|_| "same text".to_string()));
        texts.extend((0..30).map(|i| format!("row {i} has words")));
        let mut labels = vec![0u32; 10];
        labels.extend(vec![1u32; 30]);
        labels.extend(vec![0u32; 30]);
        labels[0] = 2;
        let out = run(&dataset(&texts, &labels, 3, None));
        assert!(out
            .scores
            .iter()
            .all(|s| s.is_finite() && (0.0..=ALONE_MAX).contains(s)));
        assert_eq!(out.scores[0], 0.0);
        // A single class: the shared TF-IDF view, and no sub-cluster (nothing to be exclusive of).
        let one = vec![0u32; texts.len()];
        let out = run(&dataset(&texts, &one, 1, None));
        assert!(out
            .findings
            .iter()
            .all(|f| !f.title.contains("sub-cluster")));
    }

    #[test]
    fn embeddings_add_a_view_and_find_a_planted_group() {
        // 600 rows: random texts, random labels, and embeddings in which rows 0..60 (label 1)
        // share one direction while the rest are spread at random.
        let mut rng = SplitMix64::new(9);
        let (n, dim) = (600, 16);
        let texts: Vec<String> = (0..n).map(|_| words(&mut rng, 8)).collect();
        let labels: Vec<u32> = (0..n)
            .map(|i| if i < 60 { 1 } else { rng.below(2) as u32 })
            .collect();
        let mut values = Vec::with_capacity(n * dim);
        for i in 0..n {
            for j in 0..dim {
                let base = if i < 60 && j == 0 { 8.0 } else { 0.0 };
                values.push(base + rng.normal() as f32);
            }
        }
        let out = run(&dataset(
            &texts,
            &labels,
            2,
            Some(Embeddings { dim, values }),
        ));
        let f = out
            .findings
            .iter()
            .find(|f| f.title.contains("sub-cluster") && f.subject.contains("embeddings"))
            .expect("finding");
        let planted = f.rows.iter().filter(|&&r| r < 60).count();
        assert!(
            planted >= 55 && f.rows.len() <= 100,
            "{planted} planted of {}: {}",
            f.rows.len(),
            f.title
        );
        // A confirmed (high) group is flagged whole: its members score above the flag threshold,
        // every other row stays below it.
        assert_eq!(f.severity, Severity::High, "{}", f.title);
        let threshold = ScanConfig::default().threshold;
        assert!(f.rows.iter().all(|&r| out.scores[r as usize] >= GROUP_MIN));
        assert!(GROUP_MIN >= threshold);
        assert!((0..n as u32)
            .filter(|r| !f.rows.contains(r))
            .all(|r| out.scores[r as usize] <= ALONE_MAX));
    }

    #[test]
    fn detection_is_deterministic() {
        let mut rng = SplitMix64::new(1);
        let texts: Vec<String> = (0..400).map(|_| words(&mut rng, 10)).collect();
        let labels: Vec<u32> = (0..400).map(|_| rng.below(2) as u32).collect();
        let ds = dataset(&texts, &labels, 2, None);
        let a = run(&ds);
        let b = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool")
            .install(|| run(&ds));
        assert_eq!(a.scores, b.scores);
        assert_eq!(a.findings.len(), b.findings.len());
    }
}
