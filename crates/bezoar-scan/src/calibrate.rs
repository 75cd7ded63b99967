//! Temperature scaling: put the label readers' confidences on one scale before averaging them.
//!
//! Each reader of a row's label (the linear model, the neighbours' vote, naive Bayes) gives
//! class probabilities, but on its own scale: naive Bayes multiplies hundreds of word
//! likelihoods as if independent and is far too sure (P(label) of 10⁻⁶ for rows a person reads
//! as borderline), while a vote of 50 neighbours is rarely sure at all. Averaged raw, the most
//! overconfident reader decides the ranking. Temperature scaling (Guo et al., 2017) fixes each
//! reader's scale with one number β: probabilities become `q^β / Σ q^β`, with β chosen to
//! minimise the reader's own log-loss against the labels as given. The labels may be noisy,
//! but a reader's confidence should be judged against the data it reads, and a few percent of
//! wrong labels move β little. Every reading is out-of-sample, so the fit is honest.

use rayon::prelude::*;

/// Search range for β (wide: measured optima lie between 0.25 and 2.5).
const LN_BETA_MIN: f64 = -4.6; // β ≈ 0.01
const LN_BETA_MAX: f64 = 4.6; // β ≈ 100
/// Golden-section steps: each keeps 0.618 of the interval, so 40 narrow ln β to under 10⁻⁷,
/// below what an f32 β resolves.
const ITERATIONS: usize = 40;
/// Rows used to fit β: evenly strided over the data, at most this many, and at most
/// `MAX_FIT_CELLS / classes` (the fit holds each row's class scores: 32 MiB at most).
const MAX_FIT_ROWS: usize = 100_000;
const MAX_FIT_CELLS: usize = 1 << 23;

/// Mean negative log-likelihood of the labels under `softmax(β · ln q)`; `ln_q` holds the rows'
/// ln class probabilities back to back.
fn mean_nll(beta: f64, ln_q: &[f32], labels: &[usize]) -> f64 {
    let classes = ln_q.len() / labels.len().max(1);
    let mut total = 0.0;
    for (row, &y) in ln_q.chunks_exact(classes).zip(labels) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let norm: f64 = row.iter().map(|&v| (beta * (v as f64 - max)).exp()).sum();
        total += norm.ln() - beta * (row[y] as f64 - max);
    }
    total / labels.len().max(1) as f64
}

/// A reader's temperature and how well, so scaled, it explains the labels as given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaFit {
    pub beta: f32,
    /// Mean negative log-likelihood of the labels at `beta` over the rows fitted (`NaN` when
    /// no row had a reading).
    pub log_loss: f64,
}

/// The β that best calibrates a reader of `n` rows over `classes` classes, and the log-loss it
/// reaches. `read(i, out)` writes row `i`'s ln class probabilities into `out` and returns its
/// label, or `None` where the reader has no reading of the row. Fits on at most
/// [`MAX_FIT_ROWS`] evenly strided rows (fewer with many classes, see [`MAX_FIT_CELLS`]). The
/// log-loss is convex in β, so a golden-section search over ln β finds the optimum. β is 1
/// (leave as is) when no row has a reading.
pub fn fit_beta_and_loss(
    n: usize,
    classes: usize,
    read: impl Fn(usize, &mut [f32]) -> Option<usize>,
) -> BetaFit {
    let sample = FitSample::read(n, classes, MAX_FIT_ROWS, read);
    if sample.labels.is_empty() {
        return BetaFit {
            beta: 1.0,
            log_loss: f64::NAN,
        };
    }
    let nll = |ln_beta: f64| mean_nll(ln_beta.exp(), &sample.ln_q, &sample.labels);
    let ln_beta = golden_min(LN_BETA_MIN, LN_BETA_MAX, ITERATIONS, nll);
    BetaFit {
        beta: ln_beta.exp() as f32,
        log_loss: nll(ln_beta),
    }
}

/// Rows a fit reads: evenly strided over the data, at most `max_rows` and at most
/// `MAX_FIT_CELLS / classes` of them, each row's ln class probabilities back to back.
struct FitSample {
    ln_q: Vec<f32>,
    labels: Vec<usize>,
}

impl FitSample {
    fn read(
        n: usize,
        classes: usize,
        max_rows: usize,
        read: impl Fn(usize, &mut [f32]) -> Option<usize>,
    ) -> Self {
        let fit_rows = max_rows.min(MAX_FIT_CELLS / classes.max(1)).max(1);
        let stride = n.div_ceil(fit_rows).max(1);
        let mut ln_q = Vec::with_capacity(n.div_ceil(stride) * classes);
        let mut labels = Vec::with_capacity(n.div_ceil(stride));
        let mut row = vec![0f32; classes];
        for i in (0..n).step_by(stride) {
            if let Some(y) = read(i, &mut row) {
                ln_q.extend_from_slice(&row);
                labels.push(y);
            }
        }
        Self { ln_q, labels }
    }
}

