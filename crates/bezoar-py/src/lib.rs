//! `bezoar._bezoar`, the native half of the Python package (`python/bezoar`).
//!
//! Data comes in through the Arrow PyCapsule stream interface (`__arrow_c_stream__`: pyarrow,
//! pandas ≥ 2.2, polars, DuckDB), so the rows are read straight from the producer's Arrow
//! buffers into bezoar's dataset, with no Python object per row. The scan runs on its own thread
//! with the GIL released; the calling thread waits, checking for Ctrl-C, and on one it asks the
//! scan to stop (it does at its next stage) and raises `KeyboardInterrupt` at once. Results go
//! back as the documented JSON report and as pyarrow `RecordBatchReader`s. Every error becomes
//! `BezoarError` with the CLI's message. Everything here is glue: the scan, the reports and the
//! red team are the same library code the CLI runs, so the same rows and settings give the
//! CLI's scores and findings.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use arrow_array::ffi_stream::RecordBatchStreamReader;
use arrow_array::{
    BooleanArray, Float32Array, RecordBatch, RecordBatchIterator, RecordBatchReader, StringArray,
};
use arrow_pyarrow::{FromPyArrow, IntoPyArrow};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use bezoar_data::{ColumnSpec, Dataset, InputFormat, ReadOptions};
use bezoar_report::ReportMeta;
use bezoar_scan::{
    Budget, Detector, Progress, Reasons, ScanConfig, ScanError, ScanResult, Severity,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

create_exception!(
    _bezoar,
    BezoarError,
    PyValueError,
    "Bad input or settings; the message is the CLI's (file, line and column, or row and column for data in memory)."
);

fn err(e: impl std::fmt::Display) -> PyErr {
    BezoarError::new_err(e.to_string())
}

/// How in-memory data is named in error messages (`<arrow data>:12: column 'text': …`).
const ARROW_ORIGIN: &str = "<arrow data>";

/// The column names the caller chose (`None`: bezoar's default for that role).
fn column_spec(columns: &Bound<'_, PyDict>) -> PyResult<ColumnSpec> {
    let get = |key: &str| -> PyResult<Option<String>> {
        match columns.get_item(key)? {
            Some(v) if !v.is_none() => Ok(Some(v.extract()?)),
            _ => Ok(None),
        }
    };
    for key in columns.keys() {
        let key: String = key.extract()?;
        if !["text", "label", "id", "source", "embedding"].contains(&key.as_str()) {
            return Err(err(format!("unknown column role '{key}'")));
        }
    }
    Ok(ColumnSpec {
        text: get("text")?,
        label: get("label")?,
        id: get("id")?,
        source: get("source")?,
        embedding: get("embedding")?,
    })
}

fn detector_set(names: Vec<String>) -> PyResult<Reasons> {
    let mut set = Reasons::default();
    for n in names {
        set.insert(n.parse::<Detector>().map_err(err)?);
    }
    Ok(set)
}

/// `ScanConfig` from the keyword settings, checked as the CLI checks its flags.
fn scan_config(settings: &Bound<'_, PyDict>) -> PyResult<ScanConfig> {
    let mut cfg = ScanConfig::default();
    let mut chosen: Option<Reasons> = None;
    let mut skipped = Reasons::default();
    for (k, v) in settings.iter() {
        let key: String = k.extract()?;
        if v.is_none() {
            continue;
        }
        match key.as_str() {
            "threshold" => {
                let t: f32 = v.extract()?;
                if !(t > 0.0 && t <= 1.0) {
                    return Err(err(format!(
                        "threshold must be above 0 and at most 1, got {t}"
                    )));
                }
                cfg.threshold = t;
            }
            "budget" => {
                let text: String = match v.extract::<usize>() {
                    Ok(n) => n.to_string(),
                    Err(_) => v.extract()?,
                };
                cfg.budget = Some(text.parse::<Budget>().map_err(err)?);
            }
            "seed" => cfg.seed = v.extract()?,
            "folds" => {
                let f: usize = v.extract()?;
                if !(2..=50).contains(&f) {
                    return Err(err(format!("folds must be 2 to 50, got {f}")));
                }
                cfg.folds = f;
            }
            "threads" => cfg.threads = v.extract()?,
            // Read by `fail_on`, not the scan.
            "fail_on" => {}
            "detectors" => chosen = Some(detector_set(v.extract()?)?),
            "skip_detectors" => skipped = detector_set(v.extract()?)?,
            other => return Err(err(format!("unknown setting '{other}'"))),
        }
    }
    let mut set = chosen.unwrap_or_else(Reasons::all);
    skipped.iter().for_each(|d| set.remove(d));
    if !bezoar_scan::Detector::CLASSIFICATION
        .iter()
        .any(|d| set.contains(*d))
    {
        return Err(err("skip_detectors leaves no detector to run"));
    }
    cfg.detectors = set;
    Ok(cfg)
}

/// The `fail_on` setting (the verdict of the summary and the HTML report), as `--fail-on`
/// takes it: a severity or `never`; `high` by default.
fn fail_on(settings: &Bound<'_, PyDict>) -> PyResult<Option<Severity>> {
    let Some(v) = settings.get_item("fail_on")?.filter(|v| !v.is_none()) else {
        return Ok(Some(Severity::High));
    };
    let name: String = v.extract()?;
    if name.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    name.parse::<Severity>()
        .map(Some)
        .map_err(|e| err(format!("fail_on: {e}, or never")))
}

/// Progress that only carries the cancel flag (Python shows no progress bar).
struct Cancel(Arc<AtomicBool>);

impl Progress for Cancel {
    fn stage(&self, _: &str, _: usize, _: usize) {}
    fn cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Run `work` on its own thread with the GIL released, checking for Ctrl-C every 100 ms: on
/// one, set the flag `work` watches and raise `KeyboardInterrupt` at once.
fn run_interruptible<T: Send + 'static>(
    py: Python<'_>,
    work: impl FnOnce(Arc<AtomicBool>) -> T + Send + 'static,
) -> PyResult<T> {
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    // Waiting happens with the GIL released, on a closure that must be Send: share the
    // receiver behind a mutex (only this thread ever locks it).
    let rx = Mutex::new(rx);
    let flag = Arc::clone(&cancel);
    std::thread::Builder::new()
        .name("bezoar-scan".into())
        .spawn(move || {
            let _ = tx.send(work(flag));
        })
        .map_err(err)?;
    loop {
        let waited = py.detach(|| {
            rx.lock()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
                .and_then(|r| r.recv_timeout(Duration::from_millis(100)))
        });
        match waited {
            Ok(v) => return Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = py.check_signals() {
                    cancel.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(err("the scan thread stopped without a result"))
            }
        }
    }
}

/// A finished scan: the dataset it read and its result, rendered on demand.
#[pyclass(module = "bezoar._bezoar", frozen)]
struct NativeScan {
    ds: Dataset,
    res: ScanResult,
    meta: ReportMeta,
    fail_on: Option<Severity>,
}

#[pymethods]
impl NativeScan {
    #[getter]
    fn rows(&self) -> usize {
        self.ds.len()
    }

    #[getter]
    fn flagged(&self) -> usize {
        self.res.flagged_count()
    }

    #[getter]
    fn max_severity(&self) -> Option<&'static str> {
        self.res.max_severity().map(|s| s.name())
    }

    /// Whether a finding is at or above `fail_on` (the CLI's exit code 1).
    #[getter]
    fn failed(&self) -> bool {
        matches!((self.fail_on, self.res.max_severity()), (Some(p), Some(w)) if w >= p)
    }

    /// The JSON report (`bezoar.report/1`), as `bezoar scan --report` writes it.
    fn report_json(&self) -> PyResult<String> {
        let mut buf = Vec::new();
        bezoar_report::write_report_json(&mut buf, &self.ds, &self.res, &self.meta).map_err(err)?;
        String::from_utf8(buf).map_err(err)
    }

    /// The SARIF 2.1.0 log; rows are named by id (no file to point at for data in memory).
    fn sarif_json(&self) -> PyResult<String> {
        let artifact = if self.meta.input_path == ARROW_ORIGIN {
            bezoar_report::SarifArtifact::Stdin
        } else {
            let cwd = std::env::current_dir().map_err(err)?;
            bezoar_report::artifact_for_path(
                Path::new(&self.meta.input_path),
                &cwd,
                self.meta.input_format == "parquet",
            )
        };
        let mut buf = Vec::new();
        bezoar_report::write_sarif(&mut buf, &self.ds, &self.res, &self.meta, &artifact)
            .map_err(err)?;
        String::from_utf8(buf).map_err(err)
    }

    /// The self-contained HTML report.
    fn html(&self) -> String {
        let opts = bezoar_report::HtmlOptions {
            fail_on: self.fail_on,
            snapshot: None,
        };
        bezoar_report::render_html(&self.ds, &self.res, &self.meta, &opts)
    }

    /// The terminal summary, without colour.
    fn summary(&self) -> String {
        let opts = bezoar_report::TerminalOptions {
            color: false,
            fail_on: self.fail_on,
            ..Default::default()
        };
        bezoar_report::render_terminal(&self.ds, &self.res, &opts)
    }

    /// Per-row scores as a `pyarrow.RecordBatchReader`: id (string), score (float32, null when
    /// a row has none), flagged (bool), reasons (the scores CSV's `reasons`, names joined by
    /// `;`), in input order.
    fn scores_stream<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let n = self.ds.len();
        let ids = StringArray::from_iter_values((0..n).map(|i| self.ds.ids.get(i)));
        let scores =
            Float32Array::from_iter(self.res.scores.iter().map(|&s| s.is_finite().then_some(s)));
        let flagged = BooleanArray::from(self.res.flagged.clone());
        let reasons = StringArray::from_iter_values(
            self.res
                .reasons
                .iter()
                .map(|&r| bezoar_report::reasons_string(r)),
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("score", DataType::Float32, true),
            Field::new("flagged", DataType::Boolean, false),
            Field::new("reasons", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(ids),
                Arc::new(scores),
                Arc::new(flagged),
                Arc::new(reasons),
            ],
        )
        .map_err(err)?;
        reader_to_py(py, schema, vec![batch])
    }
}

