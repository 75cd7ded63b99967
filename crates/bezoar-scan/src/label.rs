//! Label consistency: rows whose label disagrees with what a cross-validated model reads in
//! their content. Out-of-fold probabilities come from the shared text (or text + embedding)
//! model, so no row is judged by a model that saw its own label.

use crate::context::{Context, DetectorOutput};
use crate::result::{Detector, Evidence, Finding, Severity};
use crate::trigger::argmax;

/// Probability of the given label below which a row counts as "reads as another label".
const CONFIDENT_DISAGREEMENT: f32 = 0.2;
/// Below this out-of-fold probability of its own label a row is flagged on this evidence alone.
/// Chosen for precision: on clean data a linear text model is rarely this sure a label is wrong.
const FLAG_ALONE: f32 = 0.05;

/// Map P(label) to a suspicion score: graded by the mean over the model views (for ranking) but
/// below the flag threshold unless every view is nearly certain the label is wrong (`p_most` is
/// the largest P(label) of any view).
fn suspicion(p_mean: f32, p_most: f32) -> f32 {
    let doubt = 0.35 * (1.0 - p_mean).clamp(0.0, 1.0);
    if p_most < FLAG_ALONE {
        doubt + 0.2
    } else {
        doubt
    }
}

pub(crate) fn detect(ctx: &Context) -> DetectorOutput {
    let n = ctx.n();
    // With embeddings there are two views of each row: text alone, and text with the embedding.
    // Ranking uses their mean; flagging on this evidence alone needs both to be nearly certain,
    // because the embedding model is sharper and also sure about rows that are merely hard.
    let views: Vec<&crate::linear::CrossVal> = ctx.cv.iter().chain(ctx.cv_label.iter()).collect();
    let Some(cv) = views.last().copied() else {
        return DetectorOutput::skipped(
            Detector::LabelConsistency,
            n,
            "needs at least two classes",
        );
    };
    let k = ctx.classes;
    let mut scores = vec![0.0f32; n];
    // pairs[given * k + read_as] = rows, for one finding per label pair.
    let mut pairs: Vec<Vec<u32>> = vec![Vec::new(); k * k];
    for (i, score) in scores.iter_mut().enumerate() {
        let y = ctx.labels[i] as usize;
        let (mut sum, mut most) = (0.0f32, 0.0f32);
        for v in &views {
            let p = v.row(i)[y];
            sum += p;
            most = most.max(p);
        }
        *score = suspicion(sum / views.len() as f32, most);
        let p = cv.row(i);
        if p[y] < CONFIDENT_DISAGREEMENT {
            pairs[y * k + argmax(p)].push(i as u32);
        }
    }
    let counts = ctx.ds.labels.counts();
    let mut findings = Vec::new();
    for given in 0..k {
        for read in 0..k {
            let rows = std::mem::take(&mut pairs[given * k + read]);
            if rows.is_empty() || given == read {
                continue;
            }
            let share = rows.len() as f64 / counts[given].max(1) as f64;
            let severity = if share >= 0.05 {
                Severity::Medium
            } else {
                Severity::Low
            };
            findings.push(Finding {
                detector: Detector::LabelConsistency,
                severity,
                title: format!(
                    "{} rows labelled {} read as {} (out-of-fold P(label) < {:.1}); {:.1}% of that class",
                    rows.len(),
                    ctx.label_name(given),
                    ctx.label_name(read),
                    CONFIDENT_DISAGREEMENT,
                    100.0 * share
                ),
                subject: format!("{} -> {}", ctx.label_name(given), ctx.label_name(read)),
                target_label: Some(ctx.label_name(given).to_string()),
                evidence: vec![
                    Evidence { name: "rows", value: rows.len() as f64 },
                    Evidence { name: "share_of_class", value: share },
                ],
                rows,
            });
        }
    }
    DetectorOutput {
        detector: Detector::LabelConsistency,
        scores,
        findings,
        skipped: None,
    }
}
