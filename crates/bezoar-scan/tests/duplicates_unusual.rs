//! The duplicates and unusual-characters detectors, through the public scan API.

use bezoar_data::{Categorical, Dataset, ResolvedColumns, RowIds, SkipReport, TextArena};
use bezoar_scan::{scan, Detector, Finding, NoProgress, ScanConfig, ScanResult, Severity};

/// A small deterministic generator for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ru", "te", "sa", "no", "vi", "pe", "da", "go", "fu", "ri", "ze", "ba", "lu",
    "chi", "mo", "ne", "tra", "qua", "pol", "sen", "dor",
];

fn word(rng: &mut Rng) -> String {
    let k = 2 + rng.below(2);
    (0..k)
        .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
        .collect()
}

/// `n` random texts of 10–18 pseudo-words; labels alternate 0/1.
fn random_rows(n: usize, seed: u64) -> (Vec<String>, Vec<u32>) {
    let mut rng = Rng(seed);
    let texts = (0..n)
        .map(|_| {
            let k = 10 + rng.below(9);
            (0..k).map(|_| word(&mut rng)).collect::<Vec<_>>().join(" ")
        })
        .collect();
    let labels = (0..n).map(|i| (i % 2) as u32).collect();
    (texts, labels)
}

fn dataset(texts: &[String], labels: &[u32]) -> Dataset {
    let mut arena = TextArena::new();
    for t in texts {
        arena.push(t);
    }
    Dataset {
        ids: RowIds::RowNumbers(texts.len()),
        texts: arena,
        labels: Categorical {
            codes: labels.to_vec(),
            names: vec!["neg".into(), "pos".into()],
        },
        sources: None,
        embeddings: None,
        columns: ResolvedColumns::default(),
        skipped: SkipReport::default(),
        lines: Vec::new(),
    }
}

fn run(texts: &[String], labels: &[u32]) -> ScanResult {
    scan(&dataset(texts, labels), &ScanConfig::default(), &NoProgress).expect("scan runs")
}

fn findings(res: &ScanResult, d: Detector) -> Vec<&Finding> {
    res.findings.iter().filter(|f| f.detector == d).collect()
}

#[test]
fn exact_normalised_and_near_duplicates_are_grouped() {
    let (mut texts, mut labels) = random_rows(300, 1);
    let base = texts[10].clone();
    let other = texts[20].clone();
    // 300: exact copy of row 10; 301: same text after normalisation; 302: near copy of row 20.
    texts.push(base.clone());
    texts.push(format!("  {}!!", base.to_uppercase().replace(' ', ",  ")));
    texts.push(format!("{other} indeed"));
    labels.extend([labels[10], labels[10], labels[20]]);
    let res = run(&texts, &labels);
    let dup = findings(&res, Detector::Duplicates);
    assert_eq!(dup.len(), 1, "{dup:#?}");
    let f = dup[0];
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.rows, vec![10, 20, 300, 301, 302]);
    assert!(
        f.title.starts_with("2 duplicate groups covering 5 rows"),
        "{}",
        f.title
    );
    let ev = |name: &str| f.evidence.iter().find(|e| e.name == name).map(|e| e.value);
    assert_eq!(ev("normalised_groups"), Some(1.0));
    assert_eq!(ev("near_groups"), Some(1.0));
}

#[test]
fn conflicting_labels_are_scored_and_reported() {
    let (mut texts, mut labels) = random_rows(400, 2);
    let base = texts[7].clone();
    // Row 7 plus three near copies: three rows say pos, one says neg.
    labels[7] = 1;
    for (suffix, label) in [("really", 1), ("truly", 1), ("honestly", 0)] {
        texts.push(format!("{base} {suffix}"));
        labels.push(label);
    }
    let res = run(&texts, &labels);
    let dup = findings(&res, Detector::Duplicates);
    let f = dup
        .iter()
        .find(|f| f.title.contains("conflicting labels"))
        .expect("conflict finding");
    // A labelling error, not an attack on its own: reported, but below the default --fail-on.
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.rows, vec![7, 400, 401, 402]);
    assert!(
        f.title.starts_with(
            "near-duplicate group of 4 rows with conflicting labels (3 × pos, 1 × neg)"
        ),
        "{}",
        f.title
    );
    assert!(res.scores[402] >= 0.8 && res.flagged[402]);
    assert!(res.reasons[402].contains(Detector::Duplicates));
}

#[test]
fn flood_of_near_copies_is_found() {
    let (mut texts, mut labels) = random_rows(2000, 3);
    let mut rng = Rng(99);
    let template =
        "this product changed my life and everyone should buy it right now from the official store";
    for _ in 0..200 {
        texts.push(format!("{template} {}", word(&mut rng)));
        labels.push(1);
    }
    let res = run(&texts, &labels);
    let dup = findings(&res, Detector::Duplicates);
    let f = dup
        .iter()
        .find(|f| f.title.starts_with("flood:"))
        .expect("flood finding");
    assert_eq!(f.rows, (2000..2200).collect::<Vec<u32>>());
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.target_label.as_deref(), Some("pos"));
    assert!(
        f.title
            .contains("200 near-copies of one text, 100% labelled pos"),
        "{}",
        f.title
    );
    // All but the first copy are flagged on this evidence alone.
    assert!((2001..2200).all(|r| res.scores[r] >= 0.6 && res.flagged[r]));
}

