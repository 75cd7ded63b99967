//! `bezoar policy check | approve | gate | bom`.

use std::process::ExitCode;

use anyhow::Context as _;
use bezoar_ledger::approval::ApprovalKey;
use bezoar_ledger::policy::Policy;

use super::{EXIT_CLEAN, EXIT_FINDINGS};
use crate::cli_gov::{ApproveArgs, BomArgs, GateArgs, PolicyArgs, PolicyCommand};

pub fn policy(a: &PolicyArgs) -> anyhow::Result<ExitCode> {
    let PolicyCommand::Check(c) = &a.command;
    if !c.policy.exists() {
        anyhow::bail!(
            "{} not found: write the policy there (see `bezoar policy --help` for an example), or pass --policy FILE",
            c.policy.display()
        );
    }
    let p = Policy::load(&c.policy)?;
    let errs = p.errors();
    for e in &errs {
        say!("ERROR: {e}");
    }
    if !errs.is_empty() {
        anyhow::bail!(
            "{}: {} error(s); the gate refuses to run with an invalid policy",
            c.policy.display(),
            errs.len()
        );
    }
    let warnings = match bezoar_ledger::Ledger::open(&super::ledger::workdir()?) {
        Ok(l) => l.policy_warnings(&p)?,
        Err(bezoar_ledger::LedgerError::NotInitialized { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    for w in &warnings {
        say!("WARNING: {w}");
    }
    let mut names: Vec<&String> = p.file.datasets.keys().collect();
    names.sort();
    for n in names {
        let e = p.for_dataset(n);
        say!(
            "[datasets.{n}]: {} approval(s) for untrusted sources ({} when all trusted){}; trusted sources: {}; scan {}",
            e.required_approvals,
            e.trusted_required_approvals,
            e.approvers
                .as_ref()
                .map(|a| format!(" of {} approvers", a.len()))
                .unwrap_or_default(),
            if e.trusted_sources.is_empty() {
                "none".to_string()
            } else {
                e.trusted_sources.join(", ")
            },
            if e.scan_required {
                format!(
                    "required, fail on {}",
                    e.fail_on.as_deref().unwrap_or("never")
                )
            } else {
                "optional".into()
            }
        );
    }
    say!(
        "{}: valid{}",
        c.policy.display(),
        if warnings.is_empty() {
            String::new()
        } else {
            format!(", {} warning(s)", warnings.len())
        }
    );
    Ok(ExitCode::from(if warnings.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }))
}

pub fn approve(a: &ApproveArgs) -> anyhow::Result<ExitCode> {
    let key_path = a
        .key
        .clone()
        .or_else(|| std::env::var_os("BEZOAR_APPROVAL_KEY").map(Into::into))
        .context("approve signs with your private key: pass --key KEY.pem or set BEZOAR_APPROVAL_KEY (create one with `bezoar keygen --out KEY.pem` and register its .pub.pem with `bezoar identity rotate NAME --key`)")?;
    let key = ApprovalKey::load(&key_path)?;
    // With a token, the token's identity approves (and the key must be its own); without one,
    // possession of a registered key authenticates (key-only approvers).
    let mut ledger = if a.auth.token().is_some() {
        super::identity::open_as(&a.auth)?
    } else {
        let mut l = super::ledger::open()?;
        l.authenticate_key(&key)?;
        l
    };
    let snap = ledger.resolve(&a.snapshot)?;
    let ap = ledger.approve(&snap, &key)?;
    if let Some(out) = &a.out {
        std::fs::copy(&ap.envelope_path, out)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    say!(
        "'{}' approved {} (snapshot {}, rows root {}) with key {}: {} signature(s) in the envelope; log event {}",
        ap.identity,
        snap.label(),
        snap.id,
        &snap.rows_root[..16],
        ap.keyid,
        ap.signatures,
        ap.event_seq
    );
    say!("envelope: {}", ap.envelope_path.display());
    if let Some(out) = &a.out {
        say!("copied to {}", out.display());
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}

pub fn gate(a: &GateArgs) -> anyhow::Result<ExitCode> {
    let policy = Policy::load_or_default(&a.policy)?;
    let mut ledger = super::identity::open_as(&a.auth)?;
    let snap = ledger.resolve(&a.snapshot)?;
    let v = ledger.gate(&snap, &policy, a.out.as_deref())?;
    let out = v.statement_path.clone();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        if policy.path.is_none() {
            say!(
                "note: {} not found; using the built-in policy (no trusted source, 1 approval, a recorded scan with nothing at or above high)",
                a.policy.display()
            );
        }
        for c in &v.checks {
            for (i, r) in c.reasons.iter().enumerate() {
                let tag = if i == 0 {
                    if c.passed {
                        "ok  "
                    } else {
                        "FAIL"
                    }
                } else {
                    "    "
                };
                say!("{tag} {:<16} {r}", c.check);
            }
        }
        say!(
            "{}: {} (snapshot {}) {} the retraining gate; decision recorded as log event {}; verification summary: {}",
            if v.passed { "PASSED" } else { "FAILED" },
            snap.label(),
            snap.id,
            if v.passed { "passes" } else { "does not pass" },
            v.event_seq,
            out.display()
        );
    }
    Ok(ExitCode::from(if v.passed {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }))
}

pub fn bom(a: &BomArgs) -> anyhow::Result<ExitCode> {
    let policy = Policy::load_or_default(&a.policy)?;
    let ledger = super::ledger::open()?;
    let snap = ledger.resolve(&a.snapshot)?;
    let bom = ledger.bom(&snap, &policy)?;
    let text = serde_json::to_string_pretty(&bom)? + "\n";
    match &a.out {
        Some(p) => {
            std::fs::write(p, &text).with_context(|| format!("cannot write {}", p.display()))?;
            warn!(
                "wrote the CycloneDX 1.6 ML-BOM of {} to {}",
                snap.label(),
                p.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}
