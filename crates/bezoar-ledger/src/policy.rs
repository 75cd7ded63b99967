//! The retraining policy, `bezoar.toml` in the working directory: which sources are trusted,
//! how many approvals (t of n approvers) a snapshot with rows from untrusted sources needs,
//! which signers are mandatory, the scan thresholds, and BOM governance fields. `[defaults]`
//! applies to every dataset; `[datasets.NAME]` overrides it field by field.
//!
//! A missing file means the built-in defaults, which are strict: no source is trusted, one
//! approval is required, and a recorded scan with no finding at or above `high` is required.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{LedgerError, Result};
use crate::grants::Role;
use crate::store::Ledger;
use crate::util::{hex, now_unix};

pub const POLICY_FILE: &str = "bezoar.toml";
pub const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    #[serde(default)]
    pub defaults: DatasetPolicy,
    #[serde(default)]
    pub datasets: BTreeMap<String, DatasetPolicy>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetPolicy {
    /// Sources whose rows need no approval beyond `trusted_required_approvals`.
    pub trusted_sources: Option<Vec<String>>,
    /// t: approvals needed when the snapshot has rows from a source not in `trusted_sources`.
    pub required_approvals: Option<u32>,
    /// Approvals needed when every row comes from a trusted source (default 0).
    pub trusted_required_approvals: Option<u32>,
    /// n: the identities whose approvals count (default: anyone with the approver role).
    pub approvers: Option<Vec<String>>,
    /// Identities (or securesystemslib key ids) that must be among the signers.
    pub required_signers: Option<Vec<String>>,
    pub scan: Option<ScanPolicy>,
    /// The promotion gate's limits for models trained on the dataset.
    pub probe: Option<ProbePolicy>,
    /// BOM governance: owner names (default: the dataset's admins).
    pub owners: Option<Vec<String>>,
    /// BOM data classification (e.g. `internal`, `public`, `confidential`).
    pub classification: Option<String>,
    /// BOM `sensitiveData` entries (e.g. `none-known`, `PII`).
    pub sensitive_data: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanPolicy {
    /// A recorded scan of the snapshot's file is required (default true).
    pub required: Option<bool>,
    /// Fail on a finding at or above this severity (default `high`; `never` disables).
    pub fail_on: Option<String>,
    /// At most this many flagged rows.
    pub max_flagged: Option<u64>,
    /// At most this fraction of rows flagged (0..=1).
    pub max_flagged_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbePolicy {
    /// Largest tolerated attack success rate uplift over the baseline (default 0.2).
    pub max_asr: Option<f64>,
    /// Largest tolerated accuracy drop against the baseline (default 0.03).
    pub max_accuracy_drop: Option<f64>,
    /// A probe without a baseline model cannot pass the promotion gate (default true).
    pub require_baseline: Option<bool>,
}

/// The policy for one dataset, defaults filled in.
#[derive(Debug, Clone, Serialize)]
pub struct Effective {
    pub trusted_sources: Vec<String>,
    pub required_approvals: u32,
    pub trusted_required_approvals: u32,
    pub approvers: Option<Vec<String>>,
    pub required_signers: Vec<String>,
    pub scan_required: bool,
    /// `None`: never fail on severity.
    pub fail_on: Option<String>,
    pub max_flagged: Option<u64>,
    pub max_flagged_rate: Option<f64>,
    pub probe_max_asr: f64,
    pub probe_max_accuracy_drop: f64,
    pub probe_require_baseline: bool,
    pub owners: Option<Vec<String>>,
    pub classification: Option<String>,
    pub sensitive_data: Option<Vec<String>>,
}

/// A loaded policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The file it came from; `None` for the built-in defaults (no file).
    pub path: Option<PathBuf>,
    /// SHA-256 of the file's bytes (the gate's statement commits to it).
    pub sha256: Option<String>,
    pub file: PolicyFile,
}

/// Rank of a severity name (`info` 0 … `critical` 4).
pub fn severity_rank(s: &str) -> Option<usize> {
    SEVERITIES.iter().position(|x| *x == s)
}

impl Policy {
    /// Parse a policy file. Syntax errors and unknown keys name the line and column.
    pub fn load(path: &Path) -> Result<Policy> {
        let bytes = std::fs::read(path).map_err(crate::error::io_err(path))?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| LedgerError::Policy {
            path: path.to_path_buf(),
            message: "not UTF-8 text".into(),
        })?;
        let file: PolicyFile = toml::from_str(&text).map_err(|e| LedgerError::Policy {
            path: path.to_path_buf(),
            message: format!(
                "{}\n(known keys: [defaults] and [datasets.NAME] with trusted_sources, required_approvals, trusted_required_approvals, approvers, required_signers, owners, classification, sensitive_data, a [.scan] table with required, fail_on, max_flagged, max_flagged_rate, and a [.probe] table with max_asr, max_accuracy_drop, require_baseline)",
                e.to_string().trim_end()
            ),
        })?;
        Ok(Policy {
            path: Some(path.to_path_buf()),
            sha256: Some(hex(&Sha256::digest(&bytes))),
            file,
        })
    }

    /// Load `path` if it exists, else the built-in defaults.
    pub fn load_or_default(path: &Path) -> Result<Policy> {
        if path.exists() {
            Self::load(path)
        } else {
            Ok(Policy::default())
        }
    }

    pub fn for_dataset(&self, dataset: &str) -> Effective {
        let d = &self.file.defaults;
        let o = self.file.datasets.get(dataset);
        macro_rules! pick {
            ($f:ident) => {
                o.and_then(|o| o.$f.clone()).or_else(|| d.$f.clone())
            };
        }
        let scan_o = o.and_then(|o| o.scan.clone()).unwrap_or_default();
        let scan_d = d.scan.clone().unwrap_or_default();
        let fail_on = scan_o
            .fail_on
            .or(scan_d.fail_on)
            .unwrap_or_else(|| "high".into());
        let probe_o = o.and_then(|o| o.probe.clone()).unwrap_or_default();
        let probe_d = d.probe.clone().unwrap_or_default();
        Effective {
            probe_max_asr: probe_o.max_asr.or(probe_d.max_asr).unwrap_or(0.2),
            probe_max_accuracy_drop: probe_o
                .max_accuracy_drop
                .or(probe_d.max_accuracy_drop)
                .unwrap_or(0.03),
            probe_require_baseline: probe_o
                .require_baseline
                .or(probe_d.require_baseline)
                .unwrap_or(true),
            trusted_sources: pick!(trusted_sources).unwrap_or_default(),
            required_approvals: pick!(required_approvals).unwrap_or(1),
            trusted_required_approvals: pick!(trusted_required_approvals).unwrap_or(0),
            approvers: pick!(approvers),
            required_signers: pick!(required_signers).unwrap_or_default(),
            scan_required: scan_o.required.or(scan_d.required).unwrap_or(true),
            fail_on: (fail_on != "never").then_some(fail_on),
            max_flagged: scan_o.max_flagged.or(scan_d.max_flagged),
            max_flagged_rate: scan_o.max_flagged_rate.or(scan_d.max_flagged_rate),
            owners: pick!(owners),
            classification: pick!(classification),
            sensitive_data: pick!(sensitive_data),
        }
    }

    /// Errors that make the policy unusable, one line each naming the table and key.
    pub fn errors(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let mut tables: Vec<(String, &DatasetPolicy)> =
            vec![("[defaults]".to_string(), &self.file.defaults)];
        for (name, p) in &self.file.datasets {
            if let Err(e) = crate::names::check_name(crate::names::NameKind::Dataset, name) {
                errs.push(format!("[datasets] table: {e}"));
            }
            tables.push((format!("[datasets.{name}]"), p));
        }
        for (t, p) in &tables {
            if let Some(s) = p.scan.as_ref() {
                if let Some(f) = &s.fail_on {
                    if f != "never" && severity_rank(f).is_none() {
                        errs.push(format!(
                            "{t} scan.fail_on = \"{f}\": must be one of info, low, medium, high, critical, never"
                        ));
                    }
                }
                if let Some(r) = s.max_flagged_rate {
                    if !(0.0..=1.0).contains(&r) || r.is_nan() {
                        errs.push(format!(
                            "{t} scan.max_flagged_rate = {r}: must be a fraction between 0 and 1 (0.01 = 1%)"
                        ));
                    }
                }
            }
            if let Some(pr) = p.probe.as_ref() {
                for (key, v) in [
                    ("max_asr", pr.max_asr),
                    ("max_accuracy_drop", pr.max_accuracy_drop),
                ] {
                    if let Some(r) = v.filter(|r| !(0.0..=1.0).contains(r) || r.is_nan()) {
                        errs.push(format!(
                            "{t} probe.{key} = {r}: must be a fraction between 0 and 1 (0.2 = 20 points)"
                        ));
                    }
                }
            }
            for (key, list) in [
                ("approvers", &p.approvers),
                ("trusted_sources", &p.trusted_sources),
                ("required_signers", &p.required_signers),
            ] {
                if let Some(l) = list {
                    let set: BTreeSet<&String> = l.iter().collect();
                    if set.len() != l.len() {
                        errs.push(format!("{t} {key}: lists a name twice"));
                    }
                    if l.iter().any(|x| x.trim().is_empty()) {
                        errs.push(format!("{t} {key}: contains an empty name"));
                    }
                }
            }
        }
        // Satisfiability is checked on the effective (merged) values of each dataset.
        let mut names: Vec<(String, Effective)> =
            vec![("[defaults]".into(), self.for_dataset("\u{0}defaults"))];
        for name in self.file.datasets.keys() {
            names.push((format!("[datasets.{name}]"), self.for_dataset(name)));
        }
        for (t, e) in &names {
            if let Some(a) = &e.approvers {
                let t_needed = e.required_approvals.max(e.trusted_required_approvals);
                if (a.len() as u32) < t_needed {
                    errs.push(format!(
                        "{t} required_approvals = {t_needed} but only {} approvers are listed: no snapshot could ever pass (list more approvers or lower the threshold)",
                        a.len()
                    ));
                }
                for s in &e.required_signers {
                    if !a.contains(s) && !looks_like_keyid(s) {
                        errs.push(format!(
                            "{t} required_signers includes '{s}', who is not in approvers: their approval would not count"
                        ));
                    }
                }
            }
            if e.trusted_required_approvals > e.required_approvals {
                errs.push(format!(
                    "{t} trusted_required_approvals ({}) is larger than required_approvals ({}): untrusted sources would need fewer approvals than trusted ones",
                    e.trusted_required_approvals, e.required_approvals
                ));
            }
        }
        errs
    }

    /// An error naming the file and every problem when the policy is unusable.
    pub fn ensure_valid(&self) -> Result<()> {
        let errs = self.errors();
        if errs.is_empty() {
            Ok(())
        } else {
            Err(LedgerError::Policy {
                path: self.path.clone().unwrap_or_default(),
                message: errs.join("; "),
            })
        }
    }

    /// The `policy` object of a verification summary: its URI and, for a file, its digest.
    pub(crate) fn statement_ref(&self) -> serde_json::Value {
        let mut pol = serde_json::json!({"uri": self.uri()});
        if let Some(d) = &self.sha256 {
            pol["digest"] = serde_json::json!({"sha256": d});
        }
        pol
    }

    /// The policy's URI for statements: `file://<absolute path>`, or `bezoar:default-policy`.
    pub fn uri(&self) -> String {
        match &self.path {
            Some(p) => {
                let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                file_uri(&abs)
            }
            None => "bezoar:default-policy".into(),
        }
    }
}

