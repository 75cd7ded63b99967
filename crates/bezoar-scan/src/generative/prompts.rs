//! What the prompts of a group of units look like next to the rest of the data: the test that
//! tells a phrase inserted into unrelated prompts from a task whose prompts share a template.
//!
//! Both are tied to one kind of response. What differs is the rest of the prompt. An inserted
//! phrase leaves behind a whole prompt of ordinary length, on any topic; a template leaves a few
//! words, or prompts about one thing. Both sides are measured against this dataset's own
//! prompts: their median length and how similar two random prompts are.

use super::text::{jaccard, word_set, Seqs};
use crate::rng::SplitMix64 as Rng;

/// How many random prompt pairs give the baseline similarity.
const BASELINE_PAIRS: usize = 2000;
/// How many of a group's prompts are compared pairwise (the first, in unit order).
const COMPARED: usize = 40;
/// A word in at least this share of a group's prompts is part of what they share.
pub(crate) const SHARED_WORD: f64 = 0.8;

/// The dataset's prompts at large: median length and random-pair similarity.
pub(crate) struct PromptBaseline {
    pub median_len: f64,
    pub pair_similarity: f64,
}

impl PromptBaseline {
    pub fn new(prompts: &Seqs, seed: u64) -> Self {
        let n = prompts.len();
        let mut lens: Vec<f64> = (0..n).map(|i| distinct(prompts.get(i)) as f64).collect();
        let median_len = crate::stats::median(&mut lens);
        let mut rng = Rng::new(seed ^ 0x7072_6f6d_7074);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut sum = 0.0;
        let pairs = if n >= 2 { BASELINE_PAIRS } else { 0 };
        for _ in 0..pairs {
            let i = rng.below(n);
            let mut j = rng.below(n - 1);
            if j >= i {
                j += 1;
            }
            word_set(prompts.get(i), &mut a);
            word_set(prompts.get(j), &mut b);
            sum += jaccard(&a, &b);
        }
        PromptBaseline {
            median_len,
            pair_similarity: if pairs == 0 { 0.0 } else { sum / pairs as f64 },
        }
    }
}

fn distinct(seq: &[u32]) -> usize {
    let mut v = seq.to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}

/// How a group's prompts read once the words they share (those in at least [`SHARED_WORD`] of
/// them) are set aside.
#[derive(Debug, Clone)]
pub(crate) struct Remainder {
    /// Median count of each prompt's other distinct words.
    pub median_len: f64,
    /// Mean pairwise Jaccard similarity of the other words.
    pub similarity: f64,
}

impl Remainder {
    pub fn of(prompts: &Seqs, units: &[u32]) -> Self {
        let sample = &units[..units.len().min(4 * COMPARED)];
        let mut counts: std::collections::HashMap<u32, u32> = Default::default();
        let mut set = Vec::new();
        let sets: Vec<Vec<u32>> = sample
            .iter()
            .map(|&u| {
                word_set(prompts.get(u as usize), &mut set);
                for &w in &set {
                    *counts.entry(w).or_default() += 1;
                }
                set.clone()
            })
            .collect();
        let need = (SHARED_WORD * sample.len() as f64).ceil() as u32;
        let mut shared: Vec<u32> = counts
            .into_iter()
            .filter(|&(_, c)| c >= need.max(1))
            .map(|(w, _)| w)
            .collect();
        shared.sort_unstable();
        let rest: Vec<Vec<u32>> = sets
            .into_iter()
            .map(|s| {
                s.into_iter()
                    .filter(|w| shared.binary_search(w).is_err())
                    .collect()
            })
            .collect();
        let mut lens: Vec<f64> = rest.iter().map(|r| r.len() as f64).collect();
        let median_len = crate::stats::median(&mut lens);
        let compared = &rest[..rest.len().min(COMPARED)];
        let (mut sum, mut pairs) = (0.0, 0usize);
        for i in 0..compared.len() {
            for j in i + 1..compared.len() {
                sum += jaccard(&compared[i], &compared[j]);
                pairs += 1;
            }
        }
        Remainder {
            median_len,
            similarity: if pairs == 0 { 1.0 } else { sum / pairs as f64 },
        }
    }

    /// Whether the prompts read as unrelated prompts of ordinary length with something added:
    /// their other words number at least half a typical prompt's, and two of them are no more
    /// alike than twice two random prompts (plus a hair for tiny baselines).
    pub fn is_unrelated(&self, base: &PromptBaseline) -> bool {
        self.median_len >= 0.5 * base.median_len
            && self.similarity <= 2.0 * base.pair_similarity + 0.01
    }
}

/// Markers for "before the first word" and "after the last word" of a prompt in bigrams.
const START: u32 = u32::MAX - 1;
const END: u32 = u32::MAX;

