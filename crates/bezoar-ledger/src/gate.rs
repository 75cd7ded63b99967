//! The retraining gate: evaluate a snapshot against the policy, record the decision in the log,
//! and produce an in-toto verification-summary statement a training job can check.

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::approval::{
    resource_uri, ApprovalCheck, SignatureStatus, STATEMENT_TYPE, VSA_PREDICATE,
};
use crate::error::Result;
use crate::grants::Action;
use crate::policy::{looks_like_keyid, severity_rank, Policy};
use crate::snapshot::{SnapshotInfo, SCAN_EVENT_FORMAT};
use crate::store::Ledger;
use crate::util::{hex, now_unix, rfc3339};

pub const GATE_VERIFIER_ID: &str = "https://github.com/bezoar-dev/bezoar/gate";
/// Level granted on PASSED (custom levels must not start with `SLSA_`).
pub const GATE_LEVEL: &str = "BEZOAR_GATE_PASSED";

/// One rule's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct GateCheck {
    /// `ledger`, `approvals`, `required-signers`, `scan`.
    pub check: String,
    pub passed: bool,
    /// Every reason, one line each.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GateVerdict {
    pub passed: bool,
    pub snapshot: SnapshotInfo,
    pub untrusted_sources: Vec<String>,
    pub approvals: u32,
    pub required_approvals: u32,
    pub signatures: Vec<SignatureStatus>,
    pub checks: Vec<GateCheck>,
    /// The in-toto Statement v1 (verification summary) the gate wrote.
    pub statement: Value,
    /// Where the statement was written.
    pub statement_path: std::path::PathBuf,
    pub event_seq: u64,
}

/// The reasons of the failed checks, one line each, prefixed by the check.
pub(crate) fn failures_of(checks: &[GateCheck]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| !c.passed)
        .flat_map(|c| c.reasons.iter().map(move |r| format!("{}: {r}", c.check)))
        .collect()
}

impl GateVerdict {
    /// Reasons of the failed checks, flattened.
    pub fn failures(&self) -> Vec<String> {
        failures_of(&self.checks)
    }
}

/// The gate's framework extension (FORMATS.md, "Framework mapping"): the identifiers the
/// recorded scan's rules answer, and how many findings each rule had. Without a recorded scan
/// the gate answered none of them, so `rules` is empty.
pub(crate) fn scan_frameworks(scan: Option<&Value>) -> Value {
    let Some(b) = scan else {
        return bezoar_frameworks::mapping_json([]);
    };
    let not_run: Vec<&str> = b
        .get("detectors_not_selected")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // The rules that ran, as the scan recorded them; scans recorded before that list existed
    // were of text-classification rows, and ran every such rule they did not leave out.
    let mut out = match b.get("rules_run").and_then(Value::as_array) {
        Some(run) => {
            let run: Vec<&str> = run.iter().filter_map(Value::as_str).collect();
            bezoar_frameworks::mapping_json(
                bezoar_frameworks::SCAN_RULES
                    .into_iter()
                    .filter(|r| run.contains(r)),
            )
        }
        None => bezoar_frameworks::mapping_json(
            bezoar_frameworks::CLASSIFICATION_RULES
                .into_iter()
                .filter(|r| !not_run.contains(r)),
        ),
    };
    let mut by_rule = serde_json::Map::new();
    for f in b
        .get("finding_list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(rule) = f.get("rule").and_then(Value::as_str) {
            let n = by_rule.get(rule).and_then(Value::as_u64).unwrap_or(0);
            by_rule.insert(rule.to_string(), json!(n + 1));
        }
    }
    out["findings_by_rule"] = Value::Object(by_rule);
    out
}

impl Ledger {
    /// The latest `scan` event that covers exactly `snap`'s rows: recorded in the current
    /// format with the snapshot's rows Merkle root.
    pub fn latest_scan(&self, snap: &SnapshotInfo) -> Result<Option<(u64, Value)>> {
        Ok(self
            .events()?
            .into_iter()
            .filter(|e| e.kind == "scan")
            .map(|e| (e.seq, e.json()))
            .rfind(|(_, b)| scan_covers(b, snap)))
    }

