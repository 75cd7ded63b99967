//! `bezoar scan DATA`: read → scan → write the requested outputs → exit code from the policy.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use bezoar_data::llm::{LlmDataset, LlmOptions, Shape};
use bezoar_data::{ColumnSpec, Dataset, InputFormat, ReadOptions};
use bezoar_ledger::snapshot::SnapshotRows;
use bezoar_report::{ReportMeta, TerminalOptions};
use bezoar_scan::{ScanConfig, ScanResult, Severity};

use super::{EXIT_CLEAN, EXIT_FINDINGS};
use crate::cli::{OutputFormat, ScanArgs};
use crate::progress::{LoadUnit, Reporter};

pub fn run(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    configure_threads(args.threads)?;
    // A bad -o is a usage error: say so before reading or scanning anything.
    let main_format = args.output_format().map_err(anyhow::Error::msg)?;

    let opts = ReadOptions {
        format: args.input_format.map(InputFormat::from),
        columns: ColumnSpec {
            text: args.text.clone(),
            label: args.label.clone(),
            id: args.id.clone(),
            source: args.source.clone(),
            embedding: args.embedding.clone(),
        },
        skip_invalid: args.skip_invalid,
    };
    let snapshot = snapshot_input(&args.data)?;
    let format = match &snapshot {
        Some(_) => None,
        None => Some(bezoar_data::resolve_format(&args.data, &opts)?),
    };

    let progress = Reporter::new(!args.quiet && io::stderr().is_terminal());
    let snapshot_rows = match &snapshot {
        Some((ledger, snap)) => Some(ledger.snapshot_rows(snap)?),
        None => None,
    };
    let scanned = match snapshot_rows {
        Some(SnapshotRows::Classification(ds)) => {
            scan_classification(args, &opts, Some(ds), format, &progress)?
        }
        Some(SnapshotRows::Llm(llm)) => scan_llm_data(args, Ok(llm), 0.0, &progress)?,
        None => {
            let shape = input_shape(args, &opts.columns, format)?;
            if shape.is_llm() {
                let (llm, read_seconds) = read_llm_file(args, shape, format, &progress);
                scan_llm_data(args, llm, read_seconds, &progress)?
            } else {
                scan_classification(args, &opts, None, format, &progress)?
            }
        }
    };
    let Scanned {
        ds,
        res,
        rows_root,
        shape,
    } = scanned;

    let meta = ReportMeta {
        input_path: args.data.display().to_string(),
        input_format: format.map_or("ledger snapshot", |f| f.name()).to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    if let Some(path) = &args.scores {
        write_file(path, |w| {
            bezoar_report::write_scores_csv(w, &ds, &res).map_err(anyhow::Error::from)
        })?;
    }
    if let Some(path) = &args.report {
        write_file(path, |w| {
            bezoar_report::write_report_json(w, &ds, &res, &meta).map_err(anyhow::Error::from)
        })?;
    }
    let fail_on = args.fail_on.severity();
    let outputs = Outputs {
        ds: &ds,
        res: &res,
        meta: &meta,
        artifact: sarif_artifact(args, &snapshot, format)?,
        html: bezoar_report::HtmlOptions {
            fail_on,
            snapshot: snapshot.as_ref().map(|(_, s)| s.label()),
        },
    };
    if let Some(path) = &args.sarif {
        write_file(path, |w| outputs.write(OutputFormat::Sarif, w, None))?;
    }
    if let Some(path) = &args.html {
        write_file(path, |w| outputs.write(OutputFormat::Html, w, None))?;
    }
    match &args.output {
        Some(path) => {
            let table = TerminalOptions {
                color: false,
                fail_on,
                ..TerminalOptions::default()
            };
            write_file(path, |w| outputs.write(main_format, w, Some(&table)))?;
        }
        None => print_stdout(args, &outputs, main_format, fail_on)?,
    }
    let code = exit_code(&res, fail_on);
    if args.record {
        let rows_root = match (&snapshot, rows_root) {
            (Some((_, snap)), _) => snap.rows_root.clone(),
            (None, Some(root)) => root,
            (None, None) => bezoar_ledger::snapshot::rows_root_of_dataset(&ds),
        };
        record_in_ledger(args, &ds, &res, shape, code, &rows_root)?;
    }

    Ok(ExitCode::from(code))
}

/// A scan's rows (as reports show them) and its result.
struct Scanned {
    ds: Dataset,
    res: ScanResult,
    /// The Merkle root of LLM rows read from a file with `--record` (the ledger's row
    /// encoding, which `ds`, a display view, cannot give).
    rows_root: Option<String>,
    shape: Shape,
}

/// The shape of the rows: `--shape`, or text-classification flags, or LLM column flags, else
/// recognised from the file's columns.
fn input_shape(
    args: &ScanArgs,
    columns: &ColumnSpec,
    format: Option<InputFormat>,
) -> anyhow::Result<Shape> {
    Ok(args
        .llm
        .shape_of(&args.data, columns, &llm_options(args, format))?)
}

fn llm_options(args: &ScanArgs, format: Option<InputFormat>) -> LlmOptions {
    args.llm.options(format, args.id.clone(), args.skip_invalid)
}

/// The scan settings; `applicable` are the detectors of the data's shape, at least one of which
/// must be chosen.
fn scan_config(
    args: &ScanArgs,
    applicable: &[bezoar_scan::Detector],
) -> anyhow::Result<ScanConfig> {
    let cfg = ScanConfig {
        seed: args.seed,
        folds: args.folds,
        threshold: args.threshold,
        budget: args.budget,
        threads: args.threads.unwrap_or(0),
        detectors: args.chosen_detectors(),
        ..ScanConfig::default()
    };
    if !applicable.iter().any(|d| cfg.detectors.contains(*d)) {
        let names: Vec<&str> = applicable.iter().map(|d| d.name()).collect();
        anyhow::bail!(
            "--detectors/--skip-detectors leave no detector to run on this data (its detectors: {})",
            names.join(", ")
        );
    }
    Ok(cfg)
}

fn scan_classification(
    args: &ScanArgs,
    opts: &ReadOptions,
    snapshot: Option<Dataset>,
    format: Option<InputFormat>,
    progress: &Reporter,
) -> anyhow::Result<Scanned> {
    let read_started = std::time::Instant::now();
    let ds = match snapshot {
        Some(ds) => Ok(ds),
        None => {
            let unit = match format {
                Some(InputFormat::Parquet) => LoadUnit::Rows,
                _ => LoadUnit::Bytes,
            };
            let mut on_progress = progress.loader(unit);
            bezoar_data::read_dataset_with_progress(&args.data, opts, &mut on_progress)
                .map_err(anyhow::Error::from)
        }
    };
    let read_seconds = read_started.elapsed().as_secs_f64();
    let ds = match ds {
        Ok(ds) => ds,
        Err(e) => {
            progress.finish();
            return Err(e);
        }
    };
    if !args.quiet {
        warn_skipped(&args.data, &ds.skipped, progress);
    }
    let cfg = scan_config(args, &bezoar_scan::Detector::CLASSIFICATION)?;
    progress.start_scan();
    let res = bezoar_scan::scan(&ds, &cfg, progress);
    progress.finish();
    let mut res = res?;
    res.stages.insert(0, ("reading", read_seconds));
    Ok(Scanned {
        ds,
        res,
        rows_root: None,
        shape: Shape::Classification,
    })
}

/// Read an LLM data file as `shape`, keeping every row's fields when the scan is recorded
/// (the ledger hashes them); returns the read and its seconds.
fn read_llm_file(
    args: &ScanArgs,
    shape: Shape,
    format: Option<InputFormat>,
    progress: &Reporter,
) -> (anyhow::Result<LlmDataset>, f64) {
    let mut opts = llm_options(args, format);
    opts.shape = Some(shape);
    opts.keep_records = args.record;
    let read_started = std::time::Instant::now();
    let unit = match format {
        Some(InputFormat::Parquet) => LoadUnit::Rows,
        _ => LoadUnit::Bytes,
    };
    let read = {
        let mut on_progress = progress.loader(unit);
        bezoar_data::llm::read_llm_with_progress(&args.data, &opts, &mut on_progress)
    };
    (
        read.map_err(Into::into),
        read_started.elapsed().as_secs_f64(),
    )
}

/// Prompts, chats and preference pairs (from a file or a snapshot): read as units, scanned by
/// the generative detectors; reports show each row's prompts and responses as its text.
fn scan_llm_data(
    args: &ScanArgs,
    read: anyhow::Result<LlmDataset>,
    read_seconds: f64,
    progress: &Reporter,
) -> anyhow::Result<Scanned> {
    let llm = match read {
        Ok(d) => d,
        Err(e) => {
            progress.finish();
            return Err(e);
        }
    };
    if !args.quiet {
        warn_skipped(&args.data, &llm.skipped, progress);
        let units = match llm.shape {
            Shape::Chat => format!(", {} assistant turns", llm.units()),
            _ => String::new(),
        };
        let msg = format!(
            "reading {} rows as {} data (columns: {}{units}); --shape and the column flags override this",
            llm.rows(),
            llm.shape.name(),
            llm.fields.names().join(", "),
        );
        progress.suspend(|| eprintln!("{}", bezoar_report::escape_invisible(&msg)));
    }
    let ds = llm.display_dataset();
    let cfg = scan_config(args, &bezoar_scan::Detector::GENERATIVE)?;
    progress.start_scan();
    let res = bezoar_scan::scan_llm(&llm, &ds, &cfg, progress);
    progress.finish();
    let mut res = res?;
    res.stages.insert(0, ("reading", read_seconds));
    let rows_root = llm
        .records
        .is_some()
        .then(|| bezoar_ledger::snapshot::rows_root_of_llm(&llm));
    Ok(Scanned {
        ds,
        res,
        rows_root,
        shape: llm.shape,
    })
}

/// Ids of a finding's rows kept in the recorded scan event (the count is always whole).
const RECORDED_ROW_IDS: usize = 1000;

/// `DATA` names a ledger snapshot (`NAME@N`, or `NAME` for the latest) when it is not a file
/// and a ledger in the current directory resolves it. A file of that name always wins.
pub(crate) fn snapshot_input(
    data: &Path,
) -> anyhow::Result<Option<(bezoar_ledger::Ledger, bezoar_ledger::snapshot::SnapshotInfo)>> {
    if bezoar_data::is_stdin(data) || data.exists() {
        return Ok(None);
    }
    let Some(spec) = data.to_str() else {
        return Ok(None);
    };
    let ledger = match super::ledger::open() {
        Ok(l) => l,
        Err(_) if !spec.contains('@') => return Ok(None),
        Err(e) => {
            return Err(e.context(format!(
                "{}: no such file, and it cannot be read as a ledger snapshot",
                data.display()
            )))
        }
    };
    match ledger.resolve(spec) {
        Ok(snap) => Ok(Some((ledger, snap))),
        Err(_) if !spec.contains('@') => Ok(None),
        Err(e) => Err(anyhow::Error::from(e)
            .context(format!("{}: no such file, nor a snapshot", data.display()))),
    }
}

/// `--record`: append a `scan` event to the ledger in the current directory, bound to the rows
/// read (`rows_root`): it counts for the gate of exactly the snapshots with those rows.
fn record_in_ledger(
    args: &ScanArgs,
    ds: &Dataset,
    res: &ScanResult,
    shape: Shape,
    code: u8,
    rows_root: &str,
) -> anyhow::Result<()> {
    let mut ledger = super::identity::open_as(&crate::cli_gov::AuthArgs {
        token: args.token.clone(),
    })?;
    let mut by_severity = std::collections::BTreeMap::<&str, usize>::new();
    for f in &res.findings {
        *by_severity.entry(f.severity.name()).or_default() += 1;
    }
    let findings: Vec<serde_json::Value> = res
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "rule": f.detector.rule_id(),
                "detector": f.detector.name(),
                "severity": f.severity.name(),
                "title": f.title,
                "subject": f.subject,
                "target_label": f.target_label,
                "rows": f.rows.len(),
                "row_ids": f.rows.iter().take(RECORDED_ROW_IDS)
                    .map(|&r| ds.ids.get(r as usize).into_owned()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let not_selected: Vec<&str> = res
        .detectors
        .iter()
        .filter(|d| d.skipped.as_deref() == Some(bezoar_scan::NOT_SELECTED))
        .map(|d| d.detector.rule_id())
        .collect();
    let summary = serde_json::json!({
        "tool": concat!("bezoar ", env!("CARGO_PKG_VERSION")),
        "flagged": res.flagged_count(),
        "findings": res.findings.len(),
        "by_severity": by_severity,
        "max_severity": res.max_severity().map(|s| s.name()),
        "threshold": res.threshold,
        "fail_on": args.fail_on.severity().map(|s| s.name()),
        "passed": code == EXIT_CLEAN,
        "detectors_not_selected": not_selected,
        "shape": shape.name(),
        "rules_run": bezoar_scan::Detector::for_shape(shape).into_iter()
            .filter(|d| !not_selected.contains(&d.rule_id()))
            .map(|d| d.rule_id()).collect::<Vec<_>>(),
        "finding_list": findings,
    });
    let input = args.data.display().to_string();
    let (seq, snaps) = ledger.record_scan(&input, rows_root, ds.len() as u64, summary)?;
    if !args.quiet {
        let labels: Vec<String> = snaps.iter().map(|s| s.label()).collect();
        eprintln!(
            "{}",
            bezoar_report::escape_invisible(&format!(
                "recorded the scan in the ledger as event {seq}{}",
                if labels.is_empty() {
                    " (it covers no snapshot: no snapshot has exactly these rows; to scan a snapshot, `bezoar scan NAME@N --record`)".to_string()
                } else {
                    format!(", covering {}", labels.join(", "))
                }
            ))
        );
    }
    Ok(())
}

/// 1 when any finding is at or above the policy, else 0.
fn exit_code(res: &ScanResult, fail_on: Option<Severity>) -> u8 {
    match (fail_on, res.max_severity()) {
        (Some(policy), Some(worst)) if worst >= policy => EXIT_FINDINGS,
        _ => EXIT_CLEAN,
    }
}

pub(crate) fn configure_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .with_context(|| format!("cannot start {n} worker threads"))?;
    }
    Ok(())
}