/// The minimum of a unimodal function on `[lo, hi]` by golden-section search.
fn golden_min(mut lo: f64, mut hi: f64, iterations: usize, f: impl Fn(f64) -> f64) -> f64 {
    let inv_phi = (5f64.sqrt() - 1.0) / 2.0;
    let mut a = hi - inv_phi * (hi - lo);
    let mut b = lo + inv_phi * (hi - lo);
    let (mut fa, mut fb) = (f(a), f(b));
    for _ in 0..iterations {
        if fa <= fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - inv_phi * (hi - lo);
            fa = f(a);
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + inv_phi * (hi - lo);
            fb = f(b);
        }
    }
    0.5 * (lo + hi)
}

/// A reader's calibration once labels flipped at random are allowed for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlipAwareFit {
    /// Temperature factor for the reader's (already calibrated) probabilities.
    pub beta: f32,
    /// Estimated share of rows whose label was drawn uniformly from the other classes.
    pub flip_share: f32,
}

impl FlipAwareFit {
    /// No recalibration: β = 1 and no flips.
    pub const NONE: Self = Self {
        beta: 1.0,
        flip_share: 0.0,
    };
}

/// Rows read by the flip-aware fit, at most, and class scores held: it takes a few hundred
/// passes over them (a plain β takes forty), and 20,000 rows pin a flip share to ±0.003.
const MAX_FLIP_FIT_ROWS: usize = 20_000;
const MAX_FLIP_FIT_CELLS: usize = 1 << 19;
/// Golden-section steps for the flip share and, for each share tried, for β.
const FLIP_SHARE_STEPS: usize = 24;
const FLIP_BETA_STEPS: usize = 20;
/// Search ranges: β relative to an already calibrated reader, and the flip share.
const LN_REL_BETA: f64 = 2.3; // β between 0.1 and 10
const MAX_FLIP_SHARE: f64 = 0.5;

/// Joint maximum-likelihood fit of a temperature β and a share ε of labels flipped uniformly
/// at random: each label is drawn from `softmax(β · ln q)` with probability 1 − ε, else
/// uniformly from the other classes, so `P(y) = (1 − ε)·q_y + ε·(1 − q_y)/(k − 1)`.
///
/// One temperature fitted alone must explain flipped labels by softening every row, which
/// fattens the tail of every unrelated class; with many classes the calibrated model then
/// expects more confident contradictions than flipped data holds. A flip component takes the
/// flips, and β is left to the data's own ambiguity. `read` is as for [`fit_beta`]. Returns
/// β = 1 and no flips when fewer than three classes or no readings (with two classes a flip
/// and a confident misreading are the same event).
pub fn fit_with_uniform_flips(
    n: usize,
    classes: usize,
    read: impl Fn(usize, &mut [f32]) -> Option<usize>,
) -> FlipAwareFit {
    if classes < 3 {
        return FlipAwareFit::NONE;
    }
    let max_rows = MAX_FLIP_FIT_ROWS.min(MAX_FLIP_FIT_CELLS / classes);
    let sample = FitSample::read(n, classes, max_rows, read);
    if sample.labels.is_empty() {
        return FlipAwareFit::NONE;
    }
    let others = (classes - 1) as f64;
    // Negative log-likelihood of the labels under β and flip share ε.
    let nll = |ln_beta: f64, eps: f64| -> f64 {
        let beta = ln_beta.exp();
        sample
            .ln_q
            .par_chunks_exact(classes)
            .zip(sample.labels.par_iter())
            .map(|(row, &y)| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                let norm: f64 = row.iter().map(|&v| (beta * (v as f64 - max)).exp()).sum();
                let p = (beta * (row[y] as f64 - max)).exp() / norm;
                -((1.0 - eps) * p + eps * (1.0 - p) / others)
                    .max(1e-300)
                    .ln()
            })
            .sum()
    };
    // The profile likelihood: β at its best for each share tried. (Alternating the two instead
    // stalls where flips were absorbed by a softer β, whose best share is then zero.)
    let best_beta =
        |eps: f64| golden_min(-LN_REL_BETA, LN_REL_BETA, FLIP_BETA_STEPS, |b| nll(b, eps));
    let eps = golden_min(0.0, MAX_FLIP_SHARE, FLIP_SHARE_STEPS, |e| {
        nll(best_beta(e), e)
    });
    let ln_beta = best_beta(eps);
    FlipAwareFit {
        beta: ln_beta.exp() as f32,
        flip_share: eps as f32,
    }
}

