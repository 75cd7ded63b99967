use std::path::PathBuf;

/// Why a ledger operation failed. Tampering found by `verify` is not an error: it is reported
/// in [`crate::verify::VerifyReport`].
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("no bezoar ledger in {dir}: run `bezoar init` there first")]
    NotInitialized { dir: PathBuf },
    #[error("{dir} already holds a bezoar ledger")]
    AlreadyInitialized { dir: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ledger database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error(transparent)]
    Data(#[from] bezoar_data::DataError),
    #[error("unknown snapshot '{wanted}'; {}", known_list(.datasets))]
    UnknownSnapshot {
        wanted: String,
        datasets: Vec<String>,
    },
    #[error("{file}: row id '{id}' appears more than once; row ids must be unique within a dataset (pass --id COL naming a unique column)")]
    DuplicateId { file: PathBuf, id: String },
    #[error("the ledger is damaged: {0} (run `bezoar verify` for a full report)")]
    Corrupt(String),
    #[error("key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    /// A write was attempted without a token.
    #[error("this command writes to the ledger and needs an API token: set BEZOAR_TOKEN=<token> (or pass --token); `bezoar init` prints the first admin's token and `bezoar identity add NAME --kind human|service|agent` issues more")]
    NoToken,
    /// The token is unknown, revoked or expired (the reason says which; never the token).
    #[error("authentication failed: {0}")]
    BadToken(String),
    /// An authenticated identity lacks the right for a write.
    #[error("permission denied: identity '{identity}' may not {action}: {missing}; {hint}")]
    Denied {
        identity: String,
        action: String,
        missing: String,
        hint: String,
    },
    /// An approver tried to approve a change they made.
    #[error("self-approval refused: identity '{identity}' recorded {what}; an approval must come from someone else (separation of duties)")]
    SelfApproval { identity: String, what: String },
    /// `bezoar.toml` is invalid.
    #[error("{path}: {message}")]
    Policy { path: PathBuf, message: String },
    #[error("ledger schema version {found} is newer than this bezoar understands ({supported}); upgrade bezoar")]
    SchemaTooNew { found: i64, supported: i64 },
}

fn known_list(datasets: &[String]) -> String {
    if datasets.is_empty() {
        "the ledger has no datasets yet (record one with `bezoar add DATA --dataset NAME --source SOURCE`)".to_string()
    } else {
        format!(
            "a snapshot is a dataset name (its latest snapshot), NAME@N (its N-th snapshot) or a snapshot id; datasets: {}",
            datasets.join(", ")
        )
    }
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// Attach a path to an I/O error.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LedgerError {
    let path = path.into();
    move |source| LedgerError::Io { path, source }
}
