//! Approvals: one DSSE envelope per snapshot carrying every approver's signature (t-of-n).
//!
//! The payload is an in-toto Statement v1 about the snapshot (subject `NAME@N` with
//! `sha256` = its rows Merkle root) with the SLSA verification-summary predicate. The first
//! approval fixes the payload; later approvers sign the same bytes. Signatures carry
//! securesystemslib key ids ([`PublicKey::keyid`]) so `Envelope.verify(keys, threshold)` pairs
//! them with keys; ECDSA signatures are DER over SHA-256 of PAE, Ed25519 ones raw.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{io_err, LedgerError, Result};
use crate::grants::{Action, Role};
use crate::identity::PublicKey;
use crate::signing::pae;
use crate::snapshot::SnapshotInfo;
use crate::store::Ledger;
use crate::util::{hex, now_unix, rfc3339};

pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const VSA_PREDICATE: &str = "https://slsa.dev/verification_summary/v1";
/// Custom verified level (SLSA reserves the `SLSA_` prefix).
pub const APPROVED_LEVEL: &str = "BEZOAR_APPROVED_FOR_TRAINING";
pub const APPROVER_ID: &str = "https://github.com/bezoar-dev/bezoar/approve";
pub const APPROVALS_DIR: &str = "approvals";

/// A private key for signing approvals.
pub enum ApprovalKey {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl ApprovalKey {
    /// Load a PEM private key: ECDSA P-256 (PKCS#8 or SEC1) or Ed25519 (PKCS#8).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(&text) {
            return Ok(ApprovalKey::Ed25519(k));
        }
        crate::keys::load_p256_private(path)
            .map(ApprovalKey::P256)
            .map_err(|_| LedgerError::Key {
                path: path.to_path_buf(),
                message: "not an ECDSA P-256 (PKCS#8 or SEC1) or Ed25519 (PKCS#8) private key in PEM; create one with `bezoar keygen --algorithm p256|ed25519`".into(),
            })
    }

    pub fn public(&self) -> PublicKey {
        match self {
            ApprovalKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            ApprovalKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            ApprovalKey::P256(k) => {
                use p256::ecdsa::signature::Signer as _;
                let s: p256::ecdsa::Signature = k.sign(msg);
                s.to_der().as_bytes().to_vec()
            }
            ApprovalKey::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(msg).to_bytes().to_vec()
            }
        }
    }
}

/// DSSE payload type of a signed upload.
pub const UPLOAD_PAYLOAD_TYPE: &str = "application/vnd.bezoar.upload.v1+json";

/// Sign an upload: the payload is compact JSON `{"dataset","file_sha256","source"}` and the
/// signature is over `PAE(UPLOAD_PAYLOAD_TYPE, payload)`, as in the approval envelopes.
pub fn sign_upload(key: &ApprovalKey, dataset: &str, source: &str, file_sha256: &str) -> Value {
    let payload = serde_json::to_string(
        &json!({"dataset": dataset, "file_sha256": file_sha256, "source": source}),
    )
    .expect("JSON encoding");
    let sig = key.sign(&pae(UPLOAD_PAYLOAD_TYPE, payload.as_bytes()));
    json!({
        "payloadType": UPLOAD_PAYLOAD_TYPE,
        "payload": payload,
        "keyid": key.public().keyid(),
        "sig": B64.encode(sig),
    })
}

/// `bezoar://<log origin>/datasets/<name>/snapshots/<id>`: names the snapshot in this ledger.
pub fn resource_uri(origin: &str, snap: &SnapshotInfo) -> String {
    format!(
        "bezoar://{origin}/datasets/{}/snapshots/{}",
        snap.dataset, snap.id
    )
}

/// The approval statement for a snapshot.
pub fn approval_statement(origin: &str, snap: &SnapshotInfo, time: i64) -> Value {
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": snap.label(), "digest": {"sha256": snap.rows_root}}],
        "predicateType": VSA_PREDICATE,
        "predicate": {
            "verifier": {"id": APPROVER_ID},
            "timeVerified": rfc3339(time),
            "resourceUri": resource_uri(origin, snap),
            "policy": {"uri": "https://github.com/bezoar-dev/bezoar/policy/approval/v1"},
            "verificationResult": "PASSED",
            "verifiedLevels": [APPROVED_LEVEL],
            "bezoar": {
                "snapshot": snap.id,
                "dataset": snap.dataset,
                "rows": snap.row_count,
                "rows_root": snap.rows_root,
                "provenance_digest": snap.provenance_digest,
                "manifest_digest": snap.manifest_digest,
                "file_sha256": snap.file.as_ref().map(|f| f.sha256.clone()),
            },
        },
    })
}

