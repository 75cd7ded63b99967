//! The quality suite: every poisoning benchmark set and every clean corpus under one directory,
//! scanned with the given settings and judged against what each must reach.
//!
//! Layout read (the layout of `../shared` beside the checkout):
//! - `bench/<set>/train.jsonl` (or `train.parquet` with an `embedding` column when embeddings
//!   are asked for) and `bench/<set>/truth.csv`: one poisoned set each; `bench/sets.csv` gives
//!   each set's `family`, `need_f1` and `need_auroc`. A set without a row there is measured
//!   but has no need.
//! - `corpora/<name>.jsonl`: clean corpora. A clean corpus passes when at most
//!   [`CLEAN_MAX_FLAGGED`] of its rows are flagged and no finding is at or above
//!   [`CLEAN_FAIL_ON`] (what `bezoar scan` exits 1 on by default).
//!
//! - `bench-llm/` and `corpora-llm/` the same for LLM fine-tuning data (prompt/response, chat,
//!   preference pairs; the shape is recognised from the columns), whose truth ids are 0-based
//!   row numbers.
//!
//! Whatever is there counts: a new set or corpus needs no code change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bezoar_data::llm::{detect_shape, read_llm, LlmOptions};
use bezoar_data::{read_dataset, ColumnSpec, ReadOptions};
use bezoar_scan::{NoProgress, ScanConfig, Severity};
use serde::Serialize;

use crate::error::RedteamError;
use crate::eval::{evaluate_aligned, GroupMetrics};
use crate::truth::{read_truth, TruthRow};

/// The schema identifier of the quality JSON document.
pub const QUALITY_SCHEMA: &str = "bezoar.quality/1";
/// The largest share of a clean corpus's rows that may be flagged.
pub const CLEAN_MAX_FLAGGED: f64 = 0.01;
/// No finding on a clean corpus may be this severe.
pub const CLEAN_FAIL_ON: Severity = Severity::High;

/// What a benchmark set must reach (a row of `sets.csv`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Need {
    pub family: String,
    pub f1: f64,
    pub auroc: f64,
}

/// The sets and corpora found under a suite directory, in name order.
#[derive(Debug, Clone, Default)]
pub struct Suite {
    pub sets: Vec<SetSpec>,
    pub corpora: Vec<(String, PathBuf)>,
}

#[derive(Debug, Clone)]
pub struct SetSpec {
    pub name: String,
    pub dir: PathBuf,
    pub need: Option<Need>,
}

/// One poisoned set's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SetResult {
    pub set: String,
    /// `trigger`, `flip`, `paraphrase`, … from `sets.csv`; `null` when the set has no need.
    pub family: Option<String>,
    pub rows: usize,
    pub metrics: GroupMetrics,
    pub need: Option<Need>,
    /// Whether F1 and AUROC reach the need; `null` without a need.
    pub ok: Option<bool>,
    /// AUROC of each label reader's doubt (1 − P(label)) alone, then of the pooled readers
    /// (`pooled`), against the truth; empty when label consistency did not run.
    pub readers: Vec<ReaderAuroc>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReaderAuroc {
    pub reader: &'static str,
    pub auroc: Option<f64>,
    /// Whether the pooled label score hears this reader (its calibrated log-loss on the labels
    /// as given is at or under the readers' mean).
    pub heard: bool,
    /// That log-loss; `null` for the pool itself.
    pub log_loss: Option<f64>,
}

impl SetResult {
    /// The pooled label readers' AUROC and the best single reader's, when both exist.
    pub fn pooled_and_best_reader(&self) -> Option<(f64, &ReaderAuroc)> {
        let pooled = self.readers.iter().find(|r| r.reader == "pooled")?.auroc?;
        let best = self
            .readers
            .iter()
            .filter(|r| r.reader != "pooled" && r.auroc.is_some())
            .max_by(|a, b| a.auroc.unwrap_or(0.0).total_cmp(&b.auroc.unwrap_or(0.0)))?;
        Some((pooled, best))
    }
}

