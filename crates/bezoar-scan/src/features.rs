//! The built-in text representation: hashed word and character n-grams, TF-IDF weighted.
//!
//! Hashing (rather than a vocabulary) keeps memory bounded by the hash width, not the corpus,
//! and lets any subset of a row (e.g. the row without a candidate trigger) be featurised
//! against the same model.

use crate::tokens::{lower_into, tokenize};
use bezoar_data::TextArena;
use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Width of the hashed feature space.
pub const HASH_BITS: u32 = 20;
pub const HASH_DIM: usize = 1 << HASH_BITS;
/// Word unigrams and bigrams hash into the lower half of the space, character n-grams into the
/// upper half, so each block can be normalised on its own: a row has many more character
/// n-grams than words, and one joint norm would drown the word features (measured: ranking of
/// flipped labels on public sentiment data drops by several points).
pub const WORD_DIM: usize = HASH_DIM / 2;
const WORD_BITS: u32 = HASH_BITS - 1;
const WORD_MASK: u64 = (WORD_DIM as u64) - 1;

/// Character n-gram lengths taken inside each word (with boundary markers).
const CHAR_GRAMS: std::ops::RangeInclusive<usize> = 3..=5;
/// Words longer than this contribute only word features (keeps pathological tokens cheap).
const MAX_WORD_CHARS: usize = 40;

/// Row-compressed sparse matrix of TF-IDF weighted, L2-normalised features.
#[derive(Debug, Default, Clone)]
pub struct SparseRows {
    pub indptr: Vec<usize>,
    pub idx: Vec<u32>,
    pub val: Vec<f32>,
}

impl SparseRows {
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.idx[a..b], &self.val[a..b])
    }
}

/// Sparse rows a model can train on: one matrix, or several (see [`ChunkedRows`]).
pub trait Rows: Sync {
    fn row(&self, i: usize) -> (&[u32], &[f32]);
}

impl Rows for SparseRows {
    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        SparseRows::row(self, i)
    }
}

/// Sparse rows kept as the blocks of `chunk` rows they were made in (row `i` is row
/// `i % chunk` of block `i / chunk`), so they never need copying into one matrix.
pub struct ChunkedRows {
    pub blocks: Vec<SparseRows>,
    pub chunk: usize,
}

impl Rows for ChunkedRows {
    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        self.blocks[i / self.chunk].row(i % self.chunk)
    }
}

/// Reusable buffers for featurising one row at a time.
#[derive(Default)]
pub struct Scratch {
    raw: Vec<u32>,
    lower: String,
    chars: Vec<char>,
}

pub(crate) fn word_hash(lower: &str) -> u64 {
    xxh3_64_with_seed(lower.as_bytes(), 0x77)
}

/// 64-bit hash of the word pair (`prev`, `next`) from their word hashes.
fn pair_hash(prev: u64, next: u64) -> u64 {
    (prev.rotate_left(23) ^ next.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xff51_afd7_ed55_8ccd)
}

/// The distinct lower-cased words and adjacent word pairs of `tokens` as full 64-bit hashes
/// (sorted): for models that need a practically collision-free vocabulary, which the hashed
/// feature space is not (about one feature in seven shares its slot on a 7,000-row corpus).
pub fn word_set(tokens: &[&str], lower: &mut String, out: &mut Vec<u64>) {
    out.clear();
    let mut prev: Option<u64> = None;
    for tok in tokens {
        lower_into(tok, lower);
        let h = word_hash(lower);
        out.push(h);
        if let Some(p) = prev {
            out.push(pair_hash(p, h));
        }
        prev = Some(h);
    }
    out.sort_unstable();
    out.dedup();
}