    /// The latest scan event of an earlier format that named `snap` (by its file's digest):
    /// it does not count, but the gate says it exists.
    fn legacy_scan(&self, snap: &SnapshotInfo) -> Result<Option<u64>> {
        Ok(self
            .events()?
            .into_iter()
            .filter(|e| e.kind == "scan")
            .map(|e| (e.seq, e.json()))
            .filter(|(_, b)| {
                b.get("scan_format").and_then(Value::as_u64).unwrap_or(1) < SCAN_EVENT_FORMAT
                    && b.get("snapshots")
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().any(|x| x.as_i64() == Some(snap.id)))
            })
            .map(|(seq, _)| seq)
            .next_back())
    }

    /// Where the gate writes `snap`'s verification summary unless told otherwise.
    pub fn default_statement_path(&self, snap: &SnapshotInfo) -> std::path::PathBuf {
        self.dir()
            .join("gate")
            .join(format!("{}.vsa.json", snap.file_stem()))
    }

    /// Evaluate the gate for `snap` under `policy` (which must be free of errors), write the
    /// verification summary to `out` (default [`Ledger::default_statement_path`]), record the
    /// decision (event `gate`), and return the verdict with its statement. The event is
    /// committed only when the statement was written.
    pub fn gate(
        &mut self,
        snap: &SnapshotInfo,
        policy: &Policy,
        out: Option<&std::path::Path>,
    ) -> Result<GateVerdict> {
        let actor = self.authorize(&Action::RecordEvidence)?;
        policy.ensure_valid()?;
        let eff = policy.for_dataset(&snap.dataset);
        let now = now_unix();
        let mut checks = Vec::new();

        // 1. The data: the snapshot's rows, objects and the whole log re-verified.
        let rep = self.verify(Some(snap), None, None)?;
        checks.push(GateCheck {
            check: "ledger".into(),
            passed: rep.ok,
            reasons: if rep.ok {
                vec![format!(
                    "{} rows of {} verified against the ledger (rows root {}), log of {} events intact",
                    rep.rows_checked,
                    snap.label(),
                    &snap.rows_root[..16],
                    rep.events
                )]
            } else {
                rep.problems.clone()
            },
        });

        // 2. Approvals: t of n when any row comes from an untrusted source.
        let sources = self.snapshot_sources(snap.id)?;
        let untrusted: Vec<String> = sources
            .iter()
            .filter(|s| !eff.trusted_sources.contains(s))
            .cloned()
            .collect();
        let required = if untrusted.is_empty() {
            eff.trusted_required_approvals
        } else {
            eff.required_approvals
        };
        let ApprovalCheck {
            signatures: sigs,
            problems: env_problems,
            ..
        } = self.check_approvals(snap, eff.approvers.as_deref(), now)?;
        let approvals = sigs.iter().filter(|s| s.counts).count() as u32;
        let mut reasons: Vec<String> = env_problems;
        for s in &sigs {
            match (&s.problem, &s.identity) {
                (None, Some(who)) => reasons.push(format!("approved by '{who}' (valid signature)")),
                (Some(p), _) => reasons.push(format!("not counted: {p}")),
                (None, None) => {}
            }
        }
        let why = if untrusted.is_empty() {
            "every row comes from a trusted source".to_string()
        } else {
            format!("rows from untrusted source(s) {}", untrusted.join(", "))
        };
        let approvals_ok = approvals >= required;
        reasons.insert(
            0,
            format!(
                "{approvals} valid approval(s), {required} required ({why}{})",
                match &eff.approvers {
                    Some(a) => format!("; approvers: {}", a.join(", ")),
                    None => String::new(),
                }
            ),
        );
        if !approvals_ok {
            reasons.push(format!(
                "too few approvals: {} more needed from approvers other than the author(s) ({}): `bezoar approve {} --key KEY`",
                required - approvals,
                self.authors_of_change(snap)?.join(", "),
                snap.label()
            ));
        }
        checks.push(GateCheck {
            check: "approvals".into(),
            passed: approvals_ok,
            reasons,
        });

        // 3. Required signers (identity names or key ids).
        if !eff.required_signers.is_empty() {
            let mut reasons = Vec::new();
            let mut ok = true;
            for r in &eff.required_signers {
                let present = sigs.iter().any(|s| {
                    s.counts
                        && if looks_like_keyid(r) {
                            &s.keyid == r
                        } else {
                            s.identity.as_deref() == Some(r.as_str())
                        }
                });
                ok &= present;
                reasons.push(if present {
                    format!("required signer '{r}' signed")
                } else {
                    format!("required signer '{r}' has not signed (validly)")
                });
            }
            checks.push(GateCheck {
                check: "required-signers".into(),
                passed: ok,
                reasons,
            });
        }

        // 4. The latest scan of exactly this snapshot's rows, under the thresholds.
        let scan = self.latest_scan(snap)?;
        let mut reasons = Vec::new();
        let mut ok = true;
        match &scan {
            None => {
                ok = !eff.scan_required;
                let how = format!("`bezoar scan {} --record`", snap.label());
                reasons.push(if eff.scan_required {
                    format!("no scan of the rows of {} recorded: {how}", snap.label())
                } else {
                    "no scan of this snapshot recorded (not required by the policy)".into()
                });
                if let Some(seq) = self.legacy_scan(snap)? {
                    reasons.push(format!(
                        "scan event {seq} was recorded by an earlier version of bezoar, bound to a file's digest rather than to this snapshot's rows, so it does not count; rescan with {how}"
                    ));
                }
            }
            Some((seq, b)) => {
                let rows = b.get("rows").and_then(Value::as_u64).unwrap_or(0);
                let flagged = b.get("flagged").and_then(Value::as_u64).unwrap_or(0);
                let worst = b.get("max_severity").and_then(Value::as_str);
                reasons.push(format!(
                    "latest scan of these rows (event {seq}, rows root {}): {flagged} of {rows} rows flagged, worst finding {}",
                    &snap.rows_root[..16],
                    worst.unwrap_or("none")
                ));
                let skipped: Vec<&str> = b
                    .get("detectors_not_selected")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if !skipped.is_empty() {
                    ok = false;
                    reasons.push(format!(
                        "the scan left out detector(s) {} by choice (--detectors/--skip-detectors); the gate counts only a scan with every detector",
                        skipped.join(", ")
                    ));
                }
                if let (Some(limit), Some(w)) = (&eff.fail_on, worst) {
                    if severity_rank(w) >= severity_rank(limit) {
                        ok = false;
                        reasons.push(format!(
                            "scan over threshold: a {w} finding, the policy fails on {limit} or worse"
                        ));
                    }
                }
                if let Some(m) = eff.max_flagged {
                    if flagged > m {
                        ok = false;
                        reasons.push(format!(
                            "scan over threshold: {flagged} rows flagged, at most {m} allowed"
                        ));
                    }
                }
                if let Some(r) = eff.max_flagged_rate {
                    let rate = if rows == 0 {
                        0.0
                    } else {
                        flagged as f64 / rows as f64
                    };
                    if rate > r {
                        ok = false;
                        reasons.push(format!(
                            "scan over threshold: {:.2}% of rows flagged, at most {:.2}% allowed",
                            100.0 * rate,
                            100.0 * r
                        ));
                    }
                }
            }
        }
        checks.push(GateCheck {
            check: "scan".into(),
            passed: ok,
            reasons,
        });

        let passed = checks.iter().all(|c| c.passed);
        let verdict = if passed { "PASSED" } else { "FAILED" };
        let envelope = self.approval_envelope(snap.id)?;
        let mut inputs = Vec::new();
        if let Some(text) = &envelope {
            inputs.push(json!({
                "uri": crate::policy::file_uri(&self.envelope_path(snap)),
                "digest": {"sha256": hex(&Sha256::digest(text.as_bytes()))},
            }));
        }
        if let Some((seq, b)) = &scan {
            inputs.push(json!({
                "uri": format!("bezoar://{}/events/{seq}", self.origin()),
                "digest": {"sha256": hex(&Sha256::digest(serde_json::to_vec(b).unwrap_or_default()))},
            }));
        }
        let pol = policy.statement_ref();
        let statement = json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": snap.label(), "digest": {"sha256": snap.rows_root}}],
            "predicateType": VSA_PREDICATE,
            "predicate": {
                "verifier": {"id": GATE_VERIFIER_ID, "version": {"bezoar": env!("CARGO_PKG_VERSION")}},
                "timeVerified": rfc3339(now),
                "resourceUri": resource_uri(self.origin(), snap),
                "policy": pol,
                "inputAttestations": inputs,
                "verificationResult": verdict,
                "verifiedLevels": if passed { vec![GATE_LEVEL] } else { vec![] },
                "bezoar": {
                    "snapshot": snap.id,
                    "dataset": snap.dataset,
                    "rows": snap.row_count,
                    "file_sha256": snap.file.as_ref().map(|f| f.sha256.clone()),
                    "approvals": approvals,
                    "required_approvals": required,
                    "checks": checks,
                    "decided_by": actor.name,
                    "frameworks": scan_frameworks(scan.as_ref().map(|(_, b)| b)),
                },
            },
        });
        let statement_sha = hex(&Sha256::digest(
            serde_json::to_vec(&statement).expect("JSON encoding"),
        ));
        let failures = failures_of(&checks);
        let (snap_id, label, dataset) = (snap.id, snap.label(), snap.dataset.clone());
        let name = actor.name.clone();
        let policy_sha = policy.sha256.clone();
        let statement_path = match out {
            Some(p) => p.to_path_buf(),
            None => self.default_statement_path(snap),
        };
        let statement_text =
            serde_json::to_string_pretty(&statement).expect("JSON encoding") + "\n";
        let seq = self.in_write_tx(|tx, log| {
            let seq = log.append(
                tx,
                "gate",
                now,
                json!({
                    "dataset": dataset,
                    "snapshot": snap_id,
                    "label": label,
                    "identity": name,
                    "verdict": verdict,
                    "approvals": approvals,
                    "required_approvals": required,
                    "failures": failures,
                    "policy_sha256": policy_sha,
                    "statement_sha256": statement_sha,
                }),
            )?;
            tx.execute(
                "INSERT INTO gate_results(snapshot_id, passed, time, event_seq) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![snap_id, passed, now, seq as i64],
            )?;
            write_statement(&statement_path, &statement_text)?;
            Ok(seq)
        })?;
        Ok(GateVerdict {
            passed,
            snapshot: snap.clone(),
            untrusted_sources: untrusted,
            approvals,
            required_approvals: required,
            signatures: sigs,
            checks,
            statement,
            statement_path,
            event_seq: seq,
        })
    }
}

/// Write the statement file (creating its folder): inside the gate's transaction, so a decision
/// whose statement cannot be written is not recorded.
pub(crate) fn write_statement(path: &std::path::Path, text: &str) -> Result<()> {
    let err = crate::error::io_err(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(crate::error::io_err(dir))?;
    }
    std::fs::write(path, text).map_err(err)
}

/// Whether a `scan` event body covers exactly `snap`'s rows.
fn scan_covers(body: &Value, snap: &SnapshotInfo) -> bool {
    body.get("scan_format").and_then(Value::as_u64).unwrap_or(1) >= SCAN_EVENT_FORMAT
        && body.get("rows_root").and_then(Value::as_str) == Some(snap.rows_root.as_str())
}
