//! Representations computed once and shared by the detectors.

use crate::bayes::NaiveBayes;
use crate::features::TfIdf;
use crate::linear::CrossVal;
use crate::neighbours::NeighbourLabels;
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
    /// The TF-IDF weighting of the label models (learnt on their training pool).
    pub tfidf: TfIdf,
    /// Out-of-fold probabilities from the text model (always present with ≥ 2 classes).
    pub cv: Option<CrossVal>,
    /// Out-of-fold probabilities from text + user embeddings, when those are used.
    pub cv_label: Option<CrossVal>,
    /// Labels of each row's nearest neighbours in the TF-IDF space (with ≥ 2 classes).
    pub neighbours: Option<NeighbourLabels>,
    /// Leave-one-out naive Bayes probabilities, one model per vocabulary (words, character
    /// n-grams); empty unless there are 2–64 classes.
    pub bayes: Vec<NaiveBayes>,
    /// Where label consistency leaves each reader's P(label) when the config asks to keep them.
    pub reader_scores: std::sync::Mutex<Vec<crate::ReaderScores>>,
    /// The label readers' pooled belief in each row's label, left by label consistency when it
    /// runs, for the detectors after it: how surely each row's content reads as its label.
    pub label_belief: std::sync::OnceLock<Vec<f32>>,
}

/// Fraction of rows in each class (all zero for an empty dataset).
pub(crate) fn class_priors(ds: &Dataset) -> Vec<f64> {
    let n = ds.len().max(1) as f64;
    ds.labels.counts().iter().map(|&c| c as f64 / n).collect()
}

impl<'a> Context<'a> {
    /// A context without label models: TF-IDF features learnt from `feature_texts` (pass a
    /// one-row stand-in when the detectors run do not read them). For detector unit tests, and
    /// for the detectors LLM data shares with text classification (duplicates, characters).
    pub fn without_models(
        ds: &'a Dataset,
        cfg: &'a ScanConfig,
        feature_texts: &bezoar_data::TextArena,
    ) -> Self {
        let all: Vec<u32> = (0..feature_texts.len() as u32).collect();
        let (tfidf, _) = crate::features::learn(feature_texts, &all);
        Context {
            ds,
            cfg,
            labels: &ds.labels.codes,
            classes: ds.num_classes(),
            prior: class_priors(ds),
            tfidf,
            cv: None,
            cv_label: None,
            neighbours: None,
            bayes: Vec::new(),
            reader_scores: Default::default(),
            label_belief: Default::default(),
        }
    }
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
