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

/// Numerical Recipes' Chebyshev fit of the complementary error function at `x ≥ 0`, as
/// `erfc(x) / 2 = h · e^poly`: returns `(h, poly)`, so the tail can be taken in log space too.
fn half_erfc_fit(x: f64) -> (f64, f64) {
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    (0.5 * t, poly)
}

/// P(Z ≥ z) for a standard normal Z, from the complementary error function (Numerical
/// Recipes' Chebyshev fit, relative error below 1.2e-7 everywhere).
pub fn normal_sf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let (h, poly) = half_erfc_fit(x.abs());
    let tail = h * poly.exp();
    if x >= 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// ln P(Z ≥ z) for a standard normal Z, finite far into the tail (where `normal_sf` underflows).
pub fn ln_normal_sf(z: f64) -> f64 {
    if z < 0.0 {
        return normal_sf(z).ln();
    }
    let (h, poly) = half_erfc_fit(z / std::f64::consts::SQRT_2);
    h.ln() + poly
}

/// ln P that values drawn like `reference` would sit as low as `x` does: the one-sided
/// Mann-Whitney (Wilcoxon rank-sum) test of `x` below `reference`, by its normal approximation
/// with a continuity correction and ties counted half. `reference` must be ascending. 0 (no
/// evidence) when either side is empty.
pub fn ln_rank_sum_lower(x: &[f32], reference: &[f32]) -> f64 {
    let (m, n) = (x.len() as f64, reference.len() as f64);
    if x.is_empty() || reference.is_empty() {
        return 0.0;
    }
    // U: pairs where the x value is the lower one.
    let mut u = 0.0;
    for &v in x {
        let below = reference.partition_point(|&r| r < v);
        let not_above = reference.partition_point(|&r| r <= v);
        u += (reference.len() - not_above) as f64 + 0.5 * (not_above - below) as f64;
    }
    let mean = m * n / 2.0;
    let sd = (m * n * (m + n + 1.0) / 12.0).sqrt();
    let z = (u - mean - 0.5) / sd;
    ln_normal_sf(z).min(0.0)
}

/// The smallest value [`ln_rank_sum_lower`] can take for `m` values against `n`: every one of
/// them below every reference value.
pub fn ln_rank_sum_lower_min(m: usize, n: usize) -> f64 {
    if m == 0 || n == 0 {
        return 0.0;
    }
    let (m, n) = (m as f64, n as f64);
    let sd = (m * n * (m + n + 1.0) / 12.0).sqrt();
    ln_normal_sf((m * n / 2.0 - 0.5) / sd).min(0.0)
}

/// The z with `normal_sf(z) = p`, for p in (0, 1), by bisection (the function is monotone).
pub fn normal_isf(p: f64) -> f64 {
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if normal_sf(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The median of `v` (reordered in place); 0 for an empty slice.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
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

/// ln P(X ≥ k) for X hypergeometric: `draws` rows taken without replacement from `total`, of
/// which `successes` are marked (the one-sided tail of Fisher's exact test).
pub fn ln_hypergeom_sf(k: u64, draws: u64, successes: u64, total: u64) -> f64 {
    let draws = draws.min(total);
    let successes = successes.min(total);
    // The fewest marked rows any draw can hold.
    let least = (draws + successes).saturating_sub(total);
    if k <= least {
        return 0.0;
    }
    let most = draws.min(successes);
    if k > most {
        return f64::NEG_INFINITY;
    }
    let ln_total = ln_choose(total, draws);
    let mut acc = f64::NEG_INFINITY;
    for j in k..=most {
        let t = ln_choose(successes, j) + ln_choose(total - successes, draws - j) - ln_total;
        acc = log_add(acc, t);
        if t < acc - 40.0 {
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

    #[test]
    fn hypergeometric_tail_matches_hand_values() {
        // 3 drawn from 5 with 3 marked: P(all 3 marked) = 1 / C(5,3) = 1/10.
        assert!((ln_hypergeom_sf(3, 3, 3, 5).exp() - 0.1).abs() < 1e-12);
        // P(X >= 2) there: (C(3,2)·C(2,1) + 1) / 10 = 7/10.
        assert!((ln_hypergeom_sf(2, 3, 3, 5).exp() - 0.7).abs() < 1e-12);
        // At or below the least possible count the tail is certain; above the most, empty.
        assert_eq!(ln_hypergeom_sf(1, 3, 3, 5), 0.0);
        assert_eq!(ln_hypergeom_sf(4, 3, 3, 5), f64::NEG_INFINITY);
        // 1 / C(1000, 500), about e^-689.5: the deep tail stays finite in log space.
        assert!((ln_hypergeom_sf(500, 500, 500, 1000) + 689.47).abs() < 0.01);
    }

    #[test]
    fn rank_sum_tells_lower_values_from_the_reference() {
        let reference: Vec<f32> = (0..200).map(|i| i as f32 / 200.0).collect();
        // Drawn like the reference: no evidence.
        let alike: Vec<f32> = (0..40).map(|i| i as f32 / 40.0).collect();
        assert!(ln_rank_sum_lower(&alike, &reference) > (0.3f64).ln());
        // All below the reference's lowest tenth: overwhelming.
        let low: Vec<f32> = (0..40).map(|i| i as f32 / 400.0).collect();
        assert!(ln_rank_sum_lower(&low, &reference) < (1e-10f64).ln());
        // Higher values are never evidence of lower ones.
        let high: Vec<f32> = (0..40).map(|i| 0.9 + i as f32 / 400.0).collect();
        assert!(ln_rank_sum_lower(&high, &reference) > (0.99f64).ln());
        assert_eq!(ln_rank_sum_lower(&[], &reference), 0.0);
        // The floor is what values below every reference value give.
        let below: Vec<f32> = vec![-1.0; 40];
        assert!(
            (ln_rank_sum_lower(&below, &reference) - ln_rank_sum_lower_min(40, 200)).abs() < 1e-9
        );
    }

    #[test]
    fn the_log_tail_agrees_with_the_tail_and_goes_further() {
        for z in [-2.0, 0.0, 1.0, 3.0, 6.0] {
            assert!((ln_normal_sf(z) - normal_sf(z).ln()).abs() < 1e-6, "{z}");
        }
        // ln Φ̄(40) ≈ −804.6 (Mills ratio), where the tail itself underflows.
        assert!((ln_normal_sf(40.0) + 804.608).abs() < 0.01);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn normal_tail_matches_tables() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-7);
        assert!((normal_sf(-1.959_964) - 0.975).abs() < 1e-7);
        assert!((normal_isf(1e-4) - 3.719_016).abs() < 1e-4);
    }
}
