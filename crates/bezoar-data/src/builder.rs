//! Row assembly shared by every reader: column resolution, label/source interning, ids,
//! embeddings and the `--skip-invalid` bookkeeping.
//!
//! Readers turn one input row into a [`RowRef`] of borrowed values (reusing their own buffers)
//! and hand it to [`Builder::add_row`]; any problem found while doing so is reported through
//! [`Builder::fail`], which either records the row as skipped or turns it into the error to
//! return.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::dataset::{
    Categorical, Dataset, Embeddings, ResolvedColumns, RowIds, SkipReport, SkippedRow, TextArena,
};
use crate::error::DataError;
use crate::options::{ColumnSpec, ReadOptions};

/// How many skipped rows are kept as examples for the report.
pub(crate) const MAX_SKIP_EXAMPLES: usize = 20;

/// Default text columns, tried in order.
pub(crate) const TEXT_DEFAULTS: [&str; 3] = ["text", "sentence", "content"];
/// Default label columns, tried in order.
pub(crate) const LABEL_DEFAULTS: [&str; 3] = ["label", "labels", "class"];

/// Decide which columns to use, given the columns the file has.
///
/// A column the user named must exist; otherwise the first existing default is used. Errors are
/// [`DataError::MissingColumn`] listing `available`.
pub(crate) fn resolve_columns(
    file: &Path,
    spec: &ColumnSpec,
    available: &[String],
) -> Result<ResolvedColumns, DataError> {
    let has = |name: &str| available.iter().any(|c| c == name);
    let missing = |role: &'static str, wanted: String| DataError::MissingColumn {
        file: file.to_path_buf(),
        role,
        wanted,
        available: available.to_vec(),
    };
    let pick = |role: &'static str,
                named: &Option<String>,
                defaults: &[&str]|
     -> Result<String, DataError> {
        match named {
            Some(name) if has(name) => Ok(name.clone()),
            Some(name) => Err(missing(role, name.clone())),
            None => defaults
                .iter()
                .find(|d| has(d))
                .map(|d| (*d).to_string())
                .ok_or_else(|| missing(role, format!("{role} (tried {})", defaults.join(", ")))),
        }
    };
    let optional = |role: &'static str, named: &Option<String>| -> Result<_, DataError> {
        match named {
            Some(name) if has(name) => Ok(Some(name.clone())),
            Some(name) => Err(missing(role, name.clone())),
            None => Ok(None),
        }
    };
    Ok(ResolvedColumns {
        text: pick("text", &spec.text, &TEXT_DEFAULTS)?,
        label: pick("label", &spec.label, &LABEL_DEFAULTS)?,
        id: optional("id", &spec.id)?,
        source: optional("source", &spec.source)?,
        embedding: optional("embedding", &spec.embedding)?,
    })
}

/// A problem with one row.
#[derive(Debug, Clone)]
pub(crate) enum RowError {
    /// A value in a known column is unusable (becomes [`DataError::InvalidRow`]).
    Field { column: String, message: String },
    /// The line itself is unusable (becomes [`DataError::Malformed`]).
    Line { message: String },
}

