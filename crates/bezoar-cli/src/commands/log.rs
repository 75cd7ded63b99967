//! `bezoar log`: the event history, signed checkpoints and Merkle proofs.

use std::process::ExitCode;

use anyhow::Context as _;
use bezoar_ledger::proofs::Proof;
use serde_json::{json, Value};

use super::ledger::open;
use super::{EXIT_CLEAN, EXIT_FINDINGS};
use crate::cli::LogArgs;

pub fn run(args: &LogArgs) -> anyhow::Result<ExitCode> {
    let ledger = open()?;
    if args.checkpoint {
        let (_, note) = ledger
            .latest_checkpoint()?
            .context("the ledger has no checkpoint (run `bezoar verify`)")?;
        print!("{note}");
        return Ok(ExitCode::from(EXIT_CLEAN));
    }
    if let Some(seq) = args.prove_inclusion {
        let p = ledger.inclusion_proof(seq, args.size)?;
        println!("{}", serde_json::to_string_pretty(&p)?);
        return Ok(ExitCode::from(EXIT_CLEAN));
    }
    if let Some(old) = args.prove_consistency {
        let p = ledger.consistency_proof(old, args.size)?;
        println!("{}", serde_json::to_string_pretty(&p)?);
        return Ok(ExitCode::from(EXIT_CLEAN));
    }
    if let Some(path) = &args.check_proof {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let proof: Proof = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a bezoar proof", path.display()))?;
        let problems = ledger.check_proof(&proof)?;
        if problems.is_empty() {
            say!("OK: the proof is valid and matches this log");
            return Ok(ExitCode::from(EXIT_CLEAN));
        }
        for p in problems {
            say!("INVALID: {p}");
        }
        return Ok(ExitCode::from(EXIT_FINDINGS));
    }

    if let Some(id) = &args.row {
        let hist = ledger.row_history(id, args.dataset.as_deref())?;
        if hist.is_empty() {
            anyhow::bail!(
                "no snapshot{} holds a row with id '{id}'",
                args.dataset
                    .as_deref()
                    .map(|d| format!(" of '{d}'"))
                    .unwrap_or_default()
            );
        }
        if args.json {
            println!("{}", serde_json::to_string_pretty(&hist)?);
            return Ok(ExitCode::from(EXIT_CLEAN));
        }
        for h in &hist {
            let o = &h.origin;
            let how = match (&o.file, &o.transformation) {
                (Some(f), _) => format!("{} of {}", o.kind, f.name),
                (None, Some(t)) => format!("{} {t}", o.kind),
                _ => o.kind.clone(),
            };
            say!(
                "{} (snapshot {}): row '{id}' digest {} from source {}, first recorded in {} by {} at {} ({how})",
                h.snapshot.label(),
                h.snapshot.id,
                &h.row_digest[..16],
                h.source,
                o.label(),
                o.identity,
                bezoar_ledger::util::rfc3339(o.created_at),
            );
        }
        return Ok(ExitCode::from(EXIT_CLEAN));
    }
    let events = ledger.events()?;
    let keep = |body: &Value| match &args.dataset {
        None => true,
        Some(d) => {
            body.get("dataset").and_then(Value::as_str) == Some(d.as_str())
                || body
                    .get("datasets")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(d.as_str())))
        }
    };
    if args.json {
        let list: Vec<Value> = events
            .iter()
            .filter_map(|e| {
                let body = e.json();
                keep(&body).then(|| {
                    json!({
                        "seq": e.seq,
                        "leaf_hash": bezoar_ledger::util::hex(&e.leaf_hash),
                        "event": body,
                    })
                })
            })
            .collect();
        let head = events.last();
        let out = json!({
            "schema": "bezoar.log/1",
            "origin": ledger.origin(),
            "tree_size": events.len(),
            "root": head.map(|e| bezoar_ledger::util::hex(&e.root)),
            "events": list,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::from(EXIT_CLEAN));
    }
    for e in &events {
        let b = e.json();
        if !keep(&b) {
            continue;
        }
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let n = |k: &str| b.get(k).and_then(Value::as_u64).unwrap_or(0);
        let line = match e.kind.as_str() {
            "init" => format!("ledger created, log {} ({})", s("origin"), s("tool")),
            "snapshot" => {
                let file = b
                    .pointer("/file/name")
                    .and_then(Value::as_str)
                    .map(|f| format!(" of {f}"))
                    .unwrap_or_default();
                let ch = b.get("changes").cloned().unwrap_or(Value::Null);
                let c = |k: &str| ch.get(k).and_then(Value::as_u64).unwrap_or(0);
                let relabelled = match c("relabelled") {
                    0 => String::new(),
                    r => format!(", {r} relabelled"),
                };
                let mut l = format!(
                        "snapshot {} of {} ({}{file}) by {}: {} rows (+{} ~{}{relabelled} -{}), root {}",
                        n("snapshot"),
                        s("dataset"),
                        s("kind"),
                        s("identity"),
                        n("rows"),
                        c("added"),
                        c("updated"),
                        c("removed"),
                        &s("rows_root")[..16.min(s("rows_root").len())]
                    );
                if let Some(p) = b.get("parent").and_then(Value::as_u64) {
                    l.push_str(&format!(", parent {p}"));
                }
                if !s("source").is_empty() {
                    l.push_str(&format!(", source {}", s("source")));
                }
                if let Some(t) = b.get("transformation").filter(|t| !t.is_null()) {
                    l.push_str(&format!(", transformation {t}"));
                }
                if !s("message").is_empty() {
                    l.push_str(&format!(" \"{}\"", s("message")));
                }
                l
            }
            "signature" => {
                format!(
                "signature of directory {} ({} files, root {}, key hint {}) covering snapshots {}",
                s("dir"),
                n("files"),
                &s("root")[..16.min(s("root").len())],
                &s("key_hint")[..16.min(s("key_hint").len())],
                b.get("snapshots").map(|v| v.to_string()).unwrap_or_default()
            )
            }
            "scan" => format!(
                "scan of {} ({} rows{}): {} flagged, {} findings, worst {}, {} — covering snapshots {}",
                b.get("input")
                    .or_else(|| b.pointer("/file/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("?"),
                n("rows"),
                match b.get("rows_root").and_then(Value::as_str) {
                    Some(r) => format!(", rows root {}", &r[..16.min(r.len())]),
                    None => ", recorded by an earlier version: bound to a file only".into(),
                },
                n("flagged"),
                n("findings"),
                b.get("max_severity").and_then(Value::as_str).unwrap_or("none"),
                if b.get("passed").and_then(Value::as_bool) == Some(true) {
                    "passed"
                } else {
                    "failed"
                },
                b.get("snapshots").map(|v| v.to_string()).unwrap_or_default()
            ),
            "identity" => format!(
                "identity {} {}{}{} by {}",
                s("action"),
                s("name"),
                match s("kind").as_str() {
                    "" => String::new(),
                    k => format!(" ({k})"),
                },
                match s("keyid").as_str() {
                    "" => String::new(),
                    k => format!(" key {}", &k[..16.min(k.len())]),
                },
                s("by")
            ),
            "grant" => format!(
                "{}: {} {} on {}{} by {}",
                if s("action") == "revoke" {
                    "grant revoked"
                } else {
                    "grant"
                },
                s("identity"),
                s("role"),
                s("dataset"),
                match s("source").as_str() {
                    "" => String::new(),
                    src => format!(" for source {src}"),
                },
                s("by")
            ),
            "approval" => format!(
                "approval of {} (snapshot {}) by {} with key {}",
                s("label"),
                n("snapshot"),
                s("identity"),
                &s("keyid")[..16.min(s("keyid").len())]
            ),
            "gate" => format!(
                "gate {} for {} (snapshot {}) by {}: {} approvals of {} required",
                s("verdict"),
                s("label"),
                n("snapshot"),
                s("identity"),
                n("approvals"),
                n("required_approvals")
            ),
            other => format!("{other} {b}"),
        };
        say!("#{:<4} {}  {}", e.seq, s("time"), line);
    }
    if let Some(last) = events.last() {
        say!(
            "tree size {}, root {}",
            events.len(),
            bezoar_ledger::util::hex(&last.root)
        );
    }
    Ok(ExitCode::from(EXIT_CLEAN))
}
