//! Duplicates: exact, normalised and near copies of a text; conflicting labels and floods.
//!
//! Three views of "the same text" are unioned into groups:
//! - exact: xxh3 of the raw text;
//! - normalised: xxh3 of the text lower-cased, with every non-alphanumeric character removed and
//!   whitespace collapsed, so case, punctuation and invisible characters do not hide a copy;
//! - near: MinHash over word 3-shingles of the normalised text (character 5-shingles for texts
//!   of fewer than three words), LSH banding for candidate pairs and an estimated-Jaccard check;
//! - one word apart: two normalised texts of at least `EDIT_MIN_WORDS` words where one is the
//!   other with a word dropped, added or repeated, or two neighbouring words swapped. On a short
//!   text one such edit changes most of its word 3-shingles (a ten-word tweet with one word
//!   dropped keeps about half), so MinHash alone splits a flood of lightly edited copies into
//!   pieces too small to stand out. A substituted word is not an edit here: "the plot was
//!   strong" and "the plot was weak" are different texts.
//!
//! MinHash is written here rather than taken from a crate: the one measured (`gaoya`) is rarely
//! released, and what is needed is short. Signatures keep the low 8 bits of each of 64 minima
//! (b-bit MinHash, Li & König 2010): 64 bytes a row, with the 1-in-256 chance agreements
//! corrected for in the Jaccard estimate. Only one row per normalised text is MinHashed.
//!
//! A group whose rows carry different labels means one side is wrong; a group far larger than
//! the typical duplicate group is a flood (an attack that repeats one text many times).

use crate::context::{Context, DetectorOutput};
use crate::result::{Detector, Evidence, Finding, Severity};
use crate::rng::SplitMix64;
use crate::unusual::display_safe;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

const NUM_HASHES: usize = 64;
const BANDS: usize = 16;
const BAND_ROWS: usize = NUM_HASHES / BANDS;
const _: () = assert!(
    BAND_ROWS == 4,
    "band keys pack four signature bytes into a u32"
);
/// Estimated Jaccard at or above which two texts are near duplicates.
const NEAR_JACCARD: f64 = 0.7;
/// Texts with fewer normalised words *and* fewer characters than these are too short to call
/// near duplicates (exact and normalised copies still count).
const MIN_WORDS: usize = 3;
const MIN_CHARS: usize = 12;
const SHINGLE_WORDS: usize = 3;
const SHINGLE_CHARS: usize = 5;
/// LSH buckets up to this size are verified pair by pair; larger ones (a flood of near copies)
/// against at most `MAX_LEADERS` representatives each, so no bucket costs quadratic time.
const PAIRWISE_BUCKET: usize = 32;
const MAX_LEADERS: usize = 32;
/// Conflict and flood groups reported one by one; the rest are summarised in one finding.
const MAX_GROUP_FINDINGS: usize = 50;
/// A flood has at least this many rows...
const FLOOD_MIN: usize = 5;
/// ...and is this many times the typical group size, or this share of the dataset. Ordinary
/// near-duplicates come in twos and threes; ten copies of one text is someone repeating it.
const FLOOD_FACTOR: usize = 5;
const FLOOD_SHARE: f64 = 0.005;
/// Texts one word edit apart are joined when the shorter has at least this many words (a word
/// dropped from a four-word text is a quarter of it), and only texts of at most
/// `EDIT_MAX_WORDS` words are searched (a lookup per word; from about twenty words a single
/// edit keeps the word 3-shingle Jaccard near `NEAR_JACCARD`, where MinHash finds it).
const EDIT_MIN_WORDS: usize = 5;
const EDIT_MAX_WORDS: usize = 32;
/// Stands for "normalises to nothing" (never grouped on its normalised form); word hashes
/// lie below 2^61, so it is none of them.
const EMPTY: u64 = u64::MAX;

/// Rows whose label is a minority in a group of copies: they contradict their near-copies.
const SCORE_MINORITY: f32 = 0.8;
/// Rows of the top labels when two or more labels tie: one side is wrong, which is unknown.
const SCORE_TIED: f32 = 0.4;
const SCORE_MAJORITY: f32 = 0.3;
const SCORE_FLOOD: f32 = 0.6;
/// A medium flood whose copies all carry one label ranks high but is not flagged on its own:
/// a dozen copies of one advert or retweet are everyday in scraped text, while a flood that
/// pushes a label copies a row of another label (and so conflicts), and a large one is high.
const SCORE_FLOOD_ONE_LABEL: f32 = 0.4;
/// The first row of a flood, and rows whose label differs from the flood's: either may be the
/// original text the flood copies (a flood that pushes a label copies a row of another label),
/// whose label is the true one. Scored as a repeat, under a reason: the copies are its nearest
/// neighbours and teach the label readers the flood's label, so the original reads as
/// mislabelled, and a duplicates reason beside that would flag it (measured: the three
/// originals of a 29-copy flood on hate-speech tweets were flagged with 0.3 here).
const SCORE_FLOOD_FIRST: f32 = SCORE_REPEAT;
/// Repeats in an ordinary, label-consistent duplicate group.
const SCORE_REPEAT: f32 = 0.1;

/// Lower-case `text` into `out` keeping only alphanumeric characters, with one space between
/// words; returns the number of words.
fn normalise(text: &str, out: &mut String) -> usize {
    out.clear();
    let mut words = 0;
    let mut gap = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if out.is_empty() {
                words += 1;
            } else if gap {
                out.push(' ');
                words += 1;
            }
            gap = false;
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else {
                out.extend(c.to_lowercase());
            }
        } else if c.is_whitespace() {
            gap = true;
        }
    }
    words
}

/// The Mersenne prime 2^61 − 1: word hashes are polynomials modulo it.
const MERSENNE: u64 = (1 << 61) - 1;

fn mul_mod(a: u64, b: u64) -> u64 {
    let p = a as u128 * b as u128;
    let r = (p as u64 & MERSENNE) + (p >> 61) as u64;
    let r = (r & MERSENNE) + (r >> 61);
    if r >= MERSENNE {
        r - MERSENNE
    } else {
        r
    }
}

fn add_mod(a: u64, b: u64) -> u64 {
    let r = a + b;
    if r >= MERSENNE {
        r - MERSENNE
    } else {
        r
    }
}

