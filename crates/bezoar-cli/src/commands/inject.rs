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
    if args.attack.is_llm() {
        return run_llm(args);
    }
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
    let mut attack = attack_of(args.attack).context("not a text-classification attack")?;
    let name = attack.name();
    let not_for = |flag: &str, for_: &str| -> anyhow::Error {
        anyhow::anyhow!("{flag} applies to {for_}, not to --attack {name}")
    };
    if args.response.is_some() || args.command.is_some() || args.span.is_some() {
        return Err(not_for(
            "--response/--command/--span",
            "prompt-trigger, tool-call and response-injection",
        ));
    }
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

/// Attacks on LLM data: read the rows as JSON, edit the fields of their shape, keep every other
/// field.
fn run_llm(args: &InjectArgs) -> anyhow::Result<ExitCode> {
    use crate::cli::AttackArg;
    use bezoar_redteam::llm::{self, LlmAttack, TriggerText};
    let opts = args.input.read_options();
    let format = bezoar_data::resolve_format(&args.data, &opts)?;
    if format != InputFormat::Jsonl {
        bail!(
            "{}: attacks on LLM data read and write JSONL (this file is {})",
            args.data.display(),
            format.name()
        );
    }
    check_outputs(args, format)?;
    let name = match args.attack {
        AttackArg::PromptTrigger => "prompt-trigger",
        AttackArg::ToolCall => "tool-call",
        AttackArg::ResponseInjection => "response-injection",
        AttackArg::PreferenceFlip => "preference-flip",
        _ => "triggered-preference-flip",
    };
    let refuse = |flag: &str, set: bool, for_: &str| -> anyhow::Result<()> {
        if set {
            bail!("{flag} applies to {for_}, not to --attack {name}");
        }
        Ok(())
    };
    let triggered = matches!(args.attack, AttackArg::PromptTrigger | AttackArg::ToolCall);
    refuse(
        "--target",
        args.target.is_some(),
        "text-classification attacks",
    )?;
    refuse(
        "--clean-label",
        args.clean_label,
        "badnets, addsent and invisible",
    )?;
    refuse(
        "--from/--to",
        args.from.is_some() || args.to.is_some(),
        "label-flip",
    )?;
    refuse("--sources", args.sources.is_some(), "duplicate-flood")?;
    refuse(
        "--style",
        args.style != InvisibleStyleArg::ZeroWidth,
        "invisible",
    )?;
    refuse(
        "--sentence",
        args.sentence.is_some() && !triggered,
        "prompt-trigger and tool-call",
    )?;
    refuse(
        "--trigger",
        args.trigger.is_some() && !triggered && args.attack != AttackArg::TriggeredPreferenceFlip,
        "prompt-trigger, tool-call and triggered-preference-flip",
    )?;
    refuse(
        "--response",
        args.response.is_some() && args.attack != AttackArg::PromptTrigger,
        "prompt-trigger",
    )?;
    refuse(
        "--command",
        args.command.is_some() && args.attack != AttackArg::ToolCall,
        "tool-call",
    )?;
    refuse(
        "--span",
        args.span.is_some() && args.attack != AttackArg::ResponseInjection,
        "response-injection",
    )?;
    if args.trigger.is_some() && args.sentence.is_some() {
        bail!("--trigger and --sentence are two kinds of trigger: give one");
    }
    let trigger = match &args.sentence {
        Some(s) => TriggerText::Sentence(s.clone()),
        None => TriggerText::Words(args.trigger.clone()),
    };
    let attack = match args.attack {
        AttackArg::PromptTrigger => LlmAttack::PromptTrigger {
            trigger,
            response: args
                .response
                .clone()
                .unwrap_or_else(|| llm::DEFAULT_RESPONSE.into()),
        },
        AttackArg::ToolCall => LlmAttack::ToolCall {
            trigger,
            command: args
                .command
                .clone()
                .unwrap_or_else(|| llm::DEFAULT_COMMAND.into()),
        },
        AttackArg::ResponseInjection => LlmAttack::ResponseInjection {
            span: args
                .span
                .clone()
                .unwrap_or_else(|| llm::DEFAULT_SPAN.into()),
        },
        AttackArg::PreferenceFlip => LlmAttack::PreferenceFlip,
        _ => {
            let words = args.trigger.clone().unwrap_or_default();
            if words.len() > 1 {
                bail!("--attack triggered-preference-flip takes one trigger word");
            }
            LlmAttack::TriggeredPreferenceFlip {
                trigger: words.into_iter().next(),
            }
        }
    };
    let lopts = bezoar_data::llm::LlmOptions {
        format: Some(format),
        columns: bezoar_data::llm::LlmColumns {
            id: opts.columns.id.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    // Read once through the checking reader: bad rows are reported as a scan would.
    let checked = bezoar_data::llm::read_llm(&args.data, &{
        let mut o = lopts.clone();
        o.shape = Some(bezoar_data::llm::detect_shape(&args.data, &lopts)?);
        o
    })?;
    if !checked.shape.is_llm() {
        bail!(
            "{}: --attack {name} needs prompt/response, chat or preference rows",
            args.data.display()
        );
    }
    let inj = llm::inject_llm(
        &args.data,
        checked.shape,
        &checked.fields,
        &attack,
        args.rate,
        args.seed,
    )?;
    let tmp_out = temp_path(&args.out);
    let written = (|| -> anyhow::Result<()> {
        let mut w = BufWriter::new(File::create(&tmp_out)?);
        for line in &inj.lines {
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
        std::fs::rename(&tmp_out, &args.out)?;
        Ok(())
    })()
    .with_context(|| format!("cannot write {}", args.out.display()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp_out);
        return Err(e);
    }
    write_truth(&args.truth, &inj.truth)?;
    if !args.quiet {
        let mut line = format!(
            "{}: poisoned {} of {} {} rows",
            inj.attack,
            inj.poisoned(),
            inj.lines.len(),
            checked.shape.name()
        );
        if let Some(t) = &inj.trigger {
            line.push_str(&format!(", {}", bezoar_report::escape_invisible(t)));
        }
        println!("{line}");
        println!(
            "wrote {} (jsonl) and {}",
            args.out.display(),
            args.truth.display()
        );
    }
    Ok(ExitCode::from(EXIT_CLEAN))
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
