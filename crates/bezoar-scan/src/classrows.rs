//! Per-row class scores (probabilities, or their logarithms) of every row, in memory bounded by
//! rows, not rows × classes.
//!
//! While `rows × classes` stays within [`MAX_DENSE_CELLS`] every score is kept, exactly as
//! computed. Past it (many classes on many rows) each row keeps its [`TOP`] largest scores, its
//! own label's among them, and one fill value standing for each class left out: their average
//! probability (or the logarithm of it). What the readers of a row's label need is its label's
//! score and the classes it is read as; the many classes it is plainly not are read as equally
//! unlikely.

use rayon::prelude::*;

/// One chunk's rows: kept classes, their probabilities, the rest's mass, and its extra state.
type ChunkPart<S> = (Vec<u16>, Vec<f32>, Vec<f32>, S);

/// Rows × classes up to which every score is kept (32M cells, 128 MiB of `f32`).
pub const MAX_DENSE_CELLS: usize = 1 << 25;
/// Scores kept per row past [`MAX_DENSE_CELLS`].
pub const TOP: usize = 8;

/// What the scores are, which says how the classes left out of a row are averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Proba,
    LnProba,
}

#[derive(Debug, Clone, PartialEq)]
enum Store {
    /// Row-major `rows × classes`.
    Dense(Vec<f32>),
    /// Per row: [`TOP`] (class, score) pairs (fewer when there are fewer classes) and the fill
    /// value of every other class.
    Top {
        class: Vec<u16>,
        score: Vec<f32>,
        fill: Vec<f32>,
    },
}

/// The class scores of every row.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassRows {
    classes: usize,
    store: Store,
}

impl ClassRows {
    /// Scores of `n` rows over `classes` classes, computed in parallel blocks of `chunk` rows:
    /// `fill(first_row, block)` writes the rows `first_row..` of the block (row-major, `classes`
    /// per row) and returns what else it has to hand back, in block order. `labels`, when given,
    /// are kept in a row's scores whatever their rank.
    pub fn build<S, F>(
        n: usize,
        classes: usize,
        domain: Domain,
        labels: Option<&[u32]>,
        chunk: usize,
        fill: F,
    ) -> (ClassRows, Vec<S>)
    where
        S: Send,
        F: Fn(usize, &mut [f32]) -> S + Sync,
    {
        let classes = classes.max(1);
        if n.saturating_mul(classes) <= MAX_DENSE_CELLS {
            let mut dense = vec![0.0f32; n * classes];
            let extra: Vec<S> = dense
                .par_chunks_mut(classes * chunk)
                .enumerate()
                .map(|(c, block)| fill(c * chunk, block))
                .collect();
            let rows = ClassRows {
                classes,
                store: Store::Dense(dense),
            };
            return (rows, extra);
        }
        assert!(
            classes <= 1 << 16,
            "{classes} classes: past the scan's class limit"
        );
        let top = TOP.min(classes);
        let parts: Vec<ChunkPart<S>> = (0..n.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let start = c * chunk;
                let len = chunk.min(n - start);
                let mut block = vec![0.0f32; len * classes];
                let extra = fill(start, &mut block);
                let (mut class, mut score, mut fill) = (
                    Vec::with_capacity(len * top),
                    Vec::with_capacity(len * top),
                    Vec::with_capacity(len),
                );
                let mut order: Vec<u32> = Vec::with_capacity(classes);
                for (o, row) in block.chunks_exact(classes).enumerate() {
                    let label = labels.map(|l| l[start + o] as usize);
                    let f = compress(row, top, domain, label, &mut order);
                    class.extend(order[..top].iter().map(|&k| k as u16));
                    score.extend(order[..top].iter().map(|&k| row[k as usize]));
                    fill.push(f);
                }
                (class, score, fill, extra)
            })
            .collect();
        let (mut class, mut score, mut fill) = (
            Vec::with_capacity(n * top),
            Vec::with_capacity(n * top),
            Vec::with_capacity(n),
        );
        let mut extra = Vec::with_capacity(parts.len());
        for (c, s, f, e) in parts {
            class.extend_from_slice(&c);
            score.extend_from_slice(&s);
            fill.extend_from_slice(&f);
            extra.push(e);
        }
        let rows = ClassRows {
            classes,
            store: Store::Top { class, score, fill },
        };
        (rows, extra)
    }

    /// Row `i`'s scores over every class, into `out` (`classes` long).
    pub fn read(&self, i: usize, out: &mut [f32]) {
        let k = self.classes;
        match &self.store {
            Store::Dense(d) => out.copy_from_slice(&d[i * k..(i + 1) * k]),
            Store::Top { class, score, fill } => {
                let top = TOP.min(k);
                out.fill(fill[i]);
                let at = i * top..(i + 1) * top;
                for (&c, &s) in class[at.clone()].iter().zip(&score[at]) {
                    out[c as usize] = s;
                }
            }
        }
    }

    /// Whether every score is kept.
    #[cfg(test)]
    pub fn is_dense(&self) -> bool {
        matches!(self.store, Store::Dense(_))
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        match &self.store {
            Store::Dense(d) => d.len() * 4,
            Store::Top { class, score, fill } => class.len() * 2 + (score.len() + fill.len()) * 4,
        }
    }
}

