//! Reading training datasets (JSONL, CSV/TSV, Parquet) into a compact [`Dataset`].
//!
//! Readers stream the file and keep only the columns detectors need. Every error names the
//! file, the 1-based line (or Parquet row) and the column.
//!
//! Entry points: [`read_dataset`] and [`read_dataset_with_progress`].
//!
//! Conventions shared by all formats:
//! - Labels may be strings, integers, booleans (`"true"`/`"false"`) or integral floats (`1.0` →
//!   `"1"`); they are trimmed and must not be empty. Class names are ordered numerically when
//!   every label is an integer, otherwise lexicographically.
//! - Sources are read like labels and ordered lexicographically.
//! - Without an id column, ids are 0-based row numbers over the rows *kept* (after
//!   `skip_invalid` dropped any), in file order. Duplicate ids are allowed.
//! - Embeddings must all have the dimension of the first kept row and be finite.

mod builder;
mod dataset;
mod delimited;
mod error;
mod jsonl;
mod options;
mod parquet;

use std::fs::File;
use std::path::Path;

pub use dataset::{
    Categorical, Dataset, Embeddings, ResolvedColumns, RowIds, SkipReport, SkippedRow, TextArena,
};
pub use error::DataError;
pub use options::{ColumnSpec, InputFormat, ReadOptions};

/// How many skipped rows [`SkipReport::examples`] keeps at most.
pub const MAX_SKIP_EXAMPLES: usize = builder::MAX_SKIP_EXAMPLES;

/// Progress callback: `(done, total)`.
pub(crate) type Progress<'a> = dyn FnMut(u64, Option<u64>) + 'a;

/// Read a dataset file. See [`read_dataset_with_progress`].
pub fn read_dataset(path: &Path, opts: &ReadOptions) -> Result<Dataset, DataError> {
    read_dataset_with_progress(path, opts, &mut |_, _| {})
}

/// The format [`read_dataset`] would use for `path`: `opts.format`, else the extension.
pub fn resolve_format(path: &Path, opts: &ReadOptions) -> Result<InputFormat, DataError> {
    opts.format
        .or_else(|| InputFormat::from_path(path))
        .ok_or_else(|| DataError::UnknownFormat {
            file: path.to_path_buf(),
        })
}

/// Read a dataset file, calling `progress(done, total)` now and then.
///
/// For JSONL, CSV and TSV, `done` and `total` count bytes of the file; for Parquet they count
/// rows (`total` from the file metadata). `total` is `None` when unknown. The last call reports
/// the final position.
pub fn read_dataset_with_progress(
    path: &Path,
    opts: &ReadOptions,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Dataset, DataError> {
    let format = resolve_format(path, opts)?;
    let io_err = |source| DataError::Io {
        file: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let size = file.metadata().map_err(io_err)?.len();
    if size == 0 {
        return Err(DataError::Empty {
            file: path.to_path_buf(),
        });
    }
    let mut builder = builder::Builder::new(path, opts);
    match format {
        InputFormat::Jsonl => jsonl::read(file, Some(size), opts, &mut builder, progress)?,
        InputFormat::Csv => delimited::read(file, b',', Some(size), opts, &mut builder, progress)?,
        InputFormat::Tsv => delimited::read(file, b'\t', Some(size), opts, &mut builder, progress)?,
        InputFormat::Parquet => parquet::read(file, opts, &mut builder, progress)?,
    }
    builder.finish()
}
