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

/// Map P(label) to a suspicion score: graded (for ranking) but below the flag threshold unless
/// the model is nearly certain the label is wrong.
fn suspicion(p_label: f32) -> f32 {
    let doubt = 0.35 * (1.0 - p_label).clamp(0.0, 1.0);
    if p_label < FLAG_ALONE {
        doubt + 0.2
    } else {
        doubt
    }
}

pub(crate) fn detect(ctx: &Context) -> DetectorOutput {
    let n = ctx.n();
    let Some(cv) = ctx.cv_label.as_ref().or(ctx.cv.as_ref()) else {
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
        let p = cv.row(i);
        let y = ctx.labels[i] as usize;
        *score = suspicion(p[y]);
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
