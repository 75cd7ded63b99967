//! The words that define a group of rows, and whether they are the group's own.
//!
//! A tight sub-cluster of one class is either a topic of that class (tweets about birds, news
//! about Iraq, stock quotes with their boilerplate links) or planted rows written to one pattern
//! (a syntactic template, a style). Both share words far more than the rest of the data. The
//! difference is whose words they are: a topic owns its words (most rows that say "bird" are in
//! the bird cluster), while a planted pattern is made of words the whole corpus uses ("when",
//! "if", "he was"), of which the cluster holds only its share. So the measure is, over the
//! words that set the group apart most, the share of each word's rows that lie in the group.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::features::word_hash;
use crate::tokens::{lower_into, tokenize};
use bezoar_data::TextArena;

/// Words that set a group apart, weighed together.
const DEFINING_WORDS: usize = 5;
/// Smoothing of the rates a word's lift compares (one row in a thousand).
const RATE_FLOOR: f64 = 1e-3;

/// The words that set `group` apart from the other rows, and how much the group owns them.
#[derive(Debug, Clone, PartialEq)]
pub struct DefiningWords {
    /// The words, most defining first (lower-cased).
    pub words: Vec<String>,
    /// Over those words, weighed by how strongly each sets the group apart: the share of the
    /// word's rows that are in the group. Near 1 for a topic; well below for a pattern of
    /// words the whole corpus uses.
    pub ownership: f64,
}

/// Row counts of each word (by its 64-bit hash) of `rows`; with `names`, also each word's
/// lower-cased text (for the few rows of a group, whose defining words a finding names).
fn doc_freq(
    texts: &TextArena,
    rows: impl ParallelIterator<Item = usize>,
    names: bool,
) -> (FxHashMap<u64, u32>, FxHashMap<u64, String>) {
    let empty = || (FxHashMap::default(), FxHashMap::default());
    rows.fold(empty, |(mut counts, mut text), i| {
        let (mut toks, mut lower, mut seen) = (Vec::new(), String::new(), Vec::new());
        tokenize(texts.get(i), &mut toks);
        for t in toks.iter().filter(|t| t.chars().any(char::is_alphanumeric)) {
            lower_into(t, &mut lower);
            let h = word_hash(&lower);
            seen.push(h);
            if names {
                text.entry(h).or_insert_with(|| lower.clone());
            }
        }
        seen.sort_unstable();
        seen.dedup();
        for h in seen {
            *counts.entry(h).or_default() += 1;
        }
        (counts, text)
    })
    .reduce(empty, |(mut a, mut at), (b, bt)| {
        for (h, c) in b {
            *a.entry(h).or_default() += c;
        }
        for (h, w) in bt {
            at.entry(h).or_insert(w);
        }
        (a, at)
    })
}

/// How many rows of a corpus hold each word: computed once, shared by every group's test.
pub struct CorpusWords(FxHashMap<u64, u32>);

impl CorpusWords {
    pub fn of(texts: &TextArena) -> Self {
        CorpusWords(doc_freq(texts, (0..texts.len()).into_par_iter(), false).0)
    }
}

/// The defining words of `group` (row indices into `texts`) against all rows of `texts`
/// (`corpus`, from the same texts).
pub fn defining_words(texts: &TextArena, corpus: &CorpusWords, group: &[u32]) -> DefiningWords {
    let n = texts.len();
    let (in_group, names) = doc_freq(texts, group.par_iter().map(|&r| r as usize), true);
    let all = &corpus.0;
    let (g, rest) = (group.len().max(1) as f64, (n - group.len()).max(1) as f64);
    let mut scored: Vec<(f64, f64, &String)> = in_group
        .iter()
        .filter_map(|(h, &k)| {
            let total = all.get(h).copied().unwrap_or(k).max(k);
            let (rate_in, rate_out) = (k as f64 / g, (total - k) as f64 / rest);
            let lift = ((rate_in + RATE_FLOOR) / (rate_out + RATE_FLOOR)).ln();
            Some((rate_in * lift, k as f64 / total as f64, names.get(h)?))
        })
        .filter(|(s, _, _)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.2.cmp(b.2)));
    scored.truncate(DEFINING_WORDS);
    let weight: f64 = scored.iter().map(|s| s.0).sum();
    let ownership = if weight > 0.0 {
        scored.iter().map(|s| s.0 * s.1).sum::<f64>() / weight
    } else {
        0.0
    };
    DefiningWords {
        words: scored.iter().map(|s| s.2.clone()).collect(),
        ownership,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena(texts: &[String]) -> TextArena {
        let mut a = TextArena::default();
        for t in texts {
            a.push(t);
        }
        a
    }

    #[test]
    fn a_topic_owns_its_words_and_a_template_does_not() {
        let mut texts: Vec<String> = Vec::new();
        // 40 rows on birds (the group), 200 ordinary rows that use the template's words now
        // and then, in other orders.
        for i in 0..40 {
            texts.push(format!("the bird number {i} sang early"));
        }
        for i in 0..200 {
            let opener = ["when he left", "the market", "there it was", "he said"][i % 4];
            let verb = ["rose", "fell"][i % 2];
            texts.push(format!("{opener} item {i} {verb} today"));
        }
        // 40 rows written to a template of those common words (the second group).
        for i in 0..40 {
            texts.push(format!("when he was there item {i} fell"));
        }
        let a = arena(&texts);
        let birds: Vec<u32> = (0..40).collect();
        let corpus = CorpusWords::of(&a);
        let topic = defining_words(&a, &corpus, &birds);
        assert_eq!(topic.words[0], "bird");
        assert!(topic.ownership > 0.9, "{topic:?}");
        let template: Vec<u32> = (240..280).collect();
        let pattern = defining_words(&a, &corpus, &template);
        assert!(pattern.words.contains(&"when".to_string()), "{pattern:?}");
        assert!(pattern.ownership < 0.7, "{pattern:?}");
    }
}
