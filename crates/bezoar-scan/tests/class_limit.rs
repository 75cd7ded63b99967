//! The scan's class limit: a label column with more distinct labels than
//! [`bezoar_scan::MAX_CLASSES`] is refused before any work; at the limit the scan runs every
//! detector in memory bounded by rows, not rows × classes.

mod common;

use bezoar_data::{Categorical, Dataset, TextArena};
use bezoar_scan::{scan, Detector, NoProgress, ScanConfig, ScanError, MAX_CLASSES};
use common::{two_class, Lcg};
use std::time::{Duration, Instant};

/// `rows` short texts, row `i` labelled `c{i % classes}`; each label has a few words of its own
/// among common filler.
fn dataset(rows: usize, classes: usize) -> Dataset {
    let mut rng = Lcg(7);
    let syllables = [
        "ka", "lo", "mi", "ter", "van", "so", "ru", "pel", "di", "nor",
    ];
    let word = |rng: &mut Lcg| -> String {
        (0..2 + rng.below(3))
            .map(|_| syllables[rng.below(syllables.len())])
            .collect()
    };
    let common: Vec<String> = (0..500).map(|_| word(&mut rng)).collect();
    let mut texts = TextArena::new();
    let mut labels = Vec::with_capacity(rows);
    for i in 0..rows {
        let y = i % classes;
        let mut words: Vec<String> = (0..4 + rng.below(6))
            .map(|_| common[rng.below(common.len())].clone())
            .collect();
        words.insert(
            rng.below(words.len() + 1),
            format!("own{}x{}", y, rng.below(3)),
        );
        texts.push(&words.join(" "));
        labels.push(y as u32);
    }
    let mut ds = two_class(texts, labels);
    ds.labels = Categorical {
        codes: ds.labels.codes,
        names: (0..classes).map(|c| format!("c{c}")).collect(),
    };
    ds
}

#[test]
fn fifty_thousand_distinct_labels_are_refused_before_any_work() {
    let ds = dataset(50_000, 50_000);
    assert_eq!(ds.num_classes(), 50_000);
    let t = Instant::now();
    let err = scan(&ds, &ScanConfig::default(), &NoProgress).expect_err("refused");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(matches!(
        err,
        ScanError::TooManyClasses {
            found: 50_000,
            limit: MAX_CLASSES
        }
    ));
    let msg = err.to_string();
    assert!(msg.contains("50000 distinct labels"), "{msg}");
    assert!(msg.contains(&MAX_CLASSES.to_string()), "{msg}");
    assert!(msg.contains("--label"), "{msg}");
    // One past the limit is refused too.
    let ds = dataset(MAX_CLASSES + 1, MAX_CLASSES + 1);
    assert!(matches!(
        scan(&ds, &ScanConfig::default(), &NoProgress),
        Err(ScanError::TooManyClasses { .. })
    ));
}

#[test]
fn a_scan_at_the_class_limit_runs_every_detector() {
    // Three rows per class: every label model, reader and detector meets a thousand classes.
    let ds = dataset(3 * MAX_CLASSES, MAX_CLASSES);
    let cfg = ScanConfig {
        folds: 3,
        ..ScanConfig::default()
    };
    let res = scan(&ds, &cfg, &NoProgress).expect("a scan at the limit runs");
    assert_eq!(res.scores.len(), ds.len());
    assert!(res.scores.iter().all(|s| (0.0..=1.0).contains(s)));
    let ran = |d: Detector| {
        res.detectors
            .iter()
            .find(|s| s.detector == d)
            .is_some_and(|s| s.skipped.is_none())
    };
    assert!(ran(Detector::LabelConsistency));
    assert!(ran(Detector::Trigger));
    // Same input, same result.
    let again = scan(&ds, &cfg, &NoProgress).unwrap();
    assert_eq!(res.scores, again.scores);
}
