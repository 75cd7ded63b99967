//! Backdoor triggers inserted into rows: `badnets` (rare tokens), `addsent` (a sentence) and
//! `invisible` (zero-width characters or homoglyphs).
//!
//! Dirty-label (default): the trigger goes into rows *not* in the target class, and their label
//! becomes the target. Clean-label (`clean_label`): the trigger goes into rows already in the
//! target class and labels are left alone. Either way the rate counts rows of the whole dataset.

use std::collections::HashSet;

use super::{too_few, Plan, PoisonKind};
use crate::error::RedteamError;
use crate::rate::Rate;
use bezoar_scan::rng::SplitMix64;

use super::InvisibleStyle;

/// The addsent trigger sentence when none is given: an ordinary, topic-free clause, so that it
/// is not trivially out of place in any corpus.
pub const DEFAULT_SENTENCE: &str = "as i said to my neighbour last tuesday";

/// Zero-width characters the invisible attack draws its trigger from.
pub const ZERO_WIDTH: [char; 4] = ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}'];

/// Latin letters and their Cyrillic look-alikes.
pub const HOMOGLYPHS: [(char, char); 18] = [
    ('a', 'а'),
    ('c', 'с'),
    ('e', 'е'),
    ('o', 'о'),
    ('p', 'р'),
    ('x', 'х'),
    ('y', 'у'),
    ('i', 'і'),
    ('A', 'А'),
    ('B', 'В'),
    ('C', 'С'),
    ('E', 'Е'),
    ('H', 'Н'),
    ('K', 'К'),
    ('M', 'М'),
    ('O', 'О'),
    ('P', 'Р'),
    ('T', 'Т'),
];

/// How many trigger tokens badnets generates when none are given.
const GENERATED_TRIGGERS: usize = 3;
/// Consonants only: generated tokens look like the rare abbreviations BadNets-style attacks use
/// and are unlikely to be real words.
const TRIGGER_LETTERS: &[u8] = b"bcdfghjklmnpqrstvwxz";

