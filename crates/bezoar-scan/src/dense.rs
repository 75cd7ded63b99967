//! Small dense linear algebra for the anomaly detector: dot products, covariance, Cholesky,
//! triangular solves and power iteration on matrices of a few hundred dimensions.
//!
//! Hand-written on purpose: the sizes are tiny (D ≤ a few hundred) and the operations few, while
//! faer or nalgebra would dominate the workspace's build time. Matrices are row-major `Vec<f64>`
//! (`a[i * d + j]`); vectors of rows are `f32` to halve memory traffic.

use rayon::prelude::*;

/// Dot product written so the compiler vectorises it (eight independent accumulators, summed in
/// a fixed order so results do not depend on anything but the inputs).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Dot products of four vectors with one `r` at once: `r` is loaded once for all four and the
/// four accumulator chains run in parallel (what makes block nearest-neighbour search fast).
#[inline]
pub fn dot4(x: [&[f32]; 4], r: &[f32]) -> [f32; 4] {
    let n = r
        .len()
        .min(x[0].len())
        .min(x[1].len())
        .min(x[2].len())
        .min(x[3].len());
    let (x0, x1, x2, x3, r) = (&x[0][..n], &x[1][..n], &x[2][..n], &x[3][..n], &r[..n]);
    let mut acc = [[0.0f32; 8]; 4];
    let whole = n / 8 * 8;
    let mut i = 0;
    while i < whole {
        let rv = &r[i..i + 8];
        let (a0, a1, a2, a3) = (&x0[i..i + 8], &x1[i..i + 8], &x2[i..i + 8], &x3[i..i + 8]);
        for k in 0..8 {
            acc[0][k] += a0[k] * rv[k];
            acc[1][k] += a1[k] * rv[k];
            acc[2][k] += a2[k] * rv[k];
            acc[3][k] += a3[k] * rv[k];
        }
        i += 8;
    }
    let mut out = [0.0f32; 4];
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    }
    for j in whole..n {
        out[0] += x0[j] * r[j];
        out[1] += x1[j] * r[j];
        out[2] += x2[j] * r[j];
        out[3] += x3[j] * r[j];
    }
    out
}

/// Scale `v` to unit length (left as is when its norm is zero). Returns the original norm.
pub fn normalize(v: &mut [f32]) -> f32 {
    let norm = dot(v, v).sqrt();
    if norm > 1e-20 && norm.is_finite() {
        let inv = 1.0 / norm;
        v.iter_mut().for_each(|x| *x *= inv);
    }
    norm
}

pub fn normalize64(v: &mut [f64]) -> f64 {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 1e-300 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    norm
}

/// Mean of the rows `r` of `m` (`rows × d`, row-major) for which `keep(r)` holds, in f64.
pub fn mean(m: &[f32], d: usize, keep: &dyn Fn(usize) -> bool) -> Vec<f64> {
    let mut mu = vec![0.0f64; d];
    let mut used = 0usize;
    for (r, x) in m.chunks_exact(d.max(1)).enumerate() {
        if d == 0 || !keep(r) {
            continue;
        }
        used += 1;
        for (a, &v) in mu.iter_mut().zip(x) {
            *a += v as f64;
        }
    }
    if used > 0 {
        mu.iter_mut().for_each(|a| *a /= used as f64);
    }
    mu
}

/// Second moment `(1 / Σw) Σ w_r (x_r - center)(x_r - center)ᵀ` over the rows of `m` for which
/// `keep(r)` holds (weights 0/1). Rows are split into fixed chunks whose partial sums are added
/// in order, so the result does not depend on the thread count.
pub fn scatter(
    m: &[f32],
    d: usize,
    center: &[f64],
    keep: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<f64> {
    const CHUNK: usize = 2048;
    if d == 0 {
        return Vec::new();
    }
    let rows = m.len() / d;
    let parts: Vec<(Vec<f64>, usize)> = (0..rows.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut acc = vec![0.0f64; d * d];
            let mut y = vec![0.0f64; d];
            let mut used = 0;
            for r in c * CHUNK..((c + 1) * CHUNK).min(rows) {
                if !keep(r) {
                    continue;
                }
                used += 1;
                for ((yj, &x), &mu) in y.iter_mut().zip(&m[r * d..(r + 1) * d]).zip(center) {
                    *yj = x as f64 - mu;
                }
                // Upper triangle only; mirrored below.
                for i in 0..d {
                    let yi = y[i];
                    if yi == 0.0 {
                        continue;
                    }
                    let row = &mut acc[i * d + i..(i + 1) * d];
                    for (a, &yj) in row.iter_mut().zip(&y[i..]) {
                        *a += yi * yj;
                    }
                }
            }
            (acc, used)
        })
        .collect();
    let mut s = vec![0.0f64; d * d];
    let mut total = 0usize;
    for (p, used) in parts {
        total += used;
        for (a, b) in s.iter_mut().zip(&p) {
            *a += b;
        }
    }
    let inv = 1.0 / total.max(1) as f64;
    for i in 0..d {
        for j in i..d {
            let v = s[i * d + j] * inv;
            s[i * d + j] = v;
            s[j * d + i] = v;
        }
    }
    s
}

