//! The truth file: `id,poisoned,kind,attack`, one line per row of the poisoned dataset, in its
//! row order. `poisoned` is `1` or `0`; `kind` and `attack` are empty on clean rows.

use std::io::Write;
use std::path::Path;

use crate::error::RedteamError;

/// The header of a truth file.
pub const TRUTH_HEADER: [&str; 4] = ["id", "poisoned", "kind", "attack"];

/// One row of a truth file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthRow {
    pub id: String,
    pub poisoned: bool,
    /// `dirty-label`, `clean-label`, `label-flip`, `availability` (or whatever another tool
    /// wrote); empty on clean rows.
    pub kind: String,
    /// The attack that poisoned the row (`badnets`, …); empty on clean rows.
    pub attack: String,
}

/// Write a truth file (RFC 4180 CSV, `\n` line ends).
pub fn write_truth_csv<W: Write>(w: W, rows: &[TruthRow]) -> std::io::Result<()> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(w);
    out.write_record(TRUTH_HEADER)?;
    for r in rows {
        out.write_record([
            bezoar_data::display::neutralize_csv_cell(&r.id).as_ref(),
            if r.poisoned { "1" } else { "0" },
            r.kind.as_str(),
            r.attack.as_str(),
        ])?;
    }
    out.flush()
}

/// Read a truth file. Needs `id` and `poisoned` columns (`1`/`0`, `true`/`false`); `kind` and
/// `attack` are optional. Any other columns are ignored.
pub fn read_truth(path: &Path) -> Result<Vec<TruthRow>, RedteamError> {
    let mut rdr = open_csv(path)?;
    let header = headers(path, &mut rdr)?;
    let col = |name: &str| header.iter().position(|h| h == name);
    let id = require(path, &header, "id")?;
    let poisoned = require(path, &header, "poisoned")?;
    let kind = col("kind");
    let attack = col("attack");
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_error(path, e))?;
        let line = line_of(&rec);
        let field = |i: usize| rec.get(i).unwrap_or("");
        let p = parse_bool(field(poisoned)).ok_or_else(|| RedteamError::Malformed {
            file: path.to_path_buf(),
            line,
            message: format!(
                "column 'poisoned': expected 1, 0, true or false, found '{}'",
                field(poisoned)
            ),
        })?;
        rows.push(TruthRow {
            id: bezoar_data::display::restore_csv_cell(field(id)).to_string(),
            poisoned: p,
            kind: kind.map(field).unwrap_or("").to_string(),
            attack: attack.map(field).unwrap_or("").to_string(),
        });
    }
    if rows.is_empty() {
        return Err(RedteamError::invalid(path, "the truth file has no rows"));
    }
    Ok(rows)
}

/// `1`/`0`, `true`/`false`, `yes`/`no` (any case).
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

pub(crate) fn open_csv(path: &Path) -> Result<csv::Reader<std::fs::File>, RedteamError> {
    let file = std::fs::File::open(path).map_err(|e| RedteamError::io(path, e))?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(file))
}

/// The header fields, trimmed (a UTF-8 BOM on the first one is dropped).
pub(crate) fn headers(
    path: &Path,
    rdr: &mut csv::Reader<std::fs::File>,
) -> Result<Vec<String>, RedteamError> {
    let h = rdr.headers().map_err(|e| csv_error(path, e))?;
    let h: Vec<String> = h
        .iter()
        .map(|s| s.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    if h.iter().all(String::is_empty) {
        return Err(RedteamError::invalid(path, "the file is empty"));
    }
    Ok(h)
}

pub(crate) fn require(path: &Path, header: &[String], name: &str) -> Result<usize, RedteamError> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| RedteamError::Malformed {
            file: path.to_path_buf(),
            line: 1,
            message: format!("no '{name}' column; the header has: {}", header.join(", ")),
        })
}

pub(crate) fn line_of(rec: &csv::StringRecord) -> u64 {
    rec.position().map_or(0, |p| p.line())
}

pub(crate) fn csv_error(path: &Path, e: csv::Error) -> RedteamError {
    let line = e.position().map_or(0, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields (as in the header), found {len}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8: {err}"),
        _ => e.to_string(),
    };
    match e.into_kind() {
        csv::ErrorKind::Io(source) => RedteamError::io(path, source),
        _ => RedteamError::Malformed {
            file: path.to_path_buf(),
            line,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_quotes_awkward_ids() {
        let rows = vec![
            TruthRow {
                id: "a,1".into(),
                poisoned: true,
                kind: "dirty-label".into(),
                attack: "badnets".into(),
            },
            TruthRow {
                id: "b".into(),
                poisoned: false,
                kind: String::new(),
                attack: String::new(),
            },
        ];
        let mut buf = Vec::new();
        write_truth_csv(&mut buf, &rows).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "id,poisoned,kind,attack\n\"a,1\",1,dirty-label,badnets\nb,0,,\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, &text).unwrap();
        assert_eq!(read_truth(&p).unwrap(), rows);
    }

    #[test]
    fn bad_rows_name_the_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "id,poisoned\na,1\nb,maybe\n").unwrap();
        let e = read_truth(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("t.csv:3: column 'poisoned': expected 1, 0, true or false, found 'maybe'"),
            "{e}"
        );
        std::fs::write(&p, "id,label\na,1\n").unwrap();
        let e = read_truth(&p).unwrap_err().to_string();
        assert!(
            e.contains(":1: no 'poisoned' column; the header has: id, label"),
            "{e}"
        );
        std::fs::write(&p, "id,poisoned\na,1,extra\n").unwrap();
        let e = read_truth(&p).unwrap_err().to_string();
        assert!(e.contains(":2: expected 2 fields"), "{e}");
    }
}
