//! Small numerical helpers: log-gamma and exact binomial tails in log space.

/// ln Γ(x) for x > 0 (Lanczos, g = 7; |error| < 1e-13 over the range we use).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// ln P(X ≥ k) for X ~ Binomial(n, p).
pub fn ln_binom_sf(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 0.0;
    }
    if k > n {
        return f64::NEG_INFINITY;
    }
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    // Sum terms from k upwards in log space; they decrease once past the mode.
    let mut acc = f64::NEG_INFINITY;
    for j in k..=n {
        let t = ln_choose(n, j) + j as f64 * lp + (n - j) as f64 * lq;
        acc = log_add(acc, t);
        if t < acc - 40.0 && j as f64 > n as f64 * p {
            break;
        }
    }
    acc.min(0.0)
}

fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_matches_factorials() {
        assert!((ln_gamma(1.0)).abs() < 1e-12);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn binomial_tail_matches_hand_values() {
        // P(X >= 3), n = 3, p = 0.5 is 1/8.
        assert!((ln_binom_sf(3, 3, 0.5).exp() - 0.125).abs() < 1e-12);
        // P(X >= 2), n = 4, p = 0.5 = 11/16.
        assert!((ln_binom_sf(2, 4, 0.5).exp() - 11.0 / 16.0).abs() < 1e-12);
        assert_eq!(ln_binom_sf(0, 10, 0.3), 0.0);
        assert_eq!(ln_binom_sf(11, 10, 0.3), f64::NEG_INFINITY);
        // Deep tail stays finite in log space.
        assert!(ln_binom_sf(1000, 1000, 0.5) < -690.0);
    }
}
