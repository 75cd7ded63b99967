//! `bezoar quality DIR`: every benchmark set and clean corpus of a suite, scanned and judged.

use std::io::{self, Write};
use std::process::ExitCode;

use bezoar_redteam::quality::{
    discover, render_markdown, render_text, run_corpus, run_set, QualityReport, QUALITY_SCHEMA,
};
use bezoar_scan::ScanConfig;

use super::{EXIT_CLEAN, EXIT_FINDINGS};
use crate::cli::{BenchFormat, QualityArgs};

pub fn run(args: &QualityArgs) -> anyhow::Result<ExitCode> {
    super::scan::configure_threads(args.threads)?;
    let mut suite = discover(&args.dir)?;
    if !args.only.is_empty() {
        let wanted = |name: &str| args.only.iter().any(|o| o == name);
        let unknown: Vec<&String> = args
            .only
            .iter()
            .filter(|o| {
                !suite.sets.iter().any(|s| &s.name == *o)
                    && !suite.corpora.iter().any(|(c, _)| c == *o)
            })
            .collect();
        if !unknown.is_empty() {
            anyhow::bail!(
                "--only: no set or corpus named {} under {}",
                unknown
                    .iter()
                    .map(|u| format!("'{}'", u.escape_debug()))
                    .collect::<Vec<_>>()
                    .join(", "),
                args.dir.display()
            );
        }
        suite.sets.retain(|s| wanted(&s.name));
        suite.corpora.retain(|(c, _)| wanted(c));
    }
    let cfg = ScanConfig::default();
    let total = suite.sets.len() + suite.corpora.len();
    let mut report = QualityReport {
        schema: QUALITY_SCHEMA,
        embeddings: args.embeddings,
        sets: Vec::new(),
        corpora: Vec::new(),
    };
    let mut done = 0;
    for spec in &suite.sets {
        done += 1;
        eprintln!("[{done}/{total}] {}", spec.name);
        report.sets.push(run_set(spec, args.embeddings, &cfg)?);
    }
    for (name, path) in &suite.corpora {
        done += 1;
        eprintln!("[{done}/{total}] {name} (clean)");
        report.corpora.push(run_corpus(name, path, &cfg)?);
    }
    let text = match args.format {
        BenchFormat::Table => render_text(&report),
        BenchFormat::Markdown => render_markdown(&report),
        BenchFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::from(if report.all_ok() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }))
}
