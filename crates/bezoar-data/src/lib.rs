//! Reading training datasets (JSONL, CSV/TSV, Parquet) into a compact [`Dataset`].
//!
//! Readers stream the file and keep only the columns detectors need. Every error names the
//! file, the 1-based line (or Parquet row) and the column.
//!
//! Entry points: [`read_dataset`] and [`read_dataset_with_progress`].
//!
//! Conventions shared by all formats:
//! - Labels may be strings, integers, booleans (`"true"`/`"false"`) or integral floats (`1.0` →
//!   `"1"`, whether a JSON/Parquet number or text such as a CSV cell `1.0`); they are trimmed
//!   and must not be empty. Class names are ordered numerically when
//!   every label is an integer, otherwise lexicographically.
//! - Sources are read like labels and ordered lexicographically.
//! - Without an id column, ids are 0-based row numbers over the rows *kept* (after
//!   `skip_invalid` dropped any), in file order. Ids from an id column must be unique: a repeated
//!   id is an error naming both lines (or a skipped row with `skip_invalid`).
//! - Embeddings must all have the dimension of the first kept row and be finite.

mod builder;
mod dataset;
mod delimited;
pub mod display;
mod error;
mod jsonl;
pub mod llm;
mod options;
mod parquet;
mod write;

use std::fs::File;
use std::path::Path;

pub use dataset::{
    Categorical, Dataset, Embeddings, ResolvedColumns, RowIds, SkipReport, SkippedRow, TextArena,
};
pub use error::DataError;
pub use options::{ColumnSpec, InputFormat, ReadOptions};
pub use write::write_parquet_strings;

/// How many skipped rows [`SkipReport::examples`] keeps at most.
pub const MAX_SKIP_EXAMPLES: usize = builder::MAX_SKIP_EXAMPLES;

/// Progress callback: `(done, total)`.
pub(crate) type Progress<'a> = dyn FnMut(u64, Option<u64>) + 'a;

/// Read a dataset file. See [`read_dataset_with_progress`].
pub fn read_dataset(path: &Path, opts: &ReadOptions) -> Result<Dataset, DataError> {
    read_dataset_with_progress(path, opts, &mut |_, _| {})
}

/// The path that means standard input.
pub const STDIN_PATH: &str = "-";

/// Whether `path` is `-` (standard input).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN_PATH
}

/// The format [`read_dataset`] would use for `path`: `opts.format`, else the extension. For
/// standard input without `--input-format`, see [`read_dataset_with_progress`].
pub fn resolve_format(path: &Path, opts: &ReadOptions) -> Result<InputFormat, DataError> {
    opts.format
        .or_else(|| InputFormat::from_path(path))
        .or_else(|| is_stdin(path).then_some(InputFormat::Jsonl))
        .ok_or_else(|| DataError::UnknownFormat {
            file: path.to_path_buf(),
        })
}

/// Read standard input: the format is `opts.format`, else JSONL. The first bytes are checked so
/// that a CSV or Parquet stream without `--input-format` is a clear error, not a parse error.
fn read_stream(
    mut input: impl std::io::Read,
    total: Option<u64>,
    opts: &ReadOptions,
    builder: &mut builder::Builder,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(), DataError> {
    use std::io::Read as _;
    let file = builder.file().to_path_buf();
    let io_err = |source| DataError::Io {
        file: file.clone(),
        source,
    };
    let mut head = Vec::with_capacity(8192);
    (&mut input)
        .take(8192)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    if head.is_empty() {
        return Err(DataError::Empty { file });
    }
    let first = head.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let format = match opts.format {
        Some(f) => f,
        None if first == Some(b'{') => InputFormat::Jsonl,
        None => {
            return Err(DataError::InvalidFile {
                file,
                message: format!(
                    "standard input is read as JSONL unless --input-format says otherwise, and it does not start like JSONL{}; pass --input-format csv|tsv|parquet",
                    if head.starts_with(b"PAR1") { " (it looks like Parquet)" } else { "" }
                ),
            })
        }
    };
    let stream = std::io::Cursor::new(head).chain(input);
    match format {
        InputFormat::Jsonl => jsonl::read(stream, total, opts, builder, progress),
        InputFormat::Csv => delimited::read(stream, b',', total, opts, builder, progress),
        InputFormat::Tsv => delimited::read(stream, b'\t', total, opts, builder, progress),
        InputFormat::Parquet => {
            let bytes = read_all(stream).map_err(io_err)?;
            parquet::read(bytes, opts, builder, progress)
        }
    }
}

fn read_all(mut r: impl std::io::Read) -> std::io::Result<bytes::Bytes> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    Ok(bytes::Bytes::from(v))
}

