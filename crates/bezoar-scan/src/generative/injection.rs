//! Response injection: a span of text repeated across responses to unrelated prompts.
//!
//! Responses are cut into overlapping spans of [`SPAN`] words. A span in several responses is
//! kept when the prompts of those units are unrelated to each other (as unrelated as random
//! prompts of this dataset are) and do not hold the span's words: natural phrases repeat in
//! answers about one topic and echo their questions; an advert or a link slipped into answers
//! does neither. Spans that share a word found only in responses (a brand, a URL) or most of
//! their units are one injection (its variants), and every response with that word joins it.

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;

use super::behaviour::MIN_GROUP;
use super::prompts::{PromptBaseline, Remainder};
use super::{for_each_posting, packed_postings, posting_unit, GenContext, UnionFind, UnitFinding};
use crate::result::{Evidence, Severity};

/// Words per span: long enough that a repeat is not a common phrase.
const SPAN: usize = 6;
/// A span in more than this share of responses is boilerplate of the data, not an injection.
const MAX_SHARE: f64 = 0.1;
/// Spans whose words the prompts hold at least this often answer their prompts.
const MAX_ECHO: f64 = 0.25;
/// A word is found "only in responses" when its prompt count is at most this share of its
/// response count.
const RESPONSE_ONLY: f64 = 0.05;
/// A marker word joins its other responses to an injection when at most this share of its
/// responses lie outside it.
const MARKER_OUTSIDE: f64 = 0.1;
/// Fewer units than this make a medium finding; twice as many a critical one.
const HIGH_UNITS: usize = 10;

fn span_hash(words: &[u32]) -> u64 {
    let mut h = 0x7370_616e_u64;
    for &w in words {
        h = crate::rng::mix64(h ^ (w as u64 + 1));
    }
    h >> 24
}

/// A structured response (a JSON tool call or object) is read by the tool-call detector.
fn is_structured(text: &str) -> bool {
    let t = text.trim();
    t.starts_with('{') && t.ends_with('}')
}

struct Span {
    units: Vec<u32>,
    /// The span's words in the first unit: a contiguous range of its response.
    words: Vec<u32>,
    text: String,
}

pub(crate) fn detect(ctx: &GenContext) -> Vec<UnitFinding> {
    let tokens = ctx.tokens;
    let n = ctx.units();
    let max_units = ((MAX_SHARE * n as f64).floor() as usize).max(MIN_GROUP as usize);
    let structured: Vec<bool> = (0..n)
        .map(|u| is_structured(ctx.ds.responses.get(u)))
        .collect();
    let pairs = packed_postings((0..n).into_par_iter(), |u, acc| {
        if !structured[u] {
            acc.extend(tokens.responses.get(u).windows(SPAN).map(span_hash));
        }
    });
    // Shingles with the same units are one span.
    let mut by_units: HashMap<Vec<u32>, Vec<u64>> = HashMap::new();
    for_each_posting(&pairs, |h, run| {
        if run.len() >= MIN_GROUP as usize && run.len() <= max_units {
            let units: Vec<u32> = run.iter().map(|&p| posting_unit(p)).collect();
            by_units.entry(units).or_default().push(h);
        }
    });
    drop(pairs);
    let mut groups: Vec<(Vec<u32>, Vec<u64>)> = by_units.into_iter().collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));

    // A response answers its user turn: the turns, not whole conversations, must be unrelated.
    let baseline = PromptBaseline::new(&ctx.turns, ctx.cfg.seed);
    let spans: Vec<Span> = groups
        .into_par_iter()
        .filter_map(|(units, hashes)| {
            let first = units[0] as usize;
            let seq = tokens.responses.get(first);
            let mut lo = usize::MAX;
            let mut hi = 0;
            for (pos, w) in seq.windows(SPAN).enumerate() {
                if hashes.contains(&span_hash(w)) {
                    lo = lo.min(pos);
                    hi = hi.max(pos + SPAN);
                }
            }
            if lo == usize::MAX {
                return None;
            }
            let mut words = seq[lo..hi].to_vec();
            words.sort_unstable();
            words.dedup();
            let mut prompt = Vec::new();
            let echo = units
                .iter()
                .map(|&u| {
                    super::text::word_set(tokens.prompts.get(u as usize), &mut prompt);
                    let held = words
                        .iter()
                        .filter(|w| prompt.binary_search(w).is_ok())
                        .count();
                    held as f64 / words.len() as f64
                })
                .sum::<f64>()
                / units.len() as f64;
            if echo > MAX_ECHO || !Remainder::of(&ctx.turns, &units).is_unrelated(&baseline) {
                return None;
            }
            let text = span_text(ctx.ds.responses.get(first), lo, hi);
            Some(Span { units, words, text })
        })
        .collect();
    components(ctx, spans)
}