fn reader_to_py(
    py: Python<'_>,
    schema: Arc<Schema>,
    batches: Vec<RecordBatch>,
) -> PyResult<Bound<'_, PyAny>> {
    let reader: Box<dyn RecordBatchReader + Send> = Box::new(RecordBatchIterator::new(
        batches.into_iter().map(Ok::<_, ArrowError>),
        schema,
    ));
    reader.into_pyarrow(py)
}

/// Read any object with `__arrow_c_stream__` into a dataset, the GIL released while the
/// producer's batches are read.
fn dataset_from_stream(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    opts: &ReadOptions,
) -> PyResult<Dataset> {
    if !data.hasattr("__arrow_c_stream__")? {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "cannot read a {}: expected an object with __arrow_c_stream__ (a pyarrow Table or RecordBatchReader, a pandas >= 2.2 or polars DataFrame, a DuckDB result)",
            data.get_type().name()?
        )));
    }
    let reader = RecordBatchStreamReader::from_pyarrow_bound(data)?;
    let schema = reader.schema();
    py.detach(|| bezoar_data::dataset_from_batches(Path::new(ARROW_ORIGIN), &schema, reader, opts))
        .map_err(err)
}

fn scan_dataset(
    py: Python<'_>,
    ds: Dataset,
    cfg: ScanConfig,
    meta: ReportMeta,
    fail_on: Option<Severity>,
) -> PyResult<NativeScan> {
    let outcome = run_interruptible(py, move |cancel| {
        let res = bezoar_scan::scan(&ds, &cfg, &Cancel(cancel));
        (ds, res)
    })?;
    match outcome {
        (ds, Ok(res)) => Ok(NativeScan {
            ds,
            res,
            meta,
            fail_on,
        }),
        (_, Err(ScanError::Cancelled)) => Err(PyKeyboardInterrupt::new_err("scan cancelled")),
        (_, Err(e)) => Err(err(e)),
    }
}