impl RowError {
    pub(crate) fn field(column: &str, message: impl Into<String>) -> Self {
        RowError::Field {
            column: column.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn line(message: impl Into<String>) -> Self {
        RowError::Line {
            message: message.into(),
        }
    }

    fn reason(&self) -> String {
        match self {
            RowError::Field { column, message } => format!("column '{column}': {message}"),
            RowError::Line { message } => message.clone(),
        }
    }

    fn into_data_error(self, file: &Path, line: u64) -> DataError {
        match self {
            RowError::Field { column, message } => DataError::InvalidRow {
                file: file.to_path_buf(),
                line,
                column,
                message,
            },
            RowError::Line { message } => DataError::Malformed {
                file: file.to_path_buf(),
                line,
                message,
            },
        }
    }
}

/// One input row, already converted to text/floats by the reader. Borrowed so readers can reuse
/// their buffers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowRef<'a> {
    pub text: &'a str,
    /// Trimmed by the builder; empty after trimming is an error.
    pub label: &'a str,
    /// Must be `Some` exactly when an id column was resolved.
    pub id: Option<&'a str>,
    /// Must be `Some` exactly when a source column was resolved. Trimmed like labels.
    pub source: Option<&'a str>,
    /// Must be `Some` exactly when an embedding column was resolved. Values must already be
    /// finite (see [`check_finite`]).
    pub embedding: Option<&'a [f32]>,
}

/// Strings interned to dense codes in first-seen order; reordered in [`Interner::finish`].
#[derive(Debug, Default)]
struct Interner {
    map: HashMap<String, u32>,
    names: Vec<String>,
    codes: Vec<u32>,
}

impl Interner {
    fn push(&mut self, value: &str) -> Result<(), RowError> {
        let code = match self.map.get(value) {
            Some(&c) => c,
            None => {
                let c = u32::try_from(self.names.len())
                    .map_err(|_| RowError::line("too many distinct values (more than 2^32)"))?;
                self.map.insert(value.to_string(), c);
                self.names.push(value.to_string());
                c
            }
        };
        self.codes.push(code);
        Ok(())
    }

    /// Reorder names (numerically when `numeric_if_possible` and every name is an integer,
    /// otherwise lexicographically) and remap the codes.
    fn finish(self, numeric_if_possible: bool) -> Categorical {
        let Interner {
            names, mut codes, ..
        } = self;
        let mut order: Vec<u32> = (0..names.len() as u32).collect();
        let numeric: Option<Vec<i64>> = if numeric_if_possible {
            names.iter().map(|n| n.parse::<i64>().ok()).collect()
        } else {
            None
        };
        match numeric {
            Some(values) => order.sort_by(|&a, &b| {
                let (a, b) = (a as usize, b as usize);
                values
                    .get(a)
                    .cmp(&values.get(b))
                    .then_with(|| names.get(a).cmp(&names.get(b)))
            }),
            None => order.sort_by(|&a, &b| names.get(a as usize).cmp(&names.get(b as usize))),
        }
        // remap[old] = new
        let mut remap = vec![0u32; names.len()];
        for (new, &old) in order.iter().enumerate() {
            if let Some(slot) = remap.get_mut(old as usize) {
                *slot = new as u32;
            }
        }
        for c in &mut codes {
            *c = remap.get(*c as usize).copied().unwrap_or(*c);
        }
        let mut names_opt: Vec<Option<String>> = names.into_iter().map(Some).collect();
        let names = order
            .iter()
            .map(|&old| {
                names_opt
                    .get_mut(old as usize)
                    .and_then(Option::take)
                    .unwrap_or_default()
            })
            .collect();
        Categorical { codes, names }
    }
}

/// Accumulates rows into a [`Dataset`].
pub(crate) struct Builder {
    file: PathBuf,
    skip_invalid: bool,
    columns: Option<ResolvedColumns>,
    texts: TextArena,
    ids: TextArena,
    labels: Interner,
    sources: Interner,
    emb_dim: Option<usize>,
    emb_values: Vec<f32>,
    skipped: SkipReport,
    ids_seen: IdIndex,
    /// The line (or Parquet row) each kept row was read from.
    lines: Vec<u64>,
}

/// Which ids were read (their lines are the builder's), to refuse a repeated id naming both lines. Keyed by
/// a 64-bit hash of the id (the arena holds the text), so it costs about 16 bytes per row.
#[derive(Default)]
struct IdIndex {
    first_row: HashMap<u64, u32>,
    /// Ids whose hash collided with a different id's (practically never): checked exactly.
    collided: HashMap<String, u32>,
}

fn id_hash(id: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(id)
}

impl IdIndex {
    /// The row that already holds `id`, if any.
    fn find(&self, ids: &TextArena, id: &str) -> Option<u32> {
        match self.first_row.get(&id_hash(id)) {
            Some(&row) if ids.get(row as usize) == id => Some(row),
            Some(_) => self.collided.get(id).copied(),
            None => None,
        }
    }

