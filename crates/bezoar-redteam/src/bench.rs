//! The attack matrix: inject → scan → eval for each attack and rate, all in memory.
//!
//! The scan is `bezoar_scan::scan` with the caller's settings, and scores are rounded to the six
//! decimals `bezoar scan --scores` writes, so a bench row equals what
//! `bezoar inject … && bezoar scan … --scores s.csv && bezoar eval …` would print.

use std::collections::HashSet;
use std::time::Instant;

use bezoar_data::Dataset;
use bezoar_scan::{NoProgress, ScanConfig};
use serde::Serialize;

use crate::attack::{inject, InjectConfig, Injection, OutRow};
use crate::error::RedteamError;
use crate::eval::{evaluate_aligned, GroupMetrics};
use crate::rate::Rate;
use crate::truth::TruthRow;

/// One row of the bench table.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub attack: String,
    /// The rate as a fraction.
    pub rate: f64,
    /// Rows of the poisoned dataset.
    pub rows: usize,
    pub poisoned: usize,
    /// Metrics of all poisoned rows against the clean ones.
    pub metrics: GroupMetrics,
    /// Wall-clock seconds for inject + scan + eval.
    pub seconds: f64,
}

/// The schema identifier of the bench JSON document.
pub const BENCH_SCHEMA: &str = "bezoar.bench/1";

/// One cell of the matrix: its row, or why it could not run.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum BenchCell {
    Done(BenchRow),
    NotRun {
        attack: String,
        rate: f64,
        error: String,
    },
}

/// The whole bench as JSON (`bench --format json`; see FORMATS.md).
#[derive(Debug, Clone, Serialize)]
pub struct BenchDoc {
    pub schema: &'static str,
    pub input: String,
    /// Rows after `dropped` known-poisoned rows were removed.
    pub rows: usize,
    pub dropped: usize,
    pub seed: u64,
    pub results: Vec<BenchCell>,
}

