//! Does a row read naturally once a phrase is deleted? The test that tells an inserted trigger
//! from a word that belongs where it stands.
//!
//! An attacker inserts a trigger into text that existed without it, so deleting the trigger
//! rejoins two words that were neighbours before: the pair that bridges the gap is an ordinary
//! pair of the corpus and is usually seen again in other rows. Deleting a word that was written
//! there (a slur in a hateful tweet, "shit" in "this shit is crazy") rejoins words that were never
//! neighbours ("a ." or "the like"), a pair seen far less often.
//!
//! Both reference rates come from the dataset being scanned, not from constants: how often an
//! adjacent pair of a random row is seen in another row (what deleting an inserted phrase gives)
//! and how often the pair left by deleting a random span of the same length is (what deleting a
//! natural phrase gives). A phrase's own share of bridges seen elsewhere is then weighed between
//! the two by a likelihood ratio.

use crate::ngrams::{gram_hash, token_hash, BOS, EOS};
use crate::tokens::{lower_into, tokenize};
use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// Rows sampled to measure each reference rate.
const REFERENCE_ROWS: usize = 4000;
const CHUNK: usize = 8192;

/// One bridge: the hash of the pair a deletion leaves, and how often that pair occurs in the
/// row's own text (those occurrences are not "elsewhere").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bridge {
    pub pair: u64,
    pub own: u32,
}

/// Lower-cased token hashes of `toks` between sentence anchors, so "The film" and "the film"
/// count as one pair.
pub(crate) fn lower_anchored(toks: &[&str], buf: &mut String, seq: &mut Vec<u64>) {
    seq.clear();
    seq.push(BOS);
    for t in toks {
        lower_into(t, buf);
        seq.push(token_hash(buf));
    }
    seq.push(EOS);
}

fn pair_hash(a: u64, b: u64) -> u64 {
    gram_hash(&[a, b])
}

fn own_count(seq: &[u64], pair: u64) -> u32 {
    seq.windows(2)
        .filter(|w| pair_hash(w[0], w[1]) == pair)
        .count() as u32
}

/// The bridge left in `seq` (lower-cased, anchored) by deleting `seq[start..start + len]`, where
/// the span may include the anchors; `None` when the span is the whole row.
pub(crate) fn bridge_at(seq: &[u64], start: usize, len: usize) -> Option<Bridge> {
    let end = start + len;
    let left = if seq[start] == BOS {
        BOS
    } else {
        *seq.get(start.checked_sub(1)?)?
    };
    let right = if seq[end - 1] == EOS {
        EOS
    } else {
        *seq.get(end)?
    };
    if left == BOS && right == EOS {
        return None;
    }
    let pair = pair_hash(left, right);
    Some(Bridge {
        pair,
        own: own_count(seq, pair),
    })
}

/// The dataset's own reference samples: bridges of inserted spans (adjacent pairs) and of
/// natural spans of each length (the pair around a random span).
pub(crate) struct Reference {
    adjacent: Vec<Bridge>,
    /// `skipped[len - 1]`: bridges left by deleting a random span of `len` tokens.
    skipped: Vec<Vec<Bridge>>,
}

impl Reference {
    pub fn sample(texts: &bezoar_data::TextArena, max_len: usize, seed: u64) -> Self {
        let n = texts.len();
        let mut rng = crate::rng::SplitMix64::new(seed ^ 0x0b41_d6e5);
        let all: Vec<usize> = (0..n).collect();
        let rows = rng.sample(&all, REFERENCE_ROWS);
        let (mut toks, mut buf, mut seq) = (Vec::new(), String::new(), Vec::new());
        let mut adjacent = Vec::new();
        let mut skipped = vec![Vec::new(); max_len];
        for &r in &rows {
            tokenize(texts.get(r), &mut toks);
            if toks.is_empty() {
                continue;
            }
            lower_anchored(&toks, &mut buf, &mut seq);
            // An inserted span sits in any gap of the anchored row, ends included.
            let gap = rng.below(seq.len() - 1);
            let pair = pair_hash(seq[gap], seq[gap + 1]);
            adjacent.push(Bridge {
                pair,
                own: own_count(&seq, pair),
            });
            for (len, out) in (1..=max_len).zip(skipped.iter_mut()) {
                if toks.len() < len + 1 {
                    break;
                }
                // A natural span of real tokens: seq[1..=toks.len()].
                let start = 1 + rng.below(toks.len() - len + 1);
                out.extend(bridge_at(&seq, start, len));
            }
        }
        Reference { adjacent, skipped }
    }