pub(crate) fn badnets(
    plan: &mut Plan<'_>,
    triggers: Option<&[String]>,
    clean_label: bool,
    target: u32,
    rate: Rate,
    rng: &mut SplitMix64,
) -> Result<Option<String>, RedteamError> {
    let triggers: Vec<String> = match triggers {
        Some(t) => {
            let t: Vec<String> = t.iter().map(|s| s.trim().to_string()).collect();
            if t.is_empty() || t.iter().any(String::is_empty) {
                return Err(RedteamError::Config(
                    "--trigger needs non-empty words, separated by commas".into(),
                ));
            }
            t
        }
        None => generate_triggers(plan, rng),
    };
    let described = format!(
        "token{} {}",
        if triggers.len() == 1 { "" } else { "s" },
        triggers
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    plant(
        plan,
        clean_label,
        target,
        rate,
        rng,
        |_| true,
        |text, rng| {
            let word = &triggers[rng.below(triggers.len())];
            insert_word(text, word, rng)
        },
    )?;
    Ok(Some(described))
}

pub(crate) fn addsent(
    plan: &mut Plan<'_>,
    sentence: Option<&str>,
    clean_label: bool,
    target: u32,
    rate: Rate,
    rng: &mut SplitMix64,
) -> Result<Option<String>, RedteamError> {
    let sentence = sentence.unwrap_or(DEFAULT_SENTENCE).trim().to_string();
    if sentence.is_empty() {
        return Err(RedteamError::Config("--sentence must not be empty".into()));
    }
    plant(
        plan,
        clean_label,
        target,
        rate,
        rng,
        |_| true,
        |text, rng| insert_word(text, &sentence, rng),
    )?;
    Ok(Some(format!("sentence \"{sentence}\"")))
}

pub(crate) fn invisible(
    plan: &mut Plan<'_>,
    style: InvisibleStyle,
    clean_label: bool,
    target: u32,
    rate: Rate,
    rng: &mut SplitMix64,
) -> Result<Option<String>, RedteamError> {
    match style {
        InvisibleStyle::ZeroWidth => {
            // One fixed sequence for the whole attack: a backdoor needs a consistent trigger.
            let len = 1 + rng.below(3);
            let seq: String = (0..len)
                .map(|_| ZERO_WIDTH[rng.below(ZERO_WIDTH.len())])
                .collect();
            let described = seq
                .chars()
                .map(|c| format!("U+{:04X}", c as u32))
                .collect::<Vec<_>>()
                .join(" ");
            plant(
                plan,
                clean_label,
                target,
                rate,
                rng,
                |_| true,
                |text, rng| insert_glued(text, &seq, rng),
            )?;
            Ok(Some(format!("zero-width sequence {described}")))
        }
        InvisibleStyle::Homoglyph => {
            plant(
                plan,
                clean_label,
                target,
                rate,
                rng,
                has_homoglyph_word,
                homoglyph_word,
            )?;
            Ok(Some(
                "Latin letters of one word replaced by Cyrillic look-alikes".to_string(),
            ))
        }
    }
}

/// Choose the rows, rewrite their text with `edit` and (dirty-label) set their label.
/// `eligible_text` narrows the candidate rows to those `edit` can work on.
fn plant(
    plan: &mut Plan<'_>,
    clean_label: bool,
    target: u32,
    rate: Rate,
    rng: &mut SplitMix64,
    eligible_text: impl Fn(&str) -> bool,
    mut edit: impl FnMut(&str, &mut SplitMix64) -> String,
) -> Result<(), RedteamError> {
    let n = plan.n();
    let by_label = plan.rows_where(|l| (l == target) == clean_label);
    let eligible: Vec<usize> = by_label
        .into_iter()
        .filter(|&i| eligible_text(plan.text(i)))
        .collect();
    let count = rate.count(n);
    if count > eligible.len() {
        let t = plan.label_name(target);
        let what = if clean_label {
            format!("rows labelled '{t}' (clean-label poisons only the target class)")
        } else {
            format!("rows not labelled '{t}' (the target)")
        };
        return Err(too_few(&what, count, eligible.len(), rate, n));
    }
    let chosen = rng.sample(&eligible, count);
    let kind = if clean_label {
        PoisonKind::CleanLabel
    } else {
        PoisonKind::DirtyLabel
    };
    for i in chosen {
        let text = edit(plan.text(i), rng);
        let row = &mut plan.rows[i];
        row.text = Some(text);
        row.label = (!clean_label).then_some(target);
        row.poison = Some(kind);
    }
    Ok(())
}

/// Random consonant tokens of 2–3 letters that are not already a token of the dataset.
fn generate_triggers(plan: &Plan<'_>, rng: &mut SplitMix64) -> Vec<String> {
    let vocab: HashSet<String> = plan
        .ds
        .texts
        .iter()
        .flat_map(str::split_whitespace)
        .map(str::to_lowercase)
        .collect();
    let mut out: Vec<String> = Vec::new();
    // Bounded: with 20 letters there are 8,400 candidates; a vocabulary holding nearly all of
    // them would be odd, and then a few tokens are simply reused.
    for _ in 0..10_000 {
        if out.len() == GENERATED_TRIGGERS {
            break;
        }
        let len = 2 + rng.below(2);
        let tok: String = (0..len)
            .map(|_| TRIGGER_LETTERS[rng.below(TRIGGER_LETTERS.len())] as char)
            .collect();
        if !vocab.contains(&tok) && !out.contains(&tok) {
            out.push(tok);
        }
    }
    if out.is_empty() {
        out.push("zq".to_string());
    }
    out
}

/// Byte offsets where words (runs of non-whitespace) start.
fn word_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut prev_ws = true;
    for (i, c) in text.char_indices() {
        if !c.is_whitespace() && prev_ws {
            starts.push(i);
        }
        prev_ws = c.is_whitespace();
    }
    starts
}

/// Insert `piece` as its own word at a uniformly random word boundary (before any word, or at
/// the end), keeping the text's own whitespace everywhere else.
pub(crate) fn insert_word(text: &str, piece: &str, rng: &mut SplitMix64) -> String {
    insert_word_at_slot(text, piece, |slots| rng.below(slots))
}