/// The key of a normalised text: `Σ v(wᵢ)·B^(L−1−i)` modulo 2^61 − 1 over its L words, with
/// `v` a seeded xxh3 of the word and `B` a seeded base. Written as a polynomial over words
/// (not one hash of the string) so the key of the text with one word dropped or two
/// neighbours swapped follows from the words' values in O(1) (see [`OneEditKeys`]): the
/// one-word-edit search costs a few multiplications per word instead of rehashing the text
/// once per word. Two different texts of at most L words share a key with probability at most
/// L / 2^61 under the random base.
struct WordHasher {
    seed: u64,
    base: u64,
}

impl WordHasher {
    fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed ^ 0x776f_7264_6b65_7973);
        Self {
            seed: rng.next_u64(),
            base: 2 + rng.next_u64() % (MERSENNE - 3),
        }
    }

    /// A word's value, in 1..2^61 − 1 (never 0, so a dropped word always changes the key).
    fn word(&self, w: &str) -> u64 {
        1 + xxh3_64_with_seed(w.as_bytes(), self.seed) % (MERSENNE - 1)
    }

    /// The key of a normalised text (words separated by exactly one space), `EMPTY` for the
    /// empty text; `values` is left holding its words' values.
    fn key(&self, norm: &str, values: &mut Vec<u64>) -> u64 {
        values.clear();
        if norm.is_empty() {
            return EMPTY;
        }
        let mut h = 0;
        for w in norm.split(' ') {
            let v = self.word(w);
            values.push(v);
            h = add_mod(mul_mod(h, self.base), v);
        }
        h
    }
}

/// Keys of a text's one-word edits from its words' values: with `P[j]` the key of the first
/// j words and `S[j]` the last L − j words' share of the full key,
/// - dropping word j gives `P[j]·B^(L−1−j) + S[j+1]`;
/// - swapping words j and j+1 adds `(v[j+1] − v[j])·(B^(L−1−j) − B^(L−2−j))`.
#[derive(Default)]
struct OneEditKeys {
    prefix: Vec<u64>,
    suffix: Vec<u64>,
    power: Vec<u64>,
}

impl OneEditKeys {
    /// Calls `f` with the key of the text with each word dropped, then with each two
    /// neighbouring words swapped (where their values differ).
    fn for_each(&mut self, base: u64, values: &[u64], full: u64, mut f: impl FnMut(u64)) {
        let l = values.len();
        self.power.clear();
        self.power.push(1);
        for k in 1..=l {
            let p = mul_mod(self.power[k - 1], base);
            self.power.push(p);
        }
        self.prefix.clear();
        self.prefix.push(0);
        for (j, &v) in values.iter().enumerate() {
            let p = add_mod(mul_mod(self.prefix[j], base), v);
            self.prefix.push(p);
        }
        self.suffix.clear();
        self.suffix.resize(l + 1, 0);
        for j in (0..l).rev() {
            self.suffix[j] = add_mod(
                self.suffix[j + 1],
                mul_mod(values[j], self.power[l - 1 - j]),
            );
        }
        for j in 0..l {
            f(add_mod(
                mul_mod(self.prefix[j], self.power[l - 1 - j]),
                self.suffix[j + 1],
            ));
        }
        for j in 0..l.saturating_sub(1) {
            let (a, b) = (values[j], values[j + 1]);
            if a == b {
                continue;
            }
            let gap = add_mod(self.power[l - 1 - j], MERSENNE - self.power[l - 2 - j]);
            f(add_mod(full, mul_mod(add_mod(b, MERSENNE - a), gap)));
        }
    }
}

fn near_eligible(norm: &str, words: usize) -> bool {
    words >= MIN_WORDS || norm.chars().nth(MIN_CHARS - 1).is_some()
}

/// SplitMix64's finaliser: spreads every bit of a minimum into the kept low byte.
fn fmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64 hash functions: one xxh3 of the shingle, then `(h ^ b_i) * a_i` (odd `a_i`) for each.
struct MinHasher {
    seed: u64,
    mul: [u64; NUM_HASHES],
    xor: [u64; NUM_HASHES],
}

impl MinHasher {
    fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed ^ 0x6d69_6e68_6173_6821);
        let mut mul = [0u64; NUM_HASHES];
        let mut xor = [0u64; NUM_HASHES];
        for (m, x) in mul.iter_mut().zip(xor.iter_mut()) {
            *m = rng.next_u64() | 1;
            *x = rng.next_u64();
        }
        Self {
            seed: rng.next_u64(),
            mul,
            xor,
        }
    }

    fn add(&self, mins: &mut [u64; NUM_HASHES], shingle: &str) {
        let h = xxh3_64_with_seed(shingle.as_bytes(), self.seed);
        for ((m, &a), &b) in mins.iter_mut().zip(&self.mul).zip(&self.xor) {
            *m = (*m).min((h ^ b).wrapping_mul(a));
        }
    }

    /// Write the b-bit signature of a normalised text into `out`; false when it has no shingle.
    fn signature(&self, norm: &str, words: usize, out: &mut [u8]) -> bool {
        let mut mins = [u64::MAX; NUM_HASHES];
        let mut shingles = 0usize;
        if words >= MIN_WORDS {
            // Words are separated by exactly one space, so a shingle is a slice of `norm`.
            let mut starts = [0usize; SHINGLE_WORDS];
            let mut word_start = 0;
            let ends = norm
                .match_indices(' ')
                .map(|(i, _)| i)
                .chain(std::iter::once(norm.len()));
            for (k, end) in ends.enumerate() {
                starts[k % SHINGLE_WORDS] = word_start;
                if k + 1 >= SHINGLE_WORDS {
                    self.add(
                        &mut mins,
                        &norm[starts[(k + 1 - SHINGLE_WORDS) % SHINGLE_WORDS]..end],
                    );
                    shingles += 1;
                }
                word_start = end + 1;
            }
        } else {
            let mut ring = [0usize; SHINGLE_CHARS + 1];
            let bounds = norm
                .char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(norm.len()));
            for (k, b) in bounds.enumerate() {
                ring[k % (SHINGLE_CHARS + 1)] = b;
                if k >= SHINGLE_CHARS {
                    self.add(
                        &mut mins,
                        &norm[ring[(k - SHINGLE_CHARS) % (SHINGLE_CHARS + 1)]..b],
                    );
                    shingles += 1;
                }
            }
        }
        for (o, m) in out.iter_mut().zip(&mins) {
            *o = fmix(*m) as u8;
        }
        shingles > 0
    }
}

/// Jaccard similarity estimated from two b-bit signatures.
fn jaccard(a: &[u8], b: &[u8]) -> f64 {
    let agree = a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / NUM_HASHES as f64;
    const CHANCE: f64 = 1.0 / 256.0;
    ((agree - CHANCE) / (1.0 - CHANCE)).max(0.0)
}

