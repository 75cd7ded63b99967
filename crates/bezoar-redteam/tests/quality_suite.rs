//! The quality suite over `../shared` as a regression test: every benchmark set must reach its
//! need from `bench/sets.csv`, every clean corpus must pass (≤ 1% of rows flagged, nothing high
//! or critical), except where `RATCHET` records a lower level honestly reached so far. A
//! ratchet entry only ever rises, towards the need, as detection work lands; a set or corpus
//! that is not listed must meet its need, so a new set counts without a code change here.
//!
//! `bezoar quality ../shared` prints the same table. On a clone without `../shared` the tests
//! skip with a message.

use std::path::PathBuf;

use bezoar_redteam::quality::{discover, run_corpus, run_set, CLEAN_MAX_FLAGGED};
use bezoar_scan::{ScanConfig, Severity};

/// Sets still short of their need: the F1 and AUROC they hold (measured, rounded down).
const RATCHET: &[(&str, f64, f64)] = &[
    ("ag-shakespeare-5pct", 0.00, 0.91),
    // Lowered from 0.70 and 0.42 when the label score's pool came to hear only the readers
    // that explain the labels at least as well as the average one (pooled ≥ best single reader
    // on every flip set, AUROC up on ag-shakespeare and sst2-stylebkd).
    ("hsol-poetry-3pct", 0.00, 0.65),
    ("sst2-labelflip-5pct", 0.41, 0.88),
    // Below 0.5: the scan holds little signal on this one yet.
    ("sst2-stylebkd-20pct", 0.00, 0.39),
];

/// Flip sets where the pooled label readers still rank flips below their best single reader,
/// by at most this much AUROC. (None today: pooled ≥ best on every flip set.)
const READER_RATCHET: &[(&str, f64)] = &[];

/// Clean corpora still short: the largest share of rows flagged and the worst severity held.
/// (None today: every clean corpus passes.)
const CLEAN_RATCHET: &[(&str, f64, Severity)] = &[];

fn shared() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if ["bench", "corpora", "bench-llm", "corpora-llm"]
        .iter()
        .any(|sub| d.join(sub).is_dir())
    {
        Some(d)
    } else {
        eprintln!("skipping the quality suite: ../shared not found beside the checkout");
        None
    }
}

#[test]
fn every_benchmark_set_holds_its_need_or_ratchet() {
    let Some(root) = shared() else { return };
    let suite = discover(&root).expect("the suite is readable");
    let cfg = ScanConfig::default();
    let mut short = Vec::new();
    for spec in &suite.sets {
        let r = run_set(spec, false, &cfg).expect("set scans");
        let Some(need) = &r.need else {
            eprintln!("{}: no need in sets.csv, measured only", r.set);
            continue;
        };
        let (f1, auroc) = (r.metrics.f1.unwrap_or(0.0), r.metrics.auroc.unwrap_or(0.0));
        let (want_f1, want_auroc) = match RATCHET.iter().find(|(s, ..)| *s == r.set) {
            Some(&(_, f, a)) => (f.min(need.f1), a.min(need.auroc)),
            None => (need.f1, need.auroc),
        };
        eprintln!(
            "{:<30} F1 {f1:.3} (holds {want_f1:.3}, needs {:.3})  AUROC {auroc:.3} (holds {want_auroc:.3}, needs {:.3})  {:.1}s",
            r.set, need.f1, need.auroc, r.seconds
        );
        if f1 + 1e-9 < want_f1 || auroc + 1e-9 < want_auroc {
            short.push(format!(
                "{}: F1 {f1:.3} < {want_f1:.3} or AUROC {auroc:.3} < {want_auroc:.3}",
                r.set
            ));
        }
        if need.family == "flip" {
            let (pooled, best) = r
                .pooled_and_best_reader()
                .expect("label consistency runs on every flip set");
            let slack = READER_RATCHET
                .iter()
                .find(|(s, _)| *s == r.set)
                .map_or(0.0, |(_, gap)| *gap);
            let best_auroc = best.auroc.unwrap_or(0.0);
            eprintln!(
                "    label readers: pooled AUROC {pooled:.3}, best single {} {best_auroc:.3}",
                best.reader
            );
            if pooled + slack + 1e-9 < best_auroc {
                short.push(format!(
                    "{}: pooled label readers AUROC {pooled:.3} < best single reader {} {best_auroc:.3}",
                    r.set, best.reader
                ));
            }
        }
        if r.ok == Some(true) && RATCHET.iter().any(|(s, ..)| *s == r.set) {
            eprintln!("    {} now meets its need: remove its ratchet entry", r.set);
        }
    }
    assert!(
        short.is_empty(),
        "below need or ratchet:\n{}",
        short.join("\n")
    );
}

#[test]
fn every_clean_corpus_passes_or_holds_its_ratchet() {
    let Some(root) = shared() else { return };
    let suite = discover(&root).expect("the suite is readable");
    let cfg = ScanConfig::default();
    let mut short = Vec::new();
    for (name, path) in &suite.corpora {
        let r = run_corpus(name, path, &cfg).expect("corpus scans");
        let worst = r.max_severity.unwrap_or("none");
        eprintln!(
            "{name:<12} flagged {} of {} ({:.2}%), worst finding {worst}, {:.1}s",
            r.flagged,
            r.rows,
            100.0 * r.flagged_share,
            r.seconds
        );
        let ok = match CLEAN_RATCHET.iter().find(|(c, ..)| c == name) {
            Some(&(_, share, severity)) => {
                r.flagged_share <= share
                    && r.max_severity
                        .is_none_or(|w| w.parse::<Severity>().is_ok_and(|w| w <= severity))
            }
            None => r.ok,
        };
        if !ok {
            short.push(format!(
                "{name}: {:.2}% flagged (at most {:.0}%), worst finding {worst}",
                100.0 * r.flagged_share,
                100.0 * CLEAN_MAX_FLAGGED
            ));
        }
    }
    assert!(short.is_empty(), "false alarms:\n{}", short.join("\n"));
}