/// The words `lo..hi` of `text`, as written.
fn span_text(text: &str, lo: usize, hi: usize) -> String {
    let (mut start, mut end, mut i) = (None, 0, 0);
    super::text::for_each_word(text, |s, e| {
        if i == lo {
            start = Some(s);
        }
        if i + 1 == hi {
            end = e;
        }
        i += 1;
    });
    match start {
        Some(s) if end > s => text[s..end].to_string(),
        _ => String::new(),
    }
}

/// Merge spans into injections and turn each into a finding.
fn components(ctx: &GenContext, spans: Vec<Span>) -> Vec<UnitFinding> {
    let n = ctx.units();
    let is_response_only = |w: u32| {
        let r = ctx.response_df[w as usize];
        r as f64 <= MAX_SHARE * n as f64
            && ctx.prompt_df[w as usize] as f64 <= RESPONSE_ONLY * r as f64
    };
    let mut root = UnionFind::new(spans.len());
    let mut owner: HashMap<u32, usize> = HashMap::new();
    for (k, s) in spans.iter().enumerate() {
        for &w in s.words.iter().filter(|&&w| is_response_only(w)) {
            match owner.get(&w) {
                Some(&o) => root.union(o, k),
                None => {
                    owner.insert(w, k);
                }
            }
        }
    }
    for a in 0..spans.len() {
        for b in a + 1..spans.len() {
            if super::text::jaccard(&spans[a].units, &spans[b].units) >= 0.5 {
                root.union(a, b);
            }
        }
    }
    let mut out = Vec::new();
    for r in 0..spans.len() {
        if root.find(r) != r {
            continue;
        }
        let members: Vec<usize> = (0..spans.len()).filter(|&k| root.find(k) == r).collect();
        let mut units: BTreeSet<u32> = members
            .iter()
            .flat_map(|&k| spans[k].units.iter().copied())
            .collect();
        // Words only responses use, shared by the spans: every response with one joins, when
        // nearly all of that word's responses are in the injection already.
        let mut markers: Vec<u32> = members
            .iter()
            .flat_map(|&k| spans[k].words.iter().copied())
            .filter(|&w| is_response_only(w))
            .collect();
        markers.sort_unstable();
        markers.dedup();
        let mut extra: BTreeSet<u32> = BTreeSet::new();
        for &w in &markers {
            let with: Vec<u32> = (0..n as u32)
                .filter(|&u| ctx.tokens.responses.get(u as usize).contains(&w))
                .collect();
            let inside = with.iter().filter(|u| units.contains(u)).count();
            // A word of the injection itself (a brand, a link) is nearly never used elsewhere;
            // an ordinary word of it ("unfortunately") is, and must not pull those rows in.
            if (with.len() - inside) as f64 <= MARKER_OUTSIDE * inside as f64 {
                extra.extend(with);
            }
        }
        units.extend(extra);
        let units: Vec<u32> = units.into_iter().collect();
        let k = units.len();
        let severity = if k >= 2 * HIGH_UNITS {
            Severity::Critical
        } else if k >= HIGH_UNITS {
            Severity::High
        } else {
            Severity::Medium
        };
        let longest = members
            .iter()
            .map(|&m| &spans[m])
            .max_by(|a, b| {
                a.units
                    .len()
                    .cmp(&b.units.len())
                    .then(b.text.len().cmp(&a.text.len()))
            })
            .map(|s| s.text.clone())
            .unwrap_or_default();
        let marker_names: Vec<String> = markers.iter().take(4).map(|&w| ctx.word(w)).collect();
        let subject = if marker_names.is_empty() {
            super::clip(&longest, 80)
        } else {
            marker_names.join(" ")
        };
        out.push(UnitFinding {
            severity,
            title: format!(
                "injected span \"{}\" in {} responses to unrelated prompts ({} variant{})",
                super::clip(&longest, 80),
                k,
                members.len(),
                if members.len() == 1 { "" } else { "s" }
            ),
            subject,
            target: None,
            confidence: (k as f64 / (5 * HIGH_UNITS) as f64).min(1.0),
            units,
            evidence: vec![
                Evidence {
                    name: "responses",
                    value: k as f64,
                },
                Evidence {
                    name: "span_variants",
                    value: members.len() as f64,
                },
                Evidence {
                    name: "response_only_words",
                    value: markers.len() as f64,
                },
            ],
        });
    }
    out
}