/// Union-find whose root is always the component's lowest row.
struct Dsu(Vec<u32>);

impl Dsu {
    fn new(n: usize) -> Self {
        Self((0..n as u32).collect())
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.0[x as usize] != x {
            let grand = self.0[self.0[x as usize] as usize];
            self.0[x as usize] = grand;
            x = grand;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.0[hi as usize] = lo;
        }
    }
}

/// Candidate pairs from one LSH band, verified; as indices into the signature table.
fn band_edges(sigs: &[u8], band: usize) -> Vec<(u32, u32)> {
    let m = sigs.len() / NUM_HASHES;
    let sig = |j: u32| &sigs[j as usize * NUM_HASHES..(j as usize + 1) * NUM_HASHES];
    let mut keys: Vec<u64> = (0..m)
        .map(|j| {
            let s = &sigs[j * NUM_HASHES + band * BAND_ROWS..][..BAND_ROWS];
            (u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])) << 32) | j as u64
        })
        .collect();
    keys.sort_unstable();
    let (mut edges, mut members, mut leaders) = (Vec::new(), Vec::new(), Vec::new());
    let mut i = 0;
    while i < keys.len() {
        let mut j = i + 1;
        while j < keys.len() && keys[j] >> 32 == keys[i] >> 32 {
            j += 1;
        }
        if j - i >= 2 {
            members.clear();
            members.extend(keys[i..j].iter().map(|&k| k as u32));
            if members.len() <= PAIRWISE_BUCKET {
                for (x, &a) in members.iter().enumerate() {
                    for &b in &members[x + 1..] {
                        if jaccard(sig(a), sig(b)) >= NEAR_JACCARD {
                            edges.push((a, b));
                        }
                    }
                }
            } else {
                leaders.clear();
                for &a in &members {
                    let mut joined = false;
                    for &l in &leaders {
                        if jaccard(sig(a), sig(l)) >= NEAR_JACCARD {
                            edges.push((l, a));
                            joined = true;
                        }
                    }
                    if !joined && leaders.len() < MAX_LEADERS {
                        leaders.push(a);
                    }
                }
            }
        }
        i = j;
    }
    edges
}

#[derive(Clone, Copy, Default)]
struct RowKey {
    exact: u64,
    norm: u64,
    near: bool,
}

/// Duplicate groups of size ≥ 2, as ascending row lists, ordered by first row.
struct Groups {
    rows: Vec<u32>,
    /// `(start, end)` into `rows` per group.
    spans: Vec<(usize, usize)>,
    keys: Vec<RowKey>,
    /// Representative row (first with its normalised text) per row in a group; others unset.
    rep_of: Vec<u32>,
    /// Rows that were MinHashed, ascending, and their signatures.
    reps: Vec<u32>,
    sigs: Vec<u8>,
}

fn find_groups(ctx: &Context) -> Groups {
    let n = ctx.n();
    let texts = &ctx.ds.texts;
    let word_hasher = WordHasher::new(ctx.cfg.seed);
    let keys: Vec<RowKey> = (0..n)
        .into_par_iter()
        .with_min_len(1024)
        .map_init(
            || (String::new(), Vec::new()),
            |(buf, values), i| {
                let text = texts.get(i);
                let words = normalise(text, buf);
                RowKey {
                    exact: xxh3_64(text.as_bytes()),
                    norm: word_hasher.key(buf, values),
                    near: near_eligible(buf, words),
                }
            },
        )
        .collect();

    let mut dsu = Dsu::new(n);
    // Exact and normalised copies; one representative per normalised text goes on to MinHash.
    let mut order: Vec<(u64, u32)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.exact, i as u32))
        .collect();
    order.par_sort_unstable();
    for w in order.windows(2) {
        if w[0].0 == w[1].0 {
            dsu.union(w[0].1, w[1].1);
        }
    }
    for (o, (i, k)) in order.iter_mut().zip(keys.iter().enumerate()) {
        *o = (k.norm, i as u32);
    }
    order.par_sort_unstable();
    let mut rep_of: Vec<u32> = (0..n as u32).collect();
    let mut reps = Vec::new();
    // The first row of each normalised text, by key: what the one-word-edit search looks up.
    let mut first_of: FxHashMap<u64, u32> = Default::default();
    let mut i = 0;
    while i < order.len() {
        let (h, first) = order[i];
        let mut j = i + 1;
        while j < order.len() && order[j].0 == h {
            if h != EMPTY {
                dsu.union(first, order[j].1);
                rep_of[order[j].1 as usize] = first;
            }
            j += 1;
        }
        if h != EMPTY {
            first_of.insert(h, first);
            if keys[first as usize].near {
                reps.push(first);
            }
        }
        i = j;
    }
    let one_edit = OneEditSearch::new(first_of, &word_hasher);
    drop(order);
    reps.sort_unstable();

    // MinHash signatures of the representatives, and their texts one word edit away.
    let hasher = MinHasher::new(ctx.cfg.seed);
    let mut sigs = vec![0u8; reps.len() * NUM_HASHES];
    let (mut edit_pairs, unsigned) = sigs
        .par_chunks_mut(NUM_HASHES)
        .zip(reps.par_iter())
        .with_min_len(256)
        .fold(
            || (RepScratch::default(), Vec::new(), Vec::new()),
            |(mut scratch, mut pairs, mut unsigned), (out, &r)| {
                let words = normalise(texts.get(r as usize), &mut scratch.norm);
                if !hasher.signature(&scratch.norm, words, out) {
                    unsigned.push(r);
                }
                one_edit.find(r, words, &mut scratch, &mut pairs);
                (scratch, pairs, unsigned)
            },
        )
        .map(|(_, pairs, unsigned)| (pairs, unsigned))
        .reduce(
            || (Vec::new(), Vec::new()),
            |(mut pairs, mut unsigned), (mut more_pairs, mut more_unsigned)| {
                pairs.append(&mut more_pairs);
                unsigned.append(&mut more_unsigned);
                (pairs, unsigned)
            },
        );
    edit_pairs.sort_unstable();
    edit_pairs.dedup();
    for (a, b) in edit_pairs {
        dsu.union(a, b);
    }
    if !unsigned.is_empty() {
        let unsigned: rustc_hash::FxHashSet<u32> = unsigned.into_iter().collect();
        let (mut kept, mut kept_sigs) = (
            Vec::with_capacity(reps.len()),
            Vec::with_capacity(sigs.len()),
        );
        for (j, &r) in reps.iter().enumerate() {
            if !unsigned.contains(&r) {
                kept.push(r);
                kept_sigs.extend_from_slice(&sigs[j * NUM_HASHES..(j + 1) * NUM_HASHES]);
            }
        }
        (reps, sigs) = (kept, kept_sigs);
    }

    // LSH: bands in parallel, unions in band order.
    let edges: Vec<Vec<(u32, u32)>> = (0..BANDS)
        .into_par_iter()
        .map(|b| band_edges(&sigs, b))
        .collect();
    for band in edges {
        for (a, b) in band {
            dsu.union(reps[a as usize], reps[b as usize]);
        }
    }

    // Components of size ≥ 2; roots are each component's first row.
    let roots: Vec<u32> = (0..n as u32).map(|i| dsu.find(i)).collect();
    drop(dsu);
    let mut size = vec![0u32; n];
    for &r in &roots {
        size[r as usize] += 1;
    }
    let mut members: Vec<(u32, u32)> = roots
        .iter()
        .enumerate()
        .filter(|(_, &r)| size[r as usize] >= 2)
        .map(|(i, &r)| (r, i as u32))
        .collect();
    drop((roots, size));
    members.sort_unstable();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < members.len() {
        let mut j = i + 1;
        while j < members.len() && members[j].0 == members[i].0 {
            j += 1;
        }
        spans.push((i, j));
        i = j;
    }
    let rows = members.into_iter().map(|(_, r)| r).collect();
    Groups {
        rows,
        spans,
        keys,
        rep_of,
        reps,
        sigs,
    }
}

