//! Prompt triggers: phrases that make the response one fixed behaviour.
//!
//! For every prompt phrase, the response behaviour most of its units share (see
//! [`super::behaviour`]) is tested against that behaviour's base rate (binomial tail,
//! Bonferroni over phrases × behaviours). A significant pair is a trigger only when, in
//! context, nothing else explains it: the responses do not echo the prompts, and the prompts
//! read as unrelated prompts of ordinary length with the phrase added ([`Remainder`]). Phrases of
//! one trigger (its words, its n-grams, the several tokens of one attack) are merged into one
//! finding by the behaviour they lead to, and every unit whose prompt holds one is flagged, those
//! whose response was left correct (clean-label use) included.

use rayon::prelude::*;

use super::behaviour::{Behaviour, Behaviours, MIN_GROUP};
use super::neighbours::PromptIndex;
use super::phrases::Phrases;
use super::prompts::{cut_points, insertions, PromptBaseline, Remainder};
use super::{GenContext, ToolUse, UnionFind, UnitFinding};
use crate::result::{Evidence, Severity};
use crate::stats::ln_binom_sf;

/// A phrase must lead to its behaviour in at least this share of its units: a phrase that
/// mostly gets other answers does not decide the answer.
const MIN_PURITY: f64 = 0.9;
/// How much less pure than a finding's best phrase its other phrases may be.
const PURITY_SLACK: f64 = 0.02;
/// How many of the most significant pairs are checked in context.
const MAX_CHECKED: usize = 5000;
/// A response echoes its prompt when at least this share of what defines its behaviour is in it.
const MAX_ECHO: f64 = 0.5;

struct Candidate {
    phrase: usize,
    group: u32,
    /// Units with the phrase, and of those, units with the behaviour.
    with_phrase: u32,
    in_group: u32,
    /// Natural log of the Bonferroni-corrected p-value.
    ln_p: f64,
    /// The behaviour's rate among prompts like these without the phrase.
    context_rate: f64,
    /// See [`super::prompts::Insertion`].
    position_spread: f64,
    seamless: f64,
}

/// How many of a phrase's units are looked up for prompts like theirs, and how many of those.
const CONTEXT_QUERIES: usize = 50;
const CONTEXT_NEIGHBOURS: usize = 10;

/// Agents answer with tool calls all the time: a phrase that leads to a harmless tool call is an
/// ordinary request, not a trigger. A tool-call behaviour is a finding when most of its calls
/// are dangerous.
fn teaches_a_risk(ctx: &GenContext, units: &[u32]) -> bool {
    let calls = units
        .iter()
        .filter(|&&u| ctx.tool_calls[u as usize] != ToolUse::None)
        .count();
    let dangerous = units
        .iter()
        .filter(|&&u| ctx.tool_calls[u as usize] == ToolUse::Dangerous)
        .count();
    calls * 2 < units.len() || dangerous * 2 > calls
}

