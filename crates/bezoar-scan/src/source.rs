//! Per-source rates: sources (vendors, scrapes, annotators...) whose rows the other detectors
//! flag far more often than the rest, or whose labels are skewed far from the global prior.
//!
//! A poisoned batch usually arrives through one channel, so concentration by source is strong
//! group-level evidence; but it says nothing about which of a source's rows are bad, so it only
//! nudges their scores (and never flags a row on its own).

use crate::context::{Context, DetectorOutput};
use crate::result::{Detector, Evidence, Finding, Severity};
use crate::stats::ln_binom_sf;

/// Family-wise significance level, Bonferroni-corrected over the sources tested.
const ALPHA: f64 = 1e-3;
/// A source's flagged rate must be at least this multiple of the overall rate...
const MIN_RATE_RATIO: f64 = 2.0;
/// ...and at least this multiple for a High finding.
const HIGH_RATE_RATIO: f64 = 5.0;
/// Label skew: total variation distance from the global prior, and rows needed to judge it.
const MIN_SKEW_TV: f64 = 0.3;
const MIN_SKEW_ROWS: usize = 30;
/// Score nudges for rows of a suspicious source (flagged elsewhere or not); below the flag
/// threshold either way.
const BOOST: f32 = 0.2;
const BOOST_FLAGGED: f32 = 0.35;
/// Sources listed in the summary finding.
const SUMMARY_TOP: usize = 5;

struct SourceStats {
    code: usize,
    rows: usize,
    flagged: usize,
}

impl SourceStats {
    fn rate(&self) -> f64 {
        self.flagged as f64 / self.rows.max(1) as f64
    }
}