    fn all_pairs(&self) -> impl Iterator<Item = u64> + '_ {
        self.adjacent
            .iter()
            .chain(self.skipped.iter().flatten())
            .map(|b| b.pair)
    }
}

/// How many rows contain each wanted pair, over the whole dataset.
pub(crate) struct PairCounts(HashMap<u64, u32>);

impl PairCounts {
    /// Count the pairs of `reference` and of `extra` in one parallel pass over the rows.
    pub fn count<'a>(
        texts: &bezoar_data::TextArena,
        reference: &Reference,
        extra: impl Iterator<Item = &'a Bridge>,
    ) -> Self {
        let wanted: HashSet<u64> = reference.all_pairs().chain(extra.map(|b| b.pair)).collect();
        let n = texts.len();
        let counts = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let (mut toks, mut buf, mut seq) = (Vec::new(), String::new(), Vec::new());
                let mut counts: HashMap<u64, u32> = HashMap::default();
                for i in chunk * CHUNK..((chunk + 1) * CHUNK).min(n) {
                    tokenize(texts.get(i), &mut toks);
                    lower_anchored(&toks, &mut buf, &mut seq);
                    for w in seq.windows(2) {
                        let p = pair_hash(w[0], w[1]);
                        if wanted.contains(&p) {
                            *counts.entry(p).or_default() += 1;
                        }
                    }
                }
                counts
            })
            .reduce(HashMap::default, |mut a, b| {
                for (k, v) in b {
                    *a.entry(k).or_default() += v;
                }
                a
            });
        PairCounts(counts)
    }

    fn seen_elsewhere(&self, b: &Bridge) -> bool {
        self.0.get(&b.pair).copied().unwrap_or(0) > b.own
    }

    fn rate(&self, bridges: &[Bridge]) -> f64 {
        let seen = bridges.iter().filter(|b| self.seen_elsewhere(b)).count();
        // Add-one smoothing keeps both rates off 0 and 1.
        (seen as f64 + 1.0) / (bridges.len() as f64 + 2.0)
    }
}

/// The verdict on one phrase's bridges.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Naturalness {
    /// Share of the phrase's bridges seen in other rows.
    pub rate: f64,
    /// Reference rates: an inserted span's (adjacent pairs), a natural span's (skipped pairs).
    pub inserted_rate: f64,
    pub natural_rate: f64,
    /// ln likelihood ratio of "inserted" over "natural" for the phrase's bridges.
    pub ln_ratio: f64,
    /// Bridges judged, and how many of them were seen in other rows.
    pub bridges: usize,
    pub seen: usize,
}

impl Naturalness {
    pub fn judge(
        counts: &PairCounts,
        reference: &Reference,
        len: usize,
        bridges: &[Bridge],
    ) -> Self {
        let inserted_rate = counts.rate(&reference.adjacent);
        let l = len.clamp(1, reference.skipped.len().max(1));
        let natural_rate = reference
            .skipped
            .get(l - 1)
            .filter(|s| !s.is_empty())
            .map_or(0.0, |s| counts.rate(s));
        let seen = bridges.iter().filter(|b| counts.seen_elsewhere(b)).count();
        Self::from_counts(seen, bridges.len(), inserted_rate, natural_rate)
    }

    /// The verdict on `seen` of `bridges` bridges seen elsewhere, given the two reference rates.
    fn from_counts(seen: usize, bridges: usize, inserted_rate: f64, natural_rate: f64) -> Self {
        let (k, m) = (seen as f64, bridges as f64);
        let (a, s) = (inserted_rate, natural_rate.max(1e-6));
        let ln_ratio = k * (a / s).ln() + (m - k) * ((1.0 - a) / (1.0 - s)).ln();
        Naturalness {
            rate: if m > 0.0 { k / m } else { 0.0 },
            inserted_rate,
            natural_rate,
            ln_ratio,
            bridges,
            seen,
        }
    }

    /// Whether the phrase reads as inserted: its bridges look more like the corpus's adjacent
    /// pairs than like the gaps natural deletions leave. Where the dataset gives the two
    /// references no separation (inserted ≤ natural), the test says nothing and passes.
    pub fn inserted(&self) -> bool {
        self.inserted_rate <= self.natural_rate || self.ln_ratio >= 0.0
    }