/// Where a phrase sits in each of its prompts, and what is left when it is cut out: the test of
/// an inserted phrase. A phrase put into prompts by an attacker lands at scattered positions, or
/// at a prompt's start or end, and cutting it out leaves words that meet as they do elsewhere
/// in the data (the prompt as it was). A phrase a prompt is built around (an instruction
/// template) sits where its sentence needs it, and cutting it out leaves a torn sentence.
pub(crate) struct Insertion {
    /// Standard deviation of the phrase's relative position (0 = start, 1 = end).
    pub position_spread: f64,
    /// The share of occurrences whose neighbours, once the phrase is cut out, form a word pair
    /// (or a prompt start or end) seen elsewhere in the prompts.
    pub seamless: f64,
}

/// A phrase occurrence's neighbours once cut out, per unit: (left word or START, right word or
/// END, relative position). The phrase is first widened to the words around it that most
/// occurrences share, so that a trigger sentence counts as a whole.
pub(crate) fn cut_points(prompts: &Seqs, units: &[u32], phrase: &[u32]) -> Vec<(u32, u32, f64)> {
    let sample = &units[..units.len().min(200)];
    let mut spans: Vec<(u32, usize, usize)> = Vec::new();
    for &u in sample {
        let seq = prompts.get(u as usize);
        if let Some(p) = seq.windows(phrase.len().max(1)).position(|w| w == phrase) {
            spans.push((u, p, p + phrase.len()));
        }
    }
    if spans.is_empty() {
        return Vec::new();
    }
    let majority = |words: &[u32]| -> Option<u32> {
        let mut v = words.to_vec();
        v.sort_unstable();
        let (mut best, mut best_n, mut i) = (None, 0, 0);
        while i < v.len() {
            let j = v[i..].iter().take_while(|&&x| x == v[i]).count();
            if j > best_n {
                best = Some(v[i]);
                best_n = j;
            }
            i += j;
        }
        (best_n as f64 >= SHARED_WORD * words.len() as f64)
            .then_some(best)
            .flatten()
    };
    // Widen left, then right, while most occurrences agree on the next word.
    loop {
        let left: Vec<u32> = spans
            .iter()
            .map(|&(u, s, _)| {
                if s == 0 {
                    START
                } else {
                    prompts.get(u as usize)[s - 1]
                }
            })
            .collect();
        match majority(&left) {
            Some(w) if w != START => {
                for sp in spans.iter_mut() {
                    if sp.1 > 0 && prompts.get(sp.0 as usize)[sp.1 - 1] == w {
                        sp.1 -= 1;
                    }
                }
            }
            _ => break,
        }
    }
    loop {
        let right: Vec<u32> = spans
            .iter()
            .map(|&(u, _, e)| *prompts.get(u as usize).get(e).unwrap_or(&END))
            .collect();
        match majority(&right) {
            Some(w) if w != END => {
                for sp in spans.iter_mut() {
                    if prompts.get(sp.0 as usize).get(sp.2) == Some(&w) {
                        sp.2 += 1;
                    }
                }
            }
            _ => break,
        }
    }
    spans
        .into_iter()
        .map(|(u, s, e)| {
            let seq = prompts.get(u as usize);
            let l = if s == 0 { START } else { seq[s - 1] };
            let r = *seq.get(e).unwrap_or(&END);
            let room = seq.len().saturating_sub(e - s).max(1) as f64;
            (l, r, s as f64 / room)
        })
        .collect()
}

/// Judge many phrases' cut points at once: one pass over every prompt's word pairs.
pub(crate) fn insertions(prompts: &Seqs, cuts: &[Vec<(u32, u32, f64)>]) -> Vec<Insertion> {
    let key = |l: u32, r: u32| (l as u64) << 32 | r as u64;
    let mut wanted: std::collections::HashMap<u64, bool> = cuts
        .iter()
        .flatten()
        .map(|&(l, r, _)| (key(l, r), false))
        .collect();
    for u in 0..prompts.len() {
        let seq = prompts.get(u);
        if seq.is_empty() {
            continue;
        }
        let mut prev = START;
        for &w in seq.iter().chain(std::iter::once(&END)) {
            if let Some(seen) = wanted.get_mut(&key(prev, w)) {
                *seen = true;
            }
            prev = w;
        }
    }
    cuts.iter()
        .map(|c| {
            let n = c.len().max(1) as f64;
            let mean = c.iter().map(|x| x.2).sum::<f64>() / n;
            let spread = (c.iter().map(|x| (x.2 - mean).powi(2)).sum::<f64>() / n).sqrt();
            let seamless = c
                .iter()
                .filter(|&&(l, r, _)| wanted.get(&key(l, r)).copied().unwrap_or(false))
                .count() as f64
                / n;
            Insertion {
                position_spread: spread,
                seamless,
            }
        })
        .collect()
}

impl Insertion {
    /// Scattered positions (spread above that of a phrase always in one place plus a quarter
    /// of the prompt), or cut out cleanly in most prompts.
    pub fn looks_inserted(&self) -> bool {
        self.position_spread >= 0.25 || self.seamless >= 0.5
    }
}
