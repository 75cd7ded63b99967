//! The one grammar for names that users (and attackers) choose: datasets, sources and
//! identities. Every entry point checks names here — command-line flags, grants, policy tables
//! and source values read from data files — so a name can never carry a path separator, a
//! control or bidi character, or a newline that forges a log line.
//!
//! Grammar: 1–64 characters; the first an ASCII letter or digit; the rest ASCII letters, digits,
//! `-`, `_` and `.` (identities may also use `@` and `:`, for e-mail-like and service names).
//! So `.`, `..`, `*`, `a/b` and names starting with `-` are all refused.
//!
//! Names never become paths unchecked: files named after a snapshot go through
//! [`file_stem`], which falls back to the snapshot's number for names stored by older versions.

use bezoar_data::display::{escape_invisible, truncate_chars};

use crate::error::{LedgerError, Result};

/// Longest dataset, source or identity name, in bytes (all names are ASCII).
pub const MAX_NAME_LEN: usize = 64;
/// Longest row id, in bytes. Ids are shown and stored per row; a limit keeps a hostile file
/// from making every row megabytes of id.
pub const MAX_ROW_ID_BYTES: usize = 256;

/// What a name names; decides the extra characters allowed and the wording of errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Dataset,
    Source,
    Identity,
    Model,
    ModelVersion,
}

impl NameKind {
    fn noun(self) -> &'static str {
        match self {
            NameKind::Dataset => "dataset",
            NameKind::Source => "source",
            NameKind::Identity => "identity",
            NameKind::Model => "model",
            NameKind::ModelVersion => "model version",
        }
    }

    fn extra_chars(self) -> &'static str {
        match self {
            NameKind::Identity => "-_.@:",
            NameKind::ModelVersion => "-_.+",
            _ => "-_.",
        }
    }

    /// The grammar in words, for error messages and `--help`.
    pub fn rule(self) -> String {
        format!(
            "1-{MAX_NAME_LEN} characters from A-Z a-z 0-9 {}, starting with a letter or digit",
            self.extra_chars()
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
}

/// Whether `name` follows the grammar for `kind`.
pub fn is_valid_name(kind: NameKind, name: &str) -> bool {
    let extra = kind.extra_chars();
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= MAX_NAME_LEN
        && first.is_ascii_alphanumeric()
        && chars.all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// `Ok` when `name` follows the grammar, else an error that shows the name escaped.
pub fn check_name(kind: NameKind, name: &str) -> Result<()> {
    if is_valid_name(kind, name) {
        return Ok(());
    }
    Err(LedgerError::Invalid(format!(
        "invalid {} name '{}'{}: use {}",
        kind.noun(),
        escape_invisible(&shorten(name)),
        if name.len() > MAX_NAME_LEN {
            format!(" ({} bytes)", name.len())
        } else {
            String::new()
        },
        kind.rule()
    )))
}

/// Why a row id is refused, if it is: empty, longer than [`MAX_ROW_ID_BYTES`], or holding
/// control characters (which would forge lines wherever the id is shown).
pub fn row_id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        Some("empty row id".into())
    } else if id.len() > MAX_ROW_ID_BYTES {
        Some(format!(
            "row id of {} bytes (at most {MAX_ROW_ID_BYTES})",
            id.len()
        ))
    } else if id.chars().any(char::is_control) {
        Some(format!(
            "row id '{}' holds control characters",
            escape_invisible(&shorten(id))
        ))
    } else {
        None
    }
}

/// A file-name stem for `dataset@number`: the label itself when the dataset name follows the
/// grammar (always, for names checked on entry), else `snapshot-ID` — names recorded by older
/// versions never reach a path.
pub fn file_stem(dataset: &str, number: i64, snapshot_id: i64) -> String {
    if is_valid_name(NameKind::Dataset, dataset) {
        format!("{dataset}@{number}")
    } else {
        format!("snapshot-{snapshot_id}")
    }
}

/// At most 80 characters of `s`, for messages about over-long names.
pub(crate) fn shorten(s: &str) -> String {
    match truncate_chars(s, 80) {
        (head, true) => format!("{head}…"),
        (all, false) => all.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        for ok in [
            "reviews",
            "vendor-a",
            "a.b_c",
            "R2",
            "x".repeat(64).as_str(),
        ] {
            assert!(is_valid_name(NameKind::Dataset, ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../../etc/x",
            "a/b",
            "*",
            "-rf",
            "a b",
            "a\nb",
            "a@1",
            "é",
            "x".repeat(65).as_str(),
        ] {
            assert!(!is_valid_name(NameKind::Dataset, bad), "{bad:?}");
            assert!(!is_valid_name(NameKind::Source, bad), "{bad:?}");
        }
        assert!(is_valid_name(NameKind::Identity, "ci@build:1"));
        assert!(!is_valid_name(NameKind::Identity, "*"));
        assert!(!is_valid_name(NameKind::Identity, "@x"));
    }

    #[test]
    fn errors_escape_the_name() {
        let e = check_name(NameKind::Dataset, "a\nFAKE\u{1b}[31m").unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains('\n') && !msg.contains('\u{1b}'), "{msg}");
        assert!(msg.contains("a\\nFAKE<U+001B>[31m"), "{msg}");
        let long = "y".repeat(300);
        let msg = check_name(NameKind::Source, &long).unwrap_err().to_string();
        assert!(msg.contains("300 bytes") && msg.len() < 300, "{msg}");
    }

    #[test]
    fn row_ids_and_file_stems() {
        assert!(row_id_problem("r1").is_none());
        assert!(row_id_problem("").is_some());
        assert!(row_id_problem("a\nb").is_some());
        assert!(row_id_problem(&"i".repeat(MAX_ROW_ID_BYTES + 1)).is_some());
        assert_eq!(file_stem("reviews", 2, 7), "reviews@2");
        assert_eq!(file_stem("../../etc/x", 1, 3), "snapshot-3");
    }
}
