//! Prompts like a given one: the context a trigger's effect is judged in.
//!
//! "Similar prompts without the phrase get other responses" is the test that tells a trigger
//! from a phrase that simply asks for something ("from the given text, list …" asks for a list,
//! and so do list requests phrased otherwise). What a prompt asks for is carried by its common
//! words (list, write, was, why), not by its topic (a name, a place): similarity is IDF-weighted
//! overlap of the words in between [`MIN_SHARE`] and [`MAX_SHARE`] of prompts.

use super::text::{word_set, Seqs};

const MIN_SHARE: f64 = 0.005;
const MAX_SHARE: f64 = 0.5;
/// A query reads at most this many of its rarest words.
const QUERY_WORDS: usize = 32;

pub(crate) struct PromptIndex {
    idf: Vec<f32>,
    ends: Vec<usize>,
    postings: Vec<u32>,
    /// 1 / √(distinct words) of each prompt.
    norm: Vec<f32>,
}

impl PromptIndex {
    pub fn new(prompts: &Seqs, prompt_df: &[u32]) -> Self {
        let n = prompts.len();
        let lo = (MIN_SHARE * n as f64).ceil().max(2.0) as u32;
        let hi = (MAX_SHARE * n as f64).max(1.0) as u32;
        let indexed = |d: u32| d >= lo && d <= hi;
        let vocab = prompt_df.len();
        let idf: Vec<f32> = prompt_df
            .iter()
            .map(|&d| ((1.0 + n as f64) / (1.0 + d as f64)).ln() as f32)
            .collect();
        let mut counts = vec![0usize; vocab];
        let mut set = Vec::new();
        let mut norm = Vec::with_capacity(n);
        for u in 0..n {
            word_set(prompts.get(u), &mut set);
            let kept = set
                .iter()
                .filter(|&&w| indexed(prompt_df[w as usize]))
                .count();
            norm.push(1.0 / (kept.max(1) as f32).sqrt());
            for &w in &set {
                if indexed(prompt_df[w as usize]) {
                    counts[w as usize] += 1;
                }
            }
        }
        let mut ends = Vec::with_capacity(vocab);
        let mut acc = 0;
        for c in &counts {
            acc += c;
            ends.push(acc);
        }
        let mut fill: Vec<usize> = (0..vocab)
            .map(|w| if w == 0 { 0 } else { ends[w - 1] })
            .collect();
        let mut postings = vec![0u32; acc];
        for u in 0..n {
            word_set(prompts.get(u), &mut set);
            for &w in &set {
                if indexed(prompt_df[w as usize]) {
                    postings[fill[w as usize]] = u as u32;
                    fill[w as usize] += 1;
                }
            }
        }
        PromptIndex {
            idf,
            ends,
            postings,
            norm,
        }
    }

    fn posting(&self, w: u32) -> &[u32] {
        let w = w as usize;
        let start = if w == 0 { 0 } else { self.ends[w - 1] };
        &self.postings[start..self.ends[w]]
    }

    /// The `k` prompts most like `words` (a sorted word set) outside `excluded` (sorted),
    /// most similar first. `scratch` must hold one zero per prompt and is left zeroed.
    pub fn nearest(
        &self,
        words: &[u32],
        excluded: &[u32],
        k: usize,
        scratch: &mut [f32],
        touched: &mut Vec<u32>,
    ) -> Vec<u32> {
        let mut query: Vec<u32> = words
            .iter()
            .copied()
            .filter(|&w| !self.posting(w).is_empty())
            .collect();
        query.sort_by(|&a, &b| {
            self.idf[b as usize]
                .total_cmp(&self.idf[a as usize])
                .then(a.cmp(&b))
        });
        query.truncate(QUERY_WORDS);
        touched.clear();
        for &w in &query {
            let weight = self.idf[w as usize];
            for &u in self.posting(w) {
                if scratch[u as usize] == 0.0 {
                    touched.push(u);
                }
                scratch[u as usize] += weight;
            }
        }
        let mut scored: Vec<(f32, u32)> = touched
            .iter()
            .filter(|u| excluded.binary_search(u).is_err())
            .map(|&u| (scratch[u as usize] * self.norm[u as usize], u))
            .collect();
        for &u in touched.iter() {
            scratch[u as usize] = 0.0;
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.truncate(k);
        scored.into_iter().map(|(_, u)| u).collect()
    }
}
