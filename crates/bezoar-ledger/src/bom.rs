//! CycloneDX 1.6 ML-BOM for a snapshot: one component of type `data`, shaped like the interop
//! fixture (`dataset-mlbom-1.6.cdx.json`): hashes, a `dataset` data entry with contents,
//! classification and governance, the parent snapshot as pedigree, and an `attestation`
//! external reference to the approval envelope.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::grants::Role;
use crate::policy::{file_uri, Policy};
use crate::snapshot::SnapshotInfo;
use crate::store::Ledger;
use crate::util::{hex, now_unix, rfc3339};

/// A UUID (version 4 layout) derived from `seed`, so the same snapshot always gets the same
/// serial number and the BOM is byte-for-byte reproducible.
fn uuid_from(seed: &[u8]) -> String {
    let mut b: [u8; 16] = Sha256::digest(seed)[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn bom_ref(s: &SnapshotInfo) -> String {
    format!("dataset:{}", s.label())
}

fn hashes(s: &SnapshotInfo) -> Value {
    match &s.file {
        Some(f) => json!([
            {"alg": "SHA-256", "content": f.sha256},
            {"alg": "BLAKE3", "content": f.blake3},
        ]),
        // A derived snapshot (quarantine) has no file: its content digest is the rows root.
        None => json!([{"alg": "SHA-256", "content": s.rows_root}]),
    }
}

fn contact(name: &str) -> Value {
    json!({"contact": {"name": name}})
}

/// The latest recorded scan of the snapshot's rows as CycloneDX properties (FORMATS.md): its
/// event, worst severity, findings per rule, and one `bezoar:framework:KEY` property per
/// framework identifier its rules answer. None without a recorded scan: a control that was
/// not run answers nothing.
fn scan_properties(scan: Option<&(u64, Value)>) -> Vec<Value> {
    let Some((seq, b)) = scan else {
        return Vec::new();
    };
    let fw = crate::gate::scan_frameworks(Some(b));
    let mut out = vec![
        json!({"name": "bezoar:scan:event", "value": seq.to_string()}),
        json!({"name": "bezoar:scan:maxSeverity", "value": b.get("max_severity").and_then(Value::as_str).unwrap_or("none")}),
    ];
    if let Some(by_rule) = fw["findings_by_rule"].as_object() {
        for (rule, n) in by_rule {
            out.push(
                json!({"name": format!("bezoar:scan:findings:{rule}"), "value": n.to_string()}),
            );
        }
    }
    let rules: Vec<&str> = fw["rules"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for (key, id) in bezoar_frameworks::identifiers(rules) {
        out.push(json!({"name": format!("bezoar:framework:{key}"), "value": id}));
    }
    out
}

impl Ledger {
    /// The BOM as JSON.
    pub fn bom(&self, snap: &SnapshotInfo, policy: &Policy) -> Result<Value> {
        let eff = policy.for_dataset(&snap.dataset);
        let sources = self.snapshot_sources(snap.id)?;
        // Owners named in the policy are teams (organizations); by default the owners are the
        // dataset's admin identities (contacts).
        let owners: Vec<Value> = match &eff.owners {
            Some(o) => o
                .iter()
                .map(|n| json!({"organization": {"name": n}}))
                .collect(),
            None => {
                let grants = self.grants()?;
                let mut own: Vec<String> = grants
                    .iter()
                    .filter(|g| {
                        g.revoked_at.is_none() && g.role == Role::Admin && g.dataset == snap.dataset
                    })
                    .map(|g| g.identity.clone())
                    .collect();
                if own.is_empty() {
                    own = grants
                        .iter()
                        .filter(|g| g.is_global_admin())
                        .map(|g| g.identity.clone())
                        .collect();
                }
                own.sort();
                own.dedup();
                own.iter().map(|o| contact(o)).collect()
            }
        };
        let check = self.check_approvals(snap, eff.approvers.as_deref(), now_unix())?;
        let mut approvers: Vec<String> = check
            .signatures
            .iter()
            .filter(|s| s.counts)
            .filter_map(|s| s.identity.clone())
            .collect();
        approvers.dedup();
        let mut governance = serde_json::Map::new();
        governance.insert("owners".into(), Value::Array(owners));
        if !approvers.is_empty() {
            governance.insert(
                "stewards".into(),
                Value::Array(approvers.iter().map(|a| contact(a)).collect()),
            );
        }
        governance.insert(
            "custodians".into(),
            json!([{"organization": {"name": format!("bezoar ledger {}", self.origin())}}]),
        );
        let mut properties = vec![
            json!({"name": "bezoar:rowsRoot", "value": format!("sha256-merkle:{}", snap.rows_root)}),
            json!({"name": "bezoar:rows", "value": snap.row_count.to_string()}),
            json!({"name": "bezoar:provenanceDigest", "value": snap.provenance_digest}),
            json!({"name": "bezoar:recordedBy", "value": snap.identity}),
            json!({"name": "bezoar:logEvent", "value": snap.event_seq.to_string()}),
        ];
        for s in &sources {
            properties.push(json!({"name": "bezoar:source", "value": s}));
        }
        properties.extend(scan_properties(self.latest_scan(snap)?.as_ref()));
        let mut data = json!({
            "type": "dataset",
            "name": snap.label(),
            "description": format!(
                "Snapshot {} of dataset '{}': {} rows from {} source(s) ({})",
                snap.number, snap.dataset, snap.row_count, sources.len(), sources.join(", ")
            ),
            "contents": {"properties": [
                {"name": "bezoar:rowsRoot", "value": format!("sha256-merkle:{}", snap.rows_root)},
            ]},
            "classification": eff.classification.clone().unwrap_or_else(|| "unclassified".into()),
            "governance": Value::Object(governance),
        });
        if let Some(sd) = &eff.sensitive_data {
            data["sensitiveData"] = json!(sd);
        }
        if let Some(f) = &snap.file {
            data["contents"]["properties"]
                .as_array_mut()
                .expect("array")
                .push(json!({"name": "bezoar:file", "value": f.name}));
        }
        let mut component = json!({
            "type": "data",
            "bom-ref": bom_ref(snap),
            "name": snap.dataset,
            "version": snap.number.to_string(),
            "hashes": hashes(snap),
            "data": [data],
            "properties": properties,
        });
        if let Some(p) = snap
            .parent
            .map(|p| self.snapshot_by_id(p))
            .transpose()?
            .flatten()
        {
            let mut ped = json!({"ancestors": [{
                "type": "data",
                "bom-ref": bom_ref(&p),
                "name": p.dataset,
                "version": p.number.to_string(),
                "hashes": hashes(&p),
            }]});
            let notes = match (&snap.message, &snap.transformation) {
                (Some(m), _) => Some(m.clone()),
                (None, Some(t)) => Some(t.to_string()),
                _ => None,
            };
            if let Some(n) = notes {
                ped["notes"] = json!(n);
            }
            component["pedigree"] = ped;
        }
        let required = {
            let untrusted = sources.iter().any(|s| !eff.trusted_sources.contains(s));
            if untrusted {
                eff.required_approvals
            } else {
                eff.trusted_required_approvals
            }
        };
        component["properties"]
            .as_array_mut()
            .expect("array")
            .push(json!({"name": "bezoar:approvals", "value": format!("{}-of-{}", approvers.len(), required)}));
        if let Some(env) = self.approval_envelope(snap.id)? {
            component["externalReferences"] = json!([{
                "type": "attestation",
                "url": file_uri(&self.envelope_path(snap)),
                "comment": "DSSE envelope with the approvers' signatures (in-toto Statement v1, SLSA verification summary)",
                "hashes": [{"alg": "SHA-256", "content": hex(&Sha256::digest(env.as_bytes()))}],
            }]);
        }
        Ok(json!({
            "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "serialNumber": format!("urn:uuid:{}", uuid_from(format!("{}|{}|{}", self.origin(), snap.id, snap.rows_root).as_bytes())),
            "version": 1,
            "metadata": {
                "timestamp": rfc3339(snap.created_at),
                "tools": {"components": [{"type": "application", "name": "bezoar", "version": env!("CARGO_PKG_VERSION")}]},
            },
            "components": [component],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_are_valid_deterministic_uuids() {
        let a = uuid_from(b"x");
        assert_eq!(a, uuid_from(b"x"));
        assert_ne!(a, uuid_from(b"y"));
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!("89ab".contains(&parts[3][..1]));
    }
}
