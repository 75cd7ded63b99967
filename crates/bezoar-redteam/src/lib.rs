//! Red-teaming a poisoning detector: simulate attacks on a clean dataset ([`inject`]), measure a
//! detector's per-row scores against the ground truth ([`evaluate`]), and run the attack matrix
//! through the scanner ([`bench::run_case`]).
//!
//! - [`attack`]: badnets, addsent, invisible, label-flip, duplicate-flood, junk — each an edit
//!   plan over the dataset's text/label/id view, deterministic for a seed.
//! - [`table`]: reads a file with *all* its columns and writes an edit plan back in the same
//!   format (JSONL, CSV, TSV, Parquet).
//! - [`truth`]: the `id,poisoned,kind,attack` truth file.
//! - [`metrics`] and [`eval`]: AUROC (Mann–Whitney, ties as halves), average precision (ties at
//!   one threshold), recall@k, precision/recall/F1 of the flagged rows, overall and per group.
//!
//! Formats are documented in `FORMATS.md` beside this crate.

pub mod attack;
pub mod bench;
mod error;
pub mod eval;
pub mod llm;
pub mod metrics;
pub mod quality;
mod rate;
pub mod table;
pub mod truth;

pub use attack::{
    inject, Attack, InjectConfig, Injection, InvisibleStyle, OutRow, PoisonKind,
    DEFAULT_FLOOD_SOURCES,
};
pub use error::RedteamError;
pub use eval::{
    evaluate, evaluate_aligned, read_scores, render_text, EvalOptions, EvalReport, GroupMetrics,
    Scores, EVAL_SCHEMA,
};
pub use rate::Rate;
pub use table::{read_table, write_table, Table};
pub use truth::{read_truth, write_truth_csv, TruthRow, TRUTH_HEADER};
