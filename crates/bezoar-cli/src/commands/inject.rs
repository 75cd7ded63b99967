//! `bezoar inject DATA --attack KIND --rate R --out FILE --truth FILE`: read the dataset with all
//! its columns, plan the attack, write the poisoned copy and the truth file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use bezoar_data::InputFormat;
use bezoar_redteam::{Attack, InjectConfig, InvisibleStyle};

use super::{attack_of, EXIT_CLEAN};
use crate::cli::{InjectArgs, InvisibleStyleArg};

pub fn run(args: &InjectArgs) -> anyhow::Result<ExitCode> {
    let attack = configure(args)?;
    let opts = args.input.read_options();
    let format = bezoar_data::resolve_format(&args.data, &opts)?;
    check_outputs(args, format)?;

    let table = bezoar_redteam::read_table(&args.data, &opts)?;
    let cfg = InjectConfig {
        attack,
        rate: args.rate,
        target: args.target.clone(),
        seed: args.seed,
    };
    let inj = bezoar_redteam::inject(&table.dataset, &cfg)?;

    // Write beside the destination and rename, so a failure never leaves half a file under the
    // name the user asked for.
    let tmp_out = temp_path(&args.out);
    let written = bezoar_redteam::write_table(&tmp_out, &table, &inj.rows)
        .with_context(|| format!("cannot write {}", args.out.display()))
        .and_then(|()| {
            std::fs::rename(&tmp_out, &args.out)
                .with_context(|| format!("cannot create {}", args.out.display()))
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp_out);
        return Err(e);
    }
    write_truth(&args.truth, &inj.truth())?;

    if !args.quiet {
        let mut line = format!(
            "{}: poisoned {} of {} rows",
            inj.attack,
            inj.poisoned(),
            inj.rows.len()
        );
        if inj.added() > 0 {
            line.push_str(&format!(" ({} added)", inj.added()));
        }
        if let Some(t) = &inj.target {
            line.push_str(&format!(", target '{t}'"));
        }
        if let Some(t) = &inj.trigger {
            line.push_str(&format!(", {}", bezoar_report::escape_invisible(t)));
        }
        println!("{line}");
        println!(
            "wrote {} ({}) and {}",
            args.out.display(),
            format.name(),
            args.truth.display()
        );
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}

/// The attack with the settings given, refusing settings that belong to another attack (a
/// silently ignored `--trigger` would make a user believe they tested something they did not).
fn configure(args: &InjectArgs) -> anyhow::Result<Attack> {
    let mut attack = attack_of(args.attack);
    let name = attack.name();
    let not_for = |flag: &str, for_: &str| -> anyhow::Error {
        anyhow::anyhow!("{flag} applies to {for_}, not to --attack {name}")
    };
    if args.trigger.is_some() && !matches!(attack, Attack::BadNets { .. }) {
        return Err(not_for("--trigger", "badnets"));
    }
    if args.sentence.is_some() && !matches!(attack, Attack::AddSent { .. }) {
        return Err(not_for("--sentence", "addsent"));
    }
    if args.style != InvisibleStyleArg::ZeroWidth && !matches!(attack, Attack::Invisible { .. }) {
        return Err(not_for("--style", "invisible"));
    }
    if (args.from.is_some() || args.to.is_some()) && !matches!(attack, Attack::LabelFlip { .. }) {
        return Err(not_for("--from/--to", "label-flip"));
    }
    if args.sources.is_some() && !matches!(attack, Attack::DuplicateFlood { .. }) {
        return Err(not_for("--sources", "duplicate-flood"));
    }
    let clean = args.clean_label;
    match &mut attack {
        Attack::BadNets {
            triggers,
            clean_label,
        } => {
            *triggers = args.trigger.clone();
            *clean_label = clean;
        }
        Attack::AddSent {
            sentence,
            clean_label,
        } => {
            *sentence = args.sentence.clone();
            *clean_label = clean;
        }
        Attack::Invisible { style, clean_label } => {
            *style = match args.style {
                InvisibleStyleArg::ZeroWidth => InvisibleStyle::ZeroWidth,
                InvisibleStyleArg::Homoglyph => InvisibleStyle::Homoglyph,
            };
            *clean_label = clean;
        }
        _ if clean => return Err(not_for("--clean-label", "badnets, addsent and invisible")),
        Attack::LabelFlip { from, to } => {
            *from = args.from.clone();
            *to = args.to.clone();
        }
        Attack::DuplicateFlood { sources } => {
            if let Some(n) = args.sources {
                *sources = n;
            }
        }
        Attack::Junk => {}
    }
    Ok(attack)
}

/// The outputs must not overwrite the input or each other, and `--out` must not name another
/// format than the one written.
fn check_outputs(args: &InjectArgs, format: InputFormat) -> anyhow::Result<()> {
    if let Some(f) = InputFormat::from_path(&args.out) {
        if f != format {
            bail!(
                "{}: inject writes the input's format ({}), but this name says {}; name the \
                 output .{}",
                args.out.display(),
                format.name(),
                f.name(),
                format.name()
            );
        }
    }
    if same_file(&args.out, &args.truth) {
        bail!("--out and --truth name the same file");
    }
    for out in [&args.out, &args.truth] {
        if same_file(out, &args.data) {
            bail!(
                "{}: refusing to overwrite the input dataset; write elsewhere",
                out.display()
            );
        }
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn temp_path(p: &Path) -> PathBuf {
    let mut name = p.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".bezoar-tmp");
    p.with_file_name(name)
}

fn write_truth(path: &Path, rows: &[bezoar_redteam::TruthRow]) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = BufWriter::new(file);
    bezoar_redteam::write_truth_csv(&mut w, rows)
        .and_then(|()| w.flush())
        .with_context(|| format!("cannot write {}", path.display()))
}
