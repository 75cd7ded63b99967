//! Text helpers for showing untrusted row text: escaping invisible characters and truncating
//! on character boundaries.

pub use bezoar_data::display::{escape_invisible, truncate_chars};

/// A window of at most `max_chars` characters of `text`, placed so that the first occurrence of
/// `subject` is visible, split into `(escaped segment, is_subject)` pieces. `cut_front` /
/// `cut_back` say whether text was dropped before / after the window.
pub(crate) struct Excerpt {
    pub pieces: Vec<(String, bool)>,
    pub cut_front: bool,
    pub cut_back: bool,
}

/// Byte ranges where `subject` occurs in `text`: exact matches when there are any, otherwise
/// ASCII-case-insensitive ones (detectors may normalise case). Non-overlapping, ascending.
fn find_matches(text: &str, subject: &str) -> Vec<(usize, usize)> {
    if subject.is_empty() || subject.len() > text.len() {
        return Vec::new();
    }
    let collect = |hay: &str, needle: &str| -> Vec<(usize, usize)> {
        hay.match_indices(needle)
            .map(|(i, m)| (i, i + m.len()))
            .collect()
    };
    let exact = collect(text, subject);
    if !exact.is_empty() {
        return exact;
    }
    // ASCII lowercasing keeps byte offsets, so ranges found in the copy are valid in `text`.
    let lower_text = text.to_ascii_lowercase();
    let lower_subject = subject.to_ascii_lowercase();
    collect(&lower_text, &lower_subject)
}

pub(crate) fn excerpt(text: &str, subject: &str, max_chars: usize) -> Excerpt {
    let matches = find_matches(text, subject);
    let total_chars = text.chars().count();
    let (start_char, end_char) = if total_chars <= max_chars {
        (0, total_chars)
    } else {
        let anchor = matches
            .first()
            .map(|&(b, _)| text[..b].chars().count())
            .unwrap_or(0);
        let start = anchor
            .saturating_sub(max_chars / 3)
            .min(total_chars - max_chars);
        (start, start + max_chars)
    };
    let byte_at = |ch: usize| -> usize {
        text.char_indices()
            .nth(ch)
            .map(|(b, _)| b)
            .unwrap_or(text.len())
    };
    let (wb, we) = (byte_at(start_char), byte_at(end_char));

    let mut pieces: Vec<(String, bool)> = Vec::new();
    let mut push = |s: &str, hit: bool| {
        if s.is_empty() {
            return;
        }
        pieces.push((escape_invisible(s), hit));
    };
    let mut pos = wb;
    for &(ms, me) in &matches {
        // Clip each match to the window; matches are on char boundaries (whole UTF-8 needle).
        let (ms, me) = (ms.max(wb), me.min(we));
        if ms >= me || me <= pos {
            continue;
        }
        let ms = ms.max(pos);
        // The window edges are char boundaries, and so are match edges, so slicing is safe.
        push(&text[pos..ms], false);
        push(&text[ms..me], true);
        pos = me;
    }
    if pos < we {
        push(&text[pos..we], false);
    }
    Excerpt {
        pieces,
        cut_front: start_char > 0,
        cut_back: end_char < total_chars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_invisible_and_controls() {
        assert_eq!(escape_invisible("a\u{200b}b"), "a<U+200B>b");
        assert_eq!(escape_invisible("x\ny\tz"), "x\\ny\\tz");
        assert_eq!(escape_invisible("\u{1b}[31m"), "<U+001B>[31m");
        assert_eq!(escape_invisible("\u{202e}abc"), "<U+202E>abc");
        assert_eq!(escape_invisible("\u{e0041}"), "<U+E0041>");
        assert_eq!(escape_invisible("plain ünïcode ✓"), "plain ünïcode ✓");
    }

    #[test]
    fn truncation_at_multibyte_boundary_does_not_panic() {
        let s = "ééééé✓✓✓😀😀";
        for n in 0..15 {
            let (t, cut) = truncate_chars(s, n);
            assert_eq!(t.chars().count(), n.min(10));
            assert_eq!(cut, n < 10);
        }
        // Excerpts of every size around a multibyte subject.
        for n in 1..15 {
            let e = excerpt(s, "😀", n);
            let joined: String = e.pieces.iter().map(|p| p.0.as_str()).collect();
            assert!(joined.chars().count() <= n);
        }
    }

    #[test]
    fn excerpt_keeps_subject_visible() {
        let text = format!("{} cf {}", "x".repeat(300), "y".repeat(300));
        let e = excerpt(&text, "cf", 50);
        assert!(e.cut_front && e.cut_back);
        assert!(e.pieces.iter().any(|(s, hit)| *hit && s == "cf"));
        let joined: String = e.pieces.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(joined.chars().count(), 50);
    }

    #[test]
    fn excerpt_matches_case_insensitively_as_fallback() {
        let e = excerpt("Hello CF world", "cf", 100);
        assert_eq!(
            e.pieces,
            vec![
                ("Hello ".to_string(), false),
                ("CF".to_string(), true),
                (" world".to_string(), false)
            ]
        );
    }

    #[test]
    fn excerpt_escapes_invisible_subject() {
        let e = excerpt("a\u{200b}b", "\u{200b}", 100);
        assert_eq!(e.pieces[1], ("<U+200B>".to_string(), true));
    }
}
