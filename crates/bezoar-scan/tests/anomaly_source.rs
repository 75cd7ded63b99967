//! Representation anomalies and per-source rates, through the public `scan`.

mod common;

use bezoar_data::{Categorical, Dataset, TextArena};
use bezoar_scan::{scan, Detector, NoProgress, ScanConfig, ScanResult, Severity};
use common::{two_class, Lcg};

fn vocabulary(rng: &mut Lcg, size: usize) -> Vec<String> {
    (0..size)
        .map(|_| {
            let len = 3 + rng.below(6);
            (0..len)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect()
        })
        .collect()
}

fn sentence(rng: &mut Lcg, vocab: &[String]) -> Vec<String> {
    let len = 8 + rng.below(9);
    (0..len)
        .map(|_| vocab[rng.below(vocab.len())].clone())
        .collect()
}

fn capitalised(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn dataset(texts: &[String], labels: &[u32], sources: Option<(Vec<u32>, Vec<String>)>) -> Dataset {
    let mut arena = TextArena::new();
    for t in texts {
        arena.push(t);
    }
    Dataset {
        sources: sources.map(|(codes, names)| Categorical { codes, names }),
        ..two_class(arena, labels.to_vec())
    }
}

/// 2,000 rows of random words with random labels; when `planted`, rows 0..100 are restyled
/// (every word capitalised, clauses joined by semicolons) and labelled 1.
fn random_rows(seed: u64, planted: bool) -> (Vec<String>, Vec<u32>) {
    let mut rng = Lcg(seed);
    let vocab = vocabulary(&mut rng, 3000);
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for i in 0..2000 {
        let words = sentence(&mut rng, &vocab);
        if planted && i < 100 {
            let styled: Vec<String> = words.iter().map(|w| capitalised(w)).collect();
            let (a, b) = styled.split_at(styled.len() / 2);
            texts.push(format!("{}; {};", a.join(" "), b.join(" ")));
            labels.push(1);
        } else {
            texts.push(words.join(" "));
            labels.push(rng.below(2) as u32);
        }
    }
    (texts, labels)
}

fn run(ds: &Dataset) -> ScanResult {
    scan(ds, &ScanConfig::default(), &NoProgress).expect("scan runs")
}

/// Mann–Whitney AUROC of `scores` for `truth` (ties count half).
fn auroc(scores: &[f32], truth: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (i, &si) in scores.iter().enumerate() {
        if !truth[i] {
            continue;
        }
        for (j, &sj) in scores.iter().enumerate() {
            if truth[j] {
                continue;
            }
            pairs += 1.0;
            wins += if si > sj {
                1.0
            } else if si == sj {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / pairs
}

fn sub_clusters(res: &ScanResult) -> Vec<&bezoar_scan::Finding> {
    res.findings
        .iter()
        .filter(|f| f.detector == Detector::Anomaly && f.title.contains("sub-cluster"))
        .collect()
}

#[test]
fn planted_style_cluster_is_found_and_ranked_first() {
    let (texts, labels) = random_rows(11, true);
    let res = run(&dataset(&texts, &labels, None));
    let found = sub_clusters(&res);
    assert_eq!(
        found.len(),
        1,
        "{:#?}",
        res.findings.iter().map(|f| &f.title).collect::<Vec<_>>()
    );
    let f = found[0];
    assert_eq!(f.target_label.as_deref(), Some("1"));
    assert!(f.rows.windows(2).all(|w| w[0] < w[1]), "rows ascending");
    let planted_in = f.rows.iter().filter(|&&r| r < 100).count();
    assert!(
        planted_in >= 90,
        "{planted_in} of the planted rows in the finding: {}",
        f.title
    );
    assert!(f.rows.len() <= 150, "{}", f.title);
    // Within label 1, the planted rows outrank the rest.
    let class1: Vec<usize> = (0..texts.len()).filter(|&i| labels[i] == 1).collect();
    let scores: Vec<f32> = class1.iter().map(|&i| res.scores[i]).collect();
    let truth: Vec<bool> = class1.iter().map(|&i| i < 100).collect();
    let a = auroc(&scores, &truth);
    assert!(a >= 0.9, "AUROC within label 1 = {a:.3}");
    // Ordinary rows get graded, not identical, scores.
    let mut distinct: Vec<u32> = class1
        .iter()
        .filter(|&&i| i >= 100)
        .map(|&i| res.scores[i].to_bits())
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 100);
}

#[test]
fn homogeneous_random_data_has_no_sub_cluster() {
    for seed in [3, 5] {
        let (texts, labels) = random_rows(seed, false);
        let res = run(&dataset(&texts, &labels, None));
        assert!(
            sub_clusters(&res).is_empty(),
            "{:#?}",
            sub_clusters(&res)
                .iter()
                .map(|f| &f.title)
                .collect::<Vec<_>>()
        );
        let anomaly = res
            .detectors
            .iter()
            .find(|d| d.detector == Detector::Anomaly)
            .expect("anomaly ran");
        assert!(anomaly.skipped.is_none());
        assert_eq!(anomaly.rows_flagged, 0, "anomalies never flag a row alone");
    }
}

#[test]
fn source_with_concentrated_flags_is_found() {
    let mut rng = Lcg(21);
    let vocab = vocabulary(&mut rng, 3000);
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    let mut codes = Vec::new();
    for i in 0..2000 {
        let mut words = sentence(&mut rng, &vocab);
        let source = i % 5;
        // vendor-b (source 1) slipped a zero-width space into 100 of its 400 rows, all
        // labelled 1.
        if i % 20 == 1 {
            words[2].push('\u{200B}');
            labels.push(1);
        } else {
            labels.push(rng.below(2) as u32);
        }
        texts.push(words.join(" "));
        codes.push(source as u32);
    }
    let names: Vec<String> = ["vendor-a", "vendor-b", "vendor-c", "vendor-d", "vendor-e"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let res = run(&dataset(&texts, &labels, Some((codes, names))));
    let source = res
        .detectors
        .iter()
        .find(|d| d.detector == Detector::Source)
        .expect("source ran");
    assert!(source.skipped.is_none());
    let f = res
        .findings
        .iter()
        .find(|f| {
            f.detector == Detector::Source
                && f.subject == "vendor-b"
                && f.severity >= Severity::Medium
        })
        .unwrap_or_else(|| {
            panic!(
                "{:#?}",
                res.findings.iter().map(|f| &f.title).collect::<Vec<_>>()
            )
        });
    assert!(
        f.title.starts_with("source \"vendor-b\": ") && f.title.contains(" of 400 rows flagged"),
        "{}",
        f.title
    );
    assert!(
        f.rows.iter().filter(|&&r| r % 20 == 1).count() >= 90,
        "{}",
        f.title
    );
    assert!(res
        .findings
        .iter()
        .filter(|f| f.detector == Detector::Source && f.severity > Severity::Info)
        .all(|f| f.subject == "vendor-b"));
    let info = res
        .findings
        .iter()
        .find(|f| f.detector == Detector::Source && f.severity == Severity::Info)
        .expect("summary");
    assert!(info.title.contains("\"vendor-b\""), "{}", info.title);
}

#[test]
fn source_is_skipped_without_a_source_column() {
    let (texts, labels) = random_rows(7, false);
    let res = run(&dataset(&texts[..300], &labels[..300], None));
    let source = res
        .detectors
        .iter()
        .find(|d| d.detector == Detector::Source)
        .expect("source listed");
    assert_eq!(source.skipped.as_deref(), Some("needs --source"));
    assert!(res.findings.iter().all(|f| f.detector != Detector::Source));
}

#[test]
fn tiny_classes_do_not_break_anything() {
    // One class of 2 rows, one of 30, and a third label with a single row.
    let mut texts: Vec<String> = (0..33)
        .map(|i| format!("row number {i} says little"))
        .collect();
    texts[0] = String::new();
    let mut labels: Vec<u32> = vec![1; 33];
    labels[0] = 0;
    labels[1] = 0;
    labels[2] = 2;
    let mut ds = dataset(
        &texts,
        &labels,
        Some((
            (0..33).map(|i| (i % 2) as u32).collect(),
            vec!["a".into(), "b".into()],
        )),
    );
    ds.labels.names.push("2".into());
    let res = run(&ds);
    assert_eq!(res.scores.len(), 33);
    assert!(res
        .scores
        .iter()
        .all(|s| s.is_finite() && (0.0..=1.0).contains(s)));
}

#[test]
fn scans_are_deterministic_across_thread_counts() {
    let (texts, labels) = random_rows(11, true);
    let codes: Vec<u32> = (0..texts.len() as u32).map(|i| i % 3).collect();
    let ds = dataset(
        &texts,
        &labels,
        Some((codes, vec!["x".into(), "y".into(), "z".into()])),
    );
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
        .install(|| run(&ds));
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("pool")
        .install(|| run(&ds));
    assert_eq!(one.scores, two.scores);
    let titles = |r: &ScanResult| {
        r.findings
            .iter()
            .map(|f| (f.title.clone(), f.rows.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(titles(&one), titles(&two));
}
