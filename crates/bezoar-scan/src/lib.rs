//! Poisoning detectors, score fusion and findings.
//!
//! Data flows one way: dataset → shared representations → detectors → fusion. Detectors take the
//! dataset view plus shared representations and return per-row scores and group findings; they
//! do not print, read files or know about each other.

mod anomaly;
mod bayes;
mod bridge;
mod calibrate;
mod classrows;
mod config;
mod context;
mod dense;
mod duplicates;
mod features;
mod fusion;
mod generative;
mod label;
mod linear;
mod neighbours;
mod ngrams;
mod placement;
mod registry;
mod result;
pub mod rng;
mod source;
pub mod stats;
pub mod tokens;
mod topic;
mod trigger;
mod unusual;
mod vocab;

pub use config::{Budget, ScanConfig};
pub use generative::{scan_llm, MAX_UNITS};
pub use result::{
    Detector, DetectorSummary, Evidence, Finding, FlaggedBy, ReaderScores, Reasons, ScanResult,
    Severity,
};

use bezoar_data::Dataset;
use std::time::Instant;

/// The blocks of the label models (words and characters; text and embedding) are read apart, as
/// more readings of each label, while their logits, `rows × classes` per model, number at most
/// this (64 MiB).
const MAX_BLOCK_LOGITS: usize = 8 << 20;

/// The most distinct labels (classes) a scan accepts; past it [`scan`] refuses at once with
/// [`ScanError::TooManyClasses`], before any model is built.
///
/// Below the limit memory follows rows and features, not rows × classes: past 20 classes the
/// fold models share hashed features to stay within the weights 20 classes take, per-row class
/// probabilities keep each row's 8 likeliest classes once rows × classes passes 32M cells,
/// neighbour votes are kept per neighbour and trigger counts per (n-gram, class) pair seen. What
/// still grows with the classes is the label-pair tables of label consistency (`classes²`
/// counters: about 60 MB at 1,000) and time: every row's probability of every class is computed
/// (rows × classes work). Why 1,000: at the limit a 1M-row scan peaks at 1.69 GB, within the
/// 2 GB budget, and takes about nine minutes on two cores; the pair tables would reach 1.4 GB at
/// 5,000. A label column with more distinct values is rarely a class label at all, and far more
/// often an id or free-text column read as one.
pub const MAX_CLASSES: usize = 1_000;

/// Why a detector left out by `ScanConfig::detectors` did not run.
pub const NOT_SELECTED: &str = "not selected (--detectors / --skip-detectors)";

/// Receives coarse progress: which stage runs, as step `step` of `steps`.
pub trait Progress: Sync {
    fn stage(&self, name: &str, step: usize, steps: usize);

    /// Whether the caller wants the scan to stop (checked at every stage; the scan then returns
    /// [`ScanError::Cancelled`]). A host language's Ctrl-C handler sets this.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _: &str, _: usize, _: usize) {}
}

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("invalid scan setting: {0}")]
    Config(String),
    #[error("the dataset has no rows")]
    Empty,
    #[error(
        "the label column holds {found} distinct labels, more than the {limit} a scan supports: \
         check that the label column (--label) is the class label and not an id or free-text \
         column, or merge rare labels into fewer classes"
    )]
    TooManyClasses { found: usize, limit: usize },
    #[error("the scan was cancelled")]
    Cancelled,
}

/// At least one of `applicable` must be chosen, and the threshold must be in (0, 1].
pub(crate) fn check_detectors_and_threshold(
    cfg: &ScanConfig,
    applicable: &[Detector],
) -> Result<(), ScanError> {
    if !applicable.iter().any(|d| cfg.detectors.contains(*d)) {
        return Err(ScanError::Config("no detector selected".into()));
    }
    if !(cfg.threshold > 0.0 && cfg.threshold <= 1.0) {
        return Err(ScanError::Config(format!(
            "threshold must be in (0, 1], got {}",
            cfg.threshold
        )));
    }
    Ok(())
}