/// `others` are the outputs of every other detector, with their run times.
pub(crate) fn detect(ctx: &Context, others: &[(DetectorOutput, f64)]) -> DetectorOutput {
    let n = ctx.n();
    let Some(sources) = ctx.ds.sources.as_ref() else {
        return DetectorOutput::skipped(Detector::Source, n, "needs --source");
    };
    if sources.codes.len() != n {
        return DetectorOutput::skipped(
            Detector::Source,
            n,
            "source column does not match the rows",
        );
    }
    let threshold = ctx.cfg.threshold;
    let flagged: Vec<bool> = (0..n)
        .map(|i| {
            others.iter().any(|(o, _)| {
                o.detector != Detector::Source && o.scores.get(i).is_some_and(|&s| s >= threshold)
            })
        })
        .collect();
    let total_flagged = flagged.iter().filter(|&&f| f).count();
    let overall = total_flagged as f64 / n.max(1) as f64;

    let mut stats: Vec<SourceStats> = (0..sources.names.len())
        .map(|code| SourceStats {
            code,
            rows: 0,
            flagged: 0,
        })
        .collect();
    for (&code, &f) in sources.codes.iter().zip(&flagged) {
        let Some(s) = stats.get_mut(code as usize) else {
            continue;
        };
        s.rows += 1;
        s.flagged += usize::from(f);
    }
    // The labels of each source's rows, grouped by source (sources may be as many as rows, so
    // per-source class counts are made one source at a time, not kept for all).
    let mut start = vec![0usize; sources.names.len() + 1];
    let known = |code: u32| (code as usize) < sources.names.len();
    for &code in sources.codes.iter().filter(|&&c| known(c)) {
        start[code as usize + 1] += 1;
    }
    for k in 1..start.len() {
        start[k] += start[k - 1];
    }
    let mut fill = start.clone();
    let mut labels_by_source = vec![0u32; start[start.len() - 1]];
    for (&code, &label) in sources.codes.iter().zip(ctx.labels) {
        if known(code) {
            labels_by_source[fill[code as usize]] = label;
            fill[code as usize] += 1;
        }
    }
    let mut class_rows = vec![0usize; ctx.classes];
    stats.retain(|s| s.rows > 0);
    let tested = stats.len().max(1) as f64;
    let ln_alpha = ALPHA.ln();

    // Decide per source first; row lists are gathered afterwards in one pass.
    enum Kind {
        Rate {
            ratio: f64,
            ln_p_adj: f64,
        },
        Skew {
            label: usize,
            share: f64,
            tv: f64,
            ln_p_adj: f64,
        },
    }
    let mut verdicts: Vec<(usize, Kind)> = Vec::new();
    // Per source code: boost all rows (Some(None)) or one label's rows (Some(Some(l))).
    let mut boost: Vec<Option<Option<usize>>> = vec![None; sources.names.len()];
    for (k, s) in stats.iter().enumerate() {
        let rate = s.rate();
        // 1. Flagged-row concentration: binomial tail against the overall flagged rate.
        let ln_p_adj =
            (ln_binom_sf(s.flagged as u64, s.rows as u64, overall) + tested.ln()).min(0.0);
        let rate_suspicious = s.flagged > 0
            && overall > 0.0
            && ln_p_adj < ln_alpha
            && rate >= MIN_RATE_RATIO * overall;
        if rate_suspicious {
            verdicts.push((
                k,
                Kind::Rate {
                    ratio: rate / overall,
                    ln_p_adj,
                },
            ));
            boost[s.code] = Some(None);
        }
        // 2. Label skew: total variation distance from the prior, and a binomial test of the
        // most over-represented label against its prior share.
        if s.rows >= MIN_SKEW_ROWS && ctx.classes >= 2 {
            let labels = &labels_by_source[start[s.code]..start[s.code + 1]];
            class_rows.fill(0);
            for &label in labels {
                if let Some(l) = class_rows.get_mut(label as usize) {
                    *l += 1;
                }
            }
            let share: Vec<f64> = class_rows
                .iter()
                .map(|&k| k as f64 / s.rows as f64)
                .collect();
            let tv = 0.5
                * share
                    .iter()
                    .zip(&ctx.prior)
                    .map(|(a, b)| (a - b).abs())
                    .sum::<f64>();
            let over = (0..ctx.classes)
                .max_by(|&a, &b| {
                    (share[a] - ctx.prior[a])
                        .total_cmp(&(share[b] - ctx.prior[b]))
                        .then(b.cmp(&a))
                })
                .unwrap_or(0);
            let ln_p_adj = (ln_binom_sf(class_rows[over] as u64, s.rows as u64, ctx.prior[over])
                + tested.ln())
            .min(0.0);
            if tv >= MIN_SKEW_TV && ln_p_adj < ln_alpha {
                verdicts.push((
                    k,
                    Kind::Skew {
                        label: over,
                        share: share[over],
                        tv,
                        ln_p_adj,
                    },
                ));
                if !rate_suspicious {
                    boost[s.code] = Some(Some(over));
                }
            }
        }
    }

    let mut scores = vec![0.0f32; n];
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); sources.names.len()];
    let mut listed = vec![false; sources.names.len()];
    for (k, _) in &verdicts {
        listed[stats[*k].code] = true;
    }
    for i in 0..n {
        let code = sources.codes[i] as usize;
        if let Some(Some(b)) = boost.get(code) {
            if b.is_none_or(|l| ctx.labels[i] as usize == l) {
                scores[i] = if flagged[i] { BOOST_FLAGGED } else { BOOST };
            }
        }
        if listed.get(code).copied().unwrap_or(false) {
            members[code].push(i as u32);
        }
    }

    let mut findings = Vec::new();
    for (k, kind) in &verdicts {
        let s = &stats[*k];
        let name = &sources.names[s.code];
        let rows_of = &members[s.code];
        match *kind {
            Kind::Rate { ratio, ln_p_adj } => {
                let severity = if ratio >= HIGH_RATE_RATIO {
                    Severity::High
                } else {
                    Severity::Medium
                };
                findings.push(Finding {
                    detector: Detector::Source,
                    severity,
                    title: format!(
                        "source \"{name}\": {} of {} rows flagged ({:.1}% vs {:.1}% overall)",
                        s.flagged,
                        s.rows,
                        100.0 * s.rate(),
                        100.0 * overall
                    ),
                    subject: name.clone(),
                    target_label: None,
                    rows: rows_of
                        .iter()
                        .copied()
                        .filter(|&i| flagged[i as usize])
                        .collect(),
                    evidence: vec![
                        Evidence {
                            name: "source_rows",
                            value: s.rows as f64,
                        },
                        Evidence {
                            name: "flagged_rows",
                            value: s.flagged as f64,
                        },
                        Evidence {
                            name: "flagged_rate",
                            value: s.rate(),
                        },
                        Evidence {
                            name: "overall_flagged_rate",
                            value: overall,
                        },
                        Evidence {
                            name: "rate_ratio",
                            value: ratio,
                        },
                        Evidence {
                            name: "log10_p_adjusted",
                            value: ln_p_adj / std::f64::consts::LN_10,
                        },
                        Evidence {
                            name: "sources_tested",
                            value: tested,
                        },
                    ],
                });
            }
            Kind::Skew {
                label,
                share,
                tv,
                ln_p_adj,
            } => {
                let name_l = ctx.label_name(label).to_string();
                findings.push(Finding {
                    detector: Detector::Source,
                    severity: Severity::Medium,
                    title: format!(
                        "source \"{name}\": label skew — {:.0}% labelled {name_l} vs {:.0}% overall ({} rows)",
                        100.0 * share,
                        100.0 * ctx.prior[label],
                        s.rows
                    ),
                    subject: name.clone(),
                    target_label: Some(name_l),
                    rows: rows_of.iter().copied().filter(|&i| ctx.labels[i as usize] as usize == label).collect(),
                    evidence: vec![
                        Evidence { name: "source_rows", value: s.rows as f64 },
                        Evidence { name: "label_share", value: share },
                        Evidence { name: "label_prior", value: ctx.prior[label] },
                        Evidence { name: "total_variation", value: tv },
                        Evidence { name: "log10_p_adjusted", value: ln_p_adj / std::f64::consts::LN_10 },
                        Evidence { name: "sources_tested", value: tested },
                    ],
                });
            }
        }
    }

    // Always: the sources with the highest flagged rates, for context.
    let mut order: Vec<&SourceStats> = stats.iter().collect();
    order.sort_by(|a, b| {
        b.rate()
            .total_cmp(&a.rate())
            .then(b.flagged.cmp(&a.flagged))
            .then(a.code.cmp(&b.code))
    });
    let listed: Vec<String> = order
        .iter()
        .take(SUMMARY_TOP)
        .map(|s| {
            format!(
                "\"{}\" {:.1}% ({}/{})",
                sources.names[s.code],
                100.0 * s.rate(),
                s.flagged,
                s.rows
            )
        })
        .collect();
    findings.push(Finding {
        detector: Detector::Source,
        severity: Severity::Info,
        title: format!(
            "{} sources; highest flagged rates: {} (overall {:.1}%)",
            stats.len(),
            listed.join(", "),
            100.0 * overall
        ),
        subject: "sources".to_string(),
        target_label: None,
        rows: Vec::new(),
        evidence: vec![
            Evidence {
                name: "sources",
                value: stats.len() as f64,
            },
            Evidence {
                name: "overall_flagged_rate",
                value: overall,
            },
            Evidence {
                name: "max_flagged_rate",
                value: order.first().map_or(0.0, |s| s.rate()),
            },
        ],
    });
    DetectorOutput {
        detector: Detector::Source,
        scores,
        findings,
        skipped: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::ScanConfig;
    use bezoar_data::{Categorical, Dataset, ResolvedColumns, RowIds, SkipReport, TextArena};

    fn dataset(
        n: usize,
        source_of: impl Fn(usize) -> usize,
        label_of: impl Fn(usize) -> u32,
        names: usize,
    ) -> Dataset {
        let mut texts = TextArena::new();
        for i in 0..n {
            texts.push(&format!("row {i}"));
        }
        Dataset {
            ids: RowIds::RowNumbers(n),
            texts,
            labels: Categorical {
                codes: (0..n).map(label_of).collect(),
                names: vec!["0".into(), "1".into()],
            },
            sources: Some(Categorical {
                codes: (0..n).map(|i| source_of(i) as u32).collect(),
                names: (0..names).map(|k| format!("vendor-{k}")).collect(),
            }),
            embeddings: None,
            columns: ResolvedColumns::default(),
            skipped: SkipReport::default(),
            lines: Vec::new(),
        }
    }

    fn run(ds: &Dataset, flagged: impl Fn(usize) -> bool) -> DetectorOutput {
        let cfg = ScanConfig::default();
        let n = ds.len();
        let ctx = Context::without_models(ds, &cfg, &ds.texts);
        let other = DetectorOutput {
            detector: Detector::Trigger,
            scores: (0..n).map(|i| if flagged(i) { 0.9 } else { 0.1 }).collect(),
            findings: Vec::new(),
            skipped: None,
        };
        detect(&ctx, &[(other, 0.0)])
    }

    #[test]
    fn concentrated_flags_make_a_source_suspicious() {
        // 10 sources of 100 rows; source 3 holds 30 flagged rows, the others 1 each.
        let ds = dataset(1000, |i| i / 100, |i| (i % 2) as u32, 10);
        let out = run(&ds, |i| {
            if i / 100 == 3 {
                i % 10 < 3
            } else {
                i % 100 == 1
            }
        });
        let f = out
            .findings
            .iter()
            .find(|f| f.subject == "vendor-3" && f.severity >= Severity::Medium)
            .expect("finding");
        assert_eq!(
            f.title,
            "source \"vendor-3\": 30 of 100 rows flagged (30.0% vs 3.9% overall)"
        );
        assert_eq!(f.severity, Severity::High);
        assert!(f.rows.windows(2).all(|w| w[0] < w[1]) && f.rows.len() == 30);
        assert!(!out
            .findings
            .iter()
            .any(|f| f.subject != "vendor-3" && f.severity > Severity::Info));
        // Flagged rows of the source get the larger nudge, the rest the smaller; none flag alone.
        assert_eq!(out.scores[300], BOOST_FLAGGED);
        assert_eq!(out.scores[303], BOOST);
        assert_eq!(out.scores[1], 0.0);
        assert!(out.scores.iter().all(|&s| s < 0.5));
        let info = out
            .findings
            .iter()
            .find(|f| f.severity == Severity::Info)
            .expect("summary");
        assert!(
            info.title.contains("\"vendor-3\" 30.0% (30/100)"),
            "{}",
            info.title
        );
    }

    #[test]
    fn label_skew_is_reported() {
        // Source 1 is all label 1; elsewhere labels alternate.
        let ds = dataset(
            600,
            |i| usize::from(i >= 500),
            |i| if i >= 500 { 1 } else { (i % 2) as u32 },
            2,
        );
        let out = run(&ds, |_| false);
        let f = out
            .findings
            .iter()
            .find(|f| f.title.contains("label skew"))
            .expect("skew finding");
        assert_eq!(f.subject, "vendor-1");
        assert!(
            f.title.contains("100% labelled 1 vs 58% overall"),
            "{}",
            f.title
        );
        assert_eq!(out.scores[550], BOOST);
        assert_eq!(out.scores[10], 0.0);
    }

    #[test]
    fn uniform_sources_raise_nothing() {
        let ds = dataset(1000, |i| i % 4, |i| ((i / 4) % 2) as u32, 4);
        let out = run(&ds, |i| i % 49 == 0);
        assert!(out.findings.iter().all(|f| f.severity == Severity::Info));
        assert!(out.scores.iter().all(|&s| s == 0.0));
    }
}
