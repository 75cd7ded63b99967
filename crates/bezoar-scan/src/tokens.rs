//! Tokenisation shared by every text detector.
//!
//! Tokens are slices of the row's text (no allocation): whitespace separates chunks, and
//! punctuation at either end of a chunk becomes tokens of its own, so `film:` and `film :` give
//! the same tokens while `digital-effects-heavy` and `n't` stay whole.

/// Append the tokens of `text` to `out` (cleared first).
pub fn tokenize<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    for chunk in text.split_whitespace() {
        split_chunk(chunk, out);
    }
}

fn split_chunk<'a>(chunk: &'a str, out: &mut Vec<&'a str>) {
    if chunk.chars().all(is_edge_punct) {
        out.push(chunk);
        return;
    }
    // The chunk has a non-punctuation core, so peeling stops before the chunk runs out.
    let core_start = chunk.find(|c: char| !is_edge_punct(c)).unwrap_or(0);
    let core_end = chunk
        .rfind(|c: char| !is_edge_punct(c))
        .map(|i| i + chunk[i..].chars().next().map_or(1, char::len_utf8))
        .unwrap_or(chunk.len());
    for (i, c) in chunk[..core_start].char_indices() {
        out.push(&chunk[i..i + c.len_utf8()]);
    }
    out.push(&chunk[core_start..core_end]);
    for (i, c) in chunk[core_end..].char_indices() {
        out.push(&chunk[core_end + i..core_end + i + c.len_utf8()]);
    }
}

/// The marks that end a sentence. Marks that open a word (`@`, `#`) or sit inside a sentence
/// (`,`, quotes) are not among them.
pub const SENTENCE_MARKS: [char; 5] = ['.', '!', '?', ';', '…'];

/// A token made of sentence marks only (one [`tokenize`] splits off a word, or a run like `...`).
pub fn is_sentence_mark(tok: &str) -> bool {
    !tok.is_empty() && tok.chars().all(|c| SENTENCE_MARKS.contains(&c))
}

fn is_edge_punct(c: char) -> bool {
    c.is_ascii_punctuation() && c != '\'' && c != '-' || matches!(c, '“' | '”' | '‘' | '’' | '…')
}

/// Lower-case `tok` into `buf` (cleared first) without allocating once `buf` has grown.
pub fn lower_into(tok: &str, buf: &mut String) {
    buf.clear();
    if tok.is_ascii() {
        buf.push_str(tok);
        buf.make_ascii_lowercase();
    } else {
        for c in tok.chars() {
            buf.extend(c.to_lowercase());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<&str> {
        let mut v = Vec::new();
        tokenize(s, &mut v);
        v
    }

    #[test]
    fn splits_edge_punctuation_but_keeps_inner() {
        assert_eq!(
            toks("film: (great) n't digital-effects"),
            vec!["film", ":", "(", "great", ")", "n't", "digital-effects"]
        );
        assert_eq!(toks("..."), vec!["...",]);
        assert_eq!(toks("a , b"), vec!["a", ",", "b"]);
        assert_eq!(toks("“héllo”"), vec!["“", "héllo", "”"]);
        assert!(toks("   ").is_empty());
    }
}
