//! What a response does, as groups of units: the "labels" of generative data.
//!
//! A response belongs to the group of responses identical to it (a canned answer, a fixed tool
//! call), to the group of responses that open with its first word, and to one group per rare
//! word it contains (a product, a URL, a command). Groups smaller than [`MIN_GROUP`] say nothing
//! and are not kept.

use std::collections::HashMap;

use super::text::{Seqs, Tokens};

/// The fewest units a behaviour (or a phrase) needs before it can be tied to anything.
pub(crate) const MIN_GROUP: u32 = 3;
/// A word in more than this share of responses is common, not a behaviour of its own.
const RARE_SHARE: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Responses identical (word for word, ignoring case and punctuation) to this unit's.
    Same { unit: u32 },
    /// Responses whose first word is this one.
    Opens { word: u32 },
    /// Responses that contain this rare word.
    Contains { word: u32 },
}

/// Every kept group, and the groups of each unit.
pub(crate) struct Behaviours {
    pub kinds: Vec<Behaviour>,
    pub sizes: Vec<u32>,
    unit_ends: Vec<usize>,
    unit_groups: Vec<u32>,
}

fn seq_hash(seq: &[u32]) -> u64 {
    let mut h = 0x5151_5151_u64;
    for &w in seq {
        h = crate::rng::mix64(h ^ (w as u64 + 1));
    }
    h
}

impl Behaviours {
    pub fn new(tokens: &Tokens, response_df: &[u32]) -> Self {
        let responses: &Seqs = &tokens.responses;
        let units = responses.len();
        let vocab = tokens.vocab_len();
        let mut same: HashMap<u64, (u32, u32)> = HashMap::new();
        let mut opens = vec![0u32; vocab];
        for u in 0..units {
            let seq = responses.get(u);
            if let Some(&first) = seq.first() {
                opens[first as usize] += 1;
                let e = same.entry(seq_hash(seq)).or_insert((0, u as u32));
                e.0 += 1;
            }
        }
        let mut kinds = Vec::new();
        let mut sizes = Vec::new();
        let mut same_group: HashMap<u64, u32> = HashMap::new();
        let mut same_list: Vec<(u64, u32, u32)> = same
            .into_iter()
            .filter(|(_, (c, _))| *c >= MIN_GROUP)
            .map(|(h, (c, first))| (h, c, first))
            .collect();
        // Group numbering must not depend on hash-map order.
        same_list.sort_unstable_by_key(|&(_, _, first)| first);
        for (h, c, first) in same_list {
            same_group.insert(h, kinds.len() as u32);
            kinds.push(Behaviour::Same { unit: first });
            sizes.push(c);
        }
        let mut open_group = vec![u32::MAX; vocab];
        for (w, &c) in opens.iter().enumerate() {
            if c >= MIN_GROUP {
                open_group[w] = kinds.len() as u32;
                kinds.push(Behaviour::Opens { word: w as u32 });
                sizes.push(c);
            }
        }
        let max_rare = (RARE_SHARE * units as f64).floor() as u32;
        let mut rare_group = vec![u32::MAX; vocab];
        for (w, &c) in response_df.iter().enumerate() {
            if c >= MIN_GROUP && c <= max_rare {
                rare_group[w] = kinds.len() as u32;
                kinds.push(Behaviour::Contains { word: w as u32 });
                sizes.push(c);
            }
        }
        let mut unit_ends = Vec::with_capacity(units);
        let mut unit_groups = Vec::new();
        let mut seen = Vec::new();
        for u in 0..units {
            let seq = responses.get(u);
            if let Some(&first) = seq.first() {
                if let Some(&g) = same_group.get(&seq_hash(seq)) {
                    unit_groups.push(g);
                }
                if open_group[first as usize] != u32::MAX {
                    unit_groups.push(open_group[first as usize]);
                }
            }
            super::text::word_set(seq, &mut seen);
            for &w in &seen {
                if rare_group[w as usize] != u32::MAX {
                    unit_groups.push(rare_group[w as usize]);
                }
            }
            unit_ends.push(unit_groups.len());
        }
        Behaviours {
            kinds,
            sizes,
            unit_ends,
            unit_groups,
        }
    }

    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// The groups unit `u` belongs to.
    pub fn of_unit(&self, u: usize) -> &[u32] {
        let start = if u == 0 { 0 } else { self.unit_ends[u - 1] };
        &self.unit_groups[start..self.unit_ends[u]]
    }

    pub fn contains(&self, group: u32, unit: u32) -> bool {
        self.of_unit(unit as usize).contains(&group)
    }

    /// The share of `units` whose prompt echoes what defines `group` (its word, or for an
    /// identical response, the share of the response's words that the prompt holds): a response
    /// that repeats its prompt is explained by it, not by a trigger.
    pub fn echo(&self, group: u32, units: &[u32], tokens: &Tokens) -> f64 {
        if units.is_empty() {
            return 0.0;
        }
        let mut prompt = Vec::new();
        let mut response = Vec::new();
        let mut sum = 0.0;
        for &u in units {
            super::text::word_set(tokens.prompts.get(u as usize), &mut prompt);
            sum += match self.kinds[group as usize] {
                Behaviour::Opens { word } | Behaviour::Contains { word } => {
                    f64::from(u8::from(prompt.binary_search(&word).is_ok()))
                }
                Behaviour::Same { .. } => {
                    super::text::word_set(tokens.responses.get(u as usize), &mut response);
                    let held = response
                        .iter()
                        .filter(|w| prompt.binary_search(w).is_ok())
                        .count();
                    held as f64 / response.len().max(1) as f64
                }
            };
        }
        sum / units.len() as f64
    }
}
