//! Preference flips: pairs whose chosen and rejected responses read swapped.
//!
//! A Bradley–Terry model, P(chosen ≻ rejected) = σ(w · (φ(chosen) − φ(rejected))) over hashed
//! word 1- and 2-grams and the length ratio, is trained out of fold (the folds of the scan) and
//! reads every pair it did not see. Swapping a pair negates its features, so the out-of-fold
//! margins are a mirrored mixture: (1 − ε)·N(μ, σ²) for pairs as labelled and ε·N(−μ, σ²) for
//! swapped ones. Fitting that mixture on this dataset's margins (EM) gives each pair's posterior
//! probability of being swapped, which is its score: the share of flips and how well the
//! model reads this data are both measured here, not assumed.
//!
//! A trigger-conditioned flip (the universal jailbreak backdoor: a word in the prompt under which
//! the preference is reversed) shows as a prompt phrase whose pairs read reversed far more often
//! than the rest (a z-test on the mean posterior, Bonferroni over phrases), in prompts that are
//! otherwise unrelated. Every pair with the phrase is flagged.

use rayon::prelude::*;

use super::phrases::Phrases;
use super::prompts::{PromptBaseline, Remainder};
use super::{GenContext, UnitFinding};
use crate::result::{Evidence, Severity};
use crate::rng::SplitMix64 as Rng;

const DIM_BITS: u32 = 18;
const DIM: usize = 1 << DIM_BITS;
const EPOCHS: usize = 6;
const LEARNING_RATE: f32 = 0.2;
const L2: f32 = 1e-5;
/// Phrases of fewer pairs than this cannot show a reversal rate.
const MIN_PHRASE_PAIRS: u32 = 5;

/// A pair's features: sparse (index, value), sorted by index.
type Sparse = Vec<(u32, f32)>;

fn hashed(seq: &[u32], out: &mut Vec<u32>) {
    out.clear();
    for (i, &w) in seq.iter().enumerate() {
        out.push((crate::rng::mix64(w as u64 + 1) & (DIM as u64 - 1)) as u32);
        if let Some(&next) = seq.get(i + 1) {
            let h = crate::rng::mix64((w as u64 + 1) << 32 | (next as u64 + 1));
            out.push((h & (DIM as u64 - 1)) as u32);
        }
    }
    out.sort_unstable();
    out.dedup();
}

