//! Clean-label triggers, through the public `scan`: a token put at random places into rows that
//! already carry the target label is found by where it stands, while the class's own words,
//! each with its usual neighbour, are not.

mod common;

use bezoar_data::TextArena;
use bezoar_scan::{scan, Detector, Finding, NoProgress, ScanConfig, ScanResult, Severity};
use common::{two_class, Lcg};

/// Filler text from a Markov chain in which each word has three usual successors, so adjacent
/// word pairs recur across rows as they do in language (what the bridge test measures).
fn filler(rng: &mut Lcg, words: usize) -> Vec<String> {
    const VOCAB: usize = 300;
    let mut w = rng.below(VOCAB);
    (0..words)
        .map(|_| {
            w = if rng.below(10) < 9 {
                (w * 7 + 1 + rng.below(3)) % VOCAB
            } else {
                rng.below(VOCAB)
            };
            format!("w{w}")
        })
        .collect()
}

/// 4,000 rows, half of each label. Every row holds filler and one word of its class, always
/// after "very", "so" or "really" (as "very good" in class 1, "so bad" in class 0: 30 words a
/// class). Up to `planted` rows of class 1 also get `per_row` distinct tokens of `tokens`, each
/// at a random gap.
fn rows(tokens: &[&str], per_row: usize, planted: usize) -> (TextArena, Vec<u32>, Vec<usize>) {
    let mut rng = Lcg(11);
    let mut texts = TextArena::new();
    let (mut labels, mut poisoned) = (Vec::new(), Vec::new());
    for i in 0..4000 {
        let label = (i % 2) as u32;
        let len = 10 + rng.below(8);
        let mut words = filler(&mut rng, len);
        let at = rng.below(words.len() + 1);
        let class_word = format!("c{label}x{}", rng.below(30));
        let intensifier = ["very", "so", "really"][rng.below(3)].to_string();
        words.splice(at..at, [intensifier, class_word]);
        if label == 1 && poisoned.len() < planted && rng.below(3) == 0 {
            // `per_row` distinct tokens, drawn at random.
            let mut chosen: Vec<&str> = Vec::new();
            while chosen.len() < per_row {
                let t = tokens[rng.below(tokens.len())];
                if !chosen.contains(&t) {
                    chosen.push(t);
                }
            }
            for t in chosen {
                let gap = rng.below(words.len() + 1);
                words.insert(gap, t.to_string());
            }
            poisoned.push(i);
        }
        texts.push(&words.join(" "));
        labels.push(label);
    }
    (texts, labels, poisoned)
}

/// The scan's one clean-label finding; fails the test unless there is exactly one.
fn the_clean_label_finding(res: &ScanResult) -> &Finding {
    let clean_label: Vec<&Finding> = res
        .findings
        .iter()
        .filter(|f| f.title.starts_with("clean-label trigger"))
        .collect();
    assert_eq!(clean_label.len(), 1, "{:#?}", res.findings);
    clean_label[0]
}

#[test]
fn a_token_placed_at_random_in_rows_of_their_own_label_is_a_clean_label_trigger() {
    let (texts, labels, poisoned) = rows(&["qzx"], 1, 300);
    assert_eq!(poisoned.len(), 300);
    let ds = two_class(texts, labels);
    let res = scan(&ds, &ScanConfig::default(), &NoProgress).expect("scan");
    let f = the_clean_label_finding(&res);
    assert_eq!(f.detector, Detector::Trigger);
    assert_eq!(f.severity, Severity::High);
    assert!(f.title.contains("\"qzx\""), "{}", f.title);
    let rows: Vec<usize> = f.rows.iter().map(|&r| r as usize).collect();
    assert_eq!(rows, poisoned);
    // Its rows are flagged, and no row of the class's own words is.
    let flagged: Vec<usize> = (0..res.flagged.len()).filter(|&i| res.flagged[i]).collect();
    assert_eq!(flagged, poisoned);
}

#[test]
fn the_classes_own_words_are_not_clean_label_triggers() {
    let (texts, labels, _) = rows(&[], 0, 0);
    let ds = two_class(texts, labels);
    let res = scan(&ds, &ScanConfig::default(), &NoProgress).expect("scan");
    let titles: Vec<&String> = res.findings.iter().map(|f| &f.title).collect();
    assert!(
        titles.iter().all(|t| !t.starts_with("clean-label trigger")),
        "{titles:#?}"
    );
}

#[test]
fn tokens_of_one_clean_label_campaign_are_one_finding() {
    // Two of six tokens to a row: each token covers a third of the rows and any two share a
    // fifteenth, so no pair overlaps by half and the overlap rule alone reports six findings.
    let tokens = ["qzx", "vkj", "wqp", "jxv", "zqk", "pvq"];
    let (texts, labels, poisoned) = rows(&tokens, 2, 450);
    assert_eq!(poisoned.len(), 450);
    let ds = two_class(texts, labels);
    let res = scan(&ds, &ScanConfig::default(), &NoProgress).expect("scan");
    let f = the_clean_label_finding(&res);
    assert!(f.title.contains("+5 related phrases"), "{}", f.title);
    let rows: Vec<usize> = f.rows.iter().map(|&r| r as usize).collect();
    assert_eq!(rows, poisoned);
}