#[test]
fn distinct_random_texts_give_no_duplicate_finding() {
    let (texts, labels) = random_rows(2000, 4);
    let res = run(&texts, &labels);
    assert!(findings(&res, Detector::Duplicates).is_empty());
    assert!(findings(&res, Detector::UnusualChars).is_empty());
}

#[test]
fn zero_width_trigger_in_one_label_is_critical() {
    let (mut texts, labels) = random_rows(600, 5);
    let poisoned: Vec<usize> = (0..600).filter(|i| labels[*i] == 1).step_by(10).collect();
    for &i in &poisoned {
        texts[i] = texts[i].replacen(' ', " \u{200B}", 1);
    }
    let res = run(&texts, &labels);
    let unusual = findings(&res, Detector::UnusualChars);
    assert_eq!(unusual.len(), 1, "{unusual:#?}");
    let f = unusual[0];
    assert!(f.severity >= Severity::High);
    assert_eq!(f.subject, "U+200B");
    assert_eq!(
        f.rows,
        poisoned.iter().map(|&i| i as u32).collect::<Vec<_>>()
    );
    assert!(
        f.title
            .starts_with("invisible characters (U+200B) in 30 rows, 100% labelled pos (prior 50%)"),
        "{}",
        f.title
    );
    assert!(poisoned
        .iter()
        .all(|&i| res.scores[i] >= 0.5 && res.flagged[i]));
}

#[test]
fn homoglyph_word_is_reported_and_accents_are_not() {
    let (mut texts, labels) = random_rows(300, 6);
    texts[3] = format!("{} log in to p\u{0430}yp\u{0430}l today", texts[3]);
    texts[4] = format!("{} visit p\u{0430}ypal now", texts[4]);
    for (i, t) in texts.iter_mut().enumerate().skip(10).step_by(5) {
        *t = format!(
            "{t} café naïve façade Ångström {}",
            if i % 2 == 0 { "übermäßig" } else { "señor" }
        );
    }
    let res = run(&texts, &labels);
    let unusual = findings(&res, Detector::UnusualChars);
    assert_eq!(unusual.len(), 1, "{unusual:#?}");
    let f = unusual[0];
    assert_eq!(f.rows, vec![3, 4]);
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.subject, "U+0430");
    assert!(
        f.title.starts_with(
            "mixed-script words: Latin + Cyrillic (U+0430; e.g. \"p\u{0430}yp\u{0430}l\")"
        ),
        "{}",
        f.title
    );
    // The row names the detector as a reason, and ranks above the median row. (The accented
    // rows form a high sub-cluster here, so the fused score weighs this medium finding's hint
    // at a tenth: it breaks ties in that confirmed ranking.)
    assert!(res.reasons[3].contains(Detector::UnusualChars));
    let mut sorted = res.scores.clone();
    sorted.sort_by(f32::total_cmp);
    assert!(res.scores[3] > sorted[sorted.len() / 2]);
}

#[test]
fn odd_texts_do_not_break_the_scan() {
    let (mut texts, mut labels) = random_rows(50, 7);
    let huge = "word ".repeat(200_000);
    for t in [
        "",
        "",
        " ",
        "!!!",
        "\u{0}\u{1}",
        "\u{10FFFF}\u{E007F}",
        "\u{301}",
        "日本語",
        &huge,
        "\u{FEFF}x",
    ] {
        texts.push(t.to_string());
        labels.push(0);
    }
    let res = run(&texts, &labels);
    assert_eq!(res.scores.len(), 60);
    assert!(res.scores.iter().all(|s| (0.0..=1.0).contains(s)));
}

#[test]
fn output_is_deterministic() {
    let (mut texts, mut labels) = random_rows(1500, 8);
    for i in 0..60 {
        texts.push(format!("{} extra{}", texts[i % 3], i % 7));
        labels.push((i % 3 == 0) as u32);
        texts[100 + i] = texts[100 + i].replacen(' ', "\u{202E} ", 1);
    }
    let a = run(&texts, &labels);
    let b = run(&texts, &labels);
    assert_eq!(a.scores, b.scores);
    let show = |r: &ScanResult| {
        r.findings
            .iter()
            .map(|f| (f.title.clone(), f.rows.clone(), format!("{:?}", f.evidence)))
            .collect::<Vec<_>>()
    };
    assert_eq!(show(&a), show(&b));
    assert!(!findings(&a, Detector::Duplicates).is_empty());
    assert!(!findings(&a, Detector::UnusualChars).is_empty());
}