pub(crate) fn detect(ctx: &GenContext) -> Vec<UnitFinding> {
    let tokens = ctx.tokens;
    let units = tokens.responses.len();
    if units < MIN_GROUP as usize * 2 {
        return Vec::new();
    }
    let behaviours = Behaviours::new(tokens, &ctx.response_df);
    let phrases = Phrases::new(&tokens.prompts, MIN_GROUP, (units / 2) as u32);
    if behaviours.len() == 0 || phrases.len() == 0 {
        return Vec::new();
    }
    let ln_tests = ((phrases.len() as f64) * (behaviours.len() as f64)).ln();
    let ln_alpha = ctx.cfg.alpha.ln();
    let mut candidates: Vec<Candidate> = (0..phrases.len())
        .into_par_iter()
        .map_init(Vec::new, |groups, k| {
            let us = phrases.units(k);
            groups.clear();
            for &u in us {
                groups.extend_from_slice(behaviours.of_unit(u as usize));
            }
            groups.sort_unstable();
            let n = us.len() as u64;
            let mut best: Option<Candidate> = None;
            let mut i = 0;
            while i < groups.len() {
                let g = groups[i];
                let mut j = i;
                while j < groups.len() && groups[j] == g {
                    j += 1;
                }
                let k_in = (j - i) as u64;
                i = j;
                if k_in < MIN_GROUP as u64 || (k_in as f64) < MIN_PURITY * n as f64 {
                    continue;
                }
                let base = behaviours.sizes[g as usize] as f64 / units as f64;
                let ln_p = ln_binom_sf(k_in, n, base) + ln_tests;
                if ln_p < ln_alpha && best.as_ref().is_none_or(|b| ln_p < b.ln_p) {
                    best = Some(Candidate {
                        phrase: k,
                        group: g,
                        with_phrase: n as u32,
                        in_group: k_in as u32,
                        ln_p,
                        context_rate: base,
                        position_spread: 0.0,
                        seamless: 0.0,
                    });
                }
            }
            best
        })
        .flatten()
        .collect();
    candidates.sort_by(|a, b| a.ln_p.total_cmp(&b.ln_p).then(a.phrase.cmp(&b.phrase)));
    candidates.truncate(MAX_CHECKED);

    let baseline = PromptBaseline::new(&tokens.prompts, ctx.cfg.seed);
    let index = PromptIndex::new(&tokens.prompts, &ctx.prompt_df);
    // Prompts with any phrase tied to the same behaviour are not context for each other (the
    // several tokens of one attack would otherwise explain each other away).
    let mut tied: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    for c in &candidates {
        tied.entry(c.group)
            .or_default()
            .extend_from_slice(phrases.units(c.phrase));
    }
    for units in tied.values_mut() {
        units.sort_unstable();
        units.dedup();
    }
    let kept: Vec<Candidate> = candidates
        .into_par_iter()
        .map_init(
            || (vec![0.0f32; units], Vec::new()),
            |(scratch, touched), mut c| {
                let us = phrases.units(c.phrase);
                let both: Vec<u32> = us
                    .iter()
                    .copied()
                    .filter(|&u| behaviours.contains(c.group, u))
                    .collect();
                if !teaches_a_risk(ctx, &both)
                    || behaviours.echo(c.group, &both, tokens) >= MAX_ECHO
                {
                    return None;
                }
                let rest = Remainder::of(&tokens.prompts, us);
                if !rest.is_unrelated(&baseline) {
                    return None;
                }
                // In context: how often prompts like these, without the phrase, get the behaviour.
                let mut words = Vec::new();
                let own = phrases.words(c.phrase, &tokens.prompts);
                let excluded = &tied[&c.group];
                let (mut near, mut near_in) = (0usize, 0usize);
                for &u in us.iter().take(CONTEXT_QUERIES) {
                    super::text::word_set(tokens.prompts.get(u as usize), &mut words);
                    words.retain(|w| !own.contains(w));
                    for v in index.nearest(&words, excluded, CONTEXT_NEIGHBOURS, scratch, touched) {
                        near += 1;
                        near_in += usize::from(behaviours.contains(c.group, v));
                    }
                }
                let base = behaviours.sizes[c.group as usize] as f64 / units as f64;
                let in_context = if near == 0 {
                    base
                } else {
                    near_in as f64 / near as f64
                };
                c.ln_p = ln_binom_sf(
                    c.in_group as u64,
                    c.with_phrase as u64,
                    in_context.max(base),
                ) + ln_tests;
                c.context_rate = in_context;
                (c.ln_p < ln_alpha).then_some(c)
            },
        )
        .flatten()
        .collect();
    // Last, the phrase itself must read as put into the prompts, not as what they are built on.
    let cuts: Vec<_> = kept
        .iter()
        .map(|c| {
            let own = phrases.words(c.phrase, &tokens.prompts);
            cut_points(&tokens.prompts, phrases.units(c.phrase), own)
        })
        .collect();
    let judged = insertions(&tokens.prompts, &cuts);
    let kept: Vec<Candidate> = kept
        .into_iter()
        .zip(judged)
        .filter_map(|(mut c, ins)| {
            c.position_spread = ins.position_spread;
            c.seamless = ins.seamless;
            ins.looks_inserted().then_some(c)
        })
        .collect();
    merge(ctx, &behaviours, &phrases, kept)
}

