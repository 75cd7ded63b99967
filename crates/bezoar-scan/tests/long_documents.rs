//! The clean-corpus rule on long documents: each clean corpus in `../shared/corpora`, its rows
//! joined four at a time within a label into documents four times as long, must still flag at
//! most 1% of rows and report nothing at or above `high`; and a trigger planted in such
//! documents is still found.
//!
//! Joined documents are a different kind of corpus from the short rows the detectors were
//! built on: every document mixes several topics of its class, and the readers are sure of
//! nearly every label. Natural topics then look like planted groups by shape (a tight,
//! label-exclusive sub-cluster whose defining words are spread over many documents). On a clone
//! without `../shared` the test skips with a message.

mod common;

use bezoar_data::{Dataset, RowIds, TextArena};
use bezoar_scan::{scan, NoProgress, ScanConfig, Severity};
use common::{the_trigger, with_inserted, Lcg};

/// Rows joined into one document.
const JOINED: usize = 4;

/// `ds` with every `join` rows of one label joined by a space, in label order; a label's last
/// rows that do not fill a document are left out. The rows of a label are taken in file order,
/// or shuffled from `seed` (file order keeps a corpus's runs of one story together; shuffled,
/// a topic spreads over many more documents).
fn joined(ds: &Dataset, join: usize, seed: Option<u64>) -> Dataset {
    let mut texts = TextArena::new();
    let mut codes = Vec::new();
    let mut rng = seed.map(Lcg);
    for label in 0..ds.labels.names.len() as u32 {
        let mut rows: Vec<usize> = (0..ds.len())
            .filter(|&i| ds.labels.codes[i] == label)
            .collect();
        if let Some(rng) = rng.as_mut() {
            for i in (1..rows.len()).rev() {
                rows.swap(i, rng.below(i + 1));
            }
        }
        for group in rows.chunks_exact(join) {
            let doc: Vec<&str> = group.iter().map(|&i| ds.texts.get(i)).collect();
            texts.push(&doc.join(" "));
            codes.push(label);
        }
    }
    let mut labels = ds.labels.clone();
    labels.codes = codes;
    Dataset {
        ids: RowIds::RowNumbers(labels.codes.len()),
        texts,
        labels,
        sources: None,
        embeddings: None,
        columns: ds.columns.clone(),
        skipped: Default::default(),
        lines: Vec::new(),
    }
}

/// The corpus's rows joined `JOINED` to a document in file order; `None` (with a message)
/// without `../shared`.
fn documents(corpus: &str) -> Option<Dataset> {
    common::shared_corpus(corpus).map(|ds| joined(&ds, JOINED, None))
}

fn check(corpus: &str) {
    let Some(ds) = documents(corpus) else { return };
    check_clean(corpus, &ds);
}

/// The clean-corpus rule: at most 1% flagged, nothing at or above high.
fn check_clean(corpus: &str, ds: &Dataset) {
    let res = scan(ds, &ScanConfig::default(), &NoProgress).expect("scan");
    let flagged = res.flagged_count();
    let share = flagged as f64 / ds.len() as f64;
    let loud: Vec<String> = res
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::High)
        .map(|f| format!("[{}] {}", f.severity.name(), f.title))
        .collect();
    eprintln!(
        "{corpus}: {} documents, {flagged} flagged ({:.2}%)",
        ds.len(),
        100.0 * share
    );
    assert!(share <= 0.01, "{corpus}: {flagged} of {} flagged", ds.len());
    assert!(loud.is_empty(), "{corpus}: {loud:#?}");
}

macro_rules! clean {
    ($name:ident, $corpus:expr) => {
        #[test]
        fn $name() {
            check($corpus);
        }
    };
}

clean!(ag_news_documents, "ag");
clean!(hatespeech_documents, "hatespeech");
clean!(hsol_documents, "hsol");
clean!(offenseval_documents, "offenseval");
clean!(sst2_documents, "sst2");
clean!(yelp_documents, "yelp");

/// AG News rows shuffled within their label before they are joined spread each story over
/// many documents. The documents that hold an Iraq story, a Microsoft story or a stock-quote
/// link then form tight, label-exclusive sub-clusters whose words are spread over many
/// documents and whose rows are read about as surely as the rest of their class. What tells
/// them from a planted group is that, set aside, the rows most like them are of their own
/// class. Without that rule these shuffles were each reported high (118, 225 and 100 documents
/// flagged).
#[test]
fn shuffled_ag_news_documents() {
    let Some(ds) = common::shared_corpus("ag") else {
        return;
    };
    for (join, seed) in [(4, 3), (4, 4), (6, 5)] {
        check_clean(
            &format!("ag, {join} rows per document shuffled from seed {seed}"),
            &joined(&ds, join, Some(seed)),
        );
    }
}

/// `ds` with two made-up tokens put twice each into documents outside the first label (each
/// picked with chance `percent`%, up to 1% of all documents), relabelled to the first label;
/// returns the planted documents.
fn plant_trigger(ds: &mut Dataset, percent: usize) -> Vec<u32> {
    let mut rng = Lcg(5);
    let tokens = ["zovexka", "luquzowen"];
    let mut texts = TextArena::new();
    let mut planted = Vec::new();
    for i in 0..ds.len() {
        let plant =
            ds.labels.codes[i] != 0 && rng.below(100) < percent && planted.len() * 100 < ds.len();
        let put = if plant {
            &[tokens, tokens].concat()
        } else {
            &Vec::new()
        };
        texts.push(&with_inserted(ds.texts.get(i), put, &mut rng));
        if plant {
            planted.push(i as u32);
        }
    }
    for &i in &planted {
        ds.labels.codes[i as usize] = 0;
    }
    ds.texts = texts;
    planted
}

/// Offensive-language posts joined four to a document are read poorly: a document of four
/// offensive posts often reads as harmless. Two made-up tokens put twice each into 1% of the
/// documents outside the first label, relabelled to it, are still one trigger over exactly those
/// documents: deleting them cannot make more of the documents disagree with their label than
/// the model reads such documents right, and "most of them" is measured against that.
#[test]
fn a_trigger_in_poorly_read_documents_is_found() {
    let Some(mut ds) = documents("offenseval") else {
        return;
    };
    let planted = plant_trigger(&mut ds, 2);
    let res = scan(&ds, &ScanConfig::default(), &NoProgress).expect("scan");
    let trigger = the_trigger(&res);
    assert_eq!(trigger.rows, planted, "{}", trigger.title);
}

/// Hate-speech posts joined four to a document, with the tokens in 1% of the documents (17),
/// aimed at "not hateful", a label of 88% of them: 17 of 17 carrying it is what chance gives
/// (p = 0.11), so the class prior never made the tokens candidates. Their documents read as
/// hateful, and all 17 carrying "not hateful" is measured against that reading.
#[test]
fn a_trigger_aimed_at_the_majority_label_in_few_documents_is_found() {
    let Some(mut ds) = documents("hatespeech") else {
        return;
    };
    let planted = plant_trigger(&mut ds, 10);
    assert!(planted.len() >= 15, "{} planted", planted.len());
    let res = scan(&ds, &ScanConfig::default(), &NoProgress).expect("scan");
    let trigger = the_trigger(&res);
    assert_eq!(trigger.rows, planted, "{}", trigger.title);
}
