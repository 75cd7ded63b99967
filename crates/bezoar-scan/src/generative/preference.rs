//! Preference flips: pairs whose chosen and rejected responses read swapped.
//!
//! A Bradley–Terry model, P(chosen ≻ rejected) = σ(w · (φ(chosen) − φ(rejected))), reads every
//! pair out of fold (the folds of the scan). φ is hashed 1- and 2-gram presence over words and
//! punctuation marks (each response's vector of unit length) plus a few features of how a
//! response reads, each a chosen-minus-rejected difference scaled to unit spread: length in
//! characters and words, how much of it repeats the last user turn and the prompt, questions
//! asked, vocabulary variety, line breaks, digits, how much it reads like the assistant turns
//! the prompts already hold (the responses dialogues went on with), how typical it reads for
//! the dataset (closeness to the centroid of all responses), and whether the dialogue continues
//! with it. The n-gram model's L2 strength is the one whose held-out likelihood on this
//! dataset's pairs is best; its out-of-fold margin is stacked with the dense features. Both are
//! solved to convergence (L-BFGS). A pair's reversal probability
//! σ(−margin) is its score.
//!
//! Flagging needs to know how many pairs are swapped, which margins alone cannot say (people
//! disagree about a third of pairs). Multi-turn preference data often holds that count: another
//! row's prompt may continue a pair's dialogue with one of its two responses, and a dataset's
//! dialogues go on with the response of one side (in hh-rlhf, the rejected one). Pairs whose
//! dialogue goes on with the other side are inconsistent: their share estimates the share of
//! swaps, and that many pairs, the most reversed, are flagged. Without continuations no pair is
//! flagged on reading alone.
//!
//! A trigger-conditioned flip (the universal jailbreak backdoor: a word in the prompt under which
//! the preference is reversed) shows as a phrase of the last user turn whose pairs read reversed
//! far more often than the rest (a z-test on the mean reversal probability, Bonferroni over
//! phrases), in prompts that are otherwise unrelated; it is high when the phrase also reads as
//! put into the turns (see `prompts::Insertion`), and then every pair with it is flagged.

use rayon::prelude::*;

use super::phrases::Phrases;
use super::prompts::{cut_points, insertions, PromptBaseline, Remainder};
use super::{GenContext, UnitFinding};
use crate::result::{Evidence, Severity};
use crate::rng::SplitMix64 as Rng;

const DIM_BITS: u32 = 18;
const DIM: usize = 1 << DIM_BITS;
/// The dense features, after the hashed n-grams.
const DENSE: usize = 12;
/// Where the dense features computed over the whole dataset sit: likeness to the continued
/// responses, typicality, continuation.
const LIKE_CONTINUED: usize = DENSE - 3;
const TYPICAL: usize = DENSE - 2;
const CONTINUED: usize = DENSE - 1;
/// Candidate inverse regularisation strengths (C of ½‖w‖² + C·Σ loss), chosen by held-out
/// likelihood.
const C_GRID: [f64; 5] = [0.03, 0.1, 0.3, 1.0, 3.0];
/// The stacked model's inverse regularisation: a dozen inputs, many pairs; barely shrunk.
const C_STACK: f64 = 10.0;
/// Pairs used to choose C (a sample, on large data).
const C_SAMPLE: usize = 20_000;
/// Phrases of fewer pairs than this cannot show a reversal rate.
const MIN_PHRASE_PAIRS: u32 = 5;
/// Continuations needed before their disagreement share is trusted as the share of swaps.
const MIN_CONTINUATIONS: usize = 30;

/// A pair's features: sparse (index, value), sorted by index.
type Sparse = Vec<(u32, f32)>;

