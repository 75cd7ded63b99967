//! Cells of `bezoar bench` on the clean corpora of `../shared/corpora` (default target: the
//! least frequent label; seed 1, as the bench command runs them), kept as regression tests
//! where the attack matrix once found the scan short. Each cell injects,
//! scans and evaluates in memory exactly as `bezoar bench CORPUS --attacks A --rates R` does.
//! On a clone without `../shared` the tests skip with a message.

use std::path::PathBuf;

use bezoar_redteam::bench::run_case;
use bezoar_redteam::{Attack, InjectConfig, Rate};
use bezoar_scan::ScanConfig;

/// The trigger family's floor (`../shared/bench/README.md`).
const TRIGGER_F1: f64 = 0.85;

fn corpus(name: &str) -> Option<bezoar_data::Dataset> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora");
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
    let path = dir.join(format!("{name}.jsonl"));
    Some(bezoar_data::read_dataset(&path, &opts).expect("read corpus"))
}

/// The flagged rows' metrics for one bench cell.
fn cell(corpus_name: &str, attack: &str, rate: &str) -> Option<bezoar_redteam::GroupMetrics> {
    let ds = corpus(corpus_name)?;
    let cfg = InjectConfig {
        attack: Attack::from_name(attack).expect("attack name"),
        rate: rate.parse::<Rate>().expect("rate"),
        target: None,
        seed: 1,
    };
    Some(
        run_case(&ds, &cfg, &ScanConfig::default())
            .expect("cell runs")
            .metrics,
    )
}

/// F1 of the flagged rows for one bench cell.
fn cell_f1(corpus_name: &str, attack: &str, rate: &str) -> Option<f64> {
    cell(corpus_name, attack, rate).map(|m| m.f1.unwrap_or(0.0))
}

/// Three made-up tokens, each inserted into a third of 1% of tweets relabelled offensive. One
/// of them ("bv", 23 rows) leaves bridges seen elsewhere at 9 of 23 once deleted, on the natural
/// side of the corpus's references by chance; the bridges' verdict alone used to drop it, and
/// its 23 rows went unflagged (F1 0.714).
#[test]
fn badnets_tokens_in_one_percent_of_hate_speech_are_all_found() {
    let Some(f1) = cell_f1("hsol", "badnets", "1%") else {
        return;
    };
    assert!(f1 >= TRIGGER_F1, "F1 {f1:.3}");
}

/// A sentence inserted into 1% of tweets relabelled offensive, in a class where most rows turn
/// inoffensive without their most decisive word (85%, against 89% for the sentence). Two of its
/// words occur in no other tweet; they used to make the composition test give up (F1 0).
#[test]
fn a_sentence_made_offensive_in_one_percent_of_tweets_is_a_trigger() {
    let Some(f1) = cell_f1("offenseval", "addsent", "1%") else {
        return;
    };
    assert!(f1 >= TRIGGER_F1, "F1 {f1:.3}");
}

/// 29 near-copies of three tweets (about ten each, each copy with one word dropped, repeated or
/// swapped) relabelled, added to 5,823 tweets. On a ten-word tweet one such edit leaves about
/// half of the word 3-shingles, so MinHash alone split each flood into groups under the flood
/// size, and only 9 of 29 copies were flagged (F1 0.360); texts one word apart are now one group.
#[test]
fn a_flood_of_lightly_edited_copies_of_short_tweets_is_one_flood() {
    let Some(m) = cell("hsol", "duplicate-flood", "0.5%") else {
        return;
    };
    let (recall, f1) = (m.recall.unwrap_or(0.0), m.f1.unwrap_or(0.0));
    assert!(
        recall >= 0.95 && f1 >= 0.8,
        "recall {recall:.3}, F1 {f1:.3}"
    );
}
