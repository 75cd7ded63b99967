//! `bezoar bench DATA`: the attack × rate matrix through inject → scan → eval, one table.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use bezoar_redteam::bench::{
    run_case, run_llm_case, without_poisoned, BenchCell, BenchDoc, BenchRow, BENCH_SCHEMA,
};
use bezoar_redteam::eval::num;
use bezoar_redteam::llm::LlmAttack;
use bezoar_redteam::{Attack, InjectConfig, RedteamError};
use bezoar_scan::ScanConfig;

use super::{attack_of, EXIT_CLEAN};
use crate::cli::{BenchArgs, BenchFormat};

const COLUMNS: [&str; 11] = [
    "attack", "rate", "rows", "poisoned", "AUROC", "AP", "recall@k", "P", "R", "F1", "seconds",
];

/// One attack of the matrix, run at each rate.
struct Case<'a> {
    attack: String,
    run: Box<dyn Fn(bezoar_redteam::Rate) -> Result<BenchRow, RedteamError> + 'a>,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let opts = args.input.read_options();
    let llm_opts = args
        .llm
        .options(opts.format, opts.columns.id.clone(), false);
    let shape = args.llm.shape_of(&args.data, &opts.columns, &llm_opts)?;
    let scan = ScanConfig::default();
    if shape.is_llm() {
        return run_llm(args, shape, llm_opts, &scan);
    }
    let mut ds = bezoar_data::read_dataset(&args.data, &opts)?;
    let mut dropped = 0;
    if let Some(t) = &args.drop_poisoned {
        let truth = bezoar_redteam::read_truth(t)?;
        (ds, dropped) = without_poisoned(&ds, &truth)
            .with_context(|| format!("--drop-poisoned {}", t.display()))?;
    }
    let attacks: Vec<Attack> = match &args.attacks {
        Some(list) => list
            .iter()
            .map(|&a| {
                attack_of(a).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--attacks {}: an attack on LLM data, and {} holds text-classification rows",
                        arg_name(a),
                        args.data.display()
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?,
        None => Attack::NAMES
            .iter()
            .filter_map(|n| Attack::from_name(n))
            .collect(),
    };
    let (ds, scan) = (&ds, &scan);
    let cases = attacks
        .into_iter()
        .map(|attack| Case {
            attack: attack.name().to_string(),
            run: Box::new(move |rate| {
                let target = attack.uses_target().then(|| args.target.clone()).flatten();
                let cfg = InjectConfig {
                    attack: attack.clone(),
                    rate,
                    target,
                    seed: args.seed,
                };
                run_case(ds, &cfg, scan)
            }),
        })
        .collect();
    run_matrix(args, ds.len(), dropped, "", cases)
}

/// The matrix on LLM data: every attack on its shape (or those of `--attacks`), planted in the
/// JSONL rows and scanned by the generative detectors.
fn run_llm(
    args: &BenchArgs,
    shape: bezoar_data::llm::Shape,
    llm_opts: bezoar_data::llm::LlmOptions,
    scan: &ScanConfig,
) -> anyhow::Result<ExitCode> {
    if args.drop_poisoned.is_some() || args.target.is_some() {
        anyhow::bail!(
            "--drop-poisoned and --target apply to text-classification data; {} holds {} rows",
            args.data.display(),
            shape.name()
        );
    }
    // Read once through the checking reader: bad rows are reported as a scan would.
    let checked = bezoar_data::llm::read_llm(
        &args.data,
        &bezoar_data::llm::LlmOptions {
            shape: Some(shape),
            ..llm_opts
        },
    )?;
    let attacks: Vec<LlmAttack> = match &args.attacks {
        None => LlmAttack::defaults_for(shape),
        Some(list) => list
            .iter()
            .map(|&a| {
                LlmAttack::from_name(&arg_name(a))
                    .filter(|attack| attack.applies_to(shape))
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "--attacks {}: not an attack on {} data (its attacks: {})",
                            arg_name(a),
                            shape.name(),
                            LlmAttack::defaults_for(shape)
                                .iter()
                                .map(LlmAttack::name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let fields = &checked.fields;
    let cases = attacks
        .into_iter()
        .map(|attack| Case {
            attack: attack.name().to_string(),
            run: Box::new(move |rate| {
                run_llm_case(&args.data, shape, fields, &attack, rate, args.seed, scan)
            }),
        })
        .collect();
    run_matrix(
        args,
        checked.rows(),
        0,
        &format!(" of {} data", shape.name()),
        cases,
    )
}

/// The `--attacks` value's name, as `--help` lists it.
fn arg_name(a: crate::cli::AttackArg) -> String {
    use clap::ValueEnum as _;
    a.to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
}

/// Run each case at each rate and print the table (or the JSON document).
fn run_matrix(
    args: &BenchArgs,
    rows: usize,
    dropped: usize,
    what: &str,
    cases: Vec<Case>,
) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    let mut results: Vec<BenchCell> = Vec::new();
    if args.format != BenchFormat::Json {
        let mut intro = format!("{}: {rows} rows{what}", args.data.display());
        if dropped > 0 {
            intro.push_str(&format!(" after dropping {dropped} known-poisoned"));
        }
        intro.push_str(&format!(", seed {}, default scan settings", args.seed));
        emit(&mut out, &format!("{intro}\n\n"))?;
        emit(&mut out, &header(args.format))?;
    }
    for case in &cases {
        for &rate in &args.rates {
            let result = (case.run)(rate);
            match args.format {
                BenchFormat::Json => results.push(match result {
                    Ok(row) => BenchCell::Done(row),
                    Err(e) => BenchCell::NotRun {
                        attack: case.attack.clone(),
                        rate: rate.fraction(),
                        error: e.to_string(),
                    },
                }),
                fmt => {
                    let line = match &result {
                        Ok(row) => row_line(fmt, row),
                        Err(e) => error_line(fmt, &case.attack, &rate.to_string(), &e.to_string()),
                    };
                    emit(&mut out, &line)?;
                }
            }
        }
    }
    if args.format == BenchFormat::Json {
        let doc = BenchDoc {
            schema: BENCH_SCHEMA,
            input: args.data.display().to_string(),
            rows,
            dropped,
            seed: args.seed,
            results,
        };
        let mut s = serde_json::to_string_pretty(&doc).context("cannot serialise the bench")?;
        s.push('\n');
        emit(&mut out, &s)?;
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}

fn emit(out: &mut impl Write, s: &str) -> anyhow::Result<()> {
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::from(e).context("cannot write to stdout"))
        }
        _ => Ok(()),
    }
}

fn header(fmt: BenchFormat) -> String {
    match fmt {
        BenchFormat::Markdown => format!(
            "| {} |\n|{}\n",
            COLUMNS.join(" | "),
            COLUMNS
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                .collect::<String>()
        ),
        _ => cells_line(&COLUMNS.map(str::to_string)),
    }
}

fn row_line(fmt: BenchFormat, r: &BenchRow) -> String {
    let m = &r.metrics;
    let cells = [
        r.attack.clone(),
        bezoar_redteam::Rate::new(r.rate).map_or_else(|| r.rate.to_string(), |x| x.to_string()),
        r.rows.to_string(),
        r.poisoned.to_string(),
        num(m.auroc),
        num(m.average_precision),
        num(m.recall_at_k),
        num(m.precision),
        num(m.recall),
        num(m.f1),
        format!("{:.1}", r.seconds),
    ];
    match fmt {
        BenchFormat::Markdown => format!("| {} |\n", cells.join(" | ")),
        _ => cells_line(&cells),
    }
}

fn error_line(fmt: BenchFormat, attack: &str, rate: &str, err: &str) -> String {
    match fmt {
        BenchFormat::Markdown => format!("| {attack} | {rate} | not run: {err} |\n"),
        _ => format!("{attack:<25} {rate:>6}  not run: {err}\n"),
    }
}

fn cells_line(c: &[String; 11]) -> String {
    format!(
        "{:<25} {:>6} {:>7} {:>8} {:>6} {:>6} {:>8} {:>6} {:>6} {:>6} {:>7}\n",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]
    )
}