/// The hashed 1- and 2-grams of a sequence of token keys, sorted and deduplicated.
fn ngram_indices(keys: impl Iterator<Item = u64>, out: &mut Vec<u32>) {
    out.clear();
    let mut prev: Option<u64> = None;
    for k in keys {
        out.push((crate::rng::mix64(k) & (DIM as u64 - 1)) as u32);
        if let Some(p) = prev {
            let h = crate::rng::mix64(p.rotate_left(29) ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            out.push((h & (DIM as u64 - 1)) as u32);
        }
        prev = Some(k);
    }
    out.sort_unstable();
    out.dedup();
}

/// The hashed 1- and 2-grams of a sequence of word ids.
fn hashed(seq: &[u32], out: &mut Vec<u32>) {
    ngram_indices(seq.iter().map(|&w| w as u64 + 1), out);
}

/// The hashed 1- and 2-grams of a response read as words *and* punctuation marks (lower-cased
/// runs of letters, digits and `_`; every other non-space character a token of its own): how
/// a response asks, lists, exclaims or quotes is part of why people prefer it, and the shared
/// word tokenizer drops punctuation.
fn hashed_text(text: &str, keys: &mut Vec<u64>, out: &mut Vec<u32>) {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0100_0000_01b3;
    keys.clear();
    let mut word: Option<u64> = None;
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' {
            let mut h = word.unwrap_or(FNV_OFFSET);
            for l in c.to_lowercase() {
                h = (h ^ l as u64).wrapping_mul(FNV_PRIME);
            }
            word = Some(h);
            continue;
        }
        if let Some(w) = word.take() {
            keys.push(w);
        }
        if !c.is_whitespace() {
            keys.push(crate::rng::mix64(0x7075_6e63 ^ c as u64));
        }
    }
    keys.extend(word);
    ngram_indices(keys.iter().copied(), out);
}

/// Scratch buffers of [`text_difference`].
#[derive(Default)]
struct Scratch {
    keys: Vec<u64>,
    a: Vec<u32>,
    b: Vec<u32>,
}

