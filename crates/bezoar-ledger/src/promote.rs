//! The promotion gate: the second decision point, after training and before deployment. A model
//! passes only when the snapshot it was trained on passed the data gate and a recorded probe of
//! the model (`probe` event) stayed within the policy's limits: attack success rate uplift over
//! a baseline model, and accuracy drop against it. The decision is recorded (`promote` event)
//! with an in-toto verification summary whose subject is the model.

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::approval::{STATEMENT_TYPE, VSA_PREDICATE};
use crate::error::{LedgerError, Result};
use crate::gate::{failures_of, GateCheck};
use crate::grants::Action;
use crate::names::{check_name, NameKind};
use crate::policy::Policy;
use crate::snapshot::SnapshotInfo;
use crate::store::Ledger;
use crate::util::{hex, now_unix, rfc3339};

pub const PROMOTE_VERIFIER_ID: &str = "https://github.com/bezoar-dev/bezoar/promote";
/// Level granted on PASSED (custom levels must not start with `SLSA_`).
pub const PROMOTE_LEVEL: &str = "BEZOAR_PROMOTE_PASSED";
/// Version of the `probe` event body.
pub const PROBE_EVENT_FORMAT: u64 = 1;

/// A model as the ledger names it: `NAME@VERSION`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
}

impl ModelRef {
    /// Parse `NAME@VERSION`; both parts follow the ledger's name grammar.
    pub fn parse(spec: &str) -> Result<Self> {
        let Some((name, version)) = spec.rsplit_once('@') else {
            return Err(LedgerError::Invalid(format!(
                "model '{}': write it NAME@VERSION (e.g. sentiment@2026-12-05 or sentiment@7)",
                bezoar_data::display::escape_invisible(&crate::names::shorten(spec))
            )));
        };
        check_name(NameKind::Model, name)?;
        check_name(NameKind::ModelVersion, version)?;
        Ok(Self {
            name: name.into(),
            version: version.into(),
        })
    }

    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// The promotion decision.
#[derive(Debug, Clone, Serialize)]
pub struct PromoteVerdict {
    pub passed: bool,
    pub model: ModelRef,
    /// The probe event the decision rests on, and the training snapshot it names.
    pub probe_event: Option<u64>,
    pub training_snapshot: Option<String>,
    pub checks: Vec<GateCheck>,
    pub statement: Value,
    pub statement_path: std::path::PathBuf,
    pub event_seq: u64,
}

impl PromoteVerdict {
    pub fn failures(&self) -> Vec<String> {
        failures_of(&self.checks)
    }
}

impl Ledger {
    /// Record a probe of `model` (event `probe`): `body` carries the outcome (`passed`,
    /// `worst_uplift`, `accuracy_drop`, `baseline`, `train`, findings...).
    pub fn record_probe(&mut self, model: &ModelRef, body: Value) -> Result<u64> {
        let mut b = json!({
            "probe_format": PROBE_EVENT_FORMAT,
            "model": model.name,
            "version": model.version,
        });
        if let (Value::Object(dst), Value::Object(src)) = (&mut b, body) {
            for (k, v) in src {
                dst.entry(k).or_insert(v);
            }
        }
        self.record_event("probe", b)
    }

    /// The latest `probe` event of `model`.
    pub fn latest_probe(&self, model: &ModelRef) -> Result<Option<(u64, Value)>> {
        Ok(self
            .probes()?
            .into_iter()
            .rfind(|(_, b)| is_probe_of(b, &model.name, Some(&model.version))))
    }

    /// The latest passed probe of another version of `name`: the default baseline.
    pub fn last_passed_model(&self, name: &str, not_version: &str) -> Result<Option<(u64, Value)>> {
        Ok(self.probes()?.into_iter().rfind(|(_, b)| {
            is_probe_of(b, name, None)
                && b.get("version").and_then(Value::as_str) != Some(not_version)
                && b.get("passed").and_then(Value::as_bool) == Some(true)
        }))
    }

    fn probes(&self) -> Result<Vec<(u64, Value)>> {
        Ok(self
            .events()?
            .into_iter()
            .filter(|e| e.kind == "probe")
            .map(|e| (e.seq, e.json()))
            .collect())
    }

