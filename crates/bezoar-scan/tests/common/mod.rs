//! Helpers shared by the scan integration tests (each test binary uses its own subset).
#![allow(dead_code)]

use bezoar_data::{Categorical, Dataset, ResolvedColumns, RowIds, SkipReport, TextArena};

/// A small deterministic generator, so the tests need no dependency.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A dataset of `texts` with labels "0" and "1", ids the row numbers, no sources.
pub fn two_class(texts: TextArena, labels: Vec<u32>) -> Dataset {
    Dataset {
        ids: RowIds::RowNumbers(labels.len()),
        texts,
        labels: Categorical {
            codes: labels,
            names: vec!["0".into(), "1".into()],
        },
        sources: None,
        embeddings: None,
        columns: ResolvedColumns::default(),
        skipped: SkipReport::default(),
        lines: Vec::new(),
    }
}

/// `count` made-up words, `{prefix}{3–7 random letters}{index}`: distinct, and unlike any real
/// word, so they stand for tokens and vocabularies the tests invent.
pub fn made_up_words(rng: &mut Lcg, count: usize, prefix: &str) -> Vec<String> {
    (0..count)
        .map(|i| {
            let len = 3 + rng.below(5);
            let body: String = (0..len)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect();
            format!("{prefix}{body}{i}")
        })
        .collect()
}

/// Row numbers of the planted (`true`) rows.
pub fn planted_rows(poisoned: &[bool]) -> Vec<u32> {
    (0..poisoned.len() as u32)
        .filter(|&i| poisoned[i as usize])
        .collect()
}

/// The scan's one trigger finding at `high` or above; fails the test, listing every finding's
/// title, unless there is exactly one.
pub fn the_trigger(res: &bezoar_scan::ScanResult) -> &bezoar_scan::Finding {
    let triggers: Vec<_> = res
        .findings
        .iter()
        .filter(|f| {
            f.detector == bezoar_scan::Detector::Trigger
                && f.severity >= bezoar_scan::Severity::High
        })
        .collect();
    assert_eq!(
        triggers.len(),
        1,
        "{:#?}",
        res.findings.iter().map(|f| &f.title).collect::<Vec<_>>()
    );
    triggers[0]
}

/// `text` with each of `tokens` put at a random gap between its whitespace-separated words (or
/// at either end), as an attacker inserts words into written text; the words are rejoined by
/// single spaces, `tokens` or none, so planted rows are spaced as every other row is.
pub fn with_inserted(text: &str, tokens: &[&str], rng: &mut Lcg) -> String {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    for &t in tokens {
        words.insert(rng.below(words.len() + 1), t);
    }
    words.join(" ")
}

/// A clean corpus of `../shared/corpora`, read with its `id` column; `None` (with a message)
/// on a clone without `../shared`.
pub fn shared_corpus(name: &str) -> Option<Dataset> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora");
    if !dir.is_dir() {
        eprintln!("skipping: ../shared/corpora not found beside the checkout");
        return None;
    }
    let opts = bezoar_data::ReadOptions {
        columns: bezoar_data::ColumnSpec {
            id: Some("id".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Some(bezoar_data::read_dataset(&dir.join(format!("{name}.jsonl")), &opts).expect("read corpus"))
}

/// Scan a two-class dataset of `texts` and `labels` and check that it reports exactly one
/// trigger, over exactly the `poisoned` rows, and flags exactly those rows.
pub fn assert_one_trigger_over_the_planted_rows(
    texts: TextArena,
    labels: Vec<u32>,
    poisoned: &[bool],
) {
    let res = bezoar_scan::scan(
        &two_class(texts, labels),
        &bezoar_scan::ScanConfig::default(),
        &bezoar_scan::NoProgress,
    )
    .expect("scan");
    let trigger = the_trigger(&res);
    assert_eq!(trigger.rows, planted_rows(poisoned), "{}", trigger.title);
    assert_eq!(
        res.flagged, poisoned,
        "flagged rows are exactly the planted ones"
    );
}
