//! Prompt phrases (word 1-, 2- and 3-grams) and the units whose prompt holds each.
//!
//! Every (phrase, unit) pair is packed into one `u64` (a 40-bit phrase hash above a 24-bit
//! unit; see `packed_postings`) and read off in runs. 40-bit hashes collide about once per 10^12 phrase pairs,
//! and a collision merges two phrases' units, which the tests downstream then judge together.

use rayon::prelude::*;

use super::text::Seqs;

/// The most units a scan of LLM data takes (24 bits of the packed pair).
pub const MAX_UNITS: usize = 1 << 24;
/// Only the first this many words of a prompt are read for phrases (the rest of a very long
/// conversation is rarely where a trigger hides, and would dominate the cost).
const MAX_PROMPT_WORDS: usize = 2048;
const LONGEST: usize = 3;

/// Phrases seen in enough prompts, with their units (ascending).
pub(crate) struct Phrases {
    /// Where each phrase was first seen: (unit, word position, length in words).
    pub first: Vec<(u32, u32, u8)>,
    ends: Vec<usize>,
    units: Vec<u32>,
}

fn phrase_hash(words: &[u32]) -> u64 {
    let mut h = 0x7068_7261_7365_u64;
    for &w in words {
        h = crate::rng::mix64(h ^ (w as u64 + 1));
    }
    h >> 24
}

impl Phrases {
    /// Phrases in at least `min_units` and at most `max_units` prompts.
    pub fn new(prompts: &Seqs, min_units: u32, max_units: u32) -> Self {
        let n = prompts.len();
        debug_assert!(n <= MAX_UNITS);
        let pairs = super::packed_postings((0..n).into_par_iter(), |u, acc| {
            let seq = prompts.get(u);
            let seq = &seq[..seq.len().min(MAX_PROMPT_WORDS)];
            for len in 1..=LONGEST {
                acc.extend(seq.windows(len).map(phrase_hash));
            }
        });
        let mut first_hash = Vec::new();
        let mut ends = Vec::new();
        let mut units = Vec::new();
        super::for_each_posting(&pairs, |h, run| {
            let count = run.len() as u32;
            if count >= min_units && count <= max_units {
                units.extend(run.iter().map(|&p| super::posting_unit(p)));
                ends.push(units.len());
                first_hash.push(h);
            }
        });
        drop(pairs);
        // Where each kept phrase first occurs, for naming it.
        let mut want: std::collections::HashMap<u64, usize> = first_hash
            .iter()
            .enumerate()
            .map(|(k, &h)| (h, k))
            .collect();
        let mut first = vec![(0u32, 0u32, 0u8); first_hash.len()];
        'units: for u in 0..n {
            let seq = prompts.get(u);
            let seq = &seq[..seq.len().min(MAX_PROMPT_WORDS)];
            for len in 1..=LONGEST {
                for (pos, w) in seq.windows(len).enumerate() {
                    if let Some(k) = want.remove(&phrase_hash(w)) {
                        first[k] = (u as u32, pos as u32, len as u8);
                    }
                }
            }
            if want.is_empty() {
                break 'units;
            }
        }
        Phrases { first, ends, units }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn units(&self, k: usize) -> &[u32] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.units[start..self.ends[k]]
    }

    /// The phrase's text, from the prompt it was first seen in.
    pub fn text(&self, k: usize, prompts: &bezoar_data::TextArena) -> String {
        let (unit, pos, len) = self.first[k];
        let text = prompts.get(unit as usize);
        let mut words = Vec::new();
        let mut i = 0u32;
        super::text::for_each_word(text, |s, e| {
            if i >= pos && i < pos + len as u32 {
                words.push(text[s..e].to_lowercase());
            }
            i += 1;
        });
        words.join(" ")
    }

    /// The ids of the phrase's words.
    pub fn words<'a>(&self, k: usize, prompts: &'a Seqs) -> &'a [u32] {
        let (unit, pos, len) = self.first[k];
        let seq = prompts.get(unit as usize);
        let end = (pos as usize + len as usize).min(seq.len());
        &seq[(pos as usize).min(end)..end]
    }
}
