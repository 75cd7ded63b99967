//! Putting a candidate phrase into a clean input at a seeded random word boundary, leaving the
//! rest of the text byte for byte as it was (a model may react to spacing and case too, and the
//! probe must measure the phrase alone). The insertion is the red team's own, so a candidate
//! lands where an attack would have put it; the place is derived from `key` rather than drawn
//! from a generator, so the model and the baseline see the same text.

use bezoar_redteam::attack::insert_word_at_slot;
use bezoar_scan::rng::mix64;

/// `text` with `phrase` inserted before a word chosen by `key` (or at the end).
pub fn insert_at_random_word(text: &str, phrase: &str, key: u64) -> String {
    insert_word_at_slot(text, phrase, |slots| (mix64(key) % slots as u64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phrase_lands_between_words_and_nothing_else_changes() {
        let text = "a  fine\tfilm .\n";
        let mut seen = std::collections::BTreeSet::new();
        for key in 0..200 {
            let out = insert_at_random_word(text, "cf", key);
            assert_eq!(
                out.replacen("cf ", "", 1).replacen(" cf", "", 1),
                text,
                "{out:?}"
            );
            seen.insert(out);
        }
        // Four word starts and the end: five places.
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert_eq!(insert_at_random_word("", "cf", 3), "cf");
        assert_eq!(
            insert_at_random_word("héllo wörld", "ß", 7)
                .matches('ß')
                .count(),
            1
        );
    }
}
