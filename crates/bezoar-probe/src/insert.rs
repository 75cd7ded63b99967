//! Putting a candidate phrase into a clean input at a seeded random word boundary, leaving the
//! rest of the text byte for byte as it was (a model may react to spacing and case too, and the
//! probe must measure the phrase alone).

use bezoar_scan::rng::mix64;

/// `text` with `phrase` inserted before a word chosen by `key` (or at the end).
pub fn insert_at_random_word(text: &str, phrase: &str, key: u64) -> String {
    let mut starts: Vec<usize> = Vec::new();
    let mut prev_space = true;
    for (i, c) in text.char_indices() {
        if prev_space && !c.is_whitespace() {
            starts.push(i);
        }
        prev_space = c.is_whitespace();
    }
    // One slot per word start, plus the end of the text.
    let slot = (mix64(key) % (starts.len() as u64 + 1)) as usize;
    let mut out = String::with_capacity(text.len() + phrase.len() + 1);
    match starts.get(slot) {
        Some(&at) => {
            out.push_str(&text[..at]);
            out.push_str(phrase);
            out.push(' ');
            out.push_str(&text[at..]);
        }
        None => {
            let body = text.trim_end();
            out.push_str(body);
            if !body.is_empty() {
                out.push(' ');
            }
            out.push_str(phrase);
            out.push_str(&text[body.len()..]);
        }
    }
    out
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