    /// Remember that row `row` holds `id`.
    fn insert(&mut self, id: &str, row: u32) {
        match self.first_row.entry(id_hash(id)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(row);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(id.to_string(), row);
            }
        }
    }
}

impl Builder {
    pub(crate) fn new(file: &Path, opts: &ReadOptions) -> Self {
        Builder {
            file: file.to_path_buf(),
            skip_invalid: opts.skip_invalid,
            columns: None,
            texts: TextArena::new(),
            ids: TextArena::new(),
            labels: Interner::default(),
            sources: Interner::default(),
            emb_dim: None,
            emb_values: Vec::new(),
            skipped: SkipReport::default(),
            ids_seen: IdIndex::default(),
            lines: Vec::new(),
        }
    }

    pub(crate) fn file(&self) -> &Path {
        &self.file
    }

    /// Resolve the columns against what the file has and remember the result.
    pub(crate) fn resolve(
        &mut self,
        spec: &ColumnSpec,
        available: &[String],
    ) -> Result<&ResolvedColumns, DataError> {
        let cols = resolve_columns(&self.file, spec, available)?;
        Ok(self.columns.insert(cols))
    }

    /// Record a bad row: with `skip_invalid` it is counted (and kept as an example), otherwise
    /// it becomes the error to return.
    pub(crate) fn fail(&mut self, line: u64, err: RowError) -> Result<(), DataError> {
        if !self.skip_invalid {
            return Err(err.into_data_error(&self.file, line));
        }
        self.skipped.count += 1;
        if self.skipped.examples.len() < MAX_SKIP_EXAMPLES {
            self.skipped.examples.push(SkippedRow {
                line,
                reason: err.reason(),
            });
        }
        Ok(())
    }

    /// Validate and append one row; a bad row goes through [`Builder::fail`].
    pub(crate) fn add_row(&mut self, line: u64, row: RowRef<'_>) -> Result<(), DataError> {
        if let (Some(id), Some(col)) = (row.id, self.columns.as_ref().and_then(|c| c.id.as_ref())) {
            if let Some(first) = self.ids_seen.find(&self.ids, id) {
                let err = RowError::field(
                    col,
                    format!(
                        "id '{}' repeats the id of line {}; ids must be unique",
                        truncate(id, 80),
                        self.lines[first as usize]
                    ),
                );
                return self.fail(line, err);
            }
        }
        match self.try_add_row(row) {
            Ok(()) => {
                self.lines.push(line);
                if let Some(id) = row.id.filter(|_| self.ids.len() == self.texts.len()) {
                    let r = (self.ids.len() - 1) as u32;
                    self.ids_seen.insert(id, r);
                }
                Ok(())
            }
            Err(e) => self.fail(line, e),
        }
    }