/// Per-thread scratch of the representatives' pass.
#[derive(Default)]
struct RepScratch {
    norm: String,
    values: Vec<u64>,
    edits: OneEditKeys,
}

/// Finds the texts one word edit away from a text (see the module docs) among the dataset's
/// normalised texts. A text with a word added is found from the longer side (its drop of that
/// word), so looking from every text of `EDIT_MIN_WORDS + 1` to `EDIT_MAX_WORDS` words
/// finds every pair.
struct OneEditSearch<'a> {
    word_hasher: &'a WordHasher,
    /// The first row of each normalised text, by key.
    first: FxHashMap<u64, u32>,
    /// One bit per value of a key's high bits, about four bits per text: nearly every edit is
    /// no text of the dataset, and this answers four in five of them from a table that stays in
    /// a core's cache (512 KiB for a million texts) before the map is read. Measured on a
    /// million generated rows: the probes were most of the search's time at sixteen bits per
    /// text (2 MiB), about half as long at four.
    seen: Vec<u64>,
    shift: u32,
}

impl<'a> OneEditSearch<'a> {
    /// `first`: the first row of each normalised text, by key.
    fn new(first: FxHashMap<u64, u32>, word_hasher: &'a WordHasher) -> Self {
        let bits = (first.len().max(1) * 4).next_power_of_two().max(1 << 16);
        let shift = 61 - bits.trailing_zeros();
        let mut seen = vec![0u64; bits / 64];
        for &h in first.keys() {
            let b = (h >> shift) as usize;
            seen[b / 64] |= 1 << (b % 64);
        }
        Self {
            word_hasher,
            first,
            seen,
            shift,
        }
    }

    fn maybe(&self, h: u64) -> bool {
        let b = (h >> self.shift) as usize;
        self.seen[b / 64] >> (b % 64) & 1 == 1
    }

    /// Pushes `(lower, higher)` first rows for each text one edit away from row `row`, whose
    /// normalised text of `words` words is in `scratch.norm`.
    fn find(&self, row: u32, words: usize, scratch: &mut RepScratch, out: &mut Vec<(u32, u32)>) {
        if !(EDIT_MIN_WORDS < words && words <= EDIT_MAX_WORDS) {
            return;
        }
        let h = self.word_hasher.key(&scratch.norm, &mut scratch.values);
        scratch
            .edits
            .for_each(self.word_hasher.base, &scratch.values, h, |e| {
                if e != h && self.maybe(e) {
                    if let Some(&other) = self.first.get(&e) {
                        out.push((other.min(row), other.max(row)));
                    }
                }
            });
    }
}

/// Exact (0), normalised (1) or near (2): the loosest relation a group needed.
fn group_kind(g: &Groups, rows: &[u32]) -> u8 {
    let first = g.keys[rows[0] as usize];
    if rows
        .iter()
        .all(|&r| g.keys[r as usize].exact == first.exact)
    {
        0
    } else if rows.iter().all(|&r| g.keys[r as usize].norm == first.norm) {
        1
    } else {
        2
    }
}

/// Mean estimated Jaccard of each row to the group's first row (1 for exact and normalised).
fn mean_jaccard(g: &Groups, rows: &[u32], kind: u8) -> f64 {
    if kind < 2 || rows.len() < 2 {
        return 1.0;
    }
    let sig = |r: u32| {
        let rep = g.rep_of[r as usize];
        g.reps
            .binary_search(&rep)
            .ok()
            .map(|j| &g.sigs[j * NUM_HASHES..(j + 1) * NUM_HASHES])
    };
    let root = sig(rows[0]);
    let total: f64 = rows[1..]
        .iter()
        .map(|&r| match (root, sig(r)) {
            (Some(a), Some(b)) => jaccard(a, b),
            _ => 1.0,
        })
        .sum();
    total / (rows.len() - 1) as f64
}

struct GroupInfo {
    span: (usize, usize),
    kind: u8,
    /// (class, rows) by rows descending, then class.
    labels: Vec<(u32, u32)>,
    jaccard: f64,
    flood: bool,
}

impl GroupInfo {
    fn size(&self) -> usize {
        self.span.1 - self.span.0
    }
    fn conflicting(&self) -> bool {
        self.labels.len() >= 2
    }
    fn purity(&self) -> f64 {
        self.labels[0].1 as f64 / self.size() as f64
    }
}

