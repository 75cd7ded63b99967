//! `bezoar identity add|rotate|revoke|list|audit` and `bezoar grant`.

use std::process::ExitCode;

use anyhow::Context as _;
use bezoar_ledger::grants::Role;
use bezoar_ledger::identity::{parse_time, IdentityKind, NewIdentity, PublicKey, Rotation};
use bezoar_ledger::util::rfc3339;
use bezoar_ledger::Ledger;

use super::{EXIT_CLEAN, EXIT_FINDINGS};
use crate::cli_gov::{
    AuthArgs, GrantArgs, IdentityAddArgs, IdentityArgs, IdentityAuditArgs, IdentityCommand,
    IdentityListArgs, IdentityRevokeArgs, IdentityRotateArgs, KindArg, RoleArg,
};

/// Open the ledger of the current directory and authenticate with the token from --token or
/// BEZOAR_TOKEN; every write goes through here.
pub fn open_as(auth: &AuthArgs) -> anyhow::Result<Ledger> {
    let mut ledger = super::ledger::open()?;
    let token = auth.token().ok_or(bezoar_ledger::LedgerError::NoToken)?;
    ledger.authenticate(&token)?;
    Ok(ledger)
}

pub fn kind_of(k: KindArg) -> IdentityKind {
    match k {
        KindArg::Human => IdentityKind::Human,
        KindArg::Service => IdentityKind::Service,
        KindArg::Agent => IdentityKind::Agent,
    }
}

pub fn role_of(r: RoleArg) -> Role {
    match r {
        RoleArg::Reader => Role::Reader,
        RoleArg::Contributor => Role::Contributor,
        RoleArg::Labeler => Role::Labeler,
        RoleArg::Approver => Role::Approver,
        RoleArg::Admin => Role::Admin,
    }
}

fn expiry(s: &Option<String>) -> anyhow::Result<Option<i64>> {
    s.as_deref()
        .map(parse_time)
        .transpose()
        .map_err(anyhow::Error::msg)
}

pub fn run(args: &IdentityArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        IdentityCommand::Add(a) => add(a),
        IdentityCommand::Rotate(a) => rotate(a),
        IdentityCommand::Revoke(a) => revoke(a),
        IdentityCommand::List(a) => list(a),
        IdentityCommand::Audit(a) => audit(a),
    }
}