/// Scale ln class probabilities `ln_q` by `beta` in place, renormalised: `ln(q^β / Σ q^β)`.
pub fn scale_ln_proba(ln_q: &mut [f32], beta: f32) {
    let max = ln_q.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let ln_norm = ln_q
        .iter()
        .map(|&v| (beta * (v - max)).exp())
        .sum::<f32>()
        .ln();
    ln_q.iter_mut()
        .for_each(|v| *v = beta * (*v - max) - ln_norm);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaled_probability(q: &[f32], y: usize, beta: f32) -> f32 {
        let mut ln_q: Vec<f32> = q.iter().map(|v| v.ln()).collect();
        scale_ln_proba(&mut ln_q, beta);
        ln_q[y].exp()
    }

    /// β for a reader that says P(class 0) = `p` of every row, of which a share `acc` are
    /// labelled 0.
    fn fit(p: f32, acc: f64) -> f32 {
        let n = 1000;
        let right = (acc * n as f64).round() as usize;
        fit_beta_and_loss(n, 2, |i, out| {
            out.copy_from_slice(&[p.ln(), (1.0 - p).ln()]);
            Some(usize::from(i >= right))
        })
        .beta
    }

    #[test]
    fn an_overconfident_reader_is_softened_to_its_accuracy() {
        // Says 0.999 but is right 80% of the time: scaled, it should say 0.8.
        let beta = fit(0.999, 0.8);
        assert!(beta < 1.0, "{beta}");
        let p = scaled_probability(&[0.999, 0.001], 0, beta);
        assert!((p - 0.8).abs() < 0.01, "{p}");
    }

    #[test]
    fn an_underconfident_reader_is_sharpened() {
        let beta = fit(0.6, 0.9);
        assert!(beta > 1.0, "{beta}");
        let p = scaled_probability(&[0.6, 0.4], 0, beta);
        assert!((p - 0.9).abs() < 0.01, "{p}");
    }

    #[test]
    fn a_calibrated_reader_is_left_alone() {
        let beta = fit(0.7, 0.7);
        assert!((beta - 1.0).abs() < 0.02, "{beta}");
    }

    #[test]
    fn scaled_ln_probabilities_match_scaled_probabilities() {
        let q = [0.7f32, 0.2, 0.1];
        let mut ln_q: Vec<f32> = q.iter().map(|v| v.ln()).collect();
        scale_ln_proba(&mut ln_q, 0.5);
        let total: f32 = ln_q.iter().map(|v| v.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5);
        // q^β / Σ q^β computed directly.
        let direct = q[1].powf(0.5) / q.iter().map(|v| v.powf(0.5)).sum::<f32>();
        assert!((ln_q[1].exp() - direct).abs() < 1e-5);
        // Softened: the likely class loses, the unlikely ones gain.
        assert!(ln_q[0].exp() < 0.7 && ln_q[2].exp() > 0.1);
    }

    /// Rows over `k` classes read with confidence 0.6, 0.9, 0.99 or 0.999 as their true class
    /// (the rest spread evenly) and labelled as calibration says (wrong in the share 1 − p at
    /// each confidence), then a share `flips` relabelled uniformly among the other classes.
    fn flipped_rows(k: usize, flips: f64, n: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
        const LEVELS: [f32; 4] = [0.6, 0.9, 0.99, 0.999];
        let flip_every = if flips > 0.0 {
            (1.0 / flips).round() as usize
        } else {
            usize::MAX
        };
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let truth = i % k;
            let p = LEVELS[(i / k) % LEVELS.len()];
            let mut q = vec![((1.0 - p) / (k - 1) as f32).ln(); k];
            q[truth] = p.ln();
            rows.push(q);
            let turn = i / (k * LEVELS.len());
            let wrong = turn % 100 < ((1.0 - p) * 100.0).round() as usize;
            let mut label = if wrong {
                (truth + 1 + turn % (k - 1)) % k
            } else {
                truth
            };
            if i % flip_every == 7 {
                label = (truth + 1 + (i / flip_every) % (k - 1)) % k;
            }
            labels.push(label);
        }
        (rows, labels)
    }

    #[test]
    fn the_flip_aware_fit_finds_the_share_of_random_flips() {
        let fit = |flips: f64| {
            let (rows, labels) = flipped_rows(10, flips, 20_000);
            fit_with_uniform_flips(rows.len(), 10, |i, out| {
                out.copy_from_slice(&rows[i]);
                Some(labels[i])
            })
        };
        let clean = fit(0.0);
        assert!(clean.flip_share < 0.01, "{clean:?}");
        assert!((clean.beta - 1.0).abs() < 0.1, "{clean:?}");
        let flipped = fit(0.05);
        assert!((flipped.flip_share - 0.05).abs() < 0.015, "{flipped:?}");
        // The flips go to the flip share, not into a softer temperature.
        assert!((flipped.beta - 1.0).abs() < 0.15, "{flipped:?}");
        // A plain temperature fit softens instead.
        let (rows, labels) = flipped_rows(10, 0.05, 20_000);
        let plain = fit_beta_and_loss(rows.len(), 10, |i, out| {
            out.copy_from_slice(&rows[i]);
            Some(labels[i])
        })
        .beta;
        assert!(plain < 0.9, "{plain}");
    }

    #[test]
    fn two_classes_have_no_separate_flip_share() {
        let fit = fit_with_uniform_flips(10, 2, |_, out| {
            out.copy_from_slice(&[0.9f32.ln(), 0.1f32.ln()]);
            Some(1)
        });
        assert_eq!(
            fit,
            FlipAwareFit {
                beta: 1.0,
                flip_share: 0.0
            }
        );
    }

    #[test]
    fn no_rows_leave_the_scale() {
        assert_eq!(fit_beta_and_loss(10, 2, |_, _| None).beta, 1.0);
        assert_eq!(fit_beta_and_loss(0, 2, |_, _| Some(0)).beta, 1.0);
    }
}
