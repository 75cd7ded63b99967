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