pub(crate) fn looks_like_keyid(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `file://` URI of an absolute path, percent-encoding what a URI may not contain.
pub fn file_uri(p: &Path) -> String {
    format!("file://{}", bezoar_data::display::uri_path(p))
}

impl Ledger {
    /// Warnings where the ledger does not (yet) satisfy the policy: approvers or required
    /// signers who do not exist, are inactive, lack the approver role or have no key; datasets
    /// the ledger does not have.
    pub fn policy_warnings(&self, policy: &Policy) -> Result<Vec<String>> {
        let mut warn = Vec::new();
        let ids = self.identities()?;
        let now = now_unix();
        let datasets = self.datasets()?;
        for name in policy.file.datasets.keys() {
            if !datasets.contains(name) {
                warn.push(format!(
                    "[datasets.{name}]: the ledger has no dataset '{name}' yet"
                ));
            }
        }
        let mut targets: Vec<String> = policy.file.datasets.keys().cloned().collect();
        if targets.is_empty() {
            targets = datasets.clone();
        }
        for ds in &targets {
            let e = policy.for_dataset(ds);
            let mut people: Vec<&String> = e.approvers.iter().flatten().collect();
            people.extend(e.required_signers.iter().filter(|s| !looks_like_keyid(s)));
            people.sort();
            people.dedup();
            for who in people {
                match ids.iter().find(|i| &i.name == who) {
                    None => warn.push(format!(
                        "[datasets.{ds}]: approver '{who}' is not an identity in the ledger"
                    )),
                    Some(i) if !i.active_at(now) => warn.push(format!(
                        "[datasets.{ds}]: approver '{who}' is {}",
                        i.status(now)
                    )),
                    Some(i) => {
                        if !i.grants.iter().any(|g| {
                            g.revoked_at.is_none()
                                && (g.dataset == *ds || g.dataset == "*")
                                && matches!(g.role, Role::Approver | Role::Admin)
                        }) {
                            warn.push(format!(
                                "[datasets.{ds}]: '{who}' has no approver role on '{ds}': `bezoar grant {who} --dataset {ds} --role approver`"
                            ));
                        }
                        if !i.keys.iter().any(|k| k.revoked_at.is_none()) {
                            warn.push(format!(
                                "[datasets.{ds}]: '{who}' has no active key to sign approvals with: `bezoar identity rotate {who} --key PUB.pem`"
                            ));
                        }
                    }
                }
            }
            for k in e.required_signers.iter().filter(|s| looks_like_keyid(s)) {
                if self.key_owner(k)?.is_none() {
                    warn.push(format!(
                        "[datasets.{ds}]: required signer key {k} is not registered to any identity"
                    ));
                }
            }
        }
        Ok(warn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<Policy, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bezoar.toml");
        std::fs::write(&p, text).unwrap();
        Policy::load(&p).map_err(|e| e.to_string())
    }

    #[test]
    fn dataset_tables_override_defaults() {
        let p = parse(
            "[defaults]\nrequired_approvals = 1\ntrusted_sources = [\"internal\"]\n\
             [defaults.scan]\nmax_flagged_rate = 0.05\n\
             [datasets.reviews]\nrequired_approvals = 2\napprovers = [\"a\", \"b\", \"c\"]\n\
             [datasets.reviews.scan]\nfail_on = \"medium\"\n",
        )
        .unwrap();
        assert!(p.errors().is_empty(), "{:?}", p.errors());
        let e = p.for_dataset("reviews");
        assert_eq!(e.required_approvals, 2);
        assert_eq!(e.trusted_sources, ["internal"]);
        assert_eq!(e.fail_on.as_deref(), Some("medium"));
        assert_eq!(e.max_flagged_rate, Some(0.05));
        let other = p.for_dataset("other");
        assert_eq!(other.required_approvals, 1);
        assert_eq!(other.fail_on.as_deref(), Some("high"));
        assert!(other.scan_required);
    }

    #[test]
    fn bad_policies_get_clear_errors() {
        let e = parse("[datasets.reviews]\nrequired_aprovals = 2\n").unwrap_err();
        assert!(
            e.contains("required_aprovals") && e.contains("line 2"),
            "{e}"
        );
        let e = parse("[datasets.reviews]\nrequired_approvals = \"two\"\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let p = parse(
            "[datasets.reviews]\nrequired_approvals = 3\napprovers = [\"a\", \"b\"]\n\
             [datasets.reviews.scan]\nfail_on = \"severe\"\nmax_flagged_rate = 2.0\n",
        )
        .unwrap();
        let errs = p.errors().join("\n");
        assert!(errs.contains("only 2 approvers"), "{errs}");
        assert!(errs.contains("fail_on = \"severe\""), "{errs}");
        assert!(errs.contains("max_flagged_rate = 2"), "{errs}");
    }
}