/// Emit the raw (hashed, repeated) features of `tokens`, skipping those with `skip[i]` set.
/// Bigrams join the neighbours that remain, as if the skipped tokens had been deleted.
pub fn raw_features(
    tokens: &[&str],
    skip: Option<&[bool]>,
    s: &mut Vec<u32>,
    lower: &mut String,
    chars: &mut Vec<char>,
) {
    s.clear();
    let mut prev: Option<u64> = None;
    for (i, tok) in tokens.iter().enumerate() {
        if skip.is_some_and(|m| m[i]) {
            continue;
        }
        lower_into(tok, lower);
        let h = word_hash(lower);
        s.push((h & WORD_MASK) as u32);
        if let Some(p) = prev {
            s.push((pair_hash(p, h) >> (64 - WORD_BITS)) as u32);
        }
        prev = Some(h);
        for_each_char_gram(tok, chars, |h| {
            s.push(
                WORD_DIM as u32
                    + ((h.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> (64 - WORD_BITS)) as u32,
            )
        });
    }
}

/// Call `f` with the 64-bit hash of each character n-gram of `tok` (lengths [`CHAR_GRAMS`],
/// with word-boundary markers). Character n-grams keep the original case: shifts in casing and
/// spelling style are exactly what style-based triggers change.
fn for_each_char_gram(tok: &str, chars: &mut Vec<char>, mut f: impl FnMut(u64)) {
    chars.clear();
    chars.push('\u{2}');
    chars.extend(tok.chars());
    chars.push('\u{3}');
    if chars.len() - 2 > MAX_WORD_CHARS {
        return;
    }
    for n in CHAR_GRAMS {
        if chars.len() < n {
            break;
        }
        for w in chars.windows(n) {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (n as u64);
            for &c in w {
                h = (h ^ c as u64).wrapping_mul(0x0100_0000_01b3);
            }
            f(h);
        }
    }
}

/// The distinct character n-grams of `tokens` as full 64-bit hashes (sorted), the character
/// counterpart of [`word_set`].
pub fn char_gram_set(tokens: &[&str], chars: &mut Vec<char>, out: &mut Vec<u64>) {
    out.clear();
    for tok in tokens {
        for_each_char_gram(tok, chars, |h| out.push(h));
    }
    out.sort_unstable();
    out.dedup();
}

/// Sort and count raw features into (index, term frequency) pairs.
fn count(raw: &mut [u32], out_idx: &mut Vec<u32>, out_tf: &mut Vec<f32>) {
    raw.sort_unstable();
    let mut i = 0;
    while i < raw.len() {
        let mut j = i + 1;
        while j < raw.len() && raw[j] == raw[i] {
            j += 1;
        }
        out_idx.push(raw[i]);
        out_tf.push((j - i) as f32);
        i = j;
    }
}

/// Inverse document frequencies learnt from a corpus, used to weight any row.
pub struct TfIdf {
    idf: Vec<f32>,
}

impl TfIdf {
    /// Featurise one token sequence (with optional skipped tokens) into `idx`/`val` (cleared).
    pub fn featurize(
        &self,
        tokens: &[&str],
        skip: Option<&[bool]>,
        scratch: &mut Scratch,
        idx: &mut Vec<u32>,
        val: &mut Vec<f32>,
    ) {
        idx.clear();
        val.clear();
        raw_features(
            tokens,
            skip,
            &mut scratch.raw,
            &mut scratch.lower,
            &mut scratch.chars,
        );
        count(&mut scratch.raw, idx, val);
        self.weight(idx, val);
    }

    /// Sublinear TF times IDF, each block (words, characters) scaled to norm `1/√2`, so a row
    /// with both has unit norm and each block weighs the same.
    fn weight(&self, idx: &[u32], val: &mut [f32]) {
        for (v, &j) in val.iter_mut().zip(idx) {
            *v = (1.0 + v.ln()) * self.idf[j as usize];
        }
        // `idx` is sorted, so the word block comes first.
        let split = idx.partition_point(|&j| (j as usize) < WORD_DIM);
        let (words, chars) = val.split_at_mut(split);
        for block in [words, chars] {
            let norm = block.iter().map(|v| v * v).sum::<f32>();
            if norm > 0.0 {
                let scale = std::f32::consts::FRAC_1_SQRT_2 / norm.sqrt();
                block.iter_mut().for_each(|v| *v *= scale);
            }
        }
    }
}

/// Learn inverse document frequencies from the rows `rows` of `texts` and return them with those
/// rows featurised, in one pass over the text (a sample is enough for IDF: it only needs
/// document frequencies, and a hundred thousand rows estimate them well).
pub fn learn(texts: &TextArena, rows: &[u32]) -> (TfIdf, SparseRows) {
    const CHUNK: usize = 4096;
    // Per chunk, term counts per row (mergeable: chunks are concatenated in order).
    let parts: Vec<(Vec<usize>, Vec<u32>, Vec<f32>)> = rows
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut lens = Vec::with_capacity(chunk.len());
            let (mut idx, mut tf) = (Vec::new(), Vec::new());
            let mut tokens = Vec::new();
            let (mut raw, mut lower, mut chars) = (Vec::new(), String::new(), Vec::new());
            for &i in chunk {
                tokenize(texts.get(i as usize), &mut tokens);
                raw_features(&tokens, None, &mut raw, &mut lower, &mut chars);
                let before = idx.len();
                count(&mut raw, &mut idx, &mut tf);
                lens.push(idx.len() - before);
            }
            (lens, idx, tf)
        })
        .collect();
    let mut df = vec![0u32; HASH_DIM];
    let total: usize = parts.iter().map(|p| p.1.len()).sum();
    let mut x = SparseRows {
        indptr: Vec::with_capacity(rows.len() + 1),
        idx: Vec::with_capacity(total),
        val: Vec::with_capacity(total),
    };
    x.indptr.push(0);
    for (lens, idx, tf) in parts {
        for &j in &idx {
            df[j as usize] += 1;
        }
        for l in lens {
            let last = *x.indptr.last().unwrap_or(&0);
            x.indptr.push(last + l);
        }
        x.idx.extend_from_slice(&idx);
        x.val.extend_from_slice(&tf);
    }
    let nf = rows.len() as f32;
    let idf: Vec<f32> = df
        .iter()
        .map(|&d| ((1.0 + nf) / (1.0 + d as f32)).ln() + 1.0)
        .collect();
    let model = TfIdf { idf };
    // Weight and normalise each row in place.
    let SparseRows { indptr, idx, val } = &mut x;
    let mut slices: Vec<(&[u32], &mut [f32])> = Vec::with_capacity(rows.len());
    let mut rest: &mut [f32] = val;
    for w in indptr.windows(2) {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(w[1] - w[0]);
        slices.push((&idx[w[0]..w[1]], head));
        rest = tail;
    }
    slices.par_iter_mut().for_each(|(i, v)| model.weight(i, v));
    (model, x)
}