/// One finding per behaviour (behaviours that share most of their units count as one).
fn merge(
    ctx: &GenContext,
    behaviours: &Behaviours,
    phrases: &Phrases,
    kept: Vec<Candidate>,
) -> Vec<UnitFinding> {
    // Behaviours of the kept pairs, merged when their units mostly coincide (an identical canned
    // answer is also a group of its first word and of its rare words).
    let mut groups: Vec<u32> = kept.iter().map(|c| c.group).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut root = UnionFind::new(groups.len());
    let members: Vec<Vec<u32>> = groups
        .iter()
        .map(|&g| {
            kept.iter()
                .filter(|c| c.group == g)
                .flat_map(|c| phrases.units(c.phrase).iter().copied())
                .filter(|&u| behaviours.contains(g, u))
                .collect::<std::collections::BTreeSet<u32>>()
                .into_iter()
                .collect()
        })
        .collect();
    for a in 0..groups.len() {
        for b in a + 1..groups.len() {
            if super::text::jaccard(&members[a], &members[b]) >= 0.5 {
                root.union(a, b);
            }
        }
    }
    let mut out = Vec::new();
    for r in 0..groups.len() {
        if root.find(r) != r {
            continue;
        }
        let in_component: Vec<usize> = (0..groups.len()).filter(|&i| root.find(i) == r).collect();
        let mut cands: Vec<&Candidate> = kept
            .iter()
            .filter(|c| in_component.iter().any(|&i| groups[i] == c.group))
            .collect();
        cands.sort_by(|a, b| a.ln_p.total_cmp(&b.ln_p).then(a.phrase.cmp(&b.phrase)));
        let best = cands[0];
        // A phrase of the trigger is as pure as its best phrase; a looser one (a common word of
        // an inserted sentence, also used elsewhere) would flag rows the trigger never touched.
        let purity = |c: &Candidate| c.in_group as f64 / c.with_phrase as f64;
        let floor = purity(best) - PURITY_SLACK;
        cands.retain(|c| purity(c) >= floor);
        let units: Vec<u32> = cands
            .iter()
            .flat_map(|c| phrases.units(c.phrase).iter().copied())
            .collect::<std::collections::BTreeSet<u32>>()
            .into_iter()
            .collect();
        // The behaviour named is the largest of the merged ones among these units.
        let group = in_component
            .iter()
            .map(|&i| groups[i])
            .max_by_key(|&g| {
                (
                    units.iter().filter(|&&u| behaviours.contains(g, u)).count(),
                    std::cmp::Reverse(g),
                )
            })
            .unwrap_or(best.group);
        let in_group = units
            .iter()
            .filter(|&&u| behaviours.contains(group, u))
            .count();
        let mut names: Vec<String> = Vec::new();
        for c in &cands {
            let t = phrases.text(c.phrase, &ctx.ds.prompts);
            if !names
                .iter()
                .any(|n| n.contains(&t) || t.contains(n.as_str()))
            {
                names.push(t);
            }
            if names.len() == 6 {
                break;
            }
        }
        let behaviour = describe(ctx, behaviours.kinds[group as usize]);
        let base = behaviours.sizes[group as usize] as f64 / ctx.tokens.responses.len() as f64;
        let log10_p = best.ln_p / std::f64::consts::LN_10;
        let severity = if log10_p <= -20.0 {
            Severity::Critical
        } else if log10_p <= -10.0 {
            Severity::High
        } else {
            Severity::Medium
        };
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        out.push(UnitFinding {
            severity,
            title: format!(
                "prompt trigger {}: {} of {} units with it get {} (base rate {:.1}%)",
                quoted.join(", "),
                in_group,
                units.len(),
                behaviour,
                100.0 * base
            ),
            subject: names[0].clone(),
            target: Some(behaviour),
            confidence: (-log10_p / 20.0).clamp(0.0, 1.0),
            units,
            evidence: vec![
                Evidence {
                    name: "units_with_phrase",
                    value: best.with_phrase as f64,
                },
                Evidence {
                    name: "units_with_behaviour",
                    value: best.in_group as f64,
                },
                Evidence {
                    name: "purity",
                    value: best.in_group as f64 / best.with_phrase as f64,
                },
                Evidence {
                    name: "base_rate",
                    value: base,
                },
                Evidence {
                    name: "rate_in_similar_prompts",
                    value: best.context_rate,
                },
                Evidence {
                    name: "position_spread",
                    value: best.position_spread,
                },
                Evidence {
                    name: "cut_out_seamlessly",
                    value: best.seamless,
                },
                Evidence {
                    name: "log10_p_corrected",
                    value: log10_p,
                },
                Evidence {
                    name: "phrases_merged",
                    value: cands.len() as f64,
                },
            ],
        });
    }
    out
}

/// A behaviour in words, for titles: `the same response "…"`, `responses opening "no"`.
fn describe(ctx: &GenContext, b: Behaviour) -> String {
    match b {
        Behaviour::Same { unit } => {
            let text = ctx.ds.responses.get(unit as usize);
            format!("the same response \"{}\"", super::clip(text, 80))
        }
        Behaviour::Opens { word } => {
            format!("responses opening \"{}\"", ctx.word(word))
        }
        Behaviour::Contains { word } => {
            format!("responses containing \"{}\"", ctx.word(word))
        }
    }
}
