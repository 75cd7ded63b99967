//! Typed errors of the probe. Messages name the model's endpoint; text that came from the model
//! (an error body, a label) is cut short here and escaped by the CLI when printed.

use thiserror::Error;

pub type Result<T, E = ProbeError> = std::result::Result<T, E>;

/// Longest excerpt of a model's answer quoted in an error message.
const EXCERPT_CHARS: usize = 200;

#[derive(Debug, Error)]
pub enum ProbeError {
    #[error("{endpoint}: cannot reach the model: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error(
        "{endpoint}: no answer within {seconds} s (raise --timeout if the model is just slow)"
    )]
    Timeout { endpoint: String, seconds: u64 },
    #[error("{endpoint}: the model answered HTTP {status}: {body}")]
    Status {
        endpoint: String,
        status: u16,
        body: String,
    },
    #[error("{endpoint}: unexpected answer: {reason}")]
    BadAnswer { endpoint: String, reason: String },
    #[error("{endpoint}: the model answered label {label:?}, which the data does not have (its labels: {known}); map the model's labels with --label-map MODEL=DATA,...")]
    UnknownLabel {
        endpoint: String,
        label: String,
        known: String,
    },
    #[error("cannot start the model command `{command}`: {reason}")]
    Spawn { command: String, reason: String },
    #[error("{endpoint}: the model command stopped ({status}){stderr}")]
    Exited {
        endpoint: String,
        status: String,
        stderr: String,
    },
    #[error("{0}")]
    Input(String),
}

impl ProbeError {
    /// Worth trying again: the model may answer the same request a moment later.
    pub fn is_transient(&self) -> bool {
        match self {
            ProbeError::Unreachable { .. } | ProbeError::Timeout { .. } => true,
            ProbeError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn bad_answer(endpoint: &str, reason: impl Into<String>) -> Self {
        ProbeError::BadAnswer {
            endpoint: endpoint.to_string(),
            reason: reason.into(),
        }
    }
}

/// The first characters of a model's answer, for an error message.
pub(crate) fn excerpt(text: &str) -> String {
    match bezoar_data::display::truncate_chars(text.trim(), EXCERPT_CHARS) {
        (head, true) => format!("{head}…"),
        (all, false) => all.to_string(),
    }
}