/// `y = A x` for a `d × d` row-major `a`.
pub fn matvec(a: &[f64], d: usize, x: &[f64], y: &mut [f64]) {
    for (i, yi) in y.iter_mut().enumerate().take(d) {
        *yi = a[i * d..(i + 1) * d]
            .iter()
            .zip(x)
            .map(|(p, q)| p * q)
            .sum();
    }
}

/// Top eigenvector (unit length) and its Rayleigh quotient of a symmetric positive
/// semi-definite operator given as `apply(x, y)` (y = A x), by `iters` rounds of power
/// iteration from `start`.
pub fn power_iteration(
    d: usize,
    iters: usize,
    start: &[f64],
    apply: &mut dyn FnMut(&[f64], &mut [f64]),
) -> (Vec<f64>, f64) {
    let mut v = start.to_vec();
    if normalize64(&mut v) == 0.0 {
        v = vec![0.0; d];
        if d > 0 {
            v[0] = 1.0;
        }
    }
    let mut w = vec![0.0f64; d];
    let mut lambda = 0.0;
    for _ in 0..iters {
        apply(&v, &mut w);
        lambda = v.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
        if normalize64(&mut w) <= 1e-300 {
            // A zero operator: any direction is an eigenvector.
            return (v, 0.0);
        }
        std::mem::swap(&mut v, &mut w);
    }
    (v, lambda.max(0.0))
}

/// In-place Cholesky factorisation `A = L Lᵀ` of a symmetric positive-definite `d × d` matrix;
/// on success the lower triangle holds `L` (the upper triangle is zeroed). Returns false when
/// the matrix is not (numerically) positive definite.
pub fn cholesky(a: &mut [f64], d: usize) -> bool {
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= a[j * d + k] * a[j * d + k];
        }
        if !(s > 0.0 && s.is_finite()) {
            return false;
        }
        let ljj = s.sqrt();
        a[j * d + j] = ljj;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = s / ljj;
        }
        for k in j + 1..d {
            a[j * d + k] = 0.0;
        }
    }
    true
}

/// Solve `L x = b` (forward substitution) in place for lower-triangular `l`.
pub fn solve_lower(l: &[f64], d: usize, b: &mut [f64]) {
    for i in 0..d {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * d + k] * b[k];
        }
        b[i] = s / l[i * d + i];
    }
}

/// Solve `Lᵀ x = b` (back substitution) in place for lower-triangular `l`.
pub fn solve_lower_t(l: &[f64], d: usize, b: &mut [f64]) {
    for i in (0..d).rev() {
        let mut s = b[i];
        for k in i + 1..d {
            s -= l[k * d + i] * b[k];
        }
        b[i] = s / l[i * d + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..21).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..21).map(|i| (i as f32).sin()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }

    #[test]
    fn dot4_matches_dot() {
        let v: Vec<Vec<f32>> = (0..5)
            .map(|k| {
                (0..19)
                    .map(|i| ((i * 7 + k * 3) % 11) as f32 - 5.0)
                    .collect()
            })
            .collect();
        let out = dot4([&v[0], &v[1], &v[2], &v[3]], &v[4]);
        for k in 0..4 {
            assert!((out[k] - dot(&v[k], &v[4])).abs() < 1e-4);
        }
    }

    #[test]
    fn cholesky_solves_round_trip() {
        let d = 3;
        let a = vec![4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let mut l = a.clone();
        assert!(cholesky(&mut l, d));
        // L Lᵀ = A
        for i in 0..d {
            for j in 0..d {
                let s: f64 = (0..d).map(|k| l[i * d + k] * l[j * d + k]).sum();
                assert!((s - a[i * d + j]).abs() < 1e-12);
            }
        }
        // A x = b via the two triangular solves.
        let b = vec![1.0, -2.0, 0.5];
        let mut x = b.clone();
        solve_lower(&l, d, &mut x);
        solve_lower_t(&l, d, &mut x);
        let mut ax = vec![0.0; d];
        matvec(&a, d, &x, &mut ax);
        for (p, q) in ax.iter().zip(&b) {
            assert!((p - q).abs() < 1e-12);
        }
        let mut not_pd = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky(&mut not_pd, 2));
    }

    #[test]
    fn power_iteration_finds_top_eigenvector() {
        let d = 3;
        let a = vec![3.0, 1.0, 0.0, 1.0, 3.0, 0.0, 0.0, 0.0, 1.0];
        let (v, lambda) = power_iteration(d, 50, &[1.0, 0.3, 0.2], &mut |x, y| matvec(&a, d, x, y));
        assert!((lambda - 4.0).abs() < 1e-9);
        assert!((v[0].abs() - 0.5f64.sqrt()).abs() < 1e-6 && v[2].abs() < 1e-6);
    }

    #[test]
    fn scatter_is_the_covariance() {
        let m = vec![1.0f32, 0.0, -1.0, 0.0, 0.0, 2.0, 0.0, -2.0];
        let mu = mean(&m, 2, &|_| true);
        assert_eq!(mu, vec![0.0, 0.0]);
        let c = scatter(&m, 2, &mu, &|_| true);
        assert_eq!(c, vec![0.5, 0.0, 0.0, 2.0]);
        let c = scatter(&m, 2, &mu, &|r| r < 2);
        assert_eq!(c, vec![1.0, 0.0, 0.0, 0.0]);
    }
}
