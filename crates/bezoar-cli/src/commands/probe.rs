//! `bezoar probe` (test a served model for hidden triggers) and `bezoar promote` (the gate after
//! training).

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rustc_hash::FxHashMap;
use serde_json::{json, Value};

use bezoar_data::{ColumnSpec, Dataset, ReadOptions};
use bezoar_ledger::objects::sha256;
use bezoar_ledger::policy::Policy;
use bezoar_ledger::promote::ModelRef;
use bezoar_ledger::snapshot::SnapshotInfo;
use bezoar_ledger::Ledger;
use bezoar_probe::transport::command::CommandModel;
use bezoar_probe::transport::http::{HttpModel, OipTensors, Protocol};
use bezoar_probe::{Client, ClientOptions, Hint, Model, Origin, ProbeOptions};
use bezoar_scan::Severity;

use super::{count, EXIT_CLEAN, EXIT_FINDINGS};
use crate::cli_probe::{ProbeArgs, ProbeFormat, PromoteArgs, ProtocolArg};

/// A dataset read for the probe, and the snapshot it came from (if any).
struct Loaded {
    ds: Dataset,
    input: String,
    snapshot: Option<SnapshotInfo>,
    rows_root: String,
}

/// Where a model is: a URL, a command or an ONNX directory (exactly one is set).
#[derive(Clone, Copy)]
struct Target<'a> {
    url: Option<&'a str>,
    command: Option<&'a str>,
    onnx: Option<&'a Path>,
    /// The model's name on an OIP server.
    name: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// A target as a probe event recorded it (`endpoint`).
    fn from_record(ep: &'a Value) -> Self {
        Target {
            url: ep.get("url").and_then(Value::as_str),
            command: ep.get("command").and_then(Value::as_str),
            onnx: ep.get("onnx").and_then(Value::as_str).map(Path::new),
            name: ep.get("model_name").and_then(Value::as_str),
        }
    }

    fn describe(&self) -> String {
        self.url
            .or(self.command)
            .map(str::to_string)
            .or(self.onnx.map(|p| p.display().to_string()))
            .unwrap_or_default()
    }
}