/// One in-memory row for [`dataset_from_rows`].
#[derive(Debug, Clone, Copy)]
pub struct MemoryRow<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub label: &'a str,
    pub source: &'a str,
}

/// Build a [`Dataset`] from rows already in memory (a ledger snapshot, a host language's
/// table), validated exactly as rows read from a file: `origin` names them in errors, and an
/// error's "line" is the 1-based row number. Columns are reported as `id`, `text`, `label` and
/// `source`.
pub fn dataset_from_rows<'a>(
    origin: &Path,
    rows: impl IntoIterator<Item = MemoryRow<'a>>,
) -> Result<Dataset, DataError> {
    let mut builder = builder::Builder::new(origin, &ReadOptions::default());
    let spec = ColumnSpec {
        text: Some("text".into()),
        label: Some("label".into()),
        id: Some("id".into()),
        source: Some("source".into()),
        embedding: None,
    };
    let names: Vec<String> = ["id", "text", "label", "source"].map(String::from).to_vec();
    builder.resolve(&spec, &names)?;
    for (i, r) in rows.into_iter().enumerate() {
        builder.add_row(
            i as u64 + 1,
            builder::RowRef {
                text: r.text,
                label: r.label,
                id: Some(r.id),
                source: Some(r.source),
                embedding: None,
            },
        )?;
    }
    builder.finish()
}

/// Build a [`Dataset`] from Arrow record batches (a table in memory, an Arrow C stream handed
/// over by Python, DuckDB or polars). Columns are chosen and checked as for a Parquet file
/// (`opts.columns`, `opts.skip_invalid`; string, large string and string view text all work);
/// `origin` names the data in errors, whose "line" is the 1-based row number.
pub fn dataset_from_batches<I>(
    origin: &Path,
    schema: &arrow_schema::Schema,
    batches: I,
    opts: &ReadOptions,
) -> Result<Dataset, DataError>
where
    I: IntoIterator<Item = Result<arrow_array::RecordBatch, arrow_schema::ArrowError>>,
{
    let mut builder = builder::Builder::new(origin, opts);
    parquet::read_record_batches(schema, batches, opts, &mut builder)?;
    builder.finish()
}

/// Read a dataset file, calling `progress(done, total)` now and then.
///
/// For JSONL, CSV and TSV, `done` and `total` count bytes of the file; for Parquet they count
/// rows (`total` from the file metadata). `total` is `None` when unknown. The last call reports
/// the final position.
///
/// `-` reads standard input (JSONL unless `opts.format` says otherwise); FIFOs, pipes and
/// devices are read as streams (Parquet from one is buffered whole: it needs random access).
pub fn read_dataset_with_progress(
    path: &Path,
    opts: &ReadOptions,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Dataset, DataError> {
    let io_err = |source| DataError::Io {
        file: path.to_path_buf(),
        source,
    };
    if is_stdin(path) {
        let stdin = std::io::stdin().lock();
        let mut builder = builder::Builder::new(Path::new("<stdin>"), opts);
        read_stream(stdin, None, opts, &mut builder, progress).map_err(|e| match e {
            DataError::Io { source, .. } => io_err(source),
            other => other,
        })?;
        return builder.finish();
    }
    let format = resolve_format(path, opts)?;
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    // Pipes, FIFOs and character devices report size 0: only a regular file's size is known.
    let size = meta.is_file().then_some(meta.len());
    if size == Some(0) {
        return Err(DataError::Empty {
            file: path.to_path_buf(),
        });
    }
    let mut builder = builder::Builder::new(path, opts);
    match (format, meta.is_file()) {
        (InputFormat::Jsonl, _) => jsonl::read(file, size, opts, &mut builder, progress)?,
        (InputFormat::Csv, _) => delimited::read(file, b',', size, opts, &mut builder, progress)?,
        (InputFormat::Tsv, _) => delimited::read(file, b'\t', size, opts, &mut builder, progress)?,
        (InputFormat::Parquet, true) => parquet::read(file, opts, &mut builder, progress)?,
        // Parquet needs random access (its metadata is at the end): a pipe is read whole.
        (InputFormat::Parquet, false) => parquet::read(
            read_all(file).map_err(io_err)?,
            opts,
            &mut builder,
            progress,
        )?,
    }
    builder.finish()
}
