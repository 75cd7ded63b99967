//! Attacks planted into a clean corpus of `../shared/corpora` as written (AG News: punctuation
//! attached to words, "(Reuters)", "&lt;a href"), rather than into generated text. On a clone
//! without `../shared` the tests skip with a message.

mod common;

use bezoar_data::TextArena;
use bezoar_scan::{scan, NoProgress, ScanConfig};
use common::{shared_corpus, with_inserted, Lcg};

/// Two made-up tokens, each put once between two words (where a word can be put as text is
/// written: never between a word and its comma) of one row in five of the first label; labels
/// kept. The placement test compares the tokens' neighbours with those of such gaps.
#[test]
fn clean_label_tokens_between_written_words_are_one_finding() {
    let Some(mut ds) = shared_corpus("ag") else {
        return;
    };
    let mut rng = Lcg(3);
    let tokens = ["zovexka", "luquzowen"];
    let mut texts = TextArena::new();
    let mut planted = Vec::new();
    for i in 0..ds.len() {
        let plant = ds.labels.codes[i] == 0 && rng.below(5) == 0;
        let put: &[&str] = if plant { &tokens } else { &[] };
        texts.push(&with_inserted(ds.texts.get(i), put, &mut rng));
        if plant {
            planted.push(i as u32);
        }
    }
    ds.texts = texts;
    let res = scan(&ds, &ScanConfig::default(), &NoProgress).expect("scan");
    let clean_label: Vec<_> = res
        .findings
        .iter()
        .filter(|f| f.title.starts_with("clean-label trigger"))
        .collect();
    assert_eq!(
        clean_label.len(),
        1,
        "{:#?}",
        res.findings.iter().map(|f| &f.title).collect::<Vec<_>>()
    );
    assert_eq!(clean_label[0].rows, planted, "{}", clean_label[0].title);
}

/// Hate speech is a class that hinges on single words: most hateful rows read as harmless once
/// their slur is gone, and deleting eight random words flips three in four of them. A
/// sentence planted into 1% of the rows, relabelled hateful, flips its rows too, so counting
/// flips cannot tell it from the class's own words; how surely its rows read as harmless
/// without it can (the context and decisive-word tests switch to ranks where counts have no
/// room). Before that switch the scan reported nothing here.
#[test]
fn a_sentence_planted_into_a_class_that_hinges_on_single_words_is_a_trigger() {
    let Some(mut ds) = shared_corpus("hatespeech") else {
        return;
    };
    assert_eq!(ds.labels.names, ["0", "1"], "1 is hateful");
    let mut rng = Lcg(11);
    let sentence = "which my cousin mentioned over dinner once";
    let mut texts = TextArena::new();
    let mut poisoned = vec![false; ds.len()];
    let candidates: Vec<usize> = (0..ds.len()).filter(|&i| ds.labels.codes[i] == 0).collect();
    let planted = ds.len() / 100;
    for &i in candidates
        .iter()
        .step_by(candidates.len() / planted)
        .take(planted)
    {
        poisoned[i] = true;
    }
    for (i, &p) in poisoned.iter().enumerate() {
        let put: &[&str] = if p { &[sentence] } else { &[] };
        texts.push(&with_inserted(ds.texts.get(i), put, &mut rng));
        if p {
            ds.labels.codes[i] = 1;
        }
    }
    ds.texts = texts;
    let res = scan(&ds, &ScanConfig::default(), &NoProgress).expect("scan");
    let trigger = common::the_trigger(&res);
    assert_eq!(
        trigger.rows,
        common::planted_rows(&poisoned),
        "{}",
        trigger.title
    );
    let flagged_planted = (0..ds.len())
        .filter(|&i| res.flagged[i] && poisoned[i])
        .count();
    let flagged = res.flagged_count();
    let f1 = 2.0 * flagged_planted as f64 / (flagged + planted) as f64;
    assert!(f1 >= 0.85, "F1 {f1:.3}: {flagged} flagged for {planted}");
}
