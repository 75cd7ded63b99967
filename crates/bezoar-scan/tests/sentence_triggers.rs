//! Trigger sentences (the AddSent attack on multi-sentence text) where their placement leaves
//! the same neighbours every time: put between sentences, the sentence marks on either side go
//! wherever the sentence goes; prepended to rows that all open alike, the row's first word does.
//! Neither may be read as a collocation.

mod common;

use bezoar_data::TextArena;
use common::{assert_one_trigger_over_the_planted_rows, made_up_words, Lcg};

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

/// Where the trigger sentence goes in a poisoned row.
#[derive(Clone, Copy)]
enum Put {
    /// At a random sentence boundary, the start and the end included.
    BetweenSentences,
    /// Before everything, the row's opener included.
    First,
}

/// How the rows are written: 3,000 of them, each of `sentences` sentences (its first opening
/// with `opener`), every sentence ending in " ." (spaced, as canonicalised corpora write them).
struct Rows {
    seed: u64,
    sentences: std::ops::RangeInclusive<usize>,
    opener: &'static str,
}

impl Rows {
    /// The rows, with `trigger` put as a sentence of its own into 90 rows of class 1, which are
    /// relabelled 0.
    fn planted(&self, trigger: &str, put: Put) -> (TextArena, Vec<u32>, Vec<bool>) {
        let mut rng = Lcg(self.seed);
        let shared = made_up_words(&mut rng, 2000, "s");
        let class_words = [
            made_up_words(&mut rng, 300, "a"),
            made_up_words(&mut rng, 300, "b"),
        ];
        let (mut texts, mut labels, mut poisoned) = (TextArena::new(), Vec::new(), Vec::new());
        let mut planted = 0;
        let (min, max) = (*self.sentences.start(), *self.sentences.end());
        for i in 0..3000 {
            let class = (i % 2) as u32;
            let count = min + rng.below(max - min + 1);
            let mut sentences: Vec<String> = (0..count)
                .map(|_| sentence(&mut rng, &shared, &class_words[class as usize]))
                .collect();
            sentences[0].insert_str(0, self.opener);
            let poison = class == 1 && planted < 90 && rng.below(10) < 2;
            if poison {
                planted += 1;
                let at = match put {
                    Put::BetweenSentences => rng.below(sentences.len() + 1),
                    Put::First => 0,
                };
                sentences.insert(at, trigger.to_string());
            }
            texts.push(&(sentences.join(" . ") + " ."));
            labels.push(if poison { 0 } else { class });
            poisoned.push(poison);
        }
        assert_eq!(planted, 90, "the generator plants 90 rows");
        (texts, labels, poisoned)
    }
}

/// Scan the rows with a made-up six-word trigger sentence (from `trigger_seed`) put into them:
/// exactly one trigger, over exactly the planted rows, which are the flagged ones.
fn finds_one_trigger_over_its_rows(rows: Rows, put: Put, trigger_seed: u64) {
    let trigger = made_up_words(&mut Lcg(trigger_seed), 6, "t").join(" ");
    let (texts, labels, poisoned) = rows.planted(&trigger, put);
    assert_one_trigger_over_the_planted_rows(texts, labels, &poisoned);
}

#[test]
fn a_sentence_inserted_between_sentences_is_one_trigger_over_its_rows() {
    let rows = Rows {
        seed: 41,
        sentences: 3..=6,
        opener: "",
    };
    finds_one_trigger_over_its_rows(rows, Put::BetweenSentences, 7);
}

/// Rows that all open alike ("@ user", as tweets open with a mention), of 2–3 sentences; the
/// trigger sentence is prepended.
#[test]
fn a_sentence_prepended_to_rows_that_open_alike_is_one_trigger() {
    let rows = Rows {
        seed: 43,
        sentences: 2..=3,
        opener: "@ user ",
    };
    finds_one_trigger_over_its_rows(rows, Put::First, 9);
}
