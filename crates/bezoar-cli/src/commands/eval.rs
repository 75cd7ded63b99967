//! `bezoar eval --truth TRUTH.csv --scores SCORES.csv`: join by id, print the metrics.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use bezoar_redteam::EvalOptions;

use super::EXIT_CLEAN;
use crate::cli::EvalArgs;

pub fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let truth = bezoar_redteam::read_truth(&args.truth)?;
    let scores = bezoar_redteam::read_scores(&args.scores)?;
    let report = bezoar_redteam::evaluate(
        &truth,
        &scores,
        EvalOptions {
            allow_missing: args.allow_missing,
        },
    )?;
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&report).context("cannot serialise the report")?;
        s.push('\n');
        s
    } else {
        bezoar_redteam::render_text(&report)
    };
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::from(e).context("cannot write to stdout"))
        }
        _ => Ok(ExitCode::from(EXIT_CLEAN)),
    }
}
