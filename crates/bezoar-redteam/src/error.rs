use std::path::PathBuf;

use bezoar_data::DataError;

/// Why an injection, an evaluation or a bench run could not be done. Errors about a file name the
/// file and, where there is one, the 1-based line (or Parquet row) and column, in the same
/// `file:line: column 'c': message` style as [`DataError`].
#[derive(Debug, thiserror::Error)]
pub enum RedteamError {
    /// The dataset could not be read (bad path, format, column or row).
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{file}: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A setting that cannot work with this dataset (rate too high, unknown label, …).
    #[error("{0}")]
    Config(String),
    /// A truth or scores file with a bad header or row.
    #[error("{file}:{line}: {message}")]
    Malformed {
        file: PathBuf,
        line: u64,
        message: String,
    },
    /// A problem with a whole file (schema, ids that do not match, …).
    #[error("{file}: {message}")]
    InvalidFile { file: PathBuf, message: String },
    /// Truth and scores do not cover the same rows.
    #[error("{0}")]
    Join(String),
    #[error("scan failed: {0}")]
    Scan(#[from] bezoar_scan::ScanError),
}

impl RedteamError {
    pub(crate) fn io(file: &std::path::Path, source: std::io::Error) -> Self {
        RedteamError::Io {
            file: file.to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(file: &std::path::Path, message: impl Into<String>) -> Self {
        RedteamError::InvalidFile {
            file: file.to_path_buf(),
            message: message.into(),
        }
    }
}