    fn try_add_row(&mut self, row: RowRef<'_>) -> Result<(), RowError> {
        let Some(cols) = self.columns.as_ref() else {
            return Err(RowError::line("internal error: columns not resolved"));
        };
        // Validate everything before touching any column, so a bad row leaves no trace.
        let label = canonical_label(row.label.trim());
        let label = label.as_ref();
        if label.is_empty() {
            return Err(RowError::field(&cols.label, "empty label"));
        }
        let source = match (&cols.source, row.source) {
            (Some(name), Some(s)) => {
                let s = s.trim();
                if s.is_empty() {
                    return Err(RowError::field(name, "empty source"));
                }
                Some(s)
            }
            (Some(name), None) => return Err(RowError::field(name, "missing value")),
            (None, _) => None,
        };
        let id = match (&cols.id, row.id) {
            (Some(_), Some(id)) => Some(id),
            (Some(name), None) => return Err(RowError::field(name, "missing value")),
            (None, _) => None,
        };
        let embedding = match (&cols.embedding, row.embedding) {
            (Some(name), Some(e)) => {
                if e.is_empty() {
                    return Err(RowError::field(name, "empty embedding"));
                }
                match self.emb_dim {
                    Some(dim) if dim != e.len() => {
                        return Err(RowError::field(
                            name,
                            format!(
                                "embedding has dimension {}, expected {dim} (the dimension of the first row)",
                                e.len()
                            ),
                        ))
                    }
                    _ => {}
                }
                Some(e)
            }
            (Some(name), None) => return Err(RowError::field(name, "missing value")),
            (None, _) => None,
        };
        if self.texts.len() >= u32::MAX as usize {
            return Err(RowError::line("too many rows (more than 2^32)"));
        }
        // Interning can only fail on the first push, before anything else is appended.
        self.labels.push(label)?;
        if let Some(s) = source {
            if let Err(e) = self.sources.push(s) {
                self.labels.codes.pop();
                return Err(e);
            }
        }
        self.texts.push(row.text);
        if let Some(id) = id {
            self.ids.push(id);
        }
        if let Some(e) = embedding {
            self.emb_dim.get_or_insert(e.len());
            self.emb_values.extend_from_slice(e);
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<Dataset, DataError> {
        let Some(columns) = self.columns else {
            return Err(DataError::Empty { file: self.file });
        };
        if self.texts.is_empty() {
            return Err(DataError::Empty { file: self.file });
        }
        let n = self.texts.len();
        let ids = if columns.id.is_some() {
            RowIds::Column(self.ids)
        } else {
            RowIds::RowNumbers(n)
        };
        let sources = columns.source.as_ref().map(|_| self.sources.finish(false));
        let embeddings = columns.embedding.as_ref().map(|_| Embeddings {
            dim: self.emb_dim.unwrap_or(0),
            values: self.emb_values,
        });
        Ok(Dataset {
            ids,
            texts: self.texts,
            labels: self.labels.finish(true),
            sources,
            embeddings,
            columns,
            skipped: self.skipped,
            lines: self.lines,
        })
    }
}

/// Convert one embedding component, rejecting NaN/inf (also values too large for `f32`).
pub(crate) fn check_finite(position: usize, value: f64) -> Result<f32, String> {
    let v = value as f32;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("non-finite value at position {position}"))
    }
}

/// Parse an embedding written as text: a JSON-style array `[0.1, 0.2]` or floats separated by
/// commas and/or whitespace. Appends to `out` (which the caller clears).
pub(crate) fn parse_embedding_text(cell: &str, out: &mut Vec<f32>) -> Result<(), String> {
    let mut s = cell.trim();
    if let Some(inner) = s.strip_prefix('[') {
        s = inner
            .strip_suffix(']')
            .ok_or_else(|| "embedding starts with '[' but does not end with ']'".to_string())?;
    }
    let parts = s
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty());
    for (k, part) in parts.enumerate() {
        let v: f64 = part
            .parse()
            .map_err(|_| format!("invalid number '{}' at position {k}", truncate(part, 40)))?;
        out.push(check_finite(k, v)?);
    }
    if out.is_empty() {
        return Err("empty embedding".to_string());
    }
    Ok(())
}

/// Write an integral float as an integer (`1.0` → `"1"`); `None` for other floats.
pub(crate) fn integral_float(value: f64, buf: &mut String) -> Option<()> {
    // 2^63 as f64; values in [-2^63, 2^63) convert exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if value.is_finite() && value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value) {
        buf.clear();
        let _ = write!(buf, "{}", value as i64);
        Some(())
    } else {
        None
    }
}