/// Scan Arrow data (any object with `__arrow_c_stream__`).
#[pyfunction]
fn scan_arrow(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    columns: &Bound<'_, PyDict>,
    settings: &Bound<'_, PyDict>,
    skip_invalid: bool,
) -> PyResult<NativeScan> {
    let opts = ReadOptions {
        format: None,
        columns: column_spec(columns)?,
        skip_invalid,
    };
    let cfg = scan_config(settings)?;
    let ds = dataset_from_stream(py, data, &opts)?;
    let meta = ReportMeta {
        input_path: ARROW_ORIGIN.into(),
        input_format: "arrow".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
    };
    scan_dataset(py, ds, cfg, meta, fail_on(settings)?)
}

/// Scan a file (JSONL, CSV, TSV, Parquet), as `bezoar scan PATH` reads it.
#[pyfunction]
#[pyo3(signature = (path, columns, settings, input_format=None, skip_invalid=false))]
fn scan_path(
    py: Python<'_>,
    path: String,
    columns: &Bound<'_, PyDict>,
    settings: &Bound<'_, PyDict>,
    input_format: Option<String>,
    skip_invalid: bool,
) -> PyResult<NativeScan> {
    let format = input_format
        .map(|f| f.parse::<InputFormat>().map_err(err))
        .transpose()?;
    let opts = ReadOptions {
        format,
        columns: column_spec(columns)?,
        skip_invalid,
    };
    let cfg = scan_config(settings)?;
    let p = Path::new(&path);
    let resolved = bezoar_data::resolve_format(p, &opts).map_err(err)?;
    let ds = py
        .detach(|| bezoar_data::read_dataset(p, &opts))
        .map_err(err)?;
    let meta = ReportMeta {
        input_path: path.clone(),
        input_format: resolved.name().into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
    };
    scan_dataset(py, ds, cfg, meta, fail_on(settings)?)
}

