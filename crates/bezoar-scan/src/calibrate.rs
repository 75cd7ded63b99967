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

/// The β that best calibrates a reader of `n` rows over `classes` classes. `read(i, out)` writes
/// row `i`'s ln class probabilities into `out` and returns its label, or `None` where the reader
/// has no reading of the row. Fits on at most [`MAX_FIT_ROWS`] evenly strided rows (fewer with
/// many classes, see [`MAX_FIT_CELLS`]). The log-loss is convex in β, so a golden-section
/// search over ln β finds the optimum. Returns 1 (leave as is) when no row has a reading.
pub fn fit_beta(
    n: usize,
    classes: usize,
    read: impl Fn(usize, &mut [f32]) -> Option<usize>,
) -> f32 {
    let fit_rows = MAX_FIT_ROWS.min(MAX_FIT_CELLS / classes.max(1)).max(1);
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
    if labels.is_empty() {
        return 1.0;
    }
    let loss = |ln_beta: f64| mean_nll(ln_beta.exp(), &ln_q, &labels);
    let inv_phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (LN_BETA_MIN, LN_BETA_MAX);
    let mut a = hi - inv_phi * (hi - lo);
    let mut b = lo + inv_phi * (hi - lo);
    let (mut fa, mut fb) = (loss(a), loss(b));
    for _ in 0..ITERATIONS {
        if fa <= fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - inv_phi * (hi - lo);
            fa = loss(a);
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + inv_phi * (hi - lo);
            fb = loss(b);
        }
    }
    (0.5 * (lo + hi)).exp() as f32
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
        fit_beta(n, 2, |i, out| {
            out.copy_from_slice(&[p.ln(), (1.0 - p).ln()]);
            Some(usize::from(i >= right))
        })
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

    #[test]
    fn no_rows_leave_the_scale() {
        assert_eq!(fit_beta(10, 2, |_, _| None), 1.0);
        assert_eq!(fit_beta(0, 2, |_, _| Some(0)), 1.0);
    }
}