/// Append row `i`'s L2-normalised embedding in dimensions `HASH_DIM..HASH_DIM + dim`.
fn push_embedding(e: &bezoar_data::Embeddings, i: usize, idx: &mut Vec<u32>, val: &mut Vec<f32>) {
    let row = e.row(i);
    let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    idx.extend((0..e.dim as u32).map(|j| HASH_DIM as u32 + j));
    val.extend(row.iter().map(|v| v / norm));
}

/// The text rows `x` (row k is dataset row `rows[k]`) with each row's embedding appended, as
/// [`RowFeatures`] with embeddings featurises them.
pub fn append_embeddings(x: &SparseRows, rows: &[u32], e: &bezoar_data::Embeddings) -> SparseRows {
    let mut out = SparseRows {
        indptr: Vec::with_capacity(rows.len() + 1),
        idx: Vec::with_capacity(x.idx.len() + rows.len() * e.dim),
        val: Vec::with_capacity(x.val.len() + rows.len() * e.dim),
    };
    out.indptr.push(0);
    for (k, &i) in rows.iter().enumerate() {
        let (idx, val) = x.row(k);
        out.idx.extend_from_slice(idx);
        out.val.extend_from_slice(val);
        push_embedding(e, i as usize, &mut out.idx, &mut out.val);
        out.indptr.push(out.idx.len());
    }
    out
}

/// How the label models see a row: its TF-IDF text features, optionally followed by the row's
/// L2-normalised user embedding in dimensions `HASH_DIM..HASH_DIM + dim`, so one linear model
/// reads both.
#[derive(Clone, Copy)]
pub struct RowFeatures<'a> {
    pub tfidf: &'a TfIdf,
    pub texts: &'a TextArena,
    pub embeddings: Option<&'a bezoar_data::Embeddings>,
}

/// Reusable buffers for [`RowFeatures::row_into`].
#[derive(Default)]
pub struct RowScratch<'t> {
    tokens: Vec<&'t str>,
    inner: Scratch,
}

/// Dataset row → its row in a pool matrix built from `pool` (`u32::MAX` for rows outside it).
pub fn pool_positions(n: usize, pool: &[u32]) -> Vec<u32> {
    let mut at = vec![u32::MAX; n];
    for (k, &r) in pool.iter().enumerate() {
        at[r as usize] = k as u32;
    }
    at
}

impl<'a> RowFeatures<'a> {
    /// Row `i`'s features: pool row `pos` of `x` when the row is in the pool (`pos` from
    /// [`pool_positions`]), else featurised on the fly into `idx`/`val`.
    pub fn pool_row<'b>(
        &self,
        x: &'b SparseRows,
        pos: u32,
        i: usize,
        s: &mut RowScratch<'a>,
        idx: &'b mut Vec<u32>,
        val: &'b mut Vec<f32>,
    ) -> (&'b [u32], &'b [f32]) {
        if pos == u32::MAX {
            self.row_into(i, s, idx, val);
            (idx, val)
        } else {
            x.row(pos as usize)
        }
    }

    /// Width of the feature space.
    pub fn dim(&self) -> usize {
        HASH_DIM + self.embeddings.map_or(0, |e| e.dim)
    }

    /// Featurise row `i` into `idx`/`val` (cleared).
    pub fn row_into(
        &self,
        i: usize,
        s: &mut RowScratch<'a>,
        idx: &mut Vec<u32>,
        val: &mut Vec<f32>,
    ) {
        tokenize(self.texts.get(i), &mut s.tokens);
        self.tfidf
            .featurize(&s.tokens, None, &mut s.inner, idx, val);
        if let Some(e) = self.embeddings {
            push_embedding(e, i, idx, val);
        }
    }
}