/// One clean corpus's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CorpusResult {
    pub corpus: String,
    pub rows: usize,
    pub flagged: usize,
    pub flagged_share: f64,
    /// The most severe finding (`null` when there is none).
    pub max_severity: Option<&'static str>,
    pub ok: bool,
    pub seconds: f64,
}

/// The whole suite (`bezoar quality --format json`; see FORMATS.md).
#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    pub schema: &'static str,
    pub embeddings: bool,
    pub sets: Vec<SetResult>,
    pub corpora: Vec<CorpusResult>,
}

impl QualityReport {
    pub fn all_ok(&self) -> bool {
        self.sets.iter().all(|s| s.ok != Some(false)) && self.corpora.iter().all(|c| c.ok)
    }
}

/// Find the sets (`bench/*/truth.csv`) and corpora (`corpora/*.jsonl`) under `root`.
pub fn discover(root: &Path) -> Result<Suite, RedteamError> {
    let mut suite = Suite::default();
    for (bench_dir, corpora_dir) in [("bench", "corpora"), ("bench-llm", "corpora-llm")] {
        let bench = root.join(bench_dir);
        let needs = match std::fs::read_to_string(bench.join("sets.csv")) {
            Ok(text) => read_needs(&bench.join("sets.csv"), &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(RedteamError::io(&bench.join("sets.csv"), e)),
        };
        for dir in sorted_entries(&bench)? {
            if dir.join("truth.csv").is_file() && dir.join("train.jsonl").is_file() {
                let name = file_name(&dir);
                suite.sets.push(SetSpec {
                    need: needs.get(&name).cloned(),
                    name,
                    dir,
                });
            }
        }
        for path in sorted_entries(&root.join(corpora_dir))? {
            if path.extension().is_some_and(|e| e == "jsonl") && path.is_file() {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                suite.corpora.push((name, path));
            }
        }
    }
    if suite.sets.is_empty() && suite.corpora.is_empty() {
        return Err(RedteamError::InvalidFile {
            file: root.to_path_buf(),
            message: "no benchmark sets (bench/<set>/train.jsonl + truth.csv) or clean corpora (corpora/*.jsonl) found".into(),
        });
    }
    Ok(suite)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Entries of `dir` in name order; none when it does not exist.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, RedteamError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RedteamError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        out.push(entry.map_err(|e| RedteamError::io(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}

/// `set,family,need_f1,need_auroc,...` rows by set name.
fn read_needs(path: &Path, text: &str) -> Result<BTreeMap<String, Need>, RedteamError> {
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header = rdr
        .headers()
        .map_err(|e| malformed(path, 1, e.to_string()))?
        .clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| malformed(path, 1, format!("no '{name}' column")))
    };
    let (set, family, f1, auroc) = (
        col("set")?,
        col("family")?,
        col("need_f1")?,
        col("need_auroc")?,
    );
    let mut out = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| malformed(path, line, e.to_string()))?;
        let num = |c: usize, what: &str| -> Result<f64, RedteamError> {
            let v = rec.get(c).unwrap_or("").trim();
            v.parse::<f64>()
                .ok()
                .filter(|x| (0.0..=1.0).contains(x))
                .ok_or_else(|| {
                    malformed(
                        path,
                        line,
                        format!("{what} '{}' is not a number in [0, 1]", v.escape_debug()),
                    )
                })
        };
        out.insert(
            rec.get(set).unwrap_or("").to_string(),
            Need {
                family: rec.get(family).unwrap_or("").to_string(),
                f1: num(f1, "need_f1")?,
                auroc: num(auroc, "need_auroc")?,
            },
        );
    }
    Ok(out)
}

fn malformed(path: &Path, line: u64, message: String) -> RedteamError {
    RedteamError::Malformed {
        file: path.to_path_buf(),
        line,
        message,
    }
}

