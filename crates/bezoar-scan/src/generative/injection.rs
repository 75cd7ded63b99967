//! Response injection: a span of text repeated across responses to unrelated prompts.
//!
//! Responses are cut into overlapping spans of [`SPAN`] words. A span in several responses is
//! kept when the prompts of those units are unrelated to each other (as unrelated as random
//! prompts of this dataset are) and do not hold the span's words: natural phrases repeat in
//! answers about one topic and echo their questions; an advert or a link slipped into answers
//! does neither. Spans that share a word found only in responses (a brand, a URL) or most of
//! their units are one injection (its variants), and every response with that word joins it.
//!
//! A short injection ("Try ZentroMax today.", a link with a few words around it) is too short
//! for a span. It shows as a word found only in responses whose every use sits among the same
//! two neighbouring words (one on each side, or two on one side): natural words, even rare ones
//! and collocations ("olive oil"), are used in varied sentences, and a word that answers a topic
//! is found in its questions too. Such a word, in responses to unrelated
//! prompts that do not hold it, is read as the same kind of span.

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
/// A word found only in responses is a short injected span when at least this share of its
/// responses use it among the same two neighbouring words.
const FIXED_CONTEXT: f64 = 0.8;
/// Responses a short span needs: one word's fixed context in fewer is coincidence.
const MIN_MARKER_UNITS: usize = 5;
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
            if !answers_nothing(ctx, &units, &words, &baseline) {
                return None;
            }
            let text = span_text(ctx.ds.responses.get(first), lo, hi);
            Some(Span { units, words, text })
        })
        .collect();
    let mut spans = spans;
    spans.extend(marker_spans(ctx, &structured, max_units, &baseline));
    components(ctx, spans)
}

/// The span's words are not what the units' prompts ask about (the prompts hold few of them),
/// and the turns the responses answer are as unrelated as random turns of this dataset.
fn answers_nothing(
    ctx: &GenContext,
    units: &[u32],
    words: &[u32],
    baseline: &PromptBaseline,
) -> bool {
    let mut prompt = Vec::new();
    let echo = units
        .iter()
        .map(|&u| {
            super::text::word_set(ctx.tokens.prompts.get(u as usize), &mut prompt);
            let held = words
                .iter()
                .filter(|w| prompt.binary_search(w).is_ok())
                .count();
            held as f64 / words.len().max(1) as f64
        })
        .sum::<f64>()
        / units.len().max(1) as f64;
    echo <= MAX_ECHO && Remainder::of(&ctx.turns, units).is_unrelated(baseline)
}

/// Short injected spans: words found only in responses, each used between the same neighbours
/// in nearly all of its responses (see the module docs), in responses to unrelated prompts.
fn marker_spans(
    ctx: &GenContext,
    structured: &[bool],
    max_units: usize,
    baseline: &PromptBaseline,
) -> Vec<Span> {
    let tokens = ctx.tokens;
    let n = ctx.units();
    let candidate = |w: u32| {
        let r = ctx.response_df[w as usize] as usize;
        (MIN_MARKER_UNITS..=max_units).contains(&r)
            && ctx.prompt_df[w as usize] as f64 <= RESPONSE_ONLY * r as f64
    };
    // Each candidate's first use in each response: (word, unit, position).
    let mut uses: Vec<(u32, u32, u32)> = (0..n)
        .into_par_iter()
        .filter(|&u| !structured[u])
        .flat_map_iter(|u| {
            let seq = tokens.responses.get(u);
            let mut seen: Vec<u32> = Vec::new();
            let mut out = Vec::new();
            for (pos, &w) in seq.iter().enumerate() {
                if candidate(w) && !seen.contains(&w) {
                    seen.push(w);
                    out.push((w, u as u32, pos as u32));
                }
            }
            out
        })
        .collect();
    uses.sort_unstable();
    let mut out = Vec::new();
    for run in uses.chunk_by(|a, b| a.0 == b.0) {
        let w = run[0].0;
        let neighbour = |u: u32, pos: u32, step: isize| -> Option<u32> {
            let seq = tokens.responses.get(u as usize);
            let at = pos as isize + step;
            (0..seq.len() as isize)
                .contains(&at)
                .then(|| seq[at as usize])
        };
        // The commonest neighbours at `steps` (relative positions) and how many uses have them.
        let modal = |steps: &[isize]| -> (Vec<Option<u32>>, usize) {
            let mut counts: HashMap<Vec<Option<u32>>, usize> = HashMap::new();
            for &(_, u, pos) in run {
                let key = steps.iter().map(|&s| neighbour(u, pos, s)).collect();
                *counts.entry(key).or_default() += 1;
            }
            counts
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
                .unwrap_or((Vec::new(), 0))
        };
        // Two neighbouring words fixed: one on each side, or two on one side. (One fixed
        // neighbour is a collocation: "olive oil", "the simplest".)
        let fixed = [&[-1isize, 1][..], &[1, 2], &[-2, -1]]
            .into_iter()
            .find_map(|steps| {
                let (context, count) = modal(steps);
                (count as f64 >= FIXED_CONTEXT * run.len() as f64
                    && context.iter().all(Option::is_some))
                .then_some((steps, context))
            });
        let Some((steps, context)) = fixed else {
            continue;
        };
        // The span's responses: those that use the word among exactly these neighbours.
        let in_context = |u: u32, pos: u32| {
            steps
                .iter()
                .zip(&context)
                .all(|(&s, c)| neighbour(u, pos, s) == *c)
        };
        let units: Vec<u32> = run
            .iter()
            .filter(|&&(_, u, pos)| in_context(u, pos))
            .map(|&(_, u, _)| u)
            .collect();
        let mut words: Vec<u32> = context.iter().flatten().copied().chain([w]).collect();
        words.sort_unstable();
        words.dedup();
        // The word itself is what the prompts must not hold; its neighbours may be common words.
        if !answers_nothing(ctx, &units, &[w], baseline) {
            continue;
        }
        // Shown as written in a response that uses the fixed neighbours.
        let lo_step = steps.iter().copied().min().unwrap_or(0).min(0);
        let hi_step = steps.iter().copied().max().unwrap_or(0).max(0);
        let text = run
            .iter()
            .find(|&&(_, u, pos)| in_context(u, pos))
            .map_or_else(
                || ctx.word(w),
                |&(_, u, pos)| {
                    let lo = (pos as isize + lo_step) as usize;
                    let hi = (pos as isize + hi_step + 1) as usize;
                    span_text(ctx.ds.responses.get(u as usize), lo, hi)
                },
            );
        out.push(Span { units, words, text });
    }
    out
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