/// Put the `top` classes to keep first in `order` (the largest scores, ties to the lower class,
/// with `label` in place of the last when it is not among them) and return the fill value of the
/// others.
fn compress(
    row: &[f32],
    top: usize,
    domain: Domain,
    label: Option<usize>,
    order: &mut Vec<u32>,
) -> f32 {
    order.clear();
    order.extend(0..row.len() as u32);
    let by_score = |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
    if top < row.len() {
        order.select_nth_unstable_by(top - 1, by_score);
    }
    order[..top].sort_unstable_by(by_score);
    if let Some(y) = label {
        if let Some(at) = order.iter().position(|&c| c as usize == y) {
            if at >= top {
                order.swap(top - 1, at);
            }
        }
    }
    let rest = &order[top..];
    if rest.is_empty() {
        return 0.0;
    }
    let m = rest.len() as f64;
    match domain {
        Domain::Proba => (rest.iter().map(|&c| row[c as usize] as f64).sum::<f64>() / m) as f32,
        Domain::LnProba => {
            let max = rest
                .iter()
                .map(|&c| row[c as usize])
                .fold(f32::NEG_INFINITY, f32::max) as f64;
            let sum: f64 = rest
                .iter()
                .map(|&c| (row[c as usize] as f64 - max).exp())
                .sum();
            (max + sum.ln() - m.ln()) as f32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_tables_keep_every_score_exactly() {
        let (rows, extra) = ClassRows::build(5, 3, Domain::Proba, None, 2, |start, block| {
            for (o, v) in block.iter_mut().enumerate() {
                *v = (start * 3 + o) as f32;
            }
            start
        });
        assert!(rows.is_dense());
        assert_eq!(extra, vec![0, 2, 4]);
        let mut out = [0.0; 3];
        rows.read(4, &mut out);
        assert_eq!(out, [12.0, 13.0, 14.0]);
    }

    #[test]
    fn large_tables_keep_each_rows_top_scores_its_label_and_the_mean_of_the_rest() {
        // Enough rows × classes to pass the dense limit; each row's probabilities fall with the
        // class index from a peak at class `i % classes`.
        let classes = 1000;
        let n = MAX_DENSE_CELLS / classes + 7;
        let labels: Vec<u32> = (0..n as u32)
            .map(|i| (i * 7 + 500) % classes as u32)
            .collect();
        let row = |i: usize, out: &mut [f32]| {
            let peak = i % classes;
            let mut sum = 0.0;
            for (c, o) in out.iter_mut().enumerate() {
                let d = (c as isize - peak as isize).unsigned_abs() as f32;
                *o = (-0.5 * d).exp();
                sum += *o;
            }
            out.iter_mut().for_each(|o| *o /= sum);
        };
        let (rows, _) = ClassRows::build(n, classes, Domain::Proba, Some(&labels), 4096, {
            |start, block: &mut [f32]| {
                for (o, out) in block.chunks_mut(classes).enumerate() {
                    row(start + o, out);
                }
            }
        });
        assert!(!rows.is_dense());
        // Bounded by rows, not rows × classes.
        assert!(rows.heap_bytes() <= n * (6 * TOP + 4));
        let (mut got, mut want) = (vec![0.0; classes], vec![0.0; classes]);
        for i in [0, 1, 499, n - 1] {
            rows.read(i, &mut got);
            row(i, &mut want);
            let peak = i % classes;
            assert_eq!(got[peak], want[peak]);
            let y = labels[i] as usize;
            assert_eq!(got[y], want[y], "the label's score is kept");
            // Still a distribution.
            let total: f32 = got.iter().sum();
            assert!((total - 1.0).abs() < 1e-3, "{total}");
            // Classes left out read as no likelier than the least likely kept one.
            let kept_min = (0..classes)
                .filter(|&c| got[c] == want[c] && c != y)
                .map(|c| got[c])
                .fold(f32::INFINITY, f32::min);
            let far = (peak + classes / 2) % classes;
            assert!(got[far] <= kept_min, "{} vs {kept_min}", got[far]);
        }
    }

    #[test]
    fn ln_scores_average_the_classes_left_out_as_probabilities() {
        let mut order = Vec::new();
        let row = [0.5f32.ln(), 0.3f32.ln(), 0.1f32.ln(), 0.1f32.ln()];
        let fill = compress(&row, 2, Domain::LnProba, None, &mut order);
        assert_eq!(&order[..2], &[0, 1]);
        assert!((fill - 0.1f32.ln()).abs() < 1e-6, "{fill}");
        // The label displaces the last kept class.
        let proba = [0.5f32, 0.3, 0.1, 0.1];
        let fill = compress(&proba, 2, Domain::Proba, Some(3), &mut order);
        assert_eq!(&order[..2], &[0, 3]);
        assert!((fill - (0.3 + 0.1) / 2.0).abs() < 1e-6, "{fill}");
    }
}
