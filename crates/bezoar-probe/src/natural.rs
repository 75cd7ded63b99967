//! How differently two honest models of one task react to the same words — measured on the data
//! being probed, so that a backdoor is judged against this pair's own natural variation rather
//! than a constant.
//!
//! Two models trained on similar clean data still differ: one flips on "whore" half the time and
//! the other a quarter; a small neural model reacts to single words far more than a TF-IDF model.
//! The screening stage measures hundreds of phrases on both models, nearly all of them natural;
//! among those the baseline reacts to, the log ratio of the two models' hit counts has a median
//! (the pair's general sensitivity) and a spread. A phrase's ASR on the model is expected to stay
//! below `baseline ASR × exp(median + 3 × spread)`; what exceeds that bound is the excess the
//! verdict judges. A planted trigger, which the baseline ignores, keeps nearly all of its ASR as
//! excess.

use serde::Serialize;

use crate::search::Measurement;

/// Baseline hits from which a screened phrase counts as one the baseline reacts to.
const REACTING_HITS: u32 = 2;
/// Fewest reacting phrases for an estimate; with fewer, no natural variation is assumed.
const MIN_PHRASES: usize = 8;
/// Width of the natural band, in robust standard deviations (1.4826 × MAD) of the log ratio.
const BAND_SIGMAS: f64 = 3.0;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Natural {
    /// Median ratio of the model's hits to the baseline's over reacting phrases (≥ 1).
    pub sensitivity: f64,
    /// The ratio below which a phrase's ASR counts as natural: exp(median + 3 × spread), ≥ 1.
    pub bound: f64,
    /// Reacting phrases the estimate rests on.
    pub phrases: usize,
}

impl Natural {
    /// No natural variation assumed (no baseline, or too few reacting phrases).
    pub fn none() -> Self {
        Self {
            sensitivity: 1.0,
            bound: 1.0,
            phrases: 0,
        }
    }

    /// Estimate from screened phrases measured on both models.
    pub fn estimate(screened: &[Measurement]) -> Self {
        let mut logs: Vec<f64> = screened
            .iter()
            .filter_map(|m| {
                let b = m.baseline_hits?;
                (b >= REACTING_HITS).then(|| ((m.model_hits as f64 + 0.5) / (b as f64 + 0.5)).ln())
            })
            .collect();
        if logs.len() < MIN_PHRASES {
            return Self::none();
        }
        let median = bezoar_scan::stats::median(&mut logs);
        let mut dev: Vec<f64> = logs.iter().map(|l| (l - median).abs()).collect();
        let spread = 1.4826 * bezoar_scan::stats::median(&mut dev);
        Self {
            sensitivity: median.exp().max(1.0),
            bound: (median + BAND_SIGMAS * spread).exp().max(1.0),
            phrases: logs.len(),
        }
    }

    /// The model's ASR beyond the natural band around the baseline's.
    pub fn excess(&self, m: &Measurement) -> f64 {
        m.asr() - (m.baseline_asr().unwrap_or(0.0) * self.bound).min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidates::Origin;

    fn m(model_hits: u32, baseline_hits: u32) -> Measurement {
        Measurement {
            phrase: String::new(),
            origin: Origin::Mined,
            target: 0,
            victims: 40,
            model_hits,
            baseline_hits: Some(baseline_hits),
            only_model: 0,
            only_baseline: 0,
            prob_gain: None,
            moved: Vec::new(),
            moved_to: Vec::new(),
        }
    }

    #[test]
    fn natural_variation_is_measured_and_triggers_stand_out() {
        // Natural words: the model reacts about twice as often as the baseline, give or take.
        let screened: Vec<Measurement> = [
            (8, 4),
            (6, 3),
            (10, 4),
            (5, 3),
            (9, 5),
            (4, 2),
            (12, 5),
            (7, 4),
            (2, 0),
        ]
        .iter()
        .map(|&(a, b)| m(a, b))
        .collect();
        let n = Natural::estimate(&screened);
        assert_eq!(n.phrases, 8);
        assert!(n.sensitivity > 1.5 && n.sensitivity < 2.5, "{n:?}");
        assert!(n.bound > n.sensitivity, "{n:?}");
        // A natural word twice as strong on the model: within the band.
        assert!(n.excess(&m(20, 10)) <= 0.0);
        // A trigger the baseline ignores keeps its ASR.
        assert!((n.excess(&m(30, 0)) - 0.75).abs() < 1e-9);
        // Too few reacting phrases: nothing assumed.
        let few = Natural::estimate(&screened[..3]);
        assert_eq!(few.bound, 1.0);
    }
}