    /// The latest data-gate decision on `snap`: (passed, event seq).
    pub fn latest_gate_decision(&self, snap: &SnapshotInfo) -> Result<Option<(bool, u64)>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .query_row(
                "SELECT passed, event_seq FROM gate_results WHERE snapshot_id = ?1 ORDER BY event_seq DESC LIMIT 1",
                [snap.id],
                |r| Ok((r.get::<_, bool>(0)?, r.get::<_, i64>(1)? as u64)),
            )
            .optional()?)
    }

    /// Where the promotion gate writes `model`'s verification summary unless told otherwise.
    pub fn default_promote_statement_path(&self, model: &ModelRef) -> std::path::PathBuf {
        // Both parts passed the name grammar: no separator or `..` can reach the path.
        self.dir()
            .join("promote")
            .join(format!("{}.vsa.json", model.label()))
    }

    /// Decide whether `model` may be deployed under `policy`, write the verification summary to
    /// `out` (default [`Ledger::default_promote_statement_path`]) and record the decision
    /// (event `promote`), committed only with the statement written.
    pub fn promote(
        &mut self,
        model: &ModelRef,
        policy: &Policy,
        out: Option<&std::path::Path>,
    ) -> Result<PromoteVerdict> {
        let actor = self.authorize(&Action::RecordEvidence)?;
        policy.ensure_valid()?;
        let now = now_unix();
        let mut checks = Vec::new();
        let probe = self.latest_probe(model)?;
        let snap = match &probe {
            Some((_, b)) => match b.pointer("/train/snapshot").and_then(Value::as_i64) {
                Some(id) => self.snapshot_by_id(id)?,
                None => None,
            },
            None => None,
        };

        // 1. The training data: a snapshot that passed the data gate, rows unchanged.
        let mut reasons = Vec::new();
        let mut data_ok = false;
        match (&probe, &snap) {
            (None, _) => reasons.push(format!(
                "no probe of {} recorded, so the training data is unknown",
                model.label()
            )),
            (Some(_), None) => reasons.push(
                "the probe names no training snapshot of this ledger: probe with --train NAME@N"
                    .into(),
            ),
            (Some((_, b)), Some(s)) => {
                let root = b.pointer("/train/rows_root").and_then(Value::as_str);
                let rep = self.verify(Some(s), None, None)?;
                match self.latest_gate_decision(s)? {
                    _ if root != Some(s.rows_root.as_str()) => reasons.push(format!(
                        "the probe's training rows root does not match {}",
                        s.label()
                    )),
                    _ if !rep.ok => reasons.extend(rep.problems.iter().cloned()),
                    Some((true, seq)) => {
                        data_ok = true;
                        reasons.push(format!(
                            "trained on {}, which passed the data gate (event {seq}); ledger intact",
                            s.label()
                        ));
                    }
                    Some((false, seq)) => reasons.push(format!(
                        "trained on {}, whose latest data-gate decision (event {seq}) FAILED",
                        s.label()
                    )),
                    None => reasons.push(format!(
                        "trained on {}, which has no data-gate decision: `bezoar gate {}`",
                        s.label(),
                        s.label()
                    )),
                }
            }
        }
        checks.push(GateCheck {
            check: "data-gate".into(),
            passed: data_ok,
            reasons,
        });

        // 2. The probe, re-judged under the current policy.
        let eff = policy.for_dataset(snap.as_ref().map_or("", |s| s.dataset.as_str()));
        let mut reasons = Vec::new();
        let mut ok = true;
        match &probe {
            None => {
                ok = false;
                reasons.push(format!(
                    "no probe of {} recorded: `bezoar probe --url URL --data HELDOUT --train NAME@N --model {} --record`",
                    model.label(),
                    model.label()
                ));
            }
            Some((seq, b)) => {
                let num = |k: &str| b.get(k).and_then(Value::as_f64);
                let passed = b.get("passed").and_then(Value::as_bool) == Some(true);
                let has_baseline = b.get("baseline").is_some_and(|v| !v.is_null());
                reasons.push(format!(
                    "probe event {seq}: {}, worst ASR uplift {:.2}, accuracy drop {}",
                    if passed { "passed" } else { "failed" },
                    num("worst_uplift").unwrap_or(f64::NAN),
                    num("accuracy_drop").map_or("not measured".into(), |d| format!("{d:.3}"))
                ));
                if !passed {
                    ok = false;
                    let failures = b
                        .get("failures")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default();
                    reasons.push(format!("the probe failed: {failures}"));
                }
                if !has_baseline && eff.probe_require_baseline {
                    ok = false;
                    reasons.push(
                        "the probe ran without a baseline model, and the policy requires one (probe.require_baseline)".into(),
                    );
                }
                match num("worst_uplift") {
                    Some(u) if u > eff.probe_max_asr => {
                        ok = false;
                        reasons.push(format!(
                            "a trigger's ASR uplift {u:.2} is over the policy's probe.max_asr {}",
                            eff.probe_max_asr
                        ));
                    }
                    Some(_) => {}
                    None => {
                        ok = false;
                        reasons.push("the probe recorded no ASR measurement".into());
                    }
                }
                if let Some(d) = num("accuracy_drop") {
                    let p = num("accuracy_drop_p").unwrap_or(0.0);
                    if d > eff.probe_max_accuracy_drop && p < 0.01 {
                        ok = false;
                        reasons.push(format!(
                            "accuracy drop {d:.3} against the baseline is over the policy's probe.max_accuracy_drop {}",
                            eff.probe_max_accuracy_drop
                        ));
                    }
                }
            }
        }
        checks.push(GateCheck {
            check: "probe".into(),
            passed: ok,
            reasons,
        });

        let passed = checks.iter().all(|c| c.passed);
        let verdict = if passed { "PASSED" } else { "FAILED" };
        let mut inputs = Vec::new();
        if let Some((seq, b)) = &probe {
            inputs.push(json!({
                "uri": format!("bezoar://{}/events/{seq}", self.origin()),
                "digest": {"sha256": hex(&Sha256::digest(serde_json::to_vec(b).unwrap_or_default()))},
            }));
        }
        let model_digest = probe.as_ref().and_then(|(_, b)| {
            b.get("model_sha256")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let subject_digest = model_digest.clone().unwrap_or_else(|| {
            // No files were digested: commit to the name and version the probe recorded.
            hex(&Sha256::digest(model.label().as_bytes()))
        });
        let pol = policy.statement_ref();
        let statement = json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": model.label(), "digest": {"sha256": subject_digest}}],
            "predicateType": VSA_PREDICATE,
            "predicate": {
                "verifier": {"id": PROMOTE_VERIFIER_ID, "version": {"bezoar": env!("CARGO_PKG_VERSION")}},
                "timeVerified": rfc3339(now),
                "resourceUri": format!("bezoar://{}/models/{}", self.origin(), model.label()),
                "policy": pol,
                "inputAttestations": inputs,
                "verificationResult": verdict,
                "verifiedLevels": if passed { vec![PROMOTE_LEVEL] } else { vec![] },
                "bezoar": {
                    "model": model,
                    "model_sha256": model_digest,
                    "training_snapshot": snap.as_ref().map(|s| s.label()),
                    "probe": probe.as_ref().map(|(seq, b)| json!({
                        "event": seq,
                        "passed": b.get("passed"),
                        "worst_uplift": b.get("worst_uplift"),
                        "accuracy_drop": b.get("accuracy_drop"),
                        "baseline": b.get("baseline"),
                        "findings": b.get("findings"),
                    })),
                    "checks": checks,
                    "decided_by": actor.name,
                    // The model probe's rule; empty when no probe was recorded (FORMATS.md).
                    "frameworks": bezoar_frameworks::mapping_json(
                        probe.iter().map(|_| bezoar_frameworks::MODEL_BACKDOOR_RULE),
                    ),
                },
            },
        });
        let statement_sha = hex(&Sha256::digest(
            serde_json::to_vec(&statement).expect("JSON encoding"),
        ));
        let failures = failures_of(&checks);
        let statement_path = match out {
            Some(p) => p.to_path_buf(),
            None => self.default_promote_statement_path(model),
        };
        let statement_text =
            serde_json::to_string_pretty(&statement).expect("JSON encoding") + "\n";
        let probe_seq = probe.as_ref().map(|(s, _)| *s);
        let name = actor.name.clone();
        let policy_sha = policy.sha256.clone();
        let seq = self.in_write_tx(|tx, log| {
            let seq = log.append(
                tx,
                "promote",
                now,
                json!({
                    "model": model.name,
                    "version": model.version,
                    "identity": name,
                    "verdict": verdict,
                    "probe_event": probe_seq,
                    "training_snapshot": snap.as_ref().map(|s| s.id),
                    "failures": failures,
                    "policy_sha256": policy_sha,
                    "statement_sha256": statement_sha,
                }),
            )?;
            crate::gate::write_statement(&statement_path, &statement_text)?;
            Ok(seq)
        })?;
        Ok(PromoteVerdict {
            passed,
            model: model.clone(),
            probe_event: probe_seq,
            training_snapshot: snap.as_ref().map(|s| s.label()),
            checks,
            statement,
            statement_path,
            event_seq: seq,
        })
    }
}

fn is_probe_of(body: &Value, name: &str, version: Option<&str>) -> bool {
    body.get("probe_format").and_then(Value::as_u64) == Some(PROBE_EVENT_FORMAT)
        && body.get("model").and_then(Value::as_str) == Some(name)
        && version.is_none_or(|v| body.get("version").and_then(Value::as_str) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_refs_follow_the_name_grammar() {
        let m = ModelRef::parse("sentiment@2026-12-05+rc1").unwrap();
        assert_eq!(
            (m.name.as_str(), m.version.as_str()),
            ("sentiment", "2026-12-05+rc1")
        );
        for bad in [
            "sentiment",
            "../x@1",
            "a/b@1",
            "m@",
            "@1",
            "m@../1",
            "m@a b",
        ] {
            assert!(ModelRef::parse(bad).is_err(), "{bad}");
        }
    }
}
