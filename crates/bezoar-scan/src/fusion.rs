//! Score fusion: one suspicion score per row from every detector's scores.
//!
//! Detectors emit scores already on a common scale (0 = nothing seen, ≥ 0.5 = worth flagging on
//! its own), so fusion is a noisy-OR: independent pieces of evidence add up, and one strong
//! detector is enough.

use crate::context::DetectorOutput;
use crate::result::{DetectorSummary, Reasons, ScanResult};
use crate::ScanConfig;

/// A detector counts as a reason for a row when its own score reaches this.
const REASON_LEVEL: f32 = 0.3;

pub(crate) fn fuse(
    n: usize,
    outputs: Vec<(DetectorOutput, f64)>,
    cfg: &ScanConfig,
    representation: &str,
    stages: Vec<(&'static str, f64)>,
) -> ScanResult {
    let mut clean = vec![1.0f64; n];
    let mut reasons = vec![Reasons::default(); n];
    let mut findings = Vec::new();
    let mut detectors = Vec::new();
    for (out, seconds) in outputs {
        let mut flagged_here = 0;
        for i in 0..n {
            let s = out.scores[i].clamp(0.0, 1.0);
            clean[i] *= 1.0 - s as f64;
            if s >= REASON_LEVEL {
                reasons[i].insert(out.detector);
            }
            if s >= cfg.threshold {
                flagged_here += 1;
            }
        }
        detectors.push(DetectorSummary {
            detector: out.detector,
            rows_flagged: flagged_here,
            findings: out.findings.len(),
            seconds,
            skipped: out.skipped,
        });
        findings.extend(out.findings);
    }
    let scores: Vec<f32> = clean.iter().map(|c| (1.0 - c) as f32).collect();
    let mut flagged: Vec<bool> = scores.iter().map(|&s| s >= cfg.threshold).collect();
    let mut threshold = cfg.threshold;
    if let Some(budget) = cfg.budget {
        let cap = budget.max_rows(n);
        let mut order: Vec<usize> = (0..n).filter(|&i| flagged[i]).collect();
        if order.len() > cap {
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            for &i in &order[cap..] {
                flagged[i] = false;
            }
            threshold = order[..cap].last().map_or(1.0, |&i| scores[i]);
        }
    }
    for (i, r) in reasons.iter_mut().enumerate() {
        if scores[i] == 0.0 {
            *r = Reasons::default();
        }
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.rows.len().cmp(&a.rows.len()))
            .then(a.title.cmp(&b.title))
    });
    ScanResult {
        scores,
        flagged,
        reasons,
        findings,
        detectors,
        threshold,
        representation: representation.to_string(),
        stages,
        label_readers: Vec::new(),
    }
}
