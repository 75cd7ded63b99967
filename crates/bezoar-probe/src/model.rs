//! What the probe needs from a model, whatever serves it: texts in, one predicted label (and,
//! when the model gives them, class probabilities) per text out, in order.

use crate::error::Result;

/// One answer of the model, in the model's own label names.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub label: String,
    /// `(label, probability)` for every class the model scored, when it said.
    pub scores: Option<Vec<(String, f32)>>,
}

/// A served text classifier.
pub trait Model: Send + Sync {
    /// Where the model is (URL or command line), for messages and the record.
    fn endpoint(&self) -> &str;

    /// The labels the model declares, when its protocol lists them.
    fn declared_labels(&self) -> Result<Option<Vec<String>>> {
        Ok(None)
    }

    /// One prediction per text, in order. A short or malformed answer is an error.
    fn predict(&self, texts: &[&str]) -> Result<Vec<Prediction>>;

    /// How many requests may be in flight at once (a single child process takes one).
    fn max_concurrency(&self) -> usize {
        usize::MAX
    }
}
