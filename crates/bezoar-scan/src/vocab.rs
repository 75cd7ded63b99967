//! Out-of-vocabulary rows: rows made mostly of words that no other row uses.
//!
//! Natural text reuses a shared vocabulary: even in a small corpus most words of a row occur in
//! other rows, and a row's few unique words are names and typos. Junk injected to degrade a
//! model (random token strings, encoded blobs, text in another language) is made of words found
//! nowhere else. The share of a row's words that are unique to it separates the two without any
//! model; vector outliers miss such rows because a label-weighted representation gives their
//! unseen n-grams no weight.

use crate::context::Context;
use crate::result::{Detector, Evidence, Finding, Severity};
use crate::tokens::{lower_into, tokenize};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Rows with fewer word tokens say too little to judge.
const MIN_WORDS: usize = 4;
/// At or above this share of unique words a row is flagged.
const FLAG_SHARE: f32 = 0.8;
/// Below this share a row gets no score; between it and `FLAG_SHARE` a graded one (for ranking)
/// that stays under the flag threshold on its own.
const RANK_SHARE: f32 = 0.5;
const SCORE_FLAG: f32 = 0.6;
const SCORE_RANK_MAX: f32 = 0.4;
const CHUNK: usize = 8192;

/// Per-row suspicion and one finding for the flagged rows (if any).
pub(crate) fn detect(ctx: &Context) -> (Vec<f32>, Option<Finding>) {
    let n = ctx.n();
    let texts = &ctx.ds.texts;
    // Document frequency of every word (lower-cased, punctuation-only tokens left out), counted
    // per chunk and merged.
    let df: FxHashMap<u64, u32> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut df: FxHashMap<u64, u32> = FxHashMap::default();
            let (mut toks, mut lower, mut words) = (Vec::new(), String::new(), Vec::new());
            for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
                row_words(texts.get(i), &mut toks, &mut lower, &mut words);
                words.sort_unstable();
                words.dedup();
                for &w in &words {
                    *df.entry(w).or_default() += 1;
                }
            }
            df
        })
        .reduce(FxHashMap::default, |a, b| {
            let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
            for (w, k) in small {
                *big.entry(w).or_default() += k;
            }
            big
        });
    let shares: Vec<f32> = (0..n)
        .into_par_iter()
        .map_init(
            || (Vec::new(), String::new(), Vec::new()),
            |(toks, lower, words), i| {
                row_words(texts.get(i), toks, lower, words);
                if words.len() < MIN_WORDS {
                    return 0.0;
                }
                let unique = words.iter().filter(|w| df.get(w) == Some(&1)).count();
                unique as f32 / words.len() as f32
            },
        )
        .collect();
    let scores: Vec<f32> = shares.iter().map(|&s| score(s)).collect();
    let rows: Vec<u32> = (0..n as u32)
        .filter(|&i| shares[i as usize] >= FLAG_SHARE)
        .collect();
    if rows.is_empty() {
        return (scores, None);
    }
    let mean_share =
        rows.iter().map(|&i| shares[i as usize] as f64).sum::<f64>() / rows.len() as f64;
    let share_of_dataset = rows.len() as f64 / n as f64;
    let finding = Finding {
        detector: Detector::Anomaly,
        severity: if share_of_dataset >= 0.001 {
            Severity::Medium
        } else {
            Severity::Low
        },
        title: format!(
            "{} rows made mostly of words no other row uses (out-of-distribution junk); on average {:.0}% of their words are unique to them",
            rows.len(),
            100.0 * mean_share
        ),
        subject: "out-of-vocabulary rows".into(),
        target_label: None,
        evidence: vec![
            Evidence {
                name: "rows",
                value: rows.len() as f64,
            },
            Evidence {
                name: "share_of_dataset",
                value: share_of_dataset,
            },
            Evidence {
                name: "mean_unique_word_share",
                value: mean_share,
            },
            Evidence {
                name: "flag_share",
                value: FLAG_SHARE as f64,
            },
        ],
        rows,
    };
    (scores, Some(finding))
}

fn score(share: f32) -> f32 {
    if share >= FLAG_SHARE {
        SCORE_FLAG
    } else if share > RANK_SHARE {
        SCORE_RANK_MAX * (share - RANK_SHARE) / (FLAG_SHARE - RANK_SHARE)
    } else {
        0.0
    }
}

/// Hashes of the lower-cased word tokens of `text` (tokens with a letter or digit), in order.
fn row_words<'a>(text: &'a str, toks: &mut Vec<&'a str>, lower: &mut String, words: &mut Vec<u64>) {
    tokenize(text, toks);
    words.clear();
    for t in toks.iter() {
        if !t.chars().any(char::is_alphanumeric) {
            continue;
        }
        lower_into(t, lower);
        words.push(xxh3_64_with_seed(lower.as_bytes(), 0x0076_6f63_6162));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duplicates::test_support::{dataset, with_context};

    #[test]
    fn junk_rows_are_flagged_and_natural_rows_are_not() {
        let words = [
            "the", "film", "is", "a", "good", "bad", "story", "with", "great", "acting", "plot",
            "dull", "and", "funny", "cast",
        ];
        let mut texts: Vec<String> = (0..300)
            .map(|i| {
                (0..8)
                    .map(|k| words[(i * 7 + k * 3 + i / 5) % words.len()])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        // A natural row with one name nobody else mentions.
        texts.push("the film with great acting and Zanzibar".into());
        texts.push("qxwv zpkj bnrt ylmh wqoe".into());
        texts.push("the qwzx vbmn plkj".into());
        texts.push("ab ab".into());
        let labels: Vec<u32> = (0..texts.len() as u32).map(|i| i % 2).collect();
        let ds = dataset(&texts, &labels);
        let (scores, finding) = with_context(&ds, detect);
        let f = finding.expect("a finding");
        assert_eq!(f.rows, vec![301]);
        assert_eq!(scores[301], SCORE_FLAG);
        // 3 of 4 words are unique: ranked, not flagged.
        assert!(scores[302] > 0.3 && scores[302] < 0.5, "{}", scores[302]);
        assert!(scores[300] < 0.5, "one unseen name: {}", scores[300]);
        assert_eq!(scores[303], 0.0, "too short to judge");
        assert!(scores[..300].iter().all(|&s| s == 0.0));
    }
}
