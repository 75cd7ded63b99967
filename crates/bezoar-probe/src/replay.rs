//! Benchmark replay: the model and the baseline on the held-out evaluation rows — accuracy,
//! recall per class, the confusion matrix — and the inputs on which the two disagree, grouped by
//! class and by source. A backdoor that also bends ordinary inputs shows here.

use std::collections::BTreeMap;

use serde::Serialize;

use bezoar_scan::stats::ln_binom_sf;

/// One model's scores on the evaluation rows.
#[derive(Debug, Clone, Serialize)]
pub struct Scorecard {
    pub accuracy: f64,
    /// Recall of each class present in the data, by label.
    pub recall: BTreeMap<String, f64>,
    /// `confusion[true][predicted]`, classes in `ProbeReport::classes` order.
    pub confusion: Vec<Vec<u64>>,
}

impl Scorecard {
    pub fn of(truth: &[u32], predicted: &[u32], classes: &[String]) -> Self {
        let k = classes.len();
        let mut confusion = vec![vec![0u64; k]; k];
        for (&t, &p) in truth.iter().zip(predicted) {
            confusion[t as usize][p as usize] += 1;
        }
        let correct: u64 = (0..k).map(|c| confusion[c][c]).sum();
        let recall = (0..k)
            .filter_map(|c| {
                let n: u64 = confusion[c].iter().sum();
                (n > 0).then(|| (classes[c].clone(), confusion[c][c] as f64 / n as f64))
            })
            .collect();
        Self {
            accuracy: if truth.is_empty() {
                0.0
            } else {
                correct as f64 / truth.len() as f64
            },
            recall,
            confusion,
        }
    }
}

/// An evaluation row the two models read differently.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    pub id: String,
    pub text: String,
    pub label: String,
    pub model: String,
    pub baseline: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Baseline accuracy minus model accuracy (positive: the model is worse).
    pub accuracy_drop: f64,
    /// Exact McNemar test that the model is wrong more often than the baseline.
    pub accuracy_drop_p: f64,
    /// Rows the model gets wrong and the baseline right, and the reverse.
    pub only_model_wrong: u64,
    pub only_baseline_wrong: u64,
    pub disagreements: u64,
    /// Disagreements by true label, and by source when the data has one.
    pub by_label: BTreeMap<String, u64>,
    pub by_source: BTreeMap<String, u64>,
    pub examples: Vec<Disagreement>,
}

/// Rows of the evaluation data, for the comparison's grouping and examples.
pub struct EvalRows<'a> {
    pub ids: &'a dyn Fn(usize) -> String,
    pub texts: &'a [&'a str],
    pub truth: &'a [u32],
    pub sources: Option<&'a dyn Fn(usize) -> String>,
}

/// Examples of disagreement kept in the report.
const EXAMPLES: usize = 10;
/// Characters of an example's text kept in the report.
const EXAMPLE_CHARS: usize = 300;

pub fn compare(rows: &EvalRows, model: &[u32], baseline: &[u32], classes: &[String]) -> Comparison {
    let mut c = Comparison {
        accuracy_drop: 0.0,
        accuracy_drop_p: 1.0,
        only_model_wrong: 0,
        only_baseline_wrong: 0,
        disagreements: 0,
        by_label: BTreeMap::new(),
        by_source: BTreeMap::new(),
        examples: Vec::new(),
    };
    for i in 0..rows.truth.len() {
        let (t, m, b) = (rows.truth[i], model[i], baseline[i]);
        c.only_model_wrong += (m != t && b == t) as u64;
        c.only_baseline_wrong += (b != t && m == t) as u64;
        if m == b {
            continue;
        }
        c.disagreements += 1;
        *c.by_label.entry(classes[t as usize].clone()).or_default() += 1;
        if let Some(src) = rows.sources {
            *c.by_source.entry(src(i)).or_default() += 1;
        }
        if c.examples.len() < EXAMPLES {
            c.examples.push(Disagreement {
                id: (rows.ids)(i),
                text: clip(rows.texts[i]),
                label: classes[t as usize].clone(),
                model: classes[m as usize].clone(),
                baseline: classes[b as usize].clone(),
            });
        }
    }
    let n = rows.truth.len().max(1) as f64;
    c.accuracy_drop = (c.only_model_wrong as f64 - c.only_baseline_wrong as f64) / n;
    if c.only_model_wrong > 0 {
        c.accuracy_drop_p = ln_binom_sf(
            c.only_model_wrong,
            c.only_model_wrong + c.only_baseline_wrong,
            0.5,
        )
        .exp();
    }
    c
}

pub(crate) fn clip(text: &str) -> String {
    match bezoar_data::display::truncate_chars(text, EXAMPLE_CHARS) {
        (head, true) => format!("{head}…"),
        (all, false) => all.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scorecard_and_comparison_count_what_they_say() {
        let classes = vec!["neg".to_string(), "pos".to_string()];
        let truth = [0, 0, 1, 1, 1];
        let model = [0, 1, 1, 0, 0];
        let base = [0, 0, 1, 1, 0];
        let s = Scorecard::of(&truth, &model, &classes);
        assert!((s.accuracy - 0.4).abs() < 1e-12);
        assert_eq!(s.confusion, vec![vec![1, 1], vec![2, 1]]);
        assert!((s.recall["pos"] - 1.0 / 3.0).abs() < 1e-12);
        let texts = ["a", "b", "c", "d", "e"];
        let ids = |i: usize| i.to_string();
        let rows = EvalRows {
            ids: &ids,
            texts: &texts,
            truth: &truth,
            sources: None,
        };
        let c = compare(&rows, &model, &base, &classes);
        assert_eq!((c.only_model_wrong, c.only_baseline_wrong), (2, 0));
        assert_eq!(c.disagreements, 2);
        assert!((c.accuracy_drop - 0.4).abs() < 1e-12);
        assert!((c.accuracy_drop_p - 0.25).abs() < 1e-9);
        assert_eq!(c.by_label["neg"], 1);
        assert_eq!(c.examples[0].id, "1");
    }
}
