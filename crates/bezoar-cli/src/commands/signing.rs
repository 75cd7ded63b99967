//! `bezoar keygen | sign | verify-signature`: OpenSSF model-signing bundles.

use std::process::ExitCode;

use anyhow::Context as _;
use bezoar_ledger::signing;

use super::{EXIT_CLEAN, EXIT_FINDINGS};
use crate::cli::{KeygenArgs, SignArgs, VerifySignatureArgs};

fn public_path(private: &std::path::Path) -> std::path::PathBuf {
    let name = private
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".into());
    let stem = name.strip_suffix(".pem").unwrap_or(&name);
    private.with_file_name(format!("{stem}.pub.pem"))
}

pub fn keygen(args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let public = public_path(&args.out);
    for p in [&args.out, &public] {
        if p.exists() && !args.force {
            anyhow::bail!(
                "{} already exists; pass --force to overwrite it",
                p.display()
            );
        }
    }
    let (private_pem, public_pem) = match args.algorithm {
        crate::cli::KeyAlgorithm::P256 => bezoar_ledger::keys::generate_p256(),
        crate::cli::KeyAlgorithm::Ed25519 => bezoar_ledger::keys::generate_ed25519(),
    };
    write_private(&args.out, private_pem.as_bytes())?;
    std::fs::write(&public, &public_pem)
        .with_context(|| format!("cannot write {}", public.display()))?;
    say!("Wrote private key {} (mode 0600)", args.out.display());
    say!("Wrote public key  {}", public.display());
    // Two identifiers, each where its standard uses it: the securesystemslib key id names the
    // key in the ledger (identity add/list, approve, approval envelopes); the model-signing
    // key hint is what `bezoar sign` bundles carry.
    if let Ok(k) = bezoar_ledger::identity::PublicKey::from_pem(&public_pem) {
        say!(
            "key id   {} (as `identity add`, `approve` and approval envelopes show it)",
            k.keyid()
        );
    }
    say!(
        "key hint {} (as `bezoar sign` bundles carry it)",
        signing::key_hint(&public_pem)
    );
    Ok(ExitCode::from(EXIT_CLEAN))
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub fn sign(args: &SignArgs) -> anyhow::Result<ExitCode> {
    // With a ledger here the signature is recorded under the signer's identity: authenticate
    // before signing, so a missing token fails before any file is written.
    let workdir = super::ledger::workdir()?;
    let ledger = match bezoar_ledger::Ledger::open(&workdir) {
        Ok(_) => Some(super::identity::open_as(&args.auth)?),
        Err(bezoar_ledger::LedgerError::NotInitialized { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let s = signing::sign_dir(&args.dir, &args.key, &args.signature, None)?;
    say!(
        "Signed {} ({}, root {}) with key {}: {}",
        args.dir.display(),
        super::count(s.files.len(), "file"),
        bezoar_ledger::util::hex(&s.root),
        &s.key_hint[..16],
        args.signature.display()
    );
    // Record the signature in the ledger of the current directory, if there is one.
    if let Some(mut ledger) = ledger {
        {
            let (seq, snaps) = ledger.record_signature(&s)?;
            if snaps.is_empty() {
                say!(
                    "Recorded the signature in the ledger as event {seq} (no snapshot recorded any of these files)"
                );
            } else {
                let labels: Vec<String> = snaps.iter().map(|s| s.label()).collect();
                say!(
                    "Recorded the signature in the ledger as event {seq}, against {}",
                    labels.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}

pub fn verify_signature(args: &VerifySignatureArgs) -> anyhow::Result<ExitCode> {
    let check = signing::verify_dir(&args.dir, &args.key, &args.signature)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&check)?);
    } else {
        for p in &check.problems {
            say!("INVALID: {p}");
        }
        if check.ok {
            say!(
                "OK: {} is signed by this key; {}",
                args.dir.display(),
                super::plural(check.files_checked as usize, "file matches", "files match")
            );
        } else {
            say!("FAILED: {}", super::count(check.problems.len(), "problem"));
        }
    }
    Ok(ExitCode::from(if check.ok {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }))
}