/// Scan a dataset with every detector that applies and fuse their scores.
pub fn scan(
    ds: &Dataset,
    cfg: &ScanConfig,
    progress: &dyn Progress,
) -> Result<ScanResult, ScanError> {
    if ds.is_empty() {
        return Err(ScanError::Empty);
    }
    if ds.num_classes() > MAX_CLASSES {
        return Err(ScanError::TooManyClasses {
            found: ds.num_classes(),
            limit: MAX_CLASSES,
        });
    }
    if cfg.folds < 2 || cfg.folds > 50 {
        return Err(ScanError::Config(format!(
            "folds must be between 2 and 50, got {}",
            cfg.folds
        )));
    }
    check_detectors_and_threshold(cfg, &Detector::CLASSIFICATION)?;
    const STEPS: usize = 4;
    let n = ds.len();
    let labels = &ds.labels.codes;
    let classes = ds.num_classes();
    let prior = context::class_priors(ds);
    let chosen: Vec<&dyn registry::Detect> = registry::registry()
        .into_iter()
        .filter(|d| cfg.detectors.contains(d.id()))
        .collect();
    let needs = |r: registry::Representation| chosen.iter().any(|d| d.needs().contains(&r));
    use registry::Representation as Rep;

    progress.stage("featurising text", 1, STEPS);
    if progress.cancelled() {
        return Err(ScanError::Cancelled);
    }
    let mut stages = Vec::new();
    let t = Instant::now();
    let pool = linear::training_pool(n, cfg.seed);
    let (tfidf, x_pool) = features::learn(&ds.texts, &pool);
    stages.push(("features", t.elapsed().as_secs_f64()));
    progress.stage("cross-validating label model", 2, STEPS);
    if progress.cancelled() {
        return Err(ScanError::Cancelled);
    }
    let t = Instant::now();
    let params = linear::TrainParams::default();
    let text_features = features::RowFeatures {
        tfidf: &tfidf,
        texts: &ds.texts,
        embeddings: None,
    };
    // Out-of-fold probabilities of the rows as `feats` reads them (pool rows in `x`), keeping
    // the logits of the features below `split` and above it apart when they fit.
    let cross_validate = |x: &features::SparseRows, feats: &features::RowFeatures, split: usize| {
        let blocks = (n * classes <= MAX_BLOCK_LOGITS).then_some(split as u32);
        let folds = cfg.folds;
        linear::cross_validate(
            x, feats, &pool, labels, classes, folds, params, cfg.seed, blocks,
        )
    };
    let models = classes >= 2;
    let cv = (models && needs(Rep::LabelModel))
        .then(|| cross_validate(&x_pool, &text_features, features::WORD_DIM));
    if cv.is_some() {
        stages.push(("label model", t.elapsed().as_secs_f64()));
    }
    let t = Instant::now();
    // With embeddings, label consistency reads text and embedding together; trigger mining keeps
    // the text-only model because it re-scores rows with words deleted.
    let with_embeddings = models && cfg.use_embeddings && needs(Rep::EmbeddingModel);
    let (cv_label, representation) = match (&ds.embeddings, with_embeddings) {
        (Some(e), true) => {
            let both = features::RowFeatures {
                embeddings: Some(e),
                ..text_features
            };
            let xe = features::append_embeddings(&x_pool, &pool, e);
            let mut cv = cross_validate(&xe, &both, features::HASH_DIM);
            // Only the text model's fold models are read again (by trigger mining).
            cv.models = Vec::new();
            (
                Some(cv),
                "hashed word+char n-grams (TF-IDF) + user embeddings",
            )
        }
        _ => (None, "hashed word+char n-grams (TF-IDF)"),
    };
    if cv_label.is_some() {
        stages.push(("label model + embeddings", t.elapsed().as_secs_f64()));
    }
    let t = Instant::now();
    let neighbours = (models && needs(Rep::Neighbours)).then(|| {
        neighbours::label_neighbours(&x_pool, &text_features, &pool, labels, classes, cfg.seed)
    });
    let bayes: Vec<_> = if models && needs(Rep::NaiveBayes) {
        [bayes::Vocabulary::Words, bayes::Vocabulary::CharGrams]
            .into_iter()
            .filter_map(|v| bayes::leave_one_out(&ds.texts, &pool, labels, classes, v))
            .collect()
    } else {
        Vec::new()
    };
    drop(x_pool);
    if neighbours.is_some() || !bayes.is_empty() {
        stages.push(("neighbours + naive Bayes", t.elapsed().as_secs_f64()));
    }
    let ctx = context::Context {
        ds,
        cfg,
        labels,
        classes,
        prior,
        tfidf,
        cv,
        cv_label,
        neighbours,
        bayes,
        reader_scores: Default::default(),
        label_belief: Default::default(),
    };

    progress.stage("running detectors", 3, STEPS);
    if progress.cancelled() {
        return Err(ScanError::Cancelled);
    }
    let mut outputs: Vec<(context::DetectorOutput, f64)> = Vec::new();
    for d in registry::registry() {
        let t = Instant::now();
        let out = if cfg.detectors.contains(d.id()) {
            d.detect(&ctx, &outputs)
        } else {
            context::DetectorOutput::skipped(d.id(), n, NOT_SELECTED)
        };
        outputs.push((out, t.elapsed().as_secs_f64()));
    }
    progress.stage("fusing scores", 4, STEPS);
    if progress.cancelled() {
        return Err(ScanError::Cancelled);
    }
    let mut result = fusion::fuse(n, outputs, cfg, representation, stages);
    result.label_readers = ctx
        .reader_scores
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Ok(result)
}
