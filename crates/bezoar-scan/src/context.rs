//! Representations computed once and shared by the detectors.

use crate::features::{SparseRows, TfIdf};
use crate::linear::CrossVal;
use crate::result::{Detector, Finding};
use crate::ScanConfig;
use bezoar_data::Dataset;

pub(crate) struct Context<'a> {
    pub ds: &'a Dataset,
    pub cfg: &'a ScanConfig,
    pub labels: &'a [u32],
    pub classes: usize,
    /// Fraction of rows in each class.
    pub prior: Vec<f64>,
    pub tfidf: TfIdf,
    pub x: SparseRows,
    /// Out-of-fold probabilities from the text model (always present with ≥ 2 classes).
    pub cv: Option<CrossVal>,
    /// Out-of-fold probabilities from text + user embeddings, when those are used.
    pub cv_label: Option<CrossVal>,
}

impl Context<'_> {
    pub fn n(&self) -> usize {
        self.labels.len()
    }

    pub fn label_name(&self, c: usize) -> &str {
        &self.ds.labels.names[c]
    }
}

/// What one detector hands to fusion.
pub(crate) struct DetectorOutput {
    pub detector: Detector,
    /// Per-row suspicion in [0, 1]; 0 where the detector saw nothing.
    pub scores: Vec<f32>,
    pub findings: Vec<Finding>,
    pub skipped: Option<String>,
}

impl DetectorOutput {
    pub fn skipped(detector: Detector, n: usize, why: &str) -> Self {
        Self {
            detector,
            scores: vec![0.0; n],
            findings: Vec::new(),
            skipped: Some(why.to_string()),
        }
    }
}
