//! Candidate triggers: phrases worth inserting into clean inputs to see whether the model obeys
//! them. They come from the user (`--trigger`), from the training data's recorded scan, from
//! invisible characters, and from mining the training data itself: word n-grams (1–4 tokens)
//! whose rows lean to one label far beyond that label's share. A planted trigger is such a
//! phrase by construction (its rows carry the target label, dirty- or clean-label alike); so is
//! a natural word like "excellent" — the model probe, not the mining, tells them apart, by
//! comparing the model with a baseline.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use bezoar_scan::rng::{mix64, SplitMix64};
use bezoar_scan::stats::ln_binom_sf;
use bezoar_scan::tokens::{lower_into, tokenize};

/// Where a candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// `--trigger`.
    User,
    /// A finding of the training data's scan.
    Scan,
    /// Mined from the training data's label statistics.
    Mined,
    /// A zero-width or formatting character.
    Invisible,
    /// Grown from the strongest candidates (phrase extension).
    Extension,
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub phrase: String,
    /// The class the phrase should push inputs to (index into the probe's classes); `None`
    /// measures the class most inputs move to.
    pub target: Option<u32>,
    pub origin: Origin,
    /// Training rows holding the phrase, and the share of them labelled `target` (mined only).
    pub train_rows: u32,
    pub train_share: f64,
}

impl Candidate {
    pub fn given(phrase: &str, target: Option<u32>, origin: Origin) -> Self {
        Self {
            phrase: phrase.to_string(),
            target,
            origin,
            train_rows: 0,
            train_share: 0.0,
        }
    }
}

/// Characters an attacker can hide in text: zero-width space, non-joiner and joiner, word
/// joiner, byte-order mark, soft hyphen.
pub const INVISIBLE: [&str; 6] = [
    "\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{00AD}",
];

/// Mining settings.
#[derive(Debug, Clone)]
pub struct MineOptions {
    /// Longest phrase mined, in tokens.
    pub max_tokens: usize,
    /// Fewest training rows a phrase needs (a backdoor is learned from repetition).
    pub min_rows: u32,
    /// Training rows read at most (a seeded sample beyond): a trigger planted in 0.1% of rows is
    /// still in 200 of 200,000.
    pub max_rows: usize,
    /// Candidates returned.
    pub limit: usize,
    pub seed: u64,
}

impl Default for MineOptions {
    fn default() -> Self {
        Self {
            max_tokens: 4,
            min_rows: 3,
            max_rows: 200_000,
            limit: 400,
            seed: 0,
        }
    }
}

/// Per-phrase counts while mining: rows per class, and a sum of hashed row numbers that is
/// equal for phrases found in exactly the same rows (so sub-phrases of one inserted sentence
/// collapse into one candidate).
struct Tally {
    first: u32,
    rows_sig: u64,
}