/// A label written as an integral decimal (`1.0`, `-2.00`) is the integer (`1`, `-2`), as a
/// numeric label from JSON or Parquet is: one class, whichever way a file spells it.
pub(crate) fn canonical_label(label: &str) -> std::borrow::Cow<'_, str> {
    let Some((int, frac)) = label.split_once('.') else {
        return label.into();
    };
    let digits = int.strip_prefix(['-', '+']).unwrap_or(int);
    let integral = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|b| b == b'0');
    if !integral {
        return label.into();
    }
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if int.starts_with('-') && digits != "0" {
        format!("-{digits}").into()
    } else {
        digits.to_string().into()
    }
}

/// Shorten a value for an error message (on a char boundary).
pub(crate) fn truncate(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end]).into()
}

/// Message for invalid UTF-8 in a field or line.
pub(crate) fn utf8_message(err: &std::str::Utf8Error) -> String {
    format!("invalid UTF-8 at byte {}", err.valid_up_to())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_text_forms() {
        let mut out = Vec::new();
        for s in ["[1, 2.5,-3]", " 1 2.5 -3 ", "1,2.5,-3", "[1 2.5\t-3]"] {
            out.clear();
            parse_embedding_text(s, &mut out).expect(s);
            assert_eq!(out, [1.0, 2.5, -3.0], "{s}");
        }
        for (s, msg) in [
            ("", "empty embedding"),
            ("[ ]", "empty embedding"),
            ("[1,2", "does not end with ']'"),
            ("1 inf", "non-finite value at position 1"),
            ("1 -NaN", "non-finite value at position 1"),
            ("nan", "non-finite value at position 0"),
            ("1 abc", "invalid number 'abc' at position 1"),
        ] {
            out.clear();
            let err = parse_embedding_text(s, &mut out).expect_err(s);
            assert!(err.contains(msg), "{s}: {err}");
        }
    }

    #[test]
    fn integral_floats() {
        let mut buf = String::new();
        assert!(integral_float(1.0, &mut buf).is_some());
        assert_eq!(buf, "1");
        assert!(integral_float(-0.0, &mut buf).is_some());
        assert_eq!(buf, "0");
        assert!(integral_float(-42.0, &mut buf).is_some());
        assert_eq!(buf, "-42");
        assert!(integral_float(1.5, &mut buf).is_none());
        assert!(integral_float(f64::NAN, &mut buf).is_none());
        assert!(integral_float(f64::INFINITY, &mut buf).is_none());
        assert!(integral_float(9.3e18, &mut buf).is_none());
    }

    #[test]
    fn interner_orders_numerically_or_lexicographically() {
        let mut i = Interner::default();
        for s in ["10", "2", "-1", "2", "1"] {
            i.push(s).expect("push");
        }
        let c = i.finish(true);
        assert_eq!(c.names, ["-1", "1", "2", "10"]);
        assert_eq!(c.codes, [3, 2, 0, 2, 1]);

        let mut i = Interner::default();
        for s in ["10", "b", "2", "a"] {
            i.push(s).expect("push");
        }
        let c = i.finish(true);
        assert_eq!(c.names, ["10", "2", "a", "b"]);
        assert_eq!(c.codes, [0, 3, 1, 2]);

        let mut i = Interner::default();
        for s in ["10", "2"] {
            i.push(s).expect("push");
        }
        assert_eq!(i.finish(false).names, ["10", "2"]);
    }

    #[test]
    fn integral_decimal_labels_are_integers() {
        for (raw, want) in [
            ("1.0", "1"),
            ("-2.00", "-2"),
            ("+3.0", "3"),
            ("007.0", "7"),
            ("-0.0", "0"),
        ] {
            assert_eq!(canonical_label(raw), want, "{raw}");
        }
        for same in ["1", "1.5", "a.0", ".0", "1.", "v1.0.0", "1.0e3", "positive"] {
            assert_eq!(canonical_label(same), same);
        }
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ééé", 3), "é...");
    }
}