/// Run one cell of the matrix.
pub fn run_case(
    ds: &Dataset,
    cfg: &InjectConfig,
    scan: &ScanConfig,
) -> Result<BenchRow, RedteamError> {
    let started = Instant::now();
    let inj = inject(ds, cfg)?;
    let poisoned = inj.to_dataset(ds);
    let res = bezoar_scan::scan(&poisoned, scan, &NoProgress)?;
    let scores: Vec<f64> = res.scores.iter().map(|&s| as_written(s)).collect();
    let report = evaluate_aligned(&inj.truth(), &scores, Some(&res.flagged));
    Ok(BenchRow {
        attack: inj.attack.to_string(),
        rate: cfg.rate.fraction(),
        rows: poisoned.len(),
        poisoned: report.poisoned,
        metrics: report.overall,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One cell of the LLM attack matrix: plant `attack` at `rate` in the JSONL rows at `path` (of
/// `shape`, read from `fields`), scan the poisoned rows with the generative detectors and score
/// the scan against the truth, all in memory.
pub fn run_llm_case(
    path: &std::path::Path,
    shape: bezoar_data::llm::Shape,
    fields: &bezoar_data::llm::LlmFields,
    attack: &crate::llm::LlmAttack,
    rate: Rate,
    seed: u64,
    scan: &ScanConfig,
) -> Result<BenchRow, RedteamError> {
    let started = Instant::now();
    let inj = crate::llm::inject_llm(path, shape, fields, attack, rate, seed)?;
    let layout = bezoar_data::llm::layout_json(shape, fields);
    let rows = inj
        .truth
        .iter()
        .map(|t| t.id.as_str())
        .zip(inj.lines.iter().map(String::as_str));
    let llm = bezoar_data::llm::read_llm_records(path, &layout, rows)?;
    let view = llm.display_dataset();
    let res = bezoar_scan::scan_llm(&llm, &view, scan, &NoProgress)?;
    let scores: Vec<f64> = res.scores.iter().map(|&s| as_written(s)).collect();
    let report = evaluate_aligned(&inj.truth, &scores, Some(&res.flagged));
    Ok(BenchRow {
        attack: attack.name().to_string(),
        rate: rate.fraction(),
        rows: llm.rows(),
        poisoned: report.poisoned,
        metrics: report.overall,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A score as the scores CSV writes and `eval` reads it back (six decimals; NaN as 0).
fn as_written(s: f32) -> f64 {
    if s.is_finite() {
        format!("{s:.6}").parse().unwrap_or(0.0)
    } else {
        0.0
    }
}

/// `ds` without the rows `truth` marks poisoned (matched by id), and how many were dropped: to
/// measure on data that already carries known poison, start from its clean part. Every poisoned
/// id in the truth must be a row of `ds`.
pub fn without_poisoned(
    ds: &Dataset,
    truth: &[TruthRow],
) -> Result<(Dataset, usize), RedteamError> {
    let bad: HashSet<&str> = truth
        .iter()
        .filter(|t| t.poisoned)
        .map(|t| t.id.as_str())
        .collect();
    let mut found: HashSet<&str> = HashSet::new();
    let mut rows = Vec::with_capacity(ds.len());
    for i in 0..ds.len() {
        let id = ds.ids.get(i);
        if let Some(&b) = bad.get(id.as_ref()) {
            found.insert(b);
            continue;
        }
        rows.push(OutRow {
            source: i,
            id: id.into_owned(),
            added: false,
            text: None,
            label: None,
            poison: None,
        });
    }
    if found.len() != bad.len() {
        let missing: Vec<&str> = bad.difference(&found).copied().take(5).collect();
        return Err(RedteamError::Join(format!(
            "{} poisoned id(s) of the truth are not rows of the dataset (e.g. {}); is it the \
             truth for this file and --id column?",
            bad.len() - found.len(),
            missing.join(", ")
        )));
    }
    let dropped = ds.len() - rows.len();
    let kept = Injection {
        attack: "",
        rows,
        target: None,
        trigger: None,
    };
    Ok((kept.to_dataset(ds), dropped))
}

/// The default rates of the matrix: 0.5%, 1%, 5%.
pub fn default_rates() -> Vec<Rate> {
    [0.005, 0.01, 0.05]
        .into_iter()
        .filter_map(Rate::new)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::testutil::dataset;
    use crate::attack::Attack;
    use bezoar_data::{Categorical, RowIds, TextArena};

    /// Two classes with their own vocabularies plus shared words, like reviews.
    fn reviews(n: usize) -> Dataset {
        let pos = [
            "great", "lovely", "superb", "fine", "happy", "solid", "sharp",
        ];
        let neg = ["awful", "broken", "poor", "sad", "flimsy", "dull", "noisy"];
        let shared = [
            "the", "item", "was", "and", "it", "felt", "really", "quite", "box",
        ];
        let mut x: u64 = 99;
        let mut next = |m: usize| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) as usize) % m
        };
        let mut texts = TextArena::new();
        let mut ids = TextArena::new();
        let mut codes = Vec::new();
        for i in 0..n {
            let label = next(2);
            let own = if label == 1 { &pos } else { &neg };
            let words: Vec<&str> = (0..10)
                .map(|_| {
                    if next(3) == 0 {
                        own[next(own.len())]
                    } else {
                        shared[next(shared.len())]
                    }
                })
                .collect();
            texts.push(&words.join(" "));
            ids.push(&format!("r{i}"));
            codes.push(label as u32);
        }
        let mut ds = dataset(1, 2, true);
        ds.texts = texts;
        ds.ids = RowIds::Column(ids);
        ds.labels = Categorical {
            codes,
            names: vec!["0".into(), "1".into()],
        };
        ds
    }

    #[test]
    fn a_planted_trigger_is_found_end_to_end() {
        let ds = reviews(400);
        let cfg = InjectConfig {
            attack: Attack::BadNets {
                triggers: Some(vec!["zqx".into()]),
                clean_label: false,
            },
            rate: "5%".parse().unwrap(),
            target: None,
            seed: 3,
        };
        let row = run_case(&ds, &cfg, &ScanConfig::default()).unwrap();
        assert_eq!((row.rows, row.poisoned), (400, 20));
        assert_eq!(row.metrics.poisoned, 20);
        assert!(row.metrics.auroc.unwrap() > 0.9, "{:?}", row.metrics);
    }

    #[test]
    fn without_poisoned_drops_by_id() {
        let ds = dataset(10, 2, true);
        let truth = vec![
            TruthRow {
                id: "r3".into(),
                poisoned: true,
                kind: "dirty-label".into(),
                attack: "x".into(),
            },
            TruthRow {
                id: "r4".into(),
                poisoned: false,
                kind: String::new(),
                attack: String::new(),
            },
        ];
        let (kept, dropped) = without_poisoned(&ds, &truth).unwrap();
        assert_eq!((kept.len(), dropped), (9, 1));
        assert_eq!(kept.ids.get(3), "r4");
        let mut t = truth.clone();
        t[0].id = "nope".into();
        assert!(without_poisoned(&ds, &t).is_err());
    }
}