/// A scanned file: its row ids and the scan's result.
struct Scanned {
    ids: Vec<String>,
    res: bezoar_scan::ScanResult,
}

/// Read and scan `path`: LLM data (recognised from its columns; ids are row numbers) with the
/// generative detectors, text classification (ids from its `id` column; embeddings when asked
/// for) with the classification scan.
fn scan_file(path: &Path, embeddings: bool, cfg: &ScanConfig) -> Result<Scanned, RedteamError> {
    let shape = detect_shape(path, &LlmOptions::default())?;
    if shape.is_llm() {
        let llm = read_llm(path, &LlmOptions::default())?;
        let view = llm.display_dataset();
        let res = bezoar_scan::scan_llm(&llm, &view, cfg, &NoProgress)?;
        let ids = (0..view.len())
            .map(|i| view.ids.get(i).into_owned())
            .collect();
        return Ok(Scanned { ids, res });
    }
    let opts = ReadOptions {
        columns: ColumnSpec {
            id: Some("id".into()),
            embedding: embeddings.then(|| "embedding".to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    let ds = read_dataset(path, &opts)?;
    let res = bezoar_scan::scan(&ds, cfg, &NoProgress)?;
    let ids = (0..ds.len()).map(|i| ds.ids.get(i).into_owned()).collect();
    Ok(Scanned { ids, res })
}

/// Scan one set and score it against its truth and need. With `embeddings`, the set's
/// `train.parquet` is read with its `embedding` column when it has one.
pub fn run_set(
    spec: &SetSpec,
    embeddings: bool,
    cfg: &ScanConfig,
) -> Result<SetResult, RedteamError> {
    let started = Instant::now();
    let parquet = spec.dir.join("train.parquet");
    let with_embeddings = embeddings && parquet.is_file();
    let file = if with_embeddings {
        parquet
    } else {
        spec.dir.join("train.jsonl")
    };
    let cfg = ScanConfig {
        keep_reader_scores: true,
        ..cfg.clone()
    };
    let Scanned { ids, res } = scan_file(&file, with_embeddings, &cfg)?;
    let truth_path = spec.dir.join("truth.csv");
    let truth = read_truth(&truth_path)?;
    let by_id: BTreeMap<&str, &TruthRow> = truth.iter().map(|t| (t.id.as_str(), t)).collect();
    let aligned: Vec<TruthRow> = ids
        .iter()
        .map(|id| {
            by_id.get(id.as_str()).map(|t| (*t).clone()).ok_or_else(|| {
                RedteamError::Join(format!(
                    "{}: row id '{}' of {} has no truth row",
                    truth_path.display(),
                    id.escape_debug(),
                    file.display()
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let scores: Vec<f64> = res.scores.iter().map(|&s| s as f64).collect();
    let report = evaluate_aligned(&aligned, &scores, Some(&res.flagged));
    let poisoned: Vec<bool> = aligned.iter().map(|t| t.poisoned).collect();
    let readers = res
        .label_readers
        .iter()
        .map(|r| {
            // Doubt in the given label; a row the reader could not read counts as undecided.
            let doubt: Vec<f64> = r
                .p_label
                .iter()
                .map(|&p| if p.is_finite() { 1.0 - p as f64 } else { 0.5 })
                .collect();
            ReaderAuroc {
                reader: r.name,
                auroc: crate::metrics::auroc(&doubt, &poisoned),
                heard: r.heard,
                log_loss: r.log_loss.is_finite().then_some(r.log_loss),
            }
        })
        .collect();
    let m = report.overall;
    let ok = spec
        .need
        .as_ref()
        .map(|n| m.f1.unwrap_or(0.0) >= n.f1 - 1e-9 && m.auroc.unwrap_or(0.0) >= n.auroc - 1e-9);
    Ok(SetResult {
        set: spec.name.clone(),
        family: spec.need.as_ref().map(|n| n.family.clone()),
        rows: ids.len(),
        metrics: m,
        need: spec.need.clone(),
        ok,
        readers,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Scan one clean corpus and judge its false alarms.
pub fn run_corpus(name: &str, path: &Path, cfg: &ScanConfig) -> Result<CorpusResult, RedteamError> {
    let started = Instant::now();
    let Scanned { ids, res } = scan_file(path, false, cfg)?;
    let flagged = res.flagged_count();
    let share = flagged as f64 / ids.len().max(1) as f64;
    let worst = res.max_severity();
    Ok(CorpusResult {
        corpus: name.to_string(),
        rows: ids.len(),
        flagged,
        flagged_share: share,
        max_severity: worst.map(|s| s.name()),
        ok: share <= CLEAN_MAX_FLAGGED && worst.is_none_or(|s| s < CLEAN_FAIL_ON),
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.3}"))
}

/// A set's cells, in table order: set, family, AUROC, AP, P, R, F1, flagged, needed, status.
fn set_cells(s: &SetResult, short: &str) -> [String; 10] {
    let m = &s.metrics;
    [
        s.set.clone(),
        s.family.clone().unwrap_or_else(|| "-".into()),
        num(m.auroc),
        num(m.average_precision),
        num(m.precision),
        num(m.recall),
        num(m.f1),
        m.flagged.unwrap_or(0).to_string(),
        s.need
            .as_ref()
            .map_or_else(|| "-".into(), |n| format!("{:.3} / {:.3}", n.f1, n.auroc)),
        match s.ok {
            Some(true) => "ok".into(),
            Some(false) => short.into(),
            None => "-".into(),
        },
    ]
}

fn corpus_summary(c: &CorpusResult) -> String {
    format!(
        "flagged {} of {} ({:.2}%), worst finding {}",
        c.flagged,
        c.rows,
        100.0 * c.flagged_share,
        c.max_severity.unwrap_or("none")
    )
}

/// The suite as a Markdown table (sets, then corpora), the form the README shows.
pub fn render_markdown(r: &QualityReport) -> String {
    let mut out = String::from(
        "| set | family | AUROC | AP | precision | recall | F1 | flagged | needed (F1 / AUROC) | | seconds |\n|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|\n",
    );
    for s in &r.sets {
        out.push_str(&format!(
            "| {} | {:.1} |\n",
            set_cells(s, "short").join(" | "),
            s.seconds
        ));
    }
    for c in &r.corpora {
        out.push_str(&format!(
            "| {} (clean) | clean | | | | | | {} ({:.2}%) | ≤ {:.0}% flagged, nothing ≥ {} | {} | {:.1} |\n",
            c.corpus,
            c.flagged,
            100.0 * c.flagged_share,
            100.0 * CLEAN_MAX_FLAGGED,
            CLEAN_FAIL_ON.name(),
            if c.ok {
                "ok".to_string()
            } else {
                format!("short (worst: {})", c.max_severity.unwrap_or("none"))
            },
            c.seconds
        ));
    }
    out
}

/// Label readers on the flip sets: each reader's AUROC alone and the pooled one's.
pub fn render_readers(r: &QualityReport) -> String {
    let mut out = String::new();
    for s in r
        .sets
        .iter()
        .filter(|s| s.family.as_deref() == Some("flip"))
    {
        let Some((pooled, best)) = s.pooled_and_best_reader() else {
            continue;
        };
        let each: Vec<String> = s
            .readers
            .iter()
            .filter(|x| x.reader != "pooled")
            .map(|x| {
                format!(
                    "{}{} {}",
                    x.reader.trim_start_matches("scale_"),
                    if x.heard { "*" } else { "" },
                    num(x.auroc)
                )
            })
            .collect();
        out.push_str(&format!(
            "label readers on {}: pooled {pooled:.3} (best single: {} {}) — {} (* heard by the pool)\n",
            s.set,
            best.reader.trim_start_matches("scale_"),
            num(best.auroc),
            each.join(", ")
        ));
    }
    out
}

/// The suite as an aligned plain-text table.
pub fn render_text(r: &QualityReport) -> String {
    let widths = [30, 11, 6, 6, 6, 6, 6, 7, 13, 6];
    let row = |cells: &[String]| {
        let mut line = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            let cell = if (2..=8).contains(&i) {
                format!("{c:>w$} ")
            } else {
                format!("{c:<w$} ")
            };
            line.push_str(&cell);
        }
        line
    };
    let header = [
        "set", "family", "AUROC", "AP", "P", "R", "F1", "flagged", "needed", "",
    ]
    .map(String::from);
    let mut out = format!("{}{:>6}\n", row(&header), "sec");
    for s in &r.sets {
        out.push_str(&format!(
            "{}{:>6.1}\n",
            row(&set_cells(s, "SHORT")),
            s.seconds
        ));
    }
    for c in &r.corpora {
        out.push_str(&format!(
            "{:<30} {:<11} {}  {}  {:.1}s\n",
            format!("{} (clean)", c.corpus),
            "clean",
            corpus_summary(c),
            if c.ok { "ok" } else { "SHORT" },
            c.seconds
        ));
    }
    out.push_str(&render_readers(r));
    let short = r.sets.iter().filter(|s| s.ok == Some(false)).count()
        + r.corpora.iter().filter(|c| !c.ok).count();
    out.push_str(&format!(
        "{} of {} sets and {} of {} clean corpora meet their need{}\n",
        r.sets.iter().filter(|s| s.ok == Some(true)).count(),
        r.sets.iter().filter(|s| s.ok.is_some()).count(),
        r.corpora.iter().filter(|c| c.ok).count(),
        r.corpora.len(),
        if short > 0 {
            format!("; {short} short")
        } else {
            String::new()
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_are_read_by_column_name_and_checked() {
        let p = Path::new("sets.csv");
        let needs = read_needs(
            p,
            "set,family,need_f1,need_auroc,peer\nx,flip,0.5,0.87,cleanlab\n",
        )
        .unwrap();
        assert_eq!(
            needs["x"],
            Need {
                family: "flip".into(),
                f1: 0.5,
                auroc: 0.87
            }
        );
        let err = read_needs(p, "set,family,need_f1,need_auroc\nx,flip,high,0.8\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "sets.csv:2: need_f1 'high' is not a number in [0, 1]"
        );
        assert!(read_needs(p, "set,family\n").is_err());
    }

    #[test]
    fn discovery_finds_sets_and_corpora_in_name_order() {
        let root = tempfile::tempdir().unwrap();
        for set in ["b-set", "a-set"] {
            let d = root.path().join("bench").join(set);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("train.jsonl"), "").unwrap();
            std::fs::write(d.join("truth.csv"), "id,poisoned\n").unwrap();
        }
        // A directory without truth is not a set.
        std::fs::create_dir_all(root.path().join("bench/notes")).unwrap();
        std::fs::write(
            root.path().join("bench/sets.csv"),
            "set,family,need_f1,need_auroc\na-set,trigger,0.85,0.9\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.path().join("corpora")).unwrap();
        std::fs::write(root.path().join("corpora/news.jsonl"), "").unwrap();
        std::fs::write(root.path().join("corpora/README.md"), "").unwrap();
        let s = discover(root.path()).unwrap();
        let names: Vec<&str> = s.sets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a-set", "b-set"]);
        assert_eq!(s.sets[0].need.as_ref().map(|n| n.f1), Some(0.85));
        assert!(s.sets[1].need.is_none());
        assert_eq!(s.corpora.len(), 1);
        assert_eq!(s.corpora[0].0, "news");
        assert!(discover(&root.path().join("nothing")).is_err());
    }
}
