//! Row-preserving tables: read a dataset file with *every* column, apply an injection's edit plan
//! and write the same format back.
//!
//! `bezoar_data::Dataset` keeps only the columns a scan needs; inject must keep the rest (sources,
//! timestamps, embeddings, anything). So a file is read twice: once by `bezoar_data` (which
//! validates rows, resolves column defaults and gives file/line/column errors) and once here,
//! raw, in the same row order. Writing copies every untouched value as it was and rewrites only
//! the text, label and id cells an attack changed or added:
//! - JSONL: each value is kept as its raw JSON text, so untouched values (numbers, nested
//!   objects, key order) are byte for byte the input's. A changed label copies the JSON of an
//!   existing value of that label, so a label column of numbers stays numbers.
//! - CSV/TSV: fields are kept as raw bytes; the header and delimiter are the input's; quoting is
//!   re-done where needed (RFC 4180), line ends become `\n`.
//! - Parquet: every column and the schema (field names, types, nullability, metadata) are kept;
//!   the text, label and id columns are rebuilt with their original type, except that a
//!   dictionary-encoded one is written plain (same values). Other columns are copied as they are
//!   — an embedding column therefore still holds the *original* row's vector for an edited or
//!   copied row; recompute embeddings before scanning with `--embedding`.

mod delimited;
mod jsonl;
mod parquet;

use std::path::Path;

use bezoar_data::{Dataset, InputFormat, ReadOptions};

use crate::attack::OutRow;
use crate::error::RedteamError;

/// A dataset file held with all its columns.
pub struct Table {
    pub format: InputFormat,
    /// The validated text/label/id view attacks work on.
    pub dataset: Dataset,
    raw: Raw,
}

enum Raw {
    Jsonl(jsonl::Rows),
    Delimited(delimited::Rows),
    Parquet(parquet::Rows),
}

impl Table {
    pub fn len(&self) -> usize {
        self.dataset.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dataset.is_empty()
    }
}

/// Read `path` with every column. `opts.skip_invalid` is ignored: an injected copy must keep
/// every row, so an invalid row is an error.
pub fn read_table(path: &Path, opts: &ReadOptions) -> Result<Table, RedteamError> {
    let opts = ReadOptions {
        skip_invalid: false,
        ..opts.clone()
    };
    let format = bezoar_data::resolve_format(path, &opts)?;
    let dataset = bezoar_data::read_dataset(path, &opts)?;
    let raw = match format {
        InputFormat::Jsonl => Raw::Jsonl(jsonl::read(path)?),
        InputFormat::Csv => Raw::Delimited(delimited::read(path, b',')?),
        InputFormat::Tsv => Raw::Delimited(delimited::read(path, b'\t')?),
        InputFormat::Parquet => Raw::Parquet(parquet::read(path)?),
    };
    let raw_len = match &raw {
        Raw::Jsonl(r) => r.len(),
        Raw::Delimited(r) => r.len(),
        Raw::Parquet(r) => r.len(),
    };
    if raw_len != dataset.len() {
        return Err(RedteamError::invalid(
            path,
            format!(
                "read {raw_len} raw rows but {} dataset rows; cannot keep columns aligned",
                dataset.len()
            ),
        ));
    }
    Ok(Table {
        format,
        dataset,
        raw,
    })
}

/// Write `rows` (an injection's output rows over this table) to `path`, in the table's format.
pub fn write_table(path: &Path, table: &Table, rows: &[OutRow]) -> Result<(), RedteamError> {
    if let Some(bad) = rows.iter().find(|r| r.source >= table.len()) {
        return Err(RedteamError::Config(format!(
            "internal error: output row copies input row {} of {}",
            bad.source,
            table.len()
        )));
    }
    let cells = Cells {
        ds: &table.dataset,
        rows,
    };
    match &table.raw {
        Raw::Jsonl(r) => jsonl::write(path, r, &cells),
        Raw::Delimited(r) => delimited::write(path, r, &cells),
        Raw::Parquet(r) => parquet::write(path, r, &cells),
    }
}

/// The final text/label/id of each output row, for the writers.
pub(crate) struct Cells<'a> {
    pub ds: &'a Dataset,
    pub rows: &'a [OutRow],
}

impl Cells<'_> {
    pub fn text<'s>(&'s self, r: &'s OutRow) -> &'s str {
        r.text
            .as_deref()
            .unwrap_or_else(|| self.ds.texts.get(r.source))
    }

    pub fn label(&self, r: &OutRow) -> &str {
        let class = r.label.unwrap_or(self.ds.labels.codes[r.source]);
        &self.ds.labels.names[class as usize]
    }

    /// The id column's name, if the dataset has one.
    pub fn id_column(&self) -> Option<&str> {
        self.ds.columns.id.as_deref()
    }
}

#[cfg(test)]
mod tests;