fn add(a: &IdentityAddArgs) -> anyhow::Result<ExitCode> {
    let mut ledger = open_as(&a.auth)?;
    let key = a.key.as_deref().map(PublicKey::load).transpose()?;
    let (ident, token) = ledger.add_identity(&NewIdentity {
        name: a.name.clone(),
        kind: kind_of(a.kind),
        expires_at: expiry(&a.expires)?,
        token: !a.no_token,
        key,
    })?;
    say!(
        "Created {} identity '{}'{}",
        ident.kind.as_str(),
        ident.name,
        ident
            .expires_at
            .map(|t| format!(", expires {}", rfc3339(t)))
            .unwrap_or_else(|| ", no expiry (the audit will flag it once it can write)".into())
    );
    for k in &ident.keys {
        say!("  key {} ({})", k.keyid, k.algorithm);
    }
    say!(
        "It can do nothing yet: grant it a role, e.g. `bezoar grant {} --dataset NAME --role contributor --source SOURCE`",
        ident.name
    );
    if let Some(t) = token {
        say!("Its API token (shown once; store it as a secret and export BEZOAR_TOKEN=...):");
        say!("{t}");
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}

fn rotate(a: &IdentityRotateArgs) -> anyhow::Result<ExitCode> {
    let mut ledger = open_as(&a.auth)?;
    let key = a.key.as_deref().map(PublicKey::load).transpose()?;
    let expires_at = expiry(&a.expires)?;
    let token = a.new_token || (key.is_none() && expires_at.is_none());
    let (ident, token) = ledger.rotate_identity(
        &a.name,
        &Rotation {
            token,
            key,
            expires_at,
        },
    )?;
    say!("Rotated '{}'", ident.name);
    if let Some(e) = ident.expires_at {
        say!("  expires {}", rfc3339(e));
    }
    for k in ident.keys.iter().filter(|k| k.revoked_at.is_none()) {
        say!("  active key {} ({})", k.keyid, k.algorithm);
    }
    if let Some(t) = token {
        say!("The old token no longer works. New API token (shown once):");
        say!("{t}");
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}

fn revoke(a: &IdentityRevokeArgs) -> anyhow::Result<ExitCode> {
    let mut ledger = open_as(&a.auth)?;
    let ident = ledger.revoke_identity(&a.name, a.message.as_deref())?;
    say!(
        "Revoked '{}' at {}: its token, {} key(s) and {} grant(s) no longer work",
        ident.name,
        rfc3339(ident.revoked_at.unwrap_or_default()),
        ident.keys.len(),
        ident.grants.len()
    );
    Ok(ExitCode::from(EXIT_CLEAN))
}

fn list(a: &IdentityListArgs) -> anyhow::Result<ExitCode> {
    let ledger = super::ledger::open()?;
    let ids = ledger.identities()?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"identities": ids}))?
        );
        return Ok(ExitCode::from(EXIT_CLEAN));
    }
    let now = bezoar_ledger::util::now_unix();
    for i in &ids {
        say!(
            "{} ({}, {}){}{}",
            i.name,
            i.kind.as_str(),
            i.status(now),
            i.expires_at
                .map(|t| format!(", expires {}", rfc3339(t)))
                .unwrap_or_default(),
            i.last_used_at
                .map(|t| format!(", last used {}", rfc3339(t)))
                .unwrap_or_else(|| ", never used".into())
        );
        if let Some(tid) = &i.token_id {
            say!(
                "  token bzr_{tid}_… issued {}",
                rfc3339(i.token_created_at.unwrap_or_default())
            );
        }
        for k in &i.keys {
            say!(
                "  key {} ({}){}",
                k.keyid,
                k.algorithm,
                if k.revoked_at.is_some() {
                    " revoked"
                } else {
                    ""
                }
            );
        }
        for g in &i.grants {
            say!(
                "  grant {}{}",
                g.describe(),
                if g.revoked_at.is_some() {
                    " (revoked)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}

fn audit(a: &IdentityAuditArgs) -> anyhow::Result<ExitCode> {
    let ledger = super::ledger::open()?;
    let rep = ledger.audit(&bezoar_ledger::audit::AuditOptions {
        unused_days: a.unused_days,
        max_key_age_days: a.max_key_age_days,
        now: bezoar_ledger::util::now_unix(),
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        for f in &rep.findings {
            let tag = if f.level == "note" { "note: " } else { "" };
            say!("{tag}{:<17} {:<20} {}", f.kind, f.identity, f.detail);
        }
        let warnings = rep.findings.iter().filter(|f| f.level == "warning").count();
        say!(
            "{} audited: {}, {}",
            super::plural(rep.identities, "identity", "identities")
                + &format!(" ({} active)", rep.active),
            super::plural(warnings, "finding", "findings"),
            super::plural(rep.findings.len() - warnings, "note", "notes")
        );
    }
    Ok(ExitCode::from(
        if rep.findings.iter().all(|f| f.level == "note") {
            EXIT_CLEAN
        } else {
            EXIT_FINDINGS
        },
    ))
}

pub fn grant(a: &GrantArgs) -> anyhow::Result<ExitCode> {
    let mut ledger = open_as(&a.auth)?;
    let role = role_of(a.role);
    if a.revoke {
        let n = ledger
            .revoke_grant(&a.identity, &a.dataset, role, a.source.as_deref())
            .context("cannot revoke the grant")?;
        say!("Revoked {n} grant(s) of '{}'", a.identity);
    } else {
        let g = ledger.grant(&a.identity, &a.dataset, role, a.source.as_deref())?;
        say!("Granted '{}' {}", g.identity, g.describe());
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}