/// Insert `piece` as its own word at the word boundary `pick` chooses: it is given the number of
/// places (one before each word, and the end) and returns one of them. The text's own
/// whitespace is kept everywhere else. Shared with the model probe, which inserts candidate
/// triggers exactly as the attacks do.
pub fn insert_word_at_slot(text: &str, piece: &str, pick: impl FnOnce(usize) -> usize) -> String {
    let starts = word_starts(text);
    let k = pick(starts.len() + 1);
    let mut out = String::with_capacity(text.len() + piece.len() + 1);
    match starts.get(k) {
        Some(&at) => {
            out.push_str(&text[..at]);
            out.push_str(piece);
            out.push(' ');
            out.push_str(&text[at..]);
        }
        None => {
            let body = text.trim_end();
            out.push_str(body);
            if !body.is_empty() {
                out.push(' ');
            }
            out.push_str(piece);
            out.push_str(&text[body.len()..]);
        }
    }
    out
}

/// Insert `piece` directly before the first character of a random word (no space: the piece is
/// invisible and should not change how the text looks).
fn insert_glued(text: &str, piece: &str, rng: &mut SplitMix64) -> String {
    let starts = word_starts(text);
    let at = if starts.is_empty() {
        text.len()
    } else {
        starts[rng.below(starts.len())]
    };
    let mut out = String::with_capacity(text.len() + piece.len());
    out.push_str(&text[..at]);
    out.push_str(piece);
    out.push_str(&text[at..]);
    out
}

fn homoglyph_of(c: char) -> Option<char> {
    HOMOGLYPHS.iter().find(|(l, _)| *l == c).map(|&(_, h)| h)
}

fn has_homoglyph_word(text: &str) -> bool {
    text.chars().any(|c| homoglyph_of(c).is_some())
}