    /// Whether the phrase's bridges rule insertion out: they side with natural deletion and
    /// are seen elsewhere significantly less often (one-sided binomial, level `alpha`) than an
    /// inserted span's are. Siding with natural deletion alone is no evidence on a few rows: a
    /// token inserted into 23 short tweets leaves bridges seen elsewhere at 39% where the
    /// corpus's inserted reference is 55% and its natural one 31%, 1.6 standard deviations
    /// from the first.
    pub fn rules_out_insertion(&self, alpha: f64) -> bool {
        if self.inserted() {
            return false;
        }
        let (m, unseen) = (self.bridges as u64, (self.bridges - self.seen) as u64);
        // P(this few seen | an inserted span's rate), as the upper tail of the unseen count.
        let ln_p = crate::stats::ln_binom_sf(unseen, m, 1.0 - self.inserted_rate);
        ln_p < alpha.ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(words: &[&str]) -> Vec<u64> {
        let (mut buf, mut s) = (String::new(), Vec::new());
        lower_anchored(words, &mut buf, &mut s);
        s
    }

    #[test]
    fn deleting_an_inserted_word_rejoins_the_original_pair() {
        let clean = seq(&["the", "film", "was", "great"]);
        let poisoned = seq(&["the", "film", "cf", "was", "great"]);
        // "cf" sits at seq index 3 (after BOS, the, film).
        let b = bridge_at(&poisoned, 3, 1).unwrap();
        assert_eq!(b.pair, pair_hash(clean[2], clean[3]));
        assert_eq!(b.own, 0);
    }

    fn verdict(bridges: usize, seen: usize) -> Naturalness {
        Naturalness::from_counts(seen, bridges, 0.55, 0.31)
    }

    #[test]
    fn only_many_bridges_on_the_natural_side_rule_insertion_out() {
        // 9 of 23 bridges seen elsewhere sides with natural deletion (31%) over insertion
        // (55%), but an inserted span leaves that few one time in ten: not ruled out.
        let few = verdict(23, 9);
        assert!(!few.inserted(), "{few:?}");
        assert!(!few.rules_out_insertion(0.01), "{few:?}");
        // The same share over 500 bridges is far outside what insertion leaves.
        let many = verdict(500, 196);
        assert!(many.rules_out_insertion(0.01), "{many:?}");
        // Bridges on the inserted side are never ruled out, however many.
        assert!(!verdict(500, 280).rules_out_insertion(0.01));
    }

    #[test]
    fn anchored_spans_bridge_to_the_anchor() {
        let s = seq(&["cf", "the", "film"]);
        // Span [BOS, cf] deleted: the row now opens with "the".
        let b = bridge_at(&s, 0, 2).unwrap();
        assert_eq!(b.pair, pair_hash(BOS, s[2]));
        // The whole row: nothing left to bridge.
        assert_eq!(bridge_at(&s, 0, s.len()), None);
    }

    #[test]
    fn case_does_not_split_pairs() {
        assert_eq!(seq(&["The", "Film"]), seq(&["the", "film"]));
    }

    #[test]
    fn likelihood_ratio_sides_with_the_closer_reference() {
        let counts = PairCounts(HashMap::from_iter([(1, 5), (2, 5)]));
        let reference = Reference {
            // Adjacent pairs seen elsewhere 8 times in 10, natural gaps 1 in 10.
            adjacent: (0..10)
                .map(|i| Bridge {
                    pair: if i < 8 { 1 } else { 99 },
                    own: 0,
                })
                .collect(),
            skipped: vec![(0..10)
                .map(|i| Bridge {
                    pair: if i < 1 { 2 } else { 98 },
                    own: 0,
                })
                .collect()],
        };
        let seen = Bridge { pair: 1, own: 0 };
        let unseen = Bridge { pair: 97, own: 0 };
        let inserted = Naturalness::judge(&counts, &reference, 1, &[seen; 7]);
        assert!(inserted.inserted(), "{inserted:?}");
        let mut natural = vec![unseen; 8];
        natural.push(seen);
        let natural = Naturalness::judge(&counts, &reference, 1, &natural);
        assert!(!natural.inserted(), "{natural:?}");
        // A pair that occurs only in the row itself is not seen elsewhere.
        let own_only = Naturalness::judge(&counts, &reference, 1, &[Bridge { pair: 1, own: 5 }]);
        assert_eq!(own_only.rate, 0.0);
    }
}