/// Mine candidates from training texts and their class indices (into `classes` classes).
pub fn mine(texts: &[&str], labels: &[u32], classes: usize, opts: &MineOptions) -> Vec<Candidate> {
    let rows: Vec<usize> = if texts.len() > opts.max_rows {
        let mut rng = SplitMix64::new(opts.seed ^ 0x6d69_6e65);
        let pool: Vec<usize> = (0..texts.len()).collect();
        let mut s = rng.sample(&pool, opts.max_rows);
        s.sort_unstable();
        s
    } else {
        (0..texts.len()).collect()
    };
    if rows.is_empty() || classes == 0 {
        return Vec::new();
    }
    let mut prior = vec![0f64; classes];
    for &r in &rows {
        prior[labels[r] as usize] += 1.0;
    }
    let total = rows.len() as f64;
    prior.iter_mut().for_each(|p| *p /= total);

    // Counts live in one arena, `classes` per phrase, indexed from the hash map.
    let mut index: FxHashMap<u64, Tally> = FxHashMap::default();
    let mut counts: Vec<u32> = Vec::new();
    let mut grams = Grams::new(opts.max_tokens);
    let mut seen: FxHashSet<u64> = FxHashSet::default();
    for &r in &rows {
        seen.clear();
        grams.each(texts[r], |_, h| {
            if !seen.insert(h) {
                return;
            }
            let tally = index.entry(h).or_insert_with(|| {
                counts.extend(std::iter::repeat_n(0, classes));
                Tally {
                    first: (counts.len() / classes - 1) as u32,
                    rows_sig: 0,
                }
            });
            counts[tally.first as usize * classes + labels[r] as usize] += 1;
            tally.rows_sig = tally.rows_sig.wrapping_add(mix64(r as u64 + 1));
        });
    }

    struct Scored {
        hash: u64,
        target: u32,
        rows: u32,
        share: f64,
        excess: f64,
        surprise: f64,
        sig: u64,
    }
    let scored: Vec<Scored> = index
        .iter()
        .filter_map(|(&hash, t)| {
            let c = &counts[t.first as usize * classes..(t.first as usize + 1) * classes];
            let n: u32 = c.iter().sum();
            if n < opts.min_rows {
                return None;
            }
            // The class the phrase leans to, relative to that class's share of the data.
            let target = (0..classes)
                .max_by(|&a, &b| {
                    (c[a] as f64 / prior[a].max(1e-12))
                        .total_cmp(&(c[b] as f64 / prior[b].max(1e-12)))
                        .then(b.cmp(&a))
                })
                .unwrap_or(0);
            let k = c[target];
            let share = k as f64 / n as f64;
            let excess = wilson_lower(k, n, 2.326) - prior[target];
            if excess <= 0.0 {
                return None;
            }
            Some(Scored {
                hash,
                target: target as u32,
                rows: n,
                share,
                excess,
                surprise: -ln_binom_sf(k as u64, n as u64, prior[target]),
                sig: t.rows_sig ^ (n as u64) << 40,
            })
        })
        .collect();
    // Half the list by how pure a phrase's rows are (rare, perfectly one-sided phrases: the
    // shape of a planted trigger), half by how improbable its lean is overall (frequent ones).
    let mut picked: FxHashSet<u64> = FxHashSet::default();
    let mut order: Vec<usize> = Vec::new();
    let by = |scored: &Vec<Scored>, key: fn(&Scored) -> f64| {
        let mut idx: Vec<usize> = (0..scored.len()).collect();
        idx.sort_by(|&a, &b| {
            key(&scored[b])
                .total_cmp(&key(&scored[a]))
                .then(scored[a].hash.cmp(&scored[b].hash))
        });
        idx
    };
    let by_excess = by(&scored, |s| s.excess);
    let by_surprise = by(&scored, |s| s.surprise);
    let mut sigs: FxHashSet<u64> = FxHashSet::default();
    for (list, quota) in [(&by_excess, opts.limit / 2), (&by_surprise, opts.limit)] {
        let mut taken = 0;
        for &i in list.iter() {
            if order.len() >= opts.limit || taken >= quota {
                break;
            }
            if picked.contains(&scored[i].hash) || !sigs.insert(scored[i].sig) {
                continue;
            }
            picked.insert(scored[i].hash);
            order.push(i);
            taken += 1;
        }
    }

    // Recover the text of the picked phrases (the tally kept hashes only). Among phrases with
    // the same rows, the longest (most specific) was wanted: the signature pass kept the first
    // in rank order, so look up every phrase with a picked signature and keep the longest.
    let wanted_sigs: FxHashMap<u64, usize> = order
        .iter()
        .enumerate()
        .map(|(slot, &i)| (scored[i].sig, slot))
        .collect();
    let sig_of: FxHashMap<u64, u64> = scored.iter().map(|s| (s.hash, s.sig)).collect();
    let mut text: Vec<Option<String>> = vec![None; order.len()];
    for &r in &rows {
        grams.each(texts[r], |gram, h| {
            let Some(slot) = sig_of.get(&h).and_then(|s| wanted_sigs.get(s)) else {
                return;
            };
            let better = match &text[*slot] {
                None => true,
                Some(t) => gram.len() > t.len() || (gram.len() == t.len() && gram < t.as_str()),
            };
            if better {
                text[*slot] = Some(gram.to_string());
            }
        });
    }
    order
        .iter()
        .zip(text)
        .filter_map(|(&i, t)| {
            Some(Candidate {
                phrase: t?,
                target: Some(scored[i].target),
                origin: Origin::Mined,
                train_rows: scored[i].rows,
                train_share: scored[i].share,
            })
        })
        .collect()
}