pub fn run(args: &ProbeArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    for (flag, v) in [
        ("--batch-size", args.batch_size),
        ("--concurrency", args.concurrency),
        ("--inputs", args.inputs),
        ("--screen-inputs", args.screen_inputs),
    ] {
        if v == 0 {
            bail!("{flag} must be at least 1");
        }
    }
    if args.timeout == 0 {
        bail!("--timeout must be at least 1 second");
    }
    for (flag, v) in [
        ("--max-asr", args.max_asr),
        ("--max-accuracy-drop", args.max_accuracy_drop),
    ] {
        if let Some(r) = v.filter(|r| !(0.0..=1.0).contains(r) || r.is_nan()) {
            bail!("{flag} {r}: must be a fraction between 0 and 1 (0.2 = 20 points)");
        }
    }
    let model_ref = args.model.as_deref().map(ModelRef::parse).transpose()?;
    if args.record && model_ref.is_none() {
        bail!("--record needs --model NAME@VERSION to name the model in the ledger");
    }
    let policy = Policy::load_or_default(&args.policy)?;
    policy.ensure_valid()?;
    let say = |msg: &str| {
        if !args.quiet {
            warn!("{msg}");
        }
    };

    let opts = ReadOptions {
        format: None,
        columns: ColumnSpec {
            text: args.text.clone(),
            label: args.label.clone(),
            id: args.id.clone(),
            source: args.source.clone(),
            embedding: None,
        },
        skip_invalid: false,
    };
    let held =
        load(&args.data, &opts).with_context(|| format!("--data {}", args.data.display()))?;
    let train = args
        .train
        .as_ref()
        .map(|p| load(p, &opts).with_context(|| format!("--train {}", p.display())))
        .transpose()?;

    // Candidates from outside the search.
    let mut hints: Vec<Hint> = args
        .triggers
        .iter()
        .map(|t| Hint {
            phrase: t.clone(),
            target: None,
            origin: Origin::User,
        })
        .collect();
    if let (Some(t), false) = (&train, args.no_scan_hint) {
        let found = scan_hints(t, args.seed)?;
        say(&format!(
            "{} from the training data's scan",
            count(found.len(), "trigger candidate")
        ));
        hints.extend(found);
    }

    let classes = bezoar_probe::classes_of(&held.ds, train.as_ref().map(|t| &t.ds));
    let label_map = parse_label_map(args.label_map.as_deref())?;
    let protocol = |url: &str| match args.protocol {
        Some(ProtocolArg::Oip) => Protocol::Oip,
        Some(ProtocolArg::Hf) => Protocol::HuggingFace,
        None => Protocol::guess(url),
    };
    let client_opts = ClientOptions {
        batch_size: args.batch_size,
        concurrency: args.concurrency,
        retries: args.retries,
        ..ClientOptions::default()
    };
    let timeout = Duration::from_secs(args.timeout);
    let tensors = OipTensors {
        input: args.input_tensor.clone(),
        label: args.label_tensor.clone(),
        probabilities: args.probabilities_tensor.clone(),
    };
    let connect = |t: Target| -> anyhow::Result<(Client, Value)> {
        let (model, record): (Box<dyn Model>, Value) = match (t.url, t.command, t.onnx) {
            (Some(u), _, _) => {
                let p = protocol(u);
                (
                    Box::new(HttpModel::new(u, p, t.name, tensors.clone(), timeout)?),
                    json!({"url": u, "protocol": p.name(), "model_name": t.name}),
                )
            }
            (None, Some(c), _) => (
                Box::new(CommandModel::new(c, timeout)?),
                json!({ "command": c }),
            ),
            (None, None, Some(dir)) => {
                (onnx_model(dir)?, json!({"onnx": dir.display().to_string()}))
            }
            _ => bail!("give the model as --url URL, --command CMD or --onnx DIR"),
        };
        let client = Client::new(
            model,
            client_opts.clone(),
            classes.clone(),
            label_map.clone(),
        );
        client.check_declared_labels()?;
        Ok((client, record))
    };
    let (model, model_endpoint) = connect(Target {
        url: args.url.as_deref(),
        command: args.command.as_deref(),
        onnx: args.onnx.as_deref(),
        name: args.model_name.as_deref(),
    })
    .context("the model")?;

    // The baseline: given, or the last model of this name whose probe passed.
    let mut baseline_from: Option<String> = None;
    let given = Target {
        url: args.baseline_url.as_deref(),
        command: args.baseline_command.as_deref(),
        onnx: args.baseline_onnx.as_deref(),
        name: args
            .baseline_model_name
            .as_deref()
            .or(args.model_name.as_deref()),
    };
    let baseline = if given.url.is_some() || given.command.is_some() || given.onnx.is_some() {
        Some(connect(given).context("the baseline model")?)
    } else {
        match (&model_ref, Path::new(bezoar_ledger::LEDGER_DIR).is_dir()) {
            (Some(m), true) => {
                let ledger = super::ledger::open()?;
                match ledger.last_passed_model(&m.name, &m.version)? {
                    Some((seq, b)) => {
                        let ep = b.get("endpoint").cloned().unwrap_or(Value::Null);
                        let t = Target::from_record(&ep);
                        let version = b.get("version").and_then(Value::as_str).unwrap_or("?");
                        let label = format!("{}@{version}", m.name);
                        say(&format!(
                            "baseline: {label}, the last model of this name that passed (probe event {seq}), at {}",
                            t.describe()
                        ));
                        baseline_from = Some(label.clone());
                        Some(connect(t).with_context(|| {
                            format!("the baseline {label} (from probe event {seq}); give --baseline-url, --baseline-command or --baseline-onnx")
                        })?)
                    }
                    None => None,
                }
            }
            _ => None,
        }
    };

    let eff = policy.for_dataset(
        train
            .as_ref()
            .and_then(|t| t.snapshot.as_ref())
            .map_or("", |s| s.dataset.as_str()),
    );
    let probe_opts = ProbeOptions {
        search: bezoar_probe::SearchOptions {
            screen_inputs: args.screen_inputs,
            measure_inputs: args.inputs,
            seed: args.seed,
            ..Default::default()
        },
        mine: bezoar_probe::MineOptions {
            limit: args.candidates,
            seed: args.seed,
            ..Default::default()
        },
        max_asr: args.max_asr.unwrap_or(eff.probe_max_asr),
        max_accuracy_drop: args
            .max_accuracy_drop
            .unwrap_or(eff.probe_max_accuracy_drop),
        search_enabled: !args.no_search,
    };
    let progress = |msg: &str| say(msg);
    let outcome = bezoar_probe::probe(
        &held.ds,
        train.as_ref().map(|t| &t.ds),
        &hints,
        &classes,
        &model,
        baseline.as_ref().map(|(c, _)| c),
        &probe_opts,
        &progress,
    )?;

    let model_sha256 = args
        .model_files
        .as_deref()
        .or(args.onnx.as_deref())
        .map(digest_of)
        .transpose()?;
    let calls = |c: &Client| {
        let (requests, inputs) = c.calls();
        json!({"requests": requests, "inputs": inputs})
    };
    let data_record = |l: &Loaded| {
        json!({
            "input": l.input,
            "rows": l.ds.len(),
            "rows_root": l.rows_root,
            "snapshot": l.snapshot.as_ref().map(|s| s.id),
            "snapshot_label": l.snapshot.as_ref().map(|s| s.label()),
        })
    };
    let baseline_record = baseline
        .as_ref()
        .map(|(c, ep)| json!({"endpoint": ep, "model": baseline_from, "calls": calls(c)}));
    let mut report = json!({
        "schema": bezoar_probe::REPORT_SCHEMA,
        "tool": concat!("bezoar ", env!("CARGO_PKG_VERSION")),
        "model": {
            "endpoint": model_endpoint,
            "name": model_ref.as_ref().map(|m| m.name.clone()),
            "version": model_ref.as_ref().map(|m| m.version.clone()),
            "sha256": model_sha256,
            "calls": calls(&model),
        },
        "baseline": baseline_record,
        "data": data_record(&held),
        "train": train.as_ref().map(data_record),
        "settings": {
            "seed": args.seed,
            "candidates": args.candidates,
            "screen_inputs": args.screen_inputs,
            "inputs": args.inputs,
            "search": !args.no_search,
            "scan_hint": !args.no_scan_hint,
            "max_asr": probe_opts.max_asr,
            "max_accuracy_drop": probe_opts.max_accuracy_drop,
        },
    });
    let outcome_json = serde_json::to_value(&outcome).expect("JSON encoding");
    if let (Value::Object(r), Value::Object(o)) = (&mut report, outcome_json) {
        r.extend(o);
    }
    // Every finding is a learned backdoor: rule BZ101, with its framework mapping.
    if let Some(Value::Array(findings)) = report.get_mut("findings") {
        for f in findings.iter_mut().filter_map(Value::as_object_mut) {
            f.insert("rule".into(), json!(bezoar_frameworks::MODEL_BACKDOOR_RULE));
        }
    }
    report["frameworks"] =
        bezoar_frameworks::mapping_json([bezoar_frameworks::MODEL_BACKDOOR_RULE]);
    report["seconds"] = json!((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
    // One serialisation: the file, stdout and the recorded digest are the same bytes.
    let report_text = serde_json::to_string_pretty(&report).expect("JSON encoding") + "\n";
    if let Some(path) = &args.report {
        std::fs::write(path, &report_text)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    match args.format {
        ProbeFormat::Json => print!("{report_text}"),
        ProbeFormat::Table => {
            print_summary(&outcome, &model, baseline.as_ref().map(|(c, _)| c), started)
        }
    }
    io::stdout().flush().ok();

    if args.record {
        let m = model_ref.as_ref().expect("checked above");
        let mut ledger = super::identity::open_as(&args.auth)?;
        let findings: Vec<Value> = outcome
            .findings
            .iter()
            .map(|f| {
                json!({
                    "severity": f.severity.name(),
                    "trigger": f.trigger,
                    "target_label": f.target_label,
                    "asr": f.asr,
                    "baseline_asr": f.baseline_asr,
                    "p_adjusted": f.p_adjusted,
                })
            })
            .collect();
        let cmp = outcome.replay.comparison.as_ref();
        let body = json!({
            "endpoint": model_endpoint,
            "model_sha256": model_sha256,
            "baseline": report["baseline"],
            "train": report["train"],
            "eval": report["data"],
            "passed": outcome.passed,
            "max_severity": outcome.max_severity.map(Severity::name),
            "worst_uplift": outcome.worst_uplift,
            "accuracy": outcome.replay.model.accuracy,
            "baseline_accuracy": outcome.replay.baseline.as_ref().map(|b| b.accuracy),
            "accuracy_drop": cmp.map(|c| c.accuracy_drop),
            "accuracy_drop_p": cmp.map(|c| c.accuracy_drop_p),
            "max_asr": outcome.max_asr,
            "max_accuracy_drop": outcome.max_accuracy_drop,
            "failures": outcome.failures,
            "findings": findings,
            "report_sha256": bezoar_ledger::util::hex(&sha256(report_text.as_bytes())),
        });
        let seq = ledger.record_probe(m, body)?;
        say(&format!(
            "recorded the probe of {} in the ledger as event {seq}",
            m.label()
        ));
    }
    Ok(ExitCode::from(if outcome.passed {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }))
}

#[cfg(feature = "onnx")]
fn onnx_model(dir: &Path) -> anyhow::Result<Box<dyn Model>> {
    Ok(Box::new(bezoar_probe::transport::onnx::OnnxModel::load(
        dir,
    )?))
}

#[cfg(not(feature = "onnx"))]
fn onnx_model(_dir: &Path) -> anyhow::Result<Box<dyn Model>> {
    bail!("this bezoar was built without ONNX support (cargo feature `onnx`)")
}

/// SHA-256 of a model file, or the model-signing digest of a directory (SHA-256 over its
/// files' digests, sorted by path).
fn digest_of(path: &Path) -> anyhow::Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("--model-files {}", path.display()))?;
    let digest = if meta.is_dir() {
        let files = bezoar_ledger::signing::hash_dir(path, &[])?;
        bezoar_ledger::signing::dir_root(&files)
    } else {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        sha256(&bytes)
    };
    Ok(bezoar_ledger::util::hex(&digest))
}

/// Read `--data`/`--train`: a file, stdin, or a ledger snapshot `NAME@N`.
fn load(path: &Path, opts: &ReadOptions) -> anyhow::Result<Loaded> {
    match super::scan::snapshot_input(path)? {
        Some((ledger, snap)) => {
            let ds = ledger.snapshot_dataset(&snap)?;
            Ok(Loaded {
                ds,
                input: path.display().to_string(),
                rows_root: snap.rows_root.clone(),
                snapshot: Some(snap),
            })
        }
        None => {
            let ds = bezoar_data::read_dataset(path, opts)?;
            let rows_root = bezoar_ledger::snapshot::rows_root_of_dataset(&ds);
            // A file holding exactly a snapshot's rows counts as that snapshot.
            let snapshot = match Path::new(bezoar_ledger::LEDGER_DIR).is_dir() {
                true => super::ledger::open()
                    .ok()
                    .and_then(|l: Ledger| l.snapshots().ok())
                    .and_then(|s| s.into_iter().rev().find(|s| s.rows_root == rows_root)),
                false => None,
            };
            Ok(Loaded {
                ds,
                input: path.display().to_string(),
                snapshot,
                rows_root,
            })
        }
    }
}

/// Trigger findings of the training data: its recorded scan when it is a snapshot that has one,
/// else a trigger-only scan run now.
fn scan_hints(train: &Loaded, seed: u64) -> anyhow::Result<Vec<Hint>> {
    let from_values = |list: &[Value]| -> Vec<Hint> {
        list.iter()
            .filter(|f| {
                f.get("rule").and_then(Value::as_str)
                    == Some(bezoar_scan::Detector::Trigger.rule_id())
            })
            .filter_map(|f| {
                Some(Hint {
                    phrase: f.get("subject")?.as_str()?.to_string(),
                    target: f
                        .get("target_label")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    origin: Origin::Scan,
                })
            })
            .collect()
    };
    if let Some(snap) = &train.snapshot {
        let ledger = super::ledger::open()?;
        if let Some((_, body)) = ledger.latest_scan(snap)? {
            let list = body
                .get("finding_list")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            return Ok(from_values(&list));
        }
    }
    let mut detectors = bezoar_scan::Reasons::default();
    detectors.insert(bezoar_scan::Detector::Trigger);
    let cfg = bezoar_scan::ScanConfig {
        seed,
        detectors,
        ..bezoar_scan::ScanConfig::default()
    };
    let res = bezoar_scan::scan(&train.ds, &cfg, &bezoar_scan::NoProgress)?;
    Ok(res
        .findings
        .iter()
        .filter(|f| f.detector == bezoar_scan::Detector::Trigger)
        .map(|f| Hint {
            phrase: f.subject.clone(),
            target: f.target_label.clone(),
            origin: Origin::Scan,
        })
        .collect())
}

/// `LABEL_0=0,LABEL_1=1` → model label → data label.
fn parse_label_map(spec: Option<&str>) -> anyhow::Result<FxHashMap<String, String>> {
    let mut map = FxHashMap::default();
    let Some(spec) = spec else { return Ok(map) };
    for pair in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((m, d)) = pair.split_once('=') else {
            bail!("--label-map: '{pair}' is not MODEL=DATA (e.g. LABEL_0=negative)");
        };
        if map
            .insert(m.trim().to_string(), d.trim().to_string())
            .is_some()
        {
            bail!("--label-map maps model label '{}' twice", m.trim());
        }
    }
    Ok(map)
}

fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

fn print_summary(
    o: &bezoar_probe::ProbeOutcome,
    model: &Client,
    baseline: Option<&Client>,
    started: Instant,
) {
    say!("probe of {}", model.endpoint());
    match baseline {
        Some(b) => say!("  baseline: {}", b.endpoint()),
        None => say!("  baseline: none"),
    }
    let r = &o.replay;
    let mut line = format!(
        "  held-out: {}, accuracy {:.3}",
        count(r.rows, "input"),
        r.model.accuracy
    );
    if let (Some(b), Some(c)) = (&r.baseline, &r.comparison) {
        line += &format!(
            " (baseline {:.3}; {} disagree, drop {:+.1} points, p={:.2})",
            b.accuracy,
            c.disagreements,
            100.0 * c.accuracy_drop,
            c.accuracy_drop_p
        );
    }
    say!("{line}");
    if let Some(s) = &o.search {
        say!(
            "  search: {} screened on {}, {} measured on {}",
            count(s.candidates_screened, "candidate"),
            count(s.screen_inputs, "input"),
            s.candidates_measured,
            count(s.measure_inputs, "input")
        );
    }
    if baseline.is_some() && o.search.is_some() {
        say!(
            "  natural variation: on {} screened phrases the baseline reacts to, the model moves {:.2}x as often (up to {:.2}x counts as natural); findings are judged beyond that",
            o.natural.phrases,
            o.natural.sensitivity,
            o.natural.bound
        );
    }
    let (mr, mi) = model.calls();
    let mut calls = format!("  calls: model {mi} inputs in {mr} requests");
    if let Some(b) = baseline {
        let (br, bi) = b.calls();
        calls += &format!(", baseline {bi} inputs in {br} requests");
    }
    say!("{calls}; {:.1} s", started.elapsed().as_secs_f64());
    for n in &o.notes {
        say!("  note: {n}");
    }
    if o.findings.is_empty() {
        say!("findings: none");
    } else {
        say!("findings:");
    }
    for f in &o.findings {
        say!(
            "  {:<8}  trigger {:?} -> {}: ASR {} on the model, {} on the baseline, {:+.0} points beyond ({} inputs, p={:.1e}, {})",
            f.severity.name().to_uppercase(),
            f.trigger,
            f.target_label,
            pct(f.asr),
            f.baseline_asr.map_or("-".to_string(), pct),
            100.0 * f.excess,
            f.inputs,
            f.p_adjusted,
            serde_json::to_value(f.origin).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
        );
        if !f.variants.is_empty() {
            let v: Vec<String> = f
                .variants
                .iter()
                .take(6)
                .map(|v| format!("{:?} {}", v.phrase, pct(v.asr)))
                .collect();
            say!(
                "            with {}: {}{}",
                count(f.variants.len(), "variant"),
                v.join(", "),
                if f.variants.len() > 6 { ", ..." } else { "" }
            );
        }
        if let Some(e) = f.examples.first() {
            say!(
                "            e.g. row {} ({} -> {}): {:?}",
                e.id,
                e.label,
                e.model,
                bezoar_data::display::truncate_chars(&e.with_trigger, 100).0
            );
        }
    }
    if o.passed {
        say!("verdict: PASSED");
    } else {
        say!("verdict: FAILED");
        for f in &o.failures {
            say!("  - {f}");
        }
    }
}

pub fn promote(args: &PromoteArgs) -> anyhow::Result<ExitCode> {
    let model = ModelRef::parse(&args.model)?;
    let mut ledger = super::identity::open_as(&args.auth)?;
    let policy = Policy::load_or_default(&args.policy)?;
    let v = ledger.promote(&model, &policy, args.out.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        say!(
            "promote {}: {}",
            model.label(),
            if v.passed { "PASSED" } else { "FAILED" }
        );
        for c in &v.checks {
            say!("  [{}] {}", if c.passed { "ok" } else { "FAIL" }, c.check);
            for r in &c.reasons {
                say!("      {r}");
            }
        }
        say!(
            "statement: {} (event {})",
            v.statement_path.display(),
            v.event_seq
        );
    }
    let _ = io::stdout().is_terminal();
    Ok(ExitCode::from(if v.passed {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }))
}