fn label_counts(labels: &[u32], rows: &[u32], buf: &mut Vec<u32>) -> Vec<(u32, u32)> {
    buf.clear();
    buf.extend(rows.iter().map(|&r| labels[r as usize]));
    buf.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &c in buf.iter() {
        match out.last_mut() {
            Some((last, k)) if *last == c => *k += 1,
            _ => out.push((c, 1)),
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

fn kind_name(kind: u8) -> (&'static str, &'static str) {
    match kind {
        0 => ("exact-duplicate group", "exact copies"),
        1 => (
            "duplicate group (same text after normalisation)",
            "copies (after normalisation)",
        ),
        _ => ("near-duplicate group", "near-copies"),
    }
}

pub(crate) fn detect(ctx: &Context) -> DetectorOutput {
    let n = ctx.n();
    let mut scores = vec![0.0f32; n];
    let mut findings = Vec::new();
    if n == 0 || ctx.classes == 0 {
        return DetectorOutput {
            detector: Detector::Duplicates,
            scores,
            findings,
            skipped: None,
        };
    }
    let g = find_groups(ctx);
    let mut buf = Vec::new();
    let mut groups: Vec<GroupInfo> = g
        .spans
        .iter()
        .map(|&span| {
            let rows = &g.rows[span.0..span.1];
            let kind = group_kind(&g, rows);
            GroupInfo {
                span,
                kind,
                labels: label_counts(ctx.labels, rows, &mut buf),
                jaccard: mean_jaccard(&g, rows, kind),
                flood: false,
            }
        })
        .collect();
    let mut sizes: Vec<usize> = groups.iter().map(GroupInfo::size).collect();
    sizes.sort_unstable();
    let typical = sizes.get(sizes.len() / 2).copied().unwrap_or(2).max(2);
    for gi in &mut groups {
        let s = gi.size();
        gi.flood =
            s >= FLOOD_MIN && (s >= FLOOD_FACTOR * typical || s as f64 >= FLOOD_SHARE * n as f64);
    }

    let flood_severity = |gi: &GroupInfo| {
        if gi.size() as f64 >= 0.01 * n as f64 || gi.size() >= 50 {
            Severity::High
        } else {
            Severity::Medium
        }
    };

    // Scores.
    for gi in &groups {
        let rows = &g.rows[gi.span.0..gi.span.1];
        let top = gi.labels[0].1;
        let tied = gi.labels.iter().filter(|l| l.1 == top).count() > 1;
        let count_of = |r: u32| {
            let c = ctx.labels[r as usize];
            gi.labels.iter().find(|l| l.0 == c).map_or(0, |l| l.1)
        };
        for (k, &r) in rows.iter().enumerate() {
            let minority = count_of(r) < top;
            let s = if gi.flood {
                if minority || k == 0 {
                    SCORE_FLOOD_FIRST
                } else if gi.conflicting() || flood_severity(gi) == Severity::High {
                    SCORE_FLOOD
                } else {
                    SCORE_FLOOD_ONE_LABEL
                }
            } else if gi.conflicting() {
                if minority {
                    SCORE_MINORITY
                } else if tied {
                    SCORE_TIED
                } else {
                    SCORE_MAJORITY
                }
            } else if k == 0 {
                0.0
            } else {
                SCORE_REPEAT
            };
            scores[r as usize] = scores[r as usize].max(s);
        }
    }

    // Findings: floods, then conflicts, each group on its own up to a cap; then the rest.
    let text_of = |gi: &GroupInfo| ctx.ds.texts.get(g.rows[gi.span.0] as usize);
    let rows_of = |gi: &GroupInfo| g.rows[gi.span.0..gi.span.1].to_vec();
    let label_mix = |gi: &GroupInfo| {
        let mut parts: Vec<String> = gi
            .labels
            .iter()
            .take(5)
            .map(|&(c, k)| format!("{k} × {}", ctx.label_name(c as usize)))
            .collect();
        if gi.labels.len() > 5 {
            parts.push(format!("{} more labels", gi.labels.len() - 5));
        }
        parts.join(", ")
    };
    let evidence = |gi: &GroupInfo| {
        vec![
            Evidence {
                name: "group_size",
                value: gi.size() as f64,
            },
            Evidence {
                name: "distinct_labels",
                value: gi.labels.len() as f64,
            },
            Evidence {
                name: "label_purity",
                value: gi.purity(),
            },
            Evidence {
                name: "kind",
                value: gi.kind as f64,
            },
            Evidence {
                name: "mean_jaccard",
                value: gi.jaccard,
            },
            Evidence {
                name: "share_of_dataset",
                value: gi.size() as f64 / n as f64,
            },
            Evidence {
                name: "typical_group_size",
                value: typical as f64,
            },
        ]
    };

    let mut floods: Vec<&GroupInfo> = groups.iter().filter(|gi| gi.flood).collect();
    floods.sort_by(|a, b| b.size().cmp(&a.size()).then(a.span.0.cmp(&b.span.0)));
    for gi in floods.iter().take(MAX_GROUP_FINDINGS) {
        let label = ctx.label_name(gi.labels[0].0 as usize).to_string();
        let conflict = if gi.conflicting() {
            format!(" (conflicting labels: {})", label_mix(gi))
        } else {
            String::new()
        };
        findings.push(Finding {
            detector: Detector::Duplicates,
            severity: flood_severity(gi),
            title: format!(
                "flood: {} {} of one text, {:.0}% labelled {label}{conflict}: \"{}\"",
                gi.size(),
                kind_name(gi.kind).1,
                100.0 * gi.purity(),
                display_safe(text_of(gi), 60)
            ),
            subject: display_safe(text_of(gi), 200),
            target_label: Some(label),
            rows: rows_of(gi),
            evidence: evidence(gi),
        });
    }
    summarise_rest(&mut findings, &floods, &g, ("flood", ""), |gi| {
        flood_severity(gi)
    });

    // Copies of one text that disagree on its label are a labelling error, and short everyday
    // texts ("@USER Fake news") collect them naturally; duplicates become an attack when they
    // flood, which is reported above.
    let conflict_severity = |_: &GroupInfo| Severity::Medium;
    let mut conflicts: Vec<&GroupInfo> = groups
        .iter()
        .filter(|gi| !gi.flood && gi.conflicting())
        .collect();
    conflicts.sort_by(|a, b| b.size().cmp(&a.size()).then(a.span.0.cmp(&b.span.0)));
    for gi in conflicts.iter().take(MAX_GROUP_FINDINGS) {
        findings.push(Finding {
            detector: Detector::Duplicates,
            severity: conflict_severity(gi),
            title: format!(
                "{} of {} rows with conflicting labels ({}): \"{}\"",
                kind_name(gi.kind).0,
                gi.size(),
                label_mix(gi),
                display_safe(text_of(gi), 60)
            ),
            subject: display_safe(text_of(gi), 200),
            target_label: None,
            rows: rows_of(gi),
            evidence: evidence(gi),
        });
    }
    summarise_rest(
        &mut findings,
        &conflicts,
        &g,
        ("duplicate group", " with conflicting labels"),
        |gi| conflict_severity(gi),
    );

    let ordinary: Vec<&GroupInfo> = groups
        .iter()
        .filter(|gi| !gi.flood && !gi.conflicting())
        .collect();
    if !ordinary.is_empty() {
        let mut rows: Vec<u32> = ordinary
            .iter()
            .flat_map(|gi| g.rows[gi.span.0..gi.span.1].iter().copied())
            .collect();
        rows.sort_unstable();
        let largest = ordinary.iter().map(|gi| gi.size()).max().unwrap_or(0);
        let of_kind = |k: u8| ordinary.iter().filter(|gi| gi.kind == k).count() as f64;
        findings.push(Finding {
            detector: Detector::Duplicates,
            severity: Severity::Info,
            title: format!(
                "{} covering {} rows (largest {} rows), each with one label",
                plural(ordinary.len(), "duplicate group"),
                rows.len(),
                largest
            ),
            subject: "duplicate groups".to_string(),
            target_label: None,
            evidence: vec![
                Evidence {
                    name: "groups",
                    value: ordinary.len() as f64,
                },
                Evidence {
                    name: "rows",
                    value: rows.len() as f64,
                },
                Evidence {
                    name: "largest_group",
                    value: largest as f64,
                },
                Evidence {
                    name: "exact_groups",
                    value: of_kind(0),
                },
                Evidence {
                    name: "normalised_groups",
                    value: of_kind(1),
                },
                Evidence {
                    name: "near_groups",
                    value: of_kind(2),
                },
                Evidence {
                    name: "typical_group_size",
                    value: typical as f64,
                },
            ],
            rows,
        });
    }
    DetectorOutput {
        detector: Detector::Duplicates,
        scores,
        findings,
        skipped: None,
    }
}

/// `1 group`, `2 groups`.
pub(crate) fn plural(k: usize, noun: &str) -> String {
    if k == 1 {
        format!("1 {noun}")
    } else {
        format!("{k} {noun}s")
    }
}

/// One finding for the groups past the per-group cap.
fn summarise_rest(
    findings: &mut Vec<Finding>,
    sorted: &[&GroupInfo],
    g: &Groups,
    (noun, qualifier): (&str, &str),
    severity: impl Fn(&GroupInfo) -> Severity,
) {
    let rest = sorted.get(MAX_GROUP_FINDINGS..).unwrap_or(&[]);
    if rest.is_empty() {
        return;
    }
    let mut rows: Vec<u32> = rest
        .iter()
        .flat_map(|gi| g.rows[gi.span.0..gi.span.1].iter().copied())
        .collect();
    rows.sort_unstable();
    let largest = rest.iter().map(|gi| gi.size()).max().unwrap_or(0);
    findings.push(Finding {
        detector: Detector::Duplicates,
        severity: rest
            .iter()
            .map(|gi| severity(gi))
            .max()
            .unwrap_or(Severity::Medium),
        title: format!(
            "{} more {}{qualifier} covering {} rows (largest {} rows)",
            rest.len(),
            if rest.len() == 1 {
                noun.to_string()
            } else {
                format!("{noun}s")
            },
            rows.len(),
            largest
        ),
        subject: format!("{noun}s{qualifier}"),
        target_label: None,
        evidence: vec![
            Evidence {
                name: "groups",
                value: rest.len() as f64,
            },
            Evidence {
                name: "rows",
                value: rows.len() as f64,
            },
            Evidence {
                name: "largest_group",
                value: largest as f64,
            },
        ],
        rows,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> (String, usize) {
        let mut b = String::new();
        let w = normalise(s, &mut b);
        (b, w)
    }

    fn sig(h: &MinHasher, s: &str) -> Vec<u8> {
        let (n, w) = norm(s);
        let mut out = vec![0u8; NUM_HASHES];
        assert!(h.signature(&n, w, &mut out));
        out
    }

    #[test]
    fn normalises_case_punctuation_and_space() {
        assert_eq!(
            norm("  Hello,   WORLD!! \n it's\u{200B} ok "),
            ("hello world its ok".to_string(), 4)
        );
        assert_eq!(norm("Ünïcode ΣΑΣ"), ("ünïcode σασ".to_string(), 2));
        assert_eq!(norm("?!  ..."), (String::new(), 0));
        assert_eq!(norm(""), (String::new(), 0));
        let h = WordHasher::new(1);
        assert_eq!(h.key("", &mut Vec::new()), EMPTY);
        assert!(h.key("a", &mut Vec::new()) < MERSENNE);
    }

    #[test]
    fn eligibility_skips_short_texts() {
        let (n, w) = norm("ok then");
        assert!(!near_eligible(&n, w));
        let (n, w) = norm("a b c");
        assert!(near_eligible(&n, w));
        let (n, w) = norm("supercalifragilistic");
        assert!(near_eligible(&n, w));
    }

    #[test]
    fn minhash_estimates_jaccard() {
        let h = MinHasher::new(7);
        let base = "the quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat by the door";
        assert_eq!(jaccard(&sig(&h, base), &sig(&h, base)), 1.0);
        let near = format!("{base} tonight");
        assert!(jaccard(&sig(&h, base), &sig(&h, &near)) >= NEAR_JACCARD);
        let other =
            "completely different words appear in this sentence about markets and rain and trains";
        assert!(jaccard(&sig(&h, base), &sig(&h, other)) < 0.3);
        // Character shingles for long single words.
        let a = sig(&h, "pneumonoultramicroscopicsilicovolcanoconiosis");
        let b = sig(&h, "pneumonoultramicroscopicsilicovolcanoconiosiss");
        assert!(jaccard(&a, &b) >= NEAR_JACCARD);
    }

    #[test]
    fn word_shingles_cover_the_text() {
        // Three words make exactly one shingle; a change anywhere changes the signature.
        let h = MinHasher::new(1);
        assert_ne!(sig(&h, "a b c"), sig(&h, "a b d"));
        assert_ne!(sig(&h, "a b c"), sig(&h, "x b c"));
        assert_eq!(sig(&h, "A, b. c!"), sig(&h, "a b c"));
    }

    #[test]
    fn one_word_edit_keys_are_the_keys_of_the_edited_texts() {
        let h = WordHasher::new(7);
        let key = |t: &str| h.key(t, &mut Vec::new());
        let mut values = Vec::new();
        let full = h.key("a b b c", &mut values);
        let mut seen = Vec::new();
        OneEditKeys::default().for_each(h.base, &values, full, |k| seen.push(k));
        // Each word dropped, then each pair swapped; the swap of the two equal words is none.
        let expected: Vec<u64> = ["b b c", "a b c", "a b c", "a b b", "b a b c", "a b c b"]
            .iter()
            .map(|t| key(t))
            .collect();
        assert_eq!(seen, expected);
        assert_ne!(key("a b"), key("b a"));
        assert_ne!(key("a b"), key("ab"));
        assert_ne!(key("a"), key("a a"));
    }

    #[test]
    fn word_keys_stay_in_the_field_under_extreme_values() {
        assert_eq!(mul_mod(MERSENNE - 1, MERSENNE - 1), 1);
        assert_eq!(add_mod(MERSENNE - 1, 1), 0);
        assert_eq!(mul_mod(1 << 60, 4), 2);
    }

    /// A ten-word tweet copied twelve times with one small edit each (a word dropped, repeated
    /// or two swapped) and relabelled, into 2,000 random rows.
    fn edited_copies(original: &str, edits: &[&str]) -> DetectorOutput {
        let mut texts = random_texts(2000, 21);
        let mut labels: Vec<u32> = (0..2000).map(|i| (i % 2) as u32).collect();
        texts.push(original.to_string());
        labels.push(0);
        for e in edits {
            texts.push(e.to_string());
            labels.push(1);
        }
        run(&texts, &labels)
    }

    #[test]
    fn copies_one_word_apart_make_one_flood() {
        let original = "colt mccoy wins again tonight and he is still trash";
        let edits = [
            "colt mccoy wins again tonight and he still trash",
            "colt mccoy wins again tonight and he is is still trash",
            "colt mccoy wins tonight again and he is still trash",
            "mccoy wins again tonight and he is still trash",
            "colt mccoy wins again tonight and is he still trash",
            "colt mccoy wins again tonight and he is still trash !",
            "colt mccoy wins again again tonight and he is still trash",
            "colt mccoy wins again tonight and he is trash",
            "colt wins again tonight and he is still trash",
            "colt mccoy wins again tonight he is still trash",
            "colt mccoy again wins tonight and he is still trash",
            "colt mccoy wins again tonight and he is still still trash",
        ];
        // Word 3-shingles alone keep only about half of a short text through one edit.
        let h = MinHasher::new(1);
        let (a, b) = (sig(&h, original), sig(&h, edits[0]));
        assert!(jaccard(&a, &b) < NEAR_JACCARD);
        let out = edited_copies(original, &edits);
        let f = &out.findings[0];
        assert!(
            f.title.starts_with("flood: 13 near-copies of one text, 92% labelled pos (conflicting labels: 12 × pos, 1 × neg)"),
            "{}",
            f.title
        );
        assert!(out.scores[2001..].iter().all(|&v| v == SCORE_FLOOD));
        // The original keeps its label; the flood's copies make it read as mislabelled.
        assert_eq!(out.scores[2000], SCORE_FLOOD_FIRST);
    }

    #[test]
    fn a_substituted_word_or_a_short_text_is_not_one_edit_away() {
        // A changed word changes what the text says.
        let out = edited_copies(
            "the plot of this film was strong and deeply moving",
            &["the plot of this film was weak and deeply moving"],
        );
        assert!(out.scores[2000..].iter().all(|&v| v == 0.0));
        // A word dropped from a four-word text is a quarter of it.
        let out = edited_copies("he is a keeper", &["he is a"]);
        assert!(out.scores[2000..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn union_find_roots_at_lowest_row() {
        let mut d = Dsu::new(6);
        d.union(5, 3);
        d.union(3, 4);
        d.union(1, 4);
        assert_eq!(d.find(5), 1);
        assert_eq!(d.find(0), 0);
    }

    #[test]
    fn big_bucket_is_linear_and_verified() {
        // 500 identical signatures form one bucket per band; leaders keep it linear.
        let h = MinHasher::new(3);
        let s = sig(&h, "one two three four five six seven");
        let sigs: Vec<u8> = (0..500).flat_map(|_| s.iter().copied()).collect();
        let e = band_edges(&sigs, 0);
        assert_eq!(e.len(), 499);
        assert!(e.iter().all(|&(a, _)| a == 0));
    }

    use super::test_support::{dataset, random_texts, with_context};

    fn run(texts: &[String], labels: &[u32]) -> DetectorOutput {
        with_context(&dataset(texts, labels), detect)
    }

    #[test]
    fn scores_follow_group_roles() {
        let mut texts = random_texts(300, 11);
        let mut labels: Vec<u32> = (0..300).map(|i| (i % 2) as u32).collect();
        // Conflict: rows 0 (pos), 300 (pos), 301 (neg) are copies of one text.
        labels[0] = 1;
        texts.push(texts[0].clone());
        labels.push(1);
        texts.push(texts[0].to_uppercase());
        labels.push(0);
        // Tie: row 1 and row 302 differ in label only.
        texts.push(format!("{}.", texts[1]));
        labels.push(1 - labels[1]);
        // Ordinary: row 2 and its copy 303 agree.
        texts.push(texts[2].clone());
        labels.push(labels[2]);
        let out = run(&texts, &labels);
        let s = &out.scores;
        assert_eq!(
            (s[0], s[300], s[301]),
            (SCORE_MAJORITY, SCORE_MAJORITY, SCORE_MINORITY)
        );
        assert_eq!((s[1], s[302]), (SCORE_TIED, SCORE_TIED));
        assert_eq!((s[2], s[303]), (0.0, SCORE_REPEAT));
        assert!(s[3..300].iter().all(|&v| v == 0.0));
        let titles: Vec<(&str, Severity)> = out
            .findings
            .iter()
            .map(|f| (f.title.as_str(), f.severity))
            .collect();
        assert_eq!(titles.len(), 3, "{titles:#?}");
        assert!(titles[0].0.starts_with("duplicate group (same text after normalisation) of 3 rows with conflicting labels (2 × pos, 1 × neg)"));
        assert_eq!(titles[0].1, Severity::Medium);
        assert!(titles[1].0.starts_with(
            "duplicate group (same text after normalisation) of 2 rows with conflicting labels"
        ));
        assert_eq!(titles[1].1, Severity::Medium);
        assert_eq!(
            titles[2],
            (
                "1 duplicate group covering 2 rows (largest 2 rows), each with one label",
                Severity::Info
            )
        );
        assert!(out
            .findings
            .iter()
            .all(|f| f.rows.windows(2).all(|w| w[0] < w[1])));
    }

    #[test]
    fn flood_scores_spare_the_first_row() {
        let mut texts = random_texts(1000, 12);
        let mut labels: Vec<u32> = (0..1000).map(|i| (i % 2) as u32).collect();
        for k in 0..30 {
            texts.push(format!(
                "Buy cheap pills at example dot com, the best offer today: number {k}!"
            ));
            labels.push(if k == 29 { 0 } else { 1 });
        }
        let out = run(&texts, &labels);
        assert_eq!(out.scores[1000], SCORE_FLOOD_FIRST);
        assert!(out.scores[1001..1029].iter().all(|&v| v == SCORE_FLOOD));
        assert_eq!(out.scores[1029], SCORE_FLOOD_FIRST);
        let f = &out.findings[0];
        assert!(f.title.starts_with("flood: 30 near-copies of one text, 97% labelled pos (conflicting labels: 29 × pos, 1 × neg)"), "{}", f.title);
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.rows, (1000..1030).collect::<Vec<u32>>());
    }

    #[test]
    fn a_small_one_label_flood_ranks_but_a_conflicting_one_is_flagged() {
        // 12 copies in 2,000 rows: a flood (≥ 0.5% of rows), medium (< 1% and < 50 copies).
        let flood = |conflict: bool| {
            let mut texts = random_texts(2000, 14);
            let mut labels: Vec<u32> = (0..2000).map(|i| (i % 2) as u32).collect();
            for k in 0..12 {
                texts.push("BEST MASSAGE in town, call 555 0100 now, open late".to_string());
                labels.push(if conflict && k == 0 { 0 } else { 1 });
            }
            let out = run(&texts, &labels);
            assert_eq!(out.findings[0].severity, Severity::Medium);
            assert!(out.findings[0].title.starts_with("flood: 12 "));
            out.scores
        };
        let one_label = flood(false);
        let threshold = crate::ScanConfig::default().threshold;
        assert!(one_label[2001..2012]
            .iter()
            .all(|&v| v == SCORE_FLOOD_ONE_LABEL && v < threshold));
        let conflicting = flood(true);
        assert!(conflicting[2001..2012]
            .iter()
            .all(|&v| v == SCORE_FLOOD && v >= threshold));
    }

    #[test]
    fn empty_and_punctuation_only_texts() {
        let mut texts = random_texts(50, 13);
        texts.extend([
            "".to_string(),
            "".to_string(),
            "!!".to_string(),
            "??".to_string(),
        ]);
        let labels = vec![0u32; texts.len()];
        let out = run(&texts, &labels);
        // The two empty strings are exact copies; "!!" and "??" normalise to nothing and stay apart.
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].rows, vec![50, 51]);
    }

    #[test]
    fn detector_is_deterministic() {
        let mut texts = random_texts(3000, 14);
        for i in 0..200 {
            texts.push(format!(
                "{} {}",
                texts[i % 5],
                texts[3000 - 1 - i].split(' ').next().unwrap_or("")
            ));
        }
        let labels: Vec<u32> = (0..texts.len()).map(|i| (i % 3 == 0) as u32).collect();
        let a = run(&texts, &labels);
        let b = run(&texts, &labels);
        assert_eq!(a.scores, b.scores);
        let key = |o: &DetectorOutput| {
            o.findings
                .iter()
                .map(|f| (f.title.clone(), f.rows.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&a), key(&b));
        assert!(!a.findings.is_empty());
    }

    /// 1M short rows with some floods and copies; run with `--ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench_one_million_rows() {
        let n = 1_000_000;
        let mut texts = random_texts(n, 15);
        for i in 0..20_000 {
            texts[i * 37] = format!("flood text number {} is here again and again", i % 3);
            texts[i * 41 + 1] = texts[i * 41].clone();
        }
        // A near-copy flood (distinct texts, one LSH bucket) and rows sharing a long prefix only.
        for i in 0..50_000 {
            let tail = texts[i * 19 + 3].clone();
            let word = tail.split(' ').next().unwrap_or("").to_string();
            texts[i * 19 + 2] =
                format!("win a free cruise to the bahamas by calling this number now {word}");
            texts[i * 19 + 3] =
                format!("the committee will meet again on monday to discuss {tail}");
        }
        let labels: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
        let ds = dataset(&texts, &labels);
        drop(texts);
        with_context(&ds, |ctx| {
            let t = std::time::Instant::now();
            let out = detect(ctx);
            eprintln!(
                "duplicates: {:.2}s, {} findings",
                t.elapsed().as_secs_f64(),
                out.findings.len()
            );
            for f in out.findings.iter().take(5) {
                eprintln!("  {:?} {} ({} rows)", f.severity, f.title, f.rows.len());
            }
            let t = std::time::Instant::now();
            let out = crate::unusual::detect(ctx);
            eprintln!(
                "unusual: {:.2}s, {} findings",
                t.elapsed().as_secs_f64(),
                out.findings.len()
            );
        });
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::context::Context;
    use crate::rng::SplitMix64;
    use crate::ScanConfig;
    use bezoar_data::{Categorical, Dataset, ResolvedColumns, RowIds, SkipReport, TextArena};

    pub fn dataset(texts: &[String], labels: &[u32]) -> Dataset {
        let mut arena = TextArena::new();
        for t in texts {
            arena.push(t);
        }
        Dataset {
            ids: RowIds::RowNumbers(texts.len()),
            texts: arena,
            labels: Categorical {
                codes: labels.to_vec(),
                names: vec!["neg".into(), "pos".into()],
            },
            sources: None,
            embeddings: None,
            columns: ResolvedColumns::default(),
            skipped: SkipReport::default(),
            lines: Vec::new(),
        }
    }

    /// Run `f` with a context for `ds`. The shared text model is built on a one-row stand-in:
    /// the duplicates and unusual-character detectors do not read it.
    pub fn with_context<T>(ds: &Dataset, f: impl FnOnce(&Context) -> T) -> T {
        let cfg = ScanConfig::default();
        let mut stand_in = TextArena::new();
        stand_in.push("x");
        let ctx = Context::without_models(ds, &cfg, &stand_in);
        f(&ctx)
    }

    /// `n` distinct-looking texts of 4–14 pseudo-words.
    pub fn random_texts(n: usize, seed: u64) -> Vec<String> {
        const SYL: [&str; 24] = [
            "ka", "lo", "mi", "ru", "te", "sa", "no", "vi", "pe", "da", "go", "fu", "ri", "ze",
            "ba", "lu", "chi", "mo", "ne", "tra", "qua", "pol", "sen", "dor",
        ];
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::with_capacity(n);
        let mut t = String::new();
        for _ in 0..n {
            t.clear();
            for w in 0..4 + rng.below(11) {
                if w > 0 {
                    t.push(' ');
                }
                for _ in 0..2 + rng.below(2) {
                    t.push_str(SYL[rng.below(SYL.len())]);
                }
            }
            out.push(t.clone());
        }
        out
    }
}
