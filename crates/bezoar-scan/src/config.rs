//! Scan settings.

/// A cap on how many rows may be flagged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    Rows(usize),
    /// A percentage of the dataset, in (0, 100].
    Percent(f64),
}

impl Budget {
    pub fn max_rows(self, n: usize) -> usize {
        match self {
            Budget::Rows(k) => k.min(n),
            Budget::Percent(p) => ((p / 100.0) * n as f64).floor() as usize,
        }
    }
}

impl std::str::FromStr for Budget {
    type Err = String;
    /// `500` (rows) or `0.5%` (of the dataset).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| {
                format!("invalid budget '{s}': expected N or P% (e.g. 500 or 0.5%)")
            })?;
            if !(v > 0.0 && v <= 100.0) {
                return Err(format!(
                    "invalid budget '{s}': percentage must be in (0, 100]"
                ));
            }
            Ok(Budget::Percent(v))
        } else {
            s.parse::<usize>()
                .map(Budget::Rows)
                .map_err(|_| format!("invalid budget '{s}': expected N or P% (e.g. 500 or 0.5%)"))
        }
    }
}

/// Settings for one scan. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Seed for every random choice (fold assignment, projections, MinHash, sampling).
    pub seed: u64,
    /// Cross-validation folds for out-of-sample label probabilities.
    pub folds: usize,
    /// Rows with a fused score at or above this are flagged.
    pub threshold: f32,
    pub budget: Option<Budget>,
    /// Family-wise error rate for trigger significance (Bonferroni over candidates tested).
    pub alpha: f64,
    /// Use the user's embeddings (when the dataset has them) for label consistency and anomalies.
    pub use_embeddings: bool,
    /// Threads for rayon; 0 = all cores.
    pub threads: usize,
    /// The detectors to run (default: all). Shared representations no chosen detector reads
    /// are not built.
    pub detectors: crate::Reasons,
    /// Keep each label reader's calibrated P(label) per row in `ScanResult::label_readers`
    /// (rows × readers floats), for judging the readers one by one.
    pub keep_reader_scores: bool,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            seed: 0x6265_7a6f_6172,
            folds: 10,
            threshold: 0.5,
            budget: None,
            alpha: 0.01,
            use_embeddings: true,
            threads: 0,
            detectors: crate::Reasons::all(),
            keep_reader_scores: false,
        }
    }
}