fn warn_skipped(path: &Path, skipped: &bezoar_data::SkipReport, progress: &Reporter) {
    if skipped.count == 0 {
        return;
    }
    let noun = if skipped.count == 1 { "row" } else { "rows" };
    let msg = match skipped.examples.first() {
        Some(first) => format!(
            "warning: skipped {} invalid {noun} (first: {}:{}: {})",
            skipped.count,
            path.display(),
            first.line,
            bezoar_report::escape_invisible(&first.reason)
        ),
        None => format!("warning: skipped {} invalid {noun}", skipped.count),
    };
    progress.suspend(|| eprintln!("{msg}"));
}

/// Create `path` and hand a buffered writer to `write`; errors name the file.
fn write_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = BufWriter::new(file);
    write(&mut w)
        .and_then(|()| w.flush().map_err(anyhow::Error::from))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn color_enabled(no_color: bool) -> bool {
    !no_color
        && io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Everything the report formats are rendered from.
struct Outputs<'a> {
    ds: &'a Dataset,
    res: &'a ScanResult,
    meta: &'a ReportMeta,
    artifact: bezoar_report::SarifArtifact,
    html: bezoar_report::HtmlOptions,
}

impl Outputs<'_> {
    /// Render `format` to `w`; the terminal table needs its options (`None` writes nothing).
    fn write(
        &self,
        format: OutputFormat,
        w: &mut dyn Write,
        table: Option<&TerminalOptions>,
    ) -> anyhow::Result<()> {
        let (ds, res, meta) = (self.ds, self.res, self.meta);
        match format {
            OutputFormat::Json => bezoar_report::write_report_json(w, ds, res, meta)?,
            OutputFormat::Sarif => bezoar_report::write_sarif(w, ds, res, meta, &self.artifact)?,
            OutputFormat::Html => bezoar_report::write_html(w, ds, res, meta, &self.html)?,
            OutputFormat::Table => {
                if let Some(opts) = table {
                    w.write_all(bezoar_report::render_terminal(ds, res, opts).as_bytes())?;
                    w.flush()?;
                }
            }
        }
        Ok(())
    }
}

/// How SARIF names the rows' origin: the snapshot, stdin, or the file relative to the
/// directory the scan runs in.
fn sarif_artifact(
    args: &ScanArgs,
    snapshot: &Option<(bezoar_ledger::Ledger, bezoar_ledger::snapshot::SnapshotInfo)>,
    format: Option<InputFormat>,
) -> anyhow::Result<bezoar_report::SarifArtifact> {
    if let Some((_, snap)) = snapshot {
        return Ok(bezoar_report::SarifArtifact::Snapshot(snap.label()));
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(bezoar_report::artifact_for_path(
        &args.data,
        &cwd,
        matches!(format, Some(InputFormat::Parquet)),
    ))
}

fn print_stdout(
    args: &ScanArgs,
    outputs: &Outputs<'_>,
    format: OutputFormat,
    fail_on: Option<Severity>,
) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let table = TerminalOptions {
        color: color_enabled(args.no_color),
        fail_on,
        ..TerminalOptions::default()
    };
    // --quiet silences the summary, never an output asked for by --format.
    let table = (!args.quiet).then_some(&table);
    let written = outputs.write(format, &mut out, table);
    match written {
        // A closed pipe (`bezoar scan … | head`) is not an error worth reporting.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