/// Poison Arrow data as `bezoar inject` does: returns (rows, truth) as pyarrow readers. Rows
/// keep id, text and label (and source when named); truth has id, poisoned, kind, attack.
#[pyfunction]
#[pyo3(signature = (data, columns, attack, rate, seed, target=None))]
fn inject_arrow<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    columns: &Bound<'py, PyDict>,
    attack: String,
    rate: String,
    seed: u64,
    target: Option<String>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let attack = bezoar_redteam::Attack::from_name(&attack).ok_or_else(|| {
        err(format!(
            "unknown attack '{attack}' (expected badnets, addsent, invisible, label-flip, duplicate-flood or junk)"
        ))
    })?;
    let rate: bezoar_redteam::Rate = rate.parse().map_err(err)?;
    let opts = ReadOptions {
        format: None,
        columns: column_spec(columns)?,
        skip_invalid: false,
    };
    let ds = dataset_from_stream(py, data, &opts)?;
    let cfg = bezoar_redteam::InjectConfig {
        attack,
        rate,
        target,
        seed,
    };
    let (poisoned, truth) = py
        .detach(|| bezoar_redteam::inject(&ds, &cfg).map(|inj| (inj.to_dataset(&ds), inj.truth())))
        .map_err(err)?;

    let n = poisoned.len();
    let label_names = &poisoned.labels.names;
    let mut fields = vec![
        Field::new(
            ds.columns.id.as_deref().unwrap_or("id"),
            DataType::Utf8,
            false,
        ),
        Field::new(&ds.columns.text, DataType::Utf8, false),
        Field::new(&ds.columns.label, DataType::Utf8, false),
    ];
    let mut cols: Vec<arrow_array::ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| poisoned.ids.get(i)),
        )),
        Arc::new(StringArray::from_iter_values(poisoned.texts.iter())),
        Arc::new(StringArray::from_iter_values(
            poisoned
                .labels
                .codes
                .iter()
                .map(|&c| &label_names[c as usize]),
        )),
    ];
    if let (Some(src), Some(name)) = (&poisoned.sources, &ds.columns.source) {
        fields.push(Field::new(name, DataType::Utf8, false));
        cols.push(Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| src.name_of(i)),
        )));
    }
    let schema = Arc::new(Schema::new(fields));
    let rows = RecordBatch::try_new(schema.clone(), cols).map_err(err)?;
    let rows = reader_to_py(py, schema, vec![rows])?;

    let truth_schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("poisoned", DataType::Boolean, false),
        Field::new("kind", DataType::Utf8, true),
        Field::new("attack", DataType::Utf8, true),
    ]));
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let truth_batch = RecordBatch::try_new(
        truth_schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(truth.iter().map(|t| &t.id))),
            Arc::new(BooleanArray::from(
                truth.iter().map(|t| t.poisoned).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                truth.iter().map(|t| nonempty(&t.kind)).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                truth
                    .iter()
                    .map(|t| nonempty(&t.attack))
                    .collect::<Vec<_>>(),
            )),
        ],
    )
    .map_err(err)?;
    let truth = reader_to_py(py, truth_schema, vec![truth_batch])?;
    Ok((rows, truth))
}

