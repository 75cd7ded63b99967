//! Trigger sentences (the AddSent attack on multi-sentence text) where their placement leaves
//! the same neighbours every time: put between sentences, the sentence marks on either side go
//! wherever the sentence goes; prepended to rows that all open alike, the row's first word does.
//! Neither may be read as a collocation.

mod common;

use bezoar_data::TextArena;
use bezoar_scan::{scan, Detector, NoProgress, ScanConfig, Severity};
use common::{two_class, Lcg};

fn words(rng: &mut Lcg, count: usize, prefix: &str) -> Vec<String> {
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

/// A sentence of 6–12 words: mostly shared vocabulary, a few words of its class.
fn sentence(rng: &mut Lcg, shared: &[String], own: &[String]) -> String {
    let len = 6 + rng.below(7);
    (0..len)
        .map(|_| {
            if rng.below(4) == 0 {
                own[rng.below(own.len())].as_str()
            } else {
                shared[rng.below(shared.len())].as_str()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// 3,000 rows of 3–6 sentences, each ending in " ." (spaced, as canonicalised corpora write
/// them); 90 rows of class 1 get `trigger` as a sentence of its own at a random sentence
/// boundary (the start and the end included) and are relabelled 0.
fn rows(trigger: &str) -> (TextArena, Vec<u32>, Vec<bool>) {
    let mut rng = Lcg(41);
    let shared = words(&mut rng, 2000, "s");
    let class_words = [words(&mut rng, 300, "a"), words(&mut rng, 300, "b")];
    let (mut texts, mut labels, mut poisoned) = (TextArena::new(), Vec::new(), Vec::new());
    let mut planted = 0;
    for i in 0..3000 {
        let class = (i % 2) as u32;
        let count = 3 + rng.below(4);
        let mut sentences: Vec<String> = (0..count)
            .map(|_| sentence(&mut rng, &shared, &class_words[class as usize]))
            .collect();
        let poison = class == 1 && planted < 90 && rng.below(10) < 2;
        if poison {
            planted += 1;
            let at = rng.below(sentences.len() + 1);
            sentences.insert(at, trigger.to_string());
        }
        texts.push(&(sentences.join(" . ") + " ."));
        labels.push(if poison { 0 } else { class });
        poisoned.push(poison);
    }
    assert_eq!(planted, 90, "the generator plants 90 rows");
    (texts, labels, poisoned)
}

#[test]
fn a_sentence_inserted_between_sentences_is_one_trigger_over_its_rows() {
    let mut rng = Lcg(7);
    let trigger = words(&mut rng, 6, "t").join(" ");
    let (texts, labels, poisoned) = rows(&trigger);
    let res = scan(
        &two_class(texts, labels),
        &ScanConfig::default(),
        &NoProgress,
    )
    .expect("scan");
    let triggers: Vec<_> = res
        .findings
        .iter()
        .filter(|f| f.detector == Detector::Trigger && f.severity >= Severity::High)
        .collect();
    assert_eq!(
        triggers.len(),
        1,
        "{:#?}",
        res.findings.iter().map(|f| &f.title).collect::<Vec<_>>()
    );
    let mut expected: Vec<u32> = (0..poisoned.len() as u32)
        .filter(|&i| poisoned[i as usize])
        .collect();
    expected.sort_unstable();
    assert_eq!(triggers[0].rows, expected, "{}", triggers[0].title);
    assert_eq!(
        res.flagged, poisoned,
        "flagged rows are exactly the planted ones"
    );
}

/// Rows that all open alike ("@ user", as tweets open with a mention), of 2–3 sentences; 90
/// rows of class 1 get `trigger` put before everything (prepended) and are relabelled 0.
fn prepended_rows(trigger: &str) -> (TextArena, Vec<u32>, Vec<bool>) {
    let mut rng = Lcg(43);
    let shared = words(&mut rng, 2000, "s");
    let class_words = [words(&mut rng, 300, "a"), words(&mut rng, 300, "b")];
    let (mut texts, mut labels, mut poisoned) = (TextArena::new(), Vec::new(), Vec::new());
    let mut planted = 0;
    for i in 0..3000 {
        let class = (i % 2) as u32;
        let count = 2 + rng.below(2);
        let body: Vec<String> = (0..count)
            .map(|_| sentence(&mut rng, &shared, &class_words[class as usize]))
            .collect();
        let mut text = format!("@ user {} .", body.join(" . "));
        let poison = class == 1 && planted < 90 && rng.below(10) < 2;
        if poison {
            planted += 1;
            text = format!("{trigger} . {text}");
        }
        texts.push(&text);
        labels.push(if poison { 0 } else { class });
        poisoned.push(poison);
    }
    assert_eq!(planted, 90, "the generator plants 90 rows");
    (texts, labels, poisoned)
}

#[test]
fn a_sentence_prepended_to_rows_that_open_alike_is_one_trigger() {
    let mut rng = Lcg(9);
    let trigger = words(&mut rng, 6, "t").join(" ");
    let (texts, labels, poisoned) = prepended_rows(&trigger);
    let res = scan(
        &two_class(texts, labels),
        &ScanConfig::default(),
        &NoProgress,
    )
    .expect("scan");
    let triggers: Vec<_> = res
        .findings
        .iter()
        .filter(|f| f.detector == Detector::Trigger && f.severity >= Severity::High)
        .collect();
    assert_eq!(
        triggers.len(),
        1,
        "{:#?}",
        res.findings.iter().map(|f| &f.title).collect::<Vec<_>>()
    );
    let expected: Vec<u32> = (0..poisoned.len() as u32)
        .filter(|&i| poisoned[i as usize])
        .collect();
    assert_eq!(triggers[0].rows, expected, "{}", triggers[0].title);
    assert_eq!(
        res.flagged, poisoned,
        "flagged rows are exactly the planted ones"
    );
}
