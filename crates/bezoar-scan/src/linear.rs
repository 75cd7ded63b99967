//! Multinomial logistic regression on sparse rows, trained by SGD, and cross-validated
//! out-of-fold class probabilities.
//!
//! Hand-written because the model is a few dozen lines on our own sparse layout; the linear
//! algebra crates measured for this project add minutes of build time and work on dense data.

use crate::features::SparseRows;
use crate::rng::SplitMix64;
use rayon::prelude::*;

/// Weights for `classes` outputs over `dim` sparse inputs, stored as `scale * v`.
#[derive(Debug, Clone)]
pub struct LinearModel {
    classes: usize,
    v: Vec<f32>,
    scale: f32,
    bias: Vec<f32>,
}

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct TrainParams {
    pub epochs: usize,
    pub l2: f32,
    pub eta0: f32,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            epochs: 6,
            l2: 1e-4,
            eta0: 0.5,
        }
    }
}

impl LinearModel {
    pub fn train(
        x: &SparseRows,
        dim: usize,
        rows: &[u32],
        labels: &[u32],
        classes: usize,
        p: TrainParams,
        seed: u64,
    ) -> Self {
        let mut m = LinearModel {
            classes,
            v: vec![0.0; dim * classes],
            scale: 1.0,
            bias: vec![0.0; classes],
        };
        let mut order: Vec<u32> = rows.to_vec();
        let mut rng = SplitMix64::new(seed);
        let mut logits = vec![0.0f32; classes];
        let mut t = 0f32;
        // Balanced class weights keep a skewed prior from drowning the minority class.
        let mut counts = vec![0usize; classes];
        for &r in rows {
            counts[labels[r as usize] as usize] += 1;
        }
        let cw: Vec<f32> = counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    0.0
                } else {
                    (rows.len() as f32 / (classes as f32 * c as f32)).sqrt()
                }
            })
            .collect();
        for _ in 0..p.epochs {
            rng.shuffle(&mut order);
            for &r in &order {
                let (idx, val) = x.row(r as usize);
                let y = labels[r as usize] as usize;
                let eta = p.eta0 / (1.0 + p.eta0 * p.l2 * t);
                t += 1.0;
                m.logits(idx, val, &mut logits);
                softmax(&mut logits);
                m.scale *= 1.0 - eta * p.l2;
                if m.scale < 1e-4 {
                    m.rescale();
                }
                let step = eta * cw[y] / m.scale;
                for (c, &pc) in logits.iter().enumerate() {
                    let g = pc - if c == y { 1.0 } else { 0.0 };
                    if g.abs() < 1e-7 {
                        continue;
                    }
                    for (&j, &xv) in idx.iter().zip(val) {
                        m.v[j as usize * classes + c] -= step * g * xv;
                    }
                    m.bias[c] -= eta * cw[y] * g * 0.1;
                }
            }
        }
        m.rescale();
        m
    }

    fn rescale(&mut self) {
        let s = self.scale;
        self.v.iter_mut().for_each(|w| *w *= s);
        self.scale = 1.0;
    }

    /// Raw scores for one sparse row.
    pub fn logits(&self, idx: &[u32], val: &[f32], out: &mut [f32]) {
        out.copy_from_slice(&self.bias);
        let k = self.classes;
        for (&j, &xv) in idx.iter().zip(val) {
            let w = &self.v[j as usize * k..j as usize * k + k];
            for c in 0..k {
                out[c] += self.scale * w[c] * xv;
            }
        }
    }

    /// Class probabilities for one sparse row.
    pub fn predict(&self, idx: &[u32], val: &[f32], out: &mut [f32]) {
        self.logits(idx, val, out);
        softmax(out);
    }
}

pub fn softmax(z: &mut [f32]) {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    z.iter_mut().for_each(|v| *v /= s);
}

/// Out-of-fold class probabilities from `folds` models, each trained on the other folds.
pub struct CrossVal {
    pub fold_of: Vec<u8>,
    pub models: Vec<LinearModel>,
    /// Row-major `n × classes` out-of-fold probabilities.
    pub proba: Vec<f32>,
    pub classes: usize,
}

impl CrossVal {
    pub fn row(&self, i: usize) -> &[f32] {
        &self.proba[i * self.classes..(i + 1) * self.classes]
    }
    pub fn model_for(&self, i: usize) -> &LinearModel {
        &self.models[self.fold_of[i] as usize]
    }
}

pub fn cross_validate(
    x: &SparseRows,
    dim: usize,
    labels: &[u32],
    classes: usize,
    folds: usize,
    p: TrainParams,
    seed: u64,
) -> CrossVal {
    let n = labels.len();
    let mut perm: Vec<u32> = (0..n as u32).collect();
    SplitMix64::new(seed ^ 0xF01D).shuffle(&mut perm);
    let mut fold_of = vec![0u8; n];
    for (k, &r) in perm.iter().enumerate() {
        fold_of[r as usize] = (k % folds) as u8;
    }
    let models: Vec<LinearModel> = (0..folds)
        .into_par_iter()
        .map(|f| {
            let train: Vec<u32> = (0..n as u32)
                .filter(|&r| fold_of[r as usize] as usize != f)
                .collect();
            LinearModel::train(
                x,
                dim,
                &train,
                labels,
                classes,
                p,
                seed.wrapping_add(f as u64 * 7919),
            )
        })
        .collect();
    let mut proba = vec![0.0f32; n * classes];
    proba
        .par_chunks_mut(classes)
        .enumerate()
        .for_each(|(i, out)| {
            let (idx, val) = x.row(i);
            models[fold_of[i] as usize].predict(idx, val, out);
        });
    CrossVal {
        fold_of,
        models,
        proba,
        classes,
    }
}