/// Join scores to truth by id and compute the metrics `bezoar eval` reports (its JSON).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn evaluate(
    truth_ids: Vec<String>,
    poisoned: Vec<bool>,
    kinds: Vec<Option<String>>,
    attacks: Vec<Option<String>>,
    score_ids: Vec<String>,
    scores: Vec<Option<f64>>,
    flagged: Vec<bool>,
) -> PyResult<String> {
    let n = truth_ids.len();
    if poisoned.len() != n || kinds.len() != n || attacks.len() != n {
        return Err(err("truth columns have different lengths"));
    }
    if scores.len() != score_ids.len() || flagged.len() != score_ids.len() {
        return Err(err("score columns have different lengths"));
    }
    let truth: Vec<bezoar_redteam::TruthRow> = truth_ids
        .into_iter()
        .zip(poisoned)
        .zip(kinds.into_iter().zip(attacks))
        .map(
            |((id, poisoned), (kind, attack))| bezoar_redteam::TruthRow {
                id,
                poisoned,
                kind: kind.unwrap_or_default(),
                attack: attack.unwrap_or_default(),
            },
        )
        .collect();
    let rows = score_ids
        .into_iter()
        .zip(scores)
        .zip(flagged)
        .map(|((id, score), flagged)| bezoar_redteam::eval::ScoreRow {
            id,
            // A row without a score (NaN in the scan) ranks last, as in the scores CSV.
            score: score.filter(|s| s.is_finite()).unwrap_or(0.0),
            flagged: Some(flagged),
        })
        .collect();
    let scores = bezoar_redteam::Scores {
        rows,
        has_flagged: true,
    };
    let report = bezoar_redteam::evaluate(&truth, &scores, bezoar_redteam::EvalOptions::default())
        .map_err(err)?;
    serde_json::to_string(&report).map_err(err)
}

#[pymodule]
fn _bezoar(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("BezoarError", m.py().get_type::<BezoarError>())?;
    m.add_class::<NativeScan>()?;
    m.add_function(wrap_pyfunction!(scan_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(scan_path, m)?)?;
    m.add_function(wrap_pyfunction!(inject_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    Ok(())
}