/// What `approve` did.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    pub snapshot: SnapshotInfo,
    pub identity: String,
    pub keyid: String,
    /// Signatures in the envelope now.
    pub signatures: usize,
    pub envelope_path: PathBuf,
    pub event_seq: u64,
}

/// One signature of an envelope, checked.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureStatus {
    pub keyid: String,
    pub identity: Option<String>,
    /// The signature verifies over PAE(payload) with the registered key.
    pub valid: bool,
    /// It counts towards the threshold (valid, key and identity active, approver role, not an
    /// author, allowed by the policy's approvers list).
    pub counts: bool,
    /// Why it does not count.
    pub problem: Option<String>,
}

/// (keyid, raw signature bytes) per signature.
type Signatures = Vec<(String, Vec<u8>)>;

/// The signatures of a snapshot's envelope, checked (see [`Ledger::check_approvals`]).
#[derive(Debug, Clone, Default)]
pub struct ApprovalCheck {
    pub signatures: Vec<SignatureStatus>,
    /// The statement bytes; `None` when there is no (readable) envelope.
    pub payload: Option<Vec<u8>>,
    /// Problems with the envelope as a whole.
    pub problems: Vec<String>,
}

fn parse_envelope(text: &str) -> Result<(Vec<u8>, Signatures)> {
    let bad = |m: &str| LedgerError::Corrupt(format!("approval envelope: {m}"));
    let env: Value = serde_json::from_str(text).map_err(|_| bad("not JSON"))?;
    if env.get("payloadType").and_then(Value::as_str) != Some(PAYLOAD_TYPE) {
        return Err(bad("wrong payloadType"));
    }
    let payload = env
        .get("payload")
        .and_then(Value::as_str)
        .and_then(|p| B64.decode(p).ok())
        .ok_or_else(|| bad("payload missing or not base64"))?;
    let mut sigs = Vec::new();
    for s in env
        .get("signatures")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no signatures array"))?
    {
        let keyid = s.get("keyid").and_then(Value::as_str).unwrap_or("");
        // An undecodable signature is kept (as empty) so the gate names it as invalid.
        let sig = s
            .get("sig")
            .and_then(Value::as_str)
            .and_then(|b| B64.decode(b).ok())
            .unwrap_or_default();
        sigs.push((keyid.to_string(), sig));
    }
    Ok((payload, sigs))
}

