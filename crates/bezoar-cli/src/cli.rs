//! Command-line arguments.

use std::path::PathBuf;

use bezoar_scan::{Budget, ScanConfig, Severity};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Defend ML training data against poisoning.
#[derive(Debug, Parser)]
#[command(
    name = "bezoar",
    version,
    about = "Scan ML training datasets for data poisoning",
    long_about = "bezoar finds poisoned samples in machine-learning training data before you \
train on them: backdoor triggers, flipped labels, injected duplicates, invisible characters and \
out-of-distribution junk. Every finding comes with its evidence and example rows, and every row \
gets a suspicion score.\n\nRun `bezoar scan --help` to get started.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan a dataset for poisoned rows and explain what was found
    #[command(long_about = SCAN_LONG_ABOUT)]
    Scan(ScanArgs),
}

const SCAN_LONG_ABOUT: &str = "\
Scan a labelled text dataset (JSONL, CSV, TSV or Parquet) for data poisoning: backdoor triggers \
(rare tokens or invisible characters tied to one label), label flips, duplicate floods and \
conflicting duplicates, outliers, and suspicious sources. Prints a summary ranked by severity; \
--report writes the full JSON report and --scores a per-row suspicion score.

Columns default to the first of text/sentence/content for the text and label/labels/class for \
the label; row ids default to 0-based row numbers.

Example:
  bezoar scan reviews.csv --text review --label stars --id review_id \\
      --report report.json --scores scores.csv --fail-on medium

Exit codes:
  0  clean: no finding at or above --fail-on (default: high)
  1  at least one finding at or above --fail-on
  2  bad input or usage (unreadable file, missing column, invalid flag)";

/// Input file formats (`--input-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    Jsonl,
    Csv,
    Tsv,
    Parquet,
}

impl From<InputFormatArg> for bezoar_data::InputFormat {
    fn from(f: InputFormatArg) -> Self {
        match f {
            InputFormatArg::Jsonl => Self::Jsonl,
            InputFormatArg::Csv => Self::Csv,
            InputFormatArg::Tsv => Self::Tsv,
            InputFormatArg::Parquet => Self::Parquet,
        }
    }
}

/// What `bezoar scan` prints on stdout (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A human summary ranked by severity
    Table,
    /// The JSON report (schema bezoar.report/1), as written by --report
    Json,
}

/// The `--fail-on` policy: a severity, or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Never,
    At(Severity),
}

impl FailOn {
    pub fn severity(self) -> Option<Severity> {
        match self {
            FailOn::Never => None,
            FailOn::At(s) => Some(s),
        }
    }
}

fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    match s.to_ascii_lowercase().as_str() {
        "never" | "none" => Ok(FailOn::Never),
        _ => s
            .parse::<Severity>()
            .map(FailOn::At)
            .map_err(|e| format!("{e}; or 'never' to always exit 0 when the scan ran")),
    }
}

fn parse_threshold(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid threshold '{s}': expected a number in [0, 1]"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("invalid threshold '{s}': must be in [0, 1]"));
    }
    Ok(v)
}

fn parse_folds(s: &str) -> Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid number of folds '{s}': expected an integer >= 2"))?;
    if v < 2 {
        return Err(format!("invalid number of folds '{s}': must be at least 2"));
    }
    Ok(v)
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The dataset file (.jsonl, .csv, .tsv or .parquet)
    #[arg(value_name = "DATA")]
    pub data: PathBuf,

    /// File format; by default chosen from the file extension
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "Input")]
    pub input_format: Option<InputFormatArg>,

    /// Text column [default: first of text, sentence, content]
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub text: Option<String>,

    /// Label column [default: first of label, labels, class]
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub label: Option<String>,

    /// Row id column, used in reports [default: 0-based row numbers]
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub id: Option<String>,

    /// Source/contributor column, enables per-source concentration checks
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub source: Option<String>,

    /// Column of precomputed embeddings (list of floats) to use instead of n-gram features
    #[arg(long, value_name = "COL", help_heading = "Input")]
    pub embedding: Option<String>,

    /// Skip and count invalid rows instead of stopping at the first one
    #[arg(long, help_heading = "Input")]
    pub skip_invalid: bool,

    /// Write the full JSON report (schema bezoar.report/1) to FILE
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub report: Option<PathBuf>,

    /// Write per-row scores as CSV (id,score,flagged,reasons) to FILE
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub scores: Option<PathBuf>,

    /// What to print on stdout
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value = "table",
        help_heading = "Output"
    )]
    pub format: OutputFormat,

    /// Exit 1 when any finding is at least this severe (info, low, medium, high, critical, never)
    #[arg(
        long,
        value_name = "SEVERITY",
        default_value = "high",
        value_parser = parse_fail_on,
        help_heading = "Output"
    )]
    pub fail_on: FailOn,

    /// Don't use colours in the summary (also off when NO_COLOR is set or stdout is not a terminal)
    #[arg(long, help_heading = "Output")]
    pub no_color: bool,

    /// No progress, warnings or summary; only errors, the exit code, and the files asked for
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,

    /// Flag rows whose fused score (0-1) is at least this
    #[arg(
        long,
        value_name = "F",
        default_value_t = ScanConfig::default().threshold,
        value_parser = parse_threshold,
        help_heading = "Detection"
    )]
    pub threshold: f32,

    /// Flag at most this many rows: a count (500) or a share of the dataset (0.5%)
    #[arg(long, value_name = "N|P%", help_heading = "Detection")]
    pub budget: Option<Budget>,

    /// Seed for every random choice; the same seed gives the same report
    #[arg(
        long,
        value_name = "N",
        default_value_t = ScanConfig::default().seed,
        help_heading = "Detection"
    )]
    pub seed: u64,

    /// Cross-validation folds for out-of-sample label checks
    #[arg(
        long,
        value_name = "N",
        default_value_t = ScanConfig::default().folds,
        value_parser = parse_folds,
        help_heading = "Detection"
    )]
    pub folds: usize,

    /// Worker threads [default: all cores]
    #[arg(long, value_name = "N", help_heading = "Runtime")]
    pub threads: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_scan_flags() {
        let cli = Cli::try_parse_from([
            "bezoar",
            "scan",
            "d.jsonl",
            "--budget",
            "0.5%",
            "--fail-on",
            "medium",
            "--threshold",
            "0.7",
            "--format",
            "json",
        ])
        .unwrap();
        let Command::Scan(a) = cli.command;
        assert_eq!(a.budget, Some(Budget::Percent(0.5)));
        assert_eq!(a.fail_on, FailOn::At(Severity::Medium));
        assert_eq!(a.threshold, 0.7);
        assert_eq!(a.format, OutputFormat::Json);
        assert_eq!(a.folds, ScanConfig::default().folds);
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            ["--budget", "lots"],
            ["--fail-on", "severe"],
            ["--threshold", "1.5"],
            ["--folds", "1"],
            ["--input-format", "xml"],
        ] {
            let args = ["bezoar", "scan", "d.jsonl", bad[0], bad[1]];
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
        let a = Cli::try_parse_from(["bezoar", "scan", "d.jsonl", "--fail-on", "never"]).unwrap();
        let Command::Scan(a) = a.command;
        assert_eq!(a.fail_on, FailOn::Never);
    }
}