/// φ(chosen) − φ(rejected) over the hashed n-grams: binary presence scaled by 1/√count.
fn text_difference(chosen: &str, rejected: &str, scratch: &mut Scratch) -> Sparse {
    let Scratch { keys, a, b } = scratch;
    hashed_text(chosen, keys, a);
    hashed_text(rejected, keys, b);
    let (sa, sb) = (
        1.0 / (a.len().max(1) as f32).sqrt(),
        1.0 / (b.len().max(1) as f32).sqrt(),
    );
    let mut out = Vec::with_capacity(a.len() + b.len() + DENSE);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x == y => {
                let v = sa - sb;
                if v != 0.0 {
                    out.push((x, v));
                }
                i += 1;
                j += 1;
            }
            (Some(&x), Some(&y)) if x < y => {
                out.push((x, sa));
                i += 1;
            }
            (Some(_), Some(&y)) => {
                out.push((y, -sb));
                j += 1;
            }
            (Some(&x), None) => {
                out.push((x, sa));
                i += 1;
            }
            (None, Some(&y)) => {
                out.push((y, -sb));
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// How a response reads, as numbers (see the module docs); the last three are filled in later.
fn response_features(text: &str, words: &[u32], turn: &[u32], prompt: &[u32]) -> [f64; DENSE] {
    let n = words.len().max(1) as f64;
    let in_turn = words
        .iter()
        .filter(|w| turn.binary_search(w).is_ok())
        .count() as f64;
    let in_prompt = words
        .iter()
        .filter(|w| prompt.binary_search(w).is_ok())
        .count() as f64;
    let mut distinct = words.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let questions = text.matches('?').count() as f64;
    let chars = text.chars().count().max(1) as f64;
    let digits = text.chars().filter(char::is_ascii_digit).count() as f64;
    [
        (1.0 + text.len() as f64).ln(),
        (1.0 + words.len() as f64).ln(),
        in_turn / n,
        in_prompt / n,
        f64::from(u8::from(questions > 0.0)),
        (1.0 + questions).ln(),
        distinct.len() as f64 / n,
        (1.0 + text.matches('\n').count() as f64).ln(),
        digits / chars,
        0.0,
        0.0,
        0.0,
    ]
}

/// +1 when another row's prompt continues the dialogue with the chosen response, −1 when it
/// continues with the rejected one, 0 otherwise.
fn continuations(ctx: &GenContext) -> Vec<f64> {
    let n = ctx.units();
    let mut sorted: Vec<&str> = (0..n).map(|u| ctx.ds.prompts.get(u)).collect();
    sorted.sort_unstable();
    let continued = |prompt: &str, response: &str| {
        let response = response.trim();
        if response.is_empty() {
            return false;
        }
        let mut key = String::with_capacity(prompt.len() + response.len() + 1);
        key.push_str(prompt);
        key.push(' ');
        key.push_str(response);
        let i = sorted.partition_point(|p| *p < key.as_str());
        sorted.get(i).is_some_and(|p| p.starts_with(&key))
    };
    (0..n)
        .into_par_iter()
        .map(|u| {
            let p = ctx.ds.prompts.get(u);
            let c = continued(p, ctx.ds.responses.get(u));
            let r = continued(p, ctx.ds.rejected.get(u));
            f64::from(u8::from(c)) - f64::from(u8::from(r))
        })
        .collect()
}

/// The assistant turns a dialogue prompt already holds (`Assistant:` segments before its end).
fn earlier_assistant_turns(prompt: &str, out: &mut bezoar_data::TextArena) {
    let mut rest = prompt;
    while let Some(i) = rest.find("Assistant:") {
        rest = &rest[i + "Assistant:".len()..];
        let end = rest.find("Human:").unwrap_or(rest.len());
        let turn = rest[..end].trim();
        if !turn.is_empty() {
            out.push(turn);
        }
        rest = &rest[end..];
    }
}

/// The direction from the final responses towards the responses dialogues went on with (the
/// assistant turns inside prompts), in hashed n-gram space: a pair's response that reads like
/// the ones a dataset's dialogues continue with is the side those continuations came from.
/// `None` when the prompts hold no assistant turns.
fn continued_direction(ctx: &GenContext) -> Option<Vec<f32>> {
    let n = ctx.units();
    let mut arena = bezoar_data::TextArena::new();
    for u in 0..n {
        earlier_assistant_turns(ctx.ds.prompts.get(u), &mut arena);
    }
    if arena.len() < MIN_CONTINUATIONS {
        return None;
    }
    let earlier = ctx.tokens.seqs_of(&arena);
    let mut v = vec![0.0f32; DIM];
    let mut idx = Vec::new();
    let mut add = |seq: &[u32], weight: f32, v: &mut [f32]| {
        hashed(seq, &mut idx);
        let w = weight / (idx.len().max(1) as f32).sqrt();
        for &k in &idx {
            v[k as usize] += w;
        }
    };
    let pe = 1.0 / earlier.len() as f32;
    for i in 0..earlier.len() {
        add(earlier.get(i), pe, &mut v);
    }
    let pf = -0.5 / n as f32;
    for u in 0..n {
        add(ctx.tokens.responses.get(u), pf, &mut v);
        add(ctx.tokens.rejected.get(u), pf, &mut v);
    }
    Some(v)
}

/// The centroid of all responses (chosen and rejected), each as its hashed n-grams weighted by
/// inverse document frequency and of unit length: how typical a response reads for this
/// dataset. Annotators prefer the ordinary helpful answer to an odd one more often than not,
/// and a swapped pair reads the other way.
fn typical_direction(ctx: &GenContext) -> Vec<f32> {
    let n = ctx.units();
    let tokens = ctx.tokens;
    let sides = [&tokens.responses, &tokens.rejected];
    let mut df = vec![0u32; DIM];
    let mut idx = Vec::new();
    for side in sides {
        for u in 0..n {
            hashed(side.get(u), &mut idx);
            for &k in &idx {
                df[k as usize] += 1;
            }
        }
    }
    let docs = (2 * n) as f32;
    let idf: Vec<f32> = df
        .iter()
        .map(|&d| ((1.0 + docs) / (1.0 + d as f32)).ln() + 1.0)
        .collect();
    let mut v = vec![0.0f32; DIM];
    for side in sides {
        for u in 0..n {
            hashed(side.get(u), &mut idx);
            let norm = idx
                .iter()
                .map(|&k| idf[k as usize].powi(2))
                .sum::<f32>()
                .sqrt();
            if norm > 0.0 {
                for &k in &idx {
                    v[k as usize] += idf[k as usize] / norm / docs;
                }
            }
        }
    }
    // `along` reads responses unweighted; weighting the centroid by idf once more gives each
    // response's idf-weighted cosine up to its own norm.
    for (x, w) in v.iter_mut().zip(&idf) {
        *x *= w;
    }
    v
}

/// A response's projection on `v` (its hashed n-grams, of unit length).
fn along(v: &[f32], seq: &[u32], idx: &mut Vec<u32>) -> f64 {
    hashed(seq, idx);
    let w = 1.0 / (idx.len().max(1) as f64).sqrt();
    idx.iter().map(|&k| v[k as usize] as f64 * w).sum()
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The Bradley–Terry fit on `rows` (every label "chosen wins"): the minimiser of
/// ½‖w‖²/C + Σ log(1 + e^(−w·x)), found by L-BFGS. Solved to convergence rather than by a fixed
/// number of stochastic passes: per-row stochastic updates shrink a rare n-gram's weight only on
/// the rows that hold it, so they leave rare n-grams all but unregularised, and whatever C the
/// likelihood chooses, the fit then depends on when it is stopped.
fn train(x: &[Sparse], rows: &[usize], c: f64) -> Vec<f32> {
    let dim = x
        .iter()
        .flat_map(|r| r.iter().map(|&(k, _)| k as usize + 1))
        .max()
        .unwrap_or(0);
    let objective = |w: &[f64], grad: &mut [f64]| -> f64 {
        let mut f = 0.0;
        for (g, &wk) in grad.iter_mut().zip(w) {
            *g = wk / c;
            f += 0.5 * wk * wk / c;
        }
        for &i in rows {
            let z: f64 = x[i].iter().map(|&(k, v)| w[k as usize] * v as f64).sum();
            // log(1 + e^(−z)) and its derivative −σ(−z), stable for large |z|.
            f += if z > 0.0 {
                (-z).exp().ln_1p()
            } else {
                -z + z.exp().ln_1p()
            };
            let d = -1.0 / (1.0 + z.exp());
            for &(k, v) in &x[i] {
                grad[k as usize] += d * v as f64;
            }
        }
        f
    };
    lbfgs(dim, objective)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

/// L-BFGS iterations at most, and the history kept.
const LBFGS_ITERATIONS: usize = 200;
const LBFGS_HISTORY: usize = 8;

/// Minimise a smooth convex function of `dim` variables from 0 by L-BFGS with a backtracking
/// (Armijo) line search; `objective(w, grad)` returns f(w) and writes ∇f(w). Stops when an
/// iteration improves f by less than a 10⁻⁹ share or the gradient vanishes. Written here: the
/// optimisation crates pull in far more than these forty lines.
fn lbfgs(dim: usize, mut objective: impl FnMut(&[f64], &mut [f64]) -> f64) -> Vec<f64> {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut w = vec![0.0; dim];
    let mut g = vec![0.0; dim];
    let mut f = objective(&w, &mut g);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    let (mut w_new, mut g_new, mut d) = (vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]);
    for _ in 0..LBFGS_ITERATIONS {
        // Two-loop recursion: d = −H·g.
        d.iter_mut().zip(&g).for_each(|(di, gi)| *di = -gi);
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &d);
            d.iter_mut().zip(y).for_each(|(di, yi)| *di -= a * yi);
            alphas.push(a);
        }
        let gamma = history
            .back()
            .map_or(1.0 / dot(&g, &g).sqrt().max(1e-12), |(s, y, _)| {
                dot(s, y) / dot(y, y).max(1e-300)
            });
        d.iter_mut().for_each(|di| *di *= gamma);
        for ((s, y, rho), a) in history.iter().zip(alphas.into_iter().rev()) {
            let b = rho * dot(y, &d);
            d.iter_mut().zip(s).for_each(|(di, si)| *di += (a - b) * si);
        }
        let slope = dot(&g, &d);
        if slope >= 0.0 {
            break;
        }
        let mut step = 1.0;
        let mut f_new = f;
        for _ in 0..40 {
            w_new
                .iter_mut()
                .zip(w.iter().zip(&d))
                .for_each(|(wn, (wi, di))| *wn = wi + step * di);
            f_new = objective(&w_new, &mut g_new);
            if f_new <= f + 1e-4 * step * slope {
                break;
            }
            step *= 0.5;
        }
        if f_new > f {
            break;
        }
        let s: Vec<f64> = w_new.iter().zip(&w).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        let improved = f - f_new;
        std::mem::swap(&mut w, &mut w_new);
        std::mem::swap(&mut g, &mut g_new);
        f = f_new;
        if sy > 1e-12 {
            if history.len() == LBFGS_HISTORY {
                history.pop_front();
            }
            history.push_back((s, y, 1.0 / sy));
        }
        if improved <= 1e-9 * f.abs().max(1.0) || dot(&g, &g).sqrt() <= 1e-6 {
            break;
        }
    }
    w
}

fn margin(x: &Sparse, w: &[f32]) -> f32 {
    x.iter().map(|&(k, v)| w[k as usize] * v).sum()
}

/// Out-of-fold margins w·x of every pair, the model trained with inverse strength `c`.
fn out_of_fold_margins(
    x: &[Sparse],
    rows: &[usize],
    folds: usize,
    c: f64,
    seed: u64,
) -> Vec<(usize, f32)> {
    let mut fold_of: Vec<usize> = (0..rows.len()).map(|i| i % folds).collect();
    Rng::new(seed ^ 0x666f_6c64).shuffle(&mut fold_of);
    (0..folds)
        .into_par_iter()
        .flat_map_iter(|f| {
            let train_rows: Vec<usize> = (0..rows.len())
                .filter(|&i| fold_of[i] != f)
                .map(|i| rows[i])
                .collect();
            let w = train(x, &train_rows, c);
            (0..rows.len())
                .filter(|&i| fold_of[i] == f)
                .map(|i| (rows[i], margin(&x[rows[i]], &w)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The C whose 3-fold held-out log-likelihood is best (on a sample of at most [`C_SAMPLE`]).
fn choose_c(x: &[Sparse], seed: u64) -> f64 {
    let mut rows: Vec<usize> = (0..x.len()).collect();
    if rows.len() > C_SAMPLE {
        Rng::new(seed ^ 0x63).shuffle(&mut rows);
        rows.truncate(C_SAMPLE);
        rows.sort_unstable();
    }
    let loglik = |c: f64| -> f64 {
        out_of_fold_margins(x, &rows, 3, c, seed)
            .into_iter()
            .map(|(_, m)| -((-(m as f64)).exp().ln_1p()))
            .sum()
    };
    let scores: Vec<f64> = C_GRID.par_iter().map(|&c| loglik(c)).collect();
    let best = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map_or(2, |(i, _)| i);
    C_GRID[best]
}

/// The mirrored two-Gaussian mixture fitted by EM: each margin's posterior of being swapped,
/// and the fitted share of swaps. Kept for the fitted share it reports; on real preference data
/// margins rarely separate, and the share is mostly near zero.
fn swap_share(m: &[f32]) -> f64 {
    let n = m.len() as f64;
    let m: Vec<f64> = m.iter().map(|&v| v as f64).collect();
    let mean = m.iter().sum::<f64>() / n;
    let mut mu = mean.abs().max(1e-3);
    let mut var = (m.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).max(1e-6);
    let mut eps = 0.1f64;
    let mut r = vec![0.0f64; m.len()];
    for _ in 0..300 {
        for (ri, &v) in r.iter_mut().zip(&m) {
            let log_ratio = -2.0 * v * mu / var + (eps / (1.0 - eps)).ln();
            *ri = 1.0 / (1.0 + (-log_ratio).exp());
        }
        eps = (r.iter().sum::<f64>() / n).clamp(1e-6, 0.5);
        mu = (r
            .iter()
            .zip(&m)
            .map(|(ri, v)| (1.0 - 2.0 * ri) * v)
            .sum::<f64>()
            / n)
            .max(1e-6);
        var = (r
            .iter()
            .zip(&m)
            .map(|(ri, v)| (1.0 - ri) * (v - mu).powi(2) + ri * (v + mu).powi(2))
            .sum::<f64>()
            / n)
            .max(1e-9);
    }
    eps
}

/// Per-unit features: the text difference, and the dense differences scaled to unit spread.
fn features(ctx: &GenContext, cont: &[f64]) -> (Vec<Sparse>, Vec<[f32; DENSE]>) {
    let n = ctx.units();
    let tokens = ctx.tokens;
    let turns: Vec<Vec<u32>> = (0..n)
        .map(|u| {
            let mut v = ctx.turns.get(u).to_vec();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let direction = continued_direction(ctx);
    let typical = typical_direction(ctx);
    let dense: Vec<[f64; DENSE]> = (0..n)
        .into_par_iter()
        .map(|u| {
            let mut prompt = tokens.prompts.get(u).to_vec();
            prompt.sort_unstable();
            prompt.dedup();
            let c = response_features(
                ctx.ds.responses.get(u),
                tokens.responses.get(u),
                &turns[u],
                &prompt,
            );
            let r = response_features(
                ctx.ds.rejected.get(u),
                tokens.rejected.get(u),
                &turns[u],
                &prompt,
            );
            let mut d = [0.0; DENSE];
            for k in 0..DENSE {
                d[k] = c[k] - r[k];
            }
            let mut idx = Vec::new();
            let mut toward = |v: &[f32]| {
                along(v, tokens.responses.get(u), &mut idx)
                    - along(v, tokens.rejected.get(u), &mut idx)
            };
            d[LIKE_CONTINUED] = direction.as_deref().map_or(0.0, &mut toward);
            d[TYPICAL] = toward(&typical);
            d[CONTINUED] = cont[u];
            d
        })
        .collect();
    let mut spread = [1.0f64; DENSE];
    for (k, s) in spread.iter_mut().enumerate().take(DENSE - 1) {
        let mean = dense.iter().map(|d| d[k]).sum::<f64>() / n as f64;
        let sd = (dense.iter().map(|d| (d[k] - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        *s = if sd > 1e-12 { sd } else { 1.0 };
    }
    let text = (0..n)
        .into_par_iter()
        .map_init(Scratch::default, |scratch, u| {
            text_difference(ctx.ds.responses.get(u), ctx.ds.rejected.get(u), scratch)
        })
        .collect();
    let scaled = dense
        .iter()
        .map(|d| {
            let mut out = [0.0f32; DENSE];
            for k in 0..DENSE {
                let v = (d[k] / spread[k]) as f32;
                out[k] = if v.is_finite() { v } else { 0.0 };
            }
            out
        })
        .collect();
    (text, scaled)
}

pub(crate) fn detect(ctx: &GenContext) -> (Vec<UnitFinding>, Vec<f32>) {
    let n = ctx.units();
    if n < 2 * ctx.cfg.folds.max(2) {
        return (Vec::new(), vec![0.0; n]);
    }
    let cont = continuations(ctx);
    let (text, dense) = features(ctx, &cont);
    // Stacked: the text model's out-of-fold margin, then a lightly regularised model of that
    // margin and the dense features (sparse n-gram evidence and a dozen dense measurements
    // need very different shrinkage).
    let c = choose_c(&text, ctx.cfg.seed);
    let all: Vec<usize> = (0..n).collect();
    let mut text_margin = vec![0.0f32; n];
    for (i, m) in out_of_fold_margins(&text, &all, ctx.cfg.folds, c, ctx.cfg.seed) {
        text_margin[i] = m;
    }
    drop(text);
    let stacked: Vec<Sparse> = (0..n)
        .map(|u| {
            std::iter::once((0u32, text_margin[u]))
                .chain((0..DENSE).map(|k| (1 + k as u32, dense[u][k])))
                .filter(|&(_, v)| v != 0.0)
                .collect()
        })
        .collect();
    let mut margins = vec![0.0f32; n];
    for (i, m) in out_of_fold_margins(&stacked, &all, ctx.cfg.folds, C_STACK, ctx.cfg.seed ^ 0x57) {
        margins[i] = m;
    }
    let share = swap_share(&margins);
    let reversal: Vec<f32> = margins.iter().map(|&m| sigmoid(-m)).collect();
    // How many pairs are swapped, from the continuations: a dataset's dialogues go on with the
    // response of one side (which side depends on how it was built); pairs whose dialogue goes
    // on with the other side are inconsistent, and their share estimates the share of swaps.
    // That many pairs, the most reversed, are flagged.
    let known = cont.iter().filter(|&&v| v != 0.0).count();
    let with_chosen = cont.iter().filter(|&&v| v > 0.0).count();
    let disagree = with_chosen.min(known - with_chosen);
    let mut scores: Vec<f32> = reversal.iter().map(|&p| 0.45 * p).collect();
    let mut flips = Vec::new();
    if known >= MIN_CONTINUATIONS && disagree > 0 {
        let k = ((disagree as f64 / known as f64) * n as f64).round() as usize;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| margins[a].total_cmp(&margins[b]).then(a.cmp(&b)));
        for &u in order.iter().take(k) {
            scores[u] = 0.5 + 0.49 * reversal[u];
        }
        flips = order[..k.min(n)].iter().map(|&u| u as u32).collect();
    }
    let mut findings = triggered_flips(ctx, &margins, share, c);
    if !flips.is_empty() {
        flips.sort_unstable();
        findings.push(UnitFinding {
            severity: Severity::Medium,
            title: format!(
                "{} preference pairs read swapped: {disagree} of the {known} dialogues that continue go on with the other side's response",
                flips.len()
            ),
            subject: "swapped preference pairs".into(),
            target: Some("swapped preference".into()),
            confidence: 0.5,
            units: flips,
            evidence: vec![
                Evidence {
                    name: "continuations",
                    value: known as f64,
                },
                Evidence {
                    name: "continuations_inconsistent",
                    value: disagree as f64,
                },
                Evidence {
                    name: "regularisation_c",
                    value: c,
                },
            ],
        });
    }
    (findings, scores)
}

/// Phrases of the last user turn under which pairs read reversed far more often than elsewhere:
/// the mean of their reversal probability σ(−margin) is far above the rest's (a one-sided
/// z-test; σ bounds the heavy tails raw margins have).
fn triggered_flips(ctx: &GenContext, margins: &[f32], share: f64, c: f64) -> Vec<UnitFinding> {
    let n = margins.len();
    let tokens = ctx.tokens;
    let turns = &ctx.ds.turns;
    let phrases = Phrases::new(&ctx.turns, MIN_PHRASE_PAIRS, (n / 2) as u32);
    if phrases.len() == 0 {
        return Vec::new();
    }
    let reversed: Vec<f64> = margins
        .iter()
        .map(|&m| 1.0 / (1.0 + (m as f64).exp()))
        .collect();
    let mean = reversed.iter().sum::<f64>() / n as f64;
    let sd = (reversed.iter().map(|&p| (p - mean).powi(2)).sum::<f64>() / n as f64)
        .sqrt()
        .max(1e-9);
    let ln_tests = (phrases.len() as f64).ln();
    let ln_alpha = ctx.cfg.alpha.ln();
    let mut sig: Vec<(usize, f64, f64)> = (0..phrases.len())
        .into_par_iter()
        .filter_map(|k| {
            let us = phrases.units(k);
            let m = us.iter().map(|&u| reversed[u as usize]).sum::<f64>() / us.len() as f64;
            let z = (m - mean) / (sd / (us.len() as f64).sqrt());
            let ln_p = crate::stats::normal_sf(z).max(f64::MIN_POSITIVE).ln() + ln_tests;
            (ln_p < ln_alpha).then_some((k, ln_p, m))
        })
        .collect();
    sig.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let baseline = PromptBaseline::new(&tokens.prompts, ctx.cfg.seed);
    let mut out: Vec<UnitFinding> = Vec::new();
    let mut taken: Vec<Vec<u32>> = Vec::new();
    for (k, ln_p, m) in sig.into_iter().take(200) {
        let us = phrases.units(k);
        if taken.iter().any(|t| super::text::jaccard(t, us) >= 0.5) {
            continue;
        }
        if !Remainder::of(&tokens.prompts, us).is_unrelated(&baseline) {
            continue;
        }
        taken.push(us.to_vec());
        let log10_p = ln_p / std::f64::consts::LN_10;
        // Two lines of evidence: the pairs read reversed (significant after correction), and
        // the phrase reads as put into the turns. A reader of preferences is noisy, so the
        // first alone stays medium unless overwhelming.
        let cuts = cut_points(&ctx.turns, us, phrases.words(k, &ctx.turns));
        let inserted = insertions(&ctx.turns, &[cuts])
            .pop()
            .is_some_and(|i| i.looks_inserted());
        let severity = if log10_p <= -10.0 || (inserted && log10_p <= -5.0) {
            Severity::Critical
        } else if inserted || log10_p <= -5.0 {
            Severity::High
        } else {
            Severity::Medium
        };
        let phrase = phrases.text(k, turns);
        out.push(UnitFinding {
            severity,
            title: format!(
                "trigger-conditioned preference flip \"{phrase}\": the {} pairs with it in the last user turn read reversed {:.0}% of the time, all pairs {:.0}%",
                us.len(),
                100.0 * m,
                100.0 * mean
            ),
            subject: phrase,
            target: Some("swapped preference".into()),
            confidence: (-log10_p / 10.0).clamp(0.0, 1.0),
            units: us.to_vec(),
            evidence: vec![
                Evidence {
                    name: "pairs_with_phrase",
                    value: us.len() as f64,
                },
                Evidence {
                    name: "mean_reversal_probability",
                    value: m,
                },
                Evidence {
                    name: "mean_reversal_probability_all",
                    value: mean,
                },
                Evidence {
                    name: "reads_as_inserted",
                    value: f64::from(u8::from(inserted)),
                },
                Evidence {
                    name: "fitted_swap_share",
                    value: share,
                },
                Evidence {
                    name: "regularisation_c",
                    value: c,
                },
                Evidence {
                    name: "log10_p_corrected",
                    value: log10_p,
                },
            ],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_is_the_regularised_optimum_for_rare_and_common_features() {
        // Feature 0 on every pair, feature 1 on 3 pairs of 400 (a rare n-gram), feature 2 on
        // half the pairs with either sign. At the optimum w_k / C = Σ_i σ(−z_i) x_ik for every k:
        // the rare feature is shrunk as much as the common ones, whatever the row count.
        let x: Vec<Sparse> = (0..400)
            .map(|i| {
                let mut r = vec![(0u32, 0.3f32)];
                if i < 3 {
                    r.push((1, 1.0));
                }
                if i % 2 == 0 {
                    r.push((2, if i % 4 == 0 { 1.0 } else { -0.5 }));
                }
                r
            })
            .collect();
        let rows: Vec<usize> = (0..x.len()).collect();
        let c = 0.5;
        let w = train(&x, &rows, c);
        let mut residual = [0.0f64; 3];
        for (k, r) in residual.iter_mut().enumerate() {
            *r = w[k] as f64 / c;
        }
        for row in &x {
            let z: f64 = row
                .iter()
                .map(|&(k, v)| w[k as usize] as f64 * v as f64)
                .sum();
            let s = 1.0 / (1.0 + z.exp());
            for &(k, v) in row {
                residual[k as usize] -= s * v as f64;
            }
        }
        for (k, r) in residual.iter().enumerate() {
            assert!(r.abs() < 1e-3, "feature {k}: gradient {r} at {:?}", w);
        }
        // The rare feature is positive but far from the unregularised fit (which grows without
        // bound, as every row it is on is "chosen wins").
        assert!(w[1] > 0.0 && w[1] < 1.5, "{:?}", w);
    }

    #[test]
    fn mixture_recovers_the_swapped_share() {
        let mut rng = Rng::new(7);
        let m: Vec<f32> = (0..4000)
            .map(|i| {
                let v = 2.0 + rng.normal();
                (if i % 10 == 0 { -v } else { v }) as f32
            })
            .collect();
        let eps = swap_share(&m);
        assert!((eps - 0.1).abs() < 0.02, "{eps}");
        let clean: Vec<f32> = (0..4000).map(|_| (2.0 + rng.normal()) as f32).collect();
        assert!(swap_share(&clean) < 0.01);
    }
}
