//! `bezoar bench DATA`: the attack × rate matrix through inject → scan → eval, one table.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use bezoar_redteam::bench::{
    run_case, without_poisoned, BenchCell, BenchDoc, BenchRow, BENCH_SCHEMA,
};
use bezoar_redteam::eval::num;
use bezoar_redteam::{Attack, InjectConfig};
use bezoar_scan::ScanConfig;

use super::{attack_of, EXIT_CLEAN};
use crate::cli::{BenchArgs, BenchFormat};

const COLUMNS: [&str; 11] = [
    "attack", "rate", "rows", "poisoned", "AUROC", "AP", "recall@k", "P", "R", "F1", "seconds",
];

pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let opts = args.input.read_options();
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
                        "bench runs the text-classification attack matrix; attacks on LLM data are planted with `bezoar inject` and measured with `bezoar scan --scores` and `bezoar eval`"
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?,
        None => Attack::NAMES
            .iter()
            .filter_map(|n| Attack::from_name(n))
            .collect(),
    };
    let scan = ScanConfig::default();

    let mut out = io::stdout().lock();
    let mut results: Vec<BenchCell> = Vec::new();
    if args.format != BenchFormat::Json {
        let mut intro = format!("{}: {} rows", args.data.display(), ds.len());
        if dropped > 0 {
            intro.push_str(&format!(" after dropping {dropped} known-poisoned"));
        }
        intro.push_str(&format!(", seed {}, default scan settings", args.seed));
        emit(&mut out, &format!("{intro}\n\n"))?;
        emit(&mut out, &header(args.format))?;
    }
    for attack in &attacks {
        for &rate in &args.rates {
            let target = attack.uses_target().then(|| args.target.clone()).flatten();
            let cfg = InjectConfig {
                attack: attack.clone(),
                rate,
                target,
                seed: args.seed,
            };
            let result = run_case(&ds, &cfg, &scan);
            match args.format {
                BenchFormat::Json => results.push(match result {
                    Ok(row) => BenchCell::Done(row),
                    Err(e) => BenchCell::NotRun {
                        attack: attack.name().to_string(),
                        rate: rate.fraction(),
                        error: e.to_string(),
                    },
                }),
                fmt => {
                    let line = match &result {
                        Ok(row) => row_line(fmt, row),
                        Err(e) => error_line(fmt, attack.name(), &rate.to_string(), &e.to_string()),
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
            rows: ds.len(),
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
        _ => format!("{attack:<16} {rate:>6}  not run: {err}\n"),
    }
}

fn cells_line(c: &[String; 11]) -> String {
    format!(
        "{:<16} {:>6} {:>7} {:>8} {:>6} {:>6} {:>8} {:>6} {:>6} {:>6} {:>7}\n",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]
    )
}
