//! Showing untrusted strings to people: row text, ids, labels, and the names of datasets,
//! sources and identities all come from whoever wrote the data. Every human-readable output of
//! bezoar passes them through [`escape_invisible`], the one place that decides what a terminal
//! may receive raw.

use std::fmt::Write as _;

/// Characters that must not reach a terminal raw: controls (including ESC, which would let a row
/// drive the terminal), invisible format characters (zero-width, bidi overrides, tags, variation
/// selectors, BOM) and unusual spaces that look like an ordinary space.
pub fn needs_escape(c: char) -> bool {
    if c.is_control() {
        return true;
    }
    matches!(
        c as u32,
        0x00A0 // no-break space
            | 0x00AD // soft hyphen
            | 0x034F // combining grapheme joiner
            | 0x061C // arabic letter mark
            | 0x115F..=0x1160 // hangul fillers
            | 0x17B4..=0x17B5 // khmer inherent vowels
            | 0x180B..=0x180F // mongolian variation selectors / vowel separator
            | 0x2000..=0x200F // unusual spaces, zero-width space/joiners, LRM/RLM
            | 0x2028..=0x202F // line/paragraph separators, bidi embeddings/overrides, narrow nbsp
            | 0x205F..=0x206F // medium math space, word joiner, invisible operators, bidi isolates
            | 0x2800 // braille blank
            | 0x3000 // ideographic space
            | 0x3164 // hangul filler
            | 0xFE00..=0xFE0F // variation selectors
            | 0xFEFF // byte order mark / zero-width no-break space
            | 0xFFA0 // halfwidth hangul filler
            | 0xFFF9..=0xFFFB // interlinear annotation
            | 0x1D173..=0x1D17A // musical formatting
            | 0xE0000..=0xE007F // tags
            | 0xE0100..=0xE01EF // variation selectors supplement
    )
}

/// Append `c` to `out`, escaped when it is invisible or a control character: `\n`, `\r`, `\t`
/// for the common whitespace controls, `<U+XXXX>` for everything else.
pub fn push_escaped(out: &mut String, c: char) {
    if !needs_escape(c) {
        out.push(c);
        return;
    }
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        _ => {
            let _ = write!(out, "<U+{:04X}>", c as u32);
        }
    }
}

/// `s` with control and invisible characters made visible, e.g. a zero-width space becomes
/// `<U+200B>` and a newline becomes `\n`. Safe to print to a terminal.
pub fn escape_invisible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// The first `max_chars` characters of `s` (never splitting a UTF-8 sequence) and whether
/// anything was cut off.
pub fn truncate_chars(s: &str, max_chars: usize) -> (&str, bool) {
    match s.char_indices().nth(max_chars) {
        Some((byte, _)) => (&s[..byte], true),
        None => (s, false),
    }
}

/// Characters that make a spreadsheet read a CSV cell as a formula (OWASP "CSV injection"),
/// plus `'`, the escape itself, so that [`restore_csv_cell`] can always undo
/// [`neutralize_csv_cell`].
const FORMULA_START: &[char] = &['=', '+', '-', '@', '\t', '\r', '\''];

/// A CSV cell that a spreadsheet will show as text: a cell that starts like a formula
/// (`=cmd|'/c calc'!A1`, `@SUM(…)`, `+`, `-`, a tab or carriage return) gets a leading `'`.
/// Plain numbers such as `-1.5` stay as they are. Used for every report CSV that carries ids
/// from the data; bezoar's own readers undo it with [`restore_csv_cell`].
pub fn neutralize_csv_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(FORMULA_START) && cell.parse::<f64>().is_err();
    if risky {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// Undo [`neutralize_csv_cell`]: a leading `'` followed by a formula character is dropped.
pub fn restore_csv_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_START) && rest.parse::<f64>().is_err() => rest,
        _ => cell,
    }
}

/// A path as the path part of a URI: every byte outside RFC 3986's unreserved characters and
/// `/` is percent-encoded (so a hostile file name cannot break out of a URI or a report), from
/// the path's own bytes (a non-UTF-8 name is encoded as it is, not replaced).
pub fn uri_path(p: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_round_trip_and_never_start_a_formula() {
        for cell in [
            "=cmd|'/c calc'!A1",
            "@SUM(A1)",
            "+1+2",
            "-x",
            "\tx",
            "'quoted",
            "''=x",
            "plain",
            "-1.5",
            "42",
            "",
        ] {
            let out = neutralize_csv_cell(cell);
            assert!(
                !out.starts_with(['=', '+', '@', '\t', '\r'])
                    && (!out.starts_with('-') || out.parse::<f64>().is_ok()),
                "{cell:?} → {out:?}"
            );
            assert_eq!(restore_csv_cell(&out), cell, "{cell:?}");
        }
        assert_eq!(neutralize_csv_cell("=1+1"), "'=1+1");
        assert_eq!(neutralize_csv_cell("-1.5"), "-1.5");
    }

    #[test]
    fn uri_paths_encode_everything_but_unreserved_and_slashes() {
        let p = std::path::Path::new("/data/my file#1/ü.jsonl");
        assert_eq!(super::uri_path(p), "/data/my%20file%231/%C3%BC.jsonl");
    }
}