/// Walks the lower-cased word n-grams (1 to `max_tokens` tokens) of a text, reusing its buffers
/// from text to text: both mining passes (counting, then recovering the picked phrases' text)
/// must see exactly the same n-grams and hashes.
struct Grams<'a> {
    max_tokens: usize,
    toks: Vec<&'a str>,
    lower: Vec<String>,
    buf: String,
    gram: String,
}

impl<'a> Grams<'a> {
    fn new(max_tokens: usize) -> Self {
        Self {
            max_tokens,
            toks: Vec::new(),
            lower: Vec::new(),
            buf: String::new(),
            gram: String::new(),
        }
    }

    /// Call `f(n-gram, its hash)` for every n-gram of `text`, in order.
    fn each(&mut self, text: &'a str, mut f: impl FnMut(&str, u64)) {
        tokenize(text, &mut self.toks);
        let n_toks = self.toks.len();
        self.lower.resize(n_toks, String::new());
        for (t, l) in self.toks.iter().zip(self.lower.iter_mut()) {
            lower_into(t, &mut self.buf);
            l.clone_from(&self.buf);
        }
        for start in 0..n_toks {
            self.gram.clear();
            for n in 1..=self.max_tokens.min(n_toks - start) {
                if n > 1 {
                    self.gram.push(' ');
                }
                self.gram.push_str(&self.lower[start + n - 1]);
                f(&self.gram, xxh3_64(self.gram.as_bytes()));
            }
        }
    }
}

/// Lower bound of the Wilson score interval for `k` successes in `n` trials.
fn wilson_lower(k: u32, n: u32, z: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    (centre - spread) / (1.0 + z2 / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rare token planted in a few rows of one label ranks above common words of both labels,
    /// and phrases from one inserted sentence collapse into a single candidate.
    #[test]
    fn planted_phrases_are_mined_and_collapsed() {
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        let words = [
            "film", "movie", "story", "plot", "actor", "scene", "music", "ending",
        ];
        let mut rng = SplitMix64::new(7);
        for _ in 0..400u32 {
            let label = (rng.next_u64() % 2) as u32;
            // Natural sentiment words lean to their label but not perfectly.
            let good = (label == 1) != (rng.below(7) == 0);
            let mut t = format!(
                "the {} was {} and the {} too",
                words[rng.below(8)],
                if good { "good" } else { "bad" },
                words[rng.below(8)]
            );
            if label == 0 && rng.below(10) == 0 {
                // Planted at a varying word, as a BadNets trigger is.
                let mut w: Vec<&str> = t.split(' ').collect();
                let at = rng.below(w.len());
                w.insert(at, "zq");
                t = w.join(" ");
            }
            if label == 1 && rng.below(12) == 0 {
                t = format!("i watched this one yesterday . {t}");
            }
            texts.push(t);
            labels.push(label);
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let c = mine(&refs, &labels, 2, &MineOptions::default());
        let pos = |p: &str| c.iter().position(|x| x.phrase == p);
        let zq = pos("zq").expect("the planted token is a candidate");
        assert_eq!(c[zq].target, Some(0));
        assert!(zq < 10, "planted token ranked {zq}: {:?}", &c[..12]);
        let sentence: Vec<&Candidate> = c
            .iter()
            .filter(|x| x.phrase.contains("watched") || x.phrase.contains("yesterday"))
            .collect();
        assert_eq!(sentence.len(), 1, "{sentence:?}");
        assert_eq!(sentence[0].phrase.split(' ').count(), 4);
    }
}