fn envelope_json(payload: &[u8], sigs: &[(String, Vec<u8>)]) -> String {
    let signatures: Vec<Value> = sigs
        .iter()
        .map(|(k, s)| json!({"keyid": k, "sig": B64.encode(s)}))
        .collect();
    serde_json::to_string_pretty(&json!({
        "payload": B64.encode(payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": signatures,
    }))
    .expect("JSON encoding")
}

impl Ledger {
    /// Authenticate by possession of a registered private key (signed uploads, approvals by
    /// key-only identities): the key's id must be registered, unrevoked, and its identity
    /// active.
    pub fn authenticate_key(&mut self, key: &ApprovalKey) -> Result<crate::auth::Actor> {
        let keyid = key.public().keyid();
        let Some((owner, k)) = self.key_owner(&keyid)? else {
            return Err(LedgerError::BadToken(format!(
                "key {keyid} is not registered to any identity (an admin registers a public key with `bezoar identity add NAME --key PUB.pem` or `identity rotate NAME --key PUB.pem`)"
            )));
        };
        if k.revoked_at.is_some() {
            return Err(LedgerError::BadToken(format!(
                "key {} of '{owner}' was revoked",
                &keyid[..16]
            )));
        }
        let ident = self.identity(&owner)?;
        let now = now_unix();
        if !ident.active_at(now) {
            return Err(LedgerError::BadToken(format!(
                "identity '{owner}' is {}",
                ident.status(now)
            )));
        }
        self.conn.execute(
            "UPDATE identities SET last_used_at = ?1 WHERE id = ?2",
            params![now, ident.id],
        )?;
        let actor = crate::auth::Actor {
            id: ident.id,
            name: ident.name,
            kind: ident.kind,
        };
        self.actor = Some(actor.clone());
        Ok(actor)
    }

    /// The stored approval envelope of a snapshot (JSON text).
    pub fn approval_envelope(&self, snapshot: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT envelope FROM approval_envelopes WHERE snapshot_id = ?1",
                params![snapshot],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Where `approve` exports a snapshot's envelope.
    pub fn envelope_path(&self, snap: &SnapshotInfo) -> PathBuf {
        self.dir
            .join(APPROVALS_DIR)
            .join(format!("{}.dsse.json", snap.file_stem()))
    }

    /// Identities whose change an approval of `snap` would approve: the author of `snap` and
    /// of every ancestor back to (not including) the nearest one that passed the gate.
    pub fn authors_of_change(&self, snap: &SnapshotInfo) -> Result<Vec<String>> {
        let mut authors = vec![snap.identity.clone()];
        let mut cur = snap.parent;
        while let Some(id) = cur {
            let passed: bool = self.conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM gate_results WHERE snapshot_id = ?1 AND passed = 1)",
                params![id],
                |r| r.get(0),
            )?;
            if passed {
                break;
            }
            let Some(p) = self.snapshot_by_id(id)? else {
                break;
            };
            if !authors.contains(&p.identity) {
                authors.push(p.identity.clone());
            }
            cur = p.parent;
        }
        Ok(authors)
    }

    /// Sign `snap`'s approval statement as the authenticated identity and add the signature to
    /// its envelope.
    pub fn approve(&mut self, snap: &SnapshotInfo, key: &ApprovalKey) -> Result<Approval> {
        let actor = self.authorize(&Action::Approve {
            dataset: &snap.dataset,
        })?;
        let authors = self.authors_of_change(snap)?;
        if authors.contains(&actor.name) {
            let what = if snap.identity == actor.name {
                format!("{} itself", snap.label())
            } else {
                format!(
                    "an earlier snapshot of '{}' not yet approved through the gate, whose rows {} carries",
                    snap.dataset,
                    snap.label()
                )
            };
            return Err(LedgerError::SelfApproval {
                identity: actor.name,
                what,
            });
        }
        let public = key.public();
        let keyid = public.keyid();
        match self.key_owner(&keyid)? {
            Some((owner, k)) if owner == actor.name && k.revoked_at.is_none() => {}
            Some((owner, k)) if owner == actor.name => {
                return Err(LedgerError::Invalid(format!(
                    "key {keyid} of '{owner}' was revoked at {}; sign with your current key",
                    rfc3339(k.revoked_at.unwrap_or_default())
                )))
            }
            Some((owner, _)) => {
                return Err(LedgerError::Denied {
                    identity: actor.name.clone(),
                    action: format!("approve {} with key {keyid}", snap.label()),
                    missing: format!("that key is registered to '{owner}'"),
                    hint: "sign with your own key".into(),
                })
            }
            None => {
                return Err(LedgerError::Invalid(format!(
                    "key {keyid} is not registered to '{}': an admin can register its public half with `bezoar identity rotate {} --key PUB.pem`",
                    actor.name, actor.name
                )))
            }
        }
        let my_keys: Vec<String> = self
            .keys_of(actor.id)?
            .into_iter()
            .map(|k| k.keyid)
            .collect();
        let now = now_unix();
        let (payload, mut sigs) = match self.approval_envelope(snap.id)? {
            Some(text) => {
                let (payload, sigs) = parse_envelope(&text)?;
                let st: Value = serde_json::from_slice(&payload).map_err(|_| {
                    LedgerError::Corrupt("approval envelope payload is not JSON".into())
                })?;
                if st
                    .pointer("/subject/0/digest/sha256")
                    .and_then(Value::as_str)
                    != Some(snap.rows_root.as_str())
                {
                    return Err(LedgerError::Corrupt(format!(
                        "the approval envelope of {} is about other data (subject digest differs from the rows root); run `bezoar verify`",
                        snap.label()
                    )));
                }
                (payload, sigs)
            }
            None => (
                serde_json::to_vec(&approval_statement(self.origin(), snap, now))
                    .expect("JSON encoding"),
                Vec::new(),
            ),
        };
        if sigs.iter().any(|(k, _)| my_keys.contains(k)) {
            return Err(LedgerError::Invalid(format!(
                "'{}' has already approved {}",
                actor.name,
                snap.label()
            )));
        }
        let sig = key.sign(&pae(PAYLOAD_TYPE, &payload));
        sigs.push((keyid.clone(), sig));
        let text = envelope_json(&payload, &sigs);
        let n = sigs.len();
        let label = snap.label();
        let snap_id = snap.id;
        let dataset = snap.dataset.clone();
        let name = actor.name.clone();
        let path = self.envelope_path(snap);
        let seq = self.in_write_tx(|tx, log| {
            tx.execute(
                "INSERT OR REPLACE INTO approval_envelopes(snapshot_id, envelope) VALUES (?1, ?2)",
                params![snap_id, text],
            )?;
            let seq = log.append(
                tx,
                "approval",
                now,
                json!({
                    "dataset": dataset,
                    "snapshot": snap_id,
                    "label": label,
                    "identity": name,
                    "keyid": keyid,
                    "algorithm": public.algorithm(),
                    "payload_sha256": hex(&Sha256::digest(&payload)),
                    "signatures": n,
                }),
            )?;
            // The envelope file is part of the approval: if it cannot be written, the event is
            // rolled back with it, so a retry is not told "already approved".
            std::fs::create_dir_all(path.parent().expect("approvals dir"))
                .map_err(io_err(&path))?;
            crate::util::write_durable(&path, text.as_bytes(), None).map_err(io_err(&path))?;
            Ok(seq)
        })?;
        Ok(Approval {
            snapshot: snap.clone(),
            identity: actor.name,
            keyid,
            signatures: n,
            envelope_path: path,
            event_seq: seq,
        })
    }

    /// Check every signature of `snap`'s envelope against the registered keys and the rules
    /// (`allowed`: the policy's approvers list, if any).
    pub fn check_approvals(
        &self,
        snap: &SnapshotInfo,
        allowed: Option<&[String]>,
        now: i64,
    ) -> Result<ApprovalCheck> {
        let mut problems = Vec::new();
        let Some(text) = self.approval_envelope(snap.id)? else {
            return Ok(ApprovalCheck::default());
        };
        let (payload, sigs) = match parse_envelope(&text) {
            Ok(x) => x,
            Err(e) => {
                problems.push(e.to_string());
                return Ok(ApprovalCheck {
                    problems,
                    ..ApprovalCheck::default()
                });
            }
        };
        let subject_ok = serde_json::from_slice::<Value>(&payload)
            .ok()
            .and_then(|st| {
                st.pointer("/subject/0/digest/sha256")
                    .and_then(Value::as_str)
                    .map(|d| d == snap.rows_root)
            })
            .unwrap_or(false);
        if !subject_ok {
            problems.push(format!(
                "the approval statement is not about {} (its subject digest is not the snapshot's rows root): no approval counts",
                snap.label()
            ));
        }
        let authors = self.authors_of_change(snap)?;
        let msg = pae(PAYLOAD_TYPE, &payload);
        let identities = self.identities()?;
        let mut counted: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for (keyid, sig) in sigs {
            let mut st = SignatureStatus {
                keyid: keyid.clone(),
                identity: None,
                valid: false,
                counts: false,
                problem: None,
            };
            let Some((owner, k)) = self.key_owner(&keyid)? else {
                st.problem = Some(format!("key {keyid} is not registered in this ledger"));
                out.push(st);
                continue;
            };
            st.identity = Some(owner.clone());
            st.valid = PublicKey::from_pem(&k.public_pem).is_ok_and(|pk| pk.verify(&msg, &sig));
            let ident = identities.iter().find(|i| i.name == owner);
            st.problem = if !st.valid {
                Some(format!(
                    "the signature of '{owner}' (key {}) does not verify: the envelope or statement was altered",
                    &keyid[..16.min(keyid.len())]
                ))
            } else if !subject_ok {
                Some("the statement is about other data".into())
            } else if k.revoked_at.is_some_and(|t| t <= now) {
                Some(format!(
                    "'{owner}' signed with key {} which has been revoked",
                    &keyid[..16]
                ))
            } else if !ident.is_some_and(|i| i.active_at(now)) {
                Some(format!("'{owner}' is revoked or expired"))
            } else if authors.contains(&owner) {
                Some(format!(
                    "'{owner}' authored this change and cannot approve it (self-approval)"
                ))
            } else if !ident.is_some_and(|i| {
                i.grants.iter().any(|g| {
                    g.revoked_at.is_none()
                        && (g.dataset == snap.dataset || g.dataset == "*")
                        && matches!(g.role, Role::Approver | Role::Admin)
                })
            }) {
                Some(format!(
                    "'{owner}' no longer holds the approver role on '{}'",
                    snap.dataset
                ))
            } else if allowed.is_some_and(|a| !a.contains(&owner)) {
                Some(format!("'{owner}' is not in the policy's approvers list"))
            } else if counted.contains(&owner) {
                Some(format!(
                    "'{owner}' already counted (one approval per identity)"
                ))
            } else {
                None
            };
            if st.problem.is_none() {
                st.counts = true;
                counted.push(owner);
            }
            out.push(st);
        }
        Ok(ApprovalCheck {
            signatures: out,
            payload: Some(payload),
            problems,
        })
    }
}
