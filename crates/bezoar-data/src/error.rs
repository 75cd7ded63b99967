use std::path::PathBuf;

/// Why a dataset could not be read. Every variant names the file; row-level errors name the
/// 1-based line (text formats) or row (Parquet) and the column.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: cannot tell the format from the extension; pass --input-format jsonl|csv|tsv|parquet")]
    UnknownFormat { file: PathBuf },
    #[error("{file}: no {role} column '{wanted}'; the file has columns: {}", available.join(", "))]
    MissingColumn {
        file: PathBuf,
        role: &'static str,
        wanted: String,
        available: Vec<String>,
    },
    #[error("{file}:{line}: column '{column}': {message}")]
    InvalidRow {
        file: PathBuf,
        line: u64,
        column: String,
        message: String,
    },
    #[error("{file}:{line}: {message}")]
    Malformed {
        file: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    InvalidFile { file: PathBuf, message: String },
    #[error("{file}: the dataset has no rows")]
    Empty { file: PathBuf },
}
