//! `bezoar init | add | verify | diff | checkout | quarantine`: the provenance ledger.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bezoar_ledger::snapshot::{AddOptions, AddOutcome, SnapshotInfo};
use bezoar_ledger::Ledger;

use super::{EXIT_CLEAN, EXIT_FINDINGS};
use crate::cli::{AddArgs, CheckoutArgs, DiffArgs, InitArgs, QuarantineArgs, VerifyArgs};

pub(crate) fn workdir() -> anyhow::Result<PathBuf> {
    std::env::current_dir().context("cannot read the current directory")
}

pub(crate) fn open() -> anyhow::Result<Ledger> {
    Ok(Ledger::open(&workdir()?)?)
}

fn short(h: &str) -> &str {
    &h[..h.len().min(16)]
}

pub fn init(args: &InitArgs) -> anyhow::Result<ExitCode> {
    let dir = workdir()?;
    let mut bootstrapped = false;
    let mut ledger = match Ledger::init_with_admin(&dir, &args.admin) {
        Ok(l) => l,
        // A ledger from before identities existed gets its first admin instead.
        Err(e @ bezoar_ledger::LedgerError::AlreadyInitialized { .. }) => {
            match Ledger::bootstrap_admin(&dir, &args.admin) {
                Ok(l) => {
                    bootstrapped = true;
                    l
                }
                Err(_) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    if bootstrapped {
        say!(
            "The ledger in {} had no identities yet (created by an older bezoar): created its first admin",
            ledger.dir().display()
        );
    } else {
        say!(
            "Initialised an empty bezoar ledger in {}",
            ledger.dir().display()
        );
    }
    say!("log origin:   {}", ledger.origin());
    say!("verifier key: {}", ledger.verifier().to_text().trim_end());
    say!("The log signing key is .bezoar/log.key (mode 0600): keep it private.");
    say!("Next: export BEZOAR_TOKEN=<the token below>; bezoar identity add NAME --kind human|service|agent; bezoar grant ...; bezoar add DATA --dataset NAME --source SOURCE --id COL");
    let token = ledger
        .take_issued_token()
        .context("init issued no admin token")?;
    say!(
        "Admin identity '{}' (admin on every dataset). Its API token, shown once (store it as a secret):",
        args.admin
    );
    // Last line of stdout, so scripts can take it with `tail -n 1`.
    say!("{token}");
    Ok(ExitCode::from(EXIT_CLEAN))
}

pub fn add(args: &AddArgs) -> anyhow::Result<ExitCode> {
    let key = args
        .key
        .as_deref()
        .map(bezoar_ledger::approval::ApprovalKey::load)
        .transpose()?;
    let mut ledger = match &key {
        Some(_) => open()?,
        None => super::identity::open_as(&args.auth)?,
    };
    let read = args.columns.read_options();
    let llm_opts = args
        .llm
        .options(read.format, read.columns.id.clone(), read.skip_invalid);
    let shape = args.llm.shape_of(&args.data, &read.columns, &llm_opts)?;
    let opts = AddOptions {
        dataset: args.dataset.clone(),
        source: args.source.clone(),
        message: args.message.clone(),
        replace: args.replace,
        read,
        llm: shape.is_llm().then_some(bezoar_data::llm::LlmOptions {
            shape: Some(shape),
            ..llm_opts
        }),
    };
    let started = std::time::Instant::now();
    let outcome = match &key {
        Some(k) => ledger.add_signed(&args.data, &opts, k)?,
        None => ledger.add(&args.data, &opts)?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(ExitCode::from(EXIT_CLEAN));
    }
    match outcome {
        AddOutcome::Unchanged { reason, .. } => say!("{reason}"),
        AddOutcome::Created(s) => {
            let snap = &s.snapshot;
            let c = &s.changes;
            say!(
                "Recorded {} (snapshot {}) from {}: {} ({} added, {} updated ({} relabelled), {} unchanged, {} removed)",
                snap.label(),
                snap.id,
                args.data.display(),
                super::count(snap.row_count, "row"),
                c.added,
                c.updated,
                c.relabelled,
                c.unchanged,
                c.removed
            );
            say!(
                "  read as {}",
                bezoar_report::escape_invisible(&s.rows_read_as)
            );
            if let Some(f) = &snap.file {
                say!("  file sha256 {}  blake3 {}", f.sha256, f.blake3);
            }
            say!("  rows Merkle root {}", snap.rows_root);
            say!(
                "  objects: {} written ({} bytes compressed), {} already stored; log event {}; {:.2} s",
                s.objects_written,
                s.bytes_written,
                s.objects_reused,
                snap.event_seq,
                started.elapsed().as_secs_f64()
            );
            if s.skipped_rows > 0 {
                warn!(
                    "warning: {} invalid rows were skipped (--skip-invalid) and are not in the snapshot",
                    s.skipped_rows
                );
            }
        }
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}

/// `verify [SNAPSHOT] [FILE]`; a lone argument that is a file means the only dataset.
fn verify_target(
    ledger: &Ledger,
    args: &VerifyArgs,
) -> anyhow::Result<(Option<SnapshotInfo>, Option<PathBuf>)> {
    match (&args.snapshot, &args.file) {
        (None, _) => Ok((None, None)),
        (Some(s), Some(f)) => Ok((Some(ledger.resolve(s)?), Some(f.clone()))),
        (Some(s), None) => match ledger.resolve(s) {
            Ok(snap) => Ok((Some(snap), None)),
            Err(e) => {
                let path = PathBuf::from(s);
                let datasets = ledger.datasets()?;
                if path.is_file() && datasets.len() == 1 {
                    Ok((Some(ledger.resolve(&datasets[0])?), Some(path)))
                } else {
                    Err(e.into())
                }
            }
        },
    }
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let ledger = open()?;
    let (target, file) = verify_target(&ledger, args)?;
    let external = match &args.checkpoint {
        Some(p) => {
            let note = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            // Not a checkpoint at all is bad input (exit 2); a checkpoint that does not match
            // the log is tampering (exit 1), reported by verify below.
            if let Some(why) = bezoar_ledger::verify::checkpoint_shape_problem(&note) {
                anyhow::bail!("{}: not a signed checkpoint note: {why}", p.display());
            }
            Some(note)
        }
        None => None,
    };
    let opts = args.columns.read_options();
    let rep = ledger.verify(
        target.as_ref(),
        file.as_deref().map(|f| (f, &opts)),
        external.as_deref(),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        for p in &rep.problems {
            say!("TAMPERED: {p}");
        }
        if let Some(f) = &rep.file {
            for id in f.added.iter().take(50) {
                say!(
                    "MISMATCH: row '{id}' is in {} but not in {}",
                    f.file,
                    f.snapshot
                );
            }
            for id in f.removed.iter().take(50) {
                say!(
                    "MISMATCH: row '{id}' of {} is missing from {}",
                    f.snapshot,
                    f.file
                );
            }
            for c in f.changed.iter().take(50) {
                if c.field.contains("label") {
                    say!(
                        "MISMATCH: row '{}': label changed from '{}' in {} to '{}' in {}{}",
                        c.id,
                        c.snapshot_label,
                        f.snapshot,
                        c.file_label,
                        f.file,
                        if c.field == "text+label" {
                            " (text changed too)"
                        } else {
                            ""
                        }
                    );
                } else {
                    let what = if c.field == "fields" {
                        "its fields differ"
                    } else {
                        "text differs"
                    };
                    say!("MISMATCH: row '{}': {what} from {}", c.id, f.snapshot);
                }
            }
            let shown = f.added.len().min(50) + f.removed.len().min(50) + f.changed.len().min(50);
            let total = f.added.len() + f.removed.len() + f.changed.len();
            if total > shown {
                say!(
                    "MISMATCH: ... and {} more rows (use --json for all)",
                    total - shown
                );
            }
            let in_common = f.rows_in_file as usize - f.added.len();
            if in_common == 0 && f.rows_in_file > 0 && f.rows_in_snapshot > 0 {
                say!(
                    "hint: the file and {} have no row id in common{}",
                    f.snapshot,
                    if args.columns.input.id.is_none() {
                        "; without --id the file's ids are row numbers: pass the --id COL used for `bezoar add`"
                    } else {
                        ""
                    }
                );
            }
            if f.matches() {
                say!(
                    "{} matches {}: {} rows{}",
                    f.file,
                    f.snapshot,
                    f.rows_in_file,
                    match f.same_file_digest {
                        Some(true) => " (and it is byte-for-byte the recorded file)",
                        _ => "",
                    }
                );
            } else {
                say!(
                    "{} differs from {}: {} added, {} removed, {} changed rows",
                    f.file,
                    f.snapshot,
                    f.added.len(),
                    f.removed.len(),
                    f.changed.len()
                );
            }
        }
        say!(
            "{}: {}, {}, {}, {} and {} checked{}",
            if rep.ok { "OK" } else { "FAILED" },
            super::count(rep.events, "event"),
            super::count(rep.checkpoints, "checkpoint"),
            super::count(rep.snapshots_checked, "snapshot"),
            super::count(rep.rows_checked, "row"),
            super::count(rep.objects_checked, "object"),
            if rep.problems.is_empty() {
                String::new()
            } else {
                format!("; {}", super::count(rep.problems.len(), "problem"))
            }
        );
    }
    Ok(ExitCode::from(if rep.ok {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }))
}

pub fn diff(args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let ledger = open()?;
    let a = ledger.resolve(&args.a)?;
    let b = ledger.resolve(&args.b)?;
    let d = ledger.diff(&a, &b)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(ExitCode::from(EXIT_CLEAN));
    }
    say!(
        "{} ({} rows) -> {} ({} rows): {} added, {} removed, {} relabelled, {} edited",
        d.from,
        d.rows_from,
        d.to,
        d.rows_to,
        d.added.len(),
        d.removed.len(),
        d.relabelled.len(),
        d.edited.len()
    );
    let lim = args.limit;
    for r in d.added.iter().take(lim) {
        say!("  + {} [{}] label {}", r.id, r.source, r.label);
    }
    if d.added.len() > lim && lim > 0 {
        say!("  + ... {} more", d.added.len() - lim);
    }
    for r in d.removed.iter().take(lim) {
        say!("  - {} [{}] label {}", r.id, r.source, r.label);
    }
    if d.removed.len() > lim && lim > 0 {
        say!("  - ... {} more", d.removed.len() - lim);
    }
    for r in d.relabelled.iter().take(lim) {
        say!("  ~ {} [{}] label {} -> {}", r.id, r.source, r.from, r.to);
    }
    if d.relabelled.len() > lim && lim > 0 {
        say!("  ~ ... {} more", d.relabelled.len() - lim);
    }
    for r in d.edited.iter().take(lim) {
        say!("  * {} [{}] text edited", r.id, r.source);
    }
    if d.edited.len() > lim && lim > 0 {
        say!("  * ... {} more", d.edited.len() - lim);
    }
    if !d.by_source.is_empty() {
        say!("By source:");
        for (s, c) in &d.by_source {
            say!(
                "  {s}: +{} -{} ~{} *{}",
                c.added,
                c.removed,
                c.relabelled,
                c.edited
            );
        }
    }
    say!("Labels:");
    for (l, s) in &d.labels {
        say!(
            "  {l}: {} ({:.1}%) -> {} ({:.1}%), {:+.1} points",
            s.from,
            100.0 * s.from_share,
            s.to,
            100.0 * s.to_share,
            100.0 * (s.to_share - s.from_share)
        );
    }
    say!("Sources whose share moved most:");
    for s in d.source_shares.iter().take(5) {
        say!(
            "  {}: {:.1}% -> {:.1}% ({:+.1} points)",
            s.source,
            100.0 * s.from_share,
            100.0 * s.to_share,
            100.0 * s.change
        );
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}

pub fn checkout(args: &CheckoutArgs) -> anyhow::Result<ExitCode> {
    let ledger = open()?;
    let snap = ledger.resolve(&args.snapshot)?;
    if args.out.exists() && !args.force {
        anyhow::bail!(
            "{} already exists; pass --force to overwrite it",
            args.out.display()
        );
    }
    let rows = ledger.load_rows(&snap)?;
    bezoar_ledger::snapshot::write_rows(&rows, &args.out)?;
    say!(
        "Wrote {} of {} (snapshot {}, Merkle root {}) to {}",
        super::count(rows.len(), "row"),
        snap.label(),
        snap.id,
        short(&snap.rows_root),
        args.out.display()
    );
    Ok(ExitCode::from(EXIT_CLEAN))
}

pub fn quarantine(args: &QuarantineArgs) -> anyhow::Result<ExitCode> {
    let mut ledger = super::identity::open_as(&args.auth)?;
    let base = match &args.dataset {
        Some(d) => ledger.resolve(d)?,
        None => {
            let ds = ledger.datasets()?;
            match ds.as_slice() {
                [one] => ledger.resolve(one)?,
                [] => anyhow::bail!("the ledger has no datasets yet; record one with `bezoar add`"),
                many => anyhow::bail!(
                    "the ledger has several datasets ({}); pick one with --dataset NAME",
                    many.join(", ")
                ),
            }
        }
    };
    let ids = match &args.rows {
        Some(p) => Some((p.as_path(), bezoar_ledger::snapshot::read_row_ids(p)?)),
        None => None,
    };
    let (snap, removed) = ledger.quarantine(
        &base,
        &args.source,
        ids.as_ref().map(|(p, s)| (*p, s)),
        args.message.clone(),
    )?;
    say!(
        "Recorded {} (snapshot {}): {} without {} ({} left); log event {}",
        snap.label(),
        snap.id,
        base.label(),
        super::count(removed, "row"),
        super::count(snap.row_count, "row"),
        snap.event_seq
    );
    Ok(ExitCode::from(EXIT_CLEAN))
}
