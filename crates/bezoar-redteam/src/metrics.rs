//! Detection metrics over per-row scores and ground truth, with ties handled explicitly.
//!
//! - AUROC: the Mann–Whitney U statistic with average ranks for tied scores, i.e. the chance that
//!   a random poisoned row scores above a random clean one, ties counting one half.
//! - Average precision: the step-wise area under the precision–recall curve,
//!   `Σ (Rₜ − Rₜ₋₁) · Pₜ` over *distinct* score thresholds t from high to low (scikit-learn's
//!   definition). Rows with tied scores enter together at one threshold, so the result does not
//!   depend on the order of tied rows.
//! - Recall at k (k = number of poisoned rows): the share of poisoned rows among the k highest
//!   scores. When tied scores straddle the k-th place, the tied group contributes its poisoned
//!   share of the remaining places (the expectation over random tie-breaking), again independent
//!   of row order.
//! - Precision, recall, F1 of a set of flagged rows; 0 (not NaN) when undefined, as the usual
//!   convention for an empty flagged set.
//!
//! Metrics that need both classes return `None` when one is missing.

/// Rows sorted by score, highest first, grouped by equal score: `(rows, positives)` per group.
fn groups_desc(scores: &[f64], positive: &[bool]) -> Vec<(usize, usize)> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut prev: Option<f64> = None;
    for i in idx {
        let s = scores[i];
        if prev != Some(s) {
            groups.push((0, 0));
            prev = Some(s);
        }
        if let Some(g) = groups.last_mut() {
            g.0 += 1;
            g.1 += usize::from(positive[i]);
        }
    }
    groups
}

/// Area under the ROC curve (Mann–Whitney U with average ranks for ties).
pub fn auroc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let pos = positive.iter().filter(|&&p| p).count();
    let neg = positive.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    // Ascending ranks: walk the descending groups from the end.
    let groups = groups_desc(scores, positive);
    let mut rank_sum = 0.0f64;
    let mut below = 0usize;
    for &(rows, p) in groups.iter().rev() {
        // Ranks below+1 ..= below+rows share their average.
        let avg = below as f64 + (rows as f64 + 1.0) / 2.0;
        rank_sum += avg * p as f64;
        below += rows;
    }
    let (pos, neg) = (pos as f64, neg as f64);
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Average precision, tied scores entering at one threshold.
pub fn average_precision(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let pos = positive.iter().filter(|&&p| p).count();
    if pos == 0 {
        return None;
    }
    let mut tp = 0usize;
    let mut seen = 0usize;
    let mut ap = 0.0;
    for (rows, p) in groups_desc(scores, positive) {
        tp += p;
        seen += rows;
        if p > 0 {
            ap += (p as f64 / pos as f64) * (tp as f64 / seen as f64);
        }
    }
    Some(ap)
}

/// Recall among the `k` highest scores; a tied group at the cut counts its expected share.
pub fn recall_at_k(scores: &[f64], positive: &[bool], k: usize) -> Option<f64> {
    let pos = positive.iter().filter(|&&p| p).count();
    if pos == 0 {
        return None;
    }
    let mut left = k.min(scores.len());
    let mut hits = 0.0;
    for (rows, p) in groups_desc(scores, positive) {
        if left == 0 {
            break;
        }
        if rows <= left {
            hits += p as f64;
            left -= rows;
        } else {
            hits += p as f64 * left as f64 / rows as f64;
            left = 0;
        }
    }
    Some(hits / pos as f64)
}

/// Counts of a flagged set against the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Confusion {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

impl Confusion {
    pub fn new(flagged: &[bool], positive: &[bool]) -> Self {
        let mut c = Confusion::default();
        for (&f, &p) in flagged.iter().zip(positive) {
            match (f, p) {
                (true, true) => c.true_positives += 1,
                (true, false) => c.false_positives += 1,
                (false, true) => c.false_negatives += 1,
                (false, false) => {}
            }
        }
        c
    }

    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("defined");
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    // Hand-computed example with a tie between a poisoned and a clean row:
    // scores 0.9(P) 0.8(P) 0.8(C) 0.3(C) 0.1(C).
    const S: [f64; 5] = [0.9, 0.8, 0.8, 0.3, 0.1];
    const Y: [bool; 5] = [true, false, true, false, false];

    #[test]
    fn auroc_counts_ties_as_half() {
        // Pairs won: 0.9 beats all 3 clean; 0.8 ties one (½) and beats two: 5.5 / 6.
        close(auroc(&S, &Y), 5.5 / 6.0);
        close(auroc(&[1.0, 2.0], &[false, true]), 1.0);
        close(auroc(&[2.0, 1.0], &[false, true]), 0.0);
        close(auroc(&[0.5; 4], &[true, false, false, true]), 0.5);
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(auroc(&[0.1, 0.2], &[false, false]), None);
    }

    #[test]
    fn auroc_with_average_ranks_matches_pair_counting() {
        let s = [3.0, 1.0, 2.0, 2.0, 2.0, 1.0, 0.0, 3.0];
        let y = [true, false, true, false, true, true, false, false];
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for i in 0..s.len() {
            for j in 0..s.len() {
                if y[i] && !y[j] {
                    pairs += 1.0;
                    if s[i] > s[j] {
                        wins += 1.0;
                    } else if s[i] == s[j] {
                        wins += 0.5;
                    }
                }
            }
        }
        close(auroc(&s, &y), wins / pairs);
    }

    #[test]
    fn average_precision_takes_tied_rows_together() {
        // Threshold 0.9: P=1/1, ΔR=½. Threshold 0.8 (two rows, one poisoned): P=2/3, ΔR=½.
        close(average_precision(&S, &Y), 0.5 + 0.5 * 2.0 / 3.0);
        // Every score tied: one threshold, AP = prevalence, whatever the order.
        close(
            average_precision(&[0.5; 4], &[true, false, false, true]),
            0.5,
        );
        close(
            average_precision(&[0.5; 4], &[false, true, true, false]),
            0.5,
        );
        close(average_precision(&[0.9, 0.1], &[true, false]), 1.0);
        assert_eq!(average_precision(&[0.9], &[false]), None);
    }

    #[test]
    fn recall_at_k_splits_a_tie_at_the_cut() {
        // k=2: 0.9 is a hit; one place left for the tied 0.8 pair holding one poisoned row: ½.
        close(recall_at_k(&S, &Y, 2), 1.5 / 2.0);
        close(recall_at_k(&[0.5; 4], &[true, false, false, true], 2), 0.5);
        close(recall_at_k(&[0.9, 0.5, 0.1], &[true, true, false], 2), 1.0);
        close(recall_at_k(&[0.9, 0.5, 0.1], &[false, true, true], 2), 0.5);
    }

    #[test]
    fn confusion_gives_precision_recall_f1() {
        let flagged = [true, true, false, true, false];
        let c = Confusion::new(&flagged, &Y);
        assert_eq!(
            (c.true_positives, c.false_positives, c.false_negatives),
            (1, 2, 1)
        );
        close(Some(c.precision()), 1.0 / 3.0);
        close(Some(c.recall()), 0.5);
        close(Some(c.f1()), 0.4);
        let none = Confusion::new(&[false; 5], &Y);
        assert_eq!(
            (none.precision(), none.recall(), none.f1()),
            (0.0, 0.0, 0.0)
        );
    }
}
