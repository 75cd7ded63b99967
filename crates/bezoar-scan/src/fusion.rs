//! Score fusion: one suspicion score per row from every detector's scores.
//!
//! Detectors emit scores already on a common scale (0 = nothing seen, ≥ 0.5 = worth flagging on
//! its own), so fusion is a noisy-OR: independent pieces of evidence add up, and one strong
//! detector is enough.

use crate::context::DetectorOutput;
use crate::result::{DetectorSummary, FlaggedBy, Reasons, ScanResult};
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
    // Per detector, the rows its own score flags; per row, how many detectors flag it alone.
    let mut alone: Vec<Vec<u32>> = Vec::new();
    let mut alone_count = vec![0u8; n];
    for (out, seconds) in outputs {
        let mut flagged_here = Vec::new();
        for i in 0..n {
            let s = out.scores[i].clamp(0.0, 1.0);
            clean[i] *= 1.0 - s as f64;
            if s >= REASON_LEVEL {
                reasons[i].insert(out.detector);
            }
            if s >= cfg.threshold {
                flagged_here.push(i as u32);
                alone_count[i] = alone_count[i].saturating_add(1);
            }
        }
        detectors.push(DetectorSummary {
            detector: out.detector,
            rows_flagged: 0, // counted below, over the rows that end up flagged
            findings: out.findings.len(),
            seconds,
            skipped: out.skipped,
        });
        alone.push(flagged_here);
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
    // After any budget: only rows that are flagged count, so the parts add up to the total.
    for (d, rows) in detectors.iter_mut().zip(&alone) {
        d.rows_flagged = rows.iter().filter(|&&i| flagged[i as usize]).count();
    }
    let mut flagged_by = FlaggedBy::default();
    for (i, _) in flagged.iter().enumerate().filter(|(_, &f)| f) {
        match alone_count[i] {
            0 => flagged_by.combined_evidence += 1,
            1 => flagged_by.one_detector += 1,
            _ => flagged_by.several_detectors += 1,
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
        flagged_by,
    }
}