/// φ(chosen) − φ(rejected): binary n-gram presence scaled by 1/√count, and the log length
/// ratio as one more feature.
fn pair_features(chosen: &[u32], rejected: &[u32], a: &mut Vec<u32>, b: &mut Vec<u32>) -> Sparse {
    hashed(chosen, a);
    hashed(rejected, b);
    let (sa, sb) = (
        1.0 / (a.len().max(1) as f32).sqrt(),
        1.0 / (b.len().max(1) as f32).sqrt(),
    );
    let mut out = Vec::with_capacity(a.len() + b.len() + 1);
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
    let ratio = ((1.0 + chosen.len() as f32) / (1.0 + rejected.len() as f32)).ln();
    out.push((DIM as u32, ratio));
    out
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Train on `rows` (AdaGrad, L2), labels all "chosen wins".
fn train(x: &[Sparse], rows: &[usize], seed: u64) -> Vec<f32> {
    let mut w = vec![0.0f32; DIM + 1];
    let mut g2 = vec![1e-6f32; DIM + 1];
    let mut order = rows.to_vec();
    let mut rng = Rng::new(seed);
    for _ in 0..EPOCHS {
        rng.shuffle(&mut order);
        for &i in &order {
            let z: f32 = x[i].iter().map(|&(k, v)| w[k as usize] * v).sum();
            let grad = sigmoid(z) - 1.0;
            for &(k, v) in &x[i] {
                let k = k as usize;
                let g = grad * v + L2 * w[k];
                g2[k] += g * g;
                w[k] -= LEARNING_RATE * g / g2[k].sqrt();
            }
        }
    }
    w
}

/// Out-of-fold margins w·x of every pair.
fn out_of_fold_margins(x: &[Sparse], folds: usize, seed: u64) -> Vec<f32> {
    let n = x.len();
    let mut fold_of: Vec<usize> = (0..n).map(|i| i % folds).collect();
    Rng::new(seed ^ 0x666f_6c64).shuffle(&mut fold_of);
    let per_fold: Vec<Vec<(usize, f32)>> = (0..folds)
        .into_par_iter()
        .map(|f| {
            let train_rows: Vec<usize> = (0..n).filter(|&i| fold_of[i] != f).collect();
            let w = train(x, &train_rows, seed.wrapping_add(f as u64));
            (0..n)
                .filter(|&i| fold_of[i] == f)
                .map(|i| (i, x[i].iter().map(|&(k, v)| w[k as usize] * v).sum()))
                .collect()
        })
        .collect();
    let mut m = vec![0.0f32; n];
    for (i, v) in per_fold.into_iter().flatten() {
        m[i] = v;
    }
    m
}

/// The mirrored two-Gaussian mixture fitted by EM: each margin's posterior of being swapped,
/// and the fitted share of swaps.
fn swap_posteriors(m: &[f32]) -> (Vec<f32>, f64) {
    let n = m.len() as f64;
    let m: Vec<f64> = m.iter().map(|&v| v as f64).collect();
    let mean = m.iter().sum::<f64>() / n;
    let mut mu = mean.abs().max(1e-3);
    let mut var = (m.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).max(1e-6);
    let mut eps = 0.1f64;
    let mut r = vec![0.0f64; m.len()];
    for _ in 0..300 {
        for (ri, &v) in r.iter_mut().zip(&m) {
            // log N(v; -mu) - log N(v; mu) = -2·v·mu / var
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
    (r.into_iter().map(|v| v as f32).collect(), eps)
}

pub(crate) fn detect(ctx: &GenContext) -> (Vec<UnitFinding>, Vec<f32>) {
    let n = ctx.units();
    let tokens = ctx.tokens;
    if n < 2 * ctx.cfg.folds.max(2) {
        return (Vec::new(), vec![0.0; n]);
    }
    let x: Vec<Sparse> = (0..n)
        .into_par_iter()
        .map_init(
            || (Vec::new(), Vec::new()),
            |(a, b), u| pair_features(tokens.responses.get(u), tokens.rejected.get(u), a, b),
        )
        .collect();
    let margins = out_of_fold_margins(&x, ctx.cfg.folds, ctx.cfg.seed);
    drop(x);
    let (posterior, share) = swap_posteriors(&margins);
    let findings = triggered_flips(ctx, &margins, share);
    (findings, posterior)
}

/// Prompt phrases under which pairs read swapped far more often than elsewhere: their mean
/// out-of-fold margin is far below the rest's (a one-sided z-test).
fn triggered_flips(ctx: &GenContext, margins: &[f32], share: f64) -> Vec<UnitFinding> {
    let n = margins.len();
    let tokens = ctx.tokens;
    let phrases = Phrases::new(&tokens.prompts, MIN_PHRASE_PAIRS, (n / 2) as u32);
    if phrases.len() == 0 {
        return Vec::new();
    }
    let mean = margins.iter().map(|&p| p as f64).sum::<f64>() / n as f64;
    let sd = (margins
        .iter()
        .map(|&p| (p as f64 - mean).powi(2))
        .sum::<f64>()
        / n as f64)
        .sqrt()
        .max(1e-9);
    let ln_tests = (phrases.len() as f64).ln();
    let ln_alpha = ctx.cfg.alpha.ln();
    let mut sig: Vec<(usize, f64, f64)> = (0..phrases.len())
        .into_par_iter()
        .filter_map(|k| {
            let us = phrases.units(k);
            let m = us.iter().map(|&u| margins[u as usize] as f64).sum::<f64>() / us.len() as f64;
            let z = (mean - m) / (sd / (us.len() as f64).sqrt());
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
        let severity = if log10_p <= -10.0 {
            Severity::Critical
        } else if log10_p <= -5.0 {
            Severity::High
        } else {
            Severity::Medium
        };
        let phrase = phrases.text(k, &ctx.ds.prompts);
        out.push(UnitFinding {
            severity,
            title: format!(
                "trigger-conditioned preference flip \"{phrase}\": the {} pairs with it read reversed (mean margin {:+.2}, the rest {:+.2})",
                us.len(),
                m,
                mean
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
                    name: "mean_margin",
                    value: m,
                },
                Evidence {
                    name: "mean_margin_all",
                    value: mean,
                },
                Evidence {
                    name: "fitted_swap_share",
                    value: share,
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
    fn mixture_recovers_the_swapped_share() {
        let mut rng = Rng::new(7);
        let m: Vec<f32> = (0..4000)
            .map(|i| {
                let v = 2.0 + rng.normal();
                (if i % 10 == 0 { -v } else { v }) as f32
            })
            .collect();
        let (post, eps) = swap_posteriors(&m);
        assert!((eps - 0.1).abs() < 0.02, "{eps}");
        assert!(post[0] > 0.5 && post[1] < 0.5);
    }

    #[test]
    fn clean_margins_fit_almost_no_swaps() {
        let mut rng = Rng::new(9);
        let m: Vec<f32> = (0..4000).map(|_| (2.0 + rng.normal()) as f32).collect();
        let (post, eps) = swap_posteriors(&m);
        assert!(eps < 0.01, "{eps}");
        assert!(post.iter().filter(|&&p| p >= 0.5).count() < 10);
    }
}