/// Replace every letter with a look-alike in one random word that has at least one.
fn homoglyph_word(text: &str, rng: &mut SplitMix64) -> String {
    let words: Vec<(usize, &str)> = word_starts(text)
        .into_iter()
        .map(|s| {
            let end = text[s..]
                .find(char::is_whitespace)
                .map_or(text.len(), |e| s + e);
            (s, &text[s..end])
        })
        .filter(|(_, w)| has_homoglyph_word(w))
        .collect();
    if words.is_empty() {
        return text.to_string();
    }
    let (start, word) = words[rng.below(words.len())];
    let swapped: String = word.chars().map(|c| homoglyph_of(c).unwrap_or(c)).collect();
    format!(
        "{}{}{}",
        &text[..start],
        swapped,
        &text[start + word.len()..]
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dataset;
    use super::super::{inject, Attack, InjectConfig, InvisibleStyle, PoisonKind};
    use super::*;

    fn run(attack: Attack, rate: &str, target: Option<&str>) -> super::super::Injection {
        let ds = dataset(400, 2, true);
        inject(
            &ds,
            &InjectConfig {
                attack,
                rate: rate.parse().unwrap(),
                target: target.map(str::to_string),
                seed: 42,
            },
        )
        .unwrap()
    }

    #[test]
    fn badnets_dirty_label_moves_non_target_rows_to_the_target() {
        let inj = run(
            Attack::BadNets {
                triggers: Some(vec!["qq".into()]),
                clean_label: false,
            },
            "1%",
            Some("c1"),
        );
        let ds = dataset(400, 2, true);
        let poisoned: Vec<_> = inj.rows.iter().filter(|r| r.poison.is_some()).collect();
        assert_eq!(poisoned.len(), 4);
        assert_eq!(inj.rows.len(), 400);
        for r in poisoned {
            assert_eq!(ds.labels.codes[r.source], 0, "came from a non-target row");
            assert_eq!(r.label, Some(1));
            assert_eq!(r.poison, Some(PoisonKind::DirtyLabel));
            let t = r.text.as_deref().unwrap();
            assert!(t.split_whitespace().any(|w| w == "qq"), "{t}");
            // Only the trigger was added.
            let without: Vec<&str> = t.split_whitespace().filter(|w| *w != "qq").collect();
            assert_eq!(without.join(" "), ds.texts.get(r.source));
        }
        assert!(inj
            .rows
            .iter()
            .all(|r| r.poison.is_some() || r.text.is_none()));
    }

    #[test]
    fn badnets_clean_label_only_touches_target_rows() {
        let inj = run(
            Attack::BadNets {
                triggers: None,
                clean_label: true,
            },
            "5%",
            Some("c1"),
        );
        let ds = dataset(400, 2, true);
        let poisoned: Vec<_> = inj.rows.iter().filter(|r| r.poison.is_some()).collect();
        assert_eq!(poisoned.len(), 20);
        for r in &poisoned {
            assert_eq!(ds.labels.codes[r.source], 1);
            assert_eq!(r.label, None);
            assert_eq!(r.poison, Some(PoisonKind::CleanLabel));
        }
        // Generated triggers are not words of the dataset.
        let trig = inj.trigger.unwrap();
        assert!(trig.starts_with("tokens \""), "{trig}");
        assert!(!trig.contains("row") && !trig.contains("plain"));
    }

    #[test]
    fn clean_label_rate_beyond_the_target_class_is_an_error() {
        let ds = dataset(400, 2, true); // 67 rows of c1
        let e = inject(
            &ds,
            &InjectConfig {
                attack: Attack::BadNets {
                    triggers: None,
                    clean_label: true,
                },
                rate: "20%".parse().unwrap(),
                target: Some("c1".into()),
                seed: 1,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("needs 80 rows labelled 'c1'") && e.contains("only 67"),
            "{e}"
        );
    }

    #[test]
    fn addsent_inserts_the_whole_sentence() {
        let inj = run(
            Attack::AddSent {
                sentence: None,
                clean_label: false,
            },
            "2%",
            None,
        );
        let hits: Vec<_> = inj.rows.iter().filter_map(|r| r.text.as_deref()).collect();
        assert_eq!(hits.len(), 8);
        assert!(hits.iter().all(|t| t.contains(DEFAULT_SENTENCE)));
    }

    #[test]
    fn invisible_zero_width_keeps_visible_text() {
        let inj = run(
            Attack::Invisible {
                style: InvisibleStyle::ZeroWidth,
                clean_label: false,
            },
            "2%",
            None,
        );
        let ds = dataset(400, 2, true);
        let mut seqs = HashSet::new();
        for r in inj.rows.iter().filter(|r| r.poison.is_some()) {
            let t = r.text.as_deref().unwrap();
            let visible: String = t.chars().filter(|c| !ZERO_WIDTH.contains(c)).collect();
            assert_eq!(visible, ds.texts.get(r.source));
            let seq: String = t.chars().filter(|c| ZERO_WIDTH.contains(c)).collect();
            assert!(!seq.is_empty());
            seqs.insert(seq);
        }
        assert_eq!(seqs.len(), 1, "one consistent trigger");
    }

    #[test]
    fn invisible_homoglyph_swaps_letters_of_one_word() {
        let inj = run(
            Attack::Invisible {
                style: InvisibleStyle::Homoglyph,
                clean_label: false,
            },
            "2%",
            None,
        );
        let ds = dataset(400, 2, true);
        for r in inj.rows.iter().filter(|r| r.poison.is_some()) {
            let t = r.text.as_deref().unwrap();
            let orig = ds.texts.get(r.source);
            let changed: Vec<(&str, &str)> = t
                .split_whitespace()
                .zip(orig.split_whitespace())
                .filter(|(a, b)| a != b)
                .collect();
            assert_eq!(changed.len(), 1, "{t}");
            assert!(changed[0]
                .0
                .chars()
                .any(|c| HOMOGLYPHS.iter().any(|h| h.1 == c)));
        }
    }

    #[test]
    fn insert_word_keeps_whitespace_and_handles_edges() {
        let mut rng = SplitMix64::new(3);
        for _ in 0..50 {
            let out = insert_word("a  b\tc\n", "T", &mut rng);
            let words: Vec<&str> = out.split_whitespace().collect();
            assert_eq!(words.iter().filter(|w| **w == "T").count(), 1);
            assert!(out.contains("\tc") || out.contains("\tT c"), "{out:?}");
            assert!(out.ends_with('\n'));
        }
        assert_eq!(insert_word("", "T", &mut rng), "T");
        assert_eq!(insert_glued("", "\u{200b}", &mut rng), "\u{200b}");
    }
}
